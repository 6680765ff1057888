/* check_cmd.c - `whirl check [options] FILE...`: reads each history, checks
 * every key's register and prints one verdict line per file, with a concise
 * explanation under each invalid key.
 */
#include "whirl/check_cmd.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check/check.h"

/* Keys explained in full without --verbose; later ones get one line. */
#define WHIRL_CHECK_EXPLAINED_KEYS 3

static void whirl_check_usage(FILE *out)
{
    fprintf(out,
            "usage: whirl check [--max-states N] [--max-seconds S] [--format jsonl|edn|log] [--connection-order]\n"
            "                   [--model register|string|expiry] [--verbose] FILE...\n"
            "  Checks each history for linearizability against a model per key, and prints\n"
            "  `FILE valid|invalid|unknown`. The model is the one that takes every function\n"
            "  in the history (read/write/cas: a compare-and-set register; get/set/incr/\n"
            "  append/getset/del: a Redis string; with deadlines or ttl: keys with expiry)\n"
            "  unless --model names one.\n"
            "  FILE: whirl's history.jsonl, Maelstrom's history.edn, or Jepsen log lines;\n"
            "        the format is detected from the content, else the extension; a run\n"
            "        folder (e.g. store/latest) means the history in it.\n"
            "  --max-states N   give up on a key (unknown) after N memoized configurations\n"
            "  --max-seconds S  give up on a key (unknown) after S seconds\n"
            "  --format F       do not detect the format\n"
            "  --connection-order  each process is a pipelining connection: its requests may\n"
            "                   overlap, completions answer them in order, and they must take\n"
            "                   effect in the order they were sent (checked within each key)\n"
            "  --verbose        explain invalid keys in full, and list per-key verdicts\n"
            "  exit: 0 all valid, 1 any invalid, 3 any file unreadable, 2 any unknown, 64 usage\n");
}

static const char *whirl_verdict_name(enum lin_verdict v)
{
    return v == LIN_VALID ? "valid" : v == LIN_INVALID ? "invalid" : "unknown";
}

static bool whirl_parse_number(const char *s, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (!*s || *end || errno || d < 0)
        return false;
    *out = d;
    return true;
}

/* Prints key i's explanation, indented under its key line. */
static void whirl_check_explain(const struct check_history *h, size_t i, bool verbose)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem)
        return;
    check_explain_key(mem, h, i, verbose);
    fclose(mem);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        printf("    %s\n", line);
    free(text);
}

/* Checks one file; returns its verdict, or -1 if unreadable. */
static int whirl_check_file(const char *path, enum check_format format, const char *model,
                            const struct lin_limits *limits,
                            bool verbose)
{
    struct check_history h;
    char err[512];
    if (check_history_init(&h) != 0) {
        fprintf(stderr, "whirl check: out of memory\n");
        return -1;
    }
    h.connection_order = limits->connection_order;
    h.model_name = model;
    /* A run folder (store/latest) stands for the history in it. */
    char in_dir[4096];
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(in_dir, sizeof in_dir, "%s/history.jsonl", path);
        if (access(in_dir, R_OK) != 0)
            snprintf(in_dir, sizeof in_dir, "%s/history.edn", path);
        path = in_dir;
    }
    int rc = check_history_read(path, format, &h, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "whirl check: %s\n", err);
        printf("%s unreadable\n", path);
        check_history_free(&h);
        return -1;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    enum lin_verdict v = check_history_run(&h, limits);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%s %s\n", path, whirl_verdict_name(v));
    if (verbose) {
        double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
        uint64_t states = 0;
        size_t ops = 0;
        for (size_t k = 0; k < h.n_keys; k++) {
            states += h.keys[k].report.states_explored;
            ops += h.keys[k].n_ops;
        }
        printf("  %zu key%s, %zu events, %zu ops checked, %zu dropped (definite failures, unknown reads), "
               "%llu configurations, checked in %.1f ms\n",
               h.n_keys, h.n_keys == 1 ? "" : "s", h.n_events, ops, h.n_dropped, (unsigned long long)states, ms);
    }
    size_t explained = 0;
    for (size_t i = 0; i < h.n_keys; i++) {
        const struct check_key *k = &h.keys[i];
        enum lin_verdict kv = k->report.verdict;
        /* Valid keys are listed only on request, and only for a few keys. */
        if (kv == LIN_VALID && (!verbose || h.n_keys > 20))
            continue;
        if (h.n_keys > 1 || k->key[0])
            printf("  key %s: %s\n", k->key, whirl_verdict_name(kv));
        if (kv == LIN_VALID)
            continue;
        if (!verbose && explained == WHIRL_CHECK_EXPLAINED_KEYS) {
            /* Past the first few, one line says what failed. */
            char d[256];
            if (kv == LIN_INVALID && k->report.failed_op < k->n_ops) {
                lin_op_describe(d, sizeof d, &k->ops[k->report.failed_op], h.values);
                printf("    cannot linearize: %s  [event %lld]\n", d, (long long)k->ops[k->report.failed_op].id);
            } else if (kv == LIN_UNKNOWN) {
                printf("    %s\n", k->report.reason);
            }
            continue;
        }
        explained++;
        whirl_check_explain(&h, i, verbose);
    }
    check_history_free(&h);
    return (int)v;
}

