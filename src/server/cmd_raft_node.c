/* cmd_raft_node.c - RAFT.NODE ADD|PROMOTE|REMOVE|LIST (admin): membership
 * changes on the leader, one at a time, each answered +OK once its CONFIG
 * entry commits; and the automatic promotion of a learner added without
 * LEARNER once it has caught up (--auto-promote-lag).
 *
 * A request is checked in full before anything changes (member_table.h's
 * checks, then the core's: not leader, a change in progress, the leader's
 * term not committed yet), and a refused one gets -ERR with the reason.
 * The new member table rides in the CONFIG entry (server_members.c).
 * ADD also resolves the new address: one that does not resolve, or that
 * reaches a member already there under another spelling, is refused.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "server/commands.h"
#include "server/member_table.h"
#include "server/server_internal.h"

static void reply_err(struct client_req *r, const char *fmt, const char *arg)
{
    char msg[512];
    snprintf(msg, sizeof msg, fmt, arg);
    resp_write_error(&r->reply, msg);
}

const char *server_change_refusal(int rc)
{
    switch (rc) {
    case RAFT_ERR_NOT_LEADER:
        return "not leader";
    case RAFT_ERR_CHANGE_PENDING:
        return "another membership change is in progress";
    case RAFT_ERR_TERM_UNCOMMITTED:
        return "the leader has not committed an entry of its term yet: retry shortly";
    case RAFT_ERR_TRANSFERRING:
        return "a leadership transfer is in progress";
    case RAFT_ERR_UNKNOWN_MEMBER:
        return "no such member";
    case RAFT_ERR_MEMBER_EXISTS:
        return "member exists";
    case RAFT_ERR_LAST_VOTER:
        return "cannot remove the last voter";
    case RAFT_ERR_BUSY:
        return "too many uncommitted entries: retry shortly";
    default:
        return "refused";
    }
}

static void finish(struct server *s, bool ok, const char *why)
{
    struct server_member_op *m = &s->member_op;
    if (ok)
        server_log(SLOG_INFO, "member_change_done", "change=\"%s\" index=%" PRIu64, m->what, (uint64_t)m->index);
    else
        server_log(SLOG_WARN, "member_change_failed", "change=\"%s\" index=%" PRIu64 " reason=\"%s\"", m->what,
                   (uint64_t)m->index, why);
    struct client_req *r = m->req;
    memset(m, 0, sizeof *m);
    if (!r)
        return;
    if (ok)
        resp_write_simple(&r->reply, "OK");
    else
        reply_err(r, "ERR %s", why);
    client_req_done(r);
}

/* Propose the change with `next` as the table; 0 begun, or -1 (*why). */
static int propose(struct server *s, enum raft_change_type type, int id, const struct member_table *next,
                   struct client_req *req, const char *what, const char **why)
{
    static uint8_t buf[MEMBER_TABLE_MAX_BYTES];
    size_t n = member_table_encode(next, buf, sizeof buf);
    raft_index index = 0;
    int rc = n ? replica_change(s->replica, type, id, buf, n, server_now(s), &index) : RAFT_ERR_INVALID;
    if (rc != RAFT_OK) {
        *why = server_change_refusal(rc);
        return -1;
    }
    struct server_member_op *m = &s->member_op;
    m->active = true;
    m->req = req;
    m->index = index;
    m->term = replica_term(s->replica);
    m->deadline_ms = server_now(s) + s->opt.request_timeout_ms + s->opt.election_timeout_ms;
    snprintf(m->what, sizeof m->what, "%.150s", what);
    server_log(SLOG_INFO, "member_change_begin", "change=\"%s\" id=%d index=%" PRIu64 " term=%" PRIu64, what, id,
               (uint64_t)index, (uint64_t)m->term);
    return 0;
}

void server_member_op_check(struct server *s)
{
    struct server_member_op *m = &s->member_op;
    if (m->active) {
        if (replica_commit_index(s->replica) >= m->index && replica_term(s->replica) == m->term)
            finish(s, true, NULL);
        else if (replica_term(s->replica) != m->term || replica_role(s->replica) != RAFT_LEADER)
            finish(s, false, "leadership changed before the change committed: it may or may not take "
                             "effect (see RAFT.NODE LIST)");
        else if (server_now(s) >= m->deadline_ms)
            finish(s, false, "not committed in time: it may still take effect (see RAFT.NODE LIST)");
        return;
    }
    /* Automatic promotion of learners added without LEARNER (marked so in
     * the table, so whichever member leads does it). */
    if (replica_role(s->replica) != RAFT_LEADER)
        return;
    const struct raft_configuration *conf = replica_configuration(s->replica);
    for (int id = 0; id < RAFT_MAX_NODES; id++) {
        const struct raft_member *mem = raft_configuration_find(conf, id);
        if (!mem || mem->role == RAFT_VOTER || !s->members.m[id].used || !s->members.m[id].auto_promote)
            continue;
        raft_index match, next;
        if (!replica_progress(s->replica, id, &match, &next))
            continue;
        raft_index last = replica_last_index(s->replica);
        if (match + s->opt.auto_promote_lag < last || match == 0)
            continue;
        struct member_table t = s->members;
        t.m[id].role = RAFT_VOTER;
        t.m[id].auto_promote = false;
        char what[256];
        snprintf(what, sizeof what, "promote %s (caught up: match %" PRIu64 " of %" PRIu64 ")", t.m[id].name,
                 (uint64_t)match, (uint64_t)last);
        const char *why;
        propose(s, RAFT_CHANGE_PROMOTE, id, &t, NULL, what, &why);
        return;
    }
}

