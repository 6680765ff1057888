/* commands.c - the Redis commands raftkv serves: arity and argument checks,
 * how each becomes replicated key-value operations, and how their outcomes
 * become replies.
 *
 * Keys and values are binary-safe Redis strings, stored as JSON values as
 * resp_value.h describes.
 *
 * Each data command becomes one operation per key, run where the router
 * says (route.c: locally on the leader, proxied from a follower), in the
 * connection's order; the reply is written once all of them have ended.
 *
 * ERRORS, and what they promise:
 *   -TRYAGAIN ...   definite: the command did not and will not take effect
 *                   (no leader reachable, too many pending operations)
 *   -UNCERTAIN ...  indefinite: the command may or may not take effect (it
 *                   was appended, then leadership was lost, or no answer came
 *                   within --request-timeout-ms); read the key to find out
 *   -ERR ...        bad command, arity, or encoding; nothing happened
 *
 * CAS key from to: sets key to `to` if its current value is `from`.
 *   :1 swapped; :0 the key holds another value; nil (RESP2 $-1, RESP3 _)
 *   the key does not exist.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/resp_value.h"
#include "server/server_internal.h"

/* ---- Replies ----------------------------------------------------------------- */

/* An error that is not the state machine's answer; NULL if there is none. */
static const char *result_error(const struct op_result *res, char *buf, size_t cap)
{
    switch (res->status) {
    case REPLICA_DONE:
        if (res->kv_code == KV_OK || res->kv_code == KV_ERR_NO_KEY || res->kv_code == KV_ERR_PRECONDITION)
            return NULL;
        snprintf(buf, cap, "ERR %s", res->text[0] ? res->text : "state machine error");
        return buf;
    case REPLICA_NOT_LEADER:
    case REPLICA_UNAVAILABLE:
        snprintf(buf, cap, "TRYAGAIN %s", res->text[0] ? res->text : "unavailable");
        return buf;
    case REPLICA_INDEFINITE:
    default:
        snprintf(buf, cap, "UNCERTAIN %s", res->text[0] ? res->text : "outcome unknown");
        return buf;
    }
}

static void write_value(struct resp_buf *b, const struct op_result *res, int proto)
{
    if (res->kv_code != KV_OK || !res->value)
        resp_write_null(b, proto);
    else
        resp_value_write_bulk(b, res->value);
}

void commands_format_reply(struct server *s, struct client_req *r)
{
    int proto = r->client ? r->client->proto : 2;
    char err[160];
    for (size_t i = 0; i < r->n_ops; i++) {
        const char *e = result_error(&r->results[i], err, sizeof err);
        if (e) {
            if (e[0] == 'T')
                s->stats.errors_tryagain++;
            else if (e[0] == 'U') {
                s->stats.errors_uncertain++;
                /* router.h rule 8: what the connection sends after a write
                 * of unknown outcome could take effect before it; it is
                 * refused, so close the connection once the replies are out. */
                if (r->client)
                    r->client->close_after_write = true;
            }
            resp_write_error(&r->reply, e);
            return;
        }
    }
    const struct op_result *res = r->results;
    int64_t count = 0;
    switch (r->kind) {
    case CMD_GET:
        write_value(&r->reply, res, proto);
        break;
    case CMD_SET:
        resp_write_simple(&r->reply, "OK");
        break;
    case CMD_DEL:
    case CMD_EXISTS:
        for (size_t i = 0; i < r->n_ops; i++)
            count += r->results[i].kv_code == KV_OK;
        resp_write_int(&r->reply, count);
        break;
    case CMD_MGET:
        resp_write_array_len(&r->reply, r->n_ops);
        for (size_t i = 0; i < r->n_ops; i++)
            write_value(&r->reply, &r->results[i], proto);
        break;
    case CMD_CAS:
        if (res->kv_code == KV_OK)
            resp_write_int(&r->reply, 1);
        else if (res->kv_code == KV_ERR_PRECONDITION)
            resp_write_int(&r->reply, 0);
        else
            resp_write_null(&r->reply, proto);
        break;
    case CMD_IMMEDIATE:
        break;
    }
}

/* ---- Commands ---------------------------------------------------------------- */

static json_t *arg_json(const struct resp_request *q, size_t i)
{
    return resp_value_from_bytes(q->argv[i], q->argl[i]);
}

/* Start the data operations of a command: `n` operations of type `op`,
 * on the keys at argv[first], argv[first + step], ... */
