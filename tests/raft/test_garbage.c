/* test_garbage.c - bad input never crashes the core: seeded streams of
 * random events (messages of every type with random terms, indexes, hints
 * and entries, ticks, proposals, reads, durability reports, snapshots) fed
 * to one core, which must keep its own invariants after each step.
 * RAFTKV_SEED=N replays one stream.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/rng.h"
#include "raft/raft.h"

#define STEPS 20000

static uint8_t bytes[8] = {1, 2, 3, 4, 5, 6, 7, 8};

static void random_msg(struct rng *g, struct raft_msg *m, struct raft_entry *ents, int n_nodes)
{
    memset(m, 0, sizeof *m);
    m->type = (enum raft_msg_type)rng_below(g, RAFT_MSG_TYPE_COUNT + 1); /* one bad type */
    m->from = (int)rng_below(g, (uint64_t)n_nodes + 1);                  /* sometimes bad */
    m->to = rng_below(g, 20) ? 0 : 1;
    m->term = rng_below(g, 7);
    m->last_log_index = rng_below(g, 30);
    m->last_log_term = rng_below(g, 7);
    m->granted = rng_below(g, 2);
    m->transfer = rng_below(g, 4) == 0;
    m->prev_index = rng_below(g, 30);
    m->prev_term = rng_below(g, 7);
    m->commit = rng_below(g, 40);
    m->seq = rng_below(g, 10);
    m->success = rng_below(g, 2);
    m->match_index = rng_below(g, 40);
    m->reject_index = rng_below(g, 40);
    m->hint_index = rng_below(g, 40);
    m->hint_term = rng_below(g, 7);
    m->n_entries = rng_below(g, 5);
    raft_term t = m->prev_term;
    for (size_t i = 0; i < m->n_entries; i++) {
        t += rng_below(g, 3) == 0;
        ents[i] = (struct raft_entry){.term = t,
                                      .index = m->prev_index + 1 + i + (rng_below(g, 30) == 0),
                                      .type = (uint8_t)rng_below(g, 2),
                                      .len = (uint32_t)rng_below(g, 9),
                                      .data = bytes};
    }
    m->entries = m->n_entries ? ents : NULL;
    m->snap_index = rng_below(g, 40);
    m->snap_term = rng_below(g, 7);
    m->snap_len = rng_below(g, 9);
    m->snap_data = m->snap_len ? bytes : NULL;
    /* Now and then a term or an index at the top of the range, where
     * arithmetic on it would wrap. */
    if (rng_below(g, 8) == 0) {
        uint64_t *fields[] = {&m->term,        &m->last_log_index, &m->last_log_term,
                              &m->prev_index,  &m->prev_term,      &m->commit,
                              &m->seq,         &m->match_index,    &m->reject_index,
                              &m->hint_index,  &m->hint_term,      &m->snap_index,
                              &m->snap_term};
        *fields[rng_below(g, 13)] = UINT64_MAX - rng_below(g, 3);
        if (rng_below(g, 4) == 0)
            m->n_entries = SIZE_MAX - rng_below(g, 2); /* the count alone, never read */
    }
}

