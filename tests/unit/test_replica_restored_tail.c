/* test_replica_restored_tail.c - a restart's log tail defers periodic
 * snapshots only while it is the log (replica.c's snapshot_due and
 * restored_index, lowered in apply.c): when a new leader's entries replace
 * part of a restarted member's uncommitted tail, or its snapshot replaces
 * the whole log, the member takes its periodic snapshot as soon as it is
 * due among the leader's entries, not only once it has applied as far as
 * the old tail reached.
 *
 * Node 0 of 3 restarts with writes 1..tail of term 1 in its log (none known
 * committed); n1, leader of term 2, sends what the test says. One entry is
 * applied a flush (apply_batch 1), a snapshot is due every 50 entries, and
 * each background snapshot ends at the next flush. */
#include "replica_test_util.h"
#include "storage/storage_replica.h"
#include "test_storage_util.h"

enum { RT_SNAP_EVERY = 50 };

static raft_index rt_started[8];
static int rt_n_started;

static int rt_snapshot_start(void *ctx, raft_index index, raft_term term)
{
    (void)ctx, (void)term;
    if (rt_n_started < 8)
        rt_started[rt_n_started] = index;
    rt_n_started++;
    return 0;
}

static void rt_complete(void *ctx, uint64_t ref, const struct replica_result *res)
{
    (void)ctx, (void)ref, (void)res;
}

static void rt_send(void *ctx, const struct raft_msg *m)
{
    (void)ctx, (void)m;
}

struct rt_member {
    char dir[256];
    struct storage *s;
    struct replica_log_store ls;
    struct replica *rep;
};

/* Node 0 of 3 restarted from a log of writes 1..tail, term 1. */
static void rt_restart(struct rt_member *m, raft_index tail)
{
    tsu_make_dir(m->dir, sizeof m->dir);
    struct raft_restore r;
    m->s = tsu_open(m->dir, &r, NULL);
    cr_assert_eq(storage_set_hard_state(m->s, 1, 0), STORAGE_OK);
    rtu_append_writes(m->s, 1, tail, 1);
    cr_assert_eq(storage_sync(m->s), STORAGE_OK);
    storage_close(m->s);
    m->s = tsu_open(m->dir, &r, NULL);
    cr_assert_eq(r.n_entries, (size_t)tail);
    storage_replica_log_store(m->s, &m->ls);
    struct replica_config c;
    replica_config_default(&c, 0, 3, 5);
    c.send = rt_send;
    c.complete = rt_complete;
    c.store = &m->ls;
    c.snapshot_threshold = RT_SNAP_EVERY;
    c.snapshot_log_percent = 0;
    c.snapshot_start = rt_snapshot_start;
    c.snapshot_stagger_members = 1;
    c.apply_batch = 1;
    rt_n_started = 0;
    m->rep = replica_new(&c, 0);
    cr_assert_not_null(m->rep);
    storage_release_restore(m->s);
    cr_assert_eq(replica_last_index(m->rep), tail);
    cr_assert_eq(replica_commit_index(m->rep), 0, "nothing of the tail is known committed");
}

/* n1's APPEND of term 2: after (prev, prev_term), entries first..last of
 * term 2 (entry i writes "k" = 1000 + i), committing `commit`. */
static void rt_append(struct rt_member *m, raft_index prev, raft_term prev_term, raft_index first,
                      raft_index last, raft_index commit)
{
    size_t n = (size_t)(last - first + 1);
    struct raft_entry *e = calloc(n, sizeof *e);
    cr_assert_not_null(e);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        e[i] = (struct raft_entry){.term = 2, .index = first + i, .type = RAFT_ENTRY_COMMAND};
        e[i].data = rtu_write_payload(1000 + (json_int_t)(first + i), &len);
        e[i].len = (uint32_t)len;
    }
    struct raft_msg a = rtu_from_peer(1, RAFT_MSG_APPEND, 2);
    a.prev_index = prev;
    a.prev_term = prev_term;
    a.entries = e;
    a.n_entries = n;
    a.commit = commit;
    cr_assert_eq(replica_receive(m->rep, &a, 1), 0);
    for (size_t i = 0; i < n; i++)
        free(e[i].data);
    free(e);
    cr_assert_eq(replica_leader(m->rep), 1);
    cr_assert_eq(replica_last_index(m->rep), last);
    cr_assert_eq(replica_entry_at(m->rep, first)->term, 2, "the leader's entry replaced ours");
}

