/* solo.c - driving one Raft core by hand (see solo.h). */
#include "solo.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

void solo_init_config(struct solo *s, const struct raft_config *cfg,
                      const struct raft_restore *restore)
{
    memset(s, 0, sizeof *s);
    s->now = 1000;
    s->n_nodes = cfg->n_nodes;
    s->r = raft_new(cfg, restore, s->now);
    assert(s->r);
}

void solo_init(struct solo *s, int n, const struct raft_restore *restore)
{
    struct raft_config cfg;
    raft_config_default(&cfg, 0, n, 42);
    solo_init_config(s, &cfg, restore);
}

void solo_free(struct solo *s)
{
    raft_free(s->r);
    s->r = NULL;
}

static int step(struct solo *s, struct raft_event *e)
{
    e->now_ms = s->now;
    s->rc = raft_step(s->r, e, &s->u);
    s->applied_total += s->u.n_committed;
    return s->rc;
}

int solo_tick(struct solo *s, uint64_t now)
{
    if (now > s->now)
        s->now = now;
    struct raft_event e = {.type = RAFT_EVENT_TICK};
    return step(s, &e);
}

int solo_recv(struct solo *s, const struct raft_msg *m)
{
    struct raft_event e = {.type = RAFT_EVENT_RECEIVE};
    e.receive = *m;
    return step(s, &e);
}

int solo_propose(struct solo *s, size_t n)
{
    static const uint8_t payload[4] = {1, 2, 3, 4};
    const uint8_t *data[256];
    uint32_t len[256];
    assert(n <= 256);
    for (size_t i = 0; i < n; i++) {
        data[i] = payload;
        len[i] = sizeof payload;
    }
    struct raft_event e = {.type = RAFT_EVENT_PROPOSE};
    e.propose.n = n;
    e.propose.data = data;
    e.propose.len = len;
    return step(s, &e);
}

int solo_read(struct solo *s, const uint64_t *ids, size_t n)
{
    struct raft_event e = {.type = RAFT_EVENT_READ};
    e.read.n = n;
    e.read.ids = ids;
    return step(s, &e);
}

int solo_read_round(struct solo *s, const uint64_t *ids, size_t n)
{
    int rc = solo_read(s, ids, n);
    if (rc == RAFT_OK && raft_deadline(s->r) <= s->now)
        solo_tick(s, s->now);
    return rc;
}

int solo_persisted_all(struct solo *s)
{
    raft_index last = raft_last_index(s->r);
    const struct raft_entry *en = raft_entry_at(s->r, last);
    struct raft_event e = {.type = RAFT_EVENT_PERSISTED};
    e.persisted.index = last;
    e.persisted.term = en ? en->term : 0;
    return step(s, &e);
}

struct raft_msg solo_from(int from, enum raft_msg_type type, raft_term term)
{
    struct raft_msg m;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.from = from;
    m.to = 0;
    m.term = term;
    return m;
}

int solo_append(struct solo *s, raft_term t, raft_index prev, raft_term prev_term,
                struct raft_entry *in, size_t n, raft_index commit)
{
    struct raft_msg m = solo_from(1, RAFT_MSG_APPEND, t);
    m.prev_index = prev;
    m.prev_term = prev_term;
    m.entries = in;
    m.n_entries = n;
    m.commit = commit;
    return solo_recv(s, &m);
}

void solo_become_leader(struct solo *s)
{
    solo_tick(s, raft_deadline(s->r));
    const struct raft_msg *pv = solo_msg(s, RAFT_MSG_PREVOTE, 1);
    raft_term campaign = pv ? pv->term : raft_current_term(s->r) + 1;
    int n_needed = s->n_nodes / 2; /* peers that make a majority with us */
    for (int p = 1; p <= n_needed && raft_role(s->r) == RAFT_PRE_CANDIDATE; p++) {
        struct raft_msg m = solo_from(p, RAFT_MSG_PREVOTE_RESP, campaign);
        m.granted = true;
        solo_recv(s, &m);
    }
    for (int p = 1; p <= n_needed && raft_role(s->r) == RAFT_CANDIDATE; p++) {
        struct raft_msg m = solo_from(p, RAFT_MSG_VOTE_RESP, raft_current_term(s->r));
        m.granted = true;
        solo_recv(s, &m);
    }
    assert(raft_role(s->r) == RAFT_LEADER);
    solo_persisted_all(s);
}

const struct raft_msg *solo_msg(const struct solo *s, enum raft_msg_type type, int to)
{
    for (size_t i = 0; i < s->u.n_messages; i++)
        if (s->u.messages[i].type == type && s->u.messages[i].to == to)
            return &s->u.messages[i];
    return NULL;
}

size_t solo_count(const struct solo *s, enum raft_msg_type type)
{
    size_t k = 0;
    for (size_t i = 0; i < s->u.n_messages; i++)
        if (s->u.messages[i].type == type)
            k++;
    return k;
}
