/* raft_refusals.c - the server's log of what its Raft core refused: a peer's
 * message with a term or index past the core's bounds (max_term, max_index)
 * or otherwise ill-formed, and elections the core could not start because
 * its term is max_term already. Lines go through server_log_limited, so a
 * flood cannot fill the log. */
#include <inttypes.h>

#include "server/server_internal.h"

void server_raft_refused(struct server *s, int peer, const struct raft_msg *m, int rc)
{
    if (rc == RAFT_OK)
        return;
    struct raft_refusals rf;
    replica_refusals(s->replica, &rf);
    const char *why = rc == RAFT_ERR_BOUNDS && rf.last ? rf.last : raft_strerror(rc);
    server_log_limited(SLOG_WARN, "peer_raft_refused",
                       "peer=%s type=%s term=%" PRIu64 " our_term=%" PRIu64 " reason=\"%s\" "
                       "refused_terms=%" PRIu64 " refused_indexes=%" PRIu64,
                       s->opt.names[peer], raft_msg_type_name(m->type), m->term, replica_term(s->replica),
                       why, rf.term, rf.index);
}

void server_raft_refusals_check(struct server *s)
{
    struct raft_refusals rf;
    replica_refusals(s->replica, &rf);
    if (rf.election > s->elections_refused_seen)
        server_log_limited(SLOG_ERROR, "election_refused",
                           "term=%" PRIu64 " refused=%" PRIu64 " detail=\"the term is the largest this "
                           "node may hold (max_term); it cannot campaign and stays a follower\"",
                           replica_term(s->replica), rf.election);
    s->elections_refused_seen = rf.election;
}
