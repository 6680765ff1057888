/* test_snap_stagger.c - members take their background snapshots in turn
 * (replica/snap_stagger.h): the windows and starts for literal intervals,
 * the bounds on the deferral and on the spacing of different members'
 * starts over random inputs (seeded, printed), and a replica whose
 * snapshot came due starting it only at its own window, or once it has
 * been idle for a second; and none forking while a restart's log tail is
 * replayed. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "replica/snap_stagger.h"
#include "replica_test_util.h"
#include "storage/storage_replica.h"
#include "test_storage_util.h"

Test(snap_stagger, the_quantum_is_the_largest_power_of_two_within_a_members_share)
{
    cr_assert_eq(snap_stagger_quantum(1000, 3), 256);     /* 333 */
    cr_assert_eq(snap_stagger_quantum(135000, 3), 32768); /* 45,000 */
    cr_assert_eq(snap_stagger_quantum(1536, 3), 512);     /* exactly 512 */
    cr_assert_eq(snap_stagger_quantum(1535, 3), 256);
    cr_assert_eq(snap_stagger_quantum(1000, 1), 512);
    cr_assert_eq(snap_stagger_quantum(5, 3), 1);
    cr_assert_eq(snap_stagger_quantum(0, 3), 1);
}

Test(snap_stagger, each_member_starts_in_the_first_half_of_its_own_window)
{
    /* Due at 1000 after 1000 entries, 3 members: windows of 256, window 3
     * (768..1023) is slot 0's, and 1000 is past its first half. */
    cr_assert_eq(snap_stagger_start(1000, 1000, 0, 3), 1536); /* window 6 */
    cr_assert_eq(snap_stagger_start(1000, 1000, 1, 3), 1024); /* window 4 */
    cr_assert_eq(snap_stagger_start(1000, 1000, 2, 3), 1280); /* window 5 */
    /* Inside the first half of its own window: at once. */
    cr_assert_eq(snap_stagger_start(800, 1000, 0, 3), 800);
    cr_assert_eq(snap_stagger_start(895, 1000, 0, 3), 895);
    cr_assert_eq(snap_stagger_start(896, 1000, 0, 3), 1536);
    /* A slot past the member count wraps. */
    cr_assert_eq(snap_stagger_start(1000, 1000, 4, 3), 1024);
    /* One member (or none): no deferral. */
    cr_assert_eq(snap_stagger_start(1000, 1000, 0, 1), 1000);
    cr_assert_eq(snap_stagger_start(1000, 1000, 2, 0), 1000);
    /* Windows of one entry: every index is the start of a window. */
    cr_assert_eq(snap_stagger_start(9, 2, 0, 3), 9);
    cr_assert_eq(snap_stagger_start(9, 2, 1, 3), 10);
    cr_assert_eq(snap_stagger_start(9, 2, 2, 3), 11);
}

Test(snap_stagger, deferral_and_spacing_stay_within_their_bounds)
{
    unsigned seed = (unsigned)time(NULL);
    const char *env = getenv("STAGGER_SEED");
    if (env)
        seed = (unsigned)strtoul(env, NULL, 10);
    printf("snap_stagger seed %u (STAGGER_SEED=%u replays it)\n", seed, seed);
    srand(seed);
    for (int t = 0; t < 20000; t++) {
        unsigned members = 2 + (unsigned)(rand() % 6);
        uint64_t interval = members + (uint64_t)rand() % 2000000;
        uint64_t due = interval + (uint64_t)rand() * 1000u + (uint64_t)(rand() % 1000);
        uint64_t q = snap_stagger_quantum(interval, members);
        cr_assert_leq(q * members, interval, "seed %u: quantum %llu", seed, (unsigned long long)q);
        cr_assert_gt(q * members * 2, interval, "seed %u: quantum %llu", seed, (unsigned long long)q);
        uint64_t starts[8];
        for (unsigned slot = 0; slot < members; slot++) {
            uint64_t s = snap_stagger_start(due, interval, slot, members);
            starts[slot] = s;
            cr_assert_geq(s, due, "seed %u", seed);
            cr_assert_leq((s - due) * 2, (2 * members - 1) * q, "seed %u: deferred %llu, q %llu", seed,
                          (unsigned long long)(s - due), (unsigned long long)q);
            cr_assert_lt(s - due, interval, "seed %u", seed);
            cr_assert_eq((s / q) % members, slot, "seed %u: start %llu not in slot %u's window", seed,
                         (unsigned long long)s, slot);
            cr_assert(q == 1 || s % q < q / 2, "seed %u: start %llu past its window's half", seed,
                      (unsigned long long)s);
        }
        for (unsigned a = 0; a < members; a++)
            for (unsigned b = a + 1; b < members; b++) {
                uint64_t d = starts[a] > starts[b] ? starts[a] - starts[b] : starts[b] - starts[a];
                cr_assert_geq(d * 2, q, "seed %u: slots %u and %u start %llu apart (q %llu)", seed, a,
                              b, (unsigned long long)d, (unsigned long long)q);
            }
    }
}

