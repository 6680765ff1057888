/* test_routed_schedules.c - seeded fault schedules through the whole request
 * path (tests/lib/rcluster.h): replicas, their routers, forwards and
 * answers over the simulated links, clients on every node (followers too)
 * pipelining mixed operations on connections.
 *
 * Each schedule (derived from its seed alone): 3 or 5 nodes; link latency,
 * drops and (Raft messages only) duplicates; a nemesis alternating healed
 * phases with partitions (one node isolated, the leader isolated, halves),
 * crashes and restarts; connections attached to random nodes sending bursts
 * of reads, writes (unique values) and cas on a few keys, and now and then
 * a KEYS * (a long read, router.h rule 9, pipelined among the others), a
 * write of a fresh key (each written once, so keys appear all along the
 * run) or a read of one near that frontier.
 * Judged by the simulator's checks after every step, then: every operation
 * ended (the router ends what it holds), every node that applied as much
 * holds the same map, each KEYS answer is the key set at some point
 * between its call and its answer, in its connection's order (check_keys),
 * and each key's history - final reads included, so an acknowledged write
 * that was lost shows - is linearizable with per-connection order
 * (lin_limits.connection_order).
 *
 *   RAFTKV_SCHEDULES=N   how many schedules (default 300)
 *   RAFTKV_SEED_FROM=F   start at seed F (default 1)
 *   RAFTKV_SEED=S        replay only schedule S (RAFTKV_VERBOSE=1 prints its
 *                        counts; a failing key's history is printed)
 *   Forwards and answers may be lost while later ones on their link arrive
 *   (rcluster.h stream gaps; router.h rules 4-5 send nothing again once a
 *   later operation of its connection was sent); RAFTKV_NO_STREAM_GAPS=1
 *   turns that off.
 *   Forward streams sometimes stall 0.2-1 s (TCP backoff), so a write can
 *   end 13 by the forward timeout and be appended later (router.h rule 8
 *   breaks its connection); RAFTKV_NO_STREAM_STALLS=1 turns that off.
 *   RAFTKV_NO_ORDER=1    check plain linearizability only
 *   RAFTKV_NO_KEYS=1     clients send no KEYS
 *   RAFTKV_NO_KEYS_WALK=1  KEYS answered inline (three quarters of the
 *                        schedules otherwise walk: keys_walk_min 0-2,
 *                        keys_walk_entries 1-50 a flush)
 *   RAFTKV_MAX_STATES=N  the checker's bound per key (default 400000): an
 *                        undecided key (RAFTKV_VERBOSE=1 prints its seed)
 *                        replayed with a larger one is decided
 *   RAFTKV_NO_SNAPSHOTS=1  no background snapshots (half the schedules take
 *                        them: durable 20-400 ms after they begin, crashes
 *                        in the middle of some)
 * Lagging members catch up by chunked InstallSnapshot (rcluster.h); in a
 * third of the schedules its frames are faulted, and transfers are hit in
 * the middle (a link silent for about the stall timeout). The
 * second test runs 40 schedules that all snapshot every 5-20 entries and
 * fault 1-4% of the transfer frames (the same variables apply).
 * A failure prints `seed=S` and what failed.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/rcluster.h"
#include "check/lin.h"
#include "common/rng.h"

#define N_KEYS 3
/* Keys N_KEYS.. are fresh: each written once, in turn, now and then, and
 * read near that frontier, so KEYS answers meet keys appearing all along
 * the run (keys_mask's bits: at most 31 keys in all). */
#define N_FRESH 28
#define N_ALL (N_KEYS + N_FRESH)
#define MAX_OPEN 48
#define MAX_PER_CONN 6

struct op_rec {
    int key, conn;
    enum rcluster_f f;
    int32_t a, b;
    uint64_t call, ret; /* ret: UINT64_MAX until it ended */
    enum rcluster_outcome outcome;
    int code;
    int32_t value;
};

