/* info.c - the INFO command: where this node stands in the cluster (role,
 * term, commit and applied index, leader, each peer's link and progress),
 * storage and fsync latency, clients, and one `metrics:` line of counters
 * meant for scraping. Redis's format: "# Section" then "key:value" lines,
 * a blank line between sections, in Redis's section order; `INFO section
 * ...` picks sections as Redis 7.0 does (info_sections). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "common/version.h"
#include "server/alloc.h"
#include "server/role.h"
#include "server/server_internal.h"
#include "storage/storage.h"

void info_line(struct resp_buf *b, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 2, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof line - 3)
        n = (int)sizeof line - 3;
    line[n++] = '\r';
    line[n++] = '\n';
    resp_buf_append(b, line, (size_t)n);
}

/* Upper bound (us) of the log2 histogram bucket holding quantile q. */
static uint64_t info_quantile_us(const uint64_t *hist, int buckets, double q)
{
    uint64_t total = 0;
    for (int i = 0; i < buckets; i++)
        total += hist[i];
    if (!total)
        return 0;
    uint64_t want = (uint64_t)(q * (double)total + 0.5), seen = 0;
    for (int i = 0; i < buckets; i++) {
        seen += hist[i];
        if (seen >= want && seen > 0)
            return 1ull << (i + 1);
    }
    return 1ull << buckets;
}

static const char *const section_names[INFO_N_SECTIONS] = {
    "server", "clients", "memory", "persistence", "stats", "replication", "cpu", "cluster", "raft", "keyspace",
};

const char *info_section_name(int section)
{
    return section >= 0 && section < INFO_N_SECTIONS ? section_names[section] : NULL;
}

uint32_t info_sections(size_t argc, char *const *argv, const size_t *argl)
{
    const uint32_t every = (1u << INFO_N_SECTIONS) - 1;
    if (argc == 0)
        return every; /* every section raftkv has is one of Redis's defaults */
    uint32_t want = 0;
    for (size_t i = 0; i < argc; i++) {
        const char *a = argv[i];
        size_t n = argl[i];
        if ((n == 7 && strncasecmp(a, "default", 7) == 0) || (n == 3 && strncasecmp(a, "all", 3) == 0) ||
            (n == 10 && strncasecmp(a, "everything", 10) == 0)) {
            want |= every;
            continue;
        }
        for (int k = 0; k < INFO_N_SECTIONS; k++)
            if (strlen(section_names[k]) == n && strncasecmp(section_names[k], a, n) == 0)
                want |= 1u << k;
    }
    return want; /* nothing for unknown names, as Redis */
}

/* Redis's bytesToHuman: 1023B, 1.50K, 2.00M, ... */
static void human_bytes(char *buf, size_t cap, uint64_t n)
{
    const char *units = "KMGTP";
    if (n < 1024) {
        snprintf(buf, cap, "%" PRIu64 "B", n);
        return;
    }
    double d = (double)n / 1024;
    size_t u = 0;
    while (d >= 1024 && units[u + 1]) {
        d /= 1024;
        u++;
    }
    snprintf(buf, cap, "%.2f%c", d, units[u]);
}

