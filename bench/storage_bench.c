/* storage_bench.c - what durable storage costs on this disk: appends/s and
 * syncs/s for batches of 1, 16 and 256 entries, each batch made durable with
 * one storage_sync() (group commit), plus sync latency percentiles and the
 * speed of start-up recovery; then a single-node replica on the store, to
 * show what group commit buys a node: acknowledged writes/s and fsyncs per
 * write when 1, 16 or 256 client writes arrive per event-loop turn.
 *
 *   build/bench/storage_bench [--dir DIR] [--seconds S] [--entry-bytes N]
 *
 * DIR defaults to a fresh directory under /tmp (the disk the tests use);
 * point it at the data disk to measure that one. The exact command line is
 * printed with the results.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "replica/replica.h"
#include "storage/storage.h"
#include "storage/storage_replica.h"

static uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int bench_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void bench_rm(const char *dir)
{
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%.1000s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "storage_bench: could not remove %s\n", dir);
}

static struct storage *bench_open(const char *dir, struct raft_restore *r)
{
    struct storage *s;
    char err[512];
    int rc = storage_open(dir, NULL, &s, r, err, sizeof err);
    if (rc != STORAGE_OK) {
        fprintf(stderr, "storage_bench: %s\n", err);
        exit(1);
    }
    return s;
}

/* Append batches of `batch` entries, syncing after each, for `seconds`. */
static void bench_batches(const char *base, size_t batch, double seconds, size_t entry_bytes)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/batch-%zu", base, batch);
    bench_rm(dir);
    struct raft_restore r;
    struct storage *s = bench_open(dir, &r);

    uint8_t *payload = malloc(entry_bytes);
    struct raft_entry *e = malloc(batch * sizeof *e);
    size_t lat_cap = 1u << 20, n_lat = 0;
    uint64_t *lat = malloc(lat_cap * sizeof *lat);
    if (!payload || !e || !lat) {
        fprintf(stderr, "storage_bench: out of memory\n");
        exit(1);
    }
    memset(payload, 'x', entry_bytes);
    raft_index next = 1;
    uint64_t start = bench_now_ns(), deadline = start + (uint64_t)(seconds * 1e9);
    uint64_t now = start;
    while (now < deadline) {
        for (size_t i = 0; i < batch; i++)
            e[i] = (struct raft_entry){.term = 1,
                                       .index = next + i,
                                       .type = RAFT_ENTRY_COMMAND,
                                       .len = (uint32_t)entry_bytes,
                                       .data = payload};
        uint64_t t0 = bench_now_ns();
        if (storage_append(s, e, batch) != STORAGE_OK || storage_sync(s) != STORAGE_OK) {
            fprintf(stderr, "storage_bench: %s\n", storage_error(s));
            exit(1);
        }
        now = bench_now_ns();
        if (n_lat < lat_cap)
            lat[n_lat++] = now - t0;
        next += batch;
    }
    double elapsed = (double)(now - start) / 1e9;
    struct storage_stats st;
    storage_get_stats(s, &st);
    qsort(lat, n_lat, sizeof *lat, bench_cmp_u64);
    printf("batch %4zu: %10.0f appends/s %8.0f syncs/s %6.2f fsyncs/batch  "
           "append+sync us p50 %7.1f p99 %7.1f max %8.1f  %.1f MB/s\n",
           batch, (double)(next - 1) / elapsed, (double)st.syncs / elapsed,
           (double)st.fsyncs / (double)(st.syncs ? st.syncs : 1), lat[n_lat / 2] / 1e3,
           lat[n_lat * 99 / 100] / 1e3, lat[n_lat - 1] / 1e3, (double)st.bytes / elapsed / 1e6);
    storage_close(s);

    /* Recovery: how long a restart takes to read back what was written. */
    uint64_t t0 = bench_now_ns();
    s = bench_open(dir, &r);
    double open_ms = (double)(bench_now_ns() - t0) / 1e6;
    printf("            restart: %zu entries recovered in %.1f ms (%.0f entries/s)\n",
           r.n_entries, open_ms, (double)r.n_entries / (open_ms / 1e3));
    storage_close(s);
    bench_rm(dir);
    free(payload);
    free(e);
    free(lat);
}

