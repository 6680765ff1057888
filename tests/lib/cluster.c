/* cluster.c - the test cluster's clock, event loop and per-node driver.
 *
 * The driver is the reference implementation of raft.h's ORDER OF WORK:
 * persist (to the simulated disk), then send, then apply, then report
 * PERSISTED. It holds no Raft logic of its own.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_private.h"

void cluster_fail(struct cluster *c, const char *fmt, ...)
{
    if (c->failed)
        return;
    c->failed = true;
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(c->error, sizeof c->error, "seed=%llu step=%llu t=%llu: %s",
             (unsigned long long)c->seed, (unsigned long long)c->steps,
             (unsigned long long)c->now, what);
}

/* ---- the driver ---- */

static void step_node(struct cluster_node *nd, const struct raft_event *e, int *rc_out)
{
    struct raft_update u;
    int rc = raft_step(nd->raft, e, &u);
    if (rc_out)
        *rc_out = rc;
    if ((rc == RAFT_ERR_INVALID || rc == RAFT_ERR_BOUNDS) && e->type == RAFT_EVENT_RECEIVE)
        cluster_fail(nd->c, "n%d refused a message a core sent: %s (%s)", nd->id,
                     raft_msg_type_name(e->receive.type), raft_strerror(rc));
    cluster_handle_update(nd, &u);
    cluster_disk_lend(nd);
}

static void maybe_snapshot(struct cluster_node *nd)
{
    struct cluster *c = nd->c;
    if (!c->snapshot_every || !nd->alive || nd->sm_applied < nd->last_snap + c->snapshot_every)
        return;
    raft_index index = nd->sm_applied;
    const struct raft_entry *e = raft_entry_at(nd->raft, index);
    if (!e)
        return;
    uint8_t *data;
    size_t len;
    cluster_sm_encode(&nd->sm, &data, &len);
    cluster_disk_save_snapshot(&nd->disk, index, e->term, data, len);
    /* Stored beside the image, as raft.h asks. */
    nd->disk.has_snap_conf = raft_configuration_at(nd->raft, index, &nd->disk.snap_conf);
    nd->last_snap = index;
    struct raft_event ev = {.type = RAFT_EVENT_SNAPSHOT, .now_ms = c->now};
    ev.snapshot.index = index;
    ev.snapshot.data = data;
    ev.snapshot.len = len;
    step_node(nd, &ev, NULL);
    free(data);
}

