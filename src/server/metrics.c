/* metrics.c - what the metrics port says: the Prometheus text of /metrics
 * (role, term, indexes, each peer's progress, fsync and command latency
 * histograms, counters) and the /health rule; and the observations the
 * server keeps for them (metrics.h). Served by metrics_http.c. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/version.h"
#include "server/server_internal.h"
#include "storage/storage.h"

/* Elections are what an operator looks for first in a log: one line each
 * time this member's role, term or known leader moves; a leader that stops
 * leading says so as a warning. */
static void log_role_change(struct server *s, int role, raft_term term, int leader)
{
    const struct metrics *m = &s->metrics;
    const char *ln = leader >= 0 && leader < s->opt.n_nodes ? s->opt.names[leader] : NULL;
    server_log(m->last_role == RAFT_LEADER && role != RAFT_LEADER ? SLOG_WARN : SLOG_INFO, "role_change",
               "role=%s term=%llu leader=%s was=%s old_term=%llu", raft_role_name((enum raft_role)role),
               (unsigned long long)term, ln ? ln : "none", raft_role_name((enum raft_role)m->last_role),
               (unsigned long long)m->last_term);
}

void metrics_observe(struct server *s)
{
    struct metrics *m = &s->metrics;
    if (!s->replica)
        return;
    int role = (int)replica_role(s->replica);
    raft_term term = replica_term(s->replica);
    int leader = replica_leader(s->replica);
    if (!m->observed) {
        m->observed = true;
        m->last_leader = leader;
    } else {
        if (term != m->last_term) {
            m->term_changes++;
            if (role == RAFT_CANDIDATE || role == RAFT_LEADER)
                m->elections++;
        }
        if (leader != RAFT_NO_NODE && leader != m->last_leader) {
            m->leader_changes++;
            m->last_leader = leader;
        }
        if (role != m->last_role || term != m->last_term || leader != m->seen_leader)
            log_role_change(s, role, term, leader);
    }
    m->last_term = term;
    m->last_role = role;
    m->seen_leader = leader;
}

void metrics_peer_heard(struct server *s, int peer)
{
    if (peer < 0 || peer >= RAFT_MAX_NODES)
        return;
    s->metrics.peer_heard_ms[peer] = server_now(s);
    s->metrics.peer_heard[peer] = true;
}

int health_check(const struct health_input *in, char *reason, size_t cap)
{
    if (in->shutting_down) {
        snprintf(reason, cap, "shutting down");
        return 503;
    }
    if (in->role == RAFT_LEADER) {
        /* A majority of the voters (all of 0..n_nodes-1 when not given). */
        int heard = 0, voters = 0;
        for (int i = 0; i < in->n_nodes && i < RAFT_MAX_NODES; i++) {
            if (in->voters && !(in->voters & (1ull << i)))
                continue;
            voters++;
            if (i == in->self || in->heard_ago_ms[i] <= in->election_timeout_ms)
                heard++;
        }
        if (heard * 2 <= voters) {
            snprintf(reason, cap,
                     "leader without a quorum: heard %d of %d voters (itself included) within the election "
                     "timeout of %" PRIu64 " ms",
                     heard, voters, in->election_timeout_ms);
            return 503;
        }
    } else if (in->leader == RAFT_NO_NODE || in->leader < 0 || in->leader >= in->n_nodes) {
        snprintf(reason, cap, "no leader known (role %s)", raft_role_name((enum raft_role)in->role));
        return 503;
    } else if (in->heard_ago_ms[in->leader] > in->election_timeout_ms) {
        if (in->heard_ago_ms[in->leader] == UINT64_MAX)
            snprintf(reason, cap, "leader %s never heard", in->leader_name ? in->leader_name : "?");
        else
            snprintf(reason, cap, "leader %s not heard for %" PRIu64 " ms (election timeout %" PRIu64 " ms)",
                     in->leader_name ? in->leader_name : "?", in->heard_ago_ms[in->leader],
                     in->election_timeout_ms);
        return 503;
    }
    uint64_t lag = in->commit_index > in->applied_index ? in->commit_index - in->applied_index : 0;
    if (lag > in->max_lag) {
        snprintf(reason, cap,
                 "applied index %" PRIu64 " is %" PRIu64 " entries behind commit index %" PRIu64 " (max %" PRIu64 ")",
                 in->applied_index, lag, in->commit_index, in->max_lag);
        return 503;
    }
    snprintf(reason, cap, "ok");
    return 200;
}

