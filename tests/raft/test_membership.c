/* test_membership.c - the configuration as data and single-server changes
 * (Ongaro's thesis, chapter 4), one rule per test: the CONFIG entry's
 * encoding, learners, promotion, removal of a follower and of the leader,
 * the refusals, a configuration in force on append and undone by
 * truncation, the new leader's wait for an entry of its own term, a large
 * cluster, and the configuration carried by snapshots.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../lib/cluster.h"
#include "../lib/solo.h"

static bool is_voter(struct raft *r, int id)
{
    const struct raft_member *m = raft_configuration_find(raft_configuration(r), id);
    return m && m->role == RAFT_VOTER;
}

static bool is_learner(struct raft *r, int id)
{
    const struct raft_member *m = raft_configuration_find(raft_configuration(r), id);
    return m && m->role == RAFT_LEARNER;
}

/* A write through the cluster's client path, waited for; its outcome. */
static enum cluster_outcome last_outcome;
static int last_code;
static void on_done(void *ctx, const struct cluster_completion *d)
{
    (void)ctx;
    last_outcome = d->outcome;
    last_code = d->code;
}

static bool write_at(struct cluster *c, int node, int key, int32_t v, uint64_t max_ms)
{
    cluster_on_complete(c, on_done, NULL);
    last_outcome = CLUSTER_INFO;
    last_code = -1;
    size_t before = cluster_pending_ops(c);
    cluster_submit(c, node, CLUSTER_WRITE, key, v, 0, max_ms);
    uint64_t end = cluster_now(c) + max_ms + 10;
    while (cluster_pending_ops(c) > before && cluster_now(c) < end && cluster_ok(c))
        cluster_step(c);
    return last_outcome == CLUSTER_OK;
}

/* A leader that committed an entry of its term, so it may start a change. */
static int ready_leader(struct cluster *c)
{
    int l = cluster_wait_leader(c, 5000);
    cr_assert_geq(l, 0);
    cr_assert(cluster_wait_applied(c, raft_last_index(cluster_raft(c, l)), 3000));
    return l;
}

/* The leader's change, then every live member applied it. */
static raft_index change_and_wait(struct cluster *c, int leader, enum raft_change_type t, int id)
{
    raft_index idx = 0;
    cr_assert_eq(cluster_change(c, leader, t, id, &idx), RAFT_OK);
    cr_assert_gt(idx, 0);
    cr_assert(cluster_wait_applied(c, idx, 3000), "the change at %llu applied everywhere",
              (unsigned long long)idx);
    return idx;
}

/* The CONFIG entry's data: version 1, count, (id, role) pairs. */
Test(membership, configuration_encoding_is_compact_and_checked)
{
    struct raft_configuration c = {.n = 3,
                                   .members = {{0, RAFT_VOTER}, {1, RAFT_VOTER}, {40, RAFT_LEARNER}}};
    uint8_t buf[RAFT_CONFIGURATION_MAX_BYTES];
    size_t len = raft_configuration_encode(&c, buf, sizeof buf);
    static const uint8_t want[] = {1, 3, 0, 0, 1, 0, 40, 1};
    cr_assert_eq(len, 8);
    cr_assert_arr_eq(buf, want, 8);
    struct raft_configuration d;
    cr_assert_eq(raft_configuration_decode(buf, len, &d), RAFT_OK);
    cr_assert_eq(d.n, 3);
    cr_assert_eq(d.members[2].id, 40);
    cr_assert_eq(d.members[2].role, RAFT_LEARNER);
    cr_assert_eq(raft_configuration_encode(&c, buf, 7), 0, "too small a buffer");

    uint8_t bad[8];
    memcpy(bad, want, 8);
    bad[0] = 2; /* unknown version */
    cr_assert_eq(raft_configuration_decode(bad, 8, &d), -2);
    memcpy(bad, want, 8);
    cr_assert_eq(raft_configuration_decode(bad, 7, &d), -2, "truncated");
    bad[4] = 0; /* ids 0, 0: a duplicate */
    cr_assert_eq(raft_configuration_decode(bad, 8, &d), -2);
    memcpy(bad, want, 8);
    bad[7] = 2; /* no such role */
    cr_assert_eq(raft_configuration_decode(bad, 8, &d), -2);
    memcpy(bad, want, 8);
    bad[6] = 64; /* past the id range */
    cr_assert_eq(raft_configuration_decode(bad, 8, &d), -2);
    cr_assert_eq(d.n, 3, "a refused decode leaves the output alone");
}