static uint64_t resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, rss = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%llu %llu", &size, &rss) != 2)
        rss = 0;
    fclose(f);
    return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void section_memory(struct server *s, struct resp_buf *b)
{
    uint64_t rss = resident_bytes(), used = rss;
    struct alloc_stats as;
    bool je = alloc_stats(&as);
    if (je)
        used = as.allocated;
    char h[32];
    info_line(b, "# Memory");
    human_bytes(h, sizeof h, used);
    info_line(b, "used_memory:%" PRIu64, used);
    info_line(b, "used_memory_human:%s", h);
    human_bytes(h, sizeof h, rss);
    info_line(b, "used_memory_rss:%" PRIu64, rss);
    info_line(b, "used_memory_rss_human:%s", h);
    info_line(b, "maxmemory:0");
    info_line(b, "maxmemory_human:0B");
    info_line(b, "maxmemory_policy:noeviction");
    info_line(b, "mem_allocator:%s", je ? "jemalloc" : "libc");
    /* Where it goes: the map (entries and slots) and the Raft log kept in
     * memory, as requested, of which log_lent_bytes are payloads read from
     * the log's mapped files (page cache, not the heap), and the spare
     * payload blocks it keeps for its next entries (--log-spare-blocks);
     * then the allocator's pages (jemalloc only). */
    if (s->replica)
        info_line(b, "raftkv_memory:keys=%zu,map_bytes=%zu,log_bytes=%zu,log_lent_bytes=%zu,log_spare_bytes=%zu",
                  kv_store_size(replica_store(s->replica)),
                  kv_store_bytes(replica_store(s->replica)), replica_log_bytes(s->replica),
                  replica_log_lent_bytes(s->replica), replica_log_spare_bytes(s->replica));
    if (je) {
        info_line(b, "allocator_active:%zu", as.active);
        info_line(b, "allocator_resident:%zu", as.resident);
        info_line(b, "allocator_retained:%zu", as.retained);
    }
}

static void section_cpu(struct resp_buf *b)
{
    struct rusage self, children;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &children);
    info_line(b, "# CPU");
    info_line(b, "used_cpu_sys:%ld.%06ld", (long)self.ru_stime.tv_sec, (long)self.ru_stime.tv_usec);
    info_line(b, "used_cpu_user:%ld.%06ld", (long)self.ru_utime.tv_sec, (long)self.ru_utime.tv_usec);
    info_line(b, "used_cpu_sys_children:%ld.%06ld", (long)children.ru_stime.tv_sec,
              (long)children.ru_stime.tv_usec);
    info_line(b, "used_cpu_user_children:%ld.%06ld", (long)children.ru_utime.tv_sec,
              (long)children.ru_utime.tv_usec);
}

void info_write(struct server *s, const struct client *c, struct resp_buf *out, int proto)
{
    info_write_sections(s, c, info_sections(0, NULL, NULL), out, proto);
}

/* A blank line between sections, none before the first. */
static bool section(struct resp_buf *b, uint32_t want, int which)
{
    if (!(want & (1u << which)))
        return false;
    if (b->len)
        resp_buf_append(b, "\r\n", 2);
    return true;
}

