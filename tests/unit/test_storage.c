/* test_storage.c - the durable store's contract: what is synced comes back
 * after close and reopen; truncation, snapshots, compaction, locking and
 * group commit behave as storage.h promises. */
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

TestSuite(storage, .init = setup, .fini = teardown);

Test(storage, a_new_directory_opens_empty_with_no_vote)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, NULL);
    cr_assert_eq(r.term, 0);
    cr_assert_eq(r.voted_for, RAFT_NO_NODE);
    cr_assert_eq(r.snap_index, 0);
    cr_assert_eq(r.n_entries, 0);
    cr_assert_eq(storage_last_index(s), 0);
    cr_assert_eq(storage_first_index(s), 1);
    storage_close(s);
}

Test(storage, hard_state_entries_and_snapshot_survive_close_and_reopen)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, NULL);
    cr_assert_eq(storage_set_hard_state(s, 7, 2), STORAGE_OK);
    tsu_append_range(s, 1, 10, 3);
    tsu_append_range(s, 11, 20, 7);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    cr_assert_eq(tsu_save_snapshot(s, 5, 3, "the state machine at 5"), STORAGE_OK);
    storage_close(s);

    s = tsu_open(dir, &r, NULL);
    cr_assert_eq(r.term, 7);
    cr_assert_eq(r.voted_for, 2);
    cr_assert_eq(r.snap_index, 5);
    cr_assert_eq(r.snap_term, 3);
    char tag[64];
    tsu_snapshot_tag(s, tag, sizeof tag);
    cr_assert_str_eq(tag, "the state machine at 5");
    cr_assert_eq(r.n_entries, 15, "entries after the snapshot: %zu", r.n_entries);
    for (size_t i = 0; i < 15; i++)
        tsu_expect_entry(&r, i, 6 + i, 6 + i <= 10 ? 3 : 7);
    cr_assert_eq(storage_last_index(s), 20);
    cr_assert_eq(storage_last_term(s), 7);
    cr_assert_eq(storage_term_at(s, 5), 3);
    storage_close(s);
}

Test(storage, the_latest_hard_state_wins_after_many_updates)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, NULL);
    for (raft_term t = 1; t <= 9; t++) {
        cr_assert_eq(storage_set_hard_state(s, t, (int)(t % 3)), STORAGE_OK);
        cr_assert_eq(storage_sync(s), STORAGE_OK);
    }
    cr_assert_eq(storage_set_hard_state(s, 10, RAFT_NO_NODE), STORAGE_OK);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    storage_close(s);
    s = tsu_open(dir, &r, NULL);
    cr_assert_eq(r.term, 10);
    cr_assert_eq(r.voted_for, RAFT_NO_NODE);
    storage_close(s);
}

Test(storage, an_empty_entry_round_trips)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, NULL);
    struct raft_entry noop = {.term = 1, .index = 1, .type = RAFT_ENTRY_NOOP, .len = 0, .data = NULL};
    cr_assert_eq(storage_append(s, &noop, 1), STORAGE_OK);
    storage_close(s);
    s = tsu_open(dir, &r, NULL);
    cr_assert_eq(r.n_entries, 1);
    cr_assert_eq(r.entries[0].type, RAFT_ENTRY_NOOP);
    cr_assert_eq(r.entries[0].len, 0);
    storage_close(s);
}

Test(storage, a_conflicting_suffix_is_replaced_and_stays_replaced_after_reopen)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, NULL);
    tsu_append_range(s, 1, 10, 1);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    tsu_append_range(s, 6, 8, 2); /* a new leader overwrites 6.. */
    cr_assert_eq(storage_last_index(s), 8);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    struct storage_stats st;
    storage_get_stats(s, &st);
    cr_assert_eq(st.truncations, 1);
    storage_close(s);

    s = tsu_open(dir, &r, NULL);
    cr_assert_eq(r.n_entries, 8, "the old 9 and 10 must be gone: %zu entries", r.n_entries);
    for (size_t i = 0; i < 8; i++)
        tsu_expect_entry(&r, i, i + 1, i < 5 ? 1 : 2);
    storage_close(s);
}

