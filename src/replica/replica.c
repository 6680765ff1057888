/* replica.c - the replica's batch cycle: collect commands, step the core,
 * persist, sync once, send, answer clients, report durability (replica.h). */
#include "replica/replica.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "replica/replica_internal.h"
#include "replica/snap_stagger.h"

void replica_config_default(struct replica_config *c, int id, int n_nodes, uint64_t seed)
{
    memset(c, 0, sizeof *c);
    raft_config_default(&c->raft, id, n_nodes, seed);
    c->max_pending = 65536;
    c->request_timeout_ms = 2000;
    c->snapshot_threshold = 10000;
    c->keys_walk_min = REPLICA_DEFAULT_KEYS_WALK_MIN;
}

int replica_store_configuration(const struct kv_store *kv, struct raft_configuration *out)
{
    uint64_t index;
    const uint8_t *data;
    size_t len;
    if (!kv_configuration(kv, &index, &data, &len))
        return 0;
    return raft_configuration_decode(data, len, out) == RAFT_OK ? 1 : -1;
}

struct replica *replica_new(const struct replica_config *config, uint64_t now_ms)
{
    assert(config->send && config->complete);
    struct replica *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->config = *config;
    if (r->config.max_pending == 0)
        r->config.max_pending = 65536;
    r->kv = kv_store_new();
    if (!r->kv)
        goto err_after_alloc;

    struct raft_restore restore = {.voted_for = RAFT_NO_NODE};
    const struct replica_log_store *store = config->store;
    if (store && store->load && store->load(store->impl, &restore) != 0)
        goto err_after_kv;
    if (restore.snap_index > 0) {
        if (restore.snap_data) {
            uint64_t idx, term;
            if (kv_restore(r->kv, restore.snap_data, restore.snap_len, &idx, &term) != 0 ||
                idx != restore.snap_index || term != restore.snap_term)
                goto err_after_kv;
        } else if (!store->load_snapshot || store->load_snapshot(store->impl, r->kv) != 0) {
            goto err_after_kv;
        }
        r->applied = restore.snap_index;
        r->apply_to = restore.snap_index;
        r->snapshot_index = restore.snap_index;
    }
    /* The configuration as of the snapshot, from its image: the log that
     * held the CONFIG entry may be compacted away. */
    struct raft_configuration snap_conf;
    if (restore.snap_index > 0 && !restore.snap_conf) {
        int rc = replica_store_configuration(r->kv, &snap_conf);
        if (rc < 0)
            goto err_after_kv;
        if (rc == 1)
            restore.snap_conf = &snap_conf;
    }
    if (restore.n_entries > 0) {
        const struct raft_entry *last = &restore.entries[restore.n_entries - 1];
        r->stored_index = last->index;
        r->stored_term = last->term;
    } else {
        r->stored_index = restore.snap_index;
        r->stored_term = restore.snap_term;
    }
    r->restored_index = r->stored_index;
    r->raft = raft_new(&r->config.raft, &restore, now_ms);
    if (!r->raft)
        goto err_after_kv;
    /* The commit index the store kept (clamped by the core): that part of
     * the log is a backlog to apply now, a batch a flush, while the node
     * elects, not once a leader has told it the commit index again. The
     * core's first update hands the same entries out as committed. */
    if (raft_commit_index(r->raft) > r->apply_to) {
        r->apply_to = raft_commit_index(r->raft);
        r->commit_moved_ms = now_ms;
    }
    r->restore_lent = restore.borrow && store->release_restore;
    r->restore_last = r->stored_index;
    r->durable_index = r->stored_index;
    /* What storage held is durable already; the core may count it. */
    if (r->stored_index > 0)
        r->persist_due = true;
    return r;

err_after_kv:
    kv_store_free(r->kv);
err_after_alloc:
    free(r);
    return NULL;
}

void replica_free(struct replica *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_queued_writes; i++) {
        free(r->queued_writes[i].data);
        kv_command_release(&r->queued_writes[i].cmd);
    }
    free(r->queued_writes);
    for (size_t i = 0; i < r->n_queued_reads; i++)
        kv_command_release(&r->queued_reads[i].cmd);
    free(r->queued_reads);
    free(r->deferred_reads);
    for (size_t i = r->proposals.head; i < r->proposals.tail; i++)
        kv_command_release(&r->proposals.items[i].cmd);
    free(r->proposals.items);
    for (size_t i = r->reads.head; i < r->reads.tail; i++)
        kv_command_release(&r->reads.items[i].cmd);
    free(r->reads.items);
    replica_outbox_clear(r);
    free(r->outbox);
    replica_held_clear(r);
    free(r->held);
    for (size_t i = 0; i < r->n_done; i++)
        kv_result_release(&r->done[i].kv);
    free(r->done);
    free(r->lend_buf);
    free(r->lend_old);
    replica_keys_free(r); /* before the map it walks */
    raft_free(r->raft);
    kv_store_free(r->kv);
    free(r);
}

