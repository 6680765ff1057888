/* server_members.c - the member table at run time (member_table.h): built
 * at start from the data directory's `members` file or --peers, followed
 * after every batch as the core's configuration changes (the table rides
 * in each CONFIG entry, after the core's bytes), kept in the file, shown to
 * peer.c (names, addresses, links), learned from MEMBERS frames for members
 * a snapshot hid, and the end of a member the configuration no longer
 * holds. RAFT.NODE's changes are cmd_raft_node.c; `serve --join` is
 * server_join.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "server/member_table.h"
#include "server/server_internal.h"

/* Copy the table into the options' arrays, which the rest of the server
 * reads (names[id], peer_host[id], peer_port[id], n_nodes = highest id + 1).
 * This member's own slot stays filled even once it was removed. */
static void to_options(struct server *s, const struct member_table *t, bool peers_running)
{
    struct server_options *o = &s->opt;
    int top = o->self >= 0 ? o->self + 1 : 0;
    for (int i = 0; i < RAFT_MAX_NODES; i++) {
        const struct member_entry *e = &t->m[i];
        if (i == o->self && !e->used)
            continue;
        bool changed = e->used != (o->names[i][0] != '\0') ||
                       (e->used && (strcmp(o->names[i], e->name) != 0 || strcmp(o->peer_host[i], e->host) != 0 ||
                                    o->peer_port[i] != e->port));
        if (!e->used && o->names[i][0] && peers_running && i != o->self) {
            /* Removed: kept (and dialled) until it was told. */
            if (!(s->departed & (1ull << i))) {
                s->departed |= 1ull << i;
                s->departed_ms[i] = server_now(s);
            }
            if (i + 1 > top)
                top = i + 1;
            continue;
        }
        if (e->used && (s->departed & (1ull << i))) {
            s->departed &= ~(1ull << i); /* re-added before it was told */
            changed = true;
        }
        if (e->used) {
            snprintf(o->names[i], sizeof o->names[i], "%s", e->name);
            snprintf(o->peer_host[i], sizeof o->peer_host[i], "%s", e->host);
            o->peer_port[i] = e->port;
            if (i + 1 > top)
                top = i + 1;
        } else {
            o->names[i][0] = '\0';
        }
        if (changed && peers_running && i != o->self)
            peer_member_changed(s, i);
    }
    o->n_nodes = top;
}

int server_members_init(struct server *s, const struct member_table *joined)
{
    struct server_options *o = &s->opt;
    struct member_table t;
    memset(&t, 0, sizeof t);
    int rc = 1;
    if (joined) {
        t = *joined;
        rc = 0;
    } else if (!o->in_memory) {
        char err[512];
        rc = member_table_read(o->data_dir, &t, err, sizeof err);
        if (rc < 0) {
            server_log(SLOG_ERROR, "members_unreadable", "dir=%s reason=\"%s\" detail=\"restore the members file "
                       "from a backup, or empty the directory and add this member again (docs/OPERATIONS.md)\"",
                       o->data_dir, err);
            return -1;
        }
    }
    if (rc == 0) {
        s->members_dynamic = true;
    } else {
        if (o->n_nodes == 0) {
            server_log(SLOG_ERROR, "members_unknown", "detail=\"no members file and no --peers: start with "
                       "--peers to bootstrap, or --join to join a running cluster\"");
            return -1;
        }
        for (int i = 0; i < o->n_nodes; i++) {
            struct member_entry *e = &t.m[i];
            e->used = true;
            e->role = RAFT_VOTER;
            snprintf(e->name, sizeof e->name, "%s", o->names[i]);
            snprintf(e->host, sizeof e->host, "%s", o->peer_host[i]);
            e->port = o->peer_port[i];
        }
    }
    int self = member_table_find_name(&t, o->id);
    if (self < 0) {
        server_log(SLOG_ERROR, "member_removed", "name=%s dir=%s detail=\"this member is not in the cluster's "
                   "member table (it was removed). To bring it back, empty its data directory and add it "
                   "again: RAFT.NODE ADD %s HOST:PORT, then raftkv serve --join (docs/OPERATIONS.md)\"",
                   o->id, o->in_memory ? "-" : o->data_dir, o->id);
        return -1;
    }
    memset(o->names, 0, sizeof o->names);
    o->self = self;
    s->members = t;
    to_options(s, &t, false);
    if (s->members_dynamic) {
        snprintf(o->peers_text, sizeof o->peers_text, "(member table, index %" PRIu64 ")", (uint64_t)t.index);
        /* The identity record names the members it was first made with;
         * the table is what counts now. */
    }
    return 0;
}

