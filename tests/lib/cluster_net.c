/* cluster_net.c - the test cluster's network: per-link latency, loss,
 * duplication, reordering and cuts, partition shapes, and the time-ordered
 * queue of messages in flight (a binary heap on (arrival, send order)).
 */
#include <stdlib.h>
#include <string.h>

#include "cluster_private.h"

void cluster_net_init(struct cluster *c)
{
    struct cluster_link l = {.dist = CLUSTER_CONSTANT, .latency_ms = 1};
    cluster_set_all_links(c, &l);
}

struct cluster_link *cluster_link(struct cluster *c, int from, int to)
{
    return &c->links[from][to];
}

void cluster_set_all_links(struct cluster *c, const struct cluster_link *link)
{
    for (int i = 0; i < c->n; i++)
        for (int j = 0; j < c->n; j++)
            c->links[i][j] = *link;
}

void cluster_connect(struct cluster *c, int a, int b, bool connected)
{
    c->links[a][b].cut = !connected;
    c->links[b][a].cut = !connected;
}

void cluster_heal(struct cluster *c)
{
    for (int i = 0; i < c->n; i++)
        for (int j = 0; j < c->n; j++)
            c->links[i][j].cut = false;
}

void cluster_isolate(struct cluster *c, int node)
{
    cluster_heal(c);
    for (int i = 0; i < c->n; i++)
        if (i != node)
            cluster_connect(c, node, i, false);
}

void cluster_partition_halves(struct cluster *c, uint32_t side_mask)
{
    cluster_heal(c);
    for (int i = 0; i < c->n; i++)
        for (int j = 0; j < c->n; j++)
            if (((side_mask >> i) & 1) != ((side_mask >> j) & 1))
                c->links[i][j].cut = true;
}

void cluster_partition_majority_ring(struct cluster *c, uint32_t order_seed)
{
    /* A random ring order; each node sees its ring neighbours up to
     * ceil(n/4) steps either way, so with itself it sees a majority, and
     * neighbours' majorities differ (links stay symmetric). */
    int order[RAFT_MAX_NODES];
    struct rng g;
    rng_seed(&g, order_seed);
    for (int i = 0; i < c->n; i++)
        order[i] = i;
    for (int i = c->n - 1; i > 0; i--) {
        int j = (int)rng_below(&g, (uint64_t)i + 1);
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int i = 0; i < c->n; i++)
        for (int j = 0; j < c->n; j++)
            c->links[i][j].cut = true;
    int reach = c->n / 2; /* each node plus `reach` neighbours: a majority */
    for (int p = 0; p < c->n; p++) {
        c->links[order[p]][order[p]].cut = false;
        for (int k = 1; k <= reach / 2 + (reach % 2); k++) {
            int q = (p + k) % c->n;
            cluster_connect(c, order[p], order[q], true);
        }
    }
}

void cluster_partition_bridge(struct cluster *c, int bridge)
{
    /* Nodes other than the bridge split into two halves by id order; the
     * bridge sees everyone. */
    uint32_t mask = 0;
    int k = 0, others = c->n - 1;
    for (int i = 0; i < c->n; i++) {
        if (i == bridge)
            continue;
        if (k++ < others / 2)
            mask |= 1u << i;
    }
    cluster_partition_halves(c, mask);
    for (int i = 0; i < c->n; i++)
        if (i != bridge)
            cluster_connect(c, bridge, i, true);
}

/* ---- the heap ---- */

static bool earlier(const struct cluster_flight *a, const struct cluster_flight *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void heap_push(struct cluster *c, const struct cluster_flight *f)
{
    if (c->n_heap == c->cap_heap) {
        c->cap_heap = c->cap_heap ? c->cap_heap * 2 : 256;
        c->heap = realloc(c->heap, c->cap_heap * sizeof *c->heap);
        if (!c->heap)
            abort();
    }
    size_t i = c->n_heap++;
    c->heap[i] = *f;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!earlier(&c->heap[i], &c->heap[p]))
            break;
        struct cluster_flight t = c->heap[i];
        c->heap[i] = c->heap[p];
        c->heap[p] = t;
        i = p;
    }
}

bool cluster_net_peek(const struct cluster *c, uint64_t *at)
{
    if (!c->n_heap)
        return false;
    *at = c->heap[0].at;
    return true;
}

bool cluster_net_pop(struct cluster *c, struct cluster_flight *out)
{
    if (!c->n_heap)
        return false;
    *out = c->heap[0];
    c->heap[0] = c->heap[--c->n_heap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < c->n_heap && earlier(&c->heap[l], &c->heap[m]))
            m = l;
        if (r < c->n_heap && earlier(&c->heap[r], &c->heap[m]))
            m = r;
        if (m == i)
            break;
        struct cluster_flight t = c->heap[i];
        c->heap[i] = c->heap[m];
        c->heap[m] = t;
        i = m;
    }
    return true;
}

void cluster_flight_free(struct cluster_flight *f)
{
    raft_msg_release(&f->msg);
}

size_t cluster_in_flight(const struct cluster *c)
{
    return c->n_heap;
}

void cluster_drop_in_flight(struct cluster *c)
{
    struct cluster_flight f;
    while (cluster_net_pop(c, &f))
        cluster_flight_free(&f);
}

void cluster_net_free(struct cluster *c)
{
    cluster_drop_in_flight(c);
    free(c->heap);
}

/* ---- sending ---- */

static uint64_t draw_latency(struct cluster *c, const struct cluster_link *l)
{
    double ms = l->latency_ms;
    switch (l->dist) {
    case CLUSTER_CONSTANT:
        break;
    case CLUSTER_UNIFORM:
        ms = rng_double(&c->rng) * 2 * l->latency_ms;
        break;
    case CLUSTER_EXPONENTIAL:
        ms = rng_exponential(&c->rng, l->latency_ms);
        break;
    }
    if (l->reorder > 0 && rng_double(&c->rng) < l->reorder)
        ms += rng_double(&c->rng) * 4 * (l->latency_ms > 1 ? l->latency_ms : 1);
    return (uint64_t)(ms + 0.5);
}

void cluster_net_send(struct cluster *c, const struct raft_msg *m)
{
    if ((unsigned)m->type < RAFT_MSG_TYPE_COUNT) {
        c->msgs_sent[m->type]++;
        if (m->to >= 0 && m->to < c->n)
            c->msgs_sent_to[m->to][m->type]++;
    }
    if (m->type == RAFT_MSG_APPEND && m->n_entries > c->max_entries_in_append)
        c->max_entries_in_append = m->n_entries;
    if (m->to < 0 || m->to >= c->n || m->from < 0 || m->from >= c->n) {
        cluster_fail(c, "message %s addressed from n%d to n%d", raft_msg_type_name(m->type),
                     m->from, m->to);
        return;
    }
    const struct cluster_link *l = &c->links[m->from][m->to];
    if (l->cut)
        return;
    if (l->drop > 0 && rng_double(&c->rng) < l->drop)
        return;
    int copies = l->duplicate > 0 && rng_double(&c->rng) < l->duplicate ? 2 : 1;
    for (int k = 0; k < copies; k++) {
        struct cluster_flight f;
        f.at = c->now + draw_latency(c, l);
        f.seq = c->send_seq++;
        if (raft_msg_copy(&f.msg, m) != RAFT_OK)
            abort();
        heap_push(c, &f);
    }
}
