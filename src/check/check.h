/* check.h - recorded histories: reading them, normalising each key's
 * operations for the checker (lin.h) and its models, checking and
 * explaining.
 *
 * A history is a sequence of events (invoke, then ok/fail/info, per
 * process). Readers for three formats feed them to one builder,
 * check_history_add(), which pairs each completion with its invocation,
 * splits operations by independent key and normalises outcomes as lin.h
 * says. whirl can use the builder directly on the events it holds in memory.
 *
 * Failure codes (PROTOCOL.md's table) are read as follows:
 *   fail read 20             -> read of nil (observed the empty register)
 *   fail cas 20              -> read of nil
 *   fail cas 22              -> LIN_CAS / LIN_FAIL (observed a value != from)
 *   other definite codes     -> the operation did not happen: dropped
 *   (1, 10, 11, 12, 14, 21, 30, and codes 2..999 we do not know)
 *   indefinite codes (0, 13, >= 1000), any info, or no completion at all
 *                            -> write/cas: LIN_INFO; read: dropped
 *   fail without a code      -> dropped: a failure whose reason is unknown
 *                               proves nothing about the register, and
 *                               dropping can never invent a violation.
 * Jepsen log lines carry no codes; their reader maps `:fail :cas` to 22 (the
 * suite's README: the comparison failed) and `:fail :read :timed-out` to 0.
 *
 * Besides read/write/cas (the register model) a history may hold the string
 * and expiry models' functions (lin.h). In whirl's jsonl (EDN: the same
 * with keywords, :value [key value] for keyed ops):
 *   {"f":"get","key":k}               ok: "value" is the value, null if absent
 *   {"f":"set","key":k,"value":v}     "deadline": ms, optional (expiry model)
 *   {"f":"incr","key":k,"value":n}    invoke: the increment (optional: 1;
 *                                     "incrby" is the same); ok: the new value;
 *                                     fail with error 40 ("not-an-integer"):
 *                                     the value is not an integer, or would
 *                                     overflow
 *   {"f":"append","key":k,"value":s}  ok: the new length
 *   {"f":"getset","key":k,"value":v}  ok: the old value, null if absent
 *   {"f":"del","key":k}               ok: 1 or 0 removed (optional)
 *   {"f":"ttl"|"pttl","key":k}        ok: -2, -1, or the time left
 *   {"f":"persist","key":k}           ok: 1 or 0
 * Integers may be JSON integers or strings of digits. Any op may carry
 * "at": the time stamped on it in ms (the leader's, for the expiry model;
 * on the invocation or the completion, the completion's wins); an op of the
 * expiry model without one is judged at whatever time explains it, time
 * never going back. A completion whose output is missing or null (but for
 * get and getset, where null is the absent value) constrains nothing.
 */
#ifndef RAFTKV_CHECK_H
#define RAFTKV_CHECK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "check/lin.h"

enum check_format { CHECK_FORMAT_AUTO, CHECK_FORMAT_JSONL, CHECK_FORMAT_EDN, CHECK_FORMAT_JEPSEN_LOG };
enum check_type { CHECK_INVOKE, CHECK_OK, CHECK_FAIL, CHECK_INFO };

/* Return codes of the functions below (0 is success). */
#define CHECK_ERR_IO (-1)    /* the file cannot be opened or read */
#define CHECK_ERR_PARSE (-2) /* the file is not a history in the format */
#define CHECK_ERR_NOMEM (-3)

#define CHECK_NO_ERROR (-1) /* check_event.error when the event has no code */
#define CHECK_CODE_NOT_INTEGER 40 /* fail incr: the value is not an integer (or would overflow) */

/* One event as a reader (or whirl) hands it to the builder. Texts are
 * canonical value texts (compact JSON: 3, "a", [1,2]); NULL means nil. */
struct check_event {
    int64_t process;
    enum check_type type;
    enum lin_f f;
    const char *key;      /* independent key; NULL for a single-register history */
    const char *value;    /* read: value read (on ok); write: value; cas: from;
                           * the other functions: on invoke their input, on
                           * completion their output (lin.h, struct lin_op) */
    const char *value_to; /* cas: to */
    const char *deadline; /* set: absolute deadline in ms (canonical text), or NULL */
    const char *at;       /* the time stamped on the op in ms, or NULL */
    int64_t error;        /* fail/info error code, or CHECK_NO_ERROR */
    int64_t index;        /* the event's own index, quoted in explanations */
    uint64_t time;        /* any monotone clock; readers use the event's position */
};

