/* run.c - one test run on one libuv loop: the phases from spawning the nodes
 * to killing them, the timer queue's driver and the console. */
#include "whirl/run.h"

#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "whirl/cluster.h"
#include "whirl/nemesis.h"
#include "whirl/net.h"
#include "whirl/workload.h"

/* How long nodes get to exit on their own once their stdin is closed. */
#define WHIRL_STOP_GRACE_NS 1000000000ull

uint64_t whirl_now(const struct whirl_run *run)
{
    return uv_hrtime() - run->start_hr;
}

int whirl_at(struct whirl_run *run, uint64_t at_ns, whirl_timer_fn *fn, void *p, uint64_t arg)
{
    return whirl_timers_add(&run->timers, at_ns, fn, p, arg);
}

static void clear_progress(struct whirl_run *run)
{
    if (run->progress_tty)
        fputs("\r\033[K", stderr);
}

void whirl_say(struct whirl_run *run, const char *fmt, ...)
{
    va_list ap;
    clear_progress(run);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    if (run->log) {
        va_start(ap, fmt);
        vfprintf(run->log, fmt, ap);
        va_end(ap);
        fputc('\n', run->log);
    }
}

void whirl_abort(struct whirl_run *run, const char *fmt, ...)
{
    if (run->aborted)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(run->abort_reason, sizeof run->abort_reason, fmt, ap);
    va_end(ap);
    run->aborted = true;
    whirl_say(run, "whirl: %s", run->abort_reason);
}

static void noop(void *ctx, void *p, uint64_t arg)
{
    (void)ctx;
    (void)p;
    (void)arg;
}

static void on_timer(uv_timer_t *t)
{
    struct whirl_run *run = t->data;
    run->timer_armed_ns = UINT64_MAX;
    struct whirl_timer due;
    uint64_t now = whirl_now(run);
    while (whirl_timers_pop_due(&run->timers, now, &due))
        due.fn(run, due.p, due.arg);
}

/* Before the loop blocks: write every batch queued this iteration, then arm
 * the one kernel timer for the earliest deadline. */
static void on_prepare(uv_prepare_t *p)
{
    struct whirl_run *run = p->data;
    whirl_cluster_flush(run);
    uint64_t next = whirl_timers_next(&run->timers);
    if (next == run->timer_armed_ns)
        return;
    if (next == UINT64_MAX) {
        uv_timer_stop(&run->timer);
        run->timer_armed_ns = UINT64_MAX;
        return;
    }
    uint64_t now = whirl_now(run);
    uint64_t delay_ms = next <= now ? 0 : (next - now + 999999) / 1000000;
    uv_timer_start(&run->timer, on_timer, delay_ms, 0);
    run->timer_armed_ns = next;
}

static void on_progress(uv_timer_t *t)
{
    struct whirl_run *run = t->data;
    fprintf(stderr, "\r\033[K[%6.1f s] %llu requests: %llu ok, %llu fail, %llu info | network: %s",
            (double)whirl_now(run) / 1e9, (unsigned long long)run->requests, (unsigned long long)run->ok,
            (unsigned long long)run->fail, (unsigned long long)run->info, run->net_state);
    fflush(stderr);
}

static void on_init_deadline(void *ctx, void *p, uint64_t arg)
{
    (void)p;
    (void)arg;
    struct whirl_run *run = ctx;
    if (run->phase != WHIRL_PHASE_INIT || run->inits_pending == 0)
        return;
    char names[400] = "";
    size_t len = 0;
    for (int i = 0; i < run->n_nodes && len < sizeof names - 20; i++)
        if (!run->nodes[i].init_ok)
            len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", len ? ", " : "", run->nodes[i].id);
    whirl_abort(run, "node%s %s did not answer init within %g s (see %s/node-logs/)", run->inits_pending > 1 ? "s" : "",
                names, run->opts->init_timeout_s, run->dir);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct whirl_run *run = h->data;
    run->interrupted = true;
    whirl_abort(run, "interrupted by signal %d (%s); stopping the nodes", signum, strsignal(signum));
    /* A second signal ends whirl at once. */
    uv_signal_stop(h);
}

static int send_inits(struct whirl_run *run)
{
    int rc = 0;
    for (int i = 0; i < run->n_nodes && rc == 0; i++)
        rc = whirl_node_send_init(&run->nodes[i]);
    run->inits_pending = run->n_nodes;
    return rc;
}

static void seed_rngs(struct whirl_run *run)
{
    /* One generator per purpose, each seeded from the master in a fixed
     * order: a new purpose goes last, so it never shifts the others. */
    struct rng master;
    rng_seed(&master, run->seed);
    rng_seed(&run->rng_net, rng_next(&master));
    rng_seed(&run->rng_nemesis, rng_next(&master));
    rng_seed(&run->rng_workload, rng_next(&master));
    rng_seed(&run->rng_rate, rng_next(&master));
}

static void on_handle_closed(uv_handle_t *h)
{
    (void)h;
}

