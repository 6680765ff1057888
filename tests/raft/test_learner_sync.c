/* test_learner_sync.c - a learner catching up groups its log syncs
 * (replica_config.learner_sync_interval_ms, src/replica/learner_sync.c),
 * through the whole request path (tests/lib/rcluster.h): three voters and
 * a learner (node 3) cut off while clients on the leader write, then
 * healed; it catches up from the leader's log with fewer syncs than one
 * that syncs every batch, acknowledges nothing no sync covered (the
 * simulator's check), and ends with the voters' map; with crashes of the
 * learner during its catch-up too.
 *
 *   RAFTKV_SEED=S   replay only schedule S
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/rcluster.h"
#include "common/rng.h"

#define CONNS 4
#define IN_FLIGHT 16
#define LEARNER 3

struct lrun {
    int in_flight[64];
    uint64_t n_ops;
};

static void on_done(void *ctx, const struct rcluster_done *d)
{
    struct lrun *run = ctx;
    if (d->conn >= 0 && d->conn < 64)
        run->in_flight[d->conn]--;
}

struct outcome {
    uint64_t syncs;   /* the learner's, from the heal to caught up */
    uint64_t backlog; /* entries it lacked at the heal */
    uint64_t ms;      /* from the heal to caught up */
};

static struct outcome learner_schedule(uint64_t seed, uint64_t interval_ms, bool crashes)
{
    struct lrun run;
    memset(&run, 0, sizeof run);
    struct rng g;
    rng_seed(&g, seed ^ 0x1ea4e5ULL);
    struct rcluster_snapshots snap = {.learners = 1, .learner_sync_interval_ms = interval_ms};
    struct rcluster *c = rcluster_new_snapshots(4, seed, on_done, &run, &snap);
    cr_assert_not_null(c);
    struct rcluster_links links = {.latency_min_ms = 1, .latency_max_ms = 1 + rng_below(&g, 3)};
    rcluster_set_links(c, &links);
    int leader = -1;
    while (leader < 0 && rcluster_now(c) < 5000) {
        rcluster_elapse(c, 20);
        leader = rcluster_leader(c);
    }
    cr_assert(leader >= 0 && leader != LEARNER, "seed=%llu: leader %d", (unsigned long long)seed,
              leader);
    for (int i = 0; i < LEARNER; i++)
        rcluster_cut(c, i, LEARNER, true);
    int conns[CONNS];
    for (int i = 0; i < CONNS; i++)
        conns[i] = rcluster_connect(c, leader);
    int32_t value = 1;
    uint64_t until = rcluster_now(c) + 1200;
    while (rcluster_now(c) < until && rcluster_ok(c)) {
        for (int i = 0; i < CONNS; i++)
            while (run.in_flight[conns[i]] < IN_FLIGHT) {
                run.in_flight[conns[i]]++;
                rcluster_submit(c, conns[i], RC_WRITE, (int)rng_below(&g, 8), value++, 0);
                run.n_ops++;
            }
        rcluster_elapse(c, 2);
    }
    rcluster_elapse(c, 200); /* the writes in flight end */
    struct outcome o = {.backlog = rcluster_applied(c, leader) - rcluster_applied(c, LEARNER)};
    rcluster_heal(c);
    uint64_t s0 = rcluster_syncs(c, LEARNER), t0 = rcluster_now(c);
    for (int k = 0; crashes && k < 2; k++) {
        /* Mid-stream, with grouped entries unsynced: it restarts from
         * what its disk holds and catches up from there. */
        rcluster_elapse(c, 1 + rng_below(&g, 20));
        rcluster_crash(c, LEARNER);
        rcluster_elapse(c, 20 + rng_below(&g, 60));
        rcluster_restart(c, LEARNER);
    }
    while (rcluster_now(c) < t0 + 20000 && rcluster_ok(c)) {
        rcluster_elapse(c, 5);
        if (rcluster_applied(c, LEARNER) == rcluster_applied(c, leader))
            break;
    }
    o.syncs = rcluster_syncs(c, LEARNER) - s0;
    o.ms = rcluster_now(c) - t0;
    if (getenv("RAFTKV_VERBOSE") || getenv("RAFTKV_SEED"))
        fprintf(stderr, "learner_sync seed=%llu interval=%llu crashes=%d: backlog %llu, %llu syncs, %llu ms\n",
                (unsigned long long)seed, (unsigned long long)interval_ms, crashes,
                (unsigned long long)o.backlog, (unsigned long long)o.syncs,
                (unsigned long long)o.ms);
    cr_assert(rcluster_ok(c), "seed=%llu: %s", (unsigned long long)seed, rcluster_error(c));
    cr_assert(rcluster_alive(c, LEARNER));
    cr_assert_eq(rcluster_applied(c, LEARNER), rcluster_applied(c, leader),
                 "seed=%llu: the learner did not catch up in 20 s", (unsigned long long)seed);
    cr_assert(rcluster_check_maps(c), "seed=%llu: %s", (unsigned long long)seed, rcluster_error(c));
    rcluster_free(c);
    return o;
}

static uint64_t first_seed(void)
{
    const char *s = getenv("RAFTKV_SEED");
    return s ? strtoull(s, NULL, 10) : 1;
}

/* The same schedule with and without grouping: a backlog of more than
 * the leader's window (8 catch-up APPENDs of 1024 entries), caught up with
 * fewer than half the syncs. */
Test(learner_sync, a_catching_up_learner_syncs_less_and_ends_with_the_voters_map)
{
    uint64_t seed0 = first_seed(), n = getenv("RAFTKV_SEED") ? 1 : 4;
    for (uint64_t seed = seed0; seed < seed0 + n; seed++) {
        struct outcome every = learner_schedule(seed, 0, false);
        struct outcome grouped = learner_schedule(seed, 20, false);
        cr_assert_gt(every.backlog, 8 * 1024, "seed=%llu: a backlog of %llu entries",
                     (unsigned long long)seed, (unsigned long long)every.backlog);
        cr_assert_lt(grouped.syncs * 2, every.syncs, "seed=%llu: %llu syncs grouped, %llu not",
                     (unsigned long long)seed, (unsigned long long)grouped.syncs,
                     (unsigned long long)every.syncs);
    }
}

Test(learner_sync, a_learner_that_crashes_while_catching_up_still_catches_up)
{
    uint64_t seed0 = first_seed(), n = getenv("RAFTKV_SEED") ? 1 : 4;
    for (uint64_t seed = seed0; seed < seed0 + n; seed++)
        learner_schedule(seed, 20, true);
}
