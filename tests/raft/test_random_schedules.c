/* test_random_schedules.c - seeded fault schedules against the Raft core,
 * judged by the cluster's safety checks and the linearizability checker.
 *
 * Each schedule (derived from its seed alone): 3 or 5 nodes; random link
 * latency (constant, uniform or exponential), drops, duplicates and extra
 * reordering; a nemesis alternating healed phases with partitions (one node
 * isolated, halves, majority ring, bridge), crashes and restarts, and in
 * half the schedules crash points inside the driver's order of work
 * (mid-persist with a torn tail, before send, before apply, before
 * PERSISTED), and in half a leader that sends before its own sync
 * completes (thesis 10.2.1); leadership transfers (thesis 3.10) asked now
 * and then, of the leader mostly, to a random node or the core's pick;
 * driver-side snapshots at a random interval; concurrent clients doing
 * read/write/cas on a few keys with timeouts; and in half the schedules
 * (drawn from a stream of their own, so the other half replay as before)
 * one or two spare nodes outside the initial configuration and membership
 * changes on the leader now and then: add a learner, promote it, remove a
 * learner or a voter (the leader too). After every step the cluster checks
 * one leader per term, one uncommitted change at most, log matching and
 * leader completeness. Every key's history must be linearizable, and once
 * the faults end a leader must serve a read again.
 *
 *   RAFTKV_SCHEDULES=N   how many schedules (default 1000)
 *   RAFTKV_SEED_FROM=F   start at seed F (default 1), for long soaks
 *   RAFTKV_SEED=S        replay only schedule S (with RAFTKV_TRACE=1 to see
 *                        every decision of every node)
 * A failure prints `seed=S` and what failed.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/cluster.h"
#include "check/lin.h"

#define N_KEYS 3
#define MAX_CLIENTS 14
#define OP_TIMEOUT_MS 1000

struct client {
    int64_t process;
    int target;       /* node it sends to */
    bool busy;
    uint64_t op_id;
    uint64_t call_seq; /* history clock at invocation */
    uint64_t next_at;  /* virtual time of its next request */
};

struct history {
    struct lin_op *ops[N_KEYS];
    size_t n[N_KEYS], cap[N_KEYS];
};

struct run {
    struct cluster *c;
    struct rng g;
    struct client clients[MAX_CLIENTS];
    int n_clients;
    int64_t next_process;
    uint64_t clock; /* history clock: one tick per invocation or completion */
    struct history h;
    uint64_t ok, fail, info;
    uint64_t final_id; /* the liveness probe after the faults */
    bool final_done;
    enum cluster_outcome final_outcome;
    int final_code;
    struct rng mg; /* membership changes: a stream of their own */
    uint64_t changes_ok, changes_refused;
    uint64_t transfers; /* transfers a leader took on */
};

/* Over the schedules run: transfers begun and TimeoutNows sent, so a test
 * can tell the transfers were exercised at all. */
static uint64_t transfers_begun, timeout_nows_sent, entries_lent, restored_committed;

static void history_add(struct history *h, int key, struct lin_op op)
{
    if (h->n[key] == h->cap[key]) {
        h->cap[key] = h->cap[key] ? h->cap[key] * 2 : 128;
        h->ops[key] = realloc(h->ops[key], h->cap[key] * sizeof *h->ops[key]);
        cr_assert_not_null(h->ops[key]);
    }
    op.id = (int64_t)h->n[key];
    h->ops[key][h->n[key]++] = op;
}

