/* fuzz_http.c - the metrics port's HTTP request-head parser
 * (src/server/http_request.c) on arbitrary bytes.
 *
 * Input: one control byte (bit 0: a tight bound of 64 bytes instead of
 * 8192), then the bytes a client sends. Properties: a parsed head lies
 * within the input and the bound, ends with LF, and has a method of token
 * characters and a path of visible ASCII starting with '/', without its
 * query, at most 1024 bytes; and the parser is consistent as bytes arrive:
 * a prefix that parses gives the same head as the whole input, a prefix
 * refused means the whole is refused, and a whole input still incomplete
 * had no prefix that was anything else. */
#include <string.h>

#include "fuzz.h"
#include "server/http_request.h"

static void check_head(const char *in, size_t len, size_t max, const struct http_request *r)
{
    FUZZ_CHECK(r->head_len > 0 && r->head_len <= len && r->head_len <= max);
    FUZZ_CHECK(in[r->head_len - 1] == '\n');
    size_t ml = strlen(r->method);
    FUZZ_CHECK(ml > 0 && ml < sizeof r->method);
    size_t pl = strlen(r->path);
    FUZZ_CHECK(pl >= 1 && pl <= HTTP_MAX_TARGET && r->path[0] == '/');
    for (size_t i = 0; i < pl; i++)
        FUZZ_CHECK((unsigned char)r->path[i] > 0x20 && (unsigned char)r->path[i] < 0x7f && r->path[i] != '?');
    FUZZ_CHECK(r->minor == 0 || r->minor == 1);
    FUZZ_CHECK(r->minor == 0 || r->has_host);
    FUZZ_CHECK(r->error == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t max = (data[0] & 1) ? 64 : HTTP_MAX_REQUEST_BYTES;
    const char *in = (const char *)data + 1;
    size_t len = size - 1;

    struct http_request whole;
    int rc = http_parse_request(in, len, max, &whole);
    FUZZ_CHECK(rc >= HTTP_PARSE_VERSION && rc <= HTTP_PARSE_DONE);
    if (rc == HTTP_PARSE_DONE)
        check_head(in, len, max, &whole);
    else if (rc < 0)
        FUZZ_CHECK(whole.error != NULL && http_parse_status(rc) >= 400);
    if (rc == HTTP_PARSE_TOO_LARGE)
        FUZZ_CHECK(len >= max);

    /* Every prefix (up to 2048 bytes; past that, about 256 of them). */
    size_t step = len <= 2048 ? 1 : len / 256;
    for (size_t k = 0; k < len; k += step) {
        struct http_request part;
        int prc = http_parse_request(in, k, max, &part);
        if (prc == HTTP_PARSE_DONE) {
            check_head(in, k, max, &part);
            FUZZ_CHECK(rc == HTTP_PARSE_DONE);
            FUZZ_CHECK(part.head_len == whole.head_len);
            FUZZ_CHECK(strcmp(part.method, whole.method) == 0 && strcmp(part.path, whole.path) == 0);
            FUZZ_CHECK(part.minor == whole.minor && part.has_body == whole.has_body);
        } else if (prc < 0) {
            FUZZ_CHECK(rc < 0);
        }
        if (rc == HTTP_PARSE_INCOMPLETE)
            FUZZ_CHECK(prc == HTTP_PARSE_INCOMPLETE);
    }
    return 0;
}
