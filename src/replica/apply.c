/* apply.c - taking in one update of the Raft core, in raft.h's order:
 * hand what must be persisted to the log store (synced later, once per
 * batch), copy the messages to send after the sync, then apply committed
 * entries to the map and serve the reads the core confirmed. */
#include <stdlib.h>
#include <string.h>

#include "replica/replica_internal.h"

static void store_failed(struct replica *r, int rc)
{
    if (!r->failed)
        r->failed = rc < 0 ? rc : -1;
}

static void persist(struct replica *r, const struct raft_update *u)
{
    const struct replica_log_store *store = r->config.store;
    if (u->flags & RAFT_UPDATE_HARD_STATE) {
        if (store && store->save_hard_state) {
            int rc = store->save_hard_state(store->impl, u->term, u->voted_for);
            if (rc != 0)
                store_failed(r, rc);
        }
        r->store_dirty = true;
        r->hard_state_unsynced = true;
    }
    if (u->flags & RAFT_UPDATE_SNAPSHOT) {
        if (r->snapshot_from_file) {
            /* The image is the file the transport received. */
            int rc = store->adopt_snapshot(store->impl, u->snap_index, u->snap_term);
            if (rc != 0)
                store_failed(r, rc);
        } else if (store && store->save_snapshot) {
            int rc = store->save_snapshot(store->impl, u->snap_index, u->snap_term,
                                          u->snap_data, u->snap_len);
            if (rc != 0)
                store_failed(r, rc);
        }
        /* The store keeps the entries after the snapshot only if they
         * continue it; otherwise it now ends at the snapshot. */
        const struct raft_entry *last = raft_entry_at(r->raft, r->stored_index);
        if (u->snap_index >= r->stored_index || !last || last->term != r->stored_term) {
            r->stored_index = u->snap_index;
            r->stored_term = u->snap_term;
            r->durable_index = u->snap_index; /* saved durably; nothing after it */
            if (r->restored_index > r->stored_index)
                r->restored_index = r->stored_index;
        }
        r->store_dirty = true;
        r->hard_state_unsynced = true;
        r->persist_due = true;
    }
    if ((u->flags & RAFT_UPDATE_ENTRIES) && u->n_entries > 0) {
        if (store && store->append) {
            int rc = store->append(store->impl, u->entries, u->n_entries);
            if (rc != 0)
                store_failed(r, rc);
        }
        r->unsynced_entries += u->n_entries;
        for (size_t i = 0; i < u->n_entries; i++) {
            r->unsynced_bytes += u->entries[i].len;
            int64_t t = kv_entry_time(u->entries[i].data, u->entries[i].len);
            if (t > r->log_time)
                r->log_time = t;
        }
        /* Appending drops everything from entries[0] on, so the store now
         * ends exactly at the last of these, durable only before them (and
         * what is left of the tail a restart found ends before them). */
        if (r->durable_index >= u->entries[0].index)
            r->durable_index = u->entries[0].index - 1;
        if (r->restored_index >= u->entries[0].index)
            r->restored_index = u->entries[0].index - 1;
        r->stored_index = u->entries[u->n_entries - 1].index;
        r->stored_term = u->entries[u->n_entries - 1].term;
        r->store_dirty = true;
        r->persist_due = true;
    }
}

void replica_answer_read(struct replica *r, uint64_t ref, const struct kv_command *c,
                         int64_t time_ms)
{
    struct kv_result res;
    if (c->op == KV_KEYS && c->arg[0].p) { /* with the reply's cap */
        res = (struct kv_result){.code = KV_OK};
        kv_keys_once(r->kv, &c->arg[0], time_ms, r->config.keys_max_bytes, &res);
    } else {
        kv_apply(r->kv, c, time_ms, &res);
    }
    replica_answer_kv(r, ref, &res);
}

void replica_retire_store(struct replica *r, struct kv_store *kv)
{
    /* A KEYS walk over it stops here, while the map is still ours. */
    replica_keys_store_leaving(r, kv);
    if (kv && r->config.retire_store)
        r->config.retire_store(r->config.ctx, kv);
    else
        kv_store_free(kv);
}

/* The snapshot's map replaces the current one whole: built aside (or
 * prepared by the transport), swapped in, and the old one retired. */
