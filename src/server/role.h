/* role.h - how a member's Raft role reads to a Redis client, in ROLE and
 * INFO's "# Replication" section.
 *
 * The mapping: the leader answers as a Redis master, its followers as its
 * replicas; every other member (a follower, a candidate) answers as a
 * replica of the leader it knows. Replication offsets are Raft log
 * indexes: the master's offset is its last log index, each replica's the
 * leader's match index for it, and a replica's own offset its last log
 * index. Addresses are the members' peer addresses (--peers: a member does
 * not know the others' client ports); a client never needs them, since any
 * member takes any command. A replica's link is "connected" while its
 * connection to the leader is up, "connecting" otherwise, and when it
 * knows no leader its master is "" port 0. */
#ifndef RAFTKV_SERVER_ROLE_H
#define RAFTKV_SERVER_ROLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"
#include "server/resp.h"

struct role_member {
    const char *name; /* the member's stable name and id */
    int id;
    const char *host;
    int port;
    uint64_t offset; /* the leader's match index for it */
    bool online;     /* the leader's link to it is up */
};

struct role_view {
    bool master;
    uint64_t offset; /* this member's last log index */
    /* A replica's master: "" and 0 when no leader is known. */
    const char *master_host;
    int master_port;
    bool link_up;
    /* A master's replicas: the followers whose progress it tracks. */
    size_t n_replicas;
    struct role_member replicas[RAFT_MAX_NODES];
};

struct server;
void role_view_of(struct server *s, struct role_view *v);
/* ROLE's reply: ["master", offset, [[host, port, offset], ...]] or
 * ["slave", host, port, "connected"|"connecting", offset]. */
void role_write_reply(struct resp_buf *b, const struct role_view *v, int proto);
/* INFO's "# Replication" section, each line ending in CRLF. */
void role_write_info(struct resp_buf *b, const struct role_view *v);

#endif
