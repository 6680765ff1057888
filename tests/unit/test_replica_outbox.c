/* test_replica_outbox.c - a queued APPEND points at the core's log bytes
 * (src/replica/outbox.c copies no payload), so an entry that leaves the log
 * between queueing and sending must not go out: the replica drops that
 * APPEND (counted in appends_dropped; Raft sends again what is still
 * wanted) instead of sending freed or replaced bytes.
 *
 * The case: a leader's input batch holds a follower's answer, which queues
 * an APPEND of the leader's uncommitted entries, and then a newer leader's
 * APPEND, which cuts those entries and puts its own at the same index. The
 * flush that ends the batch must send the answer to the new leader and not
 * the old APPEND. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "replica/replica.h"
#include "replica_test_util.h"

#define SENT_MAX 256

struct sent {
    enum raft_msg_type type;
    int to;
    raft_index prev_index;
    size_t n_entries;
    raft_term first_term;
};

static struct replica *rep;
static struct sent sent[SENT_MAX];
static size_t n_sent;
static size_t stale; /* APPENDs sent whose entries are not the log's */

/* Every APPEND that leaves must carry exactly the entries the log holds at
 * those indexes now. (Reading a dropped message's bytes would be reading
 * freed memory: the terms are compared first.) */
static void on_send(void *ctx, const struct raft_msg *m)
{
    (void)ctx;
    cr_assert_lt(n_sent, SENT_MAX);
    sent[n_sent++] = (struct sent){.type = m->type,
                                   .to = m->to,
                                   .prev_index = m->prev_index,
                                   .n_entries = m->n_entries,
                                   .first_term = m->n_entries ? m->entries[0].term : 0};
    if (m->type != RAFT_MSG_APPEND)
        return;
    for (size_t i = 0; i < m->n_entries; i++) {
        const struct raft_entry *e = &m->entries[i];
        const struct raft_entry *in_log = replica_entry_at(rep, e->index);
        if (!in_log || in_log->term != e->term || in_log->len != e->len ||
            (e->len && memcmp(in_log->data, e->data, e->len) != 0)) {
            stale++;
            return;
        }
    }
}

static void on_complete(void *ctx, uint64_t ref, const struct replica_result *res)
{
    (void)ctx, (void)ref, (void)res;
}

static const struct sent *find_sent(enum raft_msg_type type, int to)
{
    for (size_t i = 0; i < n_sent; i++)
        if (sent[i].type == type && sent[i].to == to)
            return &sent[i];
    return NULL;
}

static void flush(uint64_t now)
{
    n_sent = 0;
    rtu_flush(rep, now);
}

static void write_cmd(uint64_t ref, int value, uint64_t now)
{
    struct kv_command c = {.op = KV_WRITE, .key = json_integer(1), .value = json_integer(value)};
    replica_submit(rep, ref, &c, now);
    json_decref(c.key);
    json_decref(c.value);
}

/* Node 0 of 3 in memory, made leader by n1's pre-vote and vote. */
static uint64_t start_leader(void)
{
    struct replica_config c;
    replica_config_default(&c, 0, 3, 11);
    c.send = on_send;
    c.complete = on_complete;
    c.snapshot_threshold = 0;
    stale = 0;
    uint64_t now = 1000;
    rep = replica_new(&c, now);
    cr_assert_not_null(rep);
    for (int k = 0; k < 100 && !find_sent(RAFT_MSG_PREVOTE, 1); k++) {
        now = replica_deadline(rep) > now ? replica_deadline(rep) : now + 1;
        replica_tick(rep, now);
        flush(now);
    }
    const struct sent *pv = find_sent(RAFT_MSG_PREVOTE, 1);
    cr_assert_not_null(pv, "campaigns");
    struct raft_msg g = rtu_from_peer(1, RAFT_MSG_PREVOTE_RESP, replica_term(rep) + 1);
    g.granted = true;
    replica_receive(rep, &g, now);
    flush(now);
    cr_assert_not_null(find_sent(RAFT_MSG_VOTE, 1));
    g = rtu_from_peer(1, RAFT_MSG_VOTE_RESP, replica_term(rep));
    g.granted = true;
    replica_receive(rep, &g, now);
    flush(now);
    cr_assert_eq(replica_role(rep), RAFT_LEADER);
    return now;
}

