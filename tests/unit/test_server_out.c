/* test_server_out.c - a connection's output buffer (src/server/server_out.c)
 * on a real libuv stream: one end of a socketpair is a uv_pipe_t the
 * buffer writes to, the test reads the other end raw (and, on TLS, decrypts
 * it with the client's session of a pair handshaken in memory). Every byte
 * appended must arrive once, in order; and a queue a flow-controlled
 * producer keeps topped up must not grow with what the link ever sent. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "net/certs.h"
#include "net/tls.h"
#include "server/server_internal.h"
#include "tls_test_util.h"

static char dir[64], other[64];

static void setup(void)
{
    ttu_make_clusters(dir, other, sizeof dir, "sout", "n2", CERTS_MEMBER);
}

static void teardown(void)
{
    ttu_rmdir(dir);
    ttu_rmdir(other);
}

TestSuite(server_out, .init = setup, .fini = teardown);

/* The byte stream every test sends: position i holds pattern[i % PERIOD].
 * The period is prime, so a part lost, repeated or moved by a power of two
 * (a MiB of TLS gather) shows. */
#define PERIOD 1000003u
static unsigned char pattern[PERIOD];

static void pattern_init(void)
{
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < PERIOD; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        pattern[i] = (unsigned char)(x >> 24);
    }
}

/* The writing end, the reading end, and the client's session on TLS. */
struct rig {
    uv_loop_t loop;
    uv_pipe_t pipe;
    int raw; /* the test's end of the socketpair */
    struct server_out out;
    struct tls_ctx *sc, *cc;
    struct tls_session *server, *client;
    uint64_t produced, consumed;
};

static struct tls_ctx *ctx(enum tls_role role, const char *name, enum tls_client_auth auth)
{
    char cert[128], key[128], ca[128], err[512];
    snprintf(cert, sizeof cert, "%s/%s.crt", dir, name);
    snprintf(key, sizeof key, "%s/%s.key", dir, name);
    snprintf(ca, sizeof ca, "%s/ca.crt", dir);
    struct tls_ctx_options o = {.role = role,
                                .cert_file = cert,
                                .key_file = key,
                                .ca_file = ca,
                                .client_auth = auth,
                                .tls13_only = true};
    struct tls_ctx *c = tls_ctx_new(&o, err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    return c;
}

static void pump(struct tls_session *a, struct tls_session *b)
{
    char buf[4096];
    size_t n;
    while ((n = tls_take(a, buf, sizeof buf)) > 0)
        cr_assert_eq(tls_feed(b, buf, n), 0);
}

/* The handshake in memory, as peers make it; what the server still has to
 * send after it (tickets) goes through the buffer like anything else. */
static void handshake(struct rig *r)
{
    r->sc = ctx(TLS_ROLE_SERVER, "n1", TLS_CLIENT_CERT_REQUIRED);
    r->cc = ctx(TLS_ROLE_CLIENT, "n2", TLS_CLIENT_CERT_NONE);
    r->server = tls_session_new(r->sc, NULL);
    r->client = tls_session_new(r->cc, "n1");
    cr_assert_eq(tls_start(r->client), 0);
    char buf[64];
    for (int round = 0; round < 10 && !(tls_established(r->client) && tls_established(r->server)); round++) {
        pump(r->client, r->server);
        cr_assert_geq(tls_read(r->server, buf, sizeof buf), 0, "%s", tls_error(r->server));
        pump(r->server, r->client);
        cr_assert_geq(tls_read(r->client, buf, sizeof buf), 0, "%s", tls_error(r->client));
    }
    cr_assert(tls_established(r->client) && tls_established(r->server));
    r->out.tls = r->server;
}

static void rig_open(struct rig *r, bool tls)
{
    memset(r, 0, sizeof *r);
    pattern_init();
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    cr_assert_eq(fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK), 0);
    r->raw = sv[1];
    cr_assert_eq(uv_loop_init(&r->loop), 0);
    cr_assert_eq(uv_pipe_init(&r->loop, &r->pipe, 0), 0);
    cr_assert_eq(uv_pipe_open(&r->pipe, sv[0]), 0);
    r->pipe.data = r;
    if (tls)
        handshake(r);
}

static void rig_close(struct rig *r)
{
    uv_close((uv_handle_t *)&r->pipe, NULL);
    cr_assert_eq(uv_run(&r->loop, UV_RUN_DEFAULT), 0);
    cr_assert_eq(uv_loop_close(&r->loop), 0);
    close(r->raw);
    server_out_free(&r->out);
    if (r->server) {
        tls_session_free(r->server);
        tls_session_free(r->client);
        tls_ctx_free(r->sc);
        tls_ctx_free(r->cc);
    }
}

