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
 * KV_TYPE_*), so a key costs one malloc and one 8-byte slot. Iteration order is
 * the slot order, which depends on the hash key: callers that need a
 * stable order sort.
 *
 * Beside the slots, every entry is also linked into a second table, the
 * scan index (scan_index.c), whose buckets come from a FIXED hash of the
 * key: the same key falls in the same bucket on every member, which is
 * what makes SCAN's cursor valid on any member (scan_index.h).
 */
#ifndef RAFTKV_KV_MAP_H
#define RAFTKV_KV_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "kv/expires.h"

/* An entry: the fields below, then the key's length and the value's as
 * varints (LEB128: one byte each below 128), then the key's bytes and the
 * value's. A 16-byte key with a 100-byte value takes 148 bytes
 * (jemalloc's 160 class; 128, one class less, without the scan index's
 * 20 bytes of links), where fixed 32-bit lengths and an inline deadline
 * took 165 (the 192 class). Read the lengths and bytes with kv_entry_*(); a
 * deadline lives in the map's table (expires.h): kv_map_expiry(),
 * kv_map_set_expiry(). */
struct kv_map_entry {
    uint64_t version; /* the store's version counter when last written */
    struct kv_map_entry *scan_prev, *scan_next; /* the scan bucket's chain */
    uint32_t scan_hash; /* the key's fixed hash (scan_index.h) */
    uint8_t type;     /* KV_TYPE_* */
    uint8_t flags;    /* KV_ENTRY_* */
    unsigned char data[];
};

#define KV_ENTRY_EXPIRES 0x01 /* a deadline in the map's table */

/* Reads a varint at p into *v; its byte count. */
static inline size_t kv_varint_get(const unsigned char *p, uint32_t *v)
{
    uint32_t x = 0;
    size_t i = 0;
    for (int shift = 0;; shift += 7) {
        unsigned char b = p[i++];
        x |= (uint32_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            break;
    }
    *v = x;
    return i;
}

static inline size_t kv_entry_key_len(const struct kv_map_entry *e)
{
    uint32_t k;
    kv_varint_get(e->data, &k);
    return k;
}

static inline size_t kv_entry_value_len(const struct kv_map_entry *e)
{
    uint32_t k, v;
    kv_varint_get(e->data + kv_varint_get(e->data, &k), &v);
    return v;
}

static inline const char *kv_entry_key(const struct kv_map_entry *e)
{
    uint32_t k, v;
    size_t n = kv_varint_get(e->data, &k);
    n += kv_varint_get(e->data + n, &v);
    return (const char *)e->data + n;
}

static inline const char *kv_entry_value(const struct kv_map_entry *e)
{
    uint32_t k, v;
    size_t n = kv_varint_get(e->data, &k);
    n += kv_varint_get(e->data + n, &v);
    return (const char *)e->data + n + k;
}

/* A slot is one word: the entry's address in the low 48 bits and the top
 * 16 bits of the key's hash above them (a tag that rules out nearly every
 * entry a probe passes without touching it); 0 is empty. x86-64 and
 * aarch64 user addresses fit in 48 bits; should an allocation not fit, the
 * map drops the tags for good and slots hold plain addresses (lookups then
 * compare keys of every entry probed). The full hash is not kept: growing
 * and deleting hash the entry's key again. */
struct kv_map {
    uint64_t *slots;
    size_t mask; /* slot count - 1; the count is a power of two */
    size_t size;
    size_t bytes;      /* bytes requested for entries (headers, keys, values) */
    struct kv_expires expires; /* deadlines of the entries that have one */
    uint64_t ptr_mask; /* the address bits of a slot: 48 bits, or all when untagged */
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
 * entry has no deadline and version 0 (the caller sets them). The entry, or
 * NULL when out of memory (the map is then unchanged). */
struct kv_map_entry *kv_map_put(struct kv_map *m, const char *key, size_t len, uint8_t type,
                                const void *value, size_t value_len);
/* 1 if the key was there (now removed), 0 if it was absent. */
int kv_map_del(struct kv_map *m, const char *key, size_t len);

/* Make room for n entries in all without growing (a snapshot's record
 * count, before loading it): 0, or -1 when out of memory (unchanged). */
int kv_map_reserve(struct kv_map *m, size_t n);

/* e's deadline in ms, 0 for none. */
int64_t kv_map_expiry(const struct kv_map *m, const struct kv_map_entry *e);
/* Set e's deadline (0: none); the entry stays where it is. 0, or -1 when
 * out of memory (then unchanged). */
int kv_map_set_expiry(struct kv_map *m, struct kv_map_entry *e, int64_t expiry_ms);
/* The number of entries with a deadline. */
size_t kv_map_expiring(const struct kv_map *m);

/* Bytes requested for the map's entries, its slot array, its deadline
 * table and the scan index's buckets. */
size_t kv_map_bytes(const struct kv_map *m);

/* Slots hold plain addresses from now on, as after an allocation past
 * 48 bits (kv_map_put does this itself; tests call it to run that way). */
void kv_map_drop_tags(struct kv_map *m);

/* Entries in slot order: start with *pos = 0; NULL at the end. */
const struct kv_map_entry *kv_map_next(const struct kv_map *m, size_t *pos);

#endif
