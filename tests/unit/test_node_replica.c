/* test_node_replica.c - the replica's promises to transports: answers come
 * from the state machine once applied; a follower refuses definitely and
 * names the leader; a command appended by a leader that lost its term is
 * answered INDEFINITE, never definitely; reads need a quorum; tables are
 * bounded and time out; with a log store that syncs in the background, only
 * what vouches for a disk waits for its sync. Replicas run in-process on a
 * virtual clock with a message queue between them, and links can be cut. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "replica/replica.h"
#include "storage/snap_writer.h"

#define N_MAX 3
#define MSGS_MAX 4096
#define DONE_MAX 256


static struct replica *nodes[N_MAX];
static int n_nodes;
static uint64_t now;
static bool cut[N_MAX];

/* A log store that keeps nothing and whose background syncs end when a test
 * says so (or at once, with auto_sync). */
static struct fake_store {
    struct replica_log_store seam;
    bool dirty, running;
    int started, inline_syncs;
} stores[N_MAX];
static bool auto_sync;

static int fake_dirty(void *impl)
{
    ((struct fake_store *)impl)->dirty = true;
    return 0;
}
static int fake_hard_state(void *impl, raft_term term, int voted_for)
{
    (void)term, (void)voted_for;
    return fake_dirty(impl);
}
static int fake_append(void *impl, const struct raft_entry *e, size_t n)
{
    (void)e, (void)n;
    return fake_dirty(impl);
}
static int fake_snapshot(void *impl, raft_index i, raft_term t, const uint8_t *d, size_t n)
{
    (void)impl, (void)i, (void)t, (void)d, (void)n;
    return 0;
}
static int fake_sync(void *impl)
{
    struct fake_store *f = impl;
    f->dirty = false;
    f->inline_syncs++;
    return 0;
}
static int fake_sync_start(void *ctx)
{
    struct fake_store *f = ctx;
    cr_assert(!f->running, "one background sync at a time");
    if (!f->dirty)
        return 0;
    f->dirty = false;
    f->running = true;
    f->started++;
    return REPLICA_SYNC_STARTED;
}

static void background_syncs(struct replica_config *c)
{
    struct fake_store *f = &stores[c->raft.id];
    *f = (struct fake_store){.seam = {.impl = f,
                                      .save_hard_state = fake_hard_state,
                                      .append = fake_append,
                                      .save_snapshot = fake_snapshot,
                                      .sync = fake_sync}};
    c->store = &f->seam;
    c->sync_start = fake_sync_start;
    c->ctx = f; /* this harness's send and complete ignore it */
}

/* End node i's running background sync with rc; false if none ran. */
static bool end_sync(int i, int rc)
{
    if (!stores[i].running)
        return false;
    stores[i].running = false;
    replica_synced(nodes[i], rc);
    return true;
}
static struct raft_msg msgs[MSGS_MAX]; /* deep copies, in flight */
static size_t n_msgs;

static struct done {
    uint64_t ref;
    enum replica_status status;
    int code;
    json_t *value;
    int leader;
} done[DONE_MAX];
static size_t n_done;

static void on_send(void *ctx, const struct raft_msg *m)
{
    (void)ctx;
    cr_assert_lt(n_msgs, MSGS_MAX);
    cr_assert_eq(raft_msg_copy(&msgs[n_msgs++], m), RAFT_OK);
}

static void on_complete(void *ctx, uint64_t ref, const struct replica_result *res)
{
    (void)ctx;
    cr_assert_lt(n_done, DONE_MAX);
    done[n_done++] = (struct done){.ref = ref, .status = res->status, .code = res->kv.code,
                                   .value = json_incref(res->kv.value), .leader = res->leader};
}

static void start(int n, void (*tweak)(struct replica_config *))
{
    n_nodes = n;
    now = 1000;
    for (int i = 0; i < n; i++) {
        struct replica_config c;
        replica_config_default(&c, i, n, 42 + (uint64_t)i);
        /* Node 0 times out first, so it is the first leader. */
        c.raft.election_timeout_ms = i == 0 ? 100 : 400;
        c.send = on_send;
        c.complete = on_complete;
        c.request_timeout_ms = 3000;
        if (tweak)
            tweak(&c);
        nodes[i] = replica_new(&c, now);
        cr_assert_not_null(nodes[i]);
        cut[i] = false;
    }
}

static void teardown(void)
{
    for (int i = 0; i < n_nodes; i++)
        replica_free(nodes[i]);
    for (size_t i = 0; i < n_msgs; i++) {
        raft_msg_release(&msgs[i]);
    }
    for (size_t i = 0; i < n_done; i++)
        json_decref(done[i].value);
    n_msgs = n_done = 0;
    n_nodes = 0;
    auto_sync = false;
    memset(stores, 0, sizeof stores);
}

