/* server_options.c - the options of `raftkv serve`, from the command line or
 * a config file holding the same keys (server_config_file.c: "key value" or
 * "key = value" a line); the command line overrides the file. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/version.h"
#include "server/mem_dir.h"
#include "server/server_internal.h"


void server_options_usage(FILE *f)
{
    fprintf(f,
            "usage: raftkv serve --id NAME --peers NAME=HOST:PORT,... --listen HOST:PORT\n"
            "                    (--data-dir DIR | --in-memory) [options]\n"
            "       raftkv serve --config FILE [options]\n"
            "\n"
            "A raftkv cluster member: peers talk Raft over TCP on the addresses in --peers;\n"
            "clients speak the Redis protocol (RESP2/RESP3) on --listen. Durable by default:\n"
            "every write is fsynced on a majority before it is acknowledged.\n"
            "\n"
            "Commands: Redis 7.0's string, key, expiry and transaction commands and enough of\n"
            "its server and connection commands for redis-cli, redis-benchmark and client\n"
            "libraries (COMMAND DOCS lists them), plus CAS key from to (:1 swapped, :0 the\n"
            "value differs, nil no such key) and LEADER. Keys and values are binary-safe.\n"
            "Reads and writes are linearizable, and one connection's commands\n"
            "take effect in the order sent. Any node takes any command:\n"
            "followers pass it to the leader and relay the answer. Errors: -TRYAGAIN (did not\n"
            "happen: no leader reachable, too busy), -UNCERTAIN (may have happened: leader\n"
            "lost or timeout; read to find out), -ERR (bad command or arguments).\n"
            "\n"
            "  --id NAME                  this node's name; must appear in --peers\n"
            "  --peers LIST               every member, this one included: n1=127.0.0.1:7101,...\n"
            "  --first-start              (command line only) this member's empty data directory is\n"
            "                             its first: let it join a cluster whose leader is already\n"
            "                             elected as the voter --peers makes it. Without it such a\n"
            "                             member stays out (it may have lost its log: see\n"
            "                             docs/OPERATIONS.md, Replace)\n"
            "  --listen HOST:PORT         the Redis-protocol client port; HOST:0 for none (only\n"
            "                             with --tls-port, as Redis's `port 0`)\n"
            "  --tls-port PORT            also serve clients over TLS 1.2/1.3 on HOST:PORT\n"
            "                             (HOST from --listen); default 0, none\n"
            "  --tls-cert-file FILE       the client port's certificate (PEM, chain after it)\n"
            "  --tls-key-file FILE        its private key (PEM)\n"
            "  --tls-ca-cert-file FILE    CAs that verify client certificates (PEM)\n"
            "  --tls-auth-clients MODE    yes: clients must show a certificate from those CAs\n"
            "                             (default); optional: verified if shown; no: not asked\n"
            "  --data-dir DIR             durable state (created if missing, locked while running)\n"
            "  --in-memory                nothing survives a restart (tests and benchmarks): the\n"
            "                             log and snapshots go to a private directory under\n"
            "                             --in-memory-dir, removed at exit\n"
            "  --in-memory-dir DIR        where (default /dev/shm: a tmpfs, RAM, whose syncs cost\n"
            "                             nothing; room for a snapshot and the log is needed)\n"
            "  --config FILE              read options from FILE: lines 'key value' or 'key = value',\n"
            "                             '#' comments, keys as the long options without '--'\n"
            "                             (in-memory yes); the command line overrides the file\n"
            "  --max-clients N            client connections at once (default 10000)\n"
            "  --max-pending-per-client N commands in flight per connection before it is no\n"
            "                             longer read (default 1024)\n"
            "  --max-pending N            operations in flight in all (default 65536); past it\n"
            "                             commands get -TRYAGAIN\n"
            "  --max-apply-backlog N      as leader, stop reading clients while more than N\n"
            "                             committed entries wait to be applied, until at most\n"
            "                             N/2 do (default 8192; 0: never)\n"
            "  --max-output-bytes N       a client not reading its replies is closed past this\n"
            "                             (default 67108864)\n"
            "  --max-lcs-cells N          LCS's table of (len1+1)*(len2+1) cells (2 bytes each),\n"
            "                             computed on the event loop; past it LCS is refused\n"
            "                             (one EXEC's LCS commands share it)\n"
            "                             (default 4194304, at most 134217728: Redis's bound)\n"
            "  --scan-max-count N         SCAN's COUNT past N counts as N: one call walks at\n"
            "                             most N entries and 10*N buckets (default 2000,\n"
            "                             1 to 100000000)\n"
            "  --randomkey-max-slots N    map slots one RANDOMKEY looks at for a live key;\n"
            "                             none among them (keys past their deadline not yet\n"
            "                             removed): nil (default 16384, 64 to 4294967296)\n"
            "  --timeout SECONDS          close a client idle this long, nothing read or written\n"
            "                             and no command in flight, as Redis's timeout (default\n"
            "                             0: never)\n"
            "  --client-handshake-timeout-ms N\n"
            "                             close a client that has not completed a first command\n"
            "                             as an authenticated user within N ms (default 10000;\n"
            "                             0: no limit)\n"
            "  --max-bulk-bytes N         one argument (default %u)\n"
            "  --max-args N               arguments of one command (default %u)\n"
            "  --max-request-bytes N      one command, all counted (default %u)\n"
            "  --max-inline-bytes N       one inline (telnet) command line (default %u)\n"
            "  --script-max-bytes N       a Lua script's body (EVAL, SCRIPT LOAD; default 262144)\n"
            "  --script-max-instructions N  Lua instructions one script may run (default\n"
            "                             10000000, 1000..1e9); past it the script is stopped\n"
            "                             with an error and none of its writes is applied\n"
            "  --script-max-memory N      bytes one script's Lua state may hold (default\n"
            "                             33554432, at least 262144); past it, as the budget\n"
            "  --script-cache-max N       script bodies each member keeps for EVALSHA (default\n"
            "                             1000; the oldest leave first)\n"
            "  --peer-queue-bytes N       unsent bytes per peer before frames are dropped\n"
            "                             (default 16777216; Raft retransmits)\n"
            "  --max-frame-bytes N        largest peer frame accepted (default %u)\n"
            "  --catchup-append-entries N, --catchup-append-bytes N\n"
            "                             as leader, a member lacking more committed entries\n"
            "                             than one ordinary APPEND (256 entries, 1 MiB) holds\n"
            "                             gets APPENDs of up to N entries (default 1024, at most\n"
            "                             65536) and N bytes (default 1048576, 65536..64 MiB;\n"
            "                             with 32 bytes an entry within --max-frame-bytes)\n"
            "  --catchup-append-mbps N    and paces them to each such member at 1.5 times the\n"
            "                             rate the log grows, or N MB/s of entries less twice\n"
            "                             that rate when that is more (default 16, 4..100000;\n"
            "                             0: no pace)\n"
            "  --learner-sync-interval-ms N  a learner that lacks more committed entries than\n"
            "                             one ordinary APPEND holds syncs its log at most once\n"
            "                             per N ms (default 20, 0..1000; 0: every batch), and\n"
            "                             acknowledges only what is synced; a voter syncs every\n"
            "                             batch\n"
            "  --log-spare-blocks N       2 MiB blocks of the in-memory log's payloads kept\n"
            "                             for reuse once their entries are applied and on\n"
            "                             disk, instead of freed (default 4, 0..16)\n"
            "  --max-snapshot-bytes N     largest snapshot image a member accepts from the\n"
            "                             leader (default 68719476736; also refused when the\n"
            "                             data directory's disk has not that much free)\n"
            "  --certs-dir DIR            peer TLS: DIR/ca.crt, DIR/<id>.crt, DIR/<id>.key, as\n"
            "                             `raftkv certs --dir DIR --members n1,n2,n3` makes them.\n"
            "                             Every peer connection is TLS 1.3, both sides show a\n"
            "                             certificate of the CA that names them; required with\n"
            "                             more than one member\n"
            "  --peer-cert-file F, --peer-key-file F, --peer-trusted-ca-file F\n"
            "                             the same files one by one (override --certs-dir's)\n"
            "  --peer-insecure-plaintext  INSECURE: peers talk without TLS; anyone who can\n"
            "                             reach the peer port can rewrite or erase the data\n"
            "  --join HOST:PORT           with an empty data directory: join the running cluster\n"
            "                             that has a member at peer address HOST:PORT (after\n"
            "                             RAFT.NODE ADD on its leader), instead of --peers; needs\n"
            "                             --peer-listen (this member's peer address)\n"
            "  --auto-promote-lag N       a member added without LEARNER becomes a voter once its\n"
            "                             log is within N entries of the leader's (default 1000)\n"
            "  --peer-listen HOST:PORT    where the peer port binds, when others reach it at\n"
            "                             another address (a proxy, NAT; default: this member's\n"
            "                             address in --peers)\n"
            "  --peer-handshake-timeout-ms N  an inbound peer connection not authenticated\n"
            "                             by then is closed (default 5000); before that it may\n"
            "                             send at most 65536 bytes\n"
            "  --election-timeout-ms N    base election timeout (default 1000)\n"
            "  --heartbeat-ms N           leader heartbeat interval (default 100)\n"
            "  --request-timeout-ms N     the leader answers -UNCERTAIN a command it has not\n"
            "                             settled by then while its commit index stood still\n"
            "                             that long too; a command waits at most this long\n"
            "                             for a leader (then -TRYAGAIN); a follower waits this\n"
            "                             plus 500 ms for the leader's answer to one it passed\n"
            "                             on (then -UNCERTAIN, or -TRYAGAIN for a read)\n"
            "                             (default 2000)\n"
            "  --long-read-timeout-ms N   a follower waits this long for the leader's answer\n"
            "                             to a KEYS it passed on (the leader walks the whole\n"
            "                             map), and longer while that leader makes progress;\n"
            "                             then -TRYAGAIN (default 60000, 1..1000000000)\n"
            "  --shutdown-wait-ms N       on SIGTERM, how long in-flight commands may take\n"
            "                             (default 5000)\n"
            "  --snapshot-entries N       snapshot the state machine (and drop the log it\n"
            "                             covers) every N applied entries (default 1000000)\n"
            "  --snapshot-log-percent P   also snapshot once the log applied since the last\n"
            "                             one holds P%% of the map's bytes, so the log kept in\n"
            "                             memory stays a fraction of the data (default 25;\n"
            "                             0: off; at most 1000)\n"
            "  --snapshot-log-min-bytes N but not before the log holds N bytes (default 32 MiB)\n"
            "  --snapshot-stagger yes|no  members start their periodic snapshots in turn, one\n"
            "                             window of the log each, deferring one by less than\n"
            "                             the interval since the last (default yes)\n"
            "  --snapshot-method fork|walk how a member writes its snapshots (and backup\n"
            "                             images): a forked child\n"
            "                             (copy-on-write), or the event loop itself in slices\n"
            "                             from a point-in-time walk of the map (no fork;\n"
            "                             default fork)\n"
            "  --snapshot-walk-slice-ms MS a walk takes MS of each loop turn while it keeps up\n"
            "                             (default 8; 1-1000): more is a shorter walk, a slower\n"
            "                             turn\n"
            "  --snapshot-walk-max-slice-ms MS and up to MS of each turn once it falls behind\n"
            "                             its target or its pre-images grow (default 32;\n"
            "                             1-1000; below the slice counts as the slice)\n"
            "  --snapshot-walk-target-ms MS the length a walk aims at: one heading past it\n"
            "                             takes longer slices (default 10000; 0: no target)\n"
            "  --snapshot-walk-max-bytes N a walk keeps the old values of keys written before\n"
            "                             it reached them; past N bytes of them it gives up\n"
            "                             and is tried again later (default 512 MiB; a KEYS\n"
            "                             walk's bound too)\n"
            "  --snapshot-send-mbps N     a leader sends each snapshot to a member at most N MB/s\n"
            "                             (default 160; 0: as fast as the link and the receiver go)\n"
            "  --apply-batch N            apply at most N committed entries per event-loop turn\n"
            "                             (default 4096; a backlog goes on at the next turn)\n"
            "  --apply-cpu-ms MS          and stop applying in a turn once that took MS of the\n"
            "                             loop thread's CPU time (default 10; one entry at least)\n"
            "  --keys-walk-min N          KEYS on a map of N keys or more is answered from a\n"
            "                             point-in-time walk of the map in slices, not one pass\n"
            "                             in one loop turn (default 65536; 0: always walk);\n"
            "                             KEYS inside MULTI on such a map answers an error\n"
            "  --keys-walk-entries N      such a walk visits at most N entries per loop turn\n"
            "                             (default 8192: 3-5 ms a turn at 1M keys; 64-16777216)\n"
            "  --seed N                   seed of the election-timeout generator (default: from\n"
            "                             the clock and pid, logged)\n"
            "  --log-level LEVEL          error|warn|info|debug (default info); refusals (a client\n"
            "                             or peer refused, a limit hit, a bad request or frame)\n"
            "                             are logged with its address, at most 10 lines a second\n"
            "                             per event, then one line counting those dropped\n"
            "  --log-file PATH            append the log to PATH instead of stderr; SIGHUP reopens\n"
            "                             it (logrotate). SIGHUP never stops the server\n"
            "  --metrics-listen HOST:PORT serve GET /metrics (Prometheus text) and /health over\n"
            "                             HTTP; NO AUTHENTICATION: keep it on loopback or a\n"
            "                             private network (default: off)\n"
            "  --health-max-lag N         /health is 503 when applied trails commit by more than\n"
            "                             N entries (default 1000); also without a leader heard\n"
            "                             within the election timeout (a leader: a quorum)\n"
            "  --metrics-max-clients N    metrics connections at once (default 64); a request\n"
            "                             head may be 8192 bytes\n"
            "  --metrics-timeout-ms N     a metrics connection's whole life (default 5000)\n"
            "  --max-backups N            backup images (RAFTKV.BACKUP, raftkv backup) kept at\n"
            "                             once (default 2; 0: no backups)\n"
            "  --requirepass-file FILE    the default user's password: FILE's one line (not\n"
            "                             readable by other users); clients AUTH with it\n"
            "  --aclfile FILE             named users, Redis ACL lines: user NAME on >password\n"
            "                             ~* +@read|+@all -@admin|+@all ... (the default user is\n"
            "                             off unless the file has a 'user default' line)\n"
            "  --protected-mode yes|no    with no password and no users, serve only clients on\n"
            "                             127.0.0.1 and ::1 (default yes)\n"
            "  --unsafe-local-reads       DELIBERATE BUG for testing checkers: every node answers\n"
            "                             GET from its own state, with no proof of leadership\n"
            "  --enable-debug-commands    allow DEBUG.CUT PEER MS (drop all frames to and from\n"
            "                             PEER for MS ms; fault-injection tests only)\n"
            "  --help, --version\n",
            RESP_DEFAULT_MAX_BULK_BYTES, RESP_DEFAULT_MAX_ARGS, RESP_DEFAULT_MAX_REQUEST_BYTES,
            RESP_DEFAULT_MAX_INLINE_BYTES, PEER_DEFAULT_MAX_FRAME);
}

static void server_options_default(struct server_options *o)
{
    memset(o, 0, sizeof *o);
    o->self = -1;
    o->max_clients = 10000;
    o->max_pending_per_client = 1024;
    o->max_pending = 65536;
    o->max_apply_backlog = APPLY_GATE_DEFAULT_MAX;
    o->max_output_bytes = 64u << 20;
    o->max_lcs_cells = SERVER_DEFAULT_MAX_LCS_CELLS;
    o->scan_max_count = SERVER_DEFAULT_SCAN_MAX_COUNT;
    o->randomkey_max_slots = KV_RANDOMKEY_MAX_SLOTS;
    o->timeout_s = 0;
    o->client_handshake_timeout_ms = 10000;
    o->peer_queue_bytes = 16u << 20;
    o->max_frame = PEER_DEFAULT_MAX_FRAME;
    o->catchup_append_entries = 1024;
    o->catchup_append_bytes = 1u << 20;
    o->catchup_append_mbps = 16;
    o->learner_sync_interval_ms = 20;
    o->log_spare_blocks = 4;
    o->snapshot_send_mbps = 160;
    o->max_snapshot_bytes = (size_t)64 << 30;
    o->peer_handshake_timeout_ms = PEER_DEFAULT_HANDSHAKE_TIMEOUT_MS;
    resp_limits_default(&o->limits);
    o->election_timeout_ms = 1000;
    o->heartbeat_ms = 100;
    o->request_timeout_ms = 2000;
    o->long_read_timeout_ms = 60000;
    o->shutdown_wait_ms = 5000;
    o->snapshot_entries = 1000000;
    o->snapshot_walk_max_bytes = BGSAVE_WALK_MAX_BYTES_DEFAULT;
    snprintf(o->in_memory_dir, sizeof o->in_memory_dir, "%s", MEM_DIR_DEFAULT_BASE);
    o->keys_walk_min = 65536;
    o->keys_walk_entries = 8192;
    o->snapshot_walk_slice_ms = BGSAVE_WALK_SLICE_MS_DEFAULT;
    o->snapshot_walk_max_slice_ms = BGSAVE_WALK_MAX_SLICE_MS_DEFAULT;
    o->snapshot_walk_target_ms = BGSAVE_WALK_TARGET_MS_DEFAULT;
    o->snapshot_log_percent = 25;
    o->snapshot_log_min_bytes = 32u << 20;
    o->apply_batch = REPLICA_DEFAULT_APPLY_BATCH;
    o->apply_batch_snapshot = REPLICA_DEFAULT_APPLY_BATCH_SNAPSHOT;
    o->apply_cpu_ms = 10;
    o->log_level = SLOG_INFO;
    o->protected_mode = true;
    o->tls_auth_clients = TLS_CLIENT_CERT_REQUIRED;
    o->script_max_bytes = 256u << 10;
    o->script_max_instructions = 10000000;
    o->script_max_memory = 32u << 20;
    o->script_cache_max = 1000;
    o->metrics_max_clients = 64;
    o->metrics_timeout_ms = 5000;
    o->slow_loop_ms = 100;
    o->health_max_lag = 1000;
    o->auto_promote_lag = 1000;
    o->max_backups = 2;
}

/* "HOST:PORT" (the last colon separates, so "[::1]:7001" style is not
 * supported; use IPv4 or a host name). */
