/* tls.h - TLS sessions over any byte stream, with OpenSSL and memory BIOs.
 *
 * No sockets and no event loop here: the caller moves bytes. Ciphertext
 * read from the network goes in with tls_feed(); plaintext comes out with
 * tls_read(), which also drives the handshake. Plaintext to send goes in
 * with tls_write(); ciphertext for the network comes out with tls_take().
 * After tls_feed, tls_read or tls_write there may be ciphertext to send
 * (handshake records, session tickets, alerts): call tls_take until it
 * returns 0 and write what it gave.
 *
 * A context (struct tls_ctx) holds one side's certificate, key and trusted
 * CAs; it is made once at start and shared by its sessions. Peers use TLS
 * 1.3 only, with certificates required and verified on both sides; the
 * client port follows Redis (TLS 1.2 or 1.3, client certificates required,
 * optional or not asked for).
 */
#ifndef RAFTKV_NET_TLS_H
#define RAFTKV_NET_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum tls_role { TLS_ROLE_SERVER, TLS_ROLE_CLIENT };

/* What a server asks of its clients' certificates. */
enum tls_client_auth { TLS_CLIENT_CERT_NONE, TLS_CLIENT_CERT_OPTIONAL, TLS_CLIENT_CERT_REQUIRED };

struct tls_ctx_options {
    enum tls_role role;
    const char *cert_file; /* PEM, leaf first then chain; NULL: no certificate (a client) */
    const char *key_file;  /* PEM private key of cert_file */
    const char *ca_file;   /* PEM CAs that verify the other side; NULL: verify nothing */
    enum tls_client_auth client_auth; /* servers only */
    bool tls13_only;                  /* refuse TLS 1.2 and older */
};

struct tls_ctx;
struct tls_session;

/* NULL on failure, with the reason (file, OpenSSL's error) in err. A client
 * context with a ca_file verifies the server's certificate. */
struct tls_ctx *tls_ctx_new(const struct tls_ctx_options *o, char *err, size_t errlen);
void tls_ctx_free(struct tls_ctx *c);
/* This side's certificate for error lines: "FILE (subject ..., issuer ...,
 * issuer key id ...)", or "" without one. A failed handshake's tls_error()
 * names the other side's certificate and the CA file it was checked
 * against, or this side's when the other refused it. */
const char *tls_ctx_own_cert(const struct tls_ctx *c);

/* A session of the context's role. For a client, expect_name (if not NULL)
 * is the name the server's certificate must carry (a DNS subjectAltName,
 * or the common name when it has none); the handshake fails otherwise.
 * NULL when out of memory. */
struct tls_session *tls_session_new(struct tls_ctx *c, const char *expect_name);
void tls_session_free(struct tls_session *s);

/* Ciphertext from the network. 0, or -1 when out of memory. */
int tls_feed(struct tls_session *s, const void *data, size_t n);

#define TLS_FAILED (-1) /* handshake or record failure: see tls_error(); close */
#define TLS_CLOSED (-2) /* the other side sent close_notify */

/* Drive the handshake, then decrypt into buf: the bytes given (> 0), 0 when
 * nothing more is available until more ciphertext is fed, or TLS_FAILED /
 * TLS_CLOSED. Call until it returns <= 0. */
ssize_t tls_read(struct tls_session *s, void *buf, size_t cap);

/* Whether a tls_read could give anything without more tls_feed: ciphertext
 * not yet processed, or plaintext of a record read only in part. Once this
 * is false after a read, the caller may stop instead of calling tls_read
 * again for its 0 (that call costs as much as decrypting a small record). */
bool tls_has_input(const struct tls_session *s);

/* Encrypt n bytes of plaintext. Only after the handshake is done (before
 * it, keep the plaintext and write it once tls_established). 0 (all taken),
 * or TLS_FAILED. */
int tls_write(struct tls_session *s, const void *data, size_t n);

/* Start the handshake of a client session (its ClientHello); then tls_take.
 * 0, or TLS_FAILED. */
int tls_start(struct tls_session *s);

/* Move up to cap bytes of ciphertext waiting for the network into buf:
 * the count, 0 when none is waiting. */
size_t tls_take(struct tls_session *s, void *buf, size_t cap);
size_t tls_take_pending(const struct tls_session *s); /* bytes tls_take would give */

bool tls_established(const struct tls_session *s);

/* After the handshake: queue a close_notify alert (then tls_take), so the
 * other side reads a clean end after what was written before it. */
void tls_close_notify(struct tls_session *s);

/* After the handshake: whether the other side showed a verified certificate
 * that names `name` (DNS subjectAltName, or common name without any). */
bool tls_peer_is(const struct tls_session *s, const char *name);
/* Whether the other side's verified certificate may act as a TLS server:
 * members' certificates may, clients' (made by raftkv certs) may not. */
bool tls_peer_is_member_cert(const struct tls_session *s);
/* Whether the other side showed a verified certificate at all. */
bool tls_peer_verified(const struct tls_session *s);
/* The certificate's common name (for logs), "" when none. */
const char *tls_peer_common_name(struct tls_session *s);

/* Why the last call failed ("" if it did not): OpenSSL's reason and, for a
 * certificate, the verification error. */
const char *tls_error(const struct tls_session *s);

#endif
