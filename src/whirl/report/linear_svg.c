/* linear_svg.c - independent/<key>/linear.svg: the final moments before a
 * key's history stopped being linearizable. Time runs left to right, one row
 * per process; each op is a bar from invoke to completion; the op that
 * cannot be linearized is outlined in red, and the register values possible
 * just before it are written under the chart.
 */
#include "whirl/report/pages.h"

#include "whirl/report/html_escape.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIN_MAX_OPS 80
/* Ops of the key before the failing one shown for context. */
#define LIN_CONTEXT_OPS 8
#define LIN_ROW_H 34.0
#define LIN_LEFT 90.0
#define LIN_W 900.0

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* "R 3", "W 2", "CAS 1->4": the op as Knossos labels its bars. */
static void bar_label(char *buf, size_t len, const struct run_op *op)
{
    const char *v = op->request;
    if (op->f == RUN_READ) /* a read that failed with 20 saw the empty register */
        v = op->outcome == RUN_OK ? op->response : op->error && strncmp(op->error, "[20,", 4) == 0 ? "nil" : "?";
    if (!v)
        v = "";
    if (op->f == RUN_CAS && v[0] == '[' && strchr(v, ',')) {
        const char *comma = strchr(v, ',');
        size_t tl = strlen(comma + 1);
        snprintf(buf, len, "CAS %.*s\u2192%.*s", (int)(comma - v - 1), v + 1, (int)(tl ? tl - 1 : 0), comma + 1);
        return;
    }
    snprintf(buf, len, "%s %s", op->f == RUN_READ ? "R" : op->f == RUN_WRITE ? "W" : op->f == RUN_CAS ? "CAS" : op->f_name, v);
}

/* Digits after the point that tell ticks `step` apart. */
static int tick_decimals(double step)
{
    int d = 0;
    while (d < 6 && step * pow(10, d) < 0.999)
        d++;
    return d;
}

