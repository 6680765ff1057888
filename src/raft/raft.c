/* raft.c - the core's single entry point: raft_step() dispatch, the update
 * it returns, creation from restored state, defaults and read-only views.
 *
 * Every event runs to completion and leaves its effects in the core's own
 * reusable buffers; finish_update() then points the caller's raft_update at
 * them (entries to persist, messages, committed entries, reads).
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "raft/raft_private.h"

/* Defaults, chosen for a simulated network with up to ~20 ms mean latency
 * (exponential tails reach 100 ms) and for a real LAN:
 *   election_timeout_ms 250   drawn from [250, 500): five heartbeats and
 *                             many round trips even at the latency tail (no
 *                             spurious election in 20 simulated minutes at
 *                             exponential 40 ms), while a majority cut off
 *                             from its leader serves again in ~0.5 s on
 *                             average, 98% of the time within 1 s (300 ms
 *                             gave 94%: split votes cost a whole timeout);
 *   heartbeat_interval_ms 50  so one or two lost heartbeats depose nobody;
 *   pre_vote, check_quorum on (thesis 9.6 and 6.2);
 *   max_entries_per_msg 256, max_bytes_per_msg 1 MiB: one APPEND carries a
 *                             whole burst of proposals;
 *   max_inflight 8            APPENDs in flight per follower (pipelining);
 *   catchup_entries_per_msg 1024, catchup_bytes_per_msg 1 MiB: a follower
 *                             far behind the commit index (a new member)
 *                             gets 4 times the small entries per round
 *                             trip; measured on 2 loaded cores, 4096 and
 *                             4 MiB doubled the leader's CPU per entry
 *                             caught up, 1024 cost as much as 256. Its
 *                             stream counts as broken only after an
 *                             election timeout without progress, not a
 *                             heartbeat interval;
 *   max_pending_reads 4096    ReadIndex queue bound (RAFT_ERR_BUSY beyond);
 *   snapshot_trailing 1024    entries kept behind a snapshot, so a follower
 *                             a second behind under load still gets entries;
 *   log_spare_blocks 4        8 MiB of payload blocks kept for reuse: at
 *                             100,000 entries (15 MB) a second a member
 *                             empties a block every 140 ms or so and needs
 *                             a new one as often, so a few suffice;
 *   log_sweep_entries 65536, log_sweep_blocks 4  released per event after a
 *                             compaction: ~0.2 ms of accounting and a few
 *                             block frees, so 6 million dropped entries go
 *                             in ~100 events instead of 140-230 ms at once;
 *   max_term, max_index 2^63-1  what any signed 64-bit reader of a term or
 *                             index accepts; an election a millisecond
 *                             would take 292 million years to reach it. */
void raft_config_default(struct raft_config *c, int id, int n_nodes, uint64_t seed)
{
    memset(c, 0, sizeof *c);
    c->id = id;
    c->n_nodes = n_nodes;
    c->election_timeout_ms = 250;
    c->heartbeat_interval_ms = 50;
    c->pre_vote = true;
    c->check_quorum = true;
    c->max_entries_per_msg = 256;
    c->max_bytes_per_msg = 1u << 20;
    c->max_inflight = 8;
    c->catchup_entries_per_msg = 1024;
    c->catchup_bytes_per_msg = 1u << 20;
    c->max_pending_reads = 4096;
    c->snapshot_trailing = 1024;
    c->log_spare_blocks = 4;
    c->log_sweep_entries = 65536;
    c->log_sweep_blocks = 4;
    c->max_term = INT64_MAX;
    c->max_index = INT64_MAX;
    c->seed = seed;
}

