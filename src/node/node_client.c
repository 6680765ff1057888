/* node_client.c - client requests at the Maelstrom node: validation, the
 * bounded table of requests in flight, replies, and forwarding to the leader.
 *
 * Forwarding rules (why no request is ever applied twice): a follower that
 * knows the leader forwards a request once, in a batch {"type":"fwd",
 * "reqs":[...]} per leader; the leader submits it to its replica and answers
 * in a batch {"type":"fwd_ok","reps":[...]}. A forward is never retried: if
 * no answer comes within the timeout the client gets 13 (indefinite) for a
 * write or cas and 11 for a read, which changes nothing either way. Error 11
 * for a write only when it certainly was not appended: no leader known, or a
 * replica refused it before appending (NOT_LEADER). So no session table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    free(n->forwarded.items);
    free(n->parked.items);
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

/* ---- forwarding out ------------------------------------------------------ */

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

static bool fifo_push(struct ref_fifo *f, uint64_t ref, uint64_t at)
{
    if (f->tail == f->cap && f->head > 0) {
        memmove(f->items, f->items + f->head, (f->tail - f->head) * sizeof *f->items);
        f->tail -= f->head;
        f->head = 0;
    }
    if (f->tail == f->cap) {
        size_t ncap = f->cap ? f->cap * 2 : 1024;
        struct deadline_item *d = realloc(f->items, ncap * sizeof *d);
        if (!d)
            return false;
        f->items = d;
        f->cap = ncap;
    }
    f->items[f->tail++] = (struct deadline_item){.ref = ref, .at = at};
    return true;
}

static void forward(struct node *n, struct request *q, int leader, uint64_t now_ms)
{
    uint64_t ref = request_ref(n, q);
    if (!fifo_push(&n->forwarded, ref, now_ms + n->opts.request_timeout_ms)) {
        answer_client(n, q, 11, "out of memory", NULL); /* not sent anywhere */
        return;
    }
    q->kind = REQ_FORWARDED_OUT;
    q->forwarded = true;
    q->origin = leader; /* where it went, for leader_changed() */
    struct outbuf *b = &n->fwd_batch[leader];
    list_item_open(b, &n->n_fwd_batch[leader]);
    outbuf_u64(b, ref);
    fwd_member_command(b, &q->cmd);
    outbuf_raw(b, "}", 1);
}

void node_emit_forwards(struct node *n)
{
    for (int p = 0; p < n->n_nodes; p++) {
        if (n->n_fwd_batch[p]) {
            node_line_begin(n, n->names[p], "fwd");
            outbuf_lit(&n->out, ",\"reqs\":[");
            outbuf_raw(&n->out, n->fwd_batch[p].data, n->fwd_batch[p].len);
            outbuf_lit(&n->out, "]");
            node_line_end(n);
            n->fwd_batch[p].len = 0;
            n->n_fwd_batch[p] = 0;
        }
        if (n->n_fwd_reply[p]) {
            node_line_begin(n, n->names[p], "fwd_ok");
            outbuf_lit(&n->out, ",\"reps\":[");
            outbuf_raw(&n->out, n->fwd_reply[p].data, n->fwd_reply[p].len);
            outbuf_lit(&n->out, "]");
            node_line_end(n);
            n->fwd_reply[p].len = 0;
            n->n_fwd_reply[p] = 0;
        }
    }
}

/* Hold a request that no replica has seen until a leader is known: failing
 * it at once during an election would only make the client spin. */
static void park(struct node *n, struct request *q, uint64_t now_ms)
{
    q->kind = REQ_PARKED;
    if (!fifo_push(&n->parked, request_ref(n, q), now_ms + n->opts.park_timeout_ms))
        answer_client(n, q, 11, "no leader known", NULL);
}

static void route(struct node *n, struct request *q, uint64_t now_ms);

