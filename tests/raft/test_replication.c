/* test_replication.c - log replication (5.3), commitment (5.4.2), the no-op
 * per term, batching, pipelining and fast backtracking. One behaviour each.
 */
#include <criterion/criterion.h>

#include "../lib/cluster.h"
#include "../lib/solo.h"

#define ASSERT_SAFE(c) cr_assert(cluster_ok(c), "%s", cluster_error(c))

static uint8_t payload[1] = {7};

/* A follower's log restored as (index, term) pairs 1..n. */
static void restore_terms(struct raft_restore *rs, struct raft_entry *ents, const raft_term *terms,
                          size_t n, raft_term term)
{
    memset(rs, 0, sizeof *rs);
    for (size_t i = 0; i < n; i++)
        ents[i] = (struct raft_entry){.term = terms[i], .index = i + 1, .type = RAFT_ENTRY_COMMAND,
                                      .len = 1, .data = payload};
    rs->term = term;
    rs->voted_for = RAFT_NO_NODE;
    rs->entries = ents;
    rs->n_entries = n;
}

static struct raft_msg append_from_leader(raft_term term, raft_index prev, raft_term prev_term,
                                          struct raft_entry *ents, size_t n, raft_index commit)
{
    struct raft_msg m = solo_from(1, RAFT_MSG_APPEND, term);
    m.prev_index = prev;
    m.prev_term = prev_term;
    m.entries = ents;
    m.n_entries = n;
    m.commit = commit;
    return m;
}

/* 5.1 */
Test(replication, follower_rejects_append_with_stale_term)
{
    struct raft_restore rs = {.term = 3, .voted_for = RAFT_NO_NODE};
    struct solo s;
    solo_init(&s, 3, &rs);
    struct raft_entry e = {.term = 2, .index = 1, .len = 1, .data = payload};
    struct raft_msg m = append_from_leader(2, 0, 0, &e, 1, 0);
    solo_recv(&s, &m);
    const struct raft_msg *resp = solo_msg(&s, RAFT_MSG_APPEND_RESP, 1);
    cr_assert(resp && !resp->success);
    cr_assert_eq(resp->term, 3, "the answer carries the newer term");
    cr_assert_eq(raft_last_index(s.r), 0, "nothing appended");
    solo_free(&s);
}

/* 5.3 */
Test(replication, follower_rejects_append_that_fails_the_consistency_check)
{
    raft_term terms[] = {1, 1, 2};
    struct raft_entry ents[3];
    struct raft_restore rs;
    restore_terms(&rs, ents, terms, 3, 3);
    struct solo s;
    solo_init(&s, 3, &rs);
    struct raft_entry e = {.term = 3, .index = 4, .len = 1, .data = payload};
    struct raft_msg m = append_from_leader(3, 3, 3, &e, 1, 0); /* we hold (3, term 2) */
    solo_recv(&s, &m);
    const struct raft_msg *resp = solo_msg(&s, RAFT_MSG_APPEND_RESP, 1);
    cr_assert(resp && !resp->success);
    cr_assert_eq(resp->reject_index, 3);
    cr_assert_eq(resp->hint_term, 2, "hint: the term we hold there");
    cr_assert_eq(resp->hint_index, 3, "hint: the first index of that term");
    cr_assert_eq(raft_last_index(s.r), 3);
    solo_free(&s);
}

/* 5.3 */
Test(replication, follower_with_shorter_log_hints_its_last_index)
{
    raft_term terms[] = {1, 1};
    struct raft_entry ents[2];
    struct raft_restore rs;
    restore_terms(&rs, ents, terms, 2, 2);
    struct solo s;
    solo_init(&s, 3, &rs);
    struct raft_msg m = append_from_leader(2, 9, 2, NULL, 0, 0);
    solo_recv(&s, &m);
    const struct raft_msg *resp = solo_msg(&s, RAFT_MSG_APPEND_RESP, 1);
    cr_assert(resp && !resp->success);
    cr_assert_eq(resp->hint_index, 2);
    cr_assert_eq(resp->hint_term, 0);
    solo_free(&s);
}

