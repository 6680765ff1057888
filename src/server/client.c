/* client.c - Redis-protocol client connections: accept, read and parse,
 * answer in order, back-pressure and limits.
 *
 * Commands of one connection may finish out of order (a read confirmed by
 * ReadIndex before an earlier write commits), but Redis clients pipeline and
 * match replies by position, so every command gets a struct client_req in
 * arrival order and a reply leaves only when all earlier ones have.
 *
 * Limits: past --max-clients a new connection gets an error and is closed;
 * past --max-pending-per-client unanswered commands the connection is no
 * longer read until half have been answered (TCP then pushes back on the
 * client); a client whose unread replies pass --max-output-bytes is closed.
 * While the leader's apply backlog passes --max-apply-backlog no connection
 * is read at all (apply_gate.c).
 * A malformed or oversized request gets "-ERR Protocol error: ..." and the
 * connection is closed once that reply is written: the parser never reads
 * past the limit, so nothing unbounded is held. Idle and handshake
 * deadlines are client_sweep.c's. Every refusal is logged with the client's
 * address, rate-limited (server_log_limited).
 *
 * TLS (--tls-port): a connection accepted there has a TLS session. What it
 * reads is ciphertext, decrypted (server_tls_input) into one buffer shared
 * by all clients, at most a read chunk at a time, and parsed as a plain
 * connection's bytes are; its replies are encrypted by server_out, one
 * record batch per write. A failed handshake (a plaintext client, garbage,
 * a certificate refused) is logged with its address and closed.
 */
#include <inttypes.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

#define CLIENT_READ_CHUNK (64u << 10)

static void client_on_closed(uv_handle_t *h)
{
    struct client *c = h->data;
    /* Only now, not in client_close(): that may run inside a router
     * callback (a reply past the output limit), which must not call back
     * into the router. Until here its operations go on as usual. */
    route_conn_closed(c->srv, &c->order);
    backup_client_closed(c->srv, c);
    if (c->draining) { /* off the list of clients with input to take up */
        struct client **p = &c->srv->drain_head;
        while (*p && *p != c)
            p = &(*p)->drain_next;
        if (*p)
            *p = c->drain_next;
    }
    multi_client_free(c);
    resp_buf_free(&c->held);
    resp_parser_free(&c->parser);
    server_out_free(&c->out);
    tls_session_free(c->tls);
    free(c);
}

static void client_req_free(struct client_req *r)
{
    for (size_t i = 0; i < r->n_ops; i++)
        kv_result_release(&r->results[i].kv);
    free(r->results);
    multi_req_free(r);
    resp_buf_free(&r->reply);
    free(r);
}

void client_close(struct client *c, const char *why)
{
    if (c->closing)
        return;
    c->closing = true;
    struct server *s = c->srv;
    server_log(SLOG_DEBUG, "client_closed", "client=%" PRIu64 " reason=\"%s\"", c->id, why);
    client_sweep_forget(s, c);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->n_clients--;
    if (c->tls)
        s->n_tls_clients--;
    /* Answered requests go now; the others are freed when they finish. */
    struct client_req *r = c->head;
    while (r) {
        struct client_req *next = r->next;
        if (r->done && !r->pinned)
            client_req_free(r);
        else
            r->client = NULL;
        r = next;
    }
    c->head = c->tail = NULL;
    uv_close((uv_handle_t *)&c->tcp, client_on_closed);
}

static void client_write_done(uv_write_t *w, int status)
{
    struct server_out *o = w->data;
    struct client *c = (struct client *)((char *)o - offsetof(struct client, out));
    o->writing = false;
    o->inflight.len = 0;
    if (c->closing)
        return;
    if (status < 0) {
        client_close(c, uv_strerror(status));
        return;
    }
    c->last_io_ms = server_now(c->srv);
    if (server_out_start(o, (uv_stream_t *)&c->tcp, client_write_done) != 0) {
        client_close(c, "TLS failed");
        return;
    }
    if (c->close_after_write && !o->writing && o->pending.len == 0)
        client_close(c, "closed after reply");
}

static void client_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    (void)h;
    (void)size;
    /* One buffer for every client: the parser copies what it keeps, so a
     * read's bytes are dead once client_read returns. */
    static char chunk[CLIENT_READ_CHUNK];
    *buf = uv_buf_init(chunk, sizeof chunk);
}

