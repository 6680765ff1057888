/* server_out.c - double-buffered socket output shared by client and peer
 * connections: replies and frames accumulate in `pending` while `inflight`
 * is on its way; one uv_write per batch, never one per reply. */
#include <string.h>

#include "server/server_internal.h"

void server_out_start(struct server_out *o, uv_stream_t *stream, void (*done)(uv_write_t *, int))
{
    if (o->writing || o->pending.len == 0)
        return;
    /* Try the cheap path first: most batches fit the socket buffer. */
    uv_buf_t buf = uv_buf_init(o->pending.data, (unsigned)o->pending.len);
    int n = uv_try_write(stream, &buf, 1);
    if (n > 0)
        resp_buf_consume(&o->pending, (size_t)n);
    if (o->pending.len == 0)
        return;
    struct resp_buf t = o->inflight;
    o->inflight = o->pending;
    o->pending = t;
    o->pending.len = 0;
    buf = uv_buf_init(o->inflight.data, (unsigned)o->inflight.len);
    o->req.data = o;
    if (uv_write(&o->req, stream, &buf, 1, done) == 0)
        o->writing = true;
    else
        o->inflight.len = 0; /* the stream is closing; its close path cleans up */
}

void server_out_free(struct server_out *o)
{
    resp_buf_free(&o->pending);
    resp_buf_free(&o->inflight);
}

size_t server_out_bytes(const struct server_out *o)
{
    return o->pending.len + o->inflight.len;
}