/* 5.3 */
Test(replication, conflicting_entries_are_replaced_by_the_leaders)
{
    raft_term terms[] = {1, 2, 2};
    struct raft_entry ents[3];
    struct raft_restore rs;
    restore_terms(&rs, ents, terms, 3, 2);
    struct solo s;
    solo_init(&s, 3, &rs);
    struct raft_entry e[2] = {{.term = 3, .index = 2, .len = 1, .data = payload},
                              {.term = 3, .index = 3, .len = 1, .data = payload}};
    struct raft_msg m = append_from_leader(3, 1, 1, e, 2, 0);
    solo_recv(&s, &m);
    const struct raft_msg *resp = solo_msg(&s, RAFT_MSG_APPEND_RESP, 1);
    cr_assert(resp && resp->success);
    cr_assert_eq(resp->match_index, 3);
    cr_assert_eq(raft_entry_at(s.r, 2)->term, 3);
    cr_assert_eq(raft_entry_at(s.r, 3)->term, 3);
    cr_assert(s.u.flags & RAFT_UPDATE_ENTRIES);
    cr_assert_eq(s.u.entries[0].index, 2, "persist from the first replaced index");
    cr_assert_eq(s.u.n_entries, 2);
    solo_free(&s);
}

/* 5.3 */
Test(replication, stale_duplicate_append_does_not_truncate_newer_entries)
{
    raft_term terms[] = {1, 1, 1, 1};
    struct raft_entry ents[4];
    struct raft_restore rs;
    restore_terms(&rs, ents, terms, 4, 1);
    struct solo s;
    solo_init(&s, 3, &rs);
    struct raft_entry e = {.term = 1, .index = 2, .len = 1, .data = payload};
    struct raft_msg m = append_from_leader(1, 1, 1, &e, 1, 0); /* an old, delayed APPEND */
    solo_recv(&s, &m);
    cr_assert(solo_msg(&s, RAFT_MSG_APPEND_RESP, 1)->success);
    cr_assert_eq(raft_last_index(s.r), 4, "entries 3 and 4 survive");
    cr_assert(!(s.u.flags & RAFT_UPDATE_ENTRIES), "nothing new to persist");
    solo_free(&s);
}

/* Figure 2, AppendEntries rule 5 */
Test(replication, follower_commit_is_bounded_by_its_last_new_entry)
{
    struct solo s;
    solo_init(&s, 3, NULL);
    struct raft_entry e[2] = {{.term = 1, .index = 1, .len = 1, .data = payload},
                              {.term = 1, .index = 2, .len = 1, .data = payload}};
    struct raft_msg m = append_from_leader(1, 0, 0, e, 2, 10);
    solo_recv(&s, &m);
    cr_assert_eq(raft_commit_index(s.r), 2);
    cr_assert_eq(s.u.n_committed, 2);
    cr_assert_eq(s.u.committed[0].index, 1);
    solo_free(&s);
}

/* Figure 2, AppendEntries rule 5: the bound is the last entry this APPEND
 * vouches for, not the end of our log, whose stale suffix may never commit. */
Test(replication, follower_commit_ignores_its_own_suffix_beyond_the_append)
{
    raft_term terms[] = {1, 1, 1, 1};
    struct raft_entry ents[4];
    struct raft_restore rs;
    restore_terms(&rs, ents, terms, 4, 1);
    struct solo s;
    solo_init(&s, 3, &rs);
    /* A heartbeat at index 1 from the leader of term 2, which committed 3
     * of its own log: our entries 2..4 are not known to match it. */
    struct raft_msg m = append_from_leader(2, 1, 1, NULL, 0, 3);
    solo_recv(&s, &m);
    cr_assert(solo_msg(&s, RAFT_MSG_APPEND_RESP, 1)->success);
    cr_assert_eq(raft_commit_index(s.r), 1);
    /* One matching entry vouched for: commit reaches it, and no further. */
    struct raft_entry e = {.term = 1, .index = 2, .len = 1, .data = payload};
    m = append_from_leader(2, 1, 1, &e, 1, 3);
    solo_recv(&s, &m);
    cr_assert_eq(raft_commit_index(s.r), 2);
    cr_assert_eq(raft_last_index(s.r), 4, "agreeing entries are kept");
    solo_free(&s);
}

