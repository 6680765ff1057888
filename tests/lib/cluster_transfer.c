/* cluster_transfer.c - leadership transfer requests (RAFT_EVENT_TRANSFER)
 * delivered to a node of the test cluster, through its driver like every
 * other event, with the safety checks after the step.
 */
#include "cluster_private.h"

int cluster_transfer(struct cluster *c, int node, int target)
{
    if (node < 0 || node >= c->n || !c->nodes[node].alive)
        return RAFT_ERR_NOT_LEADER;
    struct cluster_node *nd = &c->nodes[node];
    struct raft_event ev = {.type = RAFT_EVENT_TRANSFER, .now_ms = c->now};
    ev.transfer.target = target;
    struct raft_update u;
    int rc = raft_step(nd->raft, &ev, &u);
    cluster_handle_update(nd, &u);
    cluster_safety_after_step(c);
    return rc;
}
