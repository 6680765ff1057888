/* loop_watch.c - per-turn CPU and wall accounting of the event loop
 * (loop_watch.h). */
#include "server/loop_watch.h"

#include <stdio.h>
#include <string.h>

static const char *const loop_cb_names[LOOP_CB_COUNT] = {
    [LOOP_CB_TICK] = "tick",           [LOOP_CB_BATCH] = "batch",         [LOOP_CB_CLIENT_READ] = "client_read",
    [LOOP_CB_CLIENT_CONN] = "client_accept", [LOOP_CB_PEER_READ] = "peer_read", [LOOP_CB_PEER_CONN] = "peer_conn",
    [LOOP_CB_LOG_SYNCED] = "log_synced", [LOOP_CB_SNAPSHOT] = "snapshot", [LOOP_CB_SNAP_XFER] = "snap_xfer",
    [LOOP_CB_METRICS] = "metrics",     [LOOP_CB_SWEEP] = "sweep",         [LOOP_CB_SIGNAL] = "signal",
};

void loop_watch_init(struct loop_watch *w, uint64_t slow_ms)
{
    memset(w, 0, sizeof *w);
    w->slow_ns = slow_ms * UINT64_C(1000000);
}

int loop_watch_bucket(uint64_t ns)
{
    uint64_t us = ns / 1000;
    int b = 0;
    while (us > 1 && b < LOOP_WATCH_BUCKETS - 1) {
        us >>= 1;
        b++;
    }
    return b;
}

bool loop_watch_turn(struct loop_watch *w, uint64_t cpu_ns, uint64_t wall_ns, struct loop_turn *t)
{
    bool had = w->started;
    uint64_t cpu = cpu_ns >= w->prev_cpu_ns ? cpu_ns - w->prev_cpu_ns : 0;
    uint64_t wall = wall_ns >= w->prev_wall_ns ? wall_ns - w->prev_wall_ns : 0;
    /* A thread cannot run longer than the time that passed; a virtual
     * machine's CPU clock sometimes says so (seen: 100 ms of CPU in 3 ms):
     * the wall time bounds it. */
    if (cpu > wall)
        cpu = wall;
    uint32_t tags = w->tags;
    w->started = true;
    w->prev_cpu_ns = cpu_ns;
    w->prev_wall_ns = wall_ns;
    w->tags = 0;
    *t = (struct loop_turn){.cpu_ns = cpu, .wall_ns = wall, .tags = tags};
    if (!had)
        return false;
    w->turns++;
    w->cpu_hist[loop_watch_bucket(cpu)]++;
    w->cpu_sum_ns += cpu;
    if (cpu > w->cpu_max_ns)
        w->cpu_max_ns = cpu;
    if (cpu <= w->slow_ns)
        return false;
    w->slow_turns++;
    if (wall > w->slow_wall_max_ns)
        w->slow_wall_max_ns = wall;
    return true;
}

void loop_watch_tags_text(uint32_t tags, char *out, size_t cap)
{
    size_t o = 0;
    if (cap == 0)
        return;
    out[0] = '\0';
    for (int i = 0; i < LOOP_CB_COUNT; i++) {
        if (!(tags & (1u << i)))
            continue;
        int n = snprintf(out + o, cap - o, "%s%s", o ? "," : "", loop_cb_names[i]);
        if (n < 0 || (size_t)n >= cap - o) {
            out[o] = '\0'; /* whole names only: what fitted stays */
            return;
        }
        o += (size_t)n;
    }
    if (o == 0)
        snprintf(out, cap, "none");
}
