/* test_storage_commit.c - the commit index in the log (storage_set_commit,
 * wal.h's commit marks): it rides on syncs that write entries anyway,
 * comes back from a reopen, is never past the entries before it, and what
 * a torn tail leaves of it is at most the true value; a replica restarted
 * over it applies that much before any election. */
#include "storage/storage_replica.h"
#include "storage/wal_format.h"
#include "wal_test_fixture.h"

TestSuite(storage_commit, .init = wal_fixture_setup, .fini = wal_fixture_teardown);

/* A commit mark is a 25-byte record. */
#define MARK 25

static uint64_t fsyncs(const struct storage *s)
{
    struct storage_stats st;
    storage_get_stats(s, &st);
    return st.fsyncs;
}

static raft_index reopened_commit(size_t *n_entries)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &opts);
    raft_index c = r.commit;
    if (n_entries)
        *n_entries = r.n_entries;
    storage_abandon(s);
    return c;
}

Test(storage_commit, the_commit_index_survives_a_crash_after_the_sync_that_wrote_it)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &opts);
    cr_assert_eq(r.commit, 0);
    tsu_append_range(s, 1, 9, 1);
    cr_assert_eq(storage_set_commit(s, 7), STORAGE_OK);
    uint64_t before = fsyncs(s);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    cr_assert_eq(fsyncs(s) - before, 2, "the log and the new file's directory, nothing more");
    storage_abandon(s); /* kill -9 */
    size_t n;
    cr_assert_eq(reopened_commit(&n), 7);
    cr_assert_eq(n, 9, "the mark is no entry");
    s = tsu_open(dir, &r, &opts);
    storage_close(s); /* trims the space allocated ahead; no mark to add */
    char seg[512];
    tsu_segment_path(dir, 0, seg, sizeof seg);
    cr_assert_eq(tsu_file_size(seg), HDR + 9 * REC + MARK, "one mark after the entries");
}

Test(storage_commit, a_mark_rides_only_on_a_sync_that_writes_entries)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &opts);
    tsu_append_range(s, 1, 5, 1);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    cr_assert_eq(storage_set_commit(s, 5), STORAGE_OK);
    uint64_t before = fsyncs(s);
    struct storage_sync_job job;
    cr_assert_eq(storage_sync_begin(s, &job), STORAGE_OK, "no background sync for it alone");
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    cr_assert_eq(fsyncs(s), before, "a commit index alone costs no sync");
    tsu_append_range(s, 6, 6, 1);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    cr_assert_eq(fsyncs(s) - before, 1, "and rides on the next one: one fdatasync");
    /* Entries came, the commit index did not move: no second mark. */
    tsu_append_range(s, 7, 7, 1);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    storage_close(s);
    char seg[512];
    tsu_segment_path(dir, 0, seg, sizeof seg);
    cr_assert_eq(tsu_file_size(seg), HDR + 7 * REC + MARK);
    cr_assert_eq(reopened_commit(NULL), 5);
}

Test(storage_commit, a_mark_is_never_past_the_last_entry)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &opts);
    tsu_append_range(s, 1, 5, 1);
    cr_assert_eq(storage_set_commit(s, 9), STORAGE_OK);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    storage_close(s);
    cr_assert_eq(reopened_commit(NULL), 5);
    cr_assert_eq(rlog.lines, 0, "nothing cut: %s", rlog.text);
}

Test(storage_commit, a_clean_close_marks_the_latest_commit_index)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &opts);
    tsu_append_range(s, 1, 8, 1);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    cr_assert_eq(storage_set_commit(s, 8), STORAGE_OK); /* learnt after the last sync */
    storage_close(s);
    char seg[512];
    tsu_segment_path(dir, 0, seg, sizeof seg);
    off_t size = tsu_file_size(seg);
    cr_assert_eq(size, HDR + 8 * REC + MARK);
    s = tsu_open(dir, &r, &opts);
    cr_assert_eq(r.commit, 8);
    storage_close(s); /* nothing new to mark */
    cr_assert_eq(tsu_file_size(seg), size);
    cr_assert_eq(reopened_commit(NULL), 8);
}

static void write_file(const char *path, const uint8_t *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
}

/* Three batches, each synced with the commit index known before it (as a
 * replica does: the mark lags a batch): 1..4 (none), 5..8 (mark 4), 9..12
 * (mark 8). Cut the file at every byte: the commit index read back is a
 * mark whose entries all survived, never more. */
