/* snapshot.h - the state-machine snapshot files: snap-<index>.snap, in the
 * streaming format of snap_format.h, never seen half written.
 *
 * A snapshot replaces the log it covers, so it goes to snap-<index>.tmp, is
 * fdatasync'ed, renamed to snap-<index>.snap, and the directory is fsync'ed
 * so the rename survives a crash; only then are older snapshots and the log
 * it covers deleted. The file is written either at once from bytes in
 * memory (snapshot_save: a leader's image, the stdio node) or by a writer
 * elsewhere, another process, through a job (snapshot_begin, then
 * snapshot_commit or snapshot_abort). A leftover .tmp (a crash mid-save) is
 * deleted at start-up. Start-up checks the header (its CRC, the version,
 * the index against the name); the state machine then loads the file,
 * checking every block's CRC, the file's and the counts as it goes, and
 * refuses the start on damage, naming the offset, before anything is
 * served (kv.h's kv_loader_load).
 */
#ifndef RAFTKV_STORAGE_SNAPSHOT_H
#define RAFTKV_STORAGE_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "storage/sio.h"

typedef void (*snapshot_log_fn)(void *ctx, const char *line);

/* File names of the snapshot at `index`. */
void snapshot_name(char *buf, size_t n, uint64_t index);
void snapshot_tmp_name(char *buf, size_t n, uint64_t index);
/* snap-<index>.recv: an image being received from the leader in chunks
 * (removed at start-up, as a temp file is). */
void snapshot_recv_name(char *buf, size_t n, uint64_t index);

/* Durably save the image `data` (a whole snapshot file) as the snapshot at
 * index and delete older ones. Returns 0, -1 (I/O error; err says) or -4
 * (the image's header does not say (index, term)). */
int snapshot_save(struct sio *io, int dirfd, const char *dir, uint64_t index, uint64_t term,
                  const uint8_t *data, size_t len, uint64_t *file_bytes, char *err,
                  size_t errlen);

/* The second half of a save whose temp file was written elsewhere:
 * rename snap-<index>.tmp into place, fsync the directory, delete older
 * snapshots. *file_bytes: its size. 0 or -1. */
int snapshot_install_tmp(struct sio *io, int dirfd, const char *dir, uint64_t index,
                         uint64_t *file_bytes, char *err, size_t errlen);
/* Delete snapshots and temp files older than index (best effort: a crash
 * leaves garbage start-up removes). */
void snapshot_remove_older(int dirfd, uint64_t index);

/* The same for the durable temp file `tmp` (a name in dir). */
int snapshot_install_file(struct sio *io, int dirfd, const char *dir, const char *tmp,
                          uint64_t index, uint64_t *file_bytes, char *err, size_t errlen);

/* Find the newest snapshot, deleting leftover temp files and older
 * snapshots, and check its header: *index and *term from it. With none,
 * *index = *term = 0. Returns 0, -1 on an I/O error, -2 if the header is
 * damaged or disagrees with the file name (err names file and offset). */
int snapshot_load(struct sio *io, int dirfd, const char *dir, snapshot_log_fn log, void *log_ctx,
                  uint64_t *index, uint64_t *term, uint64_t *file_bytes, char *err,
                  size_t errlen);

/* Stream the file of the snapshot at index to feed(ctx, bytes, n) in
 * chunks of at most 1 MiB. 0; -1 on an I/O error (err says); -2 when feed
 * refused (err untouched: the feeder knows why). */
int snapshot_stream(int dirfd, const char *dir, uint64_t index,
                    int (*feed)(void *ctx, const uint8_t *p, size_t n), void *ctx, char *err,
                    size_t errlen);

#endif
