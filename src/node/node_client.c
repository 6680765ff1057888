/* node_client.c - client requests at the Maelstrom node: validation, the
 * bounded table of requests in flight, replies, and the carrying-out of the
 * router's decisions (src/router: where a request runs, when it waits for a
 * leader, how it ends when the leader changes or does not answer).
 *
 * Forwarding: the router sends a request of this node's client to the
 * leader it knows, tagged with that leader's term, in a batch per leader
 * {"type":"fwd","term":T,"e":E,"reqs":[{"i":id,"op":...},...]}, where id
 * is the router's id of that attempt and E this process's epoch; the
 * leader submits each with replica_submit_in_term(), so a write is
 * appended only if it still leads in term T, and answers in a batch
 * {"type":"fwd_ok","e":E,"reps":[{"i":id,"code":C,...},...]}, with "st"
 * (the replica_status) when the replica did not run it. The epoch is drawn
 * at start-up, so answers to a previous life's forwards (the leader may
 * answer after this node restarted) are dropped whole, though router ids
 * start over. Members stay short: the leader parses every one, and under
 * whirl every byte passes through its network too. The router never sends
 * a write twice: a forwarded write whose leader changed or which got no
 * answer in time ends 13 (indefinite); 11 (definite) only when it
 * certainly was not appended. So no session table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "node/node_internal.h"
#include "node/node_log.h"

/* ---- the request table -------------------------------------------------- */

bool node_requests_init(struct node *n)
{
    n->cap_reqs = 1024;
    n->reqs = calloc(n->cap_reqs, sizeof *n->reqs);
    n->free_slots = malloc(n->cap_reqs * sizeof *n->free_slots);
    if (!n->reqs || !n->free_slots) {
        free(n->reqs);
        free(n->free_slots);
        return false;
    }
    /* This process's forwards must not be taken for those of the one
     * before it, which a leader may still answer: the epoch they carry is
     * drawn from the clock and pid, in [1, 2^30). */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t z = ((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)getpid() << 40)) *
                 0x9e3779b97f4a7c15ULL;
    n->epoch = (uint32_t)(z >> 34) | 1u;
    for (size_t i = 0; i < n->cap_reqs; i++)
        n->free_slots[i] = (uint32_t)(n->cap_reqs - 1 - i);
    n->n_free = n->cap_reqs;
    return true;
}

static void request_clear(struct request *q)
{
    kv_command_release(&q->cmd);
    free(q->client);
    q->client = NULL;
    q->kind = REQ_FREE;
    q->gen++;
}

void node_requests_free(struct node *n)
{
    for (size_t i = 0; i < n->cap_reqs; i++)
        if (n->reqs[i].kind != REQ_FREE)
            request_clear(&n->reqs[i]);
    free(n->reqs);
    free(n->free_slots);
}

static uint64_t request_ref(const struct node *n, const struct request *q)
{
    return ((uint64_t)q->gen << 32) | (uint64_t)(q - n->reqs);
}

static struct request *request_get(struct node *n, uint64_t ref)
{
    uint64_t slot = ref & 0xffffffffu;
    if (slot >= n->cap_reqs)
        return NULL;
    struct request *q = &n->reqs[slot];
    if (q->kind == REQ_FREE || q->gen != (uint32_t)(ref >> 32))
        return NULL;
    return q;
}

static struct request *request_alloc(struct node *n)
{
    if (n->n_free == 0) {
        if (n->cap_reqs >= n->max_reqs)
            return NULL;
        size_t ncap = n->cap_reqs * 2 > n->max_reqs ? n->max_reqs : n->cap_reqs * 2;
        struct request *r = realloc(n->reqs, ncap * sizeof *r);
        if (!r)
            return NULL;
        n->reqs = r;
        uint32_t *f = realloc(n->free_slots, ncap * sizeof *f);
        if (!f)
            return NULL;
        n->free_slots = f;
        memset(n->reqs + n->cap_reqs, 0, (ncap - n->cap_reqs) * sizeof *r);
        for (size_t i = ncap; i > n->cap_reqs; i--)
            n->free_slots[n->n_free++] = (uint32_t)(i - 1);
        n->cap_reqs = ncap;
    }
    struct request *q = &n->reqs[n->free_slots[--n->n_free]];
    uint32_t gen = q->gen;
    memset(q, 0, sizeof *q);
    q->gen = gen;
    q->origin = -1;
    return q;
}

