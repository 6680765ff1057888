/* cluster.h - a deterministic in-process Raft cluster for tests.
 *
 * N cores share one virtual clock. Each node has a driver that follows
 * raft.h's ORDER OF WORK exactly: a simulated disk (hard state, entries,
 * snapshot) is written before messages leave, the node's state machine (a
 * map of small int keys to int registers) applies committed entries, and
 * durability is reported back with RAFT_EVENT_PERSISTED. The network is per
 * directed link: latency (constant, uniform or exponential), drops,
 * duplicates, extra reordering delay, and cuts (partitions). A crashed node
 * loses everything but its disk; messages it sent before may still arrive.
 *
 * cluster_step() runs the earliest pending event: a message delivery, a
 * node's timer (raft_deadline) or a client operation's timeout; ties go to
 * messages first (in send order), then nodes by id. After every step the
 * fixture checks Raft's safety properties (Figure 3.2): election safety,
 * leader append-only, log matching, leader completeness, state machine
 * safety, that each node applies entries in order, once, and that no
 * leader's log holds two configuration changes past what was committed
 * (thesis 4.1: one change at a time). The first
 * violation is kept (with the seed and step number); cluster_ok() turns
 * false and stays false.
 *
 * Client operations (read/write/cas on int keys) follow the rules the real
 * node does: a write or cas is proposed on the node it is sent to; it gets
 * the state machine's result when that node applies the entry at the
 * (index, term) it was proposed at, and an unknown outcome (info) if a
 * different entry lands there, the node crashes, or it times out; a read
 * goes through ReadIndex and fails when that does. Everything is
 * replayable from the seed.
 */
#ifndef RAFTKV_TEST_CLUSTER_H
#define RAFTKV_TEST_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/rng.h"
#include "raft/raft.h"

#define CLUSTER_MAX_KEYS 16

enum cluster_latency { CLUSTER_CONSTANT, CLUSTER_UNIFORM, CLUSTER_EXPONENTIAL };

/* One directed link's behaviour. */
struct cluster_link {
    bool cut;                   /* partitioned: everything is dropped */
    enum cluster_latency dist;  /* how latency is drawn */
    double latency_ms;          /* mean (uniform: [0, 2*mean]) */
    double drop;                /* probability a message is lost */
    double duplicate;           /* probability it arrives twice */
    double reorder;             /* probability of an extra delay of up to 4x mean */
};

enum cluster_op_f { CLUSTER_READ, CLUSTER_WRITE, CLUSTER_CAS };
enum cluster_outcome {
    CLUSTER_OK,      /* done; value holds what a read saw */
    CLUSTER_FAIL,    /* definitely did not happen (or cas precondition failed: see code) */
    CLUSTER_INFO     /* unknown: may or may not have happened */
};

/* Codes a completion carries, as the Maelstrom errors they stand for. */
#define CLUSTER_CODE_NONE 0
#define CLUSTER_CODE_TIMEOUT 1      /* info */
#define CLUSTER_CODE_NOT_LEADER 11  /* fail: not appended */
#define CLUSTER_CODE_UNKNOWN 13     /* info: another entry took its index, or crash */
#define CLUSTER_CODE_NO_KEY 20      /* fail: key missing (read or cas) */
#define CLUSTER_CODE_PRECONDITION 22 /* fail: cas from did not match */

struct cluster_completion {
    uint64_t op_id;
    enum cluster_op_f f;
    int node, key;
    int32_t a, b; /* write: a; cas: a -> b */
    enum cluster_outcome outcome;
    int code;
    int32_t value; /* read ok: the value seen */
    uint64_t call_ms, ret_ms;
};

typedef void (*cluster_complete_fn)(void *ctx, const struct cluster_completion *done);

struct cluster;

/* A cluster of n nodes (1..RAFT_MAX_NODES) with raft_config_default()
 * settings, all links connected with constant 1 ms latency. */
struct cluster *cluster_new(int n, uint64_t seed);
/* The same with a given base config (id, n_nodes and seed are set per node). */
struct cluster *cluster_new_config(int n, uint64_t seed, const struct raft_config *base);
/* n nodes of which only 0..n_voters-1 form the initial configuration (all
 * voters); the others start outside it, as spares to add. */
struct cluster *cluster_new_members(int n, int n_voters, uint64_t seed,
                                    const struct raft_config *base);
void cluster_free(struct cluster *c);

uint64_t cluster_seed(const struct cluster *c);
uint64_t cluster_now(const struct cluster *c);
uint64_t cluster_steps(const struct cluster *c);
int cluster_n(const struct cluster *c);
struct rng *cluster_rng(struct cluster *c); /* the fixture's own, for tests' choices */

/* Run the earliest event. False if there is none or safety was violated. */
bool cluster_step(struct cluster *c);
/* Run every event due within the next ms, then leave the clock at now+ms. */
bool cluster_elapse(struct cluster *c, uint64_t ms);
/* Step until pred(c, ctx) holds (true) or max_ms pass (false). */
bool cluster_step_until(struct cluster *c, bool (*pred)(struct cluster *c, void *ctx), void *ctx,
                        uint64_t max_ms);
/* Step until there is exactly one live leader, heard by a majority; returns it or -1. */
int cluster_wait_leader(struct cluster *c, uint64_t max_ms);
/* Step until every live member (of the leader's configuration, else of its
 * own) applied at least index (true) or max_ms pass. */
bool cluster_wait_applied(struct cluster *c, raft_index index, uint64_t max_ms);

/* Safety verdict so far, and the first violation ("" if none). */
bool cluster_ok(const struct cluster *c);
const char *cluster_error(const struct cluster *c);

