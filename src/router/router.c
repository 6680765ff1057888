/* router.c - the routing rules of router.h: operations by id, their
 * connections' order, the lists of operations waiting for a leader and of
 * operations forwarded, and the leader view they are routed by.
 *
 * An operation is in one state at a time:
 *   HELD       behind earlier operations of its connection (rule 6)
 *   WAITING    for a leader it can be sent to (rules 1 and 4); on `waiting`
 *   LOCAL      submitted to the local replica (rule 7)
 *   FORWARDED  sent to a leader; on `forwarded`, in deadline order
 * Its id is (gen << slot_bits | slot), slot_bits just enough for max_ops
 * slots, so ids stay short on the wire (the node writes them in decimal),
 * and below 2^53 (the node's peers refuse larger integers): an id holds
 * the low 53 - slot_bits bits of gen (at least 22). gen changes at every
 * dispatch, so an answer to an earlier attempt finds no operation (until
 * its slot was dispatched 2^22 times more).
 */
#include <stdlib.h>
#include <string.h>

#include "router/router.h"

enum op_state { OP_FREE, OP_HELD, OP_WAITING, OP_LOCAL, OP_FORWARDED };

/* Where an operation went (or would go): the local replica, or a leader in
 * a term. */
struct route {
    bool known;
    bool local;
    int leader;
    raft_term term;
};

struct router_op {
    uint32_t slot, gen;
    uint8_t state;
    uint8_t kind;
    uint8_t retries;   /* definite refusals routed again (rule 4) */
    uint64_t seq;      /* its number in its connection */
    bool refused;      /* waiting for a view other than `refused_by` */
    void *user;
    struct router_conn *conn;
    struct router_op *conn_prev, *conn_next;
    struct router_op *list_prev, *list_next; /* waiting or forwarded */
    struct route route;      /* LOCAL or FORWARDED: where it went */
    struct route refused_by; /* the view that refused it */
    uint64_t deadline;       /* WAITING, FORWARDED */
    /* FORWARDED: the view epoch and dispatch number it was sent under
     * (rule 3's wait for the leader's progress). */
    uint64_t epoch, sent_no;
};

struct op_list {
    struct router_op *head, *tail;
};

struct router {
    struct router_config c;
    unsigned slot_bits; /* of an id; slots never reach 1 << slot_bits */
    uint32_t gen_mask;  /* the bits of gen an id holds */
    struct router_op **slots;
    size_t cap, n_ops;
    uint32_t *free_slots;
    size_t n_free;
    struct op_list waiting, forwarded;
    struct route view;
    /* Rule 3's wait for progress: the view changes counted (an epoch);
     * the commit index last reported, and when it last grew within this
     * epoch (0: not yet); forwards numbered as they are sent, and the
     * latest number among the reads, and the writes, of this epoch
     * answered done. */
    uint64_t view_epoch;
    raft_index commit;
    uint64_t progress_ms;
    uint64_t sent_no, answered_no[ROUTER_KINDS]; /* [kind]: rules 3 and 9 */
    struct router_stats stats;
};

#define BROKEN_TEXT "an earlier write on this connection has an unknown outcome; not attempted"

/* Definite refusals routed again, at most, before the operation ends with
 * the last one. */
#define ROUTER_MAX_RETRIES 3

void router_config_default(struct router_config *c, int self, int n_nodes)
{
    memset(c, 0, sizeof *c);
    c->self = self;
    c->n_nodes = n_nodes;
    c->max_ops = 65536;
    c->leader_wait_ms = 1000;
    c->forward_timeout_ms = 1500;
}

struct router *router_new(const struct router_config *c)
{
    struct router *rt = calloc(1, sizeof *rt);
    if (!rt)
        return NULL;
    rt->c = *c;
    if (rt->c.long_forward_timeout_ms == 0)
        rt->c.long_forward_timeout_ms = rt->c.forward_timeout_ms;
    /* The table starts at 64 slots and doubles only while all are taken,
     * so it never outgrows max(64, max_ops) rounded up to a power of 2. */
    if (rt->c.max_ops > (size_t)1 << 31)
        rt->c.max_ops = (size_t)1 << 31;
    rt->slot_bits = 6;
    while (((size_t)1 << rt->slot_bits) < rt->c.max_ops)
        rt->slot_bits++;
    unsigned gen_bits = 53 - rt->slot_bits < 32 ? 53 - rt->slot_bits : 32;
    rt->gen_mask = (uint32_t)(((uint64_t)1 << gen_bits) - 1);
    return rt;
}

