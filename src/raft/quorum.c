/* quorum.c - the one definition of a quorum in the core: a majority of the
 * voters of the configuration in force (thesis 4.1). Elections, commit,
 * ReadIndex rounds and check-quorum all ask here; learners and nodes
 * outside the configuration never count.
 */
#include "raft/raft_private.h"

void quorum_update(struct raft *r)
{
    r->n_voters = 0;
    for (int k = 0; k < r->conf.n; k++)
        if (r->conf.members[k].role == RAFT_VOTER)
            r->voter_ids[r->n_voters++] = r->conf.members[k].id;
}

bool quorum_reached(const struct raft *r, uint64_t set)
{
    int in = 0;
    for (int k = 0; k < r->n_voters; k++)
        in += (set >> r->voter_ids[k]) & 1;
    return r->n_voters > 0 && in >= r->n_voters / 2 + 1;
}

uint64_t quorum_value(const struct raft *r, uint64_t *v)
{
    int n = r->n_voters;
    /* Insertion sort, descending: a few voters, at most RAFT_MAX_NODES. */
    for (int k = 1; k < n; k++) {
        uint64_t x = v[k];
        int j = k;
        for (; j > 0 && v[j - 1] < x; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
    /* The majority-th largest is held by a majority. */
    return n ? v[n / 2] : 0;
}

bool quorum_self_alone(const struct raft *r)
{
    return r->n_voters == 1 && r->voter_ids[0] == r->cfg.id;
}