static void install_snapshot(struct replica *r, const struct raft_update *u)
{
    if (u->snap_index <= r->applied)
        return;
    const struct replica_log_store *store = r->config.store;
    struct kv_store *next = NULL;
    if (!r->failed && r->snapshot_prepared) {
        next = r->snapshot_prepared;
        r->snapshot_prepared = NULL;
    } else if (!r->failed && (next = kv_store_new()) != NULL) {
        int rc = r->snapshot_from_file ? store->load_snapshot(store->impl, next)
                                       : kv_restore(next, u->snap_data, u->snap_len, NULL, NULL);
        if (rc != 0) {
            kv_store_free(next);
            next = NULL;
        }
    }
    if (!next) {
        /* The leader's image is unreadable: applying on would diverge. */
        store_failed(r, -1);
        return;
    }
    replica_retire_store(r, r->kv);
    r->kv = next;
    r->applied = u->snap_index;
    r->applied_term = u->snap_term;
    r->snapshot_index = u->snap_index;
    r->snapshot_bytes_mark = r->applied_bytes;
    if (r->apply_to < r->applied)
        r->apply_to = r->applied; /* the image holds the backlog */
    /* Proposals inside the snapshot can no longer be matched to a result. */
    replica_settle_proposals(r, u->snap_index, 0, NULL);
    /* Reads confirmed at or below the image's index. */
    replica_serve_deferred_reads(r);
}

static void apply_entry(struct replica *r, const struct raft_entry *e)
{
    struct kv_result res = {.code = KV_OK};
    if (e->type == RAFT_ENTRY_COMMAND) {
        /* Only JSON-family commands are kept (no stamped time). */
        const struct kv_command *own = replica_proposed_command(r, e->index, e->term);
        if (own)
            kv_apply(r->kv, own, 0, &res);
        else
            kv_apply_bytes(r->kv, e->data, e->len, 0, &res);
        /* A large FLUSHALL's old map is freed off the loop. */
        struct kv_store *flushed = kv_store_take_flushed(r->kv);
        if (flushed)
            replica_retire_store(r, flushed);
    } else if (e->type == RAFT_ENTRY_CONFIG) {
        /* Kept with the map, so snapshots carry the configuration. */
        if (kv_set_configuration(r->kv, e->index, e->data, e->len) != 0)
            r->failed = -1;
    }
    r->applied = e->index;
    r->applied_term = e->term;
    r->applied_bytes += e->len + sizeof *e;
    r->stats.applied++;
    replica_settle_proposals(r, e->index, e->term, &res);
    kv_result_release(&res);
}

static void serve_read(struct replica *r, uint64_t id, int64_t t)
{
    struct pending_read *p = replica_find_read(r, id);
    if (!p)
        return; /* already timed out */
    /* KEYS on a large map: answered from a walk (keys_walk.c). */
    if (!replica_keys_take(r, p->ref, &p->cmd))
        replica_answer_read(r, p->ref, &p->cmd, t);
    kv_command_release(&p->cmd);
    p->done = true;
}

static bool apply_timed(const struct replica *r)
{
    return r->config.apply_cpu_ns > 0 && r->config.cpu_clock;
}

/* The committed entries stay in the core's log until a snapshot at or
 * below `applied` compacts them, so the backlog is read from there. */
size_t replica_apply_budget(const struct replica *r)
{
    if (apply_timed(r) && r->budget_cpu_ns >= r->config.apply_cpu_ns)
        return 0; /* the time is used up (by one entry at least) */
    size_t batch = r->config.apply_batch ? r->config.apply_batch : REPLICA_DEFAULT_APPLY_BATCH;
    if (r->snapshot_running) {
        size_t snap = r->config.apply_batch_snapshot ? r->config.apply_batch_snapshot
                                                     : REPLICA_DEFAULT_APPLY_BATCH_SNAPSHOT;
        if (snap < batch)
            batch = snap;
    }
    return batch > r->budget_applied ? batch - r->budget_applied : 0;
}

static uint64_t cpu_now(const struct replica *r)
{
    return r->config.cpu_clock(r->config.ctx);
}

static uint64_t fast_now(const struct replica *r)
{
    return r->config.fast_clock ? r->config.fast_clock(r->config.ctx) : cpu_now(r);
}

