/* test_log_table.c - the server's entry table allocator
 * (src/server/log_table.c): a table grows with its bytes kept, wherever it
 * moves, shrinks with its first bytes kept and its tail unmapped, and is
 * unmapped whole when freed (mincore() says which pages are mapped).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "server/log_table.h"

static bool mapped(const void *p)
{
    unsigned char vec;
    int rc = mincore((void *)p, 4096, &vec);
    cr_assert(rc == 0 || errno == ENOMEM, "mincore: %s", strerror(errno));
    return rc == 0;
}

/* The end of the mapping (/proc/self/maps) that holds p, or 0. */
static uintptr_t mapping_end(const void *p)
{
    FILE *f = fopen("/proc/self/maps", "r");
    cr_assert_not_null(f);
    char line[512];
    uintptr_t end = 0;
    while (!end && fgets(line, sizeof line, f)) {
        unsigned long a, b;
        if (sscanf(line, "%lx-%lx", &a, &b) == 2 && a <= (uintptr_t)p && (uintptr_t)p < b)
            end = b;
    }
    fclose(f);
    return end;
}

static void fill(uint8_t *p, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        p[i] = (uint8_t)(i * 31 + i / 4096);
}

static void check(const uint8_t *p, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        if (p[i] != (uint8_t)(i * 31 + i / 4096))
            cr_assert_fail("byte %zu lost", i);
}

Test(log_table_mremap, grows_with_its_bytes_kept_shrinks_and_frees)
{
    uint8_t *p = log_table_resize(NULL, 0, 8192);
    cr_assert_not_null(p);
    cr_assert_eq((uintptr_t)p % 4096, 0);
    fill(p, 0, 8192);
    /* A mapping right after it, so the next growth cannot stay in place. */
    void *block = mmap(p + 8192, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    uint8_t *q = log_table_resize(p, 8192, 16384);
    cr_assert_not_null(q);
    if (block == (void *)(p + 8192)) {
        cr_assert_neq(q, p, "moved past the mapping after it");
        cr_assert_not(mapped(p), "the old range is gone");
    }
    if (block != MAP_FAILED)
        munmap(block, 4096);
    check(q, 0, 8192);
    fill(q, 8192, 16384);
    /* Past 2 MiB, then 64 MiB: whole 2 MiB spans. */
    p = log_table_resize(q, 16384, 3 << 20);
    cr_assert_not_null(p);
    check(p, 0, 16384);
    fill(p, 16384, 3 << 20);
    cr_assert_geq(mapping_end(p), (uintptr_t)p + (4 << 20), "3 MiB takes two whole 2 MiB spans");
    /* The core advises the new part of a grown table as the server does
     * (huge pages): the table must stay one mapping that mremap() moves. */
    cr_assert_eq(madvise(p + (2 << 20), 2 << 20, MADV_HUGEPAGE), 0);
    q = log_table_resize(p, 3 << 20, 64 << 20);
    cr_assert_not_null(q);
    check(q, 0, 3 << 20);
    fill(q, 3 << 20, 64 << 20);
    cr_assert(mapped(q + (64 << 20) - 4096));
    /* Shrunk to 10,000 bytes (three pages): the first bytes kept, the rest unmapped. */
    p = log_table_resize(q, 64 << 20, 10000);
    cr_assert_eq(p, q, "a shrink stays in place");
    check(p, 0, 10000);
    cr_assert(mapped(p + 8192));
    cr_assert_not(mapped(p + 12288), "the tail given back");
    cr_assert_not(mapped(p + (32 << 20)));
    /* A size within the same pages keeps the table as it is. */
    cr_assert_eq(log_table_resize(p, 10000, 12000), p);
    check(p, 0, 10000);
    cr_assert_null(log_table_resize(p, 12000, 0));
    cr_assert_not(mapped(p), "freed: unmapped");
    cr_assert_not(mapped(p + 8192));
    cr_assert_null(log_table_resize(NULL, 0, 0), "nothing to free");
}
