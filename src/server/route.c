/* route.c - the server's side of the router (src/router/router.h), which
 * decides where a client command's operations run and how each ends, and
 * the leader's side of a proxied operation.
 *
 * ROUTING is the router's: local on the leader; otherwise PROXIED to the
 * leader over the peer link, tagged with its term; waiting for a leader at
 * most --request-timeout-ms; a proxied write whose fate is unknown ends
 * indefinite and is never sent again; definite refusals and reads may go
 * again; and one connection's operations take effect in the order sent
 * (rule 6: `struct client.order`). This file carries out what it asks: its
 * submit queues an operation for the local replica (submitted at the batch
 * end), its forward sends a PROXY_REQ, its finish ends the operation.
 *
 * The leader runs a proxied operation with replica_submit_in_term() under
 * the forward's term and answers with a PROXY_RESP (commands_proxy_serve).
 *
 * Ids. A dispatched operation is in server.ops under an id of this server
 * (from the wall clock at start, then counting), fresh at every dispatch:
 * replica completions and PROXY_RESPs carry it back, and one meant for an
 * earlier dispatch, or for an earlier incarnation of this node, finds
 * nothing. The op remembers the router's id of its current dispatch.
 * op_finish() is the one place an operation ends.
 */
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

/* A proxied operation's answer may take the leader's own request timeout
 * (it times out what it runs), plus the trip back. */
#define ROUTE_FORWARD_MARGIN_MS 500

static void op_free(struct server *s, struct server_op *op)
{
    kv_command_release(&op->cmd);
    free(op);
    s->n_ops--;
}

static void queue_push(struct server *s, struct server_op *op)
{
    op->prev = s->queued_tail;
    op->next = NULL;
    if (s->queued_tail)
        s->queued_tail->next = op;
    else
        s->queued_head = op;
    s->queued_tail = op;
}

static void queue_unlink(struct server *s, struct server_op *op)
{
    if (op->prev)
        op->prev->next = op->next;
    else if (s->queued_head == op)
        s->queued_head = op->next;
    if (op->next)
        op->next->prev = op->prev;
    else if (s->queued_tail == op)
        s->queued_tail = op->prev;
    op->prev = op->next = NULL;
}

/* Not dispatched any more: out of server.ops. */
static void op_unkey(struct server *s, struct server_op *op)
{
    if (op->id)
        req_table_take(&s->ops, op->id);
    op->id = 0;
}

/* A dispatch: a fresh id in server.ops. -1 when out of memory (the op is
 * then in no table). */
static int op_rekey(struct server *s, struct server_op *op, uint64_t router_id)
{
    op_unkey(s, op);
    op->id = ++s->next_op_id;
    op->router_id = router_id;
    if (req_table_put(&s->ops, op->id, op) != 0) {
        op->id = 0;
        return -1;
    }
    return 0;
}

/* The one place an operation ends: record its outcome where it came from.
 * `take`, when not NULL, is kv itself and may be moved into a client's
 * request (a forwarded answer, decoded here: not copied again). */
static void op_end(struct server *s, struct server_op *op, enum replica_status status,
                   const struct kv_result *kv, const char *text, struct kv_result *take)
{
    op_unkey(s, op);
    if (op->route == OP_ROUTE_QUEUED)
        queue_unlink(s, op);
    op->route = OP_ROUTE_NONE;
    if (op->origin == OP_REMOTE_PROXY) {
        uint8_t *bytes = NULL;
        size_t len = 0;
        if (kv && kv_result_encode(kv, &bytes, &len) != 0) {
            status = REPLICA_INDEFINITE; /* applied, but the answer cannot be sent */
            text = "out of memory";
        }
        struct peer_proxy_resp p = {.id = op->remote_id, .status = (uint8_t)status,
                                    .leader = replica_leader(s->replica), .kv_code = kv ? kv->code : 0,
                                    .result = bytes, .result_len = len,
                                    .text = text, .text_len = text ? strlen(text) : 0};
        if (!peer_send_proxy_resp(s, op->from_peer, &p) && len > 0) {
            /* Past --peer-queue-bytes (a KEYS of megabytes): a small
             * answer instead, so the client hears at once; definite for a
             * read, of unknown outcome for a write (it was applied). */
            char why[96];
            snprintf(why, sizeof why, "answer of %zu bytes does not fit --peer-queue-bytes; use SCAN", len);
            p = (struct peer_proxy_resp){.id = op->remote_id,
                                         .status = kv_op_reads(op->cmd.op) ? REPLICA_UNAVAILABLE : REPLICA_INDEFINITE,
                                         .leader = p.leader, .text = why, .text_len = strlen(why)};
            peer_send_proxy_resp(s, op->from_peer, &p);
        }
        free(bytes);
        op_free(s, op);
        return;
    }
    struct client_req *r = op->req;
    struct op_result *res = &r->results[op->index];
    res->status = status;
    res->kv = (struct kv_result){0};
    if (take) {
        res->kv = *take;
        *take = (struct kv_result){0};
    } else if (kv && kv_result_copy(&res->kv, kv) != 0) {
        res->status = REPLICA_INDEFINITE;
        text = "out of memory";
    }
    if (text && text[0])
        snprintf(res->text, sizeof res->text, "%s", text);
    else
        res->text[0] = '\0';
    op_free(s, op);
    if (++r->n_done == r->n_ops) {
        commands_format_reply(s, r);
        client_req_done(r);
    }
}