/* Values 0..4 are interned as 1..5; LIN_NIL (0) is the empty register. */
static void on_complete(void *ctx, const struct cluster_completion *d)
{
    struct run *run = ctx;
    if (d->op_id == run->final_id) {
        run->final_done = true;
        run->final_outcome = d->outcome;
        run->final_code = d->code;
        return;
    }
    struct client *cl = NULL;
    for (int i = 0; i < run->n_clients; i++)
        if (run->clients[i].busy && run->clients[i].op_id == d->op_id)
            cl = &run->clients[i];
    if (!cl)
        return;
    uint64_t ret = ++run->clock;
    struct lin_op op = {.process = cl->process, .call = cl->call_seq, .ret = ret};
    bool record = true;
    switch (d->f) {
    case CLUSTER_READ:
        op.f = LIN_READ;
        op.outcome = LIN_OK;
        if (d->outcome == CLUSTER_OK)
            op.a = d->value + 1;
        else if (d->outcome == CLUSTER_FAIL && d->code == CLUSTER_CODE_NO_KEY)
            op.a = LIN_NIL;
        else
            record = false; /* a read that failed changed nothing */
        break;
    case CLUSTER_WRITE:
        op.f = LIN_WRITE;
        op.a = d->a + 1;
        op.outcome = d->outcome == CLUSTER_OK ? LIN_OK : LIN_INFO;
        record = d->outcome != CLUSTER_FAIL;
        break;
    case CLUSTER_CAS:
        op.f = LIN_CAS;
        op.a = d->a + 1;
        op.b = d->b + 1;
        if (d->outcome == CLUSTER_OK) {
            op.outcome = LIN_OK;
        } else if (d->outcome == CLUSTER_INFO) {
            op.outcome = LIN_INFO;
        } else if (d->code == CLUSTER_CODE_NO_KEY) {
            op.f = LIN_READ; /* it saw the empty register */
            op.outcome = LIN_OK;
            op.a = LIN_NIL;
        } else if (d->code == CLUSTER_CODE_PRECONDITION) {
            op.outcome = LIN_FAIL;
        } else {
            record = false; /* definitely not appended */
        }
        break;
    }
    if (record)
        history_add(&run->h, d->key, op);
    if (d->outcome == CLUSTER_OK)
        run->ok++;
    else if (d->outcome == CLUSTER_FAIL)
        run->fail++;
    else
        run->info++;
    cl->busy = false;
    if (d->outcome == CLUSTER_INFO)
        cl->process = run->next_process++; /* as Jepsen: a new process after info */
    if (d->outcome == CLUSTER_FAIL && d->code == CLUSTER_CODE_NOT_LEADER) {
        /* Follow the refusing node's leader hint, else try another node. */
        struct raft *r = cluster_raft(run->c, cl->target);
        int hint = r ? raft_leader(r) : RAFT_NO_NODE;
        cl->target = hint >= 0 ? hint : (int)rng_below(&run->g, (uint64_t)cluster_n(run->c));
    }
    cl->next_at = cluster_now(run->c) + rng_below(&run->g, 20);
}

static void clients_submit(struct run *run, bool allowed)
{
    for (int i = 0; i < run->n_clients; i++) {
        struct client *cl = &run->clients[i];
        if (cl->busy || !allowed || cluster_now(run->c) < cl->next_at)
            continue;
        int key = (int)rng_below(&run->g, N_KEYS);
        uint64_t dice = rng_below(&run->g, 4);
        enum cluster_op_f f = dice < 2 ? CLUSTER_READ : dice == 2 ? CLUSTER_WRITE : CLUSTER_CAS;
        int32_t a = (int32_t)rng_below(&run->g, 5), b = (int32_t)rng_below(&run->g, 5);
        cl->busy = true;
        cl->call_seq = ++run->clock;
        /* Known before submitting: the answer may come within the call. */
        cl->op_id = cluster_next_op_id(run->c);
        cluster_submit(run->c, cl->target, f, key, a, b, OP_TIMEOUT_MS);
    }
}

enum nemesis_kind { NEM_HEAL, NEM_ISOLATE, NEM_HALVES, NEM_RING, NEM_BRIDGE, NEM_CRASH,
                    NEM_KINDS };

static void nemesis(struct run *run, int n)
{
    struct cluster *c = run->c;
    int kind = (int)rng_below(&run->g, NEM_KINDS);
    /* Restart what is down now and then, so crashes do not accumulate. */
    if (rng_below(&run->g, 2) == 0)
        for (int i = 0; i < n; i++)
            if (!cluster_alive(c, i))
                cluster_restart(c, i);
    switch (kind) {
    case NEM_HEAL:
        cluster_heal(c);
        break;
    case NEM_ISOLATE:
        cluster_isolate(c, (int)rng_below(&run->g, (uint64_t)n));
        break;
    case NEM_HALVES: {
        uint32_t mask = (uint32_t)rng_below(&run->g, (1u << n) - 2) + 1;
        cluster_partition_halves(c, mask);
        break;
    }
    case NEM_RING:
        cluster_partition_majority_ring(c, (uint32_t)rng_next(&run->g));
        break;
    case NEM_BRIDGE:
        cluster_partition_bridge(c, (int)rng_below(&run->g, (uint64_t)n));
        break;
    case NEM_CRASH: {
        /* The leader half the time (its crash loses the most in flight);
         * now and then every node at once, as a power cut. */
        uint64_t how = rng_below(&run->g, 8);
        int leader = cluster_leader(c);
        if (how == 0) {
            for (int i = 0; i < n; i++)
                cluster_crash(c, i);
            for (int i = 0; i < n; i++)
                cluster_restart(c, i);
        } else if (how < 4 && leader >= 0) {
            cluster_crash(c, leader);
        } else {
            cluster_crash(c, (int)rng_below(&run->g, (uint64_t)n));
        }
        break;
    }
    }
}

