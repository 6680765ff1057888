/* test_bounds.c - terms and indexes at the top of their range: a message
 * past max_term or max_index is refused before anything is adopted and
 * counted; a node at max_term does not campaign; no arithmetic on a term or
 * an index wraps (prev_index + entries, commit, snapshot index, read rounds).
 * Default bounds are 2^63-1 (9223372036854775807).
 */
#include <criterion/criterion.h>

#include "../lib/cluster.h"
#include "../lib/solo.h"

#define ASSERT_SAFE(c) cr_assert(cluster_ok(c), "%s", cluster_error(c))

static uint8_t payload[1] = {7};

/* Node 0 of 3, follower in term 5 with entries 1..3 of term 5, none committed. */
static void follower_in_term_5(struct solo *s, const struct raft_config *cfg)
{
    static struct raft_entry ents[3];
    for (int i = 0; i < 3; i++)
        ents[i] = (struct raft_entry){.term = 5, .index = (raft_index)i + 1,
                                      .type = RAFT_ENTRY_COMMAND, .len = 1, .data = payload};
    struct raft_restore rs = {.term = 5, .voted_for = RAFT_NO_NODE, .entries = ents, .n_entries = 3};
    if (cfg) {
        solo_init_config(s, cfg, &rs);
    } else {
        struct raft_config def;
        raft_config_default(&def, 0, 3, 42);
        solo_init_config(s, &def, &rs);
    }
}

static void assert_unchanged(const struct solo *s, const char *what)
{
    cr_assert_eq(raft_current_term(s->r), 5, "%s: term adopted", what);
    cr_assert_eq(raft_role(s->r), RAFT_FOLLOWER, "%s", what);
    cr_assert_eq(raft_leader(s->r), RAFT_NO_NODE, "%s: a leader adopted", what);
    cr_assert_eq(raft_last_index(s->r), 3, "%s: log changed", what);
    cr_assert_eq(raft_commit_index(s->r), 0, "%s: commit moved", what);
    cr_assert_eq(s->u.n_messages, 0, "%s: answered", what);
    cr_assert_eq(s->u.flags, 0, "%s: the update asks for work", what);
}

static uint64_t refused_terms(const struct solo *s)
{
    struct raft_refusals rf;
    raft_refusals(s->r, &rf);
    return rf.term;
}

static uint64_t refused_indexes(const struct solo *s)
{
    struct raft_refusals rf;
    raft_refusals(s->r, &rf);
    return rf.index;
}

Test(bounds, default_bounds_are_2_to_the_63_minus_1)
{
    struct raft_config c;
    raft_config_default(&c, 0, 3, 1);
    cr_assert_eq(c.max_term, 9223372036854775807ull);
    cr_assert_eq(c.max_index, 9223372036854775807ull);
    /* A bound of 2^64-1 would let term + 1 wrap: refused. */
    c.max_term = 18446744073709551615ull;
    cr_assert_null(raft_new(&c, NULL, 0));
    raft_config_default(&c, 0, 3, 1);
    c.max_index = 18446744073709551615ull;
    cr_assert_null(raft_new(&c, NULL, 0));
}

Test(bounds, messages_of_every_type_with_term_2_to_the_64_minus_1_change_nothing_and_are_counted)
{
    struct solo s;
    follower_in_term_5(&s, NULL);
    for (int t = 0; t < RAFT_MSG_TYPE_COUNT; t++) {
        struct raft_msg m = solo_from(1, (enum raft_msg_type)t, 18446744073709551615ull);
        m.granted = m.success = true;
        if (t == RAFT_MSG_SNAPSHOT) {
            m.snap_index = 3;
            m.snap_term = 5;
        }
        cr_assert_eq(solo_recv(&s, &m), RAFT_ERR_BOUNDS, "%s", raft_msg_type_name(m.type));
        assert_unchanged(&s, raft_msg_type_name(m.type));
        cr_assert_eq(refused_terms(&s), (uint64_t)t + 1);
    }
    struct raft_refusals rf;
    raft_refusals(s.r, &rf);
    cr_assert_str_eq(rf.last, "term above max_term");
    cr_assert_eq(rf.index, 0);
    cr_assert_eq(rf.election, 0);
    solo_free(&s);
}

