/* test_lost_data.c - a follower that lost entries it had acknowledged (a
 * wiped disk): the leader keeps its match (it never goes down), probes it at
 * most once per heartbeat interval instead of answering each refusal with a
 * new APPEND (the old message storm), flags it once two probes in a row are
 * refused below match, and the other members keep committing.
 */
#include <criterion/criterion.h>

#include "../lib/cluster.h"
#include "../lib/solo.h"

#define ASSERT_SAFE(c) cr_assert(cluster_ok(c), "%s", cluster_error(c))

static struct raft_msg ack(raft_term term, raft_index match)
{
    struct raft_msg m = solo_from(1, RAFT_MSG_APPEND_RESP, term);
    m.success = true;
    m.match_index = match;
    return m;
}

/* Peer 1 refuses prev `at`: its log ends at `log_end`. */
static struct raft_msg refusal(raft_term term, raft_index at, raft_index log_end)
{
    struct raft_msg m = solo_from(1, RAFT_MSG_APPEND_RESP, term);
    m.reject_index = at;
    m.hint_index = log_end;
    m.hint_term = 0;
    return m;
}

/* Leader of a 3-node cluster whose follower 1 acknowledged index 4 (no-op
 * and 3 commands); returns the term. */
static raft_term leader_with_follower_at_4(struct solo *s)
{
    solo_init(s, 3, NULL);
    solo_become_leader(s);
    raft_term t = raft_current_term(s->r);
    solo_propose(s, 3);
    solo_persisted_all(s);
    struct raft_msg a = ack(t, 1);
    solo_recv(s, &a);
    a = ack(t, 4);
    solo_recv(s, &a);
    raft_index match, next;
    cr_assert(raft_progress(s->r, 1, &match, &next));
    cr_assert_eq(match, 4);
    cr_assert_eq(raft_commit_index(s->r), 4);
    return t;
}

static size_t appends_to_1(const struct solo *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->u.n_messages; i++)
        n += s->u.messages[i].type == RAFT_MSG_APPEND && s->u.messages[i].to == 1;
    return n;
}

static uint64_t next_heartbeat(struct solo *s)
{
    return raft_deadline(s->r);
}

Test(lost_data, refusals_below_match_are_probed_once_per_heartbeat_then_flagged)
{
    struct solo s;
    raft_term t = leader_with_follower_at_4(&s);

    /* It refuses the heartbeat at its match: its log ends at 0. */
    struct raft_msg no = refusal(t, 4, 0);
    solo_recv(&s, &no);
    cr_assert_eq(appends_to_1(&s), 0, "no APPEND in answer to the refusal");
    cr_assert_not(raft_peer_lost_data(s.r, 1, NULL), "one refusal may be stale: not flagged");

    /* The heartbeat tick probes at match; a refusal of it is not answered
     * at once either. */
    solo_tick(&s, next_heartbeat(&s));
    const struct raft_msg *probe = solo_msg(&s, RAFT_MSG_APPEND, 1);
    cr_assert_not_null(probe);
    cr_assert_eq(probe->prev_index, 4, "the probe stays at match");
    solo_recv(&s, &no);
    cr_assert_eq(appends_to_1(&s), 0);
    cr_assert_not(raft_peer_lost_data(s.r, 1, NULL), "one refused probe: not flagged yet");
    cr_assert_eq(s.u.lost_data_peers, 0u);
    /* A duplicate of that refusal while no probe is out changes nothing. */
    solo_recv(&s, &no);
    cr_assert_eq(appends_to_1(&s), 0);
    cr_assert_not(raft_peer_lost_data(s.r, 1, NULL));
    /* Proposals do not reach it meanwhile. */
    solo_propose(&s, 1);
    cr_assert_null(solo_msg(&s, RAFT_MSG_APPEND, 1));

    /* The second probe, one heartbeat later, refused: flagged. */
    solo_tick(&s, next_heartbeat(&s));
    probe = solo_msg(&s, RAFT_MSG_APPEND, 1);
    cr_assert_not_null(probe);
    cr_assert_eq(probe->prev_index, 4);
    solo_recv(&s, &no);
    cr_assert_eq(appends_to_1(&s), 0);
    raft_index agree = 99;
    cr_assert(raft_peer_lost_data(s.r, 1, &agree));
    cr_assert_eq(agree, 0, "where it said its log ends");
    cr_assert_eq(s.u.lost_data_peers, 1u << 1, "the update names node 1");
    cr_assert_not(raft_peer_lost_data(s.r, 2, NULL));
    raft_index match, next;
    cr_assert(raft_progress(s.r, 1, &match, &next));
    cr_assert_eq(match, 4, "match never goes down");
    cr_assert_eq(next, 5);

    /* It stays flagged, probed once per interval, reported with each
     * refused probe (the driver rate-limits its log). */
    for (int i = 0; i < 5; i++) {
        solo_tick(&s, next_heartbeat(&s));
        cr_assert_eq(appends_to_1(&s), 1, "one probe per heartbeat");
        solo_recv(&s, &no);
        cr_assert_eq(s.u.lost_data_peers, 1u << 1);
    }
    cr_assert(raft_peer_lost_data(s.r, 1, NULL));

    /* Should it hold its match after all, the flag clears and replication
     * resumes. */
    solo_tick(&s, next_heartbeat(&s));
    struct raft_msg yes = ack(t, 4);
    solo_recv(&s, &yes);
    cr_assert_not(raft_peer_lost_data(s.r, 1, NULL));
    cr_assert_not_null(solo_msg(&s, RAFT_MSG_APPEND, 1), "the entry past 4 goes out");
    solo_free(&s);
}

