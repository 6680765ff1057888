/* test_replica_apply_batch.c - a backlog of committed entries is applied a
 * bounded batch per flush (replica_config.apply_batch), so no loop turn
 * does work proportional to the backlog; the replica's deadline is "now"
 * while one remains, and a read the core declares ready meanwhile is
 * answered only once the backlog it found is applied (never from a map
 * that lags the read index). Once the driver marks its loop turns
 * (replica_turn_end), the bound holds per turn however many flushes the
 * turn makes, and a smaller one (apply_batch_snapshot) while a snapshot
 * runs. */
#include "replica_test_util.h"
#include "storage/storage_replica.h"
#include "test_storage_util.h"

struct ab_answers {
    int n;
    json_int_t value;
};

static void ab_complete(void *ctx, uint64_t ref, const struct replica_result *res)
{
    (void)ref;
    struct ab_answers *a = ctx;
    if (res->status == REPLICA_DONE && res->kv.code == KV_OK && res->kv.value) {
        a->n++;
        a->value = json_integer_value(res->kv.value);
    }
}

static void ab_send(void *ctx, const struct raft_msg *m)
{
    (void)ctx, (void)m;
}

Test(replica_apply_batch, a_restart_backlog_is_applied_in_bounded_batches_and_reads_wait_for_it)
{
    enum { N = 3000, BATCH = 100 };
    char dir[256];
    tsu_make_dir(dir, sizeof dir);
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, NULL);
    cr_assert_eq(storage_set_hard_state(s, 1, 0), STORAGE_OK);
    /* N writes of key "k" = 1..N, in the log (committed before the crash). */
    rtu_append_writes(s, 1, (raft_index)N, 1);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    storage_close(s);

    s = tsu_open(dir, &r, NULL);
    cr_assert_eq(r.n_entries, N);
    struct replica_log_store ls;
    storage_replica_log_store(s, &ls);
    struct ab_answers answers = {0};
    struct replica_config c;
    replica_config_default(&c, 0, 1, 7);
    c.send = ab_send;
    c.complete = ab_complete;
    c.ctx = &answers;
    c.store = &ls;
    c.snapshot_threshold = 0;
    c.apply_batch = BATCH;
    struct replica *rep = replica_new(&c, 0);
    cr_assert_not_null(rep);
    storage_release_restore(s);
    uint64_t now = 0;
    raft_index before = replica_applied_index(rep);
    bool read_sent = false;
    int flushes_with_backlog = 0;
    for (int k = 0; k < 10000 && replica_applied_index(rep) < N + 1; k++) {
        if (replica_deadline(rep) > now)
            now = replica_deadline(rep) < now + 10 ? replica_deadline(rep) : now + 10;
        replica_tick(rep, now);
        cr_assert_eq(replica_flush(rep, now), 0);
        raft_index applied = replica_applied_index(rep);
        cr_assert_leq(applied - before, BATCH, "one flush applied %llu entries",
                      (unsigned long long)(applied - before));
        before = applied;
        if (replica_role(rep) == RAFT_LEADER && applied < N) {
            flushes_with_backlog++;
            cr_assert_eq(replica_deadline(rep), 0, "a backlog makes the deadline now");
            if (!read_sent) { /* a read while most of the backlog is still there */
                json_t *key = json_string("k");
                struct kv_command rd = {.op = KV_READ, .key = key};
                replica_submit(rep, 1, &rd, now);
                json_decref(key);
                read_sent = true;
            }
            if (answers.n)
                cr_assert_fail("the read was answered at applied index %llu, before the backlog",
                               (unsigned long long)applied);
        }
    }
    cr_assert_eq(replica_applied_index(rep), N + 1, "the backlog and the leader's no-op applied");
    cr_assert_geq(flushes_with_backlog, N / BATCH - 2, "%d flushes", flushes_with_backlog);
    for (int k = 0; k < 20 && answers.n == 0; k++) {
        now += 5;
        replica_tick(rep, now);
        replica_flush(rep, now);
    }
    cr_assert_eq(answers.n, 1, "the read was answered once the backlog was applied");
    cr_assert_eq(answers.value, N, "and saw the last write");
    replica_free(rep);
    storage_close(s);
    tsu_remove_dir(dir);
}

/* A log of n committed writes of "k" = 1..n, as a restart finds it. */
static struct storage *ab_backlog(char *dir, size_t cap, int n, struct replica_log_store *ls)
{
    tsu_make_dir(dir, cap);
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, NULL);
    cr_assert_eq(storage_set_hard_state(s, 1, 0), STORAGE_OK);
    rtu_append_writes(s, 1, (raft_index)n, 1);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    storage_close(s);
    s = tsu_open(dir, &r, NULL);
    cr_assert_eq(r.n_entries, (size_t)n);
    storage_replica_log_store(s, ls);
    return s;
}

