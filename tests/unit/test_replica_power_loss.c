/* test_replica_power_loss.c - replicas whose log syncs run in the background
 * (replica_config.sync_start) lose no acknowledged write to power loss.
 *
 * Each replica's log store is a model of a disk: what is written is not
 * durable until a sync covers it; a background sync covers what was written
 * when it began and ends when the schedule says; a power loss keeps only the
 * durable part (unlike kill -9, which keeps the page cache and so cannot
 * catch a message sent before its sync). Seeded random schedules of writes,
 * sync completions, power losses and restarts; at the end every write that
 * was acknowledged must be read back. Replay: RAFTKV_SEED, RAFTKV_SCHEDULES. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "replica/replica.h"

#define N 3
#define LOG_MAX 4096
#define QUEUE_MAX 8192
#define WRITES_MAX 1024

struct stored_entry {
    raft_index index;
    raft_term term;
    enum raft_entry_type type;
    uint32_t len;
    uint8_t data[64];
};

/* A disk: the log, written and durable; term and vote, written and durable. */
struct disk {
    struct stored_entry log[LOG_MAX];
    size_t written, durable; /* entries [0, written) exist; [0, durable) survive power loss */
    raft_term term, durable_term;
    int vote, durable_vote;
    bool job;          /* a background sync is running */
    size_t job_covers; /* entries it makes durable when it ends */
    struct raft_entry restore[LOG_MAX];
};

static struct disk disks[N];
static struct replica *nodes[N];
static struct replica_log_store seams[N];
static bool down[N];
static struct raft_msg queue[QUEUE_MAX];
static size_t queue_len;
static uint64_t now;

static struct write_rec {
    int key;
    enum replica_status status;
    bool answered;
    int read_code;
    json_int_t read_value;
    bool read_answered;
} writes[WRITES_MAX];
static int n_writes;

static int disk_id(void *impl)
{
    return (int)((struct disk *)impl - disks);
}

static int d_load(void *impl, struct raft_restore *out)
{
    struct disk *d = impl;
    memset(out, 0, sizeof *out);
    out->term = d->durable_term;
    out->voted_for = d->durable_vote;
    for (size_t i = 0; i < d->written; i++)
        d->restore[i] = (struct raft_entry){.index = d->log[i].index, .term = d->log[i].term,
                                            .type = d->log[i].type, .len = d->log[i].len,
                                            .data = d->log[i].data};
    out->entries = d->restore;
    out->n_entries = d->written;
    return 0;
}

static int d_hard_state(void *impl, raft_term term, int vote)
{
    struct disk *d = impl;
    d->term = term;
    d->vote = vote;
    return 0;
}

static int d_append(void *impl, const struct raft_entry *e, size_t n)
{
    struct disk *d = impl;
    size_t at = (size_t)(e[0].index - 1); /* no snapshots: index i is log[i-1] */
    cr_assert_leq(at, d->written);
    /* Like the real store, cutting a conflicting suffix is made durable at
     * once; what precedes it keeps its durability. */
    if (at < d->written) {
        d->written = at;
        if (d->durable > at)
            d->durable = at;
        if (d->job_covers > at)
            d->job_covers = at;
    }
    for (size_t i = 0; i < n; i++) {
        cr_assert_lt(d->written, LOG_MAX);
        cr_assert_leq(e[i].len, sizeof d->log[0].data);
        struct stored_entry *s = &d->log[d->written++];
        *s = (struct stored_entry){.index = e[i].index, .term = e[i].term, .type = e[i].type,
                                   .len = e[i].len};
        if (e[i].len)
            memcpy(s->data, e[i].data, e[i].len);
    }
    return 0;
}

static int d_snapshot(void *impl, raft_index i, raft_term t, const uint8_t *data, size_t len)
{
    (void)impl, (void)i, (void)t, (void)data, (void)len;
    cr_assert_fail("no snapshots in this test");
    return -1;
}

static int d_sync(void *impl)
{
    struct disk *d = impl;
    d->durable = d->written;
    d->durable_term = d->term;
    d->durable_vote = d->vote;
    return 0;
}

