/* wal_format.c - encoding and checking segment headers and records. */
#include "storage/wal_format.h"

#include <stdio.h>
#include <string.h>

#include "storage/crc32c.h"
#include "storage/le.h"

void wal_name(char *buf, uint64_t first)
{
    snprintf(buf, WAL_NAME_MAX, WAL_NAME_FMT, first);
}

void wal_encode_header(uint8_t *h, uint64_t first)
{
    memset(h, 0, WAL_HEADER_BYTES);
    le_put32(h, WAL_MAGIC);
    le_put32(h + 4, WAL_VERSION);
    le_put64(h + 8, first);
    le_put32(h + 16, crc32c(h, 16));
}

/* The CRC covers the record but its own field: len, then the rest of the
 * header and the data, which follow each other (two calls, not three). */
static uint32_t wal_record_crc(const uint8_t *rec, uint32_t len)
{
    uint32_t c = crc32c(rec, 4);
    return crc32c_extend(c, rec + 8, WAL_RECORD_HEADER - 8 + (size_t)len);
}

void wal_encode_record(uint8_t *out, const struct raft_entry *e)
{
    le_put32(out, e->len);
    le_put64(out + 8, e->term);
    le_put64(out + 16, e->index);
    out[24] = e->type;
    if (e->len)
        memcpy(out + WAL_RECORD_HEADER, e->data, e->len);
    le_put32(out + 4, wal_record_crc(out, e->len));
}

void wal_encode_commit(uint8_t *out, uint64_t index, uint64_t term)
{
    struct raft_entry mark = {.term = term, .index = index, .type = WAL_RECORD_COMMIT};
    wal_encode_record(out, &mark);
}

bool wal_all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

const char *wal_decode_record(const uint8_t *buf, size_t size, size_t off, struct wal_record *r)
{
    if (size - off < WAL_RECORD_HEADER)
        return "record header cut short";
    const uint8_t *p = buf + off;
    r->len = le_get32(p);
    if (r->len > size - off - WAL_RECORD_HEADER)
        return "record runs past the end of the file";
    if (le_get32(p + 4) != wal_record_crc(p, r->len))
        return "checksum mismatch";
    r->term = le_get64(p + 8);
    r->index = le_get64(p + 16);
    r->type = p[24];
    r->data = p + WAL_RECORD_HEADER;
    return NULL;
}

size_t wal_find_valid_after(const uint8_t *buf, size_t size, size_t from)
{
    /* The common torn tail (zeros the file system allocated) in one pass. */
    if (from < size && wal_all_zero(buf + from + 1, size - from - 1))
        return 0;
    for (size_t off = from + 1; off + WAL_RECORD_HEADER <= size; off++) {
        struct wal_record r;
        if (wal_decode_record(buf, size, off, &r) == NULL)
            return off;
    }
    return 0;
}