struct ab_snap {
    int started;
    raft_index index;
};

static struct ab_snap ab_snap_seen;

/* A snapshot that starts and stays running until the test ends it. */
static int ab_snapshot_start_rec(void *ctx, raft_index index, raft_term term)
{
    (void)ctx, (void)term;
    ab_snap_seen.started++;
    ab_snap_seen.index = index;
    return 0;
}

Test(replica_apply_batch, the_budget_is_per_turn_and_smaller_while_a_snapshot_runs)
{
    /* A restart's tail of R writes, at whose end the snapshot comes due
     * (no snapshot forks while a restart's tail is replayed), and N - R
     * more submitted at once when it leads: the backlog behind them. */
    enum { N = 3000, R = 1000, BATCH = 100, SNAP_BATCH = 7, FLUSHES_PER_TURN = 5 };
    char dir[256];
    struct replica_log_store ls;
    struct storage *s = ab_backlog(dir, sizeof dir, R, &ls);
    struct ab_answers answers = {0};
    struct replica_config c;
    replica_config_default(&c, 0, 1, 7);
    c.send = ab_send;
    c.complete = ab_complete;
    c.ctx = &answers;
    c.store = &ls;
    c.snapshot_threshold = 1000;
    c.snapshot_log_percent = 0;
    c.snapshot_start = ab_snapshot_start_rec;
    c.apply_batch = BATCH;
    c.apply_batch_snapshot = SNAP_BATCH;
    ab_snap_seen = (struct ab_snap){0};
    struct replica *rep = replica_new(&c, 0);
    cr_assert_not_null(rep);
    storage_release_restore(s);
    uint64_t now = 0;
    int turns = 0, snap_turns = 0, full_turns = 0;
    bool ended = false, submitted = false;
    for (int k = 0; k < 20000 && replica_applied_index(rep) < N + 1; k++) {
        replica_turn_end(rep);
        if (!submitted && replica_role(rep) == RAFT_LEADER) {
            for (int i = R + 1; i <= N; i++) {
                json_t *key = json_string("k"), *v = json_integer(i);
                struct kv_command w = {.op = KV_WRITE, .key = key, .value = v};
                replica_submit(rep, (uint64_t)i, &w, now);
                json_decref(key);
                json_decref(v);
            }
            submitted = true;
        }
        bool running = ab_snap_seen.started > 0 && !ended;
        raft_index before = replica_applied_index(rep);
        for (int f = 0; f < FLUSHES_PER_TURN; f++) {
            if (replica_deadline(rep) > now)
                now = replica_deadline(rep) < now + 10 ? replica_deadline(rep) : now + 10;
            replica_tick(rep, now);
            cr_assert_eq(replica_flush(rep, now), 0);
        }
        raft_index applied = replica_applied_index(rep) - before;
        turns++;
        if (replica_applied_index(rep) < N && replica_role(rep) == RAFT_LEADER && applied > 0) {
            /* The turn's budget is spent: the deadline is the next turn,
             * not "now" (a timer re-armed for now would spin this turn). */
            cr_assert_gt(replica_deadline(rep), now, "deadline %llu at %llu with the budget spent",
                         (unsigned long long)replica_deadline(rep), (unsigned long long)now);
            replica_turn_end(rep);
            cr_assert_eq(replica_deadline(rep), 0, "a fresh turn with a backlog: now");
        }
        if (running) {
            cr_assert_leq(applied, SNAP_BATCH, "a turn applied %llu entries while the snapshot ran",
                          (unsigned long long)applied);
            snap_turns++;
            /* End the snapshot after a while: the full budget comes back. */
            if (snap_turns == 20) {
                replica_snapshot_done(rep, ab_snap_seen.index, 0, now);
                ended = true;
            }
        } else {
            cr_assert_leq(applied, BATCH, "%d flushes of one turn applied %llu entries", FLUSHES_PER_TURN,
                          (unsigned long long)applied);
            if (applied == BATCH)
                full_turns++;
        }
    }
    cr_assert_eq(replica_applied_index(rep), N + 1, "the backlog and the leader's no-op applied");
    cr_assert_geq(ab_snap_seen.started, 1, "a snapshot started at %d entries", 1000);
    cr_assert_geq(ab_snap_seen.index, 1000, "none in the restart's tail");
    cr_assert_eq(snap_turns, 20);
    cr_assert_geq(full_turns, 10, "turns applied the whole budget (%d)", full_turns);
    replica_free(rep);
    storage_close(s);
    tsu_remove_dir(dir);
}

/* ---- the time budget (apply_cpu_ns) -------------------------------------- */

