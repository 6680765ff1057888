/* test_storage_crash.c - kill -9 at random moments: a child process appends,
 * syncs and reports each durable (index, term, hard-state term) to the
 * parent through a pipe, the way a node would acknowledge; the parent kills
 * it with SIGKILL at a random point and reopens the directory. Everything
 * reported durable must come back, and the lock must not outlive the child.
 *
 * Seeded: prints its seed; RAFTKV_STORAGE_SEED=<n> replays one run. */
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "common/rng.h"
#include "test_storage_util.h"

struct crash_ack {
    uint64_t index, term, hard_term;
};

/* The child: never returns. Appends batches of a growing term, syncs each,
 * then acknowledges; now and then saves a snapshot to exercise compaction. */
static void crash_child(const char *dir, uint64_t seed, int ack_fd)
{
    struct rng g;
    rng_seed(&g, seed ^ 0x5eed);
    struct storage_options o = {.segment_bytes = 4096, .buffer_bytes = 512};
    struct storage *s;
    struct raft_restore r;
    char err[512];
    if (storage_open(dir, &o, &s, &r, err, sizeof err) != STORAGE_OK)
        _exit(3);
    raft_index next = storage_last_index(s) + 1;
    raft_term term = r.term + 1;
    if (storage_set_hard_state(s, term, 0) != STORAGE_OK)
        _exit(4);
    static struct tsu_entries t;
    for (;;) {
        if (rng_below(&g, 8) == 0) {
            term++;
            if (storage_set_hard_state(s, term, (int)rng_below(&g, 3)) != STORAGE_OK)
                _exit(4);
        }
        size_t n = 1 + (size_t)rng_below(&g, 40);
        for (size_t i = 0; i < n; i++)
            tsu_fill(&t, i, next + i, term);
        if (storage_append(s, t.e, n) != STORAGE_OK || storage_sync(s) != STORAGE_OK)
            _exit(5);
        next += n;
        struct crash_ack a = {.index = next - 1, .term = term, .hard_term = term};
        if (write(ack_fd, &a, sizeof a) != (ssize_t)sizeof a)
            _exit(6);
        if (rng_below(&g, 30) == 0 && next > 20 &&
            tsu_save_snapshot(s, next - 10, storage_term_at(s, next - 10), "snap") != STORAGE_OK)
            _exit(7);
    }
}

static void crash_round(const char *dir, uint64_t seed, struct rng *g, struct crash_ack *durable)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(p[0]);
        crash_child(dir, seed + durable->index, p[1]);
    }
    close(p[1]);
    /* Let it run for a random number of acknowledgements, then kill it
     * while it is in the middle of whatever it does next. */
    uint64_t acks = 1 + rng_below(g, 60);
    for (uint64_t i = 0; i < acks; i++) {
        struct crash_ack a;
        ssize_t n = read(p[0], &a, sizeof a);
        if (n != (ssize_t)sizeof a)
            break;
        *durable = a;
    }
    struct timespec pause = {.tv_sec = 0, .tv_nsec = (long)rng_below(g, 2000000)};
    nanosleep(&pause, NULL);
    kill(pid, SIGKILL);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status), "the child stopped by itself: status %d (seed %" PRIu64 ")",
              status, seed);
    /* Acknowledgements written before the kill but not yet read count too. */
    struct crash_ack a;
    while (read(p[0], &a, sizeof a) == (ssize_t)sizeof a)
        *durable = a;
    close(p[0]);

    struct tsu_log log = {0};
    struct storage_options o = {.segment_bytes = 4096, .log = tsu_log_line, .log_ctx = &log};
    struct raft_restore r;
    struct storage *s = NULL;
    char err[512] = "";
    int rc = storage_open(dir, &o, &s, &r, err, sizeof err);
    cr_assert_eq(rc, STORAGE_OK, "seed %" PRIu64 ": reopen after kill -9: %s", seed, err);
    raft_index last = storage_last_index(s);
    cr_assert_geq(last, durable->index,
                  "seed %" PRIu64 ": acknowledged index %" PRIu64 " lost, log ends at %" PRIu64,
                  seed, durable->index, last);
    cr_assert_eq(storage_term_at(s, durable->index), durable->term,
                 "seed %" PRIu64 ": acknowledged entry %" PRIu64 " has the wrong term", seed,
                 durable->index);
    cr_assert_geq(r.term, durable->hard_term, "seed %" PRIu64 ": hard state went back", seed);
    for (size_t i = 0; i < r.n_entries; i++)
        cr_assert_eq(r.entries[i].index, r.snap_index + 1 + i, "seed %" PRIu64, seed);
    storage_close(s);
}

Test(storage_crash, nothing_synced_is_lost_when_the_writer_is_killed_at_random_points)
{
    const char *env = getenv("RAFTKV_STORAGE_SEED");
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t seed = env ? strtoull(env, NULL, 10) : (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    fprintf(stderr, "storage_crash: seed %" PRIu64 " (replay: RAFTKV_STORAGE_SEED=%" PRIu64 ")\n",
            seed, seed);
    struct rng g;
    rng_seed(&g, seed);
    char dir[256];
    tsu_make_dir(dir, sizeof dir);
    struct crash_ack durable = {0};
    for (int round = 0; round < 25; round++)
        crash_round(dir, seed, &g, &durable);
    cr_assert_gt(durable.index, 25, "the child made progress");
    tsu_remove_dir(dir);
}
