/* test_replica_learner_sync.c - a learner that lacks more committed
 * entries than one ordinary APPEND holds syncs its log at most once per
 * learner_sync_interval_ms and acknowledges only what a sync covered; a
 * voter, a learner near the leader's commit index and a learner promoted
 * by the entry it just received sync every batch (learner_sync.c).
 *
 * Node 0 is driven by hand as n1's follower, over a log store that counts
 * its syncs and remembers the last entry each one covered. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "replica/replica.h"
#include "replica_test_util.h"

#define INTERVAL_MS 20
#define BATCH 100

struct store {
    raft_index last;   /* the last entry appended */
    raft_index synced; /* ... and the last a sync covered */
    unsigned syncs;
};

static struct store st;
static struct replica *rep;
static raft_index acked; /* the highest match an APPEND_RESP to n1 carried */
static raft_term leader_term = 1; /* n1's term in the APPENDs append_at sends */
static unsigned acks;

static int st_hard_state(void *impl, raft_term term, int voted_for)
{
    (void)impl, (void)term, (void)voted_for;
    return 0;
}

static int st_append(void *impl, const struct raft_entry *e, size_t n)
{
    struct store *s = impl;
    if (n)
        s->last = e[n - 1].index;
    return 0;
}

static int st_snapshot(void *impl, raft_index i, raft_term t, const uint8_t *d, size_t len)
{
    (void)impl, (void)i, (void)t, (void)d, (void)len;
    return 0;
}

static int st_sync(void *impl)
{
    struct store *s = impl;
    s->syncs++;
    s->synced = s->last;
    return 0;
}

static const struct replica_log_store seam = {.impl = &st,
                                              .save_hard_state = st_hard_state,
                                              .append = st_append,
                                              .save_snapshot = st_snapshot,
                                              .sync = st_sync};

static void on_send(void *ctx, const struct raft_msg *m)
{
    (void)ctx;
    if (m->type != RAFT_MSG_APPEND_RESP || m->to != 1 || !m->success)
        return;
    cr_assert_leq(m->match_index, st.synced, "acknowledged %llu, durable only to %llu",
                  (unsigned long long)m->match_index, (unsigned long long)st.synced);
    if (m->match_index > acked)
        acked = m->match_index;
    acks++;
}

static void on_complete(void *ctx, uint64_t ref, const struct replica_result *res)
{
    (void)ctx, (void)ref, (void)res;
}

/* The leader's window as this member is configured (0: the defaults). */
static size_t window_inflight, window_entries, window_bytes;

/* Node 0 of {0, 1}: a learner (or a voter) of n1's configuration. */
static void start(enum raft_member_role my_role, uint64_t interval_ms)
{
    memset(&st, 0, sizeof st);
    leader_term = 1;
    acked = 0;
    acks = 0;
    struct raft_configuration conf = {.n = 2,
                                      .members = {{.id = 0, .role = my_role},
                                                  {.id = 1, .role = RAFT_VOTER}}};
    struct replica_config c;
    replica_config_default(&c, 0, 2, 5);
    c.raft.initial = &conf;
    c.send = on_send;
    c.complete = on_complete;
    c.store = &seam;
    c.snapshot_threshold = 0;
    c.learner_sync_interval_ms = interval_ms;
    if (window_inflight) {
        c.raft.max_inflight = window_inflight;
        c.raft.max_entries_per_msg = 64;
        c.raft.max_bytes_per_msg = 1000;
        c.raft.catchup_entries_per_msg = window_entries;
        c.raft.catchup_bytes_per_msg = window_bytes;
        window_inflight = 0;
    }
    rep = replica_new(&c, 1000);
    cr_assert_not_null(rep);
}

static void finish(void)
{
    replica_free(rep);
    rep = NULL;
}

TestSuite(replica_learner_sync, .fini = finish);

/* n1's APPEND of entries first..first+n-1 (term 1; writes), or of one
 * CONFIG entry when conf is given, carrying commit; then the flush that
 * ends the batch at `now`. */
