/* config.c - the cluster configuration as data (thesis chapter 4): its
 * binary encoding in RAFT_ENTRY_CONFIG entries, the configuration in force
 * as the log grows, is truncated, compacted and replaced by snapshots, and
 * single-server changes on the leader (RAFT_EVENT_CHANGE).
 *
 * Rules (raft.h says why): a configuration takes effect on every node when
 * its entry is appended, not when it commits; truncating the entry away
 * restores the previous one; the leader starts a change only when the
 * previous one committed and it committed an entry of its own term; a
 * leader that removed itself steps down once the change commits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raft/raft_private.h"

#define CONFIG_FORMAT 1

bool config_valid_members(const struct raft_configuration *c)
{
    if (c->n < 0 || c->n > RAFT_MAX_NODES)
        return false;
    for (int k = 0; k < c->n; k++) {
        const struct raft_member *m = &c->members[k];
        if (m->id < 0 || m->id >= RAFT_MAX_NODES ||
            (m->role != RAFT_VOTER && m->role != RAFT_LEARNER) ||
            (k > 0 && m->id <= c->members[k - 1].id))
            return false;
    }
    return true;
}

size_t raft_configuration_encode(const struct raft_configuration *c, uint8_t *buf, size_t cap)
{
    if (!config_valid_members(c) || cap < 2 + 2 * (size_t)c->n)
        return 0;
    buf[0] = CONFIG_FORMAT;
    buf[1] = (uint8_t)c->n;
    for (int k = 0; k < c->n; k++) {
        buf[2 + 2 * k] = (uint8_t)c->members[k].id;
        buf[3 + 2 * k] = (uint8_t)c->members[k].role;
    }
    return 2 + 2 * (size_t)c->n;
}

int raft_configuration_decode(const uint8_t *buf, size_t len, struct raft_configuration *c)
{
    if (len < 2 || !buf || buf[0] != CONFIG_FORMAT || buf[1] > RAFT_MAX_NODES ||
        len < 2 + 2 * (size_t)buf[1])
        return RAFT_ERR_INVALID;
    struct raft_configuration d;
    d.n = buf[1];
    for (int k = 0; k < d.n; k++) {
        d.members[k].id = buf[2 + 2 * k];
        d.members[k].role = buf[3 + 2 * k] == RAFT_VOTER    ? RAFT_VOTER
                            : buf[3 + 2 * k] == RAFT_LEARNER ? RAFT_LEARNER
                                                             : (enum raft_member_role)-1;
    }
    if (!config_valid_members(&d))
        return RAFT_ERR_INVALID;
    *c = d;
    return RAFT_OK;
}

const struct raft_member *raft_configuration_find(const struct raft_configuration *c, int id)
{
    for (int k = 0; k < c->n; k++)
        if (c->members[k].id == id)
            return &c->members[k];
    return NULL;
}

int raft_configuration_voters(const struct raft_configuration *c)
{
    int v = 0;
    for (int k = 0; k < c->n; k++)
        v += c->members[k].role == RAFT_VOTER;
    return v;
}

bool config_is_member(const struct raft *r, int id)
{
    return raft_configuration_find(&r->conf, id) != NULL;
}

bool config_is_voter(const struct raft *r, int id)
{
    const struct raft_member *m = raft_configuration_find(&r->conf, id);
    return m && m->role == RAFT_VOTER;
}

static void describe(const struct raft_configuration *c, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = 0;
    for (int k = 0; k < c->n && used + 8 < cap; k++)
        used += (size_t)snprintf(buf + used, cap - used, "%sn%d%s", k ? "," : "",
                                 c->members[k].id, c->members[k].role == RAFT_LEARNER ? "L" : "");
}

/* The configuration in force changes to `c` (from entry `index`, 0: none). */
static void set_conf(struct raft *r, const struct raft_configuration *c, raft_index index)
{
    struct raft_configuration old = r->conf;
    r->conf = *c;
    r->conf_index = index;
    quorum_update(r);
    if (r->cfg.trace) {
        char buf[RAFT_MAX_NODES * 5 + 1];
        describe(c, buf, sizeof buf);
        TRACE(r, "configuration of index %llu in force -> members {%s}", (unsigned long long)index,
              buf);
    }
    if (r->role != RAFT_LEADER)
        return;
    /* A leader starts tracking each member that joined (4.2.1: it
     * replicates to learners as to voters). */
    for (int k = 0; k < c->n; k++) {
        int id = c->members[k].id;
        if (id != r->cfg.id && !raft_configuration_find(&old, id))
            replication_progress_init(r, id);
    }
}

