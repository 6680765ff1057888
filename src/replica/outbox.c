/* outbox.c - what a batch produces, held until the batch is durable: deep
 * copies of the core's outgoing messages (the core's own buffers live only
 * until its next step) and the finished client requests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replica/replica_internal.h"

bool replica_grow(void **arr, size_t n, size_t *cap, size_t elem)
{
    if (n < *cap)
        return true;
    size_t ncap = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return false;
    *arr = p;
    *cap = ncap;
    return true;
}

/* ---- finished requests -------------------------------------------------- */

static struct finished *push_done(struct replica *r, uint64_t ref, enum replica_status st)
{
    if (!GROW(r->done, r->n_done, r->cap_done))
        return NULL; /* the client times out: allowed for every outcome */
    struct finished *f = &r->done[r->n_done++];
    memset(f, 0, sizeof *f);
    f->ref = ref;
    f->status = st;
    f->leader = RAFT_NO_NODE;
    if (st == REPLICA_INDEFINITE)
        r->stats.indefinite++;
    return f;
}

void replica_answer(struct replica *r, uint64_t ref, enum replica_status st, const char *why)
{
    struct finished *f = push_done(r, ref, st);
    if (!f)
        return;
    f->text = why;
    if (st == REPLICA_NOT_LEADER)
        f->leader = raft_leader(r->raft) == r->config.raft.id ? RAFT_NO_NODE
                                                              : raft_leader(r->raft);
}

void replica_answer_kv_error(struct replica *r, uint64_t ref, int code, const char *why)
{
    struct finished *f = push_done(r, ref, REPLICA_DONE);
    if (!f)
        return;
    f->kv.code = code;
    snprintf(f->kv.text, sizeof f->kv.text, "%s", why);
    f->text = why;
}

void replica_answer_kv(struct replica *r, uint64_t ref, struct kv_result *res)
{
    struct finished *f = push_done(r, ref, REPLICA_DONE);
    if (!f) {
        kv_result_release(res);
        return;
    }
    f->kv = *res; /* takes what it owns */
    f->text = "";
}

void replica_emit_done(struct replica *r)
{
    /* complete() may not call back into the replica's batch, but the array
     * is walked by index in case a transport submits from inside it. */
    for (size_t i = 0; i < r->n_done; i++) {
        struct finished f = r->done[i];
        struct replica_result res = {
            .status = f.status, .leader = f.leader, .kv = f.kv, .text = f.text};
        r->config.complete(r->config.ctx, f.ref, &res);
        kv_result_release(&f.kv);
    }
    r->n_done = 0;
}

/* ---- outgoing messages -------------------------------------------------- */

/* An APPEND keeps pointing at the core's log entries' bytes: only its entry
 * array is copied (the core's update arrays are reused at its next step),
 * not every entry's payload once per follower. The core frees an entry's
 * bytes only when it compacts or truncates it away, so before the message
 * goes out each entry is checked to be still in the log with the same
 * bytes (deliverable()); one that is not makes the message a lost one,
 * which Raft retransmits. */
static int copy_append(struct raft_msg *dst, const struct raft_msg *src)
{
    *dst = *src;
    dst->entries = NULL;
    dst->snap_data = NULL;
    dst->snap_conf = NULL;
    if (src->n_entries == 0)
        return RAFT_OK;
    dst->entries = malloc(src->n_entries * sizeof *src->entries);
    if (!dst->entries)
        return RAFT_ERR_NOMEM;
    memcpy(dst->entries, src->entries, src->n_entries * sizeof *src->entries);
    return RAFT_OK; /* raft_msg_release() frees the array, never the bytes */
}

/* Whether an outbox message may still go: an APPEND's entries are all in
 * the core's log, at the same bytes (the same index and term hold the same
 * entry: log matching, 5.3). */
static bool deliverable(struct replica *r, const struct raft_msg *m)
{
    if (m->type != RAFT_MSG_APPEND)
        return true;
    for (size_t i = 0; i < m->n_entries; i++) {
        const struct raft_entry *e = raft_entry_at(r->raft, m->entries[i].index);
        if (!e || e->data != m->entries[i].data || e->term != m->entries[i].term ||
            e->len != m->entries[i].len) {
            r->stats.appends_dropped++;
            return false;
        }
    }
    return true;
}