static void client_resume(struct client *c);

static void client_maybe_pause(struct client *c)
{
    if (c->reading &&
        (c->n_pending >= c->srv->opt.max_pending_per_client || multi_holds(c) || c->srv->apply_gate.paused)) {
        char addr[SERVER_ADDR_TEXT];
        server_log_limited(SLOG_DEBUG, "client_paused", "client=%" PRIu64 " addr=%s pending=%zu", c->id,
                           server_addr_text(&c->tcp, addr, sizeof addr), c->n_pending);
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

/* Parse and dispatch plaintext the client sent. */
/* Parse and dispatch commands while the connection's window
 * (--max-pending-per-client) has room; what is left is held, unparsed, until
 * answers free the window (client_resume, client_drain_held). So a pipeline
 * that arrives in one read runs at most a window's worth of commands at a
 * time, forwarded ones included. */
static void client_parse_input(struct client *c, const char *data, size_t n)
{
    size_t off = 0;
    while (off < n && !c->closing && !c->close_after_write) {
        /* Behind a full window, or an EXEC waiting for WATCH (multi.c). */
        if (c->n_pending >= c->srv->opt.max_pending_per_client || multi_holds(c)) {
            if (resp_buf_append(&c->held, data + off, n - off) != 0)
                client_close(c, "out of memory");
            return;
        }
        size_t used = 0;
        struct resp_request req = {0};
        int rc = resp_parse(&c->parser, data + off, n - off, &used, &req);
        off += used;
        if (rc == RESP_READY) {
            if (multi_defer_exec(c, &req))
                continue; /* taken over; what follows is held */
            int failed = commands_dispatch(c, &req);
            resp_request_release(&req);
            if (failed) {
                client_close(c, "out of memory");
                return;
            }
            continue;
        }
        if (rc < 0) {
            c->srv->stats.errors_protocol++;
            char addr[SERVER_ADDR_TEXT];
            server_log_limited(SLOG_INFO, "client_protocol_error", "client=%" PRIu64 " addr=%s reason=\"%s\"",
                               c->id, server_addr_text(&c->tcp, addr, sizeof addr), c->parser.err);
            /* Answer after the replies already owed, then close. */
            struct client_req *r = client_req_new(c);
            if (!r) {
                client_close(c, "out of memory");
                return;
            }
            char msg[160];
            snprintf(msg, sizeof msg, "ERR %s", c->parser.err);
            resp_write_error(&r->reply, msg);
            c->close_after_write = true;
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->reading = false;
            client_req_done(r);
            return;
        }
        break; /* NEED_MORE: all consumed */
    }
}

void client_input(struct client *c, const char *data, size_t n)
{
    if (c->held.len > 0 || multi_holds(c)) { /* behind what is held, in order */
        if (resp_buf_append(&c->held, data, n) != 0)
            client_close(c, "out of memory");
        return;
    }
    client_parse_input(c, data, n);
}

void client_drain_held(struct server *s)
{
    struct client *list = s->drain_head;
    s->drain_head = NULL;
    while (list) {
        struct client *c = list;
        list = c->drain_next;
        c->drain_next = NULL;
        c->draining = false;
        if (c->closing || c->close_after_write)
            continue;
        struct resp_request exec;
        if (multi_take_ready(c, &exec)) { /* an EXEC that waited for WATCH */
            int failed = commands_dispatch(c, &exec);
            resp_request_release(&exec);
            if (failed) {
                client_close(c, "out of memory");
                continue;
            }
        }
        struct resp_buf in = c->held;
        memset(&c->held, 0, sizeof c->held);
        client_parse_input(c, in.data, in.len);
        resp_buf_free(&in);
        if (c->closing)
            continue;
        if (c->held.len == 0)
            client_resume(c);
        else
            client_maybe_pause(c);
    }
}

/* Ciphertext from a TLS client: decrypt a chunk at a time and parse it. */
static void client_read_tls(struct client *c, const char *data, size_t n)
{
    /* Shared: the parser copies what it keeps, so each chunk is dead once
     * parsed (as client_alloc's buffer is). */
    static struct resp_buf plain;
    struct server *s = c->srv;
    bool was_established = tls_established(c->tls);
    int rc = server_tls_input(c->tls, data, n, &plain, CLIENT_READ_CHUNK);
    for (;;) {
        size_t got = plain.len;
        if (got > 0) {
            client_input(c, plain.data, got);
            plain.len = 0;
        }
        /* A full chunk: more may wait decrypted in the session. */
        if (rc != 0 || got < CLIENT_READ_CHUNK || c->closing || c->close_after_write)
            break;
        rc = server_tls_input(c->tls, NULL, 0, &plain, CLIENT_READ_CHUNK);
    }
    if (!c->tls_counted && tls_established(c->tls)) {
        c->tls_counted = true;
        s->stats.tls_handshakes++;
        server_log(SLOG_DEBUG, "client_tls_ready", "client=%" PRIu64 " verified=%d cn=\"%s\"", c->id,
                   tls_peer_verified(c->tls) ? 1 : 0, tls_peer_common_name(c->tls));
    }
    if (rc == TLS_CLOSED) {
        client_close(c, "closed by client (TLS close_notify)");
        return;
    }
    if (rc == TLS_FAILED && !c->closing) {
        if (!was_established && !tls_established(c->tls))
            s->stats.tls_handshake_failures++;
        client_tls_log_failure(c, tls_error(c->tls));
        /* Send the alert OpenSSL wrote, if it can go at once, then close. */
        c->close_after_write = true;
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
        if (server_out_start(&c->out, (uv_stream_t *)&c->tcp, client_write_done) != 0 || !c->out.writing)
            client_close(c, "TLS failed");
    }
}

static void client_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct client *c = st->data;
    loop_watch_note(&c->srv->loop_watch, LOOP_CB_CLIENT_READ);
    if (n < 0) {
        client_close(c, n == UV_EOF ? "closed by client" : uv_strerror((int)n));
        return;
    }
    c->last_io_ms = server_now(c->srv);
    if (c->tls)
        client_read_tls(c, buf->base, (size_t)n);
    else
        client_input(c, buf->base, (size_t)n);
    if (!c->closing)
        client_maybe_pause(c);
}

struct client_req *client_req_new(struct client *c)
{
    struct client_req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->client = c;
    if (c->tail)
        c->tail->next = r;
    else
        c->head = r;
    c->tail = r;
    c->n_pending++;
    return r;
}

/* libuv needs the read callback again when resuming. Held input goes first:
 * it is taken up at the end of the batch (client_drain_held), not here,
 * inside the completion of another command. */
static void client_resume(struct client *c)
{
    if (c->closing || c->close_after_write || c->srv->shutting_down || c->srv->apply_gate.paused ||
        c->n_pending > c->srv->opt.max_pending_per_client / 2)
        return;
    if (multi_holds(c) && !multi_exec_ready(c))
        return; /* an EXEC waits for WATCH: nothing moves before it */
    if (c->held.len > 0 || multi_holds(c)) {
        if (!c->draining) {
            c->draining = true;
            c->drain_next = c->srv->drain_head;
            c->srv->drain_head = c;
        }
        return;
    }
    if (!c->reading) {
        c->reading = true;
        uv_read_start((uv_stream_t *)&c->tcp, client_alloc, client_read);
    }
}

/* Record how long a data command took, from parsed to answered. */
static void client_req_latency(struct server *s, const struct client_req *r)
{
    uint64_t us = (uv_hrtime() - r->started_ns) / 1000;
    s->stats.latency_us_sum += us;
    int b = 0;
    while (us > 1 && b < SERVER_LATENCY_BUCKETS - 1) {
        us >>= 1;
        b++;
    }
    s->stats.latency_us_hist[b]++;
}

void client_req_done(struct client_req *r)
{
    if (!r->done) { /* once; again only to flush after its handler (pinned) */
        r->done = true;
        multi_req_ended(r);
        if (r->data && r->client)
            client_req_latency(r->client->srv, r);
    }
    struct client *c = r->client;
    if (!c) {
        if (!r->pinned)
            client_req_free(r);
        return;
    }
    while (c->head && c->head->done && !c->head->pinned) {
        struct client_req *h = c->head;
        c->head = h->next;
        if (!c->head)
            c->tail = NULL;
        c->n_pending--;
        if (c->out.pending.len == 0 && h->reply.len > c->out.pending.cap) {
            /* A reply larger than the buffer it would be copied into (a
             * KEYS of megabytes) becomes the pending output itself. */
            struct resp_buf t = c->out.pending;
            c->out.pending = h->reply;
            h->reply = t;
        } else if (resp_buf_append(&c->out.pending, h->reply.data, h->reply.len) != 0) {
            client_req_free(h);
            client_close(c, "out of memory");
            return;
        }
        client_req_free(h);
    }
    if (server_out_bytes(&c->out) > c->srv->opt.max_output_bytes) {
        char addr[SERVER_ADDR_TEXT];
        server_log_limited(SLOG_WARN, "client_output_limit", "client=%" PRIu64 " addr=%s bytes=%zu", c->id,
                           server_addr_text(&c->tcp, addr, sizeof addr), server_out_bytes(&c->out));
        client_close(c, "output limit");
        return;
    }
    client_resume(c);
}

/* "ip:port" of a socket address. */
static void format_addr(const struct sockaddr_storage *sa, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        uv_ip4_name(in, ip, sizeof ip);
        port = ntohs(in->sin_port);
    } else if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        uv_ip6_name(in6, ip, sizeof ip);
        port = ntohs(in6->sin6_port);
    }
    snprintf(out, cap, "%s:%d", ip, port);
}

