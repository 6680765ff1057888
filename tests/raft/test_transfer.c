/* test_transfer.c - leadership transfer (thesis 3.10): the leader stops
 * taking proposals, catches the target up, sends TimeoutNow; the target
 * campaigns at once in term + 1 and wins; a transfer that does not finish
 * within an election timeout is abandoned. Literal values: error -6 is
 * RAFT_ERR_TRANSFERRING, -1 NOT_LEADER, -2 INVALID; the default election
 * timeout is 250 ms.
 */
#include <criterion/criterion.h>

#include "../lib/cluster.h"
#include "../lib/solo.h"

#define ASSERT_SAFE(c) cr_assert(cluster_ok(c), "%s", cluster_error(c))

static int transfer(struct solo *s, int target)
{
    struct raft_event e = {.type = RAFT_EVENT_TRANSFER, .now_ms = s->now};
    e.transfer.target = target;
    s->rc = raft_step(s->r, &e, &s->u);
    return s->rc;
}

static struct raft_msg ack(int from, raft_term term, raft_index match)
{
    struct raft_msg m = solo_from(from, RAFT_MSG_APPEND_RESP, term);
    m.success = true;
    m.match_index = match;
    return m;
}

static bool leader_is(struct cluster *c, void *ctx)
{
    return cluster_leader(c) == *(int *)ctx;
}

/* A 3-node cluster with a leader that committed `writes` entries. */
static struct cluster *settled(uint64_t seed, int *leader, int writes)
{
    struct raft_config cfg;
    raft_config_default(&cfg, 0, 3, seed);
    cfg.pre_vote = true; /* thesis 9.6 */
    cfg.check_quorum = true; /* thesis 6.2: followers keep a leader lease */
    struct cluster *c = cluster_new_config(3, seed, &cfg);
    *leader = cluster_wait_leader(c, 3000);
    cr_assert_geq(*leader, 0);
    raft_index idx = 0;
    for (int i = 0; i < writes; i++)
        cr_assert_eq(cluster_propose(c, *leader, "w", 1, &idx), 0);
    if (idx)
        cr_assert(cluster_wait_applied(c, idx, 2000));
    return c;
}

/* 3.10, with pre-vote and check-quorum on: the target holds the log
 * already, gets TimeoutNow at once, skips pre-vote, and its transfer-flagged
 * votes win term + 1 although every follower is inside the leader's lease. */
Test(transfer, up_to_date_target_wins_the_next_term_without_pre_vote)
{
    int leader;
    struct cluster *c = settled(31, &leader, 3);
    int target = (leader + 1) % 3;
    raft_term term = raft_current_term(cluster_raft(c, leader));
    uint64_t prevotes = cluster_msgs_sent(c, RAFT_MSG_PREVOTE);
    uint64_t t0 = cluster_now(c);
    cr_assert_eq(cluster_transfer(c, leader, target), 0);
    cr_assert_eq(raft_transfer_target(cluster_raft(c, leader)), target);
    cr_assert_eq(cluster_msgs_sent_to(c, RAFT_MSG_TIMEOUT_NOW, target), 1,
                 "an up-to-date target is told at once");
    cr_assert(cluster_step_until(c, leader_is, &target, 250), "no new leader within 250 ms");
    ASSERT_SAFE(c);
    uint64_t took = cluster_now(c) - t0;
    cr_assert_lt(took, 250, "transfer took %llu ms", (unsigned long long)took);
    cr_assert_eq(raft_current_term(cluster_raft(c, target)), term + 1);
    cr_assert_eq(cluster_msgs_sent(c, RAFT_MSG_PREVOTE), prevotes, "a transfer skips pre-vote");
    cluster_elapse(c, 100);
    cr_assert_eq(raft_leader(cluster_raft(c, leader)), target, "the old leader follows it");
    cr_assert_eq(raft_role(cluster_raft(c, leader)), RAFT_FOLLOWER);
    raft_index idx;
    cr_assert_eq(cluster_propose(c, target, "x", 1, &idx), 0);
    cr_assert(cluster_wait_applied(c, idx, 1000));
    ASSERT_SAFE(c);
    cluster_free(c);
}

