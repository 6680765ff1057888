/* test_election.c - leader election: terms, votes, randomized timeouts,
 * pre-vote (thesis 9.6) and check-quorum (thesis 6.2). One behaviour each.
 */
#include <criterion/criterion.h>
#include <stdio.h>

#include "../lib/cluster.h"
#include "../lib/solo.h"

#define ASSERT_SAFE(c) cr_assert(cluster_ok(c), "%s", cluster_error(c))

/* 5.2 */
Test(election, election_timeouts_are_drawn_from_t_to_2t_and_differ_by_seed)
{
    uint64_t seen[8];
    for (int i = 0; i < 8; i++) {
        struct solo s;
        struct raft_config cfg;
        raft_config_default(&cfg, 0, 3, (uint64_t)i + 1);
        solo_init_config(&s, &cfg, NULL);
        uint64_t d = raft_deadline(s.r) - s.now;
        cr_assert(d >= cfg.election_timeout_ms && d < 2 * cfg.election_timeout_ms,
                  "timeout %llu outside [T, 2T)", (unsigned long long)d);
        seen[i] = d;
        solo_free(&s);
    }
    int distinct = 0;
    for (int i = 0; i < 8; i++) {
        bool dup = false;
        for (int j = 0; j < i; j++)
            dup |= seen[j] == seen[i];
        distinct += !dup;
    }
    cr_assert_geq(distinct, 4, "timeouts should vary with the seed");
}

/* 5.2: granting a vote restarts the election timer, so the voter leaves
 * the candidate it chose a whole timeout to win. */
Test(election, granting_a_vote_restarts_the_election_timer)
{
    /* Term 2 already adopted, no vote yet: the grant changes no term, so
     * nothing but the grant itself can restart the timer. */
    struct raft_restore rs = {.term = 2, .voted_for = RAFT_NO_NODE};
    struct solo s;
    solo_init(&s, 3, &rs);
    uint64_t t0 = s.now; /* the first deadline is in [t0 + 250, t0 + 500) */
    cr_assert_lt(raft_deadline(s.r), t0 + 500);
    solo_tick(&s, t0 + 240);
    struct raft_msg v = solo_from(1, RAFT_MSG_VOTE, 2);
    solo_recv(&s, &v);
    const struct raft_msg *resp = solo_msg(&s, RAFT_MSG_VOTE_RESP, 1);
    cr_assert(resp && resp->granted);
    cr_assert_geq(raft_deadline(s.r), t0 + 240 + 250, "timer not restarted by the grant");
    solo_free(&s);
}

/* 5.2 */
Test(election, single_node_elects_itself_after_its_election_timeout)
{
    struct cluster *c = cluster_new(1, 7);
    int leader = cluster_wait_leader(c, 1000);
    ASSERT_SAFE(c);
    cr_assert_eq(leader, 0);
    cr_assert_eq(raft_current_term(cluster_raft(c, 0)), 1);
    struct raft_config def;
    raft_config_default(&def, 0, 1, 7);
    cr_assert_geq(cluster_now(c), def.election_timeout_ms, "not before the minimum election timeout");
    cr_assert_lt(cluster_now(c), 2 * def.election_timeout_ms + 10);
    cluster_free(c);
}

/* 5.2 */
Test(election, three_nodes_elect_one_leader_that_all_know)
{
    struct cluster *c = cluster_new(3, 11);
    int leader = cluster_wait_leader(c, 2000);
    ASSERT_SAFE(c);
    cr_assert_geq(leader, 0);
    cluster_elapse(c, 100);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(raft_leader(cluster_raft(c, i)), leader, "n%d follows n%d", i,
                     raft_leader(cluster_raft(c, i)));
    cluster_free(c);
}

/* 5.2, 9.6, 8: the first election, read as the winner's decision trace */
Test(election, first_election_goes_pre_vote_then_vote_then_noop_commit)
{
    struct cluster *c = cluster_new(3, 11);
    int leader = cluster_wait_leader(c, 2000);
    cr_assert_geq(leader, 0);
    cluster_elapse(c, 50);
    char who[8];
    snprintf(who, sizeof who, "n%d ", leader);
    static const char *const steps[] = {
        "election timeout as follower in term 0 -> pre-vote",
        "pre-vote quorum for term 1 -> start election",
        "vote quorum in term 1 -> become leader",
        "won term 1 -> lead, append no-op at 1",
        "index 1 on a quorum in term 1 -> commit",
    };
    long at = 0;
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        char line[128];
        snprintf(line, sizeof line, "%s%s", who, steps[i]);
        long found = cluster_trace_find(c, line, at);
        cr_assert_geq(found, 0, "missing, or out of order: \"%s\"", line);
        at = found + 1;
    }
    /* The followers granted in term 1 and adopted it; nobody else campaigned to a vote. */
    cr_assert_eq(cluster_trace_count(c, "-> become leader"), 1);
    cr_assert_geq(cluster_trace_count(c, "log up to date -> grant"), 2);
    cluster_free(c);
}

