/* commit.c - advancing the commit index: by counting replicas on the
 * leader, by the leader's word on a follower.
 */
#include "raft/raft_private.h"

/* 5.3, 5.4.2: the leader commits index N once a majority of the voters
 * holds it AND the entry at N is of the current term; earlier-term entries are then
 * committed indirectly (Figure 8 shows why counting them is unsafe). The
 * leader counts itself only for entries the driver reported durable. */
void commit_leader_advance(struct raft *r)
{
    uint64_t matches[RAFT_MAX_NODES];
    raft_index last = log_last_index(&r->log);
    for (int k = 0; k < r->n_voters; k++) {
        int id = r->voter_ids[k];
        matches[k] = id == r->cfg.id ? (r->persisted < last ? r->persisted : last)
                                     : r->progress[id].match;
    }
    /* A leader outside the configuration (it removed itself) is not among
     * its voters, so it does not count itself (thesis 4.2.2). */
    raft_index quorum_index = quorum_value(r, matches);
    if (quorum_index <= r->commit)
        return;
    raft_term t = 0;
    if (!log_term_at(&r->log, quorum_index, &t) || t != r->term) {
        TRACE(r, "index %llu on a quorum is of term %llu != %llu -> do not commit by counting",
              (unsigned long long)quorum_index, (unsigned long long)t,
              (unsigned long long)r->term);
        return;
    }
    TRACE(r, "index %llu on a quorum in term %llu -> commit", (unsigned long long)quorum_index,
          (unsigned long long)r->term);
    r->commit = quorum_index;
    read_index_on_commit(r);
    config_after_commit(r);
}

/* Figure 2, AppendEntries rule 5: commitIndex = min(leaderCommit, index of
 * last new entry); never backwards. */
void commit_follower_advance(struct raft *r, raft_index leader_commit, raft_index last_new)
{
    raft_index c = leader_commit < last_new ? leader_commit : last_new;
    if (c > r->commit)
        r->commit = c;
}
