/* test_client_tls.c - TLS on the client port of `raftkv serve`: the --tls-*
 * options as Redis names and checks them, and the context they make
 * (src/server/client_tls.c): TLS 1.2 and 1.3, a client certificate
 * required by default, optional or not asked for, another CA's refused, and
 * a bad file refused with its name. Handshakes run in memory. */
#include <criterion/criterion.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/certs.h"
#include "net/tls.h"
#include "server/server_internal.h"
#include "tls_test_util.h"

static char dir[64], other[64];
static char cert[128], key[128], ca[128];

static void setup(void)
{
    ttu_make_clusters(dir, other, sizeof dir, "ctls", "alice", CERTS_CLIENT);
    snprintf(cert, sizeof cert, "%s/n1.crt", dir);
    snprintf(key, sizeof key, "%s/n1.key", dir);
    snprintf(ca, sizeof ca, "%s/ca.crt", dir);
}

static void teardown(void)
{
    ttu_rmdir(dir);
    ttu_rmdir(other);
}

TestSuite(client_tls, .init = setup, .fini = teardown);

/* Parse `serve` with the usual required options and then `extra` (whose
 * --listen, given later, wins). */
static int parse(struct server_options *o, const char **extra, int n_extra)
{
    const char *base[] = {"serve", "--id", "n1", "--peers", "n1=127.0.0.1:7101", "--in-memory", "--listen",
                          "127.0.0.1:7001"};
    char *argv[40];
    int argc = 0;
    for (size_t i = 0; i < sizeof base / sizeof base[0]; i++)
        argv[argc++] = (char *)base[i];
    for (int i = 0; i < n_extra; i++)
        argv[argc++] = (char *)extra[i];
    return server_options_parse(o, argc, argv);
}

#define PARSE(o, ...)                                                                                          \
    ({                                                                                                         \
        const char *x_[] = {__VA_ARGS__};                                                                      \
        parse(o, x_, (int)(sizeof x_ / sizeof x_[0]));                                                         \
    })

Test(client_tls, defaults_are_redis_s)
{
    struct server_options o;
    const char *none[] = {NULL};
    cr_assert_eq(parse(&o, none, 0), 0);
    cr_assert_eq(o.tls_port, 0);
    cr_assert_eq(o.listen_port, 7001);
    /* tls-auth-clients yes: a certificate is required. */
    cr_assert_eq(o.tls_auth_clients, TLS_CLIENT_CERT_REQUIRED);
    cr_assert_eq((int)TLS_CLIENT_CERT_REQUIRED, 2);
}

Test(client_tls, options_parse)
{
    struct server_options o;
    cr_assert_eq(PARSE(&o, "--tls-port", "7443", "--tls-cert-file", cert, "--tls-key-file", key,
                       "--tls-ca-cert-file", ca),
                 0);
    cr_assert_eq(o.tls_port, 7443);
    cr_assert_str_eq(o.tls_cert_file, cert);
    cr_assert_str_eq(o.tls_key_file, key);
    cr_assert_str_eq(o.tls_ca_cert_file, ca);
    cr_assert_eq(o.tls_auth_clients, TLS_CLIENT_CERT_REQUIRED);

    const char *modes[] = {"yes", "optional", "no"};
    enum tls_client_auth want[] = {TLS_CLIENT_CERT_REQUIRED, TLS_CLIENT_CERT_OPTIONAL, TLS_CLIENT_CERT_NONE};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(PARSE(&o, "--tls-port", "7443", "--tls-cert-file", cert, "--tls-key-file", key,
                           "--tls-ca-cert-file", ca, "--tls-auth-clients", modes[i]),
                     0, "%s", modes[i]);
        cr_assert_eq(o.tls_auth_clients, want[i], "%s", modes[i]);
    }
    cr_assert_eq(PARSE(&o, "--tls-port", "7443", "--tls-cert-file", cert, "--tls-key-file", key,
                       "--tls-ca-cert-file", ca, "--tls-auth-clients", "maybe"),
                 64);
    cr_assert_eq(PARSE(&o, "--tls-port", "70000", "--tls-cert-file", cert, "--tls-key-file", key), 64);
    cr_assert_eq(PARSE(&o, "--tls-port", "-1"), 64);
    cr_assert_eq(PARSE(&o, "--tls-port", ""), 64);
}

