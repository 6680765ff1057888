/* node.h - the Maelstrom node: turns protocol lines into replica calls and
 * replica outputs into protocol lines. No I/O here: the loop (node_loop.c)
 * feeds it lines and writes what it renders, so tests can drive it too. */
#ifndef RAFTKV_NODE_H
#define RAFTKV_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node/outbuf.h"

struct storage_sync_job;

struct node_options {
    uint64_t seed;                /* 0: derived from the clock and pid */
    uint64_t election_timeout_ms; /* 0: the core's default */
    uint64_t heartbeat_ms;        /* 0: the core's default */
    uint64_t request_timeout_ms;  /* forwarded and pending requests; 0: 1000 */
    uint64_t park_timeout_ms;     /* waiting for a leader to be known; 0: 800 */
    size_t max_requests;          /* bound on requests in flight; 0: 65536 */
    uint64_t snapshot_entries;    /* snapshot after this many applied entries; 0: default */
    bool unsafe_local_reads;      /* the deliberate bug (replica.h) */
    const char *data_dir;         /* NULL: in memory */
};

struct node;

struct node *node_new(const struct node_options *o);
void node_free(struct node *n);

/* One input line (no newline). Never fails: bad input is logged, answered
 * if it asked for an answer, and dropped. */
void node_handle_line(struct node *n, const char *line, size_t len, uint64_t now_ms);
/* End of an input batch or timer: flush the replica, render batches. */
void node_end_batch(struct node *n, uint64_t now_ms);
void node_tick(struct node *n, uint64_t now_ms);
/* Rendered lines waiting to be written to stdout; the caller empties it. */
struct outbuf *node_output(struct node *n);
/* Optional: how to write node_output() out in the middle of a batch. A
 * leader's APPENDs are written with it before its own sync (replica.h), so
 * followers work while it syncs; without it they leave at the batch end. */
void node_set_output_writer(struct node *n, void (*write)(void *ctx), void *ctx);
/* Optional, with --data-dir: how to run the log's fdatasync off the loop
 * (replica.h, sync_start). queue(ctx, job) arranges for
 * storage_sync_job_run(job) to run on another thread and then, back on
 * this one, node_sync_done() followed by node_end_batch(); it returns 0, or
 * nonzero if it cannot (the node then syncs inline). Set before the init
 * message arrives. Without it the node syncs inline. */
void node_set_background_sync(struct node *n,
                              int (*queue)(void *ctx, struct storage_sync_job *job), void *ctx);
void node_sync_done(struct node *n);
/* Absolute ms of the next node_tick(); UINT64_MAX when nothing is due. */
uint64_t node_deadline(const struct node *n);
/* Nonzero after a fatal error (storage); the process must exit non-zero. */
int node_failed(const struct node *n);
/* The driver's event-loop turn ended: the replica's apply budget
 * (replica_turn_end) starts afresh. After the first call the budget is a
 * turn's, for the replica created at init too, so a restart's committed log
 * tail is applied a turn at a time while the loop polls its input. */
void node_turn_end(struct node *n);
/* The replica's applied and commit indexes (0 before init). */
uint64_t node_applied_index(const struct node *n);
uint64_t node_commit_index(const struct node *n);

#endif
