/* snap_writer.c - the streaming snapshot writer (snap_writer.h). */
#include "storage/snap_writer.h"

#include <stdlib.h>
#include <string.h>

#include "storage/crc32c.h"
#include "storage/le.h"

static int emit(struct snap_writer *w, const void *data, size_t n)
{
    if (w->failed)
        return -1;
    w->file_crc = crc32c_extend(w->file_crc, data, n);
    if (w->sink(w->ctx, data, n) != 0) {
        w->failed = 1;
        return -1;
    }
    return 0;
}

int snap_writer_begin(struct snap_writer *w, snap_sink_fn sink, void *ctx, uint64_t index,
                      uint64_t term, uint64_t records, const struct snap_meta *meta,
                      size_t n_meta)
{
    memset(w, 0, sizeof *w);
    w->sink = sink;
    w->ctx = ctx;
    w->expected = records;
    size_t meta_bytes = 0;
    for (size_t i = 0; i < n_meta; i++) {
        size_t nl = strlen(meta[i].name);
        if (nl == 0 || nl > 255)
            return w->failed = 1, -1;
        meta_bytes += 1 + nl + 4 + meta[i].len;
    }
    if (meta_bytes > SNAP_MAX_META_BYTES)
        return w->failed = 1, -1;
    size_t hlen = SNAP_HEADER_FIXED + meta_bytes + 4;
    w->cap = SNAP_BLOCK_TARGET + SNAP_BLOCK_HEAD;
    w->buf = malloc(w->cap > hlen ? w->cap : hlen);
    if (!w->buf)
        return w->failed = 1, -1;
    uint8_t *h = w->buf;
    le_put32(h, SNAP_MAGIC);
    le_put32(h + 4, SNAP_VERSION);
    le_put64(h + 8, index);
    le_put64(h + 16, term);
    le_put64(h + 24, records);
    le_put32(h + 32, (uint32_t)n_meta);
    le_put32(h + 36, (uint32_t)meta_bytes);
    uint8_t *p = h + SNAP_HEADER_FIXED;
    for (size_t i = 0; i < n_meta; i++) {
        size_t nl = strlen(meta[i].name);
        *p++ = (uint8_t)nl;
        memcpy(p, meta[i].name, nl);
        p += nl;
        le_put32(p, meta[i].len);
        p += 4;
        if (meta[i].len)
            memcpy(p, meta[i].value, meta[i].len);
        p += meta[i].len;
    }
    le_put32(p, crc32c(h, (size_t)(p - h)));
    if (emit(w, h, hlen) != 0)
        return -1;
    w->len = SNAP_BLOCK_HEAD; /* room for the first block's head */
    return 0;
}

static int flush_block(struct snap_writer *w)
{
    if (w->block_records == 0)
        return 0;
    uint32_t payload = (uint32_t)(w->len - SNAP_BLOCK_HEAD);
    le_put32(w->buf, SNAP_BLOCK_TAG);
    le_put32(w->buf + 4, payload);
    le_put32(w->buf + 8, w->block_records);
    le_put32(w->buf + 12, crc32c(w->buf + SNAP_BLOCK_HEAD, payload));
    if (emit(w, w->buf, w->len) != 0)
        return -1;
    w->blocks++;
    w->block_records = 0;
    w->len = SNAP_BLOCK_HEAD;
    return 0;
}

int snap_writer_add(struct snap_writer *w, const struct snap_record *rec)
{
    if (w->failed)
        return -1;
    size_t need = SNAP_RECORD_HEAD + (size_t)rec->key_len + rec->value_len;
    if (need > SNAP_MAX_BLOCK || w->records >= w->expected)
        return w->failed = 1, -1;
    if (w->block_records > 0 && w->len + need > SNAP_BLOCK_HEAD + SNAP_BLOCK_TARGET &&
        flush_block(w) != 0)
        return -1;
    if (w->len + need > w->cap) { /* a record larger than a block: a block of its own */
        uint8_t *nb = realloc(w->buf, w->len + need);
        if (!nb)
            return w->failed = 1, -1;
        w->buf = nb;
        w->cap = w->len + need;
    }
    uint8_t *p = w->buf + w->len;
    p[0] = rec->type;
    le_put32(p + 1, rec->key_len);
    le_put32(p + 5, rec->value_len);
    le_put64(p + 9, rec->expiry_ms);
    le_put64(p + 17, rec->version);
    p += SNAP_RECORD_HEAD;
    if (rec->key_len)
        memcpy(p, rec->key, rec->key_len);
    if (rec->value_len)
        memcpy(p + rec->key_len, rec->value, rec->value_len);
    w->len += need;
    w->block_records++;
    w->records++;
    if (w->cap > 4 * (SNAP_BLOCK_TARGET + SNAP_BLOCK_HEAD)) { /* give a huge record's room back */
        if (flush_block(w) != 0)
            return -1;
        uint8_t *nb = realloc(w->buf, SNAP_BLOCK_TARGET + SNAP_BLOCK_HEAD);
        if (nb) {
            w->buf = nb;
            w->cap = SNAP_BLOCK_TARGET + SNAP_BLOCK_HEAD;
        }
    }
    return 0;
}

int snap_writer_end(struct snap_writer *w)
{
    int rc = -1;
    if (!w->failed && w->records == w->expected && flush_block(w) == 0) {
        uint8_t t[SNAP_TRAILER_BYTES];
        le_put32(t, SNAP_END_TAG);
        le_put64(t + 4, w->blocks);
        le_put64(t + 12, w->records);
        le_put32(t + 20, crc32c_extend(w->file_crc, t, 20)); /* all bytes before it */
        if (w->sink(w->ctx, t, sizeof t) == 0)
            rc = 0;
    }
    snap_writer_discard(w);
    return rc;
}

void snap_writer_discard(struct snap_writer *w)
{
    free(w->buf);
    w->buf = NULL;
    w->cap = w->len = 0;
}

int snap_membuf_sink(void *ctx, const void *data, size_t n)
{
    struct snap_membuf *m = ctx;
    if (m->len + n > m->cap) {
        size_t cap = m->cap ? m->cap : 4096;
        while (cap < m->len + n)
            cap *= 2;
        uint8_t *p = realloc(m->data, cap);
        if (!p)
            return -1;
        m->data = p;
        m->cap = cap;
    }
    memcpy(m->data + m->len, data, n);
    m->len += n;
    return 0;
}
