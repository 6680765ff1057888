/* test_peer_gate.c - what an inbound peer connection must pass before its
 * frames are read (src/server/peer_gate.h): 64 KiB before authentication,
 * the handshake time, the HELLO's sender named by the certificate shown
 * (over a real TLS 1.3 handshake in memory), and a removed member's
 * connection: read no more once answered REMOVED, shut, then closed. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "net/certs.h"
#include "net/tls.h"
#include "server/peer_gate.h"

Test(peer_gate, preauth_bytes_stop_past_64_kib)
{
    struct peer_gate g;
    peer_gate_open(&g, 1000);
    cr_assert_eq(PEER_PREAUTH_MAX_BYTES, 65536);
    /* In pieces up to exactly 65536 bytes: taken. */
    cr_assert_eq(peer_gate_admit(&g, 40000, 65536), 40000);
    cr_assert_eq(peer_gate_admit(&g, 25536, 65536), 25536);
    cr_assert_eq(g.received, 65536);
    /* One more byte is one too many, and nothing is counted for it. */
    cr_assert_eq(peer_gate_admit(&g, 1, 65536), 0);
    cr_assert_eq(g.received, 65536);

    /* Many small reads add up. */
    peer_gate_open(&g, 1000);
    for (int i = 0; i < 65536 / 512; i++)
        cr_assert_eq(peer_gate_admit(&g, 512, 65536), 512, "read %d", i);
    cr_assert_eq(peer_gate_admit(&g, 512, 65536), 0);

    /* Authenticated: the frame limit rules, not this one. */
    g.authenticated = true;
    cr_assert_eq(peer_gate_admit(&g, (size_t)16 << 20, 65536), (size_t)16 << 20);
    cr_assert_eq(peer_gate_admit(&g, 1, 65536), 1);
}

/* A peer's HELLO and the frames it sent right behind it (a leader's first
 * snapshot chunks to a member that joins) arrive in one read of 64 KiB,
 * after about 3 KB of TLS handshake: the read is admitted up to the limit,
 * not refused whole; the rest waits for the HELLO to authenticate. */
Test(peer_gate, a_read_that_crosses_the_limit_is_admitted_up_to_it)
{
    struct peer_gate g;
    peer_gate_open(&g, 1000);
    cr_assert_eq(peer_gate_admit(&g, 3000, 65536), 3000);
    cr_assert_eq(peer_gate_admit(&g, 65536, 65536), 62536);
    cr_assert_eq(g.received, 65536);
    /* The admitted part held the HELLO: the rest of the read goes on. */
    g.authenticated = true;
    cr_assert_eq(peer_gate_admit(&g, 3000, 65536), 3000);
    /* One read larger than the limit at once: its first 65536 bytes. */
    peer_gate_open(&g, 1000);
    cr_assert_eq(peer_gate_admit(&g, (size_t)16 << 20, 65536), 65536);
    cr_assert_eq(peer_gate_admit(&g, 1, 65536), 0);
}

Test(peer_gate, the_handshake_time_runs_from_the_accept)
{
    struct peer_gate g;
    peer_gate_open(&g, 10000);
    cr_assert_eq(PEER_DEFAULT_HANDSHAKE_TIMEOUT_MS, 5000);
    cr_assert_not(peer_gate_expired(&g, 10000, 5000));
    cr_assert_not(peer_gate_expired(&g, 14999, 5000));
    cr_assert(peer_gate_expired(&g, 15000, 5000));
    cr_assert(peer_gate_expired(&g, 99999, 5000));
    /* Bytes sent do not buy time. */
    cr_assert_eq(peer_gate_admit(&g, 100, 65536), 100);
    cr_assert(peer_gate_expired(&g, 15000, 5000));
    /* Once authenticated it never expires. */
    g.authenticated = true;
    cr_assert_not(peer_gate_expired(&g, 99999, 5000));
}

Test(peer_gate, a_removed_member_is_read_no_more_and_shut_once_answered)
{
    struct peer_gate g;
    peer_gate_open(&g, 10000);
    cr_assert(peer_gate_reads(&g));
    cr_assert_not(peer_gate_may_shut(&g, false), "not told: nothing to shut");
    cr_assert_eq(peer_gate_sweep(&g, 10000, 5000), PEER_GATE_KEEP);

    peer_gate_told_removed(&g);
    cr_assert_not(peer_gate_reads(&g), "told it was removed: its later frames are not read");
    /* The REMOVED frame is still on its way: shutting now could lose it. */
    cr_assert_not(peer_gate_may_shut(&g, true));
    cr_assert(peer_gate_may_shut(&g, false));
    cr_assert_eq(peer_gate_sweep(&g, 10900, 5000), PEER_GATE_KEEP, "not shut yet, handshake time left");

    peer_gate_shut(&g, 11000);
    cr_assert_not(peer_gate_may_shut(&g, false), "shut once");
    cr_assert_not(peer_gate_reads(&g));
    /* Closed 1000 ms after the shutdown at the latest, long before the
     * 5000 ms handshake time (which would close it at 15000). */
    cr_assert_eq(PEER_REMOVED_LINGER_MS, 1000);
    cr_assert_eq(peer_gate_sweep(&g, 11000, 5000), PEER_GATE_KEEP);
    cr_assert_eq(peer_gate_sweep(&g, 11999, 5000), PEER_GATE_KEEP);
    cr_assert_eq(peer_gate_sweep(&g, 12000, 5000), PEER_GATE_CLOSE_TOLD);
    cr_assert_eq(peer_gate_sweep(&g, 12250, 5000), PEER_GATE_CLOSE_TOLD);

    /* Told but never flushed (a stuck write): the handshake time still
     * closes it, quietly rather than as a refusal. */
    peer_gate_open(&g, 20000);
    peer_gate_told_removed(&g);
    cr_assert_eq(peer_gate_sweep(&g, 24999, 5000), PEER_GATE_KEEP);
    cr_assert_eq(peer_gate_sweep(&g, 25000, 5000), PEER_GATE_CLOSE_TOLD);

    /* A fresh connection starts untold. */
    peer_gate_open(&g, 30000);
    cr_assert(peer_gate_reads(&g));
    cr_assert_not(g.shut);
    cr_assert_eq(peer_gate_sweep(&g, 35000, 5000), PEER_GATE_REFUSE_TIMEOUT);
}