struct run {
    struct rcluster *c;
    struct rng g;
    int n;
    struct op_rec *ops;
    size_t n_ops, cap_ops;
    int conns[MAX_OPEN];   /* the connections clients use */
    int in_flight[256];    /* per connection id */
    int n_open;
    uint64_t clock;        /* history clock: one tick per invocation or completion */
    int32_t next_value;
    struct lin_op *h[N_ALL];
    size_t nh[N_ALL], caph[N_ALL];
    int next_fresh;        /* the next fresh key to write */
    uint64_t ok, fail, info;
    struct rng kg;         /* whether a client sends KEYS: draws of its own */
    uint64_t keys_sent, keys_ok;
    bool final_done;       /* the last final read ended */
    struct rcluster_done final;
};

static void history_add(struct run *run, int key, struct lin_op op)
{
    if (run->nh[key] == run->caph[key]) {
        run->caph[key] = run->caph[key] ? run->caph[key] * 2 : 256;
        run->h[key] = realloc(run->h[key], run->caph[key] * sizeof *run->h[key]);
        cr_assert_not_null(run->h[key]);
    }
    op.id = (int64_t)run->nh[key];
    run->h[key][run->nh[key]++] = op;
}

/* Values are their own ids (writes use 1, 2, ...); LIN_NIL is no key. */
static void on_done(void *ctx, const struct rcluster_done *d)
{
    struct run *run = ctx;
    cr_assert_lt(d->op, run->n_ops);
    struct op_rec *r = &run->ops[d->op];
    run->in_flight[r->conn]--;
    run->final_done = true;
    run->final = *d;
    run->ok += d->outcome == RC_OK;
    run->fail += d->outcome == RC_FAIL;
    run->info += d->outcome == RC_INFO;
    struct lin_op op = {.process = r->conn, .call = r->call, .ret = ++run->clock};
    r->ret = op.ret;
    r->outcome = d->outcome;
    r->code = d->code;
    r->value = d->value;
    switch (r->f) {
    case RC_KEYS:
        run->keys_ok += d->outcome == RC_OK;
        return; /* judged by check_keys */
    case RC_READ:
        op.f = LIN_READ;
        op.outcome = LIN_OK;
        if (d->outcome == RC_OK)
            op.a = d->value;
        else if (d->outcome == RC_FAIL && d->code == 20)
            op.a = LIN_NIL;
        else
            return; /* a read that failed changed nothing */
        break;
    case RC_WRITE:
        if (d->outcome == RC_FAIL)
            return;
        op.f = LIN_WRITE;
        op.a = r->a;
        op.outcome = d->outcome == RC_OK ? LIN_OK : LIN_INFO;
        break;
    case RC_CAS:
        op.f = LIN_CAS;
        op.a = r->a;
        op.b = r->b;
        if (d->outcome == RC_OK) {
            op.outcome = LIN_OK;
        } else if (d->outcome == RC_INFO) {
            op.outcome = LIN_INFO;
        } else if (d->code == 20) {
            op.f = LIN_READ;
            op.outcome = LIN_OK;
            op.a = LIN_NIL;
        } else if (d->code == 22) {
            op.outcome = LIN_FAIL;
        } else {
            return; /* 11: not appended */
        }
        break;
    }
    history_add(run, r->key, op);
}

static uint64_t submit(struct run *run, int conn, enum rcluster_f f, int key, int32_t a, int32_t b)
{
    if (run->n_ops == run->cap_ops) {
        run->cap_ops = run->cap_ops ? run->cap_ops * 2 : 1024;
        run->ops = realloc(run->ops, run->cap_ops * sizeof *run->ops);
        cr_assert_not_null(run->ops);
    }
    run->ops[run->n_ops++] =
        (struct op_rec){.key = key, .conn = conn, .f = f, .a = a, .b = b, .call = ++run->clock,
                        .ret = UINT64_MAX};
    run->in_flight[conn]++;
    uint64_t id = rcluster_submit(run->c, conn, f, key, a, b);
    cr_assert_eq(id, run->n_ops - 1);
    return id;
}

