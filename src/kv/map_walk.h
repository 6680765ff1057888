/* map_walk.h - a point-in-time walk over a live map, in bounded steps on
 * the thread that changes the map: what a snapshot written by the event
 * loop itself (no fork: bgsave.h's --snapshot-method walk) reads.
 *
 * The view. A walk begun when the map holds the state S visits every
 * entry of S once, with the value, type, version and deadline it had at
 * S, however the map changes between steps. Entries are immutable blobs
 * (kv_map_put allocates a new one; only the deadline, and with it the
 * version, change in place, through kv_map_set_expiry), so the map keeps
 * pre-images: while a walk has not yet passed a key, the first change to
 * it (a put over it or creating it, a delete, a deadline change) hands the
 * walk a copy of the key's entry as of S (in chunks of the walk's own,
 * so the map frees the entry at once and the next write reuses its
 * memory) or an "absent" mark for a key S did not hold, into a side table
 * keyed like the map. A step emits each entry it visits unless the side table has
 * its key (its current entry is newer than S; only an entry written while
 * a walk ran can be, so only those, flagged KV_ENTRY_WALK by the map, are
 * looked up, and the flag is cleared as the walk passes), and after the last bucket
 * the side table's pre-images (skipping "absent"): so each key of S comes
 * once, and none created after S. A clear (FLUSHALL of a small map:
 * kv_map_clear) hands the walk the whole table as it stands, O(1): the
 * walk goes on over that frozen table and the map starts afresh, no
 * longer watched. A large FLUSHALL (which detaches the map), a map
 * replaced by an installed snapshot, freed, or re-keyed abandons the walk
 * (kv_map_walk_detach: the snapshot is tried again later).
 *
 * Where the walk is. The walk follows SCAN's cursor (map.h): buckets in
 * reverse-binary order, each read wherever its entries sit, so entries
 * that a delete's backward shift or a migration moves between steps are
 * still found, and "passed" is a property of the key's hash
 * (kv_map_walk_passed), not of a slot. SCAN returns a key present
 * throughout exactly once while the table only grows (the unvisited
 * buckets of the doubled table are exactly the expansions of the old
 * table's unvisited ones); a shrink or a re-key would visit some buckets
 * twice, so while a walk runs no shrink starts (one under way when the
 * walk began goes on: the walk reads its smaller table's buckets from the
 * start) and a re-key abandons the walk; growth and its migration go on
 * as usual. No thread reads the map concurrently: no locks.
 *
 * Cost. The walk's own time per entry: its key hashed once (SCAN's
 * bucket test; the hash serves the side table too), the record, and the
 * cache misses of the slot and the entry, overlapped by fetching buckets
 * a few places ahead (kv_map_scan_hashed). Memory: the pre-images of keys changed during the walk before the
 * walk reached them, at most max_bytes (the record, the key, the entry;
 * past it the walk is abandoned and the memory returned at once); time: a
 * change while a walk runs hashes nothing more on put and delete (the
 * map's hash serves), one hash for a deadline change, and a side-table
 * probe for keys the walk has not passed. */
#ifndef RAFTKV_KV_MAP_WALK_H
#define RAFTKV_KV_MAP_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv/map.h"

struct kv_map_walk;

/* Each entry of the view: its deadline (0: none) is passed apart, as a
 * pre-image's is no longer in the map's table. 0, or -1 to fail the walk. */
typedef int (*kv_map_walk_fn)(void *ctx, const struct kv_map_entry *e, int64_t expiry_ms);

/* Begin a walk over m as it is now; NULL (why says why) if m has one
 * already, is re-keying or out of memory. */
struct kv_map_walk *kv_map_walk_begin(struct kv_map *m, size_t max_bytes, char *why,
                                      size_t whylen);
/* Emit up to about max_entries entries of the view (a bucket is not split).
 * 1: the view is complete; 0: more to come; -1: failed or abandoned
 * (kv_map_walk_error). */
int kv_map_walk_step(struct kv_map_walk *w, size_t max_entries, kv_map_walk_fn fn, void *ctx);
const char *kv_map_walk_error(const struct kv_map_walk *w);
/* The number of entries of the view (m's size at the beginning), and the
 * bytes the map took then (kv_map_bytes). */
size_t kv_map_walk_expected(const struct kv_map_walk *w);
size_t kv_map_walk_start_bytes(const struct kv_map_walk *w);
/* Pre-images kept now and at most so far (bytes), and how many were kept. */
size_t kv_map_walk_kept_bytes(const struct kv_map_walk *w);
size_t kv_map_walk_kept_peak(const struct kv_map_walk *w);
size_t kv_map_walk_kept_count(const struct kv_map_walk *w);
/* Detach from the map (if still attached) and free everything. */
void kv_map_walk_end(struct kv_map_walk *w);

/* m's walk, if any, is abandoned (why) and m no longer watched. */
void kv_map_walk_detach(struct kv_map *m, const char *why);

/* ---- for map.c only, while m->walk is set ---- */
/* key (hash h in m) is about to change from old (NULL: absent; expiry its
 * deadline): the walk copies old if it needs the key's pre-image; the map
 * then frees or changes old as usual. */
void kv_map_walk_note(struct kv_map_walk *w, struct kv_map *m, uint64_t h, const char *key,
                      size_t len, const struct kv_map_entry *old, int64_t expiry);
/* e (hash h) is about to change in place: the same. */
void kv_map_walk_note_inplace(struct kv_map_walk *w, struct kv_map *m, uint64_t h,
                              const struct kv_map_entry *e, int64_t expiry);
/* The walked map was cleared: frozen (malloc'd, walk NULL) is what it
 * held, the walk's own from now on. */
void kv_map_walk_adopt(struct kv_map_walk *w, struct kv_map *frozen);

#endif