TestSuite(node_replica, .fini = teardown);

/* Deliver what is queued (dropping what crosses a cut), tick and flush all,
 * advancing the clock by `ms` one millisecond at a time. */
static void run_for(uint64_t ms)
{
    for (uint64_t t = 0; t < ms; t++) {
        now++;
        size_t n = n_msgs;
        static struct raft_msg batch[MSGS_MAX]; /* large: kept off the stack */
        memcpy(batch, msgs, n * sizeof *batch);
        n_msgs = 0;
        for (size_t i = 0; i < n; i++) {
            struct raft_msg *q = &batch[i];
            if (!cut[q->from] && !cut[q->to])
                replica_receive(nodes[q->to], q, now);
            raft_msg_release(q);
        }
        for (int i = 0; i < n_nodes && auto_sync; i++)
            end_sync(i, 0);
        for (int i = 0; i < n_nodes; i++) {
            replica_tick(nodes[i], now);
            cr_assert_eq(replica_flush(nodes[i], now), 0);
        }
    }
}

static int leader(void)
{
    for (int i = 0; i < n_nodes; i++)
        if (!cut[i] && replica_role(nodes[i]) == RAFT_LEADER)
            return i;
    return -1;
}

static void submit(int node, uint64_t ref, enum kv_op op, json_int_t key, json_int_t a,
                   json_int_t b)
{
    struct kv_command c = {.op = op, .key = json_integer(key)};
    if (op == KV_WRITE)
        c.value = json_integer(a);
    if (op == KV_CAS) {
        c.from = json_integer(a);
        c.to = json_integer(b);
    }
    replica_submit(nodes[node], ref, &c, now);
    json_decref(c.key);
    json_decref(c.value);
    json_decref(c.from);
    json_decref(c.to);
}

static const struct done *outcome(uint64_t ref)
{
    const struct done *found = NULL;
    for (size_t i = 0; i < n_done; i++) {
        if (done[i].ref == ref) {
            cr_assert_null(found, "request %llu answered twice", (unsigned long long)ref);
            found = &done[i];
        }
    }
    return found;
}

Test(node_replica, a_single_replica_answers_from_the_state_machine)
{
    start(1, NULL);
    run_for(300);
    cr_assert_eq(leader(), 0);
    submit(0, 1, KV_READ, 7, 0, 0);
    run_for(20);
    submit(0, 2, KV_WRITE, 7, 3, 0);
    run_for(20);
    submit(0, 3, KV_CAS, 7, 4, 5);
    run_for(20);
    submit(0, 4, KV_CAS, 7, 3, 5);
    run_for(20);
    submit(0, 5, KV_READ, 7, 0, 0);
    run_for(20);
    cr_assert_eq(outcome(1)->code, 20); /* the Maelstrom codes, not the constants under test */
    cr_assert_eq(outcome(2)->status, REPLICA_DONE);
    cr_assert_eq(outcome(2)->code, KV_OK);
    cr_assert_eq(outcome(3)->code, 22);
    cr_assert_eq(outcome(4)->code, KV_OK);
    cr_assert_eq(outcome(5)->status, REPLICA_DONE);
    cr_assert_eq(json_integer_value(outcome(5)->value), 5);
}

/* The map's growth goes on from the loop: 4096 entries a flush (at most
 * one a ms), and the replica asks for the next turn within a ms until it
 * is done. Here the growth from 16384 slots (started by the 11467th key,
 * past 70%) moves about 11467 entries: 3 flushes. */
Test(node_replica, the_maps_growth_moves_a_bounded_step_each_flush_until_done)
{
    start(1, NULL);
    run_for(300);
    cr_assert_eq(leader(), 0);
    struct kv_store *kv = (struct kv_store *)replica_store(nodes[0]);
    json_int_t k = 0;
    for (; k < 11469; k++) {
        struct kv_command c = {.op = KV_WRITE, .key = json_integer(k), .value = json_integer(k)};
        struct kv_result r;
        kv_apply(kv, &c, 0, &r);
        cr_assert_eq(r.code, KV_OK);
        kv_result_release(&r);
        json_decref(c.key);
        json_decref(c.value);
    }
    cr_assert(kv_store_rehashing(kv), "the 11467th key started a growth");
    cr_assert_leq(replica_deadline(nodes[0]), now + 1);
    for (int turn = 1; turn <= 2; turn++) {
        run_for(1);
        cr_assert(kv_store_rehashing(kv), "a flush moves 4096 of the entries, not all (turn %d)", turn);
    }
    run_for(1);
    cr_assert(!kv_store_rehashing(kv), "done after 3 flushes");
    cr_assert_eq(kv_store_size(kv), 11469);
    submit(0, 1, KV_READ, 11468, 0, 0);
    run_for(20);
    cr_assert_eq(json_integer_value(outcome(1)->value), 11468);
}

