/* raft_private.h - the core's internal state and the functions its files share.
 *
 * Not for drivers: they use raft.h only. Each group of declarations below is
 * implemented by the file named above it.
 */
#ifndef RAFTKV_RAFT_PRIVATE_H
#define RAFTKV_RAFT_PRIVATE_H

#include "common/rng.h"
#include "raft/raft.h"

/* A leader refuses proposals (RAFT_ERR_BUSY) while this many entries wait to
 * commit, so a leader cut off from its followers cannot grow without bound
 * before check-quorum deposes it. */
#define RAFT_MAX_UNCOMMITTED_ENTRIES 65536u

/* ---- log.c: the in-memory log, with a compaction offset ---- */
/* A block that payloads are carved from in index order (log.c). */
struct log_chunk {
    uint8_t *base;
    size_t cap, used;
    raft_index last; /* the last entry whose payload it holds */
};

/* What compaction or a reset dropped, left to sweep a budget at a time
 * (log.c, log_sweep()). */
struct log_dead {
    /* The array the entries lie in: a reset's old one (freed once swept),
     * or NULL: the live array's swept front (struct raft_log.base). */
    struct raft_entry *alloc;
    size_t alloc_cap;    /* its slots (a reset's array shrinks as it is swept) */
    size_t pos, end;     /* positions in it of the entries left to sweep */
    raft_index borrowed; /* those with index <= borrowed are lent */
    struct log_chunk *chunks; /* emptied chunks, oldest first (freed once swept) */
    size_t chunk_pos, n_chunks;
    bool spares; /* compaction emptied them: the newest may become spares */
};

struct raft_log {
    struct raft_entry *entries; /* entries[i] has index offset + 1 + i */
    size_t n, cap;              /* cap: slots from entries on */
    struct raft_entry *base;    /* the allocation; entries == base + front */
    size_t front;
    struct log_dead dead;
    struct log_chunk *chunks; /* oldest first */
    size_t n_chunks, cap_chunks;
    void (*advise)(void *block, size_t len); /* raft_config.advise_log_block */
    void *(*resize)(void *p, size_t old_bytes, size_t new_bytes); /* raft_config.log_table_resize */
    size_t bytes;          /* payloads plus one struct raft_entry each */
    raft_index offset;     /* index of the last compacted entry (0: none) */
    raft_term offset_term; /* its term, so prev_term stays known */
    /* Entries offset+1..borrowed point at bytes the driver lent, at
     * raft_new() (raft_restore.borrow) or later (log_lend()): never freed
     * here, never written. 0, or <= offset: every payload is the log's own. */
    raft_index borrowed;
    size_t lent_bytes; /* payload bytes of those entries (counted in bytes too) */
    size_t next_chunk; /* size of the newest chunk freed while none was left */
    /* Spare chunks (log.c): ones whose entries all went by compaction or
     * a loan, kept (at most max_spare, newest last) for the next chunks. */
    struct log_chunk spare[RAFT_LOG_SPARE_MAX];
    size_t n_spare, max_spare;
};

void log_init(struct raft_log *l, raft_index offset, raft_term offset_term);
/* Keep up to max (<= RAFT_LOG_SPARE_MAX) spare chunks; the oldest beyond it go. */
void log_set_spare(struct raft_log *l, size_t max);
/* Bytes of the spare chunks held now. */
size_t log_spare_bytes(const struct raft_log *l);
void log_free(struct raft_log *l);
/* Release at most max_entries dropped entries and max_chunks emptied
 * chunks of the dead region (log_compact_to, log_reset). */
void log_sweep(struct raft_log *l, size_t max_entries, size_t max_chunks);
/* Dropped entries, and emptied chunks, still to sweep. */
size_t log_dead_entries(const struct raft_log *l);
size_t log_dead_chunks(const struct raft_log *l);
raft_index log_last_index(const struct raft_log *l);
raft_term log_last_term(const struct raft_log *l);
/* The term at index if known (offset..last), else false. */
bool log_term_at(const struct raft_log *l, raft_index index, raft_term *term);
struct raft_entry *log_get(const struct raft_log *l, raft_index index);
/* Append a copy of data as entry (last+1, term, type). */
int log_append(struct raft_log *l, raft_term term, uint8_t type, const uint8_t *data,
               uint32_t len);