static void append_at(raft_index first, size_t n, raft_index commit,
                      const struct raft_configuration *conf, uint64_t now)
{
    struct raft_entry e[BATCH];
    uint8_t *data[BATCH];
    cr_assert_leq(n, BATCH);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        data[i] = rtu_write_payload((json_int_t)(first + i), &len);
        e[i] = (struct raft_entry){.term = 1, .index = first + i, .type = RAFT_ENTRY_COMMAND,
                                   .data = data[i], .len = (uint32_t)len};
    }
    uint8_t cbuf[RAFT_CONFIGURATION_MAX_BYTES];
    if (conf) {
        free(data[0]);
        data[0] = NULL;
        size_t len = raft_configuration_encode(conf, cbuf, sizeof cbuf);
        cr_assert_gt(len, 0);
        e[0] = (struct raft_entry){.term = 1, .index = first, .type = RAFT_ENTRY_CONFIG,
                                   .data = cbuf, .len = (uint32_t)len};
    }
    struct raft_msg m = rtu_from_peer(1, RAFT_MSG_APPEND, leader_term);
    m.prev_index = first - 1;
    m.prev_term = first > 1 ? 1 : 0;
    m.entries = e;
    m.n_entries = n;
    m.commit = commit;
    cr_assert_eq(replica_receive(rep, &m, now), 0);
    for (size_t i = 0; i < n; i++)
        free(data[i]);
    rtu_flush(rep, now);
}

/* Far behind (n1's commit index 100000): the first batch syncs (it carries
 * the new term), the next two within the interval wait, unacknowledged, and
 * the replica asks to be woken when it ends; then one sync covers both. */
Test(replica_learner_sync, a_catching_up_learner_groups_its_syncs_and_acks_only_what_is_durable)
{
    start(RAFT_LEARNER, INTERVAL_MS);
    append_at(1, BATCH, 100000, NULL, 1000);
    cr_assert_eq(st.syncs, 1);
    cr_assert_eq(acked, 100);
    append_at(101, BATCH, 100000, NULL, 1005);
    append_at(201, BATCH, 100000, NULL, 1010);
    cr_assert_eq(st.syncs, 1, "a sync within %d ms of the last", INTERVAL_MS);
    cr_assert_eq(acked, 100, "acknowledged what no sync covered");
    cr_assert_eq(st.last, 300);
    cr_assert_leq(replica_deadline(rep), 1020, "not woken when the interval ends");
    rtu_flush(rep, 1019);
    cr_assert_eq(st.syncs, 1);
    rtu_flush(rep, 1020);
    cr_assert_eq(st.syncs, 2);
    cr_assert_eq(st.synced, 300);
    cr_assert_eq(acked, 300);
    /* The next waits for 1040, whenever it comes. */
    append_at(301, BATCH, 100000, NULL, 1039);
    cr_assert_eq(st.syncs, 2);
    append_at(401, BATCH, 100000, NULL, 1041);
    cr_assert_eq(st.syncs, 3);
    cr_assert_eq(acked, 500);
}

/* Within one ordinary APPEND (256 entries) of n1's commit index: the
 * learner is no longer catching up and syncs every batch. */
Test(replica_learner_sync, a_learner_near_the_commit_index_syncs_every_batch)
{
    start(RAFT_LEARNER, INTERVAL_MS);
    append_at(1, BATCH, 100 + 256, NULL, 1000);
    append_at(101, BATCH, 200 + 256, NULL, 1005);
    append_at(201, BATCH, 300 + 256, NULL, 1010);
    cr_assert_eq(st.syncs, 3);
    cr_assert_eq(acked, 300);
}

Test(replica_learner_sync, a_voter_syncs_every_batch)
{
    start(RAFT_VOTER, INTERVAL_MS);
    append_at(1, BATCH, 100000, NULL, 1000);
    append_at(101, BATCH, 100000, NULL, 1005);
    append_at(201, BATCH, 100000, NULL, 1010);
    cr_assert_eq(st.syncs, 3);
    cr_assert_eq(acked, 300);
}

