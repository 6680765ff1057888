/* bgsave_walk.c - snapshots written by the event loop itself, without a
 * fork (--snapshot-method walk; bgsave.h has the fork).
 *
 * Why. On a paravirtualised VM every copy-on-write fault the parent takes
 * after fork() exits to the hypervisor (50-300 us each, measured), and
 * applying writes touches pages all over the heap: for tens of seconds
 * after each fork the member applied a thirtieth of its usual rate. The
 * walk costs no fault: the map keeps what the snapshot needs instead
 * (src/kv/map_walk.h: pre-images of the keys changed before the walk
 * reached them), so the image is the map as it was at the start, the
 * applied index, while the loop goes on applying.
 *
 * How. The loop encodes the image in slices from a uv_idle handle: each
 * turn of the loop takes one slice of walking, b->walk_slice_ns
 * (--snapshot-walk-slice-ms) while the walk keeps up, longer (at most
 * --snapshot-walk-max-slice-ms) once it falls behind its target length or
 * its pre-images grow (walk_pace.h) (a turn
 * with nothing else to do takes another slice at once, so an idle member
 * writes at full speed and a busy one a slice per turn). Encoded bytes go
 * into 256 KiB chunks; full chunks are written to the temp file in order by
 * libuv's thread pool, one write at a time (the job's writes fdatasync
 * every 4 MiB: never on the loop); while CHUNK_QUEUE_BYTES wait
 * (chunk_queue.h), the walk pauses until a write ends. Written chunks go back to a pool
 * that outlives the walk (struct bgsave: at most 2.5 MiB): a fresh chunk's
 * pages fault in as they are first written, and on this VM a fault costs
 * 50-300 us, which made the slices that crossed into a new chunk the
 * longest (up to 49 ms of CPU at 1M keys). After the last chunk the fdatasync
 * runs on the pool too, then the commit exactly as the fork's (bgsave.c:
 * rename, directory fsync, deletions on the pool). No thread reads the map:
 * only the loop walks it, so nothing is locked. A walk that fails (its
 * pre-images past --snapshot-walk-max-bytes, the map replaced or re-keyed,
 * a write error) loses only its temp file, as a failed child does, and the
 * replica tries again later. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kv/snapshot_walk.h"
#include "server/bgsave.h"
#include "server/walk_pace.h"

#define BGSAVE_WALK_STEP 256            /* entries between clock checks */

/* One write of a chunk (or, chunk NULL, the final fdatasync) on the pool.
 * Its own allocation: a stop orphans it (w NULL) and its callback frees
 * it. */
struct io_req {
    uv_work_t work;
    struct bgsave_walk *w;
    struct storage_snapshot_job *job;
    struct chunk *chunk;
    int fail_errno; /* test hook (bgsave.fail_errno): this write fails so */
    int rc;
    atomic_bool ran; /* the thread part is over */
};

struct bgsave_walk {
    struct bgsave *b;
    struct kv_snapshot_walk *sw;
    uv_idle_t *idle; /* malloc'd, freed when closed */
    bool idling;
    struct chunk_queue q;      /* encoded chunks for the writer (pool: b->walk_pool) */
    struct io_req *io;         /* the write or sync on the pool, if any */
    bool encoded;              /* the trailer is in the chunks */
    uint64_t started;          /* walk_clock() at the start */
    bool failed;
    int fail_errno; /* the first write fails with it (bgsave.fail_errno) */
};

static void on_idle_closed(uv_handle_t *h)
{
    free(h);
}

/* The walk's end, either way: no handle, no encoder, no chunks; the
 * stats kept in b. */
static void walk_free(struct bgsave_walk *w)
{
    struct bgsave *b = w->b;
    if (w->idle)
        uv_close((uv_handle_t *)w->idle, on_idle_closed);
    if (w->sw) {
        uint64_t written, total;
        kv_snapshot_walk_stats(w->sw, &written, &total, &b->walk_kept_peak, &b->walk_kept_keys);
        kv_snapshot_walk_free(w->sw);
    }
    chunk_queue_clear(&w->q);
    b->walk = NULL;
    free(w);
}

