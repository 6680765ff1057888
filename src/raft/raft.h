/* raft.h - the pure Raft core: its API, and the order of work every driver must follow.
 *
 * The core does no I/O, reads no clock and draws no randomness of its own. A
 * driver (the Maelstrom stdio node, the TCP server, the deterministic test
 * cluster) feeds it events, each carrying the current time in milliseconds,
 * and gets back a `struct raft_update` that says what to persist, what to
 * send and what to apply. Randomness (election timeouts) comes from a PRNG
 * seeded through `raft_config.seed`, so a run replays exactly from its seed.
 *
 * ORDER OF WORK (the driver's contract, as etcd's Ready and Ongaro's thesis 3.8):
 *   1. Persist: if RAFT_UPDATE_HARD_STATE, store (term, voted_for). If
 *      RAFT_UPDATE_ENTRIES, first drop every stored entry with index >=
 *      entries[0].index, then append `entries`. If RAFT_UPDATE_SNAPSHOT,
 *      store the snapshot and drop stored entries it covers.
 *   2. Make step 1 durable (fsync), possibly once for many updates (group
 *      commit), and only then
 *   3. send `messages` (a vote or an append acknowledgement must never leave
 *      before the state it promises is on disk). The one exception (thesis
 *      10.2.1): a LEADER's APPEND messages may be sent before step 2 ends,
 *      provided nothing unsynced holds a term, vote or snapshot (only its
 *      own new entries), so followers store them while it syncs; it counts
 *      itself only after step 5, and a crash before the sync loses its
 *      copy like any follower's. Every other message waits. Then
 *   4. apply: restore `snap_data` if RAFT_UPDATE_SNAPSHOT, then apply
 *      `committed` entries in order, each exactly once; then serve
 *      `reads_ready` and fail `reads_failed`.
 *   5. Report durability back with RAFT_EVENT_PERSISTED (index and term of the
 *      last durable entry). A leader counts itself in a quorum only for
 *      entries it has reported durable.
 * Everything an update points to is owned by the core and stays valid only
 * until the next call into the core; copy what must live longer.
 * Also (core notes): report PERSISTED in every role, not only as leader (a
 * follower may become leader later and a single node commits only through
 * it); a READ refused with an error lists its ids in reads_failed too; a
 * snapshot install keeps the entries after snap_index exactly when the log
 * held (snap_index, snap_term), as storage_save_snapshot() does.
 *
 * RESTARTING WITH A COMMIT INDEX (etcd keeps `commit` in its HardState). A
 * commit index a node once knew stays true forever: the entries up to it are
 * committed, and a committed entry is never truncated or overwritten (a new
 * leader only cuts entries past every commit index). So a driver may store
 * it cheaply and lagging, and hand it back in raft_restore.commit; any value
 * at or below the true one is safe. The one rule: a stored value C must
 * never outlive, or come back without, the log entries up to it, i.e. store
 * C only once entries up to C are durable, or in the same ordered stream
 * after them, so that whatever a crash leaves of the stream (a prefix) holds
 * them whenever it holds C (the server's log writes C as a record after a
 * sync batch's entries, storage.h). raft_new() clamps C to [snap_index, last
 * restored index] (a log cut short by a crash ends before it; the snapshot
 * holds what is below it) and its first update, whatever the event (a TICK
 * before any message will do), hands out snap_index+1..C in `committed`: a
 * restarted node applies what it knew was committed while it elects,
 * instead of waiting for a leader to tell it the commit index again.
 *
 * Node ids are small integers 0..RAFT_MAX_NODES-1; drivers map them to names.
 *
 * MEMBERSHIP (thesis chapter 4). The core knows its configuration as data
 * (struct raft_configuration): which ids are members, each a voter or a
 * learner. Learners receive the log and snapshots but never vote and never
 * count in a quorum; a node outside the configuration, or a learner, never
 * campaigns. Every quorum (elections, commit, ReadIndex rounds,
 * check-quorum) is a majority of the voters of the current configuration
 * (quorum.c). The configuration changes one server at a time (thesis 4.1):
 * RAFT_EVENT_CHANGE on the leader appends a RAFT_ENTRY_CONFIG entry holding
 * the whole new member list (raft_configuration_encode()), and every node
 * uses the latest configuration in its log from the moment the entry is
 * APPENDED, committed or not; if the entry is truncated away the node falls
 * back to the one before it. At most one change is uncommitted at a time,
 * and a new leader starts none before it committed an entry of its own term
 * (its no-op): the fix to the single-server algorithm's known flaw (Ongaro,
 * raft-dev, 2015), without which two leaders of different terms could each
 * commit a change and leave two disjoint majorities. A leader that removed
 * itself keeps leading without counting itself until the change commits,
 * then steps down (4.2.2).
 *
 * Why single-server changes rather than joint consensus (4.3): any two
 * majorities of configurations that differ by one voter overlap, so one
 * change never needs two configurations at once: no joint state to carry in
 * entries, snapshots, elections and commit rules, and every quorum is one
 * majority of one voter set. Any change (a replacement, a growth from 3 to
 * 5) is a sequence of single steps, and a new member is added as a learner
 * first, so it catches up before it counts (4.2.1) and availability never
 * depends on a member that is still empty. Joint consensus earns its extra
 * machinery only for arbitrary changes in one step, which the admin
 * commands (add, promote, remove) never need.
 *
 * A configuration travels with snapshots: an installed snapshot's update,
 * raft_restore and the SNAPSHOT message carry the configuration as of the
 * snapshot index, which the driver stores beside the image
 * (raft_configuration_at(index) before RAFT_EVENT_SNAPSHOT, or
 * raft_snapshot_configuration() after it). A driver that
 * never changes membership may ignore all of this: with no configuration
 * given, a node starts from raft_config.n_nodes voters, ids 0..n_nodes-1.
 */