/* 5.3: matchIndex only grows; an older success arriving late says less. */
Test(replication, a_late_older_success_does_not_move_match_back)
{
    struct solo s;
    solo_init(&s, 3, NULL);
    solo_become_leader(&s); /* no-op at 1 */
    solo_propose(&s, 3);    /* 2..4 */
    solo_persisted_all(&s);
    raft_term t = raft_current_term(s.r);
    struct raft_msg ok = solo_from(1, RAFT_MSG_APPEND_RESP, t);
    ok.success = true;
    ok.match_index = 4;
    solo_recv(&s, &ok);
    raft_index match, next;
    cr_assert(raft_progress(s.r, 1, &match, &next));
    cr_assert_eq(match, 4);
    ok.match_index = 2; /* the answer to an earlier APPEND, reordered */
    solo_recv(&s, &ok);
    cr_assert(raft_progress(s.r, 1, &match, &next));
    cr_assert_eq(match, 4, "match went back to %llu", (unsigned long long)match);
    cr_assert_geq(next, 5);
    solo_free(&s);
}

/* 5.4.2: a majority of 4 is 3, the leader included. */
Test(replication, a_leader_of_four_commits_only_with_three_holding_the_entry)
{
    struct solo s;
    solo_init(&s, 4, NULL);
    solo_become_leader(&s); /* no-op at 1, durable on the leader */
    raft_term t = raft_current_term(s.r);
    struct raft_msg ok = solo_from(1, RAFT_MSG_APPEND_RESP, t);
    ok.success = true;
    ok.match_index = 1;
    solo_recv(&s, &ok);
    cr_assert_eq(raft_commit_index(s.r), 0, "2 of 4 is no majority");
    ok = solo_from(2, RAFT_MSG_APPEND_RESP, t);
    ok.success = true;
    ok.match_index = 1;
    solo_recv(&s, &ok);
    cr_assert_eq(raft_commit_index(s.r), 1);
    solo_free(&s);
}

/* 8, thesis 6.4 */
Test(replication, new_leader_appends_a_noop_of_its_term)
{
    struct solo s;
    solo_init(&s, 3, NULL);
    solo_become_leader(&s);
    const struct raft_entry *e = raft_entry_at(s.r, raft_last_index(s.r));
    cr_assert_not_null(e);
    cr_assert_eq(e->type, RAFT_ENTRY_NOOP);
    cr_assert_eq(e->term, raft_current_term(s.r));
    solo_free(&s);
}

/* 8 */
Test(replication, every_term_of_a_cluster_starts_with_a_noop)
{
    struct cluster *c = cluster_new(3, 3);
    for (int round = 0; round < 3; round++) {
        int leader = cluster_wait_leader(c, 3000);
        cr_assert_geq(leader, 0);
        raft_term t = raft_current_term(cluster_raft(c, leader));
        /* The first entry of term t in the leader's log is a no-op. */
        struct raft *r = cluster_raft(c, leader);
        raft_index i = raft_last_index(r);
        while (i > 1 && raft_entry_at(r, i - 1) && raft_entry_at(r, i - 1)->term == t)
            i--;
        cr_assert_eq(raft_entry_at(r, i)->type, RAFT_ENTRY_NOOP, "term %llu", (unsigned long long)t);
        cluster_crash(c, leader);
        cluster_elapse(c, 10);
        cluster_restart(c, leader);
    }
    ASSERT_SAFE(c);
    cluster_free(c);
}

/* 5.4.2 (Figure 8) */
Test(replication, leader_does_not_commit_prior_term_entry_by_counting_replicas)
{
    raft_term terms[] = {1, 2};
    struct raft_entry ents[2];
    struct raft_restore rs;
    restore_terms(&rs, ents, terms, 2, 2);
    struct solo s;
    solo_init(&s, 3, &rs);
    solo_become_leader(&s); /* term 3, no-op at index 3 */
    raft_term t = raft_current_term(s.r);
    cr_assert_eq(raft_last_index(s.r), 3);
    struct raft_msg ack = solo_from(1, RAFT_MSG_APPEND_RESP, t);
    ack.success = true;
    ack.match_index = 2; /* n1 holds index 2 (of term 2): a majority has it */
    solo_recv(&s, &ack);
    cr_assert_eq(raft_commit_index(s.r), 0, "an entry of an earlier term is not committed by count");
    ack.match_index = 3;
    solo_recv(&s, &ack);
    cr_assert_eq(raft_commit_index(s.r), 3, "the current-term entry commits, and 1-2 with it");
    cr_assert_eq(s.u.n_committed, 3);
    solo_free(&s);
}