Test(bounds, term_2_to_the_63_is_refused_and_2_to_the_63_minus_1_is_the_last_adopted)
{
    struct solo s;
    follower_in_term_5(&s, NULL);
    struct raft_msg m = solo_from(1, RAFT_MSG_APPEND, 9223372036854775808ull);
    m.prev_index = 3;
    m.prev_term = 5;
    cr_assert_eq(solo_recv(&s, &m), RAFT_ERR_BOUNDS);
    assert_unchanged(&s, "2^63");
    m.term = 9223372036854775807ull;
    cr_assert_eq(solo_recv(&s, &m), RAFT_OK);
    cr_assert_eq(raft_current_term(s.r), 9223372036854775807ull);
    cr_assert_eq(raft_leader(s.r), 1);
    cr_assert_eq(refused_terms(&s), 1);
    solo_free(&s);
}

Test(bounds, a_custom_max_term_is_enforced_on_messages)
{
    struct raft_config cfg;
    raft_config_default(&cfg, 0, 3, 42);
    cfg.max_term = 9;
    struct solo s;
    follower_in_term_5(&s, &cfg);
    struct raft_msg v = solo_from(2, RAFT_MSG_VOTE, 10);
    v.last_log_index = 3;
    v.last_log_term = 5;
    cr_assert_eq(solo_recv(&s, &v), RAFT_ERR_BOUNDS);
    assert_unchanged(&s, "vote in term 10");
    v.term = 9;
    cr_assert_eq(solo_recv(&s, &v), RAFT_OK);
    cr_assert_eq(raft_current_term(s.r), 9);
    const struct raft_msg *resp = solo_msg(&s, RAFT_MSG_VOTE_RESP, 2);
    cr_assert(resp && resp->granted && resp->term == 9);
    solo_free(&s);
}

Test(bounds, node_at_max_term_does_not_campaign_and_reports_each_refusal)
{
    struct raft_config cfg;
    raft_config_default(&cfg, 0, 3, 42);
    cfg.max_term = 5;
    struct solo s;
    follower_in_term_5(&s, &cfg);
    for (int round = 1; round <= 3; round++) {
        solo_tick(&s, raft_deadline(s.r));
        cr_assert_eq(raft_role(s.r), RAFT_FOLLOWER);
        cr_assert_eq(raft_current_term(s.r), 5);
        cr_assert_eq(solo_count(&s, RAFT_MSG_PREVOTE) + solo_count(&s, RAFT_MSG_VOTE), 0);
        cr_assert_eq(s.u.flags & RAFT_UPDATE_HARD_STATE, 0, "no vote for itself");
        struct raft_refusals rf;
        raft_refusals(s.r, &rf);
        cr_assert_eq(rf.election, (uint64_t)round);
        cr_assert_str_eq(rf.last, "election at max_term");
        /* The next attempt waits a whole election timeout, not the next tick. */
        cr_assert_geq(raft_deadline(s.r), s.now + 250);
    }
    /* A leader of term 5 is still followed. */
    struct raft_msg hb = solo_from(1, RAFT_MSG_APPEND, 5);
    hb.prev_index = 3;
    hb.prev_term = 5;
    hb.commit = 3;
    cr_assert_eq(solo_recv(&s, &hb), RAFT_OK);
    cr_assert_eq(raft_leader(s.r), 1);
    cr_assert_eq(raft_commit_index(s.r), 3);
    solo_free(&s);
}

Test(bounds, without_pre_vote_a_node_at_max_term_does_not_campaign_either)
{
    struct raft_config cfg;
    raft_config_default(&cfg, 0, 3, 42);
    cfg.max_term = 5;
    cfg.pre_vote = false;
    struct solo s;
    follower_in_term_5(&s, &cfg);
    solo_tick(&s, raft_deadline(s.r));
    cr_assert_eq(raft_current_term(s.r), 5);
    cr_assert_eq(raft_role(s.r), RAFT_FOLLOWER);
    cr_assert_eq(solo_count(&s, RAFT_MSG_VOTE), 0);
    solo_free(&s);
}

Test(bounds, node_one_below_max_term_campaigns_into_it_and_leads)
{
    struct raft_config cfg;
    raft_config_default(&cfg, 0, 3, 42);
    cfg.max_term = 6;
    struct solo s;
    follower_in_term_5(&s, &cfg);
    solo_become_leader(&s);
    cr_assert_eq(raft_current_term(s.r), 6);
    cr_assert_eq(raft_role(s.r), RAFT_LEADER);
    solo_free(&s);
}

