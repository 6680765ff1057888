/* apply_gate.c - the server's push-back while applying lags (apply_gate.h):
 * the decision, and pausing or resuming every client connection's reads
 * when it changes. Checked once per batch (server_after_io). */
#include <inttypes.h>

#include "server/server_internal.h"

enum apply_gate_change apply_gate_step(struct apply_gate *g, uint64_t max, bool leader,
                                       uint64_t committed, uint64_t applied)
{
    g->backlog = committed > applied ? committed - applied : 0;
    if (!g->paused) {
        if (max == 0 || !leader || g->backlog <= max)
            return APPLY_GATE_SAME;
        g->paused = true;
        g->pauses++;
        return APPLY_GATE_PAUSE;
    }
    /* Half the bound: not a pause and a resume on every entry around it. */
    if (max != 0 && leader && g->backlog > max / 2)
        return APPLY_GATE_SAME;
    g->paused = false;
    return APPLY_GATE_RESUME;
}

void server_apply_gate(struct server *s)
{
    struct replica *r = s->replica;
    enum apply_gate_change ch =
        apply_gate_step(&s->apply_gate, s->opt.max_apply_backlog, replica_role(r) == RAFT_LEADER,
                        replica_commit_index(r), replica_applied_index(r));
    if (ch == APPLY_GATE_PAUSE) {
        server_log_limited(SLOG_INFO, "apply_backlog_paused",
                           "backlog=%" PRIu64 " max_apply_backlog=%zu detail=\"clients are not read "
                           "until applying catches up to half\"",
                           s->apply_gate.backlog, s->opt.max_apply_backlog);
        client_stop_reading_all(s);
    } else if (ch == APPLY_GATE_RESUME) {
        server_log_limited(SLOG_INFO, "apply_backlog_resumed", "backlog=%" PRIu64, s->apply_gate.backlog);
        client_resume_reading_all(s);
    }
}
