/* replica.h - one raftkv replica: the Raft core, the KV state machine, the log
 * store and the tables of pending client requests, glued together with no
 * transport of its own.
 *
 * Both front ends drive it the same way: the Maelstrom stdio node (src/node)
 * and the TCP/Redis server (src/server). A transport feeds it client commands
 * and peer messages as they arrive, and ends every input batch with
 * replica_flush(), which does the work in the order raft.h demands:
 *
 *   1. all commands submitted since the last flush go to the core as ONE
 *      READ event (reads) and then ONE PROPOSE event (writes, cas,
 *      deletes), whose APPENDs carry the reads' ReadIndex round; a TICK
 *      follows when the core asks for one at once (a round no APPEND took);
 *   2. everything the core asked to persist is written to the log store and
 *      made durable with one sync (group commit); a leader's APPENDs go out
 *      through config.send just before that sync, not after it (thesis
 *      10.2.1: the followers' round trip overlaps the leader's own sync,
 *      which the core counts only once PERSISTED reports it), unless the
 *      batch wrote a term, vote or snapshot;
 *   3. every other outgoing Raft message (votes, append acknowledgements)
 *      goes out through config.send, only after the sync; with
 *      config.sync_start the sync runs in the background and these wait
 *      for it while the replica goes on with later batches (their own
 *      messages then wait for the sync after it);
 *   4. client answers go out through config.complete;
 *   5. durability is reported back to the core (RAFT_EVENT_PERSISTED), and
 *      steps 2-5 repeat until the core has nothing more to say.
 *
 * Outputs are produced ONLY inside replica_flush(); replica_submit(),
 * replica_receive() and replica_tick() only step the core and queue. So a
 * transport's loop is: read everything available, submit/receive each
 * message, replica_flush(), write its buffers; on its timer (armed at
 * replica_deadline()), replica_tick() then replica_flush().
 *
 * Request outcomes (struct replica_result) are chosen so that a transport
 * can map them to client errors without knowing Raft:
 *   REPLICA_DONE         the state machine's answer (kv.code, kv.value)
 *   REPLICA_NOT_LEADER   definite: certainly not appended anywhere; `leader`
 *                        names the leader this replica knows (or
 *                        RAFT_NO_NODE): a transport may redirect or forward
 *   REPLICA_UNAVAILABLE  definite: refused (table full, core busy, read
 *                        not confirmed), certainly not appended
 *   REPLICA_INDEFINITE   the command may or may not take effect (appended,
 *                        then leadership changed or it timed out before it
 *                        was known committed: a committed one waits for
 *                        applying and gets its result)
 * A read never changes state, so a failed read is always definite.
 *
 * No de-duplication table: a command enters the log once, when a leader's
 * replica proposes it; nothing here or in the transports retries a command
 * that might have been appended, so no command can be applied twice.
 */
#ifndef RAFTKV_REPLICA_H
#define RAFTKV_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cluster_id.h"
#include "kv/kv.h"
#include "raft/raft.h"

enum replica_status {
    REPLICA_DONE = 0,
    REPLICA_NOT_LEADER,
    REPLICA_UNAVAILABLE,
    REPLICA_INDEFINITE,
};

struct replica_result {
    enum replica_status status;
    int leader;           /* NOT_LEADER: the known leader's id, or RAFT_NO_NODE */
    struct kv_result kv;  /* DONE: kv.value is borrowed, valid during the callback */
    const char *text;     /* a short reason for errors; static storage */
};

/* The seam for durable storage (issue 5). Every function returns 0 or a
 * negative code; any failure makes replica_flush() fail, after which the
 * replica must not be used (the transport stops the process: it cannot trust
 * state it failed to store). With no log store the replica keeps everything in
 * memory. */