static int parse_port(const char *s, bool zero_ok, int *port)
{
    char *end;
    errno = 0;
    long p = strtol(s, &end, 10);
    if (errno || end == s || *end || p < (zero_ok ? 0 : 1) || p > 65535)
        return -1;
    *port = (int)p;
    return 0;
}

static int parse_hostport_z(const char *s, char *host, size_t hostcap, int *port, bool zero_ok)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || (size_t)(colon - s) >= hostcap)
        return -1;
    int p;
    if (parse_port(colon + 1, zero_ok, &p) != 0)
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    *port = p;
    return 0;
}

static int parse_hostport(const char *s, char *host, size_t hostcap, int *port)
{
    return parse_hostport_z(s, host, hostcap, port, false);
}

static int parse_path(const char *v, char *out, size_t cap)
{
    if (!*v || strlen(v) >= cap)
        return -1;
    snprintf(out, cap, "%s", v);
    return 0;
}

static int parse_peers(struct server_options *o, const char *list)
{
    char *copy = strdup(list);
    if (!copy)
        return -1;
    o->n_nodes = 0;
    o->peers_text[0] = '\0';
    int rc = 0;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (!eq || eq == item || (size_t)(eq - item) > PEER_MAX_NAME || o->n_nodes >= RAFT_MAX_NODES) {
            rc = -1;
            break;
        }
        int n = o->n_nodes;
        memcpy(o->names[n], item, (size_t)(eq - item));
        o->names[n][eq - item] = '\0';
        for (int j = 0; j < n; j++)
            if (strcmp(o->names[j], o->names[n]) == 0)
                rc = -1;
        if (rc || parse_hostport(eq + 1, o->peer_host[n], sizeof o->peer_host[n], &o->peer_port[n]) != 0) {
            rc = -1;
            break;
        }
        size_t used = strlen(o->peers_text);
        snprintf(o->peers_text + used, sizeof o->peers_text - used, "%s%s=%s:%d", n ? "," : "",
                 o->names[n], o->peer_host[n], o->peer_port[n]);
        o->n_nodes++;
    }
    free(copy);
    return rc == 0 && o->n_nodes > 0 ? 0 : -1;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int parse_size(const char *s, size_t *out)
{
    uint64_t v;
    if (parse_u64(s, &v) != 0 || v == 0 || v > SIZE_MAX / 4)
        return -1;
    *out = (size_t)v;
    return 0;
}

