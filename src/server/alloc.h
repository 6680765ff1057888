/* alloc.h - what the allocator holds and handing freed memory back to the
 * system: jemalloc's counters and purge when the binary links it (the
 * servers do), nothing otherwise (sanitized builds and tests). */
#ifndef RAFTKV_SERVER_ALLOC_H
#define RAFTKV_SERVER_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

struct alloc_stats {
    size_t allocated; /* bytes the program holds */
    size_t active;    /* pages with at least one of them */
    size_t resident;  /* the allocator's pages in memory, metadata included */
    size_t retained;  /* address space kept for reuse, not in memory */
};

/* False without jemalloc. */
bool alloc_stats(struct alloc_stats *out);
/* Give freed pages back now (after start-up's transient copies); jemalloc
 * would otherwise keep them until its decay runs. */
void alloc_release(void);
/* Let a jemalloc thread return freed pages on its decay schedule while the
 * server is idle (Redis's jemalloc-bg-thread), a schedule of
 * ALLOC_DIRTY_DECAY_MS. */
#define ALLOC_DIRTY_DECAY_MS 1000
void alloc_background_release(void);

#endif
