/* lin.c - the Wing-Gong/Lowe linearizability search for one key's history
 * against a model (lin.h, struct lin_model; the register's step is called
 * directly, the others' through the model).
 *
 * The history becomes a time-ordered, doubly linked list of call and return
 * entries (lin_entries.c). The search walks it from the front: at a call
 * entry it tries to linearize that operation now (apply it to the
 * register); if the model allows it and the resulting configuration (set of
 * linearized operations, register value) has not been seen before, the
 * operation is "lifted" out of the list, pushed on a stack, and the walk
 * restarts at the front. Reaching a return entry means an operation that
 * has already returned is still not linearized: a dead end, so the last
 * choice is undone (unlifted) and the walk resumes just after it.
 * Memoizing configurations (Lowe's improvement, also what Porcupine does)
 * keeps the search from exploring the same configuration twice.
 *
 * Operations of unknown outcome (LIN_INFO) get no return entry: they may be
 * linearized at any point after their call, or never. They wait in a list
 * of their own and are tried only when the walk is stuck at a return, so a
 * valid history is usually found without guessing which of them took
 * effect; the walk succeeds when every op with a return is linearized.
 *
 * With per-process order (lin_limits.connection_order) an op is a
 * candidate only when its process's earlier op with a return is linearized
 * and none of its process's later ops is (lin_order_allows). Both depend on
 * the set alone, so the memo stays exact.
 *
 * Configurations are stored compactly (struct lin_set): ops with a return
 * are numbered in order of their returns, so the linearized ones form a
 * run of ones up to the first open op, then a few bits for ops in flight;
 * only that window is stored, and a key's size follows the concurrency of
 * the history rather than its length.
 */
#include "check/lin.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check/lin_internal.h"
#include "check/lin_memo.h"

#define LIN_DEFAULT_MAX_STATES 5000000ULL
#define LIN_DEFAULT_MAX_SECONDS 60.0
/* The memo (slots and keys) may not grow past this many bytes. */
#define LIN_MAX_MEMO_BYTES (1ULL << 30)
/* How many search steps pass between two looks at the clock. */
#define LIN_CLOCK_EVERY 16384

/* ---- the set of linearized ops ------------------------------------------ */

struct lin_set {
    uint64_t *req;      /* a bit per op with a return, by rank of its return */
    uint64_t *info;     /* a bit per unknown op, by rank of its call */
    uint32_t n_req;
    uint32_t first_open; /* lowest rank of a required op not linearized; n_req if none */
    int64_t max_req;     /* highest rank linearized; -1 if none */
    int64_t max_info;
    uint64_t hash;       /* Zobrist hash of the set, for the memo */
};

/* What an op changes in the set, undone from a saved copy. */
struct lin_set_mark {
    uint32_t first_open;
    int64_t max_req;
    int64_t max_info;
    uint64_t hash;
};

static struct lin_set_mark lin_set_save(const struct lin_set *s)
{
    return (struct lin_set_mark){s->first_open, s->max_req, s->max_info, s->hash};
}

static uint32_t lin_set_next_open(const struct lin_set *s, uint32_t from)
{
    while (from < s->n_req) {
        uint64_t free_bits = ~s->req[from / 64] >> (from % 64);
        if (free_bits) {
            uint32_t at = from + (uint32_t)__builtin_ctzll(free_bits);
            return at < s->n_req ? at : s->n_req;
        }
        from = (from / 64 + 1) * 64;
    }
    return s->n_req;
}

/* Highest unknown op's rank in the set below `below`, or -1. */
static inline __attribute__((always_inline)) int64_t lin_set_prev_info(const struct lin_set *s, int64_t below)
{
    for (int64_t i = below - 1; i >= 0;) {
        uint64_t w = s->info[i / 64] & (~0ULL >> (63 - i % 64));
        if (w)
            return (i / 64) * 64 + 63 - __builtin_clzll(w);
        i = (i / 64) * 64 - 1;
    }
    return -1;
}

static inline __attribute__((always_inline)) void lin_set_add(struct lin_set *s, bool info, uint32_t rank, uint64_t zobrist)
{
    s->hash ^= zobrist;
    if (info) {
        s->info[rank / 64] |= 1ULL << (rank % 64);
        if ((int64_t)rank > s->max_info)
            s->max_info = rank;
        return;
    }
    s->req[rank / 64] |= 1ULL << (rank % 64);
    if ((int64_t)rank > s->max_req)
        s->max_req = rank;
    if (rank == s->first_open)
        s->first_open = lin_set_next_open(s, rank + 1);
}

