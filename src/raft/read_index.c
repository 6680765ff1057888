/* read_index.c - linearizable reads without writing the log (thesis 6.4).
 *
 * A read is served once (1) the leader has committed an entry of its own
 * term, so its commit index is at least that of any earlier leader; (2) it
 * took read_index = commit index then; (3) a heartbeat round started after
 * the read arrived was answered by a majority in this term, so no newer
 * leader existed at that moment; (4) the state machine applied read_index.
 *
 * A round is a value of hb_seq: every APPEND and SNAPSHOT carries the
 * current one and every answer echoes it, so any message sent after the
 * round began proves leadership when answered. Rounds start lazily and ride
 * replication (thesis 6.4: "the leader can piggyback on ... AppendEntries"):
 * reads that arrive wait, unassigned, for the next message the leader sends
 * anyway; the first such send starts a round for all of them. Only what
 * replication does not cover costs extra: followers that got no message
 * carrying the round get an empty heartbeat at the next TICK, which
 * raft_deadline() makes due at once (a driver ends its batch with it, so
 * a PROPOSE in the same batch carries the round for free). And a round is
 * forced with heartbeats only while no round is in flight: reads arriving
 * meanwhile wait for its answers (or for the next APPEND). So a stream of
 * reads costs at most one heartbeat round per round trip, and none while
 * writes keep APPENDs flowing.
 *
 * Pending reads live in a ring bounded by max_pending_reads; their index
 * and round only grow along the ring, so they complete in order from its
 * head.
 */
#include <stdlib.h>

#include "raft/raft_private.h"

static bool push_id(uint64_t **buf, size_t *n, size_t *cap, uint64_t id)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        uint64_t *b = realloc(*buf, c * sizeof *b);
        if (!b)
            return false;
        *buf = b;
        *cap = c;
    }
    (*buf)[(*n)++] = id;
    return true;
}

void read_fail_id(struct raft *r, uint64_t id)
{
    push_id(&r->failed_buf, &r->n_failed, &r->cap_failed, id);
}

static struct raft_read *read_at(struct raft *r, size_t i)
{
    return &r->reads[(r->reads_head + i) % r->cfg.max_pending_reads];
}

static bool committed_in_term(const struct raft *r)
{
    raft_term t;
    return log_term_at(&r->log, r->commit, &t) && t == r->term;
}

/* Give every read that has its index but no round the round `seq`. The
 * unassigned reads are a suffix of the ring. */
static size_t assign_round(struct raft *r, uint64_t seq)
{
    size_t k = 0;
    for (size_t i = r->reads_count; i > 0; i--) {
        struct raft_read *rd = read_at(r, i - 1);
        if (rd->seq != 0)
            break;
        if (rd->index == 0)
            continue;
        rd->seq = seq;
        k++;
    }
    if (k) {
        r->read_round = seq;
        r->read_round_open = true;
    }
    return k;
}

static bool reads_unassigned(const struct raft *r)
{
    if (!r->reads_count)
        return false;
    const struct raft_read *last =
        &r->reads[(r->reads_head + r->reads_count - 1) % r->cfg.max_pending_reads];
    return last->seq == 0 && last->index != 0;
}

/* Start a round for the waiting reads: from now on every message to a
 * follower carries it. */
static void start_round(struct raft *r, const char *why)
{
    r->hb_seq++;
    size_t k = assign_round(r, r->hb_seq);
    TRACE(r, "%zu reads at index %llu waiting, %s -> round %llu", k,
          (unsigned long long)r->commit, why, (unsigned long long)r->hb_seq);
}

void read_index_before_send(struct raft *r)
{
    if (reads_unassigned(r))
        start_round(r, "a message to a follower goes out");
}

/* Some voter has not been sent a message carrying the latest round (a
 * learner's answer confirms nothing). */
static bool round_uncovered(const struct raft *r)
{
    for (int k = 0; k < r->n_voters; k++) {
        int i = r->voter_ids[k];
        if (i != r->cfg.id && r->progress[i].sent_seq < r->read_round)
            return true;
    }
    return false;
}

bool read_index_due(const struct raft *r)
{
    if (r->role != RAFT_LEADER)
        return false;
    if (r->read_round_open && round_uncovered(r))
        return true;
    return !r->read_round_open && reads_unassigned(r);
}

