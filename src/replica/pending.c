/* pending.c - the bounded tables of requests in flight: proposals by log
 * index, reads by id, both FIFO in arrival order so that the timeout sweep
 * looks at the front only. */
#include <string.h>

#include "replica/replica_internal.h"

/* Make room at the tail of a FIFO, sliding live items to the front first. */
static bool fifo_room(void **items, size_t *head, size_t *tail, size_t *cap, size_t elem)
{
    if (*head > 0 && (*tail == *cap || *head >= *cap / 2)) {
        memmove(*items, (char *)*items + *head * elem, (*tail - *head) * elem);
        *tail -= *head;
        *head = 0;
    }
    return replica_grow(items, *tail, cap, elem);
}

/* ---- proposals ---------------------------------------------------------- */

void replica_supersede(struct replica *r, raft_index first)
{
    struct proposal_table *t = &r->proposals;
    while (t->tail > t->head && t->items[t->tail - 1].index >= first) {
        t->tail--;
        kv_command_release(&t->items[t->tail].cmd);
        replica_answer(r, t->items[t->tail].ref, REPLICA_INDEFINITE,
                       "superseded by a later leader");
    }
}

void replica_track_proposal(struct replica *r, uint64_t ref, raft_index index, raft_term term,
                            uint64_t at, struct kv_command *cmd)
{
    struct proposal_table *t = &r->proposals;
    if (!fifo_room((void **)&t->items, &t->head, &t->tail, &t->cap, sizeof *t->items)) {
        kv_command_release(cmd);
        /* Appended but untracked: the client must not learn a definite answer. */
        replica_answer(r, ref, REPLICA_INDEFINITE, "out of memory");
        return;
    }
    t->items[t->tail++] = (struct pending_proposal){
        .index = index, .term = term, .ref = ref, .at = at, .cmd = *cmd};
    memset(cmd, 0, sizeof *cmd);
}

const struct kv_command *replica_proposed_command(struct replica *r, raft_index index,
                                                  raft_term term)
{
    /* Applying settles every proposal at or below each index, so the one
     * for this index, if still here, is at the front. */
    struct proposal_table *t = &r->proposals;
    if (t->head == t->tail)
        return NULL;
    const struct pending_proposal *p = &t->items[t->head];
    return p->index == index && p->term == term && p->cmd.key ? &p->cmd : NULL;
}

void replica_settle_proposals(struct replica *r, raft_index index, raft_term term,
                              const struct kv_result *res)
{
    struct proposal_table *t = &r->proposals;
    while (t->head < t->tail && t->items[t->head].index <= index) {
        struct pending_proposal *p = &t->items[t->head++];
        kv_command_release(&p->cmd);
        if (p->index == index && p->term == term && res) {
            struct kv_result copy;
            if (kv_result_copy(&copy, res) == 0)
                replica_answer_kv(r, p->ref, &copy);
            else
                replica_answer(r, p->ref, REPLICA_INDEFINITE, "out of memory");
        } else {
            /* Another entry took its place (or a snapshot skipped it). */
            replica_answer(r, p->ref, REPLICA_INDEFINITE, "lost leadership");
        }
    }
    if (t->head == t->tail)
        t->head = t->tail = 0;
}

/* ---- reads -------------------------------------------------------------- */

int replica_track_read(struct replica *r, uint64_t ref, struct kv_command *cmd, uint64_t at,
                       uint64_t *id)
{
    struct read_table *t = &r->reads;
    if (!fifo_room((void **)&t->items, &t->head, &t->tail, &t->cap, sizeof *t->items))
        return -1;
    *id = r->next_read_id++;
    t->items[t->tail++] = (struct pending_read){.id = *id, .ref = ref, .cmd = *cmd, .at = at};
    memset(cmd, 0, sizeof *cmd);
    return 0;
}

struct pending_read *replica_find_read(struct replica *r, uint64_t id)
{
    struct read_table *t = &r->reads;
    size_t lo = t->head, hi = t->tail;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->items[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < t->tail && t->items[lo].id == id && !t->items[lo].done)
        return &t->items[lo];
    return NULL;
}