static void lin_set_remove(struct lin_set *s, bool info, uint32_t rank, struct lin_set_mark before)
{
    uint64_t *words = info ? s->info : s->req;
    words[rank / 64] &= ~(1ULL << (rank % 64));
    s->first_open = before.first_open;
    s->max_req = before.max_req;
    s->max_info = before.max_info;
    s->hash = before.hash;
}

/* The memo key of (set, value): the window of required words from the
 * first open op to the highest linearized one, then the unknown ops' words
 * up to the highest linearized one. Words before the window are all ones,
 * words after it all zeros, so equal keys mean equal sets. */
static void lin_set_key(const struct lin_set *s, int32_t value, uint64_t *buf, struct lin_memo_key *k)
{
    uint32_t n = 0, lo = (s->n_req + 63) / 64, n_req = 0;
    if (s->first_open < s->n_req) {
        lo = s->first_open / 64;
        uint32_t top = (s->max_req > (int64_t)s->first_open ? (uint32_t)s->max_req : s->first_open) / 64;
        for (uint32_t w = lo; w <= top; w++)
            buf[n++] = s->req[w];
        n_req = n;
    }
    if (s->max_info >= 0)
        for (int64_t w = 0; w <= s->max_info / 64; w++)
            buf[n++] = s->info[w];
    *k = (struct lin_memo_key){.hash = s->hash ^ lin_mix64((uint64_t)(uint32_t)value + 0x9e3779b97f4a7c15ULL),
                               .value = value, .lo = lo, .n_req = n_req, .n_words = n, .words = buf};
}

/* ---- the search ---------------------------------------------------------- */

struct lin_frame {
    struct lin_entry *entry; /* the call of the op linearized */
    struct lin_entry *limit; /* for an unknown op: the return the walk was stuck at */
    struct lin_set_mark mark;
    int32_t value_before;
};

struct lin_search {
    const struct lin_model *model;
    void *ctx;
    const struct lin_op *ops;
    size_t n;
    struct lin_entry head, info_head;
    struct lin_entry *entries;
    uint32_t *rank;     /* op -> its bit in set.req or set.info */
    uint32_t *twin;     /* unknown op -> the latest earlier-called identical unknown op, or UINT32_MAX */
    uint64_t *zobrist;  /* op -> random 64-bit key */
    struct lin_set set;
    uint64_t *key_buf;
    struct lin_memo memo;
    bool memo_ok;
    struct lin_frame *stack;
    size_t depth;
    uint32_t *info_path; /* unknown ops linearized, in path order */
    size_t n_info_path;
    struct lin_pair_set dead_ends;
    size_t *best_prefix;
    bool order_on; /* lin_limits.connection_order */
    struct lin_order order;
};

static bool lin_is_info(const struct lin_search *s, uint32_t op)
{
    return s->ops[op].outcome == LIN_INFO;
}

static bool lin_linearized(const struct lin_search *s, uint32_t op)
{
    const uint64_t *words = lin_is_info(s, op) ? s->set.info : s->set.req;
    uint32_t rank = s->rank[op];
    return (words[rank / 64] >> (rank % 64)) & 1;
}

/* Per-process order: op may take effect now if its process's previous op
 * with a return has (and so, inductively, every earlier op with a return)
 * and no later op of its process has. Later ops that are linearized come
 * in order too, so only the unknown ops up to the next op with a return
 * need a look: past that one nothing can be linearized yet. */
static bool lin_order_allows(const struct lin_search *s, uint32_t op)
{
    uint32_t p = s->order.prev_req[op];
    if (p != LIN_NO_OP && !lin_linearized(s, p))
        return false;
    for (uint32_t q = s->order.next[op]; q != LIN_NO_OP; q = s->order.next[q]) {
        if (lin_linearized(s, q))
            return false;
        if (!lin_is_info(s, q))
            break;
    }
    return true;
}

/* Whether configuration (set, value) is dominated by one already seen:
 * the same value with one unknown op X not linearized. Leaving an unknown
 * op out never loses options (it may still take effect later, or never, and
 * it constrains no other op's order), so whatever could follow (set, value)
 * could follow (set - X, value), which was explored already (it cannot be
 * on the current path: the step from it would have been X leaving the value
 * as it was, which the search never takes). Only the unknown op just added
 * and the last one of the path are tried: on the checker suite, trying them
 * all prunes 7% more configurations but costs twice the time. */
