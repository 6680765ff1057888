/* test_replica_order.c - the replica keeps raft.h's order of work against a
 * real log store seam: nothing a node sends promises state that is not yet
 * synced, except a leader's APPENDs, which may leave before its own sync
 * (thesis 10.2.1) and do, so the followers' round trip overlaps it.
 *
 * Three replicas on a virtual clock exchange messages through a queue; each
 * has a fake log store that counts writes not yet synced. Every send is
 * checked against that count as it happens. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replica/replica.h"

#define N 3
#define MSGS_MAX 4096

struct fake_store {
    int id;
    size_t unsynced_entries;  /* appends since the last sync */
    size_t unsynced_hard;     /* hard states since the last sync */
    size_t syncs;
    size_t appends_before_sync; /* leader APPENDs with entries sent while unsynced */
};


static struct replica *nodes[N];
static struct fake_store stores[N];
static struct replica_log_store seams[N];
static struct raft_msg msgs[MSGS_MAX]; /* deep copies, in flight */
static size_t n_msgs;
static uint64_t now;
static size_t violations;
static size_t flush_sends_calls;

static int st_hard(void *impl, raft_term term, int voted_for)
{
    (void)term;
    (void)voted_for;
    ((struct fake_store *)impl)->unsynced_hard++;
    return 0;
}

static int st_append(void *impl, const struct raft_entry *e, size_t n)
{
    (void)e;
    ((struct fake_store *)impl)->unsynced_entries += n;
    return 0;
}

static int st_snapshot(void *impl, raft_index index, raft_term term, const uint8_t *data,
                       size_t len)
{
    (void)index;
    (void)term;
    (void)data;
    (void)len;
    /* As storage_save_snapshot(): durable on return, pending appends too. */
    struct fake_store *s = impl;
    s->unsynced_entries = s->unsynced_hard = 0;
    return 0;
}

static int st_sync(void *impl)
{
    struct fake_store *s = impl;
    s->unsynced_entries = s->unsynced_hard = 0;
    s->syncs++;
    return 0;
}

static void on_send(void *ctx, const struct raft_msg *m)
{
    struct fake_store *s = ctx;
    bool leader_append = m->type == RAFT_MSG_APPEND;
    if (s->unsynced_hard || (s->unsynced_entries && !leader_append)) {
        violations++;
        fprintf(stderr, "n%d sent %s with %zu entries, %zu hard states unsynced\n", s->id,
                raft_msg_type_name(m->type), s->unsynced_entries, s->unsynced_hard);
    }
    if (leader_append && m->n_entries && s->unsynced_entries)
        s->appends_before_sync++;
    cr_assert_lt(n_msgs, MSGS_MAX);
    cr_assert_eq(raft_msg_copy(&msgs[n_msgs++], m), RAFT_OK);
}

static void on_complete(void *ctx, uint64_t ref, const struct replica_result *res)
{
    (void)ctx;
    (void)ref;
    (void)res;
}

static void on_flush_sends(void *ctx)
{
    (void)ctx;
    flush_sends_calls++;
}

static void start(void)
{
    now = 1000;
    violations = flush_sends_calls = 0;
    n_msgs = 0;
    for (int i = 0; i < N; i++) {
        stores[i] = (struct fake_store){.id = i};
        seams[i] = (struct replica_log_store){.impl = &stores[i],
                                              .save_hard_state = st_hard,
                                              .append = st_append,
                                              .save_snapshot = st_snapshot,
                                              .sync = st_sync};
        struct replica_config c;
        replica_config_default(&c, i, N, 7 + (uint64_t)i);
        c.raft.election_timeout_ms = i == 0 ? 100 : 400; /* node 0 leads first */
        c.send = on_send;
        c.complete = on_complete;
        c.flush_sends = on_flush_sends;
        c.ctx = &stores[i];
        c.store = &seams[i];
        c.snapshot_threshold = 50; /* snapshots in the run too */
        nodes[i] = replica_new(&c, now);
        cr_assert_not_null(nodes[i]);
    }
}

static void finish(void)
{
    for (int i = 0; i < N; i++)
        replica_free(nodes[i]);
    for (size_t i = 0; i < n_msgs; i++) {
        raft_msg_release(&msgs[i]);
    }
    n_msgs = 0;
}

TestSuite(replica_order, .fini = finish);

/* One millisecond: deliver what is queued (except to or from `down`), tick
 * and flush every node. */
static void step_ms(int down)
{
    static struct raft_msg batch[MSGS_MAX];
    now++;
    size_t n = n_msgs;
    memcpy(batch, msgs, n * sizeof *batch);
    n_msgs = 0;
    for (size_t i = 0; i < n; i++) {
        struct raft_msg *q = &batch[i];
        if (q->to != down && q->from != down)
            replica_receive(nodes[q->to], q, now);
        raft_msg_release(q);
    }
    for (int i = 0; i < N; i++) {
        replica_tick(nodes[i], now);
        cr_assert_eq(replica_flush(nodes[i], now), 0);
    }
}

static int leader(void)
{
    for (int i = 0; i < N; i++)
        if (replica_role(nodes[i]) == RAFT_LEADER)
            return i;
    return -1;
}

static void write_to(int node, uint64_t ref)
{
    struct kv_command c = {.op = KV_WRITE, .key = json_integer((json_int_t)(ref % 7)),
                           .value = json_integer((json_int_t)ref)};
    replica_submit(nodes[node], ref, &c, now);
    json_decref(c.key);
    json_decref(c.value);
}

/* raft.h ORDER OF WORK and its 10.2.1 exception */
Test(replica_order, only_a_leaders_appends_leave_before_its_sync_and_they_do)
{
    start();
    for (int t = 0; t < 600 && leader() < 0; t++)
        step_ms(-1);
    int l = leader();
    cr_assert_geq(l, 0);
    uint64_t ref = 1;
    int now_leader = l;
    for (int t = 0; t < 1500; t++) {
        for (int k = 0; k < 3; k++)
            write_to(now_leader, ref++);
        /* Midway the leader is cut off: the others elect a new one (terms
         * and votes are written and synced while writes go on). */
        step_ms(t >= 150 ? l : -1);
        for (int i = 0; i < N; i++)
            if (i != l && replica_role(nodes[i]) == RAFT_LEADER)
                now_leader = i;
    }
    cr_assert_eq(violations, 0, "a vote, acknowledgement or message of a new term left unsynced");
    size_t early = 0;
    for (int i = 0; i < N; i++)
        early += stores[i].appends_before_sync;
    cr_assert_gt(early, 100, "leaders sent new entries ahead of their sync (%zu)", early);
    cr_assert_gt(flush_sends_calls, 0, "the transport was told to write them out");
    cr_assert_neq(now_leader, l, "a new leader took over");
    cr_assert_gt(replica_commit_index(nodes[now_leader]), 1500);
}
