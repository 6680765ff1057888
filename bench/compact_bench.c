/* compact_bench.c - the CPU time the Raft core spends on the events after
 * a snapshot that compacts N entries of 130 bytes (a follower's log under
 * redis-benchmark's SETs): the snapshot's own event, then the events that
 * sweep what it dropped (raft_config.log_sweep_entries, log_sweep_blocks)
 * and shrink the emptied array, as ticks. Thread CPU time per event; the
 * longest is what one loop turn pays.
 *   build/bench/compact_bench [ENTRIES]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "raft/raft.h"

static double cpu_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

#define BATCH 1024

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 3000000;
    struct raft_config cfg;
    raft_config_default(&cfg, 0, 3, 1);
    struct raft *r = raft_new(&cfg, NULL, 0);
    if (!r)
        return 1;
    struct raft_update u;
    static struct raft_entry e[BATCH];
    static uint8_t data[130];
    memset(data, 7, sizeof data);
    size_t last = 0;
    for (; last < n; last += BATCH) {
        for (size_t k = 0; k < BATCH; k++)
            e[k] = (struct raft_entry){
                .term = 1, .index = last + 1 + k, .type = RAFT_ENTRY_COMMAND, .len = 130, .data = data};
        struct raft_event ev = {.type = RAFT_EVENT_RECEIVE, .now_ms = 1};
        ev.receive = (struct raft_msg){.type = RAFT_MSG_APPEND, .from = 1, .to = 0, .term = 1,
                                       .prev_index = last, .prev_term = last ? 1 : 0, .entries = e,
                                       .n_entries = BATCH, .commit = last + BATCH};
        if (raft_step(r, &ev, &u) != RAFT_OK) {
            fprintf(stderr, "compact_bench: append refused\n");
            return 1;
        }
    }
    size_t bytes = raft_log_bytes(r);
    struct raft_event ev = {.type = RAFT_EVENT_SNAPSHOT, .now_ms = 1};
    ev.snapshot.index = last;
    ev.snapshot.data = data;
    ev.snapshot.len = 1;
    double t0 = cpu_ms();
    raft_step(r, &ev, &u);
    double first = cpu_ms() - t0, longest = 0, total = first;
    int events = 0, quiet = 0;
    /* Until nothing is left to sweep and 8 events in a row took under
     * 0.05 ms (the array's shrink steps are done). */
    while (quiet < 8) {
        struct raft_event t = {.type = RAFT_EVENT_TICK, .now_ms = 1};
        double a = cpu_ms();
        raft_step(r, &t, &u);
        double d = cpu_ms() - a;
        longest = d > longest ? d : longest;
        total += d;
        events++;
        quiet = raft_log_dead_entries(r) || raft_log_dead_blocks(r) || d >= 0.05 ? 0 : quiet + 1;
    }
    printf("compact_bench: %zu entries (%zu MB) compacted: the snapshot's event %.2f ms of CPU, then "
           "%d events, the longest %.2f ms, %.1f ms in all\n",
           last, bytes >> 20, first, events - 8, longest, total);
    raft_free(r);
    return 0;
}