/* As client.c and peer.c do: the write is done, start the next. */
static void write_done(uv_write_t *w, int status)
{
    struct server_out *o = w->data;
    struct rig *r = (struct rig *)((char *)o - offsetof(struct rig, out));
    o->writing = false;
    o->inflight.len = 0;
    cr_assert_eq(status, 0, "%s", uv_strerror(status));
    cr_assert_eq(server_out_start(o, (uv_stream_t *)&r->pipe, write_done), 0);
}

/* Queue the next n bytes of the stream. */
static void produce(struct rig *r, size_t n)
{
    while (n > 0) {
        size_t at = (size_t)(r->produced % PERIOD);
        size_t k = n < PERIOD - at ? n : PERIOD - at;
        cr_assert_eq(resp_buf_append(&r->out.pending, pattern + at, k), 0);
        r->produced += k;
        n -= k;
    }
}

/* Plaintext that arrived: it must be the stream's next bytes. */
static void check(struct rig *r, const unsigned char *p, size_t n)
{
    cr_assert_leq(r->consumed + n, r->produced, "%llu bytes arrived, %llu sent",
                  (unsigned long long)(r->consumed + n), (unsigned long long)r->produced);
    while (n > 0) {
        size_t at = (size_t)(r->consumed % PERIOD);
        size_t k = n < PERIOD - at ? n : PERIOD - at;
        cr_assert_eq(memcmp(p, pattern + at, k), 0, "wrong bytes at offset %llu", (unsigned long long)r->consumed);
        r->consumed += k;
        p += k;
        n -= k;
    }
}

/* Read what the socket has (decrypting it on TLS). */
static void drain(struct rig *r)
{
    static unsigned char wire[256 << 10], plain[64 << 10];
    for (;;) {
        ssize_t n = read(r->raw, wire, sizeof wire);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        cr_assert_gt(n, 0, "read: %s", n < 0 ? strerror(errno) : "end of stream");
        if (!r->client) {
            check(r, wire, (size_t)n);
            continue;
        }
        cr_assert_eq(tls_feed(r->client, wire, (size_t)n), 0);
        ssize_t k;
        while ((k = tls_read(r->client, plain, sizeof plain)) > 0)
            check(r, plain, (size_t)k);
        cr_assert_eq(k, 0, "%s", tls_error(r->client));
    }
}

/* One turn of the server's loop: start the write (server_after_io), let
 * libuv run, read the other end. */
static void turn(struct rig *r)
{
    cr_assert_eq(server_out_start(&r->out, (uv_stream_t *)&r->pipe, write_done), 0);
    uv_run(&r->loop, UV_RUN_NOWAIT);
    drain(r);
}

/* Until everything queued has arrived and the buffer is idle. */
static void finish(struct rig *r)
{
    for (int idle = 0; r->consumed < r->produced || r->out.writing; idle++) {
        cr_assert_lt(idle, 1000000, "stuck at %llu of %llu", (unsigned long long)r->consumed,
                     (unsigned long long)r->produced);
        turn(r);
    }
    cr_assert_eq(r->consumed, r->produced);
    cr_assert_eq(server_out_bytes(&r->out), 0);
}

/* Replies of all sizes, one of 5 MiB (more than a TLS write encrypts and
 * than the socket buffer holds), some queued while others are in flight. */
static void round_trip(bool tls)
{
    struct rig r;
    rig_open(&r, tls);
    static const size_t sizes[] = {1, 17, 4096, 100000, (5u << 20) + 3, 70000, 2, (1u << 20), 65536, 9};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        produce(&r, sizes[i]);
        if (i % 3 == 2)
            turn(&r);
    }
    finish(&r);
    /* A second batch on the same connection, after it went idle. */
    produce(&r, 300000);
    produce(&r, 5);
    finish(&r);
    cr_assert_eq(r.consumed, 6531120u + 300005u);
    rig_close(&r);
}

Test(server_out, tls_replies_arrive_once_in_order)
{
    round_trip(true);
}

Test(server_out, plaintext_replies_arrive_once_in_order)
{
    round_trip(false);
}

/* A snapshot streamed over a TLS peer link: 256 KiB frames queued whenever
 * less than 4 MiB waits, so the queue never empties. Its buffer must stay
 * near what waits (about twice it, plus a write's MiB), not grow toward the
 * 256 MiB the link sent. */
Test(server_out, a_queue_that_never_empties_stays_bounded)
{
    struct rig r;
    rig_open(&r, true);
    const uint64_t total = 256u << 20;
    while (r.produced < total) {
        while (r.produced < total && server_out_bytes(&r.out) < (4u << 20))
            produce(&r, 256u << 10);
        turn(&r);
        cr_assert_leq(r.out.pending.cap, 16u << 20, "pending grew to %zu bytes after %llu sent", r.out.pending.cap,
                      (unsigned long long)r.consumed);
    }
    finish(&r);
    cr_assert_eq(r.consumed, 256u << 20);
    rig_close(&r);
}