void router_free(struct router *rt)
{
    if (!rt)
        return;
    for (size_t i = 0; i < rt->cap; i++)
        free(rt->slots[i]);
    free(rt->slots);
    free(rt->free_slots);
    free(rt);
}

/* ---- lists ---------------------------------------------------------------- */

static void list_unlink(struct op_list *l, struct router_op *op)
{
    if (op->list_prev)
        op->list_prev->list_next = op->list_next;
    else
        l->head = op->list_next;
    if (op->list_next)
        op->list_next->list_prev = op->list_prev;
    else
        l->tail = op->list_prev;
    op->list_prev = op->list_next = NULL;
}

/* Insert keeping deadline order; deadlines mostly grow, so from the tail. */
static void list_insert(struct op_list *l, struct router_op *op)
{
    struct router_op *after = l->tail;
    while (after && after->deadline > op->deadline)
        after = after->list_prev;
    op->list_prev = after;
    op->list_next = after ? after->list_next : l->head;
    if (op->list_next)
        op->list_next->list_prev = op;
    else
        l->tail = op;
    if (after)
        after->list_next = op;
    else
        l->head = op;
}

static struct op_list *list_of(struct router *rt, const struct router_op *op)
{
    if (op->state == OP_WAITING)
        return &rt->waiting;
    if (op->state == OP_FORWARDED)
        return &rt->forwarded;
    return NULL;
}

static bool state_unsent(uint8_t state)
{
    return state == OP_HELD || state == OP_WAITING;
}

/* Leave WAITING or FORWARDED (if in either) for `state`, keeping the
 * connection's count of operations not sent. */
static void op_set_state(struct router *rt, struct router_op *op, enum op_state state)
{
    struct op_list *l = list_of(rt, op);
    if (l)
        list_unlink(l, op);
    if (op->conn)
        op->conn->unsent += (size_t)state_unsent((uint8_t)state) - (size_t)state_unsent(op->state);
    op->state = (uint8_t)state;
}

/* ---- operations ------------------------------------------------------------ */

static uint64_t op_id(const struct router *rt, const struct router_op *op)
{
    return ((uint64_t)(op->gen & rt->gen_mask) << rt->slot_bits) | op->slot;
}

static struct router_op *op_lookup(const struct router *rt, uint64_t id, enum op_state state)
{
    uint64_t slot = id & (((uint64_t)1 << rt->slot_bits) - 1);
    uint64_t gen = id >> rt->slot_bits;
    if (slot >= rt->cap || gen > rt->gen_mask)
        return NULL;
    struct router_op *op = rt->slots[slot];
    if (!op || op->state != state || (op->gen & rt->gen_mask) != (uint32_t)gen)
        return NULL;
    return op;
}

static struct router_op *op_alloc(struct router *rt)
{
    if (rt->n_ops >= rt->c.max_ops)
        return NULL;
    if (rt->n_free == 0) {
        size_t ncap = rt->cap ? rt->cap * 2 : 64;
        struct router_op **s = realloc(rt->slots, ncap * sizeof *s);
        if (!s)
            return NULL;
        rt->slots = s;
        uint32_t *f = realloc(rt->free_slots, ncap * sizeof *f);
        if (!f)
            return NULL;
        rt->free_slots = f;
        for (size_t i = rt->cap; i < ncap; i++)
            rt->slots[i] = NULL;
        for (size_t i = ncap; i > rt->cap; i--)
            rt->free_slots[rt->n_free++] = (uint32_t)(i - 1);
        rt->cap = ncap;
    }
    uint32_t slot = rt->free_slots[rt->n_free - 1];
    struct router_op *op = rt->slots[slot];
    if (!op) {
        op = calloc(1, sizeof *op);
        if (!op)
            return NULL;
        rt->slots[slot] = op;
    }
    rt->n_free--;
    uint32_t gen = op->gen + 1;
    memset(op, 0, sizeof *op);
    op->slot = slot;
    op->gen = gen;
    rt->n_ops++;
    return op;
}

static void conn_unlink(struct router_op *op)
{
    struct router_conn *c = op->conn;
    if (!c)
        return;
    if (op->conn_prev)
        op->conn_prev->conn_next = op->conn_next;
    else
        c->head = op->conn_next;
    if (op->conn_next)
        op->conn_next->conn_prev = op->conn_prev;
    else
        c->tail = op->conn_prev;
    op->conn_prev = op->conn_next = NULL;
    op->conn = NULL;
}

