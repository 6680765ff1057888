/* snap_reader.c - the streaming snapshot reader (snap_reader.h). */
#include "storage/snap_reader.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/crc32c.h"
#include "storage/le.h"

enum { S_HEAD, S_HEAD_ALL, S_TAG, S_BLOCK_HEAD, S_BLOCK_BODY, S_TRAILER, S_DONE };

__attribute__((format(printf, 3, 4))) static int fail(struct snap_reader *r, uint64_t at,
                                                      const char *fmt, ...)
{
    r->failed = true;
    char why[150];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    snprintf(r->err, sizeof r->err, "at offset %" PRIu64 ": %s", at, why);
    return -1;
}

void snap_reader_init(struct snap_reader *r, const struct snap_reader_ops *ops, void *ctx)
{
    memset(r, 0, sizeof *r);
    if (ops)
        r->ops = *ops;
    r->ctx = ctx;
    r->state = S_HEAD;
    r->need = SNAP_HEADER_FIXED;
}

void snap_reader_free(struct snap_reader *r)
{
    free(r->buf);
    r->buf = NULL;
    r->cap = 0;
}

const char *snap_reader_error(const struct snap_reader *r)
{
    return r->err;
}

bool snap_reader_has_header(const struct snap_reader *r)
{
    return r->state > S_HEAD_ALL;
}

/* The current piece b (r->have bytes) is checked and consumed: the next
 * starts after it. */
static int next_piece(struct snap_reader *r, const uint8_t *b, int state, size_t need)
{
    if (!r->crcs_checked_elsewhere)
        r->file_crc = crc32c_extend(r->file_crc, b, r->have);
    r->piece_off += r->have;
    r->have = 0;
    r->state = state;
    r->need = need;
    if (r->ops.checked && r->ops.checked(r->ctx, r->piece_off) != 0)
        return fail(r, r->piece_off, "stopped after the bytes checked");
    return 0;
}

static int parse_meta(struct snap_reader *r, const uint8_t *b)
{
    const uint8_t *p = b + SNAP_HEADER_FIXED, *end = p + r->meta_bytes;
    for (uint32_t i = 0; i < r->hdr.meta_count; i++) {
        uint64_t at = r->piece_off + (uint64_t)(p - b);
        if (end - p < 1 || *p == 0 || end - p < 1 + *p + 4)
            return fail(r, at, "metadata entry %" PRIu32 " overruns the header", i);
        char name[256];
        memcpy(name, p + 1, *p);
        name[*p] = '\0';
        const uint8_t *lenp = p + 1 + *p;
        uint32_t len = le_get32(lenp);
        if ((uint64_t)(end - (lenp + 4)) < len)
            return fail(r, at, "metadata entry %" PRIu32 " overruns the header", i);
        if (memchr(name, '\0', *p))
            return fail(r, at, "metadata name holds a NUL byte");
        struct snap_meta m = {.name = name, .value = lenp + 4, .len = len};
        if (r->ops.meta && r->ops.meta(r->ctx, &m) != 0)
            return fail(r, at, "metadata entry \"%s\" refused", name);
        p = lenp + 4 + len;
    }
    if (p != end)
        return fail(r, r->piece_off + (uint64_t)(p - b),
                    "metadata holds bytes past its %" PRIu32 " entries", r->hdr.meta_count);
    return 0;
}