static int server_options_apply(struct server_options *o, int argc, char **argv, int depth);

/* "FILE:LINE: " while a config file line is applied, for the messages. */
static const char *server_options_where = "";

struct server_options_file_ctx {
    struct server_options *o;
    int depth;
};

/* One config file line as "--key [value]". */
static int server_options_file_line(void *ctx, const char *key, const char *val, const char *where)
{
    struct server_options_file_ctx *fc = ctx;
    char prefix[PATH_MAX + 40];
    snprintf(prefix, sizeof prefix, "%s: ", where);
    if (strcmp(key, "first-start") == 0) {
        fprintf(stderr, "raftkv serve: %sfirst-start is refused in a configuration file: it vouches that "
                "this one start is the member's first, so give it on that start's command line only (kept "
                "in the file, a later start after a lost disk would vote without its log)\n", prefix);
        return 64;
    }
    bool flag = strcmp(key, "in-memory") == 0 || strcmp(key, "enable-debug-commands") == 0 ||
                strcmp(key, "peer-insecure-plaintext") == 0 || strcmp(key, "unsafe-local-reads") == 0;
    if (flag && *val) {
        if (strcmp(val, "no") == 0 || strcmp(val, "false") == 0 || strcmp(val, "0") == 0)
            return 0;
        if (strcmp(val, "yes") != 0 && strcmp(val, "true") != 0 && strcmp(val, "1") != 0) {
            fprintf(stderr, "raftkv serve: %sbad value for %s: '%s' (yes or no)\n", prefix, key, val);
            return 64;
        }
    }
    if (!flag && !*val) {
        fprintf(stderr, "raftkv serve: %s'%s' has no value\n", prefix, key);
        return 64;
    }
    size_t klen = strlen(key) + 3;
    char *arg0 = malloc(klen);
    if (!arg0)
        return 64;
    snprintf(arg0, klen, "--%s", key);
    char *args[2] = {arg0, (char *)val};
    server_options_where = prefix;
    int rc = server_options_apply(fc->o, flag ? 1 : 2, args, fc->depth + 1);
    server_options_where = "";
    free(arg0);
    return rc;
}

