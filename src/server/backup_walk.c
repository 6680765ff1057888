/* backup_walk.c - a backup image written by the loop from a walk of the
 * map, its chunks written to the caller's file on libuv's thread pool
 * (backup_walk.h). */
#include "server/backup_walk.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kv/snapshot_walk.h"
#include "server/chunk_queue.h"

#define BW_STEP 128 /* entries between clock checks */
#define BW_SYNC_EVERY ((uint64_t)4 << 20)
#define BW_PAUSE_EVERY ((uint64_t)1 << 20)

/* One write (chunk set) or the final fdatasync (chunk NULL) on the pool.
 * Its own allocation: a free orphans it (w NULL) and its callback frees
 * it. The thread part touches only this struct. */
struct bw_io {
    uv_work_t work;
    struct backup_walk *w;
    struct chunk *chunk;
    int fd;
    uint64_t offset;
    bool sync;        /* fdatasync after the write (every 4 MiB) */
    unsigned pause_ms; /* test hook: sleep after the write */
    int err;          /* errno, 0 when it went well */
    atomic_bool ran;  /* the thread part is over */
};

struct backup_walk {
    struct backup_walk_options o;
    struct kv_snapshot_walk *sw;
    uv_idle_t *idle; /* malloc'd, freed when closed */
    bool idling;
    struct chunk_queue q;         /* encoded chunks for the writer */
    struct chunk_pool pool;       /* written chunks, for the next ones */
    struct bw_io *io;             /* on the pool, if any */
    uint64_t written;             /* bytes handed to the file */
    uint64_t synced_at, paused_at;
    bool encoded; /* the trailer is in the chunks */
    bool ended;   /* done was called (or is due once io is back) */
    int rc;
    char why[200];
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void io_run(uv_work_t *req)
{
    struct bw_io *io = req->data;
    if (io->chunk) {
        size_t off = 0;
        while (off < io->chunk->len) {
            ssize_t n = pwrite(io->fd, io->chunk->data + off, io->chunk->len - off,
                               (off_t)(io->offset + off));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                io->err = n < 0 ? errno : EIO;
                break;
            }
            off += (size_t)n;
        }
    }
    if (!io->err && io->sync && fdatasync(io->fd) != 0)
        io->err = errno;
    if (!io->err && io->pause_ms)
        usleep(io->pause_ms * 1000u);
    atomic_store(&io->ran, true);
}

static void on_idle_closed(uv_handle_t *h)
{
    free(h);
}

static void stop_idle(struct backup_walk *w)
{
    if (w->idling) {
        uv_idle_stop(w->idle);
        w->idling = false;
    }
}

/* The end, either way: once no write is on the pool, the owner hears of
 * it (last: it may free w). */
static void end(struct backup_walk *w, int rc)
{
    if (!w->ended) {
        w->ended = true;
        w->rc = rc;
    }
    stop_idle(w);
    if (w->io)
        return; /* io_done comes back here */
    w->o.done(w->o.ctx, w->rc, w->why);
}

static void pump(struct backup_walk *w);

static void io_done(uv_work_t *req, int status)
{
    struct bw_io *io = req->data;
    struct backup_walk *w = io->w;
    struct chunk *c = io->chunk;
    bool final = !c;
    int err = status != 0 ? ECANCELED : io->err;
    free(io);
    if (!w) {
        free(c); /* freed meanwhile */
        return;
    }
    w->io = NULL;
    chunk_pool_put(&w->pool, c);
    if (w->ended) {
        end(w, w->rc);
        return;
    }
    if (err) {
        snprintf(w->why, sizeof w->why, "writing the image: %s", strerror(err));
        end(w, BACKUP_WALK_FAILED);
        return;
    }
    if (final) {
        end(w, 0);
        return;
    }
    pump(w);
}

static void step(uv_idle_t *h);

/* Start the next write (or, after the last chunk, the final sync) if none
 * runs; resume the walk when the queue has room. */
static void pump(struct backup_walk *w)
{
    if (!w->io && (w->q.head || w->encoded)) {
        struct bw_io *io = calloc(1, sizeof *io);
        if (!io) {
            snprintf(w->why, sizeof w->why, "out of memory");
            end(w, BACKUP_WALK_FAILED);
            return;
        }
        io->w = w;
        io->fd = w->o.fd;
        io->work.data = io;
        io->chunk = chunk_queue_pop(&w->q);
        if (io->chunk) {
            io->offset = w->written;
            w->written += io->chunk->len;
            if (w->written - w->synced_at >= BW_SYNC_EVERY) {
                io->sync = true;
                w->synced_at = w->written;
            }
            if (w->o.pause_ms && w->written - w->paused_at >= BW_PAUSE_EVERY) {
                io->pause_ms = w->o.pause_ms;
                w->paused_at = w->written;
            }
        } else {
            io->sync = true; /* the last chunk is written: the final sync */
        }
        if (uv_queue_work(w->o.loop, &io->work, io_run, io_done) != 0) {
            chunk_pool_put(&w->pool, io->chunk);
            free(io);
            snprintf(w->why, sizeof w->why, "no thread to write the image on");
            end(w, BACKUP_WALK_FAILED);
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
    struct backup_walk *w = h->data;
    uint64_t t0 = now_ns();
    int rc = 0;
    while (w->q.queued < CHUNK_QUEUE_BYTES) {
        rc = kv_snapshot_walk_step(w->sw, BW_STEP);
        if (rc != 0 || now_ns() - t0 >= w->o.slice_ns)
            break;
    }
    if (rc < 0) {
        snprintf(w->why, sizeof w->why, "%s", kv_snapshot_walk_error(w->sw));
        end(w, BACKUP_WALK_GAVE_UP);
        return;
    }
    if (rc == 1) {
        w->encoded = true;
        chunk_queue_seal(&w->q);
    }
    if (w->encoded || w->q.queued >= CHUNK_QUEUE_BYTES)
        stop_idle(w);
    pump(w);
}

struct backup_walk *backup_walk_start(const struct backup_walk_options *o, struct kv_store *kv,
                                      uint64_t index, uint64_t term, char *why, size_t whylen)
{
    struct backup_walk *w = calloc(1, sizeof *w);
    uv_idle_t *idle = malloc(sizeof *idle);
    if (!w || !idle || uv_idle_init(o->loop, idle) != 0) {
        free(w);
        free(idle);
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    w->o = *o;
    idle->data = w;
    w->idle = idle;
    w->q.pool = &w->pool;
    w->sw = kv_snapshot_walk_begin_flags(kv, index, term, KV_SNAP_NO_MAP_KEY, o->max_kept_bytes,
                                         chunk_queue_sink, &w->q, why, whylen);
    if (!w->sw) {
        backup_walk_free(w);
        return NULL;
    }
    uv_idle_start(idle, step);
    w->idling = true;
    return w;
}

uint64_t backup_walk_written(const struct backup_walk *w)
{
    return w->written;
}

void backup_walk_free(struct backup_walk *w)
{
    if (!w)
        return;
    if (w->io) {
        /* The write (or sync) on the pool uses the file: wait for its
         * thread part, then orphan it. */
        while (!atomic_load(&w->io->ran))
            usleep(1000);
        w->io->w = NULL;
        w->io = NULL;
    }
    stop_idle(w);
    uv_close((uv_handle_t *)w->idle, on_idle_closed);
    kv_snapshot_walk_free(w->sw);
    chunk_queue_clear(&w->q);
    chunk_pool_free(&w->pool);
    free(w);
}
