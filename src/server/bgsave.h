/* bgsave.h - snapshots written by a forked child, as Redis's BGSAVE.
 *
 * fork() gives the child a copy-on-write image of the whole process: the
 * map as it is at this instant, for the price of copying the page tables
 * (a few ms per GiB), with no copy of the data and no locking of the map
 * against the event loop, which goes on applying, replicating and answering
 * while the child writes. The child touches neither libuv nor any socket:
 * it closes every descriptor but the snapshot's temp file and a result
 * pipe, dies with its parent (PR_SET_PDEATHSIG), lowers its CPU priority
 * (nice + BGSAVE_NICE: the loops come first), streams the map into the
 * file (src/storage/snap_writer.h, one block of memory), fdatasyncs it,
 * writes its result to the pipe and _exits. The loop watches the pipe's
 * read end (uv_poll); on the result (or EOF) it reaps the child and, if all
 * went well, commits the snapshot in the store off the loop too: the
 * rename, the directory fsyncs and the deletion of older snapshots and of
 * the log segments it covers run on libuv's thread pool
 * (storage_commit_job_run), and back on the loop only the store's
 * in-memory view is updated. A failed or killed child only loses its temp
 * file: the old snapshot stays. One at a time (child and commit).
 */
#ifndef RAFTKV_SERVER_BGSAVE_H
#define RAFTKV_SERVER_BGSAVE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include <uv.h>

#include "kv/kv.h"
#include "storage/storage.h"
#include "server/chunk_queue.h"

struct bgsave;
struct bgsave_walk;
/* How a snapshot is written (--snapshot-method): by a forked child (the
 * comment above), or by the event loop itself in bounded slices from a
 * point-in-time walk of the map (bgsave_walk.c, src/kv/map_walk.h). */
enum bgsave_method { BGSAVE_FORK = 0, BGSAVE_WALK = 1 };
/* The walk's defaults: the most bytes of pre-images it keeps
 * (--snapshot-walk-max-bytes) before it gives up (tried again later). */
#define BGSAVE_WALK_MAX_BYTES_DEFAULT ((size_t)512 << 20)
/* ... the time a turn of the loop gives it while it keeps up
 * (--snapshot-walk-slice-ms), the most a turn gives a walk that falls
 * behind (--snapshot-walk-max-slice-ms) and the walk's length aimed at
 * (--snapshot-walk-target-ms): walk_pace.h has the rule. */
#define BGSAVE_WALK_SLICE_MS_DEFAULT 8
#define BGSAVE_WALK_MAX_SLICE_MS_DEFAULT 32
#define BGSAVE_WALK_TARGET_MS_DEFAULT 10000
/* rc: 0 committed (or superseded by a newer snapshot: job.superseded),
 * BGSAVE_CHILD_FAILED (b->why says why; nothing changed), or a negative
 * STORAGE_ERR_* from the commit (fatal: the store has failed). */
#define BGSAVE_CHILD_FAILED 1
/* How much nicer than the member the child runs. */
#define BGSAVE_NICE 10
typedef void (*bgsave_done_fn)(struct bgsave *b, int rc);

struct bgsave {
    uv_loop_t *loop;
    struct storage *storage;
    bgsave_done_fn done;
    void *ctx;
    uv_poll_t *poll; /* the running child's pipe watcher (malloc'd, freed when closed) */
    bool running;
    int fd; /* the pipe's read end */
    pid_t pid;
    struct storage_snapshot_job job;
    /* The commit, on the thread pool: rename, fsyncs, deletions. */
    bool committing;
    uv_work_t commit_work;
    struct storage_commit_job commit;
    uint64_t start_ns, fork_ns, write_ns;
    uint64_t fork_cpu_ns; /* the loop thread's CPU time in fork() (page tables: grows with RSS) */
    uint64_t commit_ns;      /* the commit job, off the loop */
    uint64_t commit_loop_ns; /* the commit's two halves on the loop */
    uint64_t file_bytes;
    char why[200];
    /* Test hook: the next child fails with this errno instead of writing
     * (then it is cleared). */
    int fail_errno;
    /* --snapshot-method and, for walk, its limit; the walk under way
     * (running with walk set: no child) and what the last one measured. */
    enum bgsave_method method;
    /* The latest snapshot started was a walk (the log lines say which). */
    bool walking;
    /* The latest walk gave up by itself (past walk_max_bytes, or abandoned:
     * a re-key, a FLUSHALL of a large map): the next snapshot forks, so a
     * write load that outruns every walk still gets snapshots (and the log
     * compacted); the one after walks again. Not set by write errors,
     * which a child would meet too. */
    bool walk_gave_up;
    size_t walk_max_bytes;
    uint64_t walk_slice_ns, walk_max_slice_ns_limit, walk_target_ns; /* walk_pace.h */
    struct bgsave_walk *walk;
    struct chunk_pool walk_pool; /* written chunks kept for the next walks */
    uint64_t walk_loop_ns;     /* the loop's time in the walk's slices */
    uint64_t walk_slices;      /* slices taken */
    uint64_t walk_max_slice_ns; /* the longest one */
    uint64_t walk_max_budget_ns; /* the longest slice the pace granted (walk_pace.h) */
    /* Test hook: nonzero, the walk's slices and pace read a clock that
     * advances this much per step of BGSAVE_WALK_STEP entries instead of
     * the real one (walk_fake_now: where it is). */
    uint64_t walk_fake_step_ns, walk_fake_now;
    uint64_t walk_loop_cpu_ns, walk_max_slice_cpu_ns; /* the same in the loop thread's CPU time */
    size_t walk_kept_peak, walk_kept_keys; /* pre-images kept (bytes at most, keys) */
};

void bgsave_init(struct bgsave *b, uv_loop_t *loop, struct storage *storage, bgsave_done_fn done,
                 void *ctx);
/* Fork a child writing kv's map as the snapshot at (index, term). 0, or -1
 * with b->why saying why (nothing changed; the caller tries later). */
int bgsave_start(struct bgsave *b, const struct kv_store *kv, raft_index index, raft_term term);
/* Whether a child or its commit is running. */
bool bgsave_busy(const struct bgsave *b);
/* Shutting down: kill a running child (or stop the walk), reap it, delete
 * its temp file and close the handle; wait for a running commit job and end
 * it; free the walk's chunk pool. done is not called. */
void bgsave_stop(struct bgsave *b);

/* Shared with bgsave_walk.c: the image is written and synced: commit it
 * (off the loop) and report; or it failed (b->why): delete the temp file
 * and report BGSAVE_CHILD_FAILED. */
void bgsave_written(struct bgsave *b);
void bgsave_write_failed(struct bgsave *b);
/* The clocks both methods time themselves with, in ns: monotonic, and the
 * calling thread's CPU time. */
static inline uint64_t bgsave_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t bgsave_thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The walk's start (bgsave_start with method BGSAVE_WALK) and stop. */
int bgsave_walk_start(struct bgsave *b, struct kv_store *kv, raft_index index, raft_term term);
void bgsave_walk_stop(struct bgsave *b);
/* The chunk pool goes (bgsave_stop). */
void bgsave_walk_release(struct bgsave *b);
/* kv leaves the replica (an installed snapshot replaced it, or FLUSHALL
 * detached it): a walk over it is abandoned now. */
void bgsave_store_leaving(struct bgsave *b, struct kv_store *kv);

#endif
