/* node.c - the Maelstrom node's dispatch: init, Raft messages between
 * nodes, and the hand-off of client requests and forwards (node_client.c).
 * Every line that goes out is rendered here into one output buffer. */
#include "node/node.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "node/node_internal.h"
#include "node/node_log.h"
#include "storage/storage_replica.h"

struct node *node_new(const struct node_options *o)
{
    struct node *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->opts = *o;
    if (n->opts.request_timeout_ms == 0)
        n->opts.request_timeout_ms = 1000;
    if (n->opts.park_timeout_ms == 0)
        n->opts.park_timeout_ms = 800;
    n->max_reqs = o->max_requests ? o->max_requests : 65536;
    n->self = -1;
    n->last_leader = RAFT_NO_NODE;
    n->last_role = -1;
    n->next_msg_id = 1;
    if (!node_requests_init(n)) {
        free(n);
        return NULL;
    }
    return n;
}

/* One closing line: what this node did, for comparing runs (syncs per
 * applied entry shows group commit at work). */
static void log_stats(const struct node *n)
{
    if (!n->replica)
        return;
    struct replica_stats st;
    replica_stats(n->replica, &st);
    node_log(NODE_LOG_INFO,
             "stats: term %llu, commit %llu, applied %llu entries, proposed %llu, %llu syncs, "
             "%llu raft messages sent, %llu indefinite answers, %llu snapshots",
             (unsigned long long)replica_term(n->replica),
             (unsigned long long)replica_commit_index(n->replica),
             (unsigned long long)st.applied, (unsigned long long)st.proposed,
             (unsigned long long)st.syncs, (unsigned long long)st.messages_sent,
             (unsigned long long)st.indefinite, (unsigned long long)st.snapshots);
    struct router_stats rs;
    router_stats(n->router, &rs);
    node_log(NODE_LOG_INFO,
             "router: %llu requests, %llu local, %llu forwarded, %llu routed again, %llu waited "
             "for a leader, %llu ended indefinite, %llu refused",
             (unsigned long long)rs.submitted, (unsigned long long)rs.local,
             (unsigned long long)rs.forwarded, (unsigned long long)rs.rerouted,
             (unsigned long long)rs.waited_for_leader, (unsigned long long)rs.ended_indefinite,
             (unsigned long long)rs.ended_refused);
}

void node_free(struct node *n)
{
    if (!n)
        return;
    log_stats(n);
    router_free(n->router); /* requests still in it are freed below */
    node_requests_free(n);
    if (n->storage && n->replica) /* marked at the close (storage_set_commit) */
        storage_set_commit(n->storage, replica_commit_index(n->replica));
    replica_free(n->replica);
    storage_close(n->storage);
    for (int i = 0; i < n->n_nodes; i++)
        free(n->names[i]);
    free(n->names);
    for (int i = 0; i < RAFT_MAX_NODES; i++) {
        outbuf_free(&n->fwd_batch[i]);
        outbuf_free(&n->fwd_reply[i]);
    }
    raft_codec_arena_free(&n->arena);
    outbuf_free(&n->out);
    free(n);
}

struct outbuf *node_output(struct node *n) { return &n->out; }

void node_set_output_writer(struct node *n, void (*write)(void *ctx), void *ctx)
{
    n->write_output = write;
    n->write_output_ctx = ctx;
}

/* replica.h: the leader's APPENDs are rendered; write them before the sync. */
static void flush_sends(void *ctx)
{
    struct node *n = ctx;
    if (n->write_output)
        n->write_output(n->write_output_ctx);
}
int node_failed(const struct node *n) { return n->failed; }

int node_peer_id(const struct node *n, const char *name)
{
    for (int i = 0; i < n->n_nodes; i++)
        if (strcmp(n->names[i], name) == 0)
            return i;
    return -1;
}

/* ---- rendering ---------------------------------------------------------- */

/* Open a line: {"src":self,"dest":dest,"body":{"type":type,"msg_id":N
 * The caller appends members (each with a leading comma), then ends it. */
void node_line_begin(struct node *n, const char *dest, const char *type)
{
    struct outbuf *b = &n->out;
    outbuf_lit(b, "{\"src\":");
    outbuf_str(b, n->self >= 0 ? n->names[n->self] : n->addressed_as);
    outbuf_lit(b, ",\"dest\":");
    outbuf_str(b, dest);
    outbuf_lit(b, ",\"body\":{\"type\":\"");
    outbuf_lit(b, type);
    outbuf_lit(b, "\",\"msg_id\":");
    outbuf_u64(b, n->next_msg_id++);
}

