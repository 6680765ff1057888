/* log_table.c - the Raft log's entry table (one struct raft_entry per
 * entry in memory, one contiguous array: src/raft/log.c) in anonymous
 * mappings of its own, for raft_config.log_table_resize.
 *
 * The core doubles the table as the log grows. jemalloc's realloc() of a
 * block of tens or hundreds of MB copies it into fresh pages: at 4 million
 * entries (128 MiB) one loop turn of 100-400 ms, in proportion to the log.
 * mremap() moves the table's pages to a larger range instead (page table
 * entries, not bytes), or extends them in place: 0.2 ms for that doubling
 * against 60-90 ms of CPU (bench/table_bench.c); a shrink unmaps the tail,
 * a free the whole, both costing only the pages given back (the core gives
 * back at most LOG_SHRINK_STEP slots, 8 MiB, an event). Sizes are whole
 * pages, from 2 MiB on whole 2 MiB, so the kernel can place a table on a
 * 2 MiB boundary, where the huge pages the core asks for
 * (raft_config.advise_log_block) fit and move whole. Such a table is
 * advised for huge pages whole, as one range, at each mmap() and
 * mremap(): the core's advice on a new part then changes no flag of the
 * mapping, where advice on a part alone would split it in two, and
 * mremap() refuses a range that spans two mappings. The table lies
 * outside jemalloc, so INFO's used_memory (jemalloc's count) leaves it
 * out; raftkv_memory's log_bytes counts its 32 bytes an entry.
 */
#include "server/log_table.h"

#include <sys/mman.h>
#include <unistd.h>

#define LOG_TABLE_HUGE ((size_t)2 << 20)

static size_t table_span(size_t bytes)
{
    size_t unit = bytes >= LOG_TABLE_HUGE ? LOG_TABLE_HUGE : (size_t)sysconf(_SC_PAGESIZE);
    return (bytes + unit - 1) / unit * unit;
}

/* The whole table advised alike (above). */
static void *table_advised(void *q, size_t span)
{
    if (q == MAP_FAILED)
        return NULL;
#ifdef MADV_HUGEPAGE
    if (span >= LOG_TABLE_HUGE)
        (void)madvise(q, span, MADV_HUGEPAGE);
#endif
    return q;
}

void *log_table_resize(void *p, size_t old_bytes, size_t new_bytes)
{
    if (new_bytes == 0) {
        if (p)
            (void)munmap(p, table_span(old_bytes));
        return NULL;
    }
    size_t span = table_span(new_bytes);
    if (!p)
        return table_advised(mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
                             span);
    size_t old_span = table_span(old_bytes);
    if (span == old_span)
        return p;
    return table_advised(mremap(p, old_span, span, MREMAP_MAYMOVE), span);
}