Test(storage_commit, a_torn_tail_gives_a_commit_index_no_larger_than_the_true_one)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &opts);
    for (raft_index first = 1; first <= 9; first += 4) {
        tsu_append_range(s, first, first + 3, 1);
        cr_assert_eq(storage_set_commit(s, first - 1), STORAGE_OK);
        cr_assert_eq(storage_sync(s), STORAGE_OK);
    }
    storage_close(s); /* trims the space allocated ahead; no mark to add */
    char seg[512];
    tsu_segment_path(dir, 0, seg, sizeof seg);
    size_t full = (size_t)tsu_file_size(seg);
    /* 12 entries of 39 or 40 bytes ("entry 10 term 1" is 15) and 2 marks. */
    cr_assert_eq(full, HDR + 9 * REC + 3 * (REC + 1) + 2 * MARK);
    uint8_t *bytes = malloc(full);
    int fd = open(seg, O_RDONLY);
    cr_assert_eq(read(fd, bytes, full), (ssize_t)full);
    close(fd);
    size_t mark4_end = HDR + 8 * REC + MARK, mark8_end = full;
    for (size_t cut = full; cut >= HDR; cut--) {
        write_file(seg, bytes, cut);
        size_t n;
        raft_index c = reopened_commit(&n);
        raft_index want = cut >= mark8_end ? 8 : cut >= mark4_end ? 4 : 0;
        cr_assert_eq(c, want, "cut at %zu: commit %llu, want %llu", cut, (unsigned long long)c,
                     (unsigned long long)want);
        cr_assert_leq(c, n, "cut at %zu: commit %llu past the %zu entries left", cut,
                      (unsigned long long)c, n);
    }
    write_file(seg, bytes, full);
    free(bytes);
}

/* A conflicting suffix cut by a new leader takes the marks after it along;
 * the ones before stay (every commit index is below the cut). */
/* Entries 1..8 of term 1 with mark 3 after entry 6 and mark 6 after entry
 * 8, then entries 8..9 of term 2, which cut entry 8 and mark 6 (the cut is
 * durable at once; the new entries are only buffered). */
static struct storage *cut_after_marks(void)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &opts);
    tsu_append_range(s, 1, 6, 1);
    cr_assert_eq(storage_set_commit(s, 3), STORAGE_OK);
    cr_assert_eq(storage_sync(s), STORAGE_OK); /* mark 3 after entry 6 */
    tsu_append_range(s, 7, 8, 1);
    cr_assert_eq(storage_set_commit(s, 6), STORAGE_OK);
    cr_assert_eq(storage_sync(s), STORAGE_OK); /* mark 6 after entry 8 */
    tsu_append_range(s, 8, 9, 2);              /* cuts 8 and mark 6 */
    return s;
}

Test(storage_commit, cutting_a_conflicting_suffix_keeps_the_marks_before_it)
{
    storage_abandon(cut_after_marks());
    size_t n;
    cr_assert_eq(reopened_commit(&n), 3);
    cr_assert_eq(n, 7);
}

/* The mark the cut took is written again by the next sync with entries:
 * the store still knows commit index 6, and entry 6 is still in the log. */
Test(storage_commit, a_sync_after_a_cut_marks_the_commit_index_again)
{
    struct storage *s = cut_after_marks();
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    storage_abandon(s);
    size_t n;
    cr_assert_eq(reopened_commit(&n), 6);
    cr_assert_eq(n, 9);
    struct raft_restore r;
    s = tsu_open(dir, &r, &opts);
    tsu_expect_entry(&r, 5, 6, 1);
    tsu_expect_entry(&r, 6, 7, 1);
    tsu_expect_entry(&r, 7, 8, 2);
    storage_close(s);
}

/* A mark naming an entry the log does not hold with that term was not
 * written by this store: at the end of the log it is cut as a torn tail
 * is, before a valid record it stops the open. */
Test(storage_commit, a_mark_that_contradicts_the_log_is_not_taken)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &opts);
    tsu_append_range(s, 1, 3, 1);
    storage_close(s);
    char seg[512];
    tsu_segment_path(dir, 0, seg, sizeof seg);
    uint8_t mark[MARK];
    wal_encode_commit(mark, 2, 9); /* entry 2 is of term 1 */
    tsu_append_bytes(seg, mark, sizeof mark);
    size_t n;
    cr_assert_eq(reopened_commit(&n), 0);
    cr_assert_eq(n, 3);
    cr_assert_not_null(strstr(rlog.text, "commit mark for index 2 term 9"), "log: %s", rlog.text);
    cr_assert_eq(tsu_file_size(seg), HDR + 3 * REC);

    wal_encode_commit(mark, 7, 1); /* past the log's end */
    tsu_append_bytes(seg, mark, sizeof mark);
    cr_assert_eq(reopened_commit(&n), 0);
    cr_assert_eq(tsu_file_size(seg), HDR + 3 * REC);

    wal_encode_commit(mark, 2, 1); /* a true one still counts */
    tsu_append_bytes(seg, mark, sizeof mark);
    cr_assert_eq(reopened_commit(&n), 2);
}

/* A lent entry a mark follows has its own length, not the distance to the
 * next entry, both while the store runs and after a reopen. */
