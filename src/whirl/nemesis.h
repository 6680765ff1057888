/* nemesis.h - faults on a schedule: network partitions in Jepsen's shapes
 * alternating with healed periods, every --nemesis-interval seconds, from the
 * run's nemesis rng. (Kill and pause are recognised by the options and will
 * be scheduled here too: each fault is a start event and a stop event.)
 */
#ifndef RAFTKV_WHIRL_NEMESIS_H
#define RAFTKV_WHIRL_NEMESIS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/rng.h"
#include "whirl/buf.h"
#include "whirl/run.h"

enum whirl_shape {
    WHIRL_SHAPE_ONE,           /* one node isolated */
    WHIRL_SHAPE_MINORITY_THIRD,/* a random third (at least one node) cut off */
    WHIRL_SHAPE_HALVES,        /* random halves */
    WHIRL_SHAPE_RING,          /* a ring where every node sees a majority */
    WHIRL_SHAPE_BRIDGE,        /* two halves that share one node */
    WHIRL_SHAPE_COUNT
};

extern const char *const whirl_shape_names[WHIRL_SHAPE_COUNT];

/* Chooses a partition for n nodes: fills blocked[src * n + dest] (symmetric)
 * and, into value, the partition as JSON (components as lists of node ids,
 * or for the ring and the bridge the nodes each one cannot hear). Returns
 * the shape, or -1 when n < 2 leaves nothing to partition. */
int whirl_partition_pick(struct rng *g, int n, char **ids, bool *blocked, struct whirl_buf *value);

/* Starts the schedule (if --nemesis asks for partitions). */
void whirl_nemesis_start(struct whirl_run *run);
/* Ends the schedule and heals the network (recorded in the history). */
void whirl_nemesis_stop(struct whirl_run *run);

#endif