/* Node views. */
struct raft *cluster_raft(struct cluster *c, int node); /* NULL while crashed */
bool cluster_alive(const struct cluster *c, int node);
int cluster_leader(const struct cluster *c); /* highest-term live leader, or -1 */
/* The node's state machine: is key present, and its value. */
bool cluster_sm_get(const struct cluster *c, int node, int key, int32_t *value);

/* Network. */
struct cluster_link *cluster_link(struct cluster *c, int from, int to);
void cluster_set_all_links(struct cluster *c, const struct cluster_link *link);
void cluster_connect(struct cluster *c, int a, int b, bool connected); /* both ways */
void cluster_heal(struct cluster *c);
void cluster_isolate(struct cluster *c, int node);
/* Two sides: nodes whose bit is set in side_mask against the rest. */
void cluster_partition_halves(struct cluster *c, uint32_t side_mask);
/* Each node sees itself and the next n/2 nodes around a ring (and they it):
 * every node has a majority, but no two the same one (Jepsen's
 * majorities-ring). */
void cluster_partition_majority_ring(struct cluster *c, uint32_t order_seed);
/* Two halves joined through one bridge node that sees both. */
void cluster_partition_bridge(struct cluster *c, int bridge);
/* Messages in flight; drop them all (as if a partition cut them). */
size_t cluster_in_flight(const struct cluster *c);
void cluster_drop_in_flight(struct cluster *c);

/* Deliver a hand-made message to node m->to now, as if a member forged it
 * (its refusal is no safety failure); the receiver's raft_step() result. */
int cluster_inject(struct cluster *c, const struct raft_msg *m);

/* Faults on nodes. */
void cluster_crash(struct cluster *c, int node);
void cluster_restart(struct cluster *c, int node);
/* A crashed node's disk replaced by an empty one (a wiped or new disk), so
 * it restarts having forgotten what it acknowledged. Raft assumes this never
 * happens; tests use it to see how the leader copes (replication.c). */
void cluster_wipe_disk(struct cluster *c, int node);

/* Crash points: each update a node's driver handles crashes the node with
 * this probability, at a random point of the order of work: mid-persist
 * (hard state maybe written, the new entries cut at a random torn tail,
 * nothing sent), after persisting before sending, after sending before
 * applying, or after applying before reporting PERSISTED. The node stays
 * down until cluster_restart(). */
void cluster_set_crash_points(struct cluster *c, double probability);
/* How often each crash point struck: 0 mid-persist, 1 before send, 2 before
 * apply, 3 before PERSISTED. */
#define CLUSTER_CRASH_POINT_KINDS 4
uint64_t cluster_crash_points_hit(const struct cluster *c, int point);

/* Thesis 10.2.1: with ms > 0 a leader's driver sends new entries before its
 * own sync, which completes ms later (then PERSISTED is reported); a crash
 * before that loses them (all but a torn prefix). 0: every update syncs
 * before sending. */
void cluster_set_leader_sync_delay(struct cluster *c, uint64_t ms);

/* Driver-side snapshots: after applying, a node snapshots its state machine
 * once it is `every` entries past its last snapshot (0: never). */
void cluster_set_snapshot_every(struct cluster *c, raft_index every);

/* Drivers lend each core their disk's copies of the entries applied and
 * synced (raft_lend), as the server lends its log files' bytes; what the
 * disk drops stays allocated while the core's lent range covers it. */
void cluster_set_lend(struct cluster *c, bool on);
/* Entries lent so far. */
uint64_t cluster_lent(const struct cluster *c);
/* Entries restarts found committed by their disk's commit mark (past its
 * snapshot), which the first update hands out before any message. */
uint64_t cluster_restored_committed(const struct cluster *c);

/* Client operations. Completion goes to the callback (set it first). */
void cluster_on_complete(struct cluster *c, cluster_complete_fn fn, void *ctx);
/* Submit at node; returns the op id (> 0). May complete at once (not
 * leader). timeout_ms 0 means none. */
uint64_t cluster_submit(struct cluster *c, int node, enum cluster_op_f f, int key, int32_t a,
                        int32_t b, uint64_t timeout_ms);
size_t cluster_pending_ops(const struct cluster *c);
/* The id the next cluster_submit() will return (its answer may come within
 * that call). */
uint64_t cluster_next_op_id(const struct cluster *c);

/* RAFT_EVENT_CHANGE on node: the core's answer; *index the CONFIG entry's. */
int cluster_change(struct cluster *c, int node, enum raft_change_type type, int id,
                   raft_index *index);

/* Raw proposal of opaque bytes on a node (no client bookkeeping). */
int cluster_propose(struct cluster *c, int node, const void *data, uint32_t len,
                    raft_index *index);

/* Ask node to hand leadership to target (RAFT_EVENT_TRANSFER; RAFT_NO_NODE:
 * the core picks); the core's result (RAFT_ERR_NOT_LEADER for a crashed
 * node). */
int cluster_transfer(struct cluster *c, int node, int target);

/* Trace capture: lines of every node's decision trace, when enabled
 * (RAFTKV_TRACE=1 in the environment also prints them to stderr). */
void cluster_trace_enable(struct cluster *c, bool on);
bool cluster_trace_contains(const struct cluster *c, const char *needle);
void cluster_trace_clear(struct cluster *c);
size_t cluster_trace_count(const struct cluster *c, const char *needle);
/* Index of the first captured line at or after `from` containing needle, or -1. */
long cluster_trace_find(const struct cluster *c, const char *needle, long from);

/* Messages sent so far, by type; and APPENDs with more than one entry. */
uint64_t cluster_msgs_sent(const struct cluster *c, enum raft_msg_type type);
uint64_t cluster_msgs_sent_to(const struct cluster *c, enum raft_msg_type type, int to);
uint64_t cluster_max_entries_in_append(const struct cluster *c);

#endif
