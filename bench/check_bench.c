/* check_bench.c - how fast the linearizability checker decides histories:
 * the checker suite's real Jepsen etcd histories, and a generated
 * 100,000-operation lin-kv history (valid by construction).
 *
 *   build/bench/check_bench [--suite DIR] [--ops N] [--seed S] [--info PCT] [--keep FILE]
 *
 * Targets (issue 3): the whole suite in under 0.1 s, the 100,000-op history
 * in under 1 s. Each figure is the best of 5 runs.
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check/check.h"
#include "common/rng.h"

#define BENCH_ROUNDS 5

static double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int bench_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *bench_find_suite(void)
{
    static char path[4096];
    const char *env[] = {getenv("RAFTKV_SHARED"), getenv("SHARED")};
    for (size_t i = 0; i < 2; i++) {
        if (!env[i])
            continue;
        snprintf(path, sizeof path, "%s/checker-suite", env[i]);
        if (access(path, R_OK) == 0)
            return path;
    }
    const char *fixed[] = {"../shared/checker-suite", "/work/shared/checker-suite"};
    for (size_t i = 0; i < 2; i++)
        if (access(fixed[i], R_OK) == 0)
            return realpath(fixed[i], path) ? path : fixed[i];
    return NULL;
}

/* ---- the checker suite ---------------------------------------------------- */

static int bench_suite(const char *suite)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/etcd", suite);
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "check_bench: cannot open %s\n", dir);
        return -1;
    }
    char **files = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strstr(de->d_name, ".log"))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            files = realloc(files, cap * sizeof *files);
        }
        size_t len = strlen(dir) + strlen(de->d_name) + 2;
        files[n] = malloc(len);
        snprintf(files[n++], len, "%s/%s", dir, de->d_name);
    }
    closedir(d);
    qsort(files, n, sizeof *files, bench_cmp_str);

    double best_total = 1e9, best_check = 1e9;
    size_t invalid = 0, unknown = 0, ops = 0;
    uint64_t states = 0;
    for (int round = 0; round < BENCH_ROUNDS; round++) {
        double check_time = 0, t0 = bench_now();
        invalid = unknown = ops = 0;
        states = 0;
        for (size_t i = 0; i < n; i++) {
            struct check_history h;
            char err[512];
            if (check_history_init(&h) != 0 ||
                check_history_read(files[i], CHECK_FORMAT_AUTO, &h, err, sizeof err) != 0) {
                fprintf(stderr, "check_bench: %s\n", err);
                return -1;
            }
            double c0 = bench_now();
            enum lin_verdict v = check_history_run(&h, NULL);
            check_time += bench_now() - c0;
            invalid += v == LIN_INVALID;
            unknown += v == LIN_UNKNOWN;
            for (size_t k = 0; k < h.n_keys; k++) {
                ops += h.keys[k].n_ops;
                states += h.keys[k].report.states_explored;
            }
            check_history_free(&h);
        }
        double total = bench_now() - t0;
        if (total < best_total)
            best_total = total;
        if (check_time < best_check)
            best_check = check_time;
    }
    printf("checker suite: %zu files (%zu ops; %zu invalid, %zu unknown), %" PRIu64 " configurations\n", n, ops,
           invalid, unknown, states);
    printf("  read + check: %.1f ms   check only: %.1f ms   (best of %d; target < 100 ms; Porcupine ~400 ms)\n",
           best_total * 1e3, best_check * 1e3, BENCH_ROUNDS);
    for (size_t i = 0; i < n; i++)
        free(files[i]);
    free(files);
    return 0;
}

/* ---- a generated lin-kv history ------------------------------------------ */

struct gen_op {
    int64_t process;
    int f;          /* enum lin_f */
    int a, b;       /* write value / cas from, to */
    int read;       /* the value read, -1 = nil */
    int outcome;    /* 0 ok, 1 fail (cas 22, read 20), 2 info */
    bool effective; /* an info op that took effect */
    uint64_t call, ret, point;
    int key;
};

static int gen_cmp_point(const void *x, const void *y)
{
    const struct gen_op *a = *(const struct gen_op *const *)x, *b = *(const struct gen_op *const *)y;
    return (a->point > b->point) - (a->point < b->point);
}

struct gen_event {
    uint64_t time;
    struct gen_op *op;
    bool is_invoke;
};