/* Thesis 4.2.1: a learner (non-voting member) receives the log but is not
 * asked for votes, does not campaign and does not count toward commitment. */
Test(membership, a_learner_replicates_but_never_votes_or_counts)
{
    struct raft_config base;
    raft_config_default(&base, 0, 4, 11);
    struct cluster *c = cluster_new_members(4, 3, 11, &base);
    int l = ready_leader(c);
    cr_assert(!raft_configuration_find(raft_configuration(cluster_raft(c, l)), 3));
    change_and_wait(c, l, RAFT_CHANGE_ADD_LEARNER, 3);
    cr_assert(is_learner(cluster_raft(c, 3), 3), "the learner knows it is one");
    cr_assert(write_at(c, l, 1, 42, 1000));
    cr_assert(cluster_wait_applied(c, raft_commit_index(cluster_raft(c, l)), 2000));
    int32_t v = 0;
    cr_assert(cluster_sm_get(c, 3, 1, &v) && v == 42, "the learner applied the write");

    /* Two voters down: leader + learner are 2 of 4 nodes but 1 of 3 voters. */
    int down = 0;
    for (int i = 0; i < 3; i++)
        if (i != l) {
            cluster_crash(c, i);
            down++;
        }
    cr_assert_eq(down, 2);
    raft_index commit = raft_commit_index(cluster_raft(c, l));
    raft_index idx = 0;
    cluster_propose(c, l, "x", 1, &idx);
    cr_assert_gt(idx, commit);
    cluster_elapse(c, 200);
    cr_assert_eq(raft_commit_index(cluster_raft(c, l)), commit,
                 "the learner's acknowledgement committed nothing");
    cr_assert_geq(raft_last_index(cluster_raft(c, 3)), idx, "yet it holds the entry");

    /* The leader gone too: the learner, alone, never campaigns. */
    cluster_crash(c, l);
    raft_term t = raft_current_term(cluster_raft(c, 3));
    cluster_elapse(c, 5000);
    cr_assert_eq(raft_role(cluster_raft(c, 3)), RAFT_FOLLOWER);
    cr_assert_eq(raft_current_term(cluster_raft(c, 3)), t, "no campaign, not even a pre-vote term");
    cr_assert_eq(cluster_msgs_sent_to(c, RAFT_MSG_PREVOTE, 3), 0, "never asked for a vote");
    cr_assert_eq(cluster_msgs_sent_to(c, RAFT_MSG_VOTE, 3), 0);
    cr_assert(cluster_ok(c), "%s", cluster_error(c));
    cluster_free(c);
}

/* Thesis 4.2.1: once caught up, a learner is promoted and counts. */
Test(membership, a_promoted_learner_votes_and_counts)
{
    struct raft_config base;
    raft_config_default(&base, 0, 4, 12);
    struct cluster *c = cluster_new_members(4, 3, 12, &base);
    int l = ready_leader(c);
    change_and_wait(c, l, RAFT_CHANGE_ADD_LEARNER, 3);
    change_and_wait(c, l, RAFT_CHANGE_PROMOTE, 3);
    for (int i = 0; i < 4; i++)
        cr_assert(is_voter(cluster_raft(c, i), 3), "n%d sees n3 as a voter", i);
    cr_assert_eq(raft_configuration_voters(raft_configuration(cluster_raft(c, l))), 4);

    /* One original voter down: 3 of 4 commit only because n3 counts. */
    int other[2], k = 0;
    for (int i = 0; i < 3; i++)
        if (i != l)
            other[k++] = i;
    cluster_crash(c, other[0]);
    cr_assert(write_at(c, l, 2, 7, 1000), "leader + n%d + n3 are 3 of 4 voters", other[1]);
    /* Two down: 2 of 4 is no majority. */
    cluster_crash(c, other[1]);
    raft_index commit = raft_commit_index(cluster_raft(c, l));
    cluster_propose(c, l, "y", 1, NULL);
    cluster_elapse(c, 200);
    cr_assert_eq(raft_commit_index(cluster_raft(c, l)), commit);
    cr_assert(cluster_ok(c), "%s", cluster_error(c));
    cluster_free(c);
}