static int parse_block(struct snap_reader *r, const uint8_t *b)
{
    uint32_t len = le_get32(b + 4), n = le_get32(b + 8);
    const uint8_t *p = b + SNAP_BLOCK_HEAD, *end = p + len;
    if (!r->crcs_checked_elsewhere && crc32c(p, len) != le_get32(b + 12))
        return fail(r, r->piece_off + 12, "block %" PRIu64 " CRC mismatch", r->blocks);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t at = r->piece_off + (uint64_t)(p - b);
        if (end - p < SNAP_RECORD_HEAD)
            return fail(r, at, "block %" PRIu64 " ends inside record %" PRIu32, r->blocks, i);
        struct snap_record rec = {
            .type = p[0],
            .key_len = le_get32(p + 1),
            .value_len = le_get32(p + 5),
            .expiry_ms = le_get64(p + 9),
            .version = le_get64(p + 17),
        };
        p += SNAP_RECORD_HEAD;
        if ((uint64_t)(end - p) < (uint64_t)rec.key_len + rec.value_len)
            return fail(r, at, "block %" PRIu64 " ends inside record %" PRIu32, r->blocks, i);
        rec.key = p;
        rec.value = p + rec.key_len;
        p += rec.key_len + rec.value_len;
        if (++r->records > r->hdr.records)
            return fail(r, at, "more records than the header's %" PRIu64, r->hdr.records);
        if (r->ops.record && r->ops.record(r->ctx, &rec) != 0)
            return fail(r, at, "record %" PRIu64 " refused", r->records - 1);
    }
    if (p != end)
        return fail(r, r->piece_off + (uint64_t)(p - b),
                    "block %" PRIu64 " holds bytes past its %" PRIu32 " records", r->blocks, n);
    r->blocks++;
    return 0;
}

/* The piece b (r->have == r->need bytes: in buf, or where it was fed) is
 * whole: check it and move on. */
static int step(struct snap_reader *r, const uint8_t *b)
{
    switch (r->state) {
    case S_HEAD:
        if (le_get32(b) != SNAP_MAGIC)
            return fail(r, 0, "not a snapshot file (bad magic)");
        r->hdr.version = le_get32(b + 4);
        if (r->hdr.version != SNAP_VERSION)
            return fail(r, 4, "unsupported format version %" PRIu32 " (this build reads %u)",
                        r->hdr.version, SNAP_VERSION);
        r->hdr.index = le_get64(b + 8);
        r->hdr.term = le_get64(b + 16);
        r->hdr.records = le_get64(b + 24);
        r->hdr.meta_count = le_get32(b + 32);
        r->meta_bytes = le_get32(b + 36);
        if (r->meta_bytes > SNAP_MAX_META_BYTES)
            return fail(r, 36, "metadata of %" PRIu32 " bytes (at most %u)", r->meta_bytes,
                        SNAP_MAX_META_BYTES);
        r->state = S_HEAD_ALL;
        r->need = SNAP_HEADER_FIXED + r->meta_bytes + 4;
        return 0;
    case S_HEAD_ALL: {
        size_t at = SNAP_HEADER_FIXED + r->meta_bytes;
        if (crc32c(b, at) != le_get32(b + at))
            return fail(r, at, "header CRC mismatch");
        if (r->ops.header && r->ops.header(r->ctx, &r->hdr) != 0)
            return fail(r, 8, "header refused (index %" PRIu64 ", term %" PRIu64 ")",
                        r->hdr.index, r->hdr.term);
        if (parse_meta(r, b) != 0)
            return -1;
        return next_piece(r, b, S_TAG, 4);
    }
    case S_TAG: {
        uint32_t tag = le_get32(b);
        if (tag == SNAP_BLOCK_TAG) {
            r->state = S_BLOCK_HEAD;
            r->need = SNAP_BLOCK_HEAD;
        } else if (tag == SNAP_END_TAG) {
            r->state = S_TRAILER;
            r->need = SNAP_TRAILER_BYTES;
        } else {
            return fail(r, r->piece_off, "neither a block nor the trailer (bad tag)");
        }
        return 0;
    }
    case S_BLOCK_HEAD: {
        uint32_t len = le_get32(b + 4);
        if (len > SNAP_MAX_BLOCK || le_get32(b + 8) == 0)
            return fail(r, r->piece_off + 4, "block %" PRIu64 " of %" PRIu32
                        " bytes and %" PRIu32 " records", r->blocks, len, le_get32(b + 8));
        r->state = S_BLOCK_BODY;
        r->need = SNAP_BLOCK_HEAD + (size_t)len;
        return 0;
    }
    case S_BLOCK_BODY:
        if (parse_block(r, b) != 0)
            return -1;
        return next_piece(r, b, S_TAG, 4);
    case S_TRAILER: {
        if (!r->crcs_checked_elsewhere && crc32c_extend(r->file_crc, b, 20) != le_get32(b + 20))
            return fail(r, r->piece_off + 20, "file CRC mismatch");
        if (le_get64(b + 4) != r->blocks || le_get64(b + 12) != r->records ||
            r->records != r->hdr.records)
            return fail(r, r->piece_off + 4,
                        "trailer counts %" PRIu64 " blocks, %" PRIu64 " records; read %" PRIu64
                        ", %" PRIu64 " (header: %" PRIu64 ")",
                        le_get64(b + 4), le_get64(b + 12), r->blocks, r->records,
                        r->hdr.records);
        return next_piece(r, b, S_DONE, 0);
    }
    default:
        return fail(r, r->piece_off, "bytes after the trailer");
    }
}

