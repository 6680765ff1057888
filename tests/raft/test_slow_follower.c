/* test_slow_follower.c - a follower in step whose answers are merely late
 * (its fsync stalls, and a follower answers only once its log is durable)
 * keeps its place in REPLICATE with its APPENDs in flight: the leader asks,
 * with an empty APPEND at the end of what it sent, instead of probing again
 * and sending the whole window twice. A follower that really lost an APPEND
 * (or refuses one) is still probed and repaired.
 *
 * The core is driven alone (tests/lib/solo.h) as node 0 of 3; n1 and n2 are
 * played by a small model of a follower whose log holds the leader's
 * entries up to `has` (all of the leader's term, so nothing conflicts). The
 * progress state is read from the core's private state: white-box, the
 * state is what the test is about. */
#include <criterion/criterion.h>
#include <string.h>

#include "../lib/solo.h"
#include "raft/raft_private.h"

#define OWED_MAX 512

struct model {
    raft_index has;      /* its log ends here */
    bool lose_appends;   /* APPENDs to it are lost on the way */
    bool slow;           /* its disk stalls: answers are owed, not sent */
    bool lose_answers;   /* its answers are lost on the way */
    struct raft_msg owed[OWED_MAX];
    size_t n_owed;
    /* What the leader sent it. */
    raft_index sent_end;  /* the last entry index any APPEND carried */
    size_t entries_sent;  /* entries carried, duplicates included */
    size_t resent;        /* APPENDs that carried an entry already sent */
    size_t asks;          /* empty APPENDs past its match: "do you hold this?" */
};

static struct model fol[3];
static struct raft_msg inbox[OWED_MAX]; /* answers on their way to the leader */
static size_t n_inbox;

static enum progress_state state_of(const struct solo *s, int id)
{
    return s->r->progress[id].state;
}

static raft_index match_of(const struct solo *s, int id)
{
    raft_index match, next;
    cr_assert(raft_progress(s->r, id, &match, &next));
    return match;
}

/* What a follower holding 1..has answers to APPEND m (recv_append's rules
 * for a log with no conflicting term). */
static struct raft_msg answer(struct model *f, const struct raft_msg *m, int from)
{
    struct raft_msg a;
    memset(&a, 0, sizeof a);
    a.type = RAFT_MSG_APPEND_RESP;
    a.from = from;
    a.to = 0;
    a.term = m->term;
    a.seq = m->seq;
    if (m->prev_index > f->has) {
        a.success = false;
        a.reject_index = m->prev_index;
        a.hint_index = f->has;
        a.hint_term = 0;
        return a;
    }
    raft_index end = m->prev_index + m->n_entries;
    if (end > f->has)
        f->has = end;
    a.success = true;
    a.match_index = end;
    return a;
}

/* Walk the last update's messages to the followers through the models. */
static void route(struct solo *s)
{
    for (size_t i = 0; i < s->u.n_messages; i++) {
        const struct raft_msg *m = &s->u.messages[i];
        if (m->type != RAFT_MSG_APPEND || m->to < 1 || m->to > 2)
            continue;
        struct model *f = &fol[m->to];
        if (m->n_entries > 0) {
            if (m->prev_index + 1 <= f->sent_end)
                f->resent++;
            f->entries_sent += m->n_entries;
            if (m->prev_index + m->n_entries > f->sent_end)
                f->sent_end = m->prev_index + m->n_entries;
        } else if (m->prev_index > match_of(s, m->to)) {
            f->asks++;
        }
        if (f->lose_appends)
            continue;
        struct raft_msg a = answer(f, m, m->to);
        if (f->slow) {
            cr_assert_lt(f->n_owed, OWED_MAX);
            f->owed[f->n_owed++] = a;
        } else if (!f->lose_answers) {
            cr_assert_lt(n_inbox, OWED_MAX);
            inbox[n_inbox++] = a;
        }
    }
}

/* Deliver the answers on their way, and those their deliveries cause. */
static void settle(struct solo *s)
{
    while (n_inbox) {
        struct raft_msg a = inbox[0];
        memmove(inbox, inbox + 1, --n_inbox * sizeof *inbox);
        solo_recv(s, &a);
        route(s);
    }
}

/* Its disk is done: every owed answer goes out, in order. */
static void release(struct solo *s, int id)
{
    struct model *f = &fol[id];
    f->slow = false;
    for (size_t i = 0; i < f->n_owed; i++) {
        cr_assert_lt(n_inbox, OWED_MAX);
        inbox[n_inbox++] = f->owed[i];
    }
    f->n_owed = 0;
    settle(s);
}

/* One proposal, durable at once on the leader, and what follows from it. */
static void propose_one(struct solo *s)
{
    cr_assert_eq(solo_propose(s, 1), RAFT_OK);
    route(s);
    settle(s);
    solo_persisted_all(s);
    route(s);
    settle(s);
}

/* 10 ms of a loaded leader (one proposal) or an idle one, then the tick. */
static void run_10ms(struct solo *s, bool propose)
{
    if (propose)
        propose_one(s);
    solo_tick(s, s->now + 10);
    route(s);
    settle(s);
}

/* A leader of term 2 or so with n1 and n2 streaming (REPLICATE) and in step
 * after 100 ms of load. */