/* Thesis 4.1: removing a follower shrinks the majority at once (on append);
 * the leader stops replicating to it. */
Test(membership, removing_a_follower_shrinks_the_quorum)
{
    struct cluster *c = cluster_new(3, 13);
    int l = ready_leader(c);
    int gone = (l + 1) % 3, stay = (l + 2) % 3;
    raft_index idx = 0;
    cr_assert_eq(cluster_change(c, l, RAFT_CHANGE_REMOVE, gone, &idx), RAFT_OK);
    cr_assert_eq(raft_configuration(cluster_raft(c, l))->n, 2, "in force on the leader at once");
    cr_assert(cluster_wait_applied(c, idx, 2000));
    cr_assert(!raft_configuration_find(raft_configuration(cluster_raft(c, stay)), gone));
    uint64_t sent = cluster_msgs_sent_to(c, RAFT_MSG_APPEND, gone);
    cluster_crash(c, gone);
    cr_assert(write_at(c, l, 0, 5, 1000), "2 of 2 voters commit without the removed node");
    cluster_elapse(c, 1000);
    cr_assert_eq(raft_role(cluster_raft(c, l)), RAFT_LEADER, "check-quorum counts 2 voters");
    cr_assert_eq(cluster_msgs_sent_to(c, RAFT_MSG_APPEND, gone), sent,
                 "nothing more sent to a removed member");
    cr_assert(cluster_ok(c), "%s", cluster_error(c));
    cluster_free(c);
}

/* Thesis 4.2.2: a leader that removes itself replicates the change without
 * counting itself, and steps down once it commits; it then never campaigns. */
Test(membership, a_removed_leader_steps_down_after_the_change_commits)
{
    struct cluster *c = cluster_new(3, 14);
    cluster_trace_enable(c, true);
    int l = ready_leader(c);
    int a = (l + 1) % 3, b = (l + 2) % 3;
    cluster_crash(c, b);
    raft_index idx = 0;
    cr_assert_eq(cluster_change(c, l, RAFT_CHANGE_REMOVE, l, &idx), RAFT_OK);
    cluster_elapse(c, 100);
    /* The new configuration {a, b}: a alone is 1 of 2; the leader is no voter. */
    cr_assert_lt(raft_commit_index(cluster_raft(c, l)), idx, "the leader did not count itself");
    cr_assert_eq(raft_role(cluster_raft(c, l)), RAFT_LEADER, "it leads until the change commits");
    cluster_restart(c, b);
    cr_assert(cluster_wait_applied(c, idx, 3000));
    cr_assert(cluster_trace_contains(c, "removing this leader committed -> step down"));
    cluster_elapse(c, 3000);
    int nl = cluster_leader(c);
    cr_assert(nl == a || nl == b, "a remaining voter leads (got %d)", nl);
    cr_assert_neq(raft_role(cluster_raft(c, l)), RAFT_LEADER);
    cr_assert(cluster_trace_contains(c, "outside the configuration -> stay follower"),
              "the removed node's timeouts start no election");
    cr_assert(write_at(c, nl, 0, 3, 1000));
    cr_assert(cluster_ok(c), "%s", cluster_error(c));
    cluster_free(c);
}

