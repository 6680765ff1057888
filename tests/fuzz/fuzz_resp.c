/* fuzz_resp.c - the RESP request parser (src/server/resp.c) and the
 * one-reply reader, on arbitrary bytes.
 *
 * Input: one control byte, then the bytes a client sends. The control byte
 * picks tight or default limits and the size of the pieces the bytes arrive
 * in. Properties: the parser never reads or holds more than its limits
 * allow, and it is resumable: the requests it returns, and where it fails,
 * are the same whether the bytes come in one piece or in small pieces, and
 * it refuses in both cases or in neither. */
#include <string.h>

#include "fuzz.h"
#include "server/resp.h"

/* What one run saw: a digest of every request and the final result. */
struct resp_outcome {
    uint64_t hash;
    size_t requests;
    int rc;          /* the last resp_parse result */
    char err[128];
};

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static void run(const char *data, size_t len, size_t piece, const struct resp_limits *limits,
                struct resp_outcome *o)
{
    struct resp_parser p;
    resp_parser_init(&p, limits);
    memset(o, 0, sizeof *o);
    o->hash = 14695981039346656037ull;
    size_t off = 0;
    while (off < len) {
        size_t n = len - off < piece ? len - off : piece;
        size_t used = 0;
        struct resp_request req = {0};
        int rc = resp_parse(&p, data + off, n, &used, &req);
        FUZZ_CHECK(used <= n);
        o->rc = rc;
        off += used;
        if (rc < 0) {
            snprintf(o->err, sizeof o->err, "%s", p.err);
            break;
        }
        if (rc == RESP_READY) {
            size_t total = 0;
            FUZZ_CHECK(req.argc >= 1 && req.argc <= limits->max_args);
            o->hash = mix(o->hash, &req.argc, sizeof req.argc);
            for (size_t i = 0; i < req.argc; i++) {
                FUZZ_CHECK(req.argl[i] <= limits->max_bulk_bytes ||
                           req.argl[i] <= limits->max_inline_bytes);
                FUZZ_CHECK(req.argv[i][req.argl[i]] == '\0');
                total += req.argl[i];
                o->hash = mix(o->hash, &req.argl[i], sizeof req.argl[i]);
                o->hash = mix(o->hash, req.argv[i], req.argl[i]);
            }
            FUZZ_CHECK(total <= limits->max_request_bytes);
            o->requests++;
            resp_request_release(&req);
        } else {
            FUZZ_CHECK(used == n); /* NEED_MORE takes everything */
        }
    }
    resp_parser_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t ctl = data[0];
    const char *in = (const char *)data + 1;
    size_t len = size - 1;

    struct resp_limits limits;
    resp_limits_default(&limits);
    if (ctl & 1) { /* tight limits, so every limit is reachable */
        limits.max_bulk_bytes = 16;
        limits.max_args = 4;
        limits.max_request_bytes = 40;
        limits.max_inline_bytes = 24;
    }
    size_t piece = 1 + ((ctl >> 1) & 7);

    struct resp_outcome whole, pieces;
    run(in, len, len ? len : 1, &limits, &whole);
    run(in, len, piece, &limits, &pieces);
    FUZZ_CHECK(whole.requests == pieces.requests);
    FUZZ_CHECK(whole.hash == pieces.hash);
    /* Both refuse, or neither; which limit trips first may depend on the
     * pieces (a header line cut short counts towards the request's bytes). */
    FUZZ_CHECK((whole.rc < 0) == (pieces.rc < 0));
    FUZZ_CHECK(whole.rc >= 0 || (whole.err[0] && pieces.err[0]));

    /* The client side: read replies one after another. */
    size_t off = 0;
    while (off < len) {
        struct resp_reply r;
        long n = resp_reply_parse(in + off, len - off, &r);
        if (n <= 0)
            break;
        FUZZ_CHECK((size_t)n <= len - off);
        if (r.type == RESP_R_SIMPLE || r.type == RESP_R_ERROR || r.type == RESP_R_BULK)
            FUZZ_CHECK(r.str >= in + off && r.str + r.len <= in + off + n);
        off += (size_t)n;
    }
    return 0;
}