/* Protected mode (acl.h): true if c was refused (answered, to be closed). */
static bool client_protected_refuse(struct server *s, struct client *c, const struct sockaddr_storage *peer)
{
    if (!acl_protected_refuses(&s->acl, s->opt.protected_mode, (const struct sockaddr *)peer))
        return false;
    s->stats.protected_refused++;
    server_log_limited(SLOG_WARN, "client_refused_protected_mode", "addr=%s", c->addr);
    resp_write_error(&c->out.pending, acl_protected_mode_error);
    return true;
}

static void client_on_connection(uv_stream_t *listener, int status)
{
    struct server *s = listener->data;
    loop_watch_note(&s->loop_watch, LOOP_CB_CLIENT_CONN);
    if (status < 0) {
        server_log_limited(SLOG_WARN, "accept_failed", "reason=\"%s\"", uv_strerror(status));
        return;
    }
    /* Always accept: libuv stops watching a listener whose connection
     * was left unaccepted. */
    struct client *c = calloc(1, sizeof *c);
    if (!c) {
        server_log_limited(SLOG_ERROR, "accept_failed", "reason=\"out of memory\"");
        return;
    }
    c->srv = s;
    c->id = ++s->next_client_id;
    c->proto = 2;
    resp_parser_init(&c->parser, &s->opt.limits);
    uv_tcp_init(s->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, client_on_closed);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    struct sockaddr_storage peer = {0}, local = {0};
    int alen = sizeof peer;
    uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&peer, &alen);
    alen = sizeof local;
    uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&local, &alen);
    format_addr(&peer, c->addr, sizeof c->addr);
    format_addr(&local, c->laddr, sizeof c->laddr);
    c->connected_ms = uv_hrtime() / 1000000;
    /* With the default user open, every connection starts as it (Redis). */
    c->user = acl_default_open(&s->acl) ? acl_default_user(&s->acl) : NULL;
    c->last_io_ms = server_now(s);
    if (s->opt.client_handshake_timeout_ms)
        c->handshake_deadline_ms = c->last_io_ms + s->opt.client_handshake_timeout_ms;
    c->next = s->clients;
    if (c->next)
        c->next->prev = c;
    s->clients = c;
    s->n_clients++;
    if (listener == (uv_stream_t *)&s->client_tls_listener) {
        c->tls = tls_session_new(s->client_tls, NULL);
        if (!c->tls) {
            client_close(c, "out of memory");
            return;
        }
        c->out.tls = c->tls;
        s->n_tls_clients++;
    }
    if (s->shutting_down) {
        client_close(c, "shutting down");
        return;
    }
    bool over = s->n_clients > s->opt.max_clients;
    if (over || client_protected_refuse(s, c, &peer)) {
        s->stats.clients_refused++;
        if (over) {
            char addr[SERVER_ADDR_TEXT];
            server_log_limited(SLOG_WARN, "client_refused", "addr=%s reason=\"max clients\" max_clients=%zu",
                               server_addr_text(&c->tcp, addr, sizeof addr), s->opt.max_clients);
            resp_write_error(&c->out.pending, "ERR max number of clients reached");
        }
        c->close_after_write = true;
        if (c->tls) {
            /* The error can only go out encrypted: read until the handshake
             * is done (the handshake deadline bounds one that never is),
             * then it is written and the connection closed, as Redis does. */
            c->reading = true;
            uv_read_start((uv_stream_t *)&c->tcp, client_alloc, client_read);
            return;
        }
        server_out_start(&c->out, (uv_stream_t *)&c->tcp, client_write_done);
        if (!c->out.writing)
            client_close(c, over ? "max clients" : "protected mode");
        return;
    }
    s->stats.clients_accepted++;
    c->reading = true;
    uv_read_start((uv_stream_t *)&c->tcp, client_alloc, client_read);
}

