/* tls.c - TLS sessions over memory BIOs (tls.h): OpenSSL does the protocol,
 * the caller moves the bytes. */
#include "net/tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TLS_DESC 448

struct tls_ctx {
    SSL_CTX *ssl;
    enum tls_role role;
    /* For error lines: "FILE (subject ..., issuer ..., ...)" of this side's
     * certificate and of the CA it verifies the other side with ("" when
     * none), so a failed handshake names the files involved. */
    char own_desc[TLS_DESC];
    char ca_desc[TLS_DESC];
};

struct tls_session {
    SSL *ssl;
    const struct tls_ctx *ctx;
    BIO *in;  /* ciphertext from the network, read by OpenSSL */
    BIO *out; /* ciphertext OpenSSL wrote, for the network */
    bool established;
    char error[1400];
    char common_name[128];
    /* The other side's certificate as verification saw it when it failed:
     * its subject and issuer (and the failing one's, deeper in the chain). */
    char refused_cert[TLS_DESC];
};

/* "CN=n1" (RFC 2253) into buf. */
static void name_text(const X509_NAME *n, char *buf, size_t cap)
{
    buf[0] = '\0';
    BIO *b = BIO_new(BIO_s_mem());
    if (!b)
        return;
    if (X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253) >= 0) {
        int len = BIO_read(b, buf, (int)cap - 1);
        buf[len > 0 ? len : 0] = '\0';
    }
    BIO_free(b);
}

/* The first 8 bytes of a key identifier as "08:5C:...", or "none". */
static void key_id_text(const ASN1_OCTET_STRING *id, char *buf, size_t cap)
{
    snprintf(buf, cap, "none");
    if (!id)
        return;
    const unsigned char *d = ASN1_STRING_get0_data(id);
    int n = ASN1_STRING_length(id);
    size_t used = 0;
    for (int i = 0; i < n && i < 8 && used + 4 < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%02X", i ? ":" : "", d[i]);
}

/* subject, issuer and the issuer's key id of a certificate: the key id
 * tells apart two CAs of the same name (`raftkv certs` names every CA
 * alike). */
static void cert_text(X509 *x, char *buf, size_t cap)
{
    char subject[160], issuer[160], kid[32];
    name_text(X509_get_subject_name(x), subject, sizeof subject);
    name_text(X509_get_issuer_name(x), issuer, sizeof issuer);
    key_id_text(X509_get0_authority_key_id(x), kid, sizeof kid);
    snprintf(buf, cap, "subject %.120s, issuer %.120s, issuer key id %.24s", subject, issuer, kid);
}

static void describe_own(SSL_CTX *ssl, const char *file, char *buf, size_t cap)
{
    buf[0] = '\0';
    X509 *x = file ? SSL_CTX_get0_certificate(ssl) : NULL;
    if (!x)
        return;
    char t[320];
    cert_text(x, t, sizeof t);
    snprintf(buf, cap, "%.90s (%s)", file, t);
}

static void describe_ca(const char *file, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (!file)
        return;
    BIO *b = BIO_new_file(file, "r");
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (!x) {
        snprintf(buf, cap, "%.200s", file);
        ERR_clear_error();
        return;
    }
    char subject[160], kid[32];
    name_text(X509_get_subject_name(x), subject, sizeof subject);
    key_id_text(X509_get0_subject_key_id(x), kid, sizeof kid);
    snprintf(buf, cap, "%.200s (subject %.160s, key id %.24s)", file, subject, kid);
    X509_free(x);
}

/* Verification's callback: the outcome is OpenSSL's; a refusal records
 * which certificate it was, for the error line. */
static int verify_note(int ok, X509_STORE_CTX *store)
{
    if (ok)
        return ok;
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct tls_session *s = ssl ? SSL_get_app_data(ssl) : NULL;
    if (!s || s->refused_cert[0])
        return ok;
    X509 *leaf = X509_STORE_CTX_get0_cert(store);
    X509 *at = X509_STORE_CTX_get_current_cert(store);
    int depth = X509_STORE_CTX_get_error_depth(store);
    char t[320];
    if (leaf)
        cert_text(leaf, t, sizeof t);
    else
        snprintf(t, sizeof t, "none");
    if (at && at != leaf && depth > 0) {
        char a[160];
        name_text(X509_get_subject_name(at), a, sizeof a);
        snprintf(s->refused_cert, sizeof s->refused_cert, "%.250s; refused at depth %d, %.120s", t, depth, a);
    } else {
        snprintf(s->refused_cert, sizeof s->refused_cert, "%s", t);
    }
    return ok;
}

/* OpenSSL's queued errors, oldest first, as one line. */
static void openssl_reason(char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    unsigned long e;
    while ((e = ERR_get_error()) != 0 && used + 2 < cap) {
        char one[200];
        ERR_error_string_n(e, one, sizeof one);
        int n = snprintf(buf + used, cap - used, "%s%s", used ? "; " : "", one);
        if (n < 0)
            break;
        used += (size_t)n < cap - used ? (size_t)n : cap - used - 1;
    }
    if (!buf[0])
        snprintf(buf, cap, "unknown TLS error");
}

struct tls_ctx *tls_ctx_new(const struct tls_ctx_options *o, char *err, size_t errlen)
{
    ERR_clear_error();
    const SSL_METHOD *m = o->role == TLS_ROLE_SERVER ? TLS_server_method() : TLS_client_method();
    SSL_CTX *ssl = SSL_CTX_new(m);
    if (!ssl) {
        openssl_reason(err, errlen);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ssl, o->tls13_only ? TLS1_3_VERSION : TLS1_2_VERSION);
    /* Record sizes follow the writes; a partial write never happens with
     * memory BIOs, which grow as needed. */
    SSL_CTX_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
    const char *what = NULL, *file = NULL;
    if (o->cert_file && SSL_CTX_use_certificate_chain_file(ssl, o->cert_file) != 1)
        what = "certificate", file = o->cert_file;
    else if (o->cert_file && (!o->key_file || SSL_CTX_use_PrivateKey_file(ssl, o->key_file, SSL_FILETYPE_PEM) != 1))
        what = "private key", file = o->key_file ? o->key_file : "(none given)";
    else if (o->cert_file && SSL_CTX_check_private_key(ssl) != 1)
        what = "private key that matches the certificate", file = o->key_file;
    else if (o->ca_file && SSL_CTX_load_verify_locations(ssl, o->ca_file, NULL) != 1)
        what = "CA certificates", file = o->ca_file;
    if (what) {
        char reason[400];
        openssl_reason(reason, sizeof reason);
        snprintf(err, errlen, "cannot load the %s from %s: %s", what, file, reason);
        SSL_CTX_free(ssl);
        return NULL;
    }
    int verify = SSL_VERIFY_NONE;
    if (o->role == TLS_ROLE_CLIENT && o->ca_file)
        verify = SSL_VERIFY_PEER;
    if (o->role == TLS_ROLE_SERVER && o->client_auth == TLS_CLIENT_CERT_OPTIONAL)
        verify = SSL_VERIFY_PEER;
    if (o->role == TLS_ROLE_SERVER && o->client_auth == TLS_CLIENT_CERT_REQUIRED)
        verify = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    if (verify != SSL_VERIFY_NONE && !o->ca_file) {
        snprintf(err, errlen, "verifying the other side's certificate needs a CA file");
        SSL_CTX_free(ssl);
        return NULL;
    }
    SSL_CTX_set_verify(ssl, verify, verify == SSL_VERIFY_NONE ? NULL : verify_note);
    if (o->role == TLS_ROLE_SERVER && o->ca_file && verify != SSL_VERIFY_NONE) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->ca_file);
        if (names)
            SSL_CTX_set_client_CA_list(ssl, names);
    }
    struct tls_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        SSL_CTX_free(ssl);
        return NULL;
    }
    c->ssl = ssl;
    c->role = o->role;
    describe_own(ssl, o->cert_file, c->own_desc, sizeof c->own_desc);
    if (verify != SSL_VERIFY_NONE)
        describe_ca(o->ca_file, c->ca_desc, sizeof c->ca_desc);
    return c;
}