uint64_t server_member_op_deadline(const struct server *s)
{
    return s->member_op.active ? s->member_op.deadline_ms : UINT64_MAX;
}

void server_member_op_abort(struct server *s, const char *why)
{
    if (s->member_op.active)
        finish(s, false, why);
}

/* One resolved address of HOST:PORT equal to one of `other`'s; -1 when
 * HOST:PORT does not resolve (err filled), 0 when none is shared, 1 when
 * one is (its text in `same`). */
static int addr_shared(const char *host, int port, const char *ohost, int oport, char *same, size_t same_cap,
                       char *err, size_t err_cap)
{
    char ps[16], ops[16];
    snprintf(ps, sizeof ps, "%d", port);
    snprintf(ops, sizeof ops, "%d", oport);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *a = NULL, *b = NULL;
    int rc = getaddrinfo(host, ps, &hints, &a);
    if (rc != 0) {
        snprintf(err, err_cap, "%s", gai_strerror(rc));
        return -1;
    }
    int found = 0;
    if (ohost && getaddrinfo(ohost, ops, &hints, &b) == 0) {
        for (const struct addrinfo *x = a; x && !found; x = x->ai_next)
            for (const struct addrinfo *y = b; y && !found; y = y->ai_next) {
                if (x->ai_family != y->ai_family || x->ai_addrlen != y->ai_addrlen ||
                    memcmp(x->ai_addr, y->ai_addr, x->ai_addrlen) != 0)
                    continue;
                char h[INET6_ADDRSTRLEN] = "?";
                const void *in = x->ai_family == AF_INET ? (const void *)&((struct sockaddr_in *)x->ai_addr)->sin_addr
                                                         : (const void *)&((struct sockaddr_in6 *)x->ai_addr)->sin6_addr;
                inet_ntop(x->ai_family, in, h, sizeof h);
                snprintf(same, same_cap, "%s:%d", h, port);
                found = 1;
            }
        freeaddrinfo(b);
    }
    freeaddrinfo(a);
    return found;
}

/* The new member's address must resolve, and to no address a member
 * already has under another spelling (localhost for 127.0.0.1, a second
 * DNS name): the others would dial that member under the new name. The
 * lookups block the event loop, as the peer links' own do when the table
 * changes: give addresses, or names the resolver answers at once. */
static int check_add_addr(const struct server *s, const char *host, int port, char *why, size_t cap)
{
    char same[INET6_ADDRSTRLEN + 8], err[128];
    if (addr_shared(host, port, NULL, 0, same, sizeof same, err, sizeof err) < 0) {
        snprintf(why, cap, "cannot resolve %s: %s", host, err);
        return -1;
    }
    for (int id = 0; id < RAFT_MAX_NODES; id++) {
        const struct member_entry *e = &s->members.m[id];
        if (!e->used || (e->port != port))
            continue;
        if (addr_shared(host, port, e->host, e->port, same, sizeof same, err, sizeof err) == 1) {
            snprintf(why, cap, "address %s:%d is already %s's (%s:%d: both are %s)", host, port, e->name, e->host,
                     e->port, same);
            return -1;
        }
    }
    return 0;
}

static void arg_text(const struct resp_request *q, size_t i, char *out, size_t cap)
{
    size_t n = q->argl[i] < cap - 1 ? q->argl[i] : cap - 1;
    memcpy(out, q->argv[i], n);
    out[n] = '\0';
}

static bool arg_is(const struct resp_request *q, size_t i, const char *word)
{
    return q->argl[i] == strlen(word) && strncasecmp(q->argv[i], word, q->argl[i]) == 0;
}