void cluster_handle_update(struct cluster_node *nd, const struct raft_update *u)
{
    struct cluster *c = nd->c;
    struct cluster_disk *d = &nd->disk;
    bool wrote = false;
    if (u->commit_index > c->max_commit)
        c->max_commit = u->commit_index; /* the one-change check's floor */
    if ((u->role == RAFT_LEADER || nd->role_seen == RAFT_LEADER) &&
        u->commit_index > c->max_leader_commit)
        c->max_leader_commit = u->commit_index;
    nd->role_seen = u->role;
    int crash_at = CRASH_NONE;
    if (c->crash_point_prob > 0 && (u->flags & (RAFT_UPDATE_HARD_STATE | RAFT_UPDATE_ENTRIES |
                                                RAFT_UPDATE_MESSAGES | RAFT_UPDATE_COMMITTED)) &&
        rng_double(&c->rng) < c->crash_point_prob)
        crash_at = (int)rng_below(&c->rng, CRASH_POINTS);
    if (crash_at != CRASH_NONE)
        c->crash_points_hit[crash_at]++;

    if (crash_at == CRASH_MID_PERSIST) {
        /* Power lost before the sync finished: any part of what was
         * written may be on disk, the log up to a torn tail that recovery
         * cuts back to the last whole entry. Nothing was sent. */
        if ((u->flags & RAFT_UPDATE_HARD_STATE) && rng_below(&c->rng, 2)) {
            d->term = u->term;
            d->voted_for = u->voted_for;
        }
        if ((u->flags & RAFT_UPDATE_ENTRIES) && u->entries[0].index <= cluster_disk_last(d) + 1 &&
            u->entries[0].index > d->offset && rng_below(&c->rng, 2)) {
            size_t keep = (size_t)rng_below(&c->rng, u->n_entries + 1);
            cluster_disk_truncate_from(d, u->entries[0].index);
            for (size_t i = 0; i < keep; i++) {
                raft_term prev_term = 0;
                cluster_disk_term_at(d, u->entries[i].index - 1, &prev_term);
                cluster_safety_persisted(nd, &u->entries[i], prev_term);
                cluster_disk_append(d, &u->entries[i]);
            }
            /* The commit mark comes after the entries: whole only if they
             * are (and so is every unsynced write before them: the crash
             * below decides). */
            if (keep == u->n_entries && u->commit_index > d->commit_unsynced)
                d->commit_unsynced = u->commit_index;
        }
        cluster_crash(c, nd->id);
        return;
    }

    /* Thesis 10.2.1: a leader may send its new entries while its own
     * write is still in flight; its PERSISTED comes when the sync does. */
    bool early_send = c->sync_delay_ms > 0 && u->role == RAFT_LEADER &&
                      (u->flags & RAFT_UPDATE_ENTRIES) &&
                      !(u->flags & (RAFT_UPDATE_HARD_STATE | RAFT_UPDATE_SNAPSHOT));

    /* 1. Persist. */
    if (u->flags & RAFT_UPDATE_HARD_STATE) {
        if (u->term < d->term)
            cluster_fail(c, "n%d term went back from %llu to %llu", nd->id,
                         (unsigned long long)d->term, (unsigned long long)u->term);
        d->term = u->term;
        d->voted_for = u->voted_for;
    }
    if (u->flags & RAFT_UPDATE_ENTRIES) {
        raft_index first = u->entries[0].index;
        if (first > cluster_disk_last(d) + 1 || first <= d->offset) {
            cluster_fail(c, "n%d asked to persist from %llu, disk holds %llu..%llu", nd->id,
                         (unsigned long long)first, (unsigned long long)(d->offset + 1),
                         (unsigned long long)cluster_disk_last(d));
            return;
        }
        cluster_disk_truncate_from(d, first);
        for (size_t i = 0; i < u->n_entries; i++) {
            raft_term prev_term = 0;
            cluster_disk_term_at(d, u->entries[i].index - 1, &prev_term);
            cluster_safety_persisted(nd, &u->entries[i], prev_term);
            cluster_disk_append(d, &u->entries[i]);
        }
        wrote = true;
    }
    if (u->flags & RAFT_UPDATE_SNAPSHOT) {
        cluster_disk_save_snapshot(d, u->snap_index, u->snap_term, u->snap_data, u->snap_len);
        d->has_snap_conf = u->snap_conf != NULL;
        if (u->snap_conf)
            d->snap_conf = *u->snap_conf;
        nd->last_snap = u->snap_index;
        wrote = true;
    }
    /* 2. Sync: at once, covering any write still pending, unless this
     * leader update goes out first. */
    /* The commit mark rides on a sync that writes entries (storage.h). */
    if ((u->flags & RAFT_UPDATE_ENTRIES) && u->commit_index > d->commit_unsynced)
        d->commit_unsynced = u->commit_index;
    if (early_send) {
        if (!nd->sync_at)
            nd->sync_at = c->now + c->sync_delay_ms;
        wrote = false;
    } else {
        /* A sync still pending from an earlier update is done now: report
         * it too, or the leader never counts its own entries. */
        if (nd->sync_at)
            wrote = true;
        d->durable = cluster_disk_last(d);
        cluster_disk_synced(d);
        nd->sync_at = 0;
    }
    if (crash_at == CRASH_BEFORE_SEND) {
        cluster_crash(c, nd->id);
        return;
    }
    /* 3. Send. */
    for (size_t i = 0; i < u->n_messages; i++)
        cluster_net_send(c, &u->messages[i]);
    if (crash_at == CRASH_BEFORE_APPLY) {
        cluster_crash(c, nd->id);
        return;
    }
    /* 4. Apply. */
    if (u->flags & RAFT_UPDATE_SNAPSHOT) {
        cluster_sm_decode(&nd->sm, u->snap_data, u->snap_len);
        cluster_safety_snapshot_applied(nd, u->snap_index, u->snap_term);
        nd->sm_applied = u->snap_index;
        cluster_ops_node_snapshot(nd, u->snap_index);
    }
    for (size_t i = 0; i < u->n_committed; i++) {
        const struct raft_entry *e = &u->committed[i];
        if (e->index != nd->sm_applied + 1) {
            cluster_fail(c, "n%d applied %llu after %llu: not in order", nd->id,
                         (unsigned long long)e->index, (unsigned long long)nd->sm_applied);
            return;
        }
        cluster_safety_applied(nd, e);
        cluster_sm_apply(nd, e);
        nd->sm_applied = e->index;
    }
    if (u->n_reads_ready)
        cluster_reads_done(nd, u->reads_ready, u->n_reads_ready, true);
    if (u->n_reads_failed)
        cluster_reads_done(nd, u->reads_failed, u->n_reads_failed, false);
    if (crash_at == CRASH_BEFORE_PERSISTED) {
        cluster_crash(c, nd->id);
        return;
    }
    /* 5. Report durability. */
    if (wrote && nd->alive) {
        struct raft_event ev = {.type = RAFT_EVENT_PERSISTED, .now_ms = c->now};
        ev.persisted.index = cluster_disk_last(d);
        cluster_disk_term_at(d, ev.persisted.index, &ev.persisted.term);
        step_node(nd, &ev, NULL);
    }
    maybe_snapshot(nd);
}