static int d_sync_start(void *ctx)
{
    struct disk *d = ctx;
    cr_assert(!d->job, "node %d: a second background sync", disk_id(d));
    if (d->term != d->durable_term || d->vote != d->durable_vote)
        return REPLICA_SYNC_INLINE;
    if (d->durable == d->written)
        return 0;
    d->job = true;
    d->job_covers = d->written;
    return REPLICA_SYNC_STARTED;
}

static void on_send(void *ctx, const struct raft_msg *m)
{
    (void)ctx;
    cr_assert_lt(queue_len, QUEUE_MAX);
    cr_assert_eq(raft_msg_copy(&queue[queue_len++], m), RAFT_OK);
}

static void on_complete(void *ctx, uint64_t ref, const struct replica_result *res)
{
    (void)ctx;
    struct write_rec *w = &writes[ref % WRITES_MAX];
    if (ref >= WRITES_MAX) { /* a read */
        w->read_answered = true;
        w->read_code = res->status == REPLICA_DONE ? res->kv.code : -1;
        w->read_value = res->kv.value ? json_integer_value(res->kv.value) : -1;
        return;
    }
    cr_assert(!w->answered, "write %d answered twice", (int)ref);
    w->answered = true;
    w->status = res->status;
}

static void start_node(int i, uint64_t seed)
{
    struct replica_config c;
    replica_config_default(&c, i, N, seed * 31 + (uint64_t)i);
    c.raft.election_timeout_ms = 150;
    c.raft.heartbeat_interval_ms = 30;
    c.send = on_send;
    c.complete = on_complete;
    c.ctx = &disks[i];
    c.sync_start = d_sync_start;
    c.snapshot_threshold = 0;
    c.request_timeout_ms = 100000; /* answers come from the log, not timeouts */
    seams[i] = (struct replica_log_store){.impl = &disks[i],
                                          .load = d_load,
                                          .save_hard_state = d_hard_state,
                                          .append = d_append,
                                          .save_snapshot = d_snapshot,
                                          .sync = d_sync};
    c.store = &seams[i];
    nodes[i] = replica_new(&c, now);
    cr_assert_not_null(nodes[i]);
    down[i] = false;
}

/* Power loss: what no sync covered is gone, with the running sync. */
static void power_loss(int i)
{
    replica_free(nodes[i]);
    nodes[i] = NULL;
    down[i] = true;
    struct disk *d = &disks[i];
    d->written = d->durable;
    d->term = d->durable_term;
    d->vote = d->durable_vote;
    d->job = false;
}

static void end_job(int i)
{
    struct disk *d = &disks[i];
    if (!d->job)
        return;
    d->job = false;
    if (d->durable < d->job_covers)
        d->durable = d->job_covers;
    replica_synced(nodes[i], 0);
}

static void round_trip(struct rng *g, double p_end_job)
{
    size_t n = queue_len;
    static struct raft_msg batch[QUEUE_MAX];
    memcpy(batch, queue, n * sizeof *batch);
    queue_len = 0;
    for (size_t k = 0; k < n; k++) {
        if (!down[batch[k].to] && !down[batch[k].from])
            replica_receive(nodes[batch[k].to], &batch[k], now);
        raft_msg_release(&batch[k]);
    }
    now += 1 + rng_below(g, 5);
    for (int i = 0; i < N; i++) {
        if (down[i])
            continue;
        if (rng_double(g) < p_end_job)
            end_job(i);
        replica_tick(nodes[i], now);
        cr_assert_eq(replica_flush(nodes[i], now), 0);
    }
}

static int leader(void)
{
    for (int i = 0; i < N; i++)
        if (!down[i] && replica_role(nodes[i]) == RAFT_LEADER)
            return i;
    return -1;
}

static void submit(int node, uint64_t ref, enum kv_op op, int key, int value)
{
    struct kv_command c = {.op = op, .key = json_integer(key)};
    if (op == KV_WRITE)
        c.value = json_integer(value);
    replica_submit(nodes[node], ref, &c, now);
    json_decref(c.key);
    json_decref(c.value);
}

