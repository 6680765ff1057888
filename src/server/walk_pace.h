/* walk_pace.h - how long each event-loop turn gives a snapshot walk
 * (--snapshot-method walk, bgsave_walk.c): the rule alone, a pure
 * function of what the walk has measured, so tests give it any clock.
 *
 * A slice lasts base_ns (--snapshot-walk-slice-ms) while the walk keeps
 * up. A walk that falls behind takes longer slices, by the larger of two
 * factors:
 *   - time: once a 64th of the entries are written, the walk's projected
 *     length (elapsed x total / written) over target_ns
 *     (--snapshot-walk-target-ms), when that exceeds 1: a walk heading for
 *     twice its target takes slices twice as long;
 *   - memory: 1 + 16 x the pre-image bytes kept / the map's bytes at the
 *     walk's start: each sixteenth of the data the pre-images add (memory
 *     per key, while the walk runs and after it: the allocator keeps the
 *     pages they took, reused by later writes) adds one base slice, so a
 *     walk racing a write load that changes keys ahead of it ends sooner.
 * The product is capped at max_ns (--snapshot-walk-max-slice-ms), so no
 * turn of the loop spends more than that on the walk, and never falls
 * below base_ns. A longer slice makes the walk shorter (fewer pre-images,
 * the log kept in memory for less time) and the turns it takes slower;
 * the cap bounds what a request waits behind one. */
#ifndef RAFTKV_SERVER_WALK_PACE_H
#define RAFTKV_SERVER_WALK_PACE_H

#include <stddef.h>
#include <stdint.h>

struct walk_pace {
    uint64_t base_ns;   /* the slice while the walk keeps up */
    uint64_t max_ns;    /* the longest slice */
    uint64_t target_ns; /* the walk's length aimed at */
};

/* The next slice's length in ns, for a walk that has run elapsed_ns and
 * written `written` of `total` entries, keeping kept_bytes of pre-images
 * over a map of map_bytes (kv_map_bytes when the walk began). */
uint64_t walk_pace_slice_ns(const struct walk_pace *p, uint64_t elapsed_ns, uint64_t written,
                            uint64_t total, size_t kept_bytes, size_t map_bytes);

#endif
