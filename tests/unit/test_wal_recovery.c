/* test_wal_recovery.c - start-up after crashes and disk damage: a torn tail is
 * cut back to the last complete entry (and said so); damage anywhere else
 * stops the open with the file and byte offset, and changes nothing. */
#include "storage/storage_replica.h"
#include "wal_test_fixture.h"

TestSuite(wal_recovery, .init = wal_fixture_setup, .fini = wal_fixture_teardown);

static void write_log(raft_index n)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &opts);
    tsu_append_range(s, 1, n, 1);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    storage_close(s);
}

static int open_expecting(int want, char *err, size_t errlen)
{
    struct storage *s = NULL;
    struct raft_restore r;
    int rc = storage_open(dir, &opts, &s, &r, err, errlen);
    cr_assert_eq(rc, want, "rc %d (%s): %s", rc, storage_strerror(rc), err);
    if (s)
        storage_close(s);
    return rc;
}

Test(wal_recovery, a_record_cut_short_by_a_crash_is_dropped_and_the_cut_is_logged)
{
    write_log(9);
    char seg[512];
    tsu_segment_path(dir, 0, seg, sizeof seg);
    cr_assert_eq(tsu_file_size(seg), HDR + 9 * REC);
    tsu_truncate(seg, HDR + 8 * REC + 20); /* the 9th record half written */

    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &opts);
    cr_assert_eq(r.n_entries, 8);
    tsu_expect_entry(&r, 7, 8, 1);
    cr_assert_eq(storage_last_index(s), 8);
    cr_assert_not_null(strstr(rlog.text, "torn tail"), "log: %s", rlog.text);
    cr_assert_not_null(strstr(rlog.text, "wal-00000000000000000001.log"), "log: %s", rlog.text);
    cr_assert_eq(tsu_file_size(seg), HDR + 8 * REC, "the torn bytes are cut from the file");
    /* The log continues cleanly from the cut. */
    tsu_append_range(s, 9, 9, 2);
    storage_close(s);
    s = tsu_open(dir, &r, &opts);
    cr_assert_eq(r.n_entries, 9);
    tsu_expect_entry(&r, 8, 9, 2);
    storage_close(s);
}

Test(wal_recovery, a_header_cut_short_is_a_torn_tail)
{
    write_log(3);
    char seg[512];
    tsu_segment_path(dir, 0, seg, sizeof seg);
    tsu_append_bytes(seg, "\x27\x00\x00\x00\xaa\xbb", 6);
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &opts);
    cr_assert_eq(r.n_entries, 3);
    cr_assert_eq(rlog.lines, 1);
    storage_close(s);
}

Test(wal_recovery, a_flipped_byte_in_the_last_record_cuts_just_that_record)
{
    write_log(9);
    char seg[512];
    tsu_segment_path(dir, 0, seg, sizeof seg);
    tsu_xor_byte(seg, -3, 0x40); /* inside the 9th record's payload */
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &opts);
    cr_assert_eq(r.n_entries, 8);
    cr_assert_not_null(strstr(rlog.text, "checksum mismatch"), "log: %s", rlog.text);
    cr_assert_not_null(strstr(rlog.text, "offset 336"), "offset of record 9: %s", rlog.text);
    storage_close(s);
}

/* What a crash leaves after writing into space allocated ahead (wal.c). */
Test(wal_recovery, a_zero_filled_tail_is_cut_and_every_entry_kept)
{
    write_log(9);
    char seg[512];
    tsu_segment_path(dir, 0, seg, sizeof seg);
    static const uint8_t zeros[4096];
    tsu_append_bytes(seg, zeros, sizeof zeros);
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &opts);
    cr_assert_eq(r.n_entries, 9);
    cr_assert_not_null(strstr(rlog.text, "preallocated space"), "log: %s", rlog.text);
    cr_assert_eq(tsu_file_size(seg), HDR + 9 * REC);
    storage_close(s);
}

