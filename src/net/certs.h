/* certs.h - a cluster's certificate authority and the certificates it signs
 * (members and clients), made with OpenSSL: what `raftkv certs` writes.
 *
 * Keys are ECDSA P-256. Files are PEM in one directory: ca.crt and ca.key
 * for the authority, NAME.crt and NAME.key for each certificate it signs.
 * Keys are written mode 0600 and never overwritten: making a certificate
 * that exists already is an error, so a second run cannot replace a
 * cluster's CA by accident.
 */
#ifndef RAFTKV_NET_CERTS_H
#define RAFTKV_NET_CERTS_H

#include <stddef.h>

/* A new CA in dir (ca.crt, ca.key), named after `cluster`, valid `days`.
 * 0, or -1 with the reason in err. */
int certs_make_ca(const char *dir, const char *cluster, int days, char *err, size_t errlen);

enum certs_kind {
    CERTS_MEMBER, /* a TLS server and client certificate, as a member's must be */
    CERTS_CLIENT, /* a TLS client certificate only: it cannot pass for a member */
};

/* NAME.crt and NAME.key in dir, signed by dir's CA. The certificate names
 * `name` (common name and a DNS subjectAltName) and each of `hosts` (IP
 * addresses or DNS names, n_hosts of them) as further subjectAltNames.
 * Members' certificates allow TLS server use and clients' do not, which is
 * how a peer tells a member from a client of the same CA. 0, or -1 with the
 * reason in err. */
int certs_make_leaf(const char *dir, const char *name, enum certs_kind kind, const char *const *hosts,
                    size_t n_hosts, int days, char *err, size_t errlen);

#endif