static int client_listen(struct server *s, uv_tcp_t *listener, bool *open, int port_no, const char *what)
{
    struct sockaddr_storage addr;
    char port[16];
    snprintf(port, sizeof port, "%d", port_no);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    int grc = getaddrinfo(s->opt.listen_host, port, &hints, &res);
    if (grc != 0 || !res) {
        const char *why = grc ? gai_strerror(grc) : "no address";
        server_log(SLOG_ERROR, "listen_failed", "addr=%s:%d reason=\"cannot resolve %s: %s\" detail=\"this "
                   "member's own client address (--listen) does not resolve\"", s->opt.listen_host, port_no,
                   s->opt.listen_host, why);
        snprintf(s->start_error, sizeof s->start_error, "cannot resolve this member's own client address (--listen %.256s): %.80s",
                 s->opt.listen_host, why);
        return -1;
    }
    memcpy(&addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    uv_tcp_init(s->loop, listener);
    *open = true;
    listener->data = s;
    int rc = uv_tcp_bind(listener, (const struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)listener, 511, client_on_connection);
    if (rc != 0) {
        server_log(SLOG_ERROR, "listen_failed", "addr=%s:%d reason=\"%s\"", s->opt.listen_host, port_no,
                   uv_strerror(rc));
        snprintf(s->start_error, sizeof s->start_error, "cannot listen on the client address %.256s:%d: %.80s",
                 s->opt.listen_host, port_no, uv_strerror(rc));
        return -1;
    }
    server_log(SLOG_INFO, "client_listening", "addr=%s:%d %s", s->opt.listen_host, port_no, what);
    return 0;
}

int client_start(struct server *s)
{
    if (s->opt.listen_port != 0 &&
        client_listen(s, &s->client_listener, &s->client_listener_open, s->opt.listen_port, "tls=no") != 0)
        return -1;
    if (s->opt.tls_port != 0 &&
        client_listen(s, &s->client_tls_listener, &s->client_tls_listener_open, s->opt.tls_port, "tls=yes") != 0)
        return -1;
    client_sweep_start(s);
    return 0;
}

void client_stop_accepting(struct server *s)
{
    if (s->client_listener_open && !uv_is_closing((uv_handle_t *)&s->client_listener))
        uv_close((uv_handle_t *)&s->client_listener, NULL);
    if (s->client_tls_listener_open && !uv_is_closing((uv_handle_t *)&s->client_tls_listener))
        uv_close((uv_handle_t *)&s->client_tls_listener, NULL);
}

void client_stop_reading_all(struct server *s)
{
    for (struct client *c = s->clients; c; c = c->next)
        if (c->reading) {
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->reading = false;
        }
}

void client_resume_reading_all(struct server *s)
{
    for (struct client *c = s->clients; c; c = c->next)
        client_resume(c);
}

void client_close_all(struct server *s)
{
    client_sweep_stop(s);
    while (s->clients)
        client_close(s->clients, "shutdown");
}

void client_flush_writes(struct server *s)
{
    struct client *c = s->clients;
    while (c) {
        struct client *next = c->next;
        if (!c->closing) {
            if (server_out_start(&c->out, (uv_stream_t *)&c->tcp, client_write_done) != 0) {
                client_close(c, "TLS failed");
                c = next;
                continue;
            }
            if (c->close_after_write && !c->out.writing && c->out.pending.len == 0 && !c->head)
                client_close(c, "closed after reply");
        }
        c = next;
    }
}

size_t client_pending_total(const struct server *s)
{
    size_t n = 0;
    for (const struct client *c = s->clients; c; c = c->next)
        n += c->n_pending;
    return n;
}