void config_init(struct raft *r, const struct raft_configuration *snap_conf)
{
    if (r->cfg.initial) {
        r->boot_conf = *r->cfg.initial;
    } else {
        r->boot_conf.n = r->cfg.n_nodes;
        for (int i = 0; i < r->cfg.n_nodes; i++)
            r->boot_conf.members[i] = (struct raft_member){.id = i, .role = RAFT_VOTER};
    }
    r->snap_conf = snap_conf ? *snap_conf : r->boot_conf;
    r->base_conf = r->snap_conf;
    r->conf = r->snap_conf;
    r->conf_index = 0;
    quorum_update(r);
}

void config_appended(struct raft *r, const struct raft_entry *e)
{
    if (e->type != RAFT_ENTRY_CONFIG)
        return;
    struct raft_configuration c;
    if (raft_configuration_decode(e->data, e->len, &c) != RAFT_OK)
        return; /* checked on the way in (msg_check, raft_new) */
    set_conf(r, &c, e->index);
}

/* The latest CONFIG entry at or before `index` in the log, else base_conf. */
static raft_index scan_back(const struct raft *r, raft_index index, struct raft_configuration *out)
{
    for (raft_index i = index; i > r->log.offset; i--) {
        const struct raft_entry *e = log_get(&r->log, i);
        if (e && e->type == RAFT_ENTRY_CONFIG &&
            raft_configuration_decode(e->data, e->len, out) == RAFT_OK)
            return i;
    }
    *out = r->base_conf;
    return 0;
}

/* The same, answered from the configuration in force when it can be:
 * conf_index 0 means the log in memory holds no CONFIG entry at all. */
static raft_index find_at(const struct raft *r, raft_index index, struct raft_configuration *out)
{
    if (r->conf_index == 0) {
        *out = r->base_conf;
        return 0;
    }
    if (r->conf_index <= index) {
        *out = r->conf;
        return r->conf_index;
    }
    return scan_back(r, index, out);
}

void config_at(const struct raft *r, raft_index index, struct raft_configuration *out)
{
    find_at(r, index, out);
}

void config_truncated(struct raft *r, raft_index from)
{
    if (r->conf_index < from)
        return;
    raft_index gone = r->conf_index;
    struct raft_configuration c;
    raft_index at = scan_back(r, log_last_index(&r->log), &c);
    TRACE(r, "CONFIG entry %llu truncated -> back to the configuration of index %llu",
          (unsigned long long)gone, (unsigned long long)at);
    set_conf(r, &c, at);
}

void config_before_compact(struct raft *r, raft_index upto)
{
    struct raft_configuration c;
    find_at(r, upto, &c);
    r->base_conf = c;
    if (r->conf_index <= upto)
        r->conf_index = 0; /* now behind the log: it is base_conf */
}

void config_snapshot_installed(struct raft *r, const struct raft_configuration *conf,
                               bool log_reset)
{
    r->snap_conf = conf ? *conf : r->boot_conf;
    r->base_conf = r->snap_conf;
    if (log_reset || r->conf_index <= r->snap_index) {
        /* The entries after the snapshot, if kept, hold no CONFIG entry. */
        set_conf(r, &r->snap_conf, 0);
    }
}

static const char *change_name(enum raft_change_type t)
{
    switch (t) {
    case RAFT_CHANGE_ADD_LEARNER:
        return "add learner";
    case RAFT_CHANGE_PROMOTE:
        return "promote";
    case RAFT_CHANGE_REMOVE:
        return "remove";
    }
    return "?";
}

/* The new configuration: `c` with one member added, promoted or removed,
 * or a refusal. */
