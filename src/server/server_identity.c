/* server_identity.c - which member this server is and to which cluster it
 * belongs: the data directory's identity record checked (or made) at
 * start, the cluster id drawn for a first bootstrap and learned from the
 * Raft log, the handshake's refusal of a peer from another cluster, and
 * an empty member's refusal to take part in a cluster that already exists
 * (it may be a voter that lost its log) unless --first-start vouches for it.
 * The record's format is src/storage/identity.h; how the id is agreed is
 * replica.h (config.cluster_id) and kv.h (KV_CLUSTER_ID). */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "server/server_internal.h"

static void id_text(const struct identity *id, char *hex)
{
    if (id->has_cluster_id)
        cluster_id_hex(id->cluster_id, hex);
    else
        strcpy(hex, "none");
}

#define MEMBERS_TEXT 512

static void refuse(const struct server *s, const char *reason, const char *detail)
{
    server_log(SLOG_ERROR, "identity_refused", "reason=%s dir=%s detail=\"%s\"", reason,
               s->opt.data_dir, detail);
}

int server_identity_start(struct server *s)
{
    const struct server_options *o = &s->opt;
    const char *members[RAFT_MAX_NODES];
    int n_members = 0;
    for (int i = 0; i < o->n_nodes; i++)
        if (o->names[i][0])
            members[n_members++] = o->names[i];
    struct identity given;
    if (identity_init(&given, o->id, members, n_members) != 0) {
        server_log(SLOG_ERROR, "identity_refused", "reason=bad_names detail=\"--id and --peers names must be 1 to %d bytes, distinct\"",
                   IDENTITY_MAX_NAME);
        return -1;
    }
    char given_members[MEMBERS_TEXT];
    identity_members_text(&given, given_members, sizeof given_members);
    if (o->in_memory) {
        s->identity = given; /* nothing recorded: every start is a fresh member */
    } else {
        char err[512], detail[2048];
        struct identity rec;
        int rc = identity_read(o->data_dir, &rec, err, sizeof err);
        if (rc == IDENTITY_MISSING && s->storage_had_data) {
            snprintf(detail, sizeof detail,
                     "the data directory holds Raft state but no identity record (%s), so nothing "
                     "says which member of which cluster it belongs to. Restore its identity file, or "
                     "empty the directory to join as a new member",
                     err);
            refuse(s, "no_identity_record", detail);
            return -1;
        }
        if (rc == IDENTITY_MISSING) {
            rc = identity_write(o->data_dir, &given, err, sizeof err);
            if (rc != IDENTITY_OK) {
                server_log(SLOG_ERROR, "identity_write_failed", "dir=%s reason=\"%s\"", o->data_dir, err);
                return -1;
            }
            server_log(SLOG_INFO, "identity_created", "dir=%s name=%s members=%s", o->data_dir, o->id,
                       given_members);
            rec = given;
        } else if (rc != IDENTITY_OK) {
            snprintf(detail, sizeof detail,
                     "%s. Restore the identity file from a backup, or empty the directory to join as "
                     "a new member",
                     err);
            refuse(s, rc == IDENTITY_CORRUPT ? "identity_damaged" : "identity_unreadable", detail);
            return -1;
        }
        char rec_members[sizeof given_members];
        identity_members_text(&rec, rec_members, sizeof rec_members);
        rc = identity_check(&rec, &given);
        if (rc == IDENTITY_NAME_DIFFERS) {
            snprintf(detail, sizeof detail,
                     "this data directory belongs to member %s, and this member was started as %s. "
                     "Start it with --id %s, or give %s an empty data directory of its own",
                     rec.name, o->id, rec.name, o->id);
            server_log(SLOG_ERROR, "identity_refused", "reason=name_mismatch dir=%s recorded_name=%s given_name=%s detail=\"%s\"",
                       o->data_dir, rec.name, o->id, detail);
            return -1;
        }
        if (rc == IDENTITY_MEMBERS_DIFFER && !s->members_dynamic) {
            snprintf(detail, sizeof detail,
                     "this data directory was made for a cluster of members %s, and this member was "
                     "started with members %s. Start it with --peers naming exactly %s (addresses "
                     "may change), or use an empty data directory for another cluster",
                     rec_members, given_members, rec_members);
            server_log(SLOG_ERROR, "identity_refused", "reason=members_mismatch dir=%s recorded_members=%s given_members=%s detail=\"%s\"",
                       o->data_dir, rec_members, given_members, detail);
            return -1;
        }
        s->identity = rec;
    }
    if (o->first_start && s->identity.has_cluster_id)
        server_log(SLOG_WARN, "first_start_ignored", "dir=%s detail=\"--first-start is for an empty data "
                   "directory; this one holds a cluster id already\"", o->in_memory ? "-" : o->data_dir);
    char hex[CLUSTER_ID_HEX_LEN + 1];
    id_text(&s->identity, hex);
    server_log(SLOG_INFO, "identity", "name=%s members=%s cluster_id=%s recorded=%s", o->id, given_members,
               hex, o->in_memory ? "no" : o->data_dir);
    return 0;
}