static void pump(struct router *rt, struct router_conn *conn, struct router_op *lone, uint64_t now);

/* The operation left the router: free its slot, and let its connection's
 * next operations go. */
static void op_end(struct router *rt, struct router_op *op, uint64_t now)
{
    struct router_conn *conn = op->conn;
    op_set_state(rt, op, OP_FREE);
    conn_unlink(op);
    op->user = NULL;
    rt->free_slots[rt->n_free++] = op->slot;
    rt->n_ops--;
    if (conn)
        pump(rt, conn, NULL, now);
}

/* The router ends it: the front end learns through config.finish. */
static void op_finish(struct router *rt, struct router_op *op, enum replica_status status,
                      const char *text, uint64_t now)
{
    if (status == REPLICA_INDEFINITE)
        rt->stats.ended_indefinite++;
    else
        rt->stats.ended_refused++;
    rt->c.finish(rt->c.ctx, op->user, status, text);
    op_end(rt, op, now);
}

/* ---- routing ------------------------------------------------------------------ */

/* Reads and long reads alike (rules 5 and 9). */
static bool op_reads(const struct router_op *op)
{
    return op->kind != ROUTER_WRITE;
}

/* How long a forward of it waits for an answer, or for more progress
 * (rules 3 and 9). */
static uint64_t forward_timeout(const struct router *rt, const struct router_op *op)
{
    return op->kind == ROUTER_READ_LONG ? rt->c.long_forward_timeout_ms : rt->c.forward_timeout_ms;
}

/* Rules 4 and 5: it may be sent again only while nothing after it on its
 * connection was sent. */
static bool may_resend(const struct router_op *op)
{
    return !op->conn || op->seq >= op->conn->last_sent;
}

static bool route_eq(const struct route *a, const struct route *b)
{
    if (a->known != b->known)
        return false;
    if (!a->known)
        return true;
    if (a->local || b->local)
        return a->local == b->local;
    return a->leader == b->leader && a->term == b->term;
}

/* Where `op` would go now: where the view says (or, for the deliberately
 * unsafe reads, the local replica). */
static const struct route *route_for(const struct router *rt, const struct router_op *op)
{
    static const struct route local = {.known = true, .local = true, .leader = RAFT_NO_NODE};
    return rt->c.unsafe_local_reads && op_reads(op) ? &local : &rt->view;
}

/* Rule 6 (and 9): whether `op` may fly together with `earlier`, an
 * operation of its connection in flight on `route`: same kind, same route,
 * and never a long read. */
static bool flies_with(const struct router_op *earlier, const struct router_op *op,
                       const struct route *route)
{
    return earlier->kind == op->kind && op->kind != ROUTER_READ_LONG &&
           route_eq(&earlier->route, route);
}

/* Send it where the view says; false if it could not go (no route, or the
 * forward could not be sent): the caller makes it wait. */
static bool dispatch(struct router *rt, struct router_op *op, uint64_t now)
{
    const struct route *r = route_for(rt, op);
    if (!r->known)
        return false;
    op->gen++; /* a new attempt: answers to earlier ones are stale */
    op->route = *r;
    if (op->conn && op->seq > op->conn->last_sent)
        op->conn->last_sent = op->seq;
    if (r->local) {
        op_set_state(rt, op, OP_LOCAL);
        rt->stats.local++;
        rt->c.submit(rt->c.ctx, op_id(rt, op), op->user);
        return true;
    }
    if (!rt->c.forward(rt->c.ctx, r->leader, r->term, op_id(rt, op), op->user))
        return false;
    op_set_state(rt, op, OP_FORWARDED);
    op->deadline = now + forward_timeout(rt, op);
    op->epoch = rt->view_epoch;
    op->sent_no = ++rt->sent_no;
    list_insert(&rt->forwarded, op);
    rt->stats.forwarded++;
    return true;
}

/* Make it wait for a leader (rules 1 and 4), keeping a deadline it already
 * has while it waits. */
static void wait_for_leader(struct router *rt, struct router_op *op, uint64_t now)
{
    if (op->state == OP_WAITING)
        return;
    op_set_state(rt, op, OP_WAITING);
    op->deadline = now + rt->c.leader_wait_ms;
    list_insert(&rt->waiting, op);
    rt->stats.waited_for_leader++;
}