/* 5.4.1 */
Test(election, candidate_with_shorter_log_is_denied_vote)
{
    struct raft_entry ents[2] = {{.term = 1, .index = 1}, {.term = 1, .index = 2}};
    struct raft_restore rs = {.term = 1, .voted_for = RAFT_NO_NODE, .entries = ents,
                              .n_entries = 2};
    struct solo s;
    solo_init(&s, 3, &rs);
    struct raft_msg m = solo_from(1, RAFT_MSG_VOTE, 2);
    m.last_log_index = 1; /* same last term, shorter */
    m.last_log_term = 1;
    solo_recv(&s, &m);
    const struct raft_msg *resp = solo_msg(&s, RAFT_MSG_VOTE_RESP, 1);
    cr_assert_not_null(resp);
    cr_assert(!resp->granted);
    cr_assert_eq(s.u.voted_for, RAFT_NO_NODE);
    solo_free(&s);
}

/* 5.4.1 */
Test(election, candidate_with_higher_last_term_gets_vote_even_if_shorter)
{
    struct raft_entry ents[2] = {{.term = 1, .index = 1}, {.term = 1, .index = 2}};
    struct raft_restore rs = {.term = 1, .voted_for = RAFT_NO_NODE, .entries = ents,
                              .n_entries = 2};
    struct solo s;
    solo_init(&s, 3, &rs);
    struct raft_msg m = solo_from(1, RAFT_MSG_VOTE, 3);
    m.last_log_index = 1;
    m.last_log_term = 2;
    solo_recv(&s, &m);
    const struct raft_msg *resp = solo_msg(&s, RAFT_MSG_VOTE_RESP, 1);
    cr_assert(resp && resp->granted);
    cr_assert(s.u.flags & RAFT_UPDATE_HARD_STATE, "the vote must be persisted");
    cr_assert_eq(s.u.voted_for, 1);
    cr_assert_eq(s.u.term, 3);
    solo_free(&s);
}

/* 5.2 */
Test(election, node_grants_at_most_one_vote_per_term)
{
    struct solo s;
    solo_init(&s, 3, NULL);
    struct raft_msg m = solo_from(1, RAFT_MSG_VOTE, 1);
    solo_recv(&s, &m);
    cr_assert(solo_msg(&s, RAFT_MSG_VOTE_RESP, 1)->granted);
    m = solo_from(2, RAFT_MSG_VOTE, 1);
    solo_recv(&s, &m);
    cr_assert(!solo_msg(&s, RAFT_MSG_VOTE_RESP, 2)->granted);
    /* The same candidate asking again (a retry) gets the same answer. */
    m = solo_from(1, RAFT_MSG_VOTE, 1);
    solo_recv(&s, &m);
    cr_assert(solo_msg(&s, RAFT_MSG_VOTE_RESP, 1)->granted);
    solo_free(&s);
}

/* 5.1 */
Test(election, vote_request_with_stale_term_is_rejected_with_current_term)
{
    struct raft_restore rs = {.term = 5, .voted_for = RAFT_NO_NODE};
    struct solo s;
    solo_init(&s, 3, &rs);
    struct raft_msg m = solo_from(1, RAFT_MSG_VOTE, 4);
    solo_recv(&s, &m);
    const struct raft_msg *resp = solo_msg(&s, RAFT_MSG_VOTE_RESP, 1);
    cr_assert(resp && !resp->granted);
    cr_assert_eq(resp->term, 5);
    solo_free(&s);
}

