/* peer.c - TCP links between raftkv servers.
 *
 * Each ordered pair of servers has its own connection: a server SENDS frames
 * only on the links it dialled (one per peer, struct peer_link) and RECEIVES
 * frames only on connections peers dialled to it (struct peer_conn). So two
 * servers dialling each other at once need no tie-break. The other direction
 * of each carries TLS records only (handshake, tickets).
 *
 * Outbound links redial with exponential backoff (50 ms doubling to a 2 s
 * cap, with jitter so restarted nodes do not dial in lockstep). A peer's
 * name that does not resolve (its DNS record not there yet) is not fatal:
 * it is logged at warn and resolved again, off the loop, before each redial
 * until it does; only this member's own peer address must resolve at start. Each link
 * has a bounded queue (--peer-queue-bytes): while a peer is down or slow,
 * frames beyond the bound are dropped rather than buffered or blocking the
 * loop; Raft retransmits what matters, and a lost proxy frame becomes a
 * client timeout (an indefinite answer). Nothing is queued while a link is
 * down: a stale burst on reconnect would only be retransmitted anyway.
 *
 * Every peer connection is TLS 1.3 with certificates of the cluster CA on
 * both sides (unless --peer-insecure-plaintext): the dialler checks that the
 * certificate it is shown names the member it dialled, the listener that
 * the HELLO's sender is named by the certificate it was shown
 * (peer_gate.h). Inbound connections must open with a HELLO that names a
 * configured peer, addresses this server, and carries the fingerprint of
 * the same peer list; otherwise they are logged and closed (a member the
 * committed configuration removed is first answered REMOVED). Until then a
 * connection may send PEER_PREAUTH_MAX_BYTES and has
 * --peer-handshake-timeout-ms (one sweep timer closes the late ones).
 * After it, every Raft message must claim to come from that peer.
 * Refusals are logged at warn with the address (server_log_limited).
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/rng.h"
#include "net/tls.h"
#include "server/server_internal.h"

#define PEER_BACKOFF_MIN_MS 50
#define PEER_BACKOFF_MAX_MS 2000
#define PEER_READ_CHUNK (64u << 10)

static struct sockaddr_storage peer_addrs[RAFT_MAX_NODES];
/* peer_addrs[i] holds peer i's resolved address; when not, the link
 * resolves its name (uv_getaddrinfo, peer_gai[i]) before it dials. */
static bool peer_addr_ok[RAFT_MAX_NODES];
static uv_getaddrinfo_t peer_gai[RAFT_MAX_NODES];
static bool peer_gai_busy[RAFT_MAX_NODES];
static uint64_t peer_resolve_failures[RAFT_MAX_NODES]; /* in a row */
/* Bumped when a member's address changes: a look-up of the old one that
 * ends after it is ignored. */
static uint32_t peer_addr_gen[RAFT_MAX_NODES], peer_gai_gen[RAFT_MAX_NODES];
static struct peer_wbuf peer_scratch;
static struct rng peer_rng;
/* Reads land here and are consumed at once (a read callback follows its
 * allocation), so no connection holds a read buffer of its own. */
static char peer_read_buf[PEER_READ_CHUNK];

static void link_connect(struct peer_link *l);

static void peer_addr_text(const uv_tcp_t *tcp, char *buf, size_t cap)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    snprintf(buf, cap, "?");
    if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        port = ntohs(a->sin_port);
        snprintf(buf, cap, "%s:%d", host, port);
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        port = ntohs(a->sin6_port);
        snprintf(buf, cap, "[%s]:%d", host, port);
    }
}

/* 0, or getaddrinfo's error code (for gai_strerror). */
static int peer_resolve(const char *host, int port, struct sockaddr_storage *out)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0 || !res)
        return rc != 0 ? rc : EAI_NONAME;
    memcpy(out, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

/* Another peer's name did not resolve: a warning, at the first failures in
 * a row and then about once a minute (a redial every 2 s at most). */
static void peer_resolve_warn(struct server *s, int id, const char *reason)
{
    uint64_t n = ++peer_resolve_failures[id];
    if (n > 3 && n % 30 != 0)
        return;
    server_log(SLOG_WARN, "peer_resolve_failed",
               "peer=%s host=%s port=%d attempt=%" PRIu64 " reason=\"%s\" detail=\"the address of peer %s does "
               "not resolve; it is resolved again before each redial (backoff up to %d ms), and the cluster runs "
               "without %s meanwhile. Fix its DNS record or its address in --peers\"",
               s->opt.names[id], s->opt.peer_host[id], s->opt.peer_port[id], n, reason, s->opt.names[id],
               PEER_BACKOFF_MAX_MS, s->opt.names[id]);
}

static void peer_resolved(struct server *s, int id)
{
    if (peer_resolve_failures[id] > 0)
        server_log(SLOG_INFO, "peer_resolved", "peer=%s host=%s port=%d after_failures=%" PRIu64,
                   s->opt.names[id], s->opt.peer_host[id], s->opt.peer_port[id], peer_resolve_failures[id]);
    peer_resolve_failures[id] = 0;
    peer_addr_ok[id] = true;
}

/* ---- Outbound links ----------------------------------------------------------- */

static void link_on_closed(uv_handle_t *h)
{
    struct peer_link *l = h->data;
    free(h);
    if (l && l->tcp == (uv_tcp_t *)h)
        l->tcp = NULL;
}

static void link_backoff_fire(uv_timer_t *t)
{
    struct peer_link *l = t->data;
    if (l->state == LINK_IDLE || l->srv->finished)
        return;
    link_connect(l);
}

/* Drop the connection and schedule a redial. */
static void link_down(struct peer_link *l, const char *why)
{
    if (l->state == LINK_IDLE)
        return; /* stopped for good */
    if (l->state == LINK_CONNECTED)
        server_log(SLOG_WARN, "peer_link_down", "peer=%s reason=\"%s\"", l->srv->opt.names[l->peer], why);
    if (l->tcp && !uv_is_closing((uv_handle_t *)l->tcp))
        uv_close((uv_handle_t *)l->tcp, link_on_closed);
    l->out.pending.len = 0;
    l->out.plain_off = 0;
    l->out.cipher.len = 0;
    tls_session_free(l->out.tls);
    l->out.tls = NULL;
    l->state = LINK_BACKOFF;
    uint64_t jitter = rng_below(&peer_rng, l->backoff_ms / 2 + 1);
    uv_timer_start(&l->backoff_timer, link_backoff_fire, l->backoff_ms + jitter, 0);
    l->backoff_ms = l->backoff_ms * 2 > PEER_BACKOFF_MAX_MS ? PEER_BACKOFF_MAX_MS : l->backoff_ms * 2;
}

static void link_write_done(uv_write_t *w, int status)
{
    struct server_out *o = w->data;
    struct peer_link *l = (struct peer_link *)((char *)o - offsetof(struct peer_link, out));
    o->writing = false;
    o->inflight.len = 0;
    if (status < 0) {
        if (l->state == LINK_CONNECTED || l->state == LINK_CONNECTING)
            link_down(l, uv_strerror(status));
        return;
    }
    if ((l->state == LINK_CONNECTED || l->state == LINK_CONNECTING) && l->tcp &&
        server_out_start(o, (uv_stream_t *)l->tcp, link_write_done) != 0)
        link_down(l, "TLS failed");
}

static void link_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    (void)h;
    (void)size;
    *buf = uv_buf_init(peer_read_buf, sizeof peer_read_buf);
}