/* Fake clocks: applying entry i costs fc_cost(i) ns of CPU time and
 * wall_factor times that of wall time (the thread waits for a core on a
 * loaded machine), and the test adds the CPU time of the turn's other work
 * by hand. So the clocks move exactly as applying does, without sleeps or
 * real clocks. */
struct fake_cpu {
    struct ab_answers answers; /* first: ab_complete takes the ctx as this */
    struct replica *rep;
    raft_index seen;
    uint64_t ns, wall_ns;
    uint64_t wall_factor;
    uint64_t cheap_ns, dear_ns;     /* an entry's cost, and inside [dear_from, dear_to] */
    raft_index dear_from, dear_to;
    uint64_t cpu_reads, fast_reads;
};

static uint64_t fc_cost(const struct fake_cpu *f, raft_index i)
{
    return i >= f->dear_from && i <= f->dear_to ? f->dear_ns : f->cheap_ns;
}

static void fc_advance(struct fake_cpu *f)
{
    raft_index applied = f->rep ? replica_applied_index(f->rep) : 0;
    for (raft_index i = f->seen + 1; i <= applied; i++) {
        f->ns += fc_cost(f, i);
        f->wall_ns += fc_cost(f, i) * (f->wall_factor ? f->wall_factor : 1);
    }
    if (applied > f->seen)
        f->seen = applied;
}

static uint64_t fc_clock(void *ctx)
{
    struct fake_cpu *f = ctx;
    fc_advance(f);
    f->cpu_reads++;
    return f->ns;
}

static uint64_t fc_fast(void *ctx)
{
    struct fake_cpu *f = ctx;
    fc_advance(f);
    f->fast_reads++;
    return f->wall_ns;
}

static void fc_other_work(struct fake_cpu *f, uint64_t ns)
{
    fc_advance(f);
    f->ns += ns;
    f->wall_ns += ns;
}

/* A replica over a restart's backlog of n writes, with the fake clock. */
static struct replica *fc_replica(struct fake_cpu *f, const struct replica_log_store *ls, size_t batch,
                                  uint64_t cpu_ns, bool fast)
{
    struct replica_config c;
    replica_config_default(&c, 0, 1, 7);
    c.send = ab_send;
    c.complete = ab_complete;
    c.ctx = f;
    c.store = ls;
    c.snapshot_threshold = 0;
    c.snapshot_log_percent = 0;
    c.apply_batch = batch;
    c.apply_cpu_ns = cpu_ns;
    c.cpu_clock = fc_clock;
    c.fast_clock = fast ? fc_fast : NULL;
    struct replica *rep = replica_new(&c, 0);
    cr_assert_not_null(rep);
    f->rep = rep;
    f->seen = replica_applied_index(rep);
    return rep;
}

static void fc_read(struct replica *rep, uint64_t ref, uint64_t now)
{
    json_t *key = json_string("k");
    struct kv_command rd = {.op = KV_READ, .key = key};
    replica_submit(rep, ref, &rd, now);
    json_decref(key);
}