/* Room for n more entries in one allocation (a restore's whole log). */
int log_reserve(struct raft_log *l, size_t n);
/* Append entry (last+1, term, type) whose payload stays the caller's: the
 * log keeps the pointer, not a copy. Only while every entry so far is
 * borrowed (the log's prefix after offset), so one index bounds them. */
int log_append_borrowed(struct raft_log *l, raft_term term, uint8_t type, const uint8_t *data,
                        uint32_t len);
/* Whether any entry in the log still points at lent bytes. */
bool log_borrows(const struct raft_log *l);
/* The first entry a loan may start at: right after the lent prefix. */
raft_index log_lend_next(const struct raft_log *l);
/* Point entries lent[0].index.. (which must be log_lend_next()) at the
 * given bytes instead of the log's own copies, which are freed (and every
 * chunk left holding only lent payloads). Each lent[k] must carry its
 * entry's index, term and length, and with verify equal bytes; otherwise
 * RAFT_ERR_INVALID and nothing changes. */
int log_lend(struct raft_log *l, const struct raft_entry *lent, size_t n, bool verify);
/* Drop every entry with index >= from. */
void log_truncate_from(struct raft_log *l, raft_index from);
/* Drop every entry with index <= upto; upto must be within offset..last.
 * O(chunks): the entries join the dead region (log_sweep). */
void log_compact_to(struct raft_log *l, raft_index upto);
/* Drop everything; the log restarts after (offset, offset_term). The old
 * array and chunks become the dead region (log_sweep). */
void log_reset(struct raft_log *l, raft_index offset, raft_term offset_term);

/* ---- replication.c: what the leader knows of each follower ---- */
enum progress_state { PROGRESS_PROBE, PROGRESS_REPLICATE, PROGRESS_SNAPSHOT };

struct raft_progress {
    raft_index match, next;
    enum progress_state state;
    bool probe_sent;    /* PROBE: one APPEND out, waiting for its answer */
    uint64_t last_heard_ms; /* its last answer in this term (check-quorum) */
    uint64_t acked_seq; /* highest heartbeat round it answered this term */
    raft_index *inflight; /* REPLICATE: last index of each unacked APPEND (ring) */
    size_t inflight_head, inflight_count;
    uint64_t snapshot_sent_ms;
    raft_index match_at_heartbeat; /* match at the previous heartbeat tick */
    uint64_t stream_moved_ms; /* when match last moved, or the stream (re)started */
    bool sent_since_tick; /* an APPEND went out since the last heartbeat tick */
    uint64_t sent_seq;    /* heartbeat round carried by the last message sent to it */
    /* A follower that lost data it acknowledged (replication.c): */
    bool suspect;      /* REPLICATE: refused below match; probe at the next tick */
    bool probe_parked; /* PROBE: nothing out; the next tick sends the probe */
    uint8_t refused_below_match; /* probes in a row it refused below match */
    bool lost_data;        /* confirmed: flagged for INFO and the drivers */
    raft_index lost_agree; /* the last index it said may still agree with ours */
    /* Catch-up pacing (cfg.catchup_bytes_per_sec, replication.c): the time,
     * in microseconds of r->now, at which the catch-up APPENDs sent so far
     * are paid for; paced: one was held back, the heartbeat tick retries. */
    uint64_t pace_due_us;
    bool paced;
};

/* ---- read_index.c ---- */
struct raft_read {
    uint64_t id;
    raft_index index; /* read index; 0 until the leader committed in its term */
    uint64_t seq;     /* heartbeat round that must confirm it; 0 until assigned */
};

struct raft {
    struct raft_config cfg;
    struct rng rng;
    uint64_t now;

    enum raft_role role;
    raft_term term;
    int voted_for;
    int leader;

    struct raft_log log;
    raft_index commit;
    /* The log's growth as leader, for the catch-up pace (replication.c):
     * bytes proposed so far, and per second over the last whole second. */
    uint64_t proposed_bytes, growth_from_bytes, growth_from_ms, growth_bytes_per_sec;
    /* APPEND batches measured entry by entry (send_one_append), for tests
     * that check a paced follower costs no measuring while it is held. */
    uint64_t batches_measured;
    raft_index applied;
    raft_index persisted; /* last entry the driver reported durable */

