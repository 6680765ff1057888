/* cmd_connection.c - the connection's commands: PING ECHO HELLO AUTH QUIT
 * SELECT, CLIENT's subcommands (but LIST and INFO: client_list.c) and ACL
 * WHOAMI, with Redis 7's replies and error texts. Failed authentications are logged with the client's
 * address, rate-limited (server_log_limited). */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/version.h"
#include "server/commands.h"

static const char wrongpass[] = "WRONGPASS invalid username-password pair or user is disabled.";

static void log_auth_failure(struct server *s, const struct client *c, const char *user, size_t len)
{
    s->stats.auth_failures++;
    char name[ACL_MAX_NAME + 1];
    size_t n = len < ACL_MAX_NAME ? len : ACL_MAX_NAME;
    for (size_t i = 0; i < n; i++)
        name[i] = user[i] > 0x20 && user[i] < 0x7f && user[i] != '"' ? user[i] : '?';
    name[n] = '\0';
    server_log_limited(SLOG_WARN, "auth_failed", "client=%" PRIu64 " addr=%s user=\"%s\" failures=%" PRIu64,
                       c->id, c->addr, name, s->stats.auth_failures);
}

/* Authenticate c as user/pass; false after logging a failure. */
static bool authenticate(struct cmd_ctx *x, const char *user, size_t ul, const char *pw, size_t pl)
{
    const struct acl_user *u = acl_authenticate(&x->s->acl, user, ul, pw, pl);
    if (!u) {
        log_auth_failure(x->s, x->c, user, ul);
        return false;
    }
    x->c->user = u;
    return true;
}

void cmd_ping(struct cmd_ctx *x)
{
    if (x->q->argc > 2)
        cmd_reply_arity(&x->r->reply, x->cmd->name);
    else if (x->q->argc == 2)
        resp_write_bulk(&x->r->reply, x->q->argv[1], x->q->argl[1]);
    else
        resp_write_simple(&x->r->reply, "PONG");
}

void cmd_echo(struct cmd_ctx *x)
{
    resp_write_bulk(&x->r->reply, x->q->argv[1], x->q->argl[1]);
}

/* AUTH password | AUTH user password */
void cmd_auth(struct cmd_ctx *x)
{
    const struct resp_request *q = x->q;
    struct resp_buf *b = &x->r->reply;
    if (q->argc > 3) {
        resp_write_error(b, "ERR syntax error");
        return;
    }
    const char *user = "default", *pw = q->argv[1];
    size_t ul = 7, pl = q->argl[1];
    if (q->argc == 2) {
        if (acl_default_user(&x->s->acl)->nopass) {
            resp_write_error(b, "ERR AUTH <password> called without any password configured for the default "
                                "user. Are you sure your configuration is correct?");
            return;
        }
    } else {
        user = q->argv[1];
        ul = q->argl[1];
        pw = q->argv[2];
        pl = q->argl[2];
    }
    if (authenticate(x, user, ul, pw, pl))
        resp_write_simple(b, "OK");
    else
        resp_write_error(b, wrongpass);
}

/* Redis's rule for a client name: printable ASCII, no spaces. */
static bool name_ok(const char *name, size_t len, struct resp_buf *b)
{
    for (size_t i = 0; i < len; i++)
        if (name[i] < '!' || name[i] > '~') {
            resp_write_error(b, "ERR Client names cannot contain spaces, newlines or special characters.");
            return false;
        }
    return true;
}

static bool set_name(struct client *c, const char *name, size_t len, struct resp_buf *b)
{
    if (!name_ok(name, len, b))
        return false;
    snprintf(c->name, sizeof c->name, "%.*s", (int)len, name);
    return true;
}

/* HELLO [protover [AUTH user pass] [SETNAME name]]. As Redis 7.0 does,
 * the options take effect left to right: AUTH authenticates at once (so a
 * later bad option leaves the client authenticated), SETNAME's name is
 * checked at once and set only when the whole command succeeds. */