static void deliver(struct replica *r, const struct raft_msg *m)
{
    if (!deliverable(r, m))
        return;
    r->config.send(r->config.ctx, m);
    r->stats.messages_sent++;
}

void replica_outbox_push(struct replica *r, const struct raft_msg *m)
{
    if (!GROW(r->outbox, r->n_outbox, r->cap_outbox))
        return; /* a lost message: Raft retries */
    struct raft_msg *c = &r->outbox[r->n_outbox];
    int rc = m->type == RAFT_MSG_APPEND ? copy_append(c, m) : raft_msg_copy(c, m);
    if (rc != RAFT_OK)
        return;
    /* The core keeps no image when the store has it in a file: an
     * InstallSnapshot gets it here (a whole read of the file), unless the
     * transport streams it from the file (config.stream_snapshots). */
    const struct replica_log_store *store = r->config.store;
    if (c->type == RAFT_MSG_SNAPSHOT && c->snap_len == 0 && store && store->read_snapshot &&
        !r->config.stream_snapshots &&
        store->read_snapshot(store->impl, c->snap_index, &c->snap_data, &c->snap_len) != 0) {
        raft_msg_release(c);
        return; /* a lost message: the core sends the snapshot again */
    }
    r->n_outbox++;
}

void replica_held_send(struct replica *r)
{
    for (size_t i = 0; i < r->n_held; i++) {
        deliver(r, &r->held[i]);
        raft_msg_release(&r->held[i]);
    }
    r->n_held = 0;
}

void replica_outbox_send(struct replica *r)
{
    replica_held_send(r);
    for (size_t i = 0; i < r->n_outbox; i++)
        deliver(r, &r->outbox[i]);
    replica_outbox_clear(r);
}

void replica_outbox_hold(struct replica *r)
{
    for (size_t i = 0; i < r->n_outbox; i++) {
        if (!GROW(r->held, r->n_held, r->cap_held)) {
            raft_msg_release(&r->outbox[i]); /* a lost message: Raft retries */
            continue;
        }
        r->held[r->n_held++] = r->outbox[i];
    }
    r->n_outbox = 0;
}

/* Thesis 10.2.1: the leader's APPENDs may leave before its own sync. They
 * promise nothing about this node's disk (the core counts the leader only
 * once PERSISTED says so); a crash before the sync loses the entries here,
 * as if they had reached one follower fewer. Everything else (a vote, an
 * acknowledgement) stays until the sync. Order among what stays is kept. */
void replica_outbox_send_appends(struct replica *r)
{
    size_t kept = 0;
    for (size_t i = 0; i < r->n_outbox; i++) {
        struct raft_msg *m = &r->outbox[i];
        if (m->type == RAFT_MSG_APPEND) {
            deliver(r, m);
            raft_msg_release(m);
        } else {
            r->outbox[kept++] = *m;
        }
    }
    r->n_outbox = kept;
}

static void relend(struct raft_msg *m, size_t n_msgs, const struct raft_entry *lent,
                   const uint8_t *const *old, size_t n)
{
    for (size_t j = 0; j < n_msgs; j++) {
        if (m[j].type != RAFT_MSG_APPEND)
            continue;
        for (size_t i = 0; i < m[j].n_entries; i++) {
            struct raft_entry *e = &m[j].entries[i];
            raft_index k = e->index - lent[0].index;
            if (e->index >= lent[0].index && k < n && e->data == old[k] && e->len == lent[k].len)
                e->data = (uint8_t *)lent[k].data;
        }
    }
}

void replica_outbox_relend(struct replica *r, const struct raft_entry *lent,
                           const uint8_t *const *old, size_t n)
{
    if (n == 0)
        return;
    relend(r->outbox, r->n_outbox, lent, old, n);
    relend(r->held, r->n_held, lent, old, n);
}

void replica_outbox_clear(struct replica *r)
{
    for (size_t i = 0; i < r->n_outbox; i++)
        raft_msg_release(&r->outbox[i]);
    r->n_outbox = 0;
}

void replica_held_clear(struct replica *r)
{
    for (size_t i = 0; i < r->n_held; i++)
        raft_msg_release(&r->held[i]);
    r->n_held = 0;
}
