/* lend.c - the core's log payloads given back to the log store's copy.
 *
 * An entry applied here and made durable by a sync is held twice: in the
 * core's heap (its payload blocks) and in the store's file. Once both hold,
 * the store lends the core pointers to the file's bytes (mapped read-only:
 * page cache, not this process's memory) and the core frees its copies
 * (raft_lend). Applied entries are committed, so no truncation ever reaches
 * them; compaction behind a snapshot, or a snapshot that replaces the log,
 * ends their loan, and the store then unmaps what nobody points into. Only
 * a lagging follower's catch-up reads them again. The restored log's loan
 * (store->load with borrow) is the same prefix's start and ends the same
 * way. */
#include <stdlib.h>

#include "replica/replica_internal.h"

/* At most this many entries per store call (the scratch arrays' size). */
#define REPLICA_LEND_BATCH 4096u

static bool lend_room(struct replica *r, size_t n)
{
    if (n <= r->cap_lend)
        return true;
    struct raft_entry *buf = realloc(r->lend_buf, n * sizeof *buf);
    if (buf)
        r->lend_buf = buf;
    const uint8_t **old = realloc(r->lend_old, n * sizeof *old);
    if (old)
        r->lend_old = old;
    if (!buf || !old)
        return false;
    r->cap_lend = n;
    return true;
}

void replica_lend(struct replica *r)
{
    const struct replica_log_store *store = r->config.store;
    if (!store)
        return;
    raft_index first, last;
    raft_lent_range(r->raft, &first, &last);
    /* Compaction or a snapshot took the last restored entry the core
     * borrowed (the prefix's start; lending goes on after it). */
    if (r->restore_lent && (first > last || first > r->restore_last)) {
        r->restore_lent = false;
        store->release_restore(store->impl);
    }
    if (!store->lend)
        return;
    if (store->lend_release)
        store->lend_release(store->impl, first, last);
    raft_index to = r->applied < r->durable_index ? r->applied : r->durable_index;
    while (last < to) {
        size_t n = to - last < REPLICA_LEND_BATCH ? (size_t)(to - last) : REPLICA_LEND_BATCH;
        if (!lend_room(r, n))
            return; /* out of memory: the core keeps its copies for now */
        size_t k = store->lend(store->impl, last + 1, n, r->lend_buf);
        if (k == 0)
            return; /* not lendable (compacted in the store meanwhile, or not mapped) */
        for (size_t i = 0; i < k; i++) {
            const struct raft_entry *e = raft_entry_at(r->raft, last + 1 + i);
            r->lend_old[i] = e ? e->data : NULL;
        }
        if (raft_lend(r->raft, r->lend_buf, k) != RAFT_OK) {
            r->stats.lend_refused++;
            return;
        }
        replica_outbox_relend(r, r->lend_buf, r->lend_old, k);
        r->stats.lent += k;
        last += k;
        if (k < n)
            return;
    }
}