/* Thesis 4.1 and 4.2: each refusal is clear and changes nothing. */
Test(membership, bad_changes_are_refused_and_change_nothing)
{
    struct raft_config base;
    raft_config_default(&base, 0, 4, 15);
    struct cluster *c = cluster_new_members(4, 3, 15, &base);
    int l = ready_leader(c);
    int f = (l + 1) % 3;
    raft_index last = raft_last_index(cluster_raft(c, l));
    cr_assert_eq(cluster_change(c, f, RAFT_CHANGE_ADD_LEARNER, 3, NULL), -1, "not the leader");
    cr_assert_eq(cluster_change(c, l, RAFT_CHANGE_PROMOTE, 3, NULL), -9, "n3 is no member");
    cr_assert_eq(cluster_change(c, l, RAFT_CHANGE_REMOVE, 9, NULL), -9);
    cr_assert_eq(cluster_change(c, l, RAFT_CHANGE_ADD_LEARNER, f, NULL), -10, "already a member");
    cr_assert_eq(cluster_change(c, l, RAFT_CHANGE_PROMOTE, f, NULL), -10, "already a voter");
    cr_assert_eq(cluster_change(c, l, RAFT_CHANGE_ADD_LEARNER, 64, NULL), -2, "past the ids");
    cr_assert_eq(cluster_change(c, l, RAFT_CHANGE_ADD_LEARNER, -1, NULL), -2);
    cr_assert_eq(raft_last_index(cluster_raft(c, l)), last, "nothing appended");
    cr_assert_eq(raft_configuration(cluster_raft(c, l))->n, 3);

    /* One change at a time: the next waits until the first commits. */
    raft_index idx = 0;
    cr_assert_eq(cluster_change(c, l, RAFT_CHANGE_ADD_LEARNER, 3, &idx), RAFT_OK);
    cr_assert_eq(cluster_change(c, l, RAFT_CHANGE_PROMOTE, 3, NULL), -7, "in progress");
    cr_assert_eq(cluster_change(c, l, RAFT_CHANGE_REMOVE, f, NULL), -7);
    cr_assert_eq(raft_last_index(cluster_raft(c, l)), idx);
    cr_assert(cluster_wait_applied(c, idx, 2000));
    cr_assert_eq(cluster_change(c, l, RAFT_CHANGE_PROMOTE, 3, NULL), RAFT_OK, "then it may");
    cr_assert(cluster_ok(c), "%s", cluster_error(c));
    cluster_free(c);

    /* Removing the only voter would leave no one to elect or commit. */
    c = cluster_new(1, 16);
    cr_assert_eq(ready_leader(c), 0);
    cr_assert_eq(cluster_change(c, 0, RAFT_CHANGE_REMOVE, 0, NULL), -11);
    /* A learner beside it can still be removed; the voter still cannot. */
    cr_assert_eq(cluster_change(c, 0, RAFT_CHANGE_ADD_LEARNER, 5, &idx), RAFT_OK);
    cluster_elapse(c, 50);
    cr_assert_geq(raft_commit_index(cluster_raft(c, 0)), idx, "a learner does not count");
    cr_assert_eq(cluster_change(c, 0, RAFT_CHANGE_REMOVE, 0, NULL), -11);
    cr_assert_eq(cluster_change(c, 0, RAFT_CHANGE_REMOVE, 5, NULL), RAFT_OK);
    cluster_free(c);
}

static struct raft_entry config_entry(raft_term term, raft_index index, uint8_t *buf,
                                      const struct raft_configuration *conf)
{
    struct raft_entry e = {.term = term, .index = index, .type = RAFT_ENTRY_CONFIG, .data = buf};
    e.len = (uint32_t)raft_configuration_encode(conf, buf, RAFT_CONFIGURATION_MAX_BYTES);
    return e;
}

/* Thesis 4.1: "a server always uses the latest configuration in its log,
 * regardless of whether the entry is committed"; an entry truncated away
 * takes its configuration with it. */
