/* lin.h - linearizability of one key's history against a model (struct
 * lin_model below): the compare-and-set register, a Redis string, or a key
 * with expiry.
 *
 * The checker is a Wing-Gong/Lowe search with memoization of (set of
 * linearized operations, model state), as Porcupine does. Callers split a
 * multi-key history into one history per key and normalise outcomes first
 * (for the register; the other models' rules are in check.h):
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

struct lin_values;

/* Functions of every model, in one numbering (a model refuses the others).
 * The register model: read, write, cas. The string model (model_string.c):
 * get, set, incr, append, getset, del. The expiry model (model_expiry.c):
 * get, set (with a deadline), del, ttl, pttl, persist. */
enum lin_f {
    LIN_READ, LIN_WRITE, LIN_CAS,
    LIN_GET, LIN_SET, LIN_INCR, LIN_APPEND, LIN_GETSET, LIN_DEL, LIN_TTL, LIN_PTTL, LIN_PERSIST,
    LIN_F_COUNT
};
enum lin_outcome { LIN_OK, LIN_FAIL, LIN_INFO };

/* Operands are value ids (lin_values below), LIN_NIL when absent. Which
 * operand holds what, per function (in: from the invocation; out: from the
 * completion):
 *   read, get:   a = value observed (out)
 *   write:       a = value (in)
 *   cas:         a = from, b = to (in)
 *   set:         a = value (in), b = deadline in ms (in; nil: none)
 *   incr:        a = increment (in), b = the new value (out)
 *   append:      a = suffix (in), b = the new length (out)
 *   getset:      a = value (in), b = the old value (out)
 *   del:         b = keys removed, 0 or 1 (out)
 *   ttl, pttl:   a = the reply (out: -2 absent, -1 no deadline, else s/ms)
 *   persist:     b = the reply (out: 1 deadline removed, else 0)
 * and c = the time stamped on the op in ms (the expiry model; nil: not
 * recorded). An out operand that is nil (not recorded) constrains nothing,
 * except for read, get and getset, where nil is the absent value. */
struct lin_op {
    int64_t process;
    uint8_t f;       /* enum lin_f */
    uint8_t outcome; /* enum lin_outcome */
    int32_t a;
    int32_t b;
    int32_t c;
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

/* A model, as Porcupine's: a state, and a step function that says whether
 * an op with its input and output is legal from a state and, if it is,
 * gives the next state. A state is an int32 id that the model hands out;
 * LIN_NIL is the initial state (every key absent or empty). The model
 * gives each distinct state one id (a model with composite states interns
 * them, e.g. in lin_states below, whose hash and equality are the model's),
 * so state equality is id equality and the search memoizes (set of
 * linearized ops, state id) without calling back into the model.
 *   step: false if op's outcome is impossible from `state`; else true
 *         with *next set. An op of unknown outcome (LIN_INFO) that took
 *         effect: its effect; one whose effect would be nothing returns
 *         true with *next = state (the search covers "never" anyway).
 *         May add to the model's tables (ctx); a step that cannot (out of
 *         memory) returns false and sets *next to -1.
 *   describe_state: the state as text, for explanations.
 * Ops of one key only: histories are split per key (P-compositionality)
 * before any model sees them. */
struct lin_model {
    const char *name;
    uint32_t functions; /* the enum lin_f it takes: bit (1u << f) */
    /* The model's tables for one history whose operands are in `values`;
     * NULL when out of memory. */
    void *(*ctx_new)(struct lin_values *values);
    void (*ctx_free)(void *ctx);
    bool (*step)(void *ctx, const struct lin_op *op, int32_t state, int32_t *next);
    void (*describe_state)(void *ctx, int32_t state, char *buf, size_t len);
};

/* The compare-and-set register over JSON values (lin-kv's); its ctx is the
 * struct lin_values of the ops, or NULL. */
extern const struct lin_model lin_register_model;
/* A Redis string per key: get, set, incr, append, getset, del
 * (model_string.c). */
extern const struct lin_model lin_string_model;
/* Keys with expiry: set with an absolute deadline, get, del, ttl, pttl,
 * persist, each judged at the time stamped on it (model_expiry.c). */
extern const struct lin_model lin_expiry_model;
/* By name ("register", "string", "expiry"); NULL if none. */
const struct lin_model *lin_model_named(const char *name);

/* Checks ops against the register model. */
enum lin_verdict lin_check(const struct lin_op *ops, size_t n, const struct lin_limits *limits,
                           struct lin_report *report);
/* The same against any model; report->possible then holds state ids. */
enum lin_verdict lin_check_model(const struct lin_model *model, void *ctx, const struct lin_op *ops, size_t n,
                                 const struct lin_limits *limits, struct lin_report *report);
void lin_report_free(struct lin_report *report);

/* Interning of JSON-ish values (as canonical text) to ids >= 1. */
struct lin_values *lin_values_new(void);
void lin_values_free(struct lin_values *v);
int32_t lin_values_intern(struct lin_values *v, const char *canonical_text);
const char *lin_values_text(const struct lin_values *v, int32_t id); /* "nil" for LIN_NIL */
/* How many values are interned (the highest id). */
size_t lin_values_count(const struct lin_values *v);

/* Interning of composite states, pairs of 64-bit words, to ids >= 1 (a
 * model's; (0, 0) is LIN_NIL). lin_states_intern returns -1 when out of
 * memory or full. */
struct lin_states;
struct lin_states *lin_states_new(void);
void lin_states_free(struct lin_states *s);
int32_t lin_states_intern(struct lin_states *s, int64_t x, int64_t y);
void lin_states_get(const struct lin_states *s, int32_t id, int64_t *x, int64_t *y);

#endif