/* TLS done (or not used): frames may go. The HELLO is already first in
 * the queue. */
static void link_established(struct peer_link *l)
{
    struct server *s = l->srv;
    l->state = LINK_CONNECTED;
    l->backoff_ms = PEER_BACKOFF_MIN_MS;
    l->connects++;
    l->ever_connected = true;
    server_log(SLOG_INFO, "peer_link_up", "peer=%s addr=%s:%d tls=%s", s->opt.names[l->peer],
               s->opt.peer_host[l->peer], s->opt.peer_port[l->peer], l->out.tls ? "yes" : "no");
    if (server_out_start(&l->out, (uv_stream_t *)l->tcp, link_write_done) != 0)
        link_down(l, "TLS failed");
}

/* Bytes the listener wrote back on our link: only a REMOVED frame may come
 * (we were removed while down); anything else closes the link. */
static void link_answer(struct peer_link *l, const uint8_t *p, size_t n)
{
    uint8_t kind;
    size_t flen;
    if (peer_frame_peek(p, n, PEER_FRAME_HEADER + 20 + PEER_MAX_NAME, &kind, &flen) == 1 && flen == n &&
        kind == PEER_FRAME_REMOVED) {
        server_members_told_removed(l->srv, l->peer, p + PEER_FRAME_HEADER, n - PEER_FRAME_HEADER);
        link_down(l, "removed from the configuration");
        return;
    }
    link_down(l, "unexpected data from peer");
}

/* The peer sends frames only on the links it dialled: on ours, only TLS
 * records (its handshake, tickets, an alert) and at most one REMOVED. */
static void link_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct peer_link *l = st->data;
    struct server *s = l->srv;
    loop_watch_note(&s->loop_watch, LOOP_CB_PEER_READ);
    if (n < 0) {
        if (l->state == LINK_CONNECTING && l->out.tls)
            server_log_limited(SLOG_WARN, "peer_tls_failed", "peer=%s addr=%s:%d reason=\"closed during the TLS "
                               "handshake: it may not trust this member's certificate %s (signed by another CA "
                               "than its own ca file's?)\"",
                               s->opt.names[l->peer], s->opt.peer_host[l->peer], s->opt.peer_port[l->peer],
                               tls_ctx_own_cert(s->peer_tls_client));
        link_down(l, n == UV_EOF ? "closed by peer" : uv_strerror((int)n));
        return;
    }
    if (n == 0)
        return;
    if (!l->out.tls) {
        link_answer(l, (const uint8_t *)buf->base, (size_t)n);
        return;
    }
    char plain[256];
    ssize_t r = tls_feed(l->out.tls, buf->base, (size_t)n) == 0 ? tls_read(l->out.tls, plain, sizeof plain)
                                                                : TLS_FAILED;
    if (r > 0) {
        link_answer(l, (const uint8_t *)plain, (size_t)r);
        return;
    }
    if (r < 0) {
        server_log_limited(SLOG_WARN, "peer_tls_failed", "peer=%s addr=%s:%d reason=\"%s\"",
                         s->opt.names[l->peer], s->opt.peer_host[l->peer], s->opt.peer_port[l->peer],
                         r == TLS_CLOSED ? "closed by peer" : tls_error(l->out.tls));
        link_down(l, "TLS failed");
        return;
    }
    if (l->state == LINK_CONNECTING && tls_established(l->out.tls))
        link_established(l);
    else if (server_out_start(&l->out, (uv_stream_t *)l->tcp, link_write_done) != 0)
        link_down(l, "TLS failed");
}