static bool config_valid(const struct raft_config *c)
{
    bool ids = c->initial ? config_valid_members(c->initial) && c->id < RAFT_MAX_NODES
                          : c->id < c->n_nodes;
    return c->n_nodes >= 1 && c->n_nodes <= RAFT_MAX_NODES && c->id >= 0 && ids &&
           c->election_timeout_ms > 0 && c->heartbeat_interval_ms > 0 &&
           c->max_entries_per_msg > 0 && c->max_bytes_per_msg > 0 && c->max_inflight > 0 &&
           c->max_pending_reads > 0 && c->max_term > 0 && c->max_term < UINT64_MAX &&
           c->max_index > 0 && c->max_index < UINT64_MAX &&
           c->log_spare_blocks <= RAFT_LOG_SPARE_MAX && c->log_sweep_entries > 0 &&
           c->log_sweep_blocks > 0;
}

/* What storage held must lie within the bounds: a node restored above
 * max_term could never answer in a term its peers accept. */
static bool restore_in_bounds(const struct raft_config *c, const struct raft_restore *rs)
{
    if (rs->term > c->max_term || rs->snap_term > c->max_term || rs->snap_index > c->max_index ||
        rs->n_entries > c->max_index)
        return false;
    for (size_t i = 0; i < rs->n_entries; i++)
        if (rs->entries[i].term > c->max_term || rs->entries[i].index > c->max_index)
            return false;
    return !rs->snap_conf || config_valid_members(rs->snap_conf);
}

/* A CONFIG entry must hold a configuration this core can read. */
static bool entry_valid(const struct raft_entry *e)
{
    struct raft_configuration c;
    return e->type != RAFT_ENTRY_CONFIG ||
           raft_configuration_decode(e->data, e->len, &c) == RAFT_OK;
}

struct raft *raft_new(const struct raft_config *config, const struct raft_restore *restore,
                      uint64_t now_ms)
{
    if (!config || !config_valid(config))
        return NULL;
    struct raft *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->cfg = *config;
    /* Mix in the id so nodes seeded alike still draw different timeouts. */
    rng_seed(&r->rng, config->seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(config->id + 1)));
    r->now = now_ms;
    r->role = RAFT_FOLLOWER;
    r->voted_for = RAFT_NO_NODE;
    r->leader = RAFT_NO_NODE;
    r->transfer_target = RAFT_NO_NODE;
    r->reads = calloc(config->max_pending_reads, sizeof *r->reads);
    r->inflight_store = calloc((size_t)RAFT_MAX_NODES * config->max_inflight,
                               sizeof *r->inflight_store);
    if (!r->reads || !r->inflight_store)
        goto err_after_alloc;
    for (int i = 0; i < RAFT_MAX_NODES; i++)
        r->progress[i].inflight = r->inflight_store + (size_t)i * config->max_inflight;
    config_init(r, restore && restore->snap_index ? restore->snap_conf : NULL);
    r->cfg.initial = NULL; /* copied into boot_conf; the caller's may go */

    log_init(&r->log, 0, 0);
    r->log.advise = config->advise_log_block;
    r->log.resize = config->log_table_resize;
    log_set_spare(&r->log, config->log_spare_blocks);
    if (restore) {
        if (restore->voted_for < RAFT_NO_NODE || restore->voted_for >= RAFT_MAX_NODES ||
            (restore->n_entries && !restore->entries) || !restore_in_bounds(config, restore))
            goto err_after_alloc;
        r->term = restore->term;
        r->voted_for = restore->voted_for;
        if (restore->snap_index > 0) {
            log_init(&r->log, restore->snap_index, restore->snap_term);
            r->log.advise = config->advise_log_block;
            r->log.resize = config->log_table_resize;
            log_set_spare(&r->log, config->log_spare_blocks);
            r->snap_index = restore->snap_index;
            r->snap_term = restore->snap_term;
            if (restore->snap_len) {
                r->snap_data = malloc(restore->snap_len);
                if (!r->snap_data)
                    goto err_after_alloc;
                memcpy(r->snap_data, restore->snap_data, restore->snap_len);
                r->snap_len = restore->snap_len;
            }
            r->commit = r->applied = restore->snap_index;
        }
        /* One allocation for the whole restored log, with room for the
         * appends after it: filled to the last slot, the first of them (a
         * new leader's no-op) would copy the whole array (32 MB at a
         * million entries) into fresh pages. Room not written to is not
         * resident. */
        if (log_reserve(&r->log, restore->n_entries + restore->n_entries / 8 + 256) != RAFT_OK)
            goto err_after_log;
        for (size_t i = 0; i < restore->n_entries; i++) {
            const struct raft_entry *e = &restore->entries[i];
            if (e->index <= restore->snap_index)
                continue; /* already inside the snapshot (a segment straddling it) */
            if (e->index != log_last_index(&r->log) + 1 || e->term < log_last_term(&r->log) ||
                (e->len && !e->data) || !entry_valid(e))
                goto err_after_log;
            if ((restore->borrow ? log_append_borrowed(&r->log, e->term, e->type, e->data, e->len)
                                 : log_append(&r->log, e->term, e->type, e->data, e->len)) !=
                RAFT_OK)
                goto err_after_log;
            config_appended(r, log_get(&r->log, e->index));
        }
    }
    /* A commit index storage kept (raft.h, RESTARTING WITH A COMMIT INDEX):
     * its entries are committed, so the first update hands them out. Never
     * past the log (a crash cut what followed the value's entries), never
     * below the snapshot (which holds them). */
    if (restore) {
        raft_index c = restore->commit, last = log_last_index(&r->log);
        if (c > last)
            c = last;
        if (c > r->commit)
            r->commit = c;
    }
    /* A crash between syncing the log and syncing the hard state can leave
     * entries of a term newer than the stored term. Nothing that depended
     * on the lost hard state was sent (raft.h: persist before send), so
     * adopting the log's term with no vote is safe. */
    if (log_last_term(&r->log) > r->term) {
        r->term = log_last_term(&r->log);
        r->voted_for = RAFT_NO_NODE;
    }
    /* What storage held is durable by definition. */
    r->persisted = log_last_index(&r->log);
    election_reset_timer(r);
    return r;

