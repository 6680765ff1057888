/* test_catchup_pace.c - the leader paces its catch-up APPENDs to each
 * follower at raft_config.catchup_bytes_per_sec (replication.c's virtual
 * clock): two may go at once, then one per catchup_bytes_per_msg's worth of
 * time; ordinary APPENDs are never held back; 0 turns the pace off; the
 * pace is 1.5 times the log's growth or the floor less twice it.
 */
#include <criterion/criterion.h>

#include "../lib/solo.h"
#include "raft/raft_private.h"

static void ack(struct solo *s, int from, raft_index match)
{
    struct raft_msg a = solo_from(from, RAFT_MSG_APPEND_RESP, raft_current_term(s->r));
    a.success = true;
    a.match_index = match;
    solo_recv(s, &a);
}

/* Heartbeat ticks every 50 ms from s->now on, n2 answering each (so the
 * leader keeps its quorum), until an APPEND with entries goes to n1 or
 * `until`: the time it went (0: none), its entries in *n. */
static uint64_t tick_until_sent(struct solo *s, uint64_t until, size_t *n)
{
    for (uint64_t t = s->now + 50; t <= until; t += 50) {
        solo_tick(s, t);
        const struct raft_msg *m = solo_msg(s, RAFT_MSG_APPEND, 1);
        if (m && m->n_entries > 0) {
            *n = m->n_entries;
            return t;
        }
        ack(s, 2, 2401);
    }
    return 0;
}

/* A leader with entries 1..2401 committed through n2 while n1 is at 257;
 * one APPEND in flight per follower, catch-up APPENDs of at most 2000 bytes
 * (500 of solo's 4-byte entries), paced at `rate` bytes a second. */
static uint64_t tick_until_sent(struct solo *s, uint64_t until, size_t *n);

static void leader_with_n1_behind(struct solo *s, uint64_t rate)
{
    struct raft_config cfg;
    raft_config_default(&cfg, 0, 3, 1);
    cfg.max_inflight = 1;
    cfg.max_bytes_per_msg = 1024;
    cfg.catchup_bytes_per_msg = 2000;
    cfg.catchup_bytes_per_sec = rate;
    solo_init_config(s, &cfg, NULL);
    solo_become_leader(s);
    ack(s, 1, 1);
    ack(s, 2, 1);
    for (int k = 0; k < 2400; k += 200)
        cr_assert_eq(solo_propose(s, 200), RAFT_OK); /* 2..2401 */
    solo_persisted_all(s);
    for (raft_index m = 257;;) {
        ack(s, 2, m);
        const struct raft_msg *a = solo_msg(s, RAFT_MSG_APPEND, 2);
        if (!a)
            break;
        m = a->prev_index + a->n_entries;
    }
    cr_assert_eq(raft_commit_index(s->r), 2401);
    /* Two seconds on, the log's growth (9600 bytes in the first) is
     * measured as 0 again: the pace is `rate`. */
    size_t n;
    tick_until_sent(s, s->now + 2100, &n);
}

/* The entries of the APPEND to n1 in the last update, or -1 when none went. */
static long to_n1(const struct solo *s)
{
    const struct raft_msg *m = solo_msg(s, RAFT_MSG_APPEND, 1);
    return m ? (long)m->n_entries : -1;
}

Test(catchup_pace, two_appends_go_at_once_then_one_per_appends_worth_of_time)
{
    struct solo s;
    leader_with_n1_behind(&s, 4000); /* 2000 bytes: 500 ms each */
    uint64_t t0 = s.now;
    ack(&s, 1, 257);
    cr_assert_eq(to_n1(&s), 500, "the first catch-up APPEND goes at once");
    ack(&s, 1, 757);
    cr_assert_eq(to_n1(&s), 500, "so does a second: 500 ms ahead of the pace at most");
    ack(&s, 1, 1257);
    cr_assert_eq(to_n1(&s), -1, "a third waits: 1000 ms of pace used at t0");

    size_t n = 0;
    uint64_t t = tick_until_sent(&s, t0 + 2000, &n);
    cr_assert_eq(t - t0, 500, "the third goes at the first tick at 500 ms (got %lld)", (long long)(t - t0));
    cr_assert_eq(n, 500);
    ack(&s, 1, 1757);
    cr_assert_eq(to_n1(&s), -1, "the fourth waits");
    t = tick_until_sent(&s, t0 + 2000, &n);
    cr_assert_eq(t - t0, 1000, "until 1000 ms (got %lld)", (long long)(t - t0));
    cr_assert_eq(n, 500);
    solo_free(&s);
}

Test(catchup_pace, an_idle_pace_does_not_build_up_a_burst)
{
    struct solo s;
    leader_with_n1_behind(&s, 4000);
    ack(&s, 1, 257);
    cr_assert_eq(to_n1(&s), 500);
    /* 5 s without sending: the next may go at once, and one more, not ten. */
    size_t n = 0;
    cr_assert_eq(tick_until_sent(&s, s.now + 5000, &n), 0, "nothing to send: n1 has not answered");
    ack(&s, 1, 757);
    cr_assert_eq(to_n1(&s), 500);
    ack(&s, 1, 1257);
    cr_assert_eq(to_n1(&s), 500);
    ack(&s, 1, 1757);
    cr_assert_eq(to_n1(&s), -1, "the third in a row waits");
    solo_free(&s);
}

