/* rate_plot.c - rate.svg: completed requests per second over time, one line
 * per function and outcome (colour = outcome, dash = function), fault
 * periods shaded.
 */
#include "whirl/report/pages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const enum svg_shape f_shapes[RUN_F_COUNT] = {SVG_CIRCLE, SVG_SQUARE, SVG_TRIANGLE, SVG_CIRCLE};
static const char *const f_dashes[RUN_F_COUNT] = {NULL, "6 3", "2 2", "8 2 2 2"};

int rate_plot_write(const struct run *run)
{
    double window = report_plot_window_s(run);
    size_t n_windows = (size_t)(run->end_ns / 1e9 / window) + 1;
    size_t n_series = RUN_F_COUNT * RUN_OUTCOME_COUNT;
    size_t *count = calloc(n_series * n_windows, sizeof *count);
    double *xs = malloc(n_windows * sizeof *xs), *ys = malloc(n_windows * sizeof *ys);
    int rc = -1;
    if (!count || !xs || !ys)
        goto out;
    double max_rate = 0;
    for (size_t i = 0; i < run->n_ops; i++) {
        const struct run_op *op = &run->ops[i];
        if (!op->completed)
            continue;
        size_t c = ++count[(op->f * RUN_OUTCOME_COUNT + op->outcome) * n_windows + (size_t)(op->t1_ns / 1e9 / window)];
        if (c / window > max_rate)
            max_rate = c / window;
    }
    struct svg_plot p;
    memset(&p, 0, sizeof p);
    p.width = 900;
    p.height = 420;
    p.left = 70;
    p.right = 150;
    p.top = 30;
    p.bottom = 50;
    p.x0 = 0;
    p.x1 = run->end_ns > 0 ? run->end_ns / 1e9 : 1;
    p.y0 = 0;
    p.y1 = max_rate > 0 ? max_rate * 1.1 : 1;
    p.title = "Throughput";
    p.x_label = "time (s)";
    p.y_label = "requests/s";
    char path[4200];
    if (report_run_path(path, sizeof path, run->dir, "rate.svg") != 0 || svg_plot_begin(&p, path) != 0)
        goto out;
    report_shade_faults(&p, run);
    svg_plot_axes(&p);
    for (int f = 0; f < RUN_F_COUNT; f++) {
        for (int o = 0; o < RUN_OUTCOME_COUNT; o++) {
            const size_t *c = count + (f * RUN_OUTCOME_COUNT + o) * n_windows;
            size_t total = 0;
            for (size_t w = 0; w < n_windows; w++)
                total += c[w];
            if (total == 0)
                continue; /* a series that never happened only clutters */
            for (size_t w = 0; w < n_windows; w++) {
                xs[w] = (w + 0.5) * window;
                ys[w] = c[w] / window;
            }
            char title[64];
            snprintf(title, sizeof title, "%s %s: %zu requests", report_run_f_names[f], report_run_outcome_names[o], total);
            svg_plot_line(&p, xs, ys, (int)n_windows, report_outcome_colors[o], f_dashes[f], f_shapes[f], title);
        }
    }
    struct svg_legend_entry legend[RUN_F_COUNT + RUN_OUTCOME_COUNT];
    int nl = 0;
    for (int f = 0; f < RUN_F_OTHER; f++)
        legend[nl++] = (struct svg_legend_entry){report_run_f_names[f], "#555", f_shapes[f], f_dashes[f], true};
    for (int o = 0; o < RUN_OUTCOME_COUNT; o++)
        legend[nl++] = (struct svg_legend_entry){report_run_outcome_names[o], report_outcome_colors[o], SVG_NO_SHAPE, NULL, true};
    svg_plot_legend(&p, legend, nl);
    rc = svg_plot_end(&p);
out:
    free(count);
    free(xs);
    free(ys);
    return rc;
}
