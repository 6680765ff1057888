/* index_html.c - a run's index.html: the verdict and why, the numbers
 * (counts with the stats verdict, latencies, messages, availability, faults,
 * seed, command line), links to every report and raw file that exists, and
 * the per-key verdicts.
 */
#include "whirl/report/pages.h"

#include "whirl/report/html_escape.h"

#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const verdict_colors[4] = {"#2e9d46", "#d62728", "#f0a020", "#999999"};

static bool exists(const struct run *run, const char *rel)
{
    char path[4400];
    return report_run_path(path, sizeof path, run->dir, rel) == 0 && access(path, R_OK) == 0;
}

/* A link to rel if the file exists; nothing otherwise. */
static void link_if(FILE *f, const struct run *run, const char *rel, const char *what)
{
    if (!exists(run, rel))
        return;
    fputs("<li><a href=\"", f);
    html_escape(f, rel);
    fputs("\">", f);
    html_escape(f, rel);
    fputs("</a> ", f);
    html_escape(f, what);
    fputs("</li>\n", f);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void latency_row(FILE *f, const struct run *run, int fn, double *buf)
{
    size_t n = 0;
    for (size_t i = 0; i < run->n_ops; i++)
        if (run->ops[i].outcome == RUN_OK && (fn < 0 || run->ops[i].f == fn))
            buf[n++] = (run->ops[i].t1_ns - run->ops[i].t0_ns) / 1e6;
    if (n == 0)
        return;
    qsort(buf, n, sizeof *buf, cmp_double);
    fprintf(f, "<tr><td>%s</td><td>%zu</td>", fn < 0 ? "all" : report_run_f_names[fn], n);
    const double qs[] = {0.5, 0.95, 0.99, 1};
    for (int q = 0; q < 4; q++) {
        size_t i = (size_t)ceil(qs[q] * n);
        fprintf(f, "<td>%.2f</td>", buf[i ? i - 1 : 0]);
    }
    fputs("</tr>\n", f);
}

/* A results.json value as HTML: objects as nested name/value tables (two
 * levels), reals rounded, anything else as compact JSON. */
static void json_html(FILE *f, const json_t *v, int depth)
{
    if (json_is_object(v) && depth < 2 && json_object_size(v) > 0) {
        const char *k;
        json_t *x;
        fputs("<table class=\"inner\">", f);
        json_object_foreach((json_t *)v, k, x) {
            fputs("<tr><th>", f);
            html_escape(f, k);
            fputs("</th><td>", f);
            json_html(f, x, depth + 1);
            fputs("</td></tr>", f);
        }
        fputs("</table>", f);
    } else if (json_is_real(v)) {
        fprintf(f, "%.4g", json_real_value(v));
    } else if (json_is_string(v)) {
        fputs("<code>", f);
        html_escape(f, json_string_value(v));
        fputs("</code>", f);
    } else {
        char *s = report_run_json_text(v, 2000);
        fputs("<code>", f);
        html_escape(f, s);
        fputs("</code>", f);
        free(s);
    }
}

static void summary_value(FILE *f, const char *name, const json_t *v)
{
    if (!v)
        return;
    fputs("<tr><th>", f);
    html_escape(f, name);
    fputs("</th><td>", f);
    json_html(f, v, 0);
    fputs("</td></tr>\n", f);
}

/* The stats verdict: results.json's (stats.valid, stats.reason) when it has
 * one, else worked out from the ops with the same rule (stats.h): a function
 * that was invoked but never completed ok makes the run invalid. */
static void stats_verdict(FILE *f, const struct run *run, size_t c[RUN_F_COUNT][RUN_OUTCOME_COUNT])
{
    const json_t *st = json_object_get(run->results, "stats");
    const json_t *valid = json_object_get(st, "valid");
    if (json_is_boolean(valid)) {
        const char *reason = json_string_value(json_object_get(st, "reason"));
        enum run_verdict v = json_is_true(valid) ? RUN_VALID : RUN_INVALID;
        fprintf(f, "<p class=\"stats\">Stats: <b style=\"color:%s\">%s</b>", verdict_colors[v],
                report_run_verdict_names[v]);
        if (json_is_true(valid)) {
            fputs(": every function that was invoked succeeded at least once.", f);
        } else {
            fputs(": ", f);
            html_escape(f, reason ? reason : "some function never succeeded");
            fputs(".", f);
        }
        fputs("</p>\n", f);
        return;
    }
    bool any = false;
    for (int fn = RUN_READ; fn <= RUN_CAS; fn++) {
        if (c[fn][RUN_OK] > 0 || c[fn][RUN_FAIL] + c[fn][RUN_INFO] == 0)
            continue;
        if (!any)
            fprintf(f, "<p class=\"stats\">Stats (from the history): <b style=\"color:%s\">invalid</b>:",
                    verdict_colors[RUN_INVALID]);
        fprintf(f, "%s no %s ever succeeded (0 ok, %zu fail, %zu info)", any ? ";" : "", report_run_f_names[fn],
                c[fn][RUN_FAIL], c[fn][RUN_INFO]);
        any = true;
    }
    if (any)
        fputs(".</p>\n", f);
}

static void counts_table(FILE *f, const struct run *run)
{
    size_t c[RUN_F_COUNT][RUN_OUTCOME_COUNT] = {{0}};
    size_t pending = 0;
    for (size_t i = 0; i < run->n_ops; i++) {
        c[run->ops[i].f][run->ops[i].outcome]++;
        pending += !run->ops[i].completed;
    }
    fputs("<h2>Operations</h2><table><tr><th>function</th><th>ok</th><th>fail</th><th>info</th><th>total</th></tr>\n", f);
    size_t tot[RUN_OUTCOME_COUNT] = {0};
    for (int fn = 0; fn < RUN_F_COUNT; fn++) {
        size_t t = c[fn][0] + c[fn][1] + c[fn][2];
        if (t == 0)
            continue;
        fprintf(f, "<tr><td>%s</td><td>%zu</td><td>%zu</td><td>%zu</td><td>%zu</td></tr>\n", report_run_f_names[fn], c[fn][0],
                c[fn][1], c[fn][2], t);
        for (int o = 0; o < RUN_OUTCOME_COUNT; o++)
            tot[o] += c[fn][o];
    }
    size_t all = tot[0] + tot[1] + tot[2];
    fprintf(f, "<tr><th>all</th><th>%zu</th><th>%zu</th><th>%zu</th><th>%zu</th></tr></table>\n", tot[0], tot[1], tot[2],
            all);
    fprintf(f, "<p>Availability (ok / all requests): <b>%.2f%%</b>. %zu requests never answered (counted as info).",
            all ? 100.0 * tot[0] / all : 0.0, pending);
    if (run->skipped_lines)
        fprintf(f, " %zu malformed history lines were skipped.", run->skipped_lines);
    fputs("</p>\n", f);
    stats_verdict(f, run, c);
}

/* Why an invalid run is invalid, from results.json: every check that
 * failed, or "not linearizable" when results.json does not say. */
static void invalid_reasons(FILE *f, const struct run *run)
{
    const json_t *r = run->results;
    const json_t *lost = json_object_get(r, "lost_writes");
    const char *why[4];
    int n = 0;
    if (json_is_false(json_object_get(json_object_get(r, "linearizable"), "valid")))
        why[n++] = "not linearizable";
    if (json_is_false(json_object_get(json_object_get(r, "stats"), "valid")))
        why[n++] = "some operation never succeeded";
    if (json_is_array(lost) && json_array_size(lost) > 0)
        why[n++] = "acknowledged writes lost";
    if (json_is_false(json_object_get(json_object_get(r, "availability"), "valid")))
        why[n++] = "availability below --availability";
    if (n == 0)
        why[n++] = "not linearizable";
    fputs("Analysis invalid: ", f);
    for (int i = 0; i < n; i++)
        fprintf(f, "%s%s", i ? "; " : "", why[i]);
}

static void keys_table(FILE *f, const struct run *run)
{
    size_t by[4] = {0};
    for (size_t k = 0; k < run->n_keys; k++)
        by[run->keys[k].verdict]++;
    fprintf(f, "<h2>Keys</h2><p>%zu keys: %zu valid, %zu invalid, %zu unknown, %zu without a verdict.</p>\n",
            run->n_keys, by[0], by[1], by[2], by[3]);
    fputs("<table class=\"keys\"><tr><th>key</th><th>verdict</th><th>ops</th><th>pages</th></tr>\n", f);
    /* Invalid keys first: they are why anyone opens this page. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t k = 0; k < run->n_keys; k++) {
            const struct run_key *key = &run->keys[k];
            if ((pass == 0) != (key->verdict == RUN_INVALID))
                continue;
            fprintf(f, "<tr class=\"%s\"><td><code>", report_run_verdict_names[key->verdict]);
            html_escape(f, key->text);
            fprintf(f, "</code></td><td style=\"color:%s\"><b>%s</b></td><td>%zu</td><td>",
                    verdict_colors[key->verdict], report_run_verdict_names[key->verdict], key->n_ops);
            const char *pages[] = {"timeline.html", "linear.svg", "linear.txt"};
            for (int p = 0; p < 3; p++) {
                char rel[512];
                snprintf(rel, sizeof rel, "independent/%s/%s", key->dir, pages[p]);
                if (!exists(run, rel))
                    continue;
                fputs("<a href=\"independent/", f);
                html_url_segment(f, key->dir);
                fprintf(f, "/%s\">%s</a> ", pages[p], pages[p]);
            }
            if (key->verdict == RUN_INVALID && key->failed_op >= 0) {
                fputs("<a href=\"independent/", f);
                html_url_segment(f, key->dir);
                fprintf(f, "/timeline.html#op=%lld\">the failing op</a>",
                        (long long)run->ops[key->failed_op].invoke_index);
            }
            fputs("</td></tr>\n", f);
        }
    }
    fputs("</table>\n", f);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void node_logs(FILE *f, const struct run *run)
{
    char path[4400];
    if (report_run_path(path, sizeof path, run->dir, "node-logs") != 0)
        return;
    DIR *d = opendir(path);
    if (!d)
        return;
    char *names[512];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 512)
        if (e->d_name[0] != '.')
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (!names[i])
            continue;
        fputs("<li><a href=\"node-logs/", f);
        html_url_segment(f, names[i]);
        fputs("\">node-logs/", f);
        html_escape(f, names[i]);
        fputs("</a></li>\n", f);
        free(names[i]);
    }
}

int index_html_write(const struct run *run, const struct run_msg_stats *ms)
{
    char path[4200];
    if (report_run_path(path, sizeof path, run->dir, "index.html") != 0)
        return -1;
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    /* The run's own folder name, also when reached through store/latest. */
    char real[PATH_MAX];
    const char *dir = realpath(run->dir, real) ? real : run->dir;
    const char *slash = strrchr(dir, '/');
    const char *name = slash && slash[1] ? slash + 1 : dir;
    fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>", f);
    html_escape(f, name);
    fputs(" - whirl run</title><style>body{font-family:sans-serif;margin:20px;max-width:1200px}"
          "table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}"
          ".verdict{font-size:22px;color:#fff;padding:8px 14px;display:inline-block;border-radius:4px}"
          "img{max-width:100%;border:1px solid #eee;margin:4px 0}code{white-space:pre-wrap;word-break:break-all}"
          "pre{background:#f6f6f6;padding:8px;overflow:auto;max-height:400px}"
          "table.inner{margin:0}table.inner td,table.inner th{border:none;border-bottom:1px solid #f0f0f0;padding:1px 6px}</style></head>\n<body>\n<h1>Run ",
          f);
    html_escape(f, name);
    fprintf(f, "</h1>\n<div class=\"verdict %s\" style=\"background:%s\">", report_run_verdict_names[run->verdict],
            verdict_colors[run->verdict]);
    if (run->verdict == RUN_INVALID)
        invalid_reasons(f, run);
    else
        fputs(run->verdict == RUN_VALID     ? "Everything looks good: linearizable"
              : run->verdict == RUN_UNKNOWN ? "Unknown: the checker could not decide"
                                            : "No verdict (results.json missing)",
              f);
    fputs("</div>\n", f);
    if (run->checked_here)
        fputs("<p><i>No results.json: the verdicts were computed by whirl report from history.jsonl.</i></p>\n", f);
    fputs("<h2>Summary</h2><table>\n", f);
    fprintf(f, "<tr><th>duration</th><td>%.3f s</td></tr>\n", run->end_ns / 1e9);
    if (run->results) {
        const char *fields[] = {"seed",         "command", "run",          "options",  "requests",
                                "requests_per_s", "net",   "availability", "linearizable", "lost_writes",
                                "problems",     "nodes"};
        const size_t n_fields = sizeof fields / sizeof *fields;
        for (size_t i = 0; i < n_fields; i++)
            summary_value(f, fields[i], json_object_get(run->results, fields[i]));
        /* then whatever else the runtime adds, except what has its own section */
        const char *name;
        json_t *v;
        json_object_foreach(run->results, name, v) {
            bool shown = strcmp(name, "valid") == 0 || strcmp(name, "keys") == 0 || strcmp(name, "stats") == 0 ||
                         strcmp(name, "latency_ms") == 0;
            for (size_t i = 0; i < n_fields && !shown; i++)
                shown = strcmp(name, fields[i]) == 0;
            if (!shown)
                summary_value(f, name, v);
        }
    }
    fputs("</table>\n", f);
    counts_table(f, run);
    double *buf = malloc((run->n_ops + 1) * sizeof *buf);
    if (buf) {
        fputs("<h2>Latency of ok requests (ms)</h2><table><tr><th>function</th><th>n</th><th>0.5</th><th>0.95</th>"
              "<th>0.99</th><th>max</th></tr>\n",
              f);
        for (int fn = -1; fn < RUN_F_COUNT; fn++)
            latency_row(f, run, fn, buf);
        fputs("</table>\n", f);
        free(buf);
    }
    if (run->have_messages)
        fprintf(f,
                "<h2>Messages</h2><table><tr><th>all</th><td>%zu</td></tr><tr><th>client-server</th><td>%zu</td></tr>"
                "<tr><th>server-server</th><td>%zu</td></tr><tr><th>dropped</th><td>%zu</td></tr></table>\n",
                ms->total, ms->client_server, ms->server_server, ms->dropped);
    if (run->n_periods) {
        fputs("<h2>Faults</h2><table><tr><th>fault</th><th>from (s)</th><th>to (s)</th><th>what</th></tr>\n", f);
        for (size_t i = 0; i < run->n_periods; i++) {
            const struct run_period *p = &run->periods[i];
            fprintf(f, "<tr><td style=\"background:%s\">%s</td><td>%.3f</td><td>%.3f</td><td>", report_fault_colors[p->fault],
                    report_run_fault_names[p->fault], p->t0_ns / 1e9, p->t1_ns / 1e9);
            html_escape(f, p->label);
            fputs("</td></tr>\n", f);
        }
        fputs("</table>\n", f);
    }
    keys_table(f, run);
    fputs("<h2>Reports</h2><ul>\n", f);
    link_if(f, run, "timeline.html", "every operation by process over time");
    link_if(f, run, "latency-raw.svg", "latency of each request");
    link_if(f, run, "latency-quantiles.svg", "latency quantiles over time");
    link_if(f, run, "rate.svg", "requests per second");
    link_if(f, run, "messages.svg", "Lamport diagram of the first messages");
    link_if(f, run, "messages-invalid.svg", "Lamport diagram around the first invalid operation");
    fputs("</ul><h2>Raw files</h2><ul>\n", f);
    link_if(f, run, "results.json", "the checker's results");
    link_if(f, run, "history.jsonl", "the history");
    link_if(f, run, "history.txt", "the history, Jepsen's columns");
    link_if(f, run, "history.edn", "the history, Jepsen's EDN");
    link_if(f, run, "messages.jsonl", "the messages");
    link_if(f, run, "whirl.log", "the console output");
    node_logs(f, run);
    fputs("</ul>\n", f);
    const char *plots[] = {"latency-raw.svg", "latency-quantiles.svg", "rate.svg"};
    for (int i = 0; i < 3; i++)
        if (exists(run, plots[i]))
            fprintf(f, "<div><a href=\"%s\"><img src=\"%s\" alt=\"%s\"></a></div>\n", plots[i], plots[i], plots[i]);
    if (run->results) {
        char *s = json_dumps(run->results, JSON_INDENT(1));
        fputs("<h2>results.json</h2><details><summary>show</summary><pre>", f);
        html_escape(f, s);
        fputs("</pre></details>\n", f);
        free(s);
    }
    fputs("</body></html>\n", f);
    int bad = ferror(f);
    bad |= fclose(f);
    return bad ? -1 : 0;
}