static inline __attribute__((always_inline)) bool lin_dominated(struct lin_search *s, int32_t value, uint32_t just_added)
{
    uint32_t tries[2];
    size_t n_tries = 0;
    if (just_added != UINT32_MAX)
        tries[n_tries++] = just_added;
    if (s->n_info_path)
        tries[n_tries++] = s->info_path[s->n_info_path - 1];
    for (size_t i = 0; i < n_tries; i++) {
        uint32_t x = tries[i], rank = s->rank[x];
        struct lin_set_mark mark = lin_set_save(&s->set);
        s->set.info[rank / 64] &= ~(1ULL << (rank % 64));
        s->set.hash ^= s->zobrist[x];
        if ((int64_t)rank == s->set.max_info)
            s->set.max_info = lin_set_prev_info(&s->set, rank);
        struct lin_memo_key k;
        lin_set_key(&s->set, value, s->key_buf, &k);
        bool seen = lin_memo_contains(&s->memo, &k);
        s->set.info[rank / 64] |= 1ULL << (rank % 64);
        s->set.hash = mark.hash;
        s->set.max_info = mark.max_info;
        if (seen)
            return true;
    }
    return false;
}

static enum lin_verdict lin_unknown(struct lin_report *r, const char *why)
{
    r->verdict = LIN_UNKNOWN;
    snprintf(r->reason, sizeof r->reason, "%s", why);
    return LIN_UNKNOWN;
}

static double lin_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Identical unknown ops are interchangeable: the earlier-called one can
 * take effect wherever the later one could. So the search lets an unknown op
 * take effect only once its earlier twin has, which cuts the orders of
 * identical ops to one without losing any outcome. Pairs twins along the
 * unknown ops' list (in call order); quadratic only in the unknown ops.
 * Under per-process order only ops the rule cannot bind are interchangeable
 * (lin_order.free); in Jepsen's histories that is every unknown op. */
static void lin_find_twins(struct lin_search *s)
{
    for (struct lin_entry *x = s->info_head.next; x; x = x->next) {
        const struct lin_op *o = &s->ops[x->op];
        s->twin[x->op] = UINT32_MAX;
        if (s->order_on && !s->order.free[x->op])
            continue;
        for (struct lin_entry *y = x->prev; y && y != &s->info_head; y = y->prev) {
            const struct lin_op *p = &s->ops[y->op];
            if (s->order_on && !s->order.free[y->op])
                continue;
            if (p->f == o->f && p->a == o->a && p->b == o->b && p->c == o->c) {
                s->twin[x->op] = y->op;
                break;
            }
        }
    }
}

/* Allocates everything and numbers the ops; 0 or -1 (out of memory). */
static int lin_search_init(struct lin_search *s, const struct lin_model *model, void *ctx, const struct lin_op *ops,
                           size_t n, bool order_on)
{
    memset(s, 0, sizeof *s);
    s->model = model;
    s->ctx = ctx;
    s->ops = ops;
    s->n = n;
    s->order_on = order_on;
    if (order_on && lin_order_build(ops, n, &s->order) != 0)
        return -1;
    s->entries = malloc(2 * n * sizeof *s->entries);
    s->rank = malloc(n * sizeof *s->rank);
    s->twin = malloc(n * sizeof *s->twin);
    s->zobrist = malloc(n * sizeof *s->zobrist);
    s->stack = malloc(n * sizeof *s->stack);
    s->info_path = malloc(n * sizeof *s->info_path);
    s->best_prefix = malloc(n * sizeof *s->best_prefix);
    if (!s->entries || !s->rank || !s->twin || !s->zobrist || !s->stack || !s->info_path || !s->best_prefix)
        return -1;
    long k = lin_entries_build(ops, n, &s->head, &s->info_head, s->entries);
    if (k < 0)
        return -1;
    /* Required ops are ranked by return, unknown ones by call. */
    uint32_t n_req = 0, n_info = 0;
    for (long i = 0; i < k; i++) {
        const struct lin_entry *e = &s->entries[i];
        if (e->is_return)
            s->rank[e->op] = n_req++;
        else if (ops[e->op].outcome == LIN_INFO)
            s->rank[e->op] = n_info++;
    }
    lin_find_twins(s);
    size_t req_words = (n_req + 63) / 64, info_words = (n_info + 63) / 64;
    s->set = (struct lin_set){.req = calloc(req_words + 1, sizeof(uint64_t)),
                              .info = calloc(info_words + 1, sizeof(uint64_t)),
                              .n_req = n_req, .first_open = 0, .max_req = -1, .max_info = -1};
    s->key_buf = malloc((req_words + info_words + 1) * sizeof *s->key_buf);
    if (!s->set.req || !s->set.info || !s->key_buf)
        return -1;
    for (size_t i = 0; i < n; i++)
        s->zobrist[i] = lin_mix64(0x5851f42d4c957f2dULL * (i + 1));
    if (lin_memo_init(&s->memo, n) != 0)
        return -1;
    s->memo_ok = true;
    return 0;
}