static void run_stream(uint64_t seed)
{
    struct rng g;
    rng_seed(&g, seed);
    int n_nodes = 1 + (int)rng_below(&g, 5);
    struct raft_config cfg;
    raft_config_default(&cfg, 0, n_nodes, seed);
    cfg.max_pending_reads = 16;
    struct raft *r = raft_new(&cfg, NULL, 0);
    cr_assert_not_null(r);
    uint64_t now = 0, next_read = 1;
    raft_index applied = 0;
    struct raft_entry ents[8];
    for (int step = 0; step < STEPS; step++) {
        struct raft_event e;
        memset(&e, 0, sizeof e);
        now += rng_below(&g, 40);
        e.now_ms = now;
        uint64_t dice = rng_below(&g, 10);
        const uint8_t *data[4] = {bytes, bytes, bytes, bytes};
        uint32_t len[4] = {1, 2, 3, 8};
        uint64_t ids[3];
        if (dice < 5) {
            e.type = RAFT_EVENT_RECEIVE;
            random_msg(&g, &e.receive, ents, n_nodes);
        } else if (dice < 6) {
            e.type = RAFT_EVENT_TICK;
            e.now_ms = now = raft_deadline(r) > now ? raft_deadline(r) : now;
        } else if (dice < 7) {
            e.type = RAFT_EVENT_PROPOSE;
            e.propose.n = rng_below(&g, 5);
            e.propose.data = data;
            e.propose.len = len;
        } else if (dice < 8) {
            e.type = RAFT_EVENT_READ;
            e.read.n = rng_below(&g, 4);
            for (size_t i = 0; i < e.read.n; i++)
                ids[i] = next_read++;
            e.read.ids = ids;
        } else if (dice < 9) {
            e.type = RAFT_EVENT_PERSISTED;
            e.persisted.index = rng_below(&g, 2) ? raft_last_index(r) : rng_below(&g, 40);
            const struct raft_entry *x = raft_entry_at(r, e.persisted.index);
            e.persisted.term = x && rng_below(&g, 4) ? x->term : rng_below(&g, 7);
        } else if (rng_below(&g, 4) == 0) {
            e.type = RAFT_EVENT_TRANSFER; /* sometimes a bad target */
            e.transfer.target = (int)rng_below(&g, (uint64_t)n_nodes + 3) - 2;
        } else {
            e.type = RAFT_EVENT_SNAPSHOT;
            e.snapshot.index = rng_below(&g, 2) ? raft_applied_index(r) : rng_below(&g, 40);
            e.snapshot.data = bytes;
            e.snapshot.len = 4;
        }
        struct raft_update u;
        raft_term term_before = raft_current_term(r);
        int rc = raft_step(r, &e, &u);
        /* The core's own invariants hold whatever it was fed. */
        cr_assert_leq(u.term, 9223372036854775807ull, "seed=%llu step=%d: a term past 2^63-1",
                      (unsigned long long)seed, step);
        cr_assert_leq(u.last_index, 9223372036854775807ull, "seed=%llu step=%d",
                      (unsigned long long)seed, step);
        if (rc == RAFT_ERR_BOUNDS && e.type == RAFT_EVENT_RECEIVE)
            cr_assert(u.term == term_before && u.n_messages == 0 && u.flags == 0,
                      "seed=%llu step=%d: a refused message changed something",
                      (unsigned long long)seed, step);
        cr_assert_leq(u.commit_index, u.last_index, "seed=%llu step=%d", (unsigned long long)seed,
                      step);
        if (u.flags & RAFT_UPDATE_SNAPSHOT)
            applied = u.snap_index;
        for (size_t i = 0; i < u.n_committed; i++)
            cr_assert_eq(u.committed[i].index, ++applied, "seed=%llu step=%d: applied out of order",
                         (unsigned long long)seed, step);
        cr_assert_eq(raft_applied_index(r), applied, "seed=%llu step=%d", (unsigned long long)seed,
                     step);
        for (size_t i = 0; i < u.n_messages; i++) {
            const struct raft_msg *m = &u.messages[i];
            /* To a member, or an answer to a sender outside the configuration. */
            bool answer = e.type == RAFT_EVENT_RECEIVE && m->to == e.receive.from;
            cr_assert(m->to >= 0 && (m->to < n_nodes || answer) && m->to != 0, "seed=%llu step=%d",
                      (unsigned long long)seed, step);
            for (size_t k = 0; k < m->n_entries; k++)
                cr_assert_eq(m->entries[k].index, m->prev_index + 1 + k);
        }
        for (size_t i = 0; i < u.n_entries; i++)
            cr_assert_eq(u.entries[i].index, u.entries[0].index + i);
    }
    raft_free(r);
}

Test(garbage, random_event_streams_never_crash_the_core_or_break_its_invariants, .timeout = 120)
{
    const char *one = getenv("RAFTKV_SEED");
    if (one && *one) {
        run_stream(strtoull(one, NULL, 10));
        return;
    }
    for (uint64_t seed = 1; seed <= 50; seed++)
        run_stream(seed);
}
