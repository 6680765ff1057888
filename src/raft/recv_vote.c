/* recv_vote.c - RequestVote and its pre-vote twin: granting and counting.
 */
#include "raft/raft_private.h"

/* 5.4.1: grant only to a candidate whose log is at least as up-to-date as
 * ours: a higher last term, or the same last term and at least as long. */
static bool log_up_to_date(const struct raft *r, const struct raft_msg *m)
{
    raft_term last_term = log_last_term(&r->log);
    return m->last_log_term > last_term ||
           (m->last_log_term == last_term && m->last_log_index >= log_last_index(&r->log));
}

void recv_vote_request(struct raft *r, const struct raft_msg *m)
{
    bool pre = m->type == RAFT_MSG_PREVOTE;
    const char *what = pre ? "pre-vote" : "vote";
    struct raft_msg *resp = raft_msg_push(r, pre ? RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP,
                                          m->from);
    if (!resp)
        return;
    /* Thesis 9.6 with 6.2: inside a live leader's lease, refuse. */
    if (pre && m->term > r->term && election_in_lease(r)) {
        TRACE(r, "recv %s from n%d term %llu within leader lease -> deny", what, m->from,
              (unsigned long long)m->term);
        return;
    }
    /* 5.2: one vote per term, first come first served; a follower that
     * knows this term's leader votes for nobody else. A pre-vote for a
     * higher term promises nothing, so it only needs the log check. */
    bool can_vote = r->voted_for == m->from ||
                    (r->voted_for == RAFT_NO_NODE && r->leader == RAFT_NO_NODE) ||
                    (pre && m->term > r->term);
    if (r->role == RAFT_LEADER && m->term == r->term)
        can_vote = false;
    if (!can_vote) {
        TRACE(r, "recv %s from n%d term %llu, voted for n%d -> deny", what, m->from,
              (unsigned long long)m->term, r->voted_for);
        return;
    }
    if (!log_up_to_date(r, m)) {
        TRACE(r, "recv %s from n%d, its log (%llu,%llu) behind ours (%llu,%llu) -> deny", what,
              m->from, (unsigned long long)m->last_log_index,
              (unsigned long long)m->last_log_term,
              (unsigned long long)log_last_index(&r->log),
              (unsigned long long)log_last_term(&r->log));
        return;
    }
    resp->granted = true;
    if (pre) {
        /* Answer in the term asked about, so the pre-candidate can tell this
         * grant from a stale one. */
        resp->term = m->term;
        TRACE(r, "recv pre-vote from n%d term %llu, log up to date -> grant", m->from,
              (unsigned long long)m->term);
        return;
    }
    if (r->voted_for != m->from) {
        r->voted_for = m->from;
        r->hard_state_dirty = true;
    }
    /* 5.2: granting a vote resets the election timer. */
    election_reset_timer(r);
    TRACE(r, "recv vote from n%d term %llu, log up to date -> grant", m->from,
          (unsigned long long)m->term);
}

void recv_vote_response(struct raft *r, const struct raft_msg *m)
{
    if (m->type == RAFT_MSG_PREVOTE_RESP) {
        if (r->role != RAFT_PRE_CANDIDATE)
            return;
        /* A grant answers in our campaign term, a denial in the voter's. */
        if (m->granted ? m->term != r->term + 1 : m->term != r->term)
            return;
    } else {
        if (r->role != RAFT_CANDIDATE || m->term != r->term)
            return;
    }
    TRACE(r, "recv %s from n%d %s -> count it", raft_msg_type_name(m->type), m->from,
          m->granted ? "granted" : "denied");
    election_count_vote(r, m->from, m->granted);
}
