/* replica_internal.h - the replica's state and the helpers its files share:
 * the batch queues, the pending-request tables, the outbox of copied
 * messages and the queue of finished requests. Not for transports. */
#ifndef RAFTKV_REPLICA_INTERNAL_H
#define RAFTKV_REPLICA_INTERNAL_H

#include <stdlib.h>

#include "kv/keys_walk.h"
#include "replica/replica.h"

/* Make room for one more element in a malloc'd array; false on OOM. */
#define GROW(arr, n, cap) replica_grow((void **)&(arr), (n), &(cap), sizeof *(arr))
bool replica_grow(void **arr, size_t n, size_t *cap, size_t elem);

struct queued_write { /* encoded, waiting for this batch's PROPOSE */
    uint64_t ref;
    uint8_t *data;
    size_t len;
    uint64_t at;
    raft_term term;        /* only the leader of this term may append it; 0: any */
    struct kv_command cmd; /* the decoded form, owned; see pending_proposal */
};

struct queued_read { /* waiting for this batch's READ */
    uint64_t ref;
    struct kv_command cmd; /* owned */
    uint64_t at;
};

/* A command this replica appended as leader, answered when its index is
 * applied: with the state machine's result if the entry there has the term
 * it was proposed in, INDEFINITE otherwise. Sorted by index.
 *
 * cmd keeps the command the entry was encoded from, when all its parts are
 * JSON scalars (nobody mutates those in place), so that applying the entry
 * on this node need not decode its bytes again: decode(encode(c)) equals c.
 * A write's value then goes into the map as the very reference the client's
 * request carried. */
struct pending_proposal {
    raft_index index;
    raft_term term;
    uint64_t ref;
    uint64_t at;
    struct kv_command cmd; /* owned; key NULL if not kept */
};

/* A read waiting for the core's ReadIndex confirmation, then (confirmed)
 * for applying to reach its read index. Sorted by id. */
struct pending_read {
    uint64_t id;
    uint64_t ref;
    struct kv_command cmd; /* owned until done */
    uint64_t at;
    bool done;
    bool confirmed; /* the core confirmed it: it waits for applying only */
};

/* A confirmed read served once `applied` reaches `need` (the backlog's end
 * when the core confirmed it, at least its read index). */
struct deferred_read {
    uint64_t id;
    raft_index need;
};

/* FIFO tables: live items are [head, tail). */
struct proposal_table {
    struct pending_proposal *items;
    size_t head, tail, cap;
};
struct read_table {
    struct pending_read *items;
    size_t head, tail, cap;
};

struct finished { /* an outcome waiting for config.complete */
    uint64_t ref;
    enum replica_status status;
    int leader;
    struct kv_result kv; /* owned here */
    const char *text;
};

/* A served KEYS read answered from a walk of the map (keys_walk.c):
 * waiting for the map, or walking it (only the first of the queue). */
struct keys_read {
    uint64_t ref;
    struct kv_command cmd; /* owned */
    struct kv_keys_walk *walk;
    unsigned restarts;
};

struct replica {
    struct replica_config config;
    struct raft *raft;
    struct kv_store *kv;

    struct queued_write *queued_writes;
    size_t n_queued_writes, cap_queued_writes;
    struct queued_read *queued_reads;
    size_t n_queued_reads, cap_queued_reads;

    struct proposal_table proposals;
    struct read_table reads;
    uint64_t next_read_id;

    struct raft_msg *outbox; /* deep copies, sent after the sync */
    size_t n_outbox, cap_outbox;
    /* Messages waiting for the background sync now running, which covers
     * everything they vouch for; sent before the outbox, in order. */
    struct raft_msg *held;
    size_t n_held, cap_held;
    struct finished *done;
    size_t n_done, cap_done;