/* ---- the batch ---------------------------------------------------------- */

void replica_submit(struct replica *r, uint64_t client_ref, const struct kv_command *c,
                    uint64_t now_ms)
{
    replica_submit_in_term(r, client_ref, c, 0, now_ms);
}

void replica_submit_in_term(struct replica *r, uint64_t client_ref, const struct kv_command *c,
                            raft_term term, uint64_t now_ms)
{
    r->now_ms = now_ms;
    if (c->op == KV_CLUSTER_ID || !kv_op_known(c->op)) {
        replica_answer_kv_error(r, client_ref, KV_ERR_MALFORMED, "not a client operation");
        return;
    }
    size_t in_flight = replica_pending(r);
    if (in_flight >= r->config.max_pending) {
        replica_answer(r, client_ref, REPLICA_UNAVAILABLE, "too many pending requests");
        return;
    }
    if (kv_op_reads(c->op)) {
        if (c->op == KV_READ && !c->key) {
            replica_answer_kv_error(r, client_ref, KV_ERR_MALFORMED, "read has no key");
            return;
        }
        if (!GROW(r->queued_reads, r->n_queued_reads, r->cap_queued_reads)) {
            replica_answer(r, client_ref, REPLICA_UNAVAILABLE, "out of memory");
            return;
        }
        struct queued_read *q = &r->queued_reads[r->n_queued_reads];
        *q = (struct queued_read){.ref = client_ref, .at = now_ms};
        if (kv_command_copy(&q->cmd, c) != 0) {
            replica_answer(r, client_ref, REPLICA_UNAVAILABLE, "out of memory");
            return;
        }
        r->n_queued_reads++;
        return;
    }
    uint8_t *data;
    size_t len;
    if (kv_command_encode(c, &data, &len) != 0) {
        replica_answer_kv_error(r, client_ref, KV_ERR_MALFORMED, "command lacks its fields");
        return;
    }
    if (!GROW(r->queued_writes, r->n_queued_writes, r->cap_queued_writes)) {
        free(data);
        replica_answer(r, client_ref, REPLICA_UNAVAILABLE, "out of memory");
        return;
    }
    struct queued_write *w = &r->queued_writes[r->n_queued_writes++];
    *w = (struct queued_write){
        .ref = client_ref, .data = data, .len = len, .at = now_ms, .term = term};
    if (kv_command_scalar(c))
        w->cmd = (struct kv_command){.op = c->op,
                                     .key = json_incref(c->key),
                                     .value = json_incref(c->value),
                                     .from = json_incref(c->from),
                                     .to = json_incref(c->to)};
}

int64_t replica_time(struct replica *r, uint64_t now_ms)
{
    int64_t t = r->config.wall_clock ? r->config.wall_clock(r->config.ctx) : (int64_t)now_ms;
    if (t < r->log_time)
        t = r->log_time;
    if (t < kv_store_time(r->kv))
        t = kv_store_time(r->kv);
    return t;
}

int replica_receive(struct replica *r, const struct raft_msg *m, uint64_t now_ms)
{
    r->now_ms = now_ms;
    if (m->from < 0 || m->from >= r->config.raft.n_nodes || m->to != r->config.raft.id ||
        (unsigned)m->type >= RAFT_MSG_TYPE_COUNT)
        return RAFT_ERR_INVALID;
    /* A snapshot the map cannot load would leave the core past entries the
     * map never saw: refuse it before the core adopts it. */
    struct raft_configuration snap_conf;
    bool have_conf = false;
    if (m->type == RAFT_MSG_SNAPSHOT) {
        /* Checked only (no map built), with its header's index and term and
         * its cluster id. */
        struct kv_loader *l = kv_loader_new(false);
        uint64_t idx, term;
        int ok = l && kv_loader_feed(l, m->snap_data, m->snap_len) == 0 &&
                 kv_loader_finish(l, NULL, &idx, &term) == 0 && idx == m->snap_index &&
                 term == m->snap_term;
        /* Nor may a snapshot of another cluster replace this one's state
         * (defence in depth: the handshake refuses such a peer first). */
        uint8_t ours[CLUSTER_ID_BYTES], theirs[CLUSTER_ID_BYTES];
        bool other = ok && kv_cluster_id(r->kv, ours) && kv_loader_cluster_id(l, theirs) &&
                     memcmp(ours, theirs, sizeof ours) != 0;
        /* The configuration as of the image, which our wire does not carry
         * beside it (kv.h, "raft_config"). */
        uint64_t ci;
        const uint8_t *cb;
        size_t cl;
        if (ok && !m->snap_conf && kv_loader_configuration(l, &ci, &cb, &cl)) {
            ok = raft_configuration_decode(cb, cl, &snap_conf) == RAFT_OK;
            have_conf = ok;
        }
        kv_loader_free(l);
        if (other && r->config.snapshot_refused)
            r->config.snapshot_refused(r->config.ctx, m->from, ours, theirs);
        if (!ok || other)
            return RAFT_ERR_INVALID;
    }
    replica_learner_note_append(r, m);
    struct raft_event e = {.type = RAFT_EVENT_RECEIVE, .now_ms = now_ms};
    e.receive = *m;
    if (have_conf)
        e.receive.snap_conf = &snap_conf;
    struct raft_update u;
    int rc = raft_step(r->raft, &e, &u);
    replica_absorb(r, &u);
    return rc == RAFT_ERR_INVALID || rc == RAFT_ERR_BOUNDS ? rc : 0;
}