static void link_on_connect(uv_connect_t *req, int status)
{
    struct peer_link *l = req->data;
    struct server *s = l->srv;
    loop_watch_note(&s->loop_watch, LOOP_CB_PEER_CONN);
    if (l->state == LINK_IDLE)
        return; /* peer_stop() ran: the socket is closing, nothing to redial */
    if (status < 0 || (uv_tcp_t *)req->handle != l->tcp) {
        if ((uv_tcp_t *)req->handle == l->tcp) {
            server_log(SLOG_DEBUG, "peer_connect_failed", "peer=%s reason=\"%s\" retry_ms=%" PRIu64,
                       s->opt.names[l->peer], uv_strerror(status), l->backoff_ms);
            l->state = LINK_CONNECTING; /* so link_down does not log it as a loss */
            link_down(l, uv_strerror(status));
        }
        return;
    }
    uv_tcp_nodelay(l->tcp, 1);
    uv_read_start((uv_stream_t *)l->tcp, link_alloc, link_read);
    struct peer_hello h = {.cluster_fingerprint = s->members_dynamic ? 0 : peer_fingerprint(s->opt.peers_text)};
    server_identity_hello(s, h.cluster_id);
    snprintf(h.sender, sizeof h.sender, "%s", s->opt.id);
    snprintf(h.receiver, sizeof h.receiver, "%s", s->opt.names[l->peer]);
    peer_scratch.len = 0;
    l->out.pending.len = 0;
    l->out.plain_off = 0;
    if (peer_encode_hello(&peer_scratch, &h) == PEER_OK && server_members_frame(s, &peer_scratch) == 0)
        resp_buf_append(&l->out.pending, peer_scratch.data, peer_scratch.len);
    if (!s->peer_tls_client) {
        link_established(l);
        return;
    }
    /* The HELLO waits in `pending` until the handshake is done; the server
     * must show a certificate of our CA that names the member we dialled. */
    l->out.tls = tls_session_new(s->peer_tls_client, s->opt.names[l->peer]);
    if (!l->out.tls || tls_start(l->out.tls) != 0 ||
        server_out_start(&l->out, (uv_stream_t *)l->tcp, link_write_done) != 0)
        link_down(l, "cannot start TLS");
}

static void link_down(struct peer_link *l, const char *why);

static void link_on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    int id = (int)(req - peer_gai);
    struct peer_link *l = req->data;
    struct server *s = l->srv;
    peer_gai_busy[id] = false;
    if (peer_gai_gen[id] != peer_addr_gen[id]) { /* the address changed meanwhile */
        uv_freeaddrinfo(res);
        return;
    }
    if (status == 0 && res) {
        memcpy(&peer_addrs[id], res->ai_addr, res->ai_addrlen);
        peer_resolved(s, id);
    }
    uv_freeaddrinfo(res);
    if (status == UV_ECANCELED || s->finished || l->state != LINK_CONNECTING || l->tcp)
        return; /* stopped, or the member's address changed meanwhile */
    if (!peer_addr_ok[id]) {
        peer_resolve_warn(s, id, status ? uv_strerror(status) : "no address");
        link_down(l, "cannot resolve");
        return;
    }
    link_connect(l);
}

/* Resolve peer l's name off the loop; link_on_resolved dials. */
static void link_resolve(struct peer_link *l)
{
    struct server *s = l->srv;
    int id = l->peer;
    char service[16];
    snprintf(service, sizeof service, "%d", s->opt.peer_port[id]);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    l->state = LINK_CONNECTING;
    peer_gai[id].data = l;
    peer_gai_gen[id] = peer_addr_gen[id];
    int rc = uv_getaddrinfo(s->loop, &peer_gai[id], link_on_resolved, s->opt.peer_host[id], service, &hints);
    if (rc != 0) {
        peer_resolve_warn(s, id, uv_strerror(rc));
        link_down(l, "cannot resolve");
        return;
    }
    peer_gai_busy[id] = true;
}

static void link_connect(struct peer_link *l)
{
    struct server *s = l->srv;
    if (l->tcp || peer_gai_busy[l->peer]) { /* the previous socket is still closing, or a look-up runs */
        uv_timer_start(&l->backoff_timer, link_backoff_fire, PEER_BACKOFF_MIN_MS, 0);
        return;
    }
    if (!peer_addr_ok[l->peer]) {
        link_resolve(l);
        return;
    }
    l->state = LINK_CONNECTING;
    l->tcp = malloc(sizeof *l->tcp);
    if (!l->tcp) {
        link_down(l, "out of memory");
        return;
    }
    uv_tcp_init(s->loop, l->tcp);
    l->tcp->data = l;
    l->connect_req.data = l;
    int rc = uv_tcp_connect(&l->connect_req, l->tcp, (const struct sockaddr *)&peer_addrs[l->peer],
                            link_on_connect);
    if (rc != 0)
        link_down(l, uv_strerror(rc));
}

static bool link_queue_bytes(struct server *s, int peer, const uint8_t *frame, size_t len,
                             struct peer_wbuf *take);

/* Append a frame already encoded in peer_scratch to a link's queue. */
static bool link_queue(struct server *s, int peer)
{
    return link_queue_bytes(s, peer, peer_scratch.data, peer_scratch.len, &peer_scratch);
}

bool peer_send_frame(struct server *s, int peer, const uint8_t *frame, size_t len)
{
    return link_queue_bytes(s, peer, frame, len, NULL);
}

size_t peer_link_queued(const struct server *s, int peer)
{
    return server_out_bytes(&s->links[peer].out);
}

uint64_t peer_link_connects(const struct server *s, int peer)
{
    return s->links[peer].connects;
}

/* A frame into the queue: copied, or, when it is in `take` (the scratch
 * buffer) and larger than the empty queue's buffer (a forwarded answer of
 * megabytes), the buffers trade places instead. */
static int link_append(struct peer_link *l, const uint8_t *frame, size_t len, struct peer_wbuf *take)
{
    struct resp_buf *q = &l->out.pending;
    if (!take || q->len > 0 || len <= q->cap)
        return resp_buf_append(q, frame, len);
    struct peer_wbuf old = {.data = (uint8_t *)q->data, .len = 0, .cap = q->cap};
    *q = (struct resp_buf){.data = (char *)take->data, .len = take->len, .cap = take->cap};
    *take = old;
    return 0;
}