void node_release_parked(struct node *n, uint64_t now_ms)
{
    int leader = replica_leader(n->replica);
    if (n->parked.head == n->parked.tail || leader < 0 || leader >= n->n_nodes)
        return;
    if (leader == n->self && replica_role(n->replica) != RAFT_LEADER)
        return;
    /* Take the whole queue: routing may park some again. */
    struct ref_fifo taken = n->parked;
    memset(&n->parked, 0, sizeof n->parked);
    for (size_t i = taken.head; i < taken.tail; i++) {
        struct request *q = request_get(n, taken.items[i].ref);
        if (q && q->kind == REQ_PARKED)
            route(n, q, now_ms);
    }
    free(taken.items);
}

/* The leader this node knows changed (or it stopped hearing from it): the
 * requests forwarded to another node will likely never be answered, and
 * their clients would wait for a timeout. A read is sent again (it changes
 * nothing, so whichever answer comes first is right); a write or cas may
 * have been appended there, so its client learns at once that the outcome
 * is unknown (13) rather than a second copy being sent. */
void node_leader_changed(struct node *n, uint64_t now_ms)
{
    int leader = replica_leader(n->replica);
    for (size_t i = 0; i < n->cap_reqs; i++) {
        struct request *q = &n->reqs[i];
        if (q->kind != REQ_FORWARDED_OUT || q->origin == leader)
            continue;
        if (q->cmd.op == KV_READ)
            route(n, q, now_ms);
        else
            answer_client(n, q, 13, "the leader changed; outcome unknown", NULL);
    }
}

void node_expire_forwards(struct node *n, uint64_t now_ms)
{
    struct ref_fifo *f = &n->forwarded;
    while (f->head < f->tail && f->items[f->head].at <= now_ms) {
        struct request *q = request_get(n, f->items[f->head++].ref);
        if (!q || q->kind != REQ_FORWARDED_OUT)
            continue; /* answered already */
        if (q->cmd.op == KV_READ)
            answer_client(n, q, 11, "no answer from the leader; a read changes nothing", NULL);
        else
            answer_client(n, q, 13, "no answer from the leader; outcome unknown", NULL);
    }
    if (f->head == f->tail)
        f->head = f->tail = 0;
    f = &n->parked;
    while (f->head < f->tail && f->items[f->head].at <= now_ms) {
        struct request *q = request_get(n, f->items[f->head++].ref);
        if (q && q->kind == REQ_PARKED)
            answer_client(n, q, 11, "no leader known; not attempted", NULL);
    }
    if (f->head == f->tail)
        f->head = f->tail = 0;
}