int metrics_health(struct server *s, char *reason, size_t cap)
{
    struct health_input in;
    memset(&in, 0, sizeof in);
    if (!s->replica) {
        snprintf(reason, cap, "starting");
        return 503;
    }
    uint64_t now = server_now(s);
    in.n_nodes = s->opt.n_nodes;
    in.self = s->opt.self;
    in.role = (int)replica_role(s->replica);
    in.leader = replica_leader(s->replica);
    in.leader_name = in.leader >= 0 && in.leader < s->opt.n_nodes ? s->opt.names[in.leader] : NULL;
    const struct raft_configuration *conf = replica_configuration(s->replica);
    for (int k = 0; k < conf->n; k++)
        if (conf->members[k].role == RAFT_VOTER)
            in.voters |= 1ull << conf->members[k].id;
    for (int i = 0; i < in.n_nodes && i < RAFT_MAX_NODES; i++)
        in.heard_ago_ms[i] = s->metrics.peer_heard[i] && now >= s->metrics.peer_heard_ms[i]
                                 ? now - s->metrics.peer_heard_ms[i]
                                 : UINT64_MAX;
    in.election_timeout_ms = s->opt.election_timeout_ms;
    in.commit_index = replica_commit_index(s->replica);
    in.applied_index = replica_applied_index(s->replica);
    in.max_lag = s->opt.health_max_lag;
    in.shutting_down = s->shutting_down;
    return health_check(&in, reason, cap);
}

/* ---- Prometheus text exposition format (version 0.0.4) ------------------ */