    /* The latest snapshot image this node holds. */
    raft_index snap_index;
    raft_term snap_term;
    uint8_t *snap_data;
    size_t snap_len;

    /* Timers (absolute ms). */
    uint64_t election_deadline;
    uint64_t heartbeat_deadline;
    uint64_t leader_contact_ms; /* when a current leader was last heard */
    bool heard_leader;

    uint64_t votes_granted; /* bitmask by id, in the current (pre-)election */
    uint64_t votes_denied;

    /* Membership (config.c). */
    struct raft_configuration conf;      /* in force: the latest in the log */
    raft_index conf_index;               /* its CONFIG entry; 0: from base_conf */
    struct raft_configuration base_conf; /* as of log.offset, behind every entry held */
    struct raft_configuration snap_conf; /* as of snap_index */
    struct raft_configuration boot_conf; /* initial: raft_config.initial or n_nodes */
    int voter_ids[RAFT_MAX_NODES];       /* the voters of conf (quorum.c) */
    int n_voters;

    struct raft_progress progress[RAFT_MAX_NODES];
    raft_index *inflight_store;
    uint64_t hb_seq; /* latest heartbeat round started */
    uint64_t read_round;  /* latest round started for reads */
    bool read_round_open; /* ... and not yet confirmed */

    struct raft_read *reads; /* ring of pending reads, max_pending_reads long */
    size_t reads_head, reads_count;

    /* The update under construction. */
    struct raft_msg *msgs;
    size_t n_msgs, cap_msgs;
    uint64_t *ready_buf, *failed_buf;
    size_t n_ready, n_failed, cap_ready, cap_failed;
    raft_index persist_from; /* lowest index written this step; 0: none */
    bool hard_state_dirty;
    bool installed_snapshot;
    raft_index proposed_first;
    raft_term proposed_term;
    uint64_t lost_data_seen; /* followers confirmed lost in this step (bitmask) */

    struct raft_refusals refused; /* bounds refusals (raft.c, election.c) */

    /* Leadership transfer (transfer.c): valid while leading in transfer_term. */
    int transfer_target; /* RAFT_NO_NODE: none */
    raft_term transfer_term;
    uint64_t transfer_deadline; /* abandoned at this time */
    bool transfer_told;     /* TIMEOUT_NOW sent since the last heartbeat */
    bool transfer_campaign; /* election_start(): this campaign was asked for */
};