Test(bounds, restore_past_max_term_or_max_index_is_refused)
{
    struct raft_config cfg;
    raft_config_default(&cfg, 0, 3, 42);
    cfg.max_term = 10;
    cfg.max_index = 100;
    struct raft_restore rs = {.term = 11, .voted_for = RAFT_NO_NODE};
    cr_assert_null(raft_new(&cfg, &rs, 0));
    rs.term = 10;
    struct raft *r = raft_new(&cfg, &rs, 0);
    cr_assert_not_null(r, "at max_term exactly: starts (and cannot campaign)");
    raft_free(r);
    struct raft_entry e = {.term = 11, .index = 1};
    rs.entries = &e;
    rs.n_entries = 1;
    cr_assert_null(raft_new(&cfg, &rs, 0), "an entry past max_term");
    e.term = 10;
    rs.snap_index = 101;
    rs.snap_term = 3;
    e.index = 102;
    cr_assert_null(raft_new(&cfg, &rs, 0), "a snapshot past max_index");
}

Test(bounds, append_with_prev_index_near_2_to_the_64_is_refused)
{
    struct solo s;
    follower_in_term_5(&s, NULL);
    struct raft_entry e = {.term = 5, .index = 18446744073709551615ull, .len = 1, .data = payload};
    struct raft_msg m = solo_from(1, RAFT_MSG_APPEND, 5);
    m.prev_index = 18446744073709551614ull;
    m.prev_term = 5;
    m.entries = &e;
    m.n_entries = 1;
    cr_assert_eq(solo_recv(&s, &m), RAFT_ERR_BOUNDS);
    assert_unchanged(&s, "prev 2^64-2");
    /* prev_index + 1 would wrap to 0: an entry claiming index 0. */
    m.prev_index = 18446744073709551615ull;
    e.index = 0;
    cr_assert_eq(solo_recv(&s, &m), RAFT_ERR_BOUNDS);
    assert_unchanged(&s, "prev 2^64-1");
    cr_assert_eq(refused_indexes(&s), 2);
    cr_assert_eq(refused_terms(&s), 0);
    solo_free(&s);
}

Test(bounds, append_reaching_exactly_max_index_is_checked_as_usual)
{
    struct solo s;
    follower_in_term_5(&s, NULL);
    struct raft_entry e[2] = {
        {.term = 5, .index = 9223372036854775806ull, .len = 1, .data = payload},
        {.term = 5, .index = 9223372036854775807ull, .len = 1, .data = payload}};
    struct raft_msg m = solo_from(1, RAFT_MSG_APPEND, 5);
    m.prev_index = 9223372036854775805ull;
    m.prev_term = 5;
    m.entries = e;
    m.n_entries = 2;
    cr_assert_eq(solo_recv(&s, &m), RAFT_OK, "within the bound: the consistency check answers");
    const struct raft_msg *resp = solo_msg(&s, RAFT_MSG_APPEND_RESP, 1);
    cr_assert(resp && !resp->success);
    cr_assert_eq(resp->hint_index, 3, "our log ends at 3");
    /* One entry more ends at 2^63: refused before any of it is looked at. */
    m.prev_index = 9223372036854775806ull;
    e[0].index = 9223372036854775807ull;
    e[1].index = 9223372036854775808ull;
    cr_assert_eq(solo_recv(&s, &m), RAFT_ERR_BOUNDS);
    cr_assert_eq(s.u.n_messages, 0);
    cr_assert_eq(raft_last_index(s.r), 3);
    solo_free(&s);
}

/* Index 0 lies before every log: its term is 0, nothing else. */
Test(bounds, append_claiming_a_term_at_index_0_is_ill_formed)
{
    struct solo s;
    follower_in_term_5(&s, NULL);
    struct raft_msg m = solo_from(1, RAFT_MSG_APPEND, 5);
    m.prev_index = 0;
    m.prev_term = 3;
    cr_assert_eq(solo_recv(&s, &m), RAFT_ERR_INVALID);
    assert_unchanged(&s, "prev term 3 at index 0");
    m.prev_term = 0;
    cr_assert_eq(solo_recv(&s, &m), RAFT_OK);
    cr_assert_eq(raft_leader(s.r), 1);
    solo_free(&s);
}

