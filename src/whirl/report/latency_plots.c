/* latency_plots.c - latency-raw.svg (every completed request: latency over
 * time, log scale, by function and outcome) and latency-quantiles.svg (0.5,
 * 0.95, 0.99 and 1 of each function's latency per time window).
 */
#include "whirl/report/pages.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Above this many points, markers lose their hover titles: the file would
 * otherwise grow by ~80 bytes a point for little use. */
#define LATENCY_TITLED_POINTS_MAX 5000
/* Above this many, points are drawn as dots of one path per outcome. */
#define LATENCY_ELEMENT_POINTS_MAX 20000

static const enum svg_shape f_shapes[RUN_F_COUNT] = {SVG_CIRCLE, SVG_SQUARE, SVG_TRIANGLE, SVG_CIRCLE};
static const char *const f_dashes[RUN_F_COUNT] = {NULL, "6 3", "2 2", "8 2 2 2"};

static double latency_ms(const struct run_op *op)
{
    double ms = (op->t1_ns - op->t0_ns) / 1e6;
    return ms > 0.001 ? ms : 0.001;
}

/* A log range covering [lo, hi] in whole powers of ten. */
static void log_range(double lo, double hi, double *y0, double *y1)
{
    if (!(lo > 0) || !(hi >= lo)) {
        *y0 = 1;
        *y1 = 1000;
        return;
    }
    *y0 = pow(10, floor(log10(lo)));
    *y1 = pow(10, ceil(log10(hi)));
    if (*y1 <= *y0)
        *y1 = *y0 * 10;
}

static void plot_frame(struct svg_plot *p, const struct run *run, const char *title, double y0, double y1)
{
    memset(p, 0, sizeof *p);
    p->width = 900;
    p->height = 420;
    p->left = 70;
    p->right = 150;
    p->top = 30;
    p->bottom = 50;
    p->x0 = 0;
    p->x1 = run->end_ns > 0 ? run->end_ns / 1e9 : 1;
    p->y0 = y0;
    p->y1 = y1;
    p->log_y = true;
    p->title = title;
    p->x_label = "time (s)";
    p->y_label = "latency (ms)";
}

/* One dotted path per outcome: shapes by function would cost an element a
 * point, and a browser opening 100,000 elements takes seconds. */
static int dots_write(struct svg_plot *p, const struct run *run)
{
    double *xs = malloc((run->n_ops + 1) * sizeof *xs), *ys = malloc((run->n_ops + 1) * sizeof *ys);
    if (!xs || !ys) {
        free(xs);
        free(ys);
        return -1;
    }
    for (int o = 0; o < RUN_OUTCOME_COUNT; o++) {
        size_t n = 0;
        for (size_t i = 0; i < run->n_ops; i++) {
            const struct run_op *op = &run->ops[i];
            if (op->completed && op->outcome == o) {
                xs[n] = op->t0_ns / 1e9;
                ys[n++] = latency_ms(op);
            }
        }
        char title[64];
        snprintf(title, sizeof title, "%s: %zu requests", report_run_outcome_names[o], n);
        svg_plot_dots(p, xs, ys, n, report_outcome_colors[o], title);
    }
    free(xs);
    free(ys);
    return 0;
}

