/* cluster_client.c - the test cluster's state machine (int registers under
 * small int keys) and its clients' operations, with the outcome rules a
 * real node follows: a write/cas gets its result only when its node applies
 * the very entry it proposed at (index, term); any doubt is "info".
 */
#include <stdlib.h>
#include <string.h>

#include "cluster_private.h"

#define OP_MAGIC 0x524b5654u /* "RKVT" */
#define OP_BYTES 25

struct op_cmd {
    uint64_t op_id;
    uint8_t f;
    int32_t key, a, b;
};

static void op_encode(const struct op_cmd *o, uint8_t out[OP_BYTES])
{
    uint32_t magic = OP_MAGIC;
    memcpy(out, &magic, 4);
    memcpy(out + 4, &o->op_id, 8);
    out[12] = o->f;
    memcpy(out + 13, &o->key, 4);
    memcpy(out + 17, &o->a, 4);
    memcpy(out + 21, &o->b, 4);
}

static bool op_decode(const struct raft_entry *e, struct op_cmd *o)
{
    uint32_t magic;
    if (e->type != RAFT_ENTRY_COMMAND || e->len != OP_BYTES)
        return false;
    memcpy(&magic, e->data, 4);
    if (magic != OP_MAGIC)
        return false;
    memcpy(&o->op_id, e->data + 4, 8);
    o->f = e->data[12];
    memcpy(&o->key, e->data + 13, 4);
    memcpy(&o->a, e->data + 17, 4);
    memcpy(&o->b, e->data + 21, 4);
    return o->key >= 0 && o->key < CLUSTER_MAX_KEYS && o->f <= CLUSTER_CAS;
}

void cluster_sm_encode(const struct cluster_sm *sm, uint8_t **data, size_t *len)
{
    *len = sizeof *sm;
    *data = malloc(*len);
    if (!*data)
        abort();
    memcpy(*data, sm, *len);
}

void cluster_sm_decode(struct cluster_sm *sm, const uint8_t *data, size_t len)
{
    memset(sm, 0, sizeof *sm);
    if (data && len == sizeof *sm)
        memcpy(sm, data, len);
}

/* ---- pending operations ---- */

static void finish(struct cluster *c, size_t i, enum cluster_outcome outcome, int code,
                   int32_t value)
{
    struct cluster_completion done = c->ops[i].done;
    c->ops[i] = c->ops[--c->n_ops];
    done.outcome = outcome;
    done.code = code;
    done.value = value;
    done.ret_ms = c->now;
    if (c->on_complete)
        c->on_complete(c->on_complete_ctx, &done);
}

void cluster_sm_apply(struct cluster_node *nd, const struct raft_entry *e)
{
    struct cluster *c = nd->c;
    struct op_cmd o;
    bool is_op = op_decode(e, &o);
    enum cluster_outcome outcome = CLUSTER_OK;
    int code = CLUSTER_CODE_NONE;
    if (is_op) {
        struct cluster_sm *sm = &nd->sm;
        if (o.f == CLUSTER_WRITE) {
            sm->present[o.key] = true;
            sm->value[o.key] = o.a;
        } else if (o.f == CLUSTER_CAS) {
            if (!sm->present[o.key]) {
                outcome = CLUSTER_FAIL;
                code = CLUSTER_CODE_NO_KEY;
            } else if (sm->value[o.key] != o.a) {
                outcome = CLUSTER_FAIL;
                code = CLUSTER_CODE_PRECONDITION;
            } else {
                sm->value[o.key] = o.b;
            }
        }
    }
    for (size_t i = 0; i < c->n_ops; i++) {
        struct cluster_pending *p = &c->ops[i];
        if (p->is_read || p->done.node != nd->id || p->index != e->index)
            continue;
        if (is_op && o.op_id == p->done.op_id && e->term == p->term)
            finish(c, i, outcome, code, 0);
        else
            finish(c, i, CLUSTER_INFO, CLUSTER_CODE_UNKNOWN, 0); /* its index went to another */
        return;
    }
}

void cluster_reads_done(struct cluster_node *nd, const uint64_t *ids, size_t n, bool ok)
{
    struct cluster *c = nd->c;
    for (size_t k = 0; k < n; k++) {
        for (size_t i = 0; i < c->n_ops; i++) {
            struct cluster_pending *p = &c->ops[i];
            if (!p->is_read || p->done.op_id != ids[k] || p->done.node != nd->id)
                continue;
            int key = p->done.key;
            if (!ok)
                finish(c, i, CLUSTER_FAIL, CLUSTER_CODE_NOT_LEADER, 0);
            else if (!nd->sm.present[key])
                finish(c, i, CLUSTER_FAIL, CLUSTER_CODE_NO_KEY, 0);
            else
                finish(c, i, CLUSTER_OK, CLUSTER_CODE_NONE, nd->sm.value[key]);
            break;
        }
    }
}

