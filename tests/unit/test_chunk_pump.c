/* test_chunk_pump.c - the loop side of an encoding walk (src/server/
 * chunk_pump.c), driven by a fake owner: every byte reaches the writer in
 * order and the sync comes last; the walk pauses while the queue is full;
 * a failed write or a walk that gives up ends it once, with no write
 * after; a stop waits for the write on the pool and ends nothing. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/chunk_pump.h"

#define SLICE_BYTES ((size_t)64 << 10)

struct fake {
    uv_loop_t loop;
    struct chunk_pool pool;
    struct chunk_pump pump;
    size_t total, emitted; /* the image's bytes, and those put in the queue */
    size_t max_queued;     /* the most seen waiting after a slice */
    int give_up_at;        /* the slice that returns -1 (0: none) */
    int slices;
    uint8_t *out;      /* what the writer wrote */
    size_t out_len;    /* loop's view: bytes handed to writes */
    int fail_write_at; /* the write that fails with EIO (0: none) */
    int writes;        /* writes started (chunks and the sync) */
    atomic_int synced; /* the sync ran (thread part) */
    atomic_int after_sync; /* writes whose thread part ran after the sync */
    unsigned write_us;     /* each write sleeps so long (a slow disk) */
    int ends;
    enum chunk_pump_end how;
    int err;
    bool stop_in_end;
};

struct fake_io {
    struct chunk_io io;
    struct fake *f;
    size_t offset;
    bool fail;
};

static uint8_t byte_at(size_t i)
{
    return (uint8_t)(i * 131u + (i >> 9));
}

static int slice(void *ctx)
{
    struct fake *f = ctx;
    f->slices++;
    if (f->give_up_at && f->slices == f->give_up_at)
        return -1;
    uint8_t buf[SLICE_BYTES];
    while (chunk_pump_room(&f->pump) && f->emitted < f->total) {
        size_t n = f->total - f->emitted < SLICE_BYTES ? f->total - f->emitted : SLICE_BYTES;
        for (size_t i = 0; i < n; i++)
            buf[i] = byte_at(f->emitted + i);
        cr_assert_eq(chunk_queue_sink(&f->pump.q, buf, n), 0);
        f->emitted += n;
    }
    if (f->pump.q.queued > f->max_queued)
        f->max_queued = f->pump.q.queued;
    return f->emitted == f->total ? 1 : 0;
}

static void prepare(void *ctx, struct chunk_io *cio)
{
    struct fake *f = ctx;
    struct fake_io *io = (struct fake_io *)cio;
    io->f = f;
    io->offset = f->out_len;
    if (cio->chunk)
        f->out_len += cio->chunk->len;
    f->writes++;
    io->fail = f->fail_write_at == f->writes;
}

static int write_chunk(struct chunk_io *cio)
{
    struct fake_io *io = (struct fake_io *)cio;
    struct fake *f = io->f;
    if (f->write_us)
        usleep(f->write_us);
    if (atomic_load(&f->synced))
        atomic_fetch_add(&f->after_sync, 1);
    if (io->fail)
        return EIO;
    if (cio->chunk)
        memcpy(f->out + io->offset, cio->chunk->data, cio->chunk->len);
    else
        atomic_store(&f->synced, 1);
    return 0;
}

static void end(void *ctx, enum chunk_pump_end how, int err)
{
    struct fake *f = ctx;
    f->ends++;
    f->how = how;
    f->err = err;
    if (f->stop_in_end)
        chunk_pump_stop(&f->pump);
}

static const struct chunk_pump_ops ops = {
    .io_size = sizeof(struct fake_io),
    .slice = slice,
    .prepare = prepare,
    .write = write_chunk,
    .end = end,
};

static struct fake *fake_new(size_t total)
{
    struct fake *f = calloc(1, sizeof *f);
    cr_assert_eq(uv_loop_init(&f->loop), 0);
    f->total = total;
    f->out = calloc(1, total);
    f->stop_in_end = true;
    cr_assert_eq(chunk_pump_init(&f->pump, &ops, f, &f->loop, &f->pool), 0);
    return f;
}