    raft_index applied, snapshot_index;
    raft_term applied_term;
    /* Log bytes applied so far (payload plus an entry record each, as
     * raft_log_bytes counts), and that count at the latest snapshot's index
     * (at the running one's, until it is done): the log the snapshot
     * trigger weighs against the map. */
    uint64_t applied_bytes, snapshot_bytes_mark, snapshot_running_bytes;
    /* Committed by the core up to here, applied up to `applied`: the
     * backlog, applied apply_batch entries per flush. Reads ready while it
     * lasts wait in deferred_reads, in order, each for the backlog's end
     * when it was confirmed. A proposal at or below apply_to is committed:
     * it waits for applying, however long, and never times out. */
    raft_index apply_to;
    /* When apply_to last grew. A proposal not yet committed times out only
     * once the commit index has stood still for request_timeout_ms too: a
     * leader whose commits move on reaches it (or loses the entry, which
     * answers it), however long the queue in front of it. */
    uint64_t commit_moved_ms;
    /* Entries applied, and the thread CPU time (config.cpu_clock) spent
     * applying them, since the budget started afresh: at each
     * replica_flush(), or at each replica_turn_end() once per_turn. */
    size_t budget_applied;
    uint64_t budget_cpu_ns;
    bool per_turn;
    struct deferred_read *deferred_reads;
    size_t n_deferred_reads, cap_deferred_reads;
    uint64_t now_ms;  /* the latest time a transport gave */
    int64_t log_time; /* the latest time stamped in an entry of the log */
    bool restore_lent; /* the core borrows what store->load lent; not yet released */
    raft_index restore_last; /* the last entry store->load gave */
    /* Everything stored up to here is durable (a sync covered it): with
     * applied, the bound of what is lent back to the store (lend.c). */
    raft_index durable_index;
    struct raft_entry *lend_buf; /* lend.c's scratch: what the store lent */
    const uint8_t **lend_old;    /* ... and the core's pointers it replaces */
    size_t cap_lend;
    raft_index stored_index; /* last entry handed to the log store */
    /* The last index of the log storage held at start-up (lowered when the
     * core overwrites that tail): until applying reaches it, the backlog is
     * the restart's, which no periodic snapshot interrupts (snapshot_due). */
    raft_index restored_index;
    raft_term stored_term;
    bool persist_due; /* entries stored since the last PERSISTED */
    bool store_dirty; /* written to the log store since the last sync */
    bool hard_state_unsynced; /* ... and that included a term, vote or snapshot */
    /* A background sync (store->sync_start) is running; it covers the log
     * up to (sync_index, sync_term), which PERSISTED reports when it ends
     * if sync_persist. sync_ended: replica_synced() came, with sync_rc. */
    bool sync_running, sync_ended, sync_persist;
    int sync_rc;
    raft_index sync_index;
    raft_term sync_term;
    uint64_t last_sync_ms; /* when the latest sync began (learner_sync.c) */
    uint64_t unsynced_entries, unsynced_bytes; /* appended since it began */
    raft_index leader_commit_seen; /* the highest commit index an APPEND carried */
    int failed;       /* a log store error: the replica is finished */
    /* A background snapshot (config.snapshot_start) at this index is
     * running; after a failed one, none starts before snapshot_retry_ms. */
    bool snapshot_running;
    /* Set while the core steps a SNAPSHOT whose image is a received file
     * (replica_receive_snapshot_file): persist adopts it, install loads it. */
    bool snapshot_from_file;
    /* ... and with it the map built from that file, which install takes
     * (replica_receive_snapshot_prepared); NULL: install loads the file. */
    struct kv_store *snapshot_prepared;
    raft_index snapshot_running_index;
    uint64_t snapshot_retry_ms;
    /* The staggered start (snap_stagger.h) of the snapshot due since the
     * latest one; at or below snapshot_index: not worked out yet. */
    raft_index snapshot_stagger_start;
    /* The applied index seen while waiting for that turn, and since when
     * (REPLICA_STAGGER_IDLE_MS). */
    raft_index snapshot_stagger_seen;
    uint64_t snapshot_stagger_seen_ms;
    raft_term cluster_id_proposed_term; /* config.cluster_id proposed in it */
    /* Active expiry (active_expiry.c): where the sampler goes on in the
     * map, when it may run again, and the entry it last proposed. */
    size_t expiry_pos;
    uint64_t expiry_next_ms;
    raft_index expiry_index;
    raft_term expiry_term;
    /* The map's growth (kv/map.h): the ms of its last step (one a ms). */
    uint64_t rehash_ms;
    /* Followers that lost data (lost_data.c): confirmed since the last
     * report, reported at least once, and when last. */
    uint64_t lost_data_due, lost_data_reported; /* bit i: node i */
    uint64_t lost_data_reported_ms[RAFT_MAX_NODES];
    /* KEYS reads answered from a walk, in arrival order (keys_walk.c), and
     * the entries walked since the budget started afresh. */
    struct keys_read *keys_reads;
    size_t n_keys_reads, cap_keys_reads;
    size_t keys_budget_used;
    struct replica_stats stats;
};

/* apply.c: take in one update of the core (persist, queue, apply, serve). */
void replica_absorb(struct replica *r, const struct raft_update *u);
void replica_take_snapshot(struct replica *r, uint64_t now_ms);
/* Hand a map no longer needed to config.retire_store (or free it). */
void replica_retire_store(struct replica *r, struct kv_store *kv);
/* Whether the core keeps the snapshot image (no store file holds it). */
bool replica_core_keeps_image(const struct replica *r);
void replica_snapshot_taken(struct replica *r, raft_index index, const uint8_t *data, size_t len,
                            uint64_t now_ms);
void replica_answer_read(struct replica *r, uint64_t ref, const struct kv_command *c,
                         int64_t time_ms);

/* keys_walk.c: KEYS on a large map, in steps. Take a served read (its
 * command moves into the queue, zeroed here) that is to be answered from a
 * walk: a KV_KEYS on a map of keys_walk_min keys or more, or any KV_KEYS
 * while others wait (answered in arrival order). false: answer it inline. */