static void lin_search_free(struct lin_search *s)
{
    if (s->memo_ok)
        lin_memo_free(&s->memo);
    lin_pairs_free(&s->dead_ends);
    lin_order_free(&s->order);
    free(s->entries);
    free(s->rank);
    free(s->twin);
    free(s->zobrist);
    free(s->stack);
    free(s->info_path);
    free(s->best_prefix);
    free(s->set.req);
    free(s->set.info);
    free(s->key_buf);
}

/* Tries to linearize the op of `call` now. Returns 1 if it was (the op is
 * lifted and pushed), 0 if not, -1 on out of memory. `is_register` is a
 * constant where it is inlined (lin_search_run). */
static inline __attribute__((always_inline)) int lin_try(struct lin_search *s, struct lin_entry *call,
                                                         struct lin_entry *limit, int32_t *value,
                                                         const bool is_register)
{
    uint32_t op = call->op;
    bool info = lin_is_info(s, op);
    int32_t next_value = 0;
    if (is_register) {
        if (!lin_register_step(&s->ops[op], *value, &next_value))
            return 0;
    } else if (!s->model->step(s->ctx, &s->ops[op], *value, &next_value)) {
        return next_value < 0 ? -1 : 0; /* -1: the model ran out of memory */
    }
    /* An unknown op that leaves the value as it is gains nothing over
     * never taking effect, which the search covers anyway. */
    if (info && next_value == *value)
        return 0;
    if (s->order_on && !lin_order_allows(s, op))
        return 0;
    struct lin_set_mark mark = lin_set_save(&s->set);
    lin_set_add(&s->set, info, s->rank[op], s->zobrist[op]);
    int fresh = 1;
    if (info || s->n_info_path)
        fresh = !lin_dominated(s, next_value, info ? op : UINT32_MAX);
    if (fresh) {
        struct lin_memo_key k;
        lin_set_key(&s->set, next_value, s->key_buf, &k);
        fresh = lin_memo_insert(&s->memo, &k);
    }
    if (fresh <= 0) {
        lin_set_remove(&s->set, info, s->rank[op], mark);
        return fresh;
    }
    s->stack[s->depth++] = (struct lin_frame){.entry = call, .limit = limit, .mark = mark, .value_before = *value};
    if (info)
        s->info_path[s->n_info_path++] = op;
    *value = next_value;
    lin_entries_lift(call);
    return 1;
}

enum lin_verdict lin_check(const struct lin_op *ops, size_t n, const struct lin_limits *limits,
                           struct lin_report *r)
{
    return lin_check_model(&lin_register_model, NULL, ops, n, limits, r);
}

/* The search itself, inlined twice: with the register's step (is_register
 * constant true, the step inlined) and with any model's. */