static void start_ops(struct server *s, struct client_req *r, const struct resp_request *q,
                      enum kv_op kop, size_t first, size_t n, size_t step)
{
    r->data = true;
    if (s->n_ops + n > s->opt.max_pending) {
        char addr[SERVER_ADDR_TEXT] = "?";
        if (r->client)
            server_addr_text(&r->client->tcp, addr, sizeof addr);
        server_log_limited(SLOG_WARN, "client_pending_limit", "addr=%s pending=%zu max_pending=%zu", addr,
                           s->n_ops, s->opt.max_pending);
        resp_write_error(&r->reply, "TRYAGAIN too many pending operations");
        s->stats.errors_tryagain++;
        client_req_done(r);
        return;
    }
    /* Most commands have one key: their scratch arrays live on the stack
     * (a malloc and free fewer each, per request). */
    enum { SMALL_OPS = 8 };
    struct kv_command cmds_small[SMALL_OPS];
    struct server_op *ops_small[SMALL_OPS];
    bool small = n <= SMALL_OPS;
    if (small)
        memset(cmds_small, 0, sizeof cmds_small);
    r->results = calloc(n, sizeof *r->results);
    struct kv_command *cmds = small ? cmds_small : calloc(n, sizeof *cmds);
    bool ok = r->results && cmds;
    for (size_t i = 0; ok && i < n; i++) {
        size_t a = first + i * step;
        cmds[i].op = kop;
        cmds[i].key = arg_json(q, a);
        ok = cmds[i].key != NULL;
        if (ok && kop == KV_WRITE)
            ok = (cmds[i].value = arg_json(q, a + 1)) != NULL;
        if (ok && kop == KV_CAS)
            ok = (cmds[i].from = arg_json(q, a + 1)) != NULL && (cmds[i].to = arg_json(q, a + 2)) != NULL;
    }
    if (!ok) {
        for (size_t i = 0; cmds && i < n; i++)
            kv_command_release(&cmds[i]);
        if (!small)
            free(cmds);
        resp_write_error(&r->reply, "ERR out of memory");
        client_req_done(r);
        return;
    }
    r->n_ops = n;
    /* Create every operation before routing any: routing may finish one
     * at once, and the reply must not be formatted before all exist. */
    struct server_op **ops = small ? ops_small : calloc(n, sizeof *ops);
    for (size_t i = 0; ops && i < n; i++) {
        ops[i] = route_op_new(s, OP_LOCAL_CLIENT);
        if (ops[i]) {
            ops[i]->cmd = cmds[i];
            ops[i]->req = r;
            ops[i]->index = i;
        } else {
            kv_command_release(&cmds[i]);
            r->results[i].status = REPLICA_UNAVAILABLE;
            snprintf(r->results[i].text, sizeof r->results[i].text, "out of memory");
            r->n_done++;
        }
    }
    if (!small)
        free(cmds);
    if (!ops) {
        resp_write_error(&r->reply, "ERR out of memory");
        r->n_ops = 0;
        client_req_done(r);
        return;
    }
    if (r->n_done == n) {
        commands_format_reply(s, r);
        client_req_done(r);
    }
    for (size_t i = 0; i < n; i++)
        if (ops[i])
            route_op(s, ops[i]);
    if (!small)
        free(ops);
}

static bool arg_is(const struct resp_request *q, size_t i, const char *word)
{
    return i < q->argc && strlen(word) == q->argl[i] && strncasecmp(q->argv[i], word, q->argl[i]) == 0;
}

static void reply_hello(struct client *c, struct client_req *r, const struct resp_request *q)
{
    struct server *s = c->srv;
    size_t i = 1;
    if (q->argc > 1) {
        char *end;
        long v = strtol(q->argv[1], &end, 10);
        if (*end || (v != 2 && v != 3)) {
            resp_write_error(&r->reply, "NOPROTO unsupported protocol version");
            return;
        }
        i = 2;
        while (i < q->argc) {
            if (arg_is(q, i, "AUTH") && i + 2 < q->argc) {
                i += 3; /* no authentication: accepted and ignored */
            } else if (arg_is(q, i, "SETNAME") && i + 1 < q->argc) {
                snprintf(c->name, sizeof c->name, "%.*s", (int)q->argl[i + 1], q->argv[i + 1]);
                i += 2;
            } else {
                resp_write_error(&r->reply, "ERR syntax error in HELLO");
                return;
            }
        }
        c->proto = (int)v;
    }
    resp_write_map_len(&r->reply, 7, c->proto);
    resp_write_bulk(&r->reply, "server", 6);
    resp_write_bulk(&r->reply, "raftkv", 6);
    resp_write_bulk(&r->reply, "version", 7);
    resp_write_bulk(&r->reply, "0.1.0", 5);
    resp_write_bulk(&r->reply, "proto", 5);
    resp_write_int(&r->reply, c->proto);
    resp_write_bulk(&r->reply, "id", 2);
    resp_write_int(&r->reply, (int64_t)c->id);
    resp_write_bulk(&r->reply, "mode", 4);
    resp_write_bulk(&r->reply, "standalone", 10);
    resp_write_bulk(&r->reply, "role", 4);
    const char *role = replica_role(s->replica) == RAFT_LEADER ? "master" : "replica";
    resp_write_bulk(&r->reply, role, strlen(role));
    resp_write_bulk(&r->reply, "modules", 7);
    resp_write_array_len(&r->reply, 0);
}