/* ---- lifecycle ---- */

static void node_synced(struct cluster_node *nd)
{
    struct cluster *c = nd->c;
    struct cluster_disk *d = &nd->disk;
    nd->sync_at = 0;
    d->durable = cluster_disk_last(d);
    cluster_disk_synced(d);
    struct raft_event ev = {.type = RAFT_EVENT_PERSISTED, .now_ms = c->now};
    ev.persisted.index = cluster_disk_last(d);
    cluster_disk_term_at(d, ev.persisted.index, &ev.persisted.term);
    step_node(nd, &ev, NULL);
}

/* raft_config.log_table_resize for odd ids (even ones keep realloc()):
 * every resize moves the table, as the server's mremap() allocator may,
 * and scrambles the old bytes before freeing them, so a pointer into the
 * table kept past a growth or shrink reads garbage (a use after free
 * under ASan). */
static void *moving_table(void *p, size_t old_bytes, size_t new_bytes)
{
    void *q = NULL;
    if (new_bytes) {
        q = malloc(new_bytes);
        if (!q)
            return NULL;
        if (p)
            memcpy(q, p, old_bytes < new_bytes ? old_bytes : new_bytes);
    }
    if (p)
        memset(p, 0xa5, old_bytes);
    free(p);
    return q;
}

static void node_start(struct cluster_node *nd)
{
    struct cluster *c = nd->c;
    struct raft_config cfg = c->base;
    cfg.id = nd->id;
    cfg.n_nodes = c->n;
    cfg.seed = c->seed * 1000003u + (uint64_t)nd->id * 7919u + c->steps;
    cfg.trace = c->trace_hook ? cluster_trace_cb : NULL;
    cfg.trace_ctx = nd;
    cfg.initial = c->has_initial ? &c->initial : NULL;
    if (!cfg.log_table_resize && nd->id % 2)
        cfg.log_table_resize = moving_table;
    struct cluster_disk *d = &nd->disk;
    struct raft_restore rs = {
        .term = d->term,
        .voted_for = d->voted_for,
        .snap_index = d->snap_index,
        .snap_term = d->snap_term,
        .snap_data = d->snap,
        .snap_len = d->snap_len,
        .entries = d->ents,
        .n_entries = d->n,
        .snap_conf = d->has_snap_conf ? &d->snap_conf : NULL,
        .commit = cluster_disk_restored_commit(d, cfg.seed),
    };
    nd->raft = raft_new(&cfg, &rs, c->now);
    if (!nd->raft) {
        cluster_fail(c, "n%d: raft_new refused its own disk", nd->id);
        nd->alive = false;
        return;
    }
    c->restored_committed += raft_commit_index(nd->raft) - d->snap_index;
    nd->alive = true;
    nd->sync_at = 0;
    d->durable = cluster_disk_last(d);
    memset(&nd->sm, 0, sizeof nd->sm);
    cluster_sm_decode(&nd->sm, d->snap, d->snap_len);
    nd->sm_applied = d->snap_index;
    nd->last_snap = d->snap_index;
    nd->role_seen = RAFT_FOLLOWER;
    nd->lead_term = 0;
    nd->lead_last = 0;
}

