/* quorum.c - the one definition of a quorum in the core: a majority of the
 * voters of the configuration in force (thesis 4.1). Elections, commit,
 * ReadIndex rounds and check-quorum all ask here; learners and nodes
 * outside the configuration never count.
 */
#include "raft/raft_private.h"

bool quorum_reached(const struct raft_configuration *c, uint64_t set)
{
    int voters = 0, in = 0;
    for (int k = 0; k < c->n; k++) {
        if (c->members[k].role != RAFT_VOTER)
            continue;
        voters++;
        if (set & (1ull << c->members[k].id))
            in++;
    }
    return voters > 0 && in >= voters / 2 + 1;
}

uint64_t quorum_value(const struct raft_configuration *c, const uint64_t *values)
{
    uint64_t v[RAFT_MAX_NODES];
    int n = 0;
    for (int k = 0; k < c->n; k++) {
        if (c->members[k].role != RAFT_VOTER)
            continue;
        /* Insertion sort, descending: a few voters, at most RAFT_MAX_NODES. */
        uint64_t x = values[c->members[k].id];
        int j = n++;
        for (; j > 0 && v[j - 1] < x; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
    /* The majority-th largest is held by a majority. */
    return n ? v[n / 2] : 0;
}

bool quorum_self_alone(const struct raft *r)
{
    return quorum_reached(&r->conf, 1ull << r->cfg.id);
}