/* One independent key: its register's operations, ready for lin_check(). */
struct check_key {
    char *key;               /* canonical text of the key; "" for a single register */
    struct lin_op *ops;      /* op.id is the index of the invoke event */
    int64_t *complete_index; /* per op: index of its completion event, -1 if none */
    size_t n_ops;
    size_t cap_ops;
    struct lin_report report; /* filled by check_history_run() */
};

struct check_index; /* the builder's private look-up tables */

struct check_history {
    struct lin_values *values;
    struct check_key *keys;
    size_t n_keys;
    size_t cap_keys;
    size_t n_events;  /* events given to check_history_add() */
    size_t n_dropped; /* operations left out (definite failures, unknown reads) */
    size_t n_ignored; /* completions without a matching invocation */
    /* Set after check_history_init(), before any event: a process is a
     * pipelining connection. Its invocations may overlap; a completion
     * answers its oldest pending invocation of the same function (replies
     * in order, as Redis gives them, pair exactly); and the check keeps each
     * process's order (lin_limits.connection_order). Off, a process has
     * one invocation pending at most: a new one leaves the previous
     * without an outcome. */
    bool connection_order;
    /* Set before check_history_finish() to force a model ("register",
     * "string", "expiry"); NULL: the one that takes every function seen
     * (register, else string, else expiry; deadlines and time stamps mean
     * expiry). */
    const char *model_name;
    const struct lin_model *model; /* after check_history_finish() */
    void *model_ctx;
    uint32_t functions_seen; /* bit (1u << f) per function invoked */
    bool timed;              /* some op carried a deadline or a time stamp */
    char model_error[256];   /* why no model fits, when finish fails */
    enum lin_verdict verdict; /* after check_history_run() */
    struct check_index *index;
};

int check_history_init(struct check_history *h);
void check_history_free(struct check_history *h);

/* Adds one event. Client events only: callers skip the nemesis. A
 * completion that matches no pending invocation of its process is counted
 * in n_ignored, never an error. Returns 0 or CHECK_ERR_NOMEM. */
int check_history_add(struct check_history *h, const struct check_event *ev);

/* Ends the history: invocations never completed become unknown outcomes,
 * and the model is chosen. Call once, after the last check_history_add().
 * Returns 0, CHECK_ERR_PARSE when no model takes every function seen (or
 * model_name names none; model_error says which), or CHECK_ERR_NOMEM. */
int check_history_finish(struct check_history *h);

/* Checks every key (lin_check with the given limits; NULL = defaults) and
 * returns the overall verdict: invalid if any key is, else unknown if any key
 * is, else valid. Each key's report stays in keys[i].report. max_seconds
 * bounds each key (default CHECK_DEFAULT_KEY_SECONDS); the whole history is
 * bounded by CHECK_MAX_TOTAL_SECONDS, keys left then being unknown. */
#define CHECK_DEFAULT_KEY_SECONDS 60.0
#define CHECK_MAX_TOTAL_SECONDS 600.0
enum lin_verdict check_history_run(struct check_history *h, const struct lin_limits *limits);

/* Guesses the format from the file name and its first non-blank line. */
enum check_format check_format_detect(const char *path, const char *first_line);
const char *check_format_name(enum check_format f);

/* Reads a whole history (then calls check_history_finish). `h` must be
 * initialised. On error, err says which line and why. */
int check_history_read(const char *path, enum check_format format, struct check_history *h, char *err,
                       size_t err_len);
int check_history_read_stream(FILE *in, const char *name, enum check_format format, struct check_history *h,
                              char *err, size_t err_len);

/* Per-format line parsers (used by check_history_read_stream; exposed for
 * tests). Each returns 0 with the event added, 1 for a line that holds no
 * client event (blank, nemesis, other log lines), or a CHECK_ERR_*. */
int check_jsonl_line(struct check_history *h, const char *line, int64_t position, char *err, size_t err_len);
int check_edn_line(struct check_history *h, const char *line, int64_t position, char *err, size_t err_len);
int check_jepsen_log_line(struct check_history *h, const char *line, int64_t position, char *err, size_t err_len);

/* Writes a plain-text explanation of key i's report: for an invalid key the
 * operation that cannot be linearized, the operations concurrent with it,
 * the register values possible just before it and why it fails from each,
 * and the longest linearizable prefix. `verbose` lists the whole prefix;
 * otherwise only its last few operations. */
void check_explain_key(FILE *out, const struct check_history *h, size_t i, bool verbose);

/* The same, for callers holding their own op array (whirl). */
void lin_explain(FILE *out, const struct lin_op *ops, size_t n, const struct lin_values *values,
                 const struct lin_report *report, bool verbose);

/* One op as text, e.g. "process 3 cas 1 -> 2 (ok)". */
void lin_op_describe(char *buf, size_t len, const struct lin_op *op, const struct lin_values *values);

#endif