struct cluster *cluster_new_config(int n, uint64_t seed, const struct raft_config *base)
{
    return cluster_new_members(n, n, seed, base);
}

struct cluster *cluster_new_members(int n, int n_voters, uint64_t seed,
                                    const struct raft_config *base)
{
    if (n < 1 || n > RAFT_MAX_NODES || n_voters < 1 || n_voters > n)
        return NULL;
    struct cluster *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->n = n;
    c->seed = seed;
    c->base = *base;
    rng_seed(&c->rng, seed);
    const char *env = getenv("RAFTKV_TRACE");
    c->trace_print = env && *env && strcmp(env, "0") != 0;
    c->trace_hook = base->trace != NULL || c->trace_print;
    c->trace_on = base->trace != NULL;
    c->next_op_id = 1;
    if (n_voters < n) {
        c->has_initial = true;
        c->initial.n = n_voters;
        for (int i = 0; i < n_voters; i++)
            c->initial.members[i] = (struct raft_member){.id = i, .role = RAFT_VOTER};
    }
    cluster_net_init(c);
    for (int i = 0; i < n; i++) {
        struct cluster_node *nd = &c->nodes[i];
        nd->c = c;
        nd->id = i;
        nd->disk.voted_for = RAFT_NO_NODE;
        node_start(nd);
    }
    return c;
}

/* A marker: cluster_new() captures the trace; this hook is replaced. */
static void trace_marker(void *ctx, const char *line)
{
    (void)ctx;
    (void)line;
}

struct cluster *cluster_new(int n, uint64_t seed)
{
    struct raft_config base;
    raft_config_default(&base, 0, n < 1 ? 1 : n, seed);
    base.trace = trace_marker;
    return cluster_new_config(n, seed, &base);
}

void cluster_free(struct cluster *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n; i++) {
        raft_free(c->nodes[i].raft);
        cluster_disk_free(&c->nodes[i].disk);
    }
    cluster_net_free(c);
    cluster_ops_free(c);
    cluster_safety_free(c);
    cluster_trace_clear(c);
    free(c->trace_lines);
    free(c);
}

uint64_t cluster_seed(const struct cluster *c)
{
    return c->seed;
}
uint64_t cluster_now(const struct cluster *c)
{
    return c->now;
}
uint64_t cluster_steps(const struct cluster *c)
{
    return c->steps;
}
int cluster_n(const struct cluster *c)
{
    return c->n;
}
struct rng *cluster_rng(struct cluster *c)
{
    return &c->rng;
}
bool cluster_ok(const struct cluster *c)
{
    return !c->failed;
}
const char *cluster_error(const struct cluster *c)
{
    return c->error;
}
struct raft *cluster_raft(struct cluster *c, int node)
{
    return node >= 0 && node < c->n && c->nodes[node].alive ? c->nodes[node].raft : NULL;
}
bool cluster_alive(const struct cluster *c, int node)
{
    return node >= 0 && node < c->n && c->nodes[node].alive;
}
void cluster_set_leader_sync_delay(struct cluster *c, uint64_t ms)
{
    c->sync_delay_ms = ms;
}

