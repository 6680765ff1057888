/* read_index.c - linearizable reads without writing the log (thesis 6.4).
 *
 * A read is served once (1) the leader has committed an entry of its own
 * term, so its commit index is at least that of any earlier leader; (2) it
 * took read_index = commit index then; (3) a heartbeat round started after
 * the read arrived was answered by a majority in this term, so no newer
 * leader existed at that moment; (4) the state machine applied read_index.
 * Reads taken in one event share one round. Pending reads live in a ring
 * bounded by max_pending_reads; both their index and round only grow along
 * the ring, so they complete in order from its head.
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

/* Start a new heartbeat round, broadcast at once rather than at the next
 * heartbeat tick, so a read waits one round trip and no longer. */
static uint64_t start_round(struct raft *r)
{
    r->hb_seq++;
    replication_broadcast_heartbeat(r);
    return r->hb_seq;
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
    if (r->reads_count + n > r->cfg.max_pending_reads) {
        TRACE(r, "read of %zu with %zu pending -> fail, busy", n, r->reads_count);
        for (size_t i = 0; i < n; i++)
            read_fail_id(r, ids[i]);
        return RAFT_ERR_BUSY;
    }
    raft_index index = 0;
    uint64_t seq = 0;
    if (committed_in_term(r)) {
        index = r->commit;
        seq = start_round(r);
        TRACE(r, "read of %zu -> read index %llu, heartbeat round %llu", n,
              (unsigned long long)index, (unsigned long long)seq);
    } else {
        TRACE(r, "read of %zu before no-op of term %llu committed -> wait", n,
              (unsigned long long)r->term);
    }
    for (size_t i = 0; i < n; i++) {
        struct raft_read *rd = read_at(r, r->reads_count++);
        rd->id = ids[i];
        rd->index = index;
        rd->seq = seq;
    }
    return RAFT_OK;
}

void read_index_on_commit(struct raft *r)
{
    if (!r->reads_count || !committed_in_term(r))
        return;
    uint64_t seq = 0;
    for (size_t i = 0; i < r->reads_count; i++) {
        struct raft_read *rd = read_at(r, i);
        if (rd->seq != 0)
            continue;
        if (!seq) {
            seq = start_round(r);
            TRACE(r, "no-op committed at %llu -> waiting reads get round %llu",
                  (unsigned long long)r->commit, (unsigned long long)seq);
        }
        rd->index = r->commit;
        rd->seq = seq;
    }
}

/* The latest round a majority (this leader included) has answered. */
static uint64_t confirmed_round(const struct raft *r)
{
    uint64_t acked[RAFT_MAX_NODES];
    int n = r->cfg.n_nodes;
    for (int i = 0; i < n; i++)
        acked[i] = i == r->cfg.id ? r->hb_seq : r->progress[i].acked_seq;
    for (int i = 1; i < n; i++) {
        uint64_t v = acked[i];
        int j = i;
        for (; j > 0 && acked[j - 1] < v; j--)
            acked[j] = acked[j - 1];
        acked[j] = v;
    }
    return acked[raft_majority(r) - 1];
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
}