static inline __attribute__((always_inline)) enum lin_verdict
lin_search_run(const struct lin_model *model, void *ctx, const struct lin_op *ops, size_t n,
               const struct lin_limits *limits, struct lin_report *r, const bool is_register)
{
    memset(r, 0, sizeof *r);
    r->verdict = LIN_VALID;
    r->connection_order = limits && limits->connection_order;
    if (n == 0)
        return LIN_VALID;
    if (n > UINT32_MAX / 4)
        return lin_unknown(r, "too many operations for one register");

    uint64_t max_states = limits && limits->max_states ? limits->max_states : LIN_DEFAULT_MAX_STATES;
    double max_seconds = limits && limits->max_seconds > 0 ? limits->max_seconds : LIN_DEFAULT_MAX_SECONDS;
    struct lin_search s;
    enum lin_verdict verdict = LIN_UNKNOWN;
    if (lin_search_init(&s, model, ctx, ops, n, limits && limits->connection_order) != 0) {
        lin_unknown(r, "out of memory");
        goto done;
    }

    size_t best_depth = 0, best_pos = 0;
    bool have_best = false;
    uint32_t best_op = 0;
    uint64_t steps = 0;
    int32_t value = LIN_NIL;
    double deadline = lin_now_seconds() + max_seconds;
    /* The walk: `e` runs along the main list; when it meets a return (an op
     * that must be linearized by now and is not), the unknown ops called
     * before that return (`limit`) are tried in turn from `x`. */
    struct lin_entry *e = s.head.next, *limit = NULL, *x = NULL;

    for (;;) {
        if (++steps % LIN_CLOCK_EVERY == 0) {
            char why[160];
            if (lin_now_seconds() > deadline) {
                snprintf(why, sizeof why, "time bound of %g s reached after %zu configurations", max_seconds,
                         s.memo.n_used);
                lin_unknown(r, why);
                goto done;
            }
            if (lin_memo_bytes(&s.memo) > LIN_MAX_MEMO_BYTES) {
                snprintf(why, sizeof why, "memory bound of %llu MiB reached after %zu configurations",
                         (unsigned long long)(LIN_MAX_MEMO_BYTES >> 20), s.memo.n_used);
                lin_unknown(r, why);
                goto done;
            }
        }
        struct lin_entry *candidate = NULL;
        if (!limit) {
            if (!e) { /* every op with a return is linearized */
                verdict = LIN_VALID;
                break;
            }
            if (e->is_return) {
                limit = e;
                x = s.info_head.next;
                continue;
            }
            candidate = e;
        } else if (x && x < limit) { /* entries sit in time order in one array */
            uint32_t twin = s.twin[x->op];
            if (twin != UINT32_MAX && !(s.set.info[s.rank[twin] / 64] & (1ULL << (s.rank[twin] % 64)))) {
                x = x->next; /* its earlier twin has not taken effect yet */
                continue;
            }
            candidate = x;
        }

        if (candidate) {
            int tried = lin_try(&s, candidate, limit, &value, is_register);
            if (tried < 0) {
                lin_unknown(r, "out of memory");
                goto done;
            }
            if (tried) {
                if (s.memo.n_used > max_states) {
                    char why[128];
                    snprintf(why, sizeof why, "state bound of %llu configurations reached",
                             (unsigned long long)max_states);
                    lin_unknown(r, why);
                    goto done;
                }
                e = s.head.next;
                limit = NULL;
            } else if (limit) {
                x = x->next;
            } else {
                e = e->next;
            }
            continue;
        }

        /* The op returning at `limit` cannot be linearized here: a dead end.
         * The op to blame is the one whose return no path gets past: the
         * dead end furthest along in time (where Knossos's set of
         * configurations becomes empty); its prefix is the deepest there. */
        size_t pos = (size_t)(limit - s.entries);
        if (!have_best || pos > best_pos || (pos == best_pos && s.depth > best_depth)) {
            have_best = true;
            best_pos = pos;
            best_depth = s.depth;
            best_op = limit->op;
            for (size_t i = 0; i < s.depth; i++)
                s.best_prefix[i] = s.stack[i].entry->op;
        }
        if (lin_pairs_add(&s.dead_ends, limit->op, value) != 0) {
            lin_unknown(r, "out of memory");
            goto done;
        }
        if (s.depth == 0) {
            verdict = LIN_INVALID;
            break;
        }
        struct lin_frame f = s.stack[--s.depth];
        uint32_t op = f.entry->op;
        bool info = lin_is_info(&s, op);
        value = f.value_before;
        lin_set_remove(&s.set, info, s.rank[op], f.mark);
        lin_entries_unlift(f.entry);
        /* Resume the walk just after the undone choice, where it was made. */
        if (info) {
            s.n_info_path--;
            limit = f.limit;
            x = f.entry->next;
        } else {
            limit = NULL;
            e = f.entry->next;
        }
    }

    r->verdict = verdict;
    if (verdict == LIN_INVALID) {
        r->failed_op = best_op;
        r->prefix_ops = best_depth;
        r->prefix = s.best_prefix;
        s.best_prefix = NULL;
        if (lin_pairs_values_of(&s.dead_ends, best_op, r) != 0)
            r->n_possible = 0;
    }

done:
    r->states_explored = s.memo_ok ? s.memo.n_used : 0;
    lin_search_free(&s);
    return r->verdict;
}

enum lin_verdict lin_check_model(const struct lin_model *model, void *ctx, const struct lin_op *ops, size_t n,
                                 const struct lin_limits *limits, struct lin_report *r)
{
    if (model == &lin_register_model)
        return lin_search_run(model, ctx, ops, n, limits, r, true);
    return lin_search_run(model, ctx, ops, n, limits, r, false);
}

void lin_report_free(struct lin_report *r)
{
    if (!r)
        return;
    free(r->possible);
    free(r->prefix);
    r->possible = NULL;
    r->prefix = NULL;
    r->n_possible = 0;
    r->prefix_ops = 0;
}