static int alive_node(struct run *run)
{
    for (int tries = 0; tries < 20; tries++) {
        int i = (int)rng_below(&run->g, (uint64_t)run->n);
        if (rcluster_alive(run->c, i))
            return i;
    }
    return -1;
}

/* Every client connection that died with its node is replaced by one to a
 * live node; then some connections send a burst of pipelined operations. */
static void clients(struct run *run)
{
    for (int i = 0; i < run->n_open; i++) {
        if (rcluster_conn_alive(run->c, run->conns[i]))
            continue;
        int node = alive_node(run);
        int k = node >= 0 ? rcluster_connect(run->c, node) : -1;
        if (k >= 0)
            run->conns[i] = k;
    }
    for (int i = 0; i < run->n_open; i++) {
        int k = run->conns[i];
        if (!rcluster_conn_alive(run->c, k) || rng_below(&run->g, 4) != 0)
            continue;
        int burst = 1 + (int)rng_below(&run->g, 4);
        for (int j = 0; j < burst && run->in_flight[k] < MAX_PER_CONN; j++) {
            if (!getenv("RAFTKV_NO_KEYS") && rng_below(&run->kg, 8) == 0) {
                run->keys_sent++;
                submit(run, k, RC_KEYS, 0, 0, 0);
                if (!rcluster_conn_alive(run->c, k))
                    break;
                continue;
            }
            uint64_t fresh = getenv("RAFTKV_NO_KEYS") ? 9 : rng_below(&run->kg, 8);
            if (fresh == 0 && run->next_fresh < N_ALL) {
                submit(run, k, RC_WRITE, run->next_fresh++, ++run->next_value, 0);
                if (!rcluster_conn_alive(run->c, k))
                    break;
                continue;
            }
            if (fresh == 1) {
                int key = run->next_fresh - (int)rng_below(&run->kg, 2);
                submit(run, k, RC_READ, key < N_ALL ? key : N_ALL - 1, 0, 0);
                if (!rcluster_conn_alive(run->c, k))
                    break;
                continue;
            }
            int key = (int)rng_below(&run->g, N_KEYS);
            uint64_t what = rng_below(&run->g, 10);
            if (what < 4) {
                submit(run, k, RC_READ, key, 0, 0);
            } else if (what < 7) {
                submit(run, k, RC_WRITE, key, ++run->next_value, 0);
            } else {
                /* From a recent value, so that some succeed. */
                int32_t from = run->next_value - (int32_t)rng_below(&run->g, 4);
                submit(run, k, RC_CAS, key, from > 0 ? from : 1, ++run->next_value);
            }
            if (!rcluster_conn_alive(run->c, k))
                break;
        }
    }
}

static void nemesis(struct run *run)
{
    struct rcluster *c = run->c;
    int n = run->n;
    switch (rng_below(&run->g, 7)) {
    case 0:
    case 1:
        rcluster_heal(c);
        for (int i = 0; i < n; i++)
            rcluster_restart(c, i);
        break;
    case 2: {
        int v = (int)rng_below(&run->g, (uint64_t)n);
        for (int i = 0; i < n; i++)
            if (i != v)
                rcluster_cut(c, v, i, true);
        break;
    }
    case 3: {
        int l = rcluster_leader(c);
        for (int i = 0; l >= 0 && i < n; i++)
            if (i != l)
                rcluster_cut(c, l, i, true);
        break;
    }
    case 4: {
        uint32_t side = (uint32_t)rng_below(&run->g, 1u << n);
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
                if (((side >> i) & 1) != ((side >> j) & 1))
                    rcluster_cut(c, i, j, true);
        break;
    }
    case 5:
        rcluster_crash(c, (int)rng_below(&run->g, (uint64_t)n));
        break;
    default: {
        int l = rcluster_leader(c);
        if (l >= 0)
            rcluster_crash(c, l);
        break;
    }
    }
}

