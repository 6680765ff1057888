/* rcluster.h - the deterministic simulator with the whole request path:
 * each node is a struct replica (its log on a model disk that survives a
 * crash) plus a struct router, driven as the front ends drive them, on one
 * virtual clock.
 *
 * Links carry Raft messages with latency, drops and duplicates (a
 * partition cuts them, in flight too), and the routers' forwards and the
 * leaders' answers with latency, in order per link and never duplicated,
 * as a TCP stream: a cut link refuses new forwards (the router's forward
 * callback returns false) and what was sent still arrives. So a forward can
 * arrive late, after a leader change, or never (its leader crashed). With
 * links.stream_gaps a forward or answer is also dropped (links.drop, or a
 * cut) while later ones on the link arrive: router.h's rule 6 does not
 * hold then (a read re-routed after a lost forward can take effect after
 * later reads of its connection that were answered). A crash loses
 * everything but the disk (no torn writes here: cluster.h models those);
 * messages in flight may still arrive, including answers addressed to the
 * crashed incarnation, which are ignored.
 *
 * Clients are connections attached to a node (followers too) that pipeline
 * operations; each connection's operations go through the node's router
 * with its struct router_conn, so rule 6 (per-connection order) applies.
 * A completion reports the outcome the front end would give: ok, a
 * definite failure (11, or 20/22 from the state machine), or unknown (13;
 * also every operation of a connection whose node crashed).
 *
 * Snapshots (rcluster_new_snapshots) are background work with a duration,
 * as the server's forked child: the replica's snapshot_start hook takes the
 * map's image at that instant, and the snapshot becomes durable on the
 * model disk (covered log dropped) and is reported with
 * replica_snapshot_done() a random [min_ms, max_ms] later in simulated
 * time, while heartbeats, replication and clients go on; a crash meanwhile
 * loses it (the old snapshot stays) and the node restarts from the old
 * one. Lagging followers catch up by InstallSnapshot, streamed in chunks
 * by replica/snap_stream.h's state machines (the server's): an offer, at
 * most 4 chunks of chunk_bytes unacknowledged, acknowledgements, a 600 ms
 * stall timeout, the receiver's file on the model disk (lost in a crash),
 * synced and checked 1-20 ms after its last chunk, then installed.
 * Transfers are cut by partitions, crashes of either end (whose peers see
 * the connection close at once, or only by the stall timeout), leader
 * changes and links.chunk_faults.
 *
 * After every step the simulator checks: at most one leader per term, a
 * node's applied index never goes down while it lives, and every operation
 * ends at most once; for snapshot transfers: no more chunks of a transfer
 * in flight than the window, acknowledgements and chunks of another
 * transfer change nothing, a chunk is written only at its file's end, no
 * transfer outlives its stall timeout (each end ends it: no leak), and a
 * member is asked to install only a whole, uncorrupted, durable image;
 * no node acknowledges an entry (APPEND_RESP's match) no sync covered.
 * rcluster_error() holds the first violation.
 */
#ifndef RAFTKV_TEST_RCLUSTER_H
#define RAFTKV_TEST_RCLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

/* RC_KEYS: KEYS * (kv KV_KEYS), routed as a long read (router.h rule 9). */
enum rcluster_f { RC_READ, RC_WRITE, RC_CAS, RC_KEYS };
enum rcluster_outcome { RC_OK, RC_FAIL, RC_INFO };

struct rcluster_done {
    uint64_t op;   /* rcluster_submit's id */
    int conn;
    enum rcluster_outcome outcome;
    int code;      /* RC_FAIL: 11, 20 or 22; RC_INFO: 13 */
    int32_t value; /* RC_OK read: the value read; RC_OK keys: the keys
                    * answered as a bit mask (bit k: key k, for keys 0..30),
                    * negative if any other key was in the answer */
};

typedef void (*rcluster_done_fn)(void *ctx, const struct rcluster_done *d);

struct rcluster_links {
    uint64_t latency_min_ms, latency_max_ms;
    double drop;      /* any message */
    double duplicate; /* Raft messages only */
    double stall;     /* a forward or answer holds up its stream for 0.2-1 s */
    bool stream_gaps; /* forwards and answers may be lost with later ones arriving */
    /* Snapshot transfer frames ride their own in-order stream per link;
     * each is also dropped, duplicated (the copy late) or let overtake
     * earlier ones, and a chunk's bytes corrupted, each with this
     * probability; and with twice it, a chunk received mid-transfer makes
     * the transfer's link silent both ways for 0.5-0.9 s. */
    double chunk_faults;
};

struct rcluster;

