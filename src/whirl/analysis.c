/* analysis.c - checking a finished run and summarising it. */
#include "whirl/analysis.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "whirl/durability.h"
#include "whirl/recovery.h"
#include "whirl/stats.h"
#include "whirl/workload.h"

#define EXPLAIN_MAX_KEYS 3

const char *whirl_verdict_line(enum whirl_verdict v)
{
    switch (v) {
    case WHIRL_VALID: return "Everything looks good! ヽ(‘ー`)ノ";
    case WHIRL_INVALID: return "Analysis invalid! (ﾉಥ益ಥ）ﾉ ┻━┻";
    default: return "Errors occurred during analysis, but no anomalies found. ಠ~ಠ";
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double percentile_ms(const uint64_t *sorted, size_t n, double q)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)ceil(q * (double)n);
    i = i == 0 ? 0 : i - 1;
    if (i >= n)
        i = n - 1;
    return (double)sorted[i] / 1e6;
}

static json_t *latency_json(uint64_t *lat, size_t n)
{
    qsort(lat, n, sizeof *lat, cmp_u64);
    return json_pack("{s:I, s:f, s:f, s:f, s:f}", "count", (json_int_t)n, "p50", percentile_ms(lat, n, 0.50), "p95",
                     percentile_ms(lat, n, 0.95), "p99", percentile_ms(lat, n, 0.99), "max",
                     n ? (double)lat[n - 1] / 1e6 : 0.0);
}

/* Feeds the client events to the checker's builder and checks every key. */
static enum lin_verdict check_keys(struct whirl_run *run, struct check_history *ch)
{
    char key[32], a[16], b[16];
    for (size_t i = 0; i < run->history.n; i++) {
        const struct whirl_event *e = &run->history.ev[i];
        if (e->process == WHIRL_PROCESS_NEMESIS)
            continue;
        snprintf(key, sizeof key, "%lld", (long long)e->key);
        snprintf(a, sizeof a, "%d", e->a);
        snprintf(b, sizeof b, "%d", e->b);
        struct check_event ce = {.process = e->process, .type = (enum check_type)e->type, .key = key,
                                 .error = e->has_error ? e->error_code : CHECK_NO_ERROR, .index = (int64_t)i,
                                 .time = e->time_ns};
        switch (e->f) {
        case WHIRL_F_READ:
            ce.f = LIN_READ;
            ce.value = e->type == WHIRL_EV_OK && e->value_json && strcmp(e->value_json, "null") != 0 ? e->value_json
                                                                                                 : NULL;
            break;
        case WHIRL_F_WRITE:
            ce.f = LIN_WRITE;
            ce.value = a;
            break;
        default:
            ce.f = LIN_CAS;
            ce.value = a;
            ce.value_to = b;
            break;
        }
        if (check_history_add(ch, &ce) != 0)
            return LIN_UNKNOWN;
    }
    if (check_history_finish(ch) != 0)
        return LIN_UNKNOWN;
    return check_history_run(ch, NULL);
}

static json_t *verdict_json(enum lin_verdict v)
{
    return v == LIN_VALID ? json_true() : v == LIN_INVALID ? json_false() : json_string("unknown");
}