/* 3.10: a lagging target is caught up first; TimeoutNow waits for it. */
Test(transfer, lagging_target_is_caught_up_before_timeout_now)
{
    int leader;
    struct cluster *c = settled(32, &leader, 1);
    int target = (leader + 2) % 3;
    cluster_connect(c, leader, target, false);
    raft_index idx = 0;
    for (int i = 0; i < 20; i++)
        cr_assert_eq(cluster_propose(c, leader, "w", 1, &idx), 0);
    cluster_elapse(c, 60); /* committed by the leader and the other follower */
    cr_assert_geq(raft_commit_index(cluster_raft(c, leader)), idx);
    raft_index match, next;
    cr_assert(raft_progress(cluster_raft(c, leader), target, &match, &next));
    cr_assert_lt(match, idx, "the target should lag");
    cluster_connect(c, leader, target, true);
    cr_assert_eq(cluster_transfer(c, leader, target), 0);
    cr_assert_eq(cluster_msgs_sent_to(c, RAFT_MSG_TIMEOUT_NOW, target), 0,
                 "TimeoutNow went to a target that lacks entries");
    cr_assert(cluster_step_until(c, leader_is, &target, 250), "no new leader within 250 ms");
    ASSERT_SAFE(c);
    cr_assert_geq(raft_last_index(cluster_raft(c, target)), idx);
    cr_assert_geq(cluster_msgs_sent_to(c, RAFT_MSG_TIMEOUT_NOW, target), 1);
    cluster_free(c);
}

/* 3.10: "if the transfer does not complete after about an election timeout,
 * the prior leader aborts the transfer and resumes accepting client
 * requests". Meanwhile proposals are refused, certainly not appended. */
Test(transfer, dead_target_is_abandoned_after_an_election_timeout)
{
    int leader;
    struct cluster *c = settled(33, &leader, 2);
    int target = (leader + 1) % 3;
    cluster_crash(c, target);
    struct raft *r = cluster_raft(c, leader);
    raft_term term = raft_current_term(r);
    cr_assert_eq(cluster_transfer(c, leader, target), 0);
    raft_index last = raft_last_index(r);
    raft_index idx;
    cr_assert_eq(cluster_propose(c, leader, "w", 1, &idx), -6);
    cr_assert_eq(raft_last_index(r), last, "a refused proposal was appended");
    cluster_elapse(c, 240);
    cr_assert_eq(raft_transfer_target(r), target, "still transferring at 240 ms");
    cr_assert_eq(cluster_propose(c, leader, "w", 1, &idx), -6);
    cluster_elapse(c, 15);
    cr_assert_eq(raft_transfer_target(r), RAFT_NO_NODE, "not abandoned after 255 ms");
    cr_assert_eq(cluster_leader(c), leader);
    cr_assert_eq(raft_current_term(r), term);
    cr_assert_eq(cluster_propose(c, leader, "w", 1, &idx), 0);
    cr_assert(cluster_wait_applied(c, idx, 1000));
    ASSERT_SAFE(c);
    cluster_free(c);
}

/* 3.10 step 1, on one core: proposals refused while the target catches
 * up, TimeoutNow exactly when its match reaches the leader's last index
 * and that index is committed (every client of the term answered first). */
Test(transfer, leader_refuses_proposals_and_sends_timeout_now_once_caught_up)
{
    struct solo s;
    solo_init(&s, 3, NULL);
    solo_become_leader(&s);
    raft_term term = raft_current_term(s.r);
    cr_assert_eq(solo_propose(&s, 3), 0);
    raft_index last = raft_last_index(s.r);
    cr_assert_eq(transfer(&s, 2), 0);
    cr_assert_null(solo_msg(&s, RAFT_MSG_TIMEOUT_NOW, 2), "n2 has acknowledged nothing");
    cr_assert_eq(solo_propose(&s, 1), -6);
    cr_assert_eq(raft_last_index(s.r), last);
    solo_persisted_all(&s);
    struct raft_msg a = ack(2, term, last - 1);
    solo_recv(&s, &a);
    cr_assert_null(solo_msg(&s, RAFT_MSG_TIMEOUT_NOW, 2), "one entry short");
    a = ack(2, term, last);
    solo_recv(&s, &a);
    const struct raft_msg *tn = solo_msg(&s, RAFT_MSG_TIMEOUT_NOW, 2);
    cr_assert_not_null(tn);
    cr_assert_eq(tn->term, term);
    cr_assert_null(solo_msg(&s, RAFT_MSG_TIMEOUT_NOW, 1));
    cr_assert_eq(raft_commit_index(s.r), last);
    /* A lost TimeoutNow is said again at the next heartbeat (50 ms). */
    solo_tick(&s, s.now + 50);
    cr_assert_not_null(solo_msg(&s, RAFT_MSG_TIMEOUT_NOW, 2));
    /* Reads still work: they change nothing. */
    uint64_t id = 7;
    cr_assert_eq(solo_read(&s, &id, 1), 0);
    solo_free(&s);
}