static int server_options_file(struct server_options *o, const char *path, int depth)
{
    if (depth > 0) {
        fprintf(stderr, "raftkv serve: %s--config cannot be nested (%s)\n", server_options_where, path);
        return 64;
    }
    struct server_options_file_ctx fc = {o, depth};
    return server_config_file_read(path, server_options_file_line, &fc);
}

static int server_options_apply(struct server_options *o, int argc, char **argv, int depth)
{
    const char *peers = NULL;
    bool join_here = false; /* --join among these arguments */
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool used = true; /* whether v was consumed */
        size_t size;
        uint64_t u;
        int bad = 0;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            server_options_usage(stdout);
            return 1;
        } else if (strcmp(a, "--version") == 0) {
            printf("raftkv %s\n", RAFTKV_VERSION);
            return 1;
        } else if (strcmp(a, "--in-memory") == 0) {
            o->in_memory = true;
            used = false;
        } else if (strcmp(a, "--first-start") == 0) {
            o->first_start = true;
            used = false;
        } else if (strcmp(a, "--unsafe-local-reads") == 0) {
            o->unsafe_local_reads = true;
            used = false;
        } else if (strcmp(a, "--enable-debug-commands") == 0) {
            o->debug_commands = true;
            used = false;
        } else if (strcmp(a, "--peer-insecure-plaintext") == 0) {
            o->peer_insecure = true;
            used = false;
        } else if (!v) {
            fprintf(stderr, "raftkv serve: %s%s needs a value (or is unknown)\n", server_options_where, a);
            return 64;
        } else if (strcmp(a, "--config") == 0) {
            /* Read before the command line (server_options_parse), so the
             * command line overrides it; in a file: nested. */
            if (depth > 0)
                return server_options_file(o, v, depth);
        } else if (strcmp(a, "--metrics-listen") == 0) {
            bad = parse_hostport(v, o->metrics_host, sizeof o->metrics_host, &o->metrics_port) != 0;
            o->metrics_listen_set = !bad;
        } else if (strcmp(a, "--health-max-lag") == 0) {
            bad = parse_u64(v, &o->health_max_lag) != 0;
        } else if (strcmp(a, "--log-file") == 0) {
            bad = parse_path(v, o->log_file, sizeof o->log_file) != 0;
        } else if (strcmp(a, "--id") == 0) {
            bad = strlen(v) == 0 || strlen(v) > PEER_MAX_NAME;
            if (!bad)
                snprintf(o->id, sizeof o->id, "%s", v);
        } else if (strcmp(a, "--join") == 0) {
            bad = parse_hostport(v, o->join_host, sizeof o->join_host, &o->join_port) != 0;
            o->join_set = !bad;
            join_here = true;
            if (depth == 0 && !peers) { /* the command line's --join overrides a config file's peers */
                o->n_nodes = 0;
                memset(o->names, 0, sizeof o->names);
                o->peers_text[0] = '\0';
            }
        } else if (strcmp(a, "--auto-promote-lag") == 0) {
            bad = parse_u64(v, &o->auto_promote_lag) != 0;
        } else if (strcmp(a, "--peers") == 0) {
            peers = v;
            bad = parse_peers(o, v) != 0;
            if (depth == 0 && !bad && o->join_set && !join_here)
                o->join_set = false; /* and its --peers a config file's join */
        } else if (strcmp(a, "--listen") == 0) {
            bad = parse_hostport_z(v, o->listen_host, sizeof o->listen_host, &o->listen_port, true) != 0;
            o->listen_set = !bad;
        } else if (strcmp(a, "--peer-listen") == 0) {
            bad = parse_hostport(v, o->peer_listen_host, sizeof o->peer_listen_host, &o->peer_listen_port) != 0;
        } else if (strcmp(a, "--tls-port") == 0) {
            bad = parse_port(v, true, &o->tls_port) != 0;
        } else if (strcmp(a, "--tls-cert-file") == 0) {
            bad = parse_path(v, o->tls_cert_file, sizeof o->tls_cert_file) != 0;
        } else if (strcmp(a, "--tls-key-file") == 0) {
            bad = parse_path(v, o->tls_key_file, sizeof o->tls_key_file) != 0;
        } else if (strcmp(a, "--tls-ca-cert-file") == 0) {
            bad = parse_path(v, o->tls_ca_cert_file, sizeof o->tls_ca_cert_file) != 0;
        } else if (strcmp(a, "--tls-auth-clients") == 0) {
            /* Redis's values; "required" too, for those who say what they mean. */
            if (strcmp(v, "yes") == 0 || strcmp(v, "required") == 0)
                o->tls_auth_clients = TLS_CLIENT_CERT_REQUIRED;
            else if (strcmp(v, "optional") == 0)
                o->tls_auth_clients = TLS_CLIENT_CERT_OPTIONAL;
            else if (strcmp(v, "no") == 0)
                o->tls_auth_clients = TLS_CLIENT_CERT_NONE;
            else
                bad = 1;
        } else if (strcmp(a, "--in-memory-dir") == 0) {
            bad = parse_path(v, o->in_memory_dir, sizeof o->in_memory_dir - 32) != 0;
            o->in_memory_dir_set = !bad;
        } else if (strcmp(a, "--data-dir") == 0) {
            bad = strlen(v) == 0 || strlen(v) >= sizeof o->data_dir;
            if (!bad)
                snprintf(o->data_dir, sizeof o->data_dir, "%s", v);
        } else if (strcmp(a, "--log-level") == 0) {
            static const char *levels[] = {"error", "warn", "info", "debug"};
            bad = 1;
            for (int l = 0; l < 4; l++)
                if (strcmp(v, levels[l]) == 0) {
                    o->log_level = l;
                    bad = 0;
                }
        } else if (strcmp(a, "--certs-dir") == 0 || strcmp(a, "--peer-cert-file") == 0 ||
                   strcmp(a, "--peer-key-file") == 0 || strcmp(a, "--peer-trusted-ca-file") == 0) {
            char *dst = strcmp(a, "--certs-dir") == 0       ? o->certs_dir
                        : strcmp(a, "--peer-cert-file") == 0 ? o->peer_cert_file
                        : strcmp(a, "--peer-key-file") == 0  ? o->peer_key_file
                                                             : o->peer_ca_file;
            bad = strlen(v) == 0 || strlen(v) >= PATH_MAX - 64;
            if (!bad)
                snprintf(dst, PATH_MAX, "%s", v);
        } else if (strcmp(a, "--requirepass-file") == 0 || strcmp(a, "--aclfile") == 0) {
            char *dst = a[2] == 'r' ? o->requirepass_file : o->aclfile;
            bad = strlen(v) == 0 || strlen(v) >= sizeof o->aclfile;
            if (!bad)
                snprintf(dst, sizeof o->aclfile, "%s", v);
        } else if (strcmp(a, "--protected-mode") == 0) {
            bad = strcmp(v, "yes") != 0 && strcmp(v, "no") != 0;
            o->protected_mode = strcmp(v, "no") != 0;
        } else if (strcmp(a, "--requirepass") == 0) {
            fprintf(stderr, "raftkv serve: --requirepass is not supported: a password on the command line is "
                            "visible to every user of the machine; put it in a file only you can read and "
                            "use --requirepass-file FILE\n");
            return 64;
        } else if (strcmp(a, "--timeout") == 0) {
            /* Redis's range: 0 (never) to INT_MAX seconds. */
            bad = parse_u64(v, &u) != 0 || u > INT_MAX;
            if (!bad)
                o->timeout_s = u;
        } else if (strcmp(a, "--client-handshake-timeout-ms") == 0) {
            bad = parse_u64(v, &u) != 0 || u > 1000000000ull;
            if (!bad)
                o->client_handshake_timeout_ms = u;
        } else if (strcmp(a, "--snapshot-send-mbps") == 0) {
            bad = parse_u64(v, &u) != 0 || u > 100000;
            if (!bad)
                o->snapshot_send_mbps = u;
        } else if (strcmp(a, "--snapshot-method") == 0) {
            bad = strcmp(v, "fork") != 0 && strcmp(v, "walk") != 0;
            if (!bad)
                o->snapshot_walk = strcmp(v, "walk") == 0;
        } else if (strcmp(a, "--snapshot-walk-slice-ms") == 0) {
            bad = parse_u64(v, &u) != 0 || u == 0 || u > 1000;
            if (!bad)
                o->snapshot_walk_slice_ms = u;
        } else if (strcmp(a, "--snapshot-walk-max-slice-ms") == 0) {
            bad = parse_u64(v, &u) != 0 || u == 0 || u > 1000;
            if (!bad)
                o->snapshot_walk_max_slice_ms = u;
        } else if (strcmp(a, "--snapshot-walk-target-ms") == 0) {
            bad = parse_u64(v, &u) != 0 || u > 86400000ull;
            if (!bad)
                o->snapshot_walk_target_ms = u;
        } else if (strcmp(a, "--snapshot-walk-max-bytes") == 0) {
            bad = parse_size(v, &size) != 0 || size < 4096;
            if (!bad)
                o->snapshot_walk_max_bytes = size;
        } else if (strcmp(a, "--keys-walk-min") == 0) {
            bad = parse_u64(v, &u) != 0 || u > ((uint64_t)1 << 40);
            if (!bad)
                o->keys_walk_min = (size_t)u;
        } else if (strcmp(a, "--keys-walk-entries") == 0) {
            bad = parse_u64(v, &u) != 0 || u < 64 || u > ((uint64_t)1 << 24);
            if (!bad)
                o->keys_walk_entries = (size_t)u;
        } else if (strcmp(a, "--snapshot-stagger") == 0) {
            bad = strcmp(v, "yes") != 0 && strcmp(v, "no") != 0;
            o->snapshot_no_stagger = strcmp(v, "no") == 0;
        } else if (strcmp(a, "--snapshot-log-percent") == 0) {
            bad = parse_u64(v, &u) != 0 || u > 1000;
            if (!bad)
                o->snapshot_log_percent = u;
        } else if (strcmp(a, "--max-lcs-cells") == 0) {
            bad = parse_size(v, &size) != 0 || size > SERVER_MAX_LCS_CELLS;
            if (!bad)
                o->max_lcs_cells = size;
        } else if (strcmp(a, "--scan-max-count") == 0) {
            bad = parse_size(v, &size) != 0 || size < 1 || size > SERVER_MAX_SCAN_MAX_COUNT;
            if (!bad)
                o->scan_max_count = size;
        } else if (strcmp(a, "--randomkey-max-slots") == 0) {
            bad = parse_size(v, &size) != 0 || size < 64 || size > SERVER_MAX_RANDOMKEY_SLOTS;
            if (!bad)
                o->randomkey_max_slots = size;
        } else if (strcmp(a, "--script-max-instructions") == 0) {
            bad = parse_u64(v, &u) != 0 || u < 1000 || u > 1000000000ull;
            if (!bad)
                o->script_max_instructions = u;
        } else if (strcmp(a, "--script-max-memory") == 0) {
            /* in KiB in the entry: 24 bits of it */
            bad = parse_size(v, &size) != 0 || size < (256u << 10) || size > ((size_t)1 << 34) - 1024;
            if (!bad)
                o->script_max_memory = size;
        } else if (strcmp(a, "--catchup-append-entries") == 0) {
            bad = parse_size(v, &size) != 0 || size > PEER_MAX_ENTRIES;
            if (!bad)
                o->catchup_append_entries = size;
        } else if (strcmp(a, "--catchup-append-bytes") == 0) {
            bad = parse_size(v, &size) != 0 || size < (64u << 10) || size > (64u << 20);
            if (!bad)
                o->catchup_append_bytes = size;
        } else if (strcmp(a, "--max-apply-backlog") == 0) {
            bad = parse_u64(v, &u) != 0 || u > SIZE_MAX / 4; /* 0: no bound */
            if (!bad)
                o->max_apply_backlog = (size_t)u;
        } else if (strcmp(a, "--catchup-append-mbps") == 0) {
            bad = parse_u64(v, &u) != 0 || (u != 0 && u < 4) || u > 100000;
            if (!bad)
                o->catchup_append_mbps = u;
        } else if (strcmp(a, "--learner-sync-interval-ms") == 0) {
            bad = parse_u64(v, &u) != 0 || u > 1000;
            if (!bad)
                o->learner_sync_interval_ms = u;
        } else if (strcmp(a, "--log-spare-blocks") == 0) {
            bad = parse_u64(v, &u) != 0 || u > RAFT_LOG_SPARE_MAX;
            if (!bad)
                o->log_spare_blocks = (size_t)u;
        } else if (strcmp(a, "--seed") == 0) {
            bad = parse_u64(v, &o->seed) != 0;
        } else {
            struct {
                const char *name;
                size_t *size;
                uint64_t *ms;
            } nums[] = {
                {"--max-clients", &o->max_clients, NULL},
                {"--max-pending-per-client", &o->max_pending_per_client, NULL},
                {"--max-pending", &o->max_pending, NULL},
                {"--max-output-bytes", &o->max_output_bytes, NULL},
                {"--max-bulk-bytes", &o->limits.max_bulk_bytes, NULL},
                {"--max-args", &o->limits.max_args, NULL},
                {"--max-request-bytes", &o->limits.max_request_bytes, NULL},
                {"--max-inline-bytes", &o->limits.max_inline_bytes, NULL},
                {"--peer-queue-bytes", &o->peer_queue_bytes, NULL},
                {"--max-frame-bytes", &o->max_frame, NULL},
                {"--max-snapshot-bytes", &o->max_snapshot_bytes, NULL},
                {"--snapshot-log-min-bytes", &o->snapshot_log_min_bytes, NULL},
                {"--election-timeout-ms", NULL, &o->election_timeout_ms},
                {"--heartbeat-ms", NULL, &o->heartbeat_ms},
                {"--request-timeout-ms", NULL, &o->request_timeout_ms},
                {"--long-read-timeout-ms", NULL, &o->long_read_timeout_ms},
                {"--shutdown-wait-ms", NULL, &o->shutdown_wait_ms},
                {"--snapshot-entries", NULL, &o->snapshot_entries},
                {"--apply-batch", NULL, &o->apply_batch},
                {"--apply-batch-snapshot", NULL, &o->apply_batch_snapshot},
                {"--apply-cpu-ms", NULL, &o->apply_cpu_ms},
                {"--peer-handshake-timeout-ms", NULL, &o->peer_handshake_timeout_ms},
                {"--metrics-max-clients", &o->metrics_max_clients, NULL},
                {"--metrics-timeout-ms", NULL, &o->metrics_timeout_ms},
                {"--slow-loop-ms", NULL, &o->slow_loop_ms},
                {"--max-backups", &o->max_backups, NULL},
                {"--script-max-bytes", &o->script_max_bytes, NULL},
                {"--script-cache-max", &o->script_cache_max, NULL},
            };
            size_t k;
            for (k = 0; k < sizeof nums / sizeof nums[0]; k++)
                if (strcmp(a, nums[k].name) == 0)
                    break;
            if (k == sizeof nums / sizeof nums[0]) {
                fprintf(stderr, "raftkv serve: %sunknown option %s\n", server_options_where, a);
                return 64;
            }
            if (nums[k].size) {
                bad = parse_size(v, &size) != 0;
                if (!bad)
                    *nums[k].size = size;
            } else {
                bad = parse_u64(v, &u) != 0 || u == 0 || u > 1000000000ull;
                if (!bad)
                    *nums[k].ms = u;
            }
        }
        if (bad) {
            fprintf(stderr, "raftkv serve: %sbad value for %s: '%s'\n", server_options_where, a, v);
            return 64;
        }
        if (used)
            i++;
    }
    (void)peers;
    return 0;
}