Test(replica_apply_batch, the_cpu_budget_stops_applying_when_entries_get_dear_and_resumes_next_turn)
{
    /* Entries 3001-4000 cost 50 times the others, as under a snapshot
     * child's copy-on-write: the count bound (1000 entries, 5 ms of cheap
     * ones) then allows 250 ms in a turn; the 10 ms budget stops it. */
    enum { N = 6000, BATCH = 1000, FLUSHES_PER_TURN = 3, CPU_READS_MAX = 400 };
    const uint64_t budget = 10000000, other = 4000000;
    char dir[256];
    struct replica_log_store ls;
    struct storage *s = ab_backlog(dir, sizeof dir, N, &ls);
    /* Wall time runs 3 times the CPU time: the budget is CPU time. */
    struct fake_cpu f = {.cheap_ns = 5000, .dear_ns = 250000, .dear_from = 3001, .dear_to = 4000,
                         .wall_factor = 3};
    struct replica *rep = fc_replica(&f, &ls, BATCH, budget, true);
    storage_release_restore(s);
    uint64_t now = 0;
    int dear_turns = 0, cheap_full_turns = 0;
    bool read_sent = false;
    for (int k = 0; k < 20000 && replica_applied_index(rep) < N + 1; k++) {
        replica_turn_end(rep);
        raft_index before = replica_applied_index(rep);
        for (int fl = 0; fl < FLUSHES_PER_TURN; fl++) {
            fc_other_work(&f, other); /* not applying's budget */
            if (replica_deadline(rep) > now)
                now = replica_deadline(rep) < now + 10 ? replica_deadline(rep) : now + 10;
            replica_tick(rep, now);
            cr_assert_eq(replica_flush(rep, now), 0);
        }
        raft_index after = replica_applied_index(rep);
        uint64_t spent = 0;
        for (raft_index i = before + 1; i <= after; i++)
            spent += fc_cost(&f, i);
        if (replica_role(rep) != RAFT_LEADER || after >= N)
            continue;
        cr_assert_gt(after, before, "a turn with a backlog applied nothing (at %llu)",
                     (unsigned long long)before);
        cr_assert_leq(after - before, BATCH, "the count bound still holds");
        /* The fast clock is read after every entry: one entry over at most. */
        cr_assert_leq(spent, budget + f.dear_ns, "a turn spent %llu ns applying (%llu entries from %llu)",
                      (unsigned long long)spent, (unsigned long long)(after - before),
                      (unsigned long long)before);
        if (before >= 3001 && after <= 4000) {
            dear_turns++;
            /* 10 ms of 0.25 ms entries, and not much less. */
            cr_assert_geq(after - before, 36, "a dear turn applied only %llu", (unsigned long long)(after - before));
            cr_assert_leq(after - before, 44, "a dear turn applied %llu", (unsigned long long)(after - before));
            cr_assert_gt(replica_deadline(rep), now, "the budget is spent: the deadline is the next turn");
            if (!read_sent) { /* ready at once, answered after the backlog */
                fc_read(rep, 1, now);
                read_sent = true;
            }
        }
        if (after - before == BATCH)
            cheap_full_turns++;
        if (read_sent)
            cr_assert_eq(f.answers.n, 0, "the read was answered at %llu, inside the backlog",
                         (unsigned long long)after);
    }
    cr_assert_eq(replica_applied_index(rep), N + 1, "the backlog and the leader's no-op applied");
    cr_assert_geq(dear_turns, 20, "%d turns of dear entries", dear_turns);
    cr_assert_geq(cheap_full_turns, 3, "cheap entries went a full batch a turn (%d turns)", cheap_full_turns);
    cr_assert_lt(f.cpu_reads, CPU_READS_MAX, "the CPU clock was read %llu times for %d entries",
                 (unsigned long long)f.cpu_reads, N);
    cr_assert_geq(f.fast_reads, N, "the fast clock after every entry");
    for (int k = 0; k < 20 && f.answers.n == 0; k++) {
        now += 5;
        replica_tick(rep, now);
        replica_flush(rep, now);
    }
    cr_assert_eq(f.answers.n, 1, "the read was answered once the backlog was applied");
    cr_assert_eq(f.answers.value, N, "in order: it saw the last write");
    replica_free(rep);
    storage_close(s);
    tsu_remove_dir(dir);
}

Test(replica_apply_batch, one_entry_a_turn_at_least_whatever_it_costs)
{
    /* Each entry costs five times the budget: one a turn, never none. */
    enum { N = 60, FLUSHES_PER_TURN = 4 };
    char dir[256];
    struct replica_log_store ls;
    struct storage *s = ab_backlog(dir, sizeof dir, N, &ls);
    struct fake_cpu f = {.cheap_ns = 50000000}; /* and no fast clock */
    struct replica *rep = fc_replica(&f, &ls, 0, 10000000, false);
    storage_release_restore(s);
    uint64_t now = 0;
    int single_turns = 0;
    for (int k = 0; k < 2000 && replica_applied_index(rep) < N + 1; k++) {
        replica_turn_end(rep);
        raft_index before = replica_applied_index(rep);
        if (replica_role(rep) == RAFT_LEADER && before < N)
            cr_assert_eq(replica_deadline(rep), 0, "a fresh turn with a backlog: now");
        for (int fl = 0; fl < FLUSHES_PER_TURN; fl++) {
            if (replica_deadline(rep) > now)
                now = replica_deadline(rep) < now + 10 ? replica_deadline(rep) : now + 10;
            replica_tick(rep, now);
            cr_assert_eq(replica_flush(rep, now), 0);
        }
        raft_index after = replica_applied_index(rep);
        if (replica_role(rep) != RAFT_LEADER || before >= N || after <= 1)
            continue;
        cr_assert_eq(after - before, 1, "a turn applied %llu entries of 50 ms from %llu",
                     (unsigned long long)(after - before), (unsigned long long)before);
        single_turns++;
    }
    cr_assert_eq(replica_applied_index(rep), N + 1);
    cr_assert_geq(single_turns, N - 3, "%d turns", single_turns);
    fc_read(rep, 2, now);
    for (int k = 0; k < 20 && f.answers.n == 0; k++) {
        now += 5;
        replica_turn_end(rep);
        replica_tick(rep, now);
        replica_flush(rep, now);
    }
    cr_assert_eq(f.answers.n, 1);
    cr_assert_eq(f.answers.value, N);
    replica_free(rep);
    storage_close(s);
    tsu_remove_dir(dir);
}