static json_t *keys_json(struct whirl_run *run, struct check_history *ch, size_t counts[3])
{
    json_t *keys = json_object();
    size_t explained = 0;
    for (size_t k = 0; k < ch->n_keys; k++) {
        struct check_key *ck = &ch->keys[k];
        enum lin_verdict v = ck->report.verdict;
        counts[v]++;
        json_t *kj = json_pack("{s:o, s:I}", "valid", verdict_json(v), "ops", (json_int_t)ck->n_ops);
        if (v == LIN_INVALID && ck->report.failed_op < ck->n_ops) {
            json_object_set_new(kj, "failed_op_index", json_integer(ck->ops[ck->report.failed_op].id));
            json_t *possible = json_array();
            for (size_t i = 0; i < ck->report.n_possible; i++) {
                const char *t = lin_values_text(ch->values, ck->report.possible[i]);
                json_t *pv = t && strcmp(t, "nil") != 0 ? json_loads(t, JSON_DECODE_ANY, NULL) : json_null();
                json_array_append_new(possible, pv ? pv : json_string(t));
            }
            json_object_set_new(kj, "possible", possible);
            char *text = NULL;
            size_t text_len = 0;
            FILE *mem = open_memstream(&text, &text_len);
            if (mem) {
                check_explain_key(mem, ch, k, false);
                fclose(mem);
                json_object_set_new(kj, "explanation", json_string(text ? text : ""));
                if (explained++ < EXPLAIN_MAX_KEYS && text)
                    whirl_say(run, "key %s is not linearizable:\n%s", ck->key, text);
                free(text);
            }
        } else if (v == LIN_UNKNOWN) {
            json_object_set_new(kj, "reason", json_string(ck->report.reason));
            whirl_say(run, "key %s: could not decide (%s)", ck->key, ck->report.reason);
        }
        json_object_set_new(keys, ck->key, kj);
    }
    return keys;
}

enum whirl_verdict whirl_analyse(struct whirl_run *run)
{
    const struct whirl_opts *o = run->opts;
    /* Counts by function and outcome, and the stats verdict. */
    struct whirl_stats st;
    whirl_stats_compute(run->history.ev, run->history.n, &st);
    /* Latencies, pairing each completion with its thread's invoke. */
    uint64_t *invoke_ns = calloc((size_t)(run->n_clients ? run->n_clients : 1), sizeof *invoke_ns);
    uint64_t *lat_all = malloc((run->history.n + 1) * sizeof *lat_all);
    uint64_t *lat_f[3];
    size_t n_lat = 0, n_lat_f[3] = {0, 0, 0};
    for (int f = 0; f < 3; f++)
        lat_f[f] = malloc((run->history.n + 1) * sizeof *lat_f[f]);
    uint64_t invocations = 0, answered = 0;
    for (size_t i = 0; i < run->history.n && invoke_ns && lat_all && lat_f[0] && lat_f[1] && lat_f[2]; i++) {
        const struct whirl_event *e = &run->history.ev[i];
        if (e->process == WHIRL_PROCESS_NEMESIS || e->f > WHIRL_F_CAS)
            continue;
        size_t thread = (size_t)(e->process % run->n_clients);
        if (e->type == WHIRL_EV_INVOKE) {
            invocations++;
            invoke_ns[thread] = e->time_ns;
            continue;
        }
        if (e->type == WHIRL_EV_OK) {
            uint64_t l = e->time_ns - invoke_ns[thread];
            lat_all[n_lat++] = l;
            lat_f[e->f][n_lat_f[e->f]++] = l;
        }
        if (e->type == WHIRL_EV_OK ||
            (e->type == WHIRL_EV_FAIL && e->has_error && (e->error_code == 20 || e->error_code == 22)))
            answered++;
    }

    struct check_history ch;
    enum lin_verdict lin = LIN_UNKNOWN;
    size_t key_counts[3] = {0, 0, 0};
    json_t *keys = NULL;
    if (check_history_init(&ch) == 0) {
        lin = check_keys(run, &ch);
        keys = keys_json(run, &ch, key_counts);
        check_history_free(&ch);
    }
    if (!keys)
        keys = json_object();

    double duration_s = o->time_limit_s;
    uint64_t n_ok = st.n[WHIRL_F_READ][WHIRL_EV_OK] + st.n[WHIRL_F_WRITE][WHIRL_EV_OK] + st.n[WHIRL_F_CAS][WHIRL_EV_OK];
    double ok_fraction = invocations ? (double)n_ok / (double)invocations : 1;
    double answered_fraction = invocations ? (double)answered / (double)invocations : 1;
    bool available = o->availability < 0 || ok_fraction + 1e-12 >= o->availability;

