/* router.h - where a client operation runs and how it ends: the one set of
 * routing rules both front ends (the Maelstrom node, the TCP server) follow.
 *
 * Pure, like the Raft core: no I/O, no clock, no randomness. A driver feeds
 * it events (a client operation arrived, the local replica or the leader
 * answered one, the replica's view of the leader changed, time passed) and
 * carries out what it asks through three callbacks: run an operation on the
 * local replica, forward it to the leader, or end it. The callbacks only
 * queue work (replica_submit() and a forward buffer do); they must not call
 * back into the router, nor free a struct router_conn (close it with
 * router_conn_close() instead). The deterministic simulator drives it the
 * same way.
 *
 * THE RULES
 *  1. Where. An operation runs on the local replica when this node leads;
 *     it is forwarded to the leader this node knows otherwise, tagged with
 *     that leader's term; with no leader known (or the forward could not be
 *     sent) it waits for one, at most config.leader_wait_ms from when it
 *     started waiting, then ends definitely (REPLICA_NOT_LEADER: 11,
 *     -TRYAGAIN).
 *  2. A forward is tagged with a term, and only the leader OF THAT TERM
 *     appends it (replica_submit_in_term refuses it definitely otherwise).
 *     So a write forwarded once can be appended only in that one term,
 *     however late the message arrives.
 *  3. A write whose fate is unknown is never sent again. When the leader
 *     view changes, every write forwarded to the old (leader, term) ends at
 *     once as REPLICA_INDEFINITE (13, -UNCERTAIN); so does one with no
 *     answer within config.forward_timeout_ms. With
 *     config.await_former_leader such a write instead waits for the old
 *     leader's own answer until that deadline: a leader that handed over
 *     (thesis 3.10) committed all it appended and refuses the rest, and
 *     says so; one that crashed says nothing, and the write ends
 *     INDEFINITE at the deadline (breaking its connection, rule 8).
 *     Waiting for progress: a forward (write or read) whose deadline
 *     comes waits on while the leader it went to still makes progress:
 *     while the view is the one it was sent under and, within the last
 *     forward_timeout_ms, the commit index grew (router_progress) or that
 *     leader answered a forward done, its deadline moves to
 *     forward_timeout_ms after that progress. A leader still committing
 *     reaches it, and answers it once applied (a committed write's answer
 *     is certain, however slow applying is). It stops waiting - and ends
 *     at its deadline as above - when the view changes, even briefly (an
 *     answer may have gone with the link), or once a forward of the same
 *     kind sent after it under the same view was answered done (a leader
 *     answers a view's writes in log order and its reads in arrival
 *     order: its answer was lost). That inference is made per kind:
 *     writes from writes, reads from reads, long reads from long reads
 *     (rule 9).
 *  4. A definite refusal (REPLICA_NOT_LEADER: certainly not appended) may
 *     be retried: the operation waits for a leader view other than the one
 *     that refused it (rule 1's wait), then goes again. Other definite
 *     answers (REPLICA_UNAVAILABLE: busy, table full) end the operation.
 *  5. Reads (long reads too, rule 9) change nothing, so they may be
 *     retried: a read forwarded to a leader that is no longer the leader
 *     is routed again at once; a read with no answer within
 *     forward_timeout_ms (and no progress, rule 3) ends definitely (REPLICA_UNAVAILABLE: 11, -TRYAGAIN).
 *     Rules 4 and 5 send an operation again only while nothing submitted
 *     after it on its connection has been sent: a later one may already have
 *     taken effect (its forward arrived where this one's was lost), and the
 *     retry would take effect after it. Such an operation ends instead, with
 *     its definite answer.
 *  6. Per-connection order. Operations submitted with the same
 *     struct router_conn take effect in the order they were submitted: each
 *     one's linearization point comes after those of every earlier one.
 *     The router holds an operation back until every earlier, unfinished
 *     operation of its connection is of the same kind (read or write) and
 *     went the same route (local, or forwarded to the same leader in the
 *     same term); a long read goes only alone (rule 9). So a pipeline of reads shares one ReadIndex round and a
 *     pipeline of writes is appended in order in one term; a read after a
 *     write waits for the write's answer (it has then been applied where
 *     the read is served, or can no longer be), and a write after a read
 *     waits for the read's. Why this is enough: ops on one route are
 *     queued in order at one replica, which appends writes in order and
 *     answers reads in order; ops on different routes are never in flight
 *     together; and a write re-routed after a definite refusal (rule 4)
 *     takes every later write of its route with it, since the refusal
 *     means the route's leader no longer leads that term.
 *  7. Local operations are timed out by the replica (its request timeout),
 *     not here; the router waits for the replica's answer.
 *  8. A write of a connection that ends REPLICA_INDEFINITE by a timeout
 *     here or by the local replica's answer (its timeout, a lost term) may
 *     still take effect later, after
 *     anything the connection sent behind it. So the connection is broken:
 *     its operations not sent yet, and every later one, end definitely
 *     (REPLICA_UNAVAILABLE) without being sent; a front end closes such a
 *     connection once its answers are out (the TCP server does, after an
 *     -UNCERTAIN). A write ended by a leader change (rule 3) does not break
 *     it: rule 2 keeps that write in a term before the next operations'.
 *  9. Long reads (ROUTER_READ_LONG: KEYS over the whole map, which the
 *     leader answers only when a walk begun at its ReadIndex point ends,
 *     many loop turns later) are reads for rules 4, 5 and 8: retried and
 *     re-routed as reads, ended definitely, never breaking a connection.
 *     Their own kind elsewhere:
 *     - Rule 6: a long read flies alone on its connection. It is held
 *       until every earlier operation of the connection has its answer,
 *       and every later one (long reads too) is held until it has its
 *       own. (A leader answers ordinary reads served after a long read
 *       began before the long read, so the two must never be in flight
 *       together; one at a time keeps the order without relying on how a
 *       leader orders long reads among themselves.)
 *     - Rule 3: a leader answers long reads in arrival order among
 *       themselves only: an answered long read sent after an unanswered
 *       one under the same view says the earlier one's answer was lost;
 *       answered reads and writes say nothing about long reads, nor
 *       long reads about them.
 *     - Timeouts: a forwarded long read's deadline is
 *       config.long_forward_timeout_ms (0: forward_timeout_ms) after it
 *       was sent, and rule 3's wait for progress moves it to
 *       long_forward_timeout_ms after the leader's latest progress.
 *
 * Every operation ends exactly once: through router_local_done() or
 * router_forward_done() returning true (the caller answers with the result
 * it holds), or through config.finish (the router decided).
 */