struct rcluster_snapshots {
    raft_index threshold;  /* snapshot every this many applied entries; 0: never */
    uint64_t min_ms, max_ms; /* how long each takes */
    size_t apply_batch;    /* replica_config.apply_batch (0: its default) */
    uint64_t apply_cpu_ns; /* replica_config.apply_cpu_ns, on a fake CPU clock that
                            * advances 0.2-2 ms a read (0: no time budget) */
    uint32_t chunk_bytes;  /* InstallSnapshot chunk size (0: 64 bytes) */
    /* Slow applying in simulated time: a node's event-loop turn ends
     * (replica_turn_end) at most once per this many ms, so it applies at
     * most apply_batch entries per that time (0: every batch is a turn of
     * its own, as before). */
    uint64_t apply_turn_ms;
    /* The last `learners` nodes (0..n-1) start as learners of the initial
     * configuration, the rest its voters; every node's
     * replica_config.learner_sync_interval_ms. */
    int learners;
    uint64_t learner_sync_interval_ms;
    /* KEYS answered from the replica's point-in-time walk (replica.h):
     * with keys_walk, every node's replica_config.keys_walk_min and
     * keys_walk_entries (a walk of this many entries per flush, or per
     * turn with apply_turn_ms); without it the replica's defaults. */
    bool keys_walk;
    size_t keys_walk_min, keys_walk_entries;
};

/* KEYS walks begun and ended with an answer, over every incarnation. */
void rcluster_keys_walks(const struct rcluster *c, uint64_t *begun, uint64_t *done);

/* Chunked InstallSnapshot transfers so far. */
struct rcluster_transfers {
    uint64_t started;   /* offers sent */
    uint64_t chunks;    /* chunks sent */
    uint64_t installed; /* images received whole, durable, checked, handed to the core */
    uint64_t cut_send, cut_recv; /* ended unfinished at the sender, at the receiver */
};

struct rcluster *rcluster_new(int n, uint64_t seed, rcluster_done_fn done, void *ctx);
struct rcluster *rcluster_new_snapshots(int n, uint64_t seed, rcluster_done_fn done, void *ctx,
                                        const struct rcluster_snapshots *snap);
/* Whether a live node's background snapshot is running. */
bool rcluster_snapshot_running(const struct rcluster *c, int node);
/* Snapshots finished, and cut short by a crash, so far. */
void rcluster_snapshot_counts(const struct rcluster *c, uint64_t *done, uint64_t *cut);
void rcluster_transfer_counts(const struct rcluster *c, struct rcluster_transfers *out);
/* Transfers under way at live nodes, counting each end. */
int rcluster_transfers_active(const struct rcluster *c);
void rcluster_free(struct rcluster *c);
void rcluster_set_links(struct rcluster *c, const struct rcluster_links *l);

uint64_t rcluster_now(const struct rcluster *c);
uint64_t rcluster_steps(const struct rcluster *c);
/* Run every event due up to now + ms. False once a check failed. */
bool rcluster_elapse(struct rcluster *c, uint64_t ms);
bool rcluster_ok(const struct rcluster *c);
/* The log syncs `node`'s disk has seen, over all its restarts. */
uint64_t rcluster_syncs(const struct rcluster *c, int node);
/* A live node's applied index (0 when it is down). */
raft_index rcluster_applied(const struct rcluster *c, int node);
const char *rcluster_error(const struct rcluster *c);

void rcluster_cut(struct rcluster *c, int a, int b, bool cut); /* both ways */
void rcluster_heal(struct rcluster *c);
void rcluster_crash(struct rcluster *c, int node);
void rcluster_restart(struct rcluster *c, int node);
bool rcluster_alive(const struct rcluster *c, int node);
int rcluster_leader(const struct rcluster *c); /* a live leader of the highest term, or -1 */

/* A connection to `node` (which must be alive); -1 when the table is full.
 * It dies with its node: its unfinished operations end unknown (reads
 * too; the caller drops them), and later submits on it end 11 at once. */
int rcluster_connect(struct rcluster *c, int node);
bool rcluster_conn_alive(const struct rcluster *c, int conn);
/* An operation on `conn`: read key, write key = a, cas key a -> b, keys
 * (key, a and b unused). Its id; it may end within the call. */
uint64_t rcluster_submit(struct rcluster *c, int conn, enum rcluster_f f, int key, int32_t a,
                         int32_t b);
size_t rcluster_unfinished(const struct rcluster *c);

/* Every live node that has applied as much as `node`, holds the same map.
 * False (and an error) if not. */
bool rcluster_check_maps(struct rcluster *c);

#endif
