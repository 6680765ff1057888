/* cluster_private.h - the test cluster's internals, shared by its files:
 * cluster.c (clock, event loop, the driver), cluster_disk.c (the simulated
 * disk), cluster_net.c (links and
 * messages in flight), cluster_safety.c (the invariants), cluster_client.c
 * (state machine and client operations).
 */
#ifndef RAFTKV_TEST_CLUSTER_PRIVATE_H
#define RAFTKV_TEST_CLUSTER_PRIVATE_H

#include "cluster.h"

#define CLUSTER_MAX_STEPS_AT_ONE_TIME 200000

/* Where in the order of work a crash point strikes (cluster_set_crash_points). */
enum { CRASH_NONE = -1, CRASH_MID_PERSIST, CRASH_BEFORE_SEND, CRASH_BEFORE_APPLY,
       CRASH_BEFORE_PERSISTED, CRASH_POINTS };

/* What a node's disk holds: exactly what its updates told the driver to
 * persist. A crash keeps this and nothing else. */
struct cluster_disk {
    raft_term term;
    int voted_for;
    struct raft_entry *ents; /* ents[i] has index offset + 1 + i; deep copies */
    size_t n, cap;
    raft_index offset;
    raft_term offset_term;
    raft_index snap_index;
    raft_term snap_term;
    uint8_t *snap;
    size_t snap_len;
    /* The configuration as of snap_index, stored beside the snapshot. */
    bool has_snap_conf;
    struct raft_configuration snap_conf;
    raft_index durable; /* entries past this are written but not yet synced */
    /* The commit mark (storage_set_commit): the value a sync that wrote
     * entries made durable after them, and the one still riding on an
     * unsynced write (a crash keeps it only with every entry before it).
     * A restart hands it back (raft_restore.commit), sometimes lower. */
    raft_index commit, commit_unsynced;
    /* With lending (cluster_set_lend): payloads the disk dropped (truncated,
     * compacted) while the core may still point at them; freed once its
     * lent range has left their index, or the core is gone. */
    struct cluster_retired {
        raft_index index;
        uint8_t *data;
    } *retired;
    size_t n_retired, cap_retired;
    bool lending;
};

struct cluster_sm {
    bool present[CLUSTER_MAX_KEYS];
    int32_t value[CLUSTER_MAX_KEYS];
};

struct cluster_node {
    struct cluster *c;
    int id;
    struct raft *raft;
    bool alive;
    struct cluster_disk disk;
    struct cluster_sm sm;
    raft_index sm_applied;
    raft_index last_snap;
    uint64_t sync_at; /* a pending leader sync completes then (0: none) */
    /* Leader append-only: what this node's log looked like as leader. */
    /* The role its last update reported: a leader's commit index counts
     * in max_leader_commit also in the step it stepped down in. */
    enum raft_role role_seen;
    raft_term lead_term;
    raft_index lead_last;
    raft_term lead_last_term;
    size_t dead_before; /* raft_log_dead_entries() after the previous step */
    raft_index lead_conf_index; /* as leader: its latest CONFIG entry past the commit */
};

struct cluster_flight {
    uint64_t at, seq;
    struct raft_msg msg; /* deep copy: entries, their data and snapshot owned */
};

struct cluster_pending {
    struct cluster_completion done; /* filled as it goes */
    bool is_read;
    raft_index index; /* write/cas: where it was proposed */
    raft_term term;
    uint64_t deadline; /* 0: none */
};

struct cluster_entry_rec {
    raft_index index; /* 0: empty slot */
    raft_term term;
    raft_term prev_term;
    uint64_t hash;
};

struct cluster_applied_rec {
    raft_term term; /* 0: nothing applied at this index yet */
    uint64_t hash;
};

struct cluster {
    int n;
    uint64_t seed;
    uint64_t now;
    uint64_t steps;
    uint64_t steps_at_now;
    struct rng rng;
    struct raft_config base;
    bool has_initial; /* nodes start from `initial`, not all n voting */
    struct raft_configuration initial;
    bool trace_hook; /* cores get a trace callback */
    bool trace_on, trace_print;
    char **trace_lines;
    size_t n_trace, cap_trace;

    struct cluster_node nodes[RAFT_MAX_NODES];
    struct cluster_link links[RAFT_MAX_NODES][RAFT_MAX_NODES];