static void op_finish(struct server *s, struct server_op *op, enum replica_status status,
                      const struct kv_result *kv, const char *text)
{
    op_end(s, op, status, kv, text, NULL);
}

/* ---- The router's callbacks (they only queue work) ------------------------- */

static void route_on_submit(void *ctx, uint64_t router_id, void *user)
{
    struct server *s = ctx;
    struct server_op *op = user;
    /* Out of memory: still queued, in no table; commands_submit_queued
     * ends it outside this callback. */
    op_rekey(s, op, router_id);
    op->route = OP_ROUTE_QUEUED;
    queue_push(s, op);
}

static bool route_on_forward(void *ctx, int leader, raft_term term, uint64_t router_id, void *user)
{
    struct server *s = ctx;
    struct server_op *op = user;
    if (!peer_link_up(s, leader))
        return false;
    uint8_t *bytes = NULL;
    size_t len = 0;
    if (kv_command_encode(&op->cmd, &bytes, &len) != 0)
        return false;
    /* Sent under the id op_rekey() is about to give it. */
    bool sent = peer_send_proxy_req(s, leader, s->next_op_id + 1, term, bytes, len);
    free(bytes);
    if (!sent)
        return false; /* nothing left this node */
    /* Out of memory for the table: the answer will find nothing, and the
     * router ends the op at its forward timeout. */
    op_rekey(s, op, router_id);
    op->route = OP_ROUTE_PROXY;
    s->stats.ops_proxied_out++;
    return true;
}

static void route_on_finish(void *ctx, void *user, enum replica_status status, const char *text)
{
    op_finish(ctx, user, status, NULL, text);
}

int route_start(struct server *s)
{
    struct router_config c;
    router_config_default(&c, s->opt.self, s->opt.n_nodes);
    c.max_ops = s->opt.max_pending;
    c.unsafe_local_reads = s->opt.unsafe_local_reads;
    c.leader_wait_ms = s->opt.request_timeout_ms;
    c.forward_timeout_ms = s->opt.request_timeout_ms + ROUTE_FORWARD_MARGIN_MS;
    c.long_forward_timeout_ms = s->opt.long_read_timeout_ms; /* KEYS (rule 9) */
    /* A leader that hands over (RAFT.TRANSFER_LEADER, SIGTERM) answers what
     * was forwarded to it after the view moved on: wait for that answer. */
    c.await_former_leader = true;
    c.submit = route_on_submit;
    c.forward = route_on_forward;
    c.finish = route_on_finish;
    c.ctx = s;
    s->router = router_new(&c);
    return s->router ? 0 : -1;
}

/* ---- Client operations --------------------------------------------------------- */

struct server_op *route_op_new(struct server *s, enum op_origin origin)
{
    struct server_op *op = calloc(1, sizeof *op);
    if (!op)
        return NULL;
    op->origin = origin;
    s->n_ops++;
    s->stats.ops++;
    return op;
}

void route_op(struct server *s, struct server_op *op)
{
    if (s->fatal) {
        op_finish(s, op, REPLICA_UNAVAILABLE, NULL, "node is stopping");
        return;
    }
    struct client *c = op->req->client;
    /* A MULTI (EXEC) is one write, whatever it holds: its KEYS is no long read. */
    enum router_kind kind = !kv_op_reads(op->cmd.op)       ? ROUTER_WRITE
                            : kv_op_long_read(op->cmd.op) ? ROUTER_READ_LONG
                                                          : ROUTER_READ;
    router_submit(s->router, c ? &c->order : NULL, kind, op, server_now(s));
}

void route_view(struct server *s, uint64_t now_ms)
{
    struct replica *r = s->replica;
    int leader = replica_leader(r);
    bool leads = replica_role(r) == RAFT_LEADER;
    /* A leader this node cannot reach is no leader to forward to: the
     * router then waits for a view it can use (rule 1). */
    if (!leads && leader >= 0 && !peer_link_up(s, leader))
        leader = RAFT_NO_NODE;
    router_view(s->router, leader, replica_term(r), leads, now_ms);
    router_progress(s->router, replica_commit_index(r), now_ms);
}

void route_conn_closed(struct server *s, struct router_conn *conn)
{
    if (s->router)
        router_conn_close(s->router, conn);
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
        if (op->origin == OP_REMOTE_PROXY) {
            replica_submit_in_term(s->replica, op->id, &op->cmd, op->term, now);
        } else if (op->id) {
            replica_submit(s->replica, op->id, &op->cmd, now);
        } else {
            /* No id (out of memory at dispatch): end it here, definitely. */
            if (router_local_done(s->router, op->router_id, REPLICA_UNAVAILABLE, now))
                op_finish(s, op, REPLICA_UNAVAILABLE, NULL, "out of memory");
        }
    }
    return true;
}