Test(storage, truncation_across_segments_deletes_the_later_segments)
{
    struct storage_options o = {.segment_bytes = 400};
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &o);
    for (raft_index i = 1; i <= 40; i++)
        tsu_append_range(s, i, i, 1);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    int before = tsu_count_files(dir, "wal-");
    cr_assert_gt(before, 3, "rolled into %d segments", before);
    tsu_append_range(s, 3, 4, 2);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    cr_assert_eq(tsu_count_files(dir, "wal-"), 1, "segments after 3 must be deleted");
    tsu_append_range(s, 5, 30, 2);
    storage_close(s);

    s = tsu_open(dir, &r, &o);
    cr_assert_eq(r.n_entries, 30);
    for (size_t i = 0; i < 30; i++)
        tsu_expect_entry(&r, i, i + 1, i < 2 ? 1 : 2);
    storage_close(s);
}

Test(storage, an_append_that_leaves_a_gap_is_refused_without_stopping_the_store)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, NULL);
    tsu_append_range(s, 1, 5, 1);
    struct tsu_entries t;
    tsu_fill(&t, 0, 7, 1);
    cr_assert_eq(storage_append(s, t.e, 1), STORAGE_ERR_INVALID);
    tsu_fill(&t, 0, 6, 2);
    tsu_fill(&t, 1, 7, 1);
    cr_assert_eq(storage_append(s, t.e, 2), STORAGE_ERR_INVALID, "terms must not decrease");
    /* The store still works: a caller error is not a disk error. */
    tsu_append_range(s, 6, 6, 1);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    cr_assert_eq(storage_last_index(s), 6);
    storage_close(s);
}

Test(storage, entries_the_snapshot_covers_are_skipped_and_the_rest_appended)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, NULL);
    tsu_append_range(s, 1, 5, 1);
    cr_assert_eq(tsu_save_snapshot(s, 3, 1, "x"), STORAGE_OK);
    tsu_append_range(s, 2, 7, 1); /* 2 and 3 are inside the snapshot */
    cr_assert_eq(storage_last_index(s), 7);
    storage_close(s);
    s = tsu_open(dir, &r, NULL);
    cr_assert_eq(r.n_entries, 4);
    tsu_expect_entry(&r, 0, 4, 1);
    tsu_expect_entry(&r, 3, 7, 1);
    storage_close(s);
}

Test(storage, the_restore_is_available_again_until_released)
{
    struct raft_restore r, again;
    struct storage *s = tsu_open(dir, &r, NULL);
    tsu_append_range(s, 1, 4, 2);
    storage_close(s);
    s = tsu_open(dir, &r, NULL);
    cr_assert_eq(storage_restore(s, &again), STORAGE_OK);
    cr_assert_eq(again.n_entries, 4);
    cr_assert_eq(again.entries, r.entries);
    storage_release_restore(s);
    cr_assert_eq(storage_restore(s, &again), STORAGE_ERR_INVALID);
    cr_assert_eq(again.n_entries, 0);
    storage_close(s);
}

Test(storage, a_second_open_of_the_same_directory_is_refused_naming_the_holder)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, NULL);
    struct storage *second = NULL;
    struct raft_restore r2;
    char err[512] = "";
    int rc = storage_open(dir, NULL, &second, &r2, err, sizeof err);
    cr_assert_eq(rc, STORAGE_ERR_LOCKED, "rc %d: %s", rc, err);
    cr_assert_null(second);
    char pid[32];
    snprintf(pid, sizeof pid, "pid %ld", (long)getpid());
    cr_assert_not_null(strstr(err, pid), "message names the holder: %s", err);
    storage_close(s);
    /* Released on close. */
    s = tsu_open(dir, &r, NULL);
    storage_close(s);
}

Test(storage, group_commit_makes_many_appends_durable_with_one_sync)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, NULL);
    struct storage_stats before, after;
    storage_get_stats(s, &before);
    for (raft_index i = 1; i <= 100; i++)
        tsu_append_range(s, i, i, 1);
    storage_get_stats(s, &after);
    cr_assert_eq(after.fsyncs, before.fsyncs, "appending alone must not sync");
    cr_assert_eq(after.writes, before.writes, "appending alone must not write()");
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    storage_get_stats(s, &after);
    cr_assert_eq(after.syncs - before.syncs, 1);
    /* One fdatasync for the segment, one fsync for the new file's name. */
    cr_assert_eq(after.fsyncs - before.fsyncs, 2, "fsyncs: %" PRIu64, after.fsyncs - before.fsyncs);
    cr_assert_eq(after.writes - before.writes, 1, "one write() for the whole batch");
    cr_assert_eq(after.entries - before.entries, 100);

    /* The next batch goes to an existing file: exactly one fdatasync. */
    tsu_append_range(s, 101, 150, 1);
    storage_get_stats(s, &before);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    storage_get_stats(s, &after);
    cr_assert_eq(after.fsyncs - before.fsyncs, 1);
    cr_assert_eq(after.sync_ns_last > 0, 1);
    cr_assert_geq(after.sync_ns_max, after.sync_ns_last);
    storage_close(s);
}

