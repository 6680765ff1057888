/* apply_pace.h - how an event loop that drives a replica paces a backlog of
 * committed entries it has yet to apply (a restart's committed log tail, a
 * follower catching up): pure, the driver passes the numbers.
 *
 * The replica applies a turn's budget (replica.h: apply_batch, apply_cpu_ns,
 * per turn once the driver calls replica_turn_end(), which a driver does
 * before its first flush). While committed entries wait, the loop must go
 * round without sleeping, polling its I/O between turns (a libuv idle
 * handle does that); a timer re-armed for "now" from its own callback
 * instead runs again before the loop polls, and a 1 ms timer costs a
 * scheduling slice a turn on a busy machine. Both drivers (the server's
 * server_main.c, the Maelstrom node's node_loop.c) take their decision
 * here. */
#ifndef RAFTKV_APPLY_PACE_H
#define RAFTKV_APPLY_PACE_H

#include <stdbool.h>
#include <stdint.h>

struct apply_pace {
    /* Committed entries wait: poll without sleeping and apply the next
     * turn's budget. */
    bool keep_turning;
    /* The timer's delay in ms: to deadline_ms, 0 once that is past, at
     * most max_delay_ms. */
    uint64_t delay_ms;
};

/* applied and commit: the replica's indexes; deadline_ms and now_ms on
 * one clock. */
struct apply_pace apply_pace(uint64_t applied, uint64_t commit, uint64_t deadline_ms,
                             uint64_t now_ms, uint64_t max_delay_ms);

#endif
