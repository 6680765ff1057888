/* client_tls.c - TLS on the client (Redis) port: the context the --tls-*
 * options ask for, made once at start, and the log of failed handshakes.
 *
 * As Redis: TLS 1.2 or 1.3; --tls-auth-clients yes (the default) refuses a
 * client without a certificate from --tls-ca-cert-file's CAs, optional
 * verifies one if shown, no does not ask. The connections themselves
 * (ciphertext in, plaintext to the RESP parser, replies out through
 * server_out) are client.c's.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "server/server_internal.h"

void client_tls_ctx_options(const struct server_options *o, struct tls_ctx_options *t)
{
    memset(t, 0, sizeof *t);
    t->role = TLS_ROLE_SERVER;
    t->cert_file = o->tls_cert_file;
    t->key_file = o->tls_key_file;
    t->ca_file = o->tls_ca_cert_file[0] ? o->tls_ca_cert_file : NULL;
    t->client_auth = o->tls_auth_clients;
    t->tls13_only = false; /* Redis's default tls-protocols: TLSv1.2 TLSv1.3 */
}

struct tls_ctx *client_tls_ctx_new(const struct server_options *o, char *err, size_t errlen)
{
    struct tls_ctx_options t;
    client_tls_ctx_options(o, &t);
    return tls_ctx_new(&t, err, errlen);
}

int client_tls_start(struct server *s)
{
    if (s->opt.tls_port == 0)
        return 0;
    char err[640];
    s->client_tls = client_tls_ctx_new(&s->opt, err, sizeof err);
    if (!s->client_tls) {
        server_log(SLOG_ERROR, "client_tls_config_failed", "reason=\"%s\"", err);
        return -1;
    }
    return 0;
}

void client_tls_log_failure(struct client *c, const char *reason)
{
    char addr[SERVER_ADDR_TEXT];
    char why[300];
    snprintf(why, sizeof why, "%s", reason && reason[0] ? reason : "unknown");
    for (char *p = why; *p; p++)
        if (*p == '"')
            *p = '\'';
    server_log_limited(SLOG_WARN, "client_tls_failed", "client=%" PRIu64 " addr=%s handshake=%s reason=\"%s\"",
                       c->id, server_addr_text(&c->tcp, addr, sizeof addr),
                       tls_established(c->tls) ? "done" : "failed", why);
}