Test(storage, a_sync_with_nothing_pending_costs_nothing)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, NULL);
    tsu_append_range(s, 1, 3, 1);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    struct storage_stats before, after;
    storage_get_stats(s, &before);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    cr_assert_eq(storage_set_hard_state(s, 0, RAFT_NO_NODE), STORAGE_OK); /* unchanged */
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    storage_get_stats(s, &after);
    cr_assert_eq(after.syncs, before.syncs);
    cr_assert_eq(after.fsyncs, before.fsyncs);
    storage_close(s);
}

Test(storage, a_vote_for_an_impossible_node_is_refused_without_stopping_the_store)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, NULL);
    cr_assert_eq(storage_set_hard_state(s, 2, RAFT_MAX_NODES), STORAGE_ERR_INVALID);
    cr_assert_eq(storage_set_hard_state(s, 2, -2), STORAGE_ERR_INVALID);
    cr_assert_eq(storage_set_hard_state(s, 2, 1), STORAGE_OK);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    storage_close(s);
    s = tsu_open(dir, &r, NULL);
    cr_assert_eq(r.voted_for, 1);
    storage_close(s);
}

Test(storage, a_vote_alone_costs_one_fdatasync)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, NULL);
    struct storage_stats before, after;
    storage_get_stats(s, &before);
    cr_assert_eq(storage_set_hard_state(s, 4, 1), STORAGE_OK);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    storage_get_stats(s, &after);
    cr_assert_eq(after.fsyncs - before.fsyncs, 1);
    storage_close(s);
}

Test(storage, segments_roll_at_the_configured_size_and_a_snapshot_deletes_the_covered_ones)
{
    struct storage_options o = {.segment_bytes = 1000};
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &o);
    for (raft_index i = 1; i <= 200; i += 10)
        tsu_append_range(s, i, i + 9, 1);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    struct storage_stats st;
    storage_get_stats(s, &st);
    int files = tsu_count_files(dir, "wal-");
    cr_assert_eq((int)st.segments, files);
    cr_assert_gt(files, 5, "200 entries of ~45 bytes in 1000-byte segments: %d files", files);
    uint64_t disk_before = st.disk_bytes;

    cr_assert_eq(tsu_save_snapshot(s, 190, 1, "img"), STORAGE_OK);
    storage_get_stats(s, &st);
    cr_assert_leq(st.segments, 2, "only segments reaching past 190 stay: %" PRIu64, st.segments);
    cr_assert_eq(tsu_count_files(dir, "wal-"), (int)st.segments);
    cr_assert_lt(st.disk_bytes, disk_before / 3);
    cr_assert_eq(storage_first_index(s), 191);
    cr_assert_eq(st.log_entries, 10, "only 191..200 stay indexed in memory");
    tsu_append_range(s, 201, 210, 1);
    storage_close(s);

    s = tsu_open(dir, &r, &o);
    cr_assert_eq(r.snap_index, 190);
    cr_assert_eq(r.n_entries, 20);
    tsu_expect_entry(&r, 0, 191, 1);
    tsu_expect_entry(&r, 19, 210, 1);
    storage_close(s);
}

Test(storage, disk_use_stays_bounded_when_snapshots_follow_the_log)
{
    struct storage_options o = {.segment_bytes = 2000};
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &o);
    uint64_t max_disk = 0;
    for (raft_index i = 1; i <= 5000; i += 50) {
        tsu_append_range(s, i, i + 49, 1);
        cr_assert_eq(storage_sync(s), STORAGE_OK);
        if ((i + 49) % 500 == 0)
            cr_assert_eq(tsu_save_snapshot(s, i + 49, 1, "s"), STORAGE_OK);
        struct storage_stats st;
        storage_get_stats(s, &st);
        if (st.disk_bytes > max_disk)
            max_disk = st.disk_bytes;
    }
    /* 500 entries between snapshots of ~47 bytes each plus one open segment. */
    cr_assert_lt(max_disk, 500 * 47 + 3 * 2000, "max disk %" PRIu64, max_disk);
    cr_assert_lt(tsu_count_files(dir, "wal-"), 16);
    struct storage_stats st;
    storage_get_stats(s, &st);
    cr_assert_eq(st.log_entries, 0, "the last snapshot covers the whole log: %" PRIu64,
                 st.log_entries);
    cr_assert_eq(tsu_count_files(dir, "snap-"), 1);
    storage_close(s);
}

