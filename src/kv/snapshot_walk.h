/* snapshot_walk.h - a snapshot of the store written in bounded steps by
 * the thread that applies to it, as of the moment it began (the map's
 * point-in-time walk, map_walk.h, into the streaming writer,
 * snap_writer.h): what the server's --snapshot-method walk runs on its
 * event loop instead of forking (bgsave.h). The header (the store's
 * metadata and record count) goes out at the beginning; each step emits
 * some entries into the sink; the last one the trailer. */
#ifndef RAFTKV_KV_SNAPSHOT_WALK_H
#define RAFTKV_KV_SNAPSHOT_WALK_H

#include <stddef.h>
#include <stdint.h>

#include "kv/kv.h"

struct kv_snapshot_walk;

/* Begin the image of s at (index, term): the header goes to sink now.
 * max_kept_bytes bounds the pre-images kept meanwhile (map_walk.h). NULL
 * with why filled when it cannot begin (nothing to undo). */
struct kv_snapshot_walk *kv_snapshot_walk_begin(struct kv_store *s, uint64_t index, uint64_t term,
                                                size_t max_kept_bytes, kv_sink_fn sink, void *ctx,
                                                char *why, size_t whylen);
/* The same with kv.h's KV_SNAP_* flags (a backup's KV_SNAP_NO_MAP_KEY). */
struct kv_snapshot_walk *kv_snapshot_walk_begin_flags(struct kv_store *s, uint64_t index,
                                                      uint64_t term, unsigned flags,
                                                      size_t max_kept_bytes, kv_sink_fn sink,
                                                      void *ctx, char *why, size_t whylen);
/* Up to about max_entries records into the sink. 1: the image is complete
 * (trailer written); 0: more to come; -1: failed (kv_snapshot_walk_error;
 * only free is left). */
int kv_snapshot_walk_step(struct kv_snapshot_walk *w, size_t max_entries);
const char *kv_snapshot_walk_error(const struct kv_snapshot_walk *w);
/* Records written so far, of how many; pre-image bytes at most so far and
 * how many keys had one. */
void kv_snapshot_walk_stats(const struct kv_snapshot_walk *w, uint64_t *written, uint64_t *total,
                            size_t *kept_peak, size_t *kept_keys);
/* The bytes the map took when the walk began (kv_map_bytes). */
size_t kv_snapshot_walk_map_bytes(const struct kv_snapshot_walk *w);
void kv_snapshot_walk_free(struct kv_snapshot_walk *w);

/* s is leaving its owner (replaced by an installed snapshot, or detached
 * by FLUSHALL, to be freed perhaps on another thread): a walk over its map
 * is abandoned now, on the walk's thread. */
void kv_snapshot_walk_detach(struct kv_store *s);

#endif