void tls_ctx_free(struct tls_ctx *c)
{
    if (!c)
        return;
    SSL_CTX_free(c->ssl);
    free(c);
}

struct tls_session *tls_session_new(struct tls_ctx *c, const char *expect_name)
{
    struct tls_session *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    ERR_clear_error();
    s->ssl = SSL_new(c->ssl);
    s->in = BIO_new(BIO_s_mem());
    s->out = BIO_new(BIO_s_mem());
    if (!s->ssl || !s->in || !s->out) {
        SSL_free(s->ssl);
        BIO_free(s->in);
        BIO_free(s->out);
        free(s);
        return NULL;
    }
    /* An empty memory BIO reads as "try again", not as end of file. */
    BIO_set_mem_eof_return(s->in, -1);
    SSL_set_bio(s->ssl, s->in, s->out); /* the SSL owns both now */
    SSL_set_app_data(s->ssl, s);
    s->ctx = c;
    if (c->role == TLS_ROLE_SERVER) {
        SSL_set_accept_state(s->ssl);
    } else {
        SSL_set_connect_state(s->ssl);
        if (expect_name) {
            SSL_set_hostflags(s->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            if (SSL_set1_host(s->ssl, expect_name) != 1) {
                tls_session_free(s);
                return NULL;
            }
        }
    }
    return s;
}

void tls_session_free(struct tls_session *s)
{
    if (!s)
        return;
    SSL_free(s->ssl);
    free(s);
}

int tls_feed(struct tls_session *s, const void *data, size_t n)
{
    while (n > 0) {
        int chunk = n > (1u << 30) ? 1 << 30 : (int)n;
        int w = BIO_write(s->in, data, chunk);
        if (w <= 0)
            return -1;
        data = (const char *)data + w;
        n -= (size_t)w;
    }
    return 0;
}

/* Classify a failed SSL call: 0 to wait for more input, else TLS_FAILED or
 * TLS_CLOSED with the reason recorded. */
static int failed(struct tls_session *s, int rc)
{
    int e = SSL_get_error(s->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    if (e == SSL_ERROR_ZERO_RETURN) {
        snprintf(s->error, sizeof s->error, "closed by the other side");
        return TLS_CLOSED;
    }
    char reason[200];
    openssl_reason(reason, sizeof reason);
    long v = SSL_get_verify_result(s->ssl);
    const struct tls_ctx *c = s->ctx;
    if (v != X509_V_OK)
        snprintf(s->error, sizeof s->error, "%s (certificate: %.100s); the other side's certificate: %s; checked against %s",
                 reason, X509_verify_cert_error_string(v), s->refused_cert[0] ? s->refused_cert : "none",
                 c->ca_desc[0] ? c->ca_desc : "no CA");
    else if (strstr(reason, "alert") && (strstr(reason, "certificate") || strstr(reason, "unknown ca")))
        snprintf(s->error, sizeof s->error, "%s; the other side refused this side's certificate %s", reason,
                 c->own_desc[0] ? c->own_desc : "(none sent)");
    else
        snprintf(s->error, sizeof s->error, "%s", reason);
    return TLS_FAILED;
}

static int handshake(struct tls_session *s)
{
    if (s->established)
        return 1;
    ERR_clear_error();
    int rc = SSL_do_handshake(s->ssl);
    if (rc == 1) {
        s->established = true;
        return 1;
    }
    return failed(s, rc);
}

int tls_start(struct tls_session *s)
{
    int rc = handshake(s);
    return rc < 0 ? rc : 0;
}

ssize_t tls_read(struct tls_session *s, void *buf, size_t cap)
{
    int rc = handshake(s);
    if (rc <= 0)
        return rc;
    if (cap > INT32_MAX)
        cap = INT32_MAX;
    ERR_clear_error();
    int n = SSL_read(s->ssl, buf, (int)cap);
    if (n > 0)
        return n;
    return failed(s, n);
}

int tls_write(struct tls_session *s, const void *data, size_t n)
{
    if (!s->established) {
        snprintf(s->error, sizeof s->error, "write before the handshake finished");
        return TLS_FAILED;
    }
    while (n > 0) {
        int chunk = n > (1u << 30) ? 1 << 30 : (int)n;
        ERR_clear_error();
        int w = SSL_write(s->ssl, data, chunk);
        if (w <= 0) {
            int rc = failed(s, w);
            return rc == 0 ? TLS_FAILED : rc; /* memory BIOs never ask to wait */
        }
        data = (const char *)data + w;
        n -= (size_t)w;
    }
    return 0;
}

void tls_close_notify(struct tls_session *s)
{
    if (!s->established)
        return;
    ERR_clear_error();
    (void)SSL_shutdown(s->ssl); /* 0: sent, the other's not read; memory BIOs never wait */
    ERR_clear_error();
}

bool tls_has_input(const struct tls_session *s)
{
    return BIO_ctrl_pending(s->in) > 0 || SSL_pending(s->ssl) > 0;
}

size_t tls_take(struct tls_session *s, void *buf, size_t cap)
{
    size_t avail = BIO_ctrl_pending(s->out);
    if (avail == 0 || cap == 0)
        return 0;
    if (cap > avail)
        cap = avail;
    if (cap > INT32_MAX)
        cap = INT32_MAX;
    int n = BIO_read(s->out, buf, (int)cap);
    return n > 0 ? (size_t)n : 0;
}

size_t tls_take_pending(const struct tls_session *s)
{
    return BIO_ctrl_pending(s->out);
}

bool tls_established(const struct tls_session *s)
{
    return s->established;
}

bool tls_peer_verified(const struct tls_session *s)
{
    if (!s->established)
        return false;
    X509 *cert = SSL_get0_peer_certificate(s->ssl);
    return cert && SSL_get_verify_result(s->ssl) == X509_V_OK;
}

bool tls_peer_is(const struct tls_session *s, const char *name)
{
    if (!tls_peer_verified(s) || !name || !name[0])
        return false;
    X509 *cert = SSL_get0_peer_certificate(s->ssl);
    return X509_check_host(cert, name, strlen(name), X509_CHECK_FLAG_NO_WILDCARDS, NULL) == 1;
}

bool tls_peer_is_member_cert(const struct tls_session *s)
{
    if (!tls_peer_verified(s))
        return false;
    X509 *cert = SSL_get0_peer_certificate(s->ssl);
    return X509_check_purpose(cert, X509_PURPOSE_SSL_SERVER, 0) == 1;
}

const char *tls_peer_common_name(struct tls_session *s)
{
    s->common_name[0] = '\0';
    X509 *cert = s->established ? SSL_get0_peer_certificate(s->ssl) : NULL;
    if (cert)
        X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, s->common_name,
                                  sizeof s->common_name);
    return s->common_name;
}

const char *tls_ctx_own_cert(const struct tls_ctx *c)
{
    return c->own_desc;
}

const char *tls_error(const struct tls_session *s)
{
    return s->error;
}
