/* opts.c - parsing and validating `whirl test` options. */
#include "whirl/opts.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum opt_id {
    OPT_WORKLOAD, OPT_BIN, OPT_NODE_COUNT, OPT_TIME_LIMIT, OPT_RATE, OPT_CONCURRENCY, OPT_LATENCY,
    OPT_LATENCY_DIST, OPT_NEMESIS, OPT_NEMESIS_INTERVAL, OPT_AVAILABILITY, OPT_LOG_STDERR,
    OPT_LOG_NET_SEND, OPT_LOG_NET_RECV, OPT_TEST_COUNT, OPT_SEED, OPT_STORE, OPT_MESSAGE_LOG_LIMIT,
    OPT_INIT_TIMEOUT, OPT_PER_KEY_LIMIT, OPT_PROCESS_LIMIT, OPT_QUIET, OPT_FINAL_READS, OPT_FINAL_READ_TIMEOUT,
    OPT_NO_REPORT,
};

struct opt_def {
    const char *name;
    enum opt_id id;
    bool takes_value;
};

static const struct opt_def opt_defs[] = {
    {"--workload", OPT_WORKLOAD, true},       {"-w", OPT_WORKLOAD, true},
    {"--bin", OPT_BIN, true},                 {"--node-count", OPT_NODE_COUNT, true},
    {"--time-limit", OPT_TIME_LIMIT, true},   {"--rate", OPT_RATE, true},
    {"--concurrency", OPT_CONCURRENCY, true}, {"--latency", OPT_LATENCY, true},
    {"--latency-dist", OPT_LATENCY_DIST, true}, {"--nemesis", OPT_NEMESIS, true},
    {"--nemesis-interval", OPT_NEMESIS_INTERVAL, true}, {"--availability", OPT_AVAILABILITY, true},
    {"--log-stderr", OPT_LOG_STDERR, false},  {"--log-net-send", OPT_LOG_NET_SEND, false},
    {"--log-net-recv", OPT_LOG_NET_RECV, false}, {"--test-count", OPT_TEST_COUNT, true},
    {"--seed", OPT_SEED, true},               {"--store", OPT_STORE, true},
    {"--message-log-limit", OPT_MESSAGE_LOG_LIMIT, true}, {"--init-timeout", OPT_INIT_TIMEOUT, true},
    {"--per-key-limit", OPT_PER_KEY_LIMIT, true}, {"--process-limit", OPT_PROCESS_LIMIT, true},
    {"--quiet-period", OPT_QUIET, true},      {"--final-reads", OPT_FINAL_READS, false},
    {"--final-read-timeout", OPT_FINAL_READ_TIMEOUT, true}, {"--no-report", OPT_NO_REPORT, false},
};