/* The client port's TLS options make sense together (the files are read
 * at start, by client_tls_start). */
static int server_options_check_tls(const struct server_options *o)
{
    if (o->listen_port == 0 && o->tls_port == 0) {
        fprintf(stderr, "raftkv serve: --listen %s:0 turns the plain client port off; it needs --tls-port\n",
                o->listen_host);
        return -1;
    }
    if (o->tls_port == 0)
        return 0;
    if (o->tls_port == o->listen_port) {
        fprintf(stderr, "raftkv serve: --tls-port %d is also the --listen port\n", o->tls_port);
        return -1;
    }
    const char *missing = !o->tls_cert_file[0] ? "--tls-cert-file" : !o->tls_key_file[0] ? "--tls-key-file"
                          : (!o->tls_ca_cert_file[0] && o->tls_auth_clients != TLS_CLIENT_CERT_NONE)
                              ? "--tls-ca-cert-file (or --tls-auth-clients no)"
                              : NULL;
    if (missing) {
        fprintf(stderr, "raftkv serve: --tls-port needs %s\n", missing);
        return -1;
    }
    return 0;
}

int server_options_parse(struct server_options *o, int argc, char **argv)
{
    server_options_default(o);
    int rc;
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--config") == 0 && (rc = server_options_file(o, argv[i + 1], 0)) != 0)
            return rc;
    rc = server_options_apply(o, argc - 1, argv + 1, 0);
    if (rc)
        return rc;
    if (o->join_set && o->n_nodes) {
        fprintf(stderr, "raftkv serve: --join and --peers exclude each other (a joining member learns the "
                        "members from the cluster)\n");
        return 64;
    }
    if (o->join_set && !o->peer_listen_port) {
        fprintf(stderr, "raftkv serve: --join needs --peer-listen HOST:PORT (this member's peer address, "
                        "as RAFT.NODE ADD names it)\n");
        return 64;
    }
    const char *missing = !o->id[0] ? "--id" : !o->n_nodes && !o->join_set ? "--peers (or --join)"
                          : !o->listen_set ? "--listen"
                          : (!o->data_dir[0] && !o->in_memory) ? "--data-dir (or --in-memory)" : NULL;
    if (missing) {
        fprintf(stderr, "raftkv serve: %s is required\n\n", missing);
        server_options_usage(stderr);
        return 64;
    }
    if (o->in_memory_dir_set && !o->in_memory) {
        fprintf(stderr, "raftkv serve: --in-memory-dir is only for --in-memory (a member with --data-dir "
                        "keeps its storage there)\n");
        return 64;
    }
    for (int i = 0; i < o->n_nodes; i++)
        if (strcmp(o->names[i], o->id) == 0)
            o->self = i;
    if (o->self < 0 && !o->join_set) {
        fprintf(stderr, "raftkv serve: --id %s is not one of --peers\n", o->id);
        return 64;
    }
    /* Peer TLS: the files --certs-dir holds, unless given one by one. */
    struct {
        char *file;
        const char *name, *ext;
    } fill[3] = {{o->peer_cert_file, o->id, ".crt"}, {o->peer_key_file, o->id, ".key"}, {o->peer_ca_file, "ca", ".crt"}};
    for (int k = 0; k < 3 && o->certs_dir[0]; k++) {
        if (fill[k].file[0])
            continue;
        int n = snprintf(fill[k].file, PATH_MAX, "%s/%s%s", o->certs_dir, fill[k].name, fill[k].ext);
        if (n < 0 || n >= PATH_MAX) {
            fprintf(stderr, "raftkv serve: --certs-dir path too long\n");
            return 64;
        }
    }
    bool have = o->peer_cert_file[0] && o->peer_key_file[0] && o->peer_ca_file[0];
    if (o->peer_insecure && (o->certs_dir[0] || o->peer_cert_file[0] || o->peer_key_file[0] || o->peer_ca_file[0])) {
        fprintf(stderr, "raftkv serve: --peer-insecure-plaintext and peer certificates exclude each other\n");
        return 64;
    }
    if (!have && (o->peer_cert_file[0] || o->peer_key_file[0] || o->peer_ca_file[0])) {
        fprintf(stderr, "raftkv serve: peer TLS needs --peer-cert-file, --peer-key-file and "
                        "--peer-trusted-ca-file (or --certs-dir)\n");
        return 64;
    }
    if (!have && !o->peer_insecure && (o->n_nodes > 1 || o->join_set)) {
        char names[RAFT_MAX_NODES * (PEER_MAX_NAME + 1) + 1] = "";
        for (int i = 0; i < o->n_nodes; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? "," : "", o->names[i]);
        fprintf(stderr,
                "raftkv serve: peers authenticate with TLS certificates, and none were given.\n"
                "Make a CA and every member's certificate once, then give each member the directory:\n"
                "  raftkv certs --dir DIR --members %s\n"
                "  raftkv serve --certs-dir DIR ...   (DIR/ca.crt, DIR/%s.crt, DIR/%s.key)\n"
                "or, knowing that anyone who can reach the peer port can then rewrite or erase\n"
                "the data, --peer-insecure-plaintext.\n",
                names, o->id, o->id);
        return 64;
    }
    if (server_options_check_tls(o) != 0)
        return 64;
    if (o->heartbeat_ms * 2 > o->election_timeout_ms) {
        fprintf(stderr, "raftkv serve: --heartbeat-ms must be at most half of --election-timeout-ms\n");
        return 64;
    }
    if (o->catchup_append_bytes + 32 * o->catchup_append_entries > o->max_frame) {
        fprintf(stderr, "raftkv serve: --catchup-append-bytes plus 32 bytes for each of --catchup-append-entries "
                        "must fit in --max-frame-bytes (%zu)\n", o->max_frame);
        return 64;
    }
    return 0;
}
