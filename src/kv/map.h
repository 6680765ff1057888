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
 * Values are jansson references the map owns. Iteration order is the slot
 * order, which depends on the hash key: callers that need a stable order
 * (snapshots) sort.
 */
#ifndef RAFTKV_KV_MAP_H
#define RAFTKV_KV_MAP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct kv_map_entry {
    json_t *value;
    uint32_t key_len;
    char key[]; /* key_len bytes, then a NUL */
};

struct kv_map_slot {
    uint64_t hash;
    struct kv_map_entry *entry; /* NULL: empty */
};

struct kv_map {
    struct kv_map_slot *slots;
    size_t mask; /* slot count - 1; the count is a power of two */
    size_t size;
};

int kv_map_init(struct kv_map *m);
/* Releases every entry and value; the map is empty and usable after. */
void kv_map_clear(struct kv_map *m);
void kv_map_free(struct kv_map *m);

/* A borrowed reference, or NULL if the key is absent. */
json_t *kv_map_get(const struct kv_map *m, const char *key, size_t len);
/* Stores a new reference to value under key, releasing what was there.
 * 0, or -1 when out of memory (the map is then unchanged). */
int kv_map_set(struct kv_map *m, const char *key, size_t len, json_t *value);
/* 1 if the key was there (now removed), 0 if it was absent. */
int kv_map_del(struct kv_map *m, const char *key, size_t len);

/* Entries in slot order: start with *pos = 0; NULL at the end. */
const struct kv_map_entry *kv_map_next(const struct kv_map *m, size_t *pos);

#endif