Test(client_tls, options_that_do_not_fit_together_are_refused)
{
    struct server_options o;
    /* The plain port off with no TLS port: nowhere to listen. */
    cr_assert_eq(PARSE(&o, "--listen", "127.0.0.1:0"), 64);
    /* Off, with a TLS port: fine, as Redis's port 0 + tls-port. */
    cr_assert_eq(PARSE(&o, "--listen", "127.0.0.1:0", "--tls-port", "7443", "--tls-cert-file", cert,
                       "--tls-key-file", key, "--tls-ca-cert-file", ca),
                 0);
    cr_assert_eq(o.listen_port, 0);
    cr_assert_str_eq(o.listen_host, "127.0.0.1");
    cr_assert_eq(o.tls_port, 7443);
    /* A TLS port needs a certificate and its key. */
    cr_assert_eq(PARSE(&o, "--tls-port", "7443", "--tls-key-file", key, "--tls-ca-cert-file", ca), 64);
    cr_assert_eq(PARSE(&o, "--tls-port", "7443", "--tls-cert-file", cert, "--tls-ca-cert-file", ca), 64);
    /* Verifying clients needs CAs; not asking for certificates does not. */
    cr_assert_eq(PARSE(&o, "--tls-port", "7443", "--tls-cert-file", cert, "--tls-key-file", key), 64);
    cr_assert_eq(PARSE(&o, "--tls-port", "7443", "--tls-cert-file", cert, "--tls-key-file", key,
                       "--tls-auth-clients", "optional"),
                 64);
    cr_assert_eq(PARSE(&o, "--tls-port", "7443", "--tls-cert-file", cert, "--tls-key-file", key,
                       "--tls-auth-clients", "no"),
                 0);
    /* One port cannot be both. */
    cr_assert_eq(PARSE(&o, "--tls-port", "7001", "--tls-cert-file", cert, "--tls-key-file", key,
                       "--tls-ca-cert-file", ca),
                 64);
}

Test(client_tls, config_file_keys)
{
    char path[128];
    snprintf(path, sizeof path, "%s/serve.conf", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "listen = 127.0.0.1:0\ntls-port = 7443\ntls-cert-file = %s\ntls-key-file = %s\n"
               "tls-ca-cert-file = %s\ntls-auth-clients = optional\n",
            cert, key, ca);
    fclose(f);
    struct server_options o;
    cr_assert_eq(PARSE(&o, "--config", path), 0);
    cr_assert_eq(o.listen_port, 7001); /* the command line's --listen overrides the file's */
    cr_assert_eq(o.tls_port, 7443);
    cr_assert_eq(o.tls_auth_clients, TLS_CLIENT_CERT_OPTIONAL);
}

/* ---- The context the options make ------------------------------------------ */