static void reply_client(struct client *c, struct client_req *r, const struct resp_request *q)
{
    if (arg_is(q, 1, "SETNAME") && q->argc == 3) {
        snprintf(c->name, sizeof c->name, "%.*s", (int)q->argl[2], q->argv[2]);
        resp_write_simple(&r->reply, "OK");
    } else if (arg_is(q, 1, "GETNAME") && q->argc == 2) {
        if (c->name[0])
            resp_write_bulk(&r->reply, c->name, strlen(c->name));
        else
            resp_write_null(&r->reply, c->proto);
    } else if (arg_is(q, 1, "ID") && q->argc == 2) {
        resp_write_int(&r->reply, (int64_t)c->id);
    } else if (arg_is(q, 1, "SETINFO") && q->argc == 4) {
        resp_write_simple(&r->reply, "OK");
    } else {
        resp_write_error(&r->reply, "ERR unsupported CLIENT subcommand (SETNAME, GETNAME, ID, SETINFO)");
    }
}

/* redis-benchmark asks for "save" and "appendonly" on start; answer with
 * harmless values (raftkv fsyncs every write, as appendfsync always). */
static void reply_config(struct client *c, struct client_req *r, const struct resp_request *q)
{
    if (!arg_is(q, 1, "GET") || q->argc != 3) {
        resp_write_error(&r->reply, "ERR only CONFIG GET is supported");
        return;
    }
    resp_write_map_len(&r->reply, 1, c->proto);
    resp_write_bulk(&r->reply, q->argv[2], q->argl[2]);
    if (arg_is(q, 2, "appendonly"))
        resp_write_bulk(&r->reply, "yes", 3);
    else if (arg_is(q, 2, "appendfsync"))
        resp_write_bulk(&r->reply, "always", 6);
    else if (arg_is(q, 2, "timeout") || arg_is(q, 2, "maxclients")) {
        char num[24];
        int n = snprintf(num, sizeof num, "%" PRIu64,
                         arg_is(q, 2, "timeout") ? c->srv->opt.timeout_s : (uint64_t)c->srv->opt.max_clients);
        resp_write_bulk(&r->reply, num, (size_t)n);
    } else
        resp_write_bulk(&r->reply, "", 0);
}

/* DEBUG.CUT PEER MS: a one-node view of a network partition, for tests:
 * every frame to and from PEER is dropped for MS milliseconds (0 heals).
 * Only with --enable-debug-commands. */
static void reply_debug_cut(struct server *s, struct client_req *r, const struct resp_request *q)
{
    int peer = -1;
    for (int i = 0; q->argc == 3 && i < s->opt.n_nodes; i++)
        if (i != s->opt.self && arg_is(q, 1, s->opt.names[i]))
            peer = i;
    char *end = NULL;
    unsigned long long ms = q->argc == 3 ? strtoull(q->argv[2], &end, 10) : 0;
    if (peer < 0 || !end || *end || ms > 3600000ull) {
        resp_write_error(&r->reply, "ERR usage: DEBUG.CUT PEER-NAME MS");
        return;
    }
    s->cut_until_ms[peer] = server_now(s) + ms;
    server_log(SLOG_WARN, "debug_cut", "peer=%s ms=%llu", s->opt.names[peer], ms);
    resp_write_simple(&r->reply, "OK");
}

static void reply_arity(struct client_req *r, const char *name)
{
    char msg[96];
    snprintf(msg, sizeof msg, "ERR wrong number of arguments for '%s' command", name);
    resp_write_error(&r->reply, msg);
}

