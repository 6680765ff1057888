/* replay_bench.c - how long a restart takes to read back a long log: writes
 * N log entries (default 1,000,000) of B bytes (default 150, about a SET of
 * a 100-byte value as the server logs it) into a fresh data directory, closes
 * it, then times what a restarting member does before it can campaign:
 * storage_open() (every segment mapped and CRC-checked, the entries handed
 * out) and raft_new() over what it restored, borrowing the entries' data as
 * the replica does (storage_lend_restore: no copy per entry). The goal
 * (issue 12) is at most 1 s for a million entries.
 *
 *   build/bench/replay_bench [--dir DIR] [--entries N] [--entry-bytes B] [--runs R]
 *
 * DIR defaults to a fresh directory under /tmp. The files are in the page
 * cache when timed (as after kill -9 and a restart); each of R runs (3)
 * reopens the same directory, and every run's figure is printed.
 *
 * --apply: the entries are the log's single-key SETs instead (a key of 16
 * bytes drawn at random, with repeats, from N, as redis-benchmark -r N does,
 * and a value of B - 40 bytes), written with the commit index a one-member
 * leader knows at each sync (the batches before it; the close marks the
 * last), and each run also applies them: a one-member replica restarted
 * over the directory, as the server does: storage_open, replica_new, the
 * committed tail the log's commit marks name applied a batch a flush into
 * an empty map before any election (the server's loop ticks meanwhile),
 * then the election and what is left. Prints wall and CPU time of each
 * phase; the bound (at most 1 s for a million entries) is meant
 * for reading and applying together.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kv/kv.h"
#include "raft/raft.h"
#include "replica/replica.h"
#include "storage/storage.h"
#include "storage/storage_replica.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time of this process: with other jobs on the machine, the wall
 * clock also counts waiting for a core; this does not. */
static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, const char *err)
{
    fprintf(stderr, "replay_bench: %s: %s\n", what, err);
    exit(1);
}

/* ---- --apply: a one-member replica applying the restored tail ---------- */

static void rb_send(void *ctx, const struct raft_msg *m)
{
    (void)ctx, (void)m;
}

static void rb_complete(void *ctx, uint64_t ref, const struct replica_result *res)
{
    (void)ctx, (void)ref, (void)res;
}

/* Entry i's SET: key "key:%011zu" of a random pick in [0, keys), value of
 * vbytes. The encoded bytes (malloc'd) in *data. */
static size_t rb_set_entry(uint64_t *rng, size_t keys, size_t vbytes, uint8_t **data)
{
    *rng ^= *rng << 13, *rng ^= *rng >> 7, *rng ^= *rng << 17;
    char key[32];
    int kn = snprintf(key, sizeof key, "key:%011llu", (unsigned long long)(*rng % keys));
    uint8_t *v = malloc(vbytes ? vbytes : 1);
    if (!v)
        die("malloc", "out of memory");
    memset(v, 'x', vbytes);
    struct kv_command c = {.op = KV_SET};
    c.skey.p = (uint8_t *)key;
    c.skey.n = (size_t)kn;
    c.arg[0].p = v;
    c.arg[0].n = vbytes;
    size_t len;
    if (kv_command_encode(&c, data, &len) != 0)
        die("encode", "a SET entry");
    free(v);
    return len;
}

