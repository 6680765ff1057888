/* opts.h - `whirl test` options: Maelstrom's names and defaults, plus
 * whirl's own (--seed, --store, --message-log-limit, ...).
 *
 * Arguments for the node binary: every argument after `--bin PATH` that
 * does not start with '-' (and is not the value of a whirl option) is passed
 * to the binary, in order; after a literal `--`, everything is. An unknown
 * option before `--` is an error, so a mistyped whirl option is never
 * silently handed to the node.
 */
#ifndef RAFTKV_WHIRL_OPTS_H
#define RAFTKV_WHIRL_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The exit code for bad usage (BSD's EX_USAGE): never 0, 1 or 2, which are
 * verdicts. */
#define WHIRL_EXIT_USAGE 64
/* The test could not run at all (a node did not start, the store is not
 * writable): neither a verdict nor a usage error. */
#define WHIRL_EXIT_ABORTED 3

enum whirl_latency_dist { WHIRL_LAT_CONSTANT, WHIRL_LAT_UNIFORM, WHIRL_LAT_EXPONENTIAL };

#define WHIRL_NEMESIS_PARTITION 1u
#define WHIRL_NEMESIS_KILL 2u
#define WHIRL_NEMESIS_PAUSE 4u

struct whirl_opts {
    const char *workload;
    const char *bin;
    char **bin_args; /* NULL-terminated, bin first (argv for the node) */
    int node_count;
    double time_limit_s;
    double rate;                /* requests per second over all clients; 0 = none */
    int concurrency;            /* resolved client count */
    double latency_ms;          /* mean */
    enum whirl_latency_dist latency_dist;
    unsigned nemesis;           /* WHIRL_NEMESIS_* bits */
    double nemesis_interval_s;
    double availability;        /* required fraction of ok requests; < 0 = no gate */
    bool log_stderr, log_net_send, log_net_recv;
    int test_count;
    uint64_t seed;
    bool seed_given;
    const char *store_dir;
    size_t message_log_limit;
    double init_timeout_s;
    int per_key_limit;          /* operations on one key before it is retired */
    int process_limit;          /* distinct processes on one key before it is retired */
    double quiet_s;             /* healed, request-free period before the end */
    bool final_reads;           /* read every key after the faults (also implied by kill) */
    bool no_report;             /* skip the HTML/SVG reports (benchmarks) */
    double final_read_timeout_s;
    char *command_line;         /* as typed, for results.json (malloc'd) */
};

/* Parses argv of `whirl test` (argv[0] = "test"). Returns 0, or -1 with a
 * message in err. Resolves `Kn` concurrency against the node count. */
int whirl_opts_parse(int argc, char **argv, struct whirl_opts *o, char *err, size_t errlen);
void whirl_opts_free(struct whirl_opts *o);
/* The full usage text, every option with its default. */
void whirl_usage(FILE *out);

#endif