static struct tls_ctx *server_ctx(const char *auth)
{
    struct server_options o;
    cr_assert_eq(PARSE(&o, "--tls-port", "7443", "--tls-cert-file", cert, "--tls-key-file", key,
                       "--tls-ca-cert-file", ca, "--tls-auth-clients", auth),
                 0);
    char err[640];
    struct tls_ctx *c = client_tls_ctx_new(&o, err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    return c;
}

/* A Redis client's side, with plain OpenSSL (so the protocol version can be
 * pinned): verifies the server against ca_dir's CA, shows cert_dir/NAME's
 * certificate when name is set. */
struct peer {
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *in, *out;
};

static void client_new(struct peer *p, const char *cert_dir, const char *name, int version)
{
    p->ctx = SSL_CTX_new(TLS_client_method());
    cr_assert_not_null(p->ctx);
    if (version) {
        if (version < TLS1_2_VERSION)
            SSL_CTX_set_security_level(p->ctx, 0); /* else OpenSSL refuses to offer it */
        SSL_CTX_set_min_proto_version(p->ctx, version);
        SSL_CTX_set_max_proto_version(p->ctx, version);
    }
    cr_assert_eq(SSL_CTX_load_verify_locations(p->ctx, ca, NULL), 1);
    SSL_CTX_set_verify(p->ctx, SSL_VERIFY_PEER, NULL);
    if (name) {
        char c[160], k[160];
        snprintf(c, sizeof c, "%s/%s.crt", cert_dir, name);
        snprintf(k, sizeof k, "%s/%s.key", cert_dir, name);
        cr_assert_eq(SSL_CTX_use_certificate_chain_file(p->ctx, c), 1);
        cr_assert_eq(SSL_CTX_use_PrivateKey_file(p->ctx, k, SSL_FILETYPE_PEM), 1);
    }
    p->ssl = SSL_new(p->ctx);
    p->in = BIO_new(BIO_s_mem());
    p->out = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(p->in, -1);
    SSL_set_bio(p->ssl, p->in, p->out);
    SSL_set_connect_state(p->ssl);
    SSL_set1_host(p->ssl, "127.0.0.1");
}

static void client_free(struct peer *p)
{
    SSL_free(p->ssl);
    SSL_CTX_free(p->ctx);
}

/* Run the handshake, then send PING and read it on the server: 0 when the
 * server got it, TLS_FAILED when the server refused. */
static int connect_and_ping(struct peer *p, struct tls_session *server)
{
    char buf[4096];
    int n;
    for (int round = 0; round < 10; round++) {
        SSL_do_handshake(p->ssl);
        while ((n = BIO_read(p->out, buf, sizeof buf)) > 0)
            cr_assert_eq(tls_feed(server, buf, (size_t)n), 0);
        ssize_t r = tls_read(server, buf, sizeof buf);
        if (r < 0)
            return (int)r;
        size_t k;
        while ((k = tls_take(server, buf, sizeof buf)) > 0)
            BIO_write(p->in, buf, (int)k);
        if (SSL_is_init_finished(p->ssl) && tls_established(server))
            break;
    }
    if (!SSL_is_init_finished(p->ssl))
        return TLS_FAILED;
    cr_assert_eq(SSL_write(p->ssl, "PING\r\n", 6), 6);
    while ((n = BIO_read(p->out, buf, sizeof buf)) > 0)
        cr_assert_eq(tls_feed(server, buf, (size_t)n), 0);
    /* A TLS 1.3 server learns of a missing or refused client certificate
     * only now, with the client's first records. */
    ssize_t r;
    char got[64] = "";
    size_t have = 0;
    while ((r = tls_read(server, got + have, sizeof got - 1 - have)) > 0)
        have += (size_t)r;
    if (r < 0)
        return (int)r;
    cr_assert_eq(have, 6);
    cr_assert_eq(memcmp(got, "PING\r\n", 6), 0);
    return 0;
}

static int try_client(struct tls_ctx *sc, const char *cert_dir, const char *name, int version, char *why,
                      size_t whycap)
{
    struct tls_session *server = tls_session_new(sc, NULL);
    cr_assert_not_null(server);
    struct peer p;
    client_new(&p, cert_dir, name, version);
    int rc = connect_and_ping(&p, server);
    snprintf(why, whycap, "%s", tls_error(server));
    client_free(&p);
    tls_session_free(server);
    return rc;
}

Test(client_tls, tls_1_2_and_1_3_both_work)
{
    struct tls_ctx *sc = server_ctx("yes");
    char why[300];
    cr_assert_eq(try_client(sc, dir, "alice", TLS1_3_VERSION, why, sizeof why), 0, "%s", why);
    cr_assert_eq(try_client(sc, dir, "alice", TLS1_2_VERSION, why, sizeof why), 0, "%s", why);
    /* Older protocols are refused, as Redis's default tls-protocols. */
    cr_assert_eq(try_client(sc, dir, "alice", TLS1_1_VERSION, why, sizeof why), TLS_FAILED);
    tls_ctx_free(sc);
}

Test(client_tls, auth_clients_yes_requires_a_certificate_of_our_ca)
{
    struct tls_ctx *sc = server_ctx("yes");
    char why[300];
    cr_assert_eq(try_client(sc, dir, NULL, TLS1_3_VERSION, why, sizeof why), TLS_FAILED);
    cr_assert_neq(strstr(why, "certificate"), NULL, "%s", why);
    cr_assert_eq(try_client(sc, dir, NULL, TLS1_2_VERSION, why, sizeof why), TLS_FAILED);
    cr_assert_eq(try_client(sc, other, "alice", TLS1_3_VERSION, why, sizeof why), TLS_FAILED);
    cr_assert_neq(strstr(why, "certificate"), NULL, "%s", why);
    tls_ctx_free(sc);
}

Test(client_tls, auth_clients_optional_verifies_a_certificate_only_if_shown)
{
    struct tls_ctx *sc = server_ctx("optional");
    char why[300];
    cr_assert_eq(try_client(sc, dir, NULL, TLS1_3_VERSION, why, sizeof why), 0, "%s", why);
    cr_assert_eq(try_client(sc, dir, "alice", TLS1_3_VERSION, why, sizeof why), 0, "%s", why);
    /* Shown but from another CA: refused even so (Redis does the same). */
    cr_assert_eq(try_client(sc, other, "alice", TLS1_3_VERSION, why, sizeof why), TLS_FAILED);
    tls_ctx_free(sc);
}

Test(client_tls, auth_clients_no_does_not_ask)
{
    struct tls_ctx *sc = server_ctx("no");
    char why[300];
    cr_assert_eq(try_client(sc, dir, NULL, TLS1_3_VERSION, why, sizeof why), 0, "%s", why);
    /* Not asked for, so another CA's certificate is never even sent. */
    cr_assert_eq(try_client(sc, other, "alice", TLS1_3_VERSION, why, sizeof why), 0, "%s", why);
    tls_ctx_free(sc);
}

Test(client_tls, a_bad_file_is_refused_with_its_name)
{
    char missing[160], err[640];
    snprintf(missing, sizeof missing, "%s/nope.key", dir);
    struct server_options o;
    cr_assert_eq(PARSE(&o, "--tls-port", "7443", "--tls-cert-file", cert, "--tls-key-file", missing,
                       "--tls-ca-cert-file", ca),
                 0);
    cr_assert_null(client_tls_ctx_new(&o, err, sizeof err));
    cr_assert_neq(strstr(err, missing), NULL, "%s", err);
    /* A certificate whose key is another's. */
    char alice_key[160];
    snprintf(alice_key, sizeof alice_key, "%s/alice.key", dir);
    cr_assert_eq(PARSE(&o, "--tls-port", "7443", "--tls-cert-file", cert, "--tls-key-file", alice_key,
                       "--tls-ca-cert-file", ca),
                 0);
    cr_assert_null(client_tls_ctx_new(&o, err, sizeof err));
    cr_assert_neq(strstr(err, alice_key), NULL, "%s", err);
    /* A CA file that is not PEM. */
    char junk[160];
    snprintf(junk, sizeof junk, "%s/junk.crt", dir);
    FILE *f = fopen(junk, "w");
    fputs("not a certificate\n", f);
    fclose(f);
    cr_assert_eq(PARSE(&o, "--tls-port", "7443", "--tls-cert-file", cert, "--tls-key-file", key,
                       "--tls-ca-cert-file", junk),
                 0);
    cr_assert_null(client_tls_ctx_new(&o, err, sizeof err));
    cr_assert_neq(strstr(err, junk), NULL, "%s", err);
}
