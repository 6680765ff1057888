/* wal.h - the Raft log on disk: a chain of segment files of CRC'd records.
 *
 * Segment wal-<first_index>.log = a 24-byte header (magic, version,
 * first_index, CRC) followed by records
 *     [len u32][crc32c u32][term u64][index u64][type u8][data: len bytes]
 * with the CRC over every other header field and the data. Indexes run
 * without gaps across segments; terms never decrease. Between entries may
 * sit COMMIT MARKS (type WAL_RECORD_COMMIT, no data): the index field holds
 * a commit index the node knew (raft.h, RESTARTING WITH A COMMIT INDEX), the
 * term field that entry's term. wal_mark_commit() puts one after the last
 * entry when a sync writes the log anyway (never a sync of its own), so a
 * mark always follows the entries up to its index in the stream, and a
 * crash that tears the tail before it loses the mark with them. Start-up
 * keeps the largest mark whose entry the log holds with that term (one that
 * does not is damage, as a wrong index is). Appends are encoded
 * into one user-space buffer and reach the file in one write() per batch;
 * wal_sync() then needs one fdatasync. A segment is closed (and synced) once
 * it passes segment_bytes, so compaction after a snapshot can delete whole
 * files, and the tail segment is the only one ever written.
 *
 * Start-up recovery tells a torn tail from corruption: a bad record (short,
 * bad CRC, wrong index, zero-filled) in the LAST segment with no valid record
 * anywhere after it is what a crash mid-write leaves, so the file is cut
 * there and the cut is logged. Anything else - a bad record followed by a
 * valid one, damage in an earlier segment, an index gap between files - may be
 * acknowledged data gone bad, and recovery stops with the file and offset.
 * (After a power loss the unsynced tail could in principle persist out of
 * order and trip the second rule; refusing to start is the safe side of that.)
 */
#ifndef RAFTKV_STORAGE_WAL_H
#define RAFTKV_STORAGE_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "raft/raft.h"
#include "storage/sio.h"

struct wal_segment {
    uint64_t first; /* index of its first record, as in its name */
    uint64_t last;  /* index of its last record; first - 1 when empty */
    uint64_t bytes; /* file size, counting what is still buffered for it */
    uint64_t gen;   /* which file: a new one for each segment made (wal.c) */
};

/* Where each stored entry lives, for truncation and term look-ups. */
struct wal_pos {
    uint64_t offset; /* in its segment, | WAL_POS_MARKED when a commit mark follows */
    uint64_t term;
};
/* The entry's record is followed by commit marks, not (only) by the next
 * entry: its length is not the distance to the next offset. */
#define WAL_POS_MARKED (1ull << 63)
#define WAL_POS_OFFSET(p) ((p).offset & ~WAL_POS_MARKED)

typedef void (*wal_log_fn)(void *ctx, const char *line);

/* How far ahead of its records the tail's file is allocated (capped at the
 * segment size): one size-changing sync per step. */
#define WAL_PREALLOC_STEP (4u * 1024 * 1024)

struct wal {
    struct sio *io;
    int dirfd;
    const char *dir; /* borrowed from the store, for messages */
    size_t segment_bytes, buffer_bytes;
    wal_log_fn log;
    void *log_ctx;

    struct wal_segment *segs;
    size_t n_segs, cap_segs;
    struct wal_pos *pos; /* one per stored entry after the snapshot, from pos_first */
    size_t n_pos, cap_pos;
    uint64_t pos_first; /* index of pos[0]; the next index when empty */

    int tail_fd; /* last segment, open for append; -1 if there is none */
    uint8_t *buf; /* records encoded but not yet written to tail_fd */
    size_t buf_len, buf_cap;
    bool tail_dirty; /* written but not fdatasync'ed */
    /* The tail's file is allocated (fallocate) up to here, ahead of its
     * records; the bytes past the records are zeros. */
    uint64_t tail_alloc;
    bool prealloc_off; /* fallocate failed for this tail: let it grow */
    bool roll_pending; /* a snapshot covers part of the tail: start a new one */
    bool dir_dirty;  /* names created but the directory not fsync'ed */
    /* A background fdatasync of the tail (storage_sync_begin) has not ended:
     * until it does, a synchronous sync fdatasyncs the tail even if clean. */
    bool sync_inflight;

    uint64_t writes, bytes, entries, truncations;

    uint64_t seg_gen; /* segments made so far */
    /* Commit marks: the largest commit index the node gave (wal_set_commit)
     * and the largest one marked (or found at start-up). */
    uint64_t commit_known, commit_marked;
    /* Segments mapped to lend entries' bytes (wal_lend.c). */
    struct wal_lend_map *lend;
    size_t n_lend, cap_lend;
};

/* Recover the log in dirfd, reconciled with the snapshot (snap_index,
 * snap_term): entries it covers are skipped, a log that contradicts it is
 * dropped. *entries receives the entries after snap_index, whose data point
 * into the segment files mapped read-only (no copy per entry); free them
 * with wal_free_entries() before the log is next truncated (or detach the
 * mappings first, below). Returns 0, -1 on an I/O
 * error, -2 on corruption (err names file and offset), -3 out of memory. */
