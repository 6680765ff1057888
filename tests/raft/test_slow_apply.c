/* test_slow_apply.c - applying slower than committing, through the whole
 * request path (tests/lib/rcluster.h): each node applies one entry per
 * 25 ms of simulated time (apply_batch 1, apply_turn_ms 25: 40 entries/s,
 * as a leader under snapshot children falls to a few hundred a second),
 * while clients on the leader keep 7 writes and 1 read each on 8 connections in flight on a
 * healthy network. Committed writes then wait for applying well past the
 * replicas' request timeout (600 ms), and must still get their real
 * answers: every write and read ends OK, none ends unknown (13) or
 * refused; the maps agree; the history is linearizable.
 *
 *   RAFTKV_SEED=S   replay only schedule S (each of 6 seeds draws the link
 *                   latency and the keys written)
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/rcluster.h"
#include "common/rng.h"

#define CONNS 8
#define WRITES_IN_FLIGHT 8

struct slow_run {
    struct rcluster *c;
    uint64_t ok, fail, info;
    uint64_t writes_ok, reads_ok;
    int in_flight[64];
    bool is_read[4096];
    uint64_t n_ops;
};

static void slow_done(void *ctx, const struct rcluster_done *d)
{
    struct slow_run *run = ctx;
    run->in_flight[d->conn]--;
    run->ok += d->outcome == RC_OK;
    run->fail += d->outcome == RC_FAIL;
    run->info += d->outcome == RC_INFO;
    if (d->outcome == RC_OK && d->op < 4096) {
        if (run->is_read[d->op])
            run->reads_ok++;
        else
            run->writes_ok++;
    }
}

/* Clients on the leader, or (via_follower) on a follower whose router
 * forwards every operation to the leader. */
static void slow_schedule(uint64_t seed, bool via_follower)
{
    struct slow_run run;
    memset(&run, 0, sizeof run);
    struct rng g;
    rng_seed(&g, seed ^ 0x51057ULL);
    struct rcluster_snapshots snap = {.apply_batch = 1, .apply_turn_ms = 25};
    run.c = rcluster_new_snapshots(3, seed, slow_done, &run, &snap);
    cr_assert_not_null(run.c);
    struct rcluster *c = run.c;
    struct rcluster_links links = {.latency_min_ms = 1, .latency_max_ms = 1 + rng_below(&g, 5)};
    rcluster_set_links(c, &links);
    int leader = -1;
    for (int i = 0; i < 100 && leader < 0; i++) {
        rcluster_elapse(c, 20);
        leader = rcluster_leader(c);
    }
    cr_assert_geq(leader, 0, "seed=%llu: no leader", (unsigned long long)seed);
    /* Let the leader's first entries apply before the load. */
    rcluster_elapse(c, 300);
    int target = via_follower ? (leader + 1) % 3 : leader;
    int conns[CONNS];
    for (int i = 0; i < CONNS; i++)
        conns[i] = rcluster_connect(c, target);
    int32_t value = 1;
    uint64_t writes = 0;
    while (rcluster_now(c) < 3000 && rcluster_ok(c)) {
        for (int i = 0; i < CONNS; i++) {
            while (run.in_flight[conns[i]] < WRITES_IN_FLIGHT && run.n_ops < 4000) {
                bool read = run.in_flight[conns[i]] == WRITES_IN_FLIGHT - 1;
                int key = (int)rng_below(&g, 3);
                run.in_flight[conns[i]]++;
                uint64_t op = rcluster_submit(c, conns[i], read ? RC_READ : RC_WRITE, key,
                                              read ? 0 : value++, 0);
                if (op < 4096)
                    run.is_read[op] = read;
                run.n_ops++;
                writes += !read;
            }
        }
        rcluster_elapse(c, 5);
    }
    /* Stop submitting; everything in flight ends once applied. */
    rcluster_elapse(c, 20000);
    if (getenv("RAFTKV_VERBOSE") || getenv("RAFTKV_SEED"))
        fprintf(stderr, "slow_apply%s seed=%llu ops=%llu writes=%llu ok=%llu fail=%llu info=%llu\n",
                via_follower ? " (via a follower)" : "", (unsigned long long)seed,
                (unsigned long long)run.n_ops, (unsigned long long)writes,
                (unsigned long long)run.ok, (unsigned long long)run.fail, (unsigned long long)run.info);
    cr_assert(rcluster_ok(c), "seed=%llu: %s", (unsigned long long)seed, rcluster_error(c));
    cr_assert_eq(rcluster_leader(c), leader, "seed=%llu: the leader changed", (unsigned long long)seed);
    cr_assert_eq(rcluster_unfinished(c), 0, "seed=%llu", (unsigned long long)seed);
    cr_assert_eq(run.info, 0, "seed=%llu: %llu operations ended unknown (13) although committed",
                 (unsigned long long)seed, (unsigned long long)run.info);
    cr_assert_eq(run.fail, 0, "seed=%llu: %llu operations refused", (unsigned long long)seed,
                 (unsigned long long)run.fail);
    cr_assert_eq(run.ok, run.n_ops, "seed=%llu", (unsigned long long)seed);
    /* Enough load that applying lagged past the request timeout: 40
     * entries/s for 2.7 s against 64 in flight. */
    cr_assert_gt(writes, 100, "seed=%llu: %llu writes", (unsigned long long)seed,
                 (unsigned long long)writes);
    cr_assert(rcluster_check_maps(c), "seed=%llu: %s", (unsigned long long)seed, rcluster_error(c));
    rcluster_free(c);
}

Test(slow_apply, committed_writes_wait_for_a_slow_apply_and_none_ends_unknown)
{
    const char *one = getenv("RAFTKV_SEED");
    if (one) {
        slow_schedule(strtoull(one, NULL, 10), false);
        return;
    }
    for (uint64_t seed = 1; seed <= 6; seed++)
        slow_schedule(seed, false);
}

/* The same load through a follower: its router forwards the writes, and the
 * leader answers each once applied, long after the router's forward timeout
 * (500 ms here), while the commit index the follower learns keeps moving.
 * The forwards must wait for those answers, not end unknown (13). */
Test(slow_apply, writes_forwarded_by_a_follower_wait_while_the_leader_commits_and_none_ends_unknown)
{
    const char *one = getenv("RAFTKV_SEED");
    if (one) {
        slow_schedule(strtoull(one, NULL, 10), true);
        return;
    }
    for (uint64_t seed = 1; seed <= 6; seed++)
        slow_schedule(seed, true);
}
