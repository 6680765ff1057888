/* test_storage_faults.c - disk errors: a full disk or a failed fsync is
 * reported with its cause, and the store then refuses every further write
 * instead of carrying on with state it cannot trust (no fsync retries). */
#include <errno.h>

#include "test_storage_util.h"

static char dir[256];

static void setup(void)
{
    tsu_make_seeded_dir(dir, sizeof dir);
}

static void teardown(void)
{
    tsu_remove_dir(dir);
}

TestSuite(storage_faults, .init = setup, .fini = teardown);

static void expect_stopped(struct storage *s)
{
    cr_assert_eq(storage_append(s, NULL, 0), STORAGE_ERR_FAILED);
    struct tsu_entries t;
    tsu_fill(&t, 0, 4, 1);
    cr_assert_eq(storage_append(s, t.e, 1), STORAGE_ERR_FAILED);
    cr_assert_eq(storage_set_hard_state(s, 9, 0), STORAGE_ERR_FAILED);
    cr_assert_eq(storage_sync(s), STORAGE_ERR_FAILED, "a failed fsync is never retried");
    cr_assert_eq(tsu_save_snapshot(s, 3, 1, "x"), STORAGE_ERR_FAILED);
}

Test(storage_faults, a_full_disk_on_write_is_reported_and_stops_the_store)
{
    struct storage_options o = {.fail_write_at = 1};
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &o);
    tsu_append_range(s, 4, 6, 1);
    int rc = storage_sync(s);
    cr_assert_eq(rc, STORAGE_ERR_IO, "rc %d", rc);
    cr_assert_not_null(strstr(storage_error(s), strerror(ENOSPC)), "%s", storage_error(s));
    cr_assert_not_null(strstr(storage_error(s), "wal-00000000000000000001.log"), "%s",
                       storage_error(s));
    expect_stopped(s);
    cr_assert_not_null(strstr(storage_error(s), strerror(ENOSPC)), "the first cause is kept");
    storage_close(s);
}

Test(storage_faults, a_failed_fdatasync_is_reported_and_never_retried)
{
    struct storage_options o = {.fail_sync_at = 1};
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &o);
    tsu_append_range(s, 4, 6, 1);
    cr_assert_eq(storage_sync(s), STORAGE_ERR_IO);
    cr_assert_not_null(strstr(storage_error(s), "fdatasync"), "%s", storage_error(s));
    cr_assert_not_null(strstr(storage_error(s), strerror(EIO)), "%s", storage_error(s));
    struct storage_stats st;
    storage_get_stats(s, &st);
    cr_assert_eq(st.syncs, 0, "a failed sync is not counted as done");
    expect_stopped(s);
    storage_close(s);
}

Test(storage_faults, a_failed_hard_state_sync_stops_the_store_before_the_log_is_touched)
{
    struct storage_options o = {.fail_sync_at = 1};
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &o);
    cr_assert_eq(storage_set_hard_state(s, 5, 0), STORAGE_OK);
    cr_assert_eq(storage_sync(s), STORAGE_ERR_IO);
    cr_assert_not_null(strstr(storage_error(s), "meta"), "%s", storage_error(s));
    expect_stopped(s);
    storage_close(s);
}

Test(storage_faults, a_failed_snapshot_write_stops_the_store_and_leaves_the_old_state)
{
    struct storage_options o = {.fail_write_at = 1, .fail_errno = EIO};
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &o);
    cr_assert_eq(tsu_save_snapshot(s, 2, 1, "img"), STORAGE_ERR_IO);
    cr_assert_not_null(strstr(storage_error(s), "snap-"), "%s", storage_error(s));
    expect_stopped(s);
    storage_close(s);
    /* On restart the half-written snapshot is discarded and the log is whole. */
    s = tsu_open(dir, &r, NULL);
    cr_assert_eq(r.snap_index, 0);
    cr_assert_eq(r.n_entries, 3);
    storage_close(s);
}

Test(storage_faults, a_failed_truncation_stops_the_store)
{
    struct storage_options o = {.fail_write_at = 1};
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &o);
    struct tsu_entries t;
    tsu_fill(&t, 0, 2, 2);
    cr_assert_eq(storage_append(s, t.e, 1), STORAGE_ERR_IO);
    cr_assert_not_null(strstr(storage_error(s), "truncate"), "%s", storage_error(s));
    expect_stopped(s);
    storage_close(s);
    /* Nothing acknowledged was lost: the old log is intact. */
    s = tsu_open(dir, &r, NULL);
    cr_assert_eq(r.n_entries, 3);
    tsu_expect_entry(&r, 1, 2, 1);
    storage_close(s);
}

Test(storage_faults, a_write_error_in_the_middle_of_a_large_batch_is_caught_at_append)
{
    struct storage_options o = {.fail_write_at = 1, .buffer_bytes = 256};
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &o);
    struct tsu_entries t;
    for (size_t i = 0; i < 100; i++)
        tsu_fill(&t, i, 4 + i, 1);
    cr_assert_eq(storage_append(s, t.e, 100), STORAGE_ERR_IO, "the buffer overflowed into a write");
    expect_stopped(s);
    storage_close(s);
}

Test(storage_faults, a_write_torn_by_a_crash_is_cut_back_at_the_next_start)
{
    struct storage_options o = {.fail_write_at = 1, .fail_write_torn = true};
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &o);
    tsu_append_range(s, 4, 10, 1);
    cr_assert_eq(storage_sync(s), STORAGE_ERR_IO);
    storage_abandon(s);

    struct tsu_log log = {0};
    struct storage_options quiet = {.log = tsu_log_line, .log_ctx = &log};
    s = tsu_open(dir, &r, &quiet);
    cr_assert_geq(r.n_entries, 3, "the synced entries survive");
    cr_assert_lt(r.n_entries, 10, "half the batch never reached the file");
    for (size_t i = 0; i < r.n_entries; i++)
        tsu_expect_entry(&r, i, i + 1, 1);
    cr_assert_not_null(strstr(log.text, "torn tail"), "log: %s", log.text);
    storage_close(s);
}

Test(storage_faults, abandoning_the_store_drops_what_was_never_synced_and_frees_the_lock)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, NULL);
    tsu_append_range(s, 4, 5, 1);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    tsu_append_range(s, 6, 9, 1);
    storage_abandon(s);
    s = tsu_open(dir, &r, NULL);
    cr_assert_eq(r.n_entries, 5, "1..5 were synced, 6..9 only buffered");
    storage_close(s);
}