static void finish(void)
{
    replica_free(rep);
    rep = NULL;
}

TestSuite(replica_outbox, .fini = finish);

/* The leader proposes n_writes entries (2..n_writes + 1, values 0, 1, ...)
 * that only it holds; then, in one input batch, n1's answer queues an
 * APPEND of them and n2, leader of the next term, replaces index 2 with its
 * own entry (a write of `their_value`). Returns the old term. */
static raft_term replaced_in_one_batch(int n_writes, int their_value, uint64_t *now_out)
{
    uint64_t now = start_leader();
    raft_term t = replica_term(rep);
    /* n2 holds the no-op (index 1); n1 has not answered its probe yet. */
    struct raft_msg ok = rtu_from_peer(2, RAFT_MSG_APPEND_RESP, t);
    ok.success = true;
    ok.match_index = 1;
    replica_receive(rep, &ok, now);
    flush(now);
    for (int i = 0; i < n_writes; i++)
        write_cmd(10 + (uint64_t)i, i, now);
    flush(now); /* entries 2.. of term t, to n2 only (n1's probe is out) */
    cr_assert_eq(replica_last_index(rep), 1 + (raft_index)n_writes);
    cr_assert_not_null(find_sent(RAFT_MSG_APPEND, 2));
    cr_assert_null(find_sent(RAFT_MSG_APPEND, 1));

    /* One input batch. n1 answers the probe: an APPEND of 2.. is queued
     * for it, pointing at those entries' bytes... */
    struct raft_msg n1_ok = rtu_from_peer(1, RAFT_MSG_APPEND_RESP, t);
    n1_ok.success = true;
    n1_ok.match_index = 1;
    replica_receive(rep, &n1_ok, now);
    /* ...then n2, leader of term t + 1 (it never stored them), puts its own
     * entry at index 2: 2.. are cut from this node's log (and freed). */
    struct kv_command c = {.op = KV_WRITE, .key = json_integer(1),
                           .value = json_integer(their_value)};
    uint8_t *data;
    size_t len;
    cr_assert_eq(kv_command_encode(&c, &data, &len), 0);
    json_decref(c.key);
    json_decref(c.value);
    struct raft_entry theirs = {.term = t + 1, .index = 2, .type = RAFT_ENTRY_COMMAND,
                                .len = (uint32_t)len, .data = data};
    struct raft_msg app = rtu_from_peer(2, RAFT_MSG_APPEND, t + 1);
    app.prev_index = 1;
    app.prev_term = t;
    app.entries = &theirs;
    app.n_entries = 1;
    app.commit = 1;
    replica_receive(rep, &app, now);
    free(data);
    cr_assert_eq(replica_role(rep), RAFT_FOLLOWER);
    cr_assert_eq(replica_last_index(rep), 2);
    cr_assert_eq(replica_entry_at(rep, 2)->term, t + 1, "the new leader's entry is in the log");
    *now_out = now;
    return t;
}

/* The flush that ends the batch. */
static void expect_dropped(raft_term old_term, uint64_t now)
{
    struct replica_stats before, after;
    replica_stats(rep, &before);
    flush(now);
    replica_stats(rep, &after);
    cr_assert_not_null(find_sent(RAFT_MSG_APPEND_RESP, 2), "the new leader gets its answer");
    cr_assert_null(find_sent(RAFT_MSG_APPEND, 1),
                   "the APPEND of the replaced entries (term %llu) went out",
                   (unsigned long long)old_term);
    cr_assert_eq(stale, 0, "no APPEND left with bytes the log no longer holds");
    cr_assert_eq(after.appends_dropped - before.appends_dropped, 1, "dropped, and counted");
}

Test(replica_outbox, an_append_whose_entries_a_new_leader_cut_is_not_sent)
{
    uint64_t now;
    raft_term t = replaced_in_one_batch(3, 99, &now);
    expect_dropped(t, now);
}

/* One entry replaced by one of the same length: its bytes may well be
 * allocated where the old ones were, so only the term tells them apart. */
Test(replica_outbox, an_append_whose_entry_was_replaced_in_place_is_not_sent)
{
    uint64_t now;
    raft_term t = replaced_in_one_batch(1, 7, &now);
    expect_dropped(t, now);
}