Test(bounds, entry_count_that_would_overflow_is_refused_before_the_entries_are_read)
{
    struct solo s;
    follower_in_term_5(&s, NULL);
    /* One real entry behind a count of 2^64-1: reading past it is an
     * overflow ASan reports; the count alone must refuse it. */
    struct raft_entry e = {.term = 5, .index = 4, .len = 1, .data = payload};
    struct raft_msg m = solo_from(1, RAFT_MSG_APPEND, 5);
    m.prev_index = 3;
    m.prev_term = 5;
    m.entries = &e;
    m.n_entries = SIZE_MAX;
    cr_assert_eq(solo_recv(&s, &m), RAFT_ERR_BOUNDS);
    assert_unchanged(&s, "count 2^64-1");
    m.n_entries = 9223372036854775805ull; /* 3 + this = 2^63: one past */
    cr_assert_eq(solo_recv(&s, &m), RAFT_ERR_BOUNDS);
    assert_unchanged(&s, "count reaching 2^63");
    solo_free(&s);
}

Test(bounds, snapshot_at_index_2_to_the_64_minus_1_is_refused)
{
    struct solo s;
    follower_in_term_5(&s, NULL);
    uint8_t image[2] = {'{', '}'};
    struct raft_msg m = solo_from(1, RAFT_MSG_SNAPSHOT, 5);
    m.snap_index = 18446744073709551615ull;
    m.snap_term = 5;
    m.snap_data = image;
    m.snap_len = 2;
    cr_assert_eq(solo_recv(&s, &m), RAFT_ERR_BOUNDS);
    assert_unchanged(&s, "snapshot at 2^64-1");
    cr_assert_eq(raft_snapshot_index(s.r), 0);
    cr_assert_eq(refused_indexes(&s), 1);
    /* A snapshot of a term newer than its message's is ill-formed. */
    m.snap_index = 4;
    m.snap_term = 6;
    cr_assert_eq(solo_recv(&s, &m), RAFT_ERR_INVALID);
    assert_unchanged(&s, "snapshot term 6 in a term-5 message");
    solo_free(&s);
}

Test(bounds, append_with_commit_far_beyond_commits_only_what_it_carries)
{
    struct solo s;
    follower_in_term_5(&s, NULL);
    struct raft_msg m = solo_from(1, RAFT_MSG_APPEND, 5);
    m.prev_index = 2;
    m.prev_term = 5;
    m.commit = 18446744073709551615ull;
    cr_assert_eq(solo_recv(&s, &m), RAFT_ERR_BOUNDS);
    assert_unchanged(&s, "commit 2^64-1");
    m.commit = 9223372036854775807ull;
    cr_assert_eq(solo_recv(&s, &m), RAFT_OK);
    cr_assert_eq(raft_commit_index(s.r), 2, "min(leader commit, last new entry 2)");
    const struct raft_msg *resp = solo_msg(&s, RAFT_MSG_APPEND_RESP, 1);
    cr_assert(resp && resp->success && resp->match_index == 2);
    solo_free(&s);
}

Test(bounds, answers_with_indexes_past_max_index_are_refused_by_a_leader)
{
    struct solo s;
    solo_init(&s, 3, NULL);
    solo_become_leader(&s);
    raft_term term = raft_current_term(s.r);
    raft_index match0, next0;
    cr_assert(raft_progress(s.r, 1, &match0, &next0));
    struct raft_msg m = solo_from(1, RAFT_MSG_APPEND_RESP, term);
    m.success = true;
    m.match_index = 18446744073709551615ull;
    cr_assert_eq(solo_recv(&s, &m), RAFT_ERR_BOUNDS);
    m.success = false;
    m.match_index = 0;
    m.reject_index = 1;
    m.hint_index = 18446744073709551615ull; /* hint_index + 1 would wrap to 0 */
    cr_assert_eq(solo_recv(&s, &m), RAFT_ERR_BOUNDS);
    m.hint_index = 0;
    m.hint_term = 1; /* a term first held at index 0: ill-formed (hint_index - 1 wraps) */
    cr_assert_eq(solo_recv(&s, &m), RAFT_ERR_INVALID);
    raft_index match, next;
    cr_assert(raft_progress(s.r, 1, &match, &next));
    cr_assert_eq(match, 0);
    cr_assert_eq(next, next0, "its progress did not move");
    cr_assert_eq(raft_role(s.r), RAFT_LEADER);
    solo_free(&s);
}

