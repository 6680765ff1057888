/* lin.c - the Wing-Gong/Lowe linearizability search for one register.
 *
 * The history becomes a time-ordered, doubly linked list of call and return
 * entries. The search walks it from the front: at a call entry it tries to
 * linearize that operation now (apply it to the register); if the model
 * allows it and the resulting configuration (set of linearized operations,
 * register value) has not been seen before, the operation is "lifted" out of
 * the list, pushed on a stack, and the walk restarts at the front. Reaching a
 * return entry means an operation that has already returned is still not
 * linearized: a dead end, so the last choice is undone (unlifted) and the
 * walk resumes just after it. Memoizing configurations (Lowe's improvement,
 * also what Porcupine does) keeps the search from exploring the same
 * configuration twice.
 *
 * Operations of unknown outcome (LIN_INFO) get no return entry at all: they
 * may be linearized at any point after their call, or never, so the walk
 * succeeds when it falls off the end of the list, i.e. when every operation
 * with a return entry has been linearized.
 */
#include "check/lin.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LIN_DEFAULT_MAX_STATES 5000000ULL
#define LIN_DEFAULT_MAX_SECONDS 60.0
/* The memo table (bitsets and slots) may not grow past about this many
 * bytes, whatever max_states says. */
#define LIN_MAX_MEMO_BYTES (1ULL << 30)
/* Slot bytes per state: 16-byte slots at a load factor between 1/4 and 1/2. */
#define LIN_SLOT_BYTES_PER_STATE 64
/* How many search steps pass between two looks at the clock. */
#define LIN_CLOCK_EVERY 16384

struct lin_entry {
    struct lin_entry *prev;
    struct lin_entry *next;
    struct lin_entry *match; /* a call's return entry; NULL for LIN_INFO */
    uint32_t op;
    bool is_return;
};

/* One slot of the open-addressing memo table: a configuration's hash, its
 * register value, and where its bitset lives in the arena (index + 1; 0 is an
 * empty slot). */
struct lin_memo_slot {
    uint64_t hash;
    int32_t value;
    uint32_t bits_at;
};

struct lin_memo {
    struct lin_memo_slot *slots;
    size_t n_slots; /* a power of two */
    size_t n_used;
    uint64_t *arena; /* n_used bitsets of `words` words each */
    size_t arena_cap; /* in bitsets */
    size_t words;
};

struct lin_frame {
    struct lin_entry *entry;
    struct lin_entry *limit; /* for an unknown op: the return the main walk stopped at */
    int32_t value_before;
};

/* A small set of (op, value) pairs met at dead ends, for the explanation. */
struct lin_pair_set {
    uint64_t *slots; /* (op << 32 | (uint32_t)value) + 1; 0 is empty */
    size_t n_slots;
    size_t n_used;
};

static uint64_t lin_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t lin_config_hash(uint64_t set_hash, int32_t value)
{
    return set_hash ^ lin_mix64((uint64_t)(uint32_t)value + 0x9e3779b97f4a7c15ULL);
}

/* ---- the model: a compare-and-set register ---------------------------- */

/* Applies op to a register holding `value`; false if the op's outcome is
 * impossible from that value. See lin.h for the meaning of each outcome. */
static bool lin_step(const struct lin_op *op, int32_t value, int32_t *out)
{
    *out = value;
    switch (op->f) {
    case LIN_READ:
        /* A read whose outcome is not OK constrains nothing. */
        return op->outcome != LIN_OK || value == op->a;
    case LIN_WRITE:
        if (op->outcome != LIN_FAIL)
            *out = op->a;
        return true;
    case LIN_CAS:
        if (op->outcome == LIN_FAIL)
            return value != op->a;
        if (value != op->a)
            return false;
        *out = op->b;
        return true;
    default:
        return false;
    }
}

/* ---- the memo table ---------------------------------------------------- */

static int lin_memo_init(struct lin_memo *m, size_t words)
{
    m->n_slots = 1024;
    m->n_used = 0;
    m->words = words;
    m->slots = calloc(m->n_slots, sizeof *m->slots);
    m->arena_cap = 256;
    m->arena = malloc(m->arena_cap * words * sizeof(uint64_t));
    if (!m->slots || !m->arena) {
        free(m->slots);
        free(m->arena);
        return -1;
    }
    return 0;
}

