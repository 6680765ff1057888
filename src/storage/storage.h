/* storage.h - durable Raft state in a data directory: hard state, log, snapshot.
 *
 * The drivers (src/replica via src/node and src/server) use this to honour
 * raft.h's ORDER OF WORK: persist, make durable, then send. The directory holds
 *   LOCK                   flock'ed while open; holds the owner's pid
 *   meta                   term and vote, two CRC'd slots written alternately
 *   wal-<first_index>.log  log segments of CRC'd records (entries, and commit
 *                          marks between them), rolled by size
 *   snap-<index>.snap      the latest state-machine snapshot (snap_format.h)
 *   identity               whose directory this is (identity.h; the server's)
 *
 * Group commit: storage_set_hard_state() and storage_append() only buffer
 * (one write() per batch, none per entry); storage_sync() writes what is
 * buffered and makes everything durable with one fdatasync per dirty file.
 * Call append many times, then sync once, then send the messages.
 *
 * INTEGRATION. Through src/replica (what src/node and src/server use), the
 * adapter in storage_replica.h does all of the below; see its comment.
 * Driving the core directly, the order of calls is:
 *   storage_open(dir, &opts, &s, &restore, err, sizeof err)
 *   raft_new(&config, &restore, now)        // the core copies what it needs
 *                                           // (or borrows: storage_lend_restore)
 *   storage_release_restore(s)              // optional: free the loaded log
 *   loop over raft_step() updates:
 *     if (u.flags & RAFT_UPDATE_HARD_STATE) storage_set_hard_state(s, u.term, u.voted_for)
 *     if (u.flags & RAFT_UPDATE_ENTRIES)    storage_append(s, u.entries, u.n_entries)
 *     if (u.flags & RAFT_UPDATE_SNAPSHOT)   storage_save_snapshot(s, u.snap_index, ...)
 *     storage_set_commit(s, u.commit_index)  // optional: a restart applies up to it at once
 *     ... more steps may be batched here ...
 *     storage_sync(s)                        // once for the whole batch
 *     send messages; apply; then step RAFT_EVENT_PERSISTED with
 *     (storage_last_index(s), storage_last_term(s))
 *   after applying past the compaction threshold: kv_snapshot() then
 *     storage_save_snapshot(s, applied, term_of_applied, data, len), or in
 *     the background storage_snapshot_begin/commit below, and step
 *     RAFT_EVENT_SNAPSHOT. The term must be that of the entry at `applied`
 *     (storage_term_at() has it): a term the log does not hold means "a
 *     leader's snapshot" and the whole log is dropped, as thesis 5.3 says.
 *   storage_close(s)
 *
 * ERRORS: every function returns STORAGE_OK (0) or a negative STORAGE_ERR_*;
 * storage_error(s) (or the caller's err buffer for storage_open) says what
 * and where. STORAGE_ERR_IO is FATAL for the caller: a failed write or
 * fsync (ENOSPC, EIO) leaves the kernel's page cache in an unknown state,
 * and retrying fsync can report success for data that was dropped (the
 * 2018 "fsyncgate" lesson). After it the store refuses every further write
 * with STORAGE_ERR_FAILED; the node must log the message and exit, and its
 * state is recovered from disk (and peers) on restart.
 * STORAGE_ERR_CORRUPT from storage_open means the directory holds damage
 * that is not a torn tail; the node must refuse to start.
 */
#ifndef RAFTKV_STORAGE_H
#define RAFTKV_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

struct sio;

#define STORAGE_OK 0
#define STORAGE_ERR_IO (-1)      /* a system call failed (ENOSPC, EIO, ...): fatal */
#define STORAGE_ERR_CORRUPT (-2) /* damage before the tail: refuse to start */
#define STORAGE_ERR_LOCKED (-3)  /* another process holds the directory */
#define STORAGE_ERR_INVALID (-4) /* caller error: index gap, bad argument */
#define STORAGE_ERR_NOMEM (-5)
#define STORAGE_ERR_FAILED (-6) /* an earlier fatal error; the store is read-only */

#define STORAGE_DEFAULT_SEGMENT_BYTES (64u * 1024 * 1024)
#define STORAGE_DEFAULT_BUFFER_BYTES (1u * 1024 * 1024)

