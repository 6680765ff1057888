/* snapshot.h - the state-machine snapshot file: written atomically, CRC'd.
 *
 * A snapshot replaces the log it covers, so it must never be seen half
 * written: it goes to snap-<index>.tmp, is fsync'ed, renamed to
 * snap-<index>.snap, and the directory is fsync'ed so the rename survives a
 * crash. A leftover .tmp (a crash mid-save) is deleted at start-up; older
 * .snap files are deleted once a newer one is durable. The whole file is
 * covered by a CRC so disk damage is reported, never restored from.
 */
#ifndef RAFTKV_STORAGE_SNAPSHOT_H
#define RAFTKV_STORAGE_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "storage/sio.h"

typedef void (*snapshot_log_fn)(void *ctx, const char *line);

/* Durably save a snapshot and delete older ones. *file_bytes: its size.
 * Returns 0 or -1 (I/O error; err says). */
int snapshot_save(struct sio *io, int dirfd, const char *dir, uint64_t index, uint64_t term,
                  const uint8_t *data, size_t len, uint64_t *file_bytes, char *err,
                  size_t errlen);

/* Load the newest snapshot, deleting leftover temp files and older
 * snapshots. With none, *index = *term = 0 and *data = NULL. Returns 0, -1 on
 * an I/O error, -2 if the newest snapshot is damaged (err names file and
 * offset). *data is malloc'd. */
int snapshot_load(struct sio *io, int dirfd, const char *dir, snapshot_log_fn log, void *log_ctx,
                  uint64_t *index, uint64_t *term, uint8_t **data, size_t *len,
                  uint64_t *file_bytes, char *err, size_t errlen);

#endif