int linear_svg_write(const struct run *run, int k, const char *path)
{
    const struct run_key *key = &run->keys[k];
    int failed = key->failed_op;
    size_t n_conc = 0;
    size_t *conc = linear_concurrent_ops(run, k, failed, &n_conc);
    if (!conc)
        return -1;
    /* The window: from the earliest concurrent invoke to the failing op's end. */
    uint64_t w0 = run->end_ns, w1 = 0;
    for (size_t i = 0; i < n_conc; i++) {
        const struct run_op *op = &run->ops[conc[i]];
        w0 = op->t0_ns < w0 ? op->t0_ns : w0;
        uint64_t end = op->completed ? op->t1_ns : op->t0_ns;
        w1 = end > w1 ? end : w1;
    }
    if (failed >= 0 && run->ops[failed].completed)
        w1 = run->ops[failed].t1_ns;
    /* Some history before it too: the last ops of the key that led here. */
    size_t before = 0;
    for (int i = failed - 1; i >= 0 && before < LIN_CONTEXT_OPS; i--) {
        const struct run_op *op = &run->ops[i];
        if (op->key != k)
            continue;
        w0 = op->t0_ns < w0 ? op->t0_ns : w0;
        before++;
    }
    if (n_conc == 0 || w1 <= w0) {
        w0 = 0;
        w1 = run->end_ns ? run->end_ns : 1;
    }
    uint64_t pad = (w1 - w0) / 10 + 1;
    w0 = w0 > pad ? w0 - pad : 0;
    w1 += pad;
    /* The ops drawn: those of the key that overlap the window. */
    size_t *drawn = malloc((run->n_ops + 1) * sizeof *drawn);
    int64_t *procs = malloc((LIN_MAX_OPS + 1) * sizeof *procs);
    FILE *f = drawn && procs ? fopen(path, "w") : NULL;
    if (!f) {
        free(conc);
        free(drawn);
        free(procs);
        return -1;
    }
    size_t nd = 0, np = 0;
    for (size_t i = 0; i < run->n_ops && nd < LIN_MAX_OPS; i++) {
        const struct run_op *op = &run->ops[i];
        if (op->key == k && op->t0_ns <= w1 && op->t1_ns >= w0)
            drawn[nd++] = i;
    }
    for (size_t i = 0; i < nd; i++)
        procs[i] = run->ops[drawn[i]].process;
    qsort(procs, nd, sizeof *procs, cmp_i64);
    for (size_t i = 0; i < nd; i++)
        if (np == 0 || procs[np - 1] != procs[i])
            procs[np++] = procs[i];
    double top = 50, chart_h = np * LIN_ROW_H, notes = 40 + 16.0 * (key->n_possible + 2);
    double height = top + chart_h + 40 + notes, width = LIN_LEFT + LIN_W + 30;
    double span = (double)(w1 - w0);
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
            "font-family=\"sans-serif\" font-size=\"11\">\n"
            "<style>.op rect{stroke:#333;stroke-width:.6}.op.ok rect{fill:#6DB6FE}.op.fail rect{fill:#FEB5DA}"
            ".op.info rect{fill:#FFA400}.op.failed rect{stroke:#d00;stroke-width:3}.proc{fill:#333}"
            ".note{fill:#222}.why{fill:#a00}</style>\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
            "<text x=\"10\" y=\"20\" font-size=\"14\">Key ",
            width, height, width, height);
    html_escape(f, key->text);
    fprintf(f, ": not linearizable (%.3f s to %.3f s)</text>\n", w0 / 1e9, w1 / 1e9);
    double step = svg_nice_step(span / 1e6, 8);
    for (double t = 0; t <= span / 1e6; t += step) {
        double x = LIN_LEFT + t * 1e6 / span * LIN_W;
        fprintf(f,
                "<line class=\"tick\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                "<text class=\"tick-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#666\">%.*f ms</text>\n",
                x, top - 8, x, top + chart_h, x, top + chart_h + 14, tick_decimals(step), (w0 / 1e6) + t);
    }
    for (size_t r = 0; r < np; r++)
        fprintf(f, "<text class=\"proc\" x=\"10\" y=\"%.1f\">process %lld</text>\n", top + r * LIN_ROW_H + 20,
                (long long)procs[r]);
    char label[128];
    for (size_t i = 0; i < nd; i++) {
        const struct run_op *op = &run->ops[drawn[i]];
        size_t row = 0;
        while (row < np && procs[row] != op->process)
            row++;
        uint64_t a = op->t0_ns < w0 ? w0 : op->t0_ns, b = op->t1_ns > w1 ? w1 : op->t1_ns;
        double x = LIN_LEFT + (a - w0) / span * LIN_W, w = (b - a) / span * LIN_W;
        double y = top + row * LIN_ROW_H + 5;
        bool is_failed = (int)drawn[i] == failed;
        /* a click opens the key's timeline at this op */
        fprintf(f, "<a href=\"timeline.html#op=%lld\">", (long long)op->invoke_index);
        fprintf(f, "<g class=\"op %s%s\"><title>", report_run_outcome_names[op->outcome], is_failed ? " failed" : "");
        char *desc = NULL;
        size_t desc_len = 0;
        FILE *m = open_memstream(&desc, &desc_len);
        if (m) {
            linear_describe_op(m, op);
            fclose(m);
            html_escape(f, desc);
            free(desc);
        }
        fprintf(f, "</title><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" rx=\"3\"/>", x, y,
                w > 2 ? w : 2, LIN_ROW_H - 10);
        bar_label(label, sizeof label, op);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">", x + 3, y + 16);
        html_escape(f, label);
        fputs("</text></g></a>\n", f);
    }
    double y = top + chart_h + 40;
    fprintf(f, "<text class=\"note\" x=\"10\" y=\"%.1f\">", y);
    if (failed >= 0) {
        bar_label(label, sizeof label, &run->ops[failed]);
        fprintf(f, "Outlined in red: process %lld's ", (long long)run->ops[failed].process);
        html_escape(f, label);
        fputs(" cannot be linearized.", f);
    } else {
        fputs("The checker did not name the failing operation.", f);
    }
    fputs("</text>\n", f);
    if (key->n_possible) {
        fprintf(f, "<text class=\"note possible\" x=\"10\" y=\"%.1f\">Register values possible just before it:", y + 18);
        for (size_t i = 0; i < key->n_possible; i++) {
            fputs(i ? ", " : " ", f);
            html_escape(f, strcmp(key->possible[i], "null") == 0 ? "nil" : key->possible[i]);
        }
        fputs("</text>\n", f);
        for (size_t i = 0; failed >= 0 && i < key->n_possible; i++) {
            char *why = NULL;
            size_t why_len = 0;
            FILE *m = open_memstream(&why, &why_len);
            if (!m)
                break;
            linear_reason(m, &run->ops[failed], key->possible[i]);
            fclose(m);
            fprintf(f, "<text class=\"why\" x=\"24\" y=\"%.1f\">", y + 36 + 16.0 * i);
            html_escape(f, why);
            fputs("</text>\n", f);
            free(why);
        }
    }
    fputs("</svg>\n", f);
    free(conc);
    free(drawn);
    free(procs);
    int bad = ferror(f);
    bad |= fclose(f);
    return bad ? -1 : 0;
}
