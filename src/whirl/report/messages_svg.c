/* messages_svg.c - messages.svg and messages-invalid.svg: Lamport diagrams.
 * Every node and client is a vertical line, time flows down, each message is
 * an arrow from its send to its receive, labelled with its type, its body on
 * hover; a dropped message ends halfway in a cross.
 *
 * Time is drawn by order, not to scale: every distinct send or receive time
 * gets its own row, as in a Lamport diagram, so a request and its reply a
 * few microseconds apart never draw on top of each other. The left margin
 * gives the real times. The caller bounds the number of messages.
 *
 * A marked op (one that cannot be linearized) is shaded across its span, and
 * its client's line is drawn in red: whirl's history process p talks to the
 * cluster as client "c<p+1>" (workload.c), so the column is known exactly.
 */
#include "whirl/report/pages.h"

#include "whirl/report/html_escape.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MSG_COL_W 110.0
#define MSG_LEFT 80.0
#define MSG_TOP 50.0
#define MSG_ROW_H 13.0

/* Nodes before clients, each group by number: n2 before n10. */
static int cmp_participant(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    bool cx = x[0] == 'c', cy = y[0] == 'c';
    if (cx != cy)
        return cx ? 1 : -1;
    long nx = strtol(x + 1, NULL, 10), ny = strtol(y + 1, NULL, 10);
    if (nx != ny)
        return nx < ny ? -1 : 1;
    return strcmp(x, y);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The y of time t: its row among the sorted distinct times. */
static double row_y(const uint64_t *times, size_t rows, uint64_t t)
{
    size_t lo = 0, hi = rows;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (times[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return MSG_TOP + (lo + 0.5) * MSG_ROW_H;
}

static int find_participant(const char **ps, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(ps[i], id) == 0)
            return (int)i;
    return -1;
}

int messages_svg_write(const struct run_op *mark, const struct run_msg *msgs, size_t n, uint64_t from_ns,
                       uint64_t to_ns, const char *title, const char *path)
{
    const char **ps = malloc((2 * n + 1) * sizeof *ps);
    if (!ps)
        return -1;
    size_t np = 0;
    for (size_t i = 0; i < n; i++) {
        if (find_participant(ps, np, msgs[i].src) < 0)
            ps[np++] = msgs[i].src;
        if (find_participant(ps, np, msgs[i].dest) < 0)
            ps[np++] = msgs[i].dest;
    }
    qsort(ps, np, sizeof *ps, cmp_participant);
    /* The rows: distinct event times, in order. */
    uint64_t *times = malloc((2 * n + 1) * sizeof *times);
    if (!times) {
        free(ps);
        return -1;
    }
    size_t nt = 0;
    for (size_t i = 0; i < n; i++) {
        times[nt++] = msgs[i].send_ns;
        if (!msgs[i].dropped)
            times[nt++] = msgs[i].recv_ns;
    }
    qsort(times, nt, sizeof *times, cmp_u64);
    size_t rows = 0;
    for (size_t i = 0; i < nt; i++)
        if (rows == 0 || times[rows - 1] != times[i])
            times[rows++] = times[i];
    if (n > 0) {
        from_ns = times[0];
        to_ns = times[rows - 1];
    }
    double h = (rows + 1) * MSG_ROW_H;
    double width = MSG_LEFT + (np ? np : 1) * MSG_COL_W + 40, height = MSG_TOP + h + 40;
    FILE *f = fopen(path, "w");
    if (!f) {
        free(ps);
        return -1;
    }
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
            "font-family=\"sans-serif\" font-size=\"10\">\n"
            "<style>.life{stroke:#999;stroke-dasharray:2 3}.msg line{stroke:#3b6ea5}.msg.client line{stroke:#2a9d4b}"
            ".msg.dropped line{stroke:#d62728;stroke-dasharray:4 3}.msg:hover line{stroke-width:3}"
            ".msg text{fill:#222}.who{font-size:12px;font-weight:bold}.tick-label{fill:#666}"
            ".life.marked{stroke:#d62728;stroke-width:2;stroke-dasharray:none}.proc{fill:#d62728}</style>\n"
            "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" "
            "orient=\"auto-start-reverse\"><path d=\"M0 0L10 5L0 10z\" fill=\"#555\"/></marker></defs>\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n<text x=\"10\" y=\"16\" font-size=\"13\">",
            width, height, width, height);
    html_escape(f, title);
    fprintf(f, " (%zu messages, %.3f s to %.3f s)</text>\n", n, from_ns / 1e9, to_ns / 1e9);
    /* real times at the left, every few rows */
    for (size_t r = 0; r < rows; r += 4) {
        double y = row_y(times, rows, times[r]);
        fprintf(f, "<text class=\"tick-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3f ms</text>", MSG_LEFT - 20,
                y + 3, times[r] / 1e6);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n", MSG_LEFT - 15, y,
                width - 20, y);
    }
    if (mark && rows > 0) {
        /* the op's span, from the row of its invoke to that of its completion */
        double y0 = row_y(times, rows, mark->t0_ns) - MSG_ROW_H / 2;
        double y1 = row_y(times, rows, mark->t1_ns) + MSG_ROW_H / 2;
        fprintf(f, "<rect class=\"mark\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#d62728\" "
                   "fill-opacity=\"0.12\"><title>",
                MSG_LEFT - 15, y0, width - MSG_LEFT - 5, y1 - y0);
        char *desc = NULL;
        size_t desc_len = 0;
        FILE *m = open_memstream(&desc, &desc_len);
        if (m) {
            linear_describe_op(m, mark);
            fclose(m);
            html_escape(f, desc); /* the op's values are untrusted text */
            free(desc);
        }
        fprintf(f, "</title></rect><text x=\"%.1f\" y=\"%.1f\" fill=\"#d62728\" text-anchor=\"end\">"
                   "process %lld's op (client c%lld) that cannot be linearized</text>\n",
                width - 22, y0 + 11, (long long)mark->process, (long long)mark->process + 1);
    }
    char mark_client[32] = "";
    if (mark)
        snprintf(mark_client, sizeof mark_client, "c%lld", (long long)mark->process + 1);
    for (size_t i = 0; i < np; i++) {
        double x = MSG_LEFT + (i + 0.5) * MSG_COL_W;
        fprintf(f, "<text class=\"who\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", x, MSG_TOP - 12);
        html_escape(f, ps[i]);
        bool marked = mark_client[0] && strcmp(ps[i], mark_client) == 0;
        fprintf(f, "</text><line class=\"life%s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
                marked ? " marked" : "", x, MSG_TOP, x, MSG_TOP + h);
        if (marked)
            fprintf(f, "<text class=\"proc\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">process %lld</text>\n",
                    x, MSG_TOP - 1, (long long)mark->process);
    }
    for (size_t i = 0; i < n; i++) {
        const struct run_msg *m = &msgs[i];
        int a = find_participant(ps, np, m->src), b = find_participant(ps, np, m->dest);
        double x1 = MSG_LEFT + (a + 0.5) * MSG_COL_W, x2 = MSG_LEFT + (b + 0.5) * MSG_COL_W;
        double y1 = row_y(times, rows, m->send_ns);
        double y2 = m->dropped ? y1 : row_y(times, rows, m->recv_ns);
        if (m->dropped) { /* halfway, then a cross */
            x2 = (x1 + x2) / 2;
            y2 = y1 + 6;
        } else if (a == b) {
            x2 += 20; /* a message to oneself */
        }
        bool client = m->src[0] == 'c' || m->dest[0] == 'c';
        fprintf(f, "<g class=\"msg%s%s\"><title>", client ? " client" : "", m->dropped ? " dropped" : "");
        html_escape(f, m->src);
        fputs(" -> ", f);
        html_escape(f, m->dest);
        fputc(' ', f);
        html_escape(f, m->type);
        fprintf(f, ", sent %.3f ms", m->send_ns / 1e6);
        if (m->dropped)
            fputs(", dropped", f);
        else
            fprintf(f, ", received %.3f ms", m->recv_ns / 1e6);
        fputc('\n', f);
        html_escape(f, m->body);
        fprintf(f, "</title><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" marker-end=\"url(#arrow)\"/>", x1, y1,
                x2, y2);
        if (m->dropped)
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#d62728\" text-anchor=\"middle\">&#x2715;</text>", x2, y2 + 4);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", (x1 + x2) / 2, (y1 + y2) / 2 - 2);
        html_escape(f, m->type);
        fputs("</text></g>\n", f);
    }
    fputs("</svg>\n", f);
    free(ps);
    free(times);
    int bad = ferror(f);
    bad |= fclose(f);
    return bad ? -1 : 0;
}
