/* chunk_pump.h - how an image encoded by a walk of the map on the event
 * loop reaches its file, for the snapshot walk (bgsave_walk.c) and the
 * backup walk (backup_walk.c): a uv_idle handle takes slices of the walk
 * while the chunk queue (chunk_queue.h) has room, the queued chunks are
 * written in order, one at a time, on libuv's thread pool, and after the
 * last one a final write with no chunk syncs the file. The owner says how
 * a slice walks, how a chunk is written and what each end means; the
 * pump owns the handle, the queue and the write on the pool. Loop thread
 * only, except the owner's write callback. */
#ifndef RAFTKV_SERVER_CHUNK_PUMP_H
#define RAFTKV_SERVER_CHUNK_PUMP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "server/chunk_queue.h"

struct chunk_pump;

/* One write of a chunk (or, chunk NULL, the final sync) on the pool: the
 * first member of the owner's own struct (ops.io_size), which carries what
 * the write needs so that its thread part touches nothing else. Its own
 * allocation: a stop orphans it (pump NULL) and its callback frees it. */
struct chunk_io {
    uv_work_t work;
    struct chunk_pump *pump;
    struct chunk *chunk;
    int (*write)(struct chunk_io *io); /* ops.write */
    int err;                           /* what write returned */
    atomic_bool ran;                   /* the thread part is over */
};

enum chunk_pump_end {
    CHUNK_PUMP_DONE,         /* every chunk written, then the sync */
    CHUNK_PUMP_WALK_FAILED,  /* a slice returned -1 (and said why) */
    CHUNK_PUMP_WRITE_FAILED, /* a write (or the sync) failed: err */
    CHUNK_PUMP_NO_MEMORY,
    CHUNK_PUMP_NO_THREAD, /* uv_queue_work refused the write */
};

struct chunk_pump_ops {
    size_t io_size; /* the owner's write struct, struct chunk_io first */
    /* On the loop: a slice of the walk, while chunk_pump_room. 1 the image
     * is complete, 0 more to walk, -1 the walk gave up (the owner said why). */
    int (*slice)(void *ctx);
    /* On the loop: fill the owner's part of io for io->chunk (NULL: the
     * final sync) before it goes to the pool. */
    void (*prepare)(void *ctx, struct chunk_io *io);
    /* On the pool: the write (or the sync). 0, or an errno. */
    int (*write)(struct chunk_io *io);
    /* On the loop, once, when no write is on the pool and no slice is due:
     * how the image ended (err: the failed write's errno). Last thing: the
     * owner may stop the pump and free itself in it. */
    void (*end)(void *ctx, enum chunk_pump_end how, int err);
};

struct chunk_pump {
    const struct chunk_pump_ops *ops;
    void *ctx;
    uv_loop_t *loop;
    uv_idle_t *idle; /* malloc'd, freed when closed */
    bool idling;
    struct chunk_queue q; /* the walk's sink (chunk_queue_sink, ctx &q) */
    struct chunk_io *io;  /* the write or sync on the pool, if any */
    bool encoded;         /* the trailer is in the chunks */
    bool ended;           /* end is called, or due once io is back */
    enum chunk_pump_end how;
    int err;
};

/* Ready a pump whose chunks come from (and go back to) pool; nothing runs
 * until chunk_pump_start. 0, or -1 out of memory (nothing to stop). */
int chunk_pump_init(struct chunk_pump *p, const struct chunk_pump_ops *ops, void *ctx, uv_loop_t *loop,
                    struct chunk_pool *pool);
/* The first slice at the loop's next idle turn. */
void chunk_pump_start(struct chunk_pump *p);
/* A slice may walk on: less than CHUNK_QUEUE_BYTES wait for the writer. */
bool chunk_pump_room(const struct chunk_pump *p);
/* Stop, if running, and release the handle and the queued chunks: waits
 * for the thread part of a write on the pool, if one is there (one chunk,
 * or a sync), then orphans it. end is not called. */
void chunk_pump_stop(struct chunk_pump *p);

#endif