static bool link_queue_bytes(struct server *s, int peer, const uint8_t *frame, size_t len,
                             struct peer_wbuf *take)
{
    if (peer < 0 || peer >= s->opt.n_nodes || peer == s->opt.self)
        return false;
    struct peer_link *l = &s->links[peer];
    /* The bound is on what piles up: one frame (a snapshot may be larger
     * than the bound) always fits an empty queue. */
    size_t queued = server_out_bytes(&l->out);
    if (l->state != LINK_CONNECTED || server_now(s) < s->cut_until_ms[peer] ||
        (queued > 0 && queued + len > s->opt.peer_queue_bytes) ||
        link_append(l, frame, len, take) != 0) {
        l->frames_dropped++;
        return false;
    }
    l->frames_sent++;
    l->bytes_sent += len;
    return true;
}

/* Whether a frame for `peer` would be queued at all: checked before
 * encoding, so nothing is encoded for a link that is down (or stopped). */
static bool link_open(struct server *s, int peer)
{
    if (peer < 0 || peer >= s->opt.n_nodes || peer == s->opt.self)
        return false;
    if (s->links[peer].state == LINK_CONNECTED)
        return true;
    s->links[peer].frames_dropped++;
    return false;
}

bool peer_send_raft(struct server *s, const struct raft_msg *m)
{
    if (!link_open(s, m->to))
        return false;
    peer_scratch.len = 0;
    if (peer_encode_raft(&peer_scratch, m) != PEER_OK)
        return false;
    return link_queue(s, m->to);
}

bool peer_send_proxy_req(struct server *s, int peer, uint64_t id, raft_term term, const uint8_t *cmd,
                         size_t len)
{
    struct peer_proxy_req q = {.id = id, .term = term, .command = cmd, .command_len = len};
    if (!link_open(s, peer))
        return false;
    peer_scratch.len = 0;
    if (peer_encode_proxy_req(&peer_scratch, &q) != PEER_OK)
        return false;
    return link_queue(s, peer);
}

bool peer_send_proxy_resp(struct server *s, int peer, const struct peer_proxy_resp *r)
{
    if (!link_open(s, peer))
        return false;
    peer_scratch.len = 0;
    if (peer_encode_proxy_resp(&peer_scratch, r) != PEER_OK)
        return false;
    return link_queue(s, peer);
}

bool peer_link_up(const struct server *s, int peer)
{
    return peer >= 0 && peer < s->opt.n_nodes && peer != s->opt.self &&
           s->links[peer].state == LINK_CONNECTED;
}

void peer_flush_writes(struct server *s)
{
    for (int i = 0; i < s->opt.n_nodes; i++) {
        struct peer_link *l = &s->links[i];
        if (i != s->opt.self && l->state == LINK_CONNECTED && l->tcp)
            server_out_start(&l->out, (uv_stream_t *)l->tcp, link_write_done);
    }
}

/* ---- Inbound connections ----------------------------------------------------- */

static void conn_on_closed(uv_handle_t *h)
{
    struct peer_conn *c = h->data;
    resp_buf_free(&c->in);
    server_out_free(&c->out);
    tls_session_free(c->tls);
    free(c);
}

static void conn_close(struct peer_conn *c, const char *why)
{
    if (c->closing)
        return;
    c->closing = true;
    struct server *s = c->srv;
    if (c->peer >= 0)
        snap_xfer_conn_closed(s, c->peer);
    if (c->peer >= 0)
        server_log(SLOG_INFO, "peer_conn_closed", "peer=%s addr=%s reason=\"%s\"", s->opt.names[c->peer], c->addr,
                   why);
    else if (c->gate.told_removed)
        server_log(SLOG_INFO, "peer_conn_closed", "addr=%s reason=\"%s\" shut=%s", c->addr, why,
                   c->gate.shut ? "yes" : "no");
    else
        server_log(SLOG_DEBUG, "peer_conn_closed", "addr=%s reason=\"%s\"", c->addr, why);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->peer_conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    uv_close((uv_handle_t *)&c->tcp, conn_on_closed);
}

/* Close a connection that has not authenticated, and say why (detail: more,
 * e.g. TLS's reason, or NULL). */
static void conn_refuse(struct peer_conn *c, const char *why, const char *who, const char *detail)
{
    c->srv->stats.peers_refused++;
    server_log_limited(SLOG_WARN, "peer_refused", "addr=%s claimed=%s reason=\"%s\"%s%s%s", c->addr, who, why,
                       detail ? " detail=\"" : "", detail ? detail : "", detail ? "\"" : "");
    conn_close(c, why);
}

/* A HELLO from a name the committed configuration no longer holds (of our
 * cluster, its certificate checked): a member removed while it was down,
 * back with its old log. Answer REMOVED on this connection, so it stops
 * instead of campaigning for ever. Nothing it sends after the HELLO is read
 * (it never reaches the core, so it disrupts nothing). Once the answer (and
 * TLS's close_notify) is flushed, our side shuts down (a FIN after it) and
 * the connection closes on the other's end or PEER_REMOVED_LINGER_MS later
 * (peer_gate.h). */
static void conn_write_done(uv_write_t *w, int status);

static void conn_removed_shut_done(uv_shutdown_t *req, int status)
{
    struct peer_conn *c = req->data;
    if (status < 0 && !c->closing)
        conn_close(c, "told it was removed");
}

/* After a write: once everything (REMOVED, close_notify) has left, shut our
 * side down. */
static void conn_removed_flushed(struct peer_conn *c)
{
    if (c->closing || !peer_gate_may_shut(&c->gate, c->out.writing))
        return;
    peer_gate_shut(&c->gate, server_now(c->srv));
    c->sreq.data = c;
    if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, conn_removed_shut_done) != 0)
        conn_close(c, "told it was removed");
}

