/* test_storage_meta.c - the hard-state file with one slot damaged: the store
 * restarts above every term the lost slot may have held, with no vote, says
 * so naming the file, and repairs the slot; a term jump past the ceiling
 * first raises it. Values are literal: slots are 512 bytes, the term sits
 * at byte 16 of a slot, the ceiling runs 16 terms ahead. */
#include "storage/crc32c.h"
#include "test_storage_util.h"

static char dir[256];
static char meta[300];
static struct tsu_log mlog;
static struct storage_options opts;

static void setup(void)
{
    tsu_make_dir(dir, sizeof dir);
    snprintf(meta, sizeof meta, "%s/meta", dir);
    memset(&mlog, 0, sizeof mlog);
    memset(&opts, 0, sizeof opts);
    opts.log = tsu_log_line;
    opts.log_ctx = &mlog;
}

static void teardown(void)
{
    tsu_remove_dir(dir);
}

TestSuite(storage_meta, .init = setup, .fini = teardown);

/* Sync each (term, vote) in turn, then close. */
static void save_states(const raft_term *terms, const int *votes, int n)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &opts);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(storage_set_hard_state(s, terms[i], votes[i]), STORAGE_OK);
        cr_assert_eq(storage_sync(s), STORAGE_OK, "%s", storage_error(s));
    }
    storage_close(s);
}

static void reopen_expecting(raft_term term, int vote)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &opts);
    cr_assert_eq(r.term, term, "term %" PRIu64 ", want %" PRIu64, r.term, term);
    cr_assert_eq(r.voted_for, vote, "vote %d, want %d", r.voted_for, vote);
    storage_close(s);
}

static void expect_warning(const char *offset, const char *term)
{
    cr_assert_eq(mlog.lines, 1, "%s", mlog.text);
    cr_assert_not_null(strstr(mlog.text, "warning"), "%s", mlog.text);
    cr_assert_not_null(strstr(mlog.text, meta), "names the file: %s", mlog.text);
    cr_assert_not_null(strstr(mlog.text, offset), "%s", mlog.text);
    cr_assert_not_null(strstr(mlog.text, term), "%s", mlog.text);
    cr_assert_not_null(strstr(mlog.text, "no vote"), "%s", mlog.text);
}

/* A new file holds seq 0 in slot 0 and seq 1 in slot 1, so the first save
 * goes to slot 0 and the second to slot 1. */
Test(storage_meta, a_damaged_newest_slot_restarts_above_its_ceiling_with_no_vote)
{
    save_states((raft_term[]){3, 4}, (int[]){1, 2}, 2);
    tsu_xor_byte(meta, 512 + 16, 0xff); /* (4, 2), the newest */
    mlog.lines = 0;
    /* Not (3, 1): the lost slot held term 4 and a vote that may have been
     * sent. Not (5, none) either: it might have held any term up to 16. */
    reopen_expecting(17, -1);
    expect_warning("offset 512", "term 17");

    /* The lost slot was rewritten: the next start is quiet and the same. */
    memset(&mlog, 0, sizeof mlog);
    reopen_expecting(17, -1);
    cr_assert_eq(mlog.lines, 0, "%s", mlog.text);
}

Test(storage_meta, a_damaged_older_slot_cannot_be_told_apart_and_is_treated_alike)
{
    save_states((raft_term[]){3, 4}, (int[]){1, 2}, 2);
    tsu_xor_byte(meta, 0 + 16, 0xff); /* (3, 1) */
    reopen_expecting(17, -1);
    expect_warning("offset 0", "term 17");
}

/* One save may jump the term far (a message from a node at a higher term):
 * the slot left in place must bound it before it is written. */
Test(storage_meta, a_term_past_the_ceiling_raises_it_first_with_one_extra_sync)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &opts);
    struct storage_stats before, after;
    storage_get_stats(s, &before);
    cr_assert_eq(storage_set_hard_state(s, 40, 1), STORAGE_OK);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    storage_get_stats(s, &after);
    cr_assert_eq(after.fsyncs - before.fsyncs, 2, "ceiling, then the state");
    before = after;
    cr_assert_eq(storage_set_hard_state(s, 56, 2), STORAGE_OK); /* within 40 + 16 */
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    storage_get_stats(s, &after);
    cr_assert_eq(after.fsyncs - before.fsyncs, 1);
    storage_close(s);
    reopen_expecting(56, 2);

    /* (40, 1) went to slot 1 after the raise in slot 0, then (56, 2) to
     * slot 0. Lose it: slot 1's ceiling is 56. */
    tsu_xor_byte(meta, 0 + 16, 0xff);
    reopen_expecting(57, -1);
}

Test(storage_meta, the_worst_case_a_lost_slot_far_above_the_survivor_is_still_covered)
{
    /* Slot 0: the raise (term 0, ceiling 56); slot 1: (40, 1). */
    save_states((raft_term[]){40}, (int[]){1}, 1);
    tsu_xor_byte(meta, 512 + 16, 0xff);
    reopen_expecting(57, -1); /* above 40, the vote that may have been sent */
    expect_warning("offset 512", "term 57");
}

