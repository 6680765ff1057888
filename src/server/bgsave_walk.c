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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kv/snapshot_walk.h"
#include "server/bgsave.h"
#include "server/chunk_pump.h"
#include "server/walk_pace.h"

#define BGSAVE_WALK_STEP 256            /* entries between clock checks */

/* One write of a chunk (or, chunk NULL, the final fdatasync) on the pool,
 * into the snapshot's job (chunk_pump.h's chunk_io first). */
struct io_req {
    struct chunk_io io;
    struct storage_snapshot_job *job;
    int fail_errno; /* test hook (bgsave.fail_errno): this write fails so */
};

struct bgsave_walk {
    struct bgsave *b;
    struct kv_snapshot_walk *sw;
    struct chunk_pump pump; /* its chunks from and back to b->walk_pool */
    uint64_t started;       /* walk_clock() at the start */
    int fail_errno; /* the first write fails with it (bgsave.fail_errno) */
};

/* The walk's end, either way: no handle, no encoder, no chunks; the
 * stats kept in b. */
static void walk_free(struct bgsave_walk *w)
{
    struct bgsave *b = w->b;
    chunk_pump_stop(&w->pump);
    if (w->sw) {
        uint64_t written, total;
        kv_snapshot_walk_stats(w->sw, &written, &total, &b->walk_kept_peak, &b->walk_kept_keys);
        kv_snapshot_walk_free(w->sw);
    }
    b->walk = NULL;
    free(w);
}

static int io_write(struct chunk_io *cio)
{
    struct io_req *io = (struct io_req *)cio;
    int rc;
    if (io->fail_errno) {
        io->job->err = io->fail_errno;
        rc = -1;
    } else if (cio->chunk)
        rc = storage_snapshot_job_write(io->job, cio->chunk->data, cio->chunk->len);
    else
        rc = storage_snapshot_job_sync(io->job);
    return rc == 0 ? 0 : io->job->err ? io->job->err : EIO;
}

static void io_prepare(void *ctx, struct chunk_io *cio)
{
    struct bgsave_walk *w = ctx;
    struct io_req *io = (struct io_req *)cio;
    io->job = &w->b->job;
    io->fail_errno = w->fail_errno;
    w->fail_errno = 0;
}

/* The clock slices and the pace go by: the real one, or the test hook's. */
static uint64_t walk_clock(const struct bgsave *b)
{
    return b->walk_fake_step_ns ? b->walk_fake_now : bgsave_now_ns();
}

/* A slice: walk until its time (walk_pace.h) is up, the queue is full or
 * the image is complete. */
static int slice(void *ctx)
{
    struct bgsave_walk *w = ctx;
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
    while (t - t0 < budget && chunk_pump_room(&w->pump)) {
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
    }
    return rc;
}

/* Written and synced: the commit (bgsave_written); else the temp file
 * goes and the owner hears why (b->why). */
static void end(void *ctx, enum chunk_pump_end how, int err)
{
    struct bgsave_walk *w = ctx;
    struct bgsave *b = w->b;
    (void)err; /* the job's own errno says it */
    switch (how) {
    case CHUNK_PUMP_DONE:
        walk_free(w);
        bgsave_written(b);
        return;
    case CHUNK_PUMP_WALK_FAILED: /* slice said why */
        break;
    case CHUNK_PUMP_WRITE_FAILED:
        snprintf(b->why, sizeof b->why, "writing the snapshot failed: %s",
                 strerror(b->job.err ? b->job.err : EIO));
        break;
    case CHUNK_PUMP_NO_MEMORY:
        snprintf(b->why, sizeof b->why, "out of memory");
        break;
    case CHUNK_PUMP_NO_THREAD:
        snprintf(b->why, sizeof b->why, "no thread to write the snapshot on");
        break;
    }
    walk_free(w);
    bgsave_write_failed(b);
}

static const struct chunk_pump_ops walk_ops = {
    .io_size = sizeof(struct io_req),
    .slice = slice,
    .prepare = io_prepare,
    .write = io_write,
    .end = end,
};

int bgsave_walk_start(struct bgsave *b, struct kv_store *kv, raft_index index, raft_term term)
{
    if (storage_snapshot_begin(b->storage, index, term, &b->job) != STORAGE_OK) {
        snprintf(b->why, sizeof b->why, "%s", storage_error(b->storage));
        return -1;
    }
    struct bgsave_walk *w = calloc(1, sizeof *w);
    if (!w || chunk_pump_init(&w->pump, &walk_ops, w, b->loop, &b->walk_pool) != 0) {
        free(w);
        snprintf(b->why, sizeof b->why, "out of memory");
        storage_snapshot_abort(b->storage, &b->job);
        return -1;
    }
    w->b = b;
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
                                   &w->pump.q, b->why, sizeof b->why);
    if (!w->sw) {
        walk_free(w);
        storage_snapshot_abort(b->storage, &b->job);
        return -1;
    }
    b->walk = w;
    b->running = true;
    chunk_pump_start(&w->pump);
    return 0;
}

void bgsave_walk_stop(struct bgsave *b)
{
    struct bgsave_walk *w = b->walk;
    if (!w)
        return;
    walk_free(w); /* waits for a write on the pool (one chunk, at most a sync) */
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