void whirl_usage(FILE *out)
{
    fputs("usage: whirl test -w lin-kv --bin PATH [ARGS...] [OPTIONS]\n"
          "       whirl check FILE...        check recorded histories\n"
          "       whirl serve [--port P] [STORE]   browse runs in a browser\n"
          "       whirl report DIR...        regenerate a run's reports\n"
          "       whirl --help | --version\n"
          "\n"
          "whirl test runs PATH as a simulated cluster, drives Jepsen's lin-kv workload\n"
          "through its own network, checks the history for linearizability and writes\n"
          "everything under STORE/lin-kv/<timestamp>/ (STORE/latest points at it).\n"
          "\n"
          "Options of whirl test (Maelstrom's names and defaults):\n"
          "  -w, --workload NAME     the workload; only lin-kv (default lin-kv)\n"
          "  --bin PATH [ARGS...]    the node binary; arguments after it that do not\n"
          "                          start with '-' go to the binary, and after a\n"
          "                          literal -- everything does (--bin raftkv -- -v)\n"
          "                          {data} in an argument becomes the node's own\n"
          "                          data folder, <run>/data/<id>, kept across restarts\n"
          "  --node-count N          nodes n0..n{N-1} (default 5)\n"
          "  --time-limit S          seconds of client requests (default 60)\n"
          "  --rate R                requests per second over all clients; 0 = no\n"
          "                          requests at all (default 5)\n"
          "  --concurrency C|Kn      client count, or K times the node count (default 1n)\n"
          "  --latency MS            mean one-way message latency (default 0)\n"
          "  --latency-dist D        constant, uniform (0..2*mean) or exponential\n"
          "                          (default constant)\n"
          "  --nemesis F[,F...]      faults: partition, kill (SIGKILL, then a restart\n"
          "                          and a new init), pause (SIGSTOP, SIGCONT); one at\n"
          "                          a time, alternating with healthy periods\n"
          "                          (default none)\n"
          "  --nemesis-interval S    seconds per healed or faulty phase (default 10)\n"
          "  --availability F|total  fail the test unless this fraction of requests\n"
          "                          succeeded (total = 1.0) (default no gate)\n"
          "  --log-stderr            also show the nodes' stderr on the console\n"
          "  --log-net-send          show every message as it is sent\n"
          "  --log-net-recv          show every message as it is delivered\n"
          "  --test-count K          run the test K times, each in its own folder (default 1)\n"
          "\n"
          "whirl's own options:\n"
          "  --seed N                seed of every random choice (default: from the\n"
          "                          clock; always printed); run i of --test-count uses N+i\n"
          "  --store DIR             where runs are written (default ./store)\n"
          "  --message-log-limit N   messages kept in messages.jsonl (default 200000)\n"
          "  --init-timeout S        seconds to wait for init_ok (default 10)\n"
          "  --per-key-limit N       operations on one key before it is retired (default 100)\n"
          "  --process-limit N       processes on one key before it is retired (default 20)\n"
          "  --quiet-period S        healed, request-free seconds before the end (default 0.5)\n"
          "  --final-reads           after the faults end, read every key until a read\n"
          "                          succeeds; report acknowledged writes that were lost\n"
          "                          (on by default with --nemesis kill)\n"
          "  --final-read-timeout S  give up on final reads after S seconds (default 10)\n"
          "  --no-report             skip the HTML/SVG reports (results and histories\n"
          "                          are still written; `whirl report DIR` makes them later)\n"
          "\n"
          "Exit codes: 0 valid, 1 invalid, 2 unknown, 3 the test could not run,\n"
          "64 bad usage.\n",
          out);
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static int parse_long(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

static const struct opt_def *find_opt(const char *arg, const char **inline_value)
{
    *inline_value = NULL;
    for (size_t i = 0; i < sizeof opt_defs / sizeof opt_defs[0]; i++) {
        size_t n = strlen(opt_defs[i].name);
        if (strncmp(arg, opt_defs[i].name, n) != 0)
            continue;
        if (arg[n] == 0)
            return &opt_defs[i];
        if (arg[n] == '=' && opt_defs[i].takes_value) {
            *inline_value = arg + n + 1;
            return &opt_defs[i];
        }
    }
    return NULL;
}

static char *join_command_line(int argc, char **argv)
{
    size_t len = strlen("whirl") + 1;
    for (int i = 0; i < argc; i++)
        len += strlen(argv[i]) + 1;
    char *s = malloc(len);
    if (!s)
        return NULL;
    strcpy(s, "whirl");
    for (int i = 0; i < argc; i++) {
        strcat(s, " ");
        strcat(s, argv[i]);
    }
    return s;
}

int whirl_opts_parse(int argc, char **argv, struct whirl_opts *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    o->workload = "lin-kv";
    o->node_count = 5;
    o->time_limit_s = 60;
    o->rate = 5;
    o->latency_dist = WHIRL_LAT_CONSTANT;
    o->nemesis_interval_s = 10;
    o->availability = -1;
    o->test_count = 1;
    o->store_dir = "store";
    o->message_log_limit = 200000;
    o->init_timeout_s = 10;
    o->per_key_limit = 100;
    o->process_limit = 20;
    o->quiet_s = 0.5;
    o->final_read_timeout_s = 10;
    const char *concurrency = "1n";

    o->bin_args = calloc((size_t)argc + 2, sizeof *o->bin_args);
    o->command_line = join_command_line(argc, argv);
    if (!o->bin_args || !o->command_line)
        return fail(err, errlen, "out of memory");
    int n_bin_args = 1; /* slot 0 is the binary itself */
    bool after_dashes = false;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (after_dashes) {
            o->bin_args[n_bin_args++] = argv[i];
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            if (!o->bin)
                return fail(err, errlen, "'--' before --bin: nothing to pass arguments to");
            after_dashes = true;
            continue;
        }
        const char *value;
        const struct opt_def *d = find_opt(arg, &value);
        if (!d) {
            if (arg[0] == '-')
                return fail(err, errlen, "unknown option %s (options for the node go after a literal --)", arg);
            if (o->bin) {
                o->bin_args[n_bin_args++] = argv[i];
                continue;
            }
            return fail(err, errlen, "unexpected argument '%s' (node arguments go after --bin PATH)", arg);
        }
        if (d->takes_value && !value) {
            if (i + 1 >= argc)
                return fail(err, errlen, "%s needs a value", d->name);
            value = argv[++i];
        }
        long long n;
        double x;
        switch (d->id) {
        case OPT_WORKLOAD:
            if (strcmp(value, "lin-kv") != 0)
                return fail(err, errlen, "unsupported workload '%s' (whirl runs lin-kv)", value);
            o->workload = "lin-kv";
            break;
        case OPT_BIN:
            if (o->bin)
                return fail(err, errlen, "--bin given twice");
            o->bin = value;
            break;
        case OPT_NODE_COUNT:
            if (parse_long(value, &n) || n < 1 || n > 100)
                return fail(err, errlen, "--node-count must be an integer from 1 to 100, not '%s'", value);
            o->node_count = (int)n;
            break;
        case OPT_TIME_LIMIT:
            if (parse_double(value, &x) || x <= 0 || x > 86400 * 7)
                return fail(err, errlen, "--time-limit must be a positive number of seconds, not '%s'", value);
            o->time_limit_s = x;
            break;
        case OPT_RATE:
            if (parse_double(value, &x) || x < 0)
                return fail(err, errlen, "--rate must be a number >= 0, not '%s'", value);
            o->rate = x;
            break;
        case OPT_CONCURRENCY:
            concurrency = value;
            break;
        case OPT_LATENCY:
            if (parse_double(value, &x) || x < 0 || x > 3600e3)
                return fail(err, errlen, "--latency must be a number of milliseconds >= 0, not '%s'", value);
            o->latency_ms = x;
            break;
        case OPT_LATENCY_DIST:
            if (strcmp(value, "constant") == 0)
                o->latency_dist = WHIRL_LAT_CONSTANT;
            else if (strcmp(value, "uniform") == 0)
                o->latency_dist = WHIRL_LAT_UNIFORM;
            else if (strcmp(value, "exponential") == 0)
                o->latency_dist = WHIRL_LAT_EXPONENTIAL;
            else
                return fail(err, errlen, "--latency-dist must be constant, uniform or exponential, not '%s'", value);
            break;
        case OPT_NEMESIS: {
            o->nemesis = 0;
            const char *p = value;
            while (*p) {
                size_t len = strcspn(p, ",");
                if (len == 9 && strncmp(p, "partition", 9) == 0)
                    o->nemesis |= WHIRL_NEMESIS_PARTITION;
                else if (len == 4 && strncmp(p, "kill", 4) == 0)
                    o->nemesis |= WHIRL_NEMESIS_KILL;
                else if (len == 5 && strncmp(p, "pause", 5) == 0)
                    o->nemesis |= WHIRL_NEMESIS_PAUSE;
                else if (!(len == 4 && strncmp(p, "none", 4) == 0))
                    return fail(err, errlen, "--nemesis: unknown fault '%.*s' (partition, kill, pause)", (int)len, p);
                p += len;
                if (*p == ',')
                    p++;
            }
            break;
        }
        case OPT_NEMESIS_INTERVAL:
            if (parse_double(value, &x) || x <= 0)
                return fail(err, errlen, "--nemesis-interval must be a positive number of seconds, not '%s'", value);
            o->nemesis_interval_s = x;
            break;
        case OPT_AVAILABILITY:
            if (strcmp(value, "total") == 0)
                o->availability = 1.0;
            else if (parse_double(value, &x) || x < 0 || x > 1)
                return fail(err, errlen, "--availability must be a fraction from 0 to 1 or 'total', not '%s'", value);
            else
                o->availability = x;
            break;
        case OPT_LOG_STDERR: o->log_stderr = true; break;
        case OPT_LOG_NET_SEND: o->log_net_send = true; break;
        case OPT_LOG_NET_RECV: o->log_net_recv = true; break;
        case OPT_TEST_COUNT:
            if (parse_long(value, &n) || n < 1 || n > 100000)
                return fail(err, errlen, "--test-count must be a positive integer, not '%s'", value);
            o->test_count = (int)n;
            break;
        case OPT_SEED: {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(value, &end, 0);
            if (errno || end == value || *end || value[0] == '-')
                return fail(err, errlen, "--seed must be a non-negative integer, not '%s'", value);
            o->seed = s;
            o->seed_given = true;
            break;
        }
        case OPT_STORE:
            if (!*value)
                return fail(err, errlen, "--store needs a folder");
            o->store_dir = value;
            break;
        case OPT_MESSAGE_LOG_LIMIT:
            if (parse_long(value, &n) || n < 0)
                return fail(err, errlen, "--message-log-limit must be an integer >= 0, not '%s'", value);
            o->message_log_limit = (size_t)n;
            break;
        case OPT_INIT_TIMEOUT:
            if (parse_double(value, &x) || x <= 0)
                return fail(err, errlen, "--init-timeout must be a positive number of seconds, not '%s'", value);
            o->init_timeout_s = x;
            break;
        case OPT_PER_KEY_LIMIT:
            if (parse_long(value, &n) || n < 1)
                return fail(err, errlen, "--per-key-limit must be a positive integer, not '%s'", value);
            o->per_key_limit = (int)(n > 1000000000 ? 1000000000 : n);
            break;
        case OPT_PROCESS_LIMIT:
            if (parse_long(value, &n) || n < 1 || n > 100000)
                return fail(err, errlen, "--process-limit must be a positive integer, not '%s'", value);
            o->process_limit = (int)n;
            break;
        case OPT_FINAL_READS: o->final_reads = true; break;
        case OPT_NO_REPORT: o->no_report = true; break;
        case OPT_FINAL_READ_TIMEOUT:
            if (parse_double(value, &x) || x <= 0 || x > 3600)
                return fail(err, errlen, "--final-read-timeout must be a positive number of seconds, not '%s'", value);
            o->final_read_timeout_s = x;
            break;
        case OPT_QUIET:
            if (parse_double(value, &x) || x < 0 || x > 3600)
                return fail(err, errlen, "--quiet-period must be a number of seconds >= 0, not '%s'", value);
            o->quiet_s = x;
            break;
        }
    }
    if (o->nemesis & WHIRL_NEMESIS_KILL)
        o->final_reads = true;
    if (!o->bin)
        return fail(err, errlen, "--bin PATH is required");
    if (access(o->bin, X_OK) != 0)
        return fail(err, errlen, "--bin %s: not an executable file (%s)", o->bin, strerror(errno));
    o->bin_args[0] = (char *)o->bin;

    size_t clen = strlen(concurrency);
    long long n;
    if (clen > 1 && concurrency[clen - 1] == 'n') {
        char num[32];
        if (clen - 1 >= sizeof num)
            return fail(err, errlen, "--concurrency: bad value '%s'", concurrency);
        memcpy(num, concurrency, clen - 1);
        num[clen - 1] = 0;
        if (parse_long(num, &n) || n < 1 || n * o->node_count > 100000)
            return fail(err, errlen, "--concurrency must be a positive integer or Kn, not '%s'", concurrency);
        o->concurrency = (int)(n * o->node_count);
    } else {
        if (parse_long(concurrency, &n) || n < 1 || n > 100000)
            return fail(err, errlen, "--concurrency must be a positive integer or Kn, not '%s'", concurrency);
        o->concurrency = (int)n;
    }
    return 0;
}

void whirl_opts_free(struct whirl_opts *o)
{
    free(o->bin_args);
    free(o->command_line);
    o->bin_args = NULL;
    o->command_line = NULL;
}
