/* run.h - one run folder read back into memory for the report writers:
 * client operations (invoke paired with completion), nemesis periods, keys
 * with their verdicts, results.json, and a bounded sample of messages.
 *
 * Internal to src/whirl/report. Values are kept as compact JSON text, not as
 * jansson trees, so a 100,000-operation history stays a few megabytes.
 */
#ifndef RAFTKV_WHIRL_REPORT_RUN_H
#define RAFTKV_WHIRL_REPORT_RUN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Times beyond this (about 11 days, in ns) are treated as corrupt and clamped. */
#define REPORT_RUN_MAX_NS 1e15

enum run_f { RUN_READ, RUN_WRITE, RUN_CAS, RUN_F_OTHER, RUN_F_COUNT };
enum run_outcome { RUN_OK, RUN_FAIL, RUN_INFO, RUN_OUTCOME_COUNT };
enum run_verdict { RUN_VALID, RUN_INVALID, RUN_UNKNOWN, RUN_NO_VERDICT };

extern const char *const report_run_f_names[RUN_F_COUNT];
extern const char *const report_run_outcome_names[RUN_OUTCOME_COUNT];
extern const char *const report_run_verdict_names[4];

/* One client operation. A pending op (never completed) counts as info and
 * lasts until the end of the run, as Jepsen draws it. */
struct run_op {
    int64_t process;
    uint8_t f;        /* enum run_f */
    uint8_t outcome;  /* enum run_outcome */
    bool completed;
    int key;          /* index into run.keys */
    int64_t invoke_index, complete_index; /* history indexes; -1 if none */
    uint64_t t0_ns, t1_ns;
    char *f_name;     /* as written in the history ("read", ...) */
    char *request;    /* compact JSON of the invoke's value */
    char *response;   /* completion's value, or NULL */
    char *error;      /* completion's error ([code, text]), or NULL */
    char *node;       /* node the request went to, or NULL */
};

enum run_fault { RUN_FAULT_PARTITION, RUN_FAULT_KILL, RUN_FAULT_PAUSE, RUN_FAULT_OTHER, RUN_FAULT_COUNT };
extern const char *const report_run_fault_names[RUN_FAULT_COUNT];

struct run_period {
    uint8_t fault; /* enum run_fault */
    uint64_t t0_ns, t1_ns;
    char label[96];
};

struct run_key {
    char *text;       /* the key as results.json names it: string keys raw, others as JSON */
    char *dir;        /* its folder name under independent/, file-system safe */
    enum run_verdict verdict;
    size_t n_ops;
    /* From results.json keys.<text>, for an invalid key (see docs/STORE.md). */
    int64_t failed_op_index; /* history index of the failing op, -1 if unknown */
    int failed_op;           /* index into run.ops, -1 if unknown */
    char **possible;         /* register values possible just before it (JSON text) */
    size_t n_possible;
    char *explanation;       /* checker's text, or NULL */
};

struct run_msg {
    uint64_t send_ns, recv_ns;
    bool dropped;
    char src[24], dest[24], type[40];
    char *body; /* compact JSON, truncated */
};

struct run_msg_stats {
    size_t total, client_server, server_server, dropped, kept;
};

struct run {
    char dir[4096];
    struct run_op *ops;
    size_t n_ops, cap_ops;
    struct run_period *periods;
    size_t n_periods, cap_periods;
    struct run_key *keys;
    size_t n_keys, cap_keys;
    uint64_t end_ns;        /* last time seen in the history */
    size_t skipped_lines;   /* malformed history lines ignored */
    json_t *results;        /* results.json, or NULL */
    enum run_verdict verdict;
    int64_t *processes;     /* distinct client processes, ascending */
    size_t n_processes;
    struct run_msg_stats msg_stats;
    bool have_messages;
    bool checked_here;      /* verdicts computed by the report: no results.json */
    /* Ops grouped by key, built once at load so per-key pages cost their own
     * size: key k's ops are key_ops[key_ops_start[k] .. key_ops_start[k+1]). */
    size_t *key_ops;
    size_t *key_ops_start;
};

/* The folder name under independent/ for a key given as compact JSON text
 * (malloc'd): safe on any file system, distinct for distinct keys. */
char *report_key_dir_of(const char *text);

/* Loads history.jsonl and results.json. Returns 0 or -1 with err. */
int report_run_load(struct run *run, const char *dir, char *err, size_t errlen);
void report_run_free(struct run *run);

/* Reads messages.jsonl: counts every message into *stats and fills *out with
 * at most max_kept messages whose send time falls in [from_ns, to_ns), in
 * file order. Returns 0, or -1 if the file is missing. */
int report_run_messages_window(const struct run *run, uint64_t from_ns, uint64_t to_ns, size_t max_kept,
                        struct run_msg **out, size_t *n_out, struct run_msg_stats *stats);
void report_run_messages_free(struct run_msg *msgs, size_t n);

/* The op indexes belonging to key k (all ops when k < 0), in invoke order;
 * malloc'd, caller frees. */
size_t *report_run_ops_of_key(const struct run *run, int k, size_t *n);

/* The column of a process in run.processes (binary search), -1 if absent. */
int report_run_process_column(const struct run *run, int64_t process);

/* The op (index into run.ops) whose invoke or completion has this history
 * index, or -1. */
int report_run_op_of_index(const struct run *run, int64_t index);

/* Checks, with src/check, the keys whose verdict results.json does not give
 * (all of them when there is no results.json, else invalid keys given
 * without their failing op), filling verdicts, failing ops and
 * explanations. Returns 0, or -1 if the history cannot be checked.
 * (report_check.c) */
int report_check_missing(struct run *run);

/* The earliest failing op over all invalid keys (index into ops), or -1. */
int report_run_first_invalid_op(const struct run *run);

/* Compact JSON text of v (malloc'd), at most max_len bytes ("..." marked). */
char *report_run_json_text(const json_t *v, size_t max_len);

/* Joins dir and a relative path into buf. Returns 0, or -1 if too long. */
int report_run_path(char *buf, size_t len, const char *dir, const char *rel);

#endif
