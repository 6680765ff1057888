/* svg_plot.c - the SVG chart writer behind latency-raw, latency-quantiles and
 * rate plots. Coordinates are written with one decimal: plenty for screen
 * pixels and a third of the bytes of %g.
 */
#include "whirl/report/svg_plot.h"

#include "whirl/report/html_escape.h"

#include <math.h>

static double frame_w(const struct svg_plot *p)
{
    return p->width - p->left - p->right;
}

static double frame_h(const struct svg_plot *p)
{
    return p->height - p->top - p->bottom;
}

double svg_plot_px(const struct svg_plot *p, double x)
{
    double span = p->x1 > p->x0 ? p->x1 - p->x0 : 1;
    return p->left + (x - p->x0) / span * frame_w(p);
}

double svg_plot_py(const struct svg_plot *p, double y)
{
    double a, b, v;
    if (p->log_y) {
        a = log10(p->y0);
        b = log10(p->y1);
        v = log10(y > p->y0 ? y : p->y0);
    } else {
        a = p->y0;
        b = p->y1;
        v = y;
    }
    if (v > b)
        v = b;
    if (v < a)
        v = a;
    double span = b > a ? b - a : 1;
    return p->top + frame_h(p) - (v - a) / span * frame_h(p);
}

int svg_plot_begin(struct svg_plot *p, const char *path)
{
    p->f = fopen(path, "w");
    if (!p->f)
        return -1;
    fprintf(p->f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
            "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"11\">\n"
            "<style>.tick{stroke:#888}.grid{stroke:#e4e4e4}.axis{stroke:#222;fill:none}"
            ".lbl{fill:#222}.pt{stroke-width:0.5;fill-opacity:0.7}.series{fill:none;stroke-width:1.5}"
            ".nemesis{fill-opacity:0.35}</style>\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            p->width, p->height, p->width, p->height);
    if (p->title) {
        fprintf(p->f, "<text class=\"lbl title\" x=\"%.1f\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">",
                p->left + frame_w(p) / 2);
        html_escape(p->f, p->title);
        fputs("</text>\n", p->f);
    }
    return 0;
}

int svg_plot_end(struct svg_plot *p)
{
    fputs("</svg>\n", p->f);
    int bad = ferror(p->f);
    bad |= fclose(p->f);
    p->f = NULL;
    return bad ? -1 : 0;
}

void svg_plot_shade(struct svg_plot *p, double x0, double x1, const char *fill, const char *label)
{
    if (x0 < p->x0)
        x0 = p->x0;
    if (x1 > p->x1)
        x1 = p->x1;
    if (x1 <= x0)
        return;
    double a = svg_plot_px(p, x0), b = svg_plot_px(p, x1);
    fprintf(p->f, "<rect class=\"nemesis\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">",
            a, p->top, b - a > 0.5 ? b - a : 0.5, frame_h(p), fill);
    if (label) {
        fputs("<title>", p->f);
        html_escape(p->f, label);
        fputs("</title>", p->f);
    }
    fputs("</rect>\n", p->f);
}

double svg_nice_step(double range, int want)
{
    if (!(range > 0) || want < 1)
        return 1;
    double raw = range / want;
    double mag = pow(10, floor(log10(raw)));
    double r = raw / mag;
    double step = r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10;
    return step * mag;
}

static void tick_label(char *buf, size_t len, double v)
{
    if (fabs(v) < 1e-12)
        v = 0;
    snprintf(buf, len, "%g", v);
}

/* A labelled y tick at value y, with its grid line across the frame. */
static void y_major_tick(struct svg_plot *p, double y)
{
    double fl = p->left, fr = p->left + frame_w(p), py = svg_plot_py(p, y);
    char buf[32];
    tick_label(buf, sizeof buf, y);
    fprintf(p->f,
            "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
            "<line class=\"tick\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
            "<text class=\"lbl tick-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
            fl, py, fr, py, fl - 6, py, fl, py, fl - 8, py + 4, buf);
}

void svg_plot_axes(struct svg_plot *p)
{
    FILE *f = p->f;
    double fl = p->left, ft = p->top, fr = p->left + frame_w(p), fb = p->top + frame_h(p);
    char buf[32];
    /* x: linear ticks with grid lines */
    double step = svg_nice_step(p->x1 - p->x0, 8);
    fputs("<g class=\"x-axis\">\n", f);
    for (double x = ceil(p->x0 / step) * step; x <= p->x1 + step * 1e-9; x += step) {
        double px = svg_plot_px(p, x);
        tick_label(buf, sizeof buf, x);
        fprintf(f,
                "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                "<line class=\"tick\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                "<text class=\"lbl tick-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                px, ft, px, fb, px, fb, px, fb + 5, px, fb + 17, buf);
    }
    fputs("</g>\n<g class=\"y-axis\">\n", f);
    if (p->log_y) {
        for (int e = (int)floor(log10(p->y0)); pow(10, e) <= p->y1 * 1.000001; e++) {
            for (int m = 1; m <= 9; m++) {
                double y = m * pow(10, e);
                if (y < p->y0 * 0.999999 || y > p->y1 * 1.000001)
                    continue;
                double py = svg_plot_py(p, y);
                if (m == 1) {
                    y_major_tick(p, y);
                } else {
                    fprintf(f, "<line class=\"tick minor\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
                            fl - 3, py, fl, py);
                }
            }
        }
    } else {
        double ys = svg_nice_step(p->y1 - p->y0, 6);
        for (double y = ceil(p->y0 / ys) * ys; y <= p->y1 + ys * 1e-9; y += ys) {
            y_major_tick(p, y);
        }
    }
    fputs("</g>\n", f);
    fprintf(f, "<rect class=\"axis frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n", fl, ft,
            fr - fl, fb - ft);
    if (p->x_label) {
        fprintf(f, "<text class=\"lbl axis-label x-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">",
                (fl + fr) / 2, fb + 34);
        html_escape(f, p->x_label);
        fputs("</text>\n", f);
    }
    if (p->y_label) {
        fprintf(f,
                "<text class=\"lbl axis-label y-label\" transform=\"translate(%.1f %.1f) rotate(-90)\" "
                "text-anchor=\"middle\">",
                fl - 48, (ft + fb) / 2);
        html_escape(f, p->y_label);
        fputs("</text>\n", f);
    }
}

static void shape_at(FILE *f, double x, double y, const char *color, enum svg_shape shape, double r,
                     const char *cls)
{
    switch (shape) {
    case SVG_SQUARE:
        fprintf(f, "<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" stroke=\"%s\"",
                cls, x - r, y - r, 2 * r, 2 * r, color, color);
        break;
    case SVG_TRIANGLE:
        fprintf(f, "<path class=\"%s\" d=\"M%.1f %.1fl%.1f %.1fh%.1fz\" fill=\"%s\" stroke=\"%s\"", cls, x,
                y - r, r, 2 * r, -2 * r, color, color);
        break;
    default:
        fprintf(f, "<circle class=\"%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\" stroke=\"%s\"", cls, x, y,
                r, color, color);
    }
}

static void close_shape(FILE *f, const char *title, enum svg_shape shape)
{
    const char *tag = shape == SVG_SQUARE ? "rect" : shape == SVG_TRIANGLE ? "path" : "circle";
    if (!title) {
        fputs("/>\n", f);
        return;
    }
    fputs("><title>", f);
    html_escape(f, title);
    fprintf(f, "</title></%s>\n", tag);
}

void svg_plot_point(struct svg_plot *p, double x, double y, const char *color, enum svg_shape shape,
                    const char *title)
{
    if (shape == SVG_NO_SHAPE)
        return;
    shape_at(p->f, svg_plot_px(p, x), svg_plot_py(p, y), color, shape, 2.2, "pt");
    close_shape(p->f, title, shape);
}

void svg_plot_dots(struct svg_plot *p, const double *xs, const double *ys, size_t n, const char *color,
                   const char *title)
{
    if (n == 0)
        return;
    fprintf(p->f, "<path class=\"pts\" data-n=\"%zu\" stroke=\"%s\" stroke-width=\"4\" stroke-linecap=\"round\" "
                  "stroke-opacity=\"0.7\" fill=\"none\" d=\"", n, color);
    for (size_t i = 0; i < n; i++)
        fprintf(p->f, "M%.1f %.1fh0", svg_plot_px(p, xs[i]), svg_plot_py(p, ys[i]));
    fputs("\">", p->f);
    if (title) {
        fputs("<title>", p->f);
        html_escape(p->f, title);
        fputs("</title>", p->f);
    }
    fputs("</path>\n", p->f);
}

void svg_plot_line(struct svg_plot *p, const double *xs, const double *ys, int n, const char *color,
                   const char *dash, enum svg_shape shape, const char *title)
{
    if (n <= 0)
        return;
    fprintf(p->f, "<polyline class=\"series\" stroke=\"%s\"%s%s%s points=\"", color, dash ? " stroke-dasharray=\"" : "",
            dash ? dash : "", dash ? "\"" : "");
    for (int i = 0; i < n; i++)
        fprintf(p->f, "%s%.1f,%.1f", i ? " " : "", svg_plot_px(p, xs[i]), svg_plot_py(p, ys[i]));
    fputs("\">", p->f);
    if (title) {
        fputs("<title>", p->f);
        html_escape(p->f, title);
        fputs("</title>", p->f);
    }
    fputs("</polyline>\n", p->f);
    for (int i = 0; i < n && shape != SVG_NO_SHAPE; i++)
        svg_plot_point(p, xs[i], ys[i], color, shape, NULL);
}

void svg_plot_legend(struct svg_plot *p, const struct svg_legend_entry *e, int n)
{
    double x = p->left + frame_w(p) + 14, y = p->top + 8;
    fputs("<g class=\"legend\">\n", p->f);
    for (int i = 0; i < n; i++, y += 16) {
        if (e[i].line)
            fprintf(p->f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"%s%s%s/>",
                    x, y, x + 18, y, e[i].color, e[i].dash ? " stroke-dasharray=\"" : "", e[i].dash ? e[i].dash : "",
                    e[i].dash ? "\"" : "");
        if (e[i].shape != SVG_NO_SHAPE) {
            shape_at(p->f, x + 9, y, e[i].color, e[i].shape, 3, "legend-mark");
            fputs("/>", p->f);
        }
        fprintf(p->f, "<text class=\"lbl\" x=\"%.1f\" y=\"%.1f\">", x + 24, y + 4);
        html_escape(p->f, e[i].label);
        fputs("</text>\n", p->f);
    }
    fputs("</g>\n", p->f);
}
