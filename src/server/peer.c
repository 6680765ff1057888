/* peer.c - TCP links between raftkv servers.
 *
 * Each ordered pair of servers has its own connection: a server SENDS only
 * on the links it dialled (one per peer, struct peer_link) and RECEIVES only
 * on connections peers dialled to it (struct peer_conn). So no connection is
 * ever both read and written, and two servers dialling each other at once
 * need no tie-break.
 *
 * Outbound links redial with exponential backoff (50 ms doubling to a 2 s
 * cap, with jitter so restarted nodes do not dial in lockstep). Each link
 * has a bounded queue (--peer-queue-bytes): while a peer is down or slow,
 * frames beyond the bound are dropped rather than buffered or blocking the
 * loop; Raft retransmits what matters, and a lost proxy frame becomes a
 * client timeout (an indefinite answer). Nothing is queued while a link is
 * down: a stale burst on reconnect would only be retransmitted anyway.
 *
 * Inbound connections must open with a HELLO that names a configured peer,
 * addresses this server, and carries the fingerprint of the same peer
 * list; otherwise they are logged and closed. After it, every Raft message
 * must claim to come from that peer.
 */
#include <inttypes.h>
#include <netdb.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/rng.h"
#include "server/server_internal.h"

#define PEER_BACKOFF_MIN_MS 50
#define PEER_BACKOFF_MAX_MS 2000
#define PEER_READ_CHUNK (64u << 10)

static struct sockaddr_storage peer_addrs[RAFT_MAX_NODES];
static struct peer_wbuf peer_scratch;
static struct rng peer_rng;

static void link_connect(struct peer_link *l);

static int peer_resolve(const char *host, int port, struct sockaddr_storage *out)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    if (getaddrinfo(host, service, &hints, &res) != 0 || !res)
        return -1;
    memcpy(out, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
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
        if (l->state == LINK_CONNECTED)
            link_down(l, uv_strerror(status));
        return;
    }
    if (l->state == LINK_CONNECTED && l->tcp)
        server_out_start(o, (uv_stream_t *)l->tcp, link_write_done);
}

static void link_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    (void)h;
    (void)size;
    static char sink[256];
    *buf = uv_buf_init(sink, sizeof sink);
}

/* Peers never write on our outbound link; reading only notices its end. */
static void link_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    struct peer_link *l = st->data;
    if (n < 0)
        link_down(l, n == UV_EOF ? "closed by peer" : uv_strerror((int)n));
    else if (n > 0)
        link_down(l, "unexpected bytes from peer");
}

static void link_on_connect(uv_connect_t *req, int status)
{
    struct peer_link *l = req->data;
    struct server *s = l->srv;
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
    l->state = LINK_CONNECTED;
    l->backoff_ms = PEER_BACKOFF_MIN_MS;
    l->connects++;
    l->ever_connected = true;
    uv_tcp_nodelay(l->tcp, 1);
    uv_read_start((uv_stream_t *)l->tcp, link_alloc, link_read);
    struct peer_hello h = {.cluster_fingerprint = peer_fingerprint(s->opt.peers_text)};
    server_identity_hello(s, h.cluster_id);
    snprintf(h.sender, sizeof h.sender, "%s", s->opt.id);
    snprintf(h.receiver, sizeof h.receiver, "%s", s->opt.names[l->peer]);
    peer_scratch.len = 0;
    if (peer_encode_hello(&peer_scratch, &h) == PEER_OK)
        resp_buf_append(&l->out.pending, peer_scratch.data, peer_scratch.len);
    server_log(SLOG_INFO, "peer_link_up", "peer=%s addr=%s:%d", s->opt.names[l->peer],
               s->opt.peer_host[l->peer], s->opt.peer_port[l->peer]);
    server_out_start(&l->out, (uv_stream_t *)l->tcp, link_write_done);
}