struct replica_log_store {
    void *impl;
    /* What was stored at start-up. May be NULL. If it sets out->borrow, the
     * core keeps pointers to the entries' data (raft.h) and the store keeps
     * them valid until release_restore() or, without one, until the
     * replica is freed. */
    int (*load)(void *impl, struct raft_restore *out);
    /* Optional: the core no longer points at what load() lent; called once,
     * from replica_flush(). */
    void (*release_restore)(void *impl);
    /* Optional, lending while running (raft_lend): entries first.. (up to
     * n) that a sync made durable, with pointers to their payloads in the
     * store's own (mapped) copy; returns how many it filled in out. The
     * replica lends only applied (so committed) entries, and calls
     * lend_release() with the core's lent range (raft_lent_range) from
     * replica_flush(): the store keeps the bytes of entries in it valid. */
    size_t (*lend)(void *impl, raft_index first, size_t n, struct raft_entry *out);
    void (*lend_release)(void *impl, raft_index first, raft_index last);
    int (*save_hard_state)(void *impl, raft_term term, int voted_for);
    /* Optional: the core's commit index, given before each sync; the store
     * keeps it as raft.h's RESTARTING WITH A COMMIT INDEX says (only ever
     * after the entries up to it, lagging if it likes) and load() hands it
     * back in out->commit, which the replica applies up to at once. */
    int (*save_commit)(void *impl, raft_index commit);
    /* Drop every stored entry with index >= entries[0].index, then append. */
    int (*append)(void *impl, const struct raft_entry *entries, size_t n);
    /* Durable when it returns, with everything written before it. */
    int (*save_snapshot)(void *impl, raft_index index, raft_term term, const uint8_t *data,
                         size_t len);
    /* Make everything written since the last sync durable. */
    int (*sync)(void *impl);
    /* Optional, for a store that keeps the snapshot image in a file
     * (snap_format.h). With them load() may report a snapshot with no
     * snap_data, which load_snapshot() then streams into the map; the core
     * keeps no copy of the image, and an InstallSnapshot message gets its
     * image from read_snapshot() (malloc'd) when it is sent. */
    int (*load_snapshot)(void *impl, struct kv_store *kv);
    int (*read_snapshot)(void *impl, raft_index index, uint8_t **data, size_t *len);
    /* Optional: a snapshot received from the leader as a file (the
     * transport streamed it in chunks and checked it whole, then called
     * replica_receive_snapshot_file()) is put in place of the stored one,
     * as save_snapshot() would; load_snapshot() then streams it into the map. */
    int (*adopt_snapshot)(void *impl, raft_index index, raft_term term);
};

#define REPLICA_SYNC_STARTED 1
#define REPLICA_SYNC_INLINE 2

