/* backup_walk.c - a backup image written by the loop from a walk of the
 * map, its chunks written to the caller's file on libuv's thread pool
 * (backup_walk.h). */
#include "server/backup_walk.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kv/snapshot_walk.h"
#include "server/chunk_pump.h"

#define BW_STEP 128 /* entries between clock checks */
#define BW_SYNC_EVERY ((uint64_t)4 << 20)
#define BW_PAUSE_EVERY ((uint64_t)1 << 20)

/* One write (chunk set) or the final fdatasync (chunk NULL) on the pool,
 * with where it goes (chunk_pump.h's chunk_io first). */
struct bw_io {
    struct chunk_io io;
    int fd;
    uint64_t offset;
    bool sync;         /* fdatasync after the write (every 4 MiB) */
    unsigned pause_ms; /* test hook: sleep after the write */
};

struct backup_walk {
    struct backup_walk_options o;
    struct kv_snapshot_walk *sw;
    struct chunk_pump pump;
    struct chunk_pool pool; /* written chunks, for the next ones */
    uint64_t written;       /* bytes handed to the file */
    uint64_t synced_at, paused_at;
    char why[200];
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int io_write(struct chunk_io *cio)
{
    struct bw_io *io = (struct bw_io *)cio;
    const struct chunk *c = cio->chunk;
    if (c) {
        size_t off = 0;
        while (off < c->len) {
            ssize_t n = pwrite(io->fd, c->data + off, c->len - off, (off_t)(io->offset + off));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return n < 0 ? errno : EIO;
            off += (size_t)n;
        }
    }
    if (io->sync && fdatasync(io->fd) != 0)
        return errno;
    if (io->pause_ms)
        usleep(io->pause_ms * 1000u);
    return 0;
}

static void io_prepare(void *ctx, struct chunk_io *cio)
{
    struct backup_walk *w = ctx;
    struct bw_io *io = (struct bw_io *)cio;
    io->fd = w->o.fd;
    if (cio->chunk) {
        io->offset = w->written;
        w->written += cio->chunk->len;
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
}

/* A slice: walk until its time is up, the queue is full or the image is
 * complete. */
static int slice(void *ctx)
{
    struct backup_walk *w = ctx;
    uint64_t t0 = now_ns();
    int rc = 0;
    while (chunk_pump_room(&w->pump)) {
        rc = kv_snapshot_walk_step(w->sw, BW_STEP);
        if (rc != 0 || now_ns() - t0 >= w->o.slice_ns)
            break;
    }
    if (rc < 0)
        snprintf(w->why, sizeof w->why, "%s", kv_snapshot_walk_error(w->sw));
    return rc;
}

/* The owner hears (last: it may free w). */
static void end(void *ctx, enum chunk_pump_end how, int err)
{
    struct backup_walk *w = ctx;
    int rc = BACKUP_WALK_FAILED;
    switch (how) {
    case CHUNK_PUMP_DONE:
        rc = 0;
        break;
    case CHUNK_PUMP_WALK_FAILED: /* slice said why */
        rc = BACKUP_WALK_GAVE_UP;
        break;
    case CHUNK_PUMP_WRITE_FAILED:
        snprintf(w->why, sizeof w->why, "writing the image: %s", strerror(err));
        break;
    case CHUNK_PUMP_NO_MEMORY:
        snprintf(w->why, sizeof w->why, "out of memory");
        break;
    case CHUNK_PUMP_NO_THREAD:
        snprintf(w->why, sizeof w->why, "no thread to write the image on");
        break;
    }
    w->o.done(w->o.ctx, rc, w->why);
}

static const struct chunk_pump_ops bw_ops = {
    .io_size = sizeof(struct bw_io),
    .slice = slice,
    .prepare = io_prepare,
    .write = io_write,
    .end = end,
};

struct backup_walk *backup_walk_start(const struct backup_walk_options *o, struct kv_store *kv,
                                      uint64_t index, uint64_t term, char *why, size_t whylen)
{
    struct backup_walk *w = calloc(1, sizeof *w);
    if (!w || chunk_pump_init(&w->pump, &bw_ops, w, o->loop, &w->pool) != 0) {
        free(w);
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    w->o = *o;
    w->sw = kv_snapshot_walk_begin_flags(kv, index, term, KV_SNAP_NO_MAP_KEY, o->max_kept_bytes,
                                         chunk_queue_sink, &w->pump.q, why, whylen);
    if (!w->sw) {
        backup_walk_free(w);
        return NULL;
    }
    chunk_pump_start(&w->pump);
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
    chunk_pump_stop(&w->pump);
    kv_snapshot_walk_free(w->sw);
    chunk_pool_free(&w->pool);
    free(w);
}
