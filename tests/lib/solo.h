/* solo.h - one Raft core driven alone, by hand-made events, for tests of a
 * single rule: the test plays every peer and inspects each update.
 */
#ifndef RAFTKV_TEST_SOLO_H
#define RAFTKV_TEST_SOLO_H

#include "raft/raft.h"

struct solo {
    struct raft *r;
    struct raft_update u; /* the last update; valid until the next call */
    int rc;               /* the last raft_step() result */
    uint64_t now;
    int n_nodes;
    size_t applied_total; /* committed entries handed out so far */
};

/* A core with id 0 of n nodes, default config but the given seed; restore may be NULL. */
void solo_init(struct solo *s, int n, const struct raft_restore *restore);
void solo_init_config(struct solo *s, const struct raft_config *cfg,
                      const struct raft_restore *restore);
void solo_free(struct solo *s);

int solo_tick(struct solo *s, uint64_t now);
int solo_recv(struct solo *s, const struct raft_msg *m);
int solo_propose(struct solo *s, size_t n);            /* n small commands */
int solo_read(struct solo *s, const uint64_t *ids, size_t n);
/* READ, then the TICK a driver delivers when it ends a batch with no
 * PROPOSE (the core asks for it at once when a round must go out). */
int solo_read_round(struct solo *s, const uint64_t *ids, size_t n);
int solo_persisted_all(struct solo *s);                 /* PERSISTED at the last entry */

/* Drive the core from follower to leader of its next term: time out, take
 * pre-votes and votes from peers 1..majority-1, report the log durable. */
void solo_become_leader(struct solo *s);

/* The first message of that type to that peer in the last update, or NULL. */
const struct raft_msg *solo_msg(const struct solo *s, enum raft_msg_type type, int to);
size_t solo_count(const struct solo *s, enum raft_msg_type type);

/* A message as peer `from` would send it to node 0. */
struct raft_msg solo_from(int from, enum raft_msg_type type, raft_term term);

/* An APPEND from peer 1 as leader of term t: entries in[0..n) after
 * (prev, prev_term), the leader's commit index; solo_recv()'s result. */
int solo_append(struct solo *s, raft_term t, raft_index prev, raft_term prev_term,
                struct raft_entry *in, size_t n, raft_index commit);

#endif
