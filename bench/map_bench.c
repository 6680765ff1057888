/* map_bench.c - the store's hash map (src/kv/map.c) alone, in CPU time
 * (CLOCK_PROCESS_CPUTIME_ID for totals, CLOCK_THREAD_CPUTIME_ID around
 * each call for the longest ones), so a loaded machine blurs it little:
 *
 *   steady: puts into a map reserved for them (no growth), lookups of
 *           present and absent keys, overwrites, deletes: ns per operation
 *           (the best of R runs);
 *   fill:   puts from an empty map up to N keys, growth included: ns per
 *           put and the longest single put;
 *   step:   a map of N keys made to grow (kv_map_reserve to 1.5 N), moved
 *           by kv_map_rehash_step(m, 4096) alone: the longest step;
 *   fork:   a map that has just started growing (at 70% of the table N
 *           fits), or is 10 keys short of it, a forked child holding its
 *           pages as a snapshot child
 *           does, then W puts (new keys, or overwrites of random present
 *           ones) with a kv_map_rehash_step(m, 4096) every 50 puts, as the
 *           loop's once-a-ms step under a 50k puts/s load: the parent's
 *           minor page faults (getrusage: copies of pages the child shares,
 *           and first touches of new ones) and CPU time, with the map told
 *           of the child (kv_map_snapshot_child) and without (the
 *           migration goes on, as before the map knew); then a shrink:
 *           the same after deleting all but N/16 keys.
 *
 *   build/bench/map_bench [N (default 1000000)] [R (default 3)] [steady|fill|fork]
 *
 * One part alone suits `perf stat -e instructions:u`, which a loaded
 * machine does not blur at all.
 *
 * Keys are 16 bytes ("key:%012u"), values 100 bytes, as in issue 12's
 * redis-benchmark load.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kv/kv.h"
#include "kv/map.h"

static double cpu_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static char value[100];

static size_t key_of(char *buf, unsigned k)
{
    return (size_t)snprintf(buf, 32, "key:%012u", k);
}

static void steady(unsigned n, int runs)
{
    const char *names[] = {"put (new key)", "get (present)", "get (absent)", "put (overwrite)", "del"};
    double best[5];
    for (int i = 0; i < 5; i++)
        best[i] = 1e30;
    char key[32];
    for (int r = 0; r < runs; r++) {
        struct kv_map m;
        if (kv_map_init(&m) != 0 || kv_map_reserve(&m, n) != 0)
            exit(1);
        double t[6];
        t[0] = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
        for (unsigned k = 0; k < n; k++)
            kv_map_put(&m, key, key_of(key, k), KV_TYPE_STR, value, sizeof value);
        t[1] = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
        size_t found = 0;
        for (unsigned k = 0; k < n; k++)
            found += kv_map_get(&m, key, key_of(key, (k * 7919u) % n)) != NULL;
        t[2] = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
        for (unsigned k = 0; k < n; k++)
            found += kv_map_get(&m, key, key_of(key, n + k)) != NULL;
        t[3] = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
        for (unsigned k = 0; k < n; k++)
            kv_map_put(&m, key, key_of(key, (k * 7919u) % n), KV_TYPE_STR, value, sizeof value);
        t[4] = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
        for (unsigned k = 0; k < n; k++)
            kv_map_del(&m, key, key_of(key, k));
        t[5] = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
        if (found != n)
            exit(2);
        for (int i = 0; i < 5; i++)
            if ((t[i + 1] - t[i]) / n < best[i])
                best[i] = (t[i + 1] - t[i]) / n;
        kv_map_free(&m);
    }
    for (int i = 0; i < 5; i++)
        printf("steady %-16s %7.1f ns/op (best of %d, %u keys)\n", names[i], best[i], runs, n);
}

static void fill(unsigned n)
{
    struct kv_map m;
    if (kv_map_init(&m) != 0)
        exit(1);
    char key[32];
    double top[3] = {0}, t0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
    unsigned top_at[3] = {0}, over_ms = 0;
    for (unsigned k = 0; k < n; k++) {
        double a = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
        kv_map_put(&m, key, key_of(key, k), KV_TYPE_STR, value, sizeof value);
        double d = cpu_ns(CLOCK_THREAD_CPUTIME_ID) - a;
        over_ms += d > 1e6;
        for (int i = 0; i < 3; i++) {
            if (d > top[i]) {
                for (int j = 2; j > i; j--) {
                    top[j] = top[j - 1];
                    top_at[j] = top_at[j - 1];
                }
                top[i] = d;
                top_at[i] = k;
                break;
            }
        }
    }
    double t1 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
    printf("fill   %u puts from empty: %.1f ns/put (timer included), %u puts over 1 ms, longest "
           "%.3f ms (put %u), %.3f ms (put %u), %.3f ms (put %u)\n",
           n, (t1 - t0) / n, over_ms, top[0] / 1e6, top_at[0], top[1] / 1e6, top_at[1],
           top[2] / 1e6, top_at[2]);
#ifdef KV_MAP_STEP_SLOTS
    /* The loop's step alone, on a growth of the whole map. */
    while (kv_map_rehashing(&m))
        kv_map_rehash_step(&m, 1u << 20);
    if (kv_map_reserve(&m, (size_t)n * 3 / 2) != 0)
        exit(1);
    double longest = 0, total = 0;
    unsigned steps = 0;
    while (kv_map_rehashing(&m)) {
        double a = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
        kv_map_rehash_step(&m, 4096);
        double d = cpu_ns(CLOCK_THREAD_CPUTIME_ID) - a;
        longest = d > longest ? d : longest;
        total += d;
        steps++;
    }
    printf("step   %u keys to a larger table by kv_map_rehash_step(m, 4096): %u steps, mean %.3f ms, "
           "longest %.3f ms\n",
           n, steps, total / steps / 1e6, longest / 1e6);