/* Appends with no sync at all: the buffered path's own cost. */
static void bench_unsynced(const char *base, size_t entry_bytes)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/unsynced", base);
    bench_rm(dir);
    struct raft_restore r;
    struct storage *s = bench_open(dir, &r);
    uint8_t *payload = malloc(entry_bytes);
    memset(payload, 'x', entry_bytes);
    const size_t total = 200000;
    uint64_t t0 = bench_now_ns();
    for (raft_index i = 1; i <= total; i++) {
        struct raft_entry e = {.term = 1, .index = i, .type = 1, .len = (uint32_t)entry_bytes,
                               .data = payload};
        if (storage_append(s, &e, 1) != STORAGE_OK) {
            fprintf(stderr, "storage_bench: %s\n", storage_error(s));
            exit(1);
        }
    }
    double secs = (double)(bench_now_ns() - t0) / 1e9;
    struct storage_stats st;
    storage_get_stats(s, &st);
    printf("no sync   : %10.0f appends/s (%zu entries, %" PRIu64 " write() calls)\n",
           (double)total / secs, total, st.writes);
    storage_close(s);
    bench_rm(dir);
    free(payload);
}

/* ---- through a replica: what the group commit buys a node ---- */

struct bench_acks {
    uint64_t done;
};

static void bench_send(void *ctx, const struct raft_msg *m)
{
    (void)ctx;
    (void)m;
}

static void bench_complete(void *ctx, uint64_t ref, const struct replica_result *res)
{
    (void)ref;
    struct bench_acks *a = ctx;
    if (res->status == REPLICA_DONE)
        a->done++;
}

/* A single-node replica on the durable store: `batch` client writes arrive
 * between two flushes (one event-loop turn), for `seconds`. */
static void bench_replica(const char *base, size_t batch, double seconds)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/replica-%zu", base, batch);
    bench_rm(dir);
    struct raft_restore r;
    struct storage *s = bench_open(dir, &r);
    struct replica_log_store ls;
    storage_replica_log_store(s, &ls);
    struct bench_acks acks = {0};
    struct replica_config c;
    replica_config_default(&c, 0, 1, 1);
    c.send = bench_send;
    c.complete = bench_complete;
    c.ctx = &acks;
    c.store = &ls;
    uint64_t now = 0;
    struct replica *rep = replica_new(&c, now);
    storage_release_restore(s);
    while (replica_role(rep) != RAFT_LEADER && now < 60000) {
        now += 10;
        replica_tick(rep, now);
        replica_flush(rep, now);
    }
    struct storage_stats st0, st1;
    storage_get_stats(s, &st0);
    uint64_t done0 = acks.done, key = 0;
    uint64_t start = bench_now_ns(), deadline = start + (uint64_t)(seconds * 1e9), t = start;
    while (t < deadline) {
        for (size_t i = 0; i < batch; i++, key++) {
            json_t *k = json_integer((json_int_t)(key % 1000)), *v = json_integer((json_int_t)key);
            struct kv_command cmd = {.op = KV_WRITE, .key = k, .value = v};
            replica_submit(rep, key, &cmd, now);
            json_decref(k);
            json_decref(v);
        }
        if (replica_flush(rep, now) != 0) {
            fprintf(stderr, "storage_bench: %s\n", storage_error(s));
            exit(1);
        }
        t = bench_now_ns();
        now = (t - start) / 1000000;
        replica_tick(rep, now);
    }
    double elapsed = (double)(t - start) / 1e9;
    storage_get_stats(s, &st1);
    uint64_t done = acks.done - done0;
    printf("replica, %4zu writes per loop turn: %9.0f acknowledged writes/s, %.3f syncs and "
           "%.3f fsyncs per write\n",
           batch, (double)done / elapsed, (double)(st1.syncs - st0.syncs) / (double)(done ? done : 1),
           (double)(st1.fsyncs - st0.fsyncs) / (double)(done ? done : 1));
    replica_free(rep);
    storage_close(s);
    bench_rm(dir);
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    double seconds = 2.0;
    size_t entry_bytes = 100;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--entry-bytes") == 0 && i + 1 < argc)
            entry_bytes = (size_t)strtoul(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: %s [--dir DIR] [--seconds S] [--entry-bytes N]\n", argv[0]);
            return 64;
        }
    }
    char tmp[] = "/tmp/raftkv-storage-bench-XXXXXX";
    bool own = dir == NULL;
    if (own && !(dir = mkdtemp(tmp))) {
        perror("mkdtemp");
        return 1;
    }
    printf("$");
    for (int i = 0; i < argc; i++)
        printf(" %s", argv[i]);
    printf("\nstorage: %zu-byte entries, each batch appended then made durable with one "
           "storage_sync(), %.1f s per batch size, in %s\n",
           entry_bytes, seconds, dir);
    bench_unsynced(dir, entry_bytes);
    const size_t batches[] = {1, 16, 256};
    for (size_t i = 0; i < sizeof batches / sizeof batches[0]; i++)
        bench_batches(dir, batches[i], seconds, entry_bytes);
    for (size_t i = 0; i < sizeof batches / sizeof batches[0]; i++)
        bench_replica(dir, batches[i], seconds);
    if (own)
        bench_rm(dir);
    return 0;
}
