/* commands.c - the Redis commands raftkv serves, how each becomes replicated
 * key-value operations, where those run, and how their outcomes become
 * replies.
 *
 * Keys and values are Redis strings stored as JSON strings (kv.h), so they
 * must be valid UTF-8; anything else gets an error and changes nothing.
 *
 * ROUTING. Every read and write is linearizable, as in Maelstrom mode: a
 * write is acknowledged once committed and applied; a read is served after
 * a ReadIndex round confirms leadership. Any node takes any command: a
 * follower PROXIES it to the leader over its peer link, with a request id,
 * and relays the answer (so redis-benchmark and plain clients work against
 * every node; there is no redirect to follow). A definite "not the leader"
 * answer (the command certainly was not appended) is routed again to the
 * leader now known, at most 3 times. Nothing that might have been appended
 * is ever retried, so no command is applied twice. While no leader is
 * reachable (an election), commands wait for one up to
 * --request-timeout-ms, then get -TRYAGAIN.
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

#include "server/server_internal.h"

#define COMMANDS_MAX_HOPS 3
#define COMMANDS_PROXY_MARGIN_MS 500

/* ---- Operations -------------------------------------------------------------- */

static void op_free(struct server_op *op)
{
    kv_command_release(&op->cmd);
    free(op);
}

/* The proxied and parked lists: FIFO, so ordered by deadline (the timeout
 * is the same for all). */
static void oplist_push(struct server_op **head, struct server_op **tail, struct server_op *op)
{
    op->prev = *tail;
    op->next = NULL;
    if (*tail)
        (*tail)->next = op;
    else
        *head = op;
    *tail = op;
}

static void oplist_unlink(struct server_op **head, struct server_op **tail, struct server_op *op)
{
    if (op->prev)
        op->prev->next = op->next;
    else if (*head == op)
        *head = op->next;
    if (op->next)
        op->next->prev = op->prev;
    else if (*tail == op)
        *tail = op->prev;
    op->prev = op->next = NULL;
}

static void op_unlist(struct server *s, struct server_op *op)
{
    if (op->route == OP_ROUTE_PROXY)
        oplist_unlink(&s->proxied_head, &s->proxied_tail, op);
    else if (op->route == OP_ROUTE_PARKED)
        oplist_unlink(&s->parked_head, &s->parked_tail, op);
    op->route = OP_ROUTE_NONE;
}

static void format_reply(struct server *s, struct client_req *r);

/* The one place an operation ends: record its outcome where it came from. */
static void op_finish(struct server *s, struct server_op *op, enum replica_status status, int kv_code,
                      json_t *value, const char *text)
{
    req_table_take(&s->ops, op->id);
    op_unlist(s, op);
    if (op->origin == OP_REMOTE_PROXY) {
        char *vj = value ? json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        struct peer_proxy_resp p = {.id = op->remote_id, .status = (uint8_t)status,
                                    .leader = replica_leader(s->replica), .kv_code = kv_code,
                                    .value_json = vj, .value_len = vj ? strlen(vj) : 0,
                                    .text = text, .text_len = text ? strlen(text) : 0};
        peer_send_proxy_resp(s, op->from_peer, &p);
        free(vj);
        op_free(op);
        return;
    }
    struct client_req *r = op->req;
    struct op_result *res = &r->results[op->index];
    res->status = status;
    res->kv_code = kv_code;
    res->value = value ? json_incref(value) : NULL;
    snprintf(res->text, sizeof res->text, "%s", text ? text : "");
    op_free(op);
    if (++r->n_done == r->n_ops) {
        format_reply(s, r);
        client_req_done(r);
    }
}

/* Send an operation where it can run: the local replica if this node
 * leads, else the leader it knows, over the peer link. */
