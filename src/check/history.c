/* history.c - the history builder: pairs completions with invocations,
 * splits operations by key and normalises outcomes (rules in check.h), then
 * runs the register checker on every key.
 */
#include "check/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* An invocation not yet completed: its key and op. */
struct check_open {
    size_t key;
    size_t op;
};

/* What a process is waiting for: its invocations not yet completed, oldest
 * first. One at most, unless the history is pipelined (connection_order),
 * where a completion answers the oldest pending invocation of its
 * function. */
struct check_pending {
    int64_t process;
    bool used; /* slot taken by this process */
    struct check_open *open;
    size_t head, len, cap; /* open[head .. head+len) */
};

struct check_index {
    struct lin_values *key_ids; /* key text -> id */
    size_t *key_of_id;          /* id -> index in keys */
    size_t n_key_of_id;
    struct check_pending *pending; /* open addressing by process */
    size_t n_pending_slots;
    size_t n_processes;
};

#define CHECK_NO_KEY ((size_t)-1)

int check_history_init(struct check_history *h)
{
    memset(h, 0, sizeof *h);
    h->values = lin_values_new();
    h->index = calloc(1, sizeof *h->index);
    if (!h->values || !h->index)
        goto fail;
    h->index->key_ids = lin_values_new();
    h->index->n_pending_slots = 64;
    h->index->pending = calloc(h->index->n_pending_slots, sizeof *h->index->pending);
    if (!h->index->key_ids || !h->index->pending)
        goto fail;
    return 0;
fail:
    check_history_free(h);
    return CHECK_ERR_NOMEM;
}

void check_history_free(struct check_history *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n_keys; i++) {
        free(h->keys[i].key);
        free(h->keys[i].ops);
        free(h->keys[i].complete_index);
        lin_report_free(&h->keys[i].report);
    }
    free(h->keys);
    lin_values_free(h->values);
    if (h->index) {
        lin_values_free(h->index->key_ids);
        free(h->index->key_of_id);
        for (size_t i = 0; h->index->pending && i < h->index->n_pending_slots; i++)
            free(h->index->pending[i].open);
        free(h->index->pending);
        free(h->index);
    }
    memset(h, 0, sizeof *h);
}

/* ---- look-ups ------------------------------------------------------------ */

static size_t check_key_find_or_add(struct check_history *h, const char *key_text)
{
    struct check_index *x = h->index;
    const char *text = key_text ? key_text : "";
    int32_t id = lin_values_intern(x->key_ids, text);
    if (id < 0)
        return CHECK_NO_KEY;
    if ((size_t)id < x->n_key_of_id && x->key_of_id[id] != CHECK_NO_KEY)
        return x->key_of_id[id];
    if ((size_t)id >= x->n_key_of_id) {
        size_t n = x->n_key_of_id ? x->n_key_of_id * 2 : 16;
        while (n <= (size_t)id)
            n *= 2;
        size_t *m = realloc(x->key_of_id, n * sizeof *m);
        if (!m)
            return CHECK_NO_KEY;
        for (size_t i = x->n_key_of_id; i < n; i++)
            m[i] = CHECK_NO_KEY;
        x->key_of_id = m;
        x->n_key_of_id = n;
    }
    if (h->n_keys == h->cap_keys) {
        size_t cap = h->cap_keys ? h->cap_keys * 2 : 8;
        struct check_key *k = realloc(h->keys, cap * sizeof *k);
        if (!k)
            return CHECK_NO_KEY;
        h->keys = k;
        h->cap_keys = cap;
    }
    struct check_key *k = &h->keys[h->n_keys];
    memset(k, 0, sizeof *k);
    k->key = strdup(key_text ? key_text : "");
    if (!k->key)
        return CHECK_NO_KEY;
    x->key_of_id[id] = h->n_keys;
    return h->n_keys++;
}

static uint64_t check_process_hash(int64_t p)
{
    uint64_t z = (uint64_t)p * 0x9e3779b97f4a7c15ULL;
    return z ^ (z >> 29);
}

