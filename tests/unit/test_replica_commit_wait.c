/* test_replica_commit_wait.c - a request whose outcome is already certain
 * never times out (src/replica/pending.c): a proposal whose entry is
 * committed waits for applying, however slow, and gets the state machine's
 * answer, not INDEFINITE; a read the core confirmed waits for applying to
 * reach its read index, and is answered, not refused. What is not yet
 * committed (or confirmed) still times out after request_timeout_ms, also
 * when it sits behind committed proposals in the table; and the replica's
 * deadline is never in the past once the sweep ran (the server arms its
 * timer from it).
 *
 * The leader is node 0 of 3 in memory, driven by hand: n1's answers commit
 * what the test chooses. Applying is held back with the per-turn budget
 * (apply_batch 1, replica_turn_end() only when the test says the turn
 * ended), as a slow apply under snapshot children holds it back. */
#include <criterion/criterion.h>
#include <string.h>

#include "replica/replica.h"
#include "replica_test_util.h"

#define ANSWERS_MAX 64

struct answer {
    uint64_t ref;
    enum replica_status status;
    int code;
    json_int_t value;
    bool has_value;
    char text[48];
};

static struct replica *rep;
static struct answer answers[ANSWERS_MAX];
static size_t n_answers;
static uint64_t last_seq_to_1; /* the heartbeat round of the latest APPEND to n1 */
static bool proposed_a_read;

static void on_send(void *ctx, const struct raft_msg *m)
{
    (void)ctx;
    if (m->type == RAFT_MSG_APPEND && m->to == 1)
        last_seq_to_1 = m->seq;
}

static void on_complete(void *ctx, uint64_t ref, const struct replica_result *res)
{
    (void)ctx;
    cr_assert_lt(n_answers, ANSWERS_MAX);
    struct answer *a = &answers[n_answers++];
    memset(a, 0, sizeof *a);
    a->ref = ref;
    a->status = res->status;
    a->code = res->kv.code;
    if (res->status == REPLICA_DONE && res->kv.value && json_is_integer(res->kv.value)) {
        a->has_value = true;
        a->value = json_integer_value(res->kv.value);
    }
    if (res->text)
        snprintf(a->text, sizeof a->text, "%s", res->text);
}

static const struct answer *answer_of(uint64_t ref)
{
    const struct answer *found = NULL;
    for (size_t i = 0; i < n_answers; i++)
        if (answers[i].ref == ref) {
            cr_assert_null(found, "ref %llu answered twice", (unsigned long long)ref);
            found = &answers[i];
        }
    return found;
}

/* n1 acknowledges the leader's log up to `match`, echoing the latest round. */
static void ack_from_1(raft_index match, uint64_t now)
{
    struct raft_msg m = rtu_from_peer(1, RAFT_MSG_APPEND_RESP, replica_term(rep));
    m.success = true;
    m.match_index = match;
    m.seq = last_seq_to_1;
    cr_assert_eq(replica_receive(rep, &m, now), 0);
}

static void write_cmd(uint64_t ref, int key, int value, uint64_t now)
{
    struct kv_command c = {.op = KV_WRITE, .key = json_integer(key), .value = json_integer(value)};
    replica_submit(rep, ref, &c, now);
    json_decref(c.key);
    json_decref(c.value);
}

static void read_cmd(uint64_t ref, int key, uint64_t now)
{
    struct kv_command c = {.op = KV_READ, .key = json_integer(key)};
    replica_submit(rep, ref, &c, now);
    json_decref(c.key);
    proposed_a_read = true;
}

/* Node 0 of 3 in memory, made leader by n1's pre-vote and vote; its no-op
 * (index 1) acknowledged and applied. Applying is then per turn, one entry
 * a turn. */
static uint64_t start_leader(void)
{
    struct replica_config c;
    replica_config_default(&c, 0, 3, 11);
    c.send = on_send;
    c.complete = on_complete;
    c.snapshot_threshold = 0;
    c.apply_batch = 1;
    c.request_timeout_ms = 2000;
    c.raft.check_quorum = false; /* it leads through the long waits below */
    n_answers = 0;
    uint64_t now = 1000;
    rep = replica_new(&c, now);
    cr_assert_not_null(rep);
    for (int k = 0; k < 100 && replica_role(rep) != RAFT_CANDIDATE; k++) {
        now = replica_deadline(rep) > now ? replica_deadline(rep) : now + 1;
        replica_tick(rep, now);
        rtu_flush(rep, now);
        struct raft_msg g = rtu_from_peer(1, RAFT_MSG_PREVOTE_RESP, replica_term(rep) + 1);
        g.granted = true;
        replica_receive(rep, &g, now);
        rtu_flush(rep, now);
    }
    cr_assert_eq(replica_role(rep), RAFT_CANDIDATE, "campaigns");
    struct raft_msg g = rtu_from_peer(1, RAFT_MSG_VOTE_RESP, replica_term(rep));
    g.granted = true;
    replica_receive(rep, &g, now);
    rtu_flush(rep, now);
    cr_assert_eq(replica_role(rep), RAFT_LEADER);
    cr_assert_eq(replica_last_index(rep), 1, "the leader's no-op");
    replica_turn_end(rep);
    ack_from_1(1, now);
    rtu_flush(rep, now);
    cr_assert_eq(replica_applied_index(rep), 1);
    return now;
}