static void link_connect(struct peer_link *l)
{
    struct server *s = l->srv;
    if (l->tcp) { /* the previous socket is still closing */
        uv_timer_start(&l->backoff_timer, link_backoff_fire, PEER_BACKOFF_MIN_MS, 0);
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

/* Append a frame already encoded in peer_scratch to a link's queue. */
static bool link_queue(struct server *s, int peer)
{
    if (peer < 0 || peer >= s->opt.n_nodes || peer == s->opt.self)
        return false;
    struct peer_link *l = &s->links[peer];
    /* The bound is on what piles up: one frame (a snapshot may be larger
     * than the bound) always fits an empty queue. */
    size_t queued = server_out_bytes(&l->out);
    if (l->state != LINK_CONNECTED || server_now(s) < s->cut_until_ms[peer] ||
        (queued > 0 && queued + peer_scratch.len > s->opt.peer_queue_bytes) ||
        resp_buf_append(&l->out.pending, peer_scratch.data, peer_scratch.len) != 0) {
        l->frames_dropped++;
        return false;
    }
    l->frames_sent++;
    l->bytes_sent += peer_scratch.len;
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
    free(c->in);
    free(c);
}

static void conn_close(struct peer_conn *c, const char *why)
{
    if (c->closing)
        return;
    c->closing = true;
    struct server *s = c->srv;
    if (c->peer >= 0)
        server_log(SLOG_INFO, "peer_conn_closed", "peer=%s reason=\"%s\"", s->opt.names[c->peer], why);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->peer_conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    uv_close((uv_handle_t *)&c->tcp, conn_on_closed);
}

static void conn_refuse(struct peer_conn *c, const char *why, const char *who)
{
    c->srv->stats.peers_refused++;
    char addr[SERVER_ADDR_TEXT];
    server_log_limited(SLOG_WARN, "peer_refused", "addr=%s claimed=%s reason=\"%s\"",
                       server_addr_text(&c->tcp, addr, sizeof addr), who, why);
    conn_close(c, why);
}

static void conn_handle_hello(struct peer_conn *c, const uint8_t *body, size_t len)
{
    struct server *s = c->srv;
    struct peer_hello h;
    if (peer_decode_hello(body, len, &h) != PEER_OK) {
        conn_refuse(c, "malformed handshake", "?");
        return;
    }
    int idx = -1;
    for (int i = 0; i < s->opt.n_nodes; i++)
        if (strcmp(s->opt.names[i], h.sender) == 0)
            idx = i;
    if (idx < 0 || idx == s->opt.self)
        conn_refuse(c, "sender is not a configured peer", h.sender);
    else if (strcmp(h.receiver, s->opt.id) != 0)
        conn_refuse(c, "handshake addressed to another node", h.sender);
    else if (h.cluster_fingerprint != peer_fingerprint(s->opt.peers_text))
        conn_refuse(c, "peer list differs from ours", h.sender);
    else if (!server_identity_hello_ok(s, &h, &c->tcp)) {
        s->stats.peers_refused++; /* logged with both ids */
        conn_close(c, "cluster id mismatch");
    } else {
        c->peer = idx;
        server_log(SLOG_INFO, "peer_conn_accepted", "peer=%s", h.sender);
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
        if (kind != PEER_FRAME_HELLO)
            conn_refuse(c, "no handshake", "?");
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
    default:
        rc = PEER_ERR_MALFORMED;
    }
    if (rc != PEER_OK) {
        s->stats.frames_bad++;
        char addr[SERVER_ADDR_TEXT];
        server_log_limited(SLOG_WARN, "peer_bad_frame", "peer=%s addr=%s kind=%u reason=\"%s\" detail=\"%s\"",
                           s->opt.names[c->peer], server_addr_text(&c->tcp, addr, sizeof addr), kind,
                           peer_strerror(rc), rc == PEER_ERR_MALFORMED ? peer_decode_detail() : "");
        conn_close(c, "bad frame");
    }
}

static void conn_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    (void)size;
    struct peer_conn *c = h->data;
    if (c->in_cap - c->in_len < PEER_READ_CHUNK) {
        size_t cap = c->in_cap ? c->in_cap * 2 : 2 * PEER_READ_CHUNK;
        while (cap - c->in_len < PEER_READ_CHUNK)
            cap *= 2;
        uint8_t *in = realloc(c->in, cap);
        if (!in) {
            *buf = uv_buf_init(NULL, 0);
            return;
        }
        c->in = in;
        c->in_cap = cap;
    }
    *buf = uv_buf_init((char *)c->in + c->in_len, (unsigned)(c->in_cap - c->in_len));
}

static void conn_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    struct peer_conn *c = st->data;
    if (n < 0) {
        conn_close(c, n == UV_EOF ? "closed by peer" : uv_strerror((int)n));
        return;
    }
    c->in_len += (size_t)n;
    size_t off = 0;
    while (!c->closing) {
        uint8_t kind;
        size_t flen;
        int rc = peer_frame_peek(c->in + off, c->in_len - off, c->srv->opt.max_frame, &kind, &flen);
        if (rc == 0)
            break;
        if (rc < 0) {
            c->srv->stats.frames_bad++;
            if (c->peer < 0)
                conn_refuse(c, peer_strerror(rc), "?");
            else {
                char addr[SERVER_ADDR_TEXT];
                server_log_limited(SLOG_WARN, "peer_bad_frame", "peer=%s addr=%s reason=\"%s\"",
                                   c->srv->opt.names[c->peer], server_addr_text(&c->tcp, addr, sizeof addr),
                                   peer_strerror(rc));
                conn_close(c, peer_strerror(rc));
            }
            return;
        }
        conn_handle_frame(c, kind, c->in + off + PEER_FRAME_HEADER, flen - PEER_FRAME_HEADER);
        off += flen;
    }
    if (c->closing)
        return;
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    /* Give back memory a large frame (a snapshot) needed. */
    if (c->in_cap > 8 * PEER_READ_CHUNK && c->in_len < PEER_READ_CHUNK) {
        uint8_t *in = realloc(c->in, 2 * PEER_READ_CHUNK);
        if (in) {
            c->in = in;
            c->in_cap = 2 * PEER_READ_CHUNK;
        }
    }
}

