/* buf.h - whirl's growable byte buffer, used for stdin batches and line
 * assembly. Growth failures are reported, never fatal. */
#ifndef RAFTKV_WHIRL_BUF_H
#define RAFTKV_WHIRL_BUF_H

#include <stddef.h>

struct whirl_buf {
    char *data;
    size_t len;
    size_t cap;
};

/* Makes room for `more` bytes after len. Returns 0 or -1 (out of memory). */
int whirl_buf_reserve(struct whirl_buf *b, size_t more);
int whirl_buf_append(struct whirl_buf *b, const void *data, size_t len);
/* printf-style append. Returns 0 or -1. */
int whirl_buf_printf(struct whirl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Removes the first n bytes. */
void whirl_buf_consume(struct whirl_buf *b, size_t n);
void whirl_buf_free(struct whirl_buf *b);

#endif