struct replica_config {
    struct raft_config raft; /* id and n_nodes included; see raft_config_default */
    /* Called in replica_flush() only. The message and everything it points
     * to are valid during the call only. */
    void (*send)(void *ctx, const struct raft_msg *m);
    void (*complete)(void *ctx, uint64_t client_ref, const struct replica_result *res);
    void *ctx;
    /* Optional: called in replica_flush() right after a leader's APPENDs
     * went to send ahead of the log store's sync. A transport that buffers
     * what send renders writes it out here, so the followers work while
     * this replica syncs. NULL: they leave with the rest of the batch. */
    void (*flush_sends)(void *ctx);
    const struct replica_log_store *store; /* NULL: in memory only */
    /* With a store that has read_snapshot: the transport streams an
     * InstallSnapshot's image from the store's file itself, so send() gets
     * the SNAPSHOT message with no image (snap_len 0) and nothing reads the
     * file into memory. */
    bool stream_snapshots;
    /* Optional, for transports that can sync on another thread: begin
     * making everything written to config.store so far durable in the
     * background (storage_sync_begin does the store's part). Returns
     * REPLICA_SYNC_STARTED (the transport calls replica_synced() when it
     * ends, then replica_flush()), 0 when nothing needed syncing, or
     * REPLICA_SYNC_INLINE when this batch must use sync() (the store says
     * so: a term, a vote, a new file); negative on failure. The replica
     * starts at most one at a time and uses sync() for any batch that wrote
     * a term, vote or snapshot. While one runs, the replica goes on: a
     * leader proposes and replicates, commits on its followers' acknowledge-
     * ments and answers clients; only the messages that vouch for this
     * node's disk (acknowledgements, votes) wait for the sync that covers
     * what they vouch for. */
    int (*sync_start)(void *ctx);
    /* Optional: as leader, follower `id` lost data it had acknowledged: its
     * log agrees with ours only up to `agree`, below its `match`
     * (raft_peer_lost_data()). Called in replica_flush() when first found,
     * then at most once per REPLICA_LOST_DATA_REPEAT_MS while it lasts; the
     * transport logs it as an error, in replica_lost_data_text()'s words. */
    void (*peer_lost_data)(void *ctx, int id, raft_index agree, raft_index match);
    /* Optional: take snapshots in the background. Begin writing the map as
     * it is now (its state at `index`, whose entry has `term`) to a durable
     * snapshot without blocking, and return 0; the transport later calls
     * replica_snapshot_done() with the outcome, once the snapshot is in
     * place in the store (and the log it covers may go). Nonzero: not
     * started (the transport logged why); tried again later. The replica
     * starts one at a time, and meanwhile goes on replicating, applying and
     * answering. NULL: snapshots are taken inline (kv_snapshot, then
     * store->save_snapshot). */
    int (*snapshot_start)(void *ctx, raft_index index, raft_term term);
    /* Opt-in (the TCP server; the Maelstrom node leaves it zero): the id to
     * give the cluster if it has none. A leader that has applied an entry
     * of its own term (so everything committed before it) and whose state
     * machine still holds no cluster id proposes a KV_CLUSTER_ID entry
     * with it, at most once per term; the first one applied becomes every
     * member's id (kv.h). The core stays free of randomness: the transport
     * draws the id. All zero: never propose. */
    uint8_t cluster_id[CLUSTER_ID_BYTES];
    /* With it, the hash key the cluster's maps will share (map.h, the
     * entry's "h"), drawn by the transport too and kept secret: it is what
     * makes SCAN cursors valid on every member without letting clients
     * compute colliding keys. All zero: the entry carries none. */
    uint8_t map_key[CLUSTER_ID_BYTES];
    /* Optional: a snapshot from peer `from` was refused because its image
     * carries cluster id `theirs`, not `ours` (this state machine's). */
    void (*snapshot_refused)(void *ctx, int from, const uint8_t ours[CLUSTER_ID_BYTES],
                             const uint8_t theirs[CLUSTER_ID_BYTES]);
    /* Optional: a map the replica no longer needs (the one a snapshot
     * replaced, or a prepared one the core did not install), handed over
     * to be freed where it stalls nothing, e.g. on a worker thread: freeing
     * millions of entries takes as long as loading them. NULL: freed at
     * once. */
    void (*retire_store)(void *ctx, struct kv_store *kv);
    /* Optional: the wall clock in ms since the epoch, which the leader
     * stamps into each string-family entry and each read (expiry, kv.h).
     * NULL: the now_ms the transport passes (simulated time in tests). */
    int64_t (*wall_clock)(void *ctx);
    /* A learner (or a node outside the configuration) that lacks more
     * committed entries than one ordinary APPEND holds syncs its log at
     * most once per this many ms, or once half the leader's window of
     * catch-up APPENDs (raft.max_inflight of them) waits unsynced
     * (learner_sync.c): fewer, larger syncs while it catches up, on a disk
     * it may share with the voters. It acknowledges only what a sync made
     * durable, as any member; a voter syncs every batch. 0: every batch. */
    uint64_t learner_sync_interval_ms;
    size_t max_pending;          /* bound on pending writes and reads together */
    /* Pending longer than this -> INDEFINITE/UNAVAILABLE, unless committed
     * (a write) or confirmed (a read): those wait for applying. A write not
     * yet committed also waits while the commit index moves: it times out
     * once both it and the latest commit are older than this. */
    uint64_t request_timeout_ms;
    raft_index snapshot_threshold; /* snapshot after this many applied entries; 0: never */
    /* Also snapshot once the log bytes applied since the latest snapshot
     * reach snapshot_log_percent % of the map's bytes and at least
     * snapshot_log_min_bytes (0 percent: this trigger is off). */
    uint32_t snapshot_log_percent;
    uint64_t snapshot_log_min_bytes;
    /* Background snapshots (snapshot_start) of the members are staggered
     * (snap_stagger.h): this member is slot snapshot_stagger_slot of
     * snapshot_stagger_members. Fewer than 2 members: started when due. */
    unsigned snapshot_stagger_slot;
    unsigned snapshot_stagger_members;
    /* A member waiting for its turn that has applied nothing for
     * REPLICA_STAGGER_IDLE_MS starts at once: no write is there to copy
     * pages, and an idle cluster's turn would never come. */
#define REPLICA_STAGGER_IDLE_MS 1000
    /* Apply at most this many committed entries per replica_flush(), or
     * per turn of the driver's event loop once it calls replica_turn_end()
     * (every flush and every core update of the turn together); the rest
     * follow on the next ones (replica_deadline() is then "now", or 1 ms
     * on once the turn's budget is spent), so a
     * restart's or a catching-up follower's backlog never holds the event
     * loop for long. Reads the core declares ready meanwhile wait until the
     * backlog they found is applied. 0: REPLICA_DEFAULT_APPLY_BATCH. */
    size_t apply_batch;
    /* The same bound while a snapshot started by snapshot_start runs (when
     * the smaller): a forked snapshot child shares the map's pages, so each
     * entry applied then may copy a page (copy-on-write, with a TLB flush
     * on every core the process runs on), an order of magnitude more than
     * applying it otherwise. 0: REPLICA_DEFAULT_APPLY_BATCH_SNAPSHOT. */
    size_t apply_batch_snapshot;
    /* A bound in time besides the counts: applying stops for the rest of
     * the flush or turn once it has used apply_cpu_ns of the thread's CPU
     * time there (summed over the turn's flushes and core updates), and
     * the backlog goes on at the next one, as above. At least one entry is
     * applied per flush or turn whatever it costs. Counts alone are the
     * wrong unit where an entry's cost varies 10-50 times (copy-on-write
     * under a snapshot child, a fresh page of the map, a script).
     * The driver's clocks, in ns, so the core and the replica read none:
     * cpu_clock is the thread's CPU time (exact, but it may be a system
     * call: 2-7 us on a paravirtualised machine), read when applying
     * starts and ends in a flush or core update and when the budget may be
     * spent; fast_clock, optional, is a cheap clock that advances at least
     * as fast as cpu_clock (the monotonic wall clock does, for one thread),
     * read after every entry to tell when that may be. Without fast_clock,
     * cpu_clock is read after every entry. 0 or no cpu_clock: counts only. */
    uint64_t apply_cpu_ns;
    uint64_t (*cpu_clock)(void *ctx);
    uint64_t (*fast_clock)(void *ctx);
    /* KEYS on a large map (replica keys_walk.c, kv/keys_walk.h): a served
     * KV_KEYS read whose map holds at least keys_walk_min keys (0: every
     * one) is answered from the map's point-in-time walk as it was when
     * the walk began, at most keys_walk_entries entries of it per flush,
     * or per turn once the driver calls replica_turn_end() (0:
     * REPLICA_DEFAULT_KEYS_WALK_ENTRIES); replica_deadline() is "now"
     * while a walk has budget left. One walk at a time: KEYS reads wait in
     * arrival order for the map (a snapshot's or backup's walk may hold
     * it) and are answered in that order. keys_max_bytes caps a reply
     * (keys_walk.h; 0: none), inline ones too; keys_walk_kept_bytes bounds
     * the pre-images a walk keeps (0: REPLICA_DEFAULT_KEYS_WALK_KEPT). */
    size_t keys_walk_min;
    size_t keys_walk_entries;
    size_t keys_max_bytes;
    size_t keys_walk_kept_bytes;
    /* DELIBERATE BUG for testing checkers: serve reads from local state on
     * any node, without ReadIndex. Never use in production. */
    bool unsafe_local_reads;
};

