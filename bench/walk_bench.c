/* walk_bench.c - the snapshot walk's cost per key on the thread that runs
 * it (--snapshot-method walk: src/kv/map_walk.c, src/kv/snapshot_walk.c),
 * in that thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so a loaded
 * machine blurs it little:
 *
 *   walk:     the point-in-time walk alone over a map of N keys, each
 *             entry handed to a callback that reads its key and value;
 *   snapshot: the whole image as the event loop writes it (records,
 *             block checksums, the copy into 256 KiB chunks, as
 *             bgsave_walk.c's sink), without the file writes;
 *   writes:   the snapshot again while W random keys are overwritten
 *             between steps of 256 entries (pre-images kept), the steps
 *             timed apart from the writes.
 *
 *   build/bench/walk_bench [N (default 1000000)] [R (default 3)] [W (default 64)]
 *
 * Prints ns per key of each part (the best of R runs) and the pre-images
 * kept. Keys are 16 bytes ("key:%012u"), values 100 bytes, as in issue
 * 12's redis-benchmark load; they are inserted in a shuffled order, as a
 * random load leaves the heap.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kv/kv.h"
#include "kv/kv_internal.h"
#include "kv/map_walk.h"
#include "kv/snapshot_walk.h"

#define STEP 256
#define CHUNK ((size_t)256 << 10)

static double thread_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static char value[100];

static size_t key_of(char *buf, unsigned k)
{
    return (size_t)snprintf(buf, 32, "key:%012u", k);
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static uint64_t sum;
static int read_entry(void *ctx, const struct kv_map_entry *e, int64_t expiry_ms)
{
    (void)ctx;
    sum += (unsigned char)kv_entry_key(e)[0] + (unsigned char)kv_entry_value(e)[0] +
           (uint64_t)expiry_ms;
    return 0;
}

/* bgsave_walk.c's sink without the files: bytes into one reused chunk. */
static uint8_t *chunk;
static size_t chunk_len;
static int sink(void *ctx, const void *data, size_t n)
{
    (void)ctx;
    const uint8_t *p = data;
    while (n > 0) {
        size_t k = CHUNK - chunk_len < n ? CHUNK - chunk_len : n;
        memcpy(chunk + chunk_len, p, k);
        chunk_len = (chunk_len + k) % CHUNK;
        p += k;
        n -= k;
    }
    return 0;
}

int main(int argc, char **argv)
{
    unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1000000;
    int runs = argc > 2 ? atoi(argv[2]) : 3;
    unsigned writes = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 64;
    memset(value, 'v', sizeof value);
    chunk = malloc(CHUNK);
    unsigned *order = malloc(n * sizeof *order);
    if (!chunk || !order)
        return 1;
    for (unsigned i = 0; i < n; i++)
        order[i] = i;
    for (unsigned i = n; i > 1; i--) {
        unsigned j = (unsigned)(next_rand() % i), t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    struct kv_store *s = kv_store_new();
    char key[32];
    for (unsigned i = 0; i < n; i++)
        kv_store_put(s, key, key_of(key, order[i]), KV_TYPE_STR, value, sizeof value);
    free(order);
    double best[3] = {1e30, 1e30, 1e30};
    size_t kept = 0;
    char why[200];
    for (int r = 0; r < runs; r++) {
        /* walk */
        struct kv_map_walk *w = kv_map_walk_begin(&s->map, (size_t)1 << 40, why, sizeof why);
        if (!w) {
            fprintf(stderr, "walk: %s\n", why);
            return 1;
        }
        double t0 = thread_ns();
        int rc;
        while ((rc = kv_map_walk_step(w, STEP, read_entry, NULL)) == 0)
            ;
        double t1 = thread_ns();
        kv_map_walk_end(w);
        if (rc != 1)
            return 1;
        if ((t1 - t0) / n < best[0])
            best[0] = (t1 - t0) / n;
        /* snapshot */
        struct kv_snapshot_walk *sw =
            kv_snapshot_walk_begin(s, 10, 1, (size_t)1 << 40, sink, NULL, why, sizeof why);
        if (!sw)
            return 1;
        t0 = thread_ns();
        while ((rc = kv_snapshot_walk_step(sw, STEP)) == 0)
            ;
        t1 = thread_ns();
        kv_snapshot_walk_free(sw);
        if (rc != 1)
            return 1;
        if ((t1 - t0) / n < best[1])
            best[1] = (t1 - t0) / n;
        /* writes */
        sw = kv_snapshot_walk_begin(s, 10, 1, (size_t)1 << 40, sink, NULL, why, sizeof why);
        if (!sw)
            return 1;
        double steps = 0;
        do {
            for (unsigned k = 0; k < writes; k++)
                kv_store_put(s, key, key_of(key, (unsigned)(next_rand() % n)), KV_TYPE_STR, value,
                             sizeof value);
            t0 = thread_ns();
            rc = kv_snapshot_walk_step(sw, STEP);
            steps += thread_ns() - t0;
        } while (rc == 0);
        uint64_t written, total;
        size_t peak, keys;
        kv_snapshot_walk_stats(sw, &written, &total, &peak, &keys);
        kv_snapshot_walk_free(sw);
        if (rc != 1)
            return 1;
        kept = keys;
        if (steps / n < best[2])
            best[2] = steps / n;
    }
    printf("walk_bench: %u keys (16-byte keys, 100-byte values), best of %d, thread CPU; "
           "table of %zu slots%s\n",
           n, runs, s->map.mask + 1, s->map.old ? ", growing (as after a load)" : "");
    printf("  walk alone:                 %6.0f ns/key\n", best[0]);
    printf("  snapshot (records, chunks): %6.0f ns/key\n", best[1]);
    printf("  snapshot, %u writes a step: %6.0f ns/key (steps only; %zu pre-images)\n", writes,
           best[2], kept);
    kv_store_free(s);
    free(chunk);
    return sum == 42 ? 2 : 0;
}