Test(node_replica, a_follower_refuses_definitely_and_names_the_leader)
{
    start(3, NULL);
    run_for(400);
    cr_assert_eq(leader(), 0);
    submit(1, 1, KV_WRITE, 1, 1, 0);
    submit(2, 2, KV_READ, 1, 0, 0);
    run_for(5);
    cr_assert_eq(outcome(1)->status, REPLICA_NOT_LEADER);
    cr_assert_eq(outcome(1)->leader, 0);
    cr_assert_eq(outcome(2)->status, REPLICA_NOT_LEADER);
    submit(0, 3, KV_WRITE, 1, 1, 0);
    run_for(20);
    cr_assert_eq(outcome(3)->status, REPLICA_DONE);
    run_for(200); /* the commit index reaches followers with the next APPEND */
    cr_assert_eq(replica_applied_index(nodes[1]), replica_applied_index(nodes[0]),
                 "followers apply what the leader committed");
}

Test(node_replica, a_write_appended_by_a_deposed_leader_is_answered_indefinite_and_not_applied)
{
    start(3, NULL);
    run_for(400);
    cr_assert_eq(leader(), 0);
    cut[0] = true;            /* the leader is alone now */
    submit(0, 1, KV_WRITE, 9, 111, 0);
    run_for(5);
    cr_assert_null(outcome(1), "cannot commit without a quorum");
    run_for(1500);            /* the majority elects a new leader */
    int l = leader();
    cr_assert(l == 1 || l == 2);
    submit(l, 2, KV_WRITE, 9, 222, 0);
    run_for(50);
    cr_assert_eq(outcome(2)->status, REPLICA_DONE);
    cut[0] = false;           /* heal: node 0's entry is overwritten */
    run_for(1000);
    const struct done *d = outcome(1);
    cr_assert_not_null(d);
    cr_assert_eq(d->status, REPLICA_INDEFINITE, "never a definite answer after appending");
    submit(l, 3, KV_READ, 9, 0, 0);
    run_for(50);
    cr_assert_eq(json_integer_value(outcome(3)->value), 222, "the lost write never applied");
}

/* A leader applies the commands it proposed from its own copy rather than
 * decoding their entries; the copy must only stand in for the entry it was
 * encoded into, never for one that replaced it. */
Test(node_replica, a_deposed_leader_applies_the_entry_that_replaced_its_own_proposal)
{
    start(3, NULL);
    run_for(400);
    cr_assert_eq(leader(), 0);
    cut[0] = true;
    /* Two, so that one sits at the index of the new leader's write (its
     * first entry is a no-op). */
    submit(0, 1, KV_WRITE, 9, 111, 0);
    run_for(1);
    submit(0, 6, KV_WRITE, 9, 112, 0);
    run_for(1500);
    int l = leader();
    cr_assert(l == 1 || l == 2);
    submit(l, 2, KV_WRITE, 9, 222, 0);
    run_for(50);
    cr_assert_eq(outcome(2)->status, REPLICA_DONE);
    cut[0] = false; /* node 0 applies the new leader's entry at its index */
    run_for(1000);
    cr_assert_eq(outcome(1)->status, REPLICA_INDEFINITE);
    cr_assert_eq(outcome(6)->status, REPLICA_INDEFINITE);
    cut[l] = true; /* node 0 (shortest timeout) leads again, on its own map */
    run_for(1500);
    cr_assert_eq(leader(), 0);
    submit(0, 3, KV_READ, 9, 0, 0);
    submit(0, 4, KV_WRITE, 10, 333, 0);
    run_for(100);
    cr_assert_eq(outcome(3)->status, REPLICA_DONE);
    cr_assert_eq(json_integer_value(outcome(3)->value), 222);
    submit(0, 5, KV_READ, 10, 0, 0);
    run_for(100);
    cr_assert_eq(json_integer_value(outcome(5)->value), 333, "its own new write applies");
}

/* A leader proposing at indexes where its own earlier, since cut, proposals
 * were still waiting answers those as superseded at once, so its new
 * proposal is not queued behind them. */
static void long_timeout(struct replica_config *c)
{
    c->request_timeout_ms = 60000; /* nothing is answered by timing out */
}

