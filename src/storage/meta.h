/* meta.h - the hard state (term, vote) in two CRC'd slots of one file.
 *
 * Why slots and not temp-file + rename: a vote must be durable before the
 * vote reply leaves, and votes happen at every election, so the hard state
 * write is on the latency path. Rewriting one 512-byte slot in place and
 * fdatasync'ing the file costs one sync; rename needs a file fsync plus a
 * directory fsync. Each update goes to the slot NOT holding the current
 * state, with a higher sequence number. Slots sit in separate 512-byte
 * sectors so one torn sector cannot damage both.
 *
 * One damaged slot. A torn write of the newest slot lost nothing promised
 * (it was not synced), but a slot damaged later (a bad sector, a stray
 * write) may have held a synced term and a vote already sent, and nothing
 * in the survivor says which term that was: restarting at the survivor's
 * term could vote twice in a term. So every slot also records a term
 * ceiling, and the slots keep this invariant:
 *
 *   the term in the other slot is at most this slot's ceiling, or the other
 *   slot holds exactly (ceiling + 1, no vote).
 *
 * meta_store keeps it: a term above the current ceiling is preceded by a
 * write of the current state with the ceiling raised to term + a reserve,
 * so that write costs an extra sync only once per META_TERM_RESERVE terms.
 * meta_open, finding one slot damaged, restarts at (survivor's ceiling + 1,
 * no vote): every term the lost slot could have voted in is below it, and
 * the lost slot's term is at most it. It writes that state over the damaged
 * slot at once (the "(ceiling + 1, no vote)" case of the invariant) and
 * warns. The term jumps by at most META_TERM_RESERVE + 1; peers adopt it at
 * the next election. A survivor of the older format (version 1, no
 * ceiling) bounds nothing: the open is refused.
 */
#ifndef RAFTKV_STORAGE_META_H
#define RAFTKV_STORAGE_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/sio.h"

/* How far ahead of the term a ceiling is set. */
#define META_TERM_RESERVE 16u

typedef void (*meta_log_fn)(void *ctx, const char *line);

struct meta {
    int fd;
    uint64_t seq; /* of the slot holding the current state */
    int slot;     /* 0 or 1: where the current state is */
    uint64_t term;
    int voted_for;
    uint64_t ceiling; /* the current slot's term ceiling (see above) */
};

/* Open `meta` in dirfd, creating it (atomically, via rename) if missing and
 * may_create. With one slot damaged, restarts above the survivor's ceiling
 * as described above and tells log (NULL: stderr) what it did. Returns 0,
 * -1 on an I/O error, -2 if both slots are damaged, the survivor cannot
 * bound the lost term, or the file is missing when it may not be created;
 * err says. */
int meta_open(struct meta *m, struct sio *io, int dirfd, const char *dir, bool may_create,
              meta_log_fn log, void *log_ctx, char *err, size_t errlen);
/* Write (term, voted_for) to the other slot and fdatasync it (first raising
 * the ceiling if term is above it). Syncing here, not later, keeps the
 * invariant that at most one slot is ever unsynced. */
int meta_store(struct meta *m, struct sio *io, uint64_t term, int voted_for, const char *dir,
               char *err, size_t errlen);
void meta_close(struct meta *m);

#endif