static char dir[64];

static void setup(void)
{
    char err[512];
    snprintf(dir, sizeof dir, "/tmp/raftkv-gate.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(certs_make_ca(dir, "test", 2, err, sizeof err), 0, "%s", err);
    cr_assert_eq(certs_make_leaf(dir, "n1", CERTS_MEMBER, NULL, 0, 2, err, sizeof err), 0, "%s", err);
    cr_assert_eq(certs_make_leaf(dir, "n2", CERTS_MEMBER, NULL, 0, 2, err, sizeof err), 0, "%s", err);
    /* A client certificate of the same CA that bears a member's name. */
    cr_assert_eq(certs_make_leaf(dir, "n3", CERTS_CLIENT, NULL, 0, 2, err, sizeof err), 0, "%s", err);
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static struct tls_ctx *ctx(enum tls_role role, const char *name)
{
    char cert[128], key[128], ca[128], err[512];
    snprintf(cert, sizeof cert, "%s/%s.crt", dir, name);
    snprintf(key, sizeof key, "%s/%s.key", dir, name);
    snprintf(ca, sizeof ca, "%s/ca.crt", dir);
    struct tls_ctx_options o = {.role = role,
                                .cert_file = cert,
                                .key_file = key,
                                .ca_file = ca,
                                .client_auth = role == TLS_ROLE_SERVER ? TLS_CLIENT_CERT_REQUIRED : TLS_CLIENT_CERT_NONE,
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

/* Run a client's handshake with a server to its end; both must succeed. */
static void handshake(struct tls_session *client, struct tls_session *server)
{
    char buf[64];
    cr_assert_eq(tls_start(client), 0);
    for (int round = 0; round < 10 && !(tls_established(client) && tls_established(server)); round++) {
        pump(client, server);
        cr_assert_geq(tls_read(server, buf, sizeof buf), 0, "%s", tls_error(server));
        pump(server, client);
        cr_assert_geq(tls_read(client, buf, sizeof buf), 0, "%s", tls_error(client));
    }
}

TestSuite(peer_gate_tls, .init = setup, .fini = teardown);

/* n1 listens; a process holding n2's certificate dials it. */
Test(peer_gate_tls, the_hello_must_name_the_certificates_member)
{
    struct tls_ctx *sc = ctx(TLS_ROLE_SERVER, "n1"), *cc = ctx(TLS_ROLE_CLIENT, "n2");
    struct tls_session *server = tls_session_new(sc, NULL), *client = tls_session_new(cc, "n1");
    /* Before the handshake nobody is named. */
    cr_assert_not_null(peer_gate_check_name(server, "n2"));
    cr_assert_not_null(peer_gate_check_name(NULL, "n2"));
    handshake(client, server);
    cr_assert(tls_established(server));

    cr_assert_null(peer_gate_check_name(server, "n2"));
    cr_assert_str_eq(peer_gate_check_name(server, "n3"), "certificate_name_mismatch");
    cr_assert_str_eq(peer_gate_check_name(server, "n1"), "certificate_name_mismatch");
    cr_assert_str_eq(peer_gate_check_name(server, "n"), "certificate_name_mismatch");
    cr_assert_str_eq(peer_gate_check_name(server, "n22"), "certificate_name_mismatch");
    cr_assert_str_eq(peer_gate_check_name(server, ""), "certificate_name_mismatch");

    tls_session_free(server);
    tls_session_free(client);
    tls_ctx_free(sc);
    tls_ctx_free(cc);
}

/* `raftkv certs --clients n3` under the cluster's CA: a Redis client's
 * certificate, even one named like a member, cannot speak as a member. */
Test(peer_gate_tls, a_client_certificate_cannot_pass_for_a_member)
{
    struct tls_ctx *sc = ctx(TLS_ROLE_SERVER, "n1"), *cc = ctx(TLS_ROLE_CLIENT, "n3");
    struct tls_session *server = tls_session_new(sc, NULL), *client = tls_session_new(cc, "n1");
    handshake(client, server);
    cr_assert(tls_established(server));
    cr_assert(tls_peer_is(server, "n3"));
    cr_assert_str_eq(peer_gate_check_name(server, "n3"), "not_a_member_certificate");
    tls_session_free(server);
    tls_session_free(client);
    tls_ctx_free(sc);
    tls_ctx_free(cc);
}