/* A SNAPSHOT whose image is the store's staged file, and maybe the map
 * already built from it (taken: installed or retired). */
static int receive_staged(struct replica *r, const struct raft_msg *m, struct kv_store *prepared,
                          uint64_t now_ms)
{
    r->now_ms = now_ms;
    const struct replica_log_store *store = r->config.store;
    if (m->type != RAFT_MSG_SNAPSHOT || m->snap_len != 0 || m->from < 0 ||
        m->from >= r->config.raft.n_nodes || m->to != r->config.raft.id || !store ||
        !store->adopt_snapshot || (!prepared && !store->load_snapshot)) {
        replica_retire_store(r, prepared);
        return RAFT_ERR_INVALID;
    }
    uint8_t ours[CLUSTER_ID_BYTES], theirs[CLUSTER_ID_BYTES];
    if (prepared && kv_cluster_id(r->kv, ours) && kv_cluster_id(prepared, theirs) &&
        memcmp(ours, theirs, sizeof ours) != 0) {
        if (r->config.snapshot_refused)
            r->config.snapshot_refused(r->config.ctx, m->from, ours, theirs);
        replica_retire_store(r, prepared);
        return RAFT_ERR_INVALID;
    }
    struct raft_event e = {.type = RAFT_EVENT_RECEIVE, .now_ms = now_ms};
    e.receive = *m;
    /* Our wire does not carry the configuration beside the image: the
     * image does (kv.h, "raft_config"). */
    struct raft_configuration conf;
    if (!m->snap_conf && prepared) {
        int crc = replica_store_configuration(prepared, &conf);
        if (crc < 0) {
            replica_retire_store(r, prepared);
            return RAFT_ERR_INVALID;
        }
        if (crc == 1)
            e.receive.snap_conf = &conf;
    }
    struct raft_update u;
    int rc = raft_step(r->raft, &e, &u);
    r->snapshot_from_file = true;
    r->snapshot_prepared = prepared;
    replica_absorb(r, &u);
    r->snapshot_from_file = false;
    /* Not installed: the core kept its state. */
    replica_retire_store(r, r->snapshot_prepared);
    r->snapshot_prepared = NULL;
    return rc == RAFT_ERR_INVALID || rc == RAFT_ERR_BOUNDS ? rc : 0;
}

int replica_receive_snapshot_file(struct replica *r, const struct raft_msg *m, uint64_t now_ms)
{
    return receive_staged(r, m, NULL, now_ms);
}

int replica_receive_snapshot_prepared(struct replica *r, const struct raft_msg *m,
                                      struct kv_store *prepared, uint64_t now_ms)
{
    return receive_staged(r, m, prepared, now_ms);
}

int replica_transfer_leader(struct replica *r, int target, uint64_t now_ms)
{
    struct raft_event e = {.type = RAFT_EVENT_TRANSFER, .now_ms = now_ms};
    e.transfer.target = target;
    struct raft_update u;
    int rc = raft_step(r->raft, &e, &u);
    replica_absorb(r, &u);
    return rc;
}

int replica_transfer_target(const struct replica *r)
{
    return raft_transfer_target(r->raft);
}

int replica_change(struct replica *r, enum raft_change_type type, int id, const uint8_t *extra,
                   size_t extra_len, uint64_t now_ms, raft_index *index)
{
    struct raft_event e = {.type = RAFT_EVENT_CHANGE, .now_ms = now_ms};
    e.change.type = type;
    e.change.id = id;
    e.change.extra = extra;
    e.change.extra_len = extra_len;
    struct raft_update u;
    int rc = raft_step(r->raft, &e, &u);
    if (rc == RAFT_OK && index)
        *index = u.proposed_first;
    replica_absorb(r, &u);
    return rc;
}