void server_members_initial(const struct server *s, struct raft_configuration *c)
{
    member_table_configuration(&s->members, c);
}

/* The table that goes with the core's configuration now. */
static void table_for_configuration(struct server *s, struct member_table *next)
{
    const struct raft_configuration *conf = replica_configuration(s->replica);
    raft_index ci = replica_configuration_index(s->replica);
    *next = s->members;
    if (ci != s->members.index && ci > 0) {
        const struct raft_entry *e = replica_entry_at(s->replica, ci);
        size_t core = 2 + 2 * (size_t)conf->n;
        struct member_table t;
        memset(&t, 0, sizeof t);
        if (e && e->len > core && member_table_decode(e->data + core, e->len - core, &t) == 0) {
            *next = t;
        }
    }
    /* No CONFIG entry in the log: the configuration came with a snapshot,
     * and so did its table (kv.h, "raft_config"), if newer than ours. */
    uint64_t ki;
    const uint8_t *kb;
    size_t kl;
    if (ci == 0 && kv_configuration(replica_store(s->replica), &ki, &kb, &kl) && ki > s->members.index &&
        kl > 2 + 2 * (size_t)kb[1]) {
        size_t core = 2 + 2 * (size_t)kb[1];
        struct member_table t;
        memset(&t, 0, sizeof t);
        if (member_table_decode(kb + core, kl - core, &t) == 0) {
            *next = t;
            ci = ki;
        }
    }
    next->index = ci > 0 ? ci : s->members.index;
    /* The core decides who is a member and how it votes; the table only
     * names them. An id the table cannot name yet waits for a MEMBERS frame. */
    for (int i = 0; i < RAFT_MAX_NODES; i++) {
        const struct raft_member *m = raft_configuration_find(conf, i);
        if (!m)
            next->m[i].used = false;
        else if (next->m[i].used) {
            next->m[i].role = m->role;
            if (m->role == RAFT_VOTER)
                next->m[i].auto_promote = false;
        }
    }
}

static void adopt(struct server *s, const struct member_table *next, const char *from)
{
    bool same = member_table_same(&s->members, next);
    if (same && next->index == s->members.index)
        return;
    s->members = *next;
    s->members_dynamic = true;
    to_options(s, next, true);
    if (!s->opt.in_memory) {
        char err[512];
        if (member_table_write(s->opt.data_dir, next, err, sizeof err) != 0) {
            server_log(SLOG_ERROR, "members_write_failed", "dir=%s reason=\"%s\"", s->opt.data_dir, err);
            server_fatal(s, "cannot record the member table");
            return;
        }
    }
    if (same)
        return;
    char text[2048] = "";
    for (int i = 0; i < RAFT_MAX_NODES; i++) {
        const struct member_entry *e = &next->m[i];
        if (e->used)
            snprintf(text + strlen(text), sizeof text - strlen(text), "%s%s=%s:%d/%s", text[0] ? "," : "", e->name,
                     e->host, e->port, e->role == RAFT_LEARNER ? "learner" : "voter");
    }
    server_log(SLOG_INFO, "members_changed", "index=%" PRIu64 " from=%s members=%s", (uint64_t)next->index, from,
               text);
}

#define MEMBERS_NOTICE_MS 10000

