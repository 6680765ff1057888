/* loop_watch.h - the event loop's turn meter: how much thread CPU time and
 * how much wall time (minus the time libuv spent blocked in its poll) each
 * turn of the loop took, which callbacks ran in it, and whether it passed
 * --slow-loop-ms. A turn is the span between two runs of the loop's
 * prepare handle (server_main.c), so it covers the poll, the timers, every
 * I/O callback, the check handle and the thread-pool completions of one
 * iteration; two clock reads per turn (thread CPU and monotonic time).
 *
 * CPU time tells work from waiting: blocked in the poll the thread uses
 * none, so a turn's CPU time is the work it did on the loop. Its wall time
 * also holds the poll's wait (none when events were ready, as under load),
 * the time spent waiting for a core on a loaded machine and the time
 * blocked in a system call that sleeps (a sync, a page fault from disk):
 * a long wall time with a short CPU time is waiting, not work (CPU time
 * is cut to the wall time: a virtual machine's thread clock sometimes
 * jumps past it). The
 * accounting is pure (times passed in), so it is tested with literal
 * numbers. */
#ifndef RAFTKV_SERVER_LOOP_WATCH_H
#define RAFTKV_SERVER_LOOP_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Log2 buckets of microseconds: bucket i holds [2^i, 2^(i+1)) us, bucket 0
 * also everything below 2 us; the last also everything above. */
#define LOOP_WATCH_BUCKETS 32

/* The callbacks a turn may run, as bits of loop_watch.tags. */
enum loop_cb {
    LOOP_CB_TICK,        /* the Raft tick timer */
    LOOP_CB_BATCH,       /* the check handle's batch boundary (server_after_io) */
    LOOP_CB_CLIENT_READ, /* a client's bytes parsed and dispatched */
    LOOP_CB_CLIENT_CONN, /* a client accepted */
    LOOP_CB_PEER_READ,   /* a peer's frames handled */
    LOOP_CB_PEER_CONN,   /* a peer connection accepted or connected */
    LOOP_CB_LOG_SYNCED,  /* a log fsync finished on the pool */
    LOOP_CB_SNAPSHOT,    /* the snapshot child ended, or its commit finished */
    LOOP_CB_SNAP_XFER,   /* a snapshot transfer step */
    LOOP_CB_METRICS,     /* the metrics port */
    LOOP_CB_SWEEP,       /* the client or peer sweep timers */
    LOOP_CB_SIGNAL,      /* SIGTERM, SIGINT, SIGHUP */
    LOOP_CB_COUNT
};

struct loop_watch {
    uint64_t slow_ns; /* a turn with more CPU time than this is slow */
    bool started;     /* prev_* hold the start of the current turn */
    uint64_t prev_cpu_ns, prev_wall_ns;
    uint32_t tags; /* bit (1 << enum loop_cb) for each callback of this turn */
    /* Totals since start. */
    uint64_t turns;
    uint64_t slow_turns;
    uint64_t cpu_hist[LOOP_WATCH_BUCKETS]; /* each turn's CPU time */
    uint64_t cpu_sum_ns;
    uint64_t cpu_max_ns;      /* the longest turn in CPU time */
    uint64_t slow_wall_max_ns; /* the longest wall time of a slow turn */
};

/* The last turn, as loop_watch_turn measured it. */
struct loop_turn {
    uint64_t cpu_ns;
    uint64_t wall_ns; /* the poll's wait included */
    uint32_t tags;
};

void loop_watch_init(struct loop_watch *w, uint64_t slow_ms);

/* Mark that a callback of kind cb ran in the current turn. */
static inline void loop_watch_note(struct loop_watch *w, enum loop_cb cb)
{
    w->tags |= 1u << cb;
}

/* One turn boundary: the thread's CPU time and the monotonic time, in ns.
 * Ends the turn that began at the previous boundary (the first call only
 * starts one), fills *t and returns true when that turn's CPU time passed
 * slow_ns. */
bool loop_watch_turn(struct loop_watch *w, uint64_t cpu_ns, uint64_t wall_ns, struct loop_turn *t);

/* The callbacks of tags as "tick,batch" ("none" when 0), NUL-terminated. */
void loop_watch_tags_text(uint32_t tags, char *out, size_t cap);

/* The bucket of a duration in ns (the log2 buckets above). */
int loop_watch_bucket(uint64_t ns);

#endif
