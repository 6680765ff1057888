/* recv_snapshot.c - snapshots: taking one from the driver's state machine
 * and compacting the log behind it (thesis 5.1), and installing one sent by
 * the leader to a follower whose next entry it no longer holds (5.3 of the
 * thesis, InstallSnapshot).
 */
#include <stdlib.h>
#include <string.h>

#include "raft/raft_private.h"

static int keep_image(struct raft *r, raft_index index, raft_term term, const uint8_t *data,
                      size_t len)
{
    uint8_t *copy = NULL;
    if (len) {
        copy = malloc(len);
        if (!copy)
            return RAFT_ERR_NOMEM;
        memcpy(copy, data, len);
    }
    free(r->snap_data);
    r->snap_data = copy;
    r->snap_len = len;
    r->snap_index = index;
    r->snap_term = term;
    return RAFT_OK;
}

int snapshot_take(struct raft *r, raft_index index, const uint8_t *data, size_t len)
{
    if (index > r->applied)
        return RAFT_ERR_INVALID; /* the image cannot hold what was not applied */
    if (index <= r->snap_index)
        return RAFT_OK; /* already have a newer one */
    raft_term term;
    if (!log_term_at(&r->log, index, &term))
        return RAFT_ERR_INVALID;
    struct raft_configuration conf;
    config_at(r, index, &conf);
    int rc = keep_image(r, index, term, data, len);
    if (rc != RAFT_OK)
        return rc;
    r->snap_conf = conf; /* the driver stores it beside the image */
    /* Keep a few entries behind the image so that a follower just behind
     * gets entries, not the whole image. */
    size_t keep = r->cfg.snapshot_trailing;
    raft_index upto = index > keep ? index - keep : 0;
    if (upto > r->log.offset) {
        config_before_compact(r, upto);
        log_compact_to(&r->log, upto);
    }
    TRACE(r, "snapshot at %llu term %llu -> log starts after %llu", (unsigned long long)index,
          (unsigned long long)term, (unsigned long long)r->log.offset);
    return RAFT_OK;
}

static void reply(struct raft *r, const struct raft_msg *m, raft_index match)
{
    struct raft_msg *resp = raft_msg_push(r, RAFT_MSG_SNAPSHOT_RESP, m->from);
    if (!resp)
        return;
    resp->success = true;
    resp->match_index = match;
    resp->seq = m->seq;
}

int recv_snapshot(struct raft *r, const struct raft_msg *m)
{
    /* m->term == r->term here: the sender is this term's leader. */
    election_become_follower(r, m->term, m->from);
    if (m->snap_index <= r->commit) {
        TRACE(r, "recv snapshot at %llu <= commit %llu -> already have it",
              (unsigned long long)m->snap_index, (unsigned long long)r->commit);
        reply(r, m, r->commit);
        return RAFT_OK;
    }
    int rc = keep_image(r, m->snap_index, m->snap_term, m->snap_data, m->snap_len);
    if (rc != RAFT_OK)
        return rc;
    /* If our log holds the snapshot's last entry, what follows it agrees
     * with the leader and is kept (as storage_save_snapshot() does);
     * otherwise the whole log is superseded. */
    raft_term t;
    bool holds = log_term_at(&r->log, m->snap_index, &t) && t == m->snap_term;
    if (holds) {
        log_compact_to(&r->log, m->snap_index);
        TRACE(r, "recv snapshot at %llu, log holds it -> install, keep %zu entries after",
              (unsigned long long)m->snap_index, r->log.n);
    } else {
        log_reset(&r->log, m->snap_index, m->snap_term);
        TRACE(r, "recv snapshot at %llu term %llu -> install, drop log",
              (unsigned long long)m->snap_index, (unsigned long long)m->snap_term);
    }
    /* The snapshot's configuration, unless a CONFIG entry kept after it
     * is newer. */
    config_snapshot_installed(r, m->snap_conf, !holds);
    if (r->persisted < m->snap_index || r->persisted > log_last_index(&r->log))
        r->persisted = m->snap_index;
    r->commit = r->applied = m->snap_index;
    r->persist_from = 0;
    r->installed_snapshot = true;
    reply(r, m, m->snap_index);
    return RAFT_OK;
}
