/* snap_stagger.h - the members of a cluster take their periodic snapshots
 * in turn rather than together.
 *
 * Every member applies the same entries to the same map, so the snapshot
 * triggers (snapshot_threshold entries, or the log's bytes against the
 * map's) come due on all of them at about the same index, and all fork
 * their children at once. The first seconds of a child are the expensive
 * ones for its member: nearly every key written then copies a shared page
 * (bench/cow_bench.sh: 10-20 page faults and 0.5-1.5 ms of CPU per MSET of
 * 10 keys against 0.1 and 25 us without a child), and three members doing
 * that on the same cores at once applied 400-1,000 entries/s instead of
 * 6,000. Staggered, one member at a time pays it while the others (a
 * quorum of three) apply at full speed.
 *
 * The rule: the log's indexes are cut into windows of Q entries, Q the
 * largest power of two not above interval / members (interval: the
 * entries since the member's latest snapshot when the trigger came due;
 * a power of two so that members whose intervals differ a little still
 * cut the same windows), and window w belongs to member slot
 * w mod members. A member whose snapshot is due starts it in the first
 * half of one of its own windows: at once if the due index is there, else
 * at the start of its next window. Starts of different members are then
 * at least Q/2 entries apart (when their intervals agree), and a start is
 * deferred by at most (members - 1/2) * Q entries, less than the interval
 * itself (once it holds `members` entries), so the log since the latest
 * snapshot stays below twice what the trigger allows. Fewer than two
 * members: no deferral. */
#ifndef RAFTKV_REPLICA_SNAP_STAGGER_H
#define RAFTKV_REPLICA_SNAP_STAGGER_H

#include <stdint.h>

/* The quantum for an interval among members (at least 1). */
uint64_t snap_stagger_quantum(uint64_t interval, unsigned members);
/* The index at or after `due` at which member `slot` (taken modulo
 * members) starts a snapshot that came due at `due` after `interval`
 * entries; `due` itself with fewer than two members. */
uint64_t snap_stagger_start(uint64_t due, uint64_t interval, unsigned slot, unsigned members);

#endif
