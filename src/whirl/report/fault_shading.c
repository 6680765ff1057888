/* fault_shading.c - what the plots share: outcome colours, the fault periods
 * shaded behind the data, and the width of the time windows.
 */
#include "whirl/report/pages.h"

const char *const report_outcome_colors[RUN_OUTCOME_COUNT] = {"#6DB6FE", "#FEB5DA", "#FFA400"};
const char *const report_fault_colors[RUN_FAULT_COUNT] = {"#bbbbbb", "#f4a3a3", "#f2dc8c", "#c8b6e2"};

void report_shade_faults(struct svg_plot *p, const struct run *run)
{
    for (size_t i = 0; i < run->n_periods; i++) {
        const struct run_period *pd = &run->periods[i];
        svg_plot_shade(p, pd->t0_ns / 1e9, pd->t1_ns / 1e9, report_fault_colors[pd->fault], pd->label);
    }
}

/* About 40 windows over the run, at a round width, never under 100 ms, so a
 * rate is an average over enough requests to mean something. */
double report_plot_window_s(const struct run *run)
{
    double w = svg_nice_step(run->end_ns / 1e9, 40);
    return w < 0.1 ? 0.1 : w;
}