err_after_log:
    log_free(&r->log);
err_after_alloc:
    free(r->snap_data);
    free(r->reads);
    free(r->inflight_store);
    free(r);
    return NULL;
}

void raft_free(struct raft *r)
{
    if (!r)
        return;
    log_free(&r->log);
    free(r->snap_data);
    free(r->reads);
    free(r->inflight_store);
    free(r->msgs);
    free(r->ready_buf);
    free(r->failed_buf);
    free(r);
}

struct raft_msg *raft_msg_push(struct raft *r, enum raft_msg_type type, int to)
{
    if (r->n_msgs == r->cap_msgs) {
        size_t cap = r->cap_msgs ? r->cap_msgs * 2 : 64;
        struct raft_msg *m = realloc(r->msgs, cap * sizeof *m);
        if (!m)
            return NULL; /* the message is lost, as the network may lose it */
        r->msgs = m;
        r->cap_msgs = cap;
    }
    struct raft_msg *m = &r->msgs[r->n_msgs++];
    memset(m, 0, sizeof *m);
    m->type = type;
    m->from = r->cfg.id;
    m->to = to;
    m->term = r->term;
    return m;
}

void raft_mark_written(struct raft *r, raft_index from)
{
    if (r->persist_from == 0 || from < r->persist_from)
        r->persist_from = from;
}

/* A term or index past the config's bounds: refused before anything is
 * adopted, so term + 1 and index + n never wrap anywhere in the core, and
 * counted for the driver to log. Every field is checked, used by the type
 * or not: no message this core makes carries one past the bounds. */
static int msg_in_bounds(struct raft *r, const struct raft_msg *m)
{
    if (m->term > r->cfg.max_term) {
        r->refused.term++;
        r->refused.last = "term above max_term";
        TRACE(r, "recv %s from n%d term %llu > max_term %llu -> refuse", raft_msg_type_name(m->type),
              m->from, (unsigned long long)m->term, (unsigned long long)r->cfg.max_term);
        return RAFT_ERR_BOUNDS;
    }
    raft_index max = r->cfg.max_index;
    if (m->last_log_index > max || m->prev_index > max || m->commit > max ||
        m->match_index > max || m->reject_index > max || m->hint_index > max ||
        m->snap_index > max || (m->type == RAFT_MSG_APPEND && m->n_entries > max - m->prev_index)) {
        r->refused.index++;
        r->refused.last = "index above max_index";
        TRACE(r, "recv %s from n%d with an index past max_index %llu -> refuse",
              raft_msg_type_name(m->type), m->from, (unsigned long long)max);
        return RAFT_ERR_BOUNDS;
    }
    return RAFT_OK;
}

