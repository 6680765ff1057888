/* scan_index.h - the map's second table, whose buckets come from a fixed
 * hash of the key, for SCAN cursors that mean the same on every member,
 * and for RANDOMKEY.
 *
 * Why a second table. The map's slots hash with a per-process random key
 * (map.h: clients cannot aim collisions at it), so slot order differs from
 * member to member, and a cursor over slots would skip or repeat keys once
 * a SCAN goes on at another member after a leader change. Here every entry
 * is also linked (two pointers in the entry) into bucket
 * fixed_hash(key) & mask of a power-of-two array. The hash is fixed
 * (FNV-1a 64 with a final mix), so a key is in the same bucket on every
 * member that has the same bucket count; and the cursor walks buckets in
 * Redis's reverse-binary order (increment the bit-reversed cursor), which
 * visits, between two calls with different bucket counts, exactly the
 * buckets of the new count that hold what the old count's unvisited
 * buckets held. So a cursor made by one member, with any bucket count,
 * continues correctly on another member with any other (bucket counts
 * differ between members: a member that restored a snapshot grew its table
 * to the snapshot's size, not to the largest size the others once had).
 * Redis's guarantee follows: a key present from the start to the end of a
 * full iteration is returned at least once, whichever members serve the
 * calls and whatever snapshots or leader changes happen in between; a key
 * may be returned more than once when the table grew or shrank.
 *
 * Costs. Memory: two pointers per entry (16 bytes) and one pointer per
 * bucket, at most one bucket per key (the table doubles when the keys
 * outnumber the buckets; it shrinks only when the map is cleared, as the
 * map's slots). Time: linking and unlinking are O(1) (doubly linked);
 * doubling rehashes every entry once (O(N), amortized O(1) per insert, as
 * the map's own growth). A SCAN call visits whole buckets, so it costs
 * O(COUNT + empty buckets visited (at most 10 * COUNT) + the length of
 * the last bucket). The fixed hash is public, so a client that chooses
 * its keys can fill one bucket: that makes SCAN calls that reach it long
 * (never wrong) and costs nothing elsewhere (unlinking is O(1)).
 *
 * Private to src/kv (map.c maintains it; scan.c and the ops read it).
 */
#ifndef RAFTKV_KV_SCAN_INDEX_H
#define RAFTKV_KV_SCAN_INDEX_H

#include <stdbool.h>
#include <stdint.h>

#include "kv/map.h"

#define SCAN_INDEX_MIN_BUCKETS 16

/* The fixed hash of a key (the same on every member and every run). */
uint32_t scan_index_hash(const char *key, size_t len);

int scan_index_init(struct kv_map *m);   /* 0 or -1 */
void scan_index_free(struct kv_map *m);
/* Forget every entry (the map freed them) and shrink to the minimum. */
void scan_index_reset(struct kv_map *m);
/* Link a new entry (the map's size already counts it); grows the table
 * when the keys outnumber the buckets (if memory allows: otherwise the
 * chains only get longer). */
void scan_index_add(struct kv_map *m, struct kv_map_entry *e);
void scan_index_remove(struct kv_map *m, struct kv_map_entry *e);
/* A new entry for the same key takes an old one's place. */
void scan_index_replace(struct kv_map *m, struct kv_map_entry *old, struct kv_map_entry *e);

/* Visit buckets from cursor in reverse-binary order, calling fn for each
 * entry, until at least max_entries were visited or max_buckets buckets
 * were, or the walk wrapped. Returns the next cursor (0: done). */
typedef void (*scan_visit_fn)(void *ctx, const struct kv_map_entry *e);
uint64_t scan_index_walk(const struct kv_map *m, uint64_t cursor, uint64_t max_entries,
                         uint64_t max_buckets, scan_visit_fn fn, void *ctx);

/* The first bucket at or after start (in index order, wrapping) holding an
 * entry that accept() takes, and one of those picked by pick: NULL if no
 * entry is accepted. Expected O(1) when most entries are accepted. */
typedef bool (*scan_accept_fn)(void *ctx, const struct kv_map_entry *e);
const struct kv_map_entry *scan_index_pick(const struct kv_map *m, uint64_t start, uint64_t pick,
                                           scan_accept_fn accept, void *ctx);

#endif