uint64_t cluster_crash_points_hit(const struct cluster *c, int point)
{
    return point >= 0 && point < CRASH_POINTS ? c->crash_points_hit[point] : 0;
}

void cluster_set_crash_points(struct cluster *c, double probability)
{
    c->crash_point_prob = probability;
}

void cluster_set_snapshot_every(struct cluster *c, raft_index every)
{
    c->snapshot_every = every;
}

void cluster_set_lend(struct cluster *c, bool on)
{
    c->lend = on;
}

uint64_t cluster_lent(const struct cluster *c)
{
    return c->lent;
}

uint64_t cluster_restored_committed(const struct cluster *c)
{
    return c->restored_committed;
}
uint64_t cluster_msgs_sent(const struct cluster *c, enum raft_msg_type type)
{
    return (unsigned)type < RAFT_MSG_TYPE_COUNT ? c->msgs_sent[type] : 0;
}
uint64_t cluster_msgs_sent_to(const struct cluster *c, enum raft_msg_type type, int to)
{
    return (unsigned)type < RAFT_MSG_TYPE_COUNT && to >= 0 && to < c->n ? c->msgs_sent_to[to][type]
                                                                        : 0;
}
uint64_t cluster_max_entries_in_append(const struct cluster *c)
{
    return c->max_entries_in_append;
}

int cluster_leader(const struct cluster *c)
{
    int best = -1;
    raft_term best_term = 0;
    for (int i = 0; i < c->n; i++) {
        const struct cluster_node *nd = &c->nodes[i];
        if (nd->alive && raft_role(nd->raft) == RAFT_LEADER &&
            raft_current_term(nd->raft) >= best_term) {
            best = i;
            best_term = raft_current_term(nd->raft);
        }
    }
    return best;
}

bool cluster_sm_get(const struct cluster *c, int node, int key, int32_t *value)
{
    if (node < 0 || node >= c->n || key < 0 || key >= CLUSTER_MAX_KEYS)
        return false;
    if (!c->nodes[node].sm.present[key])
        return false;
    *value = c->nodes[node].sm.value[key];
    return true;
}

void cluster_crash(struct cluster *c, int node)
{
    struct cluster_node *nd = &c->nodes[node];
    if (!nd->alive)
        return;
    cluster_ops_node_crashed(nd);
    /* Writes not yet synced are lost, but for a torn prefix of them. */
    struct cluster_disk *d = &nd->disk;
    if (d->durable < cluster_disk_last(d)) {
        raft_index keep = d->durable + rng_below(&c->rng, cluster_disk_last(d) - d->durable + 1);
        /* The unsynced commit mark follows every unsynced entry. */
        if (keep == cluster_disk_last(d))
            cluster_disk_synced(d);
        cluster_disk_truncate_from(d, keep + 1);
    }
    d->commit_unsynced = 0;
    raft_free(nd->raft);
    nd->raft = NULL;
    nd->alive = false;
    cluster_disk_reap_all(d); /* nothing points at them any more */
}

void cluster_wipe_disk(struct cluster *c, int node)
{
    struct cluster_node *nd = &c->nodes[node];
    if (nd->alive)
        return;
    cluster_disk_free(&nd->disk);
    nd->disk.voted_for = RAFT_NO_NODE;
}

void cluster_restart(struct cluster *c, int node)
{
    struct cluster_node *nd = &c->nodes[node];
    if (nd->alive)
        return;
    node_start(nd);
}

/* ---- the event loop ---- */

enum next_kind { NEXT_NONE, NEXT_MSG, NEXT_NODE, NEXT_SYNC, NEXT_OP };

