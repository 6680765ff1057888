/* recv_append.c - AppendEntries on the receiving side: the consistency
 * check, conflict truncation, appending, the follower's commit index, and
 * the rejection hint for fast backtracking.
 */
#include "raft/raft_private.h"

static void reply(struct raft *r, const struct raft_msg *m, bool success, raft_index match,
                  raft_index hint_index, raft_term hint_term)
{
    struct raft_msg *resp = raft_msg_push(r, RAFT_MSG_APPEND_RESP, m->from);
    if (!resp)
        return;
    resp->success = success;
    resp->seq = m->seq;
    if (success) {
        resp->match_index = match;
    } else {
        resp->reject_index = m->prev_index;
        resp->hint_index = hint_index;
        resp->hint_term = hint_term;
    }
}

int recv_append(struct raft *r, const struct raft_msg *m)
{
    /* Here m->term == r->term (raft_step handled the others). 5.2: an
     * APPEND of the current term comes from its one leader; a candidate of
     * this term has lost and follows it. */
    if (r->role != RAFT_FOLLOWER || r->leader != m->from) {
        TRACE(r, "recv append from n%d term %llu as %s -> follow n%d", m->from,
              (unsigned long long)m->term, raft_role_name(r->role), m->from);
    }
    election_become_follower(r, m->term, m->from);

    raft_index prev = m->prev_index;
    raft_term prev_term = m->prev_term;
    const struct raft_entry *ents = m->entries;
    size_t n = m->n_entries;

    /* Entries up to our commit index are committed, hence in the leader's
     * log already (leader completeness, 5.4): skip them, and answer from the
     * commit point; they may lie behind a snapshot we no longer hold. */
    if (prev < r->commit) {
        raft_index skip = r->commit - prev;
        if (skip >= n) {
            reply(r, m, true, r->commit, 0, 0);
            return RAFT_OK;
        }
        ents += skip;
        n -= (size_t)skip;
        prev = r->commit;
        prev_term = ents[-1].term;
    }

    /* 5.3: reject unless our log holds prev_index with prev_term. */
    raft_term our_term = 0;
    raft_index last = log_last_index(&r->log);
    if (prev > last) {
        TRACE(r, "recv append prev %llu beyond our last %llu -> reject", (unsigned long long)prev,
              (unsigned long long)last);
        reply(r, m, false, 0, last, 0);
        return RAFT_OK;
    }
    if (!log_term_at(&r->log, prev, &our_term) || our_term != prev_term) {
        /* Hint: the first index of our conflicting term (at most back to
         * the commit point, which agrees with every leader). */
        raft_index first = prev;
        raft_term t;
        while (first - 1 > r->commit && log_term_at(&r->log, first - 1, &t) && t == our_term)
            first--;
        TRACE(r, "recv append prev %llu term %llu, ours term %llu -> reject, hint %llu",
              (unsigned long long)prev, (unsigned long long)prev_term,
              (unsigned long long)our_term, (unsigned long long)first);
        reply(r, m, false, 0, first, our_term);
        return RAFT_OK;
    }

    /* 5.3: an existing entry that conflicts with a new one (same index,
     * different term) is deleted with all that follow; entries already
     * present are kept, so a stale or duplicated APPEND truncates nothing. */
    size_t i = 0;
    for (; i < n; i++) {
        raft_index idx = ents[i].index;
        if (idx > log_last_index(&r->log))
            break;
        log_term_at(&r->log, idx, &our_term);
        if (our_term != ents[i].term) {
            TRACE(r, "entry %llu term %llu conflicts with leader's term %llu -> truncate",
                  (unsigned long long)idx, (unsigned long long)our_term,
                  (unsigned long long)ents[i].term);
            log_truncate_from(&r->log, idx);
            config_truncated(r, idx);
            if (r->persisted >= idx)
                r->persisted = idx - 1;
            break;
        }
    }
    for (size_t j = i; j < n; j++) {
        if (log_append(&r->log, ents[j].term, ents[j].type, ents[j].data, ents[j].len) !=
            RAFT_OK) {
            n = j; /* keep what fitted; the leader resends the rest */
            break;
        }
        config_appended(r, &ents[j]); /* thesis 4.1: in force once appended */
    }
    if (i < n)
        raft_mark_written(r, ents[i].index);

    raft_index last_new = prev + n;
    commit_follower_advance(r, m->commit, last_new);
    reply(r, m, true, last_new, 0, 0);
    return RAFT_OK;
}