static struct check_pending *check_pending_slot(struct check_index *x, int64_t process, bool create)
{
    if (create && (x->n_processes + 1) * 2 > x->n_pending_slots) {
        size_t n = x->n_pending_slots * 2;
        struct check_pending *s = calloc(n, sizeof *s);
        if (!s)
            return NULL;
        for (size_t i = 0; i < x->n_pending_slots; i++) {
            if (!x->pending[i].used)
                continue;
            size_t j = check_process_hash(x->pending[i].process) & (n - 1);
            while (s[j].used)
                j = (j + 1) & (n - 1);
            s[j] = x->pending[i];
        }
        free(x->pending);
        x->pending = s;
        x->n_pending_slots = n;
    }
    size_t mask = x->n_pending_slots - 1;
    size_t j = check_process_hash(process) & mask;
    while (x->pending[j].used) {
        if (x->pending[j].process == process)
            return &x->pending[j];
        j = (j + 1) & mask;
    }
    if (!create)
        return NULL;
    x->pending[j] = (struct check_pending){.process = process, .used = true};
    x->n_processes++;
    return &x->pending[j];
}

/* ---- normalisation --------------------------------------------------------- */

static bool check_code_is_definite(int64_t code)
{
    return code != 0 && code != 13 && code < 1000 && code > 0;
}

/* Marks op as dropped: it leaves the key's array when the history ends
 * (dropping at once would move the indexes pending slots point at). */
static void check_op_drop(struct check_history *h, struct lin_op *op)
{
    op->outcome = LIN_INFO;
    op->f = LIN_READ; /* an unknown read: removed by check_history_finish */
    h->n_dropped++;
}

/* The invocation op in key k is left without a completion. */
static void check_op_unknown(struct check_history *h, struct lin_op *op)
{
    if (op->f == LIN_READ)
        check_op_drop(h, op);
    else
        op->outcome = LIN_INFO;
}

static int check_complete(struct check_history *h, struct check_key *k, size_t i, const struct check_event *ev)
{
    struct lin_op *op = &k->ops[i];
    k->complete_index[i] = ev->index;
    op->ret = ev->time;
    if (ev->type == CHECK_INFO) {
        check_op_unknown(h, op);
        return 0;
    }
    if (ev->type == CHECK_OK) {
        op->outcome = LIN_OK;
        if (op->f == LIN_READ) {
            int32_t v = ev->value ? lin_values_intern(h->values, ev->value) : LIN_NIL;
            if (v < 0)
                return CHECK_ERR_NOMEM;
            op->a = v;
        }
        return 0;
    }
    /* CHECK_FAIL */
    int64_t code = ev->error;
    if (code == 20 && (op->f == LIN_READ || op->f == LIN_CAS)) {
        op->f = LIN_READ;
        op->outcome = LIN_OK;
        op->a = LIN_NIL;
        op->b = 0;
    } else if (code == 22 && op->f == LIN_CAS) {
        op->outcome = LIN_FAIL;
    } else if (code == CHECK_NO_ERROR || check_code_is_definite(code)) {
        check_op_drop(h, op);
    } else {
        check_op_unknown(h, op);
    }
    return 0;
}