Test(node_replica, a_new_proposal_supersedes_older_ones_at_its_indexes)
{
    start(3, long_timeout);
    run_for(400);
    cr_assert_eq(leader(), 0);
    cut[0] = true;
    for (uint64_t ref = 1; ref <= 5; ref++) { /* indexes 2..6, never committed */
        submit(0, ref, KV_WRITE, 9, (int)(100 + ref), 0);
        run_for(1);
    }
    run_for(1500);
    int l = leader();
    cr_assert(l == 1 || l == 2);
    submit(l, 6, KV_WRITE, 9, 222, 0); /* no-op at 2, this at 3 */
    run_for(50);
    cr_assert_eq(outcome(6)->status, REPLICA_DONE);
    cut[0] = false; /* node 0's log is cut back to the new leader's */
    run_for(1000);
    cut[l] = true;  /* node 0 leads again: no-op at 4, then index 5 */
    run_for(1500);
    cr_assert_eq(leader(), 0);
    submit(0, 7, KV_WRITE, 10, 333, 0);
    run_for(100);
    cr_assert_not_null(outcome(7), "the new proposal waits behind superseded ones");
    cr_assert_eq(outcome(7)->status, REPLICA_DONE);
    for (uint64_t ref = 1; ref <= 5; ref++)
        cr_assert_eq(outcome(ref)->status, REPLICA_INDEFINITE, "write %llu",
                     (unsigned long long)ref);
}

Test(node_replica, a_leader_cut_off_from_its_quorum_serves_no_read)
{
    start(3, NULL);
    run_for(400);
    submit(0, 1, KV_WRITE, 4, 1, 0);
    run_for(20);
    cut[0] = true;
    submit(0, 2, KV_READ, 4, 0, 0);
    run_for(4000);
    const struct done *d = outcome(2);
    cr_assert_not_null(d, "the read is answered (timed out or failed)");
    cr_assert_neq(d->status, REPLICA_DONE, "no data without a quorum round");
    cr_assert_neq(d->status, REPLICA_INDEFINITE, "a failed read is definite");
}

static void small_table(struct replica_config *c)
{
    c->max_pending = 2;
    c->request_timeout_ms = 500;
}

Test(node_replica, the_pending_table_is_bounded_and_times_out)
{
    start(3, small_table);
    run_for(400);
    cut[1] = cut[2] = true; /* nothing can commit */
    submit(0, 1, KV_WRITE, 1, 1, 0);
    submit(0, 2, KV_WRITE, 1, 2, 0);
    submit(0, 3, KV_WRITE, 1, 3, 0);
    run_for(2);
    cr_assert_eq(outcome(3)->status, REPLICA_UNAVAILABLE, "a full table refuses, definitely");
    cr_assert_null(outcome(1));
    run_for(600);
    cr_assert_eq(outcome(1)->status, REPLICA_INDEFINITE);
    cr_assert_eq(outcome(2)->status, REPLICA_INDEFINITE);
    cr_assert_eq(replica_pending(nodes[0]), 0);
}

static void snap_often(struct replica_config *c)
{
    c->snapshot_threshold = 10;
}

Test(node_replica, a_lagging_follower_catches_up_from_a_snapshot)
{
    start(3, snap_often);
    run_for(400);
    cut[2] = true;
    for (int i = 0; i < 40; i++) {
        submit(0, 100 + (uint64_t)i, KV_WRITE, i % 5, i, 0);
        run_for(5);
    }
    struct replica_stats st;
    replica_stats(nodes[0], &st);
    cr_assert_gt(st.snapshots, 0, "the leader compacted its log");
    cut[2] = false;
    run_for(500);
    cr_assert_eq(replica_applied_index(nodes[2]), replica_applied_index(nodes[0]));
    cr_assert_eq(kv_store_size(replica_store(nodes[2])), 5);
}

Test(node_replica, a_snapshot_the_map_cannot_load_is_refused_and_changes_nothing)
{
    start(3, NULL);
    run_for(400);
    submit(0, 1, KV_WRITE, 1, 7, 0);
    run_for(20);
    raft_index applied = replica_applied_index(nodes[1]);
    const char *bad = "{\"not a canonical key\":1}";
    struct raft_msg m = {.type = RAFT_MSG_SNAPSHOT, .from = 0, .to = 1,
                         .term = replica_term(nodes[0]), .snap_index = applied + 100,
                         .snap_term = replica_term(nodes[0]), .snap_data = (uint8_t *)bad,
                         .snap_len = strlen(bad)};
    cr_assert_eq(replica_receive(nodes[1], &m, now), RAFT_ERR_INVALID);
    cr_assert_eq(replica_flush(nodes[1], now), 0, "the replica carries on");
    cr_assert_eq(replica_applied_index(nodes[1]), applied);
    cr_assert_lt(replica_last_index(nodes[1]), applied + 100);
}

/* Elect node 0 with background syncs that end at once, then stop them
 * ending on their own. */
static void start_with_background_syncs(void)
{
    start(3, background_syncs);
    auto_sync = true;
    run_for(400);
    cr_assert_eq(leader(), 0);
    auto_sync = false;
    for (int i = 0; i < 3; i++)
        cr_assert_gt(stores[i].started, 0, "node %d synced in the background", i);
}