static void op_route(struct server *s, struct server_op *op)
{
    uint64_t now = server_now(s);
    if (s->fatal) {
        op_finish(s, op, REPLICA_UNAVAILABLE, 0, NULL, "node is stopping");
        return;
    }
    bool local_read = s->opt.unsafe_local_reads && op->cmd.op == KV_READ; /* the deliberate bug */
    if (replica_role(s->replica) == RAFT_LEADER || local_read) {
        op->route = OP_ROUTE_REPLICA;
        replica_submit(s->replica, op->id, &op->cmd, now);
        return;
    }
    int leader = replica_leader(s->replica);
    if (op->origin == OP_LOCAL_CLIENT && leader >= 0 && leader != s->opt.self && peer_link_up(s, leader)) {
        uint8_t *bytes = NULL;
        size_t len = 0;
        if (kv_command_encode(&op->cmd, &bytes, &len) == 0 &&
            peer_send_proxy_req(s, leader, op->id, bytes, len)) {
            free(bytes);
            op->route = OP_ROUTE_PROXY;
            op->proxy_peer = leader;
            op->deadline_ms = now + s->opt.request_timeout_ms + COMMANDS_PROXY_MARGIN_MS;
            oplist_push(&s->proxied_head, &s->proxied_tail, op);
            s->stats.ops_proxied_out++;
            return;
        }
        free(bytes);
    }
    if (op->origin == OP_LOCAL_CLIENT && !s->shutting_down) {
        /* No leader reachable (an election, a restart): wait for one, up
         * to the request timeout, rather than fail at once. Nothing was
         * sent anywhere, so a timeout here is still definite. */
        op->route = OP_ROUTE_PARKED;
        op->deadline_ms = now + s->opt.request_timeout_ms;
        oplist_push(&s->parked_head, &s->parked_tail, op);
        return;
    }
    op_finish(s, op, REPLICA_NOT_LEADER, 0, NULL,
              leader < 0 ? "no leader known" : "leader not reachable from this node");
}

void commands_unpark(struct server *s)
{
    if (!s->parked_head)
        return;
    int leader = replica_leader(s->replica);
    if (replica_role(s->replica) != RAFT_LEADER && !peer_link_up(s, leader))
        return;
    struct server_op *list = s->parked_head;
    s->parked_head = s->parked_tail = NULL;
    while (list) {
        struct server_op *op = list;
        list = op->next;
        op->prev = op->next = NULL;
        op->route = OP_ROUTE_NONE;
        op_route(s, op);
    }
}

static struct server_op *op_new(struct server *s, enum op_origin origin)
{
    struct server_op *op = calloc(1, sizeof *op);
    if (!op)
        return NULL;
    op->origin = origin;
    op->id = ++s->next_op_id;
    if (req_table_put(&s->ops, op->id, op) != 0) {
        free(op);
        return NULL;
    }
    s->stats.ops++;
    return op;
}

/* A definite "not the leader": it was never appended, so it may go again. */
static bool op_bounce(struct server *s, struct server_op *op, enum replica_status status)
{
    if (status != REPLICA_NOT_LEADER || op->origin != OP_LOCAL_CLIENT || op->hops >= COMMANDS_MAX_HOPS)
        return false;
    op->hops++;
    op_unlist(s, op);
    op->reroute_next = s->reroute_head;
    s->reroute_head = op;
    s->stats.rerouted++;
    return true;
}

bool commands_reroute(struct server *s)
{
    if (!s->reroute_head)
        return false;
    struct server_op *list = s->reroute_head;
    s->reroute_head = NULL;
    while (list) {
        struct server_op *op = list;
        list = op->reroute_next;
        op->reroute_next = NULL;
        op_route(s, op);
    }
    return true;
}

void commands_complete(struct server *s, uint64_t op_id, const struct replica_result *res)
{
    struct server_op *op = req_table_get(&s->ops, op_id);
    if (!op)
        return;
    if (op_bounce(s, op, res->status))
        return;
    bool done = res->status == REPLICA_DONE;
    op_finish(s, op, res->status, done ? res->kv.code : 0, done ? res->kv.value : NULL,
              done ? res->kv.text : res->text);
}