const struct raft_configuration *replica_configuration(const struct replica *r)
{
    return raft_configuration(r->raft);
}

raft_index replica_configuration_index(const struct replica *r)
{
    return raft_configuration_index(r->raft);
}

const struct raft_entry *replica_entry_at(const struct replica *r, raft_index index)
{
    return raft_entry_at(r->raft, index);
}

void replica_tick(struct replica *r, uint64_t now_ms)
{
    r->now_ms = now_ms;
    if (now_ms >= raft_deadline(r->raft)) {
        struct raft_event e = {.type = RAFT_EVENT_TICK, .now_ms = now_ms};
        struct raft_update u;
        raft_step(r->raft, &e, &u);
        replica_absorb(r, &u);
    }
    replica_expire(r, now_ms);
}

/* Refuse the batch's writes forwarded for a term this replica does not
 * lead in (router.h, rule 2); the rest keep their order. */
static void refuse_other_terms(struct replica *r)
{
    bool leader = raft_role(r->raft) == RAFT_LEADER;
    raft_term term = raft_current_term(r->raft);
    size_t kept = 0;
    for (size_t i = 0; i < r->n_queued_writes; i++) {
        struct queued_write *w = &r->queued_writes[i];
        if (leader && w->term != 0 && w->term != term) {
            replica_answer(r, w->ref, REPLICA_NOT_LEADER, "not the leader of the forward's term");
            free(w->data);
            kv_command_release(&w->cmd);
            continue;
        }
        r->queued_writes[kept++] = *w;
    }
    r->n_queued_writes = kept;
}

/* All writes of the batch as one PROPOSE. */
static void propose_queued(struct replica *r, uint64_t now_ms)
{
    refuse_other_terms(r);
    size_t n = r->n_queued_writes;
    if (n == 0)
        return;
    const uint8_t **data = malloc(n * sizeof *data);
    uint32_t *len = malloc(n * sizeof *len);
    int rc = RAFT_ERR_NOMEM;
    struct raft_update u;
    bool stepped = false;
    if (data && len && raft_role(r->raft) == RAFT_LEADER) {
        int64_t t = replica_time(r, now_ms);
        for (size_t i = 0; i < n; i++) {
            data[i] = r->queued_writes[i].data;
            len[i] = (uint32_t)r->queued_writes[i].len;
            kv_entry_stamp(r->queued_writes[i].data, len[i], t);
        }
        struct raft_event e = {.type = RAFT_EVENT_PROPOSE, .now_ms = now_ms};
        e.propose.n = n;
        e.propose.data = data;
        e.propose.len = len;
        rc = raft_step(r->raft, &e, &u);
        stepped = true;
    } else if (raft_role(r->raft) != RAFT_LEADER) {
        rc = RAFT_ERR_NOT_LEADER;
    }
    if (rc == RAFT_OK) {
        /* Entries we proposed earlier at these indexes were cut from our log;
         * they might still commit elsewhere (Figure 8), so only INDEFINITE. */
        replica_supersede(r, u.proposed_first);
        for (size_t i = 0; i < n; i++)
            replica_track_proposal(r, r->queued_writes[i].ref, u.proposed_first + i,
                                   u.proposed_term, r->queued_writes[i].at,
                                   &r->queued_writes[i].cmd);
        r->stats.proposed += n;
    } else {
        /* A leader handing over refuses like a non-leader: the router
         * retries at the next leader (router.h, rule 4). */
        enum replica_status st = rc == RAFT_ERR_NOT_LEADER || rc == RAFT_ERR_TRANSFERRING
                                     ? REPLICA_NOT_LEADER
                                     : REPLICA_UNAVAILABLE;
        const char *why = rc == RAFT_ERR_NOT_LEADER      ? "not the leader"
                          : rc == RAFT_ERR_TRANSFERRING ? "leadership transfer in progress"
                          : rc == RAFT_ERR_BUSY         ? "leader busy"
                                                        : "cannot propose";
        for (size_t i = 0; i < n; i++)
            replica_answer(r, r->queued_writes[i].ref, st, why);
    }
    if (stepped)
        replica_absorb(r, &u);
    for (size_t i = 0; i < n; i++) {
        free(r->queued_writes[i].data);
        kv_command_release(&r->queued_writes[i].cmd);
    }
    r->n_queued_writes = 0;
    free(data);
    free(len);
}

/* config.cluster_id: a leader that has applied an entry of its own term
 * has applied everything committed before its term; if its map still holds
 * no cluster id, no id was ever committed, and it proposes its own. If it
 * holds the id but no hash key (a cluster restored from a backup, which
 * carries none), it proposes that id with its own key (config.map_key),
 * as a new cluster's first leader does. Not tracked: nobody waits for the
 * answer, and a refused one (another leader's id or key applied first)
 * changes nothing. */
