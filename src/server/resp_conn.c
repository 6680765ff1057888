/* resp_conn.c - a blocking RESP client connection (resp_conn.h). */
#include "server/resp_conn.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "net/tls.h"

struct resp_conn {
    int fd;
    struct tls_ctx *ctx;
    struct tls_session *tls;
    char *buf; /* replies read, not yet consumed: buf[off..len) */
    size_t off, len, cap;
    size_t consumed; /* the reply handed out last: dropped at the next read */
};

int resp_conn_parse_addr(const char *s, char *host, size_t hostlen, int *port)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || !colon[1])
        return -1;
    const char *h = s;
    size_t hl = (size_t)(colon - s);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || p <= 0 || p > 65535 || hl == 0 || hl >= hostlen)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}

static int raw_send(struct resp_conn *c, const void *data, size_t n, char *err, size_t errlen)
{
    const char *p = data;
    while (n) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            snprintf(err, errlen, "send: %s", w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)
                                                  ? "timed out" : strerror(errno));
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Ciphertext the session has for the network, sent. */
static int flush_tls(struct resp_conn *c, char *err, size_t errlen)
{
    char out[16384];
    size_t n;
    while ((n = tls_take(c->tls, out, sizeof out)) > 0)
        if (raw_send(c, out, n, err, errlen) != 0)
            return -1;
    return 0;
}

/* Bytes from the socket: > 0, or -1 with err. */
static ssize_t raw_recv(struct resp_conn *c, void *buf, size_t cap, char *err, size_t errlen)
{
    for (;;) {
        ssize_t n = recv(c->fd, buf, cap, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n > 0)
            return n;
        if (n == 0)
            snprintf(err, errlen, "the server closed the connection");
        else
            snprintf(err, errlen, "recv: %s",
                     errno == EAGAIN || errno == EWOULDBLOCK ? "timed out" : strerror(errno));
        return -1;
    }
}

