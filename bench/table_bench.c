/* table_bench.c - the CPU time of the events in which a follower's log
 * entry table grows: APPENDs of 1,024 entries of 130 bytes into a Raft
 * core, from an empty log to N entries (8 million by default), the table
 * doubling from 256 slots to past N (32 bytes a slot: 256 MiB at 8
 * million). With realloc() the longest event is the table's last
 * doubling, what one loop turn of the server pays; the longest of the
 * doublings from a million entries on is printed apart. A first run on
 * memory the kernel must find afresh also shows page faults. HOOK 1: the table through the server's
 * raft_config.log_table_resize (src/server/log_table.c: mremap()), 0:
 * realloc() of the allocator the server links (jemalloc). Huge pages are
 * advised as the server does. Thread CPU time (other load on the machine
 * moves it little) and wall time per event.
 *   build/bench/table_bench [ENTRIES [HOOK]]
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "raft/raft.h"
#include "server/log_table.h"

static double clock_ms(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void advise(void *block, size_t len)
{
    uintptr_t from = ((uintptr_t)block + 4095) & ~(uintptr_t)4095;
    uintptr_t to = ((uintptr_t)block + len) & ~(uintptr_t)4095;
    if (to > from)
        (void)madvise((void *)from, to - from, MADV_HUGEPAGE);
}

#define BATCH 1024

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 8u << 20;
    int hook = argc > 2 ? atoi(argv[2]) : 1;
    struct raft_config cfg;
    raft_config_default(&cfg, 0, 3, 1);
    cfg.advise_log_block = advise;
    if (hook)
        cfg.log_table_resize = log_table_resize;
    struct raft *r = raft_new(&cfg, NULL, 0);
    if (!r)
        return 1;
    struct raft_update u;
    static struct raft_entry e[BATCH];
    static uint8_t data[130];
    memset(data, 7, sizeof data);
    double longest = 0, longest_wall = 0, total = 0, others = 0, doubling = 0, plain = 0;
    size_t at_longest = 0, events = 0;
    for (size_t last = 0; last < n; last += BATCH) {
        for (size_t k = 0; k < BATCH; k++)
            e[k] = (struct raft_entry){
                .term = 1, .index = last + 1 + k, .type = RAFT_ENTRY_COMMAND, .len = 130, .data = data};
        struct raft_event ev = {.type = RAFT_EVENT_RECEIVE, .now_ms = 1};
        ev.receive = (struct raft_msg){.type = RAFT_MSG_APPEND, .from = 1, .to = 0, .term = 1,
                                       .prev_index = last, .prev_term = last ? 1 : 0, .entries = e,
                                       .n_entries = BATCH, .commit = last + BATCH};
        double c0 = clock_ms(CLOCK_THREAD_CPUTIME_ID), w0 = clock_ms(CLOCK_MONOTONIC);
        if (raft_step(r, &ev, &u) != RAFT_OK) {
            fprintf(stderr, "table_bench: append refused\n");
            return 1;
        }
        double c = clock_ms(CLOCK_THREAD_CPUTIME_ID) - c0, w = clock_ms(CLOCK_MONOTONIC) - w0;
        total += c;
        events++;
        /* The table fills at 256 * 2^k entries and doubles in the next event. */
        bool doubles = last >= 256 && (last & (last - 1)) == 0;
        if (doubles && last >= (1u << 20) && c > doubling)
            doubling = c;
        if (!doubles && c > plain)
            plain = c;
        if (c > longest) {
            others += longest;
            longest = c;
            longest_wall = w;
            at_longest = last + 1;
        } else {
            others += c;
        }
    }
    printf("table_bench: %zu entries by APPENDs of %d, table %s: the longest event %.2f ms of CPU "
           "(%.2f ms wall) at entry %zu, the others %.3f ms on average, %.0f ms in all; the longest doubling from 1 Mi entries on %.2f ms, the longest event with no growth %.2f ms\n",
           events * BATCH, BATCH, hook ? "by mremap (log_table_resize)" : "by realloc", longest,
           longest_wall, at_longest, others / (double)(events - 1), total, doubling, plain);
    if (raft_last_index(r) != events * BATCH) {
        fprintf(stderr, "table_bench: the log ends at %llu\n", (unsigned long long)raft_last_index(r));
        return 1;
    }
    double f0 = clock_ms(CLOCK_THREAD_CPUTIME_ID);
    raft_free(r);
    printf("table_bench: raft_free %.1f ms of CPU\n", clock_ms(CLOCK_THREAD_CPUTIME_ID) - f0);
    return 0;
}
