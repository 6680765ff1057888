/* svg_plot.h - a small hand-written SVG chart writer: a frame with linear or
 * log-scale axes, ticks and labels, shaded fault periods, point markers,
 * polylines and a legend. Enough for whirl's latency and rate plots, with no
 * gnuplot to install.
 *
 * Elements carry classes the browser test counts: "axis", "tick", "pt",
 * "series", "nemesis", "legend".
 */
#ifndef RAFTKV_WHIRL_REPORT_SVG_PLOT_H
#define RAFTKV_WHIRL_REPORT_SVG_PLOT_H

#include <stdbool.h>
#include <stdio.h>

enum svg_shape { SVG_CIRCLE, SVG_SQUARE, SVG_TRIANGLE, SVG_NO_SHAPE };

struct svg_plot {
    FILE *f;
    double width, height;                   /* whole image, px */
    double left, right, top, bottom;        /* margins around the frame, px */
    double x0, x1, y0, y1;                  /* data range; y0 > 0 for log_y */
    bool log_y;
    const char *title, *x_label, *y_label;
};

struct svg_legend_entry {
    const char *label;
    const char *color;
    enum svg_shape shape;
    const char *dash; /* stroke-dasharray for a line entry, NULL for none */
    bool line;
};

/* Opens path for writing and writes the header; the caller has filled the
 * geometry, ranges and labels. Returns 0, or -1 if the file cannot open. */
int svg_plot_begin(struct svg_plot *p, const char *path);
/* Finishes and closes the file. Returns 0, or -1 on a write error. */
int svg_plot_end(struct svg_plot *p);

double svg_plot_px(const struct svg_plot *p, double x);
double svg_plot_py(const struct svg_plot *p, double y);

/* A shaded vertical band from x0 to x1 (clipped to the frame). */
void svg_plot_shade(struct svg_plot *p, double x0, double x1, const char *fill, const char *label);
/* The frame, grid, ticks and tick labels, and the axis labels. */
void svg_plot_axes(struct svg_plot *p);
/* One marker; title (may be NULL) shows on hover. */
void svg_plot_point(struct svg_plot *p, double x, double y, const char *color, enum svg_shape shape,
                    const char *title);
/* n points of one series as a single path of round dots: for plots with too
 * many points to give each its own element (browsers slow down past ~10^4).
 * The path has class "pts" and data-n="n". */
void svg_plot_dots(struct svg_plot *p, const double *xs, const double *ys, size_t n, const char *color,
                   const char *title);
/* A polyline through n points, with optional markers. */
void svg_plot_line(struct svg_plot *p, const double *xs, const double *ys, int n, const char *color,
                   const char *dash, enum svg_shape shape, const char *title);
/* The legend, to the right of the frame. */
void svg_plot_legend(struct svg_plot *p, const struct svg_legend_entry *e, int n);

/* "Nice" linear tick step for a range, aiming at about `want` ticks. */
double svg_nice_step(double range, int want);

#endif
