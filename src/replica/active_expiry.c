/* active_expiry.c - the leader removes keys whose deadline passed, through
 * the log, as Redis's active expiry does in its cron, with bounded work
 * per turn.
 *
 * A key past its deadline is already absent for every read and write (they
 * compare the deadline with their stamped time); this only gives its
 * memory back. A leader that has applied an entry of its own term (so its
 * map is current) looks, at most every EXPIRY_PERIOD_MS, at up to
 * EXPIRY_SLOTS more slots of its map (a cursor that goes round), and
 * proposes one entry: a KV_MULTI of up to EXPIRY_KEYS KV_EXPIRED
 * operations, stamped with its time like any write. Each member's apply
 * deletes a key only if its deadline is not after that entry's time, so
 * a key that was given a new deadline or value in between stays, and no
 * follower ever deletes on its own. One such entry is in flight at a
 * time; when a turn filled it, the next turn comes as soon as it applied
 * (a backlog drains at up to EXPIRY_KEYS keys an entry), otherwise after
 * the period. Nobody waits for its answer (like the cluster id's entry);
 * one lost with its leader is simply sampled again by the next. */
#include <stdlib.h>

#include "replica/replica_internal.h"

#define EXPIRY_PERIOD_MS 100
#define EXPIRY_SLOTS 4096
#define EXPIRY_KEYS 128

void replica_active_expiry(struct replica *r, uint64_t now_ms)
{
    raft_term term = raft_current_term(r->raft);
    if (raft_role(r->raft) != RAFT_LEADER || r->applied_term != term ||
        kv_store_expiring(r->kv) == 0 || now_ms < r->expiry_next_ms ||
        (r->expiry_term == term && r->applied < r->expiry_index))
        return;
    int64_t t = replica_time(r, now_ms);
    struct kv_command c;
    if (kv_expired_sample(r->kv, t, &r->expiry_pos, EXPIRY_SLOTS, EXPIRY_KEYS, &c) != 0)
        return; /* out of memory: tried again at the next flush */
    bool full = c.n_sub == EXPIRY_KEYS;
    r->expiry_next_ms = full ? now_ms : now_ms + EXPIRY_PERIOD_MS;
    if (c.n_sub == 0) {
        kv_command_release(&c);
        return;
    }
    uint8_t *data;
    size_t len;
    int rc = kv_command_encode(&c, &data, &len);
    kv_command_release(&c);
    if (rc != 0)
        return;
    kv_entry_stamp(data, len, t);
    const uint8_t *datas[1] = {data};
    uint32_t lens[1] = {(uint32_t)len};
    struct raft_event e = {.type = RAFT_EVENT_PROPOSE, .now_ms = now_ms};
    e.propose.n = 1;
    e.propose.data = datas;
    e.propose.len = lens;
    struct raft_update u;
    if (raft_step(r->raft, &e, &u) == RAFT_OK) {
        r->expiry_index = u.proposed_first;
        r->expiry_term = term;
        replica_supersede(r, u.proposed_first);
    }
    replica_absorb(r, &u);
    free(data);
}
