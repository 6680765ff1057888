/* history.c - the history builder: pairs completions with invocations,
 * splits operations by key and normalises outcomes (rules in check.h),
 * chooses the model from the functions seen, then checks every key.
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
    if (h->model && h->model_ctx)
        h->model->ctx_free(h->model_ctx);
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

/* Functions that change nothing: one whose outcome is unknown is left out. */
static bool check_f_reads_only(uint8_t f)
{
    return f == LIN_READ || f == LIN_GET || f == LIN_TTL || f == LIN_PTTL;
}

/* Interns text (NULL: nil) into *out; false when out of memory. */
static bool check_intern(struct check_history *h, const char *text, int32_t *out)
{
    *out = text ? lin_values_intern(h->values, text) : LIN_NIL;
    return *out >= 0;
}

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
    if (check_f_reads_only(op->f))
        check_op_drop(h, op);
    else
        op->outcome = LIN_INFO;
}

static int check_complete(struct check_history *h, struct check_key *k, size_t i, const struct check_event *ev)
{
    struct lin_op *op = &k->ops[i];
    k->complete_index[i] = ev->index;
    op->ret = ev->time;
    if (ev->at && op->f > LIN_CAS && !check_intern(h, ev->at, &op->c))
        return CHECK_ERR_NOMEM;
    if (ev->type == CHECK_INFO) {
        check_op_unknown(h, op);
        return 0;
    }
    if (ev->type == CHECK_OK) {
        op->outcome = LIN_OK;
        switch (op->f) {
        case LIN_READ:
        case LIN_GET:
        case LIN_TTL:
        case LIN_PTTL:
            return check_intern(h, ev->value, &op->a) ? 0 : CHECK_ERR_NOMEM;
        case LIN_INCR:
        case LIN_APPEND:
        case LIN_GETSET:
        case LIN_DEL:
        case LIN_PERSIST:
            return check_intern(h, ev->value, &op->b) ? 0 : CHECK_ERR_NOMEM;
        default:
            return 0;
        }
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
    } else if (code == CHECK_CODE_NOT_INTEGER && op->f == LIN_INCR) {
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
                        .c = LIN_NIL, .call = ev->time, .ret = ev->time, .id = ev->index};
    if ((unsigned)ev->f < 32)
        h->functions_seen |= 1u << ev->f;
    bool input = ev->f == LIN_WRITE || ev->f == LIN_CAS || ev->f == LIN_SET || ev->f == LIN_INCR ||
                 ev->f == LIN_APPEND || ev->f == LIN_GETSET;
    if (input && !check_intern(h, ev->value, &op.a))
        return CHECK_ERR_NOMEM;
    if (ev->f == LIN_CAS && !check_intern(h, ev->value_to, &op.b))
        return CHECK_ERR_NOMEM;
    if (ev->f > LIN_CAS) {
        if (ev->f == LIN_SET && ev->deadline && !check_intern(h, ev->deadline, &op.b))
            return CHECK_ERR_NOMEM;
        if (ev->at && !check_intern(h, ev->at, &op.c))
            return CHECK_ERR_NOMEM;
        h->timed |= (ev->f == LIN_SET && ev->deadline) || ev->at;
    }
    k->complete_index[k->n_ops] = -1;
    k->ops[k->n_ops] = op;
    p->open[p->head + p->len++] = (struct check_open){.key = ki, .op = k->n_ops++};
    return 0;
}

static void check_functions_text(uint32_t functions, char *buf, size_t len)
{
    static const char *const names[LIN_F_COUNT] = {"read", "write",  "cas", "get", "set",  "incr",
                                                   "append", "getset", "del", "ttl", "pttl", "persist"};
    size_t used = 0;
    buf[0] = '\0';
    for (int f = 0; f < LIN_F_COUNT && used < len; f++)
        if (functions & (1u << f))
            used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "", names[f]);
}

/* The model of the history: the one named, or the first that takes every
 * function seen; its tables. */
static int check_history_choose_model(struct check_history *h)
{
    const struct lin_model *m = NULL;
    char fs[96];
    uint32_t seen = h->functions_seen;
    if (h->model_name) {
        m = lin_model_named(h->model_name);
        if (!m) {
            snprintf(h->model_error, sizeof h->model_error, "no model named %s (register, string, expiry)",
                     h->model_name);
            return CHECK_ERR_PARSE;
        }
    } else if (!(seen & ~lin_register_model.functions)) {
        m = &lin_register_model;
    } else if (!(seen & ~lin_string_model.functions) && !h->timed) {
        m = &lin_string_model;
    } else {
        m = &lin_expiry_model;
    }
    if (seen & ~m->functions) {
        if (h->model_name) {
            check_functions_text(seen & ~m->functions, fs, sizeof fs);
            snprintf(h->model_error, sizeof h->model_error, "the %s model does not take %s", m->name, fs);
        } else {
            check_functions_text(seen, fs, sizeof fs);
            snprintf(h->model_error, sizeof h->model_error,
                     "no one model takes all of %s (register: read, write, cas; string: get, set, incr, "
                     "append, getset, del; expiry: get, set, del, ttl, pttl, persist)", fs);
        }
        return CHECK_ERR_PARSE;
    }
    if (h->timed && m != &lin_expiry_model) {
        snprintf(h->model_error, sizeof h->model_error, "deadlines and time stamps need the expiry model, not %s",
                 m->name);
        return CHECK_ERR_PARSE;
    }
    if (h->model && h->model_ctx)
        h->model->ctx_free(h->model_ctx);
    h->model = m;
    h->model_ctx = m->ctx_new(h->values);
    return h->model_ctx ? 0 : CHECK_ERR_NOMEM;
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
            if (check_f_reads_only(k->ops[i].f) && k->ops[i].outcome == LIN_INFO)
                continue;
            k->ops[w] = k->ops[i];
            k->complete_index[w] = k->complete_index[i];
            w++;
        }
        k->n_ops = w;
    }
    return check_history_choose_model(h);
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
            v = h->model ? lin_check_model(h->model, h->model_ctx, k->ops, k->n_ops, &per_key, &k->report)
                         : lin_check(k->ops, k->n_ops, &per_key, &k->report);
        }
        any_invalid |= v == LIN_INVALID;
        any_unknown |= v == LIN_UNKNOWN;
    }
    h->verdict = any_invalid ? LIN_INVALID : any_unknown ? LIN_UNKNOWN : LIN_VALID;
    return h->verdict;
}