Test(catchup_pace, ordinary_appends_are_never_held_back)
{
    struct solo s;
    leader_with_n1_behind(&s, 4000);
    ack(&s, 1, 257);
    ack(&s, 1, 757);
    ack(&s, 1, 1257);
    cr_assert_eq(to_n1(&s), -1, "paced");
    ack(&s, 1, 2201); /* 200 committed entries missing: in step, ordinary APPENDs */
    cr_assert_eq(to_n1(&s), 200, "an ordinary APPEND goes although the pace is spent");
    cr_assert_eq(solo_propose(&s, 3), RAFT_OK);
    const struct raft_msg *m = solo_msg(&s, RAFT_MSG_APPEND, 2);
    cr_assert_not_null(m, "n2 in step: not paced");
    cr_assert_eq(m->n_entries, 3);
    solo_free(&s);
}

Test(catchup_pace, zero_turns_the_pace_off)
{
    struct solo s;
    leader_with_n1_behind(&s, 0);
    raft_index m = 257;
    for (int k = 0; k < 4; k++) {
        ack(&s, 1, m);
        cr_assert_eq(to_n1(&s), 500, "APPEND %d of 4 at once", k + 1);
        m += 500;
    }
    solo_free(&s);
}

Test(catchup_pace, the_pace_rises_to_twice_the_logs_growth)
{
    struct solo s;
    leader_with_n1_behind(&s, 4000);
    /* 2000 entries of 4 bytes in a second: 8000 bytes a second, so 12000. */
    cr_assert_eq(solo_propose(&s, 200), RAFT_OK);
    cr_assert_eq(solo_propose(&s, 200), RAFT_OK);
    cr_assert_eq(solo_propose(&s, 200), RAFT_OK);
    cr_assert_eq(solo_propose(&s, 200), RAFT_OK);
    cr_assert_eq(solo_propose(&s, 200), RAFT_OK);
    cr_assert_eq(solo_propose(&s, 200), RAFT_OK);
    cr_assert_eq(solo_propose(&s, 200), RAFT_OK);
    cr_assert_eq(solo_propose(&s, 200), RAFT_OK);
    cr_assert_eq(solo_propose(&s, 200), RAFT_OK);
    cr_assert_eq(solo_propose(&s, 200), RAFT_OK); /* 2402..4401 */
    solo_persisted_all(&s);
    size_t n;
    tick_until_sent(&s, s.now + 1000, &n);
    ack(&s, 2, 4401);
    cr_assert_eq(raft_commit_index(s.r), 4401);
    uint64_t t0 = s.now;
    ack(&s, 1, 257);
    cr_assert_eq(to_n1(&s), 500);
    ack(&s, 1, 757);
    cr_assert_eq(to_n1(&s), 500);
    ack(&s, 1, 1257);
    cr_assert_eq(to_n1(&s), -1);
    uint64_t t = tick_until_sent(&s, t0 + 2000, &n);
    cr_assert(t - t0 >= 150 && t - t0 <= 200,
              "167 ms an APPEND at 12000 bytes a second, not 500 at 4000 (got %lld)", (long long)(t - t0));
    solo_free(&s);
}

Test(catchup_pace, the_floor_gives_way_to_the_logs_growth)
{
    struct solo s;
    leader_with_n1_behind(&s, 16000);
    /* 1000 entries of 4 bytes in a second: 4000 bytes a second, so the
     * floor less twice that, 8000 (1.5 times it is only 6000), not 16000. */
    for (int k = 0; k < 5; k++)
        cr_assert_eq(solo_propose(&s, 200), RAFT_OK); /* 2402..3401 */
    solo_persisted_all(&s);
    size_t n;
    tick_until_sent(&s, s.now + 1000, &n);
    ack(&s, 2, 3401);
    cr_assert_eq(raft_commit_index(s.r), 3401);
    uint64_t t0 = s.now;
    ack(&s, 1, 257);
    cr_assert_eq(to_n1(&s), 500);
    ack(&s, 1, 757);
    cr_assert_eq(to_n1(&s), 500);
    ack(&s, 1, 1257);
    cr_assert_eq(to_n1(&s), -1);
    uint64_t t = tick_until_sent(&s, t0 + 2000, &n);
    cr_assert(t - t0 >= 230 && t - t0 <= 300,
              "250 ms an APPEND at 8000 bytes a second, not 167 at 12000 or 125 at 16000 (got %lld)",
              (long long)(t - t0));
    solo_free(&s);
}

Test(catchup_pace, a_held_follower_costs_no_batch_measuring)
{
    struct solo s;
    leader_with_n1_behind(&s, 4000);
    ack(&s, 1, 257);
    ack(&s, 1, 757);
    ack(&s, 1, 1257);
    cr_assert_eq(to_n1(&s), -1, "paced");
    /* Every proposal offers n1 an APPEND; held by the pace, its batch of
     * 500 cold entries is not measured: only n2's (in step: the first
     * proposal's APPEND, then finding nothing more; then, one APPEND in
     * flight, one measuring a proposal), 11; measuring n1's too, 21. */
    ack(&s, 2, 2401);
    uint64_t before = s.r->batches_measured;
    for (int k = 0; k < 10; k++) {
        cr_assert_eq(solo_propose(&s, 1), RAFT_OK);
        cr_assert_eq(to_n1(&s), -1, "still paced");
    }
    cr_assert_eq(s.r->batches_measured - before, 11, "got %llu",
                 (unsigned long long)(s.r->batches_measured - before));
    solo_free(&s);
}