#ifndef RAFTKV_RAFT_H
#define RAFTKV_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RAFT_MAX_NODES 64 /* ids 0..63: a uint64_t bitmask holds any set of them */
/* The log's largest payload block, and its alignment (raft_config.advise_log_block). */
#define RAFT_LOG_BLOCK ((size_t)2 << 20)
/* The most spare payload blocks a log may keep (raft_config.log_spare_blocks). */
#define RAFT_LOG_SPARE_MAX 16u
#define RAFT_NO_NODE (-1)

typedef uint64_t raft_term;
typedef uint64_t raft_index;

/* Return codes of raft_step(): 0 or one of these (negative). */
#define RAFT_OK 0
#define RAFT_ERR_NOT_LEADER (-1) /* proposal/read refused; certainly not appended */
#define RAFT_ERR_INVALID (-2)    /* malformed event (bad node id, ...) */
#define RAFT_ERR_NOMEM (-3)
#define RAFT_ERR_BUSY (-4) /* too many pending reads or unapplied entries */
#define RAFT_ERR_BOUNDS (-5) /* a term or index beyond max_term / max_index: refused,
                              * nothing changed, counted in raft_refusals() */
#define RAFT_ERR_TRANSFERRING (-6) /* proposal refused, certainly not appended: this
                                    * leader is handing leadership over (thesis 3.10,
                                    * RAFT_EVENT_TRANSFER); try the next leader */
/* RAFT_EVENT_CHANGE refusals; each changes nothing. */
#define RAFT_ERR_CHANGE_PENDING (-7) /* a configuration change is not yet committed */
#define RAFT_ERR_TERM_UNCOMMITTED (-8) /* this leader has not committed an entry of its
                                        * term yet (thesis 4.1 fix): retry shortly */
#define RAFT_ERR_UNKNOWN_MEMBER (-9) /* promote or remove an id that is not a member */
#define RAFT_ERR_MEMBER_EXISTS (-10)  /* add an id already a member; promote a voter */
#define RAFT_ERR_LAST_VOTER (-11)    /* removing the only voter would leave no quorum */

enum raft_role { RAFT_FOLLOWER, RAFT_PRE_CANDIDATE, RAFT_CANDIDATE, RAFT_LEADER };

enum raft_entry_type { RAFT_ENTRY_NOOP = 0, RAFT_ENTRY_COMMAND = 1, RAFT_ENTRY_CONFIG = 2 };

/* A member: a node id and whether it votes. */
enum raft_member_role { RAFT_VOTER = 0, RAFT_LEARNER = 1 };
struct raft_member {
    int id; /* 0..RAFT_MAX_NODES-1 */
    enum raft_member_role role;
};