/* Room in buf for the whole current piece. */
static int grow_buf(struct snap_reader *r)
{
    if (r->need <= r->cap)
        return 0;
    size_t cap = r->cap ? r->cap : 4096;
    while (cap < r->need)
        cap *= 2;
    uint8_t *nb = realloc(r->buf, cap);
    if (!nb)
        return fail(r, r->piece_off, "out of memory for a block of %zu bytes", r->need);
    r->buf = nb;
    r->cap = cap;
    return 0;
}

int snap_reader_feed(struct snap_reader *r, const uint8_t *data, size_t n)
{
    if (r->failed)
        return -1;
    while (n > 0) {
        if (r->state == S_DONE)
            return fail(r, r->piece_off, "bytes after the trailer");
        if (r->have == 0 && n >= r->need) {
            /* The piece starts here and its first part is all here: read
             * it in place while it grows (tag, head, body), copying only
             * the start of one that ends beyond the bytes fed. */
            size_t used = r->need;
            for (;;) {
                r->have = used;
                if (step(r, data) != 0)
                    return -1;
                if (r->have == 0 || r->state == S_DONE)
                    break; /* consumed */
                if (r->need > n)
                    break;
                used = r->need;
            }
            if (r->have == 0) {
                data += used;
                n -= used;
                continue;
            }
            /* The rest comes later: keep the start in buf. */
            r->have = 0;
            if (grow_buf(r) != 0)
                return -1;
            memcpy(r->buf, data, used);
            r->have = used;
            data += used;
            n -= used;
            continue;
        }
        if (grow_buf(r) != 0)
            return -1;
        size_t take = r->need - r->have < n ? r->need - r->have : n;
        memcpy(r->buf + r->have, data, take);
        r->have += take;
        data += take;
        n -= take;
        while (r->have == r->need && r->state != S_DONE)
            if (step(r, r->buf) != 0)
                return -1;
    }
    /* A block buffer grown for one huge record is not kept for the rest. */
    if (r->have == 0 && r->cap > 4 * (SNAP_BLOCK_TARGET + SNAP_BLOCK_HEAD)) {
        free(r->buf);
        r->buf = NULL;
        r->cap = 0;
    }
    return 0;
}

int snap_reader_finish(struct snap_reader *r)
{
    if (r->failed)
        return -1;
    if (r->state != S_DONE) {
        static const char *const where[] = {"header", "header", "a block's tag", "a block's head",
                                            "a block", "the trailer"};
        return fail(r, r->piece_off + r->have, "truncated: the file ends inside %s",
                    where[r->state]);
    }
    return 0;
}

int snap_header_peek(const uint8_t *p, size_t n, struct snap_header *h, size_t *need, char *err,
                     size_t errlen)
{
    struct snap_reader r;
    snap_reader_init(&r, NULL, NULL);
    size_t take = n < SNAP_HEADER_FIXED ? n : SNAP_HEADER_FIXED;
    int rc = snap_reader_feed(&r, p, take);
    if (rc == 0 && r.state == S_HEAD_ALL) {
        *need = r.need;
        if (n < r.need) {
            rc = 1;
        } else {
            /* Feed the header only: the reader stops short of any record. */
            rc = snap_reader_feed(&r, p + take, r.need - take);
            *h = r.hdr;
        }
    } else if (rc == 0) {
        *need = SNAP_HEADER_FIXED;
        rc = 1;
    }
    if (rc < 0)
        snprintf(err, errlen, "%s", r.err);
    snap_reader_free(&r);
    return rc;
}
