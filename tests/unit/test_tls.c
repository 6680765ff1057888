/* test_tls.c - TLS sessions over memory BIOs (src/net/tls.h) and the
 * certificates `raftkv certs` makes (src/net/certs.h): a member verifies the
 * other member by name, a stranger's certificate or none at all fails the
 * handshake, and bytes cross intact only once it is done. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/certs.h"
#include "net/tls.h"
#include "tls_test_util.h"

static char dir[64], other[64];

static void setup(void)
{
    /* Another cluster's CA has a member of the same name, n2. */
    ttu_make_clusters(dir, other, sizeof dir, "tls", "n2", CERTS_MEMBER);
}

static void teardown(void)
{
    ttu_rmdir(dir);
    ttu_rmdir(other);
}

TestSuite(tls, .init = setup, .fini = teardown);

static struct tls_ctx *ctx(enum tls_role role, const char *d, const char *name, const char *ca_dir,
                           enum tls_client_auth auth)
{
    char cert[128], key[128], ca[128], err[512];
    snprintf(cert, sizeof cert, "%s/%s.crt", d, name ? name : "");
    snprintf(key, sizeof key, "%s/%s.key", d, name ? name : "");
    snprintf(ca, sizeof ca, "%s/ca.crt", ca_dir ? ca_dir : "");
    struct tls_ctx_options o = {.role = role,
                                .cert_file = name ? cert : NULL,
                                .key_file = name ? key : NULL,
                                .ca_file = ca_dir ? ca : NULL,
                                .client_auth = auth,
                                .tls13_only = true};
    struct tls_ctx *c = tls_ctx_new(&o, err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    return c;
}

/* Move every waiting byte from a to b; the count moved. */
static size_t pump(struct tls_session *a, struct tls_session *b)
{
    char buf[4096];
    size_t n, total = 0;
    while ((n = tls_take(a, buf, sizeof buf)) > 0) {
        cr_assert_eq(tls_feed(b, buf, n), 0);
        total += n;
    }
    return total;
}

/* Run the handshake to its end: 0 when both sides are done, else the
 * failing side's result (TLS_FAILED). */
static int handshake(struct tls_session *client, struct tls_session *server)
{
    char buf[64];
    cr_assert_eq(tls_start(client), 0);
    for (int round = 0; round < 10; round++) {
        pump(client, server);
        ssize_t rs = tls_read(server, buf, sizeof buf);
        pump(server, client);
        ssize_t rc = tls_read(client, buf, sizeof buf);
        if (rs < 0)
            return (int)rs;
        if (rc < 0)
            return (int)rc;
        if (tls_established(client) && tls_established(server))
            return 0;
    }
    return 1;
}

Test(tls, members_verify_each_other_by_name)
{
    struct tls_ctx *sc = ctx(TLS_ROLE_SERVER, dir, "n1", dir, TLS_CLIENT_CERT_REQUIRED);
    struct tls_ctx *cc = ctx(TLS_ROLE_CLIENT, dir, "n2", dir, TLS_CLIENT_CERT_NONE);
    struct tls_session *server = tls_session_new(sc, NULL), *client = tls_session_new(cc, "n1");
    cr_assert_eq(handshake(client, server), 0, "server: %s client: %s", tls_error(server), tls_error(client));
    cr_assert(tls_peer_is(server, "n2"));
    cr_assert_not(tls_peer_is(server, "n1"));
    cr_assert_not(tls_peer_is(server, "n"));
    cr_assert(tls_peer_is(client, "n1"));
    cr_assert_str_eq(tls_peer_common_name(server), "n2");

    /* Bytes cross both ways intact, and on the wire they are not plain. */
    const char msg[] = "*1\r\n$4\r\nPING\r\n";
    cr_assert_eq(tls_write(client, msg, sizeof msg - 1), 0);
    char wire[4096];
    size_t n = tls_take(client, wire, sizeof wire);
    cr_assert_gt(n, sizeof msg - 1);
    cr_assert_null(memmem(wire, n, "PING", 4));
    cr_assert_eq(tls_feed(server, wire, n), 0);
    char got[64];
    ssize_t r = tls_read(server, got, sizeof got);
    cr_assert_eq(r, 14);
    cr_assert_eq(memcmp(got, msg, 14), 0);
    cr_assert_eq(tls_read(server, got, sizeof got), 0);

    /* A replayed record is refused: the session's sequence numbers moved on. */
    cr_assert_eq(tls_feed(server, wire, n), 0);
    cr_assert_eq(tls_read(server, got, sizeof got), TLS_FAILED);

    tls_session_free(server);
    tls_session_free(client);
    tls_ctx_free(sc);
    tls_ctx_free(cc);
}

Test(tls, the_server_name_must_match)
{
    struct tls_ctx *sc = ctx(TLS_ROLE_SERVER, dir, "n1", dir, TLS_CLIENT_CERT_REQUIRED);
    struct tls_ctx *cc = ctx(TLS_ROLE_CLIENT, dir, "n2", dir, TLS_CLIENT_CERT_NONE);
    struct tls_session *server = tls_session_new(sc, NULL), *client = tls_session_new(cc, "n3");
    cr_assert_eq(handshake(client, server), TLS_FAILED);
    cr_assert_not(tls_established(client));
    cr_assert_neq(strstr(tls_error(client), "hostname mismatch"), NULL, "%s", tls_error(client));
    cr_assert_neq(strstr(tls_error(client), "the other side's certificate: subject CN=n1, issuer CN=raftkv cluster CA test"),
                  NULL, "%s", tls_error(client));
    tls_session_free(server);
    tls_session_free(client);
    tls_ctx_free(sc);
    tls_ctx_free(cc);
}

Test(tls, another_clusters_certificate_fails)
{
    struct tls_ctx *sc = ctx(TLS_ROLE_SERVER, dir, "n1", dir, TLS_CLIENT_CERT_REQUIRED);
    struct tls_ctx *cc = ctx(TLS_ROLE_CLIENT, other, "n2", dir, TLS_CLIENT_CERT_NONE);
    struct tls_session *server = tls_session_new(sc, NULL), *client = tls_session_new(cc, "n1");
    cr_assert_eq(handshake(client, server), TLS_FAILED);
    cr_assert_not(tls_established(server));
    cr_assert_not(tls_peer_is(server, "n2"));
    cr_assert_neq(strstr(tls_error(server), "certificate"), NULL, "%s", tls_error(server));
    tls_session_free(server);
    tls_session_free(client);
    tls_ctx_free(sc);
    tls_ctx_free(cc);
}

/* The key id printed after `label` in text, or "" (8 bytes: 23 chars). */
static void key_id_after(const char *text, const char *label, char out[24])
{
    out[0] = '\0';
    const char *p = strstr(text, label);
    if (p)
        snprintf(out, 24, "%.23s", p + strlen(label));
}

Test(tls, a_refused_certificate_is_named_with_its_issuer_and_the_ca_file)
{
    struct tls_ctx *sc = ctx(TLS_ROLE_SERVER, dir, "n1", dir, TLS_CLIENT_CERT_REQUIRED);
    struct tls_ctx *cc = ctx(TLS_ROLE_CLIENT, other, "n2", dir, TLS_CLIENT_CERT_NONE);
    struct tls_session *server = tls_session_new(sc, NULL), *client = tls_session_new(cc, "n1");
    cr_assert_eq(handshake(client, server), TLS_FAILED);
    const char *e = tls_error(server);
    /* The server names the certificate it refused, its issuer, and the
     * CA file it checked it against. */
    cr_assert_neq(strstr(e, "the other side's certificate: subject CN=n2, issuer CN=raftkv cluster CA other, issuer key id "),
                  NULL, "%s", e);
    char ca[256];
    snprintf(ca, sizeof ca, "checked against %s/ca.crt (subject CN=raftkv cluster CA test, key id ", dir);
    cr_assert_neq(strstr(e, ca), NULL, "%s", e);
    /* Both CAs could be named alike: the key ids tell them apart. */
    char theirs[24], ours[24];
    key_id_after(e, "issuer key id ", theirs);
    key_id_after(e, ", key id ", ours);
    cr_assert_eq(strlen(theirs), 23, "%s", e);
    cr_assert_eq(strlen(ours), 23, "%s", e);
    cr_assert_str_neq(theirs, ours, "%s", e);

    /* The client heard the server's alert (in the same round) and names
     * its own certificate. */
    char own[256];
    snprintf(own, sizeof own, "the other side refused this side's certificate %s/n2.crt (subject CN=n2, issuer CN=raftkv cluster CA other, issuer key id ", other);
    cr_assert_neq(strstr(tls_error(client), own), NULL, "%s", tls_error(client));
    snprintf(own, sizeof own, "%s/n1.crt (subject CN=n1, issuer CN=raftkv cluster CA test, issuer key id ", dir);
    cr_assert_eq(strncmp(tls_ctx_own_cert(sc), own, strlen(own)), 0, "%s", tls_ctx_own_cert(sc));
    tls_session_free(server);
    tls_session_free(client);
    tls_ctx_free(sc);
    tls_ctx_free(cc);
}

Test(tls, no_client_certificate_fails_when_required_and_passes_when_not)
{
    struct tls_ctx *req = ctx(TLS_ROLE_SERVER, dir, "n1", dir, TLS_CLIENT_CERT_REQUIRED);
    struct tls_ctx *opt = ctx(TLS_ROLE_SERVER, dir, "n1", dir, TLS_CLIENT_CERT_OPTIONAL);
    struct tls_ctx *cc = ctx(TLS_ROLE_CLIENT, dir, NULL, dir, TLS_CLIENT_CERT_NONE);

    struct tls_session *server = tls_session_new(req, NULL), *client = tls_session_new(cc, "n1");
    cr_assert_eq(handshake(client, server), TLS_FAILED);
    tls_session_free(server);
    tls_session_free(client);

    server = tls_session_new(opt, NULL);
    client = tls_session_new(cc, "n1");
    cr_assert_eq(handshake(client, server), 0, "%s", tls_error(server));
    cr_assert_not(tls_peer_verified(server));
    cr_assert_not(tls_peer_is(server, "n2"));
    tls_session_free(server);
    tls_session_free(client);
    tls_ctx_free(req);
    tls_ctx_free(opt);
    tls_ctx_free(cc);
}

Test(tls, garbage_instead_of_a_handshake_fails)
{
    struct tls_ctx *sc = ctx(TLS_ROLE_SERVER, dir, "n1", dir, TLS_CLIENT_CERT_REQUIRED);
    struct tls_session *server = tls_session_new(sc, NULL);
    /* A raftkv peer frame header where a ClientHello should be. */
    const unsigned char junk[] = {0, 0, 0, 9, 1, 'h', 'e', 'l', 'l', 'o', 0, 0, 0};
    cr_assert_eq(tls_feed(server, junk, sizeof junk), 0);
    char buf[16];
    cr_assert_eq(tls_read(server, buf, sizeof buf), TLS_FAILED);
    cr_assert_neq(tls_error(server)[0], '\0');
    cr_assert_eq(tls_write(server, "x", 1), TLS_FAILED);
    tls_session_free(server);
    tls_ctx_free(sc);
}

Test(tls, certs_never_replace_a_ca_and_keys_are_private)
{
    char err[512], key[128];
    cr_assert_eq(certs_make_ca(dir, "again", 2, err, sizeof err), -1);
    cr_assert_neq(strstr(err, "exists already"), NULL, "%s", err);
    cr_assert_eq(certs_make_leaf(dir, "n1", CERTS_MEMBER, NULL, 0, 2, err, sizeof err), -1);
    struct stat st;
    snprintf(key, sizeof key, "%s/n1.key", dir);
    cr_assert_eq(stat(key, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    snprintf(key, sizeof key, "%s/ca.key", dir);
    cr_assert_eq(stat(key, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_eq(certs_make_leaf(dir, "a,b", CERTS_MEMBER, NULL, 0, 2, err, sizeof err), -1);
    char empty[64];
    ttu_mkdir(empty, sizeof empty, "tls");
    cr_assert_eq(certs_make_leaf(empty, "n1", CERTS_MEMBER, NULL, 0, 2, err, sizeof err), -1);
    cr_assert_neq(strstr(err, "make it first"), NULL, "%s", err);
    ttu_rmdir(empty);
}

Test(tls, missing_files_are_named)
{
    char err[512];
    struct tls_ctx_options o = {.role = TLS_ROLE_SERVER, .cert_file = "/nonexistent/n1.crt",
                                .key_file = "/nonexistent/n1.key"};
    cr_assert_null(tls_ctx_new(&o, err, sizeof err));
    cr_assert_neq(strstr(err, "/nonexistent/n1.crt"), NULL, "%s", err);
    struct tls_ctx_options v = {.role = TLS_ROLE_SERVER, .client_auth = TLS_CLIENT_CERT_REQUIRED};
    cr_assert_null(tls_ctx_new(&v, err, sizeof err));
    cr_assert_neq(strstr(err, "CA"), NULL, "%s", err);
}
