/* learner_sync.c - when a learner catching up may sync its log (replica.h,
 * learner_sync_interval_ms). A learner's acknowledgements never count
 * toward a commit, so while it streams a backlog it gains nothing from
 * syncing after every APPEND: it groups its syncs, at most one per
 * interval, and acknowledges, as always, only what a sync made durable.
 * A voter, a learner near the leader's commit index, and any sync that
 * carries a term, vote or snapshot sync at once. So does a learner that
 * holds half the leader's window of catch-up APPENDs unsynced (max_inflight
 * of them, raft.h, as this member is configured): the acknowledgements
 * then come before the leader runs out of window, and spacing them never
 * stalls the stream, however fast the log grows. */
#include "replica/replica_internal.h"

void replica_learner_note_append(struct replica *r, const struct raft_msg *m)
{
    if (m->type == RAFT_MSG_APPEND && m->commit > r->leader_commit_seen)
        r->leader_commit_seen = m->commit;
}

void replica_learner_note_sync(struct replica *r)
{
    r->last_sync_ms = r->now_ms;
    r->unsynced_entries = 0;
    r->unsynced_bytes = 0;
}

/* Whether this node is a learner (or not a member at all) of its latest
 * configuration and lacks more committed entries than one ordinary APPEND
 * holds: the leader streams it catch-up batches (replication.c). */
static bool catching_up_learner(const struct replica *r)
{
    const struct raft_member *me = raft_configuration_find(raft_configuration(r->raft),
                                                           r->config.raft.id);
    if (me && me->role == RAFT_VOTER)
        return false;
    return r->leader_commit_seen > r->stored_index &&
           r->leader_commit_seen - r->stored_index > r->config.raft.max_entries_per_msg;
}

/* Half the leader's window: max_inflight APPENDs of the catch-up bounds. */
static bool half_window_unsynced(const struct replica *r)
{
    const struct raft_config *c = &r->config.raft;
    size_t n = c->catchup_entries_per_msg > c->max_entries_per_msg ? c->catchup_entries_per_msg
                                                                   : c->max_entries_per_msg;
    size_t b = c->catchup_bytes_per_msg > c->max_bytes_per_msg ? c->catchup_bytes_per_msg
                                                               : c->max_bytes_per_msg;
    return r->unsynced_entries >= (uint64_t)c->max_inflight * n / 2 ||
           r->unsynced_bytes >= (uint64_t)c->max_inflight * b / 2;
}

uint64_t replica_learner_sync_due(const struct replica *r)
{
    uint64_t gap = r->config.learner_sync_interval_ms;
    if (!gap || r->hard_state_unsynced || !catching_up_learner(r) || half_window_unsynced(r))
        return 0;
    return r->last_sync_ms + gap;
}