void cmd_hello(struct cmd_ctx *x)
{
    struct server *s = x->s;
    struct client *c = x->c;
    const struct resp_request *q = x->q;
    struct resp_buf *b = &x->r->reply;
    long ver = 0;
    if (q->argc >= 2) {
        char *end;
        ver = strtol(q->argv[1], &end, 10);
        if (q->argl[1] == 0 || *end || q->argl[1] > 20) {
            resp_write_error(b, "ERR Protocol version is not an integer or out of range");
            return;
        }
        if (ver < 2 || ver > 3) {
            resp_write_error(b, "NOPROTO unsupported protocol version");
            return;
        }
    }
    size_t name_at = 0;
    for (size_t j = 2; j < q->argc; j++) {
        size_t more = q->argc - 1 - j;
        if (cmd_arg_is(q, j, "AUTH") && more >= 2) {
            if (!authenticate(x, q->argv[j + 1], q->argl[j + 1], q->argv[j + 2], q->argl[j + 2])) {
                resp_write_error(b, wrongpass);
                return;
            }
            j += 2;
        } else if (cmd_arg_is(q, j, "SETNAME") && more >= 1) {
            if (!name_ok(q->argv[j + 1], q->argl[j + 1], b))
                return;
            name_at = j + 1;
            j++;
        } else {
            char msg[200];
            snprintf(msg, sizeof msg, "ERR Syntax error in HELLO option '%.*s'",
                     (int)(q->argl[j] > 128 ? 128 : q->argl[j]), q->argv[j]);
            resp_write_error(b, msg);
            return;
        }
    }
    if (!c->user) {
        resp_write_error(b, "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
                            "HELLO AUTH <user> <pass> option can be used to authenticate the client and select "
                            "the RESP protocol version at the same time");
        return;
    }
    if (name_at)
        set_name(c, q->argv[name_at], q->argl[name_at], b);
    if (ver)
        c->proto = (int)ver;
    resp_write_map_len(b, 7, c->proto);
    resp_write_bulk(b, "server", 6);
    resp_write_bulk(b, "raftkv", 6);
    resp_write_bulk(b, "version", 7); /* the Redis version clients may check features by */
    resp_write_bulk(b, RAFTKV_REDIS_VERSION, strlen(RAFTKV_REDIS_VERSION));
    resp_write_bulk(b, "proto", 5);
    resp_write_int(b, c->proto);
    resp_write_bulk(b, "id", 2);
    resp_write_int(b, (int64_t)c->id);
    resp_write_bulk(b, "mode", 4);
    resp_write_bulk(b, "standalone", 10);
    resp_write_bulk(b, "role", 4);
    const char *role = replica_role(s->replica) == RAFT_LEADER ? "master" : "replica";
    resp_write_bulk(b, role, strlen(role));
    resp_write_bulk(b, "modules", 7);
    resp_write_array_len(b, 0);
}

void cmd_quit(struct cmd_ctx *x)
{
    resp_write_simple(&x->r->reply, "OK");
    x->c->close_after_write = true;
}

/* SELECT index: Redis's checks (an int; 0 to 15, its default 16
 * databases), then raftkv's one key space. */
void cmd_select(struct cmd_ctx *x)
{
    long long id;
    if (!cmd_arg_ll(x->q, 1, &id) || id < INT_MIN || id > INT_MAX)
        resp_write_error(&x->r->reply, "ERR value is not an integer or out of range");
    else if (id < 0 || id > 15)
        resp_write_error(&x->r->reply, "ERR DB index is out of range");
    else if (id != 0)
        resp_write_error(&x->r->reply, "ERR raftkv has only database 0");
    else
        resp_write_simple(&x->r->reply, "OK");
}

void cmd_client_setname(struct cmd_ctx *x)
{
    if (set_name(x->c, x->q->argv[2], x->q->argl[2], &x->r->reply))
        resp_write_simple(&x->r->reply, "OK");
}

void cmd_client_getname(struct cmd_ctx *x)
{
    if (x->c->name[0])
        resp_write_bulk(&x->r->reply, x->c->name, strlen(x->c->name));
    else
        resp_write_null(&x->r->reply, x->c->proto);
}

void cmd_client_id(struct cmd_ctx *x)
{
    resp_write_int(&x->r->reply, (int64_t)x->c->id);
}

/* CLIENT SETINFO LIB-NAME|LIB-VER value (Redis 7.2's, sent by redis-py 5
 * and others on connect): checked as Redis checks it, then forgotten. */
void cmd_client_setinfo(struct cmd_ctx *x)
{
    const struct resp_request *q = x->q;
    struct resp_buf *b = &x->r->reply;
    char msg[200];
    bool name = cmd_arg_is(q, 2, "lib-name");
    if (!name && !cmd_arg_is(q, 2, "lib-ver")) {
        snprintf(msg, sizeof msg, "ERR Unrecognized option '%.*s'", (int)(q->argl[2] > 128 ? 128 : q->argl[2]),
                 q->argv[2]);
        for (char *p = msg; *p; p++)
            if (*p < ' ' || *p > '~')
                *p = '?';
        resp_write_error(b, msg);
        return;
    }
    for (size_t i = 0; i < q->argl[3]; i++)
        if (q->argv[3][i] < '!' || q->argv[3][i] > '~') {
            snprintf(msg, sizeof msg, "ERR %s cannot contain spaces, newlines or special characters.",
                     name ? "lib-name" : "lib-ver");
            resp_write_error(b, msg);
            return;
        }
    resp_write_simple(b, "OK");
}

/* CLIENT NO-EVICT on|off: raftkv evicts no client for memory; kept as a
 * flag ('e' in CLIENT LIST). */
void cmd_client_no_evict(struct cmd_ctx *x)
{
    if (cmd_arg_is(x->q, 2, "on"))
        x->c->no_evict = true;
    else if (cmd_arg_is(x->q, 2, "off"))
        x->c->no_evict = false;
    else {
        resp_write_error(&x->r->reply, "ERR syntax error");
        return;
    }
    resp_write_simple(&x->r->reply, "OK");
}

void cmd_acl_whoami(struct cmd_ctx *x)
{
    const char *name = x->c->user ? x->c->user->name : "default";
    resp_write_bulk(&x->r->reply, name, strlen(name));
}