/* Well-formed as this core would have made it; RAFT_ERR_INVALID if not,
 * RAFT_ERR_BOUNDS past the bounds. No term in a message exceeds its own
 * term (a sender's log holds no newer term than its current one). */
static int msg_check(struct raft *r, const struct raft_msg *m)
{
    if ((unsigned)m->type >= RAFT_MSG_TYPE_COUNT || m->from < 0 || m->from >= RAFT_MAX_NODES ||
        m->from == r->cfg.id || m->to != r->cfg.id)
        return RAFT_ERR_INVALID;
    int rc = msg_in_bounds(r, m);
    if (rc != RAFT_OK)
        return rc;
    switch (m->type) {
    case RAFT_MSG_PREVOTE:
    case RAFT_MSG_VOTE:
        if (m->last_log_term > m->term)
            return RAFT_ERR_INVALID;
        break;
    case RAFT_MSG_APPEND:
        if (m->n_entries && !m->entries)
            return RAFT_ERR_INVALID;
        /* Index 0 is before every log: its term is 0. */
        if (m->prev_term > m->term || (m->prev_index == 0 && m->prev_term != 0))
            return RAFT_ERR_INVALID;
        for (size_t i = 0; i < m->n_entries; i++) {
            const struct raft_entry *e = &m->entries[i];
            if (e->index != m->prev_index + 1 + i || e->term > m->term || e->term == 0 ||
                (e->len && !e->data) || e->term < (i ? m->entries[i - 1].term : m->prev_term) ||
                !entry_valid(e))
                return RAFT_ERR_INVALID;
        }
        break;
    case RAFT_MSG_APPEND_RESP:
        /* hint_term: the term of one of its entries, first held at hint_index. */
        if (m->hint_term > m->term || (m->hint_term != 0 && m->hint_index == 0))
            return RAFT_ERR_INVALID;
        break;
    case RAFT_MSG_SNAPSHOT:
        if ((m->snap_len && !m->snap_data) || m->snap_index == 0 || m->snap_term == 0 ||
            m->snap_term > m->term || (m->snap_conf && !config_valid_members(m->snap_conf)))
            return RAFT_ERR_INVALID;
        break;
    default:
        break;
    }
    return RAFT_OK;
}

/* Figure 3.1 "Rules for all servers": a higher term seen in any RPC makes
 * this node a follower of that term, with the exceptions pre-vote and
 * check-quorum introduce (thesis 9.6): a pre-vote request or a granted
 * pre-vote response does not change the term, and a vote request inside a
 * live leader's lease is ignored so a rejoining node cannot depose it. */