/* Zero-initialised options (or a NULL pointer) mean the defaults. */
struct storage_options {
    size_t segment_bytes; /* roll to a new segment beyond this; 0: 64 MiB */
    size_t buffer_bytes;  /* write() the buffer once it holds this much; 0: 1 MiB */
    /* Told one line per notable recovery action (what a torn tail cut,
     * leftover temp files removed). NULL: stderr. */
    void (*log)(void *ctx, const char *line);
    void *log_ctx;
    /* Fault injection for tests: the Nth write()/ftruncate (fail_write_at)
     * or fsync/fdatasync (fail_sync_at) call, counted from 1 since open,
     * fails with fail_errno (default ENOSPC for writes, EIO for syncs).
     * 0 disables. */
    uint64_t fail_write_at;
    uint64_t fail_sync_at;
    int fail_errno;
    /* With fail_write_at: the failing write first puts half of its bytes in
     * the file, leaving the torn tail a crash mid-write leaves. */
    bool fail_write_torn;
    /* When all the fail_* fields above are zero, storage_open() reads them
     * from the environment instead, so end-to-end tests can break the disk
     * of a real node without a command-line option:
     * RAFTKV_STORAGE_FAIL_WRITE_AT, RAFTKV_STORAGE_FAIL_SYNC_AT (call
     * numbers), RAFTKV_STORAGE_FAIL_ERRNO (a number), RAFTKV_STORAGE_FAIL_TORN (1). */
};

/* Sync latency histogram: bucket i counts syncs of [2^i, 2^(i+1)) microseconds
 * (bucket 0 also counts < 1 us; the last bucket everything longer). */
#define STORAGE_SYNC_BUCKETS 24

struct storage_stats {
    uint64_t syncs;          /* storage_sync() calls that had something to make durable */
    uint64_t fsyncs;         /* fsync/fdatasync system calls, all files and directories */
    uint64_t writes;         /* write() system calls for log records */
    uint64_t entries;        /* log entries appended */
    uint64_t bytes;          /* log bytes written, headers included */
    uint64_t truncations;    /* conflicting suffixes dropped */
    uint64_t snapshots;      /* snapshots saved */
    uint64_t sync_ns_last, sync_ns_max, sync_ns_total;
    uint64_t sync_us_hist[STORAGE_SYNC_BUCKETS];
    uint64_t segments;   /* log segment files now on disk */
    uint64_t disk_bytes; /* bytes of segments + snapshot now on disk */
    uint64_t log_entries; /* entries after the snapshot, each indexed in memory */
    uint64_t lent_bytes;  /* segment memory still lent to the core (storage_lend_restore) */
    uint64_t ended_maps;  /* mappings of an ended restore loan not yet unmapped */
    uint64_t lend_bytes;  /* segment files mapped for storage_lend() (address space) */
    uint64_t lend_maps;   /* ... how many mappings */
};

struct storage;

/* Open (creating if missing) the data directory `dir`, lock it against other
 * processes, and load it: *restore_out receives the hard state, the latest
 * snapshot and the log entries after it. A torn tail of the last segment is
 * cut back to the last complete record (and logged). With one of the two
 * hard-state slots damaged, the term restored is above any the lost slot
 * may have held, with no vote (and a warning is logged; see meta.h). Of a
 * snapshot only its index and term are loaded (its header checked); its
 * image is read with storage_snapshot_stream(). The
 * memory restore_out points to belongs to the store until
 * storage_release_restore() or storage_close(). On failure returns a
 * STORAGE_ERR_* and writes a message naming the file (and byte offset for
 * corruption, the holder's pid for STORAGE_ERR_LOCKED) into err; *out is
 * then NULL. */
int storage_open(const char *dir, const struct storage_options *options, struct storage **out,
                 struct raft_restore *restore_out, char *err, size_t errlen);

/* The restore storage_open() gave, again (for a loader called later, such as
 * the replica's log-store seam). STORAGE_ERR_INVALID once released. */
int storage_restore(const struct storage *s, struct raft_restore *out);

/* Release the memory of the restore_out given by storage_open() (once lent,
 * the entry array only: the data stay until storage_end_loan()). */
void storage_release_restore(struct storage *s);

/* The restore, with its entries' data lent (out->borrow set) to a Raft core
 * that keeps pointers instead of copies: the segment files they point into
 * stay mapped, past storage_release_restore(), until storage_end_loan()
 * (once raft_borrows_restore() is false) or storage_close(). Meanwhile
 * segments deleted by compaction keep their disk space (unlinked, still
 * mapped). STORAGE_ERR_INVALID once released, STORAGE_ERR_NOMEM. */
