/* report_write.c - report_write() and `whirl report DIR`: loads a run folder
 * once and has every page writer write its file, index.html last so it
 * links only to what was written. One failing file does not stop the others.
 */
#include "whirl/report/report.h"

#include "whirl/report/pages.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The default Lamport window: the first seconds, at most this many messages. */
#define REPORT_MESSAGES_WINDOW_NS 2500000000ull
#define REPORT_MESSAGES_MAX 400
/* Around the first invalid op: this much before and after it. */
#define REPORT_INVALID_MARGIN_NS 1000000000ull

struct report_errors {
    char *err;
    size_t errlen;
    int failed;
};

static void note(struct report_errors *e, int rc, const char *file)
{
    if (rc == 0)
        return;
    if (e->failed++ == 0 && e->err)
        snprintf(e->err, e->errlen, "cannot write %s: %s", file, strerror(errno ? errno : EIO));
}

static int cmp_msg_send(const void *a, const void *b)
{
    const struct run_msg *x = a, *y = b;
    return x->send_ns < y->send_ns ? -1 : x->send_ns > y->send_ns;
}

static uint64_t distance(uint64_t a, uint64_t b)
{
    return a > b ? a - b : b - a;
}

/* The REPORT_MESSAGES_MAX messages sent nearest to the failing op, in time
 * order: the window around it may hold far more than a diagram can show. */
static void messages_invalid(const struct run *run, int op_i, struct report_errors *e)
{
    const struct run_op *op = &run->ops[op_i];
    uint64_t from = op->t0_ns > REPORT_INVALID_MARGIN_NS ? op->t0_ns - REPORT_INVALID_MARGIN_NS : 0;
    uint64_t to = op->t1_ns + REPORT_INVALID_MARGIN_NS;
    struct run_msg *msgs;
    size_t n;
    struct run_msg_stats stats;
    if (report_run_messages_window(run, from, to, 50000, &msgs, &n, &stats) != 0)
        return;
    uint64_t center = op->t0_ns;
    if (n > REPORT_MESSAGES_MAX) {
        /* Drop whichever end lies farther from the op (msgs are in send order). */
        qsort(msgs, n, sizeof *msgs, cmp_msg_send);
        size_t excess = n - REPORT_MESSAGES_MAX, lo = 0, hi = n;
        while (excess--) {
            if (distance(msgs[lo].send_ns, center) > distance(msgs[hi - 1].send_ns, center))
                free(msgs[lo++].body);
            else
                free(msgs[--hi].body);
        }
        memmove(msgs, msgs + lo, (hi - lo) * sizeof *msgs);
        n = hi - lo;
    }
    qsort(msgs, n, sizeof *msgs, cmp_msg_send);
    if (n > 0) {
        from = msgs[0].send_ns;
        to = msgs[n - 1].send_ns + 1;
    }
    char path[4200], title[160];
    snprintf(title, sizeof title, "Messages around the first invalid operation (process %lld %s, history index %lld)",
             (long long)op->process, op->f_name, (long long)op->invoke_index);
    if (report_run_path(path, sizeof path, run->dir, "messages-invalid.svg") == 0)
        note(e, messages_svg_write(op, msgs, n, from, to, title, path), "messages-invalid.svg");
    report_run_messages_free(msgs, n);
}

static int make_dir(const char *path)
{
    return mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

static void key_pages(const struct run *run, size_t k, struct report_errors *e)
{
    char dir[4400], path[4500];
    const struct run_key *key = &run->keys[k];
    if (snprintf(dir, sizeof dir, "%s/independent/%s", run->dir, key->dir) >= (int)sizeof dir || make_dir(dir) != 0) {
        note(e, -1, "independent/<key>/");
        return;
    }
    snprintf(path, sizeof path, "%s/timeline.html", dir);
    note(e, timeline_write(run, (int)k, path), "independent/<key>/timeline.html");
    if (key->verdict != RUN_INVALID)
        return;
    snprintf(path, sizeof path, "%s/linear.svg", dir);
    note(e, linear_svg_write(run, (int)k, path), "independent/<key>/linear.svg");
    snprintf(path, sizeof path, "%s/linear.txt", dir);
    note(e, linear_text_write(run, (int)k, path), "independent/<key>/linear.txt");
}

int report_write(const char *run_dir, char *err, size_t errlen)
{
    struct run run;
    if (report_run_load(&run, run_dir, err, errlen) != 0)
        return -1;
    struct report_errors e = {err, errlen, 0};
    /* Best effort: without a checkable history the pages still show the ops. */
    report_check_missing(&run);
    char path[4200];
    if (report_run_path(path, sizeof path, run.dir, "timeline.html") == 0)
        note(&e, timeline_write(&run, -1, path), "timeline.html");
    note(&e, latency_plots_write(&run), "latency plots");
    note(&e, rate_plot_write(&run), "rate.svg");

    struct run_msg *msgs;
    size_t n;
    struct run_msg_stats stats = {0};
    if (report_run_messages_window(&run, 0, REPORT_MESSAGES_WINDOW_NS, REPORT_MESSAGES_MAX, &msgs, &n, &stats) == 0) {
        run.have_messages = true;
        run.msg_stats = stats;
        if (report_run_path(path, sizeof path, run.dir, "messages.svg") == 0)
            note(&e, messages_svg_write(NULL, msgs, n, 0, REPORT_MESSAGES_WINDOW_NS, "Messages of the first seconds", path),
                 "messages.svg");
        report_run_messages_free(msgs, n);
        int first_bad = report_run_first_invalid_op(&run);
        if (first_bad >= 0)
            messages_invalid(&run, first_bad, &e);
    }

    if (report_run_path(path, sizeof path, run.dir, "independent") != 0 || make_dir(path) != 0)
        note(&e, -1, "independent/");
    else
        for (size_t k = 0; k < run.n_keys; k++)
            key_pages(&run, k, &e);
    note(&e, index_html_write(&run, &stats), "index.html");
    report_run_free(&run);
    return e.failed ? -1 : 0;
}

int whirl_report_main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fprintf(stderr, "usage: whirl report RUN_DIR...\n"
                        "  (re)writes index.html, timeline.html, the plots and the per-key pages of each run folder\n");
        return argc < 2 ? 64 : 0;
    }
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        char err[512] = "";
        if (report_write(argv[i], err, sizeof err) != 0) {
            fprintf(stderr, "whirl report: %s: %s\n", argv[i], err);
            rc = 1;
        } else {
            printf("wrote %s/index.html\n", argv[i]);
        }
    }
    return rc;
}