static void finish(void)
{
    replica_free(rep);
    rep = NULL;
}

TestSuite(replica_commit_wait, .fini = finish);

/* Three writes committed at t=1000 with one turn's budget (1 entry):
 * index 2 applied, 3 and 4 wait. A fourth write (index 5) is never
 * acknowledged. At t=3000 the timeout (2000 ms) has passed for all four. */
static uint64_t three_committed_one_not(void)
{
    uint64_t now = start_leader();
    write_cmd(1, 7, 11, now);
    write_cmd(2, 7, 13, now);
    write_cmd(3, 8, 20, now);
    rtu_flush(rep, now);
    cr_assert_eq(replica_last_index(rep), 4);
    replica_turn_end(rep);
    ack_from_1(4, now);
    rtu_flush(rep, now);
    cr_assert_eq(replica_commit_index(rep), 4);
    cr_assert_eq(replica_applied_index(rep), 2, "one entry this turn");
    write_cmd(4, 9, 22, now);
    rtu_flush(rep, now);
    cr_assert_eq(replica_last_index(rep), 5);
    const struct answer *a1 = answer_of(1);
    cr_assert_not_null(a1);
    cr_assert_eq(a1->status, REPLICA_DONE);
    cr_assert_null(answer_of(2));
    cr_assert_null(answer_of(3));
    cr_assert_null(answer_of(4));
    return now;
}

Test(replica_commit_wait, committed_proposals_outlive_the_timeout_and_get_their_result)
{
    uint64_t now = three_committed_one_not() + 2000;
    replica_tick(rep, now);
    rtu_flush(rep, now);
    /* The uncommitted one, behind the committed ones, timed out. */
    const struct answer *a4 = answer_of(4);
    cr_assert_not_null(a4, "the unacknowledged write times out");
    cr_assert_eq(a4->status, REPLICA_INDEFINITE);
    cr_assert_str_eq(a4->text, "timed out");
    cr_assert_null(answer_of(2), "committed: not timed out");
    cr_assert_null(answer_of(3), "committed: not timed out");
    cr_assert_eq(replica_applied_index(rep), 2, "the turn's budget is spent");
    /* Much later, still in the same slow turn: nothing more times out,
     * and the deadline is the next turn, not the past. */
    now += 10000;
    replica_tick(rep, now);
    rtu_flush(rep, now);
    cr_assert_eq(n_answers, 2);
    cr_assert_eq(replica_deadline(rep), now + 1);
    /* Applying goes on, a turn at a time: each gets its own result. */
    replica_turn_end(rep);
    replica_tick(rep, now);
    rtu_flush(rep, now);
    cr_assert_eq(replica_applied_index(rep), 3);
    const struct answer *a2 = answer_of(2);
    cr_assert_not_null(a2);
    cr_assert_eq(a2->status, REPLICA_DONE);
    cr_assert_eq(a2->code, 0);
    cr_assert_null(answer_of(3));
    replica_turn_end(rep);
    replica_tick(rep, now);
    rtu_flush(rep, now);
    const struct answer *a3 = answer_of(3);
    cr_assert_not_null(a3);
    cr_assert_eq(a3->status, REPLICA_DONE);
    cr_assert_eq(replica_applied_index(rep), 4);
    cr_assert_eq(replica_pending(rep), 0);
    cr_assert_gt(replica_deadline(rep), now, "nothing due: no spin");
    /* The timed-out write's entry commits later: applied, answered once. */
    replica_turn_end(rep);
    ack_from_1(5, now);
    rtu_flush(rep, now);
    cr_assert_eq(replica_applied_index(rep), 5);
    cr_assert_eq(n_answers, 4);
    cr_assert_not_null(answer_of(4));
    read_cmd(5, 9, now);
    rtu_flush(rep, now);
    ack_from_1(5, now);
    rtu_flush(rep, now);
    const struct answer *a5 = answer_of(5);
    cr_assert_not_null(a5);
    cr_assert_eq(a5->status, REPLICA_DONE);
    cr_assert(a5->has_value);
    cr_assert_eq(a5->value, 22);
}

