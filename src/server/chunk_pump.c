/* chunk_pump.c - an encoding walk's slices and its writes on the pool
 * (chunk_pump.h). */
#include "server/chunk_pump.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static void on_idle_closed(uv_handle_t *h)
{
    free(h);
}

static void stop_idle(struct chunk_pump *p)
{
    if (p->idling) {
        uv_idle_stop(p->idle);
        p->idling = false;
    }
}

/* The end, either way: once no write is on the pool, the owner hears of
 * it (last: it may free p). The first end given is the one it hears. */
static void end(struct chunk_pump *p, enum chunk_pump_end how, int err)
{
    if (!p->ended) {
        p->ended = true;
        p->how = how;
        p->err = err;
    }
    stop_idle(p);
    if (p->io)
        return; /* io_done comes back here */
    p->ops->end(p->ctx, p->how, p->err);
}

static void io_run(uv_work_t *req)
{
    struct chunk_io *io = req->data;
    io->err = io->write(io);
    atomic_store(&io->ran, true);
}

static void pump(struct chunk_pump *p);

static void io_done(uv_work_t *req, int status)
{
    struct chunk_io *io = req->data;
    struct chunk_pump *p = io->pump;
    struct chunk *c = io->chunk;
    int err = status != 0 ? ECANCELED : io->err;
    free(io);
    if (!p) {
        free(c); /* stopped meanwhile: the pool may be gone */
        return;
    }
    p->io = NULL;
    chunk_pool_put(p->q.pool, c);
    if (p->ended) {
        end(p, p->how, p->err);
        return;
    }
    if (err) {
        end(p, CHUNK_PUMP_WRITE_FAILED, err);
        return;
    }
    if (!c) {
        end(p, CHUNK_PUMP_DONE, 0); /* the final sync */
        return;
    }
    pump(p);
}

static void step(uv_idle_t *h);

/* Start the next write (or, after the last chunk, the final sync) if none
 * runs; resume the walk when the queue has room. */
static void pump(struct chunk_pump *p)
{
    if (!p->io && (p->q.head || p->encoded)) {
        struct chunk_io *io = calloc(1, p->ops->io_size);
        if (!io) {
            end(p, CHUNK_PUMP_NO_MEMORY, ENOMEM);
            return;
        }
        io->pump = p;
        io->work.data = io;
        io->write = p->ops->write;
        io->chunk = chunk_queue_pop(&p->q); /* none: the final sync */
        p->ops->prepare(p->ctx, io);
        if (uv_queue_work(p->loop, &io->work, io_run, io_done) != 0) {
            chunk_pool_put(p->q.pool, io->chunk);
            free(io);
            end(p, CHUNK_PUMP_NO_THREAD, 0);
            return;
        }
        p->io = io;
    }
    if (!p->encoded && !p->idling && chunk_pump_room(p)) {
        uv_idle_start(p->idle, step);
        p->idling = true;
    }
}

/* A slice: the owner walks until its time is up, the queue is full or
 * the image is complete. */
static void step(uv_idle_t *h)
{
    struct chunk_pump *p = h->data;
    int rc = p->ops->slice(p->ctx);
    if (rc < 0) {
        end(p, CHUNK_PUMP_WALK_FAILED, 0);
        return;
    }
    if (rc == 1) {
        p->encoded = true;
        chunk_queue_seal(&p->q);
    }
    if (p->encoded || !chunk_pump_room(p))
        stop_idle(p);
    pump(p);
}

int chunk_pump_init(struct chunk_pump *p, const struct chunk_pump_ops *ops, void *ctx, uv_loop_t *loop,
                    struct chunk_pool *pool)
{
    uv_idle_t *idle = malloc(sizeof *idle);
    if (!idle || uv_idle_init(loop, idle) != 0) {
        free(idle);
        return -1;
    }
    *p = (struct chunk_pump){.ops = ops, .ctx = ctx, .loop = loop, .idle = idle};
    p->q.pool = pool;
    idle->data = p;
    return 0;
}

void chunk_pump_start(struct chunk_pump *p)
{
    uv_idle_start(p->idle, step);
    p->idling = true;
}

bool chunk_pump_room(const struct chunk_pump *p)
{
    return p->q.queued < CHUNK_QUEUE_BYTES;
}

void chunk_pump_stop(struct chunk_pump *p)
{
    if (p->io) {
        /* The write (or sync) on the pool uses the file: wait for its
         * thread part, then orphan it. */
        while (!atomic_load(&p->io->ran))
            usleep(1000);
        p->io->pump = NULL;
        p->io = NULL;
    }
    stop_idle(p);
    if (p->idle) {
        uv_close((uv_handle_t *)p->idle, on_idle_closed);
        p->idle = NULL;
    }
    chunk_queue_clear(&p->q);
}
