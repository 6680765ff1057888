/* tls_test_util.h - the certificates the TLS tests (test_tls.c,
 * test_client_tls.c) handshake with: temporary directories, and two
 * clusters' CAs made by `raftkv certs` (src/net/certs.h). Header-only, as
 * test_storage_util.h. */
#ifndef RAFTKV_TLS_TEST_UTIL_H
#define RAFTKV_TLS_TEST_UTIL_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "net/certs.h"

/* A fresh directory /tmp/raftkv-PREFIX.XXXXXX, its path in d. */
static inline void ttu_mkdir(char *d, size_t cap, const char *prefix)
{
    snprintf(d, cap, "/tmp/raftkv-%s.XXXXXX", prefix);
    cr_assert_not_null(mkdtemp(d));
}

static inline void ttu_rmdir(const char *d)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", d);
    cr_assert_eq(system(cmd), 0);
}

/* Two clusters in fresh directories: in `dir` the CA "test", the member n1
 * (for 127.0.0.1 and localhost) and `peer` of `kind`; in `other` another
 * CA ("other") with a `peer` of the same name and kind, which dir's CA must
 * refuse. */
static inline void ttu_make_clusters(char *dir, char *other, size_t cap, const char *prefix,
                                     const char *peer, enum certs_kind kind)
{
    char err[512];
    ttu_mkdir(dir, cap, prefix);
    ttu_mkdir(other, cap, prefix);
    const char *hosts[] = {"127.0.0.1", "localhost"};
    cr_assert_eq(certs_make_ca(dir, "test", 2, err, sizeof err), 0, "%s", err);
    cr_assert_eq(certs_make_leaf(dir, "n1", CERTS_MEMBER, hosts, 2, 2, err, sizeof err), 0, "%s", err);
    cr_assert_eq(certs_make_leaf(dir, peer, kind, NULL, 0, 2, err, sizeof err), 0, "%s", err);
    cr_assert_eq(certs_make_ca(other, "other", 2, err, sizeof err), 0, "%s", err);
    cr_assert_eq(certs_make_leaf(other, peer, kind, NULL, 0, 2, err, sizeof err), 0, "%s", err);
}

#endif
