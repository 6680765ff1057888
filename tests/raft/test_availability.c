/* test_availability.c - how fast the majority side serves again after a
 * partition cuts the leader off (issue 2's "answered again within 1 s"),
 * with the default timeouts and Maelstrom's harder latency (exponential,
 * mean 20 ms). Liveness, not safety: the fixture still checks safety.
 */
#include <criterion/criterion.h>

#include "../lib/cluster.h"

struct majority_ctx {
    uint32_t side; /* nodes on the majority side */
};

/* A majority-side node leads and has committed an entry of its term: it
 * can answer writes and ReadIndex reads. */
static bool majority_serves(struct cluster *c, void *ctx)
{
    const struct majority_ctx *m = ctx;
    for (int i = 0; i < cluster_n(c); i++) {
        struct raft *r = cluster_raft(c, i);
        if (!((m->side >> i) & 1) || !r || raft_role(r) != RAFT_LEADER)
            continue;
        const struct raft_entry *e = raft_entry_at(r, raft_commit_index(r));
        if (e && e->term == raft_current_term(r))
            return true;
    }
    return false;
}

/* 6.2, 9.6 with 5.2: check-quorum frees the followers' leases, the
 * randomized timeout elects a new leader, its no-op commits. Split votes
 * make the time random, so the bound is statistical over 100 seeds: at
 * least 95% within 1 s, all within 2 s. */
Test(availability, majority_side_serves_again_within_a_second_of_losing_its_leader)
{
    uint64_t worst = 0, total = 0;
    int within_1s = 0, runs = 100;
    for (uint64_t seed = 1; seed <= (uint64_t)runs; seed++) {
        struct raft_config base;
        raft_config_default(&base, 0, 5, seed);
        struct cluster *c = cluster_new_config(5, seed, &base);
        struct cluster_link l = {.dist = CLUSTER_EXPONENTIAL, .latency_ms = 20};
        cluster_set_all_links(c, &l);
        int leader = cluster_wait_leader(c, 5000);
        cr_assert_geq(leader, 0, "seed=%llu", (unsigned long long)seed);
        cluster_elapse(c, 200 + seed % 50);
        /* Cut the leader and one follower off from the other three. */
        int buddy = (leader + 1) % 5;
        uint32_t minority = (1u << leader) | (1u << buddy);
        cluster_partition_halves(c, minority);
        struct majority_ctx m = {.side = 0x1fu & ~minority};
        uint64_t cut = cluster_now(c);
        bool ok = cluster_step_until(c, majority_serves, &m, 2000);
        cr_assert(cluster_ok(c), "%s", cluster_error(c));
        cr_assert(ok, "seed=%llu: no leader serving on the majority side after 2 s",
                  (unsigned long long)seed);
        uint64_t took = cluster_now(c) - cut;
        worst = took > worst ? took : worst;
        total += took;
        within_1s += took <= 1000;
        cluster_free(c);
    }
    cr_log_info("recovery: mean %llu ms, worst %llu ms, %d of %d within 1 s",
                (unsigned long long)(total / (uint64_t)runs), (unsigned long long)worst, within_1s,
                runs);
    cr_assert_geq(within_1s, 95, "only %d of %d recovered within 1 s", within_1s, runs);
}

/* 9.6: healing does not cost the serving majority its leader */
Test(availability, healing_a_partition_does_not_interrupt_the_majority_leader)
{
    for (uint64_t seed = 1; seed <= 10; seed++) {
        struct raft_config base;
        raft_config_default(&base, 0, 5, seed);
        struct cluster *c = cluster_new_config(5, seed, &base);
        struct cluster_link l = {.dist = CLUSTER_EXPONENTIAL, .latency_ms = 20};
        cluster_set_all_links(c, &l);
        int leader = cluster_wait_leader(c, 5000);
        cr_assert_geq(leader, 0);
        int lone = (leader + 2) % 5;
        cluster_isolate(c, lone);
        cluster_elapse(c, 4000);
        raft_term term = raft_current_term(cluster_raft(c, leader));
        cluster_heal(c);
        cluster_elapse(c, 2000);
        cr_assert(cluster_ok(c), "%s", cluster_error(c));
        cr_assert_eq(cluster_leader(c), leader, "seed=%llu", (unsigned long long)seed);
        cr_assert_eq(raft_current_term(cluster_raft(c, leader)), term, "seed=%llu",
                     (unsigned long long)seed);
        cluster_free(c);
    }
}