/* Rule 6: send a connection's held operations that may go now, front to
 * back; with conn NULL, the one operation `lone`. */
static void pump(struct router *rt, struct router_conn *conn, struct router_op *lone, uint64_t now)
{
    if (!conn) {
        if (lone->state == OP_HELD && !dispatch(rt, lone, now))
            wait_for_leader(rt, lone, now);
        return;
    }
    if (conn->broken) {
        /* Rule 8: end the first one not sent; ending it pumps again. */
        for (struct router_op *op = conn->head; op; op = op->conn_next)
            if (state_unsent(op->state)) {
                op_finish(rt, op, REPLICA_UNAVAILABLE, BROKEN_TEXT, now);
                return;
            }
        return;
    }
    const struct router_op *front = NULL; /* the first one in flight */
    for (struct router_op *op = conn->head; op;) {
        struct router_op *next = op->conn_next;
        if (op->state == OP_LOCAL || op->state == OP_FORWARDED) {
            if (!front)
                front = op;
        } else if (op->state == OP_WAITING) {
            return;
        } else { /* HELD */
            if (front && !flies_with(front, op, route_for(rt, op)))
                return;
            if (!dispatch(rt, op, now)) {
                if (!front)
                    wait_for_leader(rt, op, now);
                return;
            }
            if (!front)
                front = op;
        }
        op = next;
    }
}

void router_submit(struct router *rt, struct router_conn *conn, enum router_kind kind, void *user,
                   uint64_t now_ms)
{
    if (conn && conn->broken) {
        rt->stats.ended_refused++;
        rt->c.finish(rt->c.ctx, user, REPLICA_UNAVAILABLE, BROKEN_TEXT);
        return;
    }
    struct router_op *op = op_alloc(rt);
    if (!op) {
        rt->stats.ended_refused++;
        rt->c.finish(rt->c.ctx, user, REPLICA_UNAVAILABLE, "too many requests in flight");
        return;
    }
    rt->stats.submitted++;
    /* A kind it does not know is taken as a write: the strictest rules. */
    op->kind = (uint8_t)((unsigned)kind < ROUTER_KINDS ? kind : ROUTER_WRITE);
    op->user = user;
    op->conn = conn;
    op_set_state(rt, op, OP_HELD);
    if (conn)
        op->seq = ++conn->next_seq;
    struct router_op *prev = conn ? conn->tail : NULL;
    if (conn) {
        op->conn_prev = prev;
        if (prev)
            prev->conn_next = op;
        else
            conn->head = op;
        conn->tail = op;
    }
    if (!prev) {
        pump(rt, conn, op, now_ms);
        return;
    }
    /* Behind others: when all of them were sent, the one before it says
     * whether this one may go too (rule 6), without walking the list. */
    if (conn->unsent == 1 && flies_with(prev, op, route_for(rt, op)) && dispatch(rt, op, now_ms))
        return;
    rt->stats.held++;
}

/* Let waiting operations go where the view now allows, oldest first. */
static void release_waiting(struct router *rt, uint64_t now)
{
    if (!rt->view.known || !rt->waiting.head)
        return;
    /* Take the list: operations that still cannot go wait again. */
    struct router_op *op = rt->waiting.head;
    size_t n = 0;
    for (struct router_op *o = op; o; o = o->list_next)
        n++;
    uint64_t *ids = malloc(n * sizeof *ids);
    if (!ids)
        return; /* tried again at the next view */
    n = 0;
    for (struct router_op *o = op; o; o = o->list_next)
        if (!o->refused || !route_eq(&o->refused_by, &rt->view))
            ids[n++] = op_id(rt, o);
    for (size_t i = 0; i < n; i++) {
        struct router_op *o = op_lookup(rt, ids[i], OP_WAITING);
        if (!o)
            continue; /* ended meanwhile */
        uint64_t deadline = o->deadline;
        op_set_state(rt, o, OP_HELD);
        o->refused = false;
        if (o->conn)
            pump(rt, o->conn, NULL, now);
        else
            pump(rt, NULL, o, now);
        if (o->state == OP_WAITING && o->deadline != deadline) {
            /* Still waiting: it keeps the deadline it had. */
            list_unlink(&rt->waiting, o);
            o->deadline = deadline;
            list_insert(&rt->waiting, o);
        } else if (o->state == OP_HELD && !o->conn) {
            wait_for_leader(rt, o, now);
        }
    }
    free(ids);
}