static void propose_cluster_id(struct replica *r, uint64_t now_ms)
{
    raft_term term = raft_current_term(r->raft);
    uint8_t have[CLUSTER_ID_BYTES];
    if (cluster_id_is_zero(r->config.cluster_id) || raft_role(r->raft) != RAFT_LEADER ||
        r->applied_term != term || r->cluster_id_proposed_term == term)
        return;
    bool has_id = kv_cluster_id(r->kv, have);
    if (has_id && (cluster_id_is_zero(r->config.map_key) || kv_has_map_key(r->kv)))
        return;
    char hex[CLUSTER_ID_HEX_LEN + 1];
    cluster_id_hex(has_id ? have : r->config.cluster_id, hex);
    struct kv_command c = {.op = KV_CLUSTER_ID, .value = json_string(hex)};
    if (!cluster_id_is_zero(r->config.map_key)) {
        char key_hex[CLUSTER_ID_HEX_LEN + 1];
        cluster_id_hex(r->config.map_key, key_hex);
        c.to = json_string(key_hex);
    }
    uint8_t *data;
    size_t len;
    int rc = c.value && (c.to || cluster_id_is_zero(r->config.map_key))
                 ? kv_command_encode(&c, &data, &len)
                 : -1;
    json_decref(c.value);
    json_decref(c.to);
    if (rc != 0)
        return; /* out of memory: tried again at the next flush */
    const uint8_t *datas[1] = {data};
    uint32_t lens[1] = {(uint32_t)len};
    struct raft_event e = {.type = RAFT_EVENT_PROPOSE, .now_ms = now_ms};
    e.propose.n = 1;
    e.propose.data = datas;
    e.propose.len = lens;
    struct raft_update u;
    if (raft_step(r->raft, &e, &u) == RAFT_OK) {
        r->cluster_id_proposed_term = term;
        replica_supersede(r, u.proposed_first);
    }
    replica_absorb(r, &u);
    free(data);
}

/* All reads of the batch as one READ (ReadIndex, thesis 6.4). */
static void read_queued(struct replica *r, uint64_t now_ms)
{
    size_t n = r->n_queued_reads;
    if (n == 0)
        return;
    if (r->config.unsafe_local_reads) {
        /* The deliberate bug: no proof of leadership at all. */
        for (size_t i = 0; i < n; i++) {
            replica_answer_read(r, r->queued_reads[i].ref, &r->queued_reads[i].cmd,
                                replica_time(r, now_ms));
            kv_command_release(&r->queued_reads[i].cmd);
        }
        r->n_queued_reads = 0;
        return;
    }
    bool leader = raft_role(r->raft) == RAFT_LEADER;
    uint64_t *ids = leader ? malloc(n * sizeof *ids) : NULL;
    uint64_t first = r->next_read_id;
    size_t tracked = 0;
    for (size_t i = 0; i < n; i++) {
        struct queued_read *q = &r->queued_reads[i];
        if (ids && replica_track_read(r, q->ref, &q->cmd, q->at, &ids[tracked]) == 0) {
            tracked++; /* the table owns the command now */
            continue;
        }
        replica_answer(r, q->ref, leader ? REPLICA_UNAVAILABLE : REPLICA_NOT_LEADER,
                       leader ? "out of memory" : "not the leader");
        kv_command_release(&q->cmd);
    }
    r->n_queued_reads = 0;
    if (tracked == 0) {
        free(ids);
        return;
    }
    struct raft_event e = {.type = RAFT_EVENT_READ, .now_ms = now_ms};
    e.read.n = tracked;
    e.read.ids = ids;
    struct raft_update u;
    int rc = raft_step(r->raft, &e, &u);
    free(ids);
    if (rc != RAFT_OK)
        replica_fail_reads_from(r, first, rc == RAFT_ERR_BUSY ? "too many reads" : "not the leader");
    replica_absorb(r, &u);
}

/* The core asks for a TICK at once when reads wait for a round that no
 * APPEND carried (raft.h): deliver it, so the round leaves with this batch. */
static void tick_if_due(struct replica *r, uint64_t now_ms)
{
    if (raft_deadline(r->raft) > now_ms)
        return;
    struct raft_event e = {.type = RAFT_EVENT_TICK, .now_ms = now_ms};
    struct raft_update u;
    raft_step(r->raft, &e, &u);
    replica_absorb(r, &u);
}

/* Report what is durable; the core may then count this node in quorums.
 * (A report the log has since moved past is stale, and the core ignores it.) */