int check_history_add(struct check_history *h, const struct check_event *ev)
{
    h->n_events++;
    struct check_index *x = h->index;
    if (ev->type != CHECK_INVOKE) {
        struct check_pending *p = check_pending_slot(x, ev->process, false);
        size_t i = 0;
        while (p && i < p->len) {
            struct check_open *o = &p->open[p->head + i];
            if (h->keys[o->key].ops[o->op].f == (uint8_t)ev->f)
                break;
            i++;
        }
        if (!p || i == p->len) {
            /* No invocation of this function is pending for the process
             * (e.g. a log that starts mid-operation): nothing to pair. */
            h->n_ignored++;
            return 0;
        }
        struct check_open o = p->open[p->head + i];
        memmove(&p->open[p->head + i], &p->open[p->head + i + 1], (p->len - i - 1) * sizeof o);
        p->len--;
        return check_complete(h, &h->keys[o.key], o.op, ev);
    }

    struct check_pending *p = check_pending_slot(x, ev->process, true);
    if (!p)
        return CHECK_ERR_NOMEM;
    if (!h->connection_order) {
        /* A new invocation: the previous one never completed. */
        for (; p->len; p->len--, p->head++)
            check_op_unknown(h, &h->keys[p->open[p->head].key].ops[p->open[p->head].op]);
    }
    if (p->len == 0)
        p->head = 0;
    if (p->head + p->len == p->cap) {
        if (p->head > 0) {
            memmove(p->open, p->open + p->head, p->len * sizeof *p->open);
            p->head = 0;
        } else {
            size_t cap = p->cap ? p->cap * 2 : 1;
            struct check_open *o = realloc(p->open, cap * sizeof *o);
            if (!o)
                return CHECK_ERR_NOMEM;
            p->open = o;
            p->cap = cap;
        }
    }
    size_t ki = check_key_find_or_add(h, ev->key);
    if (ki == CHECK_NO_KEY)
        return CHECK_ERR_NOMEM;
    struct check_key *k = &h->keys[ki];
    if (k->n_ops == k->cap_ops) {
        size_t cap = k->cap_ops ? k->cap_ops * 2 : 16;
        struct lin_op *ops = realloc(k->ops, cap * sizeof *ops);
        if (!ops)
            return CHECK_ERR_NOMEM;
        k->ops = ops;
        int64_t *ci = realloc(k->complete_index, cap * sizeof *ci);
        if (!ci)
            return CHECK_ERR_NOMEM;
        k->complete_index = ci;
        k->cap_ops = cap;
    }
    struct lin_op op = {.process = ev->process, .f = (uint8_t)ev->f, .outcome = LIN_INFO, .a = LIN_NIL, .b = LIN_NIL,
                        .call = ev->time, .ret = ev->time, .id = ev->index};
    if (ev->f == LIN_WRITE || ev->f == LIN_CAS) {
        op.a = ev->value ? lin_values_intern(h->values, ev->value) : LIN_NIL;
        if (op.a < 0)
            return CHECK_ERR_NOMEM;
    }
    if (ev->f == LIN_CAS) {
        op.b = ev->value_to ? lin_values_intern(h->values, ev->value_to) : LIN_NIL;
        if (op.b < 0)
            return CHECK_ERR_NOMEM;
    }
    k->complete_index[k->n_ops] = -1;
    k->ops[k->n_ops] = op;
    p->open[p->head + p->len++] = (struct check_open){.key = ki, .op = k->n_ops++};
    return 0;
}

int check_history_finish(struct check_history *h)
{
    struct check_index *x = h->index;
    for (size_t i = 0; i < x->n_pending_slots; i++) {
        struct check_pending *p = &x->pending[i];
        for (; p->used && p->len; p->len--, p->head++)
            check_op_unknown(h, &h->keys[p->open[p->head].key].ops[p->open[p->head].op]);
    }
    /* Remove dropped operations (unknown reads change nothing). */
    for (size_t ki = 0; ki < h->n_keys; ki++) {
        struct check_key *k = &h->keys[ki];
        size_t w = 0;
        for (size_t i = 0; i < k->n_ops; i++) {
            if (k->ops[i].f == LIN_READ && k->ops[i].outcome == LIN_INFO)
                continue;
            k->ops[w] = k->ops[i];
            k->complete_index[w] = k->complete_index[i];
            w++;
        }
        k->n_ops = w;
    }
    return 0;
}

static double check_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

enum lin_verdict check_history_run(struct check_history *h, const struct lin_limits *limits)
{
    bool any_invalid = false, any_unknown = false;
    struct lin_limits per_key = limits ? *limits : (struct lin_limits){0};
    per_key.connection_order |= h->connection_order;
    double per_key_seconds = per_key.max_seconds > 0 ? per_key.max_seconds : CHECK_DEFAULT_KEY_SECONDS;
    double deadline = check_now_seconds() + CHECK_MAX_TOTAL_SECONDS;
    for (size_t i = 0; i < h->n_keys; i++) {
        struct check_key *k = &h->keys[i];
        lin_report_free(&k->report);
        /* Each key gets its own bound, but no more than what is left of
         * the whole history's. */
        double left = deadline - check_now_seconds();
        per_key.max_seconds = left < per_key_seconds ? left : per_key_seconds;
        enum lin_verdict v;
        if (left <= 0) {
            memset(&k->report, 0, sizeof k->report);
            k->report.verdict = v = LIN_UNKNOWN;
            snprintf(k->report.reason, sizeof k->report.reason, "not checked: the history's time bound of %g s was spent",
                     (double)CHECK_MAX_TOTAL_SECONDS);
        } else {
            v = lin_check(k->ops, k->n_ops, &per_key, &k->report);
        }
        any_invalid |= v == LIN_INVALID;
        any_unknown |= v == LIN_UNKNOWN;
    }
    h->verdict = any_invalid ? LIN_INVALID : any_unknown ? LIN_UNKNOWN : LIN_VALID;
    return h->verdict;
}