static int step_receive(struct raft *r, const struct raft_msg *m)
{
    int rc = msg_check(r, m);
    if (rc != RAFT_OK)
        return rc;
    const char *type = raft_msg_type_name(m->type);

    if (m->term > r->term) {
        if (m->type == RAFT_MSG_PREVOTE ||
            (m->type == RAFT_MSG_PREVOTE_RESP && m->granted)) {
            /* handled below without a term change */
        } else if (m->type == RAFT_MSG_VOTE && !m->transfer && election_in_lease(r)) {
            TRACE(r, "recv vote from n%d term %llu > %llu within leader lease -> ignore", m->from,
                  (unsigned long long)m->term, (unsigned long long)r->term);
            return RAFT_OK;
        } else {
            bool from_leader = m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_SNAPSHOT;
            TRACE(r, "recv %s from n%d term %llu > %llu -> %s", type, m->from,
                  (unsigned long long)m->term, (unsigned long long)r->term,
                  r->role == RAFT_FOLLOWER ? "adopt term" : "step down, adopt term");
            election_become_follower(r, m->term, from_leader ? m->from : RAFT_NO_NODE);
        }
    } else if (m->term < r->term) {
        /* 5.1: a stale request is rejected with the current term, which
         * makes a deposed leader or stale candidate step down. */
        struct raft_msg *resp = NULL;
        switch (m->type) {
        case RAFT_MSG_APPEND:
            resp = raft_msg_push(r, RAFT_MSG_APPEND_RESP, m->from);
            if (resp) {
                resp->reject_index = m->prev_index;
                resp->seq = m->seq;
            }
            break;
        case RAFT_MSG_SNAPSHOT:
            resp = raft_msg_push(r, RAFT_MSG_SNAPSHOT_RESP, m->from);
            if (resp)
                resp->seq = m->seq;
            break;
        case RAFT_MSG_PREVOTE:
            raft_msg_push(r, RAFT_MSG_PREVOTE_RESP, m->from);
            break;
        case RAFT_MSG_VOTE:
            raft_msg_push(r, RAFT_MSG_VOTE_RESP, m->from);
            break;
        default:
            break;
        }
        TRACE(r, "recv %s from n%d term %llu < %llu -> %s", type, m->from,
              (unsigned long long)m->term, (unsigned long long)r->term,
              resp || m->type == RAFT_MSG_PREVOTE || m->type == RAFT_MSG_VOTE ? "reject"
                                                                               : "ignore");
        return RAFT_OK;
    }

    switch (m->type) {
    case RAFT_MSG_PREVOTE:
    case RAFT_MSG_VOTE:
        recv_vote_request(r, m);
        return RAFT_OK;
    case RAFT_MSG_PREVOTE_RESP:
    case RAFT_MSG_VOTE_RESP:
        recv_vote_response(r, m);
        return RAFT_OK;
    case RAFT_MSG_APPEND:
        return recv_append(r, m);
    case RAFT_MSG_APPEND_RESP:
        replication_recv_append_resp(r, m);
        return RAFT_OK;
    case RAFT_MSG_SNAPSHOT:
        return recv_snapshot(r, m);
    case RAFT_MSG_SNAPSHOT_RESP:
        replication_recv_snapshot_resp(r, m);
        return RAFT_OK;
    case RAFT_MSG_TIMEOUT_NOW:
        transfer_recv_timeout_now(r, m);
        return RAFT_OK;
    default:
        return RAFT_ERR_INVALID;
    }
}

static int step_propose(struct raft *r, const struct raft_event *e)
{
    if (r->role != RAFT_LEADER) {
        TRACE(r, "propose %zu commands as %s -> refuse, not leader", e->propose.n,
              raft_role_name(r->role));
        return RAFT_ERR_NOT_LEADER;
    }
    if (transfer_active(r)) {
        TRACE(r, "propose %zu commands while transferring to n%d -> refuse", e->propose.n,
              r->transfer_target);
        return RAFT_ERR_TRANSFERRING;
    }
    if (e->propose.n == 0)
        return RAFT_OK;
    if (!e->propose.data || !e->propose.len)
        return RAFT_ERR_INVALID;
    raft_index last = log_last_index(&r->log);
    if (e->propose.n > r->cfg.max_index - last) {
        TRACE(r, "propose %zu commands after index %llu -> refuse, past max_index", e->propose.n,
              (unsigned long long)last);
        return RAFT_ERR_BOUNDS;
    }
    if (e->propose.n > RAFT_MAX_UNCOMMITTED_ENTRIES ||
        last - r->commit + e->propose.n > RAFT_MAX_UNCOMMITTED_ENTRIES) {
        TRACE(r, "propose with %llu entries uncommitted -> refuse, busy",
              (unsigned long long)(last - r->commit));
        return RAFT_ERR_BUSY;
    }
    for (size_t i = 0; i < e->propose.n; i++) {
        if (e->propose.len[i] && !e->propose.data[i]) {
            log_truncate_from(&r->log, last + 1);
            return RAFT_ERR_INVALID;
        }
        if (log_append(&r->log, r->term, RAFT_ENTRY_COMMAND, e->propose.data[i],
                       e->propose.len[i]) != RAFT_OK) {
            log_truncate_from(&r->log, last + 1);
            return RAFT_ERR_NOMEM;
        }
    }
    for (size_t i = 0; i < e->propose.n; i++)
        r->proposed_bytes += e->propose.len[i];
    r->proposed_first = last + 1;
    r->proposed_term = r->term;
    raft_mark_written(r, last + 1);
    /* New entries go out at once, batched into one APPEND per follower. */
    replication_broadcast_append(r);
    return RAFT_OK;
}

