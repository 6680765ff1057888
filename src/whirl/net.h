/* net.h - whirl's simulated network: every message between nodes, and
 * between clients and nodes, passes through here.
 *
 * A message is delayed by the latency distribution (sampled from the run's
 * network rng), dropped when its link is partitioned at send or at delivery
 * time, counted, and kept in the bounded message log. Node-to-node lines are
 * forwarded as the exact bytes the node wrote.
 */
#ifndef RAFTKV_WHIRL_NET_H
#define RAFTKV_WHIRL_NET_H

#include <stddef.h>
#include <stdint.h>

#include "whirl/run.h"

/* The id "c0" is whirl's own control client (init). */
#define WHIRL_CONTROL_CLIENT 0

int whirl_net_init(struct whirl_run *run);
/* One line a node wrote to stdout (no newline). */
void whirl_net_from_node(struct whirl_run *run, struct whirl_node *from, const char *line, size_t len);
/* A client's request line to node dest. Returns 0, or -1 if it could not be
 * queued (counted as dropped). */
int whirl_net_from_client(struct whirl_run *run, int dest, const char *line, size_t len);
/* Writes messages.jsonl. Returns 0 or -1. */
int whirl_net_write_log(struct whirl_run *run, char *err, size_t errlen);
/* Frees the messages still in flight in the timer queue (end of run). */
void whirl_net_drop_pending(struct whirl_run *run);
void whirl_net_free(struct whirl_run *run);

#endif