/* Bytes from the socket into the TLS session: 0, or -1 with err. */
static int recv_into_tls(struct resp_conn *c, char *err, size_t errlen)
{
    char in[16384];
    ssize_t r = raw_recv(c, in, sizeof in, err, errlen);
    if (r < 0)
        return -1;
    if (tls_feed(c->tls, in, (size_t)r) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* More plaintext into buf (at least one byte), or -1. */
static int fill(struct resp_conn *c, char *err, size_t errlen)
{
    if (c->off > 0 && c->off == c->len)
        c->off = c->len = 0;
    if (c->cap - c->len < 65536) {
        if (c->off) {
            memmove(c->buf, c->buf + c->off, c->len - c->off);
            c->len -= c->off;
            c->off = 0;
        }
        if (c->cap - c->len < 65536) {
            size_t cap = c->cap ? c->cap * 2 : 131072;
            char *nb = realloc(c->buf, cap);
            if (!nb) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            c->buf = nb;
            c->cap = cap;
        }
    }
    if (!c->tls) {
        ssize_t n = raw_recv(c, c->buf + c->len, c->cap - c->len, err, errlen);
        if (n < 0)
            return -1;
        c->len += (size_t)n;
        return 0;
    }
    for (;;) {
        ssize_t n = tls_read(c->tls, c->buf + c->len, c->cap - c->len);
        if (flush_tls(c, err, errlen) != 0)
            return -1;
        if (n > 0) {
            c->len += (size_t)n;
            return 0;
        }
        if (n < 0) {
            snprintf(err, errlen, "TLS: %s", n == TLS_CLOSED ? "the server closed the connection"
                                                             : tls_error(c->tls));
            return -1;
        }
        if (recv_into_tls(c, err, errlen) != 0)
            return -1;
    }
}

static int send_bytes(struct resp_conn *c, const void *data, size_t n, char *err, size_t errlen)
{
    if (!c->tls)
        return raw_send(c, data, n, err, errlen);
    if (tls_write(c->tls, data, n) != 0) {
        snprintf(err, errlen, "TLS: %s", tls_error(c->tls));
        return -1;
    }
    return flush_tls(c, err, errlen);
}

int resp_conn_send(struct resp_conn *c, int argc, const char *const *argv, char *err, size_t errlen)
{
    struct resp_buf b = {0};
    int rc = resp_write_array_len(&b, (size_t)argc);
    for (int i = 0; i < argc && rc == 0; i++)
        rc = resp_write_bulk(&b, argv[i], strlen(argv[i]));
    if (rc != 0) {
        resp_buf_free(&b);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    rc = send_bytes(c, b.data, b.len, err, errlen);
    resp_buf_free(&b);
    return rc;
}

int resp_conn_read(struct resp_conn *c, struct resp_reply *out, char *err, size_t errlen)
{
    c->off += c->consumed;
    c->consumed = 0;
    for (;;) {
        long n = resp_reply_parse(c->buf + c->off, c->len - c->off, out);
        if (n > 0) {
            c->consumed = (size_t)n;
            return 0;
        }
        if (n < 0) {
            snprintf(err, errlen, "malformed reply from the server");
            return -1;
        }
        if (c->len - c->off > RESP_CONN_MAX_REPLY) {
            snprintf(err, errlen, "a reply larger than %u bytes", RESP_CONN_MAX_REPLY);
            return -1;
        }
        if (fill(c, err, errlen) != 0)
            return -1;
    }
}

int resp_conn_wait(struct resp_conn *c, int ms)
{
    if (c->len - c->off > c->consumed || (c->tls && tls_has_input(c->tls)))
        return 1;
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    int n;
    do
        n = poll(&p, 1, ms);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -1 : n > 0;
}

static int dial(const char *host, int port, uint64_t timeout_ms, char *err, size_t errlen)
{
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int g = getaddrinfo(host, ps, &hints, &res);
    if (g != 0) {
        snprintf(err, errlen, "%s: %s", host, gai_strerror(g));
        return -1;
    }
    int fd = -1;
    struct timeval tv = {.tv_sec = (time_t)(timeout_ms / 1000), .tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000};
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        snprintf(err, errlen, "connect to %s:%d: %s", host, port, strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

static int handshake(struct resp_conn *c, const char *host, const struct resp_conn_options *o, char *err,
                     size_t errlen)
{
    struct tls_ctx_options to = {.role = TLS_ROLE_CLIENT, .cert_file = o->cert, .key_file = o->key,
                                 .ca_file = o->cacert};
    c->ctx = tls_ctx_new(&to, err, errlen);
    if (!c->ctx)
        return -1;
    c->tls = tls_session_new(c->ctx, o->sni ? o->sni : host);
    if (!c->tls || tls_start(c->tls) != 0) {
        snprintf(err, errlen, "TLS: cannot start a session%s%s", c->tls ? ": " : "",
                 c->tls ? tls_error(c->tls) : "");
        return -1;
    }
    while (!tls_established(c->tls)) {
        if (flush_tls(c, err, errlen) != 0)
            return -1;
        if (recv_into_tls(c, err, errlen) != 0)
            return -1;
        char plain[4096];
        ssize_t n = tls_read(c->tls, plain, sizeof plain);
        if (n < 0) {
            snprintf(err, errlen, "TLS handshake: %s", tls_error(c->tls));
            return -1;
        }
        if (n > 0) { /* the server spoke first: keep it for resp_conn_read */
            char *nb = realloc(c->buf, c->len + (size_t)n);
            if (!nb) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            c->buf = nb;
            memcpy(c->buf + c->len, plain, (size_t)n);
            c->len += (size_t)n;
            c->cap = c->len;
        }
    }
    return flush_tls(c, err, errlen);
}

struct resp_conn *resp_conn_open(const char *host, int port, const struct resp_conn_options *o,
                                 char *err, size_t errlen)
{
    struct resp_conn *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->fd = dial(host, port, o->timeout_ms ? o->timeout_ms : 60000, err, errlen);
    if (c->fd < 0 || (o->tls && handshake(c, host, o, err, errlen) != 0)) {
        resp_conn_close(c);
        return NULL;
    }
    if (o->pass) {
        const char *argv[3] = {"AUTH", o->user ? o->user : o->pass, o->pass};
        struct resp_reply r;
        if (resp_conn_send(c, o->user ? 3 : 2, argv, err, errlen) != 0 ||
            resp_conn_read(c, &r, err, errlen) != 0) {
            resp_conn_close(c);
            return NULL;
        }
        if (r.type == RESP_R_ERROR) {
            snprintf(err, errlen, "AUTH: %.*s", (int)(r.len > 200 ? 200 : r.len), r.str);
            resp_conn_close(c);
            return NULL;
        }
    }
    return c;
}

void resp_conn_close(struct resp_conn *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    tls_session_free(c->tls);
    tls_ctx_free(c->ctx);
    free(c->buf);
    free(c);
}