void commands_complete(struct server *s, uint64_t op_id, const struct replica_result *res)
{
    if (s->backups && backup_op_complete(s, op_id, res))
        return;
    struct server_op *op = req_table_get(&s->ops, op_id);
    if (!op)
        return;
    if (op->origin == OP_LOCAL_CLIENT) {
        op->route = OP_ROUTE_NONE;
        op_unkey(s, op);
        if (!router_local_done(s->router, op->router_id, res->status, server_now(s)))
            return; /* routed again (a definite refusal) */
    }
    bool done = res->status == REPLICA_DONE;
    op_finish(s, op, res->status, done ? &res->kv : NULL, done ? res->kv.text : res->text);
}

void commands_proxy_answer(struct server *s, const struct peer_proxy_resp *p)
{
    struct server_op *op = req_table_get(&s->ops, p->id);
    if (!op || op->route != OP_ROUTE_PROXY)
        return; /* ended already, or not ours */
    enum replica_status status = p->status <= REPLICA_INDEFINITE ? p->status : REPLICA_INDEFINITE;
    op->route = OP_ROUTE_NONE;
    op_unkey(s, op);
    if (!router_forward_done(s->router, op->router_id, status, server_now(s)))
        return; /* routed again (a definite refusal) */
    struct kv_result kv = {.code = p->kv_code};
    char text[96];
    snprintf(text, sizeof text, "%.*s", (int)(p->text ? p->text_len : 0), p->text ? p->text : "");
    if (status == REPLICA_DONE && (!p->result || kv_result_decode(p->result, p->result_len, &kv) != 0)) {
        status = REPLICA_INDEFINITE; /* applied, but the answer is unreadable */
        snprintf(text, sizeof text, "unreadable answer from the leader");
    }
    op_end(s, op, status, status == REPLICA_DONE ? &kv : NULL, text, status == REPLICA_DONE ? &kv : NULL);
    kv_result_release(&kv);
}

uint64_t commands_expire(struct server *s, uint64_t now_ms)
{
    router_tick(s->router, now_ms);
    return router_deadline(s->router);
}

/* ---- The leader's side of a proxied operation ------------------------------------ */

void commands_proxy_serve(struct server *s, int from_peer, const struct peer_proxy_req *q)
{
    struct peer_proxy_resp p = {.id = q->id, .leader = replica_leader(s->replica)};
    struct kv_command cmd;
    if (kv_command_decode(q->command, q->command_len, &cmd) != 0) {
        server_log_limited(SLOG_WARN, "proxy_bad_command", "peer=%s", s->opt.names[from_peer]);
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
        p.status = REPLICA_NOT_LEADER; /* retried at the next leader (router.h, rule 4) */
        p.text = "the leader is shutting down";
    } else if (s->n_ops >= s->opt.max_pending) {
        server_log_limited(SLOG_WARN, "proxy_pending_limit", "peer=%s pending=%zu max_pending=%zu",
                           s->opt.names[from_peer], s->n_ops, s->opt.max_pending);
        kv_command_release(&cmd);
        p.status = REPLICA_UNAVAILABLE;
        p.text = "too many pending operations";
    } else {
        struct server_op *op = route_op_new(s, OP_REMOTE_PROXY);
        if (op) {
            op->cmd = cmd;
            op->from_peer = from_peer;
            op->remote_id = q->id;
            op->term = q->term;
            if (op_rekey(s, op, 0) == 0) {
                s->stats.ops_proxied_in++;
                op->route = OP_ROUTE_QUEUED;
                queue_push(s, op);
                return;
            }
            op->cmd = (struct kv_command){0};
            op_free(s, op);
        }
        kv_command_release(&cmd);
        p.status = REPLICA_UNAVAILABLE;
        p.text = "out of memory";
    }
    p.text_len = strlen(p.text);
    peer_send_proxy_resp(s, from_peer, &p);
}

void commands_free_all(struct server *s)
{
    /* Finish every operation (its client, if still there, is closed), so
     * each request is freed exactly once through the usual path: the
     * router's first, then the proxied ones served for peers. */
    if (s->router)
        router_abort_all(s->router, "server stopped");
    size_t n = 0;
    struct server_op **ops = s->ops.len ? calloc(s->ops.len, sizeof *ops) : NULL;
    for (size_t i = 0; ops && i < s->ops.cap; i++)
        if (s->ops.slots[i].id)
            ops[n++] = s->ops.slots[i].value;
    for (size_t i = 0; i < n; i++)
        op_finish(s, ops[i], REPLICA_INDEFINITE, NULL, "server stopped");
    free(ops);
    req_table_free(&s->ops);
    router_free(s->router);
    s->router = NULL;
    s->queued_head = s->queued_tail = NULL;
}
