/* metrics_http.c - the metrics port (--metrics-listen): a small HTTP/1.1
 * server on the server's libuv loop answering GET /metrics (metrics.c's
 * Prometheus text), GET /health (200 or 503 with the reason) and 404
 * otherwise. One request per connection (the answer says Connection:
 * close). Hostile input is bounded: the head may be HTTP_MAX_REQUEST_BYTES,
 * a connection lives --metrics-timeout-ms at most, and at most
 * --metrics-max-clients are open; nothing here blocks the loop. No
 * authentication: keep the port on loopback or a private network. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/http_request.h"
#include "server/server_internal.h"

/* After the answer, input is read and dropped until the client closes (so
 * the answer is not lost to a reset), at most this much. */
#define METRICS_LINGER_BYTES (1u << 20)

enum metrics_conn_state { MC_READING, MC_WRITING, MC_LINGER, MC_CLOSING };

struct metrics_conn {
    struct metrics_http *http;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wreq;
    uv_shutdown_t sreq;
    enum metrics_conn_state state;
    int open_handles;
    bool eof; /* the client's end came while the answer was being written */
    char in[HTTP_MAX_REQUEST_BYTES];
    size_t in_len, dropped;
    char scratch[4096]; /* what lingering reads land in */
    struct resp_buf out;
    char addr[SERVER_ADDR_TEXT];
    struct metrics_conn *prev, *next;
};

struct metrics_http {
    struct server *srv;
    uv_tcp_t listener;
    bool listener_open;
    struct metrics_conn *conns;
    size_t n_conns;
    uint64_t requests, refused, bad_requests;
};

static void mc_handle_closed(uv_handle_t *h)
{
    struct metrics_conn *c = h->data;
    if (--c->open_handles > 0)
        return;
    struct metrics_http *m = c->http;
    if (c->prev)
        c->prev->next = c->next;
    else
        m->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    m->n_conns--;
    resp_buf_free(&c->out);
    free(c);
}

static void mc_close(struct metrics_conn *c)
{
    if (c->state == MC_CLOSING)
        return;
    c->state = MC_CLOSING;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, mc_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, mc_handle_closed);
}

static void mc_timeout(uv_timer_t *t)
{
    struct metrics_conn *c = t->data;
    if (c->state == MC_READING)
        server_log_limited(SLOG_WARN, "metrics_timeout", "addr=%s bytes=%zu", c->addr, c->in_len);
    mc_close(c);
}

static void mc_shutdown_done(uv_shutdown_t *req, int status)
{
    struct metrics_conn *c = req->data;
    (void)status;
    if (c->state != MC_LINGER)
        return;
    /* Wait a little for the client's end (reading already goes on). */
    uv_timer_start(&c->timer, mc_timeout, 1000, 0);
}

static void mc_write_done(uv_write_t *req, int status)
{
    struct metrics_conn *c = req->data;
    if (c->state != MC_WRITING)
        return;
    if (status != 0 || c->eof) {
        mc_close(c);
        return;
    }
    c->state = MC_LINGER;
    c->sreq.data = c;
    if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, mc_shutdown_done) != 0)
        mc_close(c);
}

static const char *mc_reason(int code)
{
    switch (code) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Error";
    }
}

/* Answer and end the connection: the head, then body unless HEAD. */
static void mc_respond(struct metrics_conn *c, int code, const char *content_type, const char *body,
                       size_t body_len, bool head_only)
{
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n"
                     "Cache-Control: no-store\r\n%s\r\n",
                     code, mc_reason(code), content_type, body_len, code == 405 ? "Allow: GET, HEAD\r\n" : "");
    resp_buf_free(&c->out);
    if (resp_buf_append(&c->out, head, (size_t)n) != 0 ||
        (!head_only && body_len && resp_buf_append(&c->out, body, body_len) != 0)) {
        mc_close(c);
        return;
    }
    c->state = MC_WRITING;
    /* The write may take the rest of the connection's time, no more. */
    uv_timer_start(&c->timer, mc_timeout, c->http->srv->opt.metrics_timeout_ms, 0);
    uv_buf_t buf = uv_buf_init(c->out.data, (unsigned)c->out.len);
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &buf, 1, mc_write_done) != 0)
        mc_close(c);
}

static void mc_text(struct metrics_conn *c, int code, const char *text, bool head_only)
{
    char body[512];
    int n = snprintf(body, sizeof body, "%s\n", text);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof body)
        n = (int)sizeof body - 1;
    mc_respond(c, code, "text/plain; charset=utf-8", body, (size_t)n, head_only);
}

static void mc_serve(struct metrics_conn *c, const struct http_request *req)
{
    struct server *s = c->http->srv;
    bool head_only = strcmp(req->method, "HEAD") == 0;
    c->http->requests++;
    if (req->has_body) {
        c->http->bad_requests++;
        mc_text(c, 400, "request bodies are not accepted", false);
        return;
    }
    if (strcmp(req->method, "GET") != 0 && !head_only) {
        mc_text(c, 405, "only GET and HEAD", false);
        return;
    }
    if (strcmp(req->path, "/metrics") == 0) {
        struct resp_buf b = {0};
        metrics_write(s, &b);
        mc_respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", b.data ? b.data : "", b.len, head_only);
        resp_buf_free(&b);
    } else if (strcmp(req->path, "/health") == 0) {
        char reason[300];
        int code = metrics_health(s, reason, sizeof reason);
        mc_text(c, code, reason, head_only);
    } else {
        mc_text(c, 404, "not found: try /metrics or /health", head_only);
    }
}