/* ---- trace.c ---- */
void trace_decision(struct raft *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define TRACE(r, ...)                                                                      \
    do {                                                                                   \
        if ((r)->cfg.trace)                                                                \
            trace_decision((r), __VA_ARGS__);                                              \
    } while (0)

/* ---- raft.c: update building ---- */
struct raft_msg *raft_msg_push(struct raft *r, enum raft_msg_type type, int to);
void raft_mark_written(struct raft *r, raft_index from);

/* ---- quorum.c: the one definition of a quorum: a majority of the voters
 * of the configuration in force. ---- */
/* conf changed: refresh the voter list every quorum reads. */
void quorum_update(struct raft *r);
/* Whether the ids in `set` (bit i: node i) include a majority of the voters. */
bool quorum_reached(const struct raft *r, uint64_t set);
/* The largest x that a majority of the voters hold (value >= x), where
 * v[k] is the value of voter_ids[k]; v is reordered. 0 without voters. */
uint64_t quorum_value(const struct raft *r, uint64_t *v);
/* Whether this node's own voice is a quorum (a single voter: itself). */
bool quorum_self_alone(const struct raft *r);

/* ---- config.c: the configuration in force, tracked along the log ---- */
/* Iterate over the members other than this node: `var` names each id in
 * turn, members[k] is its entry. */
#define FOR_EACH_PEER(r, k, var)                                                           \
    for (int k = 0, var = 0; k < (r)->conf.n && ((var) = (r)->conf.members[k].id) >= 0; k++) \
        if ((var) != (r)->cfg.id)
bool config_valid_members(const struct raft_configuration *c);
bool config_is_voter(const struct raft *r, int id);
bool config_is_member(const struct raft *r, int id);
/* At raft_new(): snap_conf (NULL: the initial one) as of the log's offset. */
void config_init(struct raft *r, const struct raft_configuration *snap_conf);
/* The entry at log_last_index() was just appended: if it is a CONFIG entry
 * it takes effect now (thesis 4.1: on append, committed or not). */
void config_appended(struct raft *r, const struct raft_entry *e);
/* Entries from `from` on were just dropped: fall back if the one in force was. */
void config_truncated(struct raft *r, raft_index from);
/* Before log_compact_to(upto): keep the configuration as of upto. */
void config_before_compact(struct raft *r, raft_index upto);
/* The configuration in force at `index` (snap_index..last). */
void config_at(const struct raft *r, raft_index index, struct raft_configuration *out);
/* A snapshot with configuration `conf` (NULL: initial) replaced the log up to
 * its index; `log_reset` says whether every entry went. */
void config_snapshot_installed(struct raft *r, const struct raft_configuration *conf,
                               bool log_reset);
/* RAFT_EVENT_CHANGE on the leader. */
int config_change(struct raft *r, enum raft_change_type type, int id, const uint8_t *extra,
                  size_t extra_len);
/* Leader: the change removing it committed; step down (thesis 4.2.2). */
void config_after_commit(struct raft *r);

/* ---- election.c ---- */
void election_reset_timer(struct raft *r);
void election_tick(struct raft *r);
void election_become_follower(struct raft *r, raft_term term, int leader);
void election_start(struct raft *r, bool pre_vote);
bool election_in_lease(const struct raft *r);
void election_count_vote(struct raft *r, int from, bool granted);
void election_set_term(struct raft *r, raft_term term);

/* ---- recv_vote.c ---- */
void recv_vote_request(struct raft *r, const struct raft_msg *m);
void recv_vote_response(struct raft *r, const struct raft_msg *m);

/* ---- replication.c ---- */
void replication_become_leader(struct raft *r);
/* Leader: member `id` just joined the configuration; start tracking it. */
void replication_progress_init(struct raft *r, int id);
void replication_reset_progress(struct raft *r);
void replication_send_append(struct raft *r, int to);
void replication_send_heartbeat(struct raft *r, int to);
void replication_broadcast_append(struct raft *r);
void replication_broadcast_heartbeat(struct raft *r);
void replication_heartbeat_tick(struct raft *r, bool read_round);
void replication_recv_append_resp(struct raft *r, const struct raft_msg *m);
void replication_recv_snapshot_resp(struct raft *r, const struct raft_msg *m);
void replication_check_quorum(struct raft *r);

/* ---- recv_append.c ---- */
int recv_append(struct raft *r, const struct raft_msg *m);

/* ---- recv_snapshot.c ---- */
int recv_snapshot(struct raft *r, const struct raft_msg *m);
int snapshot_take(struct raft *r, raft_index index, const uint8_t *data, size_t len);

/* ---- commit.c ---- */
void commit_leader_advance(struct raft *r);
void commit_follower_advance(struct raft *r, raft_index leader_commit, raft_index last_new);

/* ---- transfer.c: leadership transfer (thesis 3.10) ---- */
int transfer_start(struct raft *r, int target);
bool transfer_active(const struct raft *r);
/* Leader, after every event: TIMEOUT_NOW once the target holds our whole
 * log and all of it is committed. */
void transfer_after_step(struct raft *r);
/* Leader: abandon past the deadline; resend TIMEOUT_NOW each heartbeat. */
void transfer_tick(struct raft *r);
uint64_t transfer_deadline(const struct raft *r, uint64_t deadline);
void transfer_recv_timeout_now(struct raft *r, const struct raft_msg *m);

/* ---- read_index.c ---- */
int read_index_request(struct raft *r, const uint64_t *ids, size_t n);
void read_index_on_commit(struct raft *r);
void read_index_collect(struct raft *r);
void read_index_advance(struct raft *r);
bool read_index_heartbeat(struct raft *r);
/* Before any message to a follower: waiting reads start a round it carries. */
void read_index_before_send(struct raft *r);
/* A round must start, or reach followers replication did not: TICK now. */
bool read_index_due(const struct raft *r);
void read_index_tick(struct raft *r);
void read_index_fail_all(struct raft *r);
void read_fail_id(struct raft *r, uint64_t id);

#endif
