/* cluster_disk.c - a test node's simulated disk: hard state, log entries
 * (deep copies) after a compaction offset, the latest snapshot, and how much
 * of the log is synced. It behaves as storage.h promises: appending from an
 * index drops what followed it, and saving a snapshot keeps the entries after
 * it only if the log held the snapshot's last entry.
 */
#include <stdlib.h>
#include <string.h>

#include "cluster_private.h"
#include "common/rng.h"

/* A payload the disk drops: freed now, or with lending once the core's
 * lent range leaves it (cluster_disk_lend). */
static void retire(struct cluster_disk *d, raft_index index, uint8_t *data)
{
    if (!d->lending || !data) {
        free(data);
        return;
    }
    if (d->n_retired == d->cap_retired) {
        d->cap_retired = d->cap_retired ? 2 * d->cap_retired : 64;
        d->retired = realloc(d->retired, d->cap_retired * sizeof *d->retired);
        if (!d->retired)
            abort();
    }
    d->retired[d->n_retired++] = (struct cluster_retired){index, data};
}

void cluster_disk_reap_all(struct cluster_disk *d)
{
    for (size_t i = 0; i < d->n_retired; i++)
        free(d->retired[i].data);
    d->n_retired = 0;
}

void cluster_disk_truncate_from(struct cluster_disk *d, raft_index from)
{
    while (d->n && d->offset + d->n >= from) {
        d->n--;
        retire(d, d->offset + d->n + 1, d->ents[d->n].data);
    }
    if (d->durable > d->offset + d->n)
        d->durable = d->offset + d->n;
}

raft_index cluster_disk_last(const struct cluster_disk *d)
{
    return d->offset + d->n;
}

bool cluster_disk_term_at(const struct cluster_disk *d, raft_index index, raft_term *t)
{
    if (index == d->offset) {
        *t = d->offset_term;
        return true;
    }
    if (index < d->offset || index > cluster_disk_last(d))
        return false;
    *t = d->ents[index - d->offset - 1].term;
    return true;
}

void cluster_disk_append(struct cluster_disk *d, const struct raft_entry *e)
{
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 64;
        d->ents = realloc(d->ents, d->cap * sizeof *d->ents);
        if (!d->ents)
            abort();
    }
    struct raft_entry *x = &d->ents[d->n++];
    *x = *e;
    x->data = NULL;
    if (e->len) {
        x->data = malloc(e->len);
        if (!x->data)
            abort();
        memcpy(x->data, e->data, e->len);
    }
}

/* As storage_save_snapshot(): keep entries after index only if the log
 * holds (index, term); otherwise drop the whole log. */
void cluster_disk_save_snapshot(struct cluster_disk *d, raft_index index, raft_term term,
                               const uint8_t *data, size_t len)
{
    raft_term t;
    if (cluster_disk_term_at(d, index, &t) && t == term) {
        size_t drop = (size_t)(index - d->offset);
        for (size_t i = 0; i < drop; i++)
            retire(d, d->offset + 1 + i, d->ents[i].data);
        memmove(d->ents, d->ents + drop, (d->n - drop) * sizeof *d->ents);
        d->n -= drop;
    } else {
        cluster_disk_truncate_from(d, d->offset + 1);
    }
    d->offset = index;
    d->offset_term = term;
    d->durable = cluster_disk_last(d); /* saving a snapshot syncs what was pending */
    d->snap_index = index;
    d->snap_term = term;
    free(d->snap);
    d->snap = NULL;
    d->snap_len = len;
    if (len) {
        d->snap = malloc(len);
        if (!d->snap)
            abort();
        memcpy(d->snap, data, len);
    }
}

void cluster_disk_free(struct cluster_disk *d)
{
    cluster_disk_truncate_from(d, d->offset + 1);
    cluster_disk_reap_all(d);
    free(d->retired);
    free(d->ents);
    free(d->snap);
    memset(d, 0, sizeof *d);
}

void cluster_disk_lend(struct cluster_node *nd)
{
    struct cluster_disk *d = &nd->disk;
    if (!nd->c->lend || !nd->alive || !nd->raft)
        return;
    d->lending = true;
    raft_index first, last;
    raft_lent_range(nd->raft, &first, &last);
    size_t kept = 0;
    for (size_t i = 0; i < d->n_retired; i++) {
        if (first <= last && d->retired[i].index >= first && d->retired[i].index <= last)
            d->retired[kept++] = d->retired[i];
        else
            free(d->retired[i].data);
    }
    d->n_retired = kept;
    raft_index to = nd->sm_applied < d->durable ? nd->sm_applied : d->durable;
    if (last + 1 <= d->offset || to <= last)
        return; /* the disk compacted the next one away, or nothing new */
    if (to > cluster_disk_last(d))
        to = cluster_disk_last(d);
    size_t n = (size_t)(to - last);
    const struct raft_entry *from = &d->ents[last - d->offset];
    int rc = raft_lend(nd->raft, from, n);
    if (rc == RAFT_OK)
        nd->c->lent += n;
    else
        cluster_fail(nd->c, "n%d refused the loan of %llu..%llu: %s", nd->id,
                     (unsigned long long)(last + 1), (unsigned long long)to, raft_strerror(rc));
}

void cluster_disk_synced(struct cluster_disk *d)
{
    if (d->commit_unsynced > d->commit)
        d->commit = d->commit_unsynced;
    d->commit_unsynced = 0;
}

/* Any value at or below the mark is as safe as the mark (raft.h): a quarter
 * of the restarts get a lower one, now and then below the snapshot, and
 * the core must clamp it. Drawn from the restart's own seed, so the
 * cluster's schedule draws nothing more. */
raft_index cluster_disk_restored_commit(const struct cluster_disk *d, uint64_t seed)
{
    struct rng g;
    rng_seed(&g, seed ^ 0xc0ffee5eedULL);
    if (rng_below(&g, 4) != 0)
        return d->commit;
    return rng_below(&g, d->commit + 1);
}
