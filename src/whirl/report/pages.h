/* pages.h - the writers of each report file, called by report_write.c in
 * turn. Each takes the loaded run and writes one file (or one family of
 * files) into the run folder; each returns 0 or -1 (file could not be
 * written). Internal to src/whirl/report.
 */
#ifndef RAFTKV_WHIRL_REPORT_PAGES_H
#define RAFTKV_WHIRL_REPORT_PAGES_H

#include "whirl/report/run.h"
#include "whirl/report/svg_plot.h"

#include <stdio.h>

/* Jepsen's outcome colours, used on every page. */
extern const char *const report_outcome_colors[RUN_OUTCOME_COUNT];
/* The fill of each fault kind's shaded period. */
extern const char *const report_fault_colors[RUN_FAULT_COUNT];

/* Shades every nemesis period of the run on a plot whose x axis is seconds. */
void report_shade_faults(struct svg_plot *p, const struct run *run);
/* The time window (seconds) used by the quantile and rate plots. */
double report_plot_window_s(const struct run *run);

/* timeline.html for key k (k < 0: every key) at path. */
int timeline_write(const struct run *run, int k, const char *path);
/* latency-raw.svg and latency-quantiles.svg in the run folder. */
int latency_plots_write(const struct run *run);
/* rate.svg in the run folder. */
int rate_plot_write(const struct run *run);
/* A Lamport diagram of msgs at path; [from_ns, to_ns) is the window shown.
 * mark (may be NULL): an op whose span is shaded across the diagram. */
int messages_svg_write(const struct run_op *mark, const struct run_msg *msgs, size_t n, uint64_t from_ns,
                       uint64_t to_ns, const char *title, const char *path);
/* independent/<key>/linear.svg and linear.txt for an invalid key k. */
int linear_svg_write(const struct run *run, int k, const char *path);
int linear_text_write(const struct run *run, int k, const char *path);
/* One op on one line: process, function, request, outcome, times, index. */
void linear_describe_op(FILE *f, const struct run_op *op);
/* Why op cannot take effect on a register holding v (JSON text), one line. */
void linear_reason(FILE *f, const struct run_op *op, const char *v);
/* The ops (indexes into run.ops) of key k that overlap op `failed` in time,
 * the failed op included, by invoke time; malloc'd. */
size_t *linear_concurrent_ops(const struct run *run, int k, int failed, size_t *n);
/* index.html, linking only the files that exist. */
int index_html_write(const struct run *run, const struct run_msg_stats *msg_stats);

#endif