static int step_persisted(struct raft *r, raft_index index, raft_term term)
{
    raft_term t;
    if (index <= r->persisted || !log_term_at(&r->log, index, &t) || t != term)
        return RAFT_OK; /* stale: the log changed since that write */
    r->persisted = index;
    if (r->role == RAFT_LEADER)
        commit_leader_advance(r);
    return RAFT_OK;
}

static void finish_update(struct raft *r, struct raft_update *u, raft_term term0, int vote0,
                          enum raft_role role0, int leader0)
{
    memset(u, 0, sizeof *u);
    raft_index last = log_last_index(&r->log);

    if (r->persist_from && r->persist_from <= last) {
        u->flags |= RAFT_UPDATE_ENTRIES;
        u->entries = log_get(&r->log, r->persist_from);
        u->n_entries = (size_t)(last - r->persist_from + 1);
    }
    if (r->installed_snapshot) {
        u->flags |= RAFT_UPDATE_SNAPSHOT;
        u->snap_index = r->snap_index;
        u->snap_term = r->snap_term;
        u->snap_data = r->snap_data;
        u->snap_len = r->snap_len;
        u->snap_conf = &r->snap_conf;
    }
    /* Messages point into the log only now, after every change this step
     * made to it (appends may have moved the array). */
    for (size_t i = 0; i < r->n_msgs; i++) {
        struct raft_msg *m = &r->msgs[i];
        if (m->type == RAFT_MSG_APPEND && m->n_entries) {
            m->entries = log_get(&r->log, m->prev_index + 1);
            assert(m->entries && m->prev_index + m->n_entries <= last);
        }
    }
    if (r->n_msgs) {
        u->flags |= RAFT_UPDATE_MESSAGES;
        u->messages = r->msgs;
        u->n_messages = r->n_msgs;
    }
    if (r->commit > r->applied) {
        u->flags |= RAFT_UPDATE_COMMITTED;
        u->committed = log_get(&r->log, r->applied + 1);
        u->n_committed = (size_t)(r->commit - r->applied);
        assert(u->committed);
        r->applied = r->commit;
    }
    if (r->role == RAFT_LEADER)
        read_index_collect(r);
    if (r->n_ready || r->n_failed) {
        u->flags |= RAFT_UPDATE_READS;
        u->reads_ready = r->ready_buf;
        u->n_reads_ready = r->n_ready;
        u->reads_failed = r->failed_buf;
        u->n_reads_failed = r->n_failed;
    }
    if (r->hard_state_dirty || r->term != term0 || r->voted_for != vote0)
        u->flags |= RAFT_UPDATE_HARD_STATE;
    if (r->role != role0 || r->leader != leader0 || r->term != term0)
        u->flags |= RAFT_UPDATE_ROLE;
    u->term = r->term;
    u->voted_for = r->voted_for;
    u->role = r->role;
    u->leader = r->leader;
    u->commit_index = r->commit;
    u->last_index = last;
    u->proposed_first = r->proposed_first;
    u->proposed_term = r->proposed_term;
    u->lost_data_peers = r->role == RAFT_LEADER ? r->lost_data_seen : 0;
}

