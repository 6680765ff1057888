/* raft_refusals.c - the server's log of what its Raft core refused: a peer's
 * message with a term or index past the core's bounds (max_term, max_index)
 * or otherwise ill-formed, and elections the core could not start because
 * its term is max_term already. At most one line a second per kind, saying
 * how many were held back since the last one, so a flood cannot fill the
 * log. (A rate limit of its own, small; server_log.c has none.) */
#include <inttypes.h>

#include "server/server_internal.h"

/* True when a line of this kind may go out now; *held gets the lines held
 * back since the last one. */
static bool pass(struct server_refusal_log *l, int kind, uint64_t now, uint64_t *held)
{
    if (l->next_ms[kind] != 0 && now < l->next_ms[kind]) {
        l->held[kind]++;
        return false;
    }
    *held = l->held[kind];
    l->held[kind] = 0;
    l->next_ms[kind] = now + 1000;
    return true;
}

void server_raft_refused(struct server *s, int peer, const struct raft_msg *m, int rc)
{
    uint64_t held;
    if (rc == RAFT_OK || !pass(&s->refusal_log, 0, server_now(s), &held))
        return;
    struct raft_refusals rf;
    replica_refusals(s->replica, &rf);
    const char *why = rc == RAFT_ERR_BOUNDS && rf.last ? rf.last : raft_strerror(rc);
    server_log(SLOG_WARN, "peer_raft_refused",
               "peer=%s type=%s term=%" PRIu64 " our_term=%" PRIu64 " reason=\"%s\" "
               "held_back=%" PRIu64 " refused_terms=%" PRIu64 " refused_indexes=%" PRIu64,
               s->opt.names[peer], raft_msg_type_name(m->type), m->term, replica_term(s->replica),
               why, held, rf.term, rf.index);
}

void server_raft_refusals_check(struct server *s)
{
    struct raft_refusals rf;
    replica_refusals(s->replica, &rf);
    uint64_t held;
    if (rf.election > s->refusal_log.elections_seen &&
        pass(&s->refusal_log, 1, server_now(s), &held))
        server_log(SLOG_ERROR, "election_refused",
                   "term=%" PRIu64 " refused=%" PRIu64 " detail=\"the term is the largest this "
                   "node may hold (max_term); it cannot campaign and stays a follower\"",
                   replica_term(s->replica), rf.election);
    s->refusal_log.elections_seen = rf.election;
}