Test(storage, with_large_segments_disk_use_still_follows_the_snapshot_interval)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, NULL); /* 64 MiB segments */
    uint64_t max_disk = 0;
    for (raft_index i = 1; i <= 5000; i += 50) {
        tsu_append_range(s, i, i + 49, 1);
        cr_assert_eq(storage_sync(s), STORAGE_OK);
        if ((i + 49) % 500 == 0)
            cr_assert_eq(tsu_save_snapshot(s, i + 45, 1, "s"), STORAGE_OK);
        struct storage_stats st;
        storage_get_stats(s, &st);
        if (st.disk_bytes > max_disk)
            max_disk = st.disk_bytes;
    }
    /* Two snapshot intervals of ~47-byte records at most, not 5000 entries. */
    cr_assert_lt(max_disk, 2 * 500 * 48 + 200, "max disk %" PRIu64, max_disk);
    cr_assert_leq(tsu_count_files(dir, "wal-"), 2);
    storage_close(s);
    s = tsu_open(dir, &r, NULL);
    cr_assert_eq(r.snap_index, 4996);
    cr_assert_eq(r.n_entries, 4);
    tsu_expect_entry(&r, 3, 5000, 1);
    storage_close(s);
}

Test(storage, a_snapshot_from_the_leader_beyond_the_log_replaces_the_whole_log)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, NULL);
    tsu_append_range(s, 1, 10, 1);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    cr_assert_eq(tsu_save_snapshot(s, 50, 4, "leader"), STORAGE_OK);
    cr_assert_eq(storage_last_index(s), 50);
    cr_assert_eq(storage_last_term(s), 4);
    cr_assert_eq(tsu_count_files(dir, "wal-"), 0);
    tsu_append_range(s, 51, 52, 4);
    storage_close(s);
    s = tsu_open(dir, &r, NULL);
    cr_assert_eq(r.snap_index, 50);
    cr_assert_eq(r.n_entries, 2);
    tsu_expect_entry(&r, 0, 51, 4);
    storage_close(s);
}

Test(storage, a_snapshot_whose_term_contradicts_the_log_drops_the_log)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, NULL);
    tsu_append_range(s, 1, 10, 1);
    /* The leader's snapshot at 5 is of term 2: our 5 (term 1) was never
     * committed, and neither was anything after it. */
    cr_assert_eq(tsu_save_snapshot(s, 5, 2, "x"), STORAGE_OK);
    cr_assert_eq(storage_last_index(s), 5);
    storage_close(s);
    s = tsu_open(dir, &r, NULL);
    cr_assert_eq(r.n_entries, 0);
    cr_assert_eq(r.snap_term, 2);
    storage_close(s);
}

Test(storage, a_snapshot_older_than_the_stored_one_changes_nothing)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, NULL);
    tsu_append_range(s, 1, 9, 1);
    cr_assert_eq(tsu_save_snapshot(s, 6, 1, "six"), STORAGE_OK);
    cr_assert_eq(tsu_save_snapshot(s, 4, 1, "four"), STORAGE_OK);
    cr_assert_eq(storage_snapshot_index(s), 6);
    storage_close(s);
    s = tsu_open(dir, &r, NULL);
    cr_assert_eq(r.snap_index, 6);
    char tag[16];
    tsu_snapshot_tag(s, tag, sizeof tag);
    cr_assert_str_eq(tag, "six");
    cr_assert_eq(r.n_entries, 3);
    storage_close(s);
}

Test(storage, the_restore_memory_can_be_released_early)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, NULL);
    tsu_append_range(s, 1, 3, 1);
    cr_assert_eq(tsu_save_snapshot(s, 2, 1, "ab"), STORAGE_OK);
    storage_close(s);
    s = tsu_open(dir, &r, NULL);
    cr_assert_eq(r.n_entries, 1);
    storage_release_restore(s);
    storage_release_restore(s); /* twice is harmless */
    tsu_append_range(s, 4, 4, 1);
    storage_close(s);
}