/* A membership change on the leader, chosen at random among those that
 * make sense for the id drawn; the core may still refuse it (a change in
 * progress, no entry of its term committed yet). */
static void membership_change(struct run *run, int total)
{
    struct cluster *c = run->c;
    int l = cluster_leader(c);
    if (l < 0)
        return;
    const struct raft_configuration *conf = raft_configuration(cluster_raft(c, l));
    int id = (int)rng_below(&run->mg, (uint64_t)total);
    const struct raft_member *m = raft_configuration_find(conf, id);
    enum raft_change_type type;
    if (!m)
        type = RAFT_CHANGE_ADD_LEARNER;
    else if (m->role == RAFT_LEARNER)
        type = rng_below(&run->mg, 3) ? RAFT_CHANGE_PROMOTE : RAFT_CHANGE_REMOVE;
    else if (raft_configuration_voters(conf) > 2)
        type = RAFT_CHANGE_REMOVE;
    else
        return;
    int rc = cluster_change(c, l, type, id, NULL);
    if (rc == RAFT_OK)
        run->changes_ok++;
    else
        run->changes_refused++;
    cr_assert(rc == RAFT_OK || rc == RAFT_ERR_CHANGE_PENDING || rc == RAFT_ERR_TERM_UNCOMMITTED ||
                  rc == RAFT_ERR_BUSY || rc == RAFT_ERR_TRANSFERRING,
              "unexpected refusal %d (%s)", rc, raft_strerror(rc));
}

/* Thesis 3.10 among the faults: now and then a leadership transfer to a
 * random node (or RAFT_NO_NODE, the core's pick), asked of the leader
 * mostly, of any node sometimes (refused there). */
static void transfer(struct run *run, int n)
{
    int leader = cluster_leader(run->c);
    int from = leader >= 0 && rng_below(&run->g, 4) ? leader : (int)rng_below(&run->g, (uint64_t)n);
    int target = (int)rng_below(&run->g, (uint64_t)n + 1) - 1;
    int rc = cluster_transfer(run->c, from, target);
    if (rc == RAFT_OK && cluster_raft(run->c, from))
        run->transfers += raft_transfer_target(cluster_raft(run->c, from)) != RAFT_NO_NODE;
}