void node_line_end(struct node *n)
{
    outbuf_raw(&n->out, "}}\n", 3);
}

static void send_raft(void *ctx, const struct raft_msg *m)
{
    struct node *n = ctx;
    if (m->to < 0 || m->to >= n->n_nodes || m->to == n->self)
        return;
    node_line_begin(n, n->names[m->to], raft_codec_type_name(m->type));
    raft_codec_encode_fields(&n->out, m);
    node_line_end(n);
}

/* replica.h, rate-limited there: a follower lost data it had acknowledged. */
static void lost_data_raft(void *ctx, int id, raft_index agree, raft_index match)
{
    struct node *n = ctx;
    char text[640];
    replica_lost_data_text(text, sizeof text, n->names[id], agree, match);
    node_log(NODE_LOG_ERROR, "%s", text);
}

static void trace_raft(void *ctx, const char *line)
{
    (void)ctx;
    node_log(NODE_LOG_TRACE, "raft: %s", line);
}

/* ---- init --------------------------------------------------------------- */

static uint64_t default_seed(int self)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((uint64_t)ts.tv_sec * 1000000007ull) ^ (uint64_t)ts.tv_nsec ^
           ((uint64_t)getpid() << 20) ^ (uint64_t)self;
}

/* Validate and adopt (node_id, node_ids); 0 or an error text. */
static const char *adopt_membership(struct node *n, const json_t *body)
{
    const char *me = json_string_value(json_object_get(body, "node_id"));
    const json_t *ids = json_object_get(body, "node_ids");
    size_t count = json_array_size(ids);
    if (!me || !json_is_array(ids) || count == 0)
        return "init needs node_id and node_ids";
    if (count > RAFT_MAX_NODES)
        return "too many nodes";
    char **names = calloc(count, sizeof *names);
    if (!names)
        return "out of memory";
    int self = -1;
    const char *err = NULL;
    for (size_t i = 0; i < count && !err; i++) {
        const char *name = json_string_value(json_array_get(ids, i));
        if (!name || !name[0])
            err = "node_ids must be non-empty strings";
        for (size_t j = 0; j < i && !err; j++)
            if (strcmp(names[j], name) == 0)
                err = "node_ids has a duplicate";
        if (!err && !(names[i] = strdup(name)))
            err = "out of memory";
        if (!err && strcmp(name, me) == 0)
            self = (int)i;
    }
    if (!err && self < 0)
        err = "node_id is not in node_ids";
    if (err) {
        for (size_t i = 0; i < count; i++)
            free(names[i]);
        free(names);
        return err;
    }
    n->names = names;
    n->n_nodes = (int)count;
    n->self = self;
    return NULL;
}

/* The data directory with every "{node}" replaced by this node's name, so
 * that all nodes of a cluster can share one command line, as Maelstrom runs
 * them. */