#define REPLICA_LOST_DATA_REPEAT_MS 30000
#define REPLICA_DEFAULT_APPLY_BATCH 4096
#define REPLICA_DEFAULT_APPLY_BATCH_SNAPSHOT 512
#define REPLICA_DEFAULT_KEYS_WALK_MIN 65536 /* replica_config_default's */
#define REPLICA_DEFAULT_KEYS_WALK_ENTRIES 8192
#define REPLICA_DEFAULT_KEYS_WALK_KEPT ((size_t)512 << 20)
/* A KEYS walk abandoned (the map replaced, detached or re-keyed, its
 * pre-images past the bound) begins again on the current map at most this
 * many times; then the read ends REPLICA_UNAVAILABLE. */
#define REPLICA_KEYS_WALK_RESTARTS 3
/* Slots of the map's old table (and of its deadline table) that
 * replica_flush moves, at most once a ms, while the map grows (kv/map.h):
 * about 0.7 ms of CPU for a map of a million keys. */
#define REPLICA_REHASH_SLOTS 4096

/* What happened and what to do, for config.peer_lost_data's log line; `peer`
 * is the follower's name. snprintf's return. */
int replica_lost_data_text(char *buf, size_t cap, const char *peer, raft_index agree,
                           raft_index match);

/* Defaults: raft_config_default(id, n_nodes, seed), 65536 pending,
 * 2000 ms timeout, snapshot every 10000 entries, no store, KEYS walked
 * from REPLICA_DEFAULT_KEYS_WALK_MIN keys. */