/* storage_lend_restore: the entries' data stay readable, where they were,
 * past storage_release_restore(), a truncation after them and the deletion
 * of their segments by compaction, until storage_end_loan(), which unmaps
 * them a few a call from then on. */
Test(storage, lent_entries_stay_readable_until_the_loan_ends)
{
    struct storage_options o = {.segment_bytes = 400}; /* several segments */
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &o);
    tsu_append_range(s, 1, 30, 1);
    storage_close(s);
    s = tsu_open(dir, &r, &o);
    cr_assert_eq(r.borrow, false, "storage_open alone lends nothing");
    cr_assert_eq(storage_lend_restore(s, &r), STORAGE_OK);
    cr_assert(r.borrow);
    cr_assert_eq(r.n_entries, 30);
    struct storage_stats st;
    storage_get_stats(s, &st);
    cr_assert_gt(st.segments, 2);
    cr_assert_gt(st.lent_bytes, 0);
    struct raft_entry kept[30]; /* what a borrowing core holds: the pointers */
    memcpy(kept, r.entries, sizeof kept);
    struct raft_restore copy = r;
    copy.entries = kept;
    storage_release_restore(s);
    struct raft_restore again;
    cr_assert_eq(storage_restore(s, &again), STORAGE_ERR_INVALID);
    tsu_append_range(s, 21, 25, 2);                        /* cuts 21..30 */
    cr_assert_eq(tsu_save_snapshot(s, 15, 1, "15"), STORAGE_OK); /* deletes segments */
    storage_get_stats(s, &st);
    cr_assert_gt(st.lent_bytes, 0, "still lent");
    for (size_t i = 0; i < 20; i++)
        tsu_expect_entry(&copy, i, i + 1, 1);
    storage_end_loan(s);
    storage_get_stats(s, &st);
    cr_assert_eq(st.lent_bytes, 0);
    /* Its three mappings go two a call (STORAGE_LEND_RELEASE_MAPS): two
     * now, the last at the next storage_lend_release(). */
    cr_assert_eq(st.ended_maps, 1);
    cr_assert_eq(storage_lend_release(s, 1, 0), 0);
    storage_get_stats(s, &st);
    cr_assert_eq(st.ended_maps, 0);
    storage_end_loan(s); /* twice is harmless */
    storage_close(s);
    s = tsu_open(dir, &r, &o);
    cr_assert_eq(r.snap_index, 15);
    cr_assert_eq(r.n_entries, 10);
    tsu_expect_entry(&r, 5, 21, 2);
    /* Ending the loan releases the restore too: its entries pointed there. */
    cr_assert_eq(storage_lend_restore(s, &r), STORAGE_OK);
    storage_end_loan(s);
    cr_assert_eq(storage_restore(s, &again), STORAGE_ERR_INVALID);
    cr_assert_eq(storage_lend_restore(s, &again), STORAGE_ERR_INVALID);
    storage_close(s);
}

static uint64_t fsyncs(const struct storage *s)
{
    struct storage_stats st;
    storage_get_stats(s, &st);
    return st.fsyncs;
}

/* Only the tail segment may hold unsynced records: each full segment is
 * synced as it is closed, before the next one takes records. Seen through
 * the sync count: one per closed segment, plus the new tail and the
 * directory that names it. */
Test(storage, a_segment_is_synced_when_it_is_closed)
{
    struct storage_options o = {.segment_bytes = 256};
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &o);
    tsu_append_range(s, 1, 2, 1);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    int files = tsu_count_files(dir, "wal-");
    uint64_t before = fsyncs(s);
    tsu_append_range(s, 3, 40, 1); /* one call, several rolls, no sync between */
    cr_assert_eq(storage_sync(s), STORAGE_OK, "%s", storage_error(s));
    int rolled = tsu_count_files(dir, "wal-") - files;
    cr_assert_geq(rolled, 2);
    cr_assert_geq(fsyncs(s) - before, (uint64_t)rolled + 2, "%d rolls, %llu syncs", rolled,
                  (unsigned long long)(fsyncs(s) - before));
    storage_close(s);
}

/* A conflicting suffix is cut durably before records are written over the
 * cut, so a crash cannot bring old records back among new ones: a sync for
 * the cut, then one for the new records. */