void replica_pop_done_reads(struct replica *r)
{
    struct read_table *t = &r->reads;
    while (t->head < t->tail && t->items[t->head].done)
        t->head++;
    if (t->head == t->tail)
        t->head = t->tail = 0;
}

static void read_fail(struct replica *r, struct pending_read *p, const char *why)
{
    bool leader = raft_role(r->raft) == RAFT_LEADER;
    replica_answer(r, p->ref, leader ? REPLICA_UNAVAILABLE : REPLICA_NOT_LEADER, why);
    kv_command_release(&p->cmd);
    p->done = true;
}

void replica_fail_reads_from(struct replica *r, uint64_t first_id, const char *why)
{
    struct read_table *t = &r->reads;
    for (size_t i = t->head; i < t->tail; i++)
        if (t->items[i].id >= first_id && !t->items[i].done)
            read_fail(r, &t->items[i], why);
    replica_pop_done_reads(r);
}

/* ---- timeouts ----------------------------------------------------------- */

/* The first proposal not known committed: the table is sorted by index and
 * everything up to apply_to is committed (the core hands out its commit
 * index at once), so the committed ones are a prefix. Each of those is
 * answered when applied: with its result if the entry there is the one it
 * proposed (same term), INDEFINITE ("lost leadership") if another leader's
 * entry took the index. Either way applying answers it, so none times out:
 * a committed write's outcome is certain, and answering it -UNCERTAIN
 * because applying is slow would be wrong. */
static size_t first_uncommitted(const struct replica *r)
{
    const struct proposal_table *t = &r->proposals;
    size_t lo = t->head, hi = t->tail;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->items[mid].index <= r->apply_to)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The first read the sweep may time out: neither answered nor confirmed
 * (a confirmed one waits for applying only, which answers it). */
static size_t first_unconfirmed_read(const struct read_table *t, size_t from)
{
    while (from < t->tail && (t->items[from].done || t->items[from].confirmed))
        from++;
    return from;
}

/* When an uncommitted proposal times out: request_timeout_ms after it was
 * made or after the commit index last moved, whichever is later (a leader
 * still committing gets to it). Proposals are in arrival order, so this is
 * monotone along the table. */
static uint64_t proposal_expiry(const struct replica *r, const struct pending_proposal *p)
{
    uint64_t from = p->at > r->commit_moved_ms ? p->at : r->commit_moved_ms;
    return from + r->config.request_timeout_ms;
}

void replica_expire(struct replica *r, uint64_t now_ms)
{
    uint64_t limit = r->config.request_timeout_ms;
    struct proposal_table *pt = &r->proposals;
    size_t from = first_uncommitted(r), to = from;
    while (to < pt->tail && proposal_expiry(r, &pt->items[to]) <= now_ms) {
        struct pending_proposal *p = &pt->items[to++];
        kv_command_release(&p->cmd);
        replica_answer(r, p->ref, REPLICA_INDEFINITE, "timed out");
    }
    if (to > from) { /* close the gap behind the committed prefix */
        memmove(&pt->items[from], &pt->items[to], (pt->tail - to) * sizeof *pt->items);
        pt->tail -= to - from;
    }
    if (pt->head == pt->tail)
        pt->head = pt->tail = 0;
    struct read_table *rt = &r->reads;
    for (size_t i = first_unconfirmed_read(rt, rt->head);
         i < rt->tail && rt->items[i].at + limit <= now_ms; i = first_unconfirmed_read(rt, i + 1))
        read_fail(r, &rt->items[i], "read not confirmed in time");
    replica_pop_done_reads(r);
}

uint64_t replica_expire_deadline(const struct replica *r)
{
    uint64_t d = UINT64_MAX, t = r->config.request_timeout_ms;
    size_t p = first_uncommitted(r);
    if (p < r->proposals.tail)
        d = proposal_expiry(r, &r->proposals.items[p]);
    size_t q = first_unconfirmed_read(&r->reads, r->reads.head);
    if (q < r->reads.tail && r->reads.items[q].at + t < d)
        d = r->reads.items[q].at + t;
    return d;
}