void cluster_ops_node_snapshot(struct cluster_node *nd, raft_index snap_index)
{
    struct cluster *c = nd->c;
    for (size_t i = 0; i < c->n_ops;) {
        struct cluster_pending *p = &c->ops[i];
        if (!p->is_read && p->done.node == nd->id && p->index <= snap_index)
            finish(c, i, CLUSTER_INFO, CLUSTER_CODE_UNKNOWN, 0);
        else
            i++;
    }
}

void cluster_ops_node_crashed(struct cluster_node *nd)
{
    struct cluster *c = nd->c;
    for (size_t i = 0; i < c->n_ops;) {
        if (c->ops[i].done.node == nd->id)
            finish(c, i, CLUSTER_INFO, CLUSTER_CODE_UNKNOWN, 0);
        else
            i++;
    }
}

bool cluster_ops_next_deadline(const struct cluster *c, uint64_t *at)
{
    bool any = false;
    for (size_t i = 0; i < c->n_ops; i++) {
        uint64_t d = c->ops[i].deadline;
        if (d && (!any || d < *at)) {
            *at = d;
            any = true;
        }
    }
    return any;
}

void cluster_ops_expire(struct cluster *c)
{
    for (size_t i = 0; i < c->n_ops;) {
        if (c->ops[i].deadline && c->ops[i].deadline <= c->now)
            finish(c, i, CLUSTER_INFO, CLUSTER_CODE_TIMEOUT, 0);
        else
            i++;
    }
}

void cluster_ops_free(struct cluster *c)
{
    free(c->ops);
}

size_t cluster_pending_ops(const struct cluster *c)
{
    return c->n_ops;
}

uint64_t cluster_next_op_id(const struct cluster *c)
{
    return c->next_op_id;
}

void cluster_on_complete(struct cluster *c, cluster_complete_fn fn, void *ctx)
{
    c->on_complete = fn;
    c->on_complete_ctx = ctx;
}

static struct cluster_pending *add_op(struct cluster *c)
{
    if (c->n_ops == c->cap_ops) {
        c->cap_ops = c->cap_ops ? c->cap_ops * 2 : 32;
        c->ops = realloc(c->ops, c->cap_ops * sizeof *c->ops);
        if (!c->ops)
            abort();
    }
    struct cluster_pending *p = &c->ops[c->n_ops++];
    memset(p, 0, sizeof *p);
    return p;
}

uint64_t cluster_submit(struct cluster *c, int node, enum cluster_op_f f, int key, int32_t a,
                        int32_t b, uint64_t timeout_ms)
{
    uint64_t id = c->next_op_id++;
    struct cluster_pending *p = add_op(c);
    p->done = (struct cluster_completion){
        .op_id = id, .f = f, .node = node, .key = key, .a = a, .b = b, .call_ms = c->now};
    p->is_read = f == CLUSTER_READ;
    p->deadline = timeout_ms ? c->now + timeout_ms : 0;
    struct cluster_node *nd = &c->nodes[node];
    if (!nd->alive || key < 0 || key >= CLUSTER_MAX_KEYS) {
        finish(c, c->n_ops - 1, CLUSTER_FAIL, CLUSTER_CODE_NOT_LEADER, 0);
        return id;
    }
    struct raft_update u;
    struct raft_event ev = {.now_ms = c->now};
    int rc;
    if (f == CLUSTER_READ) {
        ev.type = RAFT_EVENT_READ;
        ev.read.n = 1;
        ev.read.ids = &id;
        rc = raft_step(nd->raft, &ev, &u); /* a refusal lists the id in reads_failed */
    } else {
        uint8_t bytes[OP_BYTES];
        struct op_cmd o = {.op_id = id, .f = (uint8_t)f, .key = key, .a = a, .b = b};
        op_encode(&o, bytes);
        const uint8_t *data = bytes;
        uint32_t len = OP_BYTES;
        ev.type = RAFT_EVENT_PROPOSE;
        ev.propose.n = 1;
        ev.propose.data = &data;
        ev.propose.len = &len;
        rc = raft_step(nd->raft, &ev, &u);
        if (rc == RAFT_OK) {
            /* find it again: add_op may not have moved, but be exact */
            for (size_t i = 0; i < c->n_ops; i++)
                if (c->ops[i].done.op_id == id) {
                    c->ops[i].index = u.proposed_first;
                    c->ops[i].term = u.proposed_term;
                }
        } else {
            for (size_t i = 0; i < c->n_ops; i++)
                if (c->ops[i].done.op_id == id) {
                    finish(c, i, CLUSTER_FAIL, CLUSTER_CODE_NOT_LEADER, 0);
                    break;
                }
        }
    }
    cluster_handle_update(nd, &u);
    cluster_safety_after_step(c);
    return id;
}