Test(storage, cutting_a_conflicting_suffix_is_synced_before_new_records_follow)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, NULL);
    tsu_append_range(s, 1, 10, 1);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    uint64_t before = fsyncs(s);
    tsu_append_range(s, 5, 6, 2);
    cr_assert_eq(storage_sync(s), STORAGE_OK, "%s", storage_error(s));
    cr_assert_geq(fsyncs(s) - before, 2);
    storage_close(s);
    s = tsu_open(dir, &r, NULL);
    cr_assert_eq(r.n_entries, 6);
    tsu_expect_entry(&r, 4, 5, 2);
    storage_close(s);
}

/* A snapshot received in chunks (snap_transfer.h): written to
 * snap-<i>.recv, adopted in place of the stored one as a leader's image in
 * memory would be; an abandoned one is deleted, and one a crash left
 * behind is deleted at the next start. */
static void write_recv(struct storage *s, raft_index index, raft_term term, const char *tag)
{
    size_t len;
    uint8_t *img = tsu_image(index, term, tag, &len);
    int fd;
    cr_assert_eq(storage_snapshot_recv_begin(s, index, &fd), STORAGE_OK);
    cr_assert_eq(write(fd, img, len), (ssize_t)len);
    cr_assert_eq(fdatasync(fd), 0);
    close(fd);
    free(img);
}

Test(storage, a_received_snapshot_file_is_adopted_like_a_leaders_image)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, NULL);
    tsu_append_range(s, 1, 10, 1);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    write_recv(s, 50, 4, "received");
    cr_assert_eq(tsu_count_files(dir, "snap-00000000000000000050.recv"), 1);
    cr_assert(storage_snapshot_recv_staged(s, 50));
    cr_assert_not(storage_snapshot_recv_staged(s, 49));
    cr_assert_eq(storage_snapshot_adopt(s, 49, 4), STORAGE_ERR_INVALID, "not the staged index");
    cr_assert_eq(storage_snapshot_adopt(s, 50, 4), STORAGE_OK);
    cr_assert_eq(tsu_count_files(dir, "snap-00000000000000000050.recv"), 0);
    cr_assert_eq(tsu_count_files(dir, "snap-00000000000000000050.snap"), 1);
    cr_assert_eq(storage_last_index(s), 50);
    cr_assert_eq(tsu_count_files(dir, "wal-"), 0, "the log it replaces is gone");
    storage_close(s);
    s = tsu_open(dir, &r, NULL);
    cr_assert_eq(r.snap_index, 50);
    cr_assert_eq(r.snap_term, 4);
    char tag[32];
    tsu_snapshot_tag(s, tag, sizeof tag);
    cr_assert_str_eq(tag, "received");
    /* Opened for sending: its size and bytes. */
    int fd;
    uint64_t size;
    cr_assert_eq(storage_snapshot_open(s, 49, &fd, &size), STORAGE_ERR_INVALID);
    cr_assert_eq(storage_snapshot_open(s, 50, &fd, &size), STORAGE_OK);
    char path[600];
    snprintf(path, sizeof path, "%s/snap-00000000000000000050.snap", dir);
    cr_assert_eq((off_t)size, tsu_file_size(path));
    uint8_t magic[4];
    cr_assert_eq(pread(fd, magic, 4, 0), 4);
    cr_assert_eq(memcmp(magic, "RKVS", 4), 0);
    close(fd);
    storage_close(s);
}

Test(storage, an_abandoned_or_stale_received_snapshot_leaves_nothing)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, NULL);
    cr_assert_eq(tsu_save_snapshot(s, 20, 2, "stored"), STORAGE_OK);
    int fd;
    cr_assert_eq(storage_snapshot_recv_begin(s, 20, &fd), STORAGE_ERR_INVALID, "not newer");
    write_recv(s, 30, 2, "cut");
    storage_snapshot_recv_abort(s);
    cr_assert_eq(tsu_count_files(dir, "snap-00000000000000000030"), 0);
    cr_assert_eq(storage_snapshot_adopt(s, 30, 2), STORAGE_ERR_INVALID, "nothing staged");
    /* A crash mid-transfer: the .recv stays on disk until the next start. */
    write_recv(s, 40, 2, "crash");
    storage_close(s);
    cr_assert_eq(tsu_count_files(dir, "snap-00000000000000000040.recv"), 1);
    s = tsu_open(dir, &r, NULL);
    cr_assert_eq(r.snap_index, 20);
    cr_assert_eq(tsu_count_files(dir, "snap-00000000000000000040"), 0);
    char tag[32];
    tsu_snapshot_tag(s, tag, sizeof tag);
    cr_assert_str_eq(tag, "stored");
    storage_close(s);
}