/* Thesis 10.2.1 with raft.h's order of work */
Test(replication, leader_counts_itself_only_for_entries_reported_durable)
{
    struct solo s;
    solo_init(&s, 1, NULL);
    solo_tick(&s, raft_deadline(s.r));
    cr_assert_eq(raft_role(s.r), RAFT_LEADER);
    cr_assert_eq(raft_commit_index(s.r), 0, "the no-op is not durable yet");
    solo_propose(&s, 2);
    cr_assert_eq(raft_commit_index(s.r), 0);
    struct raft_event e = {.type = RAFT_EVENT_PERSISTED, .now_ms = s.now};
    e.persisted.index = 2;
    e.persisted.term = 1;
    raft_step(s.r, &e, &s.u);
    cr_assert_eq(raft_commit_index(s.r), 2);
    cr_assert_eq(s.u.n_committed, 2);
    solo_persisted_all(&s);
    cr_assert_eq(raft_commit_index(s.r), 3);
    solo_free(&s);
}

static void persisted(struct solo *s, raft_index index, raft_term term)
{
    struct raft_event e = {.type = RAFT_EVENT_PERSISTED, .now_ms = s->now};
    e.persisted.index = index;
    e.persisted.term = term;
    raft_step(s->r, &e, &s->u);
}

/* raft.h: entries replaced by a conflicting suffix are no longer durable,
 * and a PERSISTED report for an entry since replaced does not vouch for the
 * entry now at that index. Seen through the leader's own match index. */
Test(replication, durability_follows_truncation_and_ignores_reports_for_replaced_entries)
{
    raft_term terms[] = {1, 1, 1};
    struct raft_entry ents[3];
    struct raft_restore rs;
    restore_terms(&rs, ents, terms, 3, 1);
    struct solo s;
    solo_init(&s, 3, &rs);
    struct raft_entry e = {.term = 2, .index = 2, .len = 1, .data = payload};
    struct raft_msg m = append_from_leader(2, 1, 1, &e, 1, 0);
    solo_recv(&s, &m); /* replaces 2..3 (term 1) with 2 (term 2), not yet durable */
    cr_assert_eq(raft_last_index(s.r), 2);
    /* Win term 3 without reporting anything durable. */
    solo_tick(&s, raft_deadline(s.r));
    struct raft_msg g = solo_from(1, RAFT_MSG_PREVOTE_RESP, 3);
    g.granted = true;
    solo_recv(&s, &g);
    g = solo_from(1, RAFT_MSG_VOTE_RESP, 3);
    g.granted = true;
    solo_recv(&s, &g);
    cr_assert_eq(raft_role(s.r), RAFT_LEADER);
    raft_index match, next;
    cr_assert(raft_progress(s.r, 0, &match, &next));
    cr_assert_eq(match, 1, "only entry 1 is durable, not %llu", (unsigned long long)match);
    persisted(&s, 2, 1); /* the write of the old entry 2 (term 1) completing late */
    cr_assert(raft_progress(s.r, 0, &match, &next));
    cr_assert_eq(match, 1, "a report for a replaced entry counted");
    persisted(&s, 3, 3);
    cr_assert(raft_progress(s.r, 0, &match, &next));
    cr_assert_eq(match, 3);
    solo_free(&s);
}

/* 5.3: replication starts when the command arrives, not at the heartbeat */
Test(replication, proposal_is_sent_to_followers_at_once)
{
    struct solo s;
    solo_init(&s, 3, NULL);
    solo_become_leader(&s);
    raft_term t = raft_current_term(s.r);
    for (int p = 1; p <= 2; p++) { /* followers acknowledge the no-op: REPLICATE */
        struct raft_msg ack = solo_from(p, RAFT_MSG_APPEND_RESP, t);
        ack.success = true;
        ack.match_index = 1;
        solo_recv(&s, &ack);
    }
    solo_propose(&s, 1);
    cr_assert_eq(solo_count(&s, RAFT_MSG_APPEND), 2, "one APPEND per follower, right away");
    cr_assert_eq(solo_msg(&s, RAFT_MSG_APPEND, 1)->n_entries, 1);
    solo_free(&s);
}

