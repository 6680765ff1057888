/* log_bench.c - the follower's in-memory log under a replication stream:
 * the CPU time and page faults per entry of taking APPENDs of N entries of
 * 130 bytes into a Raft core (recv_append's copy into the log), with a
 * snapshot compacting the log every COMPACT entries (its freed memory given
 * back to the kernel, as the server's allocator does within a second), as a
 * member under redis-benchmark's SETs sees it. CPU time (getrusage), so other load on
 * the machine moves it little; best of 3. HUGE 1 (the default) advises
 * huge pages for the log's blocks as the server does
 * (raft_config.advise_log_block), 0 not.
 *   build/bench/log_bench [ENTRIES [PER_APPEND [COMPACT [HUGE]]]]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "raft/raft.h"

extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
    __attribute__((weak));

static void advise(void *block, size_t len)
{
    uintptr_t from = ((uintptr_t)block + 4095) & ~(uintptr_t)4095;
    uintptr_t to = ((uintptr_t)block + len) & ~(uintptr_t)4095;
    if (to > from)
        (void)madvise((void *)from, to - from, MADV_HUGEPAGE);
}

static double cpu_s(long *minflt)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *minflt = ru.ru_minflt;
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char **argv)
{
    size_t total = argc > 1 ? strtoull(argv[1], NULL, 10) : 2400000;
    size_t per = argc > 2 ? strtoull(argv[2], NULL, 10) : 170;
    size_t compact = argc > 3 ? strtoull(argv[3], NULL, 10) : 600000;
    bool huge = argc > 4 ? atoi(argv[4]) != 0 : true;
    if (mallctl) { /* as the server runs: freed pages go back after 1 s */
        bool on = true;
        ssize_t ms = 1000;
        mallctl("background_thread", NULL, NULL, &on, sizeof on);
        mallctl("arenas.dirty_decay_ms", NULL, NULL, &ms, sizeof ms);
        mallctl("arena.0.dirty_decay_ms", NULL, NULL, &ms, sizeof ms);
    }
    uint8_t payload[130];
    memset(payload, 'v', sizeof payload);
    struct raft_entry *ents = calloc(per, sizeof *ents);
    double best = 1e9;
    long best_flt = 0;
    for (int round = 0; round < 3; round++) {
        struct raft_config cfg;
        raft_config_default(&cfg, 0, 3, 1);
        cfg.snapshot_trailing = 0;
        cfg.advise_log_block = huge ? advise : NULL;
        struct raft *r = raft_new(&cfg, NULL, 0);
        long f0, f1;
        double t0 = cpu_s(&f0);
        raft_index last = 0;
        uint8_t image[1] = {0};
        while (last < total) {
            for (size_t k = 0; k < per; k++)
                ents[k] = (struct raft_entry){.term = 1, .index = last + 1 + k, .type = RAFT_ENTRY_COMMAND,
                                              .len = sizeof payload, .data = payload};
            struct raft_event e = {.type = RAFT_EVENT_RECEIVE, .now_ms = 1};
            e.receive = (struct raft_msg){.type = RAFT_MSG_APPEND, .from = 1, .to = 0, .term = 1,
                                          .prev_index = last, .prev_term = last ? 1 : 0, .commit = last,
                                          .entries = ents, .n_entries = per};
            struct raft_update u;
            if (raft_step(r, &e, &u) != RAFT_OK) {
                fprintf(stderr, "log_bench: step failed\n");
                return 1;
            }
            last += per;
            struct raft_event p = {.type = RAFT_EVENT_PERSISTED, .now_ms = 1};
            p.persisted.index = last;
            p.persisted.term = 1;
            raft_step(r, &p, &u);
            if (last / compact != (last - per) / compact && raft_applied_index(r) > 0) {
                struct raft_event s = {.type = RAFT_EVENT_SNAPSHOT, .now_ms = 1};
                s.snapshot.index = raft_applied_index(r);
                s.snapshot.data = image;
                s.snapshot.len = 1;
                raft_step(r, &s, &u);
                /* In the server the next compaction is seconds away, past the
                 * allocator's 1 s decay: what compaction freed is the kernel's
                 * again, and the log's next bytes are fresh pages. */
                if (mallctl)
                    mallctl("arena.4096.purge", NULL, NULL, NULL, 0);
            }
        }
        double t1 = cpu_s(&f1);
        raft_free(r);
        if (t1 - t0 < best) {
            best = t1 - t0;
            best_flt = f1 - f0;
        }
    }
    printf("log_bench: %zu entries of 130 bytes, %zu an APPEND, compacted every %zu: %.3f us CPU and %.4f page "
           "faults per entry (best of 3; huge pages %s)\n",
           total, per, compact, best * 1e6 / (double)total, (double)best_flt / (double)total, huge ? "advised" : "not advised");
    free(ents);
    return 0;
}