Test(membership, a_config_entry_is_in_force_on_append_and_undone_by_truncation)
{
    struct solo s;
    solo_init(&s, 3, NULL);
    uint8_t buf[RAFT_CONFIGURATION_MAX_BYTES];
    struct raft_configuration four = {
        .n = 4, .members = {{0, RAFT_VOTER}, {1, RAFT_VOTER}, {2, RAFT_VOTER}, {3, RAFT_LEARNER}}};
    struct raft_entry e = config_entry(1, 1, buf, &four);
    struct raft_msg m = solo_from(1, RAFT_MSG_APPEND, 1);
    m.entries = &e;
    m.n_entries = 1;
    solo_recv(&s, &m);
    cr_assert_eq(raft_last_index(s.r), 1);
    cr_assert_eq(raft_commit_index(s.r), 0, "not committed");
    cr_assert_eq(raft_configuration(s.r)->n, 4, "yet in force");
    cr_assert(is_learner(s.r, 3));
    cr_assert_eq(raft_configuration_index(s.r), 1);

    /* A leader of term 2 never had it: its entry at 1 replaces ours. */
    struct raft_entry noop = {.term = 2, .index = 1, .type = RAFT_ENTRY_NOOP};
    m = solo_from(2, RAFT_MSG_APPEND, 2);
    m.entries = &noop;
    m.n_entries = 1;
    solo_recv(&s, &m);
    cr_assert_eq(raft_entry_at(s.r, 1)->term, 2);
    cr_assert_eq(raft_configuration(s.r)->n, 3, "back to the initial configuration");
    cr_assert_null(raft_configuration_find(raft_configuration(s.r), 3));
    cr_assert_eq(raft_configuration_index(s.r), 0);

    /* Two changes held: truncating the second falls back to the first. */
    uint8_t buf2[RAFT_CONFIGURATION_MAX_BYTES];
    struct raft_configuration three = {.n = 3,
                                       .members = {{0, RAFT_VOTER}, {1, RAFT_VOTER}, {5, RAFT_LEARNER}}};
    struct raft_entry two[2] = {config_entry(2, 2, buf, &four), config_entry(2, 3, buf2, &three)};
    m = solo_from(2, RAFT_MSG_APPEND, 2);
    m.prev_index = 1;
    m.prev_term = 2;
    m.entries = two;
    m.n_entries = 2;
    solo_recv(&s, &m);
    cr_assert_eq(raft_configuration_index(s.r), 3);
    cr_assert(is_learner(s.r, 5));
    struct raft_entry other = {.term = 3, .index = 3, .type = RAFT_ENTRY_NOOP};
    m = solo_from(1, RAFT_MSG_APPEND, 3);
    m.prev_index = 2;
    m.prev_term = 2;
    m.entries = &other;
    m.n_entries = 1;
    solo_recv(&s, &m);
    cr_assert_eq(raft_configuration_index(s.r), 2, "the CONFIG entry at 2 is in force again");
    cr_assert(is_learner(s.r, 3));
    cr_assert_null(raft_configuration_find(raft_configuration(s.r), 5));
    cr_assert_eq(raft_last_index(s.r), 3);

    /* A CONFIG entry that does not decode is refused with the message. */
    buf[0] = 9;
    e.term = 3;
    e.index = 4;
    m = solo_from(1, RAFT_MSG_APPEND, 3);
    m.prev_index = 3;
    m.prev_term = 3;
    m.entries = &e;
    m.n_entries = 1;
    cr_assert_eq(solo_recv(&s, &m), -2);
    cr_assert_eq(raft_last_index(s.r), 3);
    solo_free(&s);
}

