/* workload.h - Maelstrom's lin-kv clients: Jepsen's independent
 * linearizable registers driven by --concurrency client threads.
 *
 * Threads form groups of 2N (fewer if there are fewer threads); each group
 * works on one key at a time: half its threads only read, the others mix
 * write and cas 1:2, values 0-4. A key is retired after --per-key-limit
 * operations or once --process-limit distinct processes have used it, and
 * its group moves to the next fresh key. A thread runs one request at a
 * time against node (process mod N); an indefinite outcome makes it continue
 * as process + concurrency, as Jepsen does. Requests are paced by --rate
 * with uniform gaps in [0, 2/rate) over all threads (Jepsen's stagger).
 * Final reads (below) are ordinary reads in the history, so the
 * linearizability check covers them too.
 */
#ifndef RAFTKV_WHIRL_WORKLOAD_H
#define RAFTKV_WHIRL_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/rng.h"
#include "whirl/run.h"

enum whirl_role { WHIRL_ROLE_READER, WHIRL_ROLE_WRITER, WHIRL_ROLE_MIXED };

struct whirl_client {
    int thread;
    int64_t process;
    int group;
    uint8_t role;        /* enum whirl_role */
    bool busy;
    uint64_t msg_id;     /* of the outstanding request */
    uint8_t f;           /* enum whirl_ev_f */
    int64_t key;
    int32_t a, b;
    int node;
    bool final;          /* the outstanding request is a final read */
    struct rng rng;      /* this thread's choices of function and values */
    uint64_t invoke_ns;
};

struct whirl_key_group {
    int64_t key;
    int ops;
    int n_procs;
    int64_t *procs;      /* distinct processes seen on the key, up to the limit */
};

/* Sets up the clients and starts issuing requests (unless --rate is 0).
 * Returns 0 or -1 (out of memory). */
int whirl_workload_start(struct whirl_run *run);
/* Stops issuing new requests; outstanding ones still complete or time out. */
void whirl_workload_stop(struct whirl_run *run);
/* True when no request is outstanding. */
bool whirl_workload_idle(const struct whirl_run *run);
/* A reply body from node src_node delivered to client "c<client_no>". */
void whirl_workload_on_reply(struct whirl_run *run, int64_t client_no, int src_node, const char *body, size_t len);
/* Final reads: every key used gets read until one read succeeds (ok, or
 * error 20 = empty), by the idle client threads, without the rate limit,
 * retrying after failures, until deadline_ns. Returns 0 or -1. */
int whirl_workload_start_final_reads(struct whirl_run *run, uint64_t deadline_ns);
/* True once every key is read, or the deadline passed with nothing pending. */
bool whirl_workload_final_reads_done(const struct whirl_run *run);
void whirl_workload_free(struct whirl_run *run);
/* Whether an error code is definite (the operation certainly did not and
 * will not happen), per the protocol's table; unknown codes are not. */
bool whirl_error_is_definite(int code);

#endif
