/* test_cmd.c - `whirl test`: runs the test --test-count times, each in its
 * own store folder, and sums up. */
#include "whirl/test_cmd.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "whirl/analysis.h"
#include "whirl/net.h"
#include "whirl/report/report.h"
#include "whirl/run.h"
#include "whirl/store.h"

static uint64_t seed_from_clock(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    /* Small enough to type back in. */
    return ((uint64_t)tv.tv_sec * 1000003u + (uint64_t)tv.tv_usec + (uint64_t)getpid() * 7919u) % 1000000000u;
}

static void write_outputs(struct whirl_run *run)
{
    char err[512];
    char **ids = malloc((size_t)(run->n_nodes ? run->n_nodes : 1) * sizeof *ids);
    for (int i = 0; ids && i < run->n_nodes; i++)
        ids[i] = run->nodes[i].id;
    if (!ids || whirl_history_write(&run->history, run->dir, ids, err, sizeof err) != 0)
        whirl_say(run, "whirl: %s", ids ? err : "out of memory");
    free(ids);
    if (whirl_net_write_log(run, err, sizeof err) != 0)
        whirl_say(run, "whirl: %s", err);
}

/* A run that could not run still leaves a results.json saying why, so the
 * store's listing shows it. */
static void write_aborted_results(struct whirl_run *run)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/results.json", run->dir);
    json_t *r = json_pack("{s:s, s:s, s:I, s:s, s:i}", "valid", "unknown", "error", run->abort_reason, "seed",
                          (json_int_t)run->seed, "command", run->opts->command_line ? run->opts->command_line : "",
                          "run", run->run_number);
    if (r)
        json_dump_file(r, path, JSON_INDENT(1) | JSON_ENSURE_ASCII);
    json_decref(r);
}

/* One run into its own folder. Returns the verdict, or WHIRL_EXIT_ABORTED;
 * *interrupted tells whether a signal stopped it. */
static int run_once(struct whirl_opts *o, int number, uint64_t seed, bool *interrupted, char *dir, size_t dirlen)
{
    struct whirl_run run;
    memset(&run, 0, sizeof run);
    run.opts = o;
    run.seed = seed;
    run.run_number = number;
    char err[512];
    if (whirl_store_create_run(o->store_dir, o->workload, run.dir, sizeof run.dir, err, sizeof err) != 0) {
        fprintf(stderr, "whirl: %s\n", err);
        return WHIRL_EXIT_ABORTED;
    }
    whirl_store_point_latest(o->store_dir, run.dir);
    char path[4200];
    snprintf(path, sizeof path, "%s/whirl.log", run.dir);
    run.log = fopen(path, "w");
    if (o->test_count > 1)
        whirl_say(&run, "=== run %d of %d", number, o->test_count);
    whirl_say(&run, "whirl: seed %llu (replay with --seed %llu%s)", (unsigned long long)seed,
              (unsigned long long)seed, o->test_count > 1 ? " --test-count 1" : "");
    whirl_say(&run, "whirl: %s", o->command_line ? o->command_line : "");
    whirl_say(&run, "whirl: %d nodes, %d clients, rate %g/s, latency %g ms, store %s", o->node_count, o->concurrency,
              o->rate, o->latency_ms, run.dir);

    int code;
    if (whirl_run_test(&run) != 0) {
        write_outputs(&run);
        whirl_say(&run, "whirl: the test could not run: %s", run.abort_reason);
        write_aborted_results(&run);
        code = WHIRL_EXIT_ABORTED;
    } else {
        write_outputs(&run);
        enum whirl_verdict v = whirl_analyse(&run);
        if (!o->no_report && report_write(run.dir, err, sizeof err) != 0)
            whirl_say(&run, "whirl: reports not written: %s", err);
        whirl_say(&run, "Results in %s (store/latest)", run.dir);
        whirl_say(&run, "%s", whirl_verdict_line(v));
        code = (int)v;
    }
    *interrupted = run.interrupted;
    snprintf(dir, dirlen, "%s", run.dir);
    if (run.log)
        fclose(run.log);
    run.log = NULL;
    whirl_run_free(&run);
    return code;
}

/* --test-count K: the series' summary beside its run folders, named after
 * the first: <store>/lin-kv/series-<timestamp>.json. */
static void write_series(const struct whirl_opts *o, const char *first_dir, json_t *runs, int done)
{
    const char *base = strrchr(first_dir, '/');
    if (!base)
        return;
    char path[4300];
    snprintf(path, sizeof path, "%.*s/series-%s.json", (int)(base - first_dir), first_dir, base + 1);
    json_t *summary = json_pack("{s:s, s:i, s:i, s:O}", "command", o->command_line ? o->command_line : "",
                                "test_count", o->test_count, "runs_done", done, "runs", runs);
    if (summary && json_dump_file(summary, path, JSON_INDENT(1)) == 0)
        printf("Summary in %s\n", path);
    json_decref(summary);
}

int whirl_test_main(int argc, char **argv)
{
    struct whirl_opts o;
    char err[512];
    if (whirl_opts_parse(argc, argv, &o, err, sizeof err) != 0) {
        fprintf(stderr, "whirl test: %s\n\n", err);
        whirl_usage(stderr);
        whirl_opts_free(&o);
        return WHIRL_EXIT_USAGE;
    }
    uint64_t seed = o.seed_given ? o.seed : seed_from_clock();
    int worst = 0, counts[4] = {0, 0, 0, 0};
    json_t *series = json_array();
    char first_dir[4096] = "";
    for (int i = 0; i < o.test_count; i++) {
        bool interrupted = false;
        char dir[4096] = "";
        int code = run_once(&o, i + 1, seed + (uint64_t)i, &interrupted, dir, sizeof dir);
        static const char *const verdicts[4] = {"valid", "invalid", "unknown", "could not run"};
        json_array_append_new(series, json_pack("{s:i, s:I, s:s, s:s}", "run", i + 1, "seed",
                                                (json_int_t)(seed + (uint64_t)i), "verdict",
                                                verdicts[code == WHIRL_EXIT_ABORTED ? 3 : code], "dir", dir));
        if (i == 0)
            snprintf(first_dir, sizeof first_dir, "%s", dir);
        counts[code == WHIRL_EXIT_ABORTED ? 3 : code]++;
        /* Invalid beats could-not-run beats unknown beats valid. */
        static const int rank[4] = {0, 3, 1, 2};
        if (rank[code == WHIRL_EXIT_ABORTED ? 3 : code] > rank[worst == WHIRL_EXIT_ABORTED ? 3 : worst])
            worst = code;
        if (interrupted) {
            printf("whirl: interrupted; %d of %d runs done\n", i + 1, o.test_count);
            break;
        }
    }
    if (o.test_count > 1) {
        int done = counts[0] + counts[1] + counts[2] + counts[3];
        printf("\n%d runs: %d valid, %d invalid, %d unknown, %d could not run (seeds %llu..%llu)\n", done,
               counts[0], counts[1], counts[2], counts[3], (unsigned long long)seed,
               (unsigned long long)(seed + (uint64_t)done - 1));
        write_series(&o, first_dir, series, done);
        if (worst != WHIRL_EXIT_ABORTED)
            printf("%s\n", whirl_verdict_line((enum whirl_verdict)worst));
    }
    json_decref(series);
    whirl_opts_free(&o);
    return worst;
}