/* A configuration: members in increasing id order, each id once. */
struct raft_configuration {
    int n;
    struct raft_member members[RAFT_MAX_NODES];
};

/* The data of a RAFT_ENTRY_CONFIG entry: byte 0 the format version (1),
 * byte 1 the member count n, then n pairs (id, role), ids strictly
 * increasing: 2 + 2n bytes, then the driver's bytes (RAFT_EVENT_CHANGE's
 * `extra`, at most RAFT_CONFIGURATION_MAX_EXTRA; opaque to the core: the
 * TCP server keeps its members' names and addresses there). Encode writes
 * the 2 + 2n bytes and returns their length, or 0 if `cap` is too small or
 * the configuration invalid; decode reads them and ignores what follows,
 * returning RAFT_OK or RAFT_ERR_INVALID (too short, version, id, role or
 * order). */
#define RAFT_CONFIGURATION_MAX_BYTES (2 + 2 * RAFT_MAX_NODES)
#define RAFT_CONFIGURATION_MAX_EXTRA (1u << 20)
size_t raft_configuration_encode(const struct raft_configuration *c, uint8_t *buf, size_t cap);
int raft_configuration_decode(const uint8_t *buf, size_t len, struct raft_configuration *c);
/* The member with `id`, or NULL. */
const struct raft_member *raft_configuration_find(const struct raft_configuration *c, int id);
/* How many members vote. */
int raft_configuration_voters(const struct raft_configuration *c);

struct raft_entry {
    raft_term term;
    raft_index index;
    uint8_t type; /* enum raft_entry_type */
    uint32_t len;
    uint8_t *data; /* len bytes, opaque to the core */
};

enum raft_msg_type {
    RAFT_MSG_PREVOTE,
    RAFT_MSG_PREVOTE_RESP,
    RAFT_MSG_VOTE,
    RAFT_MSG_VOTE_RESP,
    RAFT_MSG_APPEND, /* also the heartbeat, with no entries */
    RAFT_MSG_APPEND_RESP,
    RAFT_MSG_SNAPSHOT,
    RAFT_MSG_SNAPSHOT_RESP,
    RAFT_MSG_TIMEOUT_NOW, /* leader to transfer target: campaign now (thesis 3.10) */
    RAFT_MSG_TYPE_COUNT
};

struct raft_msg {
    enum raft_msg_type type;
    int from, to;
    raft_term term; /* for PREVOTE: the term the sender would campaign in */

    /* PREVOTE, VOTE: the candidate's last log position. */
    raft_index last_log_index;
    raft_term last_log_term;
    /* PREVOTE_RESP, VOTE_RESP */
    bool granted;
    /* VOTE: the candidate campaigns because the leader asked it to
     * (TIMEOUT_NOW, thesis 3.10): voters grant even inside a live leader's
     * lease, which check-quorum would otherwise make them keep. */
    bool transfer;

    /* APPEND: consistency check position, leader commit, entries. */
    raft_index prev_index;
    raft_term prev_term;
    raft_index commit;
    size_t n_entries;
    struct raft_entry *entries;
    /* APPEND and SNAPSHOT carry the leader's heartbeat round; the answer
     * echoes it. It proves leadership for ReadIndex (thesis 6.4). */
    uint64_t seq;

    /* APPEND_RESP: on success, match_index is the last index known to match
     * the leader. On rejection, reject_index is the prev_index rejected and
     * (hint_index, hint_term) let the leader skip a whole term at once
     * (thesis 5.3 fast backtracking): hint_index is the follower's last
     * index if its log is shorter, else the first index of hint_term, the
     * term of its entry at reject_index. SNAPSHOT_RESP uses match_index. */
    bool success;
    raft_index match_index;
    raft_index reject_index;
    raft_index hint_index;
    raft_term hint_term;

    /* SNAPSHOT: the whole state-machine image as of snap_index. */
    raft_index snap_index;
    raft_term snap_term;
    size_t snap_len;
    uint8_t *snap_data;
    /* SNAPSHOT: the configuration as of snap_index. NULL (a driver whose
     * wire does not carry it): the receiver's initial configuration. */
    const struct raft_configuration *snap_conf;
};