int wal_open(struct wal *w, struct sio *io, int dirfd, const char *dir, size_t segment_bytes,
             size_t buffer_bytes, wal_log_fn log, void *log_ctx, uint64_t snap_index,
             uint64_t snap_term, struct raft_entry **entries, size_t *n_entries, char *err,
             size_t errlen);
void wal_free_entries(struct raft_entry *entries, size_t n);
/* Take over the segment memory the entries' data point into, so that
 * wal_free_entries() frees only the array and the data stay readable until
 * wal_maps_free(). Data at or past a later truncation point must not be
 * read after it (the file's pages there are gone); data before it stay
 * valid, and so do data of segments deleted meanwhile. NULL: no memory. */
struct wal_maps *wal_entries_detach_maps(struct raft_entry *entries);
void wal_maps_free(struct wal_maps *m);
/* Unmap (or free) up to max of those mappings, the newest first; returns
 * how many are left. wal_maps_free() still frees the rest and the list. */
size_t wal_maps_release(struct wal_maps *m, size_t max);
/* Bytes those mappings span (0 for NULL). */
size_t wal_maps_bytes(const struct wal_maps *m);

/* Append consecutive entries, first dropping the stored suffix from
 * entries[0].index if it overlaps (durably, before the new records).
 * Returns 0, -1 on an I/O error, -3 out of memory, -4 on a caller error. */
int wal_append(struct wal *w, const struct raft_entry *entries, size_t n, char *err,
               size_t errlen);
/* Commit marks (above): remember a commit index the node knows (the
 * largest given counts); wal_mark_commit() then buffers a mark for it,
 * capped at the last entry, if that is above the last mark and after the
 * snapshot, and if entries wait to be written or synced (or `always`: a
 * clean close): callers put it right before a write and sync they make
 * anyway, so a mark never costs a sync of its own. Returns 0, or -3 out
 * of memory. */
void wal_set_commit(struct wal *w, uint64_t index);
int wal_mark_commit(struct wal *w, bool always, char *err, size_t errlen);
/* The largest commit mark written or found at start-up (0: none). */
uint64_t wal_commit_marked(const struct wal *w);
/* Write the buffer and make the log durable. Returns 0 or -1. */
int wal_sync(struct wal *w, char *err, size_t errlen);
/* Write the buffer to the tail segment without syncing. Returns 0 or -1. */
int wal_write_buffered(struct wal *w, char *err, size_t errlen);
/* Write the buffer and give back the tail's allocation past its records,
 * for good: the tail is finished (a roll, a clean close). Durable at the
 * next sync. Returns 0 or -1. */
int wal_trim_tail(struct wal *w, char *err, size_t errlen);
bool wal_pending(const struct wal *w);
/* After a snapshot at (index, term) is durable: delete the segments it
 * covers, or the whole log if the log does not contain (index, term). */
int wal_compact(struct wal *w, uint64_t index, uint64_t term, char *err, size_t errlen);
/* wal_compact() in two halves, for a compaction whose unlinks run on
 * another thread: the plan says whether the log holds (index, term) (or
 * lies wholly after it) and how many leading segments it covers (never the
 * tail); once those files are gone, forget() drops them and the covered
 * positions from memory. */
size_t wal_compact_plan(const struct wal *w, uint64_t index, uint64_t term, bool *holds);
void wal_compact_forget(struct wal *w, uint64_t index, size_t drop);

/* Lending (wal_lend.c): out[k] gets entry first + k's index, term, length
 * and a pointer to its payload in its segment file, mapped read-only and
 * shared, for k < the count returned: it stops before an entry not held
 * or still buffered (not written to the file). Nothing is read from the
 * mapping but the length of an entry a commit mark follows (one a batch).
 * The pointers stay valid until wal_lend_release() drops their mapping or
 * wal_close(). -1 (err says why) when the first one fails. */
ssize_t wal_lend(struct wal *w, uint64_t first, size_t n, struct raft_entry *out, char *err,
                 size_t errlen);
/* Unmap up to max mappings none of whose lent entries is within
 * first..last (first > last: any); returns how many such mappings are
 * left for a later call. Unmapping a segment's touched pages costs the
 * kernel time in proportion to them, so a server releases a few a turn. */
size_t wal_lend_release(struct wal *w, uint64_t first, uint64_t last, size_t max);
/* Bytes mapped for lending, and how many mappings (maps may be NULL). */
size_t wal_lend_bytes(const struct wal *w, size_t *maps);

uint64_t wal_last_index(const struct wal *w); /* pos_first - 1 when empty */
uint64_t wal_term_at(const struct wal *w, uint64_t index); /* 0 if not held */
uint64_t wal_disk_bytes(const struct wal *w);
void wal_close(struct wal *w);

#endif