/* Tell removed members, once the removal committed, then forget them. */
/* The shutdown a removal begins: its lines say so, and by which
 * configuration (and who told, when a peer did). */
static void begin_removed_shutdown(struct server *s, uint64_t index, const char *from)
{
    char why[160];
    if (from)
        snprintf(why, sizeof why, "removed from the cluster by the configuration at index %" PRIu64 " (told by %.64s)",
                 index, from);
    else
        snprintf(why, sizeof why, "removed from the cluster by the configuration at index %" PRIu64, index);
    server_begin_shutdown(s, why);
}

static void notify_departed(struct server *s)
{
    if (!s->departed || replica_commit_index(s->replica) < s->members.index)
        return;
    static struct peer_wbuf b;
    for (int i = 0; i < RAFT_MAX_NODES; i++) {
        if (!(s->departed & (1ull << i)))
            continue;
        b.len = 0;
        bool told = server_members_frame(s, &b) == 0 && peer_send_frame(s, i, b.data, b.len);
        if (!told && server_now(s) - s->departed_ms[i] < MEMBERS_NOTICE_MS)
            continue;
        server_log(SLOG_INFO, "member_departed", "peer=%s told=%s", s->opt.names[i], told ? "yes" : "no");
        s->departed &= ~(1ull << i);
        s->opt.names[i][0] = '\0';
        if (!told)
            peer_member_changed(s, i);
    }
}

void server_members_sync(struct server *s)
{
    if (!s->replica || s->fatal || s->told_removed)
        return;
    struct member_table next;
    table_for_configuration(s, &next);
    adopt(s, &next, "log");
    notify_departed(s);
    /* A member the configuration no longer holds stops, once it no longer
     * leads (a leader that removed itself steps down when the change
     * commits) and the change has stood for two election timeouts (long
     * enough for an uncommitted one to have been truncated away). */
    const struct raft_configuration *conf = replica_configuration(s->replica);
    uint64_t now = server_now(s);
    if (conf->n == 0 || raft_configuration_find(conf, s->opt.self) || replica_role(s->replica) == RAFT_LEADER) {
        s->removed_since_ms = 0;
        return;
    }
    if (!s->removed_since_ms)
        s->removed_since_ms = now;
    if (s->shutting_down || now - s->removed_since_ms < 2 * s->opt.election_timeout_ms)
        return;
    server_log(SLOG_ERROR, "member_removed", "name=%s index=%" PRIu64 " detail=\"the configuration at index %" PRIu64
               " no longer holds this member: it stops serving. To bring it back, empty its data directory "
               "and add it again (docs/OPERATIONS.md)\"",
               s->opt.id, (uint64_t)replica_configuration_index(s->replica),
               (uint64_t)replica_configuration_index(s->replica));
    begin_removed_shutdown(s, (uint64_t)replica_configuration_index(s->replica), NULL);
}

uint64_t server_members_deadline(const struct server *s)
{
    /* Once it shuts down the deadline is spent: a past one would re-arm
     * the tick timer at 0 ms for ever, and libuv runs such a timer again
     * in the same turn without updating its clock, so the member spun
     * and never finished (a removed leader). */
    if (!s->removed_since_ms || s->shutting_down)
        return UINT64_MAX;
    return s->removed_since_ms + 2 * s->opt.election_timeout_ms;
}