static bool conn_tell_removed(struct peer_conn *c, const struct peer_hello *h)
{
    struct server *s = c->srv;
    uint64_t index = s->members.index;
    if (!s->replica || strcmp(h->receiver, s->opt.id) != 0 ||
        !member_tell_removed(&s->members, replica_commit_index(s->replica), s->opt.id, h->sender) ||
        !s->identity.has_cluster_id || memcmp(h->cluster_id, s->identity.cluster_id, sizeof h->cluster_id) != 0)
        return false;
    peer_scratch.len = 0;
    if (peer_encode_removed(&peer_scratch, index, h->sender) != PEER_OK ||
        resp_buf_append(&c->out.pending, peer_scratch.data, peer_scratch.len) != 0)
        return false;
    s->stats.peers_refused++;
    server_log_limited(SLOG_WARN, "peer_refused", "addr=%s claimed=%s reason=\"removed from the configuration\" "
                       "index=%" PRIu64 " detail=\"told it was removed (the committed configuration at index %" PRIu64
                       " does not hold it)\"", c->addr, h->sender, index, index);
    peer_gate_told_removed(&c->gate);
    if (server_out_start(&c->out, (uv_stream_t *)&c->tcp, conn_write_done) != 0) {
        conn_close(c, "TLS failed");
        return true;
    }
    if (c->tls) { /* after the REMOVED record, which the start encrypted */
        tls_close_notify(c->tls);
        if (server_out_start(&c->out, (uv_stream_t *)&c->tcp, conn_write_done) != 0) {
            conn_close(c, "TLS failed");
            return true;
        }
    }
    conn_removed_flushed(c);
    return true;
}

static void conn_handle_hello(struct peer_conn *c, const uint8_t *body, size_t len)
{
    struct server *s = c->srv;
    struct peer_hello h;
    if (peer_decode_hello(body, len, &h) != PEER_OK) {
        conn_refuse(c, "malformed handshake", "?", NULL);
        return;
    }
    /* With TLS, the certificate decides who is speaking: the name claimed
     * must be one it carries. */
    const char *why = s->peer_tls_server ? peer_gate_check_name(c->tls, h.sender) : NULL;
    if (why) {
        char cert[160];
        snprintf(cert, sizeof cert, "certificate CN=%s", c->tls ? tls_peer_common_name(c->tls) : "");
        conn_refuse(c, why, h.sender, cert);
        return;
    }
    int idx = -1;
    for (int i = 0; i < s->opt.n_nodes; i++)
        if (s->opt.names[i][0] && !(s->departed & (1ull << i)) && strcmp(s->opt.names[i], h.sender) == 0)
            idx = i;
    if (idx < 0 && conn_tell_removed(c, &h))
        return;
    if (idx < 0 || idx == s->opt.self)
        conn_refuse(c, "sender is not a configured peer", h.sender, NULL);
    else if (strcmp(h.receiver, s->opt.id) != 0)
        conn_refuse(c, "handshake addressed to another node", h.sender, NULL);
    else if (h.cluster_fingerprint != 0 && !s->members_dynamic &&
             h.cluster_fingerprint != peer_fingerprint(s->opt.peers_text))
        conn_refuse(c, "peer list differs from ours", h.sender, NULL);
    else if (server_identity_refuses_empty(s, &h, c->addr))
        conn_close(c, "this member holds no log: it stays out of an existing cluster");
    else if (!server_identity_hello_ok(s, &h, &c->tcp)) {
        s->stats.peers_refused++; /* logged with both ids */
        conn_close(c, "cluster id mismatch");
    } else {
        c->peer = idx;
        c->gate.authenticated = true;
        server_log(SLOG_INFO, "peer_conn_accepted", "peer=%s addr=%s tls=%s", h.sender, c->addr,
                   c->tls ? "yes" : "no");
        /* The peer is back: dial it now rather than when the backoff ends,
         * so a restarted node hears the leader within a heartbeat. */
        struct peer_link *l = &s->links[idx];
        if (l->state == LINK_BACKOFF && !l->tcp) {
            uv_timer_stop(&l->backoff_timer);
            l->backoff_ms = PEER_BACKOFF_MIN_MS;
            link_connect(l);
        }
    }
}

static void conn_handle_frame(struct peer_conn *c, uint8_t kind, const uint8_t *body, size_t len)
{
    struct server *s = c->srv;
    if (c->peer < 0) {
        if (!peer_gate_reads(&c->gate))
            return; /* told it was removed: frames after its HELLO are dropped */
        if (kind != PEER_FRAME_HELLO)
            conn_refuse(c, "no handshake", "?", NULL);
        else
            conn_handle_hello(c, body, len);
        return;
    }
    if (server_now(s) < s->cut_until_ms[c->peer])
        return; /* DEBUG.CUT: as if the network lost it */
    int rc = PEER_OK;
    switch (kind) {
    case PEER_FRAME_RAFT: {
        struct raft_msg m;
        rc = peer_decode_raft(body, len, s->opt.n_nodes, &m);
        if (rc != PEER_OK)
            break;
        if (m.from != c->peer || m.to != s->opt.self) {
            peer_raft_msg_release(&m);
            rc = PEER_ERR_MALFORMED;
            break;
        }
        if (!s->fatal)
            server_raft_refused(s, c->peer, &m, replica_receive(s->replica, &m, server_now(s)));
        metrics_peer_heard(s, c->peer);
        peer_raft_msg_release(&m);
        break;
    }
    case PEER_FRAME_PROXY_REQ: {
        struct peer_proxy_req q;
        rc = peer_decode_proxy_req(body, len, &q);
        if (rc == PEER_OK && !s->fatal)
            commands_proxy_serve(s, c->peer, &q);
        break;
    }
    case PEER_FRAME_PROXY_RESP: {
        struct peer_proxy_resp p;
        rc = peer_decode_proxy_resp(body, len, &p);
        if (rc == PEER_OK)
            commands_proxy_answer(s, &p);
        break;
    }
    case PEER_FRAME_SNAP_OFFER:
    case PEER_FRAME_SNAP_CHUNK:
    case PEER_FRAME_SNAP_ACK:
        rc = snap_xfer_frame(s, c->peer, kind, body, len);
        break;
    case PEER_FRAME_MEMBERS:
        rc = server_members_received(s, c->peer, body, len);
        break;
    default:
        rc = PEER_ERR_MALFORMED;
    }
    if (rc != PEER_OK) {
        s->stats.frames_bad++;
        server_log_limited(SLOG_WARN, "peer_bad_frame", "peer=%s addr=%s kind=%u reason=\"%s\" detail=\"%s\"",
                           s->opt.names[c->peer], c->addr, kind, peer_strerror(rc),
                           rc == PEER_ERR_MALFORMED ? peer_decode_detail() : "");
        conn_close(c, "bad frame");
    }
}

