/* map.h - the store's hash map: canonical key text -> JSON value.
 *
 * Open addressing with linear probing over a slot array that keeps each
 * key's hash beside its entry pointer, so a lookup touches the slot array
 * once and the one entry whose hash matches. It replaced a jansson object,
 * whose chained pairs cost several cache misses per write and showed as a
 * fifth of the leader's CPU under redis-benchmark. Keys hash with SipHash-1-3
 * under a per-process random key, so clients cannot choose keys that collide.
 * Deletion shifts the run back instead of leaving tombstones, so a map that
 * sees many deletes does not slow down.
 *
 * An entry is one allocation: its fixed fields, then the key's bytes, then
 * the value's bytes (a small type tag says how they read: kv.h's
 * KV_TYPE_*), so a key costs one malloc and one slot. Iteration order is
 * the slot order, which depends on the hash key: callers that need a
 * stable order sort.
 *
 * Beside the slots, every entry is also linked into a second table, the
 * scan index (scan_index.c), whose buckets come from a FIXED hash of the
 * key: the same key falls in the same bucket on every member, which is
 * what makes SCAN's cursor valid on any member (scan_index.h). The map
 * also counts the entries that have a deadline (n_expiring): set an
 * entry's deadline only through kv_map_set_expiry.
 */
#ifndef RAFTKV_KV_MAP_H
#define RAFTKV_KV_MAP_H

#include <stddef.h>
#include <stdint.h>

struct kv_map_entry {
    int64_t expiry_ms; /* absolute deadline; 0: none (kv_map_set_expiry) */
    uint64_t version;  /* the store's version counter when last written */
    struct kv_map_entry *scan_prev, *scan_next; /* the scan bucket's chain */
    uint32_t key_len;
    uint32_t value_len;
    uint32_t scan_hash; /* the key's fixed hash (scan_index.h) */
    uint8_t type;      /* KV_TYPE_* */
    char data[];       /* key_len key bytes, then value_len value bytes */
};

static inline const char *kv_entry_key(const struct kv_map_entry *e)
{
    return e->data;
}

static inline const char *kv_entry_value(const struct kv_map_entry *e)
{
    return e->data + e->key_len;
}

struct kv_map_slot {
    uint64_t hash;
    struct kv_map_entry *entry; /* NULL: empty */
};

struct kv_map {
    struct kv_map_slot *slots;
    size_t mask; /* slot count - 1; the count is a power of two */
    size_t size;
    size_t n_expiring; /* entries with a deadline */
    struct kv_map_entry **scan; /* the scan index's buckets (scan_index.h) */
    size_t scan_mask;           /* bucket count - 1, a power of two */
};

int kv_map_init(struct kv_map *m);
/* Releases every entry and value; the map is empty and usable after. */
void kv_map_clear(struct kv_map *m);
void kv_map_free(struct kv_map *m);

/* The entry, or NULL if the key is absent. */
struct kv_map_entry *kv_map_get(const struct kv_map *m, const char *key, size_t len);
/* Store value (type, bytes) under key, replacing what was there; the new
 * entry has expiry 0 and version 0 (the caller sets them). The entry, or
 * NULL when out of memory (the map is then unchanged). */
struct kv_map_entry *kv_map_put(struct kv_map *m, const char *key, size_t len, uint8_t type,
                                const void *value, size_t value_len);
/* 1 if the key was there (now removed), 0 if it was absent. */
int kv_map_del(struct kv_map *m, const char *key, size_t len);

/* Set an entry's deadline (0: none), keeping n_expiring. */
void kv_map_set_expiry(struct kv_map *m, struct kv_map_entry *e, int64_t expiry_ms);

/* Entries in slot order: start with *pos = 0; NULL at the end. */
const struct kv_map_entry *kv_map_next(const struct kv_map *m, size_t *pos);

#endif
