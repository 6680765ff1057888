/* server_main.c - `raftkv serve`: start-up, the loop's batch boundary, timers
 * and graceful shutdown. The order of work is described in
 * server_internal.h; the options in server_options.c. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "net/tls.h"
#include "replica/apply_pace.h"
#include "server/server.h"
#include "server/alloc.h"
#include "server/log_table.h"
#include "server/mem_dir.h"
#include "server/server_internal.h"
#include "storage/storage.h"

uint64_t server_now(struct server *s)
{
    return uv_now(s->loop);
}


/* The clock the leader stamps into entries and reads (expiry): real time,
 * ms since the epoch. */
static int64_t server_wall_clock_ms(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The loop thread's CPU time in ns: what the apply budget is counted in
 * (--apply-cpu-ms); a system call (2-7 us on this kind of virtual
 * machine). */
static uint64_t server_thread_cpu_ns(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Monotonic time in ns (the vDSO: about 50 ns), which a thread's CPU time
 * never outruns: the replica reads it after each entry applied and the
 * CPU clock only when this one says the budget may be spent. */
static uint64_t server_monotonic_ns(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void server_on_send(void *ctx, const struct raft_msg *m)
{
    if (m->type == RAFT_MSG_SNAPSHOT && m->snap_len == 0)
        snap_xfer_send(ctx, m); /* streamed from the file (snap_transfer.h) */
    else
        peer_send_raft(ctx, m);
}

static void server_on_complete(void *ctx, uint64_t ref, const struct replica_result *res)
{
    commands_complete(ctx, ref, res);
}

/* replica.h: a leader's APPENDs were just queued ahead of its own fsync;
 * write them now (uv_try_write, the rest queued) so the followers append
 * and fsync while this node does (thesis 10.2.1). */
static void server_on_flush_sends(void *ctx)
{
    peer_flush_writes(ctx);
}

/* replica.h, rate-limited there: a follower lost data it had acknowledged. */
static void server_on_peer_lost_data(void *ctx, int id, raft_index agree, raft_index match)
{
    struct server *s = ctx;
    char text[640];
    replica_lost_data_text(text, sizeof text, s->opt.names[id], agree, match);
    server_log(SLOG_ERROR, "peer_lost_data", "peer=%s agree=%" PRIu64 " match=%" PRIu64 " msg=\"%s\"",
               s->opt.names[id], agree, match, text);
}

/* raft.h: the log's payload blocks on huge pages where the kernel grants
 * them on request (THP "madvise"): a follower takes tens of thousands of
 * entries a second into fresh memory, and one fault per 2 MiB instead of
 * one per 4 KiB halved its log's CPU per entry (bench/log_bench.c). */
static void server_advise_log_block(void *block, size_t len)
{
#ifdef MADV_HUGEPAGE
    uintptr_t from = ((uintptr_t)block + 4095) & ~(uintptr_t)4095;
    uintptr_t to = ((uintptr_t)block + len) & ~(uintptr_t)4095;
    if (to > from)
        (void)madvise((void *)from, to - from, MADV_HUGEPAGE);
#else
    (void)block;
    (void)len;
#endif
}

static void server_on_trace(void *ctx, const char *line)
{
    (void)ctx;
    server_log(SLOG_DEBUG, "raft", "decision=\"%s\"", line);
}

static void server_tick(uv_timer_t *t);
static void server_apply_idle(uv_idle_t *h);

static void server_close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Close every handle; uv_run returns once they are all closed. */
static void server_finish(struct server *s, const char *why)
{
    if (s->finished)
        return;
    s->finished = true;
    if (s->exit_code == 0 && s->fatal)
        s->exit_code = 1;
    server_log(s->fatal ? SLOG_ERROR : SLOG_INFO, "shutdown", "reason=\"%s\" pending=%zu", why, s->n_ops);
    uv_timer_stop(&s->tick_timer);
    server_close_handle((uv_handle_t *)&s->tick_timer);
    server_close_handle((uv_handle_t *)&s->turn_prepare);
    server_close_handle((uv_handle_t *)&s->apply_idle);
    server_close_handle((uv_handle_t *)&s->check);
    server_close_handle((uv_handle_t *)&s->sig_term);
    server_close_handle((uv_handle_t *)&s->sig_int);
    server_close_handle((uv_handle_t *)&s->sig_hup);
    metrics_http_stop(s);
    server_transfer_abort(s, "the server is stopping");
    server_member_op_abort(s, "the server is stopping");
    client_stop_accepting(s);
    client_close_all(s);
    snap_xfer_stop(s);
    peer_stop(s);
    server_store_stop_snapshot(s);
}

void server_fatal(struct server *s, const char *why)
{
    if (s->fatal)
        return;
    s->fatal = true;
    s->shutting_down = true;
    server_finish(s, why);
}

static bool server_drained(struct server *s)
{
    if (s->n_ops > 0)
        return false;
    for (struct client *c = s->clients; c; c = c->next)
        if (c->head || server_out_bytes(&c->out) > 0)
            return false;
    return true;
}

void server_after_io(struct server *s)
{
    if (s->fatal || s->finished || !s->replica)
        return;
    metrics_observe(s);
    uint64_t now = server_now(s);
    /* The view this batch's input left (a new leader, a lost one) first:
     * what waits for a leader goes, what went to a former one ends. */
    route_view(s, now);
    uint64_t next_expiry = commands_expire(s, now);
    /* Operations the router routes again (a definite refusal) go at once;
     * a few rounds at most. */
    for (int round = 0; round < 4; round++) {
        client_drain_held(s);
        /* First what the peers' messages earned (answers to committed
         * operations, a follower's acknowledgements), written at once;
         * then the new operations, whose flush syncs them. */
        int rc = replica_flush(s->replica, now);
        if (rc == 0) {
            route_view(s, now);
            if (s->queued_head) {
                peer_flush_writes(s);
                client_flush_writes(s);
                commands_submit_queued(s);
                rc = replica_flush(s->replica, now);
            }
        }
        if (rc != 0) {
            server_log(SLOG_ERROR, "storage_failed", "rc=%d reason=\"%s\"", rc,
                       s->storage ? storage_error(s->storage) : "?");
            server_fatal(s, "storage failed: the node cannot trust its disk and stops");
            return;
        }
        route_view(s, now);
        if (!s->queued_head)
            break;
    }
    server_apply_gate(s);
    server_store_tail(s);
    if (server_identity_sync(s) != 0) {
        server_fatal(s, "cannot record the cluster id");
        return;
    }
    server_members_sync(s);
    server_member_op_check(s);
    snap_xfer_pump(s);
    server_transfer_check(s);
    peer_flush_writes(s);
    client_flush_writes(s);
    if (s->shutting_down) {
        /* A leader hands over first (about an election timeout at most). */
        if (server_transfer_running(s) && now < s->shutdown_deadline_ms) {
            if (next_expiry > server_transfer_deadline(s))
                next_expiry = server_transfer_deadline(s);
        } else {
            /* Linger half an election timeout after any handover, still
             * answering: a follower's forward already on its way here gets
             * "not the leader" (definite) instead of no answer at all,
             * which it would have to report as -UNCERTAIN. */
            if (!s->shutdown_linger_ms)
                s->shutdown_linger_ms = now + s->opt.election_timeout_ms / 2;
            if (server_drained(s) && now >= s->shutdown_linger_ms) {
                char why[sizeof s->shutdown_cause + 40];
                snprintf(why, sizeof why, "%s: in-flight requests answered", s->shutdown_cause);
                server_finish(s, why);
                return;
            }
            if (now < s->shutdown_linger_ms && next_expiry > s->shutdown_linger_ms)
                next_expiry = s->shutdown_linger_ms;
        }
        if (now >= s->shutdown_deadline_ms) {
            char why[sizeof s->shutdown_cause + 60];
            snprintf(why, sizeof why, "%s: shutdown wait elapsed with requests in flight", s->shutdown_cause);
            server_finish(s, why);
            return;
        }
        if (next_expiry > s->shutdown_deadline_ms)
            next_expiry = s->shutdown_deadline_ms;
    }
    if (server_transfer_deadline(s) < next_expiry)
        next_expiry = server_transfer_deadline(s);
    if (server_member_op_deadline(s) < next_expiry)
        next_expiry = server_member_op_deadline(s);
    if (server_members_deadline(s) < next_expiry)
        next_expiry = server_members_deadline(s);
    uint64_t routed = router_deadline(s->router);
    if (routed < next_expiry)
        next_expiry = routed;
    uint64_t deadline = replica_deadline(s->replica);
    if (next_expiry < deadline)
        deadline = next_expiry;
    if (s->queued_head || s->drain_head)
        deadline = now;
    /* A backlog to apply: the loop goes round without sleeping (the check
     * handle applies the next turn's budget; apply_pace.h). */
    struct apply_pace pace = apply_pace(replica_applied_index(s->replica),
                                        replica_commit_index(s->replica), deadline, now, 1000);
    if (pace.keep_turning) {
        if (!uv_is_active((uv_handle_t *)&s->apply_idle))
            uv_idle_start(&s->apply_idle, server_apply_idle);
    } else if (uv_is_active((uv_handle_t *)&s->apply_idle)) {
        uv_idle_stop(&s->apply_idle);
    }
    if (!uv_is_closing((uv_handle_t *)&s->tick_timer))
        uv_timer_start(&s->tick_timer, server_tick, pace.delay_ms, 0);
}

static void server_apply_idle(uv_idle_t *h)
{
    (void)h; /* only keeps the poll from sleeping: server_check applies */
}

static void server_tick(uv_timer_t *t)
{
    struct server *s = t->data;
    if (s->fatal)
        return;
    loop_watch_note(&s->loop_watch, LOOP_CB_TICK);
    replica_tick(s->replica, server_now(s));
    server_raft_refusals_check(s);
    /* The poll phase may now block: end this batch here, not in uv_check. */
    server_after_io(s);
}

static void server_check(uv_check_t *h)
{
    struct server *s = h->data;
    loop_watch_note(&s->loop_watch, LOOP_CB_BATCH);
    server_after_io(s);
}

/* The loop's prepare handle, run once per turn just before the poll: ends
 * the turn that began at the previous one (loop_watch.h). A turn whose CPU
 * time passed --slow-loop-ms is logged (rate-limited) with the callbacks
 * that ran in it. */
static void server_turn(uv_prepare_t *h)
{
    struct server *s = h->data;
    uint64_t apply_ns = 0;
    if (s->replica) {
        apply_ns = replica_turn_apply_cpu_ns(s->replica);
        replica_turn_end(s->replica); /* the apply budget is per turn */
    }
    struct timespec cpu, wall;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
    clock_gettime(CLOCK_MONOTONIC, &wall);
    struct loop_turn t;
    if (!loop_watch_turn(&s->loop_watch, (uint64_t)cpu.tv_sec * 1000000000u + (uint64_t)cpu.tv_nsec,
                         (uint64_t)wall.tv_sec * 1000000000u + (uint64_t)wall.tv_nsec, &t))
        return;
    char cbs[160];
    loop_watch_tags_text(t.tags, cbs, sizeof cbs);
    server_log_limited(SLOG_WARN, "slow_loop_turn",
                       "cpu_ms=%.1f wall_ms=%.1f callbacks=%s keys=%zu last_index=%" PRIu64 " apply_cpu_ms=%.1f"
                       " detail=\"the event loop did this much work in one turn; no heartbeat or reply went out "
                       "meanwhile\"",
                       (double)t.cpu_ns / 1e6, (double)t.wall_ns / 1e6, cbs,
                       s->replica ? kv_store_size(replica_store(s->replica)) : (size_t)0,
                       s->replica ? (uint64_t)replica_last_index(s->replica) : 0, (double)apply_ns / 1e6);
}

static void server_on_signal(uv_signal_t *h, int signum)
{
    struct server *s = h->data;
    loop_watch_note(&s->loop_watch, LOOP_CB_SIGNAL);
    if (s->shutting_down) {
        server_log(SLOG_WARN, "shutdown_forced", "signal=%d", signum);
        server_finish(s, "second signal");
        return;
    }
    server_begin_shutdown(s, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

void server_begin_shutdown(struct server *s, const char *why)
{
    if (s->shutting_down)
        return;
    s->shutting_down = true;
    snprintf(s->shutdown_cause, sizeof s->shutdown_cause, "%s", why);
    s->shutdown_deadline_ms = server_now(s) + s->opt.shutdown_wait_ms;
    server_log(SLOG_INFO, "shutdown_begin", "reason=\"%s\" pending=%zu wait_ms=%" PRIu64, why, s->n_ops,
               s->opt.shutdown_wait_ms);
    client_stop_accepting(s);
    client_stop_reading_all(s);
    /* A leader hands leadership over before it goes (thesis 3.10), so the
     * clients of every member find a leader at once instead of waiting
     * for an election, and what was forwarded to it is answered. */
    if (replica_role(s->replica) == RAFT_LEADER && s->opt.n_nodes > 1) {
        const char *why = NULL;
        if (!server_transfer_running(s) && server_transfer_start(s, RAFT_NO_NODE, NULL, &why) < 0)
            server_log(SLOG_WARN, "transfer_failed", "reason=\"%s\"", why ? why : "?");
    }
    server_after_io(s);
}

/* SIGHUP: reopen --log-file (logrotate moved it); never stop. */
static void server_on_hup(uv_signal_t *h, int signum)
{
    struct server *s = h->data;
    (void)signum;
    if (!s->opt.log_file[0]) {
        server_log(SLOG_INFO, "sighup", "action=none detail=\"no --log-file to reopen\"");
        return;
    }
    if (server_log_reopen() != 0) {
        int e = errno;
        server_log(SLOG_ERROR, "log_reopen_failed", "path=%s reason=\"%s\" detail=\"still writing to the old file\"",
                   s->opt.log_file, strerror(e));
        return;
    }
    server_log(SLOG_INFO, "log_reopened", "path=%s", s->opt.log_file);
}

static void server_free(struct server *s)
{
    commands_free_all(s);
    /* The commit index it knows goes into the log at the close, so the
     * next start applies all of it at once (storage_set_commit). */
    if (s->storage && s->replica)
        storage_set_commit(s->storage, replica_commit_index(s->replica));
    replica_free(s->replica);
    s->replica = NULL;
    server_store_close(s);
    for (int i = 0; i < RAFT_MAX_NODES; i++) {
        server_out_free(&s->links[i].out);
        tls_session_free(s->links[i].out.tls);
    }
    tls_ctx_free(s->peer_tls_server);
    tls_ctx_free(s->peer_tls_client);
    tls_ctx_free(s->client_tls);
    if (s->loop) {
        uv_loop_close(s->loop);
        free(s->loop);
    }
    acl_free(&s->acl);
    metrics_http_free(s);
    free(s);
}

int server_main(int argc, char **argv)
{
    struct server *s = calloc(1, sizeof *s);
    if (!s)
        return 1;
    int rc = server_options_parse(&s->opt, argc, argv);
    if (rc != 0) {
        free(s);
        return rc == 1 ? 0 : 64;
    }
    struct server_options *o = &s->opt;
    if (o->log_file[0] && server_log_open_file(o->log_file) != 0) {
        fprintf(stderr, "raftkv serve: cannot open --log-file %s: %s\n", o->log_file, strerror(errno));
        free(s);
        return 1;
    }
    server_log_init(o->id, o->log_level);
    if (server_auth_setup(s) != 0) {
        acl_free(&s->acl);
        free(s);
        return 64;
    }
    signal(SIGPIPE, SIG_IGN);
    if (o->seed == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        o->seed = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40) ^ (uint64_t)o->self;
    }
    s->loop = malloc(sizeof *s->loop);
    if (!s->loop || uv_loop_init(s->loop) != 0) {
        free(s->loop);
        s->loop = NULL;
        server_free(s);
        return 1;
    }
    s->loop->data = s; /* for the thread pool's completions */
    loop_watch_init(&s->loop_watch, o->slow_loop_ms);
    /* Certificate files are read now, before the data directory is touched:
     * a bad one stops the start with the file named. */
    if (client_tls_start(s) != 0) {
        server_free(s);
        return 1;
    }
    s->started_ms = server_now(s);
    snap_xfer_init(s);
    /* Operation ids travel to the leader and come back in its answers; a
     * late answer meant for an earlier incarnation of this node must not
     * match a new operation, so ids start from the wall clock in ns (a
     * restarted node starts past every id it used before). */
    struct timespec now_ts;
    clock_gettime(CLOCK_REALTIME, &now_ts);
    s->next_op_id = (uint64_t)now_ts.tv_sec * 1000000000ull + (uint64_t)now_ts.tv_nsec;

    alloc_background_release();
    /* An in-memory member runs the same storage in a private directory
     * on a tmpfs (mem_dir.h): its snapshots are forked or walked in the
     * background and sent in chunks as a durable member's are, and a
     * restart starts empty. */
    if (o->in_memory) {
        char err[512];
        bool on_memory = false;
        int swept = mem_dir_sweep(o->in_memory_dir);
        if (swept > 0)
            server_log(SLOG_INFO, "in_memory_dirs_swept", "dir=%s removed=%d detail=\"left by members killed before they could remove them\"",
                       o->in_memory_dir, swept);
        if (mem_dir_make(o->in_memory_dir, s->mem_dir, sizeof s->mem_dir, &on_memory, err, sizeof err) != 0) {
            server_log(SLOG_ERROR, "storage_open_failed", "dir=%s reason=\"%s\"", o->in_memory_dir, err);
            server_free(s);
            return 1;
        }
        if (!on_memory)
            server_log(SLOG_WARN, "in_memory_dir_on_disk", "dir=%s detail=\"not a tmpfs: the log and snapshots "
                       "of this in-memory member are written (and synced) to a disk\"", s->mem_dir);
    }
    {
        char err[512];
        const char *dir = o->in_memory ? s->mem_dir : o->data_dir;
        rc = server_store_open(s, dir, err, sizeof err);
        if (rc != 0) {
            server_log(SLOG_ERROR, "storage_open_failed", "dir=%s rc=%d reason=\"%s\"", dir, rc, err);
            server_free(s);
            return 1;
        }
    }
    /* The member table: the members file, --peers, or learned by joining. */
    struct member_table joined;
    uint8_t joined_id[CLUSTER_ID_BYTES];
    bool join_now = false;
    if (o->join_set) {
        struct member_table probe;
        char err[512];
        join_now = o->in_memory || member_table_read(o->data_dir, &probe, err, sizeof err) == 1;
        if (join_now && s->storage_had_data) {
            server_log(SLOG_ERROR, "join_refused", "dir=%s detail=\"--join needs an empty data directory; this "
                       "one holds Raft state but no members file\"", o->data_dir);
            server_free(s);
            return 1;
        }
        if (join_now && server_join(s, &joined, joined_id) != 0) {
            server_free(s);
            return 1;
        }
    }
    if (server_members_init(s, join_now ? &joined : NULL) != 0) {
        server_free(s);
        return 1;
    }
    if (server_identity_start(s) != 0) {
        server_free(s);
        return 1;
    }
    if (join_now && server_identity_learn(s, joined_id, "join") != 0) {
        server_free(s);
        return 1;
    }
    if (join_now && !o->in_memory) {
        char err[512];
        if (member_table_write(o->data_dir, &s->members, err, sizeof err) != 0) {
            server_log(SLOG_ERROR, "members_write_failed", "dir=%s reason=\"%s\"", o->data_dir, err);
            server_free(s);
            return 1;
        }
    }
    struct raft_configuration initial;
    server_members_initial(s, &initial);
    struct replica_config rc_cfg;
    replica_config_default(&rc_cfg, o->self, RAFT_MAX_NODES, o->seed);
    rc_cfg.raft.initial = &initial;
    rc_cfg.raft.election_timeout_ms = o->election_timeout_ms;
    rc_cfg.raft.heartbeat_interval_ms = o->heartbeat_ms;
    rc_cfg.raft.catchup_entries_per_msg = o->catchup_append_entries;
    rc_cfg.raft.catchup_bytes_per_msg = o->catchup_append_bytes;
    rc_cfg.raft.catchup_bytes_per_sec = o->catchup_append_mbps * 1000000;
    rc_cfg.raft.advise_log_block = server_advise_log_block;
    rc_cfg.raft.log_table_resize = log_table_resize;
    rc_cfg.raft.log_spare_blocks = o->log_spare_blocks;
    if (o->log_level >= SLOG_DEBUG) {
        rc_cfg.raft.trace = server_on_trace;
        rc_cfg.raft.trace_ctx = s;
    }
    rc_cfg.send = server_on_send;
    rc_cfg.complete = server_on_complete;
    rc_cfg.wall_clock = server_wall_clock_ms;
    rc_cfg.flush_sends = server_on_flush_sends;
    rc_cfg.peer_lost_data = server_on_peer_lost_data;
    rc_cfg.ctx = s;
    rc_cfg.store = &s->log_store;
    rc_cfg.stream_snapshots = true;
    rc_cfg.sync_start = server_store_sync_start;
    rc_cfg.snapshot_start = server_store_snapshot_start;
    rc_cfg.retire_store = server_retire_store;
    rc_cfg.max_pending = o->max_pending;
    rc_cfg.request_timeout_ms = o->request_timeout_ms;
    rc_cfg.learner_sync_interval_ms = o->learner_sync_interval_ms;
    rc_cfg.snapshot_threshold = o->snapshot_entries;
    rc_cfg.snapshot_log_percent = (uint32_t)o->snapshot_log_percent;
    rc_cfg.snapshot_log_min_bytes = o->snapshot_log_min_bytes;
    rc_cfg.snapshot_stagger_slot = (unsigned)o->self; /* members snapshot in turn */
    rc_cfg.snapshot_stagger_members = o->snapshot_no_stagger ? 0 : (unsigned)o->n_nodes;
    rc_cfg.apply_batch = (size_t)o->apply_batch;
    rc_cfg.apply_batch_snapshot = (size_t)o->apply_batch_snapshot;
    rc_cfg.apply_cpu_ns = o->apply_cpu_ms * UINT64_C(1000000);
    rc_cfg.cpu_clock = server_thread_cpu_ns;
    rc_cfg.fast_clock = server_monotonic_ns;
    rc_cfg.keys_walk_min = o->keys_walk_min;
    rc_cfg.keys_walk_entries = o->keys_walk_entries;
    /* A KEYS reply past the client's output limit would close its
     * connection; a forwarded one must fit a peer frame too. */
    rc_cfg.keys_max_bytes = o->max_output_bytes;
    if (o->max_frame > 4096 && rc_cfg.keys_max_bytes > o->max_frame - 4096)
        rc_cfg.keys_max_bytes = o->max_frame - 4096;
    rc_cfg.keys_walk_kept_bytes = o->snapshot_walk_max_bytes;
    rc_cfg.unsafe_local_reads = o->unsafe_local_reads;
    if (server_identity_replica_config(s, &rc_cfg) != 0) {
        server_free(s);
        return 1;
    }
    if (o->unsafe_local_reads)
        server_log(SLOG_WARN, "unsafe_local_reads", "detail=\"reads are NOT linearizable (testing only)\"");
    uint64_t new_t0 = uv_hrtime();
    s->replica = replica_new(&rc_cfg, server_now(s));
    server_store_loaded(s, uv_hrtime() - new_t0);
    if (!s->replica) {
        server_log(SLOG_ERROR, "replica_failed", "reason=\"cannot create the replica from the stored state\" detail=\"%s\"",
                   s->storage ? storage_error(s->storage) : "");
        server_free(s);
        return 1;
    }
    if (server_identity_sync(s) != 0) {
        server_free(s);
        return 1;
    }
    if (route_start(s) != 0) {
        server_log(SLOG_ERROR, "router_failed", "reason=\"out of memory\"");
        server_free(s);
        return 1;
    }

    uv_timer_init(s->loop, &s->tick_timer);
    s->tick_timer.data = s;
    uv_check_init(s->loop, &s->check);
    s->check.data = s;
    uv_check_start(&s->check, server_check);
    uv_prepare_init(s->loop, &s->turn_prepare);
    s->turn_prepare.data = s;
    uv_prepare_start(&s->turn_prepare, server_turn);
    uv_idle_init(s->loop, &s->apply_idle);
    s->apply_idle.data = s;
    uv_signal_init(s->loop, &s->sig_term);
    s->sig_term.data = s;
    uv_signal_start(&s->sig_term, server_on_signal, SIGTERM);
    uv_signal_init(s->loop, &s->sig_int);
    s->sig_int.data = s;
    uv_signal_start(&s->sig_int, server_on_signal, SIGINT);
    uv_signal_init(s->loop, &s->sig_hup);
    s->sig_hup.data = s;
    uv_signal_start(&s->sig_hup, server_on_hup, SIGHUP);

    if (peer_start(s) != 0 || client_start(s) != 0 || metrics_http_start(s) != 0) {
        s->exit_code = 1;
        s->fatal = true;
        server_finish(s, s->start_error[0] ? s->start_error : "cannot listen");
    } else {
        server_log(SLOG_INFO, "started",
                   "id=%s nodes=%d peers=%s listen=%s:%d tls_port=%d durable=%s data_dir=%s seed=%" PRIu64
                   " election_timeout_ms=%" PRIu64 " heartbeat_ms=%" PRIu64,
                   o->id, o->n_nodes, o->peers_text, o->listen_host, o->listen_port, o->tls_port,
                   o->in_memory ? "no" : "yes", o->in_memory ? "-" : o->data_dir, o->seed,
                   o->election_timeout_ms, o->heartbeat_ms);
        /* The apply budget is a turn's from the first turn on: a restart's
         * backlog (the log its commit marks name) is applied a turn at a
         * time while the peers connect and elect. Counted per flush
         * instead, the tick timer re-armed for "now" would apply all of it
         * before the loop first polls. */
        replica_turn_end(s->replica);
        server_after_io(s);
    }
    uv_run(s->loop, UV_RUN_DEFAULT);
    int exit_code = s->exit_code;
    server_free(s);
    server_log(SLOG_INFO, "stopped", "exit=%d", exit_code);
    return exit_code;
}
