/* server_join.c - `raftkv serve --join HOST:PORT` on an empty data
 * directory: before the replica exists, wait on the peer port
 * (--peer-listen) for a member of the cluster to dial in, as every member
 * does once RAFT.NODE ADD named this one, and learn from its HELLO and
 * MEMBERS frames the cluster id, the member table and this member's id.
 * The dialler must show a member certificate of our CA naming the sender
 * (as any peer), address its HELLO to this member's name, and its table
 * must hold this member and a member at HOST:PORT (the address given to
 * --join), so a member is never taken into a cluster the operator did not
 * name. Then the connection closes, the normal start goes on as a
 * learner, and the member redials when its backoff ends. A table that
 * holds this member as a voter is refused (a voter whose disk was wiped:
 * it waits to be removed and added again), and SIGHUP while waiting
 * reopens --log-file instead of ending the process.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/tls.h"
#include "server/member_table.h"
#include "server/server_internal.h"

#define JOIN_CONN_TIMEOUT_MS 5000

struct join_result {
    struct member_table table;
    uint8_t cluster_id[CLUSTER_ID_BYTES];
    char sender[PEER_MAX_NAME + 1];
};

static int send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* SIGHUP while waiting (before the event loop's handler exists): reopen
 * --log-file, as the running server does; never stop. */
static volatile sig_atomic_t join_hup;

static void join_on_hup(int sig)
{
    (void)sig;
    join_hup = 1;
}

static void join_take_hup(const struct server *s)
{
    if (!join_hup)
        return;
    join_hup = 0;
    if (!s->opt.log_file[0])
        server_log(SLOG_INFO, "sighup", "action=none detail=\"no --log-file to reopen\"");
    else if (server_log_reopen() != 0)
        server_log(SLOG_ERROR, "log_reopen_failed", "path=%s reason=\"%s\" detail=\"still writing to the old file\"",
                   s->opt.log_file, strerror(errno));
    else
        server_log(SLOG_INFO, "log_reopened", "path=%s", s->opt.log_file);
}

/* Serve one inbound connection: 0 with *out filled, -1 (why) otherwise,
 * -2 when this member must not join before the operator acts (why). */
static int join_conn(struct server *s, int fd, struct tls_ctx *ctx, struct join_result *out, char *why,
                     size_t why_cap)
{
    struct tls_session *t = ctx ? tls_session_new(ctx, NULL) : NULL;
    if (ctx && !t) {
        snprintf(why, why_cap, "out of memory");
        return -1;
    }
    static uint8_t plain[1 << 20];
    size_t have = 0;
    bool hello = false;
    int rc = -1;
    snprintf(why, why_cap, "closed before the member table arrived");
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, JOIN_CONN_TIMEOUT_MS);
        if (pr < 0 && errno == EINTR) {
            join_take_hup(s);
            continue;
        }
        if (pr <= 0) {
            snprintf(why, why_cap, "nothing received within %d ms", JOIN_CONN_TIMEOUT_MS);
            break;
        }
        uint8_t net[16384];
        ssize_t n = recv(fd, net, sizeof net, 0);
        if (n <= 0)
            break;
        if (t) {
            if (tls_feed(t, net, (size_t)n) != 0)
                break;
            ssize_t got;
            while ((got = tls_read(t, plain + have, sizeof plain - have)) > 0)
                have += (size_t)got;
            uint8_t outb[16384];
            size_t k;
            while ((k = tls_take(t, outb, sizeof outb)) > 0)
                if (send_all(fd, outb, k) != 0)
                    break;
            if (got < 0) {
                snprintf(why, why_cap, "TLS: %s", tls_error(t));
                break;
            }
        } else {
            if ((size_t)n > sizeof plain - have)
                break;
            memcpy(plain + have, net, (size_t)n);
            have += (size_t)n;
        }
        size_t off = 0;
        for (;;) {
            uint8_t kind;
            size_t flen;
            int pk = peer_frame_peek(plain + off, have - off, sizeof plain, &kind, &flen);
            if (pk == 0)
                break;
            if (pk < 0) {
                snprintf(why, why_cap, "bad frame: %s", peer_strerror(pk));
                goto done;
            }
            const uint8_t *body = plain + off + PEER_FRAME_HEADER;
            size_t blen = flen - PEER_FRAME_HEADER;
            off += flen;
            if (!hello) {
                struct peer_hello h;
                if (kind != PEER_FRAME_HELLO || peer_decode_hello(body, blen, &h) != PEER_OK) {
                    snprintf(why, why_cap, "no handshake");
                    goto done;
                }
                const char *bad = t ? peer_gate_check_name(t, h.sender) : NULL;
                if (bad) {
                    snprintf(why, why_cap, "%s (claimed %s)", bad, h.sender);
                    goto done;
                }
                if (strcmp(h.receiver, s->opt.id) != 0) {
                    snprintf(why, why_cap, "handshake addressed to %s, not %s", h.receiver, s->opt.id);
                    goto done;
                }
                if (cluster_id_is_zero(h.cluster_id)) {
                    snprintf(why, why_cap, "%s does not know its cluster id yet", h.sender);
                    goto done;
                }
                memcpy(out->cluster_id, h.cluster_id, CLUSTER_ID_BYTES);
                snprintf(out->sender, sizeof out->sender, "%s", h.sender);
                hello = true;
                continue;
            }
            if (kind != PEER_FRAME_MEMBERS)
                continue; /* Raft traffic before the table: dropped, resent later */
            uint64_t index;
            const uint8_t *tb;
            size_t tl;
            memset(&out->table, 0, sizeof out->table);
            if (peer_decode_members(body, blen, &index, &tb, &tl) != PEER_OK ||
                member_table_decode(tb, tl, &out->table) != 0) {
                snprintf(why, why_cap, "malformed member table");
                goto done;
            }
            out->table.index = index;
            int self = member_table_find_name(&out->table, s->opt.id);
            if (self < 0) {
                snprintf(why, why_cap, "the table of %s does not hold %s: RAFT.NODE ADD it first", out->sender,
                         s->opt.id);
                goto done;
            }
            if (out->table.m[self].role == RAFT_VOTER) {
                /* Only a learner joins: ADD makes one, and a voter's promotion
                 * needs a log it acknowledged. A voter of that name joining
                 * with an empty directory lost that log (a wiped disk): were
                 * it let in, it would vote without the entries it helped
                 * commit. It waits until it is removed and added again. */
                snprintf(why, why_cap,
                         "the table of %s (index %" PRIu64 ") holds %s as a voter: this member was a voter and "
                         "its data directory is empty now (it lost its data), so it must not take part again "
                         "under the old membership; on the leader run RAFT.NODE REMOVE %s, then RAFT.NODE ADD "
                         "%s HOST:PORT, and this member joins as a new learner (docs/OPERATIONS.md, Replace)",
                         out->sender, (uint64_t)index, s->opt.id, s->opt.id, s->opt.id);
                rc = -2;
                goto done;
            }
            if (member_table_find_addr(&out->table, s->opt.join_host, s->opt.join_port) < 0) {
                snprintf(why, why_cap, "no member of %s's cluster is at --join %s:%d", out->sender,
                         s->opt.join_host, s->opt.join_port);
                goto done;
            }
            rc = 0;
            goto done;
        }
        memmove(plain, plain + off, have - off);
        have -= off;
    }
