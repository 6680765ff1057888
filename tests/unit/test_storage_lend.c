/* test_storage_lend.c - storage_lend (src/storage/wal_lend.c): pointers to
 * entries' payloads in their segment files, mapped while the store runs,
 * across segment rolls; only what reached the file is lent; the bytes stay
 * readable past a truncation after them and past their segments' deletion
 * by compaction, until storage_lend_release() says the core no longer
 * points into them. A use after the unmapping is the ASan build's (or a
 * SEGV's) to report. */
#include "test_storage_util.h"

static char dir[256];

static void setup(void)
{
    tsu_make_dir(dir, sizeof dir);
}

static void teardown(void)
{
    tsu_remove_dir(dir);
}

TestSuite(storage_lend, .init = setup, .fini = teardown);

/* Lent entries first..first+n-1 as a restore-shaped view for tsu_expect_entry. */
static struct raft_restore view(struct raft_entry *e, size_t n)
{
    return (struct raft_restore){.entries = e, .n_entries = n};
}

Test(storage_lend, lends_written_entries_across_segments_until_released)
{
    struct storage_options o = {.segment_bytes = 400}; /* ~13 records a segment */
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &o);
    storage_release_restore(s);
    tsu_append_range(s, 1, 60, 1);
    struct raft_entry out[64];
    /* The tail's records still in the buffer are not lent (the full
     * segments before it were written when the log rolled past them). */
    size_t written = storage_lend(s, 1, 60, out);
    cr_assert_lt(written, 60);
    cr_assert_gt(written, 0);
    storage_lend_release(s, 1, 0);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    struct storage_stats st;
    storage_get_stats(s, &st);
    cr_assert_geq(st.segments, 4);
    /* Not held: before the log or past its end. */
    cr_assert_eq(storage_lend(s, 61, 4, out), 0);
    cr_assert_eq(storage_lend(s, 0, 4, out), 0);
    cr_assert_eq(storage_lend(s, 58, 6, out), 3, "stops at the last stored entry");
    cr_assert_eq(storage_lend(s, 1, 60, out), 60);
    struct raft_restore v = view(out, 60);
    for (size_t i = 0; i < 60; i++)
        tsu_expect_entry(&v, i, i + 1, 1);
    storage_get_stats(s, &st);
    cr_assert_eq(st.lend_maps, st.segments, "one mapping a segment");
    cr_assert_gt(st.lend_bytes, 0);

    /* A conflicting suffix from 51 (term 2) cuts the tail; 1..50 stay. */
    tsu_append_range(s, 51, 55, 2);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    for (size_t i = 0; i < 50; i++)
        tsu_expect_entry(&v, i, i + 1, 1);
    struct raft_entry more[8];
    cr_assert_eq(storage_lend(s, 51, 8, more), 5);
    struct raft_restore w = view(more, 5);
    for (size_t i = 0; i < 5; i++)
        tsu_expect_entry(&w, i, 51 + i, 2);

    /* A snapshot at 30 deletes the segments it covers; their bytes stay
     * mapped while the core's range still reaches them. */
    cr_assert_eq(tsu_save_snapshot(s, 30, 1, "30"), STORAGE_OK);
    cr_assert_eq(storage_lend(s, 20, 4, out + 19), 0, "compacted: not lendable again");
    storage_get_stats(s, &st);
    uint64_t maps_before = st.lend_maps;
    cr_assert_eq(storage_lend_release(s, 20, 55), 0); /* a core that keeps entries 20.. */
    for (size_t i = 19; i < 50; i++)
        tsu_expect_entry(&v, i, i + 1, 1);
    storage_get_stats(s, &st);
    cr_assert_lt(st.lend_maps, maps_before, "segments with only entries before 20 unmapped");
    cr_assert_gt(st.lend_maps, 0);
    /* Nothing lent: every mapping goes, STORAGE_LEND_RELEASE_MAPS (2) a
     * call, the mappings still lent never (entries 20..50 still read). */
    cr_assert_eq(st.lend_maps, 5);
    cr_assert_eq(storage_lend_release(s, 20, 55), 0, "all five lent: none to unmap");
    storage_get_stats(s, &st);
    cr_assert_eq(st.lend_maps, 5);
    cr_assert_eq(storage_lend_release(s, 56, 55), 3);
    storage_get_stats(s, &st);
    cr_assert_eq(st.lend_maps, 3);
    cr_assert_eq(storage_lend_release(s, 56, 55), 1);
    storage_get_stats(s, &st);
    cr_assert_eq(st.lend_maps, 1);
    cr_assert_gt(st.lend_bytes, 0);
    cr_assert_eq(storage_lend_release(s, 56, 55), 0);
    storage_get_stats(s, &st);
    cr_assert_eq(st.lend_maps, 0);
    cr_assert_eq(st.lend_bytes, 0);
    storage_close(s);
}

/* A segment made anew under an old one's name (the log dropped by a
 * leader's snapshot, then appended again) is mapped anew, never read
 * through the old file's mapping. */
Test(storage_lend, a_new_file_under_an_old_name_gets_its_own_mapping)
{
    struct storage_options o = {.segment_bytes = 60}; /* one record a segment */
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &o);
    storage_release_restore(s);
    tsu_append_range(s, 1, 10, 1);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    struct raft_entry a[10], b[10];
    cr_assert_eq(storage_lend(s, 1, 10, a), 10);
    /* A leader's snapshot at 5 of another term is not a point of this
     * log: the whole log goes, and 6.. are appended again in term 3, in a
     * new wal-6 where a mapped one was. */
    cr_assert_eq(tsu_save_snapshot(s, 5, 3, "5"), STORAGE_OK);
    tsu_append_range(s, 6, 9, 3);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    cr_assert_eq(storage_lend(s, 6, 4, b), 4);
    struct raft_restore v = view(b, 4);
    for (size_t i = 0; i < 4; i++)
        tsu_expect_entry(&v, i, 6 + i, 3);
    struct raft_restore old = view(a, 10);
    for (size_t i = 0; i < 10; i++)
        tsu_expect_entry(&old, i, i + 1, 1);
    storage_close(s);
}