Test(node_replica, a_follower_acknowledges_only_once_its_background_sync_has_ended)
{
    start_with_background_syncs();
    submit(0, 1, KV_WRITE, 1, 10, 0);
    run_for(5);
    cr_assert(stores[0].running && stores[1].running && stores[2].running);
    cr_assert(end_sync(0, 0));
    run_for(5);
    cr_assert_null(outcome(1), "the leader's own disk is not a quorum: the followers' "
                               "acknowledgements must wait for their syncs");
    cr_assert(end_sync(1, 0));
    run_for(5);
    cr_assert_eq(outcome(1)->status, REPLICA_DONE);
}

Test(node_replica, a_leader_commits_and_answers_on_its_followers_while_its_own_sync_runs)
{
    start_with_background_syncs();
    submit(0, 1, KV_WRITE, 1, 10, 0);
    run_for(5);
    cr_assert(end_sync(1, 0) && end_sync(2, 0));
    run_for(5);
    cr_assert(stores[0].running, "the leader's sync has not ended");
    cr_assert_eq(outcome(1)->status, REPLICA_DONE);
    /* And it went on proposing meanwhile: a second write waits for no sync
     * of the leader's either. */
    submit(0, 2, KV_WRITE, 1, 20, 0);
    run_for(5);
    cr_assert(end_sync(1, 0) && end_sync(2, 0));
    run_for(5);
    cr_assert_eq(outcome(2)->status, REPLICA_DONE);
}

Test(node_replica, what_a_follower_wrote_while_a_sync_ran_waits_for_the_next_sync)
{
    start_with_background_syncs();
    cut[2] = true; /* commits need node 1 now */
    submit(0, 1, KV_WRITE, 1, 10, 0);
    run_for(3);
    cr_assert(stores[1].running);
    int first = stores[1].started;
    submit(0, 2, KV_WRITE, 1, 20, 0);
    run_for(3); /* node 1 writes w2 while its first sync runs */
    cr_assert(stores[1].dirty, "node 1 wrote w2");
    cr_assert_eq(stores[1].started, first, "no second sync while one runs");
    end_sync(0, 0);
    run_for(3);
    end_sync(0, 0);
    run_for(3);
    cr_assert_null(outcome(1));
    cr_assert_null(outcome(2));
    int before = stores[1].started;
    cr_assert(end_sync(1, 0));
    run_for(3);
    cr_assert_eq(outcome(1)->status, REPLICA_DONE, "the first sync vouches for w1");
    cr_assert_null(outcome(2), "w2 was written after the first sync began");
    cr_assert_eq(stores[1].started, before + 1, "the next sync began at once");
    cr_assert(end_sync(1, 0));
    end_sync(0, 0);
    run_for(3);
    cr_assert_eq(outcome(2)->status, REPLICA_DONE);
}

Test(node_replica, a_failed_background_sync_stops_the_replica)
{
    start_with_background_syncs();
    submit(0, 1, KV_WRITE, 1, 10, 0);
    run_for(3);
    cr_assert(end_sync(1, -5));
    cr_assert_lt(replica_flush(nodes[1], now), 0);
}

/* router.h, rule 2: a forwarded write is appended only by the leader of the
 * term it was forwarded in; in any other term it is refused definitely and
 * changes nothing; the rest of the batch keeps its order. */
Test(node_replica, a_write_forwarded_for_another_term_is_refused_definitely)
{
    start(1, NULL);
    run_for(300);
    cr_assert_eq(leader(), 0);
    raft_term t = replica_term(nodes[0]);
    struct kv_command c = {.op = KV_WRITE, .key = json_integer(9), .value = json_integer(1)};
    replica_submit_in_term(nodes[0], 1, &c, t + 2, now);
    replica_submit_in_term(nodes[0], 2, &c, t + 1, now);
    json_decref(c.value);
    c.value = json_integer(2);
    replica_submit_in_term(nodes[0], 3, &c, t, now);
    json_decref(c.value);
    c.value = json_integer(3);
    replica_submit_in_term(nodes[0], 4, &c, t + 3, now);
    json_decref(c.value);
    json_decref(c.key);
    run_for(20);
    cr_assert_eq(outcome(1)->status, REPLICA_NOT_LEADER);
    cr_assert_eq(outcome(2)->status, REPLICA_NOT_LEADER);
    cr_assert_eq(outcome(3)->status, REPLICA_DONE);
    cr_assert_eq(outcome(4)->status, REPLICA_NOT_LEADER);
    submit(0, 5, KV_READ, 9, 0, 0);
    run_for(20);
    cr_assert_eq(json_integer_value(outcome(5)->value), 2, "only the write of this term applied");
}