    enum whirl_verdict verdict = lin == LIN_INVALID ? WHIRL_INVALID : lin == LIN_UNKNOWN ? WHIRL_UNKNOWN : WHIRL_VALID;
    if (!available || !st.valid)
        verdict = WHIRL_INVALID;

    /* Console summary. */
    static const char *const fnames[3] = {"read", "write", "cas"};
    whirl_say(run, "%s", "");
    whirl_say(run, "Operations (%llu requests, %.0f/s):", (unsigned long long)invocations,
              (double)invocations / duration_s);
    for (int f = 0; f < 3; f++)
        whirl_say(run, "  %-5s  ok %8llu   fail %8llu   info %8llu", fnames[f],
                  (unsigned long long)st.n[f][WHIRL_EV_OK], (unsigned long long)st.n[f][WHIRL_EV_FAIL],
                  (unsigned long long)st.n[f][WHIRL_EV_INFO]);
    if (!st.valid)
        whirl_say(run, "!!! STATS: %s", st.reason);
    json_t *stats = whirl_stats_json(&st);
    json_t *lat = json_object();
    json_t *lat_total = latency_json(lat_all, n_lat);
    whirl_say(run, "Latency of ok requests (ms): p50 %.2f  p95 %.2f  p99 %.2f  max %.2f",
              json_real_value(json_object_get(lat_total, "p50")), json_real_value(json_object_get(lat_total, "p95")),
              json_real_value(json_object_get(lat_total, "p99")), json_real_value(json_object_get(lat_total, "max")));
    json_object_set_new(lat, "all", lat_total);
    for (int f = 0; f < 3; f++)
        json_object_set_new(lat, fnames[f], latency_json(lat_f[f], n_lat_f[f]));
    double per_op = invocations ? (double)run->net.server_msgs / (double)invocations : 0;
    whirl_say(run, "Messages: %llu between servers (%.2f per request), %llu between clients and servers, %llu dropped",
              (unsigned long long)run->net.server_msgs, per_op, (unsigned long long)run->net.client_msgs,
              (unsigned long long)run->net.dropped);
    whirl_say(run, "Availability: %.2f%% of requests ok, %.2f%% answered from the data (ok, or error 20/22)%s",
              ok_fraction * 100, answered_fraction * 100,
              o->availability < 0 ? "" : available ? " - meets --availability" : " - BELOW --availability");
    whirl_say(run, "Keys: %zu checked: %zu valid, %zu invalid, %zu unknown",
              key_counts[0] + key_counts[1] + key_counts[2], key_counts[0], key_counts[1], key_counts[2]);

    json_t *extra = json_object();
    json_object_set_new(extra, "recovery", whirl_recovery_json(run));
    size_t n_lost = 0;
    json_t *lost = whirl_lost_writes_json(run, extra, &n_lost);
    if (n_lost > 0)
        verdict = WHIRL_INVALID;

    json_t *nodes = json_array();
    json_t *problems = json_array();
    for (int i = 0; i < run->n_nodes; i++) {
        struct whirl_node *node = &run->nodes[i];
        json_array_append_new(nodes, json_pack("{s:s, s:b, s:I, s:i, s:I, s:I, s:s?, s:I, s:I}", "id", node->id,
                                               "crashed", node->crashed, "exit_status", (json_int_t)node->exit_status,
                                               "signal", node->term_signal, "lines", (json_int_t)node->lines_out,
                                               "junk_lines", (json_int_t)node->junk_lines, "first_junk",
                                               node->junk_lines ? node->first_junk : NULL, "restarts",
                                               (json_int_t)node->restarts, "restart_inits_missed",
                                               (json_int_t)node->restart_inits_missed));
        char text[400];
        if (node->restart_inits_missed) {
            snprintf(text, sizeof text, "node %s did not answer init after %llu of its %llu restarts", node->id,
                     (unsigned long long)node->restart_inits_missed, (unsigned long long)node->restarts);
            json_array_append_new(problems, json_string(text));
        }
        if (node->crashed) {
            if (node->term_signal)
                snprintf(text, sizeof text, "node %s was killed by signal %d", node->id, node->term_signal);
            else
                snprintf(text, sizeof text, "node %s exited unexpectedly with status %lld", node->id,
                         (long long)node->exit_status);
            json_array_append_new(problems, json_string(text));
            whirl_say(run, "!!! %s (see node-logs/%s.log)", text, node->id);
        }
        if (node->junk_lines) {
            snprintf(text, sizeof text, "node %s wrote %llu line(s) that are not valid messages; first: %s", node->id,
                     (unsigned long long)node->junk_lines, node->first_junk);
            json_array_append_new(problems, json_string(text));
            whirl_say(run, "!!! %s", text);
        }
    }
    if (run->bad_replies) {
        char text[200];
        snprintf(text, sizeof text, "%llu client replies broke the protocol (wrong type or missing fields)",
                 (unsigned long long)run->bad_replies);
        json_array_append_new(problems, json_string(text));
        whirl_say(run, "!!! %s", text);
    }