done:
    tls_session_free(t);
    return rc;
}

int server_join(struct server *s, struct member_table *table, uint8_t cluster_id[CLUSTER_ID_BYTES])
{
    const struct server_options *o = &s->opt;
    struct tls_ctx *ctx = NULL;
    if (o->peer_cert_file[0]) {
        char err[600];
        struct tls_ctx_options srv = {.role = TLS_ROLE_SERVER,
                                      .cert_file = o->peer_cert_file,
                                      .key_file = o->peer_key_file,
                                      .ca_file = o->peer_ca_file,
                                      .client_auth = TLS_CLIENT_CERT_REQUIRED,
                                      .tls13_only = true};
        ctx = tls_ctx_new(&srv, err, sizeof err);
        if (!ctx) {
            server_log(SLOG_ERROR, "peer_tls_setup_failed", "reason=\"%s\"", err);
            return -1;
        }
    }
    char port[16];
    snprintf(port, sizeof port, "%d", o->peer_listen_port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    int lfd = -1;
    if (getaddrinfo(o->peer_listen_host, port, &hints, &res) == 0 && res) {
        lfd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        if (lfd >= 0 && (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
                         bind(lfd, res->ai_addr, res->ai_addrlen) != 0 || listen(lfd, 16) != 0)) {
            close(lfd);
            lfd = -1;
        }
        freeaddrinfo(res);
    }
    if (lfd < 0) {
        server_log(SLOG_ERROR, "peer_listen_failed", "addr=%s:%d reason=\"%s\"", o->peer_listen_host,
                   o->peer_listen_port, strerror(errno));
        tls_ctx_free(ctx);
        return -1;
    }
    /* A wildcard bind is no address the others can dial: name the port. */
    const char *h = o->peer_listen_host;
    bool wild = !h[0] || strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0 || strcmp(h, "[::]") == 0;
    server_log(SLOG_INFO, "join_waiting", "addr=%s:%d join=%s:%d detail=\"waiting for the cluster to dial in: on "
               "its leader run RAFT.NODE ADD %s %s:%d\"",
               o->peer_listen_host, o->peer_listen_port, o->join_host, o->join_port, o->id,
               wild ? "THIS_HOSTS_ADDRESS" : h, o->peer_listen_port);
    struct sigaction hup = {.sa_handler = join_on_hup}; /* no SA_RESTART: accept() returns EINTR */
    sigemptyset(&hup.sa_mask);
    sigaction(SIGHUP, &hup, NULL);
    int rc = -1;
    for (;;) {
        struct sockaddr_storage from;
        socklen_t fl = sizeof from;
        int fd = accept(lfd, (struct sockaddr *)&from, &fl);
        if (fd < 0) {
            if (errno == EINTR) {
                join_take_hup(s);
                continue;
            }
            server_log(SLOG_ERROR, "join_failed", "reason=\"accept: %s\"", strerror(errno));
            break;
        }
        struct join_result jr;
        char why[700];
        int ok = join_conn(s, fd, ctx, &jr, why, sizeof why);
        close(fd);
        if (ok == 0) {
            *table = jr.table;
            memcpy(cluster_id, jr.cluster_id, CLUSTER_ID_BYTES);
            char hex[CLUSTER_ID_HEX_LEN + 1];
            cluster_id_hex(cluster_id, hex);
            server_log(SLOG_INFO, "join_learned", "from=%s cluster_id=%s id=%d members=%d index=%" PRIu64, jr.sender,
                       hex, member_table_find_name(table, o->id), member_table_count(table),
                       (uint64_t)table->index);
            rc = 0;
            break;
        }
        server_log_limited(ok == -2 ? SLOG_ERROR : SLOG_WARN, "join_refused", "reason=\"%s\"", why);
    }
    close(lfd);
    tls_ctx_free(ctx);
    return rc;
}