static void fake_free(struct fake *f)
{
    uv_run(&f->loop, UV_RUN_DEFAULT); /* the closed handle's callback */
    cr_assert_eq(uv_loop_close(&f->loop), 0);
    chunk_pool_free(&f->pool);
    free(f->out);
    free(f);
}

Test(chunk_pump, every_byte_is_written_in_order_then_synced_once)
{
    size_t total = 5 * CHUNK_BYTES + 12345;
    struct fake *f = fake_new(total);
    chunk_pump_start(&f->pump);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    cr_assert_eq(f->ends, 1);
    cr_assert_eq(f->how, CHUNK_PUMP_DONE);
    cr_assert_eq(f->out_len, total);
    cr_assert_eq(f->writes, 7, "6 chunks and the sync, got %d", f->writes);
    cr_assert_eq(atomic_load(&f->synced), 1);
    cr_assert_eq(atomic_load(&f->after_sync), 0, "the sync is the last write");
    for (size_t i = 0; i < total; i++)
        cr_assert_eq(f->out[i], byte_at(i), "byte %zu", i);
    fake_free(f);
}

Test(chunk_pump, the_walk_pauses_while_the_queue_is_full)
{
    size_t total = 16 * CHUNK_QUEUE_BYTES;
    struct fake *f = fake_new(total);
    f->write_us = 2000; /* a slow writer: the walk must wait for it */
    chunk_pump_start(&f->pump);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    cr_assert_eq(f->how, CHUNK_PUMP_DONE);
    cr_assert_eq(f->out_len, total);
    cr_assert_leq(f->max_queued, CHUNK_QUEUE_BYTES + SLICE_BYTES, "%zu bytes waited", f->max_queued);
    cr_assert_geq(f->max_queued, CHUNK_QUEUE_BYTES, "%zu bytes waited", f->max_queued);
    fake_free(f);
}

Test(chunk_pump, a_failed_write_ends_it_once_with_its_errno_and_no_write_after)
{
    struct fake *f = fake_new(8 * CHUNK_BYTES);
    f->fail_write_at = 3;
    chunk_pump_start(&f->pump);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    cr_assert_eq(f->ends, 1);
    cr_assert_eq(f->how, CHUNK_PUMP_WRITE_FAILED);
    cr_assert_eq(f->err, EIO);
    cr_assert_eq(f->writes, 3);
    cr_assert_eq(atomic_load(&f->synced), 0);
    fake_free(f);
}

Test(chunk_pump, a_walk_that_gives_up_ends_it_after_the_write_on_the_pool)
{
    struct fake *f = fake_new(16 * CHUNK_QUEUE_BYTES);
    f->give_up_at = 3;
    f->write_us = 20000;
    chunk_pump_start(&f->pump);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    cr_assert_eq(f->ends, 1);
    cr_assert_eq(f->how, CHUNK_PUMP_WALK_FAILED);
    cr_assert_eq(f->slices, 3, "no slice after it gave up");
    cr_assert_eq(atomic_load(&f->synced), 0);
    cr_assert_lt(f->out_len, f->total);
    fake_free(f);
}

static void stop_now(uv_timer_t *t)
{
    struct fake *f = t->data;
    cr_assert_not_null(f->pump.io, "a write is on the pool");
    chunk_pump_stop(&f->pump);
    uv_close((uv_handle_t *)t, NULL);
}

Test(chunk_pump, a_stop_waits_for_the_write_on_the_pool_and_ends_nothing)
{
    struct fake *f = fake_new(16 * CHUNK_QUEUE_BYTES);
    f->write_us = 30000;
    uv_timer_t t;
    uv_timer_init(&f->loop, &t);
    t.data = f;
    uv_timer_start(&t, stop_now, 10, 0);
    chunk_pump_start(&f->pump);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    cr_assert_eq(f->ends, 0);
    cr_assert_lt(f->out_len, f->total);
    fake_free(f);
}