static int gen_cmp_event(const void *x, const void *y)
{
    const struct gen_event *a = x, *b = y;
    if (a->time != b->time)
        return a->time < b->time ? -1 : 1;
    return (a->is_invoke > b->is_invoke) - (a->is_invoke < b->is_invoke); /* completions first */
}

/* Simulates lin-kv clients on a register per key: each operation takes
 * effect at a random point inside its call, in point order, so the history
 * is linearizable by construction. Writes 200 ops per key, 10 processes per
 * key, info_pct% of writes and cas with unknown outcomes (half of which
 * took effect). */
static int bench_generate(const char *path, size_t n_ops, uint64_t seed, unsigned info_pct)
{
    struct rng g;
    rng_seed(&g, seed);
    const size_t per_key = 200, procs = 10;
    size_t n_keys = (n_ops + per_key - 1) / per_key;
    struct gen_op *ops = calloc(n_ops, sizeof *ops);
    struct gen_op **by_point = malloc(per_key * sizeof *by_point);
    struct gen_event *ev = malloc(2 * n_ops * sizeof *ev);
    if (!ops || !by_point || !ev)
        return -1;
    int64_t next_process = 0;
    size_t made = 0;
    for (size_t k = 0; k < n_keys && made < n_ops; k++) {
        uint64_t base = (uint64_t)k * 20000; /* keys overlap a little in time */
        uint64_t clock[16];
        int64_t proc[16];
        for (size_t p = 0; p < procs; p++) {
            clock[p] = base + rng_below(&g, 100);
            proc[p] = next_process++;
        }
        size_t first = made;
        for (size_t i = 0; i < per_key && made < n_ops; i++) {
            size_t p = rng_below(&g, procs);
            struct gen_op *o = &ops[made++];
            o->key = (int)k;
            o->process = proc[p];
            o->call = clock[p];
            o->ret = o->call + 1 + (uint64_t)rng_exponential(&g, 300);
            o->point = o->call + rng_below(&g, o->ret - o->call + 1);
            clock[p] = o->ret + 1 + rng_below(&g, 50);
            /* as in lin-kv: half the processes only read; others write:cas 1:2 */
            o->f = p < procs / 2 ? LIN_READ : rng_below(&g, 3) == 0 ? LIN_WRITE : LIN_CAS;
            o->a = (int)rng_below(&g, 5);
            o->b = (int)rng_below(&g, 5);
            if (o->f != LIN_READ && rng_below(&g, 100) < info_pct) {
                o->outcome = 2;
                o->effective = rng_below(&g, 2) == 0;
                proc[p] = next_process++; /* an unknown outcome: the client continues as a new process */
            }
        }
        size_t m = made - first;
        for (size_t i = 0; i < m; i++)
            by_point[i] = &ops[first + i];
        qsort(by_point, m, sizeof *by_point, gen_cmp_point);
        int value = -1;
        for (size_t i = 0; i < m; i++) {
            struct gen_op *o = by_point[i];
            if (o->outcome == 2 && !o->effective)
                continue;
            if (o->f == LIN_READ) {
                o->read = value;
                o->outcome = value < 0 ? 1 : 0;
            } else if (o->f == LIN_WRITE) {
                value = o->a;
            } else if (value == o->a) {
                value = o->b;
            } else if (o->outcome != 2) {
                o->outcome = 1; /* 20 on the empty register, 22 otherwise */
                o->read = value;
            }
        }
    }
    size_t n_ev = 0;
    for (size_t i = 0; i < made; i++) {
        ev[n_ev++] = (struct gen_event){.time = ops[i].call, .op = &ops[i], .is_invoke = true};
        ev[n_ev++] = (struct gen_event){.time = ops[i].ret, .op = &ops[i], .is_invoke = false};
    }
    qsort(ev, n_ev, sizeof *ev, gen_cmp_event);

    FILE *out = fopen(path, "w");
    if (!out)
        return -1;
    static const char *fname[] = {"read", "write", "cas"};
    for (size_t i = 0; i < n_ev; i++) {
        const struct gen_op *o = ev[i].op;
        const char *type = ev[i].is_invoke ? "invoke" : o->outcome == 0 ? "ok" : o->outcome == 1 ? "fail" : "info";
        fprintf(out, "{\"index\":%zu,\"time\":%" PRIu64 ",\"process\":%" PRId64 ",\"type\":\"%s\",\"f\":\"%s\",\"key\":%d,",
                i, ev[i].time * 1000, o->process, type, fname[o->f], o->key);
        if (o->f == LIN_CAS)
            fprintf(out, "\"value\":[%d,%d]", o->a, o->b);
        else if (o->f == LIN_WRITE)
            fprintf(out, "\"value\":%d", o->a);
        else if (!ev[i].is_invoke && o->outcome == 0)
            fprintf(out, "\"value\":%d", o->read);
        else
            fprintf(out, "\"value\":null");
        if (!ev[i].is_invoke && o->outcome == 1)
            fprintf(out, ",\"error\":[%d,\"\"]", o->f == LIN_CAS && o->read >= 0 ? 22 : 20);
        fprintf(out, ",\"node\":\"n%d\"}\n", (int)(o->process % 5));
    }
    fclose(out);
    free(ops);
    free(by_point);
    free(ev);
    return 0;
}

