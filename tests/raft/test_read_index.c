/* test_read_index.c - linearizable reads by ReadIndex (thesis 6.4): the
 * no-op commit, the heartbeat round, applying up to the read index, and
 * failing reads that can no longer be proven. One behaviour each.
 */
#include <criterion/criterion.h>

#include "../lib/cluster.h"
#include "../lib/solo.h"

#define ASSERT_SAFE(c) cr_assert(cluster_ok(c), "%s", cluster_error(c))

static bool has_id(const uint64_t *ids, size_t n, uint64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

/* A 3-node leader whose no-op is committed (n1 acknowledged it). */
static void leader_with_noop_committed(struct solo *s)
{
    solo_init(s, 3, NULL);
    solo_become_leader(s);
    struct raft_msg ack = solo_from(1, RAFT_MSG_APPEND_RESP, raft_current_term(s->r));
    ack.success = true;
    ack.match_index = raft_last_index(s->r);
    solo_recv(s, &ack);
    cr_assert_eq(raft_commit_index(s->r), raft_last_index(s->r));
}

/* 6.4 */
Test(read_index, read_on_a_follower_is_refused_as_not_leader)
{
    struct solo s;
    solo_init(&s, 3, NULL);
    uint64_t id = 5;
    cr_assert_eq(solo_read(&s, &id, 1), RAFT_ERR_NOT_LEADER);
    cr_assert_eq(s.u.n_reads_failed, 1);
    cr_assert_eq(s.u.reads_failed[0], 5);
    solo_free(&s);
}

/* 6.4 step 1 */
Test(read_index, read_waits_until_the_leader_commits_its_noop)
{
    struct solo s;
    solo_init(&s, 3, NULL);
    solo_become_leader(&s);
    uint64_t id = 1;
    cr_assert_eq(solo_read(&s, &id, 1), RAFT_OK);
    cr_assert_eq(solo_count(&s, RAFT_MSG_APPEND), 0, "no round before the no-op commits");
    cr_assert_eq(s.u.n_reads_ready, 0);
    struct raft_msg ack = solo_from(1, RAFT_MSG_APPEND_RESP, raft_current_term(s.r));
    ack.success = true;
    ack.match_index = raft_last_index(s.r);
    solo_recv(&s, &ack);
    cr_assert_eq(s.u.n_reads_ready, 0, "committed, but leadership not yet confirmed");
    cr_assert_eq(raft_deadline(s.r), s.now, "the commit makes a round due at once");
    solo_tick(&s, s.now);
    const struct raft_msg *hb = solo_msg(&s, RAFT_MSG_APPEND, 1);
    cr_assert_not_null(hb, "the tick sends the round");
    struct raft_msg resp = ack;
    resp.seq = hb->seq;
    solo_recv(&s, &resp);
    cr_assert_eq(s.u.n_reads_ready, 1);
    cr_assert_eq(s.u.reads_ready[0], 1);
    solo_free(&s);
}

/* 6.4 steps 2-3 */
Test(read_index, read_is_served_only_after_a_quorum_answers_a_fresh_heartbeat_round)
{
    struct solo s;
    leader_with_noop_committed(&s);
    uint64_t id = 9;
    solo_read_round(&s, &id, 1);
    cr_assert_eq(s.u.n_reads_ready, 0);
    const struct raft_msg *hb1 = solo_msg(&s, RAFT_MSG_APPEND, 1);
    const struct raft_msg *hb2 = solo_msg(&s, RAFT_MSG_APPEND, 2);
    cr_assert(hb1 && hb2, "with nothing to replicate, the round is broadcast at once");
    uint64_t seq = hb1->seq;
    cr_assert_eq(hb2->seq, seq);
    /* An answer to an older round proves nothing about this read. */
    struct raft_msg old = solo_from(2, RAFT_MSG_APPEND_RESP, raft_current_term(s.r));
    old.success = true;
    old.seq = seq - 1;
    solo_recv(&s, &old);
    cr_assert_eq(s.u.n_reads_ready, 0);
    struct raft_msg fresh = old;
    fresh.seq = seq;
    solo_recv(&s, &fresh);
    cr_assert_eq(s.u.n_reads_ready, 1);
    cr_assert_eq(s.u.reads_ready[0], 9);
    solo_free(&s);
}

/* 6.4: reads taken together share one round */
Test(read_index, reads_in_one_event_share_one_heartbeat_round)
{
    struct solo s;
    leader_with_noop_committed(&s);
    uint64_t ids[3] = {1, 2, 3};
    solo_read_round(&s, ids, 3);
    cr_assert_eq(solo_count(&s, RAFT_MSG_APPEND), 2, "one heartbeat per follower, not per read");
    struct raft_msg resp = solo_from(1, RAFT_MSG_APPEND_RESP, raft_current_term(s.r));
    resp.success = true;
    resp.seq = solo_msg(&s, RAFT_MSG_APPEND, 1)->seq;
    solo_recv(&s, &resp);
    cr_assert_eq(s.u.n_reads_ready, 3);
    solo_free(&s);
}

struct outcomes {
    int n;
    struct cluster_completion last;
};

static void record(void *ctx, const struct cluster_completion *d)
{
    struct outcomes *o = ctx;
    o->n++;
    o->last = *d;
}

/* 6.4: a stream of reads costs one round per round trip, not one per read */
Test(read_index, reads_arriving_while_a_round_is_in_flight_share_the_next_round)
{
    struct solo s;
    leader_with_noop_committed(&s);
    uint64_t a = 1, b = 2, c = 3;
    solo_read_round(&s, &a, 1);
    const struct raft_msg *hb = solo_msg(&s, RAFT_MSG_APPEND, 1);
    cr_assert_not_null(hb);
    uint64_t first = hb->seq;
    solo_read_round(&s, &b, 1);
    cr_assert_eq(solo_count(&s, RAFT_MSG_APPEND), 0, "round %llu is still in flight",
                 (unsigned long long)first);
    solo_read_round(&s, &c, 1);
    cr_assert_eq(solo_count(&s, RAFT_MSG_APPEND), 0);
    /* The first round is confirmed: read 1 is served, and reads 2 and 3
     * (which arrived after it started) get a round of their own. */
    struct raft_msg resp = solo_from(1, RAFT_MSG_APPEND_RESP, raft_current_term(s.r));
    resp.success = true;
    resp.seq = first;
    solo_recv(&s, &resp);
    cr_assert_eq(s.u.n_reads_ready, 1);
    cr_assert_eq(s.u.reads_ready[0], 1);
    cr_assert_eq(raft_deadline(s.r), s.now, "the next round is due at once");
    solo_tick(&s, s.now);
    hb = solo_msg(&s, RAFT_MSG_APPEND, 2);
    cr_assert(hb && hb->seq > first, "the tick starts the next round");
    resp.seq = hb->seq;
    solo_recv(&s, &resp);
    cr_assert_eq(s.u.n_reads_ready, 2);
    solo_free(&s);
}

/* 6.4: lost heartbeats do not strand reads */
Test(read_index, reads_whose_round_was_lost_ride_the_next_heartbeat)
{
    struct solo s;
    leader_with_noop_committed(&s);
    uint64_t a = 1, b = 2;
    solo_read_round(&s, &a, 1);
    uint64_t first = solo_msg(&s, RAFT_MSG_APPEND, 1)->seq;
    solo_read_round(&s, &b, 1); /* waits for the next round; the first is lost */
    solo_tick(&s, raft_deadline(s.r));
    const struct raft_msg *hb = solo_msg(&s, RAFT_MSG_APPEND, 1);
    cr_assert(hb && hb->seq > first, "the heartbeat carries a new round");
    struct raft_msg resp = solo_from(2, RAFT_MSG_APPEND_RESP, raft_current_term(s.r));
    resp.success = true;
    resp.seq = hb->seq;
    solo_recv(&s, &resp);
    cr_assert_eq(s.u.n_reads_ready, 2, "both reads: the new round proves the older one too");
    solo_free(&s);
}

/* 6.4 ("piggyback on AppendEntries"): entries proposed right after a read
 * carry its round; no empty heartbeat is sent for it */
Test(read_index, a_read_round_rides_the_appends_of_a_proposal_that_follows_it)
{
    struct solo s;
    leader_with_noop_committed(&s);
    struct raft_msg ack = solo_from(2, RAFT_MSG_APPEND_RESP, raft_current_term(s.r));
    ack.success = true;
    ack.match_index = raft_last_index(s.r);
    solo_recv(&s, &ack); /* n2 replicates too */
    uint64_t id = 4;
    solo_read(&s, &id, 1);
    cr_assert_eq(solo_count(&s, RAFT_MSG_APPEND), 0, "the read waits for the next message out");
    cr_assert_eq(raft_deadline(s.r), s.now);
    solo_propose(&s, 1);
    const struct raft_msg *a1 = solo_msg(&s, RAFT_MSG_APPEND, 1);
    const struct raft_msg *a2 = solo_msg(&s, RAFT_MSG_APPEND, 2);
    cr_assert(a1 && a2 && a1->n_entries == 1 && a2->n_entries == 1);
    cr_assert_eq(a1->seq, a2->seq);
    cr_assert_gt(raft_deadline(s.r), s.now, "every follower has the round: nothing is due");
    struct raft_msg resp = solo_from(1, RAFT_MSG_APPEND_RESP, raft_current_term(s.r));
    resp.success = true;
    resp.match_index = a1->prev_index + 1;
    resp.seq = a1->seq;
    solo_recv(&s, &resp);
    cr_assert_eq(s.u.n_reads_ready, 1, "the answer to the APPEND confirms the read");
    cr_assert_eq(s.u.reads_ready[0], 4);
    solo_free(&s);
}

/* 6.4: a follower the replication stream did not reach gets the round alone */
Test(read_index, a_follower_replication_skipped_gets_the_round_in_a_heartbeat)
{
    struct solo s;
    leader_with_noop_committed(&s); /* n2 still probing: its probe is unanswered */
    uint64_t id = 4;
    solo_read(&s, &id, 1);
    solo_propose(&s, 1);
    const struct raft_msg *a1 = solo_msg(&s, RAFT_MSG_APPEND, 1);
    cr_assert(a1 && a1->n_entries == 1);
    uint64_t round = a1->seq;
    cr_assert_null(solo_msg(&s, RAFT_MSG_APPEND, 2), "one probe at a time");
    cr_assert_eq(raft_deadline(s.r), s.now, "n2 lacks the round");
    solo_tick(&s, s.now);
    cr_assert_null(solo_msg(&s, RAFT_MSG_APPEND, 1), "n1 has it already");
    const struct raft_msg *hb = solo_msg(&s, RAFT_MSG_APPEND, 2);
    cr_assert(hb && hb->n_entries == 0 && hb->seq == round);
    solo_free(&s);
}

/* 6.4 step 4: the state machine has applied the read index when it answers */
Test(read_index, read_after_an_acknowledged_write_sees_it)
{
    struct cluster *c = cluster_new(3, 37);
    struct outcomes o = {0};
    cluster_on_complete(c, record, &o);
    int leader = cluster_wait_leader(c, 2000);
    cr_assert_geq(leader, 0);
    cluster_submit(c, leader, CLUSTER_WRITE, 2, 42, 0, 1000);
    while (o.n < 1 && cluster_ok(c))
        cluster_step(c);
    cr_assert_eq(o.last.outcome, CLUSTER_OK);
    cluster_submit(c, leader, CLUSTER_READ, 2, 0, 0, 1000);
    while (o.n < 2 && cluster_ok(c))
        cluster_step(c);
    ASSERT_SAFE(c);
    cr_assert_eq(o.last.outcome, CLUSTER_OK);
    cr_assert_eq(o.last.value, 42);
    cluster_free(c);
}

/* 6.4: a single node is its own quorum */
Test(read_index, single_node_serves_reads_at_once)
{
    struct cluster *c = cluster_new(1, 3);
    cr_assert_eq(cluster_wait_leader(c, 1000), 0);
    cluster_elapse(c, 5);
    uint64_t id = 77;
    struct raft_update u;
    struct raft_event e = {.type = RAFT_EVENT_READ, .now_ms = cluster_now(c)};
    e.read.n = 1;
    e.read.ids = &id;
    cr_assert_eq(raft_step(cluster_raft(c, 0), &e, &u), RAFT_OK);
    cr_assert_eq(u.n_reads_ready, 1);
    cr_assert_eq(u.n_messages, 0);
    cluster_free(c);
}

/* 6.4: leadership lost, proof impossible */
Test(read_index, pending_reads_fail_when_the_leader_steps_down)
{
    struct solo s;
    leader_with_noop_committed(&s);
    uint64_t ids[2] = {11, 12};
    solo_read(&s, ids, 2);
    struct raft_msg newer = solo_from(2, RAFT_MSG_APPEND, raft_current_term(s.r) + 1);
    solo_recv(&s, &newer);
    cr_assert_eq(raft_role(s.r), RAFT_FOLLOWER);
    cr_assert_eq(s.u.n_reads_failed, 2);
    cr_assert(has_id(s.u.reads_failed, 2, 11) && has_id(s.u.reads_failed, 2, 12));
    solo_free(&s);
}

/* 6.2 with 6.4: a leader deposed by check-quorum fails its reads too */
Test(read_index, reads_on_a_partitioned_leader_fail_instead_of_answering)
{
    struct cluster *c = cluster_new(3, 31);
    struct outcomes o = {0};
    cluster_on_complete(c, record, &o);
    int leader = cluster_wait_leader(c, 2000);
    cr_assert_geq(leader, 0);
    cluster_elapse(c, 50);
    cluster_isolate(c, leader);
    cluster_submit(c, leader, CLUSTER_READ, 0, 0, 0, 5000);
    cluster_elapse(c, 1000);
    ASSERT_SAFE(c);
    cr_assert_eq(o.n, 1, "the read was answered before its timeout");
    cr_assert_eq(o.last.outcome, CLUSTER_FAIL, "and not served from a stale view");
    cr_assert_neq(raft_role(cluster_raft(c, leader)), RAFT_LEADER);
    cluster_free(c);
}

/* Bounded queues */
Test(read_index, reads_beyond_max_pending_are_refused_as_busy)
{
    struct raft_config cfg;
    raft_config_default(&cfg, 0, 3, 1);
    cfg.max_pending_reads = 4;
    struct solo s;
    solo_init_config(&s, &cfg, NULL);
    solo_become_leader(&s); /* no-op not committed: reads wait */
    uint64_t ids[5] = {1, 2, 3, 4, 5};
    cr_assert_eq(solo_read(&s, ids, 3), RAFT_OK);
    cr_assert_eq(solo_read(&s, ids + 3, 2), RAFT_ERR_BUSY);
    cr_assert_eq(s.u.n_reads_failed, 2, "refused reads are listed as failed");
    cr_assert_eq(solo_read(&s, ids + 3, 1), RAFT_OK);
    solo_free(&s);
}