struct raft_config {
    int id;      /* this node, 0..RAFT_MAX_NODES-1 (0..n_nodes-1 without `initial`) */
    int n_nodes; /* 1..RAFT_MAX_NODES: the initial configuration is ids
                  * 0..n_nodes-1, all voters, unless `initial` is set */
    /* The configuration to start from when storage holds none (copied by
     * raft_new()). A node joining a running cluster may give one it is not
     * in (even an empty one): it never campaigns, and learns the real
     * configuration from the leader's log or snapshot. */
    const struct raft_configuration *initial;
    uint64_t election_timeout_ms;   /* drawn uniformly from [this, 2*this) */
    uint64_t heartbeat_interval_ms; /* must be well below election_timeout_ms */
    bool pre_vote;                  /* thesis 9.6 */
    bool check_quorum;              /* thesis 6.2: leader steps down without a quorum */
    size_t max_entries_per_msg;     /* batching bound per APPEND */
    size_t max_bytes_per_msg;
    size_t max_inflight; /* APPEND messages in flight per follower (pipelining) */
    /* Catch-up batching: a follower in REPLICATE that lacks more committed
     * entries than one ordinary APPEND carries (commit - next + 1 >
     * max_entries_per_msg: a new member, or one back from a partition or a
     * restart) gets APPENDs of up to these bounds instead, holding committed
     * entries only, so no commit ever waits behind a large APPEND and a
     * follower in step keeps the small ones. Fewer, larger APPENDs cost
     * less per entry at both ends and carry more per round trip. 0: the
     * ordinary bounds. */
    size_t catchup_entries_per_msg;
    size_t catchup_bytes_per_msg;
    /* Catch-up pacing: those catch-up APPENDs go to each follower at most
     * this many payload bytes per second on average (one APPEND of
     * catchup_bytes_per_msg may go ahead of the pace), so a member catching
     * up takes its share of the leader's and its own CPU over time rather
     * than at once. An APPEND held back goes at a later answer, proposal or
     * heartbeat tick. 0: no cap. Keep it well above the log's growth in
     * bytes per second, or the follower never catches up. */
    uint64_t catchup_bytes_per_sec;
    size_t max_pending_reads;
    uint64_t seed; /* the only source of randomness */
    /* One "condition -> action" line per decision, when set. */
    void (*trace)(void *ctx, const char *line);
    void *trace_ctx;
    /* When set, called on large ranges of the log's memory before the
     * log writes them: each new block of payloads (RAFT_LOG_BLOCK bytes,
     * aligned to it), the new part of a grown entry array of at least
     * RAFT_LOG_BLOCK bytes. A hint only, e.g. for huge pages (one page
     * fault per 2 MiB instead of per 4 KiB); the core never depends on it. */
    void (*advise_log_block)(void *block, size_t len);
    /* When set, the log's entry table (one struct raft_entry per entry in
     * memory, one contiguous allocation) is allocated, resized and freed
     * through it instead of realloc() and free(): p NULL (old_bytes 0)
     * allocates new_bytes; new_bytes 0 frees p (returns NULL); otherwise
     * it resizes p from old_bytes to new_bytes, keeping the first
     * min(old_bytes, new_bytes) bytes, possibly at a new address, and
     * returns NULL, p left as it was, when it cannot. The table doubles
     * as the log grows, to hundreds of MB: realloc() copies it into fresh
     * pages, one event's work in proportion to the log, where a driver
     * can move page tables instead (mremap(); the server's
     * src/server/log_table.c). The core never frees or shrinks more than
     * a bounded part of it in one event, but for raft_free(). */
    void *(*log_table_resize)(void *p, size_t old_bytes, size_t new_bytes);
    /* Payload blocks (up to RAFT_LOG_BLOCK bytes each) whose entries all
     * went by compaction or raft_lend() are kept, up to this many
     * (<= RAFT_LOG_SPARE_MAX), and reused for the next payloads instead of
     * freed and allocated afresh: a member taking entries in fast (a
     * learner catching up) writes into memory it already holds rather
     * than pages the kernel must fault in and zero. Blocks a truncation or
     * a snapshot's reset empties are freed, never reused. 0: none. */
    size_t log_spare_blocks;
    /* What compaction and a snapshot's reset drop is released a budget at
     * a time, after each event: at most log_sweep_entries entries (their
     * accounting, the payloads allocated alone) and log_sweep_blocks
     * payload blocks (freed or kept as spares) per raft_step(), so no
     * event costs time in proportion to the log (raft_log_dead_entries()
     * says what is left). Both at least 1. */
    size_t log_sweep_entries;
    size_t log_sweep_blocks;
    /* raft_lend() compares each lent payload with the log's copy (tests:
     * it reads every lent byte). */
    bool verify_lent;
    /* Entries kept in memory behind a snapshot (RAFT_EVENT_SNAPSHOT), so a
     * follower a little behind gets entries rather than the whole image. */
    size_t snapshot_trailing;
    /* The largest term and index this node will ever hold (both below
     * UINT64_MAX, so term + 1 and index + 1 never wrap). A message carrying
     * a larger term or index is refused before anything is adopted
     * (RAFT_ERR_BOUNDS); a node at max_term cannot start an election (it
     * would have to increment): it stays follower and counts the refusal.
     * A driver picks what its wire can carry back (raft_config_default:
     * 2^63-1, what every signed 64-bit reader accepts). */
    raft_term max_term;
    raft_index max_index;
};

