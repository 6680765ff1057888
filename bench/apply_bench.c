/* apply_bench.c - applying logged SETs to a large map in runs, as a
 * member applies a committed batch (a learner catching up: runs of
 * thousands), with and without the cache hints the replica gives ahead of
 * each entry (kv_prefetch_slot AHEAD_SLOT entries on, kv_prefetch_entry
 * AHEAD_ENTRY on, as src/replica/apply.c): CPU time per entry
 * (CLOCK_PROCESS_CPUTIME_ID, so a loaded machine blurs it little).
 *
 *   build/bench/apply_bench [KEYS (1000000)] [ENTRIES (1000000)] [RUN (1024)] [R (3)]
 *
 * Keys "key:%012u" with 100-byte values, as in the membership bench's
 * redis-benchmark load; the entries overwrite random present keys.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kv/kv.h"

#define AHEAD_SLOT 8
#define AHEAD_ENTRY 4

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint8_t *set_entry(unsigned k, size_t *len)
{
    char key[32], val[101];
    snprintf(key, sizeof key, "key:%012u", k);
    memset(val, 'v', 100);
    struct kv_command c = {.op = KV_SET};
    uint8_t *data;
    if (kv_str_set(&c.skey, key, strlen(key)) != 0 || kv_str_set(&c.arg[0], val, 100) != 0 ||
        kv_command_encode(&c, &data, len) != 0) {
        fprintf(stderr, "apply_bench: encode failed\n");
        exit(1);
    }
    kv_command_release(&c);
    kv_entry_stamp(data, *len, 1);
    return data;
}

int main(int argc, char **argv)
{
    unsigned keys = argc > 1 ? (unsigned)atoi(argv[1]) : 1000000;
    size_t n = argc > 2 ? (size_t)atol(argv[2]) : 1000000;
    size_t run = argc > 3 ? (size_t)atol(argv[3]) : 1024;
    int runs = argc > 4 ? atoi(argv[4]) : 3;
    struct kv_store *s = kv_store_new();
    struct kv_result res;
    for (unsigned k = 0; k < keys; k++) {
        size_t len;
        uint8_t *d = set_entry(k, &len);
        kv_apply_bytes(s, d, len, 0, &res);
        kv_result_release(&res);
        free(d);
    }
    uint8_t **e = malloc(n * sizeof *e);
    size_t *el = malloc(n * sizeof *el);
    uint64_t *h = malloc(n * sizeof *h);
    bool *named = malloc(n * sizeof *named);
    srand(7);
    for (size_t i = 0; i < n; i++)
        e[i] = set_entry((unsigned)((((unsigned)rand() << 16) ^ (unsigned)rand()) % keys), &el[i]);
    printf("apply_bench: %u keys, %zu SET entries applied in runs of %zu, CPU ns per entry\n", keys, n, run);
    for (int r = 0; r < runs; r++) {
        for (int hinted = 0; hinted < 2; hinted++) {
            uint64_t t0 = cpu_ns();
            for (size_t i0 = 0; i0 < n; i0 += run) {
                size_t last = i0 + run < n ? i0 + run : n; /* one past */
                size_t next = i0;
                for (size_t i = i0; i < last; i++) {
                    if (hinted) {
                        size_t to = i + AHEAD_SLOT < last - 1 ? i + AHEAD_SLOT : last - 1;
                        for (; next <= to; next++)
                            named[next] = kv_prefetch_slot(s, e[next], el[next], &h[next]);
                        if (i + AHEAD_ENTRY < last && named[i + AHEAD_ENTRY])
                            kv_prefetch_entry(s, h[i + AHEAD_ENTRY]);
                    }
                    kv_apply_bytes(s, e[i], el[i], 0, &res);
                    kv_result_release(&res);
                }
            }
            uint64_t t = cpu_ns() - t0;
            printf("  run %d %s: %.0f ns\n", r + 1, hinted ? "with hints   " : "without hints", (double)t / (double)n);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(e[i]);
    free(e);
    free(el);
    free(h);
    free(named);
    kv_store_free(s);
    return 0;
}