#ifndef RAFTKV_ROUTER_H
#define RAFTKV_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"
#include "replica/replica.h"

/* ROUTER_READ_LONG: a read answered many loop turns after it is served
 * (rule 9). */
enum router_kind { ROUTER_READ, ROUTER_WRITE, ROUTER_READ_LONG };
#define ROUTER_KINDS 3

struct router_op;

/* A client connection's order. Embed one in the front end's connection,
 * zero-initialised; pass NULL to router_submit for an operation that has
 * no order to keep with others. */
struct router_conn {
    struct router_op *head, *tail; /* its unfinished operations, in order */
    size_t unsent;                 /* how many of them were not sent yet */
    uint64_t next_seq, last_sent;  /* submission numbers: the next, the latest sent */
    bool broken; /* a write of it ended with an unknown outcome (rule 8) */
};

struct router_config {
    int self;                    /* this node's Raft id */
    int n_nodes;
    size_t max_ops;              /* operations at once (at most 2^31); more are refused */
    /* DELIBERATE BUG for testing checkers: reads run on the local replica
     * whoever leads (with replica_config.unsafe_local_reads). */
    bool unsafe_local_reads;
    uint64_t leader_wait_ms;     /* rule 1 */
    uint64_t forward_timeout_ms; /* rules 3 and 5 */
    uint64_t long_forward_timeout_ms; /* rule 9: long reads' (0: forward_timeout_ms) */
    bool await_former_leader;    /* rule 3: wait for its answer, not the view */
    /* Run `op` on the local replica: replica_submit(..., id, ...). */
    void (*submit)(void *ctx, uint64_t id, void *user);
    /* Forward to `leader`, tagged with `term`, under `id` (the answer
     * comes back through router_forward_done(id, ...)). Returns false when
     * it could not be sent (no link): nothing left this node. */
    bool (*forward)(void *ctx, int leader, raft_term term, uint64_t id, void *user);
    /* The router ended the operation: status (never REPLICA_DONE) and a
     * short static reason. */
    void (*finish)(void *ctx, void *user, enum replica_status status, const char *text);
    void *ctx;
};