/* Handle every whole frame in c->in and drop them from it. */
static void conn_frames(struct peer_conn *c)
{
    size_t off = 0;
    while (!c->closing) {
        uint8_t kind;
        size_t flen;
        int rc = peer_frame_peek((const uint8_t *)c->in.data + off, c->in.len - off, c->srv->opt.max_frame, &kind,
                                 &flen);
        if (rc == 0)
            break;
        if (rc < 0) {
            c->srv->stats.frames_bad++;
            char detail[200];
            if (rc == PEER_ERR_VERSION)
                snprintf(detail, sizeof detail, "it speaks peer protocol version %u, this member %u: run the same "
                         "raftkv release on every member (docs/OPERATIONS.md, Upgrade)",
                         ((const uint8_t *)c->in.data)[off + 4], PEER_CODEC_VERSION);
            if (c->peer < 0)
                conn_refuse(c, peer_strerror(rc), "?", rc == PEER_ERR_VERSION ? detail : NULL);
            else {
                server_log_limited(SLOG_WARN, "peer_bad_frame", "peer=%s addr=%s reason=\"%s\"",
                                   c->srv->opt.names[c->peer], c->addr, peer_strerror(rc));
                conn_close(c, peer_strerror(rc));
            }
            return;
        }
        conn_handle_frame(c, kind, (const uint8_t *)c->in.data + off + PEER_FRAME_HEADER, flen - PEER_FRAME_HEADER);
        off += flen;
    }
    if (c->closing)
        return;
    resp_buf_consume(&c->in, off);
    /* Give back memory a large frame (a snapshot) needed. */
    if (c->in.cap > 8 * PEER_READ_CHUNK && c->in.len < PEER_READ_CHUNK) {
        char *in = realloc(c->in.data, 2 * PEER_READ_CHUNK);
        if (in) {
            c->in.data = in;
            c->in.cap = 2 * PEER_READ_CHUNK;
        }
    }
}

static void conn_write_done(uv_write_t *w, int status)
{
    struct server_out *o = w->data;
    struct peer_conn *c = (struct peer_conn *)((char *)o - offsetof(struct peer_conn, out));
    o->writing = false;
    o->inflight.len = 0;
    if (c->closing)
        return;
    if (status < 0)
        conn_close(c, uv_strerror(status));
    else if (server_out_start(o, (uv_stream_t *)&c->tcp, conn_write_done) != 0)
        conn_close(c, "TLS failed");
    else
        conn_removed_flushed(c);
}

/* Ciphertext arrived: decrypt what it completes into c->in, frame by frame,
 * and send what the session answers (its handshake). */
static void conn_tls_input(struct peer_conn *c, const char *data, size_t n)
{
    struct server *s = c->srv;
    if (!c->tls) {
        c->tls = tls_session_new(s->peer_tls_server, NULL);
        c->out.tls = c->tls;
        if (!c->tls) {
            conn_close(c, "out of memory");
            return;
        }
    }
    /* A whole frame fits; what is not decrypted yet stays in the session
     * (bounded: before authentication by the gate, after by this cap). */
    size_t cap = s->opt.max_frame + PEER_FRAME_HEADER;
    int rc = server_tls_input(c->tls, data, n, &c->in, cap);
    while (rc == 0) {
        bool full = c->in.len >= cap;
        conn_frames(c);
        if (c->closing || !full)
            break;
        rc = server_tls_input(c->tls, NULL, 0, &c->in, cap);
    }
    if (c->closing)
        return;
    if (rc == TLS_FAILED) {
        if (!c->gate.authenticated) {
            s->stats.peers_tls_failed++;
            conn_refuse(c, tls_established(c->tls) ? "TLS failed" : "TLS handshake failed", "?", tls_error(c->tls));
        } else {
            conn_close(c, tls_error(c->tls));
        }
        return;
    }
    if (rc == TLS_CLOSED) {
        conn_close(c, "closed by peer");
        return;
    }
    if (server_out_start(&c->out, (uv_stream_t *)&c->tcp, conn_write_done) != 0)
        conn_close(c, "TLS failed");
}

static void conn_input(struct peer_conn *c, const char *data, size_t n);

static void conn_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct peer_conn *c = st->data;
    struct server *s = c->srv;
    loop_watch_note(&s->loop_watch, LOOP_CB_PEER_READ);
    if (n < 0) {
        conn_close(c, c->gate.told_removed ? "told it was removed"
                                      : n == UV_EOF ? "closed by peer" : uv_strerror((int)n));
        return;
    }
    if (n == 0 || !peer_gate_reads(&c->gate))
        return; /* told it was removed: nothing more of it is read */
    /* Before authentication only what the gate admits; what follows is
     * read once that part has authenticated the connection (its HELLO),
     * so frames a peer sent right behind its HELLO do not count as
     * pre-authentication bytes. */
    size_t k = peer_gate_admit(&c->gate, (size_t)n, PEER_PREAUTH_MAX_BYTES);
    if (k > 0)
        conn_input(c, buf->base, k);
    if (c->closing || k == (size_t)n || !peer_gate_reads(&c->gate))
        return;
    if (!c->gate.authenticated) {
        s->stats.peers_preauth_closed++;
        conn_refuse(c, "preauth_limit", "?", "more than 65536 bytes before authenticating");
        return;
    }
    conn_input(c, buf->base + k, (size_t)n - k);
}