static void mc_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct metrics_conn *c = h->data;
    (void)suggested;
    if (c->state == MC_READING && c->in_len < sizeof c->in)
        *buf = uv_buf_init(c->in + c->in_len, (unsigned)(sizeof c->in - c->in_len));
    else
        *buf = uv_buf_init(c->scratch, sizeof c->scratch);
}

static void mc_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct metrics_conn *c = st->data;
    loop_watch_note(&c->http->srv->loop_watch, LOOP_CB_METRICS);
    (void)buf;
    if (nread == 0 || c->state == MC_CLOSING)
        return;
    if (nread < 0) {
        /* EOF or an error: in LINGER that is the end we waited for; while
         * WRITING, the write callback ends it. */
        if (c->state != MC_WRITING)
            mc_close(c);
        else
            c->eof = true;
        return;
    }
    if (c->state != MC_READING) {
        c->dropped += (size_t)nread;
        if (c->dropped > METRICS_LINGER_BYTES)
            mc_close(c);
        return;
    }
    c->in_len += (size_t)nread;
    struct http_request req;
    int rc = http_parse_request(c->in, c->in_len, sizeof c->in, &req);
    if (rc == HTTP_PARSE_INCOMPLETE)
        return;
    if (rc == HTTP_PARSE_DONE) {
        mc_serve(c, &req);
        return;
    }
    c->http->bad_requests++;
    server_log_limited(SLOG_WARN, "metrics_bad_request", "addr=%s status=%d reason=\"%s\"", c->addr,
                       http_parse_status(rc), req.error ? req.error : "?");
    mc_text(c, http_parse_status(rc), req.error ? req.error : "bad request", false);
}

static void mc_refused_closed(uv_handle_t *h)
{
    free(h);
}

static void metrics_on_connection(uv_stream_t *listener, int status)
{
    struct metrics_http *m = listener->data;
    struct server *s = m->srv;
    loop_watch_note(&s->loop_watch, LOOP_CB_METRICS);
    if (status != 0)
        return; /* while draining on SIGTERM it still answers: /health says "shutting down" */
    if (m->n_conns >= s->opt.metrics_max_clients) {
        uv_tcp_t *t = malloc(sizeof *t);
        if (!t)
            return;
        uv_tcp_init(s->loop, t);
        if (uv_accept(listener, (uv_stream_t *)t) == 0) {
            char addr[SERVER_ADDR_TEXT];
            server_log_limited(SLOG_WARN, "metrics_refused", "addr=%s reason=max_clients limit=%zu",
                               server_addr_text(t, addr, sizeof addr), s->opt.metrics_max_clients);
        }
        m->refused++;
        uv_close((uv_handle_t *)t, mc_refused_closed);
        return;
    }
    struct metrics_conn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->http = m;
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->open_handles = 2;
    c->next = m->conns;
    if (m->conns)
        m->conns->prev = c;
    m->conns = c;
    m->n_conns++;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        mc_close(c);
        return;
    }
    server_addr_text(&c->tcp, c->addr, sizeof c->addr);
    uv_timer_start(&c->timer, mc_timeout, s->opt.metrics_timeout_ms, 0);
    if (uv_read_start((uv_stream_t *)&c->tcp, mc_alloc, mc_read) != 0)
        mc_close(c);
}

int metrics_http_start(struct server *s)
{
    const struct server_options *o = &s->opt;
    if (!o->metrics_listen_set)
        return 0;
    struct metrics_http *m = calloc(1, sizeof *m);
    if (!m)
        return -1;
    m->srv = s;
    s->metrics_http = m;
    struct sockaddr_storage addr;
    int rc = uv_ip4_addr(o->metrics_host, o->metrics_port, (struct sockaddr_in *)&addr);
    if (rc != 0)
        rc = uv_ip6_addr(o->metrics_host, o->metrics_port, (struct sockaddr_in6 *)&addr);
    if (rc == 0) {
        uv_tcp_init(s->loop, &m->listener);
        m->listener.data = m;
        m->listener_open = true;
        rc = uv_tcp_bind(&m->listener, (const struct sockaddr *)&addr, 0);
        if (rc == 0)
            rc = uv_listen((uv_stream_t *)&m->listener, 128, metrics_on_connection);
    }
    if (rc != 0) {
        server_log(SLOG_ERROR, "metrics_listen_failed", "addr=%s:%d reason=\"%s\"", o->metrics_host, o->metrics_port,
                   uv_strerror(rc));
        return -1;
    }
    server_log(SLOG_INFO, "metrics_listening",
               "addr=%s:%d paths=/metrics,/health auth=none max_clients=%zu timeout_ms=%" PRIu64, o->metrics_host,
               o->metrics_port, o->metrics_max_clients, o->metrics_timeout_ms);
    return 0;
}

void metrics_http_stop(struct server *s)
{
    struct metrics_http *m = s->metrics_http;
    if (!m)
        return;
    if (m->listener_open && !uv_is_closing((uv_handle_t *)&m->listener))
        uv_close((uv_handle_t *)&m->listener, NULL);
    for (struct metrics_conn *c = m->conns; c; c = c->next)
        mc_close(c);
}

void metrics_http_free(struct server *s)
{
    /* Every connection was freed by its close callbacks when the loop ran
     * them; the listener is closed by then. */
    free(s->metrics_http);
    s->metrics_http = NULL;
}