static int bench_generated(size_t n_ops, uint64_t seed, unsigned info_pct, const char *keep)
{
    char tmp[] = "/tmp/check_bench_XXXXXX";
    const char *path = keep;
    if (!path) {
        int fd = mkstemp(tmp);
        if (fd < 0)
            return -1;
        close(fd);
        path = tmp;
    }
    if (bench_generate(path, n_ops, seed, info_pct) != 0) {
        fprintf(stderr, "check_bench: cannot write %s\n", path);
        return -1;
    }
    double best_total = 1e9, best_check = 1e9;
    size_t keys = 0, ops = 0, max_ops = 0;
    uint64_t states = 0;
    enum lin_verdict verdict = LIN_UNKNOWN;
    for (int round = 0; round < BENCH_ROUNDS; round++) {
        struct check_history h;
        char err[512];
        double t0 = bench_now();
        if (check_history_init(&h) != 0 || check_history_read(path, CHECK_FORMAT_AUTO, &h, err, sizeof err) != 0) {
            fprintf(stderr, "check_bench: %s\n", err);
            return -1;
        }
        double c0 = bench_now();
        verdict = check_history_run(&h, NULL);
        double t1 = bench_now();
        if (t1 - t0 < best_total)
            best_total = t1 - t0;
        if (t1 - c0 < best_check)
            best_check = t1 - c0;
        keys = h.n_keys;
        ops = max_ops = 0;
        states = 0;
        for (size_t k = 0; k < h.n_keys; k++) {
            ops += h.keys[k].n_ops;
            states += h.keys[k].report.states_explored;
            if (h.keys[k].n_ops > max_ops)
                max_ops = h.keys[k].n_ops;
        }
        check_history_free(&h);
    }
    printf("generated lin-kv history: %zu operations (seed %" PRIu64 "), %zu keys, %zu ops checked (at most %zu per "
           "key), %" PRIu64 " configurations: %s\n",
           n_ops, seed, keys, ops, max_ops, states,
           verdict == LIN_VALID ? "valid" : verdict == LIN_INVALID ? "INVALID (generator bug)" : "unknown");
    printf("  read + check: %.1f ms   check only: %.1f ms   (best of %d; target < 1000 ms)\n", best_total * 1e3,
           best_check * 1e3, BENCH_ROUNDS);
    if (keep)
        printf("  the history is kept in %s; `build/whirl check %s` checks it from the command line\n", keep, keep);
    else
        unlink(tmp);
    return verdict == LIN_VALID ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *suite = NULL, *keep = NULL;
    size_t n_ops = 100000;
    unsigned info_pct = 5; /* of writes and cas: outcome unknown */
    uint64_t seed = (uint64_t)time(NULL);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--suite") == 0 && i + 1 < argc)
            suite = argv[++i];
        else if (strcmp(argv[i], "--ops") == 0 && i + 1 < argc)
            n_ops = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--info") == 0 && i + 1 < argc)
            info_pct = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--keep") == 0 && i + 1 < argc)
            keep = argv[++i];
        else {
            fprintf(stderr, "usage: check_bench [--suite DIR] [--ops N] [--seed S] [--info PCT] [--keep FILE]\n");
            return 64;
        }
    }
    if (!suite)
        suite = bench_find_suite();
    printf("== linearizability checker: build/bench/check_bench --ops %zu --seed %" PRIu64 " --info %u%s%s\n", n_ops,
           seed, info_pct, suite ? " --suite " : "", suite ? suite : "");
    int rc = 0;
    if (suite)
        rc |= bench_suite(suite) != 0;
    else
        printf("checker suite: not found (set SHARED), skipped\n");
    if (n_ops > 0)
        rc |= bench_generated(n_ops, seed, info_pct, keep) != 0;
    return rc;
}