int whirl_check_main(int argc, char **argv)
{
    struct lin_limits limits = {0};
    enum check_format format = CHECK_FORMAT_AUTO;
    bool verbose = false;
    const char *model = NULL;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        double d;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            whirl_check_usage(stdout);
            return 0;
        }
        if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
            verbose = true;
        } else if (strcmp(a, "--connection-order") == 0) {
            limits.connection_order = true;
        } else if (strcmp(a, "--model") == 0) {
            if (i + 1 >= argc || !lin_model_named(argv[i + 1])) {
                fprintf(stderr, "whirl check: --model must be register, string or expiry\n");
                whirl_check_usage(stderr);
                return WHIRL_CHECK_EXIT_USAGE;
            }
            model = argv[++i];
        } else if (strcmp(a, "--max-states") == 0 || strcmp(a, "--max-seconds") == 0 || strcmp(a, "--format") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "whirl check: %s needs a value\n", a);
                whirl_check_usage(stderr);
                return WHIRL_CHECK_EXIT_USAGE;
            }
            const char *val = argv[++i];
            if (strcmp(a, "--format") == 0) {
                format = strcmp(val, "jsonl") == 0 ? CHECK_FORMAT_JSONL
                         : strcmp(val, "edn") == 0 ? CHECK_FORMAT_EDN
                         : strcmp(val, "log") == 0 ? CHECK_FORMAT_JEPSEN_LOG
                                                   : CHECK_FORMAT_AUTO;
                if (format == CHECK_FORMAT_AUTO) {
                    fprintf(stderr, "whirl check: --format must be jsonl, edn or log, not \"%s\"\n", val);
                    return WHIRL_CHECK_EXIT_USAGE;
                }
            } else if (!whirl_parse_number(val, &d) || (strcmp(a, "--max-states") == 0 && d < 1)) {
                fprintf(stderr, "whirl check: %s wants a positive number, not \"%s\"\n", a, val);
                whirl_check_usage(stderr);
                return WHIRL_CHECK_EXIT_USAGE;
            } else if (strcmp(a, "--max-states") == 0) {
                limits.max_states = (uint64_t)d;
            } else {
                limits.max_seconds = d;
            }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "whirl check: unknown option %s\n", a);
            whirl_check_usage(stderr);
            return WHIRL_CHECK_EXIT_USAGE;
        } else {
            break;
        }
    }
    if (i >= argc) {
        fprintf(stderr, "whirl check: no history file given\n");
        whirl_check_usage(stderr);
        return WHIRL_CHECK_EXIT_USAGE;
    }
    bool any_invalid = false, any_unknown = false, any_unreadable = false;
    for (; i < argc; i++) {
        int v = whirl_check_file(argv[i], format, model, &limits, verbose);
        any_unreadable |= v < 0;
        any_invalid |= v == LIN_INVALID;
        any_unknown |= v == LIN_UNKNOWN;
        fflush(stdout);
    }
    /* An invalid verdict is the most important news; an unreadable file
     * outranks unknown, since it was not checked at all. */
    if (any_invalid)
        return 1;
    if (any_unreadable)
        return WHIRL_CHECK_EXIT_UNREADABLE;
    return any_unknown ? 2 : 0;
}