static void request_free(struct node *n, struct request *q)
{
    request_clear(q);
    n->free_slots[n->n_free++] = (uint32_t)(q - n->reqs);
}

/* ---- replies ------------------------------------------------------------ */

static const char *const ok_types[] = {[KV_READ] = "read_ok", [KV_WRITE] = "write_ok",
                                       [KV_CAS] = "cas_ok", [KV_DELETE] = "delete_ok"};

void node_reply_error(struct node *n, const char *dest, json_int_t msg_id, bool has_id, int code,
                      const char *text)
{
    node_line_begin(n, dest, "error");
    if (has_id) {
        outbuf_lit(&n->out, ",\"in_reply_to\":");
        outbuf_i64(&n->out, msg_id);
    }
    outbuf_lit(&n->out, ",\"code\":");
    outbuf_i64(&n->out, code);
    outbuf_lit(&n->out, ",\"text\":");
    outbuf_str(&n->out, text);
    node_line_end(n);
}

static void reply_ok(struct node *n, const struct request *q, const json_t *value)
{
    node_line_begin(n, q->client, ok_types[q->cmd.op]);
    outbuf_lit(&n->out, ",\"in_reply_to\":");
    outbuf_i64(&n->out, q->msg_id);
    if (q->cmd.op == KV_READ) {
        outbuf_lit(&n->out, ",\"value\":");
        outbuf_json(&n->out, value);
    }
    node_line_end(n);
}

/* Answer a client of this node with (code, text, value); frees the slot. */
static void answer_client(struct node *n, struct request *q, int code, const char *text,
                          const json_t *value)
{
    if (code == 0)
        reply_ok(n, q, value);
    else
        node_reply_error(n, q->client, q->msg_id, true, code, text);
    request_free(n, q);
}

/* The wire code of a replica outcome. */
static int outcome_code(const struct replica_result *res, const char **text)
{
    switch (res->status) {
    case REPLICA_DONE:
        *text = res->kv.text;
        return res->kv.code;
    case REPLICA_NOT_LEADER:
    case REPLICA_UNAVAILABLE:
        *text = res->text ? res->text : "unavailable";
        return 11;
    case REPLICA_INDEFINITE:
    default:
        *text = res->text ? res->text : "outcome unknown";
        return 13;
    }
}

/* ---- carrying out the router's decisions ---------------------------------- */

/* The router's handle for a request is its ref. */
_Static_assert(sizeof(uintptr_t) >= sizeof(uint64_t), "a request ref must fit a router handle");

static void *request_handle(const struct node *n, const struct request *q)
{
    return (void *)(uintptr_t)request_ref(n, q);
}

static struct request *request_of_handle(struct node *n, void *user)
{
    struct request *q = request_get(n, (uint64_t)(uintptr_t)user);
    return q && q->kind == REQ_CLIENT ? q : NULL;
}

/* router_config.submit: run it on the local replica. */
void node_router_submit(void *ctx, uint64_t id, void *user)
{
    struct node *n = ctx;
    struct request *q = request_of_handle(n, user);
    if (!q)
        return;
    q->router_id = id;
    n->resubmitted = true;
    replica_submit(n->replica, request_ref(n, q), &q->cmd, n->last_now);
}

/* Open the next member of a batch list: `{"i":`, comma-separated. */
static void list_item_open(struct outbuf *b, size_t *count)
{
    if ((*count)++ > 0)
        outbuf_raw(b, ",", 1);
    outbuf_lit(b, "{\"i\":");
}

static void fwd_member_command(struct outbuf *b, const struct kv_command *c)
{
    static const char ops[] = {[KV_READ] = 'r', [KV_WRITE] = 'w', [KV_CAS] = 'c', [KV_DELETE] = 'd'};
    outbuf_lit(b, ",\"op\":\"");
    outbuf_raw(b, &ops[c->op], 1);
    outbuf_lit(b, "\",\"k\":");
    outbuf_json(b, c->key);
    if (c->value) {
        outbuf_lit(b, ",\"v\":");
        outbuf_json(b, c->value);
    }
    if (c->from) {
        outbuf_lit(b, ",\"f\":");
        outbuf_json(b, c->from);
        outbuf_lit(b, ",\"t\":");
        outbuf_json(b, c->to);
    }
}