#endif
    kv_map_free(&m);
}

static long minflt(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

/* One run of the fork part: told says whether the map knows of the child;
 * overwrite picks the workload. */
enum { GROWTH_STARTED, GROWTH_DUE, SHRINK_DUE };

static void fork_run(unsigned n, bool told, bool overwrite, int state)
{
    struct kv_map m;
    if (kv_map_init(&m) != 0)
        exit(1);
    char key[32];
    size_t want = 64;
    while (want < n)
        want *= 2;
    unsigned k = 0;
    if (state == SHRINK_DUE) {
        /* n keys, settled, then all but n/16 deleted while a child ran (so
         * the shrink is due when the next one is forked). */
        for (; k < n; k++)
            kv_map_put(&m, key, key_of(key, k), KV_TYPE_STR, value, sizeof value);
        while (kv_map_rehashing(&m))
            kv_map_rehash_step(&m, 1u << 20);
        kv_map_snapshot_child(true);
        for (unsigned j = n / 16; j < n; j++)
            kv_map_del(&m, key, key_of(key, j));
        kv_map_snapshot_child(false);
        k = n / 16;
    } else if (state == GROWTH_DUE) {
        /* 10 keys short of 70% of the table n fits: the next 11 start a
         * growth (or, told of the child, wait for 90%). */
        if (kv_map_reserve(&m, want / 10 * 7 - 10) != 0)
            exit(1);
        for (; k < want / 10 * 7 - 10; k++)
            kv_map_put(&m, key, key_of(key, k), KV_TYPE_STR, value, sizeof value);
    } else {
        while (!m.old || m.old_mask + 1 < want) {
            kv_map_put(&m, key, key_of(key, k), KV_TYPE_STR, value, sizeof value);
            k++;
        }
    }
    size_t slots0 = m.mask + 1 + (m.old ? m.old_mask + 1 : 0);
    pid_t pid = fork();
    if (pid < 0)
        exit(1);
    if (pid == 0) {
        pause();
        _exit(0);
    }
    if (told)
        kv_map_snapshot_child(true);
    unsigned present = k, w = n / 10;
    long f0 = minflt();
    double t0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
    size_t moved0 = m.moved;
    uint64_t x = 88172645463325252ull;
    for (unsigned i = 0; i < w; i++) {
        unsigned kk;
        if (overwrite) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            kk = (unsigned)(x % present);
        } else {
            kk = k++;
        }
        kv_map_put(&m, key, key_of(key, kk), KV_TYPE_STR, value, sizeof value);
        if (i % 50 == 49)
            kv_map_rehash_step(&m, 4096);
    }
    double t1 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
    long f1 = minflt();
    printf("fork   %s, %u %s, map %s the child: %ld minor faults, %.1f ms CPU, %zu entries moved, "
           "still migrating: %s (%zu slots at the fork)\n",
           state == SHRINK_DUE ? "shrink due" : state == GROWTH_DUE ? "growth due" : "growth started", w, overwrite ? "overwrites" : "new keys",
           told ? "told of" : "not told of", f1 - f0, (t1 - t0) / 1e6, m.moved - moved0,
           m.old ? "yes" : "no", slots0);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    if (told)
        kv_map_snapshot_child(false);
    kv_map_free(&m);
}

static void fork_part(unsigned n, int runs)
{
    for (int r = 0; r < runs; r++)
        for (int state = GROWTH_STARTED; state <= SHRINK_DUE; state++)
            for (int ow = 0; ow < 2; ow++)
                for (int told = 0; told < 2; told++)
                    fork_run(n, told, ow, state);
}

int main(int argc, char **argv)
{
    unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1000000;
    int runs = argc > 2 ? atoi(argv[2]) : 3;
    memset(value, 'v', sizeof value);
    const char *part = argc > 3 ? argv[3] : "";
    if (strcmp(part, "fork") == 0) {
        fork_part(n, runs);
        return 0;
    }
    if (strcmp(part, "fill") != 0)
        steady(n, runs);
    if (strcmp(part, "steady") != 0)
        fill(n);
    return 0;
}