Test(bounds, answer_echoing_a_round_never_started_confirms_no_read)
{
    struct solo s;
    solo_init(&s, 3, NULL);
    solo_become_leader(&s);
    raft_term term = raft_current_term(s.r);
    /* Follower 1 holds the no-op: it commits. */
    const struct raft_msg *app = solo_msg(&s, RAFT_MSG_APPEND, 1);
    uint64_t seq0 = app ? app->seq : 0;
    struct raft_msg ack = solo_from(1, RAFT_MSG_APPEND_RESP, term);
    ack.success = true;
    ack.match_index = 1;
    ack.seq = seq0;
    solo_recv(&s, &ack);
    cr_assert_eq(raft_commit_index(s.r), 1);
    uint64_t id = 77;
    cr_assert_eq(solo_read_round(&s, &id, 1), RAFT_OK);
    const struct raft_msg *hb = solo_msg(&s, RAFT_MSG_APPEND, 1);
    cr_assert_not_null(hb, "the read's round goes out");
    uint64_t round = hb->seq;
    /* A forged answer from round + 1000, which this leader never started. */
    ack.seq = round + 1000;
    solo_recv(&s, &ack);
    cr_assert_eq(s.u.n_reads_ready, 0, "a round never sent confirms nothing");
    ack.seq = round;
    solo_recv(&s, &ack);
    cr_assert_eq(s.u.n_reads_ready, 1);
    cr_assert_eq(s.u.reads_ready[0], 77);
    solo_free(&s);
}

Test(bounds, leader_refuses_proposals_past_max_index)
{
    struct raft_config cfg;
    raft_config_default(&cfg, 0, 1, 42);
    cfg.max_index = 3;
    struct solo s;
    solo_init_config(&s, &cfg, NULL);
    solo_tick(&s, raft_deadline(s.r));
    cr_assert_eq(raft_role(s.r), RAFT_LEADER);
    cr_assert_eq(raft_last_index(s.r), 1, "the no-op");
    cr_assert_eq(solo_propose(&s, 3), RAFT_ERR_BOUNDS, "4 would pass index 3");
    cr_assert_eq(raft_last_index(s.r), 1);
    cr_assert_eq(solo_propose(&s, 2), RAFT_OK);
    cr_assert_eq(raft_last_index(s.r), 3);
    cr_assert_eq(solo_propose(&s, 1), RAFT_ERR_BOUNDS);
    cr_assert_eq(raft_last_index(s.r), 3);
    solo_free(&s);
}

/* The attack: a member's frame with term 2^64-1 left the cluster
 * with no leader for good. Now it is refused and the cluster goes on. */
Test(bounds, forged_terms_at_the_top_leave_the_leader_and_the_cluster_serving)
{
    struct cluster *c = cluster_new(3, 5);
    int leader = cluster_wait_leader(c, 2000);
    cr_assert_geq(leader, 0);
    raft_term term = raft_current_term(cluster_raft(c, leader));
    int f = (leader + 1) % 3;
    struct raft_msg m = {.type = RAFT_MSG_APPEND, .from = leader, .to = f,
                         .term = 18446744073709551615ull};
    cr_assert_eq(cluster_inject(c, &m), RAFT_ERR_BOUNDS);
    struct raft_msg v = {.type = RAFT_MSG_VOTE, .from = f, .to = leader,
                         .term = 9223372036854775808ull, .last_log_index = 1000,
                         .last_log_term = 9223372036854775808ull};
    cr_assert_eq(cluster_inject(c, &v), RAFT_ERR_BOUNDS);
    struct raft_msg pv = {.type = RAFT_MSG_PREVOTE, .from = f, .to = (leader + 2) % 3,
                          .term = 18446744073709551615ull};
    cr_assert_eq(cluster_inject(c, &pv), RAFT_ERR_BOUNDS);
    cluster_elapse(c, 2000);
    ASSERT_SAFE(c);
    cr_assert_eq(cluster_leader(c), leader, "the same leader");
    for (int i = 0; i < 3; i++)
        cr_assert_eq(raft_current_term(cluster_raft(c, i)), term, "n%d kept term %llu", i,
                     (unsigned long long)term);
    raft_index last = raft_last_index(cluster_raft(c, leader));
    cr_assert_eq(cluster_propose(c, leader, payload, 1, NULL), RAFT_OK);
    cr_assert(cluster_wait_applied(c, last + 1, 2000), "a write still commits everywhere");
    ASSERT_SAFE(c);
    cluster_free(c);
}