void info_write_sections(struct server *s, const struct client *c, uint32_t want, struct resp_buf *out,
                         int proto)
{
    struct resp_buf b = {0};
    const struct server_options *o = &s->opt;
    uint64_t now = server_now(s);
    struct replica *r = s->replica;

    if (section(&b, want, INFO_SERVER)) {
        struct utsname un;
        if (uname(&un) != 0)
            memset(&un, 0, sizeof un);
        struct timeval tv;
        gettimeofday(&tv, NULL);
        info_line(&b, "# Server");
        info_line(&b, "redis_version:%s", RAFTKV_REDIS_VERSION); /* whose semantics raftkv follows */
        info_line(&b, "raftkv_version:%s", RAFTKV_VERSION);
        info_line(&b, "redis_mode:standalone");
        info_line(&b, "os:%s %s %s", un.sysname, un.release, un.machine);
        info_line(&b, "arch_bits:%zu", sizeof(void *) * 8);
        info_line(&b, "multiplexing_api:libuv");
        info_line(&b, "process_id:%ld", (long)getpid());
        info_line(&b, "tcp_port:%d", o->listen_port); /* 0: none (Redis's names) */
        info_line(&b, "server_time_usec:%" PRIu64, (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec);
        info_line(&b, "uptime_in_seconds:%" PRIu64, (now - s->started_ms) / 1000);
        info_line(&b, "uptime_in_days:%" PRIu64, (now - s->started_ms) / 86400000);
        info_line(&b, "node:%s", o->id);
        char cid[CLUSTER_ID_HEX_LEN + 1] = "none";
        if (s->identity.has_cluster_id)
            cluster_id_hex(s->identity.cluster_id, cid);
        info_line(&b, "cluster_id:%s", cid);
        info_line(&b, "listen:%s:%d", o->listen_host, o->listen_port);
        info_line(&b, "tls_port:%d", o->tls_port);
        info_line(&b, "peer_addr:%s:%d", o->peer_host[o->self], o->peer_port[o->self]);
        /* insecure-plaintext: anyone who reaches the peer port can rewrite the data. */
        info_line(&b, "peer_security:%s",
                  s->peer_tls_server ? "tls" : o->peer_insecure ? "insecure-plaintext" : "none");
        info_line(&b, "peer_refusals:refused=%" PRIu64 ",tls_failed=%" PRIu64 ",preauth_closed=%" PRIu64,
                  s->stats.peers_refused, s->stats.peers_tls_failed, s->stats.peers_preauth_closed);
    }

    if (section(&b, want, INFO_CLIENTS)) {
        info_line(&b, "# Clients");
        info_line(&b, "connected_clients:%zu", s->n_clients);
        info_line(&b, "maxclients:%zu", o->max_clients);
        info_line(&b, "blocked_clients:0");
        info_line(&b, "timeout:%" PRIu64, o->timeout_s);
        /* Closed by client_sweep.c: idle past --timeout, or no first command
         * within --client-handshake-timeout-ms. */
        info_line(&b, "clients_idle_timeout:%" PRIu64, s->stats.clients_idle_timeout);
        info_line(&b, "clients_handshake_timeout:%" PRIu64, s->stats.clients_handshake_timeout);
        info_line(&b, "log_lines_suppressed:%" PRIu64, server_log_suppressed_total());
        /* Who may connect, and as whom this connection runs (acl.h). */
        info_line(&b, "auth:%s", s->acl.from_file ? "aclfile" : s->acl.has_password ? "requirepass" : "none");
        info_line(&b, "acl_users:%zu", s->acl.n_users);
        info_line(&b, "protected_mode:%s", s->opt.protected_mode && acl_default_open(&s->acl) ? "yes" : "no");
        info_line(&b, "client_user:%s", c && c->user ? c->user->name : "default");
        info_line(&b, "tls_connected_clients:%zu", s->n_tls_clients);
        info_line(&b, "pending_operations:%zu", s->n_ops);
        info_line(&b, "replica_pending:%zu", replica_pending(r));
        /* From parsed to answered, data commands only; bucket upper bounds. */
        info_line(&b, "command_latency_p50_us_le:%" PRIu64,
                  info_quantile_us(s->stats.latency_us_hist, SERVER_LATENCY_BUCKETS, 0.50));
        info_line(&b, "command_latency_p99_us_le:%" PRIu64,
                  info_quantile_us(s->stats.latency_us_hist, SERVER_LATENCY_BUCKETS, 0.99));
        info_line(&b, "command_latency_p999_us_le:%" PRIu64,
                  info_quantile_us(s->stats.latency_us_hist, SERVER_LATENCY_BUCKETS, 0.999));
    }

    if (section(&b, want, INFO_MEMORY))
        section_memory(s, &b);

    if (section(&b, want, INFO_PERSISTENCE)) {
        info_line(&b, "# Persistence");
        info_line(&b, "loading:0");
        info_line(&b, "rdb_bgsave_in_progress:%d", s->bgsave.running ? 1 : 0);
        info_line(&b, "aof_rewrite_in_progress:0");
        info_line(&b, "durable:%s", o->in_memory ? "no" : "yes");
        info_line(&b, "data_dir:%s", o->in_memory ? "" : o->data_dir);
        if (s->storage) {
            struct storage_stats st;
            storage_get_stats(s->storage, &st);
            info_line(&b, "fsync_batches:%" PRIu64, st.syncs);
            info_line(&b, "fsync_calls:%" PRIu64, st.fsyncs);
            info_line(&b, "fsync_last_us:%" PRIu64, st.sync_ns_last / 1000);
            info_line(&b, "fsync_max_us:%" PRIu64, st.sync_ns_max / 1000);
            info_line(&b, "fsync_avg_us:%" PRIu64, st.syncs ? st.sync_ns_total / 1000 / st.syncs : 0);
            info_line(&b, "fsync_p50_us_le:%" PRIu64, info_quantile_us(st.sync_us_hist, STORAGE_SYNC_BUCKETS, 0.50));
            info_line(&b, "fsync_p99_us_le:%" PRIu64, info_quantile_us(st.sync_us_hist, STORAGE_SYNC_BUCKETS, 0.99));
            info_line(&b, "log_entries_written:%" PRIu64, st.entries);
            info_line(&b, "log_bytes_written:%" PRIu64, st.bytes);
            info_line(&b, "snapshots:%" PRIu64, st.snapshots);
            info_line(&b, "disk_bytes:%" PRIu64, st.disk_bytes);
        }
        const struct snap_transfers *x = &s->xfer; /* snap_transfer.h */
        info_line(&b,
                  "snapshot_transfers:sent=%" PRIu64 ",received=%" PRIu64 ",aborted=%" PRIu64
                  ",refused=%" PRIu64 ",bytes_sent=%" PRIu64 ",bytes_received=%" PRIu64,
                  x->sent_done, x->received_done, x->aborted, x->refused, x->bytes_sent, x->bytes_received);
    }

    if (section(&b, want, INFO_STATS)) {
        struct replica_stats rs;
        replica_stats(r, &rs);
        struct router_stats ts;
        router_stats(s->router, &ts);
        info_line(&b, "# Stats");
        info_line(&b, "total_connections_received:%" PRIu64, s->stats.clients_accepted);
        info_line(&b, "total_commands_processed:%" PRIu64, s->stats.commands);
        info_line(&b, "rejected_connections:%" PRIu64, s->stats.clients_refused);
        info_line(&b,
                  "metrics:commands=%" PRIu64 ",ops=%" PRIu64 ",proxied_out=%" PRIu64 ",proxied_in=%" PRIu64
                  ",rerouted=%" PRIu64 ",tryagain=%" PRIu64 ",uncertain=%" PRIu64 ",protocol_errors=%" PRIu64
                  ",clients_accepted=%" PRIu64 ",clients_refused=%" PRIu64 ",peers_refused=%" PRIu64
                  ",bad_frames=%" PRIu64 ",proposed=%" PRIu64 ",applied=%" PRIu64 ",syncs=%" PRIu64
                  ",raft_messages_sent=%" PRIu64 ",indefinite=%" PRIu64 ",snapshots=%" PRIu64
                  ",auth_failures=%" PRIu64 ",acl_denied=%" PRIu64 ",protected_refused=%" PRIu64,
                  s->stats.commands, s->stats.ops, s->stats.ops_proxied_out, s->stats.ops_proxied_in,
                  ts.rerouted, s->stats.errors_tryagain, s->stats.errors_uncertain,
                  s->stats.errors_protocol, s->stats.clients_accepted, s->stats.clients_refused,
                  s->stats.peers_refused, s->stats.frames_bad, rs.proposed, rs.applied, rs.syncs,
                  rs.messages_sent, rs.indefinite, rs.snapshots, s->stats.auth_failures, s->stats.acl_denied,
                  s->stats.protected_refused);

        /* KEYS on a large map, answered from a walk in slices (--keys-walk-min). */
        info_line(&b,
                  "keys_walks:begun=%" PRIu64 ",done=%" PRIu64 ",restarted=%" PRIu64 ",failed=%" PRIu64
                  ",entries=%" PRIu64,
                  rs.keys_walks_begun, rs.keys_walks_done, rs.keys_walks_restarted, rs.keys_walks_failed,
                  rs.keys_walk_entries);

        struct raft_refusals rf;
        replica_refusals(r, &rf);
        info_line(&b, "raft_refused:terms=%" PRIu64 ",indexes=%" PRIu64 ",elections=%" PRIu64, rf.term,
                  rf.index, rf.election);

        /* The TLS client port: handshakes finished and failed. */
        info_line(&b, "tls_handshakes:%" PRIu64, s->stats.tls_handshakes);
        info_line(&b, "tls_handshake_failures:%" PRIu64, s->stats.tls_handshake_failures);
    }

    if (section(&b, want, INFO_REPLICATION)) {
        struct role_view v;
        role_view_of(s, &v);
        role_write_info(&b, &v);
    }

    if (section(&b, want, INFO_CPU))
        section_cpu(&b);

    if (section(&b, want, INFO_CLUSTER)) {
        info_line(&b, "# Cluster");
        info_line(&b, "cluster_enabled:0"); /* no Redis Cluster: one keyspace, any member serves it */
    }

    if (section(&b, want, INFO_RAFT)) {
        info_line(&b, "# Raft");
        int leader = replica_leader(r);
        info_line(&b, "raft_role:%s", raft_role_name(replica_role(r)));
        info_line(&b, "term:%" PRIu64, replica_term(r));
        info_line(&b, "leader:%s", leader >= 0 ? o->names[leader] : "none");
        info_line(&b, "commit_index:%" PRIu64, replica_commit_index(r));
        info_line(&b, "applied_index:%" PRIu64, replica_applied_index(r));
        info_line(&b, "last_index:%" PRIu64, replica_last_index(r));
        /* --max-apply-backlog: clients not read while applying lags. */
        raft_index ci = replica_commit_index(r), ai = replica_applied_index(r);
        info_line(&b, "apply_backlog:%" PRIu64, ci > ai ? ci - ai : 0);
        info_line(&b, "apply_backlog_paused:%d", s->apply_gate.paused ? 1 : 0);
        info_line(&b, "apply_backlog_pauses:%" PRIu64, s->apply_gate.pauses);
        /* The configuration's members by name and stable id (ids are not
         * positions: removals leave gaps, a removed member is not listed). */
        info_line(&b, "nodes:%d", replica_configuration(r)->n);
        for (int i = 0; i < o->n_nodes; i++) {
            const struct raft_member *mb = server_member_listed(s, i);
            if (i == o->self || !mb)
                continue;
            const struct peer_link *l = &s->links[i];
            raft_index match = 0, next = 0;
            bool known = replica_progress(r, i, &match, &next);
            char progress[112] = "";
            /* lost_data=1: it lost entries it had acknowledged (raft_peer_lost_data). */
            if (known)
                snprintf(progress, sizeof progress,
                         ",match=%" PRIu64 ",next=%" PRIu64 ",lag=%" PRIu64 ",lost_data=%d", match, next,
                         replica_last_index(r) > match ? replica_last_index(r) - match : 0,
                         replica_peer_lost_data(r, i) ? 1 : 0);
            info_line(&b,
                      "peer_%s:addr=%s:%d,link=%s,connects=%" PRIu64 ",frames_sent=%" PRIu64
                      ",frames_dropped=%" PRIu64 "%s,id=%d,member=%s",
                      o->names[i], o->peer_host[i], o->peer_port[i], l->state == LINK_CONNECTED ? "up" : "down",
                      l->connects, l->frames_sent, l->frames_dropped, progress, i,
                      mb->role == RAFT_VOTER ? "voter" : "learner");
        }
    }

    if (section(&b, want, INFO_KEYSPACE)) {
        info_line(&b, "# Keyspace");
        size_t keys = kv_store_size(replica_store(r)); /* as applied on this member */
        if (keys)
            info_line(&b, "db0:keys=%zu,expires=%zu,avg_ttl=0", keys, kv_store_expiring(replica_store(r)));
    }
    resp_write_verbatim(out, b.data ? b.data : "", b.len, proto);
    resp_buf_free(&b);
}
