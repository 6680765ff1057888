/* nemesis.h - faults on a schedule: every --nemesis-interval seconds the
 * cluster alternates between healthy and one fault, chosen from the run's
 * nemesis rng among those --nemesis enables:
 *   partition  the network cut in one of Jepsen's shapes (below);
 *   kill       SIGKILL to one node, a minority or (rarely) all nodes, then a
 *              restart in the same slot (same id, log and data folder) and a
 *              new init, as Maelstrom does at every start;
 *   pause      SIGSTOP to such a set of nodes, then SIGCONT.
 * Each fault is an info event in the history when it starts and when it
 * ends; at the end of the test every fault is undone.
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

enum whirl_fault { WHIRL_FAULT_NONE, WHIRL_FAULT_PARTITION, WHIRL_FAULT_KILL, WHIRL_FAULT_PAUSE };

extern const char *const whirl_shape_names[WHIRL_SHAPE_COUNT];

/* Chooses a partition for n nodes: fills blocked[src * n + dest] (symmetric)
 * and, into value, the partition as JSON (components as lists of node ids,
 * or for the ring and the bridge the nodes each one cannot hear). Returns
 * the shape, or -1 when n < 2 leaves nothing to partition. */
int whirl_partition_pick(struct rng *g, int n, char **ids, bool *blocked, struct whirl_buf *value);

/* Chooses the nodes a kill or pause hits: usually one, often a minority,
 * one time in ten all of them. Fills targets[n]; returns how many. */
int whirl_fault_targets(struct rng *g, int n, bool *targets);

/* Starts the schedule (if --nemesis asks for any fault). Returns 0 or -1. */
int whirl_nemesis_start(struct whirl_run *run);
/* Ends the schedule and undoes the fault in force (recorded in the history). */
void whirl_nemesis_stop(struct whirl_run *run);
void whirl_nemesis_free(struct whirl_run *run);

#endif