void replica_config_default(struct replica_config *c, int id, int n_nodes, uint64_t seed);

struct replica;

/* NULL on allocation failure or if the store's load fails. */
struct replica *replica_new(const struct replica_config *config, uint64_t now_ms);
void replica_free(struct replica *r);

/* Queue a client command (READ, WRITE, CAS, DELETE; a CLUSTER_ID is
 * refused with KV_ERR_MALFORMED: only the replica proposes it); its references are
 * borrowed (encoded or copied at once). The outcome arrives through
 * config.complete in a later replica_flush(), exactly once per submit. */
void replica_submit(struct replica *r, uint64_t client_ref, const struct kv_command *c,
                    uint64_t now_ms);

/* The same for a command forwarded by another node's router tagged with
 * `term` (router.h, rule 2): a write is appended only if this replica leads
 * in exactly that term when it proposes, and is otherwise refused with
 * REPLICA_NOT_LEADER (definite). So a forwarded write can be appended in
 * one term at most, however late it arrives. Reads ignore the term. */
void replica_submit_in_term(struct replica *r, uint64_t client_ref, const struct kv_command *c,
                            raft_term term, uint64_t now_ms);

/* Step the core with a message from a peer. Everything `m` points to is
 * borrowed for the call. Returns 0, RAFT_ERR_INVALID for a bad message or
 * RAFT_ERR_BOUNDS for a term or index past the core's max_term/max_index
 * (dropped, nothing changed; a transport logs it, rate-limited). */
int replica_receive(struct replica *r, const struct raft_msg *m, uint64_t now_ms);

/* The same for a SNAPSHOT message whose image the transport received in
 * chunks into the store's staging file (store->adopt_snapshot) and checked
 * whole (every CRC, its index and term, its cluster id): m has no image; if
 * the core installs it, the store adopts the file and the map is loaded from
 * it. Anything the core does not install stays with the transport. */