/* ---- a replica defers its due snapshot to its turn ----------------------- */

static void st_complete(void *ctx, uint64_t ref, const struct replica_result *res)
{
    (void)ctx, (void)ref, (void)res;
}

static void st_send(void *ctx, const struct raft_msg *m)
{
    (void)ctx, (void)m;
}

static raft_index st_started[4];
static int st_n_started;

static int st_snapshot_start(void *ctx, raft_index index, raft_term term)
{
    (void)ctx, (void)term;
    if (st_n_started < 4)
        st_started[st_n_started] = index;
    st_n_started++;
    return 0;
}

static struct kv_command st_write(int i)
{
    return (struct kv_command){.op = KV_WRITE, .key = json_string("k"), .value = json_integer(i)};
}

/* n writes applied one entry a flush by a replica that is slot `slot` of
 * `members` with a snapshot every 1000 entries; each background snapshot
 * ends at the next flush. The first `restored` are a restart's log tail,
 * committed (single member) once it leads, the leader's no-op after them;
 * the rest are submitted one at a time after it. Then idle_ms more of
 * flushes every 10 ms with nothing to apply. */
static void st_run_restored(int n, int restored, unsigned slot, unsigned members, uint64_t idle_ms)
{
    char dir[256];
    tsu_make_dir(dir, sizeof dir);
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, NULL);
    cr_assert_eq(storage_set_hard_state(s, 1, 0), STORAGE_OK);
    rtu_append_writes(s, 1, (raft_index)restored, 1);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    storage_close(s);
    s = tsu_open(dir, &r, NULL);
    struct replica_log_store ls;
    storage_replica_log_store(s, &ls);

    struct replica_config c;
    replica_config_default(&c, 0, 1, 7);
    c.send = st_send;
    c.complete = st_complete;
    c.store = &ls;
    c.snapshot_threshold = 1000;
    c.snapshot_log_percent = 0;
    c.snapshot_start = st_snapshot_start;
    c.snapshot_stagger_slot = slot;
    c.snapshot_stagger_members = members;
    c.apply_batch = 1;
    st_n_started = 0;
    struct replica *rep = replica_new(&c, 0);
    cr_assert_not_null(rep);
    storage_release_restore(s);
    uint64_t now = 0;
    int done = 0;
    int submitted = restored;
    for (int k = 0; k < 4 * n + 100 && replica_applied_index(rep) < (raft_index)n + 1; k++) {
        if (submitted < n && replica_role(rep) == RAFT_LEADER && replica_pending(rep) == 0) {
            struct kv_command w = st_write(++submitted);
            replica_submit(rep, (uint64_t)submitted, &w, now);
            kv_command_release(&w);
        }
        if (replica_deadline(rep) > now)
            now = replica_deadline(rep) < now + 10 ? replica_deadline(rep) : now + 10;
        replica_tick(rep, now);
        cr_assert_eq(replica_flush(rep, now), 0);
        if (st_n_started > done && replica_snapshot_running(rep)) {
            replica_snapshot_done(rep, st_started[done], 0, now);
            done++;
        }
    }
    cr_assert_eq(replica_applied_index(rep), (raft_index)n + 1);
    for (uint64_t end = now + idle_ms; now < end;) {
        now += 10;
        replica_tick(rep, now);
        cr_assert_eq(replica_flush(rep, now), 0);
        if (st_n_started > done && replica_snapshot_running(rep)) {
            replica_snapshot_done(rep, st_started[done], 0, now);
            done++;
        }
    }
    replica_free(rep);
    storage_close(s);
    tsu_remove_dir(dir);
}

