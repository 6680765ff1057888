/* election.c - timers, terms and role changes: election timeouts, pre-vote,
 * candidacy, stepping down, and the leader lease that check-quorum implies.
 */
#include "raft/raft_private.h"

/* 5.2: each node draws its timeout at random from [T, 2T), so that one node
 * usually times out alone and wins before the others wake up. */
void election_reset_timer(struct raft *r)
{
    uint64_t t = r->cfg.election_timeout_ms;
    r->election_deadline = r->now + t + rng_below(&r->rng, t);
}

void election_set_term(struct raft *r, raft_term term)
{
    if (term == r->term)
        return;
    r->term = term;
    r->voted_for = RAFT_NO_NODE;
    r->hard_state_dirty = true;
}

void election_become_follower(struct raft *r, raft_term term, int leader)
{
    bool was_leader = r->role == RAFT_LEADER;
    election_set_term(r, term);
    r->role = RAFT_FOLLOWER;
    r->leader = leader;
    if (leader != RAFT_NO_NODE) {
        r->heard_leader = true;
        r->leader_contact_ms = r->now;
    }
    /* Thesis 6.4: a deposed leader can no longer prove its reads current. */
    if (was_leader)
        read_index_fail_all(r);
    election_reset_timer(r);
}

/* Thesis 6.2 and 9.6: with check-quorum, a node that heard from a live
 * leader less than the minimum election timeout ago assumes that leader is
 * still there and refuses to help depose it. A leader is always in its own
 * lease (check-quorum deposes it when it is not). */
bool election_in_lease(const struct raft *r)
{
    if (!r->cfg.check_quorum)
        return false;
    if (r->role == RAFT_LEADER)
        return true;
    return r->leader != RAFT_NO_NODE && r->heard_leader &&
           r->now - r->leader_contact_ms < r->cfg.election_timeout_ms;
}

/* Thesis 9.6: a pre-candidate asks whether it could win term+1 without
 * changing its own term, so a node that cannot win (cut off, or with a
 * stale log) never inflates terms and disrupts the cluster.
 * 5.2: a candidate increments its term, votes for itself and asks the rest. */
void election_start(struct raft *r, bool pre_vote)
{
    bool pre = pre_vote && r->cfg.pre_vote;
    if (r->term >= r->cfg.max_term) {
        /* Campaigning means term + 1, past the bound: stay a follower (a
         * leader of this term may still reach us) and tell the driver. */
        r->refused.election++;
        r->refused.last = "election at max_term";
        TRACE(r, "election due in term %llu = max_term -> refuse, stay follower",
              (unsigned long long)r->term);
        r->role = RAFT_FOLLOWER;
        r->leader = RAFT_NO_NODE;
        election_reset_timer(r);
        return;
    }
    raft_term campaign_term = r->term + 1;
    if (pre) {
        r->role = RAFT_PRE_CANDIDATE;
        r->leader = RAFT_NO_NODE;
    } else {
        election_set_term(r, campaign_term);
        r->voted_for = r->cfg.id;
        r->hard_state_dirty = true;
        r->role = RAFT_CANDIDATE;
        r->leader = RAFT_NO_NODE;
    }
    r->votes_granted = 1ull << r->cfg.id;
    r->votes_denied = 0;
    election_reset_timer(r);
    if (quorum_reached(r, r->votes_granted)) {
        if (pre)
            election_start(r, false);
        else
            replication_become_leader(r);
        return;
    }
    raft_index last = log_last_index(&r->log);
    raft_term last_term = log_last_term(&r->log);
    for (int k = 0; k < r->conf.n; k++) {
        int i = r->conf.members[k].id;
        if (i == r->cfg.id || r->conf.members[k].role != RAFT_VOTER)
            continue; /* only voters are asked (learners' answers never count) */
        struct raft_msg *m = raft_msg_push(r, pre ? RAFT_MSG_PREVOTE : RAFT_MSG_VOTE, i);
        if (!m)
            continue;
        m->term = campaign_term;
        m->last_log_index = last;
        m->last_log_term = last_term;
        m->transfer = !pre && r->transfer_campaign;
    }
}

void election_count_vote(struct raft *r, int from, bool granted)
{
    if (granted)
        r->votes_granted |= 1ull << from;
    else
        r->votes_denied |= 1ull << from;
    if (quorum_reached(r, r->votes_granted)) {
        if (r->role == RAFT_PRE_CANDIDATE) {
            TRACE(r, "pre-vote quorum for term %llu -> start election",
                  (unsigned long long)(r->term + 1));
            election_start(r, false);
        } else {
            TRACE(r, "vote quorum in term %llu -> become leader", (unsigned long long)r->term);
            replication_become_leader(r);
        }
    } else if (quorum_reached(r, r->votes_denied)) {
        TRACE(r, "%s denied by a majority -> follower", raft_role_name(r->role));
        election_become_follower(r, r->term, RAFT_NO_NODE);
    }
}

void election_tick(struct raft *r)
{
    if (r->role == RAFT_LEADER) {
        if (r->now < r->heartbeat_deadline)
            return;
        r->heartbeat_deadline = r->now + r->cfg.heartbeat_interval_ms;
        replication_check_quorum(r);
        if (r->role == RAFT_LEADER) {
            bool read_round = read_index_heartbeat(r);
            replication_heartbeat_tick(r, read_round);
        }
        return;
    }
    if (r->now >= r->election_deadline && !config_is_voter(r, r->cfg.id)) {
        /* Thesis 4.2: only voters campaign; a learner or a node outside
         * the configuration waits for a leader to reach it. */
        TRACE(r, "election timeout as %s -> stay follower",
              config_is_member(r, r->cfg.id) ? "a learner" : "outside the configuration");
        election_reset_timer(r);
        return;
    }
    if (r->now >= r->election_deadline) {
        TRACE(r, "election timeout as %s in term %llu -> %s", raft_role_name(r->role),
              (unsigned long long)r->term, r->cfg.pre_vote ? "pre-vote" : "campaign");
        election_start(r, true);
    }
}