static void io_run(uv_work_t *req)
{
    struct io_req *io = req->data;
    if (io->fail_errno) {
        io->job->err = io->fail_errno;
        io->rc = -1;
    } else if (io->chunk)
        io->rc = storage_snapshot_job_write(io->job, io->chunk->data, io->chunk->len);
    else
        io->rc = storage_snapshot_job_sync(io->job);
    atomic_store(&io->ran, true);
}

static void pump(struct bgsave_walk *w);

/* A failure (b->why set): once no write is on the pool, the temp file
 * goes and the owner hears of it. */
static void walk_fail(struct bgsave_walk *w)
{
    w->failed = true;
    if (w->idling) {
        uv_idle_stop(w->idle);
        w->idling = false;
    }
    if (w->io)
        return; /* io_done comes back here */
    struct bgsave *b = w->b;
    walk_free(w);
    bgsave_write_failed(b);
}

static void io_done(uv_work_t *req, int status)
{
    struct io_req *io = req->data;
    struct bgsave_walk *w = io->w;
    int rc = status == 0 ? io->rc : -1;
    bool sync = io->chunk == NULL;
    struct chunk *c = io->chunk;
    free(io);
    if (!w) {
        free(c); /* stopped meanwhile: the pool may be gone */
        return;
    }
    chunk_pool_put(&w->b->walk_pool, c);
    w->io = NULL;
    struct bgsave *b = w->b;
    if (w->failed) {
        walk_fail(w);
        return;
    }
    if (rc != 0) {
        snprintf(b->why, sizeof b->why, "writing the snapshot failed: %s",
                 strerror(b->job.err ? b->job.err : EIO));
        walk_fail(w);
        return;
    }
    if (sync) {
        walk_free(w);
        bgsave_written(b);
        return;
    }
    pump(w);
}

static void step(uv_idle_t *h);

/* The clock slices and the pace go by: the real one, or the test hook's. */
static uint64_t walk_clock(const struct bgsave *b)
{
    return b->walk_fake_step_ns ? b->walk_fake_now : bgsave_now_ns();
}

/* Start the next write (or the final sync) if none runs; resume the
 * walk when the queue has room. */
static void pump(struct bgsave_walk *w)
{
    struct bgsave *b = w->b;
    if (!w->io && (w->q.head || w->encoded)) {
        struct io_req *io = calloc(1, sizeof *io);
        if (!io) {
            snprintf(b->why, sizeof b->why, "out of memory");
            walk_fail(w);
            return;
        }
        io->w = w;
        io->job = &b->job;
        io->work.data = io;
        io->fail_errno = w->fail_errno;
        w->fail_errno = 0;
        io->chunk = chunk_queue_pop(&w->q); /* none: the final sync */
        if (uv_queue_work(b->loop, &io->work, io_run, io_done) != 0) {
            chunk_pool_put(&b->walk_pool, io->chunk);
            free(io);
            snprintf(b->why, sizeof b->why, "no thread to write the snapshot on");
            walk_fail(w);
            return;
        }
        w->io = io;
    }
    if (!w->encoded && !w->idling && w->q.queued < CHUNK_QUEUE_BYTES) {
        uv_idle_start(w->idle, step);
        w->idling = true;
    }
}

/* A slice: walk until its time is up, the queue is full or the image is
 * complete. */