    struct cluster_flight *heap;
    size_t n_heap, cap_heap;
    uint64_t send_seq;

    raft_index snapshot_every;
    double crash_point_prob;
    uint64_t crash_points_hit[CRASH_POINTS];
    uint64_t sync_delay_ms;
    bool lend; /* drivers lend the disk's bytes of applied, synced entries */
    uint64_t lent; /* entries lent so far */
    uint64_t restored_committed; /* cluster_restored_committed() */

    cluster_complete_fn on_complete;
    void *on_complete_ctx;
    struct cluster_pending *ops;
    size_t n_ops, cap_ops;
    uint64_t next_op_id;

    /* Safety records. */
    bool failed;
    char error[512];
    int *leader_of_term; /* by term: the node that led it, or -1 */
    size_t cap_terms;
    struct cluster_entry_rec *entry_map;
    size_t cap_entry_map, n_entry_map;
    struct cluster_applied_rec *applied;
    size_t cap_applied;
    raft_index max_applied;
    raft_index max_commit; /* the highest commit index any node reached */
    /* ... as leader: nothing may be applied past it (a restored commit
     * index included). */
    raft_index max_leader_commit;

    uint64_t msgs_sent[RAFT_MSG_TYPE_COUNT];
    uint64_t msgs_sent_to[RAFT_MAX_NODES][RAFT_MSG_TYPE_COUNT];
    uint64_t max_entries_in_append;
};

/* cluster.c */
void cluster_handle_update(struct cluster_node *nd, const struct raft_update *u);
void cluster_fail(struct cluster *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* cluster_trace.c */
void cluster_trace_cb(void *ctx, const char *line);

/* cluster_disk.c */
raft_index cluster_disk_last(const struct cluster_disk *d);
bool cluster_disk_term_at(const struct cluster_disk *d, raft_index index, raft_term *t);
void cluster_disk_truncate_from(struct cluster_disk *d, raft_index from);
void cluster_disk_append(struct cluster_disk *d, const struct raft_entry *e);
void cluster_disk_save_snapshot(struct cluster_disk *d, raft_index index, raft_term term,
                                const uint8_t *data, size_t len);
void cluster_disk_free(struct cluster_disk *d);
/* A sync made the unsynced commit mark durable. */
void cluster_disk_synced(struct cluster_disk *d);
/* The commit index a restart hands the core (seed: the restart's own). */
raft_index cluster_disk_restored_commit(const struct cluster_disk *d, uint64_t seed);
/* Lending: the disk's copies of applied, synced entries to the core
 * (raft_lend), and the retired payloads it no longer points at freed. */
void cluster_disk_lend(struct cluster_node *nd);
/* Free every retired payload (the core is gone). */
void cluster_disk_reap_all(struct cluster_disk *d);

/* cluster_net.c */
void cluster_net_init(struct cluster *c);
void cluster_net_send(struct cluster *c, const struct raft_msg *m);
bool cluster_net_peek(const struct cluster *c, uint64_t *at);
bool cluster_net_pop(struct cluster *c, struct cluster_flight *out);
void cluster_flight_free(struct cluster_flight *f);
void cluster_net_free(struct cluster *c);

/* cluster_safety.c */
uint64_t cluster_entry_hash(const struct raft_entry *e);
void cluster_safety_persisted(struct cluster_node *nd, const struct raft_entry *e,
                              raft_term prev_term);
void cluster_safety_applied(struct cluster_node *nd, const struct raft_entry *e);
void cluster_safety_snapshot_applied(struct cluster_node *nd, raft_index index, raft_term term);
void cluster_safety_after_step(struct cluster *c);
void cluster_safety_free(struct cluster *c);

/* cluster_client.c */
void cluster_sm_apply(struct cluster_node *nd, const struct raft_entry *e);
void cluster_sm_encode(const struct cluster_sm *sm, uint8_t **data, size_t *len);
void cluster_sm_decode(struct cluster_sm *sm, const uint8_t *data, size_t len);
void cluster_reads_done(struct cluster_node *nd, const uint64_t *ids, size_t n, bool ok);
void cluster_ops_node_snapshot(struct cluster_node *nd, raft_index snap_index);
void cluster_ops_node_crashed(struct cluster_node *nd);
bool cluster_ops_next_deadline(const struct cluster *c, uint64_t *at);
void cluster_ops_expire(struct cluster *c);
void cluster_ops_free(struct cluster *c);

#endif
