/* lin.h - linearizability of one compare-and-set register's history.
 *
 * The checker is a Wing-Gong/Lowe search with memoization of (set of
 * linearized operations, register value), as Porcupine does. Callers split a
 * multi-key history into one register per key and normalise outcomes first:
 *   - a read that failed with code 20 observed the empty register:
 *     pass it as LIN_READ, LIN_OK, a = LIN_NIL;
 *   - a cas that failed with code 20 observed the empty register too: pass it
 *     as a read of LIN_NIL;
 *   - a cas that failed with 22 observed a value other than `from`:
 *     LIN_CAS, LIN_FAIL;
 *   - any other definite failure did not happen: leave it out;
 *   - a read whose outcome is unknown changes nothing: leave it out;
 *   - a write or cas whose outcome is unknown (timeout, indefinite error,
 *     never completed): LIN_INFO; it may take effect at any time after its
 *     call, or never.
 * Values are interned to small integers (lin_values below); LIN_NIL is the
 * empty register.
 */
#ifndef RAFTKV_LIN_H
#define RAFTKV_LIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LIN_NIL 0

enum lin_f { LIN_READ, LIN_WRITE, LIN_CAS };
enum lin_outcome { LIN_OK, LIN_FAIL, LIN_INFO };

struct lin_op {
    int64_t process;
    uint8_t f;       /* enum lin_f */
    uint8_t outcome; /* enum lin_outcome */
    int32_t a;       /* read: value observed; write: value; cas: from */
    int32_t b;       /* cas: to */
    uint64_t call;   /* invocation time, any monotone unit */
    uint64_t ret;    /* completion time; ignored for LIN_INFO */
    int64_t id;      /* caller's own reference (history index), reported back */
};

enum lin_verdict { LIN_VALID = 0, LIN_INVALID = 1, LIN_UNKNOWN = 2 };

struct lin_limits {
    uint64_t max_states; /* memoized (set, value) pairs before giving up; 0 = default */
    double max_seconds;  /* wall-clock bound for one register; 0 = default */
    /* Not a bound but one more rule: per-process (per-connection) order.
     * Each process's operations take effect in the order they were invoked
     * (call time; equal calls in array order), even when they overlap in
     * time, as a pipelining connection's do: an op may be linearized only
     * after every earlier-invoked op of its process that is linearized at
     * all. An op of unknown outcome (LIN_INFO) either takes effect in that
     * order - after its process's earlier ops, before its later ones - or
     * never; one that never takes effect blocks nothing, and once a later
     * op of its process has taken effect it no longer can. Ops with a
     * return always take effect, so they do block their later ops. Off,
     * only real-time order counts; on a history whose processes run one op
     * at a time (Jepsen's) the rule follows from real-time order and the
     * verdict is the same. The rule holds within one register (key):
     * order between a process's ops on different keys is not checked. */
    bool connection_order;
};

struct lin_report {
    enum lin_verdict verdict;
    /* For LIN_INVALID: the operation that cannot be linearized (index into
     * the ops array given), the register values possible just before it, and
     * the deepest linearizable prefix found that reaches it (ops linearized). */
    size_t failed_op;
    int32_t *possible; /* malloc'd; lin_report_free() releases it */
    size_t n_possible;
    size_t prefix_ops;
    size_t *prefix; /* indexes of ops, in linearization order, of that prefix */
    uint64_t states_explored;
    bool connection_order; /* checked with lin_limits.connection_order */
    char reason[256]; /* for LIN_UNKNOWN: which bound was hit */
};

enum lin_verdict lin_check(const struct lin_op *ops, size_t n, const struct lin_limits *limits,
                           struct lin_report *report);
void lin_report_free(struct lin_report *report);

/* Interning of JSON-ish values (as canonical text) to ids >= 1. */
struct lin_values;
struct lin_values *lin_values_new(void);
void lin_values_free(struct lin_values *v);
int32_t lin_values_intern(struct lin_values *v, const char *canonical_text);
const char *lin_values_text(const struct lin_values *v, int32_t id); /* "nil" for LIN_NIL */

#endif