/* Fill a config with the defaults documented in the README (and in raft.c). */
void raft_config_default(struct raft_config *c, int id, int n_nodes, uint64_t seed);

/* What storage held at start-up. Entries are copied by raft_new(), unless
 * `borrow` is set: then the core keeps pointers to the entries' data (not
 * to the array) instead of copying them, never writes or frees them, and
 * the driver must keep those bytes valid and unchanged as long as
 * raft_lent_range() covers their entries (until compacted, truncated or
 * replaced by a snapshot) or until raft_free(). raft_lend() extends the
 * same lent prefix while the node runs. */
struct raft_restore {
    raft_term term;
    int voted_for; /* RAFT_NO_NODE if none */
    raft_index snap_index; /* 0 if no snapshot */
    raft_term snap_term;
    const uint8_t *snap_data; /* kept by the core to send to lagging followers */
    size_t snap_len;
    const struct raft_entry *entries; /* snap_index+1 .. in order */
    size_t n_entries;
    /* The configuration as of snap_index, stored beside the snapshot; NULL:
     * the initial one (raft_config.initial or n_nodes). CONFIG entries in
     * `entries` override it. */
    const struct raft_configuration *snap_conf;
    bool borrow; /* keep pointers to the entries' data, not copies (above) */
    /* A commit index this node knew before it stopped (0: none); see
     * RESTARTING WITH A COMMIT INDEX above. raft_new() clamps it to
     * [snap_index, the last entry restored]. */
    raft_index commit;
};

enum raft_event_type {
    RAFT_EVENT_TICK,      /* time passed; fire due timers */
    RAFT_EVENT_RECEIVE,   /* a message from a peer */
    RAFT_EVENT_PROPOSE,   /* append commands (leader only) */
    RAFT_EVENT_READ,      /* linearizable reads by ReadIndex (leader only); their
                           * heartbeat round rides the next APPEND, or goes out at
                           * the TICK raft_deadline() then asks for at once */
    RAFT_EVENT_PERSISTED, /* entries up to (index, term) are durable */
    RAFT_EVENT_SNAPSHOT,  /* the driver snapshotted its state at `index` (<= applied);
                           * raft_snapshot_configuration() then gives the
                           * configuration to store beside it */
    RAFT_EVENT_TRANSFER,  /* leader only: hand leadership to transfer.target (thesis
                           * 3.10; RAFT_NO_NODE: the most up-to-date follower).
                           * Until it ends, proposals get RAFT_ERR_TRANSFERRING;
                           * the target is brought up to date, then told
                           * TIMEOUT_NOW. It ends when this node stops leading,
                           * or is abandoned after election_timeout_ms (it then
                           * accepts proposals again). RAFT_ERR_NOT_LEADER on a
                           * non-leader; RAFT_ERR_INVALID for a target out of
                           * range or no other node; the own id: RAFT_OK,
                           * nothing to do. A new target replaces the old one. */
    RAFT_EVENT_CHANGE,    /* a membership change (leader only): appends a CONFIG
                           * entry, its index in update->proposed_first */
};

enum raft_change_type {
    RAFT_CHANGE_ADD_LEARNER, /* a new member that receives the log but does not vote */
    RAFT_CHANGE_PROMOTE,     /* a learner becomes a voter */
    RAFT_CHANGE_REMOVE,      /* a voter or learner leaves (the leader itself too) */
};