int storage_lend_restore(struct storage *s, struct raft_restore *out);
/* End the loan: the restore is released and its segment memory unmapped,
 * STORAGE_LEND_RELEASE_MAPS mappings now and as many at each
 * storage_lend_release() (the rest at storage_close()). */
void storage_end_loan(struct storage *s);

/* Lending while running (raft_lend): out[k] gets entry first + k's index,
 * term, length and a pointer to its payload in its segment file, mapped
 * read-only and shared (page cache, not the process's memory; nothing is
 * read from it here but the length of an entry a commit mark follows),
 * for k below the count returned, which stops before an entry not held
 * (compacted, not appended) or not yet written to the file (lend only
 * what a sync made durable). 0 also when a segment cannot
 * be mapped (storage_error() says why; not fatal: the core keeps its
 * copies). Valid until storage_lend_release() or storage_close(); a
 * segment deleted meanwhile keeps its disk space until then. */
size_t storage_lend(struct storage *s, raft_index first, size_t n, struct raft_entry *out);
/* The core's lent entries are first..last now (raft_lent_range; first >
 * last: none): unmap segments none of whose lent entries is among them,
 * and those of a restore loan that ended, at most STORAGE_LEND_RELEASE_MAPS
 * a call in all (the server calls it every loop turn), so a snapshot that
 * ends the loan of a whole log's segments spreads their unmapping over
 * turns. Returns how many are left to unmap. */
#define STORAGE_LEND_RELEASE_MAPS 2u
size_t storage_lend_release(struct storage *s, raft_index first, raft_index last);

/* Flush and sync what is buffered (best effort, unless failed), unlock, free. */
void storage_close(struct storage *s);

/* Let go as a kill -9 would, for crash tests: what is still buffered is
 * dropped, nothing is synced (what reached the files stays, as it does in
 * the page cache), the lock is released and the memory freed. */
void storage_abandon(struct storage *s);

/* ---- Syncing off the event loop (the TCP server does this) ----
 * storage_sync_begin() writes what is buffered and, when all that needs to be
 * made durable is the tail segment's data, fills *job and returns
 * STORAGE_SYNC_STARTED: run storage_sync_job_run(job) on any thread (it
 * touches nothing but the job), then hand the job back with
 * storage_sync_end() on the store's own thread. What was written before
 * storage_sync_begin() is durable once storage_sync_end() returns
 * STORAGE_OK. Meanwhile appends may go on (they are not covered), and a
 * storage_sync() also makes the job's bytes durable. One job at a time.
 * Returns STORAGE_OK when nothing needs syncing, STORAGE_SYNC_INLINE when
 * storage_sync() must do it (a term, vote, new segment name or a job already
 * running), or a negative STORAGE_ERR_*. */
#define STORAGE_SYNC_STARTED 1
#define STORAGE_SYNC_INLINE 2

struct storage_sync_job {
    int fd;         /* a duplicate of the tail's descriptor; the job closes it */
    int fail_errno; /* an injected fault: fail with it instead of syncing */
    int rc, err;    /* result: 0, or -1 with err an errno */
    uint64_t start_ns, ns;
};

int storage_sync_begin(struct storage *s, struct storage_sync_job *job);
void storage_sync_job_run(struct storage_sync_job *job);
/* STORAGE_OK, or STORAGE_ERR_IO (the store has failed, as after a failed
 * storage_sync()). */
int storage_sync_end(struct storage *s, struct storage_sync_job *job);

/* Record (term, voted_for); durable at the next storage_sync(). */
int storage_set_hard_state(struct storage *s, raft_term term, int voted_for);

/* Append entries with consecutive indexes and non-decreasing terms. If
 * entries[0].index <= the last stored index, the stored log from that index
 * on is dropped first (durably, before anything new is written over it).
 * Entries the snapshot covers are skipped (committed, so already in it).
 * entries[0].index must be at most storage_last_index() + 1, else
 * STORAGE_ERR_INVALID (the store stays usable). Durable at the next
 * storage_sync(). */
int storage_append(struct storage *s, const struct raft_entry *entries, size_t n);