/* Flushes until `applied` is reached, each background snapshot ended at
 * the next flush; the clock stays put, so n1 stays the leader. */
static void rt_apply_to(struct rt_member *m, raft_index applied)
{
    int done = 0;
    for (int k = 0; k < 4 * (int)applied + 100 && replica_applied_index(m->rep) < applied; k++) {
        rtu_flush(m->rep, 1);
        if (rt_n_started > done && replica_snapshot_running(m->rep)) {
            replica_snapshot_done(m->rep, rt_started[done], 0, 1);
            done++;
        }
    }
    cr_assert_eq(replica_applied_index(m->rep), applied);
    rtu_flush(m->rep, 1);
}

static void rt_free(struct rt_member *m)
{
    replica_free(m->rep);
    storage_close(m->s);
    tsu_remove_dir(m->dir);
}

/* Exactly n snapshots started, at want[0..n-1]; then the member goes. */
static void rt_expect_started(struct rt_member *m, int n, const raft_index *want)
{
    cr_assert_eq(rt_n_started, n, "%d snapshots, the first at %llu", rt_n_started,
                 (unsigned long long)rt_started[0]);
    for (int i = 0; i < n; i++)
        cr_assert_eq(rt_started[i], want[i], "snapshot %d at %llu, want %llu", i,
                     (unsigned long long)rt_started[i], (unsigned long long)want[i]);
    rt_free(m);
}

Test(replica_restored_tail, entries_that_replace_the_tail_end_its_deferral_where_they_begin)
{
    /* A tail of 300; the leader agrees up to 50 and replaces 51.. with
     * 51..150 of its own. The snapshots come due at 50, 100 and 150; the
     * old tail's 300 is never reached. */
    struct rt_member m;
    rt_restart(&m, 300);
    rt_append(&m, 50, 1, 51, 150, 150);
    rt_apply_to(&m, 150);
    rt_expect_started(&m, 3, (const raft_index[]){50, 100, 150});
}

Test(replica_restored_tail, an_entry_that_replaces_the_tails_last_ends_its_deferral_before_it)
{
    /* A tail of 51; the leader replaces exactly its last entry. Due at 50,
     * where what is left of the tail ends: it starts there, not at 51. */
    struct rt_member m;
    rt_restart(&m, 51);
    rt_append(&m, 50, 1, 51, 60, 60);
    rt_apply_to(&m, 60);
    rt_expect_started(&m, 1, (const raft_index[]){50});
}

Test(replica_restored_tail, entries_that_continue_the_tail_keep_its_deferral)
{
    /* The leader holds the whole tail of 120 (term 1) and adds 121..160:
     * nothing of the tail is replaced, so no snapshot starts before 120,
     * where it is due (past 50 and 100), and the next 50 later, at 170. */
    struct rt_member m;
    rt_restart(&m, 120);
    rt_append(&m, 120, 1, 121, 170, 170);
    rt_apply_to(&m, 170);
    rt_expect_started(&m, 2, (const raft_index[]){120, 170});
}

Test(replica_restored_tail, a_leaders_snapshot_that_replaces_the_log_ends_its_deferral)
{
    /* A tail of 300 of term 1; the leader's snapshot at 100 of term 2
     * replaces the whole log, and its entries 101..200 follow. Periodic
     * snapshots come due at 150 and 200, counted from the installed one. */
    struct rt_member m;
    rt_restart(&m, 300);
    size_t len;
    uint8_t *image = tsu_image(100, 2, "theirs", &len);
    struct raft_msg sm = rtu_from_peer(1, RAFT_MSG_SNAPSHOT, 2);
    sm.snap_index = 100;
    sm.snap_term = 2;
    sm.snap_data = image;
    sm.snap_len = len;
    cr_assert_eq(replica_receive(m.rep, &sm, 1), 0);
    free(image);
    rtu_flush(m.rep, 1);
    cr_assert_eq(replica_applied_index(m.rep), 100, "the snapshot is installed");
    cr_assert_eq(replica_last_index(m.rep), 100, "and the old tail is gone");
    rt_append(&m, 100, 2, 101, 200, 200);
    rt_apply_to(&m, 200);
    rt_expect_started(&m, 2, (const raft_index[]){150, 200});
}
