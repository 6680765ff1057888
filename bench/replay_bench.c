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
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "raft/raft.h"
#include "storage/storage.h"

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

int main(int argc, char **argv)
{
    const char *dir = NULL;
    size_t n = 1000000, bytes = 150;
    int runs = 3;
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
            fprintf(stderr, "usage: %s [--dir DIR] [--entries N] [--entry-bytes B] [--runs R]\n",
                    argv[0]);
            return 64;
        }
    }
    char tmpl[] = "/tmp/raftkv-replay.XXXXXX";
    if (!dir && !(dir = mkdtemp(tmpl)))
        die("mkdtemp", "failed");
    printf("$ %s --dir %s --entries %zu --entry-bytes %zu --runs %d\n", argv[0], dir, n, bytes,
           runs);

    struct storage *s;
    struct raft_restore r;
    char err[512];
    if (storage_open(dir, NULL, &s, &r, err, sizeof err) != STORAGE_OK)
        die("open", err);
    if (r.n_entries || r.snap_index)
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
    for (size_t done = 0; done < n;) {
        size_t k = n - done < BATCH ? n - done : BATCH;
        for (size_t i = 0; i < k; i++)
            batch[i] = (struct raft_entry){.term = 1 + (done + i) / 100000,
                                           .index = done + i + 1,
                                           .type = 0,
                                           .data = payload,
                                           .len = (uint32_t)bytes};
        if (storage_append(s, batch, k) != STORAGE_OK || storage_sync(s) != STORAGE_OK)
            die("append", storage_error(s));
        done += k;
    }
    struct storage_stats st;
    storage_get_stats(s, &st);
    printf("wrote %zu entries of %zu bytes in %.2f s: %" PRIu64 " segments, %.1f MB\n", n, bytes,
           (double)(now_ns() - t0) / 1e9, st.segments, (double)st.disk_bytes / 1e6);
    storage_close(s);

    struct raft_config c;
    raft_config_default(&c, 0, 3, 1);
    for (int run = 0; run < runs; run++) {
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
