/* server_internal.h - the TCP server's shared state: options, the server, its
 * client and peer connections, and the operations in flight. Private to
 * src/server.
 *
 * One thread, one libuv loop. The order of work follows Redis's beforeSleep:
 * the poll phase reads every ready socket (clients and peers) and feeds the
 * replica; then one uv_check callback (server_after_io) ends the batch with
 * replica_flush() - propose, persist, ONE fsync, send, answer - and only then
 * starts the socket writes, so no reply or vote leaves before the state it
 * depends on is durable.
 */
#ifndef RAFTKV_SERVER_INTERNAL_H
#define RAFTKV_SERVER_INTERNAL_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "kv/kv.h"
#include "server/apply_gate.h"
#include "server/acl.h"
#include "net/tls.h"
#include "raft/raft.h"
#include "replica/replica.h"
#include "router/router.h"
#include "server/bgsave.h"
#include "server/loop_watch.h"
#include "server/member_table.h"
#include "server/metrics.h"
#include "server/peer_codec.h"
#include "server/peer_gate.h"
#include "server/req_table.h"
#include "server/snap_transfer.h"
#include "server/resp.h"
#include "storage/identity.h"
#include "storage/storage_replica.h"

/* ---- Options (server_options.c) ---------------------------------------- */

struct server_options {
    char id[PEER_MAX_NAME + 1];
    int self; /* index of id in names */
    int n_nodes;
    char names[RAFT_MAX_NODES][PEER_MAX_NAME + 1];
    char peer_host[RAFT_MAX_NODES][256];
    int peer_port[RAFT_MAX_NODES];
    char peers_text[4096]; /* canonical, for the handshake fingerprint */
    char listen_host[256];
    int listen_port; /* 0: no plain client port (--listen HOST:0, Redis's `port 0`) */
    bool listen_set;
    /* TLS on the client port (Redis's names): a second listener on
     * listen_host, beside the plain one. tls_port 0: none. */
    int tls_port;
    char tls_cert_file[PATH_MAX];
    char tls_key_file[PATH_MAX];
    char tls_ca_cert_file[PATH_MAX];
    enum tls_client_auth tls_auth_clients; /* --tls-auth-clients yes (default), optional, no */
    char data_dir[PATH_MAX];
    bool in_memory; /* --in-memory: no data dir, nothing survives a restart */
    char in_memory_dir[PATH_MAX]; /* --in-memory-dir: where its private storage goes (mem_dir.h) */
    bool in_memory_dir_set;
    size_t max_clients;
    size_t max_pending_per_client;
    size_t max_pending;     /* operations in flight, all clients and proxies */
    size_t max_apply_backlog; /* leader: clients unread past this many unapplied entries (apply_gate.h) */
    size_t max_output_bytes; /* a client that reads no replies is closed past this */
    size_t max_lcs_cells; /* LCS's table, (len1+1)*(len2+1) cells (cmd_lcs.c) */
    size_t scan_max_count; /* SCAN's COUNT is cut to this (cmd_keys.c) */
    size_t randomkey_max_slots; /* map slots one RANDOMKEY looks at (cmd_keys.c) */
    uint64_t timeout_s; /* --timeout: idle clients are closed after this (0: never), as Redis's */
    uint64_t client_handshake_timeout_ms; /* first command due within this (0: no limit) */
    size_t peer_queue_bytes; /* per peer; frames beyond it are dropped */
    size_t max_frame;
    /* --catchup-append-entries/-bytes: raft_config's catch-up batching bounds */
    size_t catchup_append_entries, catchup_append_bytes;
    uint64_t catchup_append_mbps; /* --catchup-append-mbps: their pace per member (0: none) */
    uint64_t learner_sync_interval_ms; /* --learner-sync-interval-ms (replica.h) */
    size_t log_spare_blocks; /* --log-spare-blocks: raft_config.log_spare_blocks */
    size_t max_snapshot_bytes; /* a snapshot offer larger than this is refused */
    /* Peer TLS (peer.c): --certs-dir DIR fills the files not given by the
     * --peer-*-file options; insecure: --peer-insecure-plaintext. */
    char certs_dir[PATH_MAX];
    char peer_cert_file[PATH_MAX], peer_key_file[PATH_MAX], peer_ca_file[PATH_MAX];
    bool peer_insecure;
    char peer_listen_host[256]; /* --peer-listen: bind here, not at our --peers address */
    int peer_listen_port;
    uint64_t peer_handshake_timeout_ms;
    struct resp_limits limits;
    uint64_t election_timeout_ms;
    uint64_t heartbeat_ms;
    uint64_t request_timeout_ms;
    uint64_t long_read_timeout_ms; /* a KEYS passed on to the leader: router.h rule 9 */
    uint64_t shutdown_wait_ms;
    uint64_t snapshot_entries; /* applied entries between snapshots */
    uint64_t snapshot_log_percent; /* ... or log bytes, % of the map's (0: off) */
    size_t snapshot_log_min_bytes; /* ... but never fewer log bytes than this */
    bool snapshot_no_stagger;  /* --snapshot-stagger no: every member snapshots when due */
    bool snapshot_walk;        /* --snapshot-method walk (bgsave_walk.c) instead of fork */
    size_t snapshot_walk_max_bytes; /* --snapshot-walk-max-bytes */
    uint64_t snapshot_walk_slice_ms; /* --snapshot-walk-slice-ms */
    uint64_t snapshot_walk_max_slice_ms; /* --snapshot-walk-max-slice-ms */
    uint64_t snapshot_walk_target_ms;    /* --snapshot-walk-target-ms (0: none) */
    uint64_t apply_batch;      /* committed entries applied per loop turn at most */
    uint64_t apply_batch_snapshot; /* ... while a snapshot child runs (copy-on-write) */
    uint64_t apply_cpu_ms;     /* --apply-cpu-ms: thread CPU time applying per loop turn at most */
    size_t keys_walk_min;      /* --keys-walk-min: KEYS walks a map of this many keys (replica.h) */
    size_t keys_walk_entries;  /* --keys-walk-entries: ... this many entries per loop turn */
    uint64_t seed;
    int log_level; /* 0 error, 1 warn, 2 info, 3 debug */
    bool debug_commands; /* --enable-debug-commands: DEBUG.CUT for fault tests */
    bool unsafe_local_reads; /* DELIBERATE BUG, to show the checker catches it */
    char requirepass_file[PATH_MAX]; /* the default user's password (acl.h) */
    char aclfile[PATH_MAX];          /* named users (acl.h) */
    bool protected_mode;             /* default on: see acl_protected_refuses */
    /* Operations (metrics.c, metrics_http.c, server_log.c) */
    char metrics_host[256]; /* --metrics-listen HOST:PORT (no auth) */
    int metrics_port;
    bool metrics_listen_set;
    size_t metrics_max_clients;   /* connections to the metrics port at once */
    uint64_t metrics_timeout_ms;  /* a metrics connection's whole life */
    uint64_t slow_loop_ms;        /* --slow-loop-ms: a loop turn's CPU time logged past this */
    uint64_t health_max_lag;      /* /health: applied may trail commit by this much */
    size_t max_backups;           /* cmd_backup.c: images kept at once */
    char log_file[PATH_MAX];      /* --log-file: append here (reopened on SIGHUP), not stderr */
    /* Membership (server_members.c, cmd_raft_node.c, server_join.c) */
    bool first_start; /* --first-start: an empty directory may take part in a cluster that exists (server_identity.c) */
    bool join_set; /* --join HOST:PORT: an empty data directory joins a running cluster */
    char join_host[256];
    int join_port;
    uint64_t auto_promote_lag; /* a learner added without LEARNER becomes a voter this close */
    uint64_t snapshot_send_mbps; /* --snapshot-send-mbps: each snapshot transfer's rate cap (0: none) */
    /* Lua scripts (cmd_script.c): the limits every KV_EVAL entry carries */
    size_t script_max_bytes;          /* a script body */
    uint64_t script_max_instructions; /* Lua VM instructions per run */
    size_t script_max_memory;         /* bytes a run's Lua state may hold */
    size_t script_cache_max;          /* bodies cached for EVALSHA */
};

