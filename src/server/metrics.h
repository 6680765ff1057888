/* metrics.h - what `raftkv serve` exports on its metrics port: the
 * observations the server keeps for it (who was heard when, elections seen),
 * the Prometheus text of /metrics, and the health rule of /health. The HTTP
 * side is metrics_http.c. */
#ifndef RAFTKV_SERVER_METRICS_H
#define RAFTKV_SERVER_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

/* Kept by the server whether or not the metrics port is on (cheap: a few
 * stores per batch and per peer message). */
struct metrics {
    uint64_t peer_heard_ms[RAFT_MAX_NODES]; /* the last Raft message from each peer */
    bool peer_heard[RAFT_MAX_NODES];
    bool observed;   /* the fields below hold a first observation */
    raft_term last_term;
    int last_role;   /* enum raft_role at the last observation */
    int last_leader; /* the last leader known, RAFT_NO_NODE before one */
    int seen_leader; /* the leader known at the last observation, or RAFT_NO_NODE */
    uint64_t elections;      /* terms this member entered as a candidate (or leader) */
    uint64_t leader_changes; /* a different leader became known */
    uint64_t term_changes;
};

/* The /health rule, pure (tested with literal inputs). */
struct health_input {
    int n_nodes;
    uint64_t voters; /* bit id set for each voter; 0: ids 0..n_nodes-1 all vote */
    int self;
    int role;   /* enum raft_role */
    int leader; /* RAFT_NO_NODE if unknown */
    const char *leader_name;
    /* How long ago (ms) each member was heard; UINT64_MAX never. Self's is
     * ignored. */
    uint64_t heard_ago_ms[RAFT_MAX_NODES];
    uint64_t election_timeout_ms;
    raft_index commit_index, applied_index;
    uint64_t max_lag;
    bool shutting_down;
};
/* 200, or 503 with the reason in `reason` (one line, no newline). */
int health_check(const struct health_input *in, char *reason, size_t cap);

#endif