int raft_step(struct raft *r, const struct raft_event *e, struct raft_update *u)
{
    assert(r && e && u);
    raft_term term0 = r->term;
    int vote0 = r->voted_for;
    enum raft_role role0 = r->role;
    int leader0 = r->leader;
    r->n_msgs = r->n_ready = r->n_failed = 0;
    r->persist_from = 0;
    r->hard_state_dirty = false;
    r->installed_snapshot = false;
    r->proposed_first = 0;
    r->proposed_term = 0;
    r->lost_data_seen = 0;
    if (e->now_ms > r->now)
        r->now = e->now_ms; /* time never runs backwards inside the core */

    int rc = RAFT_OK;
    switch (e->type) {
    case RAFT_EVENT_TICK:
        transfer_tick(r);
        election_tick(r);
        read_index_tick(r);
        break;
    case RAFT_EVENT_RECEIVE:
        rc = step_receive(r, &e->receive);
        break;
    case RAFT_EVENT_PROPOSE:
        rc = step_propose(r, e);
        break;
    case RAFT_EVENT_READ:
        if (e->read.n && !e->read.ids)
            rc = RAFT_ERR_INVALID;
        else
            rc = read_index_request(r, e->read.ids, e->read.n);
        break;
    case RAFT_EVENT_PERSISTED:
        rc = step_persisted(r, e->persisted.index, e->persisted.term);
        break;
    case RAFT_EVENT_SNAPSHOT:
        if (e->snapshot.len && !e->snapshot.data)
            rc = RAFT_ERR_INVALID;
        else
            rc = snapshot_take(r, e->snapshot.index, e->snapshot.data, e->snapshot.len);
        break;
    case RAFT_EVENT_TRANSFER:
        rc = transfer_start(r, e->transfer.target);
        break;
    case RAFT_EVENT_CHANGE:
        rc = config_change(r, e->change.type, e->change.id, e->change.extra, e->change.extra_len);
        break;
    default:
        rc = RAFT_ERR_INVALID;
    }
    transfer_after_step(r);
    read_index_advance(r);
    /* Before the update points into the log: the sweep may move its array. */
    log_sweep(&r->log, r->cfg.log_sweep_entries, r->cfg.log_sweep_blocks);
    finish_update(r, u, term0, vote0, role0, leader0);
    return rc;
}

uint64_t raft_deadline(const struct raft *r)
{
    if (r->role != RAFT_LEADER)
        return r->election_deadline;
    if (read_index_due(r))
        return r->now; /* reads wait for a round that no APPEND carried */
    return transfer_deadline(r, r->heartbeat_deadline);
}

enum raft_role raft_role(const struct raft *r)
{
    return r->role;
}
raft_term raft_current_term(const struct raft *r)
{
    return r->term;
}
int raft_leader(const struct raft *r)
{
    return r->leader;
}
raft_index raft_commit_index(const struct raft *r)
{
    return r->commit;
}
raft_index raft_applied_index(const struct raft *r)
{
    return r->applied;
}
raft_index raft_last_index(const struct raft *r)
{
    return log_last_index(&r->log);
}
size_t raft_log_bytes(const struct raft *r)
{
    return r->log.bytes;
}
raft_index raft_snapshot_index(const struct raft *r)
{
    return r->snap_index;
}
const struct raft_configuration *raft_configuration(const struct raft *r)
{
    return &r->conf;
}
raft_index raft_configuration_index(const struct raft *r)
{
    return r->conf_index;
}
const struct raft_configuration *raft_snapshot_configuration(const struct raft *r)
{
    return &r->snap_conf;
}
bool raft_configuration_at(const struct raft *r, raft_index index, struct raft_configuration *out)
{
    if (index < r->snap_index || index < r->log.offset || index > log_last_index(&r->log))
        return false;
    if (index == r->snap_index) {
        *out = r->snap_conf;
        return true;
    }
    config_at(r, index, out);
    return true;
}
bool raft_borrows_restore(const struct raft *r)
{
    return log_borrows(&r->log);
}