    json_t *nemesis = json_array();
    if (o->nemesis & WHIRL_NEMESIS_PARTITION)
        json_array_append_new(nemesis, json_string("partition"));
    if (o->nemesis & WHIRL_NEMESIS_KILL)
        json_array_append_new(nemesis, json_string("kill"));
    if (o->nemesis & WHIRL_NEMESIS_PAUSE)
        json_array_append_new(nemesis, json_string("pause"));
    static const char *const dists[3] = {"constant", "uniform", "exponential"};
    json_t *results = json_pack(
        "{s:o, s:I, s:s, s:i, s:{s:i, s:i, s:f, s:f, s:f, s:s, s:o, s:f}, s:o, s:o,"
        " s:{s:I, s:I, s:I, s:f, s:I}, s:{s:f, s:f, s:o, s:b}, s:{s:o, s:I, s:I, s:I}, s:o, s:o, s:o, s:o,"
        " s:I, s:f}",
        "valid", verdict == WHIRL_VALID ? json_true() : verdict == WHIRL_INVALID ? json_false() : json_string("unknown"),
        "seed", (json_int_t)run->seed, "command", o->command_line ? o->command_line : "", "run", run->run_number,
        "options", "node_count", o->node_count, "concurrency", o->concurrency, "time_limit", o->time_limit_s, "rate",
        o->rate, "latency", o->latency_ms, "latency_dist", dists[o->latency_dist], "nemesis", nemesis,
        "nemesis_interval", o->nemesis_interval_s, "stats", stats, "latency_ms", lat, "net", "servers_msgs",
        (json_int_t)run->net.server_msgs, "clients_msgs", (json_int_t)run->net.client_msgs, "dropped",
        (json_int_t)run->net.dropped, "servers_msgs_per_request", per_op, "stale_replies",
        (json_int_t)run->net.stale_replies, "availability", "ok_fraction", ok_fraction, "answered_fraction",
        answered_fraction, "required", o->availability < 0 ? json_null() : json_real(o->availability), "valid",
        available, "linearizable", "valid", verdict_json(lin), "keys_valid", (json_int_t)key_counts[0],
        "keys_invalid", (json_int_t)key_counts[1], "keys_unknown", (json_int_t)key_counts[2], "keys", keys, "nodes",
        nodes, "problems", problems, "lost_writes", lost, "requests", (json_int_t)invocations, "requests_per_s",
        (double)invocations / duration_s);
    if (results) {
        json_object_update(results, extra);
        char path[4200];
        snprintf(path, sizeof path, "%s/results.json", run->dir);
        if (json_dump_file(results, path, JSON_INDENT(1) | JSON_ENSURE_ASCII) != 0)
            whirl_say(run, "whirl: cannot write %s", path);
        json_decref(results);
    } else {
        whirl_say(run, "whirl: cannot build results.json");
    }
    json_decref(extra);
    free(invoke_ns);
    free(lat_all);
    for (int f = 0; f < 3; f++)
        free(lat_f[f]);
    return verdict;
}