/* The same for a forward that arrives late, from a term before this
 * leader's. */
Test(node_replica, a_write_forwarded_in_an_earlier_term_is_refused_by_a_later_leader)
{
    start(3, NULL);
    run_for(400);
    cr_assert_eq(leader(), 0);
    raft_term old = replica_term(nodes[0]);
    cut[0] = true;
    run_for(1500);
    int l = leader();
    cr_assert(l == 1 || l == 2);
    cr_assert_gt(replica_term(nodes[l]), old);
    struct kv_command c = {.op = KV_WRITE, .key = json_integer(9), .value = json_integer(1)};
    replica_submit_in_term(nodes[l], 1, &c, old, now);
    replica_submit_in_term(nodes[l], 2, &c, replica_term(nodes[l]), now);
    json_decref(c.value);
    json_decref(c.key);
    run_for(50);
    cr_assert_eq(outcome(1)->status, REPLICA_NOT_LEADER);
    cr_assert_eq(outcome(2)->status, REPLICA_DONE);
}

/* config.peer_lost_data: what the leader's replica tells its transport. */
static struct lost_report {
    int id;
    raft_index agree, match;
    uint64_t at;
} lost[8];
static int n_lost;

static void on_lost_data(void *ctx, int id, raft_index agree, raft_index match)
{
    (void)ctx;
    cr_assert_lt(n_lost, 8);
    lost[n_lost++] = (struct lost_report){.id = id, .agree = agree, .match = match, .at = now};
}

static void report_lost_data(struct replica_config *c)
{
    c->peer_lost_data = on_lost_data;
}

Test(node_replica, a_follower_that_lost_its_data_is_reported_rate_limited)
{
    n_lost = 0;
    start(3, report_lost_data);
    run_for(400);
    cr_assert_eq(leader(), 0);
    for (int i = 0; i < 5; i++)
        submit(0, 1 + (uint64_t)i, KV_WRITE, i, i, 0);
    run_for(50);
    raft_index match, next;
    cr_assert(replica_progress(nodes[0], 2, &match, &next));
    cr_assert_eq(match, replica_last_index(nodes[0]));
    cr_assert_geq(match, 6, "the no-op and five writes");
    cr_assert_not(replica_peer_lost_data(nodes[0], 2));

    /* Node 2 comes back with nothing (in memory: a wiped disk). */
    replica_free(nodes[2]);
    struct replica_config c;
    replica_config_default(&c, 2, 3, 99);
    c.raft.election_timeout_ms = 400;
    c.send = on_send;
    c.complete = on_complete;
    c.peer_lost_data = on_lost_data;
    nodes[2] = replica_new(&c, now);
    cr_assert_not_null(nodes[2]);
    run_for(1000);
    cr_assert_eq(leader(), 0);
    cr_assert(replica_peer_lost_data(nodes[0], 2));
    cr_assert_not(replica_peer_lost_data(nodes[0], 1));
    cr_assert_eq(n_lost, 1, "reported once, not per probe (%d)", n_lost);
    cr_assert_eq(lost[0].id, 2);
    cr_assert_eq(lost[0].agree, 0, "its log is empty");
    cr_assert_eq(lost[0].match, match);
    cr_assert_eq(replica_commit_index(nodes[2]), 0);

    /* Still lost 30 s later: reported again, once. */
    run_for(30000);
    cr_assert_eq(n_lost, 2, "%d reports in 31 s", n_lost);
    cr_assert_geq(lost[1].at - lost[0].at, 30000);
    cr_assert_leq(lost[1].at - lost[0].at, 30100);

    char text[640];
    replica_lost_data_text(text, sizeof text, "n3", 0, 1234);
    cr_assert(strstr(text, "peer n3 says its log agrees with the leader's only up to index 0, "
                           "below index 1234 that it acknowledged: it lost data"),
              "%s", text);
    cr_assert(strstr(text, "Replace it (docs/OPERATIONS.md, \"Replace a member\"): RAFT.NODE REMOVE it on the "
                           "leader, then add it back with an empty data directory"),
              "%s", text);
}


/* ---- the cluster id (config.cluster_id, kv.h KV_CLUSTER_ID) ---------------- */

/* Each replica draws its own id, as each server does: {i + 1, 0xaa, ...}. */
static void own_cluster_id(struct replica_config *c)
{
    memset(c->cluster_id, 0xaa, sizeof c->cluster_id);
    c->cluster_id[0] = (uint8_t)(c->raft.id + 1);
}

static int refused_from = -1;
static uint8_t refused_theirs[16];
static void on_snapshot_refused(void *ctx, int from, const uint8_t ours[16], const uint8_t theirs[16])
{
    (void)ctx, (void)ours;
    refused_from = from;
    memcpy(refused_theirs, theirs, 16);
}