Test(storage_meta, a_restart_written_over_the_lost_slot_can_itself_be_lost)
{
    save_states((raft_term[]){3, 4}, (int[]){1, 2}, 2);
    tsu_xor_byte(meta, 512 + 16, 0xff);
    reopen_expecting(17, -1); /* (17, none, ceiling 33) written to slot 1 */
    tsu_xor_byte(meta, 512 + 16, 0xff);
    reopen_expecting(17, -1); /* slot 0 again: what slot 1 held */
    tsu_xor_byte(meta, 0 + 16, 0xff);
    reopen_expecting(34, -1); /* slot 1's ceiling 33, plus one */
}

Test(storage_meta, votes_after_a_restart_from_one_slot_are_kept)
{
    save_states((raft_term[]){3, 4}, (int[]){1, 2}, 2);
    tsu_xor_byte(meta, 512 + 16, 0xff);
    save_states((raft_term[]){17, 18}, (int[]){0, 2}, 2);
    cr_assert_eq(mlog.lines, 1, "%s", mlog.text);
    reopen_expecting(18, 2);
}

Test(storage_meta, both_slots_damaged_refuses_to_start)
{
    save_states((raft_term[]){3}, (int[]){1}, 1);
    tsu_xor_byte(meta, 0 + 16, 0xff);
    tsu_xor_byte(meta, 512 + 16, 0xff);
    struct storage *s = NULL;
    struct raft_restore r;
    char err[512] = "";
    cr_assert_eq(storage_open(dir, &opts, &s, &r, err, sizeof err), STORAGE_ERR_CORRUPT);
    cr_assert_not_null(strstr(err, meta), "%s", err);
    cr_assert_not_null(strstr(err, "both"), "%s", err);
}

/* The format, byte for byte: version 2, the ceiling at byte 32, the CRC32C
 * of the 40 bytes before it at byte 40. */
Test(storage_meta, a_new_file_records_a_ceiling_16_terms_ahead)
{
    save_states(NULL, NULL, 0);
    uint8_t file[1024];
    int fd = open(meta, O_RDONLY);
    cr_assert_eq(pread(fd, file, sizeof file, 0), 1024);
    close(fd);
    for (int i = 0; i < 2; i++) {
        const uint8_t *p = file + 512 * i;
        cr_assert_eq(memcmp(p, "MET", 3), 0);
        cr_assert_eq(p[4], 2, "version");
        cr_assert_eq(p[8], i, "seq");
        cr_assert_eq(p[32], 16, "ceiling");
        uint32_t crc = (uint32_t)p[40] | (uint32_t)p[41] << 8 | (uint32_t)p[42] << 16 |
                       (uint32_t)p[43] << 24;
        cr_assert_eq(crc, crc32c(p, 40));
    }
}

/* A version 1 slot (no ceiling, CRC at byte 32) as earlier builds wrote it. */
static void put_v1_slot(uint8_t *p, uint64_t seq, uint64_t term, int vote)
{
    memset(p, 0, 512);
    memcpy(p, "META", 4);
    p[4] = 1;
    for (int i = 0; i < 8; i++) {
        p[8 + i] = (uint8_t)(seq >> (8 * i));
        p[16 + i] = (uint8_t)(term >> (8 * i));
        p[24 + i] = (uint8_t)((uint64_t)(int64_t)vote >> (8 * i));
    }
    uint32_t crc = crc32c(p, 32);
    for (int i = 0; i < 4; i++)
        p[32 + i] = (uint8_t)(crc >> (8 * i));
}

static void write_v1_file(void)
{
    save_states(NULL, NULL, 0); /* the directory and its lock file */
    uint8_t file[1024];
    put_v1_slot(file, 6, 5, 1);
    put_v1_slot(file + 512, 7, 6, 2);
    int fd = open(meta, O_WRONLY | O_TRUNC);
    cr_assert_eq(write(fd, file, sizeof file), 1024);
    close(fd);
}

Test(storage_meta, an_older_format_file_is_read_and_a_new_term_raises_a_ceiling)
{
    write_v1_file();
    reopen_expecting(6, 2);
    save_states((raft_term[]){7}, (int[]){0}, 1); /* raise in slot 0, (7, 0) in slot 1 */
    tsu_xor_byte(meta, 512 + 16, 0xff);
    reopen_expecting(24, -1); /* the raise's ceiling 7 + 16, plus one */
}

Test(storage_meta, an_older_format_survivor_bounds_nothing_and_refuses_to_start)
{
    write_v1_file();
    tsu_xor_byte(meta, 512 + 16, 0xff);
    struct storage *s = NULL;
    struct raft_restore r;
    char err[512] = "";
    cr_assert_eq(storage_open(dir, &opts, &s, &r, err, sizeof err), STORAGE_ERR_CORRUPT);
    cr_assert_not_null(strstr(err, meta), "%s", err);
    cr_assert_not_null(strstr(err, "offset 512"), "%s", err);
    cr_assert_not_null(strstr(err, "vote twice"), "%s", err);
}
