/* resp_value.c - Redis strings <-> JSON values (resp_value.h). */
#include "server/resp_value.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RESP_VALUE_KEY "$base64"

static const char resp_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *resp_b64_encode(const unsigned char *s, size_t n, size_t *out_len)
{
    char *o = malloc(4 * ((n + 2) / 3) + 1);
    if (!o)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) | (i + 2 < n ? s[i + 2] : 0);
        o[k++] = resp_b64[v >> 18 & 63];
        o[k++] = resp_b64[v >> 12 & 63];
        o[k++] = i + 1 < n ? resp_b64[v >> 6 & 63] : '=';
        o[k++] = i + 2 < n ? resp_b64[v & 63] : '=';
    }
    o[k] = '\0';
    *out_len = k;
    return o;
}

static int resp_b64_digit(char c)
{
    const char *p = c ? strchr(resp_b64, c) : NULL;
    return p ? (int)(p - resp_b64) : -1;
}

/* Decode strict base64 (what resp_b64_encode wrote); NULL if malformed. */
static unsigned char *resp_b64_decode(const char *s, size_t n, size_t *out_len)
{
    if (n % 4)
        return NULL;
    unsigned char *o = malloc(n / 4 * 3 + 1);
    if (!o)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i += 4) {
        int d[4];
        for (int j = 0; j < 4; j++)
            d[j] = s[i + j] == '=' && i + 4 == n && j >= 2 ? 0 : resp_b64_digit(s[i + j]);
        if (d[0] < 0 || d[1] < 0 || d[2] < 0 || d[3] < 0 || (s[i + 2] == '=' && s[i + 3] != '=')) {
            free(o);
            return NULL;
        }
        uint32_t v = (uint32_t)d[0] << 18 | (uint32_t)d[1] << 12 | (uint32_t)d[2] << 6 | (uint32_t)d[3];
        o[k++] = (unsigned char)(v >> 16);
        if (s[i + 2] != '=')
            o[k++] = (unsigned char)(v >> 8);
        if (s[i + 3] != '=')
            o[k++] = (unsigned char)v;
    }
    *out_len = k;
    return o;
}

json_t *resp_value_from_bytes(const char *s, size_t n)
{
    json_t *v = json_stringn(s, n); /* NULL unless valid UTF-8 */
    if (v)
        return v;
    size_t len;
    char *b64 = resp_b64_encode((const unsigned char *)s, n, &len);
    if (!b64)
        return NULL;
    v = json_pack("{s:s#}", RESP_VALUE_KEY, b64, (int)len);
    free(b64);
    return v;
}

int resp_value_write_bulk(struct resp_buf *b, const json_t *v)
{
    if (json_is_string(v))
        return resp_write_bulk(b, json_string_value(v), json_string_length(v));
    const json_t *enc = json_is_object(v) && json_object_size(v) == 1 ? json_object_get(v, RESP_VALUE_KEY) : NULL;
    if (enc && json_is_string(enc)) {
        size_t n;
        unsigned char *bytes = resp_b64_decode(json_string_value(enc), json_string_length(enc), &n);
        if (bytes) {
            int rc = resp_write_bulk(b, bytes, n);
            free(bytes);
            return rc;
        }
    }
    char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    int rc = resp_write_bulk(b, t ? t : "", t ? strlen(t) : 0);
    free(t);
    return rc;
}