int commands_dispatch(struct client *c, struct resp_request *q)
{
    struct server *s = c->srv;
    if (q->argc == 0)
        return 0;
    s->stats.commands++;
    struct client_req *r = client_req_new(c);
    if (!r)
        return -1; /* no reply slot: the stream would be out of step */
    r->started_ns = uv_hrtime();

    char name[24];
    size_t nl = q->argl[0] < sizeof name - 1 ? q->argl[0] : sizeof name - 1;
    for (size_t i = 0; i < nl; i++)
        name[i] = (char)tolower((unsigned char)q->argv[0][i]);
    name[nl] = '\0';
    size_t argc = q->argc;
    if (q->argl[0] >= sizeof name - 1)
        name[0] = '\0'; /* too long to be a command */

    if (strcmp(name, "get") == 0) {
        if (argc != 2)
            goto arity;
        r->kind = CMD_GET;
        start_ops(s, r, q, KV_READ, 1, 1, 1);
        return 0;
    } else if (strcmp(name, "set") == 0) {
        if (argc != 3) {
            if (argc > 3)
                resp_write_error(&r->reply, "ERR SET options (EX, NX, ...) are not supported");
            else
                goto arity;
        } else {
            r->kind = CMD_SET;
            start_ops(s, r, q, KV_WRITE, 1, 1, 1);
            return 0;
        }
    } else if (strcmp(name, "del") == 0 || strcmp(name, "exists") == 0 || strcmp(name, "mget") == 0) {
        if (argc < 2)
            goto arity;
        r->kind = name[0] == 'd' ? CMD_DEL : name[0] == 'e' ? CMD_EXISTS : CMD_MGET;
        start_ops(s, r, q, r->kind == CMD_DEL ? KV_DELETE : KV_READ, 1, argc - 1, 1);
        return 0;
    } else if (strcmp(name, "cas") == 0) {
        if (argc != 4)
            goto arity;
        r->kind = CMD_CAS;
        start_ops(s, r, q, KV_CAS, 1, 1, 1);
        return 0;
    } else if (strcmp(name, "ping") == 0) {
        if (argc > 2)
            goto arity;
        if (argc == 2)
            resp_write_bulk(&r->reply, q->argv[1], q->argl[1]);
        else
            resp_write_simple(&r->reply, "PONG");
    } else if (strcmp(name, "echo") == 0) {
        if (argc != 2)
            goto arity;
        resp_write_bulk(&r->reply, q->argv[1], q->argl[1]);
    } else if (strcmp(name, "hello") == 0) {
        reply_hello(c, r, q);
    } else if (strcmp(name, "info") == 0) {
        info_write(s, &r->reply, c->proto);
    } else if (strcmp(name, "leader") == 0) {
        int leader = replica_leader(s->replica);
        if (leader < 0)
            resp_write_null(&r->reply, c->proto);
        else
            resp_write_bulk(&r->reply, s->opt.names[leader], strlen(s->opt.names[leader]));
    } else if (strcmp(name, "command") == 0) {
        /* redis-cli asks for COMMAND DOCS on start: an empty answer is enough. */
        if (arg_is(q, 1, "COUNT"))
            resp_write_int(&r->reply, 0);
        else if (arg_is(q, 1, "DOCS"))
            resp_write_map_len(&r->reply, 0, c->proto);
        else
            resp_write_array_len(&r->reply, 0);
    } else if (strcmp(name, "client") == 0) {
        reply_client(c, r, q);
    } else if (strcmp(name, "config") == 0) {
        reply_config(c, r, q);
    } else if (strcmp(name, "select") == 0) {
        if (argc != 2)
            goto arity;
        if (q->argl[1] == 1 && q->argv[1][0] == '0')
            resp_write_simple(&r->reply, "OK");
        else
            resp_write_error(&r->reply, "ERR raftkv has only database 0");
    } else if (strcmp(name, "debug.cut") == 0 && s->opt.debug_commands) {
        reply_debug_cut(s, r, q);
    } else if (strcmp(name, "quit") == 0) {
        resp_write_simple(&r->reply, "OK");
        c->close_after_write = true;
    } else {
        char msg[160];
        snprintf(msg, sizeof msg, "ERR unknown command '%.*s'", (int)(q->argl[0] > 40 ? 40 : q->argl[0]),
                 q->argv[0]);
        for (char *p = msg; *p; p++)
            if (!isprint((unsigned char)*p))
                *p = '?';
        resp_write_error(&r->reply, msg);
    }
    client_req_done(r);
    return 0;
arity:
    reply_arity(r, name[0] ? name : "?");
    client_req_done(r);
    return 0;
}
