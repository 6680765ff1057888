/* certs.c - making a cluster's CA and the certificates it signs (certs.h). */
#include "net/certs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void reason(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_get_error();
    char ossl[200] = "";
    if (e)
        ERR_error_string_n(e, ossl, sizeof ossl);
    snprintf(err, errlen, "%s%s%s", what, ossl[0] ? ": " : "", ossl);
}

static int path(char *out, size_t cap, const char *dir, const char *name, const char *ext)
{
    int n = snprintf(out, cap, "%s/%s.%s", dir, name, ext);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* Create `file` exclusively with `mode` and write a PEM object into it. */
static int write_pem(const char *file, mode_t mode, EVP_PKEY *key, X509 *cert, char *err, size_t errlen)
{
    int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", file, strerror(errno));
        return -1;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        snprintf(err, errlen, "cannot write %s: %s", file, strerror(errno));
        return -1;
    }
    int ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) : PEM_write_X509(f, cert);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        ok = 0;
    if (fclose(f) != 0)
        ok = 0;
    if (ok != 1) {
        snprintf(err, errlen, "cannot write %s", file);
        unlink(file);
        return -1;
    }
    return 0;
}

static bool add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return false;
    bool ok = X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

/* A certificate for `key` named `cn`, valid from now for `days`, issued
 * by issuer/issuer_key (itself when they are NULL). */
static X509 *new_cert(EVP_PKEY *key, const char *cn, int days, X509 *issuer, EVP_PKEY *issuer_key)
{
    X509 *cert = X509_new();
    if (!cert)
        return NULL;
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    bool ok = RAND_bytes(serial, sizeof serial) == 1;
    serial[0] &= 0x7f; /* positive */
    ok = ok && (bn = BN_bin2bn(serial, sizeof serial, NULL)) != NULL;
    ok = ok && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL;
    BN_free(bn);
    ok = ok && X509_set_version(cert, 2) == 1;
    ok = ok && X509_gmtime_adj(X509_getm_notBefore(cert), -3600) != NULL;
    ok = ok && X509_time_adj_ex(X509_getm_notAfter(cert), days, 0, NULL) != NULL;
    ok = ok && X509_set_pubkey(cert, key) == 1;
    X509_NAME *name = X509_get_subject_name(cert);
    ok = ok && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) == 1;
    ok = ok && X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name) == 1;
    (void)issuer_key;
    if (!ok) {
        X509_free(cert);
        return NULL;
    }
    return cert;
}

static EVP_PKEY *load_key(const char *file)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return NULL;
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    return k;
}

static X509 *load_cert(const char *file)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return NULL;
    X509 *c = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    return c;
}

/* Write key then certificate; on failure neither file is left behind. */
static int write_pair(const char *dir, const char *name, EVP_PKEY *key, X509 *cert, char *err, size_t errlen)
{
    char kfile[4096], cfile[4096];
    if (path(kfile, sizeof kfile, dir, name, "key") || path(cfile, sizeof cfile, dir, name, "crt")) {
        snprintf(err, errlen, "path too long");
        return -1;
    }
    if (access(cfile, F_OK) == 0 || access(kfile, F_OK) == 0) {
        snprintf(err, errlen, "%s or %s exists already; not replacing it", cfile, kfile);
        return -1;
    }
    if (write_pem(kfile, 0600, key, NULL, err, errlen) != 0)
        return -1;
    if (write_pem(cfile, 0644, NULL, cert, err, errlen) != 0) {
        unlink(kfile);
        return -1;
    }
    return 0;
}

int certs_make_ca(const char *dir, const char *cluster, int days, char *err, size_t errlen)
{
    ERR_clear_error();
    EVP_PKEY *key = EVP_EC_gen("P-256");
    if (!key) {
        reason(err, errlen, "cannot make a key");
        return -1;
    }
    char cn[256];
    snprintf(cn, sizeof cn, "raftkv cluster CA %s", cluster);
    X509 *cert = new_cert(key, cn, days, NULL, NULL);
    bool ok = cert && add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
              add_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign") &&
              add_ext(cert, cert, NID_subject_key_identifier, "hash") &&
              X509_sign(cert, key, EVP_sha256()) > 0;
    int rc = -1;
    if (!ok)
        reason(err, errlen, "cannot make the CA certificate");
    else
        rc = write_pair(dir, "ca", key, cert, err, errlen);
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}

int certs_make_leaf(const char *dir, const char *name, enum certs_kind kind, const char *const *hosts,
                    size_t n_hosts, int days, char *err, size_t errlen)
{
    ERR_clear_error();
    char cafile[4096], cakeyfile[4096];
    if (path(cafile, sizeof cafile, dir, "ca", "crt") || path(cakeyfile, sizeof cakeyfile, dir, "ca", "key")) {
        snprintf(err, errlen, "path too long");
        return -1;
    }
    X509 *ca = load_cert(cafile);
    EVP_PKEY *cakey = load_key(cakeyfile);
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    int rc = -1;
    if (!ca || !cakey) {
        snprintf(err, errlen, "cannot read the CA (%s, %s): make it first", cafile, cakeyfile);
        goto out;
    }
    if (!name[0] || strchr(name, ',') || strchr(name, '/')) {
        snprintf(err, errlen, "bad certificate name \"%s\"", name);
        goto out;
    }
    char san[4096];
    size_t used = (size_t)snprintf(san, sizeof san, "DNS:%s", name);
    for (size_t i = 0; i < n_hosts && used < sizeof san; i++) {
        unsigned char ip[16];
        bool is_ip = inet_pton(AF_INET, hosts[i], ip) == 1 || inet_pton(AF_INET6, hosts[i], ip) == 1;
        if (!hosts[i][0] || strchr(hosts[i], ',')) {
            snprintf(err, errlen, "bad host name \"%s\"", hosts[i]);
            goto out;
        }
        used += (size_t)snprintf(san + used, sizeof san - used, ",%s:%s", is_ip ? "IP" : "DNS", hosts[i]);
    }
    if (used >= sizeof san) {
        snprintf(err, errlen, "too many host names");
        goto out;
    }
    key = EVP_EC_gen("P-256");
    cert = key ? new_cert(key, name, days, ca, cakey) : NULL;
    bool ok = cert && add_ext(cert, ca, NID_basic_constraints, "critical,CA:FALSE") &&
              add_ext(cert, ca, NID_key_usage, "critical,digitalSignature,keyAgreement") &&
              add_ext(cert, ca, NID_ext_key_usage, kind == CERTS_MEMBER ? "serverAuth,clientAuth" : "clientAuth") &&
              add_ext(cert, ca, NID_subject_alt_name, san) &&
              add_ext(cert, ca, NID_authority_key_identifier, "keyid:always") &&
              X509_sign(cert, cakey, EVP_sha256()) > 0;
    if (!ok)
        reason(err, errlen, "cannot make the certificate");
    else
        rc = write_pair(dir, name, key, cert, err, errlen);
out:
    X509_free(cert);
    EVP_PKEY_free(key);
    X509_free(ca);
    EVP_PKEY_free(cakey);
    return rc;
}
