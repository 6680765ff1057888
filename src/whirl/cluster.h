/* cluster.h - the node processes: spawning them with pipes, batching what
 * whirl writes to their stdin, splitting their stdout into lines, keeping
 * their stderr in node-logs/<id>.log, and noticing when they exit.
 */
#ifndef RAFTKV_WHIRL_CLUSTER_H
#define RAFTKV_WHIRL_CLUSTER_H

#include <stddef.h>

#include "whirl/run.h"

/* The literal text {data} in a node argument becomes that node's own data
 * folder, <run>/data/<id> (created when used), which survives restarts. */
#define WHIRL_DATA_PLACEHOLDER "{data}"

/* Allocates the node slots n0..n{N-1}, opens their logs and spawns them.
 * Returns 0, or -1 after whirl_abort(). */
int whirl_cluster_start(struct whirl_run *run);
/* (Re)spawns the process of one slot. Returns 0 or a libuv error. */
int whirl_node_spawn(struct whirl_node *node);
/* Queues Maelstrom's init message for the node. Returns 0 or -1. */
int whirl_node_send_init(struct whirl_node *node);
/* Starts a stopped node again in its slot (same id, log and data folder) and
 * sends it init. Returns 0, or UV_EAGAIN while the old process's pipes are
 * still closing (retry a little later), or another libuv error. */
int whirl_node_restart(struct whirl_node *node);
/* Queues one line (a newline is added) for the node's stdin; written in one
 * batch per loop iteration by whirl_cluster_flush(). Returns 0, or -1 if the
 * node cannot take it (not running, stdin closed, or backlog too large). */
int whirl_node_send(struct whirl_node *node, const char *line, size_t len);
/* Records a stdout line that is not a valid message: counted, the first one
 * kept for the results and shown on the console. */
void whirl_node_note_junk(struct whirl_node *node, const char *line, size_t len, const char *why);
/* Starts the writes of every node with queued bytes. */
void whirl_cluster_flush(struct whirl_run *run);
/* Sends a signal to a running node's process; the exit counts as expected
 * when `expected` is set (shutdown, kill nemesis). */
void whirl_node_signal(struct whirl_node *node, int signum, int expected);
/* End of the run: closes every stdin so nodes can exit on their own. */
void whirl_cluster_close_stdin(struct whirl_run *run);
/* Number of node processes still running. */
int whirl_cluster_running(const struct whirl_run *run);
/* Closes every handle; the loop then has nothing of the cluster left. */
void whirl_cluster_close(struct whirl_run *run);
void whirl_cluster_free(struct whirl_run *run);

#endif