void router_view(struct router *rt, int leader, raft_term term, bool self_leads, uint64_t now_ms)
{
    struct route v = {.known = false};
    if (self_leads)
        v = (struct route){.known = true, .local = true, .term = term, .leader = rt->c.self};
    else if (leader >= 0 && leader < rt->c.n_nodes && leader != rt->c.self)
        v = (struct route){.known = true, .leader = leader, .term = term};
    bool changed = !route_eq(&v, &rt->view);
    rt->view = v;
    if (changed) {
        /* Rule 3: what was forwarded under the former view no longer waits
         * for progress, and progress is measured afresh. */
        rt->view_epoch++;
        rt->progress_ms = 0;
        /* Rules 3 and 5: what went to a former leader. The list may lose
         * several members per step (a connection's next operations go out
         * as one ends), so walk it by id snapshots. */
        size_t n = 0;
        for (struct router_op *o = rt->forwarded.head; o; o = o->list_next)
            n += !route_eq(&o->route, &v);
        uint64_t *ids = n ? malloc(n * sizeof *ids) : NULL;
        if (n && !ids)
            n = 0; /* they time out instead */
        size_t k = 0;
        for (struct router_op *o = rt->forwarded.head; o && k < n; o = o->list_next)
            if (!route_eq(&o->route, &v))
                ids[k++] = op_id(rt, o);
        /* Reads first go back to HELD (all of a connection's at once,
         * so none of them is sent again ahead of an earlier one). */
        for (size_t i = 0; i < k; i++) {
            struct router_op *o = op_lookup(rt, ids[i], OP_FORWARDED);
            if (o && op_reads(o) && may_resend(o)) {
                op_set_state(rt, o, OP_HELD);
                rt->stats.rerouted++;
            }
        }
        for (size_t i = 0; i < k; i++) {
            struct router_op *o = op_lookup(rt, ids[i], OP_FORWARDED);
            if (o && op_reads(o))
                op_finish(rt, o, REPLICA_UNAVAILABLE,
                          "the leader changed; a read changes nothing", now_ms);
            else if (o && !rt->c.await_former_leader)
                op_finish(rt, o, REPLICA_INDEFINITE, "the leader changed; outcome unknown", now_ms);
        }
        for (size_t i = 0; i < k; i++) {
            struct router_op *o = op_lookup(rt, ids[i], OP_HELD);
            if (!o)
                continue;
            if (o->conn)
                pump(rt, o->conn, NULL, now_ms);
            else
                pump(rt, NULL, o, now_ms);
        }
        free(ids);
    }
    release_waiting(rt, now_ms);
}

/* Growth counts for the current view's forwards only: progress_ms starts
 * afresh at every view change, and forwards exist only under a remote
 * leader's view. */
void router_progress(struct router *rt, raft_index commit_index, uint64_t now_ms)
{
    if (commit_index > rt->commit)
        rt->progress_ms = now_ms;
    rt->commit = commit_index;
}

/* Rules 3 and 5: a forward whose deadline came waits on while its view's
 * leader still makes progress and nothing says its answer was lost. */
static bool waits_for_progress(const struct router *rt, const struct router_op *op, uint64_t now)
{
    return op->epoch == rt->view_epoch && op->sent_no > rt->answered_no[op->kind] &&
           rt->progress_ms != 0 &&
           rt->progress_ms + forward_timeout(rt, op) > now;
}

/* An answer for the attempt `op`: end it, or route it again (rule 4). */
static bool answered(struct router *rt, struct router_op *op, enum replica_status status,
                     uint64_t now)
{
    /* Rules 3 and 5: an answer of the view's leader is its progress too
     * (its commit index may stand still while it applies a backlog that
     * every client waits for); and it answers a view's writes in log order
     * and its reads, and its long reads, in arrival order (rule 9), so those
     * of the same kind sent before this one and still unanswered will get
     * no answer. */
    if (status == REPLICA_DONE && op->state == OP_FORWARDED && op->epoch == rt->view_epoch) {
        rt->progress_ms = now;
        if (op->sent_no > rt->answered_no[op->kind])
            rt->answered_no[op->kind] = op->sent_no;
    }
    if (status == REPLICA_NOT_LEADER && op->retries < ROUTER_MAX_RETRIES && may_resend(op)) {
        op->retries++;
        rt->stats.rerouted++;
        op->refused = true;
        op->refused_by = op->route;
        op_set_state(rt, op, OP_HELD);
        op->gen++; /* nothing more is expected from that attempt */
        wait_for_leader(rt, op, now);
        /* The view may already differ from the one that refused it. */
        if (!route_eq(&op->refused_by, &rt->view))
            release_waiting(rt, now);
        return false;
    }
    /* Rule 8: the replica times out what it appended as INDEFINITE. */
    if (status == REPLICA_INDEFINITE && op->kind == ROUTER_WRITE && op->conn)
        op->conn->broken = true;
    op_end(rt, op, now);
    return true;
}