static void step(uv_idle_t *h)
{
    struct bgsave_walk *w = h->data;
    struct bgsave *b = w->b;
    uint64_t t0 = walk_clock(b), t = t0, c0 = bgsave_thread_cpu_ns();
    uint64_t written, total;
    size_t kept, kept_keys;
    kv_snapshot_walk_stats(w->sw, &written, &total, &kept, &kept_keys);
    struct walk_pace pace = {.base_ns = b->walk_slice_ns,
                             .max_ns = b->walk_max_slice_ns_limit,
                             .target_ns = b->walk_target_ns};
    uint64_t budget = walk_pace_slice_ns(&pace, t0 - w->started, written, total, kept,
                                         kv_snapshot_walk_map_bytes(w->sw));
    if (budget > b->walk_max_budget_ns)
        b->walk_max_budget_ns = budget;
    int rc = 0;
    while (t - t0 < budget && w->q.queued < CHUNK_QUEUE_BYTES) {
        rc = kv_snapshot_walk_step(w->sw, BGSAVE_WALK_STEP);
        b->walk_fake_now += b->walk_fake_step_ns;
        t = walk_clock(b);
        if (rc != 0)
            break;
    }
    uint64_t cpu = bgsave_thread_cpu_ns() - c0;
    b->walk_loop_ns += t - t0;
    b->walk_loop_cpu_ns += cpu;
    b->walk_slices++;
    if (t - t0 > b->walk_max_slice_ns)
        b->walk_max_slice_ns = t - t0;
    if (cpu > b->walk_max_slice_cpu_ns)
        b->walk_max_slice_cpu_ns = cpu;
    if (rc < 0) {
        snprintf(b->why, sizeof b->why, "%s", kv_snapshot_walk_error(w->sw));
        b->walk_gave_up = true; /* the next snapshot forks (bgsave_start) */
        walk_fail(w);
        return;
    }
    if (rc == 1) {
        w->encoded = true;
        chunk_queue_seal(&w->q);
    }
    if (w->encoded || w->q.queued >= CHUNK_QUEUE_BYTES) {
        uv_idle_stop(w->idle);
        w->idling = false;
    }
    pump(w);
}

int bgsave_walk_start(struct bgsave *b, struct kv_store *kv, raft_index index, raft_term term)
{
    if (storage_snapshot_begin(b->storage, index, term, &b->job) != STORAGE_OK) {
        snprintf(b->why, sizeof b->why, "%s", storage_error(b->storage));
        return -1;
    }
    struct bgsave_walk *w = calloc(1, sizeof *w);
    uv_idle_t *idle = malloc(sizeof *idle);
    if (!w || !idle || uv_idle_init(b->loop, idle) != 0) {
        free(w);
        free(idle);
        snprintf(b->why, sizeof b->why, "out of memory");
        storage_snapshot_abort(b->storage, &b->job);
        return -1;
    }
    idle->data = w;
    w->idle = idle;
    w->b = b;
    w->q.pool = &b->walk_pool;
    w->fail_errno = b->fail_errno;
    b->fail_errno = 0;
    b->start_ns = bgsave_now_ns();
    w->started = walk_clock(b);
    b->fork_ns = b->fork_cpu_ns = 0;
    b->walk_loop_ns = b->walk_slices = b->walk_max_slice_ns = b->walk_max_budget_ns = 0;
    b->walk_loop_cpu_ns = b->walk_max_slice_cpu_ns = 0;
    b->walk_kept_peak = b->walk_kept_keys = 0;
    b->pid = 0;
    w->sw = kv_snapshot_walk_begin(kv, index, term, b->walk_max_bytes, chunk_queue_sink,
                                   &w->q, b->why, sizeof b->why);
    if (!w->sw) {
        walk_free(w);
        storage_snapshot_abort(b->storage, &b->job);
        return -1;
    }
    b->walk = w;
    b->running = true;
    uv_idle_start(idle, step);
    w->idling = true;
    return 0;
}

void bgsave_walk_stop(struct bgsave *b)
{
    struct bgsave_walk *w = b->walk;
    if (!w)
        return;
    if (w->io) {
        /* The write (or sync) on the pool uses the file: wait for its
         * thread part (one chunk, at most a sync), then orphan it. */
        while (!atomic_load(&w->io->ran))
            usleep(1000);
        w->io->w = NULL;
        w->io = NULL;
    }
    walk_free(w);
    b->running = false;
    storage_snapshot_abort(b->storage, &b->job);
}

void bgsave_walk_release(struct bgsave *b)
{
    chunk_pool_free(&b->walk_pool);
}

void bgsave_store_leaving(struct bgsave *b, struct kv_store *kv)
{
    /* The walk notices at its next slice (map gone) and fails there. */
    if (b->walk)
        kv_snapshot_walk_detach(kv);
}