static int raw_write(const struct run *run)
{
    double lo = INFINITY, hi = 0;
    size_t n = 0;
    for (size_t i = 0; i < run->n_ops; i++) {
        if (!run->ops[i].completed)
            continue;
        double ms = latency_ms(&run->ops[i]);
        lo = ms < lo ? ms : lo;
        hi = ms > hi ? ms : hi;
        n++;
    }
    struct svg_plot p;
    double y0, y1;
    log_range(lo, hi, &y0, &y1);
    plot_frame(&p, run, "Raw latency", y0, y1);
    char path[4200];
    if (report_run_path(path, sizeof path, run->dir, "latency-raw.svg") != 0 || svg_plot_begin(&p, path) != 0)
        return -1;
    report_shade_faults(&p, run);
    svg_plot_axes(&p);
    if (n <= LATENCY_ELEMENT_POINTS_MAX) {
        char title[160];
        for (size_t i = 0; i < run->n_ops; i++) {
            const struct run_op *op = &run->ops[i];
            if (!op->completed)
                continue;
            double ms = latency_ms(op);
            if (n <= LATENCY_TITLED_POINTS_MAX)
                snprintf(title, sizeof title, "%s %s: %.3f ms at %.3f s, process %lld", op->f_name,
                         report_run_outcome_names[op->outcome], ms, op->t0_ns / 1e9, (long long)op->process);
            svg_plot_point(&p, op->t0_ns / 1e9, ms, report_outcome_colors[op->outcome], f_shapes[op->f],
                           n <= LATENCY_TITLED_POINTS_MAX ? title : NULL);
        }
    } else if (dots_write(&p, run) != 0) {
        svg_plot_end(&p);
        return -1;
    }
    struct svg_legend_entry legend[RUN_F_COUNT - 1 + RUN_OUTCOME_COUNT];
    int nl = 0;
    for (int f = 0; f < RUN_F_OTHER; f++)
        legend[nl++] = (struct svg_legend_entry){report_run_f_names[f], "#555", f_shapes[f], NULL, false};
    for (int o = 0; o < RUN_OUTCOME_COUNT; o++)
        legend[nl++] = (struct svg_legend_entry){report_run_outcome_names[o], report_outcome_colors[o], SVG_SQUARE, NULL, false};
    svg_plot_legend(&p, legend, nl);
    return svg_plot_end(&p);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank quantile of sorted values. */
static double quantile(const double *v, size_t n, double q)
{
    size_t i = (size_t)ceil(q * n);
    return v[i > 0 ? i - 1 : 0];
}

static const double quantiles[] = {0.5, 0.95, 0.99, 1};
static const char *const quantile_names[] = {"0.5", "0.95", "0.99", "1"};
static const char *const quantile_colors[] = {"#1f77b4", "#2ca02c", "#ff7f0e", "#d62728"};
#define N_QUANTILES 4

static int quantiles_write(const struct run *run)
{
    double window = report_plot_window_s(run);
    size_t n_windows = (size_t)(run->end_ns / 1e9 / window) + 1;
    /* Bucket latencies per (function, window); ops are counted at invoke. */
    size_t *count = calloc(RUN_F_COUNT * n_windows, sizeof *count);
    size_t *start = calloc(RUN_F_COUNT * n_windows + 1, sizeof *start);
    double *lat = malloc((run->n_ops + 1) * sizeof *lat);
    double *xs = malloc(n_windows * sizeof *xs), *ys = malloc(n_windows * sizeof *ys);
    int rc = -1;
    if (!count || !start || !lat || !xs || !ys)
        goto out;
    double lo = INFINITY, hi = 0;
    for (size_t i = 0; i < run->n_ops; i++) {
        const struct run_op *op = &run->ops[i];
        if (op->completed) {
            count[op->f * n_windows + (size_t)(op->t0_ns / 1e9 / window)]++;
            double ms = latency_ms(op);
            lo = ms < lo ? ms : lo;
            hi = ms > hi ? ms : hi;
        }
    }
    for (size_t b = 0; b < RUN_F_COUNT * n_windows; b++)
        start[b + 1] = start[b] + count[b];
    memset(count, 0, RUN_F_COUNT * n_windows * sizeof *count);
    for (size_t i = 0; i < run->n_ops; i++) {
        const struct run_op *op = &run->ops[i];
        if (op->completed) {
            size_t b = op->f * n_windows + (size_t)(op->t0_ns / 1e9 / window);
            lat[start[b] + count[b]++] = latency_ms(op);
        }
    }
    struct svg_plot p;
    double y0, y1;
    log_range(lo, hi, &y0, &y1);
    plot_frame(&p, run, "Latency quantiles", y0, y1);
    char path[4200];
    if (report_run_path(path, sizeof path, run->dir, "latency-quantiles.svg") != 0 || svg_plot_begin(&p, path) != 0)
        goto out;
    report_shade_faults(&p, run);
    svg_plot_axes(&p);
    for (int f = 0; f < RUN_F_COUNT; f++) {
        for (int q = 0; q < N_QUANTILES; q++) {
            int n = 0;
            for (size_t w = 0; w < n_windows; w++) {
                size_t b = f * n_windows + w;
                if (count[b] == 0)
                    continue;
                qsort(lat + start[b], count[b], sizeof *lat, cmp_double);
                xs[n] = (w + 0.5) * window;
                ys[n++] = quantile(lat + start[b], count[b], quantiles[q]);
            }
            char title[64];
            snprintf(title, sizeof title, "%s, quantile %s", report_run_f_names[f], quantile_names[q]);
            svg_plot_line(&p, xs, ys, n, quantile_colors[q], f_dashes[f], f_shapes[f], title);
        }
    }
    struct svg_legend_entry legend[N_QUANTILES + RUN_F_COUNT];
    int nl = 0;
    for (int q = 0; q < N_QUANTILES; q++)
        legend[nl++] = (struct svg_legend_entry){quantile_names[q], quantile_colors[q], SVG_NO_SHAPE, NULL, true};
    for (int f = 0; f < RUN_F_OTHER; f++)
        legend[nl++] = (struct svg_legend_entry){report_run_f_names[f], "#555", f_shapes[f], f_dashes[f], true};
    svg_plot_legend(&p, legend, nl);
    rc = svg_plot_end(&p);
out:
    free(count);
    free(start);
    free(lat);
    free(xs);
    free(ys);
    return rc;
}

int latency_plots_write(const struct run *run)
{
    int a = raw_write(run);
    int b = quantiles_write(run);
    return a == 0 && b == 0 ? 0 : -1;
}