/* Batching: a PROPOSE of many commands travels as one APPEND per follower */
Test(replication, one_append_carries_a_whole_batch_of_proposals)
{
    struct solo s;
    solo_init(&s, 3, NULL);
    solo_become_leader(&s);
    raft_term t = raft_current_term(s.r);
    for (int p = 1; p <= 2; p++) {
        struct raft_msg ack = solo_from(p, RAFT_MSG_APPEND_RESP, t);
        ack.success = true;
        ack.match_index = 1;
        solo_recv(&s, &ack);
    }
    cr_assert_eq(solo_propose(&s, 100), RAFT_OK);
    cr_assert_eq(s.u.proposed_first, 2);
    cr_assert_eq(s.u.n_entries, 100, "all 100 persisted in one update");
    cr_assert_eq(solo_count(&s, RAFT_MSG_APPEND), 2);
    const struct raft_msg *m = solo_msg(&s, RAFT_MSG_APPEND, 1);
    cr_assert_eq(m->n_entries, 100);
    cr_assert_eq(m->entries[0].index, 2);
    cr_assert_eq(m->entries[99].index, 101);
    solo_free(&s);
}

/* Batching respects max_entries_per_msg */
Test(replication, batches_are_bounded_by_max_entries_per_message)
{
    struct raft_config cfg;
    raft_config_default(&cfg, 0, 3, 1);
    cfg.max_entries_per_msg = 10;
    cfg.max_inflight = 3;
    struct solo s;
    solo_init_config(&s, &cfg, NULL);
    solo_become_leader(&s);
    raft_term t = raft_current_term(s.r);
    struct raft_msg ack = solo_from(1, RAFT_MSG_APPEND_RESP, t);
    ack.success = true;
    ack.match_index = 1;
    solo_recv(&s, &ack);
    solo_propose(&s, 100);
    size_t to1 = 0;
    for (size_t i = 0; i < s.u.n_messages; i++)
        if (s.u.messages[i].type == RAFT_MSG_APPEND && s.u.messages[i].to == 1) {
            cr_assert_leq(s.u.messages[i].n_entries, 10);
            to1++;
        }
    cr_assert_eq(to1, 3, "pipelined up to max_inflight, each at most 10 entries");
    solo_free(&s);
}

/* Pipelining: several APPENDs in flight before any acknowledgement */
Test(replication, leader_pipelines_appends_up_to_max_inflight)
{
    struct solo s;
    solo_init(&s, 3, NULL);
    solo_become_leader(&s);
    raft_term t = raft_current_term(s.r);
    struct raft_msg ack = solo_from(1, RAFT_MSG_APPEND_RESP, t);
    ack.success = true;
    ack.match_index = 1;
    solo_recv(&s, &ack);
    int sent = 0;
    for (int i = 0; i < 12; i++) {
        solo_propose(&s, 1);
        sent += solo_msg(&s, RAFT_MSG_APPEND, 1) != NULL;
    }
    cr_assert_eq(sent, 8, "default max_inflight is 8; the rest wait for acks");
    ack.match_index = 3; /* acknowledges the first two APPENDs */
    solo_recv(&s, &ack);
    const struct raft_msg *m = solo_msg(&s, RAFT_MSG_APPEND, 1);
    cr_assert_not_null(m, "freed window slots are used at once");
    cr_assert_eq(m->prev_index, 9);
    cr_assert_eq(m->n_entries, 4, "the 4 waiting entries go out batched");
    solo_free(&s);
}

/* 5.3: a follower still probing gets one APPEND at a time */
Test(replication, leader_probes_one_append_at_a_time_until_the_logs_match)
{
    struct solo s;
    solo_init(&s, 3, NULL);
    solo_become_leader(&s);
    for (int i = 0; i < 5; i++) {
        solo_propose(&s, 1);
        cr_assert_null(solo_msg(&s, RAFT_MSG_APPEND, 1), "a probe is already out");
    }
    solo_free(&s);
}