/* A commit index the node knows (raft_update.commit_index; the largest
 * given counts). It costs no sync of its own: the next storage_sync() or
 * storage_sync_begin() that writes log entries anyway puts it in the log
 * as a commit mark right after them (capped at the last entry; wal.h), and
 * so does storage_close(); storage_open() gives the largest mark found back
 * in restore->commit (0: none). It may lag (what a sync wrote before the
 * node learnt more), and a crash that tears the tail loses it together
 * with the entries before it, which is what makes it safe to use at a
 * restart (raft.h, RESTARTING WITH A COMMIT INDEX). */
int storage_set_commit(struct storage *s, raft_index index);

/* Make everything set or appended so far durable: write the buffer, then
 * fdatasync each dirty file (and the directory if files were created).
 * Returns at once when nothing is pending. */
int storage_sync(struct storage *s);

/* Save the state machine's image (a whole snapshot file, snap_format.h,
 * whose header says index and term) as of (index, term), durably before returning
 * (temp file, fsync, rename, fsync the directory), then drop the log it
 * covers: whole segments up to index are deleted. If the stored log holds
 * (index, term), the entries after index are kept; otherwise (a snapshot
 * installed from the leader) the whole log is dropped and the next append
 * must start at index + 1. Pending appends are synced first. A snapshot
 * older than the stored one changes nothing (the stored one covers it). */
int storage_save_snapshot(struct storage *s, raft_index index, raft_term term, const uint8_t *data,
                          size_t len);

/* ---- Snapshots written elsewhere (the TCP server forks a child) ----
 * storage_snapshot_begin() creates snap-<index>.tmp and fills *job; the
 * writer (any process) writes the whole image with
 * storage_snapshot_job_write() (a kv_sink_fn) and makes it durable with
 * storage_snapshot_job_sync(); back here, storage_snapshot_commit() puts it
 * in place (rename, fsync the directory), deletes older snapshots and
 * compacts the log it covers, as storage_save_snapshot() does; or
 * storage_snapshot_abort() deletes the temp file and leaves everything as
 * it was. A failed begin or a failed writer is not fatal to the store
 * (nothing it holds was touched); a failed commit is. A commit of a
 * snapshot no newer than the stored one (a leader's came meanwhile) only
 * deletes the temp file and sets job->superseded. */
struct storage_snapshot_job {
    raft_index index;
    raft_term term;
    int fd;
    struct sio *io;   /* the store's counted system calls (faults in tests) */
    int err;          /* the writer's errno */
    bool superseded;
    size_t unsynced;  /* bytes written since the last sync */
};
/* The writer syncs the temp file every this many bytes. */
#define STORAGE_SNAPSHOT_SYNC_EVERY (4u << 20)
int storage_snapshot_begin(struct storage *s, raft_index index, raft_term term,
                           struct storage_snapshot_job *job);
int storage_snapshot_job_write(void *job, const void *data, size_t n); /* 0 or -1 */
int storage_snapshot_job_sync(struct storage_snapshot_job *job);         /* 0 or -1 */
int storage_snapshot_commit(struct storage *s, struct storage_snapshot_job *job);
void storage_snapshot_abort(struct storage *s, struct storage_snapshot_job *job);

/* ---- Committing a background snapshot off the event loop ----
 * storage_snapshot_commit() above is these three on one thread. The server
 * runs the middle one on libuv's thread pool, as it does the log's syncs:
 *   storage_snapshot_commit_begin(s, job, cj)   store's thread, cheap:
 *       decides which log segments the snapshot covers; returns
 *       STORAGE_COMMIT_STARTED, or STORAGE_OK / an error when it finished
 *       inline (superseded, or a log that does not hold the snapshot's
 *       entry: rare, and its whole-log deletion stays on the caller's thread)
 *   storage_commit_job_run(cj)                  any thread, the slow part,
 *       in crash-safe order: rename snap-<i>.tmp to snap-<i>.snap, fsync
 *       the directory (from here the new snapshot is the one start-up
 *       loads), delete older snapshots, then unlink the covered segments
 *       oldest first, each followed by a directory fsync (a crash leaves a
 *       suffix of the log, and start-up skips what the snapshot covers)
 *   storage_snapshot_commit_end(s, cj)          store's thread, cheap: the
 *       in-memory view follows (snapshot index, segment list, positions).
 * Meanwhile appends, syncs, rolls and truncations go on (they touch only
 * entries after the snapshot, in files the job does not touch). A
 * storage_save_snapshot(), storage_close() or storage_abandon() while a job
 * runs first waits for it and ends it (then the later _end only reports).
 * One job at a time. A failure in the job is fatal, as a failed
 * storage_snapshot_commit(). */
