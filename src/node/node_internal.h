/* node_internal.h - the node's state, shared by its files: identity, the
 * replica and its router, the table of client requests in flight, the
 * forwarding batches. */
#ifndef RAFTKV_NODE_INTERNAL_H
#define RAFTKV_NODE_INTERNAL_H

#include <jansson.h>

#include "node/node.h"
#include "node/node_log.h"
#include "node/raft_codec.h"
#include "replica/replica.h"
#include "router/router.h"
#include "storage/storage_replica.h"

enum request_kind {
    REQ_FREE,
    REQ_CLIENT,       /* a client of this node: in the router until it ends */
    REQ_FORWARDED_IN, /* from a follower's fwd batch, submitted here */
};

/* A request in flight. Its ref, (gen << 32 | slot), is the replica's
 * client_ref and the router's `user` handle; gen makes stale refs
 * harmless. */
struct request {
    uint32_t gen;
    uint8_t kind;
    struct kv_command cmd; /* owned references */
    char *client;          /* REQ_CLIENT: the client's name */
    json_int_t msg_id;     /* REQ_CLIENT: the client's msg_id */
    uint64_t router_id;    /* REQ_CLIENT: the router's id of its local attempt */
    int origin;            /* FORWARDED_IN: the follower's id */
    uint64_t fwd_id;       /* FORWARDED_IN: the follower's router id */
    uint64_t fwd_epoch;    /* FORWARDED_IN: the follower's epoch */
};

struct node {
    struct node_options opts;
    bool initialized;
    char **names; /* raft id -> node name */
    int n_nodes, self;
    char addressed_as[64]; /* before init: the dest the last message named */
    struct replica *replica;
    struct router *router;
    bool resubmitted; /* the router submitted to the replica during a flush */
    struct storage *storage;          /* NULL: in memory */
    struct replica_log_store log_store; /* the replica's seam over `storage` */
    char data_dir[4096];                /* --data-dir with {node} filled in */
    uint64_t seed;
    int last_role, last_leader;
    uint64_t last_term;

    struct outbuf out;
    void (*write_output)(void *ctx); /* node_set_output_writer() */
    void *write_output_ctx;
    uint64_t next_msg_id;
    struct raft_codec_arena arena;

    struct request *reqs;
    uint32_t *free_slots;
    size_t n_free, cap_reqs, max_reqs;
    uint64_t epoch; /* this process's, in its forwards (node_client.c) */

    /* This batch's forwards per leader (one term per line), and answers to
     * forwards per follower: lists of members rendered as they come,
     * wrapped in one line each. */
    struct outbuf fwd_batch[RAFT_MAX_NODES];
    size_t n_fwd_batch[RAFT_MAX_NODES];
    raft_term fwd_term[RAFT_MAX_NODES];
    struct outbuf fwd_reply[RAFT_MAX_NODES];
    size_t n_fwd_reply[RAFT_MAX_NODES];
    uint64_t fwd_reply_epoch[RAFT_MAX_NODES]; /* one epoch per answer line */

    uint64_t last_now; /* the time of the latest input, for callbacks */

    /* Raft messages refused (ill-formed, or past the core's bounds) and
     * elections refused at max_term: logged at most once a second each. */
    struct node_log_limit refused_msg_log, refused_election_log;
    uint64_t elections_refused_seen;

    struct storage_replica_sync bg_sync; /* node_set_background_sync() */
    int failed;

    /* node_turn_end() was called: the replica's apply budget is a turn's
     * from its creation on. */
    bool turns;
    /* The commit index the log's commit marks gave at the start, until it
     * is applied (logged once then); 0: none left to report. */
    uint64_t restart_commit_end;
};

/* node.c */
void node_line_begin(struct node *n, const char *dest, const char *type);
void node_line_end(struct node *n);
int node_peer_id(const struct node *n, const char *name);

/* node_client.c */
void node_client_request(struct node *n, const char *src, json_t *body, const char *type,
                         uint64_t now_ms);
void node_fwd_request(struct node *n, int from, json_t *body, uint64_t now_ms);
void node_fwd_reply(struct node *n, json_t *body);
void node_reply_error(struct node *n, const char *dest, json_int_t msg_id, bool has_id, int code,
                      const char *text);
/* An integer in 0..2^53-1 (RAFT_CODEC_MAX_INT): what every Maelstrom peer's
 * JSON parser reads exactly. Ids, terms and codes outside it are refused. */
bool node_json_u53(const json_t *v);
/* Error 12 for a msg_id that is absent, not an integer or out of range,
 * echoing it as sent. */
void node_reply_bad_msg_id(struct node *n, const char *src, const json_t *id);
void node_complete(void *ctx, uint64_t ref, const struct replica_result *res);
void node_emit_forwards(struct node *n);
/* The router's callbacks (router_config.submit, forward, finish). */
void node_router_submit(void *ctx, uint64_t id, void *user);
bool node_router_forward(void *ctx, int leader, raft_term term, uint64_t id, void *user);
void node_router_finish(void *ctx, void *user, enum replica_status status, const char *text);
bool node_requests_init(struct node *n);
void node_requests_free(struct node *n);

#endif