/* All n writes submitted after the start: the no-op at 1, the writes at
 * 2..n+1. */
static void st_run(int n, unsigned slot, unsigned members, uint64_t idle_ms)
{
    st_run_restored(n, 0, slot, members, idle_ms);
}

Test(snap_stagger, a_replica_starts_its_due_snapshot_at_its_own_turn)
{
    /* Alone: at 1000, 2000 and 3000, as the threshold says. */
    st_run(3000, 0, 1, 0);
    cr_assert_eq(st_n_started, 3, "%d snapshots", st_n_started);
    cr_assert_eq(st_started[0], 1000);
    cr_assert_eq(st_started[1], 2000);
    cr_assert_eq(st_started[2], 3000);
    /* Slot 1 of 3: due at 1000, window 4 (1024); due again 1000 later, at
     * 2024, past the first half of its window 7: window 10 (2560). */
    st_run(3000, 1, 3, 0);
    cr_assert_eq(st_n_started, 2, "%d snapshots", st_n_started);
    cr_assert_eq(st_started[0], 1024);
    cr_assert_eq(st_started[1], 2560);
    /* Slot 2 of 3: window 5 (1280), then due at 2280: window 11 (2816). */
    st_run(3000, 2, 3, 0);
    cr_assert_eq(st_n_started, 2, "%d snapshots", st_n_started);
    cr_assert_eq(st_started[0], 1280);
    cr_assert_eq(st_started[1], 2816);
}

Test(snap_stagger, an_idle_member_does_not_wait_for_its_turn)
{
    /* Slot 1 of 3, due at 1000, its turn at 1024; the writes end at 1011
     * (after the leader's no-op at 1). 900 ms idle: still waiting. */
    st_run(1010, 1, 3, 900);
    cr_assert_eq(st_n_started, 0, "started at %llu", (unsigned long long)st_started[0]);
    /* 1,100 ms idle (REPLICA_STAGGER_IDLE_MS is 1000): started where it is. */
    st_run(1010, 1, 3, 1100);
    cr_assert_eq(st_n_started, 1, "%d snapshots", st_n_started);
    cr_assert_eq(st_started[0], 1011);
}

Test(snap_stagger, a_restarts_log_tail_is_replayed_before_a_periodic_snapshot)
{
    /* A tail of 3000 writes, three times the trigger: nothing forks while
     * it is replayed; at its last entry the snapshot is due and starts. */
    st_run_restored(3000, 3000, 0, 1, 0);
    cr_assert_eq(st_n_started, 1, "%d snapshots, the first at %llu", st_n_started,
                 (unsigned long long)st_started[0]);
    cr_assert_eq(st_started[0], 3000);
    /* Then the normal triggers, staggered: slot 1 of 3 due at 3000 with
     * 3000 entries since the latest snapshot: windows of 512, slot 1's
     * next one is window 7 (3584); due again 1000 later, at 4584, past the
     * 4000 writes and the no-op. */
    st_run_restored(4000, 3000, 1, 3, 0);
    cr_assert_eq(st_n_started, 1, "%d snapshots, the first at %llu", st_n_started,
                 (unsigned long long)st_started[0]);
    cr_assert_eq(st_started[0], 3584);
    /* Writes after a short tail: the trigger counts from the restored
     * snapshot (none: 0) as usual, at 1000 and 2000. */
    st_run_restored(2000, 500, 0, 1, 0);
    cr_assert_eq(st_n_started, 2, "%d snapshots", st_n_started);
    cr_assert_eq(st_started[0], 1000);
    cr_assert_eq(st_started[1], 2000);
}