static void mline(struct resp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void mline(struct resp_buf *b, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    resp_buf_append(b, line, (size_t)n);
}

static void mhead(struct resp_buf *b, const char *name, const char *type, const char *help)
{
    mline(b, "# HELP %s %s", name, help);
    mline(b, "# TYPE %s %s", name, type);
}

/* A label value: backslash, double quote and newline escaped. */
static const char *mlabel(const char *v, char *out, size_t cap)
{
    size_t o = 0;
    for (; *v && o + 3 < cap; v++) {
        if (*v == '\\' || *v == '"') {
            out[o++] = '\\';
            out[o++] = *v;
        } else if (*v == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *v;
        }
    }
    out[o] = '\0';
    return out;
}

/* A log2 histogram of microseconds (bucket i: [2^i, 2^(i+1)) us, as
 * client.c and storage keep them) as a Prometheus histogram in seconds. */
static void mhist(struct resp_buf *b, const char *name, const char *help, const uint64_t *hist, int buckets,
                  uint64_t sum_ns)
{
    mhead(b, name, "histogram", help);
    uint64_t cum = 0;
    for (int i = 0; i < buckets; i++) {
        cum += hist[i];
        uint64_t le_us = (uint64_t)1 << (i + 1);
        mline(b, "%s_bucket{le=\"%" PRIu64 ".%06" PRIu64 "\"} %" PRIu64, name, le_us / 1000000, le_us % 1000000,
              cum);
    }
    mline(b, "%s_bucket{le=\"+Inf\"} %" PRIu64, name, cum);
    mline(b, "%s_sum %" PRIu64 ".%09" PRIu64, name, sum_ns / UINT64_C(1000000000), sum_ns % UINT64_C(1000000000));
    mline(b, "%s_count %" PRIu64, name, cum);
}

static void mcounter(struct resp_buf *b, const char *name, const char *help, uint64_t v)
{
    mhead(b, name, "counter", help);
    mline(b, "%s %" PRIu64, name, v);
}

static void mgauge(struct resp_buf *b, const char *name, const char *help, uint64_t v)
{
    mhead(b, name, "gauge", help);
    mline(b, "%s %" PRIu64, name, v);
}

void metrics_write(struct server *s, struct resp_buf *b)
{
    const struct server_options *o = &s->opt;
    struct replica *r = s->replica;
    char l1[2 * (PEER_MAX_NAME + 1) + 8], l2[CLUSTER_ID_HEX_LEN + 8];
    metrics_observe(s);

    char cid[CLUSTER_ID_HEX_LEN + 1] = "";
    if (s->identity.has_cluster_id)
        cluster_id_hex(s->identity.cluster_id, cid);
    mhead(b, "raftkv_info", "gauge", "This member: its name, the cluster id (empty until known), the version.");
    mline(b, "raftkv_info{node=\"%s\",cluster_id=\"%s\",version=\"%s\"} 1", mlabel(o->id, l1, sizeof l1),
          mlabel(cid, l2, sizeof l2), RAFTKV_VERSION);
    mgauge(b, "raftkv_uptime_seconds", "Seconds since this member started.", (server_now(s) - s->started_ms) / 1000);

    enum raft_role role = replica_role(r);
    mhead(b, "raftkv_role", "gauge", "1 for this member's Raft role, 0 for the others.");
    static const enum raft_role roles[] = {RAFT_FOLLOWER, RAFT_PRE_CANDIDATE, RAFT_CANDIDATE, RAFT_LEADER};
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        mline(b, "raftkv_role{role=\"%s\"} %d", raft_role_name(roles[i]), role == roles[i] ? 1 : 0);
    mgauge(b, "raftkv_is_leader", "1 when this member is the leader.", role == RAFT_LEADER ? 1 : 0);
    int leader = replica_leader(r);
    mgauge(b, "raftkv_leader_known", "1 when this member knows a leader for its term.", leader >= 0 ? 1 : 0);
    if (leader >= 0 && leader < o->n_nodes) {
        mhead(b, "raftkv_leader", "gauge", "The leader this member knows (its name as a label).");
        mline(b, "raftkv_leader{leader=\"%s\"} 1", mlabel(o->names[leader], l1, sizeof l1));
    }
    mgauge(b, "raftkv_term", "The current Raft term.", replica_term(r));
    mgauge(b, "raftkv_commit_index", "The highest log index known committed.", replica_commit_index(r));
    mgauge(b, "raftkv_applied_index", "The highest log index applied to the map.", replica_applied_index(r));
    mgauge(b, "raftkv_last_index", "The last index in this member's log.", replica_last_index(r));
    mgauge(b, "raftkv_apply_backlog_paused",
           "1 while client connections are not read because the apply backlog passed --max-apply-backlog.",
           s->apply_gate.paused ? 1 : 0);
    mcounter(b, "raftkv_apply_backlog_pauses_total", "Times client reads were paused for the apply backlog.",
             s->apply_gate.pauses);
    mgauge(b, "raftkv_members", "Members in the configuration (this one included).",
           (uint64_t)replica_configuration(r)->n);
    /* Peers below: the configuration's members by name (ids are not
     * positions; a removed member is not listed), with their stable id. */
    mhead(b, "raftkv_peer_member", "gauge", "1 for each peer in the configuration: its name, id and role as labels.");
    for (int i = 0; i < o->n_nodes; i++) {
        const struct raft_member *mb = server_member_listed(s, i);
        if (i != o->self && mb)
            mline(b, "raftkv_peer_member{peer=\"%s\",id=\"%d\",role=\"%s\"} 1", mlabel(o->names[i], l1, sizeof l1),
                  i, mb->role == RAFT_VOTER ? "voter" : "learner");
    }

    uint64_t now = server_now(s);
    mhead(b, "raftkv_peer_link_up", "gauge", "1 when this member's connection to the peer is up.");
    for (int i = 0; i < o->n_nodes; i++)
        if (i != o->self && server_member_listed(s, i))
            mline(b, "raftkv_peer_link_up{peer=\"%s\"} %d", mlabel(o->names[i], l1, sizeof l1),
                  s->links[i].state == LINK_CONNECTED ? 1 : 0);
    mhead(b, "raftkv_peer_last_heard_seconds", "gauge",
          "Seconds since the last Raft message from the peer (absent: never heard).");
    for (int i = 0; i < o->n_nodes; i++)
        if (i != o->self && server_member_listed(s, i) && s->metrics.peer_heard[i] &&
            now >= s->metrics.peer_heard_ms[i]) {
            uint64_t ago = now - s->metrics.peer_heard_ms[i];
            mline(b, "raftkv_peer_last_heard_seconds{peer=\"%s\"} %" PRIu64 ".%03" PRIu64,
                  mlabel(o->names[i], l1, sizeof l1), ago / 1000, ago % 1000);
        }
    if (role == RAFT_LEADER) {
        mhead(b, "raftkv_peer_match_index", "gauge", "Leader only: the highest index known replicated on the peer.");
        for (int i = 0; i < o->n_nodes; i++) {
            raft_index match = 0, next = 0;
            if (i != o->self && server_member_listed(s, i) && replica_progress(r, i, &match, &next))
                mline(b, "raftkv_peer_match_index{peer=\"%s\"} %" PRIu64, mlabel(o->names[i], l1, sizeof l1), match);
        }
        mhead(b, "raftkv_peer_lag_entries", "gauge", "Leader only: entries of the leader's log the peer lacks.");
        for (int i = 0; i < o->n_nodes; i++) {
            raft_index match = 0, next = 0;
            if (i != o->self && server_member_listed(s, i) && replica_progress(r, i, &match, &next)) {
                raft_index last = replica_last_index(r);
                mline(b, "raftkv_peer_lag_entries{peer=\"%s\"} %" PRIu64, mlabel(o->names[i], l1, sizeof l1),
                      last > match ? last - match : 0);
            }
        }
    }

    mcounter(b, "raftkv_elections_total", "Terms this member entered as a candidate (sampled once per loop turn).",
             s->metrics.elections);
    mcounter(b, "raftkv_leader_changes_total", "Times this member learned of a different leader.",
             s->metrics.leader_changes);
    mcounter(b, "raftkv_term_changes_total", "Times this member's term changed.", s->metrics.term_changes);

    struct replica_stats rs;
    replica_stats(r, &rs);
    mcounter(b, "raftkv_commands_total", "Client commands received (all kinds).", s->stats.commands);
    mcounter(b, "raftkv_operations_total", "Key-value operations those commands made.", s->stats.ops);
    mhead(b, "raftkv_command_errors_total", "counter",
          "Error replies by kind: tryagain (did not happen), uncertain (may have happened), protocol.");
    mline(b, "raftkv_command_errors_total{kind=\"tryagain\"} %" PRIu64, s->stats.errors_tryagain);
    mline(b, "raftkv_command_errors_total{kind=\"uncertain\"} %" PRIu64, s->stats.errors_uncertain);
    mline(b, "raftkv_command_errors_total{kind=\"protocol\"} %" PRIu64, s->stats.errors_protocol);
    mcounter(b, "raftkv_proposed_total", "Commands this member appended as leader.", rs.proposed);
    mcounter(b, "raftkv_applied_total", "Log entries applied.", rs.applied);
    mcounter(b, "raftkv_snapshots_total", "Snapshots taken by this member.", rs.snapshots);
    mcounter(b, "raftkv_raft_messages_sent_total", "Raft messages sent to peers.", rs.messages_sent);
    mcounter(b, "raftkv_clients_accepted_total", "Client connections accepted.", s->stats.clients_accepted);
    mcounter(b, "raftkv_clients_refused_total", "Client connections refused (limits, protected mode).",
             s->stats.clients_refused);
    mcounter(b, "raftkv_peers_refused_total", "Peer connections refused.", s->stats.peers_refused);
    mcounter(b, "raftkv_auth_failures_total", "Failed client authentications.", s->stats.auth_failures);
    mgauge(b, "raftkv_connected_clients", "Client connections open.", s->n_clients);
    mgauge(b, "raftkv_pending_operations", "Operations in flight.", s->n_ops);

    mhist(b, "raftkv_command_duration_seconds",
          "Data commands (GET, SET, ...) from parsed to answered.", s->stats.latency_us_hist, SERVER_LATENCY_BUCKETS,
          s->stats.latency_us_sum * UINT64_C(1000));
    if (s->storage) {
        struct storage_stats st;
        storage_get_stats(s->storage, &st);
        mhist(b, "raftkv_fsync_duration_seconds", "Log syncs (one fsync batch each).", st.sync_us_hist,
              STORAGE_SYNC_BUCKETS, st.sync_ns_total);
        mcounter(b, "raftkv_log_entries_written_total", "Log entries written.", st.entries);
        mcounter(b, "raftkv_log_bytes_written_total", "Log bytes written.", st.bytes);
        mgauge(b, "raftkv_disk_bytes", "Bytes of log segments and snapshot on disk.", st.disk_bytes);
    }

    const struct loop_watch *lw = &s->loop_watch;
    mhist(b, "raftkv_loop_turn_cpu_seconds",
          "Thread CPU time of each event-loop turn (timers, I/O callbacks, the batch boundary).", lw->cpu_hist,
          LOOP_WATCH_BUCKETS, lw->cpu_sum_ns);
    mgauge(b, "raftkv_loop_turn_cpu_max_microseconds", "The longest event-loop turn in thread CPU time.",
           lw->cpu_max_ns / 1000);
    mgauge(b, "raftkv_loop_slow_turn_wall_max_microseconds",
           "The longest wall time of a slow turn (its CPU time, plus waiting for a core or in blocking calls).",
           lw->slow_wall_max_ns / 1000);
    mcounter(b, "raftkv_loop_slow_turns_total", "Event-loop turns whose CPU time passed --slow-loop-ms.",
             lw->slow_turns);

    char reason[256];
    int code = metrics_health(s, reason, sizeof reason);
    mgauge(b, "raftkv_healthy", "1 when /health answers 200.", code == 200 ? 1 : 0);
}