static void own_cluster_id_and_refusals(struct replica_config *c)
{
    own_cluster_id(c);
    c->snapshot_refused = on_snapshot_refused;
}

Test(node_replica, the_first_leader_gives_every_member_its_cluster_id_once)
{
    start(3, own_cluster_id);
    run_for(400);
    cr_assert_eq(leader(), 0);
    /* Entry 1 is the leader's no-op, entry 2 its id. */
    cr_assert_eq(replica_last_index(nodes[0]), 2);
    for (int i = 0; i < 3; i++) {
        uint8_t id[16];
        cr_assert(replica_cluster_id(nodes[i], id), "node %d has no cluster id", i);
        cr_assert_eq(id[0], 1, "node %d took node %d's id", i, id[0] - 1);
        cr_assert_eq(id[15], 0xaa);
    }
    cr_assert_eq(n_done, 0, "nobody is answered for the id entry");
    /* A later leader finds the id applied and proposes none of its own. */
    cut[0] = true;
    run_for(1500);
    int l = leader();
    cr_assert(l == 1 || l == 2);
    raft_index last = replica_last_index(nodes[l]);
    run_for(500);
    cr_assert_eq(replica_last_index(nodes[l]), last, "only its no-op, no second id");
    uint8_t id[16];
    cr_assert(replica_cluster_id(nodes[l], id));
    cr_assert_eq(id[0], 1);
}

/* Node 0 has no hash key of its own to give (as a leader of a release
 * before the key), nodes 1 and 2 have {0x5b, ..., 0x5b, i + 1}. */
static void own_cluster_id_keys_but_node_0(struct replica_config *c)
{
    own_cluster_id(c);
    memset(c->map_key, 0, sizeof c->map_key);
    if (c->raft.id != 0) {
        memset(c->map_key, 0x5b, sizeof c->map_key);
        c->map_key[15] = (uint8_t)(c->raft.id + 1);
    }
}

/* A state machine with the id but no hash key (here: its first leader had
 * none; a cluster restored from a backup, which holds no key, is the other
 * case): the next leader proposes the same id with its own key, once, and
 * every member then hashes under that key. */
Test(node_replica, a_leader_gives_a_keyless_cluster_its_hash_key)
{
    start(3, own_cluster_id_keys_but_node_0);
    run_for(400);
    cr_assert_eq(leader(), 0);
    cr_assert_eq(replica_last_index(nodes[0]), 2, "the no-op and the id");
    for (int i = 0; i < 3; i++) {
        uint8_t id[16];
        cr_assert(replica_cluster_id(nodes[i], id));
        cr_assert_not(kv_has_map_key(replica_store(nodes[i])), "node %d has a key", i);
    }
    cut[0] = true;
    run_for(1500);
    int l = leader();
    cr_assert(l == 1 || l == 2);
    raft_index last = replica_last_index(nodes[l]);
    run_for(500);
    cr_assert_eq(replica_last_index(nodes[l]), last, "proposed once");
    for (int i = 1; i < 3; i++) {
        uint8_t id[16];
        cr_assert(replica_cluster_id(nodes[i], id));
        cr_assert_eq(id[0], 1, "the first leader's id stays");
        cr_assert(kv_has_map_key(replica_store(nodes[i])), "node %d took no key", i);
    }
    /* The leader's key: its snapshot carries it as map_key. */
    uint8_t *img;
    size_t len;
    cr_assert_eq(kv_snapshot(replica_store(nodes[3 - l]), 9, 1, &img, &len), 0);
    uint8_t want[16];
    memset(want, 0x5b, 16);
    want[15] = (uint8_t)(l + 1);
    cr_assert_not_null(memmem(img, len, want, 16), "the key of n%d", l + 1);
    free(img);
}

Test(node_replica, without_a_configured_id_no_cluster_id_is_proposed)
{
    start(3, NULL);
    run_for(400);
    cr_assert_eq(leader(), 0);
    submit(0, 1, KV_WRITE, 1, 7, 0);
    run_for(200);
    cr_assert_eq(outcome(1)->status, REPLICA_DONE);
    cr_assert_eq(replica_last_index(nodes[0]), 2, "the no-op and the write only");
    uint8_t id[16];
    for (int i = 0; i < 3; i++)
        cr_assert(!replica_cluster_id(nodes[i], id));
}