bool replica_keys_take(struct replica *r, uint64_t ref, struct kv_command *cmd);
/* Walk what the budget allows (flush), begin the next waiting ones, answer
 * the finished ones. */
void replica_keys_step(struct replica *r);
/* kv is about to leave (retired): a walk over it is dropped now, to begin
 * again on the current map. */
void replica_keys_store_leaving(struct replica *r, const struct kv_store *kv);
/* replica_deadline's part: 0 (at once) while a walk can go on in this
 * flush or turn, now + 1 when it waits for the next turn or for the map,
 * UINT64_MAX with nothing queued. */
uint64_t replica_keys_deadline(const struct replica *r);
void replica_keys_free(struct replica *r);

/* lost_data.c: config.peer_lost_data, rate-limited. */
void replica_report_lost_data(struct replica *r, uint64_t now_ms);

/* learner_sync.c: a catching-up learner's grouped syncs. */
void replica_learner_note_append(struct replica *r, const struct raft_msg *m);
/* A sync begins: what was appended is no longer waiting for one. */
void replica_learner_note_sync(struct replica *r);
/* When the next sync may begin: 0 at once, else a time in ms (it may be
 * past: then at once too). */
uint64_t replica_learner_sync_due(const struct replica *r);

/* pending.c: the tables of requests in flight. */
void replica_supersede(struct replica *r, raft_index first);
/* active_expiry.c: the leader proposes the removal of expired keys. */
void replica_active_expiry(struct replica *r, uint64_t now_ms);
/* Takes over cmd's references (cmd->key NULL: nothing kept). */
void replica_track_proposal(struct replica *r, uint64_t ref, raft_index index, raft_term term,
                            uint64_t at, struct kv_command *cmd);
/* The command this node proposed at (index, term), if it kept it. */
const struct kv_command *replica_proposed_command(struct replica *r, raft_index index,
                                                  raft_term term);
/* Takes over cmd's contents (zeroed) on success. */
int replica_track_read(struct replica *r, uint64_t ref, struct kv_command *cmd, uint64_t at,
                       uint64_t *id);
/* The time a read or a new entry is stamped with: the wall clock, but
 * never before the latest time the log carried or this replica stamped. */
int64_t replica_time(struct replica *r, uint64_t now_ms);
void replica_fail_reads_from(struct replica *r, uint64_t first_id, const char *why);
void replica_settle_proposals(struct replica *r, raft_index index, raft_term term,
                              const struct kv_result *res);
struct pending_read *replica_find_read(struct replica *r, uint64_t id);
void replica_pop_done_reads(struct replica *r);
/* Apply what is left of the budget (apply_batch, or apply_batch_snapshot
 * while a snapshot runs, and apply_cpu_ns) of the backlog, then serve the reads that waited
 * for it once it is gone. */
void replica_apply_backlog(struct replica *r);
/* Entries the budget still allows in this flush or turn. */
size_t replica_apply_budget(const struct replica *r);
/* Time out what is not known committed (proposals) or confirmed (reads)
 * after config.request_timeout_ms; what is waits for applying. */
void replica_expire(struct replica *r, uint64_t now_ms);
/* The earliest time replica_expire() will time something out (UINT64_MAX:
 * nothing can): never one it would leave in place. */
uint64_t replica_expire_deadline(const struct replica *r);
/* Serve the deferred reads whose index applying has reached. */
void replica_serve_deferred_reads(struct replica *r);

/* outbox.c: outputs held until the batch is durable. */
void replica_answer(struct replica *r, uint64_t ref, enum replica_status st, const char *why);
void replica_answer_kv_error(struct replica *r, uint64_t ref, int code, const char *why);
void replica_answer_kv(struct replica *r, uint64_t ref, struct kv_result *res);
void replica_outbox_push(struct replica *r, const struct raft_msg *m);
/* Sends the held messages, then the outbox. */
void replica_outbox_send(struct replica *r);
/* Sends the held messages only: the sync they waited for has ended. */
void replica_held_send(struct replica *r);
/* Moves the outbox behind the held messages, to wait for the running sync. */
void replica_outbox_hold(struct replica *r);
void replica_outbox_send_appends(struct replica *r);
void replica_outbox_clear(struct replica *r);
/* The core now points entries lent[0..n) at lent[k].data instead of
 * old[k]: APPENDs waiting to go follow (else they would count as lost). */
void replica_outbox_relend(struct replica *r, const struct raft_entry *lent,
                           const uint8_t *const *old, size_t n);
/* lend.c: lend the store's bytes of what is durable and applied to the
 * core, and let the store unmap what the core no longer points into. */
void replica_lend(struct replica *r);
void replica_held_clear(struct replica *r);
void replica_emit_done(struct replica *r);

#endif
