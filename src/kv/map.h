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
 */
#ifndef RAFTKV_KV_MAP_H
#define RAFTKV_KV_MAP_H

#include <stddef.h>
#include <stdint.h>

struct kv_map_entry {
    int64_t expiry_ms; /* absolute deadline; 0: none */
    uint64_t version;  /* the store's version counter when last written */
    uint32_t key_len;
    uint32_t value_len;
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
    uint64_t ptr_mask; /* the address bits of a slot: 48 bits, or all when untagged */
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

/* Bytes requested for the map's entries and its slot array. */
size_t kv_map_bytes(const struct kv_map *m);

/* Slots hold plain addresses from now on, as after an allocation past
 * 48 bits (kv_map_put does this itself; tests call it to run that way). */
void kv_map_drop_tags(struct kv_map *m);

/* Entries in slot order: start with *pos = 0; NULL at the end. */
const struct kv_map_entry *kv_map_next(const struct kv_map *m, size_t *pos);

#endif