static void emit_fwd_batch(struct node *n, int p)
{
    node_line_begin(n, n->names[p], "fwd");
    outbuf_lit(&n->out, ",\"term\":");
    outbuf_u64(&n->out, n->fwd_term[p]);
    outbuf_lit(&n->out, ",\"e\":");
    outbuf_u64(&n->out, n->epoch);
    outbuf_lit(&n->out, ",\"reqs\":[");
    outbuf_raw(&n->out, n->fwd_batch[p].data, n->fwd_batch[p].len);
    outbuf_lit(&n->out, "]");
    node_line_end(n);
    n->fwd_batch[p].len = 0;
    n->n_fwd_batch[p] = 0;
}

/* router_config.forward: add it to this batch's line to `leader`; a line
 * carries one term, so a forward in another term starts a new line. */
bool node_router_forward(void *ctx, int leader, raft_term term, uint64_t id, void *user)
{
    struct node *n = ctx;
    struct request *q = request_of_handle(n, user);
    if (!q || leader < 0 || leader >= n->n_nodes || leader == n->self)
        return false;
    if (n->n_fwd_batch[leader] && n->fwd_term[leader] != term)
        emit_fwd_batch(n, leader);
    n->fwd_term[leader] = term;
    struct outbuf *b = &n->fwd_batch[leader];
    list_item_open(b, &n->n_fwd_batch[leader]);
    outbuf_u64(b, id);
    fwd_member_command(b, &q->cmd);
    outbuf_raw(b, "}", 1);
    return true;
}

/* The wire code of a status the router or a replica ended a request with
 * (REPLICA_DONE aside). */
static int status_code(enum replica_status status)
{
    return status == REPLICA_NOT_LEADER || status == REPLICA_UNAVAILABLE ? 11 : 13;
}

/* router_config.finish: the router ended it. */
void node_router_finish(void *ctx, void *user, enum replica_status status, const char *text)
{
    struct node *n = ctx;
    struct request *q = request_of_handle(n, user);
    if (q)
        answer_client(n, q, status_code(status), text, NULL);
}

static void emit_fwd_reply(struct node *n, int p)
{
    node_line_begin(n, n->names[p], "fwd_ok");
    outbuf_lit(&n->out, ",\"e\":");
    outbuf_u64(&n->out, n->fwd_reply_epoch[p]);
    outbuf_lit(&n->out, ",\"reps\":[");
    outbuf_raw(&n->out, n->fwd_reply[p].data, n->fwd_reply[p].len);
    outbuf_lit(&n->out, "]");
    node_line_end(n);
    n->fwd_reply[p].len = 0;
    n->n_fwd_reply[p] = 0;
}

/* Open the next answer to follower `p`'s forwards sent in its `epoch`; a
 * line carries one epoch, so an answer to another life of it starts a new
 * line. */
static struct outbuf *reply_item_open(struct node *n, int p, uint64_t epoch, uint64_t fwd_id)
{
    if (n->n_fwd_reply[p] && n->fwd_reply_epoch[p] != epoch)
        emit_fwd_reply(n, p);
    n->fwd_reply_epoch[p] = epoch;
    struct outbuf *b = &n->fwd_reply[p];
    list_item_open(b, &n->n_fwd_reply[p]);
    outbuf_u64(b, fwd_id);
    return b;
}

void node_emit_forwards(struct node *n)
{
    for (int p = 0; p < n->n_nodes; p++) {
        if (n->n_fwd_batch[p])
            emit_fwd_batch(n, p);
        if (n->n_fwd_reply[p])
            emit_fwd_reply(n, p);
    }
}

/* ---- requests in ---------------------------------------------------------- */

/* Fill a command from a body's members (names given); borrowed references.
 * Returns NULL or what is missing. */
static const char *parse_command(const json_t *body, const char *type, const char *k,
                                 const char *v, const char *f, const char *t,
                                 struct kv_command *c)
{
    memset(c, 0, sizeof *c);
    if (strcmp(type, "read") == 0 || strcmp(type, "r") == 0)
        c->op = KV_READ;
    else if (strcmp(type, "write") == 0 || strcmp(type, "w") == 0)
        c->op = KV_WRITE;
    else if (strcmp(type, "cas") == 0 || strcmp(type, "c") == 0)
        c->op = KV_CAS;
    else
        return "unsupported";
    c->key = json_object_get(body, k);
    if (!c->key)
        return "missing key";
    if (c->op == KV_WRITE && !(c->value = json_object_get(body, v)))
        return "write needs a value";
    if (c->op == KV_CAS) {
        c->from = json_object_get(body, f);
        c->to = json_object_get(body, t);
        if (!c->from || !c->to)
            return "cas needs from and to";
    }
    return NULL;
}