static enum next_kind next_event(const struct cluster *c, uint64_t *at, int *node)
{
    enum next_kind kind = NEXT_NONE;
    uint64_t t;
    if (cluster_net_peek(c, &t)) {
        kind = NEXT_MSG;
        *at = t;
    }
    for (int i = 0; i < c->n; i++) {
        if (!c->nodes[i].alive)
            continue;
        t = raft_deadline(c->nodes[i].raft);
        if (t < c->now)
            t = c->now;
        if (kind == NEXT_NONE || t < *at) {
            kind = NEXT_NODE;
            *at = t;
            *node = i;
        }
    }
    for (int i = 0; i < c->n; i++) {
        t = c->nodes[i].sync_at;
        if (c->nodes[i].alive && t && (kind == NEXT_NONE || t < *at)) {
            kind = NEXT_SYNC;
            *at = t;
            *node = i;
        }
    }
    if (cluster_ops_next_deadline(c, &t) && (kind == NEXT_NONE || t < *at)) {
        kind = NEXT_OP;
        *at = t;
    }
    return kind;
}

int cluster_inject(struct cluster *c, const struct raft_msg *m)
{
    if (m->to < 0 || m->to >= c->n || !c->nodes[m->to].alive)
        return RAFT_ERR_INVALID;
    struct cluster_node *nd = &c->nodes[m->to];
    struct raft_event ev = {.type = RAFT_EVENT_RECEIVE, .now_ms = c->now};
    ev.receive = *m;
    struct raft_update u;
    int rc = raft_step(nd->raft, &ev, &u);
    cluster_handle_update(nd, &u);
    return rc;
}

static void run_event(struct cluster *c, enum next_kind kind, uint64_t at, int node)
{
    if (at > c->now) {
        c->now = at;
        c->steps_at_now = 0;
    }
    c->steps++;
    /* Messages answered at zero latency could ping-pong forever without the
     * clock moving; a core that never settles is a bug worth a report. */
    if (++c->steps_at_now > CLUSTER_MAX_STEPS_AT_ONE_TIME) {
        cluster_fail(c, "livelock: over %d events without the clock moving",
                     CLUSTER_MAX_STEPS_AT_ONE_TIME);
        return;
    }
    switch (kind) {
    case NEXT_MSG: {
        struct cluster_flight f;
        cluster_net_pop(c, &f);
        struct cluster_node *nd = &c->nodes[f.msg.to];
        /* A crashed receiver or a cut link loses it on arrival. */
        if (nd->alive && !c->links[f.msg.from][f.msg.to].cut) {
            struct raft_event ev = {.type = RAFT_EVENT_RECEIVE, .now_ms = c->now};
            ev.receive = f.msg;
            step_node(nd, &ev, NULL);
        }
        cluster_flight_free(&f);
        break;
    }
    case NEXT_NODE: {
        struct raft_event ev = {.type = RAFT_EVENT_TICK, .now_ms = c->now};
        step_node(&c->nodes[node], &ev, NULL);
        break;
    }
    case NEXT_SYNC:
        node_synced(&c->nodes[node]);
        break;
    case NEXT_OP:
        cluster_ops_expire(c);
        break;
    case NEXT_NONE:
        break;
    }
    cluster_safety_after_step(c);
}

bool cluster_step(struct cluster *c)
{
    if (c->failed)
        return false;
    uint64_t at = 0;
    int node = -1;
    enum next_kind kind = next_event(c, &at, &node);
    if (kind == NEXT_NONE)
        return false;
    run_event(c, kind, at, node);
    return !c->failed;
}

bool cluster_elapse(struct cluster *c, uint64_t ms)
{
    uint64_t until = c->now + ms;
    while (!c->failed) {
        uint64_t at = 0;
        int node = -1;
        enum next_kind kind = next_event(c, &at, &node);
        if (kind == NEXT_NONE || at > until)
            break;
        run_event(c, kind, at, node);
    }
    if (!c->failed)
        c->now = until;
    return !c->failed;
}

