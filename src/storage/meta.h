/* meta.h - the hard state (term, vote) in two CRC'd slots of one file.
 *
 * Why slots and not temp-file + rename: a vote must be durable before the
 * vote reply leaves, and votes happen at every election, so the hard state
 * write is on the latency path. Rewriting one 512-byte slot in place and
 * fdatasync'ing the file costs one sync; rename needs a file fsync plus a
 * directory fsync. Each update goes to the slot NOT holding the current
 * state, with a higher sequence number; if a crash tears that write, its CRC
 * fails and the other slot still holds the previous state - which is all that
 * was ever promised, since the torn write had not been synced. Slots sit in
 * separate 512-byte sectors so one torn sector cannot damage both.
 */
#ifndef RAFTKV_STORAGE_META_H
#define RAFTKV_STORAGE_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/sio.h"

struct meta {
    int fd;
    uint64_t seq; /* of the slot holding the current state */
    int slot;     /* 0 or 1: where the current state is */
    uint64_t term;
    int voted_for;
};

/* Open `meta` in dirfd, creating it (atomically, via rename) if missing and
 * may_create. Returns 0, -1 on an I/O error, -2 if both slots are damaged or
 * the file is missing when it may not be created; err says. */
int meta_open(struct meta *m, struct sio *io, int dirfd, const char *dir, bool may_create,
              char *err, size_t errlen);
/* Write (term, voted_for) to the other slot and fdatasync it. Syncing here,
 * not later, keeps the invariant that at most one slot is ever unsynced. */
int meta_store(struct meta *m, struct sio *io, uint64_t term, int voted_for, const char *dir,
               char *err, size_t errlen);
void meta_close(struct meta *m);

#endif