static void own_command(struct kv_command *c)
{
    json_incref(c->key);
    json_incref(c->value);
    json_incref(c->from);
    json_incref(c->to);
}

bool node_json_u53(const json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) >= 0 &&
           (uint64_t)json_integer_value(v) <= RAFT_CODEC_MAX_INT;
}

void node_reply_bad_msg_id(struct node *n, const char *src, const json_t *id)
{
    /* Still echo what was sent, so the client can match the answer. */
    node_line_begin(n, src, "error");
    if (id) {
        outbuf_lit(&n->out, ",\"in_reply_to\":");
        outbuf_json(&n->out, id);
    }
    outbuf_lit(&n->out, ",\"code\":12,\"text\":\"msg_id must be an integer from 0 to 2^53-1\"");
    node_line_end(n);
}

void node_client_request(struct node *n, const char *src, json_t *body, const char *type,
                         uint64_t now_ms)
{
    const json_t *id = json_object_get(body, "msg_id");
    bool has_id = node_json_u53(id);
    json_int_t msg_id = has_id ? json_integer_value(id) : 0;
    struct kv_command c;
    const char *err = parse_command(body, type, "key", "value", "from", "to", &c);
    if (err && strcmp(err, "unsupported") == 0) {
        char text[96];
        snprintf(text, sizeof text, "unsupported request type %.40s", type);
        node_reply_error(n, src, msg_id, has_id, 10, text);
        return;
    }
    if (!has_id) {
        node_reply_bad_msg_id(n, src, id);
        return;
    }
    if (err) {
        node_reply_error(n, src, msg_id, has_id, 12, err);
        return;
    }
    if (!n->initialized) {
        node_reply_error(n, src, msg_id, true, 11, "not initialized yet");
        return;
    }
    struct request *q = request_alloc(n);
    char *client = q ? strdup(src) : NULL;
    if (!client) {
        if (q)
            request_free(n, q);
        node_reply_error(n, src, msg_id, true, 11, "too many requests in flight");
        return;
    }
    q->kind = REQ_CLIENT;
    q->client = client;
    q->msg_id = msg_id;
    q->cmd = c;
    own_command(&q->cmd);
    /* One request at a time per Maelstrom client: no order to keep. */
    router_submit(n->router, NULL, c.op == KV_READ ? ROUTER_READ : ROUTER_WRITE,
                  request_handle(n, q), now_ms);
}

/* A follower's batch: every request in it is submitted here, tagged with
 * the batch's term (router.h, rule 2); the answers go back in one fwd_ok. */
void node_fwd_request(struct node *n, int from, json_t *body, uint64_t now_ms)
{
    json_t *reqs = json_object_get(body, "reqs");
    const json_t *jterm = json_object_get(body, "term");
    const json_t *jepoch = json_object_get(body, "e");
    size_t i;
    json_t *item;
    if (!json_is_array(reqs) || !node_json_u53(jepoch)) {
        /* Never made by a raftkv node; its sender times out. */
        node_log(NODE_LOG_WARN, "dropped a fwd without reqs or epoch from %s", n->names[from]);
        return;
    }
    uint64_t epoch = (uint64_t)json_integer_value(jepoch);
    /* Without a term no leader could tell whether to append it. */
    bool has_term = node_json_u53(jterm) && json_integer_value(jterm) > 0;
    raft_term term = has_term ? (raft_term)json_integer_value(jterm) : 0;
    json_array_foreach(reqs, i, item) {
        const json_t *jid = json_object_get(item, "i");
        const char *op = json_string_value(json_object_get(item, "op"));
        if (!node_json_u53(jid) || !op)
            continue; /* never made by a raftkv node; its sender times out */
        uint64_t fwd_id = (uint64_t)json_integer_value(jid);
        struct kv_command c;
        const char *err = has_term ? parse_command(item, op, "k", "v", "f", "t", &c)
                                   : "fwd has no term";
        struct request *q = err ? NULL : request_alloc(n);
        if (!q) {
            struct outbuf *b = reply_item_open(n, from, epoch, fwd_id);
            outbuf_lit(b, err ? ",\"code\":12,\"text\":" : ",\"code\":11,\"st\":2,\"text\":");
            outbuf_str(b, err ? err : "too many requests in flight");
            outbuf_raw(b, "}", 1);
            continue;
        }
        q->kind = REQ_FORWARDED_IN;
        q->origin = from;
        q->fwd_id = fwd_id;
        q->fwd_epoch = epoch;
        q->cmd = c;
        own_command(&q->cmd);
        /* Not routed again from here: a refusal goes back to the follower,
         * whose router decides. */
        replica_submit_in_term(n->replica, request_ref(n, q), &q->cmd, term, now_ms);
    }
}

