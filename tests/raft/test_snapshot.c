/* test_snapshot.c - log compaction and InstallSnapshot (thesis chapter 5):
 * the core keeps the image, compacts behind it, sends it to a follower
 * that fell behind the log, and restarts from it. One behaviour each.
 */
#include <criterion/criterion.h>

#include "../lib/cluster.h"
#include "../lib/solo.h"

#define ASSERT_SAFE(c) cr_assert(cluster_ok(c), "%s", cluster_error(c))

/* Thesis 5.1 */
Test(snapshot, snapshot_compacts_the_log_behind_it)
{
    struct raft_config cfg;
    raft_config_default(&cfg, 0, 1, 42);
    cfg.snapshot_trailing = 64;
    struct solo s;
    solo_init_config(&s, &cfg, NULL);
    solo_tick(&s, raft_deadline(s.r));
    for (int i = 0; i < 4; i++)
        solo_propose(&s, 100);
    solo_persisted_all(&s);
    cr_assert_eq(raft_applied_index(s.r), 401);
    uint8_t image[3] = {1, 2, 3};
    struct raft_event e = {.type = RAFT_EVENT_SNAPSHOT, .now_ms = s.now};
    e.snapshot.index = 400;
    e.snapshot.data = image;
    e.snapshot.len = 3;
    cr_assert_eq(raft_step(s.r, &e, &s.u), RAFT_OK);
    cr_assert_eq(raft_snapshot_index(s.r), 400);
    cr_assert_null(raft_entry_at(s.r, 336), "compacted");
    cr_assert_not_null(raft_entry_at(s.r, 337), "snapshot_trailing entries are kept");
    cr_assert_not_null(raft_entry_at(s.r, 401));
    /* An image beyond what was applied is a driver error. */
    e.snapshot.index = 402;
    cr_assert_eq(raft_step(s.r, &e, &s.u), RAFT_ERR_INVALID);
    solo_free(&s);
}

/* Thesis 5.3 (InstallSnapshot) */
Test(snapshot, lagging_follower_catches_up_through_a_snapshot)
{
    struct raft_config base;
    raft_config_default(&base, 0, 3, 41);
    base.snapshot_trailing = 10;
    struct cluster *c = cluster_new_config(3, 41, &base);
    cluster_set_snapshot_every(c, 50);
    int leader = cluster_wait_leader(c, 2000);
    cr_assert_geq(leader, 0);
    int lag = (leader + 1) % 3;
    cluster_crash(c, lag);
    uint64_t op = 0;
    for (int i = 0; i < 300; i++) {
        op = cluster_submit(c, leader, CLUSTER_WRITE, i % 4, i, 0, 0);
        if (i % 10 == 0)
            cluster_elapse(c, 5);
    }
    (void)op;
    cluster_elapse(c, 200);
    cr_assert_gt(raft_snapshot_index(cluster_raft(c, leader)), 200);
    cluster_restart(c, lag);
    raft_index target = raft_commit_index(cluster_raft(c, leader));
    cr_assert(cluster_wait_applied(c, target, 3000));
    ASSERT_SAFE(c);
    cr_assert_geq(cluster_msgs_sent(c, RAFT_MSG_SNAPSHOT), 1);
    cr_assert_gt(raft_snapshot_index(cluster_raft(c, lag)), 0, "it installed the image");
    for (int k = 0; k < 4; k++) {
        int32_t a, b;
        cr_assert(cluster_sm_get(c, leader, k, &a) && cluster_sm_get(c, lag, k, &b));
        cr_assert_eq(a, b, "key %d", k);
    }
    cluster_free(c);
}

/* Thesis 5.3: install keeps a matching suffix, drops a conflicting log */
Test(snapshot, installing_a_snapshot_replaces_a_log_that_does_not_hold_it)
{
    struct raft_entry ents[2] = {{.term = 1, .index = 1}, {.term = 1, .index = 2}};
    struct raft_restore rs = {.term = 1, .voted_for = RAFT_NO_NODE, .entries = ents,
                              .n_entries = 2};
    struct solo s;
    solo_init(&s, 3, &rs);
    uint8_t image[2] = {9, 9};
    struct raft_msg m = solo_from(1, RAFT_MSG_SNAPSHOT, 3);
    m.snap_index = 10;
    m.snap_term = 2;
    m.snap_data = image;
    m.snap_len = 2;
    solo_recv(&s, &m);
    cr_assert(s.u.flags & RAFT_UPDATE_SNAPSHOT);
    cr_assert_eq(s.u.snap_index, 10);
    cr_assert_eq(s.u.snap_len, 2);
    cr_assert_eq(raft_last_index(s.r), 10);
    cr_assert_eq(raft_commit_index(s.r), 10);
    cr_assert_eq(raft_applied_index(s.r), 10);
    cr_assert_eq(s.u.n_committed, 0, "the image replaces applying 1..10");
    const struct raft_msg *resp = solo_msg(&s, RAFT_MSG_SNAPSHOT_RESP, 1);
    cr_assert(resp && resp->success && resp->match_index == 10);
    /* Entries after it now follow on from the snapshot. */
    struct raft_entry next = {.term = 3, .index = 11};
    struct raft_msg a = solo_from(1, RAFT_MSG_APPEND, 3);
    a.prev_index = 10;
    a.prev_term = 2;
    a.entries = &next;
    a.n_entries = 1;
    solo_recv(&s, &a);
    cr_assert(solo_msg(&s, RAFT_MSG_APPEND_RESP, 1)->success);
    solo_free(&s);
}