Test(wal_recovery, a_bad_record_followed_by_good_ones_refuses_to_start_naming_file_and_offset)
{
    write_log(9);
    char seg[512];
    tsu_segment_path(dir, 0, seg, sizeof seg);
    tsu_xor_byte(seg, HDR + 2 * REC + 30, 0x01); /* record 3 of 9 */
    char err[512] = "";
    open_expecting(STORAGE_ERR_CORRUPT, err, sizeof err);
    cr_assert_not_null(strstr(err, "wal-00000000000000000001.log"), "%s", err);
    cr_assert_not_null(strstr(err, "offset 102"), "record 3 starts at 24 + 2 * 39: %s", err);
    cr_assert_not_null(strstr(err, "valid record at offset 141"), "%s", err);
    /* Nothing was cut: the damage stays for a human to look at. */
    cr_assert_eq(tsu_file_size(seg), HDR + 9 * REC);
    open_expecting(STORAGE_ERR_CORRUPT, err, sizeof err);
}

Test(wal_recovery, damage_at_the_end_of_an_earlier_segment_is_corruption_not_a_torn_tail)
{
    opts.segment_bytes = 200;
    write_log(9);
    int files = tsu_count_files(dir, "wal-");
    cr_assert_geq(files, 2);
    char seg[512];
    tsu_segment_path(dir, 1, seg, sizeof seg); /* the one before the last */
    tsu_xor_byte(seg, -1, 0x80);
    char err[512] = "";
    open_expecting(STORAGE_ERR_CORRUPT, err, sizeof err);
    cr_assert_not_null(strstr(err, strrchr(seg, '/') + 1), "names %s: %s", seg, err);
    cr_assert_not_null(strstr(err, "not the last segment"), "%s", err);
}

Test(wal_recovery, a_missing_segment_in_the_middle_is_an_index_gap)
{
    opts.segment_bytes = 100;
    write_log(9);
    cr_assert_geq(tsu_count_files(dir, "wal-"), 3);
    char seg[512];
    tsu_segment_path(dir, 1, seg, sizeof seg);
    cr_assert_eq(unlink(seg), 0);
    char err[512] = "";
    open_expecting(STORAGE_ERR_CORRUPT, err, sizeof err);
    cr_assert_not_null(strstr(err, "index gap"), "%s", err);
}

Test(wal_recovery, a_segment_created_but_never_written_is_removed)
{
    write_log(4);
    char empty[512];
    snprintf(empty, sizeof empty, "%s/wal-00000000000000000005.log", dir);
    int fd = open(empty, O_CREAT | O_WRONLY, 0644);
    cr_assert_geq(fd, 0);
    close(fd);
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &opts);
    cr_assert_eq(r.n_entries, 4);
    cr_assert_eq(access(empty, F_OK), -1, "the empty segment is gone");
    tsu_append_range(s, 5, 6, 1);
    storage_close(s);
    s = tsu_open(dir, &r, &opts);
    cr_assert_eq(r.n_entries, 6);
    storage_close(s);
}

Test(wal_recovery, a_leftover_snapshot_temp_file_is_ignored_and_removed)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &opts);
    tsu_append_range(s, 1, 9, 1);
    cr_assert_eq(tsu_save_snapshot(s, 5, 1, "five"), STORAGE_OK);
    storage_close(s);
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s/snap-00000000000000000009.tmp", dir);
    int fd = open(tmp, O_CREAT | O_WRONLY, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "half a snapshot", 15), 15);
    close(fd);

    s = tsu_open(dir, &r, &opts);
    cr_assert_eq(r.snap_index, 5);
    char tag[16];
    tsu_snapshot_tag(s, tag, sizeof tag);
    cr_assert_str_eq(tag, "five");
    cr_assert_eq(r.n_entries, 4);
    cr_assert_eq(access(tmp, F_OK), -1);
    cr_assert_not_null(strstr(rlog.text, "half-written"), "log: %s", rlog.text);
    storage_close(s);
}