struct raft_event {
    enum raft_event_type type;
    uint64_t now_ms;
    union {
        struct raft_msg receive;
        struct {
            size_t n;
            const uint8_t *const *data;
            const uint32_t *len;
        } propose; /* on success update->proposed_first is the first index given */
        struct {
            size_t n;
            const uint64_t *ids; /* driver's ids; answered in reads_ready/failed */
        } read;
        struct {
            raft_index index;
            raft_term term;
        } persisted;
        struct {
            raft_index index;
            const uint8_t *data; /* copied */
            size_t len;
        } snapshot;
        struct {
            int target; /* a node id, or RAFT_NO_NODE */
        } transfer;
        struct {
            enum raft_change_type type;
            int id;
            const uint8_t *extra; /* copied after the configuration into the entry */
            size_t extra_len;     /* 0..RAFT_CONFIGURATION_MAX_EXTRA */
        } change;
    };
};

#define RAFT_UPDATE_HARD_STATE (1u << 0)
#define RAFT_UPDATE_ENTRIES (1u << 1)
#define RAFT_UPDATE_MESSAGES (1u << 2)
#define RAFT_UPDATE_COMMITTED (1u << 3)
#define RAFT_UPDATE_SNAPSHOT (1u << 4)
#define RAFT_UPDATE_READS (1u << 5)
#define RAFT_UPDATE_ROLE (1u << 6) /* role, leader or term changed */

struct raft_update {
    unsigned flags;
    /* Always filled: where the node stands after this step. */
    raft_term term;
    int voted_for;
    enum raft_role role;
    int leader; /* the leader this node knows for `term`, or RAFT_NO_NODE */
    raft_index commit_index;
    raft_index last_index;

    struct raft_entry *entries; /* to persist */
    size_t n_entries;

    struct raft_msg *messages; /* to send, after persisting */
    size_t n_messages;

    struct raft_entry *committed; /* to apply, in order */
    size_t n_committed;

    raft_index snap_index; /* snapshot received from the leader: install it */
    raft_term snap_term;
    const uint8_t *snap_data;
    size_t snap_len;
    const struct raft_configuration *snap_conf; /* ... and store this beside it */

    const uint64_t *reads_ready; /* serve from the state machine now */
    size_t n_reads_ready;
    const uint64_t *reads_failed; /* leadership lost or not leader: fail them */
    size_t n_reads_failed;

    raft_index proposed_first; /* PROPOSE: index of the first new entry */
    raft_term proposed_term;

    /* Leader: followers (bit i: node i) that lost data they acknowledged,
     * confirmed again in this step (raft_peer_lost_data() says more). At
     * most once per heartbeat interval each, while it lasts: a driver logs
     * it, rate-limited. */
    uint64_t lost_data_peers;
};

struct raft;

/* Create a node from its config and what storage held (NULL: empty). */
struct raft *raft_new(const struct raft_config *config, const struct raft_restore *restore,
                      uint64_t now_ms);
void raft_free(struct raft *r);

/* The single entry point. Returns RAFT_OK or a RAFT_ERR_*; `update` is
 * filled in either case (a refused proposal may still carry messages). */
int raft_step(struct raft *r, const struct raft_event *event, struct raft_update *update);

/* Absolute time (ms) at which the driver must deliver the next TICK. It may
 * be the current time: reads wait for a round no APPEND carried, so a driver
 * ends each batch (after its PROPOSE, if any) by ticking when it is due. */
uint64_t raft_deadline(const struct raft *r);

/* Read-only views for drivers, INFO and tests. */
enum raft_role raft_role(const struct raft *r);
raft_term raft_current_term(const struct raft *r);
int raft_leader(const struct raft *r);
raft_index raft_commit_index(const struct raft *r);
raft_index raft_applied_index(const struct raft *r);
raft_index raft_last_index(const struct raft *r);
raft_index raft_snapshot_index(const struct raft *r);
/* Memory the in-memory log holds: payloads plus an entry record each. */
size_t raft_log_bytes(const struct raft *r);
/* Whether the log still points at data a driver lent (raft_restore.borrow
 * or raft_lend()). */