static void run_schedule(uint64_t seed)
{
    struct rng g;
    rng_seed(&g, seed);
    memset(disks, 0, sizeof disks);
    for (int i = 0; i < N; i++)
        disks[i].vote = disks[i].durable_vote = RAFT_NO_NODE;
    memset(writes, 0, sizeof writes);
    n_writes = 0;
    queue_len = 0;
    now = 1000;
    for (int i = 0; i < N; i++)
        start_node(i, seed);
    int restart_at[N] = {0};
    for (int step = 0; step < 3000; step++) {
        int l = leader();
        if (l >= 0 && n_writes < WRITES_MAX && rng_below(&g, 3) == 0) {
            writes[n_writes].key = n_writes;
            submit(l, (uint64_t)n_writes, KV_WRITE, n_writes, n_writes);
            n_writes++;
        }
        round_trip(&g, 0.4);
        if (rng_below(&g, 150) == 0) {
            int v = (int)rng_below(&g, N);
            if (!down[v]) {
                power_loss(v);
                restart_at[v] = step + 20 + (int)rng_below(&g, 200);
            }
        }
        for (int i = 0; i < N; i++)
            if (down[i] && step >= restart_at[i])
                start_node(i, seed + (uint64_t)step);
    }
    /* Everyone up, syncs end at once: read back every acknowledged write. */
    for (int i = 0; i < N; i++)
        if (down[i])
            start_node(i, seed + 7);
    for (int step = 0; step < 2000 && leader() < 0; step++)
        round_trip(&g, 1.0);
    for (int step = 0; step < 200; step++)
        round_trip(&g, 1.0);
    int l = leader();
    cr_assert_geq(l, 0, "seed %llu: no leader at the end", (unsigned long long)seed);
    int acked = 0;
    for (int w = 0; w < n_writes; w++) {
        if (writes[w].answered && writes[w].status == REPLICA_DONE) {
            acked++;
            submit(l, WRITES_MAX + (uint64_t)w, KV_READ, writes[w].key, 0);
        }
    }
    for (int step = 0; step < 300; step++)
        round_trip(&g, 1.0);
    for (int w = 0; w < n_writes; w++) {
        if (!writes[w].answered || writes[w].status != REPLICA_DONE)
            continue;
        cr_assert(writes[w].read_answered, "seed %llu: read of key %d unanswered",
                  (unsigned long long)seed, w);
        cr_assert(writes[w].read_code == KV_OK && writes[w].read_value == w,
                  "seed %llu: acknowledged write %d lost (read code %d value %lld; replay: "
                  "RAFTKV_SEED=%llu)",
                  (unsigned long long)seed, w, writes[w].read_code,
                  (long long)writes[w].read_value, (unsigned long long)seed);
    }
    cr_assert_gt(acked, 0, "seed %llu: nothing was acknowledged", (unsigned long long)seed);
    if (getenv("RAFTKV_VERBOSE"))
        printf("seed %llu: %d writes, %d acknowledged\n", (unsigned long long)seed, n_writes, acked);
    for (int i = 0; i < N; i++)
        replica_free(nodes[i]);
    for (size_t k = 0; k < queue_len; k++)
        raft_msg_release(&queue[k]);
    queue_len = 0;
}

Test(replica_power_loss, no_acknowledged_write_is_lost_with_background_syncs_and_power_loss,
     .timeout = 120)
{
    const char *env = getenv("RAFTKV_SEED");
    uint64_t first = env ? strtoull(env, NULL, 10) : 20261126;
    const char *k = getenv("RAFTKV_SCHEDULES");
    int schedules = k ? atoi(k) : (env ? 1 : 200);
    printf("replica power loss: seeds %llu..%llu (replay one: RAFTKV_SEED=N)\n",
           (unsigned long long)first, (unsigned long long)(first + (uint64_t)schedules - 1));
    for (int s = 0; s < schedules; s++)
        run_schedule(first + (uint64_t)s);
}