void commands_proxy_serve(struct server *s, int from_peer, const struct peer_proxy_req *q)
{
    struct peer_proxy_resp p = {.id = q->id, .leader = replica_leader(s->replica)};
    struct kv_command cmd;
    if (kv_command_decode(q->command, q->command_len, &cmd) != 0) {
        p.status = REPLICA_UNAVAILABLE;
        p.text = "malformed proxied command";
    } else if (replica_role(s->replica) != RAFT_LEADER) {
        kv_command_release(&cmd);
        p.status = REPLICA_NOT_LEADER;
        p.text = "not the leader";
    } else if (s->shutting_down) {
        /* Draining: take nothing new, or a busy cluster could keep this
         * node from ever finishing its in-flight work. */
        kv_command_release(&cmd);
        p.status = REPLICA_UNAVAILABLE;
        p.text = "the leader is shutting down";
    } else if (s->ops.len >= s->opt.max_pending) {
        kv_command_release(&cmd);
        p.status = REPLICA_UNAVAILABLE;
        p.text = "too many pending operations";
    } else {
        struct server_op *op = op_new(s, OP_REMOTE_PROXY);
        if (op) {
            op->cmd = cmd;
            op->from_peer = from_peer;
            op->remote_id = q->id;
            s->stats.ops_proxied_in++;
            op->route = OP_ROUTE_REPLICA;
            replica_submit(s->replica, op->id, &op->cmd, server_now(s));
            return;
        }
        kv_command_release(&cmd);
        p.status = REPLICA_UNAVAILABLE;
        p.text = "out of memory";
    }
    p.text_len = strlen(p.text);
    peer_send_proxy_resp(s, from_peer, &p);
}

void commands_proxy_answer(struct server *s, const struct peer_proxy_resp *p)
{
    struct server_op *op = req_table_get(&s->ops, p->id);
    if (!op || op->route != OP_ROUTE_PROXY)
        return; /* timed out already, or not ours */
    enum replica_status status = p->status <= REPLICA_INDEFINITE ? p->status : REPLICA_INDEFINITE;
    if (op_bounce(s, op, status))
        return;
    json_t *value = NULL;
    if (p->value_json)
        value = json_loadb(p->value_json, p->value_len, JSON_DECODE_ANY, NULL);
    char text[96];
    snprintf(text, sizeof text, "%.*s", (int)(p->text ? p->text_len : 0), p->text ? p->text : "");
    if (status == REPLICA_DONE && p->value_json && !value) {
        status = REPLICA_INDEFINITE; /* applied, but the answer is unreadable */
        snprintf(text, sizeof text, "unreadable answer from the leader");
    }
    op_finish(s, op, status, p->kv_code, value, text);
    json_decref(value);
}

uint64_t commands_expire(struct server *s, uint64_t now_ms)
{
    while (s->proxied_head && s->proxied_head->deadline_ms <= now_ms)
        op_finish(s, s->proxied_head, REPLICA_INDEFINITE, 0, NULL, "no answer from the leader in time");
    while (s->parked_head && s->parked_head->deadline_ms <= now_ms)
        op_finish(s, s->parked_head, REPLICA_NOT_LEADER, 0, NULL, "no leader reachable in time");
    uint64_t next = s->proxied_head ? s->proxied_head->deadline_ms : UINT64_MAX;
    if (s->parked_head && s->parked_head->deadline_ms < next)
        next = s->parked_head->deadline_ms;
    return next;
}

void commands_free_all(struct server *s)
{
    /* Finish every operation (its client, if still there, is closed), so
     * each request is freed exactly once through the usual path. */
    size_t n = 0;
    struct server_op **ops = s->ops.len ? calloc(s->ops.len, sizeof *ops) : NULL;
    for (size_t i = 0; ops && i < s->ops.cap; i++)
        if (s->ops.slots[i].id)
            ops[n++] = s->ops.slots[i].value;
    for (size_t i = 0; i < n; i++)
        op_finish(s, ops[i], REPLICA_INDEFINITE, 0, NULL, "server stopped");
    free(ops);
    req_table_free(&s->ops);
    s->proxied_head = s->proxied_tail = s->reroute_head = NULL;
    s->parked_head = s->parked_tail = NULL;
}

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
    if (res->kv_code != KV_OK || !res->value) {
        resp_write_null(b, proto);
    } else if (json_is_string(res->value)) {
        resp_write_bulk(b, json_string_value(res->value), json_string_length(res->value));
    } else { /* written by another front end: show its JSON text */
        char *t = json_dumps(res->value, JSON_COMPACT | JSON_ENCODE_ANY);
        resp_write_bulk(b, t ? t : "", t ? strlen(t) : 0);
        free(t);
    }
}