static void data_dir_for(const char *pattern, const char *name, char *out, size_t size)
{
    size_t o = 0;
    for (const char *p = pattern; *p && o + 1 < size;) {
        if (strncmp(p, "{node}", 6) == 0) {
            int w = snprintf(out + o, size - o, "%s", name);
            o += w < 0 ? 0 : (size_t)w;
            if (o >= size)
                o = size - 1;
            p += 6;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
}

void node_set_background_sync(struct node *n,
                              int (*queue)(void *ctx, struct storage_sync_job *job), void *ctx)
{
    n->bg_sync.queue = queue;
    n->bg_sync.ctx = ctx;
}

/* replica_config.sync_start */
static int node_sync_start(void *ctx)
{
    return storage_replica_sync_start(&((struct node *)ctx)->bg_sync);
}

void node_sync_done(struct node *n)
{
    int rc = storage_replica_sync_end(&n->bg_sync);
    if (n->replica)
        replica_synced(n->replica, rc);
}

static const char *start_replica(struct node *n, uint64_t now_ms)
{
    struct replica_config c;
    n->seed = n->opts.seed ? n->opts.seed : default_seed(n->self);
    replica_config_default(&c, n->self, n->n_nodes, n->seed);
    /* Never hold a term or index a peer's JSON parser could not read back. */
    c.raft.max_term = RAFT_CODEC_MAX_INT;
    c.raft.max_index = RAFT_CODEC_MAX_INT;
    /* Maelstrom's JSON lines: the ordinary APPEND bounds for everyone (its
     * members never join late from an empty disk). */
    c.raft.catchup_entries_per_msg = 0;
    c.raft.catchup_bytes_per_msg = 0;
    if (n->opts.election_timeout_ms)
        c.raft.election_timeout_ms = n->opts.election_timeout_ms;
    if (n->opts.heartbeat_ms)
        c.raft.heartbeat_interval_ms = n->opts.heartbeat_ms;
    if (node_log_enabled(NODE_LOG_TRACE)) {
        c.raft.trace = trace_raft;
        c.raft.trace_ctx = n;
    }
    c.send = send_raft;
    c.complete = node_complete;
    c.flush_sends = flush_sends;
    c.peer_lost_data = lost_data_raft;
    c.ctx = n;
    c.max_pending = n->max_reqs;
    c.request_timeout_ms = n->opts.request_timeout_ms + n->opts.request_timeout_ms / 2;
    c.unsafe_local_reads = n->opts.unsafe_local_reads;
    if (n->opts.snapshot_entries)
        c.snapshot_threshold = n->opts.snapshot_entries;
    c.store = NULL;
    if (n->opts.data_dir) {
        static char err[600];
        struct raft_restore restore;
        data_dir_for(n->opts.data_dir, n->names[n->self], n->data_dir, sizeof n->data_dir);
        int rc = storage_open(n->data_dir, NULL, &n->storage, &restore, err, sizeof err);
        if (rc != 0) {
            node_log(NODE_LOG_ERROR, "cannot use --data-dir %s: %s", n->data_dir, err);
            n->failed = rc;
            return err;
        }
        storage_replica_log_store(n->storage, &n->log_store);
        c.store = &n->log_store;
        n->bg_sync.storage = n->storage;
        if (n->bg_sync.queue)
            c.sync_start = node_sync_start;
    }
    n->replica = replica_new(&c, now_ms);
    if (n->storage)
        storage_release_restore(n->storage);
    if (n->replica && n->turns)
        replica_turn_end(n->replica); /* a turn's budget from the first flush on */
    if (n->replica && replica_commit_index(n->replica) > replica_applied_index(n->replica))
        n->restart_commit_end = replica_commit_index(n->replica);
    struct router_config rc;
    router_config_default(&rc, n->self, n->n_nodes);
    rc.max_ops = n->max_reqs;
    rc.leader_wait_ms = n->opts.park_timeout_ms;
    rc.forward_timeout_ms = n->opts.request_timeout_ms;
    rc.unsafe_local_reads = n->opts.unsafe_local_reads;
    rc.submit = node_router_submit;
    rc.forward = node_router_forward;
    rc.finish = node_router_finish;
    rc.ctx = n;
    n->router = n->replica ? router_new(&rc) : NULL;
    if (!n->router) {
        replica_free(n->replica);
        n->replica = NULL;
        storage_close(n->storage);
        n->storage = NULL;
        return "cannot start the replica";
    }
    node_log(NODE_LOG_INFO,
             "started: %d nodes, raft id %d, seed %llu, election timeout %llu ms, %s%s, term "
             "%llu, last index %llu%s",
             n->n_nodes, n->self, (unsigned long long)n->seed,
             (unsigned long long)c.raft.election_timeout_ms,
             n->storage ? "durable state in " : "state in memory only (no --data-dir)",
             n->storage ? n->data_dir : "",
             (unsigned long long)replica_term(n->replica),
             (unsigned long long)replica_last_index(n->replica),
             n->opts.unsafe_local_reads ? ", UNSAFE LOCAL READS (deliberate bug)" : "");
    return NULL;
}

static void handle_init(struct node *n, const char *src, const json_t *body, const char *type,
                        json_int_t msg_id, bool has_id, uint64_t now_ms)
{
    const char *err = NULL;
    if (!n->initialized) {
        err = adopt_membership(n, body);
        if (!err) {
            node_log_set_name(n->names[n->self]);
            err = start_replica(n, now_ms);
            if (err) {
                for (int i = 0; i < n->n_nodes; i++)
                    free(n->names[i]);
                free(n->names);
                n->names = NULL;
                n->n_nodes = 0;
                n->self = -1;
            }
        }
        if (!err)
            n->initialized = true;
    } else {
        /* A repeated init must never reset what this node holds. */
        const char *me = json_string_value(json_object_get(body, "node_id"));
        if (!me || strcmp(me, n->names[n->self]) != 0)
            err = "already initialized as another node";
    }
    if (err) {
        node_log(NODE_LOG_WARN, "refused %s from %s: %s", type, src, err);
        node_reply_error(n, src, msg_id, has_id, 12, err);
        return;
    }
    char ok[32];
    snprintf(ok, sizeof ok, "%s_ok", type);
    node_line_begin(n, src, ok);
    if (has_id) {
        outbuf_lit(&n->out, ",\"in_reply_to\":");
        outbuf_i64(&n->out, msg_id);
    }
    node_line_end(n);
}

/* ---- input -------------------------------------------------------------- */

static void log_refused_raft(struct node *n, int from, enum raft_msg_type type, const char *why,
                             uint64_t now_ms)
{
    uint64_t held;
    if (!node_log_limit_pass(&n->refused_msg_log, now_ms, &held))
        return;
    node_log(NODE_LOG_WARN, "refused a %s from %s: %s (%llu more refused since the last such line)",
             raft_codec_type_name(type), n->names[from], why, (unsigned long long)held);
}

static void handle_raft(struct node *n, int from, enum raft_msg_type type, const json_t *body,
                        uint64_t now_ms)
{
    struct raft_msg m = {.from = from, .to = n->self};
    if (raft_codec_decode(body, type, &n->arena, &m) != 0) {
        log_refused_raft(n, from, type, n->arena.error, now_ms);
        return;
    }
    int rc = replica_receive(n->replica, &m, now_ms);
    if (rc == RAFT_ERR_BOUNDS) {
        char why[160];
        struct raft_refusals rf;
        replica_refusals(n->replica, &rf);
        snprintf(why, sizeof why, "%s (term %llu, max %llu)", rf.last ? rf.last : "past bounds",
                 (unsigned long long)m.term, (unsigned long long)RAFT_CODEC_MAX_INT);
        log_refused_raft(n, from, type, why, now_ms);
    } else if (rc != 0) {
        log_refused_raft(n, from, type, raft_strerror(rc), now_ms);
    }
}

void node_handle_line(struct node *n, const char *line, size_t len, uint64_t now_ms)
{
    json_error_t jerr;
    n->last_now = now_ms;
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
        len--;
    if (len == 0)
        return;
    json_t *msg = json_loadb(line, len, JSON_ALLOW_NUL, &jerr);
    if (!msg) {
        node_log(NODE_LOG_WARN, "dropped an unparseable line (%s): %.*s", jerr.text,
                 (int)(len < 80 ? len : 80), line);
        return;
    }
    const char *src = json_string_value(json_object_get(msg, "src"));
    json_t *body = json_object_get(msg, "body");
    if (!src || !json_is_object(body)) {
        node_log(NODE_LOG_WARN, "dropped a message without src or body: %.*s",
                 (int)(len < 80 ? len : 80), line);
        goto done;
    }
    if (!n->initialized) {
        /* Before init, answer as whoever the sender thinks we are. */
        const char *dest = json_string_value(json_object_get(msg, "dest"));
        snprintf(n->addressed_as, sizeof n->addressed_as, "%s", dest ? dest : "");
    }
    const json_t *id = json_object_get(body, "msg_id");
    bool has_id = node_json_u53(id);
    json_int_t msg_id = has_id ? json_integer_value(id) : 0;
    const char *type = json_string_value(json_object_get(body, "type"));
    if (json_object_get(body, "in_reply_to")) {
        node_log(NODE_LOG_DEBUG, "ignored a reply (%s) from %s", type ? type : "?", src);
        goto done; /* never answer an answer */
    }
    if (!type) {
        node_log(NODE_LOG_WARN, "a message from %s has no type", src);
        node_reply_error(n, src, msg_id, has_id, 12, "body has no string type");
        goto done;
    }
    if (strcmp(type, "init") == 0 || strcmp(type, "raft_init") == 0) {
        if (id && !has_id) {
            node_log(NODE_LOG_WARN, "refused %s from %s: msg_id is not an integer in 0..2^53-1",
                     type, src);
            node_reply_bad_msg_id(n, src, id);
            goto done;
        }
        handle_init(n, src, body, type, msg_id, has_id, now_ms);
        goto done;
    }
    int peer = n->initialized ? node_peer_id(n, src) : -1;
    int rtype = raft_codec_type(type);
    if (rtype >= 0 || strcmp(type, "fwd") == 0 || strcmp(type, "fwd_ok") == 0) {
        if (peer < 0 || peer == n->self) {
            node_log(NODE_LOG_DEBUG, "dropped %s from %s: not a peer (yet)", type, src);
            goto done;
        }
        if (rtype >= 0)
            handle_raft(n, peer, (enum raft_msg_type)rtype, body, now_ms);
        else if (type[3] == '\0')
            node_fwd_request(n, peer, body, now_ms);
        else
            node_fwd_reply(n, body);
        goto done;
    }
    node_client_request(n, src, body, type, now_ms);
done:
    json_decref(msg);
}

/* ---- batches and time ---------------------------------------------------- */

static void log_changes(struct node *n)
{
    int role = (int)replica_role(n->replica);
    int leader = replica_leader(n->replica);
    uint64_t term = replica_term(n->replica);
    if (role == n->last_role && leader == n->last_leader && term == n->last_term)
        return;
    if (role != n->last_role || leader != n->last_leader)
        node_log(NODE_LOG_INFO, "term %llu: %s, leader %s", (unsigned long long)term,
                 raft_role_name((enum raft_role)role),
                 leader >= 0 && leader < n->n_nodes ? n->names[leader] : "unknown");
    n->last_role = role;
    n->last_leader = leader;
    n->last_term = term;
}

void node_end_batch(struct node *n, uint64_t now_ms)
{
    n->last_now = now_ms;
    if (!n->initialized || n->failed)
        return;
    /* The router routes by the view this batch left (rules 1-5); what it
     * submits here, or from the replica's answers during the flush (a
     * refusal routed again, rule 4), the next flush takes. */
    router_view(n->router, replica_leader(n->replica), replica_term(n->replica),
                replica_role(n->replica) == RAFT_LEADER, now_ms);
    router_progress(n->router, replica_commit_index(n->replica), now_ms);
    for (int round = 0; round == 0 || (n->resubmitted && round < 4); round++) {
        n->resubmitted = false;
        int rc = replica_flush(n->replica, now_ms);
        if (rc != 0) {
            node_log(NODE_LOG_ERROR, "storage failed: %s; stopping",
                     n->storage ? storage_error(n->storage) : "unknown");
            n->failed = rc;
            return;
        }
    }
    node_emit_forwards(n);
    log_changes(n);
    if (n->restart_commit_end && replica_applied_index(n->replica) >= n->restart_commit_end) {
        struct timespec cpu;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
        int leader = replica_leader(n->replica);
        node_log(NODE_LOG_INFO,
                 "applied the committed log tail to index %llu (%s, leader %s; %.1f ms of CPU "
                 "since the start)",
                 (unsigned long long)n->restart_commit_end,
                 raft_role_name(replica_role(n->replica)),
                 leader >= 0 && leader < n->n_nodes ? n->names[leader] : "unknown",
                 (double)cpu.tv_sec * 1e3 + (double)cpu.tv_nsec / 1e6);
        n->restart_commit_end = 0;
    }
}

void node_turn_end(struct node *n)
{
    n->turns = true;
    if (n->replica)
        replica_turn_end(n->replica);
}

uint64_t node_applied_index(const struct node *n)
{
    return n->replica ? replica_applied_index(n->replica) : 0;
}

uint64_t node_commit_index(const struct node *n)
{
    return n->replica ? replica_commit_index(n->replica) : 0;
}

void node_tick(struct node *n, uint64_t now_ms)
{
    if (!n->initialized || n->failed)
        return;
    n->last_now = now_ms;
    replica_tick(n->replica, now_ms);
    router_tick(n->router, now_ms);
    struct raft_refusals rf;
    replica_refusals(n->replica, &rf);
    uint64_t held;
    if (rf.election > n->elections_refused_seen &&
        node_log_limit_pass(&n->refused_election_log, now_ms, &held))
        node_log(NODE_LOG_ERROR,
                 "cannot start an election: term %llu is the largest this node may hold "
                 "(2^53-1); it stays a follower (%llu refusals so far)",
                 (unsigned long long)replica_term(n->replica), (unsigned long long)rf.election);
    n->elections_refused_seen = rf.election;
}

uint64_t node_deadline(const struct node *n)
{
    if (!n->initialized || n->failed)
        return UINT64_MAX;
    uint64_t d = replica_deadline(n->replica);
    uint64_t f = router_deadline(n->router);
    return f < d ? f : d;
}