/* 5.3 (fast backtracking) */
Test(replication, rejection_hint_skips_a_whole_conflicting_term)
{
    /* Leader log: 1..3 term 1, then its no-op at 4 (term 3).
     * Follower had 2..50 of term 2 (a deposed leader's unreplicated tail). */
    raft_term terms[3] = {1, 1, 1};
    struct raft_entry ents[3];
    struct raft_restore rs;
    restore_terms(&rs, ents, terms, 3, 2);
    struct solo s;
    solo_init(&s, 3, &rs);
    solo_become_leader(&s);
    raft_term t = raft_current_term(s.r);
    struct raft_msg rej = solo_from(1, RAFT_MSG_APPEND_RESP, t);
    rej.success = false;
    rej.reject_index = 3; /* the probe at next=4, prev=3 */
    rej.hint_term = 2;
    rej.hint_index = 2; /* the follower's term-2 run starts at 2 */
    solo_recv(&s, &rej);
    const struct raft_msg *m = solo_msg(&s, RAFT_MSG_APPEND, 1);
    cr_assert_not_null(m);
    cr_assert_eq(m->prev_index, 1, "the leader has no term 2: skip all of it in one step");
    cr_assert_eq(m->n_entries, 3);
    solo_free(&s);
}

/* 5.3 (fast backtracking), end to end */
Test(replication, diverged_follower_is_repaired_in_few_round_trips)
{
    struct cluster *c = cluster_new(3, 17);
    int old = cluster_wait_leader(c, 2000);
    cr_assert_geq(old, 0);
    cluster_isolate(c, old);
    for (int i = 0; i < 60; i++) /* a long tail only the old leader will hold */
        cluster_propose(c, old, "x", 1, NULL);
    cluster_elapse(c, 1500);
    int leader = cluster_leader(c);
    cr_assert(leader >= 0 && leader != old);
    for (int i = 0; i < 80; i++)
        cluster_propose(c, leader, "y", 1, NULL);
    cluster_elapse(c, 200);
    cluster_trace_clear(c);
    cluster_heal(c);
    raft_index target = raft_last_index(cluster_raft(c, leader));
    cr_assert(cluster_wait_applied(c, target, 3000));
    ASSERT_SAFE(c);
    size_t rejections = cluster_trace_count(c, "rejects at");
    cr_assert_leq(rejections, 3, "%zu rejections; one per entry would be ~60", rejections);
    cluster_free(c);
}

/* 5.3 end to end: committed entries reach every node, in order, once */
Test(replication, committed_entries_are_applied_everywhere_in_order_once)
{
    struct cluster *c = cluster_new(5, 23);
    int leader = cluster_wait_leader(c, 2000);
    cr_assert_geq(leader, 0);
    raft_index last = 0;
    for (int i = 0; i < 200; i++) {
        cluster_propose(c, leader, "z", 1, &last);
        if (i % 20 == 0)
            cluster_elapse(c, 3);
    }
    cr_assert(cluster_wait_applied(c, last, 3000));
    ASSERT_SAFE(c); /* the fixture checks order and uniqueness at every apply */
    for (int i = 0; i < 5; i++)
        cr_assert_eq(raft_applied_index(cluster_raft(c, i)), raft_commit_index(cluster_raft(c, i)));
    cluster_free(c);
}

/* Unbounded growth is a bug: a leader cut off refuses proposals at the cap */
Test(replication, proposals_beyond_the_uncommitted_cap_are_refused_as_busy)
{
    struct solo s;
    solo_init(&s, 3, NULL);
    solo_become_leader(&s);
    int rc = RAFT_OK;
    for (int i = 0; i < 1000 && rc == RAFT_OK; i++)
        rc = solo_propose(&s, 256);
    cr_assert_eq(rc, RAFT_ERR_BUSY);
    cr_assert_leq(raft_last_index(s.r), 65536 + 1);
    solo_free(&s);
}

