/* transfer.c - leadership transfer (thesis 3.10): the leader stops taking
 * proposals, brings the target's log up to date and waits until all of it
 * is committed (so every client of the old term gets its answer from this
 * leader before a new term starts), then tells the target TIMEOUT_NOW;
 * the target campaigns at once in term + 1 (no pre-vote), and its VOTE
 * requests carry the transfer flag so voters grant even inside the old
 * leader's lease. A transfer not done within an election timeout is
 * abandoned and the leader takes proposals again.
 *
 * The state lives in struct raft (transfer_*) and counts only while this
 * node leads in the term it was started in, so stepping down or a new term
 * ends it without any hook elsewhere.
 */
#include "raft/raft_private.h"

bool transfer_active(const struct raft *r)
{
    return r->role == RAFT_LEADER && r->transfer_target != RAFT_NO_NODE &&
           r->transfer_term == r->term;
}

int raft_transfer_target(const struct raft *r)
{
    return transfer_active(r) ? r->transfer_target : RAFT_NO_NODE;
}

/* RAFT_NO_NODE asks for the most up-to-date follower: one heard from
 * within an election timeout before one that was not (a dead node may hold
 * the longest log), then the highest match, then the lowest id. A follower
 * known to have lost data never qualifies. */
static int pick_target(const struct raft *r)
{
    int best = RAFT_NO_NODE;
    bool best_live = false;
    for (int k = 0; k < r->n_voters; k++) { /* only a voter can win */
        int i = r->voter_ids[k];
        const struct raft_progress *pr = &r->progress[i];
        if (i == r->cfg.id || pr->lost_data)
            continue;
        bool live = r->now - pr->last_heard_ms < r->cfg.election_timeout_ms;
        if (best == RAFT_NO_NODE || (live && !best_live) ||
            (live == best_live && pr->match > r->progress[best].match)) {
            best = i;
            best_live = live;
        }
    }
    return best;
}

static bool target_caught_up(const struct raft *r)
{
    raft_index last = log_last_index(&r->log);
    return r->progress[r->transfer_target].match == last && r->commit == last;
}

static void send_timeout_now(struct raft *r)
{
    r->transfer_told = true;
    if (raft_msg_push(r, RAFT_MSG_TIMEOUT_NOW, r->transfer_target))
        TRACE(r, "transfer: n%d holds our log to %llu, all committed -> timeout_now",
              r->transfer_target, (unsigned long long)log_last_index(&r->log));
}

int transfer_start(struct raft *r, int target)
{
    if (r->role != RAFT_LEADER) {
        TRACE(r, "transfer to n%d as %s -> refuse, not leader", target, raft_role_name(r->role));
        return RAFT_ERR_NOT_LEADER;
    }
    if (target < RAFT_NO_NODE || target >= RAFT_MAX_NODES ||
        (target != RAFT_NO_NODE && !config_is_voter(r, target)))
        return RAFT_ERR_INVALID; /* only a voter of the configuration can lead */
    if (target == r->cfg.id)
        return RAFT_OK; /* it leads already */
    if (target == RAFT_NO_NODE) {
        target = pick_target(r);
        if (target == RAFT_NO_NODE)
            return RAFT_ERR_INVALID; /* a single node: nobody to hand over to */
    }
    if (transfer_active(r) && r->transfer_target == target)
        return RAFT_OK; /* already under way; its deadline stands */
    r->transfer_target = target;
    r->transfer_term = r->term;
    r->transfer_deadline = r->now + r->cfg.election_timeout_ms;
    r->transfer_told = false;
    TRACE(r, "transfer to n%d (match %llu, last %llu) -> refuse proposals until %llu", target,
          (unsigned long long)r->progress[target].match,
          (unsigned long long)log_last_index(&r->log),
          (unsigned long long)r->transfer_deadline);
    if (!target_caught_up(r))
        replication_send_append(r, target);
    return RAFT_OK; /* transfer_after_step() tells it when it is */
}

void transfer_after_step(struct raft *r)
{
    if (transfer_active(r) && !r->transfer_told && target_caught_up(r))
        send_timeout_now(r);
}

void transfer_tick(struct raft *r)
{
    if (!transfer_active(r))
        return;
    if (r->now >= r->transfer_deadline) {
        TRACE(r, "transfer to n%d not done within an election timeout -> abandon, accept "
                 "proposals",
              r->transfer_target);
        r->transfer_target = RAFT_NO_NODE;
        return;
    }
    /* The TIMEOUT_NOW may have been lost: say it again each heartbeat
     * (transfer_after_step). A stale one is harmless: its term is behind
     * the target's once it campaigned. */
    if (r->now >= r->heartbeat_deadline)
        r->transfer_told = false;
}

uint64_t transfer_deadline(const struct raft *r, uint64_t deadline)
{
    if (transfer_active(r) && r->transfer_deadline < deadline)
        return r->transfer_deadline;
    return deadline;
}

/* 3.10: the target starts an election at once, skipping pre-vote (the
 * leader vouches for it), in term + 1. Here m->term == r->term (raft_step
 * adopted a higher one first). */
void transfer_recv_timeout_now(struct raft *r, const struct raft_msg *m)
{
    if (r->role == RAFT_LEADER) {
        TRACE(r, "recv timeout_now from n%d as leader -> ignore", m->from);
        return;
    }
    if (!config_is_voter(r, r->cfg.id)) {
        TRACE(r, "recv timeout_now from n%d, not a voter -> ignore", m->from);
        return;
    }
    TRACE(r, "recv timeout_now from n%d term %llu -> campaign in term %llu now", m->from,
          (unsigned long long)m->term, (unsigned long long)(r->term + 1));
    r->transfer_campaign = true;
    election_start(r, false);
    r->transfer_campaign = false;
}