static void on_snapshot_refused(void *ctx, int from, const uint8_t ours[CLUSTER_ID_BYTES],
                                const uint8_t theirs[CLUSTER_ID_BYTES])
{
    struct server *s = ctx;
    char a[CLUSTER_ID_HEX_LEN + 1], b[CLUSTER_ID_HEX_LEN + 1];
    cluster_id_hex(ours, a);
    cluster_id_hex(theirs, b);
    s->stats.peers_refused++;
    server_log(SLOG_ERROR, "peer_refused", "reason=cluster_id_mismatch kind=snapshot peer=%s ours=%s theirs=%s",
               s->opt.names[from], a, b);
}

/* 16 random bytes, not all zero (all zero means "none"). */
static int draw(uint8_t out[CLUSTER_ID_BYTES])
{
    size_t got = 0;
    while (got < CLUSTER_ID_BYTES) {
        ssize_t n = getrandom(out + got, CLUSTER_ID_BYTES - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            server_log(SLOG_ERROR, "cluster_id_draw_failed", "reason=\"getrandom: %s\"", strerror(errno));
            return -1;
        }
        got += (size_t)n;
    }
    if (cluster_id_is_zero(out))
        out[0] = 1;
    return 0;
}

int server_identity_replica_config(struct server *s, struct replica_config *c)
{
    c->snapshot_refused = on_snapshot_refused;
    /* The map hash key goes with the id, if this member proposes it: drawn
     * at every start, never recorded (the log and snapshots carry the one
     * applied). */
    if (draw(c->map_key) != 0)
        return -1;
    /* A member that knows the id proposes that one, should it ever lead a
     * state machine without it (members that all took the id from
     * handshakes); otherwise a new one is drawn at every start, used only
     * if this member leads a cluster that has none yet. */
    if (s->identity.has_cluster_id) {
        memcpy(c->cluster_id, s->identity.cluster_id, CLUSTER_ID_BYTES);
        return 0;
    }
    return draw(c->cluster_id);
}

/* Record a cluster id learned from the replica's state machine or a
 * peer's handshake. 0, or -1 (logged) when it cannot be written. */
static int learn(struct server *s, const uint8_t id[CLUSTER_ID_BYTES], const char *from)
{
    struct identity next = s->identity;
    next.has_cluster_id = true;
    memcpy(next.cluster_id, id, CLUSTER_ID_BYTES);
    if (!s->opt.in_memory) {
        char err[512];
        if (identity_write(s->opt.data_dir, &next, err, sizeof err) != IDENTITY_OK) {
            server_log(SLOG_ERROR, "identity_write_failed", "dir=%s reason=\"%s\"", s->opt.data_dir, err);
            return -1;
        }
    }
    s->identity = next;
    if (s->replica)
        replica_set_cluster_id(s->replica, id);
    char hex[CLUSTER_ID_HEX_LEN + 1];
    cluster_id_hex(id, hex);
    server_log(SLOG_INFO, "cluster_id_learned", "name=%s cluster_id=%s from=%s", s->opt.id, hex, from);
    return 0;
}

int server_identity_learn(struct server *s, const uint8_t id[CLUSTER_ID_BYTES], const char *from)
{
    if (s->identity.has_cluster_id)
        return memcmp(s->identity.cluster_id, id, CLUSTER_ID_BYTES) == 0 ? 0 : -1;
    return learn(s, id, from);
}

int server_identity_sync(struct server *s)
{
    uint8_t id[CLUSTER_ID_BYTES];
    if (!s->replica || !replica_cluster_id(s->replica, id))
        return 0;
    if (s->identity.has_cluster_id) {
        if (memcmp(s->identity.cluster_id, id, sizeof id) == 0)
            return 0;
        char hex[CLUSTER_ID_HEX_LEN + 1], rec[CLUSTER_ID_HEX_LEN + 1];
        cluster_id_hex(id, hex);
        cluster_id_hex(s->identity.cluster_id, rec);
        server_log(SLOG_ERROR, "cluster_id_conflict", "dir=%s recorded=%s state_machine=%s detail=\"the Raft state holds another cluster's id than the identity record: this directory mixes two clusters' data\"",
                   s->opt.in_memory ? "-" : s->opt.data_dir, rec, hex);
        return -1;
    }
    return learn(s, id, "log");
}

void server_identity_hello(const struct server *s, uint8_t out[CLUSTER_ID_BYTES])
{
    if (s->identity.has_cluster_id)
        memcpy(out, s->identity.cluster_id, CLUSTER_ID_BYTES);
    else
        memset(out, 0, CLUSTER_ID_BYTES);
}