int raft_lend(struct raft *r, const struct raft_entry *lent, size_t n)
{
    if (n && (!lent || lent[n - 1].index > r->commit))
        return RAFT_ERR_INVALID; /* an uncommitted entry may still be truncated */
    return log_lend(&r->log, lent, n, r->cfg.verify_lent);
}

void raft_lent_range(const struct raft *r, raft_index *first, raft_index *last)
{
    *first = r->log.offset + 1;
    *last = log_lend_next(&r->log) - 1;
}

size_t raft_log_lent_bytes(const struct raft *r)
{
    return r->log.lent_bytes;
}
size_t raft_log_dead_entries(const struct raft *r)
{
    return log_dead_entries(&r->log);
}
size_t raft_log_dead_blocks(const struct raft *r)
{
    return log_dead_chunks(&r->log);
}
size_t raft_log_spare_bytes(const struct raft *r)
{
    return log_spare_bytes(&r->log);
}

const struct raft_entry *raft_entry_at(const struct raft *r, raft_index index)
{
    return log_get(&r->log, index);
}

bool raft_progress(const struct raft *r, int id, raft_index *match, raft_index *next)
{
    if (r->role != RAFT_LEADER || id < 0 || id >= RAFT_MAX_NODES ||
        (id != r->cfg.id && !config_is_member(r, id)))
        return false;
    if (id == r->cfg.id) {
        *match = r->persisted < log_last_index(&r->log) ? r->persisted : log_last_index(&r->log);
        *next = log_last_index(&r->log) + 1;
        return true;
    }
    *match = r->progress[id].match;
    *next = r->progress[id].next;
    return true;
}

void raft_refusals(const struct raft *r, struct raft_refusals *out)
{
    *out = r->refused;
}

bool raft_peer_lost_data(const struct raft *r, int id, raft_index *agree)
{
    if (r->role != RAFT_LEADER || id < 0 || id >= RAFT_MAX_NODES || id == r->cfg.id ||
        !config_is_member(r, id) || !r->progress[id].lost_data)
        return false;
    if (agree)
        *agree = r->progress[id].lost_agree;
    return true;
}

const char *raft_role_name(enum raft_role role)
{
    switch (role) {
    case RAFT_FOLLOWER:
        return "follower";
    case RAFT_PRE_CANDIDATE:
        return "pre-candidate";
    case RAFT_CANDIDATE:
        return "candidate";
    case RAFT_LEADER:
        return "leader";
    }
    return "?";
}

const char *raft_msg_type_name(enum raft_msg_type type)
{
    static const char *const names[RAFT_MSG_TYPE_COUNT] = {
        "prevote", "prevote_resp", "vote",     "vote_resp",
        "append",  "append_resp",  "snapshot", "snapshot_resp", "timeout_now",
    };
    return (unsigned)type < RAFT_MSG_TYPE_COUNT ? names[type] : "?";
}

const char *raft_strerror(int rc)
{
    switch (rc) {
    case RAFT_OK:
        return "ok";
    case RAFT_ERR_NOT_LEADER:
        return "not the leader";
    case RAFT_ERR_INVALID:
        return "invalid event";
    case RAFT_ERR_NOMEM:
        return "out of memory";
    case RAFT_ERR_BUSY:
        return "busy: too many pending reads or uncommitted entries";
    case RAFT_ERR_BOUNDS:
        return "a term or index beyond the configured bounds (max_term, max_index)";
    case RAFT_ERR_TRANSFERRING:
        return "leadership transfer in progress";
    case RAFT_ERR_CHANGE_PENDING:
        return "a configuration change is in progress (not yet committed)";
    case RAFT_ERR_TERM_UNCOMMITTED:
        return "the leader has not yet committed an entry of its term; retry shortly";
    case RAFT_ERR_UNKNOWN_MEMBER:
        return "no such member";
    case RAFT_ERR_MEMBER_EXISTS:
        return "already a member (in that role)";
    case RAFT_ERR_LAST_VOTER:
        return "cannot remove the last voter";
    }
    return "unknown error";
}