Test(storage_commit, an_entry_a_mark_follows_is_lent_with_its_own_length)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &opts);
    tsu_append_range(s, 1, 4, 1);
    cr_assert_eq(storage_set_commit(s, 2), STORAGE_OK);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    tsu_append_range(s, 5, 6, 1);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    struct raft_entry out[6];
    cr_assert_eq(storage_lend(s, 1, 6, out), 6);
    struct raft_restore lent = {.entries = out, .n_entries = 6};
    for (size_t i = 0; i < 6; i++)
        tsu_expect_entry(&lent, i, i + 1, 1);
    storage_lend_release(s, 1, 0);
    storage_close(s);

    s = tsu_open(dir, &r, &opts);
    storage_release_restore(s);
    tsu_append_range(s, 7, 7, 1);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    cr_assert_eq(storage_lend(s, 3, 5, out), 5);
    lent.n_entries = 5;
    for (size_t i = 0; i < 5; i++)
        tsu_expect_entry(&lent, i, i + 3, 1);
    storage_lend_release(s, 1, 0);
    storage_close(s);
}

/* ---- a replica restarted over the mark ------------------------------- */

static int n_done;

static void on_send(void *ctx, const struct raft_msg *m)
{
    (void)ctx, (void)m;
}

static void on_complete(void *ctx, uint64_t ref, const struct replica_result *res)
{
    (void)ctx, (void)ref;
    if (res->status == REPLICA_DONE && res->kv.code == KV_OK)
        n_done++;
}

static struct replica *start(struct storage **st, int n_nodes, uint64_t now)
{
    struct raft_restore restore;
    *st = tsu_open(dir, &restore, &opts);
    static struct replica_log_store ls;
    storage_replica_log_store(*st, &ls);
    struct replica_config c;
    replica_config_default(&c, 0, n_nodes, 42);
    c.send = on_send;
    c.complete = on_complete;
    c.store = &ls;
    c.snapshot_threshold = 0;
    c.raft.verify_lent = true;
    struct replica *r = replica_new(&c, now);
    cr_assert_not_null(r);
    storage_release_restore(*st);
    return r;
}

static void write_keys(struct replica *r, struct storage *st, int first, int count, uint64_t *now)
{
    int want = n_done + count;
    for (int i = first; i < first + count; i++) {
        json_t *key = json_integer(i), *value = json_integer(i * 10);
        struct kv_command c = {.op = KV_WRITE, .key = key, .value = value};
        replica_submit(r, (uint64_t)i, &c, *now);
        json_decref(key);
        json_decref(value);
    }
    for (int i = 0; i < 1000 && n_done < want; i++) {
        cr_assert_eq(replica_flush(r, *now), 0, "%s", storage_error(st));
        *now += 1;
        replica_tick(r, *now);
    }
    cr_assert_eq(n_done, want);
}

static bool has_key(const struct replica *r, int key)
{
    json_t *k = json_integer(key);
    struct kv_command c = {.op = KV_READ, .key = k};
    struct kv_result res;
    kv_apply((struct kv_store *)replica_store(r), &c, 0, &res);
    bool ok = res.code == KV_OK && json_is_integer(res.value) &&
              json_integer_value(res.value) == key * 10;
    json_decref(res.value);
    json_decref(k);
    return ok;
}

Test(storage_commit, a_replica_restarted_applies_its_stored_commit_before_any_election)
{
    n_done = 0;
    struct storage *st;
    uint64_t now = 0;
    struct replica *r = start(&st, 1, now);
    for (int i = 0; i < 1000 && replica_role(r) != RAFT_LEADER; i++) {
        now += 10;
        replica_tick(r, now);
        cr_assert_eq(replica_flush(r, now), 0);
    }
    cr_assert_eq(replica_role(r), RAFT_LEADER);
    write_keys(r, st, 0, 20, &now);
    write_keys(r, st, 20, 20, &now);
    raft_index commit = replica_commit_index(r);
    cr_assert_geq(commit, 41, "the no-op and 40 writes");
    replica_free(r);
    storage_abandon(st); /* kill -9: no mark at a close */

    /* As one of three (it cannot elect itself alone), at the same time:
     * no timer is due, no message comes, and still the first flush
     * applies what the marks said was committed. */
    r = start(&st, 3, now);
    cr_assert_eq(replica_deadline(r), 0, "a backlog to apply at once");
    cr_assert_geq(replica_commit_index(r), 21, "at least the first batch was marked");
    cr_assert_leq(replica_commit_index(r), commit);
    cr_assert_eq(replica_flush(r, now), 0);
    cr_assert_eq(replica_role(r), RAFT_FOLLOWER);
    cr_assert_eq(replica_applied_index(r), replica_commit_index(r));
    for (int i = 0; i < 20; i++)
        cr_assert(has_key(r, i), "key %d applied before any election", i);
    replica_free(r);
    storage_abandon(st);
}