static void report_persisted(struct replica *r, raft_index index, raft_term term,
                             uint64_t now_ms)
{
    struct raft_event e = {.type = RAFT_EVENT_PERSISTED, .now_ms = now_ms};
    e.persisted.index = index;
    e.persisted.term = term;
    struct raft_update u;
    raft_step(r->raft, &e, &u);
    replica_absorb(r, &u);
}

void replica_synced(struct replica *r, int rc)
{
    if (!r->sync_running)
        return;
    r->sync_running = false;
    r->sync_ended = true;
    r->sync_rc = rc;
}

/* What a background sync that ended released: its held messages and its
 * PERSISTED report. */
static int finish_background_sync(struct replica *r, uint64_t now_ms)
{
    r->sync_ended = false;
    if (r->sync_rc != 0) {
        if (!r->failed)
            r->failed = r->sync_rc < 0 ? r->sync_rc : -1;
        return r->failed;
    }
    r->stats.syncs++;
    if (r->sync_index > r->durable_index)
        r->durable_index = r->sync_index;
    replica_held_send(r); /* not the outbox: it may vouch for later writes */
    if (r->sync_persist) {
        r->sync_persist = false;
        report_persisted(r, r->sync_index, r->sync_term, now_ms);
    }
    return 0;
}

/* Whether this round must wait for a background sync. 0: what was written
 * is durable now; send everything. 1: nothing more can happen until the
 * running background sync ends: either it covers all that was written (it
 * just began, or nothing was written since) and the outbox is held for it,
 * or more was written after it began and the outbox stays for the sync
 * after it. <0: the store failed. */
static int sync_round(struct replica *r)
{
    const struct replica_log_store *store = r->config.store;
    if (!store || !r->store_dirty) {
        if (!r->sync_running)
            return 0;
        replica_outbox_hold(r); /* nothing new written: the running sync covers it */
        return 1;
    }
    /* A catching-up learner groups its syncs: what it wrote waits, with
     * the acknowledgements in the outbox, for the next one. */
    uint64_t due = replica_learner_sync_due(r);
    if (due > r->now_ms)
        return 1;
    /* Rides on this sync if it writes entries (the store's choice): every
     * entry up to the core's commit index is in the store by now. */
    if (store->save_commit) {
        int rc = store->save_commit(store->impl, raft_commit_index(r->raft));
        if (rc != 0)
            return rc < 0 ? rc : -1;
    }
    if (r->config.sync_start && !r->hard_state_unsynced) {
        if (r->sync_running)
            return 1;
        int rc = r->config.sync_start(r->config.ctx);
        if (rc < 0)
            return rc;
        if (rc == REPLICA_SYNC_STARTED) {
            replica_learner_note_sync(r);
            r->sync_running = true;
            r->sync_index = r->stored_index;
            r->sync_term = r->stored_term;
            r->sync_persist = r->persist_due;
            r->persist_due = false;
            r->store_dirty = false;
            replica_outbox_hold(r);
            return 1;
        }
        if (rc == 0) {
            r->store_dirty = false;
            r->durable_index = r->stored_index;
            return 0;
        }
    }
    /* Inline; it also makes a running background sync's bytes durable, so
     * what that one holds may go too. */
    int rc = store->sync(store->impl);
    if (rc != 0)
        return rc < 0 ? rc : -1;
    replica_learner_note_sync(r);
    r->stats.syncs++;
    r->store_dirty = false;
    r->hard_state_unsynced = false;
    r->durable_index = r->stored_index;
    return 0;
}

/* Past the threshold: take a snapshot inline, or start one in the
 * background when the transport can. Whether the core was stepped. */
/* After snapshot_threshold entries, or once the log applied since the
 * latest snapshot weighs snapshot_log_percent of the map's bytes and at
 * least snapshot_log_min_bytes: the log in memory (and the tail a restart
 * replays) stays a fraction of the data. Not while a restart's tail is
 * replayed (up to restored_index): that log is in memory already, and a
 * child forked in the middle would make the rest of the replay pay a
 * copy-on-write fault for every page it writes; the snapshot comes due
 * once the tail is applied. */
static bool snapshot_due(const struct replica *r)
{
    if (r->applied <= r->snapshot_index || r->applied < r->restored_index)
        return false;
    if (r->config.snapshot_threshold > 0 &&
        r->applied - r->snapshot_index >= r->config.snapshot_threshold)
        return true;
    if (r->config.snapshot_log_percent == 0)
        return false;
    uint64_t log = r->applied_bytes - r->snapshot_bytes_mark;
    uint64_t limit = (uint64_t)kv_store_bytes(r->kv) / 100 * r->config.snapshot_log_percent;
    if (limit < r->config.snapshot_log_min_bytes)
        limit = r->config.snapshot_log_min_bytes;
    return log >= limit;
}