/* A failing key's history, for a replay. */
static void dump(const struct lin_op *h, size_t n, const struct lin_report *rep)
{
    static const char *fs[] = {"read", "write", "cas"};
    static const char *os[] = {"ok", "fail", "info"};
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "%s op %zu conn %lld %s %d %d %s [%llu, %llu]\n", i == rep->failed_op ? "=>" : "  ", i,
                (long long)h[i].process, fs[h[i].f], h[i].a, h[i].b, os[h[i].outcome],
                (unsigned long long)h[i].call, (unsigned long long)h[i].ret);
    fprintf(stderr, "possible before it:");
    for (size_t i = 0; i < rep->n_possible; i++)
        fprintf(stderr, " %d", rep->possible[i]);
    fprintf(stderr, "\nprefix:");
    for (size_t i = 0; i < rep->prefix_ops; i++)
        fprintf(stderr, " %zu", rep->prefix[i]);
    fprintf(stderr, "\n");
}

/* What an ended operation says about key k at its linearization point:
 * 1 it was there (or is from then on: a write), 0 it was not, -1 nothing. */
static int shows_key(const struct op_rec *o, int k)
{
    if (o->ret == UINT64_MAX)
        return -1;
    if (o->f == RC_KEYS)
        return o->outcome == RC_OK && o->value >= 0 ? (int)((o->value >> k) & 1) : -1;
    if (o->key != k)
        return -1;
    if (o->outcome == RC_OK)
        return 1; /* a value read, a write, a cas that matched */
    if (o->outcome == RC_FAIL && o->code == 20)
        return 0; /* a read or cas of no key */
    if (o->f == RC_CAS && o->outcome == RC_FAIL && o->code == 22)
        return 1; /* another value */
    return -1;
}

/* Whether operation a takes effect before b must: a was answered before b
 * was sent, or both are of one connection and a was sent first. */
static bool must_precede(const struct op_rec *a, const struct op_rec *b)
{
    return a->ret < b->call || (a->conn == b->conn && a->call < b->call);
}

/* KEYS answers against the keys' histories (no key is ever deleted here,
 * so a key, once there, stays): each must be the key set at some point
 * between its call and its answer, in its connection's order. A key is in
 * it only if a write of it (not refused) could come before it: sent before
 * the answer and not after it on its connection; a key seen by an
 * operation that must come before it (a value read, a write or cas
 * answered, another KEYS) is in it; a key in it is seen by every
 * operation that must come after it (no read of it finds none). NULL or a
 * malloc'd description. */
static char *check_keys(const struct run *run)
{
    char buf[400];
    for (size_t i = 0; i < run->n_ops; i++) {
        const struct op_rec *q = &run->ops[i];
        if (q->f != RC_KEYS || q->ret == UINT64_MAX || q->outcome != RC_OK)
            continue;
        if (q->value < 0) {
            snprintf(buf, sizeof buf, "KEYS op %zu answered a key no client wrote", i);
            return strdup(buf);
        }
        for (int k = 0; k < N_ALL; k++) {
            bool in = (q->value >> k) & 1;
            bool written = false;
            for (size_t j = 0; j < run->n_ops; j++) {
                const struct op_rec *o = &run->ops[j];
                if (j == i)
                    continue;
                if (in && o->f == RC_WRITE && o->key == k && o->call < q->ret &&
                    !(o->conn == q->conn && o->call > q->call) &&
                    !(o->ret != UINT64_MAX && o->outcome == RC_FAIL))
                    written = true;
                int s = shows_key(o, k);
                const char *why = NULL;
                if (!in && s == 1 && must_precede(o, q))
                    why = "misses key %d, which op %zu (conn %d, [%llu, %llu]) before it saw";
                else if (in && s == 0 && must_precede(q, o))
                    why = "has key %d, which op %zu (conn %d, [%llu, %llu]) after it did not find";
                if (why) {
                    char what[160];
                    snprintf(what, sizeof what, why, k, j, o->conn, (unsigned long long)o->call,
                             (unsigned long long)o->ret);
                    snprintf(buf, sizeof buf, "KEYS op %zu (conn %d, [%llu, %llu]) %s", i, q->conn,
                             (unsigned long long)q->call, (unsigned long long)q->ret, what);
                    return strdup(buf);
                }
            }
            if (in && !written) {
                snprintf(buf, sizeof buf,
                         "KEYS op %zu (conn %d, [%llu, %llu]) has key %d, which no write before it made",
                         i, q->conn, (unsigned long long)q->call, (unsigned long long)q->ret, k);
                return strdup(buf);
            }
        }
    }
    return NULL;
}