int whirl_run_test(struct whirl_run *run)
{
    run->loop = malloc(sizeof *run->loop);
    if (!run->loop || uv_loop_init(run->loop) != 0) {
        free(run->loop);
        run->loop = NULL;
        snprintf(run->abort_reason, sizeof run->abort_reason, "cannot create an event loop");
        return -1;
    }
    seed_rngs(run);
    run->start_hr = uv_hrtime();
    run->timer_armed_ns = UINT64_MAX;
    uv_timer_init(run->loop, &run->timer);
    run->timer.data = run;
    uv_prepare_init(run->loop, &run->prepare);
    run->prepare.data = run;
    uv_prepare_start(&run->prepare, on_prepare);
    uv_timer_init(run->loop, &run->progress);
    run->progress.data = run;
    run->progress_tty = isatty(STDERR_FILENO);
    if (run->progress_tty)
        uv_timer_start(&run->progress, on_progress, 250, 250);

    uv_signal_init(run->loop, &run->sigint);
    uv_signal_init(run->loop, &run->sigterm);
    run->sigint.data = run->sigterm.data = run;
    uv_signal_start_oneshot(&run->sigint, on_signal, SIGINT);
    uv_signal_start_oneshot(&run->sigterm, on_signal, SIGTERM);

    run->phase = WHIRL_PHASE_INIT;
    uint64_t deadline = 0;
    if (whirl_net_init(run) != 0)
        whirl_abort(run, "out of memory");
    else if (whirl_cluster_start(run) == 0) {
        if (send_inits(run) != 0)
            whirl_abort(run, "cannot send init");
        whirl_at(run, (uint64_t)(run->opts->init_timeout_s * 1e9), on_init_deadline, NULL, 0);
    }

    for (;;) {
        if (run->aborted && run->phase < WHIRL_PHASE_STOP) {
            whirl_workload_stop(run);
            whirl_nemesis_stop(run);
            whirl_cluster_close_stdin(run);
            run->phase = WHIRL_PHASE_STOP;
            deadline = whirl_now(run) + WHIRL_STOP_GRACE_NS / 4;
            whirl_at(run, deadline, noop, NULL, 0);
        }
        uint64_t now = whirl_now(run);
        if (run->phase == WHIRL_PHASE_INIT && run->inits_pending == 0) {
            whirl_say(run, "all %d nodes answered init after %.0f ms; running lin-kv for %g s", run->n_nodes,
                      (double)now / 1e6, run->opts->time_limit_s);
            run->phase = WHIRL_PHASE_TEST;
            run->test_start_ns = now;
            deadline = now + (uint64_t)(run->opts->time_limit_s * 1e9);
            whirl_at(run, deadline, noop, NULL, 0);
            if (whirl_workload_start(run) != 0)
                whirl_abort(run, "out of memory");
            if (whirl_nemesis_start(run) != 0)
                whirl_abort(run, "out of memory");
            continue;
        }
        if (run->phase == WHIRL_PHASE_TEST && now >= deadline) {
            whirl_workload_stop(run);
            whirl_nemesis_stop(run);
            run->phase = WHIRL_PHASE_DRAIN;
        }
        if (run->phase == WHIRL_PHASE_DRAIN && whirl_workload_idle(run)) {
            run->phase = WHIRL_PHASE_QUIET;
            deadline = now + (uint64_t)(run->opts->quiet_s * 1e9);
            whirl_at(run, deadline, noop, NULL, 0);
        }
        if (run->phase == WHIRL_PHASE_QUIET && now >= deadline && run->opts->final_reads && run->opts->rate > 0) {
            run->phase = WHIRL_PHASE_FINAL;
            whirl_say(run, "final reads of %lld keys", (long long)run->next_key);
            if (whirl_workload_start_final_reads(run, now + (uint64_t)(run->opts->final_read_timeout_s * 1e9)) != 0)
                whirl_abort(run, "out of memory");
            continue;
        }
        if ((run->phase == WHIRL_PHASE_QUIET && now >= deadline) ||
            (run->phase == WHIRL_PHASE_FINAL && whirl_workload_final_reads_done(run))) {
            whirl_cluster_close_stdin(run);
            run->phase = WHIRL_PHASE_STOP;
            deadline = now + WHIRL_STOP_GRACE_NS;
            whirl_at(run, deadline, noop, NULL, 0);
        }
        if (run->phase == WHIRL_PHASE_STOP && (whirl_cluster_running(run) == 0 || now >= deadline))
            break;
        uv_run(run->loop, UV_RUN_ONCE);
    }
    clear_progress(run);
    run->progress_tty = false;
    for (int i = 0; i < run->n_nodes; i++)
        if (run->nodes[i].running)
            whirl_say(run, "node %s did not exit after its stdin closed; killed", run->nodes[i].id);
    whirl_cluster_close(run);
    uv_close((uv_handle_t *)&run->timer, on_handle_closed);
    uv_close((uv_handle_t *)&run->prepare, on_handle_closed);
    uv_close((uv_handle_t *)&run->progress, on_handle_closed);
    uv_close((uv_handle_t *)&run->sigint, on_handle_closed);
    uv_close((uv_handle_t *)&run->sigterm, on_handle_closed);
    /* Let the killed processes' exits and every close callback run. */
    while (uv_run(run->loop, UV_RUN_DEFAULT) != 0)
        ;
    whirl_net_drop_pending(run);
    return run->aborted ? -1 : 0;
}

void whirl_run_free(struct whirl_run *run)
{
    whirl_workload_free(run);
    whirl_nemesis_free(run);
    whirl_cluster_free(run);
    whirl_net_free(run);
    whirl_timers_free(&run->timers);
    whirl_history_free(&run->history);
    if (run->loop) {
        uv_loop_close(run->loop);
        free(run->loop);
        run->loop = NULL;
    }
}