/* The target holds the whole log, but the leader's own copy is not yet
 * durable, so the last entries are not committed: TimeoutNow waits for
 * the commit (a new term would leave their clients without an answer). */
Test(transfer, timeout_now_waits_until_the_whole_log_is_committed)
{
    struct solo s;
    solo_init(&s, 3, NULL);
    solo_become_leader(&s);
    raft_term term = raft_current_term(s.r);
    cr_assert_eq(solo_propose(&s, 2), 0);
    raft_index last = raft_last_index(s.r);
    cr_assert_eq(transfer(&s, 1), 0);
    struct raft_msg a = ack(1, term, last);
    solo_recv(&s, &a);
    cr_assert_lt(raft_commit_index(s.r), last);
    cr_assert_null(solo_msg(&s, RAFT_MSG_TIMEOUT_NOW, 1), "told before the log committed");
    solo_persisted_all(&s);
    cr_assert_eq(raft_commit_index(s.r), last);
    cr_assert_not_null(solo_msg(&s, RAFT_MSG_TIMEOUT_NOW, 1));
    solo_free(&s);
}

/* RAFT_NO_NODE: the most up-to-date follower; bad requests change nothing. */
Test(transfer, no_node_picks_the_follower_with_the_longest_matching_log)
{
    struct solo s;
    solo_init(&s, 5, NULL);
    solo_become_leader(&s);
    raft_term term = raft_current_term(s.r);
    cr_assert_eq(solo_propose(&s, 4), 0);
    solo_persisted_all(&s);
    raft_index last = raft_last_index(s.r);
    struct raft_msg a = ack(1, term, last - 2);
    solo_recv(&s, &a);
    a = ack(3, term, last);
    solo_recv(&s, &a);
    a = ack(4, term, last - 1);
    solo_recv(&s, &a);
    cr_assert_eq(transfer(&s, 5), -2, "a target past the node count");
    cr_assert_eq(transfer(&s, -7), -2);
    cr_assert_eq(raft_transfer_target(s.r), RAFT_NO_NODE);
    cr_assert_eq(transfer(&s, 0), 0, "to itself: nothing to do");
    cr_assert_eq(raft_transfer_target(s.r), RAFT_NO_NODE);
    cr_assert_eq(transfer(&s, RAFT_NO_NODE), 0);
    cr_assert_eq(raft_transfer_target(s.r), 3);
    cr_assert_lt(raft_commit_index(s.r), last);
    a = ack(4, term, last); /* now a majority holds it all */
    solo_recv(&s, &a);
    cr_assert_not_null(solo_msg(&s, RAFT_MSG_TIMEOUT_NOW, 3));
    cr_assert_null(solo_msg(&s, RAFT_MSG_TIMEOUT_NOW, 4));
    solo_free(&s);

    solo_init(&s, 3, NULL); /* a follower cannot transfer */
    cr_assert_eq(transfer(&s, 1), -1);
    solo_free(&s);
    solo_init(&s, 1, NULL); /* nobody to hand over to */
    solo_tick(&s, raft_deadline(s.r));
    cr_assert_eq(raft_role(s.r), RAFT_LEADER);
    cr_assert_eq(transfer(&s, RAFT_NO_NODE), -2);
    solo_free(&s);
}

/* 3.10: the target "starts a new election" at once: a VOTE for term + 1,
 * not a pre-vote, flagged as a transfer. */