uint64_t node_forward_deadline(const struct node *n)
{
    uint64_t a = n->forwarded.head < n->forwarded.tail ? n->forwarded.items[n->forwarded.head].at
                                                       : UINT64_MAX;
    uint64_t b = n->parked.head < n->parked.tail ? n->parked.items[n->parked.head].at : UINT64_MAX;
    return a < b ? a : b;
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

void node_client_request(struct node *n, const char *src, json_t *body, const char *type,
                         uint64_t now_ms)
{
    const json_t *id = json_object_get(body, "msg_id");
    bool has_id = json_is_integer(id);
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
        /* Still echo what was sent, so the client can match the answer. */
        node_line_begin(n, src, "error");
        if (id) {
            outbuf_lit(&n->out, ",\"in_reply_to\":");
            outbuf_json(&n->out, id);
        }
        outbuf_lit(&n->out, ",\"code\":12,\"text\":\"msg_id must be an integer\"");
        node_line_end(n);
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
    q->kind = REQ_LOCAL;
    q->client = client;
    q->msg_id = msg_id;
    q->cmd = c;
    own_command(&q->cmd);
    route(n, q, now_ms);
}

/* Send a request of this node's client where it can be served: the local
 * replica if it leads (or for the deliberately unsafe local reads), the
 * known leader by forwarding, else park it until a leader is known. */
static void route(struct node *n, struct request *q, uint64_t now_ms)
{
    int leader = replica_leader(n->replica);
    bool local_read = n->opts.unsafe_local_reads && q->cmd.op == KV_READ;
    bool may_forward = !q->forwarded || q->cmd.op == KV_READ; /* reads change nothing */
    if (!local_read && may_forward && leader >= 0 && leader < n->n_nodes &&
        leader != n->self) {
        forward(n, q, leader, now_ms);
        return;
    }
    if (!local_read && (leader < 0 || leader >= n->n_nodes ||
                        (leader == n->self && replica_role(n->replica) != RAFT_LEADER))) {
        park(n, q, now_ms);
        return;
    }
    q->kind = REQ_LOCAL;
    replica_submit(n->replica, request_ref(n, q), &q->cmd, now_ms);
}

void node_fwd_request(struct node *n, int from, json_t *body, uint64_t now_ms)
{
    json_t *reqs = json_object_get(body, "reqs");
    size_t i;
    json_t *item;
    if (!json_is_array(reqs)) {
        node_log(NODE_LOG_WARN, "dropped a fwd without reqs from %s", n->names[from]);
        return;
    }
    json_array_foreach(reqs, i, item) {
        const json_t *jid = json_object_get(item, "i");
        const char *op = json_string_value(json_object_get(item, "op"));
        if (!json_is_integer(jid) || !op)
            continue; /* never made by a raftkv node; its sender times out */
        uint64_t fwd_id = (uint64_t)json_integer_value(jid);
        struct outbuf *b = &n->fwd_reply[from];
        struct kv_command c;
        const char *err = parse_command(item, op, "k", "v", "f", "t", &c);
        struct request *q = err ? NULL : request_alloc(n);
        if (!q) {
            list_item_open(b, &n->n_fwd_reply[from]);
            outbuf_u64(b, fwd_id);
            outbuf_lit(b, err ? ",\"code\":12,\"text\":" : ",\"code\":11,\"text\":");
            outbuf_str(b, err ? err : "too many requests in flight");
            outbuf_raw(b, "}", 1);
            continue;
        }
        q->kind = REQ_FORWARDED_IN;
        q->origin = from;
        q->fwd_id = fwd_id;
        q->cmd = c;
        own_command(&q->cmd);
        /* Never forwarded again from here: a refusal goes back as 11. */
        replica_submit(n->replica, request_ref(n, q), &q->cmd, now_ms);
    }
}

void node_fwd_reply(struct node *n, json_t *body)
{
    json_t *reps = json_object_get(body, "reps");
    size_t i;
    json_t *item;
    json_array_foreach(reps, i, item) {
        const json_t *jid = json_object_get(item, "i");
        const json_t *code = json_object_get(item, "code");
        if (!json_is_integer(jid) || !json_is_integer(code))
            continue;
        struct request *q = request_get(n, (uint64_t)json_integer_value(jid));
        if (!q || q->kind != REQ_FORWARDED_OUT)
            continue; /* timed out and answered already */
        const char *text = json_string_value(json_object_get(item, "text"));
        answer_client(n, q, (int)json_integer_value(code), text ? text : "",
                      json_object_get(item, "v"));
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
        struct outbuf *b = &n->fwd_reply[q->origin];
        list_item_open(b, &n->n_fwd_reply[q->origin]);
        outbuf_u64(b, q->fwd_id);
        outbuf_lit(b, ",\"code\":");
        outbuf_i64(b, code);
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
    /* A refusal before appending is definite, so the request may still be
     * sent elsewhere, once: forwarded to the leader, or parked until one is
     * known (a parked request that finds no leader in time gets 11). */
    if (res->status == REPLICA_NOT_LEADER && q->kind == REQ_LOCAL && !q->forwarded) {
        if (res->leader >= 0 && res->leader < n->n_nodes && res->leader != n->self)
            forward(n, q, res->leader, n->last_now);
        else if (!q->reparked) {
            q->reparked = true;
            park(n, q, n->last_now);
        } else
            answer_client(n, q, code, text, NULL);
        return;
    }
    answer_client(n, q, code, text, res->kv.value);
}