void server_members_told_removed(struct server *s, int from, const uint8_t *body, size_t len)
{
    uint64_t index;
    char name[PEER_MAX_NAME + 1];
    if (peer_decode_removed(body, len, &index, name) != PEER_OK) {
        server_log_limited(SLOG_WARN, "peer_bad_frame", "peer=%s reason=\"malformed removed frame\"",
                           s->opt.names[from]);
        return;
    }
    uint64_t known = s->members.index;
    if (s->replica && replica_configuration_index(s->replica) > known)
        known = replica_configuration_index(s->replica);
    if (!member_removal_applies(s->opt.id, name, index, known) || s->shutting_down || !s->replica) {
        server_log(SLOG_DEBUG, "member_removed_ignored", "from=%s name=%s index=%" PRIu64 " known=%" PRIu64,
                   s->opt.names[from], name, index, known);
        return;
    }
    server_log(SLOG_ERROR, "member_removed", "name=%s index=%" PRIu64 " from=%s detail=\"the cluster's committed "
               "configuration at index %" PRIu64 " no longer holds this member (it was removed while it was "
               "down): it stops serving. To bring it back, empty its data directory and add it again "
               "(docs/OPERATIONS.md)\"",
               s->opt.id, index, s->opt.names[from], index);
    /* Recorded, so a restart refuses at once (server_members_init); the
     * log's older table is not adopted again meanwhile (server_members_sync). */
    s->told_removed = true;
    struct member_table t = s->members;
    int self = member_table_find_name(&t, s->opt.id);
    if (self >= 0)
        t.m[self].used = false;
    t.index = index;
    s->members = t;
    s->members_dynamic = true;
    if (!s->opt.in_memory) {
        char err[512];
        if (member_table_write(s->opt.data_dir, &t, err, sizeof err) != 0)
            server_log(SLOG_ERROR, "members_write_failed", "dir=%s reason=\"%s\"", s->opt.data_dir, err);
    }
    begin_removed_shutdown(s, index, s->opt.names[from]);
}

const struct raft_member *server_member_listed(const struct server *s, int id)
{
    if (!s->replica || id < 0 || id >= RAFT_MAX_NODES || !s->opt.names[id][0])
        return NULL;
    return raft_configuration_find(replica_configuration(s->replica), id);
}

int server_members_frame(struct server *s, struct peer_wbuf *b)
{
    static uint8_t buf[MEMBER_TABLE_MAX_BYTES];
    size_t n = member_table_encode(&s->members, buf, sizeof buf);
    if (n == 0)
        return -1;
    return peer_encode_members(b, s->members.index, buf, n) == PEER_OK ? 0 : -1;
}

int server_members_received(struct server *s, int from, const uint8_t *body, size_t len)
{
    uint64_t index;
    const uint8_t *tb;
    size_t tl;
    if (peer_decode_members(body, len, &index, &tb, &tl) != PEER_OK)
        return PEER_ERR_MALFORMED;
    struct member_table t;
    memset(&t, 0, sizeof t);
    if (member_table_decode(tb, tl, &t) != 0)
        return PEER_ERR_MALFORMED;
    if (!s->replica)
        return PEER_OK;
    if (index > replica_configuration_index(s->replica) && member_table_find_name(&t, s->opt.id) < 0 &&
        !s->shutting_down) {
        server_log(SLOG_ERROR, "member_removed", "name=%s index=%" PRIu64 " from=%s detail=\"the cluster's "
                   "configuration at index %" PRIu64 " no longer holds this member: it stops serving. To bring it "
                   "back, empty its data directory and add it again (docs/OPERATIONS.md)\"",
                   s->opt.id, index, s->opt.names[from], index);
        begin_removed_shutdown(s, index, s->opt.names[from]);
        return PEER_OK;
    }
    /* Only names and addresses of members our configuration holds and our
     * table cannot name (their CONFIG entry came inside a snapshot). */
    const struct raft_configuration *conf = replica_configuration(s->replica);
    struct member_table next = s->members;
    bool any = false;
    for (int k = 0; k < conf->n; k++) {
        int id = conf->members[k].id;
        if (next.m[id].used || !t.m[id].used || member_table_find_name(&next, t.m[id].name) >= 0)
            continue;
        next.m[id] = t.m[id];
        next.m[id].role = conf->members[k].role;
        any = true;
    }
    if (any) {
        char src[PEER_MAX_NAME + 16];
        snprintf(src, sizeof src, "peer:%s", s->opt.names[from]);
        adopt(s, &next, src);
    }
    return PEER_OK;
}
