/* cluster_disk.c - a test node's simulated disk: hard state, log entries
 * (deep copies) after a compaction offset, the latest snapshot, and how much
 * of the log is synced. It behaves as storage.h promises: appending from an
 * index drops what followed it, and saving a snapshot keeps the entries after
 * it only if the log held the snapshot's last entry.
 */
#include <stdlib.h>
#include <string.h>

#include "cluster_private.h"

void cluster_disk_truncate_from(struct cluster_disk *d, raft_index from)
{
    while (d->n && d->offset + d->n >= from) {
        d->n--;
        free(d->ents[d->n].data);
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
            free(d->ents[i].data);
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
    free(d->ents);
    free(d->snap);
    memset(d, 0, sizeof *d);
}