static int apply_change(struct raft_configuration *c, enum raft_change_type type, int id)
{
    int k = 0;
    while (k < c->n && c->members[k].id < id)
        k++;
    bool present = k < c->n && c->members[k].id == id;
    switch (type) {
    case RAFT_CHANGE_ADD_LEARNER:
        if (present)
            return RAFT_ERR_MEMBER_EXISTS;
        memmove(&c->members[k + 1], &c->members[k], (size_t)(c->n - k) * sizeof c->members[0]);
        c->members[k] = (struct raft_member){.id = id, .role = RAFT_LEARNER};
        c->n++;
        return RAFT_OK;
    case RAFT_CHANGE_PROMOTE:
        if (!present)
            return RAFT_ERR_UNKNOWN_MEMBER;
        if (c->members[k].role == RAFT_VOTER)
            return RAFT_ERR_MEMBER_EXISTS;
        c->members[k].role = RAFT_VOTER;
        return RAFT_OK;
    case RAFT_CHANGE_REMOVE:
        if (!present)
            return RAFT_ERR_UNKNOWN_MEMBER;
        if (c->members[k].role == RAFT_VOTER && raft_configuration_voters(c) == 1)
            return RAFT_ERR_LAST_VOTER;
        memmove(&c->members[k], &c->members[k + 1], (size_t)(c->n - k - 1) * sizeof c->members[0]);
        c->n--;
        return RAFT_OK;
    }
    return RAFT_ERR_INVALID;
}

int config_change(struct raft *r, enum raft_change_type type, int id, const uint8_t *extra,
                  size_t extra_len)
{
    const char *what = change_name(type);
    if ((unsigned)type > RAFT_CHANGE_REMOVE || id < 0 || id >= RAFT_MAX_NODES)
        return RAFT_ERR_INVALID;
    if (r->role != RAFT_LEADER) {
        TRACE(r, "%s n%d as %s -> refuse, not leader", what, id, raft_role_name(r->role));
        return RAFT_ERR_NOT_LEADER;
    }
    if (transfer_active(r)) {
        TRACE(r, "%s n%d during a leadership transfer -> refuse", what, id);
        return RAFT_ERR_TRANSFERRING;
    }
    /* One change at a time: the previous one must be committed, so any
     * two configurations in use differ by one server at most (4.1). */
    if (r->conf_index > r->commit) {
        TRACE(r, "%s n%d with the change at %llu uncommitted -> refuse", what, id,
              (unsigned long long)r->conf_index);
        return RAFT_ERR_CHANGE_PENDING;
    }
    /* The known fix: a change from an earlier term may sit uncommitted in
     * this leader's log; committing an entry of its own term first settles
     * it (and every earlier term's) before a new one starts. */
    raft_term t;
    if (!log_term_at(&r->log, r->commit, &t) || t != r->term) {
        TRACE(r, "%s n%d before an entry of term %llu committed -> refuse", what, id,
              (unsigned long long)r->term);
        return RAFT_ERR_TERM_UNCOMMITTED;
    }
    struct raft_configuration c = r->conf;
    int rc = apply_change(&c, type, id);
    if (rc != RAFT_OK) {
        TRACE(r, "%s n%d -> refuse, %s", what, id, raft_strerror(rc));
        return rc;
    }
    raft_index last = log_last_index(&r->log);
    if (last >= r->cfg.max_index)
        return RAFT_ERR_BOUNDS;
    if (last - r->commit >= RAFT_MAX_UNCOMMITTED_ENTRIES)
        return RAFT_ERR_BUSY;
    if (extra_len > RAFT_CONFIGURATION_MAX_EXTRA || (extra_len && !extra))
        return RAFT_ERR_INVALID;
    uint8_t *buf = malloc(RAFT_CONFIGURATION_MAX_BYTES + extra_len);
    if (!buf)
        return RAFT_ERR_NOMEM;
    size_t len = raft_configuration_encode(&c, buf, RAFT_CONFIGURATION_MAX_BYTES);
    if (extra_len)
        memcpy(buf + len, extra, extra_len);
    rc = log_append(&r->log, r->term, RAFT_ENTRY_CONFIG, buf, (uint32_t)(len + extra_len));
    free(buf);
    if (rc != RAFT_OK)
        return RAFT_ERR_NOMEM;
    TRACE(r, "%s n%d -> append CONFIG at %llu", what, id, (unsigned long long)(last + 1));
    config_appended(r, log_get(&r->log, last + 1));
    r->proposed_first = last + 1;
    r->proposed_term = r->term;
    raft_mark_written(r, last + 1);
    replication_broadcast_append(r);
    /* Removing a voter may leave a quorum that already holds everything. */
    commit_leader_advance(r);
    return RAFT_OK;
}

void config_after_commit(struct raft *r)
{
    if (r->role != RAFT_LEADER || r->conf_index > r->commit || config_is_voter(r, r->cfg.id))
        return;
    TRACE(r, "change at %llu removing this leader committed -> step down",
          (unsigned long long)r->conf_index);
    election_become_follower(r, r->term, RAFT_NO_NODE);
}
