/* outbuf.h - a growable byte buffer with a small JSON writer: the node
 * renders every outgoing line into one buffer per batch, written at once. */
#ifndef RAFTKV_NODE_OUTBUF_H
#define RAFTKV_NODE_OUTBUF_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct outbuf {
    char *data;
    size_t len, cap;
    int oom; /* set once an allocation failed; the buffer is then unusable */
};

void outbuf_free(struct outbuf *b);
void outbuf_reserve(struct outbuf *b, size_t extra);
void outbuf_raw(struct outbuf *b, const void *p, size_t n);
void outbuf_lit(struct outbuf *b, const char *s);       /* unescaped text */
void outbuf_str(struct outbuf *b, const char *s);       /* a JSON string, escaped */
void outbuf_u64(struct outbuf *b, uint64_t v);
void outbuf_i64(struct outbuf *b, int64_t v);
void outbuf_json(struct outbuf *b, const json_t *v);    /* compact; null if v is NULL */
/* `"name":` - name must need no escaping. */
void outbuf_key(struct outbuf *b, const char *name);

#endif