int replica_receive_snapshot_file(struct replica *r, const struct raft_msg *m, uint64_t now_ms);

/* The same, with the map already built from that file off the transport's
 * loop (a kv_loader on a worker thread, finished into a fresh store):
 * `prepared` is the state machine at m->snap_index, and the replica takes
 * it whatever happens. If the core installs the snapshot, the store adopts
 * the file and `prepared` becomes the map by a pointer swap, so nothing
 * proportional to the data set runs in the call; the map it replaced goes
 * to config.retire_store. Until then the old map serves and applies as
 * usual; entries after the snapshot's index are applied on top of
 * `prepared` as they commit. If the core does not install it (it has the
 * entries already, a newer term, ...), or it carries another cluster's id,
 * `prepared` itself goes to config.retire_store. */
int replica_receive_snapshot_prepared(struct replica *r, const struct raft_msg *m,
                                      struct kv_store *prepared, uint64_t now_ms);

/* Hand leadership to `target` (RAFT_NO_NODE: the most up-to-date
 * follower), thesis 3.10: RAFT_EVENT_TRANSFER's result (RAFT_OK: under
 * way; RAFT_ERR_NOT_LEADER; RAFT_ERR_INVALID: no such member or no other
 * one). Its messages leave in the next replica_flush(). Meanwhile writes
 * are refused with REPLICA_NOT_LEADER ("leadership transfer in progress",
 * certainly not appended); reads are served. It is done when
 * replica_leader() is the target in a later term, and over, done or not,
 * once replica_transfer_target() is RAFT_NO_NODE (abandoned after the
 * election timeout if this replica still leads). */
int replica_transfer_leader(struct replica *r, int target, uint64_t now_ms);
int replica_transfer_target(const struct replica *r);

/* A membership change (RAFT_EVENT_CHANGE) with the transport's bytes
 * (`extra`) stored after the configuration in its CONFIG entry: the core's
 * result (RAFT_OK, *index the entry's; RAFT_ERR_NOT_LEADER, the change
 * refusals -7..-11, ...). Its messages leave in the next replica_flush(). */
int replica_change(struct replica *r, enum raft_change_type type, int id, const uint8_t *extra,
                   size_t extra_len, uint64_t now_ms, raft_index *index);
/* The configuration in force, the index of its CONFIG entry (0: initial or
 * from a snapshot) and an entry still in memory (NULL if compacted). */
const struct raft_configuration *replica_configuration(const struct replica *r);
/* The configuration a store (a map restored from a snapshot) carries,
 * decoded: 1, 0 when it carries none, -1 when its bytes are invalid. */
int replica_store_configuration(const struct kv_store *kv, struct raft_configuration *out);
raft_index replica_configuration_index(const struct replica *r);
const struct raft_entry *replica_entry_at(const struct replica *r, raft_index index);

/* Fire due timers (elections, heartbeats, request timeouts). */
void replica_tick(struct replica *r, uint64_t now_ms);

/* End a batch: propose, persist, sync, send, complete (see above).
 * Returns 0, or a negative code when the log store failed (fatal). */
int replica_flush(struct replica *r, uint64_t now_ms);

/* The driver's event-loop turn ended: the apply budget (apply_batch,
 * apply_batch_snapshot, apply_cpu_ns) starts afresh. From the first call on, the budget
 * is per turn rather than per replica_flush(). */
void replica_turn_end(struct replica *r);
/* The thread CPU time applying has used since the budget started afresh
 * (0 without config.cpu_clock): a driver reads it before replica_turn_end()
 * to tell a slow turn's applying from its other work. */
uint64_t replica_turn_apply_cpu_ns(const struct replica *r);

/* A background sync begun by config.store->sync_start has ended with rc (0
 * or negative: the replica then fails, as after a failed sync()). Outputs
 * it released go out in the next replica_flush(), which the transport calls
 * next. */