Test(lost_data, a_stale_refusal_costs_one_probe_and_flags_nothing)
{
    struct solo s;
    raft_term t = leader_with_follower_at_4(&s);
    /* A refusal of an APPEND at 3, sent before it had 3, arriving late. */
    struct raft_msg stale = refusal(t, 3, 2);
    solo_recv(&s, &stale);
    cr_assert_eq(appends_to_1(&s), 0);
    solo_propose(&s, 1);
    cr_assert_not_null(solo_msg(&s, RAFT_MSG_APPEND, 1), "it still streams until the tick");
    solo_tick(&s, next_heartbeat(&s));
    const struct raft_msg *probe = solo_msg(&s, RAFT_MSG_APPEND, 1);
    cr_assert_not_null(probe);
    cr_assert_eq(probe->prev_index, 4, "probe at match");
    struct raft_msg yes = ack(t, 5);
    solo_recv(&s, &yes);
    cr_assert_not(raft_peer_lost_data(s.r, 1, NULL));
    raft_index match, next;
    raft_progress(s.r, 1, &match, &next);
    cr_assert_eq(match, 5);
    solo_propose(&s, 1);
    cr_assert_not_null(solo_msg(&s, RAFT_MSG_APPEND, 1), "streaming again");
    solo_free(&s);
}

struct watch {
    int leader, victim;
    raft_index match0; /* the victim's match before it crashed */
    bool match_went_down;
};

/* Elapse ms in 5 ms slices, checking the leader's match for the victim. */
static void elapse_watching(struct cluster *c, struct watch *w, uint64_t ms)
{
    for (uint64_t t = 0; t < ms; t += 5) {
        cluster_elapse(c, 5);
        raft_index match, next;
        if (raft_progress(cluster_raft(c, w->leader), w->victim, &match, &next) &&
            match < w->match0)
            w->match_went_down = true;
    }
}

/* writes_while_down: the leader's log runs past the victim's match while it
 * is down (the path that stormed); without, match equals the leader's last
 * index and only heartbeats reach it (the path that went silent). */
