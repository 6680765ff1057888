/* chunk_queue.c - the chunks an encoding walk hands to its writer
 * (chunk_queue.h). */
#include "server/chunk_queue.h"

#include <stdlib.h>
#include <string.h>

/* A queue's worth and two: the writer's chunk and the one being filled. */
#define CHUNK_POOL_MAX (CHUNK_QUEUE_BYTES / CHUNK_BYTES + 2)

static struct chunk *pool_get(struct chunk_pool *p)
{
    struct chunk *c = p->list;
    if (c) {
        p->list = c->next;
        p->n--;
        return c;
    }
    return malloc(sizeof *c + CHUNK_BYTES);
}

void chunk_pool_put(struct chunk_pool *p, struct chunk *c)
{
    if (!c)
        return;
    if (p->n >= CHUNK_POOL_MAX) {
        free(c);
        return;
    }
    c->next = p->list;
    p->list = c;
    p->n++;
}

void chunk_pool_free(struct chunk_pool *p)
{
    while (p->list) {
        struct chunk *c = p->list;
        p->list = c->next;
        free(c);
    }
    p->n = 0;
}

void chunk_queue_seal(struct chunk_queue *q)
{
    struct chunk *c = q->cur;
    q->cur = NULL;
    if (!c || c->len == 0) {
        chunk_pool_put(q->pool, c);
        return;
    }
    c->next = NULL;
    if (q->tail)
        q->tail->next = c;
    else
        q->head = c;
    q->tail = c;
    q->queued += c->len;
}

int chunk_queue_sink(void *ctx, const void *data, size_t n)
{
    struct chunk_queue *q = ctx;
    const uint8_t *p = data;
    while (n > 0) {
        if (!q->cur) {
            q->cur = pool_get(q->pool);
            if (!q->cur)
                return -1;
            q->cur->len = 0;
        }
        size_t k = CHUNK_BYTES - q->cur->len;
        if (k > n)
            k = n;
        memcpy(q->cur->data + q->cur->len, p, k);
        q->cur->len += k;
        p += k;
        n -= k;
        if (q->cur->len == CHUNK_BYTES)
            chunk_queue_seal(q);
    }
    return 0;
}

struct chunk *chunk_queue_pop(struct chunk_queue *q)
{
    struct chunk *c = q->head;
    if (!c)
        return NULL;
    q->head = c->next;
    if (!q->head)
        q->tail = NULL;
    q->queued -= c->len;
    c->next = NULL;
    return c;
}

void chunk_queue_clear(struct chunk_queue *q)
{
    struct chunk *c;
    while ((c = chunk_queue_pop(q)))
        chunk_pool_put(q->pool, c);
    chunk_pool_put(q->pool, q->cur);
    q->cur = NULL;
}