/* Runs one schedule; NULL or a malloc'd description of what failed. */
/* Background snapshots finished, and cut short by a crash, over the run. */
static uint64_t snapshots_done, snapshots_cut;
/* Chunked snapshot transfers over the run. */
static struct rcluster_transfers xfers;
/* KEYS sent, and answered (then checked by check_keys), over the run. */
static uint64_t keys_sent, keys_ok;
/* KEYS walks (replica.h's keys_walk_*) begun and answered, over the run. */
static uint64_t walks_begun, walks_done;
/* The transfer schedules: every one snapshots often (5-20 entries) and
 * faults 1-4% of the transfer frames. */
static bool transfer_focus;

static char *run_schedule(uint64_t seed, size_t *undecided)
{
    struct run run;
    memset(&run, 0, sizeof run);
    rng_seed(&run.g, seed ^ 0x0badcafeULL);
    rng_seed(&run.kg, seed ^ 0x6b657973ULL);
    run.next_fresh = N_KEYS;
    run.n = rng_below(&run.g, 3) ? 3 : 5;
    /* Half the schedules snapshot in the background (a threshold of 15-80
     * entries, each taking 20-400 ms of simulated time, longer than an
     * election timeout), and crash nodes in the middle of one. Drawn from
     * their own generator, so the other draws of a seed stay as they were. */
    struct rng sg;
    rng_seed(&sg, seed ^ 0x5a9507ULL);
    struct rcluster_snapshots snap = {0};
    if (rng_below(&sg, 2) && !getenv("RAFTKV_NO_SNAPSHOTS")) {
        snap.threshold = 15 + rng_below(&sg, 66);
        snap.min_ms = 20 + rng_below(&sg, 100);
        snap.max_ms = snap.min_ms + rng_below(&sg, 300);
    }
    if (transfer_focus) {
        snap.threshold = 5 + rng_below(&sg, 16);
        snap.min_ms = 10 + rng_below(&sg, 50);
        snap.max_ms = snap.min_ms + rng_below(&sg, 100);
    }
    /* And a third apply committed entries a few per flush, so reads the
     * core declares ready often wait for a backlog. */
    if (rng_below(&sg, 3) == 0)
        snap.apply_batch = 1 + rng_below(&sg, 4);
    /* Half of those stop applying on a CPU-time budget too (a fake clock):
     * entries then go on in the next flush after a varying count. */
    if (snap.apply_batch % 2 == 0 && snap.apply_batch > 0)
        snap.apply_cpu_ns = 2000000;
    /* Lagging members catch up by chunked InstallSnapshot: chunks of 8-64
     * bytes, so an image spans several windows; a third of the schedules
     * also drop, duplicate, reorder and corrupt 1-4% of its frames and hit
     * as many transfers in the middle. */
    snap.chunk_bytes = 8 + (uint32_t)rng_below(&sg, 57);
    double chunk_faults = rng_below(&sg, 3) == 0 ? 0.01 + rng_double(&sg) * 0.03 : 0;
    if (transfer_focus && chunk_faults == 0)
        chunk_faults = 0.01 + rng_double(&sg) * 0.03;
    /* Most schedules answer KEYS from the replica's walk, begun on maps of
     * 0-2 keys and going 1-50 entries a flush (half of them 1-3), so one
     * spans several steps while other reads and writes go on. */
    struct rng wg;
    rng_seed(&wg, seed ^ 0x77616c6bULL);
    if (rng_below(&wg, 4) != 0 && !getenv("RAFTKV_NO_KEYS_WALK")) {
        snap.keys_walk = true;
        snap.keys_walk_min = rng_below(&wg, 3);
        snap.keys_walk_entries = 1 + rng_below(&wg, rng_below(&wg, 2) ? 3 : 50);
        /* Half of those end a node's loop turn at most every 1-8 ms, the
         * walk's budget being per turn: a walk then spans simulated time,
         * while later reads are served and writes applied. */
        if (rng_below(&wg, 2))
            snap.apply_turn_ms = 1 + rng_below(&wg, 8);
    }
    run.c = rcluster_new_snapshots(run.n, seed, on_done, &run, &snap);
    cr_assert_not_null(run.c);
    struct rcluster *c = run.c;
    struct rcluster_links links;
    links.latency_min_ms = 1 + rng_below(&run.g, 5);
    links.latency_max_ms = links.latency_min_ms + rng_below(&run.g, 25);
    links.drop = rng_double(&run.g) * 0.05;
    links.duplicate = rng_double(&run.g) * 0.05;
    double stall = rng_below(&run.g, 2) ? rng_double(&run.g) * 0.02 : 0;
    links.stall = getenv("RAFTKV_NO_STREAM_STALLS") ? 0 : stall;
    links.stream_gaps = getenv("RAFTKV_NO_STREAM_GAPS") == NULL;
    links.chunk_faults = chunk_faults;
    rcluster_set_links(c, &links);
    run.n_open = 2 * run.n;
    for (int i = 0; i < run.n_open; i++)
        run.conns[i] = rcluster_connect(c, (int)rng_below(&run.g, (uint64_t)run.n));

    uint64_t active_ms = 1500 + rng_below(&run.g, 2500);
    uint64_t next_nemesis = 200 + rng_below(&run.g, 600);
    while (rcluster_now(c) < active_ms && rcluster_ok(c)) {
        if (rcluster_now(c) >= next_nemesis) {
            nemesis(&run);
            next_nemesis = rcluster_now(c) + 150 + rng_below(&run.g, 800);
        }
        /* A restart in the middle of a snapshot: crash, then restart soon. */
        for (int i = 0; snap.threshold && i < run.n; i++)
            if (rcluster_snapshot_running(c, i) && rng_below(&sg, 40) == 0) {
                rcluster_crash(c, i);
                rcluster_elapse(c, 5 + rng_below(&sg, 50));
                rcluster_restart(c, i);
            }
        clients(&run);
        rcluster_elapse(c, 10 + rng_below(&run.g, 20));
    }
    /* Heal and restart everyone; whatever is still in a router ends by its
     * deadlines or the replicas' request timeouts. A KEYS goes alone on its
     * connection (router.h rule 9), so a pipeline holding some ends one
     * flight after another, each by its own deadline (a long read's 1200
     * ms, longer while the leader makes progress): up to 8 s more. */
    rcluster_heal(c);
    for (int i = 0; i < run.n; i++)
        rcluster_restart(c, i);
    rcluster_elapse(c, 4000);
    for (int i = 0; i < 16 && rcluster_unfinished(c) != 0 && rcluster_ok(c); i++)
        rcluster_elapse(c, 500);

    char buf[512];
    char *failure = NULL;
    if (rcluster_ok(c) && rcluster_unfinished(c) != 0) {
        snprintf(buf, sizeof buf, "%zu operations never ended", rcluster_unfinished(c));
        failure = strdup(buf);
        for (size_t i = 0; i < run.n_ops && getenv("RAFTKV_SEED"); i++)
            if (run.ops[i].ret == UINT64_MAX)
                fprintf(stderr, "op %zu never ended: conn %d f %d key %d call %llu\n", i,
                        run.ops[i].conn, (int)run.ops[i].f, run.ops[i].key,
                        (unsigned long long)run.ops[i].call);
    }
    /* Final reads, through random nodes, until each key's is answered. */
    for (int key = 0; key < run.next_fresh && rcluster_ok(c) && !failure; key++) {
        bool answered = false;
        for (int tries = 0; tries < 40 && !answered && rcluster_ok(c); tries++) {
            int k = rcluster_connect(c, (int)rng_below(&run.g, (uint64_t)run.n));
            if (k < 0)
                break;
            run.final_done = false;
            submit(&run, k, RC_READ, key, 0, 0);
            for (int t = 0; t < 300 && !run.final_done && rcluster_ok(c); t++)
                rcluster_elapse(c, 10);
            answered = run.final_done && (run.final.outcome == RC_OK ||
                                           (run.final.outcome == RC_FAIL && run.final.code == 20));
            if (!answered)
                rcluster_elapse(c, 100);
        }
        if (!answered && rcluster_ok(c)) {
            snprintf(buf, sizeof buf, "no final read of key %d answered after the faults", key);
            failure = strdup(buf);
        }
    }
    rcluster_elapse(c, 500);
    if (!failure && rcluster_ok(c))
        rcluster_check_maps(c);
    /* Healed, transfer frames too, and quiet: every transfer ends at both
     * ends within a stall timeout (600 ms) of its last progress. */
    links.chunk_faults = 0;
    rcluster_set_links(c, &links);
    for (int i = 0; i < 4 && rcluster_transfers_active(c) != 0; i++)
        rcluster_elapse(c, 700);
    if (!failure && rcluster_ok(c) && rcluster_transfers_active(c) != 0) {
        snprintf(buf, sizeof buf, "%d snapshot transfer ends still active after the faults",
                 rcluster_transfers_active(c));
        failure = strdup(buf);
    }
    if (!failure && !rcluster_ok(c))
        failure = strdup(rcluster_error(c));
    if (!failure)
        failure = check_keys(&run);
    keys_sent += run.keys_sent;
    keys_ok += run.keys_ok;
    uint64_t wb, wd;
    rcluster_keys_walks(c, &wb, &wd);
    walks_begun += wb;
    walks_done += wd;
    for (int k = 0; k < N_ALL && !failure; k++) {
        /* A crash leaves its connections' writes unknown; a key with many
         * of them can be too costly to decide: counted, not failed. */
        const char *ms = getenv("RAFTKV_MAX_STATES");
        struct lin_limits lim = {.connection_order = !getenv("RAFTKV_NO_ORDER"),
                                 .max_states = ms && *ms ? strtoull(ms, NULL, 10) : 400000};
        struct lin_report rep;
        enum lin_verdict v = lin_check(run.h[k], run.nh[k], &lim, &rep);
        if (v == LIN_INVALID && getenv("RAFTKV_SEED"))
            dump(run.h[k], run.nh[k], &rep);
        if (v == LIN_INVALID) {
            snprintf(buf, sizeof buf, "key %d not linearizable in each connection's order (%zu ops, failed op %zu)",
                     k, run.nh[k], rep.failed_op);
            failure = strdup(buf);
        } else if (v == LIN_UNKNOWN) {
            (*undecided)++;
            if (getenv("RAFTKV_SEED") || getenv("RAFTKV_VERBOSE"))
                fprintf(stderr, "seed=%llu key %d undecided: %s\n", (unsigned long long)seed, k, rep.reason);
        }
        lin_report_free(&rep);
    }
    if (getenv("RAFTKV_SEED") || getenv("RAFTKV_VERBOSE"))
        fprintf(stderr, "seed=%llu nodes=%d t=%llums steps=%llu ok=%llu fail=%llu info=%llu ops/key=%zu,%zu,%zu keys=%llu/%llu\n",
                (unsigned long long)seed, run.n, (unsigned long long)rcluster_now(c),
                (unsigned long long)rcluster_steps(c), (unsigned long long)run.ok,
                (unsigned long long)run.fail, (unsigned long long)run.info, run.nh[0], run.nh[1], run.nh[2],
                (unsigned long long)run.keys_ok, (unsigned long long)run.keys_sent);
    for (int k = 0; k < N_ALL; k++)
        free(run.h[k]);
    free(run.ops);
    uint64_t sd, sc;
    rcluster_snapshot_counts(c, &sd, &sc);
    snapshots_done += sd;
    snapshots_cut += sc;
    struct rcluster_transfers x;
    rcluster_transfer_counts(c, &x);
    xfers.started += x.started;
    xfers.chunks += x.chunks;
    xfers.installed += x.installed;
    xfers.cut_send += x.cut_send;
    xfers.cut_recv += x.cut_recv;
    rcluster_free(c);
    return failure;
}