/* Whether this member holds nothing of any cluster: no cluster id and no
 * log entry or snapshot. Such a member of a --peers list may be a new
 * cluster's (all start so), or a voter whose data directory was wiped:
 * it acknowledged entries it no longer has, and its vote could elect a
 * member missing committed entries. */
static bool holds_nothing(const struct server *s)
{
    return !s->identity.has_cluster_id && s->replica && replica_last_index(s->replica) == 0;
}

bool server_identity_stays_out(bool peer_has_id, bool holds_nothing, bool first_start, bool joining, int n_nodes)
{
    if (!peer_has_id)
        return false; /* a new cluster: no member has drawn its id yet */
    if (first_start || joining || n_nodes < 2)
        return false; /* vouched for, or the join decides, or no peers */
    return holds_nothing;
}

static uint64_t empty_refused_logged_ms;

bool server_identity_refuses_empty(struct server *s, const struct peer_hello *h, const char *addr)
{
    if (!server_identity_stays_out(!cluster_id_is_zero(h->cluster_id), holds_nothing(s), s->opt.first_start,
                                   s->opt.join_set, s->opt.n_nodes))
        return false;
    /* The peer belongs to a cluster that exists (its first leader drew
     * the id and committed it), and this member holds none of its log.
     * Refusing every such connection keeps it out of the cluster: it
     * hears no vote request and no entry, so it neither votes nor counts
     * toward a quorum; what it sends itself (pre-votes) is refused by any
     * member with a longer log and changes no term. */
    s->stats.peers_refused++;
    uint64_t now = server_now(s);
    if (empty_refused_logged_ms && now - empty_refused_logged_ms < 60000)
        return true;
    empty_refused_logged_ms = now;
    char theirs[CLUSTER_ID_HEX_LEN + 1];
    cluster_id_hex(h->cluster_id, theirs);
    const char *dir = s->opt.in_memory ? "(in memory)" : s->opt.data_dir;
    server_log(SLOG_ERROR, "empty_member_refused",
               "name=%s peer=%s addr=%s cluster_id=%s dir=%s detail=\"this member holds no log and no cluster id, "
               "but %s belongs to cluster %s, which exists already: if this member's data directory was wiped or "
               "lost, it has forgotten entries it acknowledged, and its vote could elect a member missing committed "
               "entries, so it stays out of the cluster (it refuses the cluster's connections: no vote, no entries, "
               "no quorum). Replace it (docs/OPERATIONS.md, Replace): stop it, RAFT.NODE REMOVE %s on the leader, "
               "start it with an empty data directory and --join HOST:PORT --peer-listen HOST:PORT instead of "
               "--peers, then RAFT.NODE ADD %s HOST:PORT on the leader. Only if it never ran before (a new "
               "cluster's member started after the others elected a leader), start it once with --first-start "
               "instead. Repeated once a minute while it lasts\"",
               s->opt.id, h->sender, addr, theirs, dir, h->sender, theirs, s->opt.id, s->opt.id);
    return true;
}

bool server_identity_hello_ok(struct server *s, const struct peer_hello *h, const uv_tcp_t *tcp)
{
    if (cluster_id_is_zero(h->cluster_id))
        return true; /* a fresh member: it learns the id from us */
    if (!s->identity.has_cluster_id) {
        /* We are the fresh one (a new or wiped member), and the sender is a
         * configured peer of the same peer list: take its id. A member
         * that lost its data gets no log entries (lost_data.c), so the
         * handshake is how it learns the id; should the log later carry
         * another one, server_identity_sync stops this member. */
        char from[PEER_MAX_NAME + 16];
        snprintf(from, sizeof from, "handshake:%s", h->sender);
        if (learn(s, h->cluster_id, from) != 0) {
            server_fatal(s, "cannot record the cluster id");
            return false;
        }
        return true;
    }
    if (memcmp(h->cluster_id, s->identity.cluster_id, CLUSTER_ID_BYTES) == 0)
        return true;
    char ours[CLUSTER_ID_HEX_LEN + 1], theirs[CLUSTER_ID_HEX_LEN + 1], addr[SERVER_ADDR_TEXT];
    cluster_id_hex(s->identity.cluster_id, ours);
    cluster_id_hex(h->cluster_id, theirs);
    server_log_limited(SLOG_ERROR, "peer_refused",
               "reason=cluster_id_mismatch peer=%s addr=%s ours=%s theirs=%s"
               " detail=\"%s and this member hold the data of two different clusters; its connections are closed. "
               "Compare cluster_id (INFO server) on every member: the members that differ from the majority are the "
               "wrong ones. One made by raftkv restore: restore it again with the same FILE and --cluster-token as "
               "the others. Otherwise replace each wrong one (docs/OPERATIONS.md, Replace): emptying the directory of a voter "
               "started with --peers would make it vote without its data\"",
               h->sender, server_addr_text(tcp, addr, sizeof addr), ours, theirs, h->sender);
    return false;
}
