/* test_chunk_queue.c - the chunks an encoding walk hands to its writer
 * (src/server/chunk_queue.c): order, sizes, sealing, and the pool's bound. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "server/chunk_queue.h"

static void fill(uint8_t *p, size_t n, size_t from)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)((from + i) * 31u);
}

Test(chunk_queue, bytes_come_out_in_order_in_256_kib_chunks)
{
    struct chunk_pool pool = {0};
    struct chunk_queue q = {.pool = &pool};
    size_t total = 600 * 1024;
    uint8_t *in = malloc(total);
    fill(in, total, 0);
    /* Uneven writes, as an encoder's records are. */
    for (size_t off = 0; off < total;) {
        size_t n = total - off < 7001 ? total - off : 7001;
        cr_assert_eq(chunk_queue_sink(&q, in + off, n), 0);
        off += n;
    }
    cr_assert_eq(q.queued, 2 * 262144, "two full chunks queued, got %zu", q.queued);
    cr_assert_not_null(q.cur);
    cr_assert_eq(q.cur->len, 614400 - 524288);
    chunk_queue_seal(&q);
    cr_assert_null(q.cur);
    cr_assert_eq(q.queued, 614400);
    size_t off = 0, n = 0;
    struct chunk *c;
    while ((c = chunk_queue_pop(&q))) {
        cr_assert(memcmp(c->data, in + off, c->len) == 0, "chunk %zu differs", n);
        off += c->len;
        n++;
        chunk_pool_put(&pool, c);
    }
    cr_assert_eq(n, 3);
    cr_assert_eq(off, 614400);
    cr_assert_eq(q.queued, 0);
    cr_assert_null(q.head);
    cr_assert_null(q.tail);
    cr_assert_eq(pool.n, 3, "written chunks kept for reuse");
    /* The next bytes reuse a pooled chunk. */
    struct chunk *pooled = pool.list;
    cr_assert_eq(chunk_queue_sink(&q, in, 10), 0);
    cr_assert_eq(q.cur, pooled);
    cr_assert_eq(pool.n, 2);
    chunk_queue_seal(&q);
    cr_assert_eq(q.queued, 10);
    chunk_queue_clear(&q);
    cr_assert_eq(q.queued, 0);
    cr_assert_eq(pool.n, 3);
    chunk_pool_free(&pool);
    cr_assert_eq(pool.n, 0);
    cr_assert_null(pool.list);
    free(in);
}

Test(chunk_queue, sealing_an_empty_chunk_queues_nothing)
{
    struct chunk_pool pool = {0};
    struct chunk_queue q = {.pool = &pool};
    chunk_queue_seal(&q);
    cr_assert_null(q.head);
    cr_assert_eq(chunk_queue_sink(&q, "", 0), 0);
    cr_assert_null(q.cur);
    cr_assert_eq(chunk_queue_sink(&q, "x", 1), 0);
    q.cur->len = 0; /* as if its byte went out another way */
    chunk_queue_seal(&q);
    cr_assert_null(q.head, "an empty chunk goes back to the pool, not to the writer");
    cr_assert_eq(pool.n, 1);
    chunk_pool_free(&pool);
}

Test(chunk_queue, the_pool_keeps_a_queue_s_worth_and_two)
{
    struct chunk_pool pool = {0};
    struct chunk_queue q = {.pool = &pool};
    /* 12 chunks out at once: 3 MiB. */
    size_t total = (size_t)12 * 262144;
    uint8_t *in = calloc(1, total);
    cr_assert_eq(chunk_queue_sink(&q, in, total), 0);
    cr_assert_eq(q.queued, total);
    chunk_queue_clear(&q);
    cr_assert_eq(pool.n, 10, "2 MiB of 256 KiB chunks and two: 10, got %zu", pool.n);
    chunk_pool_put(&pool, NULL);
    cr_assert_eq(pool.n, 10);
    chunk_pool_free(&pool);
    free(in);
}