/* 9.6 */
Test(election, pre_vote_round_does_not_change_the_term)
{
    struct raft_restore rs = {.term = 4, .voted_for = RAFT_NO_NODE};
    struct solo s;
    solo_init(&s, 3, &rs);
    solo_tick(&s, raft_deadline(s.r));
    cr_assert_eq(raft_role(s.r), RAFT_PRE_CANDIDATE);
    cr_assert_eq(raft_current_term(s.r), 4, "a pre-candidate keeps its term");
    cr_assert(!(s.u.flags & RAFT_UPDATE_HARD_STATE));
    const struct raft_msg *pv = solo_msg(&s, RAFT_MSG_PREVOTE, 1);
    cr_assert(pv && pv->term == 5, "it asks about term 5");
    /* Receiving a pre-vote request does not move a voter's term either. */
    struct solo v;
    solo_init(&v, 3, &rs);
    struct raft_msg m = solo_from(1, RAFT_MSG_PREVOTE, 5);
    solo_recv(&v, &m);
    cr_assert(solo_msg(&v, RAFT_MSG_PREVOTE_RESP, 1)->granted);
    cr_assert_eq(raft_current_term(v.r), 4);
    cr_assert_eq(v.u.voted_for, RAFT_NO_NODE);
    solo_free(&v);
    solo_free(&s);
}

/* 9.6 */
Test(election, isolated_node_keeps_its_term_while_it_cannot_win)
{
    struct cluster *c = cluster_new(3, 5);
    int leader = cluster_wait_leader(c, 2000);
    cr_assert_geq(leader, 0);
    int lone = (leader + 1) % 3;
    raft_term before = raft_current_term(cluster_raft(c, lone));
    cluster_isolate(c, lone);
    cluster_elapse(c, 5000);
    ASSERT_SAFE(c);
    cr_assert_eq(raft_current_term(cluster_raft(c, lone)), before,
                 "pre-vote keeps a partitioned node from inflating its term");
    cr_assert(cluster_trace_contains(c, "-> pre-vote"));
    cluster_free(c);
}

/* 9.6, 6.2 */
Test(election, rejoining_node_does_not_depose_a_healthy_leader)
{
    struct cluster *c = cluster_new(3, 9);
    int leader = cluster_wait_leader(c, 2000);
    cr_assert_geq(leader, 0);
    raft_term term = raft_current_term(cluster_raft(c, leader));
    int lone = (leader + 1) % 3;
    cluster_isolate(c, lone);
    cluster_elapse(c, 3000);
    cluster_heal(c);
    cluster_elapse(c, 3000);
    ASSERT_SAFE(c);
    cr_assert_eq(cluster_leader(c), leader);
    cr_assert_eq(raft_current_term(cluster_raft(c, leader)), term, "no election happened");
    cr_assert_eq(raft_leader(cluster_raft(c, lone)), leader, "the node rejoined as follower");
    cluster_free(c);
}

/* 6.2 */
Test(election, follower_in_leader_lease_ignores_vote_request_with_higher_term)
{
    struct solo s;
    solo_init(&s, 3, NULL);
    struct raft_msg hb = solo_from(1, RAFT_MSG_APPEND, 2); /* n1 leads term 2 */
    solo_recv(&s, &hb);
    cr_assert_eq(raft_leader(s.r), 1);
    s.now += 10; /* well within the minimum election timeout */
    struct raft_msg v = solo_from(2, RAFT_MSG_VOTE, 3);
    v.last_log_index = 10;
    v.last_log_term = 2;
    solo_recv(&s, &v);
    cr_assert_eq(raft_current_term(s.r), 2, "the lease keeps the term");
    cr_assert_eq(raft_leader(s.r), 1);
    const struct raft_msg *resp = solo_msg(&s, RAFT_MSG_VOTE_RESP, 2);
    cr_assert(!resp || !resp->granted);
    /* Once the lease has run out, the same request wins the vote. */
    s.now += 1000;
    solo_recv(&s, &v);
    resp = solo_msg(&s, RAFT_MSG_VOTE_RESP, 2);
    cr_assert(resp && resp->granted);
    cr_assert_eq(raft_current_term(s.r), 3);
    solo_free(&s);
}

/* Thesis 9.6 with 6.2: the lease covers pre-votes too, or a rejoining node
 * would win a pre-vote round and then depose the leader. */