static void peer_on_connection(uv_stream_t *listener, int status)
{
    struct server *s = listener->data;
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
    uv_tcp_nodelay(&c->tcp, 1);
    c->next = s->peer_conns;
    if (c->next)
        c->next->prev = c;
    s->peer_conns = c;
    uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read);
}

int peer_start(struct server *s)
{
    rng_seed(&peer_rng, s->opt.seed ^ 0x9e3779b97f4a7c15ull);
    for (int i = 0; i < s->opt.n_nodes; i++) {
        if (peer_resolve(s->opt.peer_host[i], s->opt.peer_port[i], &peer_addrs[i]) != 0) {
            server_log(SLOG_ERROR, "peer_resolve_failed", "peer=%s host=%s", s->opt.names[i],
                       s->opt.peer_host[i]);
            return -1;
        }
    }
    int self = s->opt.self;
    uv_tcp_init(s->loop, &s->peer_listener);
    s->peer_listener_open = true;
    s->peer_listener.data = s;
    int rc = uv_tcp_bind(&s->peer_listener, (const struct sockaddr *)&peer_addrs[self], 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->peer_listener, 128, peer_on_connection);
    if (rc != 0) {
        server_log(SLOG_ERROR, "peer_listen_failed", "addr=%s:%d reason=\"%s\"", s->opt.peer_host[self],
                   s->opt.peer_port[self], uv_strerror(rc));
        return -1;
    }
    server_log(SLOG_INFO, "peer_listening", "addr=%s:%d", s->opt.peer_host[self], s->opt.peer_port[self]);
    for (int i = 0; i < s->opt.n_nodes; i++) {
        struct peer_link *l = &s->links[i];
        l->srv = s;
        l->peer = i;
        l->backoff_ms = PEER_BACKOFF_MIN_MS;
        if (i == self)
            continue;
        uv_timer_init(s->loop, &l->backoff_timer);
        l->backoff_timer.data = l;
        l->started = true;
        link_connect(l);
    }
    return 0;
}

void peer_stop(struct server *s)
{
    if (s->peer_listener_open && !uv_is_closing((uv_handle_t *)&s->peer_listener))
        uv_close((uv_handle_t *)&s->peer_listener, NULL);
    for (int i = 0; i < s->opt.n_nodes; i++) {
        struct peer_link *l = &s->links[i];
        if (i == s->opt.self || !l->started)
            continue;
        uv_timer_stop(&l->backoff_timer);
        uv_close((uv_handle_t *)&l->backoff_timer, NULL);
        if (l->tcp && !uv_is_closing((uv_handle_t *)l->tcp))
            uv_close((uv_handle_t *)l->tcp, link_on_closed);
        l->state = LINK_IDLE;
    }
    while (s->peer_conns)
        conn_close(s->peer_conns, "shutdown");
    peer_wbuf_free(&peer_scratch);
}