/* Bad input never crashes: malformed messages are refused */
Test(replication, malformed_messages_are_refused_without_effect)
{
    struct solo s;
    solo_init(&s, 3, NULL);
    struct raft_msg m = solo_from(64, RAFT_MSG_APPEND, 1); /* past every node id */
    cr_assert_eq(solo_recv(&s, &m), RAFT_ERR_INVALID);
    m = solo_from(-1, RAFT_MSG_APPEND, 1);
    cr_assert_eq(solo_recv(&s, &m), RAFT_ERR_INVALID);
    m = solo_from(1, RAFT_MSG_APPEND, 1);
    m.n_entries = 3; /* entries missing */
    cr_assert_eq(solo_recv(&s, &m), RAFT_ERR_INVALID);
    struct raft_entry e = {.term = 1, .index = 5, .len = 1, .data = payload};
    m = append_from_leader(1, 0, 0, &e, 1, 0); /* index does not follow prev */
    cr_assert_eq(solo_recv(&s, &m), RAFT_ERR_INVALID);
    m = solo_from(1, (enum raft_msg_type)99, 1);
    cr_assert_eq(solo_recv(&s, &m), RAFT_ERR_INVALID);
    cr_assert_eq(raft_last_index(s.r), 0);
    cr_assert_eq(raft_current_term(s.r), 0);
    solo_free(&s);
}

/* ---- catch-up batching (raft_config.catchup_*) ---- */

static void propose_many(struct solo *s, size_t n)
{
    for (size_t done = 0; done < n; done += 256)
        cr_assert_eq(solo_propose(s, n - done < 256 ? n - done : 256), RAFT_OK);
}

static void ack(struct solo *s, int from, raft_index match)
{
    struct raft_msg a = solo_from(from, RAFT_MSG_APPEND_RESP, raft_current_term(s->r));
    a.success = true;
    a.match_index = match;
    solo_recv(s, &a);
}

/* A leader with entries 1..1201 committed through n2, and n1 streaming
 * (REPLICATE) with its first APPEND (2..257) unacknowledged; one APPEND in
 * flight per follower, ordinary APPENDs bounded to 1024 bytes and catch-up
 * APPENDs to 2000 (500 of solo's 4-byte entries). Every APPEND n2 got on the way is returned in
 * *n2_largest. */
static void leader_with_lagging_n1(struct solo *s, size_t *n2_largest)
{
    struct raft_config cfg;
    raft_config_default(&cfg, 0, 3, 1);
    cfg.max_inflight = 1;
    cfg.max_bytes_per_msg = 1024; /* 256 of solo's 4-byte entries */
    cfg.catchup_bytes_per_msg = 2000;
    solo_init_config(s, &cfg, NULL);
    solo_become_leader(s);
    ack(s, 1, 1);
    ack(s, 2, 1);
    propose_many(s, 1200); /* 2..1201; n1 and n2 each get 2..257 at once */
    solo_persisted_all(s);
    *n2_largest = 0;
    for (raft_index m = 257;;) {
        ack(s, 2, m);
        const struct raft_msg *a = solo_msg(s, RAFT_MSG_APPEND, 2);
        if (!a)
            break;
        if (a->n_entries > *n2_largest)
            *n2_largest = a->n_entries;
        m = a->prev_index + a->n_entries;
    }
    cr_assert_eq(raft_commit_index(s->r), 1201);
}

Test(replication, a_follower_far_behind_gets_large_appends_of_committed_entries_only)
{
    struct solo s;
    size_t n2_largest;
    leader_with_lagging_n1(&s, &n2_largest);
    cr_assert_eq(n2_largest, 256, "n2 in step: ordinary APPENDs while 944 entries were uncommitted");

    ack(&s, 1, 257); /* 944 committed entries missing: catching up */
    const struct raft_msg *m = solo_msg(&s, RAFT_MSG_APPEND, 1);
    cr_assert_not_null(m);
    cr_assert_eq(m->prev_index, 257);
    cr_assert_eq(m->n_entries, 500, "past 256 entries, within the 2000-byte catch-up bound (got %zu)", m->n_entries);

    propose_many(&s, 10); /* 1202..1211, not committed */
    ack(&s, 1, 757);      /* 444 committed entries missing */
    m = solo_msg(&s, RAFT_MSG_APPEND, 1);
    cr_assert_not_null(m);
    cr_assert_eq(m->prev_index, 757);
    cr_assert_eq(m->n_entries, 444, "a large APPEND stops at the commit index (1201)");

    ack(&s, 1, 1201); /* in step again */
    m = solo_msg(&s, RAFT_MSG_APPEND, 1);
    cr_assert_not_null(m);
    cr_assert_eq(m->n_entries, 10, "the uncommitted rest in an ordinary APPEND");
    solo_free(&s);
}