Test(node_replica, a_client_cannot_submit_a_cluster_id)
{
    start(1, NULL);
    run_for(300);
    struct kv_command c = {.op = KV_CLUSTER_ID, .value = json_string("0123456789abcdeffedcba9876543210")};
    replica_submit(nodes[0], 1, &c, now);
    json_decref(c.value);
    run_for(20);
    cr_assert_eq(outcome(1)->code, 12);
    uint8_t id[16];
    cr_assert(!replica_cluster_id(nodes[0], id));
    cr_assert_eq(replica_last_index(nodes[0]), 1);
}

/* An empty map's image at (index, term) whose header carries the cluster
 * id `id` (snap_format.h), malloc'd. */
static uint8_t *image_of_cluster(raft_index index, raft_term term, const uint8_t id[16],
                                 size_t *len)
{
    struct snap_membuf b = {0};
    struct snap_writer w;
    const struct snap_meta meta = {.name = "cluster_id", .value = id, .len = 16};
    cr_assert_eq(snap_writer_begin(&w, snap_membuf_sink, &b, index, term, 0, &meta, 1), 0);
    cr_assert_eq(snap_writer_end(&w), 0);
    *len = b.len;
    return b.data;
}

Test(node_replica, a_snapshot_of_another_cluster_is_refused)
{
    start(3, own_cluster_id_and_refusals);
    run_for(400);
    raft_index applied = replica_applied_index(nodes[1]);
    const uint8_t other_id[16] = {0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88,
                                  0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x00};
    size_t len;
    uint8_t *other = image_of_cluster(applied + 100, replica_term(nodes[0]), other_id, &len);
    struct raft_msg m = {.type = RAFT_MSG_SNAPSHOT, .from = 0, .to = 1,
                         .term = replica_term(nodes[0]), .snap_index = applied + 100,
                         .snap_term = replica_term(nodes[0]), .snap_data = other,
                         .snap_len = len};
    cr_assert_eq(replica_receive(nodes[1], &m, now), RAFT_ERR_INVALID);
    cr_assert_eq(refused_from, 0);
    cr_assert_eq(refused_theirs[0], 0xff);
    cr_assert_eq(replica_applied_index(nodes[1]), applied);
    uint8_t id[16];
    cr_assert(replica_cluster_id(nodes[1], id));
    cr_assert_eq(id[0], 1);
    free(other);
    /* The same cluster's image is taken. */
    uint8_t same_id[16];
    memset(same_id, 0xaa, sizeof same_id);
    same_id[0] = 0x01;
    uint8_t *same = image_of_cluster(applied + 100, replica_term(nodes[0]), same_id, &len);
    m.snap_data = same;
    m.snap_len = len;
    refused_from = -1;
    cr_assert_eq(replica_receive(nodes[1], &m, now), 0);
    cr_assert_eq(refused_from, -1);
    free(same);
}

Test(node_replica, a_replica_proposes_the_id_its_transport_learned)
{
    start(3, own_cluster_id);
    uint8_t learned[16];
    memset(learned, 0x77, sizeof learned); /* as if from a peer's handshake */
    replica_set_cluster_id(nodes[0], learned);
    run_for(400);
    cr_assert_eq(leader(), 0);
    for (int i = 0; i < 3; i++) {
        uint8_t id[16];
        cr_assert(replica_cluster_id(nodes[i], id));
        cr_assert_eq(id[0], 0x77, "node %d has %02x, not the learned id", i, id[0]);
    }
}

static void snap_by_log_bytes(struct replica_config *c)
{
    c->snapshot_threshold = 0; /* never by count */
    c->snapshot_log_percent = 100;
    c->snapshot_log_min_bytes = 2000;
}

static void snap_by_log_bytes_large_minimum(struct replica_config *c)
{
    snap_by_log_bytes(c);
    c->snapshot_log_min_bytes = 1 << 20;
}

static uint64_t snapshots_after_40_writes(void (*configure)(struct replica_config *))
{
    start(3, configure);
    run_for(400);
    for (int i = 0; i < 40; i++) {
        submit(0, 100 + (uint64_t)i, KV_WRITE, i % 5, i, 0);
        run_for(5);
    }
    cr_assert_eq(kv_store_size(replica_store(nodes[0])), 5);
    struct replica_stats st;
    replica_stats(nodes[0], &st);
    return st.snapshots;
}

Test(node_replica, the_log_applied_since_the_last_snapshot_triggers_one_by_its_bytes)
{
    /* 40 entries of 80 to 200 bytes each against a 2000-byte minimum (the
     * map of 5 keys is smaller): 1 to 4 snapshots, none by count. */
    uint64_t n = snapshots_after_40_writes(snap_by_log_bytes);
    cr_assert(n >= 1 && n <= 4, "%llu snapshots", (unsigned long long)n);
}

Test(node_replica, no_snapshot_by_bytes_below_the_minimum)
{
    cr_assert_eq(snapshots_after_40_writes(snap_by_log_bytes_large_minimum), 0);
}