static void start(struct solo *s)
{
    memset(fol, 0, sizeof fol);
    n_inbox = 0;
    solo_init(s, 3, NULL);
    solo_become_leader(s);
    for (int id = 1; id <= 2; id++) {
        struct raft_msg a = solo_from(id, RAFT_MSG_APPEND_RESP, raft_current_term(s->r));
        a.success = true;
        a.match_index = 1; /* the no-op */
        fol[id].has = fol[id].sent_end = 1;
        solo_recv(s, &a);
        route(s);
        settle(s);
    }
    for (int t = 0; t < 10; t++)
        run_10ms(s, true);
    for (int id = 1; id <= 2; id++) {
        cr_assert_eq(state_of(s, id), PROGRESS_REPLICATE);
        cr_assert_eq(match_of(s, id), raft_last_index(s->r), "n%d in step", id);
        cr_assert_eq(fol[id].resent, 0);
    }
}

Test(slow_follower, a_follower_whose_disk_stalls_keeps_replicate_and_gets_nothing_twice)
{
    struct solo s;
    start(&s);
    raft_index before = raft_last_index(s.r);
    fol[1].slow = true; /* 300 ms without a durable write: six heartbeats */
    for (int t = 0; t < 30; t++) {
        run_10ms(&s, true);
        cr_assert_eq(state_of(&s, 1), PROGRESS_REPLICATE,
                     "n1 back to PROBE %d ms into its stall", (t + 1) * 10);
        cr_assert_eq(fol[1].resent, 0, "n1 was sent an entry twice %d ms into its stall",
                     (t + 1) * 10);
    }
    cr_assert_eq(match_of(&s, 1), before, "n1 acknowledged nothing meanwhile");
    cr_assert_eq(fol[1].sent_end, before + 8, "8 APPENDs of one entry in flight (max_inflight)");
    cr_assert_geq(fol[1].asks, 5, "asked at each heartbeat whether it holds them (%zu)",
                  fol[1].asks);
    cr_assert_eq(raft_commit_index(s.r), raft_last_index(s.r), "n2 kept committing");

    release(&s, 1); /* the fsync ends: its answers arrive, late */
    cr_assert_eq(state_of(&s, 1), PROGRESS_REPLICATE);
    cr_assert_eq(match_of(&s, 1), raft_last_index(s.r),
                 "the rest streamed from where the window ended: match %llu of %llu",
                 (unsigned long long)match_of(&s, 1), (unsigned long long)raft_last_index(s.r));
    cr_assert_eq(fol[1].resent, 0, "nothing sent twice");
    cr_assert_eq(fol[1].entries_sent, raft_last_index(s.r) - 1, "each entry sent once");
    solo_free(&s);
}

Test(slow_follower, lost_answers_are_recovered_by_asking_without_a_resend)
{
    struct solo s;
    start(&s);
    fol[1].lose_answers = true; /* it holds every APPEND; the leader hears nothing */
    for (int t = 0; t < 3; t++)
        run_10ms(&s, true);
    fol[1].lose_answers = false;
    raft_index sent = fol[1].sent_end;
    cr_assert_lt(match_of(&s, 1), sent);
    for (int t = 0; t < 15 && match_of(&s, 1) < sent; t++)
        run_10ms(&s, false);
    cr_assert_eq(match_of(&s, 1), sent, "its answer to the ask moved match to the window's end");
    cr_assert_eq(state_of(&s, 1), PROGRESS_REPLICATE);
    cr_assert_eq(fol[1].resent, 0, "nothing sent twice");
    solo_free(&s);
}

Test(slow_follower, a_lost_tail_is_found_by_the_ask_and_probed_from_the_followers_end)
{
    struct solo s;
    start(&s);
    raft_index had = fol[1].has;
    fol[1].lose_appends = true; /* the last APPENDs never arrive, and nothing follows them */
    for (int t = 0; t < 3; t++)
        run_10ms(&s, true);
    fol[1].lose_appends = false;
    cr_assert_eq(fol[1].has, had);
    raft_index last = raft_last_index(s.r);
    int t = 0;
    for (; t < 30 && match_of(&s, 1) < last; t++)
        run_10ms(&s, false);
    cr_assert_eq(match_of(&s, 1), last, "n1 repaired (match %llu of %llu)",
                 (unsigned long long)match_of(&s, 1), (unsigned long long)last);
    cr_assert_leq(t, 12, "within two heartbeats of the loss (%d ms)", t * 10);
    cr_assert_eq(fol[1].resent, 1, "one probe from its end carried the lost entries");
    cr_assert_eq(state_of(&s, 1), PROGRESS_REPLICATE, "streaming again");
    solo_free(&s);
}

Test(slow_follower, a_refused_append_is_probed_at_once)
{
    struct solo s;
    start(&s);
    raft_index had = fol[1].has;
    fol[1].lose_appends = true;
    propose_one(&s); /* its APPEND is lost on the way */
    fol[1].lose_appends = false;
    fol[1].slow = true; /* hold its answer to the next one, to look at it */
    cr_assert_eq(solo_propose(&s, 1), RAFT_OK);
    route(&s);
    cr_assert_eq(fol[1].n_owed, 1);
    struct raft_msg refusal = fol[1].owed[0];
    fol[1].n_owed = 0;
    fol[1].slow = false;
    cr_assert(!refusal.success, "it refuses: the APPEND before this one is missing");
    cr_assert_eq(refusal.hint_index, had);
    settle(&s);
    solo_recv(&s, &refusal);
    cr_assert_eq(state_of(&s, 1), PROGRESS_PROBE, "a refusal probes again, no tick needed");
    const struct raft_msg *p = solo_msg(&s, RAFT_MSG_APPEND, 1);
    cr_assert_not_null(p);
    cr_assert_eq(p->prev_index, had, "from where its log ends (the hint)");
    cr_assert_eq(p->n_entries, 2, "the lost entry and the refused one");
    route(&s);
    settle(&s);
    cr_assert_eq(state_of(&s, 1), PROGRESS_REPLICATE);
    cr_assert_eq(match_of(&s, 1), raft_last_index(s.r));
    solo_free(&s);
}