Test(replica_commit_wait, a_proposal_not_yet_committed_times_out_at_the_timeout_not_before)
{
    uint64_t now = start_leader();
    write_cmd(1, 7, 11, now);
    rtu_flush(rep, now);
    cr_assert_eq(replica_deadline(rep) <= now + 2000, true);
    replica_tick(rep, now + 1999);
    rtu_flush(rep, now + 1999);
    cr_assert_null(answer_of(1));
    replica_tick(rep, now + 2000);
    rtu_flush(rep, now + 2000);
    const struct answer *a1 = answer_of(1);
    cr_assert_not_null(a1);
    cr_assert_eq(a1->status, REPLICA_INDEFINITE);
    cr_assert_gt(replica_deadline(rep), now + 2000);
}

Test(replica_commit_wait, a_confirmed_read_waits_for_applying_past_the_timeout)
{
    uint64_t now = three_committed_one_not();
    /* A read of key 8 while index 3 and 4 wait; n1 confirms the round. */
    read_cmd(6, 8, now);
    rtu_flush(rep, now);
    ack_from_1(4, now);
    rtu_flush(rep, now);
    cr_assert_null(answer_of(6), "confirmed, but the map lags its read index");
    now += 5000;
    replica_tick(rep, now);
    rtu_flush(rep, now);
    cr_assert_null(answer_of(6), "confirmed: not refused by the timeout");
    cr_assert_not_null(answer_of(4), "the unacknowledged write timed out");
    replica_turn_end(rep);
    replica_tick(rep, now);
    rtu_flush(rep, now);
    cr_assert_null(answer_of(6));
    replica_turn_end(rep);
    replica_tick(rep, now);
    rtu_flush(rep, now);
    cr_assert_eq(replica_applied_index(rep), 4);
    const struct answer *a6 = answer_of(6);
    cr_assert_not_null(a6, "answered once its read index is applied");
    cr_assert_eq(a6->status, REPLICA_DONE);
    cr_assert(a6->has_value);
    cr_assert_eq(a6->value, 20, "it sees the committed write");
}

Test(replica_commit_wait, an_unconfirmed_read_still_times_out)
{
    uint64_t now = start_leader();
    read_cmd(1, 7, now);
    rtu_flush(rep, now);
    replica_tick(rep, now + 2000);
    rtu_flush(rep, now + 2000);
    const struct answer *a1 = answer_of(1);
    cr_assert_not_null(a1);
    cr_assert_eq(a1->status, REPLICA_UNAVAILABLE);
    cr_assert_gt(replica_deadline(rep), now + 2000);
}

/* A write behind others while the commit index still moves is reached, not
 * given up: it times out only once both it and the latest commit are
 * request_timeout_ms old. Writes at t, index 2 committed at t+1500, index 3
 * never: not answered at t+2000 nor t+3499, "timed out" at t+3500. */
Test(replica_commit_wait, a_write_waits_while_the_commit_index_moves)
{
    uint64_t t = start_leader();
    write_cmd(1, 7, 11, t);
    write_cmd(2, 7, 13, t);
    rtu_flush(rep, t);
    cr_assert_eq(replica_last_index(rep), 3);
    replica_turn_end(rep);
    ack_from_1(2, t + 1500);
    rtu_flush(rep, t + 1500);
    cr_assert_eq(replica_commit_index(rep), 2);
    const struct answer *a1 = answer_of(1);
    cr_assert_not_null(a1);
    cr_assert_eq(a1->status, REPLICA_DONE);
    replica_tick(rep, t + 2000);
    rtu_flush(rep, t + 2000);
    cr_assert_null(answer_of(2), "the commit index moved 500 ms ago");
    cr_assert_eq(replica_deadline(rep) <= t + 3500, true);
    cr_assert_gt(replica_deadline(rep), t + 2000, "no spin");
    replica_tick(rep, t + 3499);
    rtu_flush(rep, t + 3499);
    cr_assert_null(answer_of(2));
    replica_tick(rep, t + 3500);
    rtu_flush(rep, t + 3500);
    const struct answer *a2 = answer_of(2);
    cr_assert_not_null(a2, "the commit index stood still for 2000 ms");
    cr_assert_eq(a2->status, REPLICA_INDEFINITE);
    cr_assert_str_eq(a2->text, "timed out");
}