static void lin_memo_free(struct lin_memo *m)
{
    free(m->slots);
    free(m->arena);
}

static int lin_memo_grow_slots(struct lin_memo *m)
{
    size_t n = m->n_slots * 2;
    struct lin_memo_slot *s = calloc(n, sizeof *s);
    if (!s)
        return -1;
    for (size_t i = 0; i < m->n_slots; i++) {
        if (!m->slots[i].bits_at)
            continue;
        size_t j = m->slots[i].hash & (n - 1);
        while (s[j].bits_at)
            j = (j + 1) & (n - 1);
        s[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = s;
    m->n_slots = n;
    return 0;
}

static bool lin_memo_contains(const struct lin_memo *m, const uint64_t *bits, int32_t value, uint64_t hash)
{
    size_t mask = m->n_slots - 1;
    for (size_t j = hash & mask; m->slots[j].bits_at; j = (j + 1) & mask) {
        const struct lin_memo_slot *s = &m->slots[j];
        if (s->hash == hash && s->value == value &&
            memcmp(m->arena + (size_t)(s->bits_at - 1) * m->words, bits, m->words * sizeof(uint64_t)) == 0)
            return true;
    }
    return false;
}

/* Inserts the configuration (bits, value); returns 1 if it is new, 0 if it
 * was already there, -1 when out of memory. */
static int lin_memo_insert(struct lin_memo *m, const uint64_t *bits, int32_t value, uint64_t hash)
{
    size_t mask = m->n_slots - 1;
    size_t j = hash & mask;
    size_t bytes = m->words * sizeof(uint64_t);
    while (m->slots[j].bits_at) {
        const struct lin_memo_slot *s = &m->slots[j];
        if (s->hash == hash && s->value == value &&
            memcmp(m->arena + (size_t)(s->bits_at - 1) * m->words, bits, bytes) == 0)
            return 0;
        j = (j + 1) & mask;
    }
    if (m->n_used == m->arena_cap) {
        size_t cap = m->arena_cap * 2;
        uint64_t *a = realloc(m->arena, cap * bytes);
        if (!a)
            return -1;
        m->arena = a;
        m->arena_cap = cap;
    }
    memcpy(m->arena + m->n_used * m->words, bits, bytes);
    m->n_used++;
    m->slots[j] = (struct lin_memo_slot){.hash = hash, .value = value, .bits_at = (uint32_t)m->n_used};
    if (m->n_used * 2 > m->n_slots && lin_memo_grow_slots(m) != 0)
        return -1;
    return 1;
}

/* ---- dead-end (op, value) pairs ---------------------------------------- */

static int lin_pairs_add(struct lin_pair_set *p, uint32_t op, int32_t value)
{
    uint64_t key = (((uint64_t)op << 32) | (uint32_t)value) + 1;
    if ((p->n_used + 1) * 2 > p->n_slots) {
        size_t n = p->n_slots ? p->n_slots * 2 : 256;
        uint64_t *s = calloc(n, sizeof *s);
        if (!s)
            return -1;
        for (size_t i = 0; i < p->n_slots; i++) {
            if (!p->slots[i])
                continue;
            size_t j = lin_mix64(p->slots[i]) & (n - 1);
            while (s[j])
                j = (j + 1) & (n - 1);
            s[j] = p->slots[i];
        }
        free(p->slots);
        p->slots = s;
        p->n_slots = n;
    }
    size_t j = lin_mix64(key) & (p->n_slots - 1);
    while (p->slots[j]) {
        if (p->slots[j] == key)
            return 0;
        j = (j + 1) & (p->n_slots - 1);
    }
    p->slots[j] = key;
    p->n_used++;
    return 0;
}

static int lin_cmp_value(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* The values met at dead ends in front of op's return, sorted. */
static int lin_pairs_values_of(const struct lin_pair_set *p, uint32_t op, struct lin_report *r)
{
    r->possible = malloc((p->n_used ? p->n_used : 1) * sizeof *r->possible);
    if (!r->possible)
        return -1;
    r->n_possible = 0;
    for (size_t i = 0; i < p->n_slots; i++) {
        if (!p->slots[i])
            continue;
        uint64_t key = p->slots[i] - 1;
        if ((uint32_t)(key >> 32) == op)
            r->possible[r->n_possible++] = (int32_t)(uint32_t)key;
    }
    qsort(r->possible, r->n_possible, sizeof *r->possible, lin_cmp_value);
    return 0;
}

/* ---- building the entry list -------------------------------------------- */

struct lin_event {
    uint64_t time;
    uint32_t op;
    bool is_return;
};

/* Time order; at equal times calls come first, so operations that touch at
 * one instant count as concurrent (a return precedes a call only if it is
 * strictly earlier). */
static int lin_cmp_event(const void *a, const void *b)
{
    const struct lin_event *x = a, *y = b;
    if (x->time != y->time)
        return x->time < y->time ? -1 : 1;
    if (x->is_return != y->is_return)
        return x->is_return ? 1 : -1;
    return (x->op > y->op) - (x->op < y->op);
}

/* Builds the time-ordered list of calls and returns after `head`, and the
 * calls of unknown ops (which have no return) after `info_head`, apart: the
 * walk tries the ops that must be linearized first and the optional ones
 * only when it is stuck (see lin_check). Entries are in one array in time
 * order, so an entry's index is its place in time. entries has room for 2n. */
static int lin_build_entries(const struct lin_op *ops, size_t n, struct lin_entry *head,
                             struct lin_entry *info_head, struct lin_entry *entries)
{
    struct lin_event *ev = malloc((2 * n + 1) * sizeof *ev);
    struct lin_entry **call_of = malloc((n + 1) * sizeof *call_of);
    if (!ev || !call_of) {
        free(ev);
        free(call_of);
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        ev[k++] = (struct lin_event){.time = ops[i].call, .op = (uint32_t)i, .is_return = false};
        if (ops[i].outcome != LIN_INFO) {
            /* A completion before its own call is bad input; treat it as instantaneous. */
            uint64_t ret = ops[i].ret < ops[i].call ? ops[i].call : ops[i].ret;
            ev[k++] = (struct lin_event){.time = ret, .op = (uint32_t)i, .is_return = true};
        }
    }
    qsort(ev, k, sizeof *ev, lin_cmp_event);
    struct lin_entry *prev = head, *info_prev = info_head;
    head->prev = info_head->prev = NULL;
    for (size_t i = 0; i < k; i++) {
        struct lin_entry *e = &entries[i];
        bool optional = ops[ev[i].op].outcome == LIN_INFO;
        struct lin_entry **tail = optional ? &info_prev : &prev;
        *e = (struct lin_entry){.prev = *tail, .next = NULL, .match = NULL, .op = ev[i].op,
                                .is_return = ev[i].is_return};
        (*tail)->next = e;
        *tail = e;
        if (!e->is_return)
            call_of[e->op] = e;
        else
            call_of[e->op]->match = e;
    }
    prev->next = NULL;
    info_prev->next = NULL;
    free(ev);
    free(call_of);
    return 0;
}

static void lin_lift(struct lin_entry *e)
{
    e->prev->next = e->next;
    if (e->next)
        e->next->prev = e->prev;
    struct lin_entry *m = e->match;
    if (m) {
        m->prev->next = m->next;
        if (m->next)
            m->next->prev = m->prev;
    }
}

static void lin_unlift(struct lin_entry *e)
{
    struct lin_entry *m = e->match;
    if (m) {
        m->prev->next = m;
        if (m->next)
            m->next->prev = m;
    }
    e->prev->next = e;
    if (e->next)
        e->next->prev = e;
}

static double lin_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Whether configuration (bits, value) is dominated by one already seen:
 * the same value with one unknown op X not linearized. Leaving an unknown
 * op out never loses options (it may still take effect later, or never, and
 * it constrains no other op's order), so whatever could follow (bits, value)
 * could follow (bits - X, value), which was explored already (it cannot be
 * on the current path: the step from it would have been X leaving the value
 * as it was, which the search never takes). `extra` is the op just added if
 * it is unknown (UINT32_MAX if not). Only the most recent unknown op of the
 * path is tried besides `extra`: measured on the checker suite, trying them
 * all prunes 7% more configurations but costs twice the time. */
static bool lin_dominated(const struct lin_memo *m, uint64_t *bits, int32_t value, uint64_t set_hash,
                          const uint64_t *zobrist, const uint32_t *info_path, size_t n_info_path, uint32_t extra)
{
    for (size_t i = n_info_path ? n_info_path - 1 : 0; i <= n_info_path; i++) {
        uint32_t x = i < n_info_path ? info_path[i] : extra;
        if (x == UINT32_MAX)
            continue;
        uint64_t bit = 1ULL << (x % 64);
        bits[x / 64] &= ~bit;
        bool seen = lin_memo_contains(m, bits, value, lin_config_hash(set_hash ^ zobrist[x], value));
        bits[x / 64] |= bit;
        if (seen)
            return true;
    }
    return false;
}

/* ---- the search ---------------------------------------------------------- */

static enum lin_verdict lin_unknown(struct lin_report *r, const char *why)
{
    r->verdict = LIN_UNKNOWN;
    snprintf(r->reason, sizeof r->reason, "%s", why);
    return LIN_UNKNOWN;
}

enum lin_verdict lin_check(const struct lin_op *ops, size_t n, const struct lin_limits *limits,
                           struct lin_report *r)
{
    memset(r, 0, sizeof *r);
    r->verdict = LIN_VALID;
    if (n == 0)
        return LIN_VALID;
    if (n > UINT32_MAX / 2)
        return lin_unknown(r, "too many operations for one register");

    uint64_t max_states = limits && limits->max_states ? limits->max_states : LIN_DEFAULT_MAX_STATES;
    double max_seconds = limits && limits->max_seconds > 0 ? limits->max_seconds : LIN_DEFAULT_MAX_SECONDS;
    size_t words = (n + 63) / 64;
    uint64_t state_bytes = words * sizeof(uint64_t) + LIN_SLOT_BYTES_PER_STATE;
    if (max_states > LIN_MAX_MEMO_BYTES / state_bytes)
        max_states = LIN_MAX_MEMO_BYTES / state_bytes;

    struct lin_entry head, info_head;
    struct lin_entry *entries = malloc(2 * n * sizeof *entries);
    struct lin_frame *stack = malloc(n * sizeof *stack);
    uint32_t *info_path = malloc(n * sizeof *info_path); /* unknown ops linearized, in path order */
    size_t n_info_path = 0;
    uint64_t *bits = calloc(words, sizeof *bits);
    uint64_t *zobrist = malloc(n * sizeof *zobrist);
    struct lin_memo memo = {0};
    struct lin_pair_set dead_ends = {0};
    size_t *best_prefix = malloc(n * sizeof *best_prefix);
    enum lin_verdict verdict = LIN_UNKNOWN;
    bool memo_ok = false;

    if (!entries || !stack || !info_path || !bits || !zobrist || !best_prefix || lin_build_entries(ops, n, &head, &info_head, entries) != 0 ||
        !(memo_ok = lin_memo_init(&memo, words) == 0)) {
        lin_unknown(r, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        zobrist[i] = lin_mix64(0x5851f42d4c957f2dULL * (i + 1));

    size_t depth = 0, best_depth = 0, best_pos = 0;
    bool have_best = false;
    uint32_t best_op = 0;
    uint64_t set_hash = 0, steps = 0;
    int32_t value = LIN_NIL;
    double deadline = lin_now_seconds() + max_seconds;
    /* The walk: `e` runs along the main list; when it meets a return (an op
     * that must be linearized by now and is not), the unknown ops called
     * before that return (`limit`) are tried in turn from `x`. Together
     * these are exactly the candidates of the classic walk, in another
     * order: required ops first, so a valid history is usually found
     * without guessing which unknown ops took effect. */
    struct lin_entry *e = head.next, *limit = NULL, *x = NULL;

    for (;;) {
        if (++steps % LIN_CLOCK_EVERY == 0 && lin_now_seconds() > deadline) {
            char why[128];
            snprintf(why, sizeof why, "time bound of %g s reached after %zu states", max_seconds, memo.n_used);
            lin_unknown(r, why);
            goto done;
        }
        struct lin_entry *candidate = NULL;
        if (!limit) {
            if (!e) { /* every op with a return is linearized */
                verdict = LIN_VALID;
                break;
            }
            if (e->is_return) {
                limit = e;
                x = info_head.next;
                continue;
            }
            candidate = e;
        } else if (x && x < limit) { /* entries are in time order in one array */
            candidate = x;
        }

        if (candidate) {
            int32_t next_value;
            bool is_info = ops[candidate->op].outcome == LIN_INFO;
            uint32_t op = candidate->op;
            /* An unknown op that leaves the value as it is gains nothing over
             * never taking effect, which the search covers anyway. */
            if (lin_step(&ops[op], value, &next_value) && !(is_info && next_value == value)) {
                uint64_t h = set_hash ^ zobrist[op];
                bits[op / 64] |= 1ULL << (op % 64);
                int fresh = 1;
                if (n_info_path || is_info)
                    fresh = !lin_dominated(&memo, bits, next_value, h, zobrist, info_path, n_info_path,
                                           is_info ? op : UINT32_MAX);
                if (fresh)
                    fresh = lin_memo_insert(&memo, bits, next_value, lin_config_hash(h, next_value));
                if (fresh < 0) {
                    lin_unknown(r, "out of memory");
                    goto done;
                }
                if (fresh) {
                    if (memo.n_used > max_states) {
                        char why[128];
                        snprintf(why, sizeof why, "state bound of %llu configurations reached",
                                 (unsigned long long)max_states);
                        lin_unknown(r, why);
                        goto done;
                    }
                    stack[depth++] = (struct lin_frame){.entry = candidate, .limit = limit, .value_before = value};
                    if (is_info)
                        info_path[n_info_path++] = op;
                    value = next_value;
                    set_hash = h;
                    lin_lift(candidate);
                    e = head.next;
                    limit = NULL;
                    continue;
                }
                bits[op / 64] &= ~(1ULL << (op % 64));
            }
            if (limit)
                x = x->next;
            else
                e = e->next;
            continue;
        }

        /* The op returning at `limit` cannot be linearized here: a dead end.
         * The op to blame is the one whose return no path gets past: the
         * dead end furthest along in time (where Knossos's set of
         * configurations becomes empty); its prefix is the deepest there. */
        size_t pos = (size_t)(limit - entries);
        if (!have_best || pos > best_pos || (pos == best_pos && depth > best_depth)) {
            have_best = true;
            best_pos = pos;
            best_depth = depth;
            best_op = limit->op;
            for (size_t i = 0; i < depth; i++)
                best_prefix[i] = stack[i].entry->op;
        }
        if (lin_pairs_add(&dead_ends, limit->op, value) != 0) {
            lin_unknown(r, "out of memory");
            goto done;
        }
        if (depth == 0) {
            verdict = LIN_INVALID;
            break;
        }
        struct lin_frame f = stack[--depth];
        uint32_t op = f.entry->op;
        value = f.value_before;
        set_hash ^= zobrist[op];
        bits[op / 64] &= ~(1ULL << (op % 64));
        lin_unlift(f.entry);
        /* Resume the walk just after the undone choice, where it was made. */
        if (ops[op].outcome == LIN_INFO) {
            n_info_path--;
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
        r->prefix = best_prefix;
        best_prefix = NULL;
        if (lin_pairs_values_of(&dead_ends, best_op, r) != 0)
            r->n_possible = 0;
    }

done:
    r->states_explored = memo_ok ? memo.n_used : 0;
    if (memo_ok)
        lin_memo_free(&memo);
    free(dead_ends.slots);
    free(entries);
    free(stack);
    free(info_path);
    free(bits);
    free(zobrist);
    free(best_prefix);
    return r->verdict;
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