static void wiped_follower(uint64_t seed, bool writes_while_down)
{
    struct cluster *c = cluster_new(3, seed);
    cluster_trace_enable(c, true);
    struct watch w = {.leader = cluster_wait_leader(c, 2000)};
    cr_assert_geq(w.leader, 0);
    w.victim = (w.leader + 1) % 3;
    int other = (w.leader + 2) % 3;
    for (int i = 0; i < 20; i++)
        cluster_submit(c, w.leader, CLUSTER_WRITE, i % 4, i, 0, 0);
    raft_index target = raft_last_index(cluster_raft(c, w.leader));
    cr_assert(cluster_wait_applied(c, target, 2000));
    raft_index next;
    cr_assert(raft_progress(cluster_raft(c, w.leader), w.victim, &w.match0, &next));
    cr_assert_eq(w.match0, target);

    cluster_crash(c, w.victim);
    cluster_wipe_disk(c, w.victim);
    if (writes_while_down)
        for (int i = 0; i < 10; i++)
            cluster_submit(c, w.leader, CLUSTER_WRITE, i % 4, 100 + i, 0, 0);
    elapse_watching(c, &w, 100);
    cluster_restart(c, w.victim);
    elapse_watching(c, &w, 500);
    cr_assert_eq(cluster_leader(c), w.leader, "no election");
    raft_index agree = 99;
    cr_assert(raft_peer_lost_data(cluster_raft(c, w.leader), w.victim, &agree),
              "flagged within 500 ms");
    cr_assert_eq(agree, 0);
    cr_assert_eq(cluster_trace_count(c, "-> flag lost data"), 1, "decided once");

    /* 10 s of simulated time with a write every 100 ms: at most one APPEND
     * per 50 ms heartbeat to the victim (200), and the other two commit. */
    uint64_t appends0 = cluster_msgs_sent_to(c, RAFT_MSG_APPEND, w.victim);
    uint64_t to_other0 = cluster_msgs_sent_to(c, RAFT_MSG_APPEND, other);
    raft_index commit0 = raft_commit_index(cluster_raft(c, w.leader));
    for (int i = 0; i < 100; i++) {
        cluster_submit(c, w.leader, CLUSTER_WRITE, i % 4, 1000 + i, 0, 0);
        elapse_watching(c, &w, 100);
    }
    uint64_t appends = cluster_msgs_sent_to(c, RAFT_MSG_APPEND, w.victim) - appends0;
    cr_log_info("seed %llu: %llu APPENDs to the wiped follower in 10 s, %llu to the other",
                (unsigned long long)seed, (unsigned long long)appends,
                (unsigned long long)(cluster_msgs_sent_to(c, RAFT_MSG_APPEND, other) - to_other0));
    cr_assert_leq(appends, 202, "%llu APPENDs in 10 s: a storm", (unsigned long long)appends);
    cr_assert_geq(appends, 150, "it is still probed (%llu)", (unsigned long long)appends);
    cr_assert_eq(cluster_leader(c), w.leader);
    cr_assert_geq(raft_commit_index(cluster_raft(c, w.leader)), commit0 + 100,
                  "the other two keep committing");
    cr_assert_not(w.match_went_down, "match never goes down");
    cr_assert(raft_peer_lost_data(cluster_raft(c, w.leader), w.victim, NULL), "still flagged");
    cr_assert_eq(raft_commit_index(cluster_raft(c, w.victim)), 0, "it is fed nothing");
    ASSERT_SAFE(c);
    cluster_free(c);
}

Test(lost_data, wiped_follower_behind_the_log_is_flagged_without_a_storm)
{
    wiped_follower(71, true);
}

Test(lost_data, wiped_follower_at_the_last_index_is_flagged_too)
{
    wiped_follower(72, false);
}

/* A plain restart (disk kept) is never mistaken for lost data, even with
 * reordering and duplicates on the links. */
Test(lost_data, restarts_with_their_disk_are_not_flagged)
{
    struct cluster *c = cluster_new(3, 73);
    struct cluster_link l = {.dist = CLUSTER_UNIFORM, .latency_ms = 5, .duplicate = 0.05,
                             .reorder = 0.2};
    cluster_set_all_links(c, &l);
    cluster_trace_enable(c, true);
    int leader = cluster_wait_leader(c, 3000);
    cr_assert_geq(leader, 0);
    for (int round = 0; round < 10; round++) {
        int f = (leader + 1 + round % 2) % 3;
        for (int i = 0; i < 20; i++) {
            cluster_submit(c, leader, CLUSTER_WRITE, i % 4, i, 0, 0);
            cluster_elapse(c, 2);
        }
        cluster_crash(c, f);
        for (int i = 0; i < 5; i++)
            cluster_submit(c, leader, CLUSTER_WRITE, i % 4, i, 0, 0);
        cluster_elapse(c, 50);
        cluster_restart(c, f);
        cluster_elapse(c, 300);
        cr_assert_eq(cluster_leader(c), leader);
    }
    cr_assert_eq(cluster_trace_count(c, "-> flag lost data"), 0);
    raft_index target = raft_last_index(cluster_raft(c, leader));
    cr_assert(cluster_wait_applied(c, target, 3000), "everyone caught up");
    ASSERT_SAFE(c);
    cluster_free(c);
}
