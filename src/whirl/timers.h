/* timers.h - whirl's timer queue: a binary min-heap of deadlines in
 * nanoseconds, all driven by one uv_timer.
 *
 * Delayed messages, client timeouts, the rate limiter and the nemesis all put
 * their deadlines here, so a run with thousands of messages in flight still
 * costs one kernel timer. Ties fire in insertion order (seq), which keeps a
 * run with constant latency deterministic in its message order.
 */
#ifndef RAFTKV_WHIRL_TIMERS_H
#define RAFTKV_WHIRL_TIMERS_H

#include <stddef.h>
#include <stdint.h>

typedef void whirl_timer_fn(void *ctx, void *p, uint64_t arg);

struct whirl_timer {
    uint64_t at_ns;
    uint64_t seq;
    whirl_timer_fn *fn;
    void *p;
    uint64_t arg;
};

struct whirl_timers {
    struct whirl_timer *heap;
    size_t n, cap;
    uint64_t next_seq;
};

/* Returns 0 or -1 (out of memory). */
int whirl_timers_add(struct whirl_timers *t, uint64_t at_ns, whirl_timer_fn *fn, void *p, uint64_t arg);
/* The earliest deadline, or UINT64_MAX when empty. */
uint64_t whirl_timers_next(const struct whirl_timers *t);
/* Removes the earliest timer into *out if it is due at or before now_ns.
 * Returns 1 if one was removed, else 0. */
int whirl_timers_pop_due(struct whirl_timers *t, uint64_t now_ns, struct whirl_timer *out);
void whirl_timers_free(struct whirl_timers *t);

#endif