/* In a map much larger than the cache, applying an entry misses twice:
 * the key's slot, then the entry the slot points at (a learner catching
 * up applies thousands in a row). So while applying a run, the slot of
 * the key AHEAD_SLOT entries on is fetched, and AHEAD_ENTRY entries on,
 * its slot being in the cache by then, the entry (kv.h's hints). */
#define AHEAD_SLOT 8
#define AHEAD_ENTRY 4
#define AHEAD_RING 16 /* a power of two above AHEAD_SLOT */

struct ahead {
    raft_index next; /* the next entry whose slot is to be fetched */
    uint64_t h[AHEAD_RING];
    bool named[AHEAD_RING]; /* h holds the key's hash */
};

static void ahead(struct replica *r, struct ahead *a, raft_index x, raft_index last)
{
    raft_index to = x + AHEAD_SLOT < last ? x + AHEAD_SLOT : last;
    if (a->next < x)
        a->next = x;
    for (; a->next <= to; a->next++) {
        const struct raft_entry *e = raft_entry_at(r->raft, a->next);
        size_t k = a->next & (AHEAD_RING - 1);
        a->named[k] = e && e->type == RAFT_ENTRY_COMMAND &&
                      kv_prefetch_slot(r->kv, e->data, e->len, &a->h[k]);
    }
    raft_index y = x + AHEAD_ENTRY;
    if (y <= last && a->named[y & (AHEAD_RING - 1)])
        kv_prefetch_entry(r->kv, a->h[y & (AHEAD_RING - 1)]);
}

/* With the time budget: the CPU time since `since` (the latest exact
 * read, at `fast_since` on the fast clock) is at most the fast clock's
 * advance, so the exact clock is read only once that could reach the
 * budget; spent or not, the account is then exact again. */
void replica_apply_backlog(struct replica *r)
{
    size_t budget = replica_apply_budget(r);
    bool timed = apply_timed(r) && budget > 0 && r->applied < r->apply_to;
    uint64_t since = timed ? cpu_now(r) : 0;
    uint64_t fast_since = timed && r->config.fast_clock ? fast_now(r) : since;
    bool exact = true; /* nothing applied since `since` */
    /* The last entry this call may apply: the hints stop there. */
    raft_index last = r->apply_to - r->applied > budget ? r->applied + budget : r->apply_to;
    struct ahead a = {.next = 0};
    for (size_t k = 0; k < budget && r->applied < r->apply_to; k++) {
        const struct raft_entry *e = raft_entry_at(r->raft, r->applied + 1);
        if (!e) { /* cannot happen: the core keeps what is not applied */
            r->failed = -1;
            return;
        }
        if (last > r->applied + 1)
            ahead(r, &a, r->applied + 1, last);
        apply_entry(r, e);
        r->budget_applied++;
        if (!timed)
            continue;
        exact = false;
        uint64_t f = fast_now(r);
        if (r->budget_cpu_ns + (f > fast_since ? f - fast_since : 0) < r->config.apply_cpu_ns)
            continue;
        uint64_t c = r->config.fast_clock ? cpu_now(r) : f;
        r->budget_cpu_ns += c > since ? c - since : 0;
        since = c;
        fast_since = f;
        exact = true;
        if (r->budget_cpu_ns >= r->config.apply_cpu_ns)
            break; /* the rest at the next flush or turn */
    }
    if (!exact) {
        uint64_t c = cpu_now(r);
        r->budget_cpu_ns += c > since ? c - since : 0;
    }
    replica_serve_deferred_reads(r);
}

/* The core declared each ready when it had handed out everything up to
 * apply_to (at least its read index), its `need`: once applied, it is
 * served, without waiting for a backlog that new commits keep growing. */
void replica_serve_deferred_reads(struct replica *r)
{
    size_t n = 0;
    while (n < r->n_deferred_reads && r->deferred_reads[n].need <= r->applied)
        n++;
    if (n == 0)
        return;
    int64_t t = replica_time(r, r->now_ms);
    for (size_t i = 0; i < n; i++)
        serve_read(r, r->deferred_reads[i].id, t);
    memmove(r->deferred_reads, r->deferred_reads + n,
            (r->n_deferred_reads - n) * sizeof *r->deferred_reads);
    r->n_deferred_reads -= n;
    replica_pop_done_reads(r);
}

