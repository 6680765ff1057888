/* log.c - the in-memory Raft log: a contiguous array of entries after a
 * compaction offset.
 *
 * Contiguity is what lets an update point straight into the log for the
 * entries to persist, to send and to apply, without copying. Entry payloads
 * are owned by the log (one allocation each, copied on append), except a
 * restored prefix the driver lent (raft_restore.borrow): those point at the
 * driver's bytes, are never freed or written here, and stop being used as
 * they are compacted, truncated or reset away (log_borrows()).
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "raft/raft_private.h"

void log_init(struct raft_log *l, raft_index offset, raft_term offset_term)
{
    memset(l, 0, sizeof *l);
    l->offset = offset;
    l->offset_term = offset_term;
}

static void log_free_range(struct raft_log *l, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        l->bytes -= l->entries[i].len + sizeof(struct raft_entry);
        if (l->offset + 1 + i > l->borrowed)
            free(l->entries[i].data);
    }
}

void log_free(struct raft_log *l)
{
    log_free_range(l, 0, l->n);
    free(l->entries);
    memset(l, 0, sizeof *l);
}

raft_index log_last_index(const struct raft_log *l)
{
    return l->offset + l->n;
}

raft_term log_last_term(const struct raft_log *l)
{
    return l->n ? l->entries[l->n - 1].term : l->offset_term;
}

bool log_term_at(const struct raft_log *l, raft_index index, raft_term *term)
{
    if (index == l->offset) {
        *term = l->offset_term;
        return true;
    }
    if (index < l->offset || index > l->offset + l->n)
        return false;
    *term = l->entries[index - l->offset - 1].term;
    return true;
}

struct raft_entry *log_get(const struct raft_log *l, raft_index index)
{
    if (index <= l->offset || index > l->offset + l->n)
        return NULL;
    return &l->entries[index - l->offset - 1];
}

int log_reserve(struct raft_log *l, size_t n)
{
    if (n <= l->cap - l->n)
        return RAFT_OK;
    size_t cap = l->n + n;
    struct raft_entry *e = realloc(l->entries, cap * sizeof *e);
    if (!e)
        return RAFT_ERR_NOMEM;
    l->entries = e;
    l->cap = cap;
    return RAFT_OK;
}

static void log_push(struct raft_log *l, raft_term term, uint8_t type, uint8_t *data,
                     uint32_t len)
{
    struct raft_entry *e = &l->entries[l->n];
    e->term = term;
    e->index = l->offset + l->n + 1;
    e->type = type;
    e->len = len;
    e->data = data;
    l->n++;
    l->bytes += len + sizeof *e;
}

int log_append(struct raft_log *l, raft_term term, uint8_t type, const uint8_t *data,
               uint32_t len)
{
    if (l->n == l->cap && log_reserve(l, l->cap ? l->cap : 256) != RAFT_OK)
        return RAFT_ERR_NOMEM;
    uint8_t *copy = NULL;
    if (len) {
        copy = malloc(len);
        if (!copy)
            return RAFT_ERR_NOMEM;
        memcpy(copy, data, len);
    }
    log_push(l, term, type, copy, len);
    return RAFT_OK;
}

int log_append_borrowed(struct raft_log *l, raft_term term, uint8_t type, const uint8_t *data,
                        uint32_t len)
{
    if (l->n && l->borrowed != log_last_index(l))
        return RAFT_ERR_INVALID; /* an owned entry before it: one bound no longer covers */
    if (l->n == l->cap && log_reserve(l, l->cap ? l->cap : 256) != RAFT_OK)
        return RAFT_ERR_NOMEM;
    /* The cast keeps struct raft_entry's one pointer type; the log never
     * writes through it, nor frees it (index <= borrowed). */
    log_push(l, term, type, len ? (uint8_t *)data : NULL, len);
    l->borrowed = log_last_index(l);
    return RAFT_OK;
}

bool log_borrows(const struct raft_log *l)
{
    return l->borrowed > l->offset;
}

void log_truncate_from(struct raft_log *l, raft_index from)
{
    assert(from > l->offset);
    if (from > log_last_index(l))
        return;
    size_t keep = (size_t)(from - l->offset - 1);
    log_free_range(l, keep, l->n);
    l->n = keep;
    if (l->borrowed >= from)
        l->borrowed = from - 1;
}

void log_compact_to(struct raft_log *l, raft_index upto)
{
    assert(upto >= l->offset && upto <= log_last_index(l));
    if (upto == l->offset)
        return;
    size_t drop = (size_t)(upto - l->offset);
    raft_term t = l->entries[drop - 1].term;
    log_free_range(l, 0, drop);
    memmove(l->entries, l->entries + drop, (l->n - drop) * sizeof *l->entries);
    l->n -= drop;
    l->offset = upto;
    l->offset_term = t;
    /* Give memory back after a large compaction so a long run stays bounded. */
    if (l->cap > 1024 && l->n < l->cap / 4) {
        size_t cap = l->n * 2 > 256 ? l->n * 2 : 256;
        struct raft_entry *e = realloc(l->entries, cap * sizeof *e);
        if (e) {
            l->entries = e;
            l->cap = cap;
        }
    }
}

void log_reset(struct raft_log *l, raft_index offset, raft_term offset_term)
{
    log_free_range(l, 0, l->n);
    l->n = 0;
    l->offset = offset;
    l->offset_term = offset_term;
    l->borrowed = 0;
}