/* Runs seeds (RAFTKV_SEED, RAFTKV_SCHEDULES, RAFTKV_SEED_FROM; n by
 * default) and asserts they all passed. */
static void run_seeds(const char *test, uint64_t n)
{
    const char *one = getenv("RAFTKV_SEED");
    const char *count = getenv("RAFTKV_SCHEDULES");
    const char *from = getenv("RAFTKV_SEED_FROM");
    uint64_t first = 1;
    if (one && *one) {
        first = strtoull(one, NULL, 10);
        n = 1;
    } else {
        if (count && *count)
            n = strtoull(count, NULL, 10);
        if (from && *from)
            first = strtoull(from, NULL, 10);
    }
    printf("routed schedules%s: seeds %llu..%llu (replay one with RAFTKV_SEED=S)\n",
           transfer_focus ? " (snapshot transfers)" : "", (unsigned long long)first,
           (unsigned long long)(first + n - 1));
    fflush(stdout);
    size_t failures = 0, undecided = 0;
    for (uint64_t s = first; s < first + n; s++) {
        char *why = run_schedule(s, &undecided);
        if (why) {
            fprintf(stderr, "seed=%llu FAILED: %s\n  replay: RAFTKV_SEED=%llu build/tests/raft_tests "
                            "--filter 'routed_schedules/%s'\n",
                    (unsigned long long)s, why, (unsigned long long)s, test);
            free(why);
            if (++failures >= 5)
                break;
        }
    }
    printf("routed schedules: %zu keys undecided within the checker's bound; %llu background "
           "snapshots taken, %llu cut short by a crash\n",
           undecided, (unsigned long long)snapshots_done, (unsigned long long)snapshots_cut);
    printf("routed schedules: %llu snapshot transfers (%llu chunks), %llu installed, cut short "
           "%llu times at the sender and %llu at the receiver\n",
           (unsigned long long)xfers.started, (unsigned long long)xfers.chunks,
           (unsigned long long)xfers.installed, (unsigned long long)xfers.cut_send,
           (unsigned long long)xfers.cut_recv);
    printf("routed schedules: %llu KEYS sent, %llu answered and checked; %llu walks begun, %llu "
           "answered\n",
           (unsigned long long)keys_sent, (unsigned long long)keys_ok,
           (unsigned long long)walks_begun, (unsigned long long)walks_done);
    cr_assert_eq(failures, 0, "%zu schedule(s) failed; seeds printed above", failures);
    if (n >= 50 && !getenv("RAFTKV_NO_KEYS"))
        cr_assert_gt(keys_ok, 0, "no KEYS was answered");
    if (n >= 50 && !getenv("RAFTKV_NO_KEYS") && !getenv("RAFTKV_NO_KEYS_WALK"))
        cr_assert_gt(walks_done, 0, "no KEYS walk answered");
    cr_assert_leq(undecided, 3 * n / 100 + 1, "%zu keys undecided: the schedules are too hard to judge",
                  undecided);
    if (n >= 50 && !getenv("RAFTKV_NO_SNAPSHOTS")) {
        cr_assert_gt(snapshots_done, 0, "no background snapshot was taken");
        cr_assert_gt(snapshots_cut, 0, "no crash hit a background snapshot");
        cr_assert_gt(xfers.installed, 0, "no chunked snapshot transfer was installed");
        if (transfer_focus)
            cr_assert_gt(xfers.cut_send + xfers.cut_recv, 0, "no snapshot transfer was cut");
    }
}

Test(routed_schedules, clients_on_every_node_through_the_routers_keep_histories_linearizable_in_connection_order,
     .timeout = 600)
{
    run_seeds("clients*", 300);
}

Test(routed_schedules, chunked_snapshot_transfers_under_faults_install_only_whole_images_and_never_leak,
     .timeout = 600)
{
    transfer_focus = true;
    run_seeds("chunked*", 40);
}