/* Bytes read and admitted by the gate: decrypted and framed. */
static void conn_input(struct peer_conn *c, const char *data, size_t n)
{
    struct server *s = c->srv;
    if (s->peer_tls_server && c->tls) {
        conn_tls_input(c, data, n);
        return;
    }
    if (resp_buf_append(&c->in, data, n) != 0) {
        conn_close(c, "out of memory");
        return;
    }
    if (!s->peer_tls_server) {
        conn_frames(c);
        return;
    }
    /* The TLS session (tens of KB once OpenSSL holds part of a record) is
     * made only when the first record is whole: until then a connection
     * costs the bytes it sent, so a thousand half-open ones cost little. */
    const uint8_t *h = (const uint8_t *)c->in.data;
    if (h[0] != 22 || (c->in.len > 1 && h[1] != 3)) { /* a handshake record, TLS 1.x */
        s->stats.peers_tls_failed++;
        conn_refuse(c, "TLS handshake failed", "?", "not a TLS handshake record (plaintext peer?)");
        return;
    }
    if (c->in.len < 5 || c->in.len < 5 + (((size_t)h[3] << 8) | h[4]))
        return;
    struct resp_buf first = c->in;
    c->in = (struct resp_buf){0};
    conn_tls_input(c, first.data, first.len);
    resp_buf_free(&first);
}

static void conn_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    (void)h;
    (void)size;
    *buf = uv_buf_init(peer_read_buf, sizeof peer_read_buf);
}

static void peer_on_connection(uv_stream_t *listener, int status)
{
    struct server *s = listener->data;
    loop_watch_note(&s->loop_watch, LOOP_CB_PEER_CONN);
    if (status < 0)
        return;
    struct peer_conn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->srv = s;
    c->peer = -1;
    uv_tcp_init(s->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, conn_on_closed);
        return;
    }
    peer_addr_text(&c->tcp, c->addr, sizeof c->addr);
    peer_gate_open(&c->gate, server_now(s));
    uv_tcp_nodelay(&c->tcp, 1);
    c->next = s->peer_conns;
    if (c->next)
        c->next->prev = c;
    s->peer_conns = c;
    uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read);
}

/* One timer for every inbound connection: those not authenticated within
 * --peer-handshake-timeout-ms are closed. */
static void peer_sweep(uv_timer_t *t)
{
    struct server *s = t->data;
    loop_watch_note(&s->loop_watch, LOOP_CB_SWEEP);
    uint64_t now = server_now(s);
    struct peer_conn *next;
    for (struct peer_conn *c = s->peer_conns; c; c = next) {
        next = c->next;
        enum peer_gate_sweep v = peer_gate_sweep(&c->gate, now, s->opt.peer_handshake_timeout_ms);
        if (v == PEER_GATE_CLOSE_TOLD)
            conn_close(c, "told it was removed");
        else if (v == PEER_GATE_REFUSE_TIMEOUT) {
            s->stats.peers_preauth_closed++;
            conn_refuse(c, "handshake_timeout", "?", c->gate.received ? "handshake not finished in time"
                                                                      : "nothing sent");
        }
    }
}

/* The peers' TLS contexts from the options (none with plaintext peers). */
static int peer_tls_setup(struct server *s)
{
    const struct server_options *o = &s->opt;
    if (!o->peer_cert_file[0]) {
        if (o->peer_insecure)
            server_log(SLOG_WARN, "peer_insecure_plaintext",
                       "detail=\"peers talk without TLS (--peer-insecure-plaintext): anyone who can reach "
                       "%s:%d can rewrite or erase the data\"",
                       o->peer_host[o->self], o->peer_port[o->self]);
        return 0;
    }
    char err[600];
    struct tls_ctx_options srv = {.role = TLS_ROLE_SERVER,
                                  .cert_file = o->peer_cert_file,
                                  .key_file = o->peer_key_file,
                                  .ca_file = o->peer_ca_file,
                                  .client_auth = TLS_CLIENT_CERT_REQUIRED,
                                  .tls13_only = true};
    struct tls_ctx_options cli = srv;
    cli.role = TLS_ROLE_CLIENT;
    cli.client_auth = TLS_CLIENT_CERT_NONE;
    s->peer_tls_server = tls_ctx_new(&srv, err, sizeof err);
    if (s->peer_tls_server)
        s->peer_tls_client = tls_ctx_new(&cli, err, sizeof err);
    if (!s->peer_tls_server || !s->peer_tls_client) {
        server_log(SLOG_ERROR, "peer_tls_setup_failed", "reason=\"%s\" hint=\"raftkv certs --dir DIR --members ...\"",
                   err);
        return -1;
    }
    server_log(SLOG_INFO, "peer_tls", "cert=%s ca=%s", o->peer_cert_file, o->peer_ca_file);
    return 0;
}