/* Whether this member's turn to start the due background snapshot has
 * come (snap_stagger.h), worked out once per interval; or the member has
 * been idle for REPLICA_STAGGER_IDLE_MS while waiting for it. */
static bool snapshot_turn(struct replica *r, uint64_t now_ms)
{
    unsigned n = r->config.snapshot_stagger_members;
    if (n < 2)
        return true;
    if (r->snapshot_stagger_start <= r->snapshot_index)
        r->snapshot_stagger_start = snap_stagger_start(
            r->applied, r->applied - r->snapshot_index, r->config.snapshot_stagger_slot, n);
    if (r->applied >= r->snapshot_stagger_start)
        return true;
    if (r->applied != r->snapshot_stagger_seen) {
        r->snapshot_stagger_seen = r->applied;
        r->snapshot_stagger_seen_ms = now_ms;
        return false;
    }
    return now_ms - r->snapshot_stagger_seen_ms >= REPLICA_STAGGER_IDLE_MS;
}

static bool start_snapshot(struct replica *r, uint64_t now_ms)
{
    if (!r->config.snapshot_start) {
        replica_take_snapshot(r, now_ms);
        return true;
    }
    if (r->snapshot_running || now_ms < r->snapshot_retry_ms || !snapshot_turn(r, now_ms))
        return false;
    if (r->config.snapshot_start(r->config.ctx, r->applied, r->applied_term) != 0) {
        r->snapshot_retry_ms = now_ms + REPLICA_SNAPSHOT_RETRY_MS;
        return false;
    }
    r->snapshot_running = true;
    r->snapshot_running_index = r->applied;
    r->snapshot_running_bytes = r->applied_bytes;
    return false;
}

void replica_snapshot_done(struct replica *r, raft_index index, int rc, uint64_t now_ms)
{
    r->snapshot_running = false;
    if (rc != 0) {
        r->snapshot_retry_ms = now_ms + REPLICA_SNAPSHOT_RETRY_MS;
        return;
    }
    if (r->snapshot_running_bytes > r->snapshot_bytes_mark)
        r->snapshot_bytes_mark = r->snapshot_running_bytes;
    /* Superseded by a leader's newer snapshot: the core ignores it. */
    replica_snapshot_taken(r, index, NULL, 0, now_ms);
}

bool replica_snapshot_running(const struct replica *r)
{
    return r->snapshot_running;
}

void replica_turn_end(struct replica *r)
{
    r->per_turn = true;
    r->budget_applied = 0;
    r->budget_cpu_ns = 0;
    r->keys_budget_used = 0;
}

uint64_t replica_turn_apply_cpu_ns(const struct replica *r)
{
    return r->budget_cpu_ns;
}

int replica_flush(struct replica *r, uint64_t now_ms)
{
    r->now_ms = now_ms;
    if (!r->per_turn) {
        r->budget_applied = 0;
        r->budget_cpu_ns = 0;
        r->keys_budget_used = 0;
    }
    if (r->failed)
        return r->failed;
    if (r->sync_ended && finish_background_sync(r, now_ms) != 0)
        return r->failed;
    /* The next part of a backlog of committed entries (bounded). */
    if (r->applied < r->apply_to) {
        replica_apply_backlog(r);
        if (r->failed)
            return r->failed;
    }
    /* The next step of the map's growth (bounded; at most one a ms, for
     * a flush may come several times in one loop turn). */
    if (kv_store_rehashing(r->kv) && now_ms != r->rehash_ms) {
        r->rehash_ms = now_ms;
        kv_store_rehash(r->kv, REPLICA_REHASH_SLOTS);
    }
    /* Reads first: the APPENDs of the proposal carry their heartbeat round
     * (thesis 6.4), so a mixed batch needs no separate round. */
    read_queued(r, now_ms);
    propose_queued(r, now_ms);
    propose_cluster_id(r, now_ms);
    replica_active_expiry(r, now_ms);
    /* Bounded: each round only reacts to the previous one's durability or
     * snapshot; the core settles in a few rounds. */
    for (int round = 0; round < 16; round++) {
        const struct replica_log_store *store = r->config.store;
        if (r->failed)
            return r->failed;
        tick_if_due(r, now_ms);
        if (store && (r->store_dirty || r->sync_running) && !r->hard_state_unsynced &&
            raft_role(r->raft) == RAFT_LEADER) {
            size_t before = r->n_outbox;
            replica_outbox_send_appends(r);
            if (r->n_outbox < before && r->config.flush_sends)
                r->config.flush_sends(r->config.ctx);
        }
        int waiting = sync_round(r);
        if (waiting < 0) {
            r->failed = waiting;
            return r->failed;
        }
        if (!waiting)
            replica_outbox_send(r);
        /* Answers vouch for nothing on this disk: a committed entry is
         * durable on a majority, which counts this node only once
         * PERSISTED said so. So they never wait for a background sync. */
        replica_keys_step(r); /* bounded: keys_walk_entries a flush or turn */
        replica_emit_done(r);
        if (!waiting && r->persist_due) {
            r->persist_due = false;
            report_persisted(r, r->stored_index, r->stored_term, now_ms);
            continue;
        }
        /* Checked before giving way to a running sync too: under steady
         * load one always runs, and the log must still be compacted. */
        if (snapshot_due(r) && start_snapshot(r, now_ms))
            continue;
        if (waiting)
            break; /* the rest follows when the running sync ends */
        if (r->n_outbox == 0 && r->n_done == 0 && !r->store_dirty)
            break;
    }
    replica_lend(r);
    replica_report_lost_data(r, now_ms);
    return r->failed;
}

