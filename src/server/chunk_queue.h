/* chunk_queue.h - an image the loop encodes, queued in fixed-size chunks
 * for one writer on libuv's thread pool: the snapshot walk's
 * (bgsave_walk.c) and the backup walk's (backup_walk.c). Written chunks go
 * back to a pool, bounded to a queue's worth and two, for the next ones.
 * Loop thread only, except that a chunk popped off the queue belongs to
 * its writer until it is put back. */
#ifndef RAFTKV_SERVER_CHUNK_QUEUE_H
#define RAFTKV_SERVER_CHUNK_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#define CHUNK_BYTES ((size_t)256 << 10)
/* An encoder pauses once this much waits for the writer. */
#define CHUNK_QUEUE_BYTES ((size_t)2 << 20)

struct chunk {
    struct chunk *next; /* in the queue, or in the pool */
    size_t len;
    uint8_t data[];
};

struct chunk_pool {
    struct chunk *list;
    size_t n;
};

struct chunk_queue {
    struct chunk_pool *pool;   /* where chunks come from and go back to */
    struct chunk *head, *tail; /* full chunks waiting for the writer, in order */
    struct chunk *cur;         /* being filled */
    size_t queued;             /* bytes in head..tail */
};

/* The encoder's sink (kv_snapshot_walk_begin's): bytes into chunks, a
 * full one queued. ctx is the struct chunk_queue. 0, or -1 out of memory. */
int chunk_queue_sink(void *ctx, const void *data, size_t n);
/* The chunk being filled joins the queue (the image is complete). */
void chunk_queue_seal(struct chunk_queue *q);
/* The oldest queued chunk, off the queue (NULL if none). */
struct chunk *chunk_queue_pop(struct chunk_queue *q);
/* Queued chunks and the one being filled back to the pool. */
void chunk_queue_clear(struct chunk_queue *q);

/* A chunk back to the pool (NULL: nothing); past the bound, freed. */
void chunk_pool_put(struct chunk_pool *p, struct chunk *c);
/* Every pooled chunk freed. */
void chunk_pool_free(struct chunk_pool *p);

#endif
