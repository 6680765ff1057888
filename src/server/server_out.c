/* server_out.c - socket output and TLS input shared by client and peer
 * connections.
 *
 * Output is double-buffered: replies and frames accumulate in `pending`
 * while `inflight` is on its way; one uv_write per batch, never one per
 * reply. On a TLS connection (o->tls set) `pending` is plaintext: each start
 * encrypts up to 1 MiB more of it (plain_off marks how far), once the
 * handshake is done, and what the socket gets is the
 * session's ciphertext (handshake records included), gathered in `cipher`.
 */
#include <string.h>

#include "net/tls.h"
#include "server/server_internal.h"

/* Move the session's ciphertext into o->cipher. */
static int tls_drain(struct server_out *o)
{
    size_t n;
    while ((n = tls_take_pending(o->tls)) > 0) {
        if (resp_buf_reserve(&o->cipher, n) != 0)
            return -1;
        o->cipher.len += tls_take(o->tls, o->cipher.data + o->cipher.len, n);
    }
    return 0;
}

/* Plaintext encrypted per slice before the ciphertext is drained: the
 * session's memory BIO grows by reallocating (and clearing) its whole
 * buffer, so encrypting megabytes at once (a catch-up APPEND, a batch of
 * them) copied everything many times over; a slice stays within a buffer
 * it has already. */
#define TLS_GATHER_SLICE (64u << 10)

/* Plaintext encrypted per write: a batch of megabytes (a forwarded KEYS
 * answer) is encrypted a part at a time as the socket takes it, the rest
 * on later turns (each write's completion starts the next), not all in
 * one turn. */
#define TLS_GATHER_WRITE (1u << 20)

/* Encrypt up to TLS_GATHER_WRITE more of what is pending and gather the
 * session's ciphertext. */
static int tls_gather(struct server_out *o)
{
    if (o->pending.len > o->plain_off && tls_established(o->tls)) {
        size_t end = o->pending.len - o->plain_off > TLS_GATHER_WRITE ? o->plain_off + TLS_GATHER_WRITE
                                                                       : o->pending.len;
        for (size_t off = o->plain_off; off < end;) {
            size_t n = end - off < TLS_GATHER_SLICE ? end - off : TLS_GATHER_SLICE;
            if (tls_write(o->tls, o->pending.data + off, n) != 0 || tls_drain(o) != 0)
                return -1;
            off += n;
        }
        o->plain_off = end;
        if (end == o->pending.len) {
            o->pending.len = o->plain_off = 0;
        } else if (o->plain_off >= o->pending.len - o->plain_off) {
            /* A queue that never empties (frames keep coming while the
             * rest is encrypted) would keep its encrypted front forever:
             * drop it once it is at least what is left, so the buffer
             * stays within twice its unsent bytes and each byte is moved
             * at most once on average. */
            resp_buf_consume(&o->pending, o->plain_off);
            o->plain_off = 0;
        }
    }
    return tls_drain(o);
}

int server_out_start(struct server_out *o, uv_stream_t *stream, void (*done)(uv_write_t *, int))
{
    if (o->writing)
        return 0;
    struct resp_buf *src;
    size_t sent;
    for (;;) {
        src = &o->pending;
        if (o->tls) {
            if (tls_gather(o) != 0)
                return -1;
            src = &o->cipher;
        }
        if (src->len == 0)
            return 0;
        /* Try the cheap path first: most batches fit the socket buffer. */
        uv_buf_t buf = uv_buf_init(src->data, (unsigned)src->len);
        int n = uv_try_write(stream, &buf, 1);
        sent = n > 0 ? (size_t)n : 0;
        if (sent < src->len)
            break;
        src->len = 0;
        if (!o->tls || o->pending.len == 0)
            return 0; /* else the socket took it all: the next part */
    }
    /* The rest goes from where the socket stopped taking it: the batch
     * (a reply of megabytes) is not moved down to the buffer's start.
     * Until it is written, inflight counts the part sent too. */
    struct resp_buf t = o->inflight;
    o->inflight = *src;
    *src = t;
    src->len = 0;
    uv_buf_t buf = uv_buf_init(o->inflight.data + sent, (unsigned)(o->inflight.len - sent));
    o->req.data = o;
    if (uv_write(&o->req, stream, &buf, 1, done) == 0)
        o->writing = true;
    else
        o->inflight.len = 0; /* the stream is closing; its close path cleans up */
    return 0;
}

void server_out_free(struct server_out *o)
{
    resp_buf_free(&o->pending);
    resp_buf_free(&o->inflight);
    resp_buf_free(&o->cipher);
}

size_t server_out_bytes(const struct server_out *o)
{
    return o->pending.len - o->plain_off + o->inflight.len + o->cipher.len;
}

int server_tls_input(struct tls_session *t, const void *data, size_t n, struct resp_buf *plain,
                     size_t max_plain)
{
    if (tls_feed(t, data, n) != 0)
        return TLS_FAILED;
    for (;;) {
        if (plain->len >= max_plain)
            return 0;
        size_t room = max_plain - plain->len < 16384 ? max_plain - plain->len : 16384;
        if (resp_buf_reserve(plain, room) != 0)
            return TLS_FAILED;
        ssize_t r = tls_read(t, plain->data + plain->len, room);
        if (r <= 0)
            return (int)r;
        plain->len += (size_t)r;
        /* Nothing left to decrypt: skip the read that would say so. */
        if (!tls_has_input(t))
            return 0;
    }
}