bool raft_borrows_restore(const struct raft *r);
/* Lending committed entries' bytes while running: the driver that holds an
 * entry's payload elsewhere already (its log file, mapped read-only) hands
 * the core a pointer to it, and the core frees its own copy (the payload
 * blocks left holding only lent payloads go). lent[k] carries the entry's
 * index, term and length and the pointer; the indexes run on from
 * raft_lent_range()'s *last + 1 and must be committed (so never truncated).
 * The driver keeps those bytes valid and unchanged while raft_lent_range()
 * covers them (compaction and a snapshot's reset end that) or until
 * raft_free(). RAFT_ERR_INVALID (nothing changed) for a wrong index, term
 * or length, or with raft_config.verify_lent, different bytes. */
int raft_lend(struct raft *r, const struct raft_entry *lent, size_t n);
/* The entries whose payloads are lent: *first..*last (empty when *last <
 * *first; *first is the first entry in memory). */
void raft_lent_range(const struct raft *r, raft_index *first, raft_index *last);
/* Of raft_log_bytes(), the payload bytes lent (not the core's memory). */
size_t raft_log_lent_bytes(const struct raft *r);
/* Entries and payload blocks dropped by compaction or a reset, still to
 * release (raft_config.log_sweep_entries, log_sweep_blocks); their bytes
 * count in raft_log_bytes() (and raft_log_lent_bytes()) until then. */
size_t raft_log_dead_entries(const struct raft *r);
size_t raft_log_dead_blocks(const struct raft *r);
/* Bytes of spare payload blocks the log holds for its next entries
 * (raft_config.log_spare_blocks), not in raft_log_bytes(). */
size_t raft_log_spare_bytes(const struct raft *r);
/* The entry at `index` if it is in memory (not compacted), else NULL. */
const struct raft_entry *raft_entry_at(const struct raft *r, raft_index index);
/* The configuration in force: the latest in the log, committed or not. */
const struct raft_configuration *raft_configuration(const struct raft *r);
/* The index of the CONFIG entry it came from (0: initial or from a snapshot). */
raft_index raft_configuration_index(const struct raft *r);
/* The configuration as of the snapshot this node holds, to store beside it. */
const struct raft_configuration *raft_snapshot_configuration(const struct raft *r);
/* The configuration in force at `index` (snapshot index .. last index), for a
 * driver that stores its snapshot before RAFT_EVENT_SNAPSHOT; false outside. */
bool raft_configuration_at(const struct raft *r, raft_index index, struct raft_configuration *out);
/* For a leader: what it knows of follower `id` (match index, next index). */
bool raft_progress(const struct raft *r, int id, raft_index *match, raft_index *next);
/* For a leader: whether follower `id` lost data it had acknowledged: it
 * refused, twice in a row, probes at the match it acknowledged, saying its
 * log agrees with the leader's at most up to *agree (< match; its log ends
 * there after a wiped disk). Its match stays (it must not count as holding
 * what it forgot), so it gets one probe per heartbeat and never catches up;
 * the flag clears if it matches at its old match again. */
bool raft_peer_lost_data(const struct raft *r, int id, raft_index *agree);

/* What the core refused because of max_term / max_index; counters only
 * grow. A driver logs their growth (rate-limited): the core does no I/O. */
struct raft_refusals {
    uint64_t term;     /* messages whose term exceeds max_term */
    uint64_t index;    /* messages with an index (or prev_index + entries) past max_index */
    uint64_t election; /* elections not started: the term is max_term already */
    const char *last;  /* what the last refusal was, static text, or NULL */
};
void raft_refusals(const struct raft *r, struct raft_refusals *out);

/* For a leader handing leadership over (RAFT_EVENT_TRANSFER): the target
 * it chose; RAFT_NO_NODE when no transfer is under way (none asked, or it
 * ended: this node no longer leads, or it was abandoned). */
int raft_transfer_target(const struct raft *r);

/* A deep copy of `src` that outlives the core's buffers (entries and snapshot
 * bytes included); release it with raft_msg_release(). RAFT_OK or
 * RAFT_ERR_NOMEM. */
int raft_msg_copy(struct raft_msg *dst, const struct raft_msg *src);
void raft_msg_release(struct raft_msg *m);

const char *raft_role_name(enum raft_role role);
const char *raft_msg_type_name(enum raft_msg_type type);
const char *raft_strerror(int rc);

#endif