/* Parse `serve` options (and --config FILE). Returns 0, or 64 after
 * printing why to stderr; 1 when --help/--version printed and we exit 0. */
int server_options_parse(struct server_options *o, int argc, char **argv);
void server_options_usage(FILE *f);

/* server_config_file.c: --config FILE. One line: 1 with *key and *val in
 * line (val "" for none), 0 blank or comment, -1 malformed (pure). */
int server_config_line_split(char *line, char **key, char **val);
/* Hand each option line to fn with "FILE:LINE"; stops at fn's first
 * nonzero return, which it returns; 64 after printing why. */
typedef int (*server_config_line_fn)(void *ctx, const char *key, const char *val, const char *where);
int server_config_file_read(const char *path, server_config_line_fn fn, void *ctx);

/* ---- Logging (server_log.c): key=value lines on stderr ------------------- */

enum { SLOG_ERROR, SLOG_WARN, SLOG_INFO, SLOG_DEBUG };
void server_log_init(const char *node, int level);
/* fmt continues the line with " key=value ..." pairs. */
void server_log(int level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same, rate-limited per event name: use it for every line an outsider
 * can cause (a refused connection, a bad request or frame, a limit hit), and
 * put the client's or peer's address in it (server_addr_text). At most 10
 * lines of one event a second are written; then one warn line
 * "event=log_suppressed of=EVENT suppressed=N window_ms=1000" gives the count
 * of those dropped (ratelog.h). */
void server_log_limited(int level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Report the counts of windows that ended with lines dropped (from a timer,
 * so a flood that stopped is still counted). */
void server_log_limited_flush(void);
uint64_t server_log_suppressed_total(void);
/* Tests: write to f (NULL: stderr) and read the time from clock_ms (NULL:
 * the monotonic clock); also forgets every budget. */
void server_log_set_output(FILE *f, uint64_t (*clock_ms)(void));
/* --log-file: open path for appending and put it in place of stderr (fd 2,
 * so stray writes land there too); again on SIGHUP, for logrotate. 0, or -1
 * with errno (the old stderr is kept). */
int server_log_open_file(const char *path);
int server_log_reopen(void);
/* "HOST:PORT" (IPv6 as "[HOST]:PORT") of the other end of tcp, or "?". */
const char *server_addr_text(const uv_tcp_t *tcp, char *buf, size_t cap);
#define SERVER_ADDR_TEXT 64

/* raft_refusals.c: what the Raft core refused (a peer's message past
 * max_term/max_index or ill-formed; an election at max_term), logged
 * rate-limited. */
struct server;
void server_raft_refused(struct server *s, int peer, const struct raft_msg *m, int rc);
void server_raft_refusals_check(struct server *s);

/* ---- Connections ---------------------------------------------------------- */

struct tls_session;
struct tls_ctx;

/* Double-buffered socket output: `pending` fills while `inflight` is being
 * written by uv_write; they swap when the write completes. With `tls` set,
 * pending is plaintext and `cipher` gathers the session's output. */
struct server_out {
    struct resp_buf pending;
    size_t plain_off; /* with tls: pending's first bytes already encrypted (0 when pending is empty) */
    struct resp_buf inflight;
    struct resp_buf cipher;
    struct tls_session *tls; /* owned by the connection, not freed here */
    uv_write_t req;
    bool writing;
};

enum link_state { LINK_IDLE, LINK_CONNECTING, LINK_CONNECTED, LINK_BACKOFF };

/* Our outbound connection to one peer: we send frames on it and read only
 * TLS records (the handshake, tickets). LINK_CONNECTING lasts until the TLS
 * handshake is done; frames are queued only once LINK_CONNECTED. */
struct peer_link {
    struct server *srv;
    int peer;
    enum link_state state;
    uv_tcp_t *tcp; /* allocated per attempt; freed on close */
    uv_connect_t connect_req;
    uv_timer_t backoff_timer;
    uint64_t backoff_ms;
    struct server_out out;
    uint64_t frames_sent, frames_dropped, connects, bytes_sent;
    bool ever_connected;
    bool started; /* backoff_timer initialised */
};

/* An inbound connection from a peer: we read its frames; we write only
 * TLS records (the handshake, tickets) and, to a member the configuration
 * removed, one REMOVED frame. */
struct peer_conn {
    struct server *srv;
    uv_tcp_t tcp;
    int peer; /* -1 until the handshake named a configured peer */
    struct resp_buf in; /* plaintext: frames not yet whole (with TLS, until the
                         * session is made: the first record's bytes) */
    struct tls_session *tls; /* made at its first byte; NULL in plaintext mode */
    struct server_out out;
    struct peer_gate gate;
    char addr[64]; /* the other end, for logs */
    struct peer_conn *prev, *next;
    bool closing;
    uv_shutdown_t sreq; /* told it was removed: our side's shutdown (peer_gate.h) */
};

/* LCS's bound by default: 2^22 cells (two values of 2 KiB; an 8 MiB table,
 * about 5 ms on the event loop; README). */
#define SERVER_DEFAULT_MAX_LCS_CELLS ((size_t)1 << 22)
/* Above this Redis refuses too (its table of 4-byte cells past 512 MiB). */
#define SERVER_MAX_LCS_CELLS ((size_t)1 << 27)

/* SCAN's COUNT past this is cut to it (a hint, as Redis documents it), so
 * one call's walk stays a few milliseconds of the event loop: about 1.5 us
 * an entry at 1.7 million keys, so 3 ms for 2000 (README). */
#define SERVER_DEFAULT_SCAN_MAX_COUNT ((size_t)2000)
#define SERVER_MAX_SCAN_MAX_COUNT ((size_t)100000000)
/* --randomkey-max-slots' bound (the default is KV_RANDOMKEY_MAX_SLOTS). */
#define SERVER_MAX_RANDOMKEY_SLOTS ((size_t)1 << 32)

struct client_req;

struct client {
    struct server *srv;
    uv_tcp_t tcp;
    uint64_t id;
    struct resp_parser parser;
    int proto; /* 2 or 3 (HELLO 3) */
    char name[64];
    const struct acl_user *user; /* NULL until authenticated */
    char addr[64], laddr[64];    /* "ip:port", for CLIENT LIST and logs */
    uint64_t connected_ms, last_cmd_ms;
    const char *last_cmd;        /* its last command's full name */
    struct client_req *head, *tail; /* requests in arrival order */
    size_t n_pending;               /* requests not yet answered */
    /* Its operations' order (router.h, rule 6). Closed with
     * router_conn_close() when the handle is, not before: ops it held may
     * still be dispatched by the router until then. */
    struct router_conn order;
    struct server_out out;
    struct tls_session *tls; /* on the TLS port (out.tls too); NULL on the plain one */
    bool reading, closing, close_after_write;
    bool no_evict; /* CLIENT NO-EVICT on: shown only (raftkv evicts no client) */
    /* Input not parsed yet because the window was full, or behind an EXEC
     * waiting for WATCH (client.c); taken up by client_drain_held once
     * answers free it. */
    struct resp_buf held;
    struct client *drain_next;
    bool draining; /* on server.drain_head */
    /* Timeouts (client_sweep.c). handshake_done: its first command was
     * read (TLS and AUTH, when on, are part of the handshake too); until
     * then it is closed at handshake_deadline_ms (0: never). last_io_ms:
     * the last bytes read from it or written to it, for --timeout. */
    bool handshake_done;
    uint64_t handshake_deadline_ms;
    uint64_t last_io_ms;
    bool tls_counted; /* its finished handshake was counted */
    /* MULTI's queue and WATCH's keys (multi.c); NULL when neither is used. */
    struct client_multi *multi;
    struct client *prev, *next;
};

/* ---- Operations ------------------------------------------------------------ */

/* One kv command in flight. Reached by id from the replica's completion
 * callback and from proxy answers, through server.ops. A client's operation
 * is there only while it is dispatched (queued, at the replica, or
 * forwarded), under a fresh id per dispatch, so an answer to an earlier
 * attempt (or to an earlier incarnation of this node) finds nothing. */
enum op_origin { OP_LOCAL_CLIENT, OP_REMOTE_PROXY };
/* OP_ROUTE_NONE: in the router (held or waiting for a leader).
 * OP_ROUTE_QUEUED: for the local replica, submitted at the batch end
 * (commands_submit_queued), after the answers the batch already earned. */
enum op_route { OP_ROUTE_NONE, OP_ROUTE_QUEUED, OP_ROUTE_REPLICA, OP_ROUTE_PROXY };

struct server_op {
    uint64_t id; /* 0 while not dispatched */
    enum op_origin origin;
    enum op_route route;
    struct kv_command cmd; /* owns its JSON references */
    struct server_op *prev, *next; /* the queued list */
    /* OP_LOCAL_CLIENT */
    struct client_req *req;
    size_t index;        /* in req->results */
    uint64_t router_id; /* the router's id of the current dispatch */
    /* OP_REMOTE_PROXY */
    int from_peer;
    uint64_t remote_id;
    raft_term term; /* the term it was forwarded in (replica_submit_in_term) */
};

struct op_result {
    enum replica_status status;
    struct kv_result kv; /* status DONE: the state machine's answer, owned */
    char text[96];
};

/* One client command: its reply is written once all its operations are
 * done and every earlier command of the connection has been answered. */
struct client_req {
    struct client *client; /* NULL once the connection closed */
    struct client_req *next;
    const struct command_def *cmd; /* a data command's row: its reply function */
    size_t n_ops, n_done;
    struct op_result *results;
    struct resp_buf reply;
    bool done;
    bool data; /* a data command (its latency is recorded) */
    uint32_t reply_flags; /* what a handler tells its reply function (SET's GET) */
    bool deferred; /* answered later by its handler's module (transfer.c) */
    bool pinned; /* its handler is running: not freed even if it ends (commands_dispatch) */
    struct multi_exec *exec; /* EXEC: the transaction it runs (multi.c), owned */
    struct watch_note *watch; /* WATCH: where its versions go (multi.c), owned */
    uint64_t *lcs_spent; /* in EXEC's array: the LCS cells its earlier items used (cmd_lcs.c) */
    bool borrowed; /* results not its own (EXEC's items): a reply function may not take them */
    uint64_t started_ns;
};

/* multi.c: a closing connection's transaction and watches; an EXEC's. */
void multi_client_free(struct client *c);
void multi_req_free(struct client_req *r);
/* A pipelined EXEC waits for the connection's WATCH reads (client.c asks):
 * multi_defer_exec takes q over (and returns true) when it is EXEC and a
 * WATCH read of c has not ended; multi_holds says one is kept (the input
 * behind it waits); multi_exec_ready says they all ended, and
 * multi_take_ready then gives it back; multi_req_ended is told of every
 * request that ends. */
bool multi_defer_exec(struct client *c, struct resp_request *q);
bool multi_holds(const struct client *c);
bool multi_exec_ready(const struct client *c);
bool multi_take_ready(struct client *c, struct resp_request *q);
void multi_req_ended(struct client_req *r);

/* ---- The server ------------------------------------------------------------- */

/* Data-command latency: bucket i counts [2^i, 2^(i+1)) microseconds. */
#define SERVER_LATENCY_BUCKETS 32

struct server_stats {
    uint64_t commands, ops, ops_proxied_out, ops_proxied_in;
    uint64_t errors_tryagain, errors_uncertain, errors_protocol;
    uint64_t clients_accepted, clients_refused, peers_refused;
    uint64_t frames_bad;
    uint64_t peers_tls_failed, peers_preauth_closed; /* also counted in peers_refused */
    uint64_t auth_failures, acl_denied, protected_refused;
    uint64_t clients_idle_timeout, clients_handshake_timeout;
    uint64_t tls_handshakes, tls_handshake_failures; /* client port */
    uint64_t latency_us_hist[SERVER_LATENCY_BUCKETS];
    uint64_t latency_us_sum; /* of the same commands, for the metrics histogram */
};

/* transfer.c: the leadership transfer under way (one at a time). */
struct server_transfer {
    bool active;
    int target;             /* the member chosen */
    raft_term term;         /* the term it began in */
    uint64_t started_ms, deadline_ms;
    struct client_req *req; /* RAFT.TRANSFER_LEADER waiting, or NULL (SIGTERM) */
};

/* cmd_raft_node.c: the membership change under way (one at a time). */
struct server_member_op {
    bool active;
    struct client_req *req; /* RAFT.NODE waiting, or NULL (automatic promotion) */
    raft_index index;       /* its CONFIG entry */
    raft_term term;
    uint64_t deadline_ms;
    char what[160];
};

struct server {
    struct server_options opt;
    uv_loop_t *loop;
    struct replica *replica;
    struct storage *storage;
    char mem_dir[PATH_MAX]; /* --in-memory: the storage's private directory, removed at exit */
    struct replica_log_store log_store;
    /* The log's fdatasync runs on libuv's thread pool while the loop goes
     * on serving (replica_config.sync_start); one at a time. */
    struct storage_replica_sync bg_sync;
    uv_work_t sync_work;
    /* Snapshots are written by a forked child (bgsave.h). */
    struct bgsave bgsave;
    uv_tcp_t client_listener, peer_listener;
    bool client_listener_open, peer_listener_open; /* initialised, so closable */
    uv_tcp_t client_tls_listener; /* --tls-port */
    bool client_tls_listener_open;
    struct tls_ctx *client_tls; /* made once at start (client_tls_start) */
    uv_timer_t tick_timer;
    uv_check_t check;
    uv_prepare_t turn_prepare;    /* ends each loop turn (loop_watch.h) */
    /* Active while committed entries wait to be applied: the poll then
     * does not sleep, so the backlog goes a turn's budget a turn, back to
     * back, I/O served between turns (server_after_io). */
    uv_idle_t apply_idle;
    struct loop_watch loop_watch; /* the loop's turn meter */
    uv_signal_t sig_term, sig_int;
    uv_signal_t sig_hup; /* reopens --log-file; never ends the process */
    struct peer_link links[RAFT_MAX_NODES];
    struct peer_conn *peer_conns;
    struct tls_ctx *peer_tls_server, *peer_tls_client; /* NULL: plaintext peers */
    uv_timer_t peer_sweep; /* closes inbound connections past their handshake time */
    bool peer_sweep_open;
    struct apply_gate apply_gate; /* apply_gate.c: clients unread while applying lags */
    struct client *clients;
    struct client *drain_head; /* clients whose held input is to be taken up */
    size_t n_clients;
    uv_timer_t sweep_timer; /* client_sweep.c: one timer for every client */
    bool sweep_open;
    struct client *sweep_next; /* where the next sweep tick starts; NULL: the head */
    size_t sweep_round_n;      /* clients when the sweep last started at the head */
    size_t n_tls_clients;
    uint64_t next_client_id;
    struct req_table ops; /* dispatched operations by id */
    size_t n_ops;         /* every operation, dispatched or not */
    uint64_t next_op_id;
    struct router *router; /* where client operations run (router.h) */
    struct server_op *queued_head, *queued_tail; /* for the replica, this batch */
    bool shutting_down;
    bool finished; /* handles are closing; uv_run is about to return */
    uint64_t shutdown_deadline_ms;
    uint64_t shutdown_linger_ms; /* 0, or: answer forwards until then (server_main.c) */
    int exit_code;
    bool fatal;
    char start_error[400]; /* why a listener could not start (the shutdown line's reason), or "" */
    char shutdown_cause[200]; /* what began the shutdown ("SIGTERM", "removed from the cluster ..."): its last line says it */
    struct server_stats stats;
    struct acl acl; /* users and their permissions */
    uint64_t started_ms;
    /* DEBUG.CUT: frames to and from peer i are dropped until this time. */
    uint64_t cut_until_ms[RAFT_MAX_NODES];
    /* server_identity.c: who we are; identity.has_cluster_id once known. */
    struct identity identity;
    bool storage_had_data; /* the data directory held Raft state at start */
    /* The log's last index at start, until applying reaches it (then 0):
     * the restart's tail, whose end server_store_tail() logs. */
    uint64_t restart_tail_end;
    /* ... and the part of it the log's commit marks said was committed,
     * applied before any election (restart_commit_applied). */
    uint64_t restart_commit_end;
    uint64_t elections_refused_seen; /* raft_refusals.c */
    struct metrics metrics;            /* metrics.h: observations for /metrics, /health */
    struct metrics_http *metrics_http; /* --metrics-listen; NULL when off */
    struct server_transfer transfer;
    struct snap_transfers xfer; /* snapshots streamed to and from peers */
    /* The member table (server_members.c); opt.names/peer_host/peer_port
     * and n_nodes mirror it by id. */
    struct member_table members;
    bool members_dynamic;      /* it is no longer --peers' (the members file) */
    uint64_t removed_since_ms; /* this member left the configuration then (0: it is in) */
    struct server_member_op member_op;
    /* Removed members still dialled until told (a MEMBERS frame without
     * them, once the removal committed), or for MEMBERS_NOTICE_MS. */
    uint64_t departed;
    bool told_removed; /* a peer answered REMOVED: the table stays as recorded */
    uint64_t departed_ms[RAFT_MAX_NODES];
    struct backup *backups;     /* cmd_backup.c: images being taken or read */
    uint64_t backup_next_id;
};

uint64_t server_now(struct server *s);
/* End of an I/O batch: flush the replica, start writes, rearm the timer. */
void server_after_io(struct server *s);
void server_fatal(struct server *s, const char *why);

/* server_out.c */
/* Write what is pending (encrypted first on a TLS connection). 0, or -1
 * when TLS failed: the caller closes the connection. */
int server_out_start(struct server_out *o, uv_stream_t *stream, void (*done)(uv_write_t *, int));
void server_out_free(struct server_out *o);
size_t server_out_bytes(const struct server_out *o);
/* Ciphertext read from a TLS connection: feed it and append the plaintext
 * it yields to `plain`, never past max_plain bytes (what stays decrypted
 * later, on the next call). 0, or TLS_FAILED / TLS_CLOSED (net/tls.h; the
 * reason is tls_error()). After it, call server_out_start: the handshake
 * may have answers to send. */
int server_tls_input(struct tls_session *t, const void *data, size_t n, struct resp_buf *plain,
                     size_t max_plain);

/* peer.c */
int peer_start(struct server *s);
void peer_stop(struct server *s);
/* Queue a frame for `peer`; false if dropped (link down or queue full). */
bool peer_send_raft(struct server *s, const struct raft_msg *m);
bool peer_send_proxy_req(struct server *s, int peer, uint64_t id, raft_term term, const uint8_t *cmd,
                         size_t len);
bool peer_send_proxy_resp(struct server *s, int peer, const struct peer_proxy_resp *r);
bool peer_link_up(const struct server *s, int peer);
/* A frame already encoded (snap_transfer.c); false if dropped. */
bool peer_send_frame(struct server *s, int peer, const uint8_t *frame, size_t len);
/* Bytes waiting to go to `peer`, and how often its link was established. */
size_t peer_link_queued(const struct server *s, int peer);
uint64_t peer_link_connects(const struct server *s, int peer);
void peer_flush_writes(struct server *s);

/* client.c */
int client_start(struct server *s);
void client_stop_accepting(struct server *s);
void client_stop_reading_all(struct server *s);
/* Read every connection again that nothing else holds (its window, MULTI). */
void client_resume_reading_all(struct server *s);
/* apply_gate.c: pause or resume client reads as the apply backlog asks. */
void server_apply_gate(struct server *s);
void client_close_all(struct server *s);
/* A new request of c, queued after its others so its reply keeps its place;
 * NULL when out of memory. */
struct client_req *client_req_new(struct client *c);
/* A request finished: write every answered request at the head in order. */
void client_req_done(struct client_req *r);
void client_flush_writes(struct server *s);
/* Parse the input clients held while their window was full, now that it
 * has room (at the start of each round of a batch). */
void client_drain_held(struct server *s);
/* Plaintext a client sent: parsed and dispatched in order, or held behind
 * what already waits (a full window, an EXEC waiting for WATCH). */
void client_input(struct client *c, const char *data, size_t n);
size_t client_pending_total(const struct server *s);
/* Close c now (its unanswered requests are freed when they finish). */
void client_close(struct client *c, const char *why);

/* client_sweep.c: idle (--timeout) and handshake deadlines, checked by one
 * periodic timer for all clients, as Redis's clientsCron: every
 * CLIENT_SWEEP_TICK_MS it visits client_sweep_budget(n) clients round-robin,
 * so each client is looked at about once a second and one tick's work is
 * bounded. */
#define CLIENT_SWEEP_TICK_MS 100
#define CLIENT_SWEEP_MIN 50
enum client_expiry { CLIENT_LIVE, CLIENT_EXPIRED_IDLE, CLIENT_EXPIRED_HANDSHAKE };
/* Whether c is past a deadline at now_ms. Idle as in Redis: nothing read or
 * written for more than idle_ms (0: never), and no command waiting for its
 * answer (a command in flight is not idleness). */
enum client_expiry client_expiry(const struct client *c, uint64_t now_ms, uint64_t idle_ms);
/* Clients one tick visits: max(CLIENT_SWEEP_MIN, ceil(n / 10)). */
size_t client_sweep_budget(size_t n_clients);
/* The budget of the next tick: n is the larger of the clients now and when
 * this round began at the head, so a round takes 10 ticks however many of
 * its clients it closes. */
size_t client_sweep_tick_budget(const struct server *s);
/* Visit up to `budget` clients (never one twice) from the cursor on; hand
 * each expired one to expire(), which must close it. Returns the visits. */
size_t client_sweep_run(struct server *s, uint64_t now_ms, size_t budget,
                        void (*expire)(struct client *c, enum client_expiry why));
void client_sweep_start(struct server *s);
void client_sweep_stop(struct server *s);
/* c leaves the client list: move the cursor off it. */
void client_sweep_forget(struct server *s, struct client *c);

/* client_tls.c: TLS on the client port */
/* The context options --tls-* ask for (pure). */
void client_tls_ctx_options(const struct server_options *o, struct tls_ctx_options *t);
/* The context, from the files; NULL with the file and reason in err. */
struct tls_ctx *client_tls_ctx_new(const struct server_options *o, char *err, size_t errlen);
/* Make s->client_tls when --tls-port is set: 0, or -1 after logging why. */
int client_tls_start(struct server *s);
/* A client's handshake or record failed: log it (address, reason),
 * rate-limited (server_log_limited). */
void client_tls_log_failure(struct client *c, const char *reason);

/* commands.c */
/* 0, or -1 when the request could not even be given a place in the reply
 * stream (out of memory): the caller closes the connection. */
int commands_dispatch(struct client *c, struct resp_request *req);
/* All operations of a command ended: write its reply into r->reply. */
void commands_format_reply(struct server *s, struct client_req *r);

/* route.c: the server's side of the router (router.h); it also defines the
 * commands_complete/proxy/expire functions below, named for the caller's view */
/* The router, configured from the options: 0, or -1 out of memory. */
int route_start(struct server *s);
struct server_op *route_op_new(struct server *s, enum op_origin origin);
void route_op(struct server *s, struct server_op *op);
/* Tell the router the replica's view of the leader (after every batch). */
void route_view(struct server *s, uint64_t now_ms);
/* A client connection's handle closed: its held operations end. */
void route_conn_closed(struct server *s, struct router_conn *conn);
void commands_complete(struct server *s, uint64_t op_id, const struct replica_result *res);
void commands_proxy_serve(struct server *s, int from_peer, const struct peer_proxy_req *q);
void commands_proxy_answer(struct server *s, const struct peer_proxy_resp *p);
/* Fire the router's deadlines (a leader that never came, a forward never
 * answered); returns the next one (UINT64_MAX if none). */
uint64_t commands_expire(struct server *s, uint64_t now_ms);
void commands_free_all(struct server *s);
/* Submit the operations queued for the local replica; true if any. */
bool commands_submit_queued(struct server *s);

/* server_auth.c: the users from --aclfile and --requirepass-file (acl.h);
 * 0, or -1 after printing why to stderr. */
int server_auth_setup(struct server *s);

/* transfer.c: RAFT.TRANSFER_LEADER and the hand-over on SIGTERM */
/* Begin a transfer to target (RAFT_NO_NODE: the core's pick); req, if
 * any, is answered when it ends. 1 begun, 0 nothing to do (the target is
 * this member), -1 refused (*why), -2 not leader. */
int server_transfer_start(struct server *s, int target, struct client_req *req, const char **why);
/* After every batch: end the transfer if it is done or failed. */
void server_transfer_check(struct server *s);
bool server_transfer_running(const struct server *s);
uint64_t server_transfer_deadline(const struct server *s); /* UINT64_MAX: none */
void server_transfer_abort(struct server *s, const char *why);

/* cmd_backup.c: RAFTKV.BACKUP. Whether op_id was a backup's confirming
 * read (then it is handled); a closing connection's images go with it. */
struct backup;
bool backup_op_complete(struct server *s, uint64_t op_id, const struct replica_result *res);
void backup_client_closed(struct server *s, struct client *c);
/* kv leaves the replica (server_retire_store): a backup's walk over it is
 * abandoned now (the backup then forks, cmd_backup.c). */
void backup_store_leaving(struct server *s, struct kv_store *kv);
/* Whether a backup's walk of the map runs (--snapshot-method walk), so a
 * periodic snapshot's walk cannot begin: it waits (logged once a backup). */
bool backup_defers_snapshot(struct server *s);

/* info.c */
/* INFO's sections, in Redis's order (raft is raftkv's own). */
enum info_section { INFO_SERVER, INFO_CLIENTS, INFO_MEMORY, INFO_PERSISTENCE, INFO_STATS, INFO_REPLICATION,
                    INFO_CPU, INFO_CLUSTER, INFO_RAFT, INFO_KEYSPACE, INFO_N_SECTIONS };
/* The sections (bits 1 << INFO_*) INFO's arguments name, as Redis 7.0
 * reads them: none = default, "default"/"all"/"everything" = every one,
 * names in any case and order, unknown ones ignored (0: an empty reply). */
uint32_t info_sections(size_t argc, char *const *argv, const size_t *argl);
const char *info_section_name(int section); /* "server", or NULL */
/* c: the connection asking (its user is shown), or NULL */
void info_write(struct server *s, const struct client *c, struct resp_buf *b, int proto);
void info_write_sections(struct server *s, const struct client *c, uint32_t sections, struct resp_buf *b,
                         int proto);
/* One "key:value" line and CRLF (at most 509 bytes of text). */
void info_line(struct resp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* server_members.c: the member table at run time (member_table.h) */
/* From `joined` (server_join), the members file or --peers; sets opt.self.
 * 0, or -1 after logging why (a removed member, a damaged file). */
int server_members_init(struct server *s, const struct member_table *joined);
/* The configuration the table describes: the core's initial one. */
void server_members_initial(const struct server *s, struct raft_configuration *c);
/* After every batch: follow the core's configuration; stop a removed member. */
void server_members_sync(struct server *s);
uint64_t server_members_deadline(const struct server *s);
/* The MEMBERS frame sent after each HELLO; one received from peer `from`. */
int server_members_frame(struct server *s, struct peer_wbuf *b);
int server_members_received(struct server *s, int from, const uint8_t *body, size_t len);
/* A REMOVED frame's body, written back by peer `from` on our link. */
void server_members_told_removed(struct server *s, int from, const uint8_t *body, size_t len);
/* The member with id `id` in the core's configuration now, and named (for
 * INFO, ROLE, /metrics): NULL when it is none (a removed member not yet
 * forgotten, an id the table cannot name yet). */
const struct raft_member *server_member_listed(const struct server *s, int id);
/* server_join.c: wait for the cluster to dial in (--join); 0 or -1 (logged). */
int server_join(struct server *s, struct member_table *table, uint8_t cluster_id[CLUSTER_ID_BYTES]);
/* cmd_raft_node.c: watch the change under way; promote caught-up learners. */
void server_member_op_check(struct server *s);
uint64_t server_member_op_deadline(const struct server *s);
void server_member_op_abort(struct server *s, const char *why);
const char *server_change_refusal(int rc);
/* server_main.c: stop as on SIGTERM (a leader hands over first). */
void server_begin_shutdown(struct server *s, const char *why);
/* peer.c: member `id`'s name or address changed, or it came or went. */
void peer_member_changed(struct server *s, int id);

/* server_identity.c */
/* Check (or make) the data directory's identity record against the
 * options; 0, or -1 after an error log line saying why and what to do. */
int server_identity_start(struct server *s);
/* The replica's cluster id to propose (drawn with getrandom) and its
 * refused-snapshot callback. 0 or -1 (logged). */
int server_identity_replica_config(struct server *s, struct replica_config *c);
/* After the replica changed: record a cluster id it learned. 0, or -1
 * (logged) when the record cannot be written or conflicts: fatal. */
int server_identity_sync(struct server *s);
/* Record the cluster id learned when joining (server_join). 0 or -1. */
int server_identity_learn(struct server *s, const uint8_t id[CLUSTER_ID_BYTES], const char *from);
/* The cluster id a HELLO carries (all zero while not known). */
void server_identity_hello(const struct server *s, uint8_t out[CLUSTER_ID_BYTES]);
/* A HELLO from a member of a cluster that exists, while this member holds
 * nothing (no log, no cluster id) and no --first-start: logged (what to
 * do), and true: refuse the connection (server_identity.c). */
bool server_identity_refuses_empty(struct server *s, const struct peer_hello *h, const char *addr);
/* Its rule: a HELLO carrying a cluster id, this member holding nothing
 * (no cluster id, no log entry or snapshot), no --first-start, not a
 * --join member, and more than one member. */
bool server_identity_stays_out(bool peer_has_id, bool holds_nothing, bool first_start, bool joining, int n_nodes);
/* Whether a HELLO's cluster id may join us; false after logging why. */
bool server_identity_hello_ok(struct server *s, const struct peer_hello *h, const uv_tcp_t *tcp);

/* metrics.c, metrics_http.c: the metrics port (metrics.h) */
/* Note role, term and leader changes (once per batch). */
void metrics_observe(struct server *s);
/* A Raft message from peer arrived (peer.c). */
void metrics_peer_heard(struct server *s, int peer);
/* 200 or 503, with the reason. */
int metrics_health(struct server *s, char *reason, size_t cap);
/* The Prometheus text of /metrics. */
void metrics_write(struct server *s, struct resp_buf *b);
int metrics_http_start(struct server *s); /* 0, or -1 after logging why */
void metrics_http_stop(struct server *s);
void metrics_http_free(struct server *s);

/* server_store.c */
int server_store_open(struct server *s, const char *dir, char *err, size_t errlen);
void server_store_loaded(struct server *s, uint64_t new_ns);
void server_store_tail(struct server *s); /* once per batch */
void server_store_close(struct server *s);
/* replica_config.sync_start */
int server_store_sync_start(void *ctx);
/* replica_config.snapshot_start: fork the snapshot child (bgsave.h). */
int server_store_snapshot_start(void *ctx, raft_index index, raft_term term);
/* Shutting down: kill a snapshot child still running. */
void server_store_stop_snapshot(struct server *s);

/* store_retire.c: replica_config.retire_store, freeing a map on libuv's
 * thread pool. */
void server_retire_store(void *ctx, struct kv_store *kv);

#endif