/* Runs one schedule; returns NULL or a malloc'd failure description. */
static char *run_schedule(uint64_t seed, bool force_crash_points, uint64_t *hits)
{
    struct run run;
    memset(&run, 0, sizeof run);
    rng_seed(&run.g, seed ^ 0x5ca1ab1eULL);
    static const int sizes[] = {3, 3, 5, 5, 7};
    int n = sizes[rng_below(&run.g, 5)];
    struct raft_config base;
    raft_config_default(&base, 0, n, seed);
    base.max_inflight = 1 + rng_below(&run.g, 8);
    base.max_entries_per_msg = 1 + rng_below(&run.g, 64);
    base.snapshot_trailing = rng_below(&run.g, 3) ? rng_below(&run.g, 16) : 1024;
    /* Even seeds: drivers lend their disk's bytes to the cores (raft_lend),
     * each loan compared with the core's copy. Lending changes no message,
     * so a seed's schedule is the same either way. */
    base.verify_lent = seed % 2 == 0;
    /* One seed in three sweeps what compaction drops a few entries and
     * one block an event, so sweeps meet compactions, snapshot installs
     * and crashes half done (from the seed: no draw, the same schedule). */
    if (seed % 3 == 1) {
        base.log_sweep_entries = 1 + seed % 7;
        base.log_sweep_blocks = 1;
    }
    rng_seed(&run.mg, seed ^ 0x6d656d62657273ULL);
    bool members = rng_below(&run.mg, 2) == 0;
    int total = n + (members ? 1 + (int)rng_below(&run.mg, 2) : 0);
    run.c = cluster_new_members(total, n, seed, &base);
    cr_assert_not_null(run.c);
    struct cluster *c = run.c;

    struct cluster_link link = {0};
    link.dist = (enum cluster_latency)rng_below(&run.g, 3);
    link.latency_ms = 1 + (double)rng_below(&run.g, 20);
    link.drop = rng_double(&run.g) * 0.05;
    link.duplicate = rng_double(&run.g) * 0.05;
    link.reorder = rng_double(&run.g) * 0.1;
    cluster_set_all_links(c, &link);
    static const raft_index snap_choices[] = {0, 8, 32, 100};
    cluster_set_snapshot_every(c, snap_choices[rng_below(&run.g, 4)]);
    cluster_set_lend(c, seed % 2 == 0);
    cluster_on_complete(c, on_complete, &run);
    if (rng_below(&run.g, 2) || force_crash_points)
        cluster_set_crash_points(c, 0.0005 + rng_double(&run.g) * 0.0025);
    if (rng_below(&run.g, 2))
        cluster_set_leader_sync_delay(c, 1 + rng_below(&run.g, 10));

    run.n_clients = 2 * n;
    for (int i = 0; i < run.n_clients; i++) {
        run.clients[i].process = i;
        run.clients[i].target = i % n;
    }
    run.next_process = run.n_clients;

    uint64_t active_ms = 4000 + rng_below(&run.g, 8000);
    uint64_t next_nemesis = 300 + rng_below(&run.g, 700);
    uint64_t next_change = members ? 200 + rng_below(&run.mg, 600) : UINT64_MAX;
    uint64_t next_transfer = 500 + rng_below(&run.g, 1500);
    while (cluster_now(c) < active_ms && cluster_ok(c)) {
        if (cluster_now(c) >= next_nemesis) {
            nemesis(&run, total);
            next_nemesis = cluster_now(c) + 200 + rng_below(&run.g, 1200);
        }
        if (cluster_now(c) >= next_change) {
            membership_change(&run, total);
            next_change = cluster_now(c) + 100 + rng_below(&run.mg, 700);
        }
        if (cluster_now(c) >= next_transfer) {
            transfer(&run, total);
            next_transfer = cluster_now(c) + 300 + rng_below(&run.g, 1500);
        }
        clients_submit(&run, true);
        cluster_elapse(c, 5);
    }
    /* Heal, restart everyone, and let the clients' last requests finish. */
    cluster_heal(c);
    for (int i = 0; i < total; i++)
        cluster_restart(c, i);
    cluster_set_crash_points(c, 0);
    uint64_t end = cluster_now(c) + 2 * OP_TIMEOUT_MS + 500;
    while (cluster_now(c) < end && cluster_ok(c))
        cluster_elapse(c, 10);
    /* Liveness: once the faults are over, a leader serves a read again. */
    bool recovered = false;
    uint64_t give_up = cluster_now(c) + 10000;
    while (!recovered && cluster_ok(c) && cluster_now(c) < give_up) {
        int leader = cluster_wait_leader(c, 2000);
        if (leader < 0)
            continue;
        run.final_id = cluster_next_op_id(c);
        run.final_done = false;
        cluster_submit(c, leader, CLUSTER_READ, 0, 0, 0, OP_TIMEOUT_MS);
        while (!run.final_done && cluster_ok(c))
            cluster_step(c);
        recovered = run.final_outcome == CLUSTER_OK ||
                    (run.final_outcome == CLUSTER_FAIL && run.final_code == CLUSTER_CODE_NO_KEY);
    }

    if (getenv("RAFTKV_SEED") || getenv("RAFTKV_VERBOSE"))
        fprintf(stderr,
                "seed=%llu nodes=%d(+%d spare) t=%llums steps=%llu ok=%llu fail=%llu info=%llu "
                "ops/key=%zu,%zu,%zu snapshots_sent=%llu changes=%llu refused=%llu\n",
                (unsigned long long)seed, n, total - n, (unsigned long long)cluster_now(c),
                (unsigned long long)cluster_steps(c), (unsigned long long)run.ok,
                (unsigned long long)run.fail, (unsigned long long)run.info, run.h.n[0], run.h.n[1],
                run.h.n[2], (unsigned long long)cluster_msgs_sent(c, RAFT_MSG_SNAPSHOT),
                (unsigned long long)run.changes_ok, (unsigned long long)run.changes_refused);
    char *failure = NULL;
    if (!cluster_ok(c)) {
        failure = strdup(cluster_error(c));
    } else {
        /* Still-unanswered writes are info (none should be, after timeouts). */
        for (int i = 0; i < run.n_clients; i++)
            cr_assert(!run.clients[i].busy, "seed=%llu: client %d still waiting",
                      (unsigned long long)seed, i);
        if (!recovered) {
            char buf[128];
            snprintf(buf, sizeof buf, "seed=%llu: no read served within 10 s of the faults ending",
                     (unsigned long long)seed);
            failure = strdup(buf);
        }
        for (int k = 0; k < N_KEYS && !failure; k++) {
            struct lin_report rep;
            memset(&rep, 0, sizeof rep);
            enum lin_verdict v = lin_check(run.h.ops[k], run.h.n[k], NULL, &rep);
            if (v == LIN_INVALID) {
                char buf[256];
                snprintf(buf, sizeof buf,
                         "seed=%llu: key %d not linearizable (%zu ops, failed op %zu)",
                         (unsigned long long)seed, k, run.h.n[k], rep.failed_op);
                failure = strdup(buf);
            }
            lin_report_free(&rep);
        }
    }
    for (int k = 0; k < N_KEYS; k++)
        free(run.h.ops[k]);
    if (hits)
        for (int p = 0; p < CLUSTER_CRASH_POINT_KINDS; p++)
            hits[p] += cluster_crash_points_hit(c, p);
    transfers_begun += run.transfers;
    entries_lent += cluster_lent(c);
    restored_committed += cluster_restored_committed(c);
    timeout_nows_sent += cluster_msgs_sent(c, RAFT_MSG_TIMEOUT_NOW);
    cluster_free(c);
    return failure;
}