static void format_reply(struct server *s, struct client_req *r)
{
    int proto = r->client ? r->client->proto : 2;
    char err[160];
    for (size_t i = 0; i < r->n_ops; i++) {
        const char *e = result_error(&r->results[i], err, sizeof err);
        if (e) {
            if (e[0] == 'T')
                s->stats.errors_tryagain++;
            else if (e[0] == 'U')
                s->stats.errors_uncertain++;
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
    return json_stringn(q->argv[i], q->argl[i]); /* NULL if not UTF-8 */
}

/* Start the data operations of a command: `n` operations of type `op`,
 * on the keys at argv[first], argv[first + step], ... */
static void start_ops(struct server *s, struct client_req *r, const struct resp_request *q,
                      enum kv_op kop, size_t first, size_t n, size_t step)
{
    if (s->ops.len + n > s->opt.max_pending) {
        resp_write_error(&r->reply, "TRYAGAIN too many pending operations");
        s->stats.errors_tryagain++;
        client_req_done(r);
        return;
    }
    r->results = calloc(n, sizeof *r->results);
    struct kv_command *cmds = calloc(n, sizeof *cmds);
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
        free(cmds);
        resp_write_error(&r->reply, r->results ? "ERR keys and values must be valid UTF-8"
                                               : "ERR out of memory");
        client_req_done(r);
        return;
    }
    r->n_ops = n;
    /* Create every operation before routing any: routing may finish one
     * at once, and the reply must not be formatted before all exist. */
    struct server_op **ops = calloc(n, sizeof *ops);
    for (size_t i = 0; ops && i < n; i++) {
        ops[i] = op_new(s, OP_LOCAL_CLIENT);
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
    free(cmds);
    if (!ops) {
        resp_write_error(&r->reply, "ERR out of memory");
        r->n_ops = 0;
        client_req_done(r);
        return;
    }
    if (r->n_done == n) {
        format_reply(s, r);
        client_req_done(r);
    }
    for (size_t i = 0; i < n; i++)
        if (ops[i])
            op_route(s, ops[i]);
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
    else
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

void commands_dispatch(struct client *c, struct resp_request *q)
{
    struct server *s = c->srv;
    if (q->argc == 0)
        return;
    s->stats.commands++;
    struct client_req *r = calloc(1, sizeof *r);
    if (!r)
        return; /* the client's reply stream would be out of step: close it */
    r->client = c;
    r->started_ms = server_now(s);
    if (c->tail)
        c->tail->next = r;
    else
        c->head = r;
    c->tail = r;
    c->n_pending++;

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
        return;
    } else if (strcmp(name, "set") == 0) {
        if (argc != 3) {
            if (argc > 3)
                resp_write_error(&r->reply, "ERR SET options (EX, NX, ...) are not supported");
            else
                goto arity;
        } else {
            r->kind = CMD_SET;
            start_ops(s, r, q, KV_WRITE, 1, 1, 1);
            return;
        }
    } else if (strcmp(name, "del") == 0 || strcmp(name, "exists") == 0 || strcmp(name, "mget") == 0) {
        if (argc < 2)
            goto arity;
        r->kind = name[0] == 'd' ? CMD_DEL : name[0] == 'e' ? CMD_EXISTS : CMD_MGET;
        start_ops(s, r, q, r->kind == CMD_DEL ? KV_DELETE : KV_READ, 1, argc - 1, 1);
        return;
    } else if (strcmp(name, "cas") == 0) {
        if (argc != 4)
            goto arity;
        r->kind = CMD_CAS;
        start_ops(s, r, q, KV_CAS, 1, 1, 1);
        return;
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
    return;
arity:
    reply_arity(r, name[0] ? name : "?");
    client_req_done(r);
}
