/* resp_conn.h - a blocking RESP client connection for raftkv's own command
 * line tools (raftkv backup): TCP, optionally TLS with redis-cli's options
 * (--tls --cacert --cert --key --sni), AUTH with a user and password, and
 * one reply read at a time, each held whole in memory (the caller bounds
 * what it asks for). Not for the server's event loop.
 */
#ifndef RAFTKV_SERVER_RESP_CONN_H
#define RAFTKV_SERVER_RESP_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/resp.h"

struct resp_conn_options {
    bool tls;
    const char *cacert, *cert, *key; /* PEM files; cacert verifies the server */
    const char *sni;                 /* the name the server's certificate must carry
                                      * (default: the host dialled) */
    const char *user, *pass;         /* AUTH [user] pass when pass is set */
    uint64_t timeout_ms;             /* each connect, send and wait for a reply */
};

struct resp_conn;

#define RESP_CONN_MAX_REPLY (16u << 20)

/* Connect to host:port (and shake hands, and AUTH). NULL with why in err. */
struct resp_conn *resp_conn_open(const char *host, int port, const struct resp_conn_options *o,
                                 char *err, size_t errlen);
void resp_conn_close(struct resp_conn *c);

/* Send one command of argc words. 0, or -1 with why in err. */
int resp_conn_send(struct resp_conn *c, int argc, const char *const *argv, char *err, size_t errlen);

/* Read the next reply (at most RESP_CONN_MAX_REPLY bytes): a flat reply (resp.h) whose str points into the
 * connection's buffer, valid until the next call; an array's elements are
 * the next replies. 0, or -1 (connection lost, timeout, malformed) with why
 * in err. */
int resp_conn_read(struct resp_conn *c, struct resp_reply *out, char *err, size_t errlen);

/* Whether a reply may be read without waiting: 1 when bytes are buffered
 * or the socket is readable within ms, 0 when not, -1 on error. */
int resp_conn_wait(struct resp_conn *c, int ms);

/* "host:port" into host and *port ("[v6]:port" too). 0 or -1. */
int resp_conn_parse_addr(const char *s, char *host, size_t hostlen, int *port);

#endif