/* Restart a one-member replica over dir and apply its whole log. */
static void rb_apply_run(const char *dir, size_t n, int run)
{
    uint64_t a = now_ns(), a_cpu = cpu_ns();
    struct storage *s;
    struct raft_restore r;
    char err[512];
    if (storage_open(dir, NULL, &s, &r, err, sizeof err) != STORAGE_OK)
        die("reopen", err);
    uint64_t o = now_ns(), o_cpu = cpu_ns();
    struct replica_log_store ls;
    storage_replica_log_store(s, &ls);
    struct replica_config c;
    replica_config_default(&c, 0, 1, 7);
    c.send = rb_send;
    c.complete = rb_complete;
    c.store = &ls;
    c.snapshot_threshold = 0; /* the server's periodic snapshots wait for the tail too */
    c.snapshot_log_percent = 0;
    struct replica *rep = replica_new(&c, 0);
    if (!rep)
        die("replica_new", storage_error(s));
    storage_release_restore(s);
    uint64_t b = now_ns(), b_cpu = cpu_ns();
    /* The committed tail, before any election: a flush a loop turn, the
     * clock standing still (no timer comes due). */
    raft_index committed = replica_commit_index(rep);
    size_t flushes = 0;
    uint64_t now = 0;
    while (replica_applied_index(rep) < committed) {
        if (replica_flush(rep, now) != 0)
            die("flush", storage_error(s));
        flushes++;
    }
    if (replica_role(rep) == RAFT_LEADER)
        die("apply", "elected before the committed tail was applied");
    uint64_t c_ns = now_ns(), c_cpu = cpu_ns();
    while (replica_role(rep) != RAFT_LEADER && now < 60000) {
        now += 10;
        replica_tick(rep, now);
        if (replica_flush(rep, now) != 0)
            die("flush", storage_error(s));
    }
    uint64_t d = now_ns(), d_cpu = cpu_ns();
    while (replica_applied_index(rep) < n + 1) {
        if (replica_flush(rep, now) != 0)
            die("flush", storage_error(s));
        flushes++;
    }
    uint64_t e = now_ns(), e_cpu = cpu_ns();
    size_t keys = kv_store_size(replica_store(rep));
#define MS(x) ((double)(x) / 1e6)
    printf("apply %d: %zu entries, %llu of them marked committed: storage_open %.0f ms (CPU %.0f), "
           "replica_new %.0f ms (CPU %.0f), the committed tail applied before any election "
           "%.0f ms (CPU %.0f, %.2f us an entry, %zu flushes), election %.0f ms (CPU %.0f), "
           "the rest %.0f ms (CPU %.0f); read and applied %.0f ms (CPU %.0f), %zu keys\n",
           run + 1, n, (unsigned long long)committed, MS(o - a), MS(o_cpu - a_cpu), MS(b - o),
           MS(b_cpu - o_cpu), MS(c_ns - b), MS(c_cpu - b_cpu),
           committed ? (double)(c_cpu - b_cpu) / 1e3 / (double)committed : 0.0, flushes,
           MS(d - c_ns), MS(d_cpu - c_cpu), MS(e - d), MS(e_cpu - d_cpu), MS(e - a),
           MS(e_cpu - a_cpu), keys);
#undef MS
    replica_free(rep);
    storage_close(s);
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    size_t n = 1000000, bytes = 150;
    int runs = 3;
    bool apply = false;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--apply") == 0) {
            apply = true;
            memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof *argv);
            argc--;
            break;
        }
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--dir") == 0)
            dir = argv[i + 1];
        else if (strcmp(argv[i], "--entries") == 0)
            n = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--entry-bytes") == 0)
            bytes = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--runs") == 0)
            runs = atoi(argv[i + 1]);
        else {
            fprintf(stderr,
                    "usage: %s [--apply] [--dir DIR] [--entries N] [--entry-bytes B] [--runs R]\n",
                    argv[0]);
            return 64;
        }
    }
    char tmpl[] = "/tmp/raftkv-replay.XXXXXX";
    if (!dir && !(dir = mkdtemp(tmpl)))
        die("mkdtemp", "failed");
    printf("$ %s%s --dir %s --entries %zu --entry-bytes %zu --runs %d\n", argv[0],
           apply ? " --apply" : "", dir, n, bytes, runs);
    if (apply && bytes < 41)
        die("--apply", "--entry-bytes must be at least 41");

    struct storage *s;
    struct raft_restore r;
    char err[512];
    if (storage_open(dir, NULL, &s, &r, err, sizeof err) != STORAGE_OK)
        die("open", err);
    /* --apply over a directory an earlier --apply run wrote (--dir): its
     * entries are used again (each run appended its leader's no-op). */
    bool reuse = apply && r.n_entries >= n && !r.snap_index;
    if (!reuse && (r.n_entries || r.snap_index))
        die(dir, "not an empty data directory");
    /* Entries written as the server writes them: batches, one sync each. */
    enum { BATCH = 4096 };
    struct raft_entry *batch = calloc(BATCH, sizeof *batch);
    uint8_t *payload = malloc(bytes ? bytes : 1);
    if (!batch || !payload)
        die("malloc", "out of memory");
    for (size_t i = 0; i < bytes; i++)
        payload[i] = (uint8_t)('a' + i % 26);
    uint64_t t0 = now_ns();
    uint64_t rng = 88172645463325252ull;
    /* The hard state of a member that voted for itself in the last term. */
    if (apply && !reuse && storage_set_hard_state(s, 1 + (n ? n - 1 : 0) / 100000, 0) != STORAGE_OK)
        die("hard state", storage_error(s));
    for (size_t done = reuse ? n : 0; done < n;) {
        size_t k = n - done < BATCH ? n - done : BATCH;
        for (size_t i = 0; i < k; i++) {
            batch[i] = (struct raft_entry){.term = 1 + (done + i) / 100000,
                                           .index = done + i + 1,
                                           .type = 0,
                                           .data = payload,
                                           .len = (uint32_t)bytes};
            if (apply) {
                batch[i].type = RAFT_ENTRY_COMMAND;
                batch[i].len = (uint32_t)rb_set_entry(&rng, n, bytes - 40, &batch[i].data);
            }
        }
        /* A one-member leader's commit index at this sync: the batches
         * before it (this one commits once it is durable). */
        if (apply && storage_set_commit(s, done) != STORAGE_OK)
            die("commit", storage_error(s));
        if (storage_append(s, batch, k) != STORAGE_OK || storage_sync(s) != STORAGE_OK)
            die("append", storage_error(s));
        if (apply)
            for (size_t i = 0; i < k; i++)
                free(batch[i].data);
        done += k;
    }

    if (apply && storage_set_commit(s, n) != STORAGE_OK) /* marked at the close */
        die("commit", storage_error(s));
    struct storage_stats st;
    storage_get_stats(s, &st);
    printf("%s %zu entries of %zu bytes in %.2f s: %" PRIu64 " segments, %.1f MB\n",
           reuse ? "reused" : "wrote", n, bytes, (double)(now_ns() - t0) / 1e9, st.segments,
           (double)st.disk_bytes / 1e6);
    storage_close(s);

    struct raft_config c;
    raft_config_default(&c, 0, 3, 1);
    for (int run = 0; run < runs; run++) {
        if (apply) {
            rb_apply_run(dir, n, run);
            continue;
        }
        uint64_t a = now_ns(), a_cpu = cpu_ns();
        if (storage_open(dir, NULL, &s, &r, err, sizeof err) != STORAGE_OK ||
            storage_lend_restore(s, &r) != STORAGE_OK)
            die("reopen", err);
        uint64_t b = now_ns();
        struct raft *core = raft_new(&c, &r, 0);
        if (!core)
            die("raft_new", "refused the restored state");
        storage_release_restore(s); /* the entry array; the data stay lent */
        uint64_t c_ns = now_ns(), c_cpu = cpu_ns();
        size_t got = r.n_entries;
        if (got != n || raft_last_index(core) != n || !raft_borrows_restore(core))
            die("replay", "not every entry came back");
        raft_free(core);
        storage_end_loan(s);
        uint64_t d = now_ns();
        printf("replay %d: %zu entries: storage_open %.0f ms, raft_new %.0f ms, "
               "total %.0f ms (%.2f M entries/s, CPU %.0f ms); then raft_free and unmapping "
               "%.0f ms\n",
               run + 1, got, (double)(b - a) / 1e6, (double)(c_ns - b) / 1e6,
               (double)(c_ns - a) / 1e6, (double)got / ((double)(c_ns - a) / 1e9) / 1e6,
               (double)(c_cpu - a_cpu) / 1e6, (double)(d - c_ns) / 1e6);
        storage_close(s);
    }
    if (!strncmp(dir, "/tmp/raftkv-replay.", 19)) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "replay_bench: could not remove %s\n", dir);
    }
    free(batch);
    free(payload);
    return 0;
}