/* Thesis 4.2: a node outside the configuration does not start elections. */
Test(membership, a_node_outside_the_configuration_never_campaigns)
{
    struct raft_configuration others = {.n = 2, .members = {{1, RAFT_VOTER}, {2, RAFT_VOTER}}};
    struct raft_config cfg;
    raft_config_default(&cfg, 0, 3, 17);
    cfg.initial = &others;
    struct solo s;
    solo_init_config(&s, &cfg, NULL);
    for (int i = 0; i < 20; i++) {
        solo_tick(&s, raft_deadline(s.r));
        cr_assert_eq(solo_count(&s, RAFT_MSG_PREVOTE) + solo_count(&s, RAFT_MSG_VOTE), 0);
    }
    cr_assert_eq(raft_role(s.r), RAFT_FOLLOWER);
    cr_assert_eq(raft_current_term(s.r), 0);
    solo_free(&s);

    /* The same node as a voter of that configuration campaigns at once. */
    struct raft_configuration with = {.n = 3,
                                      .members = {{0, RAFT_VOTER}, {1, RAFT_VOTER}, {2, RAFT_VOTER}}};
    cfg.initial = &with;
    solo_init_config(&s, &cfg, NULL);
    solo_tick(&s, raft_deadline(s.r));
    cr_assert_eq(solo_count(&s, RAFT_MSG_PREVOTE), 2);
    solo_free(&s);
}

/* The known fix to single-server changes (thesis 4.1, Ongaro's raft-dev
 * note of 2015): a new leader starts a change only once it committed an
 * entry of its own term. */
Test(membership, a_new_leaders_first_change_waits_for_an_entry_of_its_term)
{
    struct solo s;
    solo_init(&s, 3, NULL);
    solo_become_leader(&s);
    raft_index noop = raft_last_index(s.r);
    struct raft_event ev = {.type = RAFT_EVENT_CHANGE, .now_ms = s.now};
    ev.change.type = RAFT_CHANGE_ADD_LEARNER;
    ev.change.id = 3;
    struct raft_update u;
    cr_assert_eq(raft_step(s.r, &ev, &u), -8, "no entry of its term committed yet");
    cr_assert_eq(raft_last_index(s.r), noop, "nothing appended");
    /* A follower acknowledges the no-op: it commits. */
    struct raft_msg m = solo_from(1, RAFT_MSG_APPEND_RESP, raft_current_term(s.r));
    m.success = true;
    m.match_index = noop;
    solo_recv(&s, &m);
    cr_assert_eq(raft_commit_index(s.r), noop);
    cr_assert_eq(raft_step(s.r, &ev, &u), RAFT_OK);
    cr_assert_eq(u.proposed_first, noop + 1);
    cr_assert_eq(raft_entry_at(s.r, noop + 1)->type, 2, "a RAFT_ENTRY_CONFIG entry");
    cr_assert(is_learner(s.r, 3), "in force on the leader once appended");
    bool sent = false;
    for (size_t i = 0; i < u.n_messages; i++)
        sent |= u.messages[i].type == RAFT_MSG_APPEND && u.messages[i].to == 3;
    cr_assert(sent, "and the leader probes the learner at once");
    solo_free(&s);
}

/* Issue 13: at least 15 voters plus learners. */
Test(membership, fifteen_voters_and_five_learners_elect_and_commit, .timeout = 60)
{
    struct raft_config base;
    raft_config_default(&base, 0, 20, 18);
    struct cluster *c = cluster_new_members(20, 15, 18, &base);
    int l = ready_leader(c);
    cr_assert_lt(l, 15);
    for (int id = 15; id < 20; id++)
        change_and_wait(c, l, RAFT_CHANGE_ADD_LEARNER, id);
    cr_assert_eq(raft_configuration(cluster_raft(c, l))->n, 20);
    cr_assert(write_at(c, l, 3, 9, 1000));
    cr_assert(cluster_wait_applied(c, raft_commit_index(cluster_raft(c, l)), 2000));
    int32_t v = 0;
    cr_assert(cluster_sm_get(c, 19, 3, &v) && v == 9);
    /* 7 voters down: 8 of 15 still commit, and elect when the leader goes. */
    int down = 0;
    for (int i = 0; i < 15 && down < 7; i++)
        if (i != l) {
            cluster_crash(c, i);
            down++;
        }
    cr_assert(write_at(c, l, 3, 10, 1000), "8 of 15 voters are a majority");
    /* The leader down too: 7 of 15 voters (and 5 learners) elect nobody. */
    cluster_crash(c, l);
    cr_assert_eq(cluster_wait_leader(c, 5000), -1);
    for (int i = 0; i < 20; i++)
        cr_assert(!cluster_alive(c, i) || raft_role(cluster_raft(c, i)) != RAFT_LEADER);
    cluster_restart(c, l);
    int nl = cluster_wait_leader(c, 5000);
    cr_assert(nl >= 0 && nl < 15, "8 of 15 voters elect a voter (got %d)", nl);
    cr_assert(write_at(c, nl, 3, 11, 1000));
    cr_assert(cluster_ok(c), "%s", cluster_error(c));
    cluster_free(c);
}

