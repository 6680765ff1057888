/* route.c - where a client command's operations run, and how each ends.
 *
 * ROUTING. An operation goes to the local replica when this node leads, and
 * is otherwise PROXIED to the leader over the peer link with a request id;
 * the leader runs it and answers with a PROXY_RESP (commands_proxy_serve and
 * commands_proxy_answer). A definite "not the leader" answer (the operation
 * certainly was not appended) is routed again to the leader now known, at
 * most 3 times. Nothing that might have been appended is ever retried, so no
 * operation is applied twice. While no leader is reachable (an election),
 * operations are PARKED until one is, up to --request-timeout-ms, then fail
 * definitely. A proxied operation whose answer does not come within the
 * request timeout (plus a margin) ends indefinite.
 *
 * Every operation is in server.ops (id -> operation) from creation to
 * op_finish(), the one place it ends; answers for unknown ids are ignored.
 */
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

#define ROUTE_MAX_HOPS 3
#define ROUTE_PROXY_MARGIN_MS 500

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
    if (op->route == OP_ROUTE_QUEUED)
        oplist_unlink(&s->queued_head, &s->queued_tail, op);
    else if (op->route == OP_ROUTE_PROXY)
        oplist_unlink(&s->proxied_head, &s->proxied_tail, op);
    else if (op->route == OP_ROUTE_PARKED)
        oplist_unlink(&s->parked_head, &s->parked_tail, op);
    op->route = OP_ROUTE_NONE;
}

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
    if (text && text[0])
        snprintf(res->text, sizeof res->text, "%s", text);
    else
        res->text[0] = '\0';
    op_free(op);
    if (++r->n_done == r->n_ops) {
        commands_format_reply(s, r);
        client_req_done(r);
    }
}

/* Send an operation where it can run: the local replica if this node
 * leads, else the leader it knows, over the peer link. */
void route_op(struct server *s, struct server_op *op)
{
    uint64_t now = server_now(s);
    if (s->fatal) {
        op_finish(s, op, REPLICA_UNAVAILABLE, 0, NULL, "node is stopping");
        return;
    }
    bool local_read = s->opt.unsafe_local_reads && op->cmd.op == KV_READ; /* the deliberate bug */
    if (replica_role(s->replica) == RAFT_LEADER || local_read) {
        op->route = OP_ROUTE_QUEUED;
        oplist_push(&s->queued_head, &s->queued_tail, op);
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
            op->deadline_ms = now + s->opt.request_timeout_ms + ROUTE_PROXY_MARGIN_MS;
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
        route_op(s, op);
    }
}

/* Why queued rather than submitted at once: when a batch's sync runs inline
 * (it wrote a term or vote, or no background sync could start),
 * replica_flush() answers what the acknowledgements just read committed only
 * after that sync, so submitting as requests arrive would hold those answers
 * behind it. The server flushes the replica first, writes the answers, then
 * submits these and flushes again (server_after_io). With background syncs
 * (the usual case) the two flushes cost little more than one. */
bool commands_submit_queued(struct server *s)
{
    if (!s->queued_head)
        return false;
    uint64_t now = server_now(s);
    struct server_op *list = s->queued_head;
    s->queued_head = s->queued_tail = NULL;
    while (list) {
        struct server_op *op = list;
        list = op->next;
        op->prev = op->next = NULL;
        op->route = OP_ROUTE_REPLICA;
        replica_submit(s->replica, op->id, &op->cmd, now);
    }
    return true;
}

struct server_op *route_op_new(struct server *s, enum op_origin origin)
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
    if (status != REPLICA_NOT_LEADER || op->origin != OP_LOCAL_CLIENT || op->hops >= ROUTE_MAX_HOPS)
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
        route_op(s, op);
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
        struct server_op *op = route_op_new(s, OP_REMOTE_PROXY);
        if (op) {
            op->cmd = cmd;
            op->from_peer = from_peer;
            op->remote_id = q->id;
            s->stats.ops_proxied_in++;
            op->route = OP_ROUTE_QUEUED;
            oplist_push(&s->queued_head, &s->queued_tail, op);
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
        value = json_loadb(p->value_json, p->value_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
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
    s->queued_head = s->queued_tail = NULL;
}
