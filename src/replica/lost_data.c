/* lost_data.c - telling the transport about followers that lost data they
 * had acknowledged (raft_peer_lost_data()): the rate limit on the reports,
 * and the words of the log line both front ends print.
 *
 * The core confirms such a follower at most once per heartbeat interval
 * while it lasts; the transport hears of it the first time and then at most
 * once per REPLICA_LOST_DATA_REPEAT_MS, so the condition stays visible in
 * the log without filling it.
 */
#include <inttypes.h>
#include <stdio.h>

#include "replica/replica_internal.h"

void replica_report_lost_data(struct replica *r, uint64_t now_ms)
{
    uint64_t due = r->lost_data_due;
    r->lost_data_due = 0;
    if (!due || !r->config.peer_lost_data)
        return;
    for (int id = 0; id < RAFT_MAX_NODES; id++) {
        if (!(due & (1ull << id)))
            continue;
        if ((r->lost_data_reported & (1ull << id)) &&
            now_ms - r->lost_data_reported_ms[id] < REPLICA_LOST_DATA_REPEAT_MS)
            continue;
        raft_index agree, match, next;
        if (!raft_peer_lost_data(r->raft, id, &agree) || !raft_progress(r->raft, id, &match, &next))
            continue;
        r->lost_data_reported |= 1ull << id;
        r->lost_data_reported_ms[id] = now_ms;
        r->config.peer_lost_data(r->config.ctx, id, agree, match);
    }
}

bool replica_peer_lost_data(const struct replica *r, int id)
{
    return raft_peer_lost_data(r->raft, id, NULL);
}

int replica_lost_data_text(char *buf, size_t cap, const char *peer, raft_index agree,
                           raft_index match)
{
    return snprintf(buf, cap,
                    "peer %s says its log agrees with the leader's only up to index %" PRIu64
                    ", below index %" PRIu64 " that it acknowledged: it lost data it had "
                    "acknowledged (a wiped or replaced disk). It gets no entries and the "
                    "cluster runs without it; stop it and keep it stopped, since while it runs "
                    "it still votes, and its vote could elect a member missing committed "
                    "entries. Replace it (docs/OPERATIONS.md, \"Replace a member\"): RAFT.NODE "
                    "REMOVE it on the leader, then add it back with an empty data directory "
                    "(RAFT.NODE ADD, raftkv serve --join)",
                    peer, agree, match);
}