/* InstallSnapshot: a suffix is kept only when our entry at the snapshot's
 * index has the snapshot's term; one of another term conflicts with it. */
Test(snapshot, installing_a_snapshot_drops_a_suffix_whose_term_conflicts)
{
    struct raft_entry ents[3] = {{.term = 1, .index = 1}, {.term = 1, .index = 2},
                                 {.term = 1, .index = 3}};
    struct raft_restore rs = {.term = 1, .voted_for = RAFT_NO_NODE, .entries = ents,
                              .n_entries = 3};
    struct solo s;
    solo_init(&s, 3, &rs);
    uint8_t image[1] = {4};
    struct raft_msg m = solo_from(1, RAFT_MSG_SNAPSHOT, 3);
    m.snap_index = 2;
    m.snap_term = 2; /* our entry 2 is of term 1 */
    m.snap_data = image;
    m.snap_len = 1;
    solo_recv(&s, &m);
    cr_assert(s.u.flags & RAFT_UPDATE_SNAPSHOT);
    cr_assert_eq(raft_last_index(s.r), 2, "the entry after a conflicting point was kept");
    /* The log continues from the snapshot's (index, term). */
    struct raft_entry next = {.term = 3, .index = 3};
    struct raft_msg a = solo_from(1, RAFT_MSG_APPEND, 3);
    a.prev_index = 2;
    a.prev_term = 2;
    a.entries = &next;
    a.n_entries = 1;
    solo_recv(&s, &a);
    cr_assert(solo_msg(&s, RAFT_MSG_APPEND_RESP, 1)->success);
    cr_assert_eq(raft_entry_at(s.r, 3)->term, 3);
    solo_free(&s);
}

/* Thesis 5.1: a restart begins at the snapshot */
Test(snapshot, restart_from_a_snapshot_starts_at_its_index)
{
    uint8_t image[1] = {5};
    struct raft_entry ents[2] = {{.term = 2, .index = 21}, {.term = 2, .index = 22}};
    struct raft_restore rs = {.term = 2, .voted_for = 0, .snap_index = 20, .snap_term = 2,
                              .snap_data = image, .snap_len = 1, .entries = ents, .n_entries = 2};
    struct solo s;
    solo_init(&s, 3, &rs);
    cr_assert_eq(raft_snapshot_index(s.r), 20);
    cr_assert_eq(raft_commit_index(s.r), 20);
    cr_assert_eq(raft_applied_index(s.r), 20);
    cr_assert_eq(raft_last_index(s.r), 22);
    /* A leader commit of 22 hands out exactly 21 and 22. */
    struct raft_msg hb = solo_from(1, RAFT_MSG_APPEND, 2);
    hb.prev_index = 22;
    hb.prev_term = 2;
    hb.commit = 22;
    solo_recv(&s, &hb);
    cr_assert_eq(s.u.n_committed, 2);
    cr_assert_eq(s.u.committed[0].index, 21);
    solo_free(&s);
}

/* A restore that is not a log is refused, not trusted */
Test(snapshot, restore_with_a_gap_after_the_snapshot_is_refused)
{
    struct raft_entry ents[1] = {{.term = 2, .index = 25}};
    struct raft_restore rs = {.term = 2, .voted_for = RAFT_NO_NODE, .snap_index = 20,
                              .snap_term = 2, .entries = ents, .n_entries = 1};
    struct raft_config cfg;
    raft_config_default(&cfg, 0, 3, 1);
    cr_assert_null(raft_new(&cfg, &rs, 0));
}

/* Storage may hand back entries the snapshot already covers (a log segment
 * straddling it): they are skipped, not mistaken for a gap */
Test(snapshot, restore_skips_entries_the_snapshot_already_covers)
{
    struct raft_entry ents[3] = {{.term = 2, .index = 19}, {.term = 2, .index = 20},
                                 {.term = 2, .index = 21}};
    struct raft_restore rs = {.term = 2, .voted_for = RAFT_NO_NODE, .snap_index = 20,
                              .snap_term = 2, .entries = ents, .n_entries = 3};
    struct raft_config cfg;
    raft_config_default(&cfg, 0, 3, 1);
    struct raft *r = raft_new(&cfg, &rs, 0);
    cr_assert_not_null(r);
    cr_assert_eq(raft_last_index(r), 21);
    cr_assert_null(raft_entry_at(r, 20), "inside the snapshot");
    raft_free(r);
}