Test(replica_learner_sync, interval_0_syncs_every_batch)
{
    start(RAFT_LEARNER, 0);
    append_at(1, BATCH, 100000, NULL, 1000);
    append_at(101, BATCH, 100000, NULL, 1005);
    append_at(201, BATCH, 100000, NULL, 1010);
    cr_assert_eq(st.syncs, 3);
    cr_assert_eq(acked, 300);
}

/* The CONFIG entry that promotes it takes effect on arrival: that batch
 * and every later one syncs at once. */
Test(replica_learner_sync, a_promoted_learner_syncs_from_the_entry_that_promotes_it)
{
    start(RAFT_LEARNER, INTERVAL_MS);
    append_at(1, BATCH, 100000, NULL, 1000);
    append_at(101, BATCH, 100000, NULL, 1005);
    cr_assert_eq(st.syncs, 1);
    struct raft_configuration voters = {.n = 2,
                                        .members = {{.id = 0, .role = RAFT_VOTER},
                                                    {.id = 1, .role = RAFT_VOTER}}};
    append_at(201, 1, 100000, &voters, 1006);
    cr_assert_eq(st.syncs, 2);
    cr_assert_eq(acked, 201);
    append_at(202, BATCH, 100000, NULL, 1007);
    cr_assert_eq(st.syncs, 3);
    cr_assert_eq(acked, 301);
}

/* Half the leader's window (2 APPENDs of 150 entries) unsynced: a sync at
 * once, within the interval, so the leader always has room to send. */
Test(replica_learner_sync, half_the_leaders_window_unsynced_syncs_at_once)
{
    window_inflight = 2;
    window_entries = 150;
    window_bytes = 1u << 20;
    start(RAFT_LEARNER, INTERVAL_MS);
    append_at(1, BATCH, 100000, NULL, 1000);
    cr_assert_eq(st.syncs, 1);
    append_at(101, BATCH, 100000, NULL, 1002);
    cr_assert_eq(st.syncs, 1, "100 entries unsynced, under half the window (150)");
    append_at(201, BATCH, 100000, NULL, 1004);
    cr_assert_eq(st.syncs, 2, "200 entries unsynced, past half the window (150)");
    cr_assert_eq(acked, 300);
    append_at(301, BATCH, 100000, NULL, 1006);
    cr_assert_eq(st.syncs, 2, "counted afresh from the last sync");
}

/* The same in bytes: half the window holds 150 entries' bytes. */
Test(replica_learner_sync, half_the_leaders_window_in_bytes_syncs_at_once)
{
    size_t len;
    free(rtu_write_payload(101, &len));
    window_inflight = 2;
    window_entries = 100000;
    window_bytes = 150 * len; /* half: 150 entries' bytes */
    start(RAFT_LEARNER, INTERVAL_MS);
    append_at(1, BATCH, 100000, NULL, 1000);
    append_at(101, BATCH, 100000, NULL, 1002);
    cr_assert_eq(st.syncs, 1);
    append_at(201, BATCH, 100000, NULL, 1004);
    cr_assert_eq(st.syncs, 2);
    cr_assert_eq(acked, 300);
}

/* n1 again, leader of term 2 now: the batch that carries the new term
 * syncs at once, within the interval. */
Test(replica_learner_sync, a_new_term_syncs_at_once)
{
    start(RAFT_LEARNER, INTERVAL_MS);
    append_at(1, BATCH, 100000, NULL, 1000);
    append_at(101, BATCH, 100000, NULL, 1005);
    cr_assert_eq(st.syncs, 1);
    leader_term = 2;
    append_at(201, BATCH, 100000, NULL, 1006);
    cr_assert_eq(st.syncs, 2);
    cr_assert_eq(replica_term(rep), 2);
    cr_assert_eq(acked, 300);
}