Test(election, follower_in_leader_lease_denies_a_pre_vote)
{
    struct solo s;
    solo_init(&s, 3, NULL);
    struct raft_msg hb = solo_from(1, RAFT_MSG_APPEND, 2); /* n1 leads term 2 */
    solo_recv(&s, &hb);
    s.now += 10;
    struct raft_msg pv = solo_from(2, RAFT_MSG_PREVOTE, 3);
    pv.last_log_index = 10;
    pv.last_log_term = 2;
    solo_recv(&s, &pv);
    const struct raft_msg *resp = solo_msg(&s, RAFT_MSG_PREVOTE_RESP, 2);
    cr_assert(!resp || !resp->granted, "pre-vote granted inside the lease");
    s.now += 1000; /* the lease ran out: the same log wins the pre-vote */
    solo_recv(&s, &pv);
    resp = solo_msg(&s, RAFT_MSG_PREVOTE_RESP, 2);
    cr_assert(resp && resp->granted);
    cr_assert_eq(raft_current_term(s.r), 2, "a pre-vote changes no term");
    solo_free(&s);
}

/* 6.2 */
Test(election, leader_that_cannot_hear_a_majority_steps_down_within_an_election_timeout)
{
    struct cluster *c = cluster_new(3, 13);
    int leader = cluster_wait_leader(c, 2000);
    cr_assert_geq(leader, 0);
    cluster_isolate(c, leader);
    struct raft_config def;
    raft_config_default(&def, 0, 3, 13);
    cluster_elapse(c, 10);
    cr_assert_eq(raft_role(cluster_raft(c, leader)), RAFT_LEADER, "not at once: a timeout's grace");
    /* Checked at every heartbeat: within a heartbeat of the election timeout. */
    cluster_elapse(c, def.election_timeout_ms + def.heartbeat_interval_ms - 5);
    ASSERT_SAFE(c);
    cr_assert_neq(raft_role(cluster_raft(c, leader)), RAFT_LEADER,
                  "a leader without a quorum must stop serving");
    cr_assert(cluster_trace_contains(c, "in an election timeout -> step down"));
    cluster_free(c);
}

/* 5.1 */
Test(election, leader_steps_down_on_seeing_a_higher_term)
{
    struct solo s;
    solo_init(&s, 3, NULL);
    solo_become_leader(&s);
    raft_term t = raft_current_term(s.r);
    struct raft_msg m = solo_from(2, RAFT_MSG_APPEND_RESP, t + 3);
    solo_recv(&s, &m);
    cr_assert_eq(raft_role(s.r), RAFT_FOLLOWER);
    cr_assert_eq(raft_current_term(s.r), t + 3);
    cr_assert(s.u.flags & RAFT_UPDATE_ROLE);
    cr_assert(s.u.flags & RAFT_UPDATE_HARD_STATE);
    solo_free(&s);
}

/* Figure 2 (persistent state) */
Test(election, restart_keeps_persisted_term_vote_and_log)
{
    struct cluster *c = cluster_new(3, 21);
    int leader = cluster_wait_leader(c, 2000);
    cr_assert_geq(leader, 0);
    raft_index idx = 0;
    cr_assert_eq(cluster_propose(c, leader, "abc", 3, &idx), RAFT_OK);
    cr_assert(cluster_wait_applied(c, idx, 1000));
    int f = (leader + 1) % 3;
    raft_term term = raft_current_term(cluster_raft(c, f));
    raft_index last = raft_last_index(cluster_raft(c, f));
    cluster_crash(c, f);
    cluster_restart(c, f);
    struct raft *r = cluster_raft(c, f);
    cr_assert_eq(raft_current_term(r), term);
    cr_assert_eq(raft_last_index(r), last);
    const struct raft_entry *e = raft_entry_at(r, idx);
    cr_assert(e && e->len == 3 && memcmp(e->data, "abc", 3) == 0);
    cr_assert_eq(raft_applied_index(r), 0, "nothing is applied before it learns the commit");
    cr_assert(cluster_wait_applied(c, idx, 2000));
    ASSERT_SAFE(c);
    cluster_free(c);
}

/* 5.2 */
Test(election, restarted_node_does_not_vote_twice_in_a_term)
{
    struct solo s;
    solo_init(&s, 3, NULL);
    struct raft_msg m = solo_from(1, RAFT_MSG_VOTE, 1);
    solo_recv(&s, &m);
    cr_assert(s.u.flags & RAFT_UPDATE_HARD_STATE);
    struct raft_restore rs = {.term = s.u.term, .voted_for = s.u.voted_for};
    solo_free(&s);
    solo_init(&s, 3, &rs); /* restart from what was persisted */
    m = solo_from(2, RAFT_MSG_VOTE, 1);
    solo_recv(&s, &m);
    cr_assert(!solo_msg(&s, RAFT_MSG_VOTE_RESP, 2)->granted);
    solo_free(&s);
}