static void list(struct server *s, struct resp_buf *b)
{
    const struct raft_configuration *conf = replica_configuration(s->replica);
    bool leads = replica_role(s->replica) == RAFT_LEADER;
    int leader = replica_leader(s->replica);
    raft_index last = replica_last_index(s->replica);
    resp_write_array_len(b, (size_t)conf->n);
    for (int k = 0; k < conf->n; k++) {
        int id = conf->members[k].id;
        const struct member_entry *e = &s->members.m[id];
        char line[1024], match[48] = "-", lag[48] = "-";
        raft_index mi, ni;
        if (id == s->opt.self) {
            snprintf(match, sizeof match, "%" PRIu64, (uint64_t)last);
            snprintf(lag, sizeof lag, "0");
        } else if (leads && replica_progress(s->replica, id, &mi, &ni)) {
            snprintf(match, sizeof match, "%" PRIu64, (uint64_t)mi);
            snprintf(lag, sizeof lag, "%" PRIu64, (uint64_t)(last > mi ? last - mi : 0));
        }
        const char *link = id == s->opt.self ? "self" : peer_link_up(s, id) ? "up" : "down";
        snprintf(line, sizeof line, "name=%s id=%d addr=%s:%d role=%s suffrage=%s match=%s lag=%s link=%s",
                 e->used ? e->name : "?", id, e->used ? e->host : "?", e->used ? e->port : 0,
                 id == leader ? "leader" : "follower", conf->members[k].role == RAFT_LEARNER ? "learner" : "voter",
                 match, lag, link);
        resp_write_bulk(b, line, strlen(line));
    }
}

void cmd_raft_node(struct cmd_ctx *x)
{
    struct server *s = x->s;
    const struct resp_request *q = x->q;
    struct client_req *r = x->r;
    if (q->argc < 2) {
        cmd_reply_arity(&r->reply, x->cmd->name);
        return;
    }
    if (arg_is(q, 1, "list")) {
        if (q->argc != 2)
            resp_write_error(&r->reply, "ERR syntax error: RAFT.NODE LIST takes no arguments");
        else
            list(s, &r->reply);
        return;
    }
    bool add = arg_is(q, 1, "add"), promote = arg_is(q, 1, "promote"), remove = arg_is(q, 1, "remove");
    if (!add && !promote && !remove) {
        resp_write_error(&r->reply, "ERR unknown subcommand: RAFT.NODE ADD|PROMOTE|REMOVE|LIST");
        return;
    }
    bool learner = add && q->argc == 5 && arg_is(q, 4, "learner");
    if ((add && q->argc != 4 && !learner) || (!add && q->argc != 3)) {
        resp_write_error(&r->reply, add ? "ERR syntax error: RAFT.NODE ADD name host:port [LEARNER]"
                                        : promote ? "ERR syntax error: RAFT.NODE PROMOTE name"
                                                  : "ERR syntax error: RAFT.NODE REMOVE name");
        return;
    }
    char name[MEMBER_MAX_NAME + 2];
    if (q->argl[2] > MEMBER_MAX_NAME) {
        resp_write_error(&r->reply, "ERR invalid member name (1 to 64 letters, digits, '.', '_', '-')");
        return;
    }
    arg_text(q, 2, name, sizeof name);
    if (replica_role(s->replica) != RAFT_LEADER) {
        resp_write_error(&r->reply, "ERR not leader");
        return;
    }
    if (s->member_op.active) {
        resp_write_error(&r->reply, "ERR another membership change is in progress");
        return;
    }
    const struct raft_configuration *conf = replica_configuration(s->replica);
    char why[400], what[400];
    struct member_table next = s->members;
    int id;
    enum raft_change_type type;
    if (add) {
        char host[MEMBER_MAX_HOST + 1];
        int port;
        id = member_check_add(&s->members, conf, name, q->argv[3], q->argl[3], host, &port, why, sizeof why);
        if (id >= 0 && check_add_addr(s, host, port, why, sizeof why) != 0)
            id = -1;
        if (id < 0) {
            reply_err(r, "ERR %s", why);
            return;
        }
        struct member_entry *e = &next.m[id];
        e->used = true;
        e->role = RAFT_LEARNER;
        e->auto_promote = !learner;
        snprintf(e->name, sizeof e->name, "%.64s", name);
        snprintf(e->host, sizeof e->host, "%s", host);
        e->port = port;
        type = RAFT_CHANGE_ADD_LEARNER;
        snprintf(what, sizeof what, "add %s %s:%d as %s", name, host, port, learner ? "learner" : "learner, then voter");
    } else if (promote) {
        id = member_check_promote(&s->members, conf, name, why, sizeof why);
        if (id < 0) {
            reply_err(r, "ERR %s", why);
            return;
        }
        next.m[id].role = RAFT_VOTER;
        next.m[id].auto_promote = false;
        type = RAFT_CHANGE_PROMOTE;
        snprintf(what, sizeof what, "promote %s", name);
    } else {
        id = member_check_remove(&s->members, conf, name, why, sizeof why);
        if (id < 0) {
            reply_err(r, "ERR %s", why);
            return;
        }
        next.m[id].used = false;
        type = RAFT_CHANGE_REMOVE;
        snprintf(what, sizeof what, "remove %s", name);
    }
    const char *refusal;
    if (propose(s, type, id, &next, r, what, &refusal) != 0) {
        reply_err(r, "ERR %s", refusal);
        return;
    }
    r->deferred = true; /* answered by server_member_op_check */
}