Test(random_schedules, every_seeded_fault_schedule_keeps_raft_safe_and_histories_linearizable,
     .timeout = 600)
{
    const char *one = getenv("RAFTKV_SEED");
    const char *count = getenv("RAFTKV_SCHEDULES");
    uint64_t first = 1, n = 1000;
    if (one && *one) {
        first = strtoull(one, NULL, 10);
        n = 1;
    } else if (count && *count) {
        n = strtoull(count, NULL, 10);
    }
    const char *from = getenv("RAFTKV_SEED_FROM");
    if (!(one && *one) && from && *from)
        first = strtoull(from, NULL, 10);
    size_t failures = 0;
    for (uint64_t s = first; s < first + n; s++) {
        char *why = run_schedule(s, false, NULL);
        if (why) {
            fprintf(stderr, "seed=%llu FAILED: %s\n  replay: RAFTKV_SEED=%llu build/tests/raft_tests "
                            "--filter 'random_schedules/every*'\n",
                    (unsigned long long)s, why, (unsigned long long)s);
            free(why);
            if (++failures >= 5)
                break;
        }
    }
    cr_assert_eq(failures, 0, "%zu schedule(s) failed; seeds printed above", failures);
    if (n >= 10)
        cr_assert_gt(entries_lent, 100 * n, "lending barely exercised: %llu entries lent",
                     (unsigned long long)entries_lent);
    if (n >= 10)
        cr_assert_gt(restored_committed, 100 * n,
                     "restarts with a stored commit index barely exercised: %llu entries",
                     (unsigned long long)restored_committed);
    if (n >= 40)
        cr_assert(transfers_begun >= n && timeout_nows_sent >= n / 2,
                  "transfers barely exercised: %llu begun, %llu TimeoutNow in %llu schedules",
                  (unsigned long long)transfers_begun, (unsigned long long)timeout_nows_sent,
                  (unsigned long long)n);
}

/* Issue 5's crash-point test: every schedule crashes nodes inside the
 * driver's order of work (mid-persist with a torn tail, after the sync
 * before sending, after sending before applying, after applying before
 * PERSISTED); each point must have struck many times. */
Test(random_schedules, crashes_at_every_point_of_the_order_of_work_keep_raft_safe, .timeout = 600)
{
    const char *count = getenv("RAFTKV_SCHEDULES");
    const char *one = getenv("RAFTKV_SEED");
    uint64_t first = 1000001;
    uint64_t n = count && *count ? strtoull(count, NULL, 10) / 4 + 1 : 250;
    if (one && *one) {
        first = strtoull(one, NULL, 10);
        n = 1;
    }
    uint64_t hits[CLUSTER_CRASH_POINT_KINDS] = {0};
    size_t failures = 0;
    for (uint64_t s = first; s < first + n; s++) {
        char *why = run_schedule(s, true, hits);
        if (why) {
            fprintf(stderr,
                    "seed=%llu FAILED: %s\n  replay: RAFTKV_SEED=%llu build/tests/raft_tests "
                    "--filter 'random_schedules/crashes*'\n",
                    (unsigned long long)s, why, (unsigned long long)s);
            free(why);
            if (++failures >= 5)
                break;
        }
    }
    cr_assert_eq(failures, 0, "%zu schedule(s) failed; seeds printed above", failures);
    if (n < 100)
        return; /* a replay */
    for (int p = 0; p < CLUSTER_CRASH_POINT_KINDS; p++)
        cr_assert_geq(hits[p], n / 2, "crash point %d struck only %llu times", p,
                      (unsigned long long)hits[p]);
}