Test(wal_recovery, a_damaged_snapshot_refuses_to_start_naming_the_file)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &opts);
    tsu_append_range(s, 1, 9, 1);
    cr_assert_eq(tsu_save_snapshot(s, 5, 1, "five"), STORAGE_OK);
    storage_close(s);
    char snap[512];
    snprintf(snap, sizeof snap, "%s/snap-00000000000000000005.snap", dir);
    /* The file's CRC: found as the file loads into the map (the open
     * checks the header), before the member serves anything. */
    tsu_xor_byte(snap, -1, 0x01);
    s = tsu_open(dir, &r, &opts);
    struct replica_log_store store;
    storage_replica_log_store(s, &store);
    struct kv_store *kv = kv_store_new();
    cr_assert_eq(store.load_snapshot(store.impl, kv), STORAGE_ERR_CORRUPT);
    cr_assert_eq(kv_store_size(kv), 0);
    kv_store_free(kv);
    cr_assert_not_null(strstr(storage_error(s), "snap-00000000000000000005.snap: corrupt snapshot"), "%s",
                       storage_error(s));
    cr_assert_not_null(strstr(storage_error(s), "file CRC mismatch"), "%s", storage_error(s));
    storage_close(s);
    /* The header's: the open refuses. */
    tsu_xor_byte(snap, -1, 0x01);
    tsu_xor_byte(snap, 9, 0x01);
    char err[512] = "";
    open_expecting(STORAGE_ERR_CORRUPT, err, sizeof err);
    cr_assert_not_null(strstr(err, "snap-00000000000000000005.snap"), "%s", err);
    cr_assert_not_null(strstr(err, "header CRC mismatch"), "%s", err);
}

Test(wal_recovery, a_log_without_its_hard_state_file_refuses_to_start)
{
    write_log(3);
    char meta[512];
    snprintf(meta, sizeof meta, "%s/meta", dir);
    cr_assert_eq(unlink(meta), 0);
    char err[512] = "";
    open_expecting(STORAGE_ERR_CORRUPT, err, sizeof err);
    cr_assert_not_null(strstr(err, "meta is missing"), "%s", err);
    cr_assert_eq(access(meta, F_OK), -1, "no fresh term 0 was written");
}

Test(wal_recovery, files_with_names_the_store_does_not_write_are_left_alone)
{
    write_log(3);
    const char *strays[] = {"snap-5.snap", "wal-7.log", "snap-x.tmp", "notes.txt"};
    for (size_t i = 0; i < 4; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, strays[i]);
        int fd = open(path, O_CREAT | O_WRONLY, 0644);
        cr_assert_geq(fd, 0);
        cr_assert_eq(write(fd, "junk", 4), 4);
        close(fd);
    }
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &opts);
    cr_assert_eq(r.n_entries, 3);
    cr_assert_eq(r.snap_index, 0);
    storage_close(s);
    for (size_t i = 0; i < 4; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, strays[i]);
        cr_assert_eq(access(path, F_OK), 0, "%s was removed", strays[i]);
    }
}

Test(wal_recovery, a_path_that_is_a_file_is_refused_with_a_message)
{
    write_log(1);
    char file[512];
    snprintf(file, sizeof file, "%s/meta", dir);
    struct storage *s = NULL;
    struct raft_restore r;
    char err[512] = "";
    int rc = storage_open(file, NULL, &s, &r, err, sizeof err);
    cr_assert_lt(rc, 0);
    cr_assert_null(s);
    cr_assert_not_null(strstr(err, "not a directory"), "%s", err);
}

/* A crash after a leader's snapshot was saved but before the old log was
 * deleted leaves a log that contradicts the snapshot: it must not count. */
Test(wal_recovery, a_log_that_contradicts_the_snapshot_is_dropped_at_start_up)
{
    write_log(9);
    char other[256];
    tsu_make_dir(other, sizeof other);
    struct raft_restore r;
    struct storage *s = tsu_open(other, &r, NULL);
    cr_assert_eq(tsu_save_snapshot(s, 5, 3, "lead"), STORAGE_OK);
    storage_close(s);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cp %s/snap-00000000000000000005.snap %s/", other, dir);
    cr_assert_eq(system(cmd), 0);
    tsu_remove_dir(other);

    s = tsu_open(dir, &r, &opts);
    cr_assert_eq(r.snap_index, 5);
    cr_assert_eq(r.snap_term, 3);
    cr_assert_eq(r.n_entries, 0, "our entry 5 has term 1, not 3: the log is stale");
    cr_assert_eq(storage_last_index(s), 5);
    cr_assert_eq(tsu_count_files(dir, "wal-"), 0);
    cr_assert_not_null(strstr(rlog.text, "dropping"), "log: %s", rlog.text);
    tsu_append_range(s, 6, 6, 3);
    storage_close(s);
}