static void apply_committed(struct replica *r, const struct raft_update *u)
{
    const struct raft_entry *last = &u->committed[u->n_committed - 1];
    if (last->index > r->apply_to) {
        r->apply_to = last->index;
        r->commit_moved_ms = r->now_ms;
    }
    replica_apply_backlog(r);
}

static int defer_read(struct replica *r, uint64_t id)
{
    struct pending_read *p = replica_find_read(r, id);
    if (!p)
        return 0; /* already answered */
    if (r->n_deferred_reads == r->cap_deferred_reads) {
        size_t cap = r->cap_deferred_reads ? 2 * r->cap_deferred_reads : 64;
        struct deferred_read *v = realloc(r->deferred_reads, cap * sizeof *v);
        if (!v)
            return -1;
        r->deferred_reads = v;
        r->cap_deferred_reads = cap;
    }
    r->deferred_reads[r->n_deferred_reads++] =
        (struct deferred_read){.id = id, .need = r->apply_to};
    p->confirmed = true; /* no longer timed out: applying answers it */
    return 0;
}

static void serve_reads(struct replica *r, const struct raft_update *u, uint64_t now_ms)
{
    int64_t t = u->n_reads_ready ? replica_time(r, now_ms) : 0;
    for (size_t i = 0; i < u->n_reads_ready; i++) {
        if (r->applied < r->apply_to) {
            if (defer_read(r, u->reads_ready[i]) == 0)
                continue;
            r->failed = -1; /* out of memory: stop rather than read stale */
            return;
        }
        serve_read(r, u->reads_ready[i], t);
    }
    for (size_t i = 0; i < u->n_reads_failed; i++) {
        struct pending_read *p = replica_find_read(r, u->reads_failed[i]);
        if (!p)
            continue;
        replica_answer(r, p->ref,
                       raft_role(r->raft) == RAFT_LEADER ? REPLICA_UNAVAILABLE
                                                         : REPLICA_NOT_LEADER,
                       "leadership not confirmed");
        kv_command_release(&p->cmd);
        p->done = true;
    }
    replica_pop_done_reads(r);
}

void replica_absorb(struct replica *r, const struct raft_update *u)
{
    persist(r, u);
    if (u->flags & RAFT_UPDATE_MESSAGES)
        for (size_t i = 0; i < u->n_messages; i++)
            replica_outbox_push(r, &u->messages[i]);
    if (u->flags & RAFT_UPDATE_SNAPSHOT)
        install_snapshot(r, u);
    if (u->flags & RAFT_UPDATE_COMMITTED)
        apply_committed(r, u);
    if (u->flags & RAFT_UPDATE_READS)
        serve_reads(r, u, r->now_ms);
    r->lost_data_due |= u->lost_data_peers;
}

bool replica_core_keeps_image(const struct replica *r)
{
    const struct replica_log_store *store = r->config.store;
    return !store || !store->read_snapshot;
}

/* The snapshot at index is durable in the store (or, with no store, in
 * data): the core may compact its log behind it. */
void replica_snapshot_taken(struct replica *r, raft_index index, const uint8_t *data, size_t len,
                            uint64_t now_ms)
{
    struct raft_event e = {.type = RAFT_EVENT_SNAPSHOT, .now_ms = now_ms};
    e.snapshot.index = index;
    if (replica_core_keeps_image(r)) {
        e.snapshot.data = data;
        e.snapshot.len = len;
    }
    struct raft_update u;
    raft_step(r->raft, &e, &u);
    if (index > r->snapshot_index)
        r->snapshot_index = index;
    r->stats.snapshots++;
    replica_absorb(r, &u);
}

/* Inline: the whole map encoded and saved on this thread. */
void replica_take_snapshot(struct replica *r, uint64_t now_ms)
{
    uint8_t *data;
    size_t len;
    raft_index index = r->applied;
    r->snapshot_bytes_mark = r->applied_bytes; /* after a failure too: try again later */
    if (kv_snapshot(r->kv, index, r->applied_term, &data, &len) != 0) {
        r->snapshot_index = index; /* try again a threshold later */
        return;
    }
    const struct replica_log_store *store = r->config.store;
    if (store && store->save_snapshot) {
        int rc = store->save_snapshot(store->impl, index, r->applied_term, data, len);
        if (rc != 0) {
            store_failed(r, rc);
            free(data);
            return;
        }
    }
    replica_snapshot_taken(r, index, data, len, now_ms);
    free(data);
}
