/* cluster_safety.c - Raft's safety properties (Figure 3.2 of the thesis),
 * checked by the test cluster as the run goes:
 *   election safety       at most one leader per term, ever;
 *   leader append-only    a leader never overwrites or deletes its entries;
 *   log matching          two logs holding an entry of the same index and
 *                         term agree on everything before it; checked
 *                         incrementally: every persisted (index, term) must
 *                         always come with the same payload and the same
 *                         term at index-1, which by induction is the same;
 *   leader completeness   a new leader holds every entry applied anywhere;
 *   state machine safety  no two nodes apply different entries at an index.
 */
#include <stdlib.h>
#include <string.h>

#include "cluster_private.h"

uint64_t cluster_entry_hash(const struct raft_entry *e)
{
    uint64_t h = 1469598103934665603ULL;
    h = (h ^ e->type) * 1099511628211ULL;
    h = (h ^ e->len) * 1099511628211ULL;
    for (uint32_t i = 0; i < e->len; i++)
        h = (h ^ e->data[i]) * 1099511628211ULL;
    return h;
}

static size_t slot_of(raft_index index, raft_term term, size_t cap)
{
    uint64_t k = index * 0x9e3779b97f4a7c15ULL ^ (term + 0x632be59bd9b4e019ULL) * 0xbf58476d1ce4e5b9ULL;
    return (size_t)(k ^ (k >> 29)) & (cap - 1);
}

static void map_grow(struct cluster *c)
{
    size_t cap = c->cap_entry_map ? c->cap_entry_map * 2 : 1024;
    struct cluster_entry_rec *m = calloc(cap, sizeof *m);
    if (!m)
        abort();
    for (size_t i = 0; i < c->cap_entry_map; i++) {
        struct cluster_entry_rec *r = &c->entry_map[i];
        if (!r->index)
            continue;
        size_t s = slot_of(r->index, r->term, cap);
        while (m[s].index)
            s = (s + 1) & (cap - 1);
        m[s] = *r;
    }
    free(c->entry_map);
    c->entry_map = m;
    c->cap_entry_map = cap;
}

void cluster_safety_persisted(struct cluster_node *nd, const struct raft_entry *e,
                              raft_term prev_term)
{
    struct cluster *c = nd->c;
    if (e->index == 0 || e->term == 0) {
        cluster_fail(c, "n%d persisted an entry with index %llu term %llu", nd->id,
                     (unsigned long long)e->index, (unsigned long long)e->term);
        return;
    }
    if ((c->n_entry_map + 1) * 2 > c->cap_entry_map)
        map_grow(c);
    uint64_t h = cluster_entry_hash(e);
    size_t s = slot_of(e->index, e->term, c->cap_entry_map);
    while (c->entry_map[s].index) {
        struct cluster_entry_rec *r = &c->entry_map[s];
        if (r->index == e->index && r->term == e->term) {
            if (r->hash != h || r->prev_term != prev_term)
                cluster_fail(c,
                             "log matching: n%d holds (%llu, term %llu) after term %llu, "
                             "another log after term %llu%s",
                             nd->id, (unsigned long long)e->index, (unsigned long long)e->term,
                             (unsigned long long)prev_term, (unsigned long long)r->prev_term,
                             r->hash != h ? ", with a different payload" : "");
            return;
        }
        s = (s + 1) & (c->cap_entry_map - 1);
    }
    c->entry_map[s] = (struct cluster_entry_rec){e->index, e->term, prev_term, h};
    c->n_entry_map++;
}

static struct cluster_applied_rec *applied_at(struct cluster *c, raft_index index)
{
    if (index >= c->cap_applied) {
        size_t cap = c->cap_applied ? c->cap_applied : 1024;
        while (cap <= index)
            cap *= 2;
        struct cluster_applied_rec *a = realloc(c->applied, cap * sizeof *a);
        if (!a)
            abort();
        memset(a + c->cap_applied, 0, (cap - c->cap_applied) * sizeof *a);
        c->applied = a;
        c->cap_applied = cap;
    }
    return &c->applied[index];
}

void cluster_safety_applied(struct cluster_node *nd, const struct raft_entry *e)
{
    struct cluster *c = nd->c;
    if (e->index > c->max_leader_commit) {
        cluster_fail(c, "n%d applied %llu, past every leader's commit index (%llu)", nd->id,
                     (unsigned long long)e->index, (unsigned long long)c->max_leader_commit);
        return;
    }
    struct cluster_applied_rec *a = applied_at(c, e->index);
    uint64_t h = cluster_entry_hash(e);
    if (!a->term) {
        a->term = e->term;
        a->hash = h;
        if (e->index > c->max_applied)
            c->max_applied = e->index;
    } else if (a->term != e->term || a->hash != h) {
        cluster_fail(c, "state machine safety: n%d applied term %llu at %llu, another node term %llu",
                     nd->id, (unsigned long long)e->term, (unsigned long long)e->index,
                     (unsigned long long)a->term);
    }
}

void cluster_safety_snapshot_applied(struct cluster_node *nd, raft_index index, raft_term term)
{
    struct cluster *c = nd->c;
    struct cluster_applied_rec *a = applied_at(c, index);
    if (a->term && a->term != term)
        cluster_fail(c, "state machine safety: n%d installed a snapshot at %llu term %llu, "
                        "applied elsewhere in term %llu",
                     nd->id, (unsigned long long)index, (unsigned long long)term,
                     (unsigned long long)a->term);
}