uint64_t replica_deadline(const struct replica *r)
{
    /* A KEYS walk with work left: the same rule as the backlog's. */
    uint64_t keys = replica_keys_deadline(r);
    if (r->applied < r->apply_to) {
        /* A backlog to apply: at once, or, this turn's budget spent, on
         * the next turn. Not "now" then: a timer re-armed for now from its
         * own callback runs again in the same turn (libuv), which would
         * spin without applying anything. */
        uint64_t b = r->per_turn && replica_apply_budget(r) == 0 ? r->now_ms + 1 : 0;
        return keys < b ? keys : b;
    }
    uint64_t d = raft_deadline(r->raft);
    if (keys < d)
        d = keys;
    uint64_t due = r->store_dirty && !r->sync_running ? replica_learner_sync_due(r) : 0;
    if (due && due < d)
        d = due; /* a catching-up learner's next grouped sync */
    if (kv_store_rehashing(r->kv) && r->rehash_ms + 1 < d)
        d = r->rehash_ms + 1; /* the map's next growth step */
    /* Only what replica_expire() would time out: a committed proposal or
     * a confirmed read waits for applying, and a deadline at its age
     * would, once past, re-arm the timer for "now" forever. */
    uint64_t p = replica_expire_deadline(r);
    return p < d ? p : d;
}

/* ---- views -------------------------------------------------------------- */

int replica_id(const struct replica *r) { return r->config.raft.id; }
int replica_n_nodes(const struct replica *r) { return r->config.raft.n_nodes; }
enum raft_role replica_role(const struct replica *r) { return raft_role(r->raft); }
raft_term replica_term(const struct replica *r) { return raft_current_term(r->raft); }
int replica_leader(const struct replica *r) { return raft_leader(r->raft); }
raft_index replica_commit_index(const struct replica *r) { return raft_commit_index(r->raft); }
raft_index replica_applied_index(const struct replica *r) { return r->applied; }
raft_index replica_last_index(const struct replica *r) { return raft_last_index(r->raft); }
size_t replica_log_bytes(const struct replica *r) { return raft_log_bytes(r->raft); }
size_t replica_log_lent_bytes(const struct replica *r) { return raft_log_lent_bytes(r->raft); }
size_t replica_log_spare_bytes(const struct replica *r) { return raft_log_spare_bytes(r->raft); }
const struct kv_store *replica_store(const struct replica *r) { return r->kv; }
bool replica_cluster_id(const struct replica *r, uint8_t out[CLUSTER_ID_BYTES])
{
    return kv_cluster_id(r->kv, out);
}

void replica_set_cluster_id(struct replica *r, const uint8_t id[CLUSTER_ID_BYTES])
{
    memcpy(r->config.cluster_id, id, CLUSTER_ID_BYTES);
}

bool replica_progress(const struct replica *r, int id, raft_index *match, raft_index *next)
{
    return raft_progress(r->raft, id, match, next);
}

size_t replica_pending(const struct replica *r)
{
    return r->n_queued_writes + r->n_queued_reads + (r->proposals.tail - r->proposals.head) +
           (r->reads.tail - r->reads.head) + r->n_keys_reads;
}

void replica_stats(const struct replica *r, struct replica_stats *out)
{
    *out = r->stats;
}

void replica_refusals(const struct replica *r, struct raft_refusals *out)
{
    raft_refusals(r->raft, out);
}

const char *replica_status_name(enum replica_status s)
{
    switch (s) {
    case REPLICA_DONE: return "done";
    case REPLICA_NOT_LEADER: return "not-leader";
    case REPLICA_UNAVAILABLE: return "unavailable";
    case REPLICA_INDEFINITE: return "indefinite";
    }
    return "?";
}