/* The leader's answers to this node's forwards. */
void node_fwd_reply(struct node *n, json_t *body)
{
    json_t *reps = json_object_get(body, "reps");
    const json_t *jepoch = json_object_get(body, "e");
    size_t i;
    json_t *item;
    if (!node_json_u53(jepoch) || (uint64_t)json_integer_value(jepoch) != n->epoch) {
        node_log(NODE_LOG_DEBUG, "ignored a fwd_ok for another epoch than %llu",
                 (unsigned long long)n->epoch);
        return; /* answers to a previous life's forwards */
    }
    json_array_foreach(reps, i, item) {
        const json_t *jid = json_object_get(item, "i");
        const json_t *code = json_object_get(item, "code");
        const json_t *st = json_object_get(item, "st");
        if (!node_json_u53(jid) || !node_json_u53(code) || json_integer_value(code) > 1000)
            continue; /* never made by a raftkv node (Maelstrom codes are below 1000) */
        struct request *q = request_of_handle(
            n, router_forwarded_user(n->router, (uint64_t)json_integer_value(jid)));
        if (!q)
            continue; /* ended already, or an earlier attempt's answer */
        /* "st": the replica did not run it (NOT_LEADER may be retried);
         * without it the code is the state machine's answer. */
        enum replica_status status = REPLICA_DONE;
        if (st)
            status = json_is_integer(st) && json_integer_value(st) > 0 &&
                             json_integer_value(st) <= REPLICA_INDEFINITE
                         ? (enum replica_status)json_integer_value(st)
                         : REPLICA_INDEFINITE;
        else if (json_integer_value(code) == 11)
            status = REPLICA_UNAVAILABLE;
        if (!router_forward_done(n->router, (uint64_t)json_integer_value(jid), status, n->last_now))
            continue; /* a stale answer, or the router sends it again */
        const char *text = json_string_value(json_object_get(item, "text"));
        int c = status == REPLICA_DONE ? (int)json_integer_value(code) : status_code(status);
        answer_client(n, q, c, text ? text : "", json_object_get(item, "v"));
    }
}

/* ---- outcomes from the replica -------------------------------------------- */

void node_complete(void *ctx, uint64_t ref, const struct replica_result *res)
{
    struct node *n = ctx;
    struct request *q = request_get(n, ref);
    if (!q)
        return;
    const char *text;
    int code = outcome_code(res, &text);
    if (q->kind == REQ_FORWARDED_IN) {
        struct outbuf *b = reply_item_open(n, q->origin, q->fwd_epoch, q->fwd_id);
        outbuf_lit(b, ",\"code\":");
        outbuf_i64(b, code);
        if (res->status != REPLICA_DONE) {
            outbuf_lit(b, ",\"st\":");
            outbuf_i64(b, res->status);
        }
        if (code == 0 && q->cmd.op == KV_READ) {
            outbuf_lit(b, ",\"v\":");
            outbuf_json(b, res->kv.value);
        } else if (code != 0) {
            outbuf_lit(b, ",\"text\":");
            outbuf_str(b, text);
        }
        outbuf_raw(b, "}", 1);
        request_free(n, q);
        return;
    }
    /* A client of this node: the router says whether this ends it (or a
     * definite refusal sends it elsewhere, rule 4). */
    if (router_local_done(n->router, q->router_id, res->status, n->last_now))
        answer_client(n, q, code, text, res->kv.value);
}