Test(replication, a_follower_lacking_at_most_256_committed_entries_gets_ordinary_appends)
{
    struct raft_config cfg;
    raft_config_default(&cfg, 0, 3, 1);
    cfg.max_inflight = 1;
    struct solo s;
    solo_init_config(&s, &cfg, NULL);
    solo_become_leader(&s);
    ack(&s, 1, 1);
    ack(&s, 2, 1);
    propose_many(&s, 512); /* 2..513 */
    solo_persisted_all(&s);
    ack(&s, 2, 257);
    ack(&s, 2, 513); /* committed to 513 */
    cr_assert_eq(raft_commit_index(s.r), 513);
    ack(&s, 1, 257); /* exactly 256 committed entries missing: not catching up */
    const struct raft_msg *m = solo_msg(&s, RAFT_MSG_APPEND, 1);
    cr_assert_not_null(m);
    cr_assert_eq(m->n_entries, 256);

    propose_many(&s, 300); /* 514..813 */
    solo_persisted_all(&s);
    ack(&s, 2, 613);
    cr_assert_eq(raft_commit_index(s.r), 613);
    ack(&s, 1, 513); /* 100 committed and 200 uncommitted entries missing */
    m = solo_msg(&s, RAFT_MSG_APPEND, 1);
    cr_assert_not_null(m);
    cr_assert_eq(m->prev_index, 513);
    cr_assert_eq(m->n_entries, 256, "an ordinary APPEND, past the commit index (got %zu)", m->n_entries);
    solo_free(&s);
}

/* A catching-up follower silent for a while is asked (an empty APPEND at
 * the end of what it was sent) only after an election timeout, and probed
 * again only when it answers that it lacks the APPEND. */
Test(replication, a_catching_up_follower_is_asked_only_after_an_election_timeout)
{
    struct solo s;
    size_t n2_largest;
    leader_with_lagging_n1(&s, &n2_largest);
    ack(&s, 1, 257);
    cr_assert_eq(solo_msg(&s, RAFT_MSG_APPEND, 1)->n_entries, 500);
    uint64_t t0 = s.now, asked_at = 0;
    raft_term term = raft_current_term(s.r);
    struct raft_msg ask = {0};
    /* n1 goes silent (a slow disk, a large APPEND); n2 keeps answering. */
    for (uint64_t t = t0 + 10; t <= t0 + 600 && !asked_at; t += 10) {
        solo_tick(&s, t);
        for (size_t i = 0; i < s.u.n_messages; i++) {
            const struct raft_msg *m = &s.u.messages[i];
            if (m->type != RAFT_MSG_APPEND || m->to != 1)
                continue;
            cr_assert_eq(m->n_entries, 0, "nothing sent again while it is silent (at %llu ms)",
                         (unsigned long long)(t - t0));
            if (m->prev_index == 757) {
                asked_at = t;
                ask = *m;
            } else {
                cr_assert_eq(m->prev_index, 257, "a heartbeat at its match");
            }
        }
        ack(&s, 2, 1201);
    }
    cr_assert_neq(asked_at, 0, "a stream that stays stuck is asked about");
    cr_assert_geq(asked_at - t0, 250, "not after one 50 ms heartbeat: after the 250 ms election timeout");
    cr_assert_leq(asked_at - t0, 310, "at the first heartbeat past it");
    cr_assert_eq(ask.prev_term, term, "at the end of the window: 757, of this term");

    /* It lost the large APPEND: it refuses, its log ending at 257. */
    struct raft_msg no = solo_from(1, RAFT_MSG_APPEND_RESP, term);
    no.reject_index = 757;
    no.hint_index = 257;
    no.seq = ask.seq;
    solo_recv(&s, &no);
    const struct raft_msg *m = solo_msg(&s, RAFT_MSG_APPEND, 1);
    cr_assert_not_null(m, "probed at once");
    cr_assert_eq(m->prev_index, 257, "probed from its match");
    cr_assert_eq(m->n_entries, 256, "a probe has the ordinary bounds");
    solo_free(&s);
}