static void check_new_leader(struct cluster *c, struct cluster_node *nd, raft_term term)
{
    if (term >= c->cap_terms) {
        size_t cap = c->cap_terms ? c->cap_terms : 64;
        while (cap <= term)
            cap *= 2;
        int *lot = realloc(c->leader_of_term, cap * sizeof *lot);
        if (!lot)
            abort();
        for (size_t i = c->cap_terms; i < cap; i++)
            lot[i] = -1;
        c->leader_of_term = lot;
        c->cap_terms = cap;
    }
    if (c->leader_of_term[term] >= 0 && c->leader_of_term[term] != nd->id) {
        cluster_fail(c, "election safety: n%d and n%d both led term %llu",
                     c->leader_of_term[term], nd->id, (unsigned long long)term);
        return;
    }
    c->leader_of_term[term] = nd->id;
    raft_index last = raft_last_index(nd->raft);
    for (raft_index i = 1; i <= c->max_applied; i++) {
        const struct cluster_applied_rec *a = &c->applied[i];
        if (!a->term)
            continue;
        if (i > last) {
            cluster_fail(c, "leader completeness: n%d leads term %llu without committed %llu",
                         nd->id, (unsigned long long)term, (unsigned long long)i);
            return;
        }
        const struct raft_entry *e = raft_entry_at(nd->raft, i);
        if (e && (e->term != a->term || cluster_entry_hash(e) != a->hash)) {
            cluster_fail(c,
                         "leader completeness: n%d leads term %llu with term %llu at %llu, "
                         "committed term %llu",
                         nd->id, (unsigned long long)term, (unsigned long long)e->term,
                         (unsigned long long)i, (unsigned long long)a->term);
            return;
        }
    }
}

/* Thesis 4.1: a leader starts a change only once the previous one
 * committed, so past the highest commit index any node reached, a leader's
 * log holds at most one CONFIG entry. The entries from `from` on are new to
 * this check (a leader only appends). */
static void check_one_change(struct cluster *c, struct cluster_node *nd, raft_index from)
{
    raft_index last = raft_last_index(nd->raft);
    if (from <= c->max_commit)
        from = c->max_commit + 1;
    for (raft_index i = from; i <= last; i++) {
        const struct raft_entry *e = raft_entry_at(nd->raft, i);
        if (!e || e->type != RAFT_ENTRY_CONFIG)
            continue;
        if (nd->lead_conf_index > c->max_commit) {
            cluster_fail(c, "one change at a time: n%d leads term %llu with CONFIG entries at "
                            "%llu and %llu past commit %llu",
                         nd->id, (unsigned long long)raft_current_term(nd->raft),
                         (unsigned long long)nd->lead_conf_index, (unsigned long long)i,
                         (unsigned long long)c->max_commit);
            return;
        }
        nd->lead_conf_index = i;
    }
}

/* The log's accounting (src/raft/log.c): once nothing dropped is left to
 * sweep, raft_log_bytes() is the entries in memory, a record and a payload
 * each, and raft_log_lent_bytes() the lent payloads among them. Checked
 * when a sweep just ended, and after every step while the log is short. */
static void check_log_bytes(struct cluster *c, struct cluster_node *nd)
{
    size_t dead = raft_log_dead_entries(nd->raft), before = nd->dead_before;
    nd->dead_before = dead;
    raft_index first, lent_last, last = raft_last_index(nd->raft);
    raft_lent_range(nd->raft, &first, &lent_last);
    if (dead || (before == 0 && last - first >= 256))
        return;
    size_t bytes = 0, lent = 0;
    for (raft_index i = first; i <= last; i++) {
        const struct raft_entry *e = raft_entry_at(nd->raft, i);
        bytes += e->len + sizeof *e;
        lent += i <= lent_last ? e->len : 0;
    }
    if (bytes != raft_log_bytes(nd->raft) || lent != raft_log_lent_bytes(nd->raft))
        cluster_fail(c, "log accounting: n%d holds %llu..%llu, %zu bytes (%zu lent) counted as %zu (%zu)",
                     nd->id, (unsigned long long)first, (unsigned long long)last, bytes, lent,
                     raft_log_bytes(nd->raft), raft_log_lent_bytes(nd->raft));
}

void cluster_safety_after_step(struct cluster *c)
{
    for (int i = 0; i < c->n && !c->failed; i++) {
        struct cluster_node *nd = &c->nodes[i];
        if (nd->alive && nd->raft)
            check_log_bytes(c, nd);
        if (!nd->alive || raft_role(nd->raft) != RAFT_LEADER) {
            nd->lead_term = 0;
            continue;
        }
        raft_term term = raft_current_term(nd->raft);
        raft_index last = raft_last_index(nd->raft);
        if (nd->lead_term != term) {
            check_new_leader(c, nd, term);
            nd->lead_conf_index = 0;
            check_one_change(c, nd, 1);
        } else {
            check_one_change(c, nd, nd->lead_last + 1);
            const struct raft_entry *e = raft_entry_at(nd->raft, nd->lead_last);
            if (last < nd->lead_last || (e && e->term != nd->lead_last_term)) {
                cluster_fail(c, "leader append-only: n%d in term %llu had %llu entries, now %llu",
                             nd->id, (unsigned long long)term, (unsigned long long)nd->lead_last,
                             (unsigned long long)last);
                return;
            }
        }
        nd->lead_term = term;
        nd->lead_last = last;
        const struct raft_entry *e = raft_entry_at(nd->raft, last);
        nd->lead_last_term = e ? e->term : 0;
    }
}

void cluster_safety_free(struct cluster *c)
{
    free(c->leader_of_term);
    free(c->entry_map);
    free(c->applied);
}
