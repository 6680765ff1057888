/* scan_index.c - the map's fixed-hash bucket table (scan_index.h): linking
 * entries, growing, and walking buckets in reverse-binary cursor order. */
#include "kv/scan_index.h"

#include <stdbool.h>
#include <stdlib.h>

uint32_t scan_index_hash(const char *key, size_t len)
{
    uint64_t h = 14695981039346656037ull; /* FNV-1a 64 */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)key[i]) * 1099511628211ull;
    /* A final mix so that the low bits, which pick the bucket, depend on
     * every byte (murmur3's finalizer). */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return (uint32_t)h;
}

int scan_index_init(struct kv_map *m)
{
    m->scan = calloc(SCAN_INDEX_MIN_BUCKETS, sizeof *m->scan);
    m->scan_mask = SCAN_INDEX_MIN_BUCKETS - 1;
    return m->scan ? 0 : -1;
}

void scan_index_free(struct kv_map *m)
{
    free(m->scan);
    m->scan = NULL;
}

void scan_index_reset(struct kv_map *m)
{
    struct kv_map_entry **small = calloc(SCAN_INDEX_MIN_BUCKETS, sizeof *small);
    if (small) {
        free(m->scan);
        m->scan = small;
        m->scan_mask = SCAN_INDEX_MIN_BUCKETS - 1;
    } else {
        for (size_t i = 0; i <= m->scan_mask; i++)
            m->scan[i] = NULL;
    }
}

static void link_at(struct kv_map_entry **buckets, size_t mask, struct kv_map_entry *e)
{
    struct kv_map_entry **head = &buckets[e->scan_hash & mask];
    e->scan_prev = NULL;
    e->scan_next = *head;
    if (*head)
        (*head)->scan_prev = e;
    *head = e;
}

static void grow(struct kv_map *m)
{
    size_t count = (m->scan_mask + 1) * 2;
    if (count - 1 > UINT32_MAX)
        return; /* the hash has 32 bits */
    struct kv_map_entry **b = calloc(count, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i <= m->scan_mask; i++) {
        for (struct kv_map_entry *e = m->scan[i], *next; e; e = next) {
            next = e->scan_next;
            link_at(b, count - 1, e);
        }
    }
    free(m->scan);
    m->scan = b;
    m->scan_mask = count - 1;
}

void scan_index_add(struct kv_map *m, struct kv_map_entry *e)
{
    e->scan_hash = scan_index_hash(kv_entry_key(e), kv_entry_key_len(e));
    link_at(m->scan, m->scan_mask, e);
    if (m->size > m->scan_mask + 1)
        grow(m);
}

void scan_index_remove(struct kv_map *m, struct kv_map_entry *e)
{
    if (e->scan_prev)
        e->scan_prev->scan_next = e->scan_next;
    else
        m->scan[e->scan_hash & m->scan_mask] = e->scan_next;
    if (e->scan_next)
        e->scan_next->scan_prev = e->scan_prev;
}

void scan_index_replace(struct kv_map *m, struct kv_map_entry *old, struct kv_map_entry *e)
{
    e->scan_hash = old->scan_hash;
    e->scan_prev = old->scan_prev;
    e->scan_next = old->scan_next;
    if (e->scan_prev)
        e->scan_prev->scan_next = e;
    else
        m->scan[e->scan_hash & m->scan_mask] = e;
    if (e->scan_next)
        e->scan_next->scan_prev = e;
}

static uint64_t reverse_bits(uint64_t v)
{
    v = ((v >> 1) & 0x5555555555555555ull) | ((v & 0x5555555555555555ull) << 1);
    v = ((v >> 2) & 0x3333333333333333ull) | ((v & 0x3333333333333333ull) << 2);
    v = ((v >> 4) & 0x0f0f0f0f0f0f0f0full) | ((v & 0x0f0f0f0f0f0f0f0full) << 4);
    v = ((v >> 8) & 0x00ff00ff00ff00ffull) | ((v & 0x00ff00ff00ff00ffull) << 8);
    v = ((v >> 16) & 0x0000ffff0000ffffull) | ((v & 0x0000ffff0000ffffull) << 16);
    return (v >> 32) | (v << 32);
}

uint64_t scan_index_walk(const struct kv_map *m, uint64_t cursor, uint64_t max_entries,
                         uint64_t max_buckets, scan_visit_fn fn, void *ctx)
{
    uint64_t mask = m->scan_mask, entries = 0, buckets = 0;
    do {
        for (const struct kv_map_entry *e = m->scan[cursor & mask]; e; e = e->scan_next) {
            fn(ctx, e);
            entries++;
        }
        buckets++;
        /* The next bucket in reverse-binary order: set the bits above the
         * mask, so that the increment of the reversed cursor carries into
         * the bits that index the table. */
        cursor |= ~mask;
        cursor = reverse_bits(reverse_bits(cursor) + 1);
    } while (cursor != 0 && entries < max_entries && buckets < max_buckets);
    return cursor;
}

const struct kv_map_entry *scan_index_pick(const struct kv_map *m, uint64_t start, uint64_t pick,
                                           scan_accept_fn accept, void *ctx)
{
    size_t mask = m->scan_mask;
    for (size_t i = 0; i <= mask; i++) {
        size_t n = 0;
        const struct kv_map_entry *head = m->scan[(start + i) & mask];
        for (const struct kv_map_entry *e = head; e; e = e->scan_next)
            n += accept(ctx, e);
        if (n == 0)
            continue;
        uint64_t k = pick % n;
        for (const struct kv_map_entry *e = head;; e = e->scan_next)
            if (accept(ctx, e) && k-- == 0)
                return e;
    }
    return NULL;
}