bool router_local_done(struct router *rt, uint64_t id, enum replica_status status, uint64_t now_ms)
{
    struct router_op *op = op_lookup(rt, id, OP_LOCAL);
    return op ? answered(rt, op, status, now_ms) : false;
}

bool router_forward_done(struct router *rt, uint64_t id, enum replica_status status,
                         uint64_t now_ms)
{
    struct router_op *op = op_lookup(rt, id, OP_FORWARDED);
    if (!op)
        return false;
    if ((unsigned)status > REPLICA_INDEFINITE)
        status = REPLICA_INDEFINITE;
    return answered(rt, op, status, now_ms);
}

void *router_forwarded_user(const struct router *rt, uint64_t id)
{
    const struct router_op *op = op_lookup(rt, id, OP_FORWARDED);
    return op ? op->user : NULL;
}

void router_conn_close(struct router *rt, struct router_conn *conn)
{
    /* Detach everything first, so ending one releases nothing else. */
    struct router_op *op = conn->head;
    conn->head = conn->tail = NULL;
    while (op) {
        struct router_op *next = op->conn_next;
        op->conn = NULL;
        op->conn_prev = op->conn_next = NULL;
        if (op->state == OP_HELD || op->state == OP_WAITING)
            op_finish(rt, op, REPLICA_UNAVAILABLE, "connection closed", 0);
        op = next;
    }
}

void router_tick(struct router *rt, uint64_t now_ms)
{
    while (rt->forwarded.head && rt->forwarded.head->deadline <= now_ms) {
        struct router_op *op = rt->forwarded.head;
        if (waits_for_progress(rt, op, now_ms)) {
            list_unlink(&rt->forwarded, op);
            op->deadline = rt->progress_ms + forward_timeout(rt, op);
            list_insert(&rt->forwarded, op);
            rt->stats.waited_for_progress++;
            continue;
        }
        if (op_reads(op))
            op_finish(rt, op, REPLICA_UNAVAILABLE,
                      "no answer from the leader; a read changes nothing", now_ms);
        else {
            if (op->conn)
                op->conn->broken = true; /* rule 8 */
            op_finish(rt, op, REPLICA_INDEFINITE, "no answer from the leader; outcome unknown",
                      now_ms);
        }
    }
    while (rt->waiting.head && rt->waiting.head->deadline <= now_ms) {
        struct router_op *op = rt->waiting.head;
        op_finish(rt, op, REPLICA_NOT_LEADER,
                  op->refused ? "refused by the leader; no other leader in time"
                              : "no leader reachable in time; not attempted",
                  now_ms);
    }
}

uint64_t router_deadline(const struct router *rt)
{
    uint64_t a = rt->forwarded.head ? rt->forwarded.head->deadline : UINT64_MAX;
    uint64_t b = rt->waiting.head ? rt->waiting.head->deadline : UINT64_MAX;
    return a < b ? a : b;
}

void router_abort_all(struct router *rt, const char *text)
{
    /* No operation may be sent anywhere while this runs. */
    rt->view.known = false;
    for (size_t i = 0; i < rt->cap; i++) {
        struct router_op *op = rt->slots[i];
        if (!op || op->state == OP_FREE)
            continue;
        bool sent = op->state == OP_LOCAL || op->state == OP_FORWARDED;
        op_finish(rt, op, sent && op->kind == ROUTER_WRITE ? REPLICA_INDEFINITE : REPLICA_UNAVAILABLE,
                  text, 0);
    }
}

size_t router_ops(const struct router *rt)
{
    return rt->n_ops;
}

void router_stats(const struct router *rt, struct router_stats *out)
{
    *out = rt->stats;
}