int peer_start(struct server *s)
{
    rng_seed(&peer_rng, s->opt.seed ^ 0x9e3779b97f4a7c15ull);
    if (peer_tls_setup(s) != 0)
        return -1;
    int self = s->opt.self;
    for (int i = 0; i < s->opt.n_nodes; i++) {
        peer_addr_ok[i] = false;
        peer_resolve_failures[i] = 0;
        if (i == self || !s->opt.names[i][0])
            continue;
        int rc = peer_resolve(s->opt.peer_host[i], s->opt.peer_port[i], &peer_addrs[i]);
        if (rc == 0)
            peer_resolved(s, i);
        else
            peer_resolve_warn(s, i, gai_strerror(rc)); /* its link resolves it again */
    }
    const char *bind_host = s->opt.peer_listen_port ? s->opt.peer_listen_host : s->opt.peer_host[self];
    int bind_port = s->opt.peer_listen_port ? s->opt.peer_listen_port : s->opt.peer_port[self];
    struct sockaddr_storage bind_addr;
    int grc = peer_resolve(bind_host, bind_port, &bind_addr);
    if (grc != 0) {
        char opt[640];
        if (s->opt.peer_listen_port)
            snprintf(opt, sizeof opt, "--peer-listen %s:%d", bind_host, bind_port);
        else
            snprintf(opt, sizeof opt, "its own --peers entry %s=%s:%d", s->opt.id, bind_host, bind_port);
        server_log(SLOG_ERROR, "peer_resolve_failed",
                   "peer=%s host=%s port=%d reason=\"%s\" detail=\"this member's own peer address (%s) does not "
                   "resolve, so it cannot listen for its peers\"",
                   s->opt.id, bind_host, bind_port, gai_strerror(grc), opt);
        snprintf(s->start_error, sizeof s->start_error, "cannot resolve this member's own peer address (%.250s): %.80s",
                 opt, gai_strerror(grc));
        return -1;
    }
    uv_tcp_init(s->loop, &s->peer_listener);
    s->peer_listener_open = true;
    s->peer_listener.data = s;
    int rc = uv_tcp_bind(&s->peer_listener, (const struct sockaddr *)&bind_addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->peer_listener, 511, peer_on_connection);
    if (rc != 0) {
        server_log(SLOG_ERROR, "peer_listen_failed", "addr=%s:%d reason=\"%s\"", bind_host, bind_port,
                   uv_strerror(rc));
        snprintf(s->start_error, sizeof s->start_error, "cannot listen on the peer address %.256s:%d: %.80s",
                 bind_host, bind_port, uv_strerror(rc));
        return -1;
    }
    server_log(SLOG_INFO, "peer_listening", "addr=%s:%d", bind_host, bind_port);
    uv_timer_init(s->loop, &s->peer_sweep);
    s->peer_sweep.data = s;
    s->peer_sweep_open = true;
    uv_timer_start(&s->peer_sweep, peer_sweep, PEER_GATE_SWEEP_MS, PEER_GATE_SWEEP_MS);
    for (int i = 0; i < s->opt.n_nodes; i++) {
        struct peer_link *l = &s->links[i];
        l->srv = s;
        l->peer = i;
        l->backoff_ms = PEER_BACKOFF_MIN_MS;
        if (i == self || !s->opt.names[i][0])
            continue;
        uv_timer_init(s->loop, &l->backoff_timer);
        l->backoff_timer.data = l;
        l->started = true;
        link_connect(l);
    }
    return 0;
}

void peer_member_changed(struct server *s, int id)
{
    if (!s->peer_listener_open || id == s->opt.self || id < 0 || id >= RAFT_MAX_NODES)
        return;
    struct peer_link *l = &s->links[id];
    /* Inbound connections from the old holder of this id go. */
    struct peer_conn *next;
    for (struct peer_conn *c = s->peer_conns; c; c = next) {
        next = c->next;
        if (c->peer == id)
            conn_close(c, "member changed");
    }
    if (l->started) {
        uv_timer_stop(&l->backoff_timer);
        if (l->tcp && !uv_is_closing((uv_handle_t *)l->tcp))
            uv_close((uv_handle_t *)l->tcp, link_on_closed);
        l->out.pending.len = 0;
        l->out.plain_off = 0;
        l->out.cipher.len = 0;
        tls_session_free(l->out.tls);
        l->out.tls = NULL;
        l->state = LINK_IDLE;
    }
    if (!s->opt.names[id][0])
        return; /* removed: its link stays idle */
    peer_addr_gen[id]++;
    peer_addr_ok[id] = false;
    peer_resolve_failures[id] = 0;
    int grc = peer_resolve(s->opt.peer_host[id], s->opt.peer_port[id], &peer_addrs[id]);
    if (grc == 0)
        peer_resolved(s, id);
    else
        peer_resolve_warn(s, id, gai_strerror(grc)); /* its link resolves it again */
    l->srv = s;
    l->peer = id;
    l->backoff_ms = PEER_BACKOFF_MIN_MS;
    if (!l->started) {
        uv_timer_init(s->loop, &l->backoff_timer);
        l->backoff_timer.data = l;
        l->started = true;
    }
    /* Dial at once, or when the old socket has closed. */
    l->state = LINK_BACKOFF;
    uv_timer_start(&l->backoff_timer, link_backoff_fire, l->tcp ? PEER_BACKOFF_MIN_MS : 0, 0);
}

void peer_stop(struct server *s)
{
    if (s->peer_listener_open && !uv_is_closing((uv_handle_t *)&s->peer_listener))
        uv_close((uv_handle_t *)&s->peer_listener, NULL);
    if (s->peer_sweep_open && !uv_is_closing((uv_handle_t *)&s->peer_sweep))
        uv_close((uv_handle_t *)&s->peer_sweep, NULL);
    for (int i = 0; i < RAFT_MAX_NODES; i++) {
        struct peer_link *l = &s->links[i];
        if (i == s->opt.self || !l->started)
            continue;
        uv_timer_stop(&l->backoff_timer);
        uv_close((uv_handle_t *)&l->backoff_timer, NULL);
        if (peer_gai_busy[i])
            uv_cancel((uv_req_t *)&peer_gai[i]); /* link_on_resolved sees LINK_IDLE */
        if (l->tcp && !uv_is_closing((uv_handle_t *)l->tcp))
            uv_close((uv_handle_t *)l->tcp, link_on_closed);
        l->state = LINK_IDLE;
    }
    while (s->peer_conns)
        conn_close(s->peer_conns, "shutdown");
    peer_wbuf_free(&peer_scratch);
}