bool cluster_step_until(struct cluster *c, bool (*pred)(struct cluster *c, void *ctx), void *ctx,
                        uint64_t max_ms)
{
    uint64_t until = c->now + max_ms;
    while (!c->failed) {
        if (pred(c, ctx))
            return true;
        uint64_t at = 0;
        int node = -1;
        enum next_kind kind = next_event(c, &at, &node);
        if (kind == NEXT_NONE || at > until)
            break;
        run_event(c, kind, at, node);
    }
    if (!c->failed && c->now < until)
        c->now = until;
    return !c->failed && pred(c, ctx);
}

static bool one_leader_known(struct cluster *c, void *ctx)
{
    (void)ctx;
    int l = cluster_leader(c);
    if (l < 0)
        return false;
    raft_term t = raft_current_term(c->nodes[l].raft);
    /* Heard by a majority of the voters of the leader's configuration. */
    const struct raft_configuration *conf = raft_configuration(c->nodes[l].raft);
    int followers = 0, voters = 0;
    for (int k = 0; k < conf->n; k++) {
        if (conf->members[k].role != RAFT_VOTER)
            continue;
        voters++;
        int i = conf->members[k].id;
        if (i < c->n && c->nodes[i].alive && raft_current_term(c->nodes[i].raft) == t &&
            raft_leader(c->nodes[i].raft) == l)
            followers++;
    }
    return followers >= voters / 2 + 1;
}

int cluster_wait_leader(struct cluster *c, uint64_t max_ms)
{
    return cluster_step_until(c, one_leader_known, NULL, max_ms) ? cluster_leader(c) : -1;
}

/* Members: of the leader's configuration if there is a leader, else each
 * node's own (spares outside it and removed nodes receive nothing). */
static bool all_applied(struct cluster *c, void *ctx)
{
    raft_index index = *(raft_index *)ctx;
    int l = cluster_leader(c);
    for (int i = 0; i < c->n; i++) {
        if (!c->nodes[i].alive || c->nodes[i].sm_applied >= index)
            continue;
        struct raft *r = l >= 0 ? c->nodes[l].raft : c->nodes[i].raft;
        if (raft_configuration_find(raft_configuration(r), i))
            return false;
    }
    return true;
}

bool cluster_wait_applied(struct cluster *c, raft_index index, uint64_t max_ms)
{
    return cluster_step_until(c, all_applied, &index, max_ms);
}

int cluster_change(struct cluster *c, int node, enum raft_change_type type, int id,
                   raft_index *index)
{
    if (node < 0 || node >= c->n || !c->nodes[node].alive)
        return RAFT_ERR_INVALID;
    struct raft_event ev = {.type = RAFT_EVENT_CHANGE, .now_ms = c->now};
    ev.change.type = type;
    ev.change.id = id;
    struct raft_update u;
    int rc = raft_step(c->nodes[node].raft, &ev, &u);
    if (index)
        *index = rc == RAFT_OK ? u.proposed_first : 0;
    cluster_handle_update(&c->nodes[node], &u);
    cluster_safety_after_step(c);
    return rc;
}

int cluster_propose(struct cluster *c, int node, const void *data, uint32_t len,
                    raft_index *index)
{
    struct cluster_node *nd = &c->nodes[node];
    if (!nd->alive)
        return RAFT_ERR_NOT_LEADER;
    const uint8_t *d = data;
    struct raft_event ev = {.type = RAFT_EVENT_PROPOSE, .now_ms = c->now};
    ev.propose.n = 1;
    ev.propose.data = &d;
    ev.propose.len = &len;
    struct raft_update u;
    int rc = raft_step(nd->raft, &ev, &u);
    if (rc == RAFT_OK && index)
        *index = u.proposed_first;
    cluster_handle_update(nd, &u);
    cluster_safety_after_step(c);
    return rc;
}
