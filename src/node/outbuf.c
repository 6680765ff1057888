/* outbuf.c - growable buffer and JSON writer for the node's output. */
#include "node/outbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void outbuf_free(struct outbuf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void outbuf_reserve(struct outbuf *b, size_t extra)
{
    if (b->len + extra <= b->cap)
        return;
    size_t ncap = b->cap ? b->cap : 4096;
    while (ncap < b->len + extra)
        ncap *= 2;
    char *p = realloc(b->data, ncap);
    if (!p) {
        b->oom = 1;
        return;
    }
    b->data = p;
    b->cap = ncap;
}

void outbuf_raw(struct outbuf *b, const void *p, size_t n)
{
    outbuf_reserve(b, n);
    if (b->len + n > b->cap)
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void outbuf_lit(struct outbuf *b, const char *s)
{
    outbuf_raw(b, s, strlen(s));
}

void outbuf_str(struct outbuf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(s);
    outbuf_reserve(b, n * 6 + 2);
    if (b->len + n * 6 + 2 > b->cap)
        return;
    char *o = b->data + b->len;
    *o++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c < 0x20) {
            *o++ = '\\';
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        } else {
            *o++ = (char)c;
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
}

/* Integers are on every line (msg_ids, terms, indexes): format them by hand
 * rather than through printf. */
void outbuf_u64(struct outbuf *b, uint64_t v)
{
    char tmp[24];
    char *p = tmp + sizeof tmp;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    outbuf_raw(b, p, (size_t)(tmp + sizeof tmp - p));
}

void outbuf_i64(struct outbuf *b, int64_t v)
{
    if (v < 0) {
        outbuf_raw(b, "-", 1);
        outbuf_u64(b, (uint64_t)0 - (uint64_t)v);
        return;
    }
    outbuf_u64(b, (uint64_t)v);
}

void outbuf_json(struct outbuf *b, const json_t *v)
{
    if (!v) {
        outbuf_lit(b, "null");
        return;
    }
    if (json_is_integer(v)) {
        outbuf_i64(b, json_integer_value(v));
        return;
    }
    size_t need = json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
    if (need == 0) {
        outbuf_lit(b, "null");
        return;
    }
    outbuf_reserve(b, need);
    if (b->len + need > b->cap)
        return;
    b->len += json_dumpb(v, b->data + b->len, need, JSON_COMPACT | JSON_ENCODE_ANY);
}

void outbuf_key(struct outbuf *b, const char *name)
{
    outbuf_reserve(b, strlen(name) + 3);
    outbuf_raw(b, "\"", 1);
    outbuf_lit(b, name);
    outbuf_raw(b, "\":", 2);
}