void read_index_tick(struct raft *r)
{
    if (r->role != RAFT_LEADER)
        return;
    if (!r->read_round_open && reads_unassigned(r))
        start_round(r, "no round in flight and no APPEND went out");
    if (!r->read_round_open || !round_uncovered(r))
        return;
    TRACE(r, "round %llu not carried to every follower by replication -> heartbeat the rest",
          (unsigned long long)r->read_round);
    for (int k = 0; k < r->n_voters; k++) {
        int i = r->voter_ids[k];
        if (i != r->cfg.id && r->progress[i].sent_seq < r->read_round)
            replication_send_heartbeat(r, i);
    }
}

int read_index_request(struct raft *r, const uint64_t *ids, size_t n)
{
    if (r->role != RAFT_LEADER) {
        TRACE(r, "read of %zu as %s -> fail, not leader", n, raft_role_name(r->role));
        for (size_t i = 0; i < n; i++)
            read_fail_id(r, ids[i]);
        return RAFT_ERR_NOT_LEADER;
    }
    if (n == 0)
        return RAFT_OK;
    if (n > r->cfg.max_pending_reads - r->reads_count) {
        TRACE(r, "read of %zu with %zu pending -> fail, busy", n, r->reads_count);
        for (size_t i = 0; i < n; i++)
            read_fail_id(r, ids[i]);
        return RAFT_ERR_BUSY;
    }
    raft_index index = committed_in_term(r) ? r->commit : 0;
    for (size_t i = 0; i < n; i++) {
        struct raft_read *rd = read_at(r, r->reads_count++);
        rd->id = ids[i];
        rd->index = index;
        rd->seq = 0;
    }
    if (!index)
        TRACE(r, "read of %zu before no-op of term %llu committed -> wait", n,
              (unsigned long long)r->term);
    else
        TRACE(r, "read of %zu at index %llu -> wait for the next message out%s", n,
              (unsigned long long)index, r->read_round_open ? " (a round is in flight)" : "");
    if (index && quorum_self_alone(r))
        start_round(r, "no followers to ask"); /* a quorum of one: confirmed at once */
    return RAFT_OK;
}

void read_index_on_commit(struct raft *r)
{
    if (!r->reads_count || !committed_in_term(r))
        return;
    size_t k = 0;
    for (size_t i = 0; i < r->reads_count; i++) {
        struct raft_read *rd = read_at(r, i);
        if (rd->index == 0) {
            rd->index = r->commit;
            k++;
        }
    }
    if (k)
        TRACE(r, "no-op committed at %llu -> %zu waiting reads take it as read index",
              (unsigned long long)r->commit, k);
    if (k && quorum_self_alone(r))
        start_round(r, "no followers to ask");
}

/* The latest round a majority of the voters (this leader included, if it
 * is one) has answered. */
static uint64_t confirmed_round(const struct raft *r)
{
    uint64_t acked[RAFT_MAX_NODES];
    for (int k = 0; k < r->n_voters; k++) {
        int id = r->voter_ids[k];
        acked[k] = id == r->cfg.id ? r->hb_seq : r->progress[id].acked_seq;
    }
    return quorum_value(r, acked);
}

void read_index_advance(struct raft *r)
{
    if (r->role != RAFT_LEADER || !r->read_round_open)
        return;
    if (confirmed_round(r) < r->read_round)
        return;
    r->read_round_open = false; /* reads that arrived meanwhile are now due */
}

bool read_index_heartbeat(struct raft *r)
{
    /* A round whose answers were lost would hold reads forever: the
     * heartbeat starts a fresh one for waiting reads. */
    if (!reads_unassigned(r))
        return false;
    start_round(r, "heartbeat due");
    return true;
}

void read_index_collect(struct raft *r)
{
    if (!r->reads_count)
        return;
    uint64_t confirmed = confirmed_round(r);
    while (r->reads_count) {
        struct raft_read *rd = read_at(r, 0);
        if (rd->seq == 0 || rd->seq > confirmed || rd->index > r->applied)
            break;
        if (!push_id(&r->ready_buf, &r->n_ready, &r->cap_ready, rd->id))
            break;
        r->reads_head = (r->reads_head + 1) % r->cfg.max_pending_reads;
        r->reads_count--;
    }
}

void read_index_fail_all(struct raft *r)
{
    if (r->reads_count)
        TRACE(r, "leadership lost with %zu reads pending -> fail them", r->reads_count);
    while (r->reads_count) {
        read_fail_id(r, read_at(r, 0)->id);
        r->reads_head = (r->reads_head + 1) % r->cfg.max_pending_reads;
        r->reads_count--;
    }
    r->read_round_open = false;
}