Test(transfer, timeout_now_makes_a_follower_campaign_in_the_next_term_at_once)
{
    struct solo s;
    solo_init(&s, 3, NULL);
    struct raft_msg hb = solo_from(1, RAFT_MSG_APPEND, 4); /* n1 leads term 4 */
    solo_recv(&s, &hb);
    s.now += 5;
    struct raft_msg stale = solo_from(1, RAFT_MSG_TIMEOUT_NOW, 3);
    solo_recv(&s, &stale);
    cr_assert_eq(raft_role(s.r), RAFT_FOLLOWER, "a stale TimeoutNow moved it");
    struct raft_msg tn = solo_from(1, RAFT_MSG_TIMEOUT_NOW, 4);
    solo_recv(&s, &tn);
    cr_assert_eq(raft_role(s.r), RAFT_CANDIDATE);
    cr_assert_eq(raft_current_term(s.r), 5);
    cr_assert_eq(solo_count(&s, RAFT_MSG_PREVOTE), 0);
    const struct raft_msg *v = solo_msg(&s, RAFT_MSG_VOTE, 2);
    cr_assert_not_null(v);
    cr_assert_eq(v->term, 5);
    cr_assert(v->transfer);
    cr_assert(solo_msg(&s, RAFT_MSG_VOTE, 1)->transfer);
    solo_free(&s);
}

/* 3.10 with 6.2: a follower inside a live leader's lease ignores a higher
 * term's VOTE, but grants one flagged as a transfer (the leader asked). */
Test(transfer, follower_in_lease_grants_a_transfer_vote)
{
    struct solo s;
    solo_init(&s, 3, NULL);
    struct raft_msg hb = solo_from(1, RAFT_MSG_APPEND, 2); /* n1 leads term 2 */
    solo_recv(&s, &hb);
    s.now += 10;
    struct raft_msg v = solo_from(2, RAFT_MSG_VOTE, 3);
    solo_recv(&s, &v);
    cr_assert_eq(raft_current_term(s.r), 2, "an unflagged vote moved the lease");
    v.transfer = true;
    solo_recv(&s, &v);
    const struct raft_msg *resp = solo_msg(&s, RAFT_MSG_VOTE_RESP, 2);
    cr_assert(resp && resp->granted);
    cr_assert_eq(raft_current_term(s.r), 3);
    solo_free(&s);
}

/* The leader too: it is "in its own lease", yet a transfer vote deposes
 * it, and it votes for the target. */
Test(transfer, leader_steps_down_for_its_targets_vote)
{
    struct solo s;
    solo_init(&s, 3, NULL);
    solo_become_leader(&s);
    raft_term term = raft_current_term(s.r);
    struct raft_msg v = solo_from(1, RAFT_MSG_VOTE, term + 1);
    v.last_log_index = raft_last_index(s.r);
    v.last_log_term = term;
    v.transfer = true;
    solo_recv(&s, &v);
    cr_assert_eq(raft_role(s.r), RAFT_FOLLOWER);
    const struct raft_msg *resp = solo_msg(&s, RAFT_MSG_VOTE_RESP, 1);
    cr_assert(resp && resp->granted);
    cr_assert_eq(raft_transfer_target(s.r), RAFT_NO_NODE);
    solo_free(&s);
}

/* After a completed transfer the new leader is not transferring, and the
 * old one (now a follower) holds no stale transfer when it leads again. */
Test(transfer, leadership_can_be_handed_around_the_whole_cluster)
{
    int leader;
    struct cluster *c = settled(34, &leader, 1);
    for (int round = 0; round < 6; round++) {
        int target = (leader + 1) % 3;
        cr_assert_eq(cluster_transfer(c, leader, target), 0);
        cr_assert(cluster_step_until(c, leader_is, &target, 250), "round %d", round);
        cr_assert_eq(raft_transfer_target(cluster_raft(c, target)), RAFT_NO_NODE);
        raft_index idx;
        cr_assert_eq(cluster_propose(c, target, "r", 1, &idx), 0);
        cr_assert(cluster_wait_applied(c, idx, 1000));
        leader = target;
    }
    ASSERT_SAFE(c);
    cluster_free(c);
}
