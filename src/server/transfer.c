/* transfer.c - leadership transfer in the server: RAFT.TRANSFER_LEADER
 * [name] (admin), and the hand-over a leader makes on SIGTERM before it
 * exits, so a rolling restart leaves no client without an answer.
 *
 * One transfer at a time. The replica (thesis 3.10 in the core) does the
 * work; this file starts it and watches the outcome after every batch
 * (server_transfer_check): done when the target leads in a later term,
 * failed when another member leads, when this member still leads and the
 * core abandoned it (one election timeout), or a heartbeat interval after
 * that (no leader heard of). The waiting command gets +OK or -ERR transfer failed: ...;
 * the outcome is logged with the time it took (event=transfer_done,
 * transfer_failed).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "server/commands.h"
#include "server/server_internal.h"

static void finish(struct server *s, bool ok, const char *why)
{
    struct server_transfer *t = &s->transfer;
    uint64_t ms = server_now(s) - t->started_ms;
    const char *target = s->opt.names[t->target];
    if (ok)
        server_log(SLOG_INFO, "transfer_done", "target=%s ms=%" PRIu64 " term=%" PRIu64, target, ms,
                   replica_term(s->replica));
    else
        server_log(SLOG_WARN, "transfer_failed", "target=%s ms=%" PRIu64 " reason=\"%s\"", target, ms,
                   why);
    struct client_req *r = t->req;
    memset(t, 0, sizeof *t);
    if (!r)
        return;
    if (ok) {
        resp_write_simple(&r->reply, "OK");
    } else {
        char msg[160];
        snprintf(msg, sizeof msg, "ERR transfer failed: %s", why);
        resp_write_error(&r->reply, msg);
    }
    client_req_done(r);
}

int server_transfer_start(struct server *s, int target, struct client_req *req, const char **why)
{
    struct server_transfer *t = &s->transfer;
    if (t->active) {
        *why = "another transfer is in progress";
        return -1;
    }
    int rc = replica_transfer_leader(s->replica, target, server_now(s));
    if (rc == RAFT_ERR_NOT_LEADER) {
        *why = "not leader";
        return -2;
    }
    if (rc != RAFT_OK) {
        *why = "no other member to hand leadership to";
        return -1;
    }
    int chosen = replica_transfer_target(s->replica);
    if (chosen == RAFT_NO_NODE) {
        *why = NULL; /* the target is this member: nothing to do */
        return 0;
    }
    t->active = true;
    t->target = chosen;
    t->term = replica_term(s->replica);
    t->req = req;
    t->started_ms = server_now(s);
    /* The core abandons it after one election timeout if this member still
     * leads; a heartbeat more covers a target that campaigned but has not
     * been heard of yet. */
    t->deadline_ms = t->started_ms + s->opt.election_timeout_ms + s->opt.heartbeat_ms;
    server_log(SLOG_INFO, "transfer_begin", "target=%s term=%" PRIu64 "%s", s->opt.names[chosen],
               t->term, s->shutting_down ? " reason=shutdown" : "");
    return 1;
}

void server_transfer_check(struct server *s)
{
    struct server_transfer *t = &s->transfer;
    if (!t->active)
        return;
    int leader = replica_leader(s->replica);
    raft_term term = replica_term(s->replica);
    bool leads = replica_role(s->replica) == RAFT_LEADER;
    char why[128];
    if (leader == t->target && term > t->term) {
        finish(s, true, NULL);
    } else if (leader != RAFT_NO_NODE && leader != t->target && term > t->term) {
        snprintf(why, sizeof why, "%s became leader instead", leads ? "this member" : s->opt.names[leader]);
        finish(s, false, why);
    } else if (leads && replica_transfer_target(s->replica) == RAFT_NO_NODE) {
        snprintf(why, sizeof why, "%s did not take over within the election timeout",
                 s->opt.names[t->target]);
        finish(s, false, why);
    } else if (server_now(s) >= t->deadline_ms) {
        finish(s, false, "no leader heard of within the election timeout");
    }
}

bool server_transfer_running(const struct server *s)
{
    return s->transfer.active;
}

uint64_t server_transfer_deadline(const struct server *s)
{
    return s->transfer.active ? s->transfer.deadline_ms : UINT64_MAX;
}

void server_transfer_abort(struct server *s, const char *why)
{
    if (s->transfer.active)
        finish(s, false, why);
}

/* RAFT.TRANSFER_LEADER [name]: without a name, the most up-to-date
 * follower. Answered once the transfer ended (server_transfer_check). */
void cmd_raft_transfer_leader(struct cmd_ctx *x)
{
    struct server *s = x->s;
    const struct resp_request *q = x->q;
    if (q->argc > 2) {
        cmd_reply_arity(&x->r->reply, x->cmd->name);
        return;
    }
    int target = RAFT_NO_NODE;
    if (q->argc == 2) {
        for (int i = 0; i < s->opt.n_nodes; i++)
            if (q->argl[1] == strlen(s->opt.names[i]) &&
                memcmp(q->argv[1], s->opt.names[i], q->argl[1]) == 0)
                target = i;
        if (target == RAFT_NO_NODE) {
            resp_write_error(&x->r->reply, "ERR transfer failed: no member has that name");
            return;
        }
    }
    if (replica_role(s->replica) != RAFT_LEADER) {
        resp_write_error(&x->r->reply, "ERR not leader");
        return;
    }
    const char *why = NULL;
    int rc = server_transfer_start(s, target, x->r, &why);
    if (rc == 1) {
        x->r->deferred = true; /* answered by server_transfer_check */
        return;
    }
    if (rc == 0) {
        resp_write_simple(&x->r->reply, "OK"); /* it leads already */
        return;
    }
    char msg[160];
    if (rc == -2)
        snprintf(msg, sizeof msg, "ERR not leader");
    else
        snprintf(msg, sizeof msg, "ERR transfer failed: %s", why);
    resp_write_error(&x->r->reply, msg);
}