Test(wal_recovery, a_log_starting_after_the_snapshot_leaves_a_gap_and_is_refused)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &opts);
    cr_assert_eq(tsu_save_snapshot(s, 5, 1, "x"), STORAGE_OK);
    tsu_append_range(s, 6, 9, 1);
    storage_close(s);
    char snap[512];
    snprintf(snap, sizeof snap, "%s/snap-00000000000000000005.snap", dir);
    cr_assert_eq(unlink(snap), 0);
    char err[512] = "";
    open_expecting(STORAGE_ERR_CORRUPT, err, sizeof err);
    cr_assert_not_null(strstr(err, "wal-00000000000000000006.log"), "%s", err);
    cr_assert_not_null(strstr(err, "index gap"), "%s", err);
}

Test(wal_recovery, a_large_zero_filled_or_garbage_tail_is_cut_quickly, .timeout = 20)
{
    write_log(9);
    char seg[512];
    tsu_segment_path(dir, 0, seg, sizeof seg);
    size_t big = 16u << 20;
    uint8_t *junk = calloc(1, big);
    cr_assert_not_null(junk);
    tsu_append_bytes(seg, junk, big);
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &opts);
    cr_assert_eq(r.n_entries, 9);
    storage_close(s);

    /* A garbage tail: a write torn after its first bytes, then noise. */
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < (2u << 20); i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        junk[i] = (uint8_t)x;
    }
    tsu_append_bytes(seg, junk, 2u << 20);
    free(junk);
    s = tsu_open(dir, &r, &opts);
    cr_assert_eq(r.n_entries, 9);
    cr_assert_eq(tsu_file_size(seg), HDR + 9 * REC);
    storage_close(s);
}

/* ---- The tail's space allocated ahead of its records (wal.c) ---- */

Test(wal_recovery, the_tail_is_allocated_ahead_and_a_clean_close_gives_the_space_back)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &opts);
    tsu_append_range(s, 1, 9, 1);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    char seg[512];
    tsu_segment_path(dir, 0, seg, sizeof seg);
    cr_assert_gt(tsu_file_size(seg), HDR + 9 * REC, "allocated ahead of the records");
    storage_close(s);
    cr_assert_eq(tsu_file_size(seg), HDR + 9 * REC, "a clean close trims the tail");
    s = tsu_open(dir, &r, &opts);
    cr_assert_eq(r.n_entries, 9);
    cr_assert_eq(rlog.lines, 0, "a clean restart has nothing to report: %s", rlog.text);
    storage_close(s);
}

Test(wal_recovery, after_a_crash_the_unused_allocation_is_trimmed_and_every_synced_entry_kept)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &opts);
    tsu_append_range(s, 1, 9, 1);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    storage_abandon(s); /* kill -9 */
    s = tsu_open(dir, &r, &opts);
    cr_assert_eq(r.n_entries, 9);
    for (size_t i = 0; i < 9; i++)
        tsu_expect_entry(&r, i, i + 1, 1);
    cr_assert_not_null(strstr(rlog.text, "preallocated space"), "log: %s", rlog.text);
    /* Appends go on where the records end, not after the zeros. */
    tsu_append_range(s, 10, 12, 1);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    storage_abandon(s);
    s = tsu_open(dir, &r, &opts);
    cr_assert_eq(r.n_entries, 12);
    tsu_expect_entry(&r, 11, 12, 1);
    storage_close(s);
}

Test(wal_recovery, a_rolled_segment_ends_at_its_last_record_so_a_crash_after_the_roll_recovers)
{
    /* A snapshot covering part of the tail makes the next append start a
     * new segment while the old one, allocated megabytes ahead, still holds
     * needed entries. Zeros at the end of any segment but the last would be
     * damage, so the roll must trim it. */
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &opts);
    tsu_append_range(s, 1, 10, 1);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    cr_assert_eq(tsu_save_snapshot(s, 5, 1, "{}"), STORAGE_OK, "%s",
                 storage_error(s));
    tsu_append_range(s, 11, 12, 1);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    cr_assert_eq(tsu_count_files(dir, "wal-"), 2, "the append rolled to a new segment");
    storage_abandon(s);
    s = tsu_open(dir, &r, &opts);
    cr_assert_eq(r.n_entries, 7, "entries 6..12");
    tsu_expect_entry(&r, 0, 6, 1);
    tsu_expect_entry(&r, 6, 12, 1);
    storage_close(s);
}
