/* role.c - ROLE and INFO's "# Replication" section from a member's Raft
 * state; the mapping is described in role.h. */
#include "server/role.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "server/server_internal.h"

void role_view_of(struct server *s, struct role_view *v)
{
    const struct server_options *o = &s->opt;
    struct replica *r = s->replica;
    memset(v, 0, sizeof *v);
    v->master = replica_role(r) == RAFT_LEADER;
    v->offset = replica_last_index(r);
    v->master_host = "";
    if (v->master) {
        for (int i = 0; i < o->n_nodes; i++) {
            raft_index match = 0, next = 0;
            if (i == o->self || !server_member_listed(s, i) || !replica_progress(r, i, &match, &next))
                continue;
            struct role_member *m = &v->replicas[v->n_replicas++];
            m->name = o->names[i];
            m->id = i;
            m->host = o->peer_host[i];
            m->port = o->peer_port[i];
            m->offset = match;
            m->online = s->links[i].state == LINK_CONNECTED;
        }
        return;
    }
    int leader = replica_leader(r);
    if (leader >= 0 && leader != o->self && leader < o->n_nodes) {
        v->master_host = o->peer_host[leader];
        v->master_port = o->peer_port[leader];
        v->link_up = s->links[leader].state == LINK_CONNECTED;
    }
}

static void bulk_text(struct resp_buf *b, const char *s)
{
    resp_write_bulk(b, s, strlen(s));
}

static void bulk_u64(struct resp_buf *b, uint64_t n)
{
    char num[24];
    int k = snprintf(num, sizeof num, "%" PRIu64, n);
    resp_write_bulk(b, num, (size_t)k);
}

void role_write_reply(struct resp_buf *b, const struct role_view *v, int proto)
{
    (void)proto; /* arrays in both protocols, as Redis */
    if (v->master) {
        resp_write_array_len(b, 3);
        bulk_text(b, "master");
        resp_write_int(b, (int64_t)v->offset);
        resp_write_array_len(b, v->n_replicas);
        for (size_t i = 0; i < v->n_replicas; i++) {
            resp_write_array_len(b, 3);
            bulk_text(b, v->replicas[i].host);
            bulk_u64(b, (uint64_t)v->replicas[i].port);
            bulk_u64(b, v->replicas[i].offset);
        }
        return;
    }
    resp_write_array_len(b, 5);
    bulk_text(b, "slave");
    bulk_text(b, v->master_host);
    resp_write_int(b, v->master_port);
    bulk_text(b, v->link_up ? "connected" : "connecting");
    resp_write_int(b, (int64_t)v->offset);
}

void role_write_info(struct resp_buf *b, const struct role_view *v)
{
    info_line(b, "# Replication");
    if (v->master) {
        size_t online = 0;
        for (size_t i = 0; i < v->n_replicas; i++)
            online += v->replicas[i].online;
        info_line(b, "role:master");
        info_line(b, "connected_slaves:%zu", online);
        /* Redis lists its connected replicas; lag (seconds) is not kept:
         * name, stable id and entries behind (lag_entries) are raftkv's. */
        size_t k = 0;
        for (size_t i = 0; i < v->n_replicas; i++)
            if (v->replicas[i].online)
                info_line(b, "slave%zu:ip=%s,port=%d,state=online,offset=%" PRIu64 ",name=%s,id=%d,lag_entries=%" PRIu64,
                          k++, v->replicas[i].host, v->replicas[i].port, v->replicas[i].offset, v->replicas[i].name,
                          v->replicas[i].id, v->offset > v->replicas[i].offset ? v->offset - v->replicas[i].offset : 0);
    } else {
        info_line(b, "role:slave");
        info_line(b, "master_host:%s", v->master_host);
        info_line(b, "master_port:%d", v->master_port);
        info_line(b, "master_link_status:%s", v->link_up ? "up" : "down");
        info_line(b, "master_sync_in_progress:0");
        info_line(b, "slave_repl_offset:%" PRIu64, v->offset);
        /* Writes sent to a follower are passed to the leader, not refused. */
        info_line(b, "slave_read_only:0");
        info_line(b, "connected_slaves:0");
    }
    info_line(b, "master_failover_state:no-failover");
    info_line(b, "master_repl_offset:%" PRIu64, v->offset);
}