/* The configuration travels with snapshots: a node whose log was compacted
 * past the CONFIG entry still knows it after a restart, and a learner that
 * catches up through a snapshot learns it from the snapshot. */
Test(membership, the_configuration_travels_with_snapshots)
{
    struct raft_config base;
    raft_config_default(&base, 0, 5, 19);
    base.snapshot_trailing = 0;
    struct cluster *c = cluster_new_members(5, 3, 19, &base);
    cluster_set_snapshot_every(c, 5);
    int l = ready_leader(c);
    raft_index idx = change_and_wait(c, l, RAFT_CHANGE_ADD_LEARNER, 3);
    for (int i = 0; i < 20; i++)
        cr_assert(write_at(c, l, i % 4, i, 1000));
    cr_assert(cluster_wait_applied(c, raft_commit_index(cluster_raft(c, l)), 2000));
    int f = (l + 1) % 3;
    cr_assert_gt(raft_snapshot_index(cluster_raft(c, f)), idx, "compacted past the change");
    cr_assert_null(raft_entry_at(cluster_raft(c, f), idx));
    cluster_crash(c, f);
    cluster_restart(c, f);
    cr_assert(is_learner(cluster_raft(c, f), 3), "restored from the snapshot's configuration");
    cr_assert_eq(raft_configuration(cluster_raft(c, f))->n, 4);

    /* n4 joins after the compaction: the leader sends it the snapshot. */
    uint64_t snaps = cluster_msgs_sent_to(c, RAFT_MSG_SNAPSHOT, 4);
    change_and_wait(c, l, RAFT_CHANGE_ADD_LEARNER, 4);
    cr_assert_gt(cluster_msgs_sent_to(c, RAFT_MSG_SNAPSHOT, 4), snaps);
    cr_assert(is_learner(cluster_raft(c, 4), 3), "n4 learned n3 from the snapshot");
    cr_assert(is_learner(cluster_raft(c, 4), 4));
    cluster_crash(c, 4);
    cluster_restart(c, 4);
    cr_assert(is_learner(cluster_raft(c, 4), 3));
    cr_assert(cluster_ok(c), "%s", cluster_error(c));
    cluster_free(c);
}

/* Leadership transfer (thesis 3.10) meets membership: only a voter may be
 * the target, and no change starts while a transfer is under way. */
Test(membership, a_learner_is_no_transfer_target_and_changes_wait_for_a_transfer)
{
    struct raft_config base;
    raft_config_default(&base, 0, 4, 21);
    struct cluster *c = cluster_new_members(4, 3, 21, &base);
    int l = ready_leader(c);
    change_and_wait(c, l, RAFT_CHANGE_ADD_LEARNER, 3);
    cr_assert_eq(cluster_transfer(c, l, 3), -2, "a learner cannot lead");
    int f = (l + 1) % 3;
    cluster_crash(c, f); /* the transfer cannot finish at once */
    cr_assert_eq(cluster_transfer(c, l, f), RAFT_OK);
    cr_assert_eq(cluster_change(c, l, RAFT_CHANGE_PROMOTE, 3, NULL), -6, "transfer under way");
    cr_assert(is_learner(cluster_raft(c, l), 3), "nothing changed");
    cr_assert(cluster_ok(c), "%s", cluster_error(c));
    cluster_free(c);
}
