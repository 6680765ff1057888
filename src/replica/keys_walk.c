/* keys_walk.c - KEYS reads on a large map, answered from the map's
 * point-in-time walk in bounded steps (kv/keys_walk.h) instead of one pass
 * in one event-loop turn (replica.h, config.keys_walk_min).
 *
 * A served KV_KEYS read (its ReadIndex confirmed and applied up to) joins
 * a FIFO queue; the first of the queue begins a walk over the map as it is
 * at that moment (its linearization point: after the read's submit, before
 * its answer; its time, for deadlines, is stamped then too), and each
 * flush walks what is left of the budget (keys_walk_entries per flush, or
 * per turn after replica_turn_end), answering each read when its walk
 * ends, in arrival order. The map has one walk at a time: while a
 * snapshot's or backup's walk holds it, the queue waits and begin is tried
 * again at every flush. A walk abandoned (the map detached by a large
 * FLUSHALL, replaced by an installed snapshot, re-keyed, or too many
 * pre-images) begins again on the current map, still a state between
 * submit and answer, up to REPLICA_KEYS_WALK_RESTARTS times. */
#include <string.h>

#include "replica/replica_internal.h"

static size_t walk_entries(const struct replica *r)
{
    return r->config.keys_walk_entries ? r->config.keys_walk_entries
                                       : REPLICA_DEFAULT_KEYS_WALK_ENTRIES;
}

static size_t budget_left(const struct replica *r)
{
    size_t n = walk_entries(r);
    return n > r->keys_budget_used ? n - r->keys_budget_used : 0;
}

bool replica_keys_take(struct replica *r, uint64_t ref, struct kv_command *cmd)
{
    if (cmd->op != KV_KEYS || !cmd->arg[0].p)
        return false;
    if (r->n_keys_reads == 0 && kv_store_size(r->kv) < r->config.keys_walk_min)
        return false;
    if (!GROW(r->keys_reads, r->n_keys_reads, r->cap_keys_reads)) {
        replica_answer(r, ref, REPLICA_UNAVAILABLE, "out of memory");
        kv_command_release(cmd);
        return true;
    }
    r->keys_reads[r->n_keys_reads++] = (struct keys_read){.ref = ref, .cmd = *cmd};
    memset(cmd, 0, sizeof *cmd);
    return true;
}

static void pop_front(struct replica *r)
{
    kv_command_release(&r->keys_reads[0].cmd);
    memmove(r->keys_reads, r->keys_reads + 1, (r->n_keys_reads - 1) * sizeof *r->keys_reads);
    r->n_keys_reads--;
}

/* false: the map is not free (another walk, a re-key) or memory ran out;
 * tried again at the next flush. */
static bool begin(struct replica *r, struct keys_read *k)
{
    char why[200];
    size_t kept = r->config.keys_walk_kept_bytes ? r->config.keys_walk_kept_bytes
                                                 : REPLICA_DEFAULT_KEYS_WALK_KEPT;
    k->walk = kv_keys_walk_begin(r->kv, &k->cmd.arg[0], replica_time(r, r->now_ms),
                                 r->config.keys_max_bytes, kept, why, sizeof why);
    if (!k->walk)
        return false;
    r->stats.keys_walks_begun++;
    return true;
}

/* The walk of the queue's first read was abandoned: again from the
 * current map, or, too often, the read ends. */
static void abandoned(struct replica *r)
{
    struct keys_read *k = &r->keys_reads[0];
    kv_keys_walk_free(k->walk);
    k->walk = NULL;
    if (++k->restarts <= REPLICA_KEYS_WALK_RESTARTS) {
        r->stats.keys_walks_restarted++;
        return;
    }
    r->stats.keys_walks_failed++;
    replica_answer(r, k->ref, REPLICA_UNAVAILABLE,
                   "KEYS gave up: its walk over the map was abandoned 4 times (the map was "
                   "replaced, flushed or re-keyed, or too many keys changed meanwhile); use SCAN");
    pop_front(r);
}

void replica_keys_step(struct replica *r)
{
    while (r->n_keys_reads > 0) {
        struct keys_read *k = &r->keys_reads[0];
        size_t left = budget_left(r);
        if (left == 0 || (!k->walk && !begin(r, k)))
            return;
        size_t before = kv_keys_walk_visited(k->walk);
        int rc = kv_keys_walk_step(k->walk, left);
        size_t did = kv_keys_walk_visited(k->walk) - before;
        r->stats.keys_walk_entries += did;
        r->keys_budget_used += did ? did : 1; /* empty buckets cost too */
        if (rc == 0)
            continue;
        if (rc < 0) {
            abandoned(r);
            continue;
        }
        struct kv_result res = {.code = KV_OK};
        kv_keys_walk_result(k->walk, &res);
        kv_keys_walk_free(k->walk);
        k->walk = NULL;
        r->stats.keys_walks_done++;
        replica_answer_kv(r, k->ref, &res);
        pop_front(r);
    }
}

void replica_keys_store_leaving(struct replica *r, const struct kv_store *kv)
{
    if (r->n_keys_reads > 0 && r->keys_reads[0].walk &&
        kv_keys_walk_store(r->keys_reads[0].walk) == kv)
        abandoned(r);
}

uint64_t replica_keys_deadline(const struct replica *r)
{
    if (r->n_keys_reads == 0)
        return UINT64_MAX;
    if (budget_left(r) == 0)
        return r->per_turn ? r->now_ms + 1 : 0; /* the next turn's budget */
    /* Without a walk, the last try to begin found the map taken: poll. */
    return r->keys_reads[0].walk ? 0 : r->now_ms + 1;
}

/* Dropped unanswered, as every other pending request on free. */
void replica_keys_free(struct replica *r)
{
    for (size_t i = 0; i < r->n_keys_reads; i++) {
        kv_keys_walk_free(r->keys_reads[i].walk);
        kv_command_release(&r->keys_reads[i].cmd);
    }
    free(r->keys_reads);
    r->keys_reads = NULL;
    r->n_keys_reads = r->cap_keys_reads = 0;
}