void replica_synced(struct replica *r, int rc);

/* A snapshot begun by config.snapshot_start has ended: rc 0, it is durable
 * in the store at `index` (or was superseded by a newer one), and the core
 * may drop the log it covers; nonzero, it failed (the transport logged
 * why), nothing changed, and another is tried after
 * REPLICA_SNAPSHOT_RETRY_MS. replica_flush() follows. */
void replica_snapshot_done(struct replica *r, raft_index index, int rc, uint64_t now_ms);
#define REPLICA_SNAPSHOT_RETRY_MS 1000
/* Whether a background snapshot is running. */
bool replica_snapshot_running(const struct replica *r);

/* Absolute time (ms) at which replica_tick() must be called next. */
uint64_t replica_deadline(const struct replica *r);

/* Views for routing, INFO and tests. */
int replica_id(const struct replica *r);
int replica_n_nodes(const struct replica *r);
enum raft_role replica_role(const struct replica *r);
raft_term replica_term(const struct replica *r);
int replica_leader(const struct replica *r); /* RAFT_NO_NODE if unknown */
raft_index replica_commit_index(const struct replica *r);
raft_index replica_applied_index(const struct replica *r);
raft_index replica_last_index(const struct replica *r);
/* Bytes the core's in-memory log holds (raft_log_bytes). */
size_t replica_log_bytes(const struct replica *r);
/* Of those, the payload bytes lent from the log store (raft_log_lent_bytes). */
size_t replica_log_lent_bytes(const struct replica *r);
/* Spare payload blocks the core's log keeps for its next entries (raft_log_spare_bytes). */
size_t replica_log_spare_bytes(const struct replica *r);
bool replica_progress(const struct replica *r, int id, raft_index *match, raft_index *next);
size_t replica_pending(const struct replica *r); /* writes + reads awaiting an outcome */
/* As leader: follower `id` lost data it had acknowledged (raft_peer_lost_data). */
bool replica_peer_lost_data(const struct replica *r, int id);
const struct kv_store *replica_store(const struct replica *r);
/* The cluster id the state machine holds (kv_cluster_id). */
bool replica_cluster_id(const struct replica *r, uint8_t out[CLUSTER_ID_BYTES]);
/* Replace config.cluster_id, the id this replica would propose: a
 * transport that learned the cluster's id another way (a peer's handshake)
 * proposes that one, never a new one. */
void replica_set_cluster_id(struct replica *r, const uint8_t id[CLUSTER_ID_BYTES]);

struct replica_stats {
    uint64_t proposed;   /* commands appended by this replica as leader */
    uint64_t applied;    /* log entries applied */
    uint64_t syncs;      /* log store syncs */
    uint64_t messages_sent;
    uint64_t appends_dropped; /* APPENDs whose entries left the log before they went out */
    uint64_t indefinite; /* requests answered INDEFINITE */
    uint64_t snapshots;  /* snapshots taken */
    uint64_t lent;       /* entries whose payloads the core took from the store (lend) */
    uint64_t lend_refused; /* loans the core refused (a mismatch: a bug) */
    uint64_t keys_walks_begun;     /* KEYS walks begun (restarts included) */
    uint64_t keys_walks_done;      /* ... ended with an answer */
    uint64_t keys_walks_restarted; /* ... abandoned and begun again */
    uint64_t keys_walks_failed;    /* reads ended UNAVAILABLE after the restarts */
    uint64_t keys_walk_entries;    /* entries visited by KEYS walks */
};
void replica_stats(const struct replica *r, struct replica_stats *out);
/* The core's bounds refusals (raft_refusals): a transport logs their growth,
 * elections refused at max_term included, rate-limited. */
void replica_refusals(const struct replica *r, struct raft_refusals *out);

const char *replica_status_name(enum replica_status s);

#endif
