/* apply_gate.h - push-back while applying lags (--max-apply-backlog): past
 * that many entries committed on the leader but not yet applied, no client
 * connection is read, so no new command joins a queue that only grows
 * (applying slows 10-50 times while a snapshot child shares the map's
 * pages); reading resumes once the backlog is at most half the bound, or
 * the member no longer leads. Commands already read are answered as usual.
 * The decision is apply_gate_step() alone (no server), for tests. */
#ifndef RAFTKV_APPLY_GATE_H
#define RAFTKV_APPLY_GATE_H

#include <stdbool.h>
#include <stdint.h>

#define APPLY_GATE_DEFAULT_MAX 8192

struct apply_gate {
    bool paused;     /* client connections are not read */
    uint64_t pauses; /* times it paused since start */
    uint64_t backlog; /* committed minus applied at the latest step */
};

enum apply_gate_change { APPLY_GATE_SAME = 0, APPLY_GATE_PAUSE, APPLY_GATE_RESUME };

/* One look at the backlog: max 0 turns the gate off (never paused). */
enum apply_gate_change apply_gate_step(struct apply_gate *g, uint64_t max, bool leader,
                                       uint64_t committed, uint64_t applied);

#endif