/* Defaults: max_ops 65536, leader_wait_ms 1000, forward_timeout_ms 1500,
 * long_forward_timeout_ms 0 (as forward_timeout_ms). */
void router_config_default(struct router_config *c, int self, int n_nodes);

struct router;

struct router *router_new(const struct router_config *c);
/* Frees the router; operations still in it are dropped without a callback
 * (call router_abort_all first to end them). */
void router_free(struct router *rt);

/* A client operation arrived. `user` is the front end's handle, passed back
 * in every callback. It may be submitted, forwarded, held or ended (too many
 * operations: REPLICA_UNAVAILABLE) within this call. */
void router_submit(struct router *rt, struct router_conn *conn, enum router_kind kind, void *user,
                   uint64_t now_ms);

/* The replica's view, after every batch of input: the leader it knows
 * (RAFT_NO_NODE if none), its current term, and whether it is the leader
 * itself (role LEADER). Holds, releases and re-routes as rules 1-5 say. */
void router_view(struct router *rt, int leader, raft_term term, bool self_leads, uint64_t now_ms);

/* The local replica answered operation `id` (replica_config.complete).
 * True: the operation ended with this result, which the caller delivers.
 * False: stale id (ignore it) or the router routes it again (rule 4). */
bool router_local_done(struct router *rt, uint64_t id, enum replica_status status,
                       uint64_t now_ms);

/* The leader answered a forward `id`; same contract as router_local_done.
 * A status the router does not know is taken as REPLICA_INDEFINITE. */
bool router_forward_done(struct router *rt, uint64_t id, enum replica_status status,
                         uint64_t now_ms);

/* The `user` handle of operation `id` while that attempt is forwarded, or
 * NULL (a stale or unknown id). Lets a front end find its request from a
 * forward's answer without sending its own handle along. */
void *router_forwarded_user(const struct router *rt, uint64_t id);

/* The front end's connection closed: its operations that have not been
 * sent anywhere end now (config.finish, REPLICA_UNAVAILABLE); those in
 * flight go on without the connection. */
void router_conn_close(struct router *rt, struct router_conn *conn);

/* The local replica's commit index, after every batch (after router_view):
 * its growth under a remote leader's view is that leader's progress, which
 * forwards wait for (rule 3). Without these calls only the leader's
 * answers count as progress. */
void router_progress(struct router *rt, raft_index commit_index, uint64_t now_ms);

/* Fire deadlines (rules 1, 3, 5). */
void router_tick(struct router *rt, uint64_t now_ms);
/* The earliest deadline, or UINT64_MAX. */
uint64_t router_deadline(const struct router *rt);

/* End every operation (config.finish): held ones REPLICA_UNAVAILABLE, the
 * ones in flight REPLICA_INDEFINITE unless they are reads. For shutdown. */
void router_abort_all(struct router *rt, const char *text);

struct router_stats {
    uint64_t submitted, local, forwarded, rerouted, held, waited_for_leader;
    uint64_t ended_indefinite, ended_refused;
    uint64_t waited_for_progress; /* forward deadlines moved by the leader's progress (rule 3) */
};
size_t router_ops(const struct router *rt); /* operations in the router */
void router_stats(const struct router *rt, struct router_stats *out);

#endif