#define STORAGE_COMMIT_STARTED 1
struct storage_commit_job {
    raft_index index;
    raft_term term;
    int dirfd;          /* the store's (borrowed) */
    const char *dir;    /* for messages */
    uint64_t *segs;     /* firsts of the segments to unlink, oldest first (malloc'd) */
    size_t n_segs;
    /* Injected sync failure (tests): the fail_sync-th directory fsync of
     * the job (1: after the rename; 1 + k: after the k-th unlink) fails
     * with fail_errno. 0: none. */
    size_t fail_sync;
    int fail_errno;
    /* Test hook: with stop set, stop as a kill -9 would after stop_after
     * steps (each rename, fsync, unlink is one; the deletion of older
     * snapshots another). */
    bool stop;
    size_t stop_after;
    /* Results. */
    size_t steps;        /* steps done */
    int rc;              /* 0, or -1 with err and why */
    int err;
    char why[200];
    uint64_t file_bytes;
    uint64_t ns;         /* time the job took */
    bool ended;          /* _end already applied it */
    /* Completion, for a store that must wait for the job. */
    void *sync;
};
int storage_snapshot_commit_begin(struct storage *s, struct storage_snapshot_job *job,
                                  struct storage_commit_job *cj);
void storage_commit_job_run(struct storage_commit_job *cj);
int storage_snapshot_commit_end(struct storage *s, struct storage_commit_job *cj);
/* Whether a commit job is between begin and end. */
bool storage_commit_running(const struct storage *s);
/* Wait for a running commit job (blocking) and end it: shutting down. */
int storage_snapshot_commit_wait(struct storage *s);
/* ---- Snapshots received in chunks (the TCP server's transfers) ----
 * storage_snapshot_recv_begin() creates snap-<index>.recv (deleting one
 * being received before) and gives its descriptor to the transport, which
 * writes the image, fdatasyncs and closes it; storage_snapshot_adopt() then
 * puts it in place as storage_save_snapshot() does with an image in memory
 * (the log synced, rename, directory fsync'ed, older snapshots deleted, the
 * log compacted); storage_snapshot_recv_abort() deletes it. A leftover
 * .recv (a crash mid-transfer) is deleted at start-up. A failed begin is
 * not fatal; a failed adopt is. */
int storage_snapshot_recv_begin(struct storage *s, raft_index index, int *fd);
void storage_snapshot_recv_abort(struct storage *s);
bool storage_snapshot_recv_staged(const struct storage *s, raft_index index);
int storage_snapshot_adopt(struct storage *s, raft_index index, raft_term term);
/* Open the stored snapshot's file, which must be the one at index, for
 * reading (a transfer streams it): *fd (the caller closes it; the file
 * stays readable through it when a newer snapshot deletes it) and *size. */
int storage_snapshot_open(struct storage *s, raft_index index, int *fd, uint64_t *size);

/* Stream the stored snapshot's file (the one storage_open() reported) to
 * feed(ctx, bytes, n) in chunks of at most 1 MiB: STORAGE_OK,
 * STORAGE_ERR_IO, or STORAGE_ERR_CORRUPT when feed refused (then
 * storage_snapshot_corrupt(s, why) words storage_error()). */
int storage_snapshot_stream(struct storage *s, int (*feed)(void *ctx, const uint8_t *p, size_t n),
                            void *ctx);
void storage_snapshot_corrupt(struct storage *s, const char *why);
/* The stored snapshot's file as one malloc'd buffer (for an InstallSnapshot
 * message, until transfers are chunked). */
int storage_snapshot_read(struct storage *s, uint8_t **data, size_t *len);

/* The last stored (appended, maybe not yet synced) index and its term; the
 * snapshot's when the log is empty; 0 when there is nothing. */
raft_index storage_last_index(const struct storage *s);
raft_term storage_last_term(const struct storage *s);
/* The first index held in the log (snapshot index + 1 when empty). */
raft_index storage_first_index(const struct storage *s);
raft_index storage_snapshot_index(const struct storage *s);
/* The term of a stored entry or of the snapshot's last entry; 0 if unknown. */
raft_term storage_term_at(const struct storage *s, raft_index index);

void storage_get_stats(const struct storage *s, struct storage_stats *out);
/* The message of the last error; "" if none. */
const char *storage_error(const struct storage *s);
const char *storage_strerror(int rc);

#endif
