/* model_expiry.c - keys with expiry as a lin_model: set (with an absolute
 * deadline in ms, or none), get, del, ttl, pttl, persist. Each op is judged
 * at the time stamped on it (operand c, ms): a key whose deadline is <= that
 * time reads as absent. A state is a pair (the value's string id, its
 * deadline; INT64_MAX for none) interned in lin_states; (0, 0), LIN_NIL, is
 * the absent key.
 *
 *   set      the key holds a with deadline b (nil: none); at a known time
 *            past the deadline it is absent at once
 *   get      ok: a is the value if the key is live at the time, else nil
 *   del      ok's b is 1 if the key was live, else 0; it is absent
 *   ttl      ok's a is -2 if the key is not live, -1 if it has no deadline,
 *   pttl     else the ms left (pttl) or them rounded to seconds (ttl, as
 *            Redis: (ms + 500) / 1000)
 *   persist  a live key with a deadline loses it and b is 1; else b is 0
 * An op without a time stamp is judged at whatever time explains it, time
 * never going back: a key with a deadline may be live or expired for it;
 * once an op saw it expired, it stays absent.
 */
#include "check/lin.h"

#include <stdio.h>
#include <stdlib.h>

#include "check/model_values.h"

#define EXPIRY_NONE INT64_MAX

struct expiry_ctx {
    struct model_values mv;
    struct lin_states *states;
};

static void expiry_ctx_free(void *ctx)
{
    struct expiry_ctx *x = ctx;
    if (!x)
        return;
    model_values_free(&x->mv);
    lin_states_free(x->states);
    free(x);
}

static void *expiry_ctx_new(struct lin_values *values)
{
    struct expiry_ctx *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    model_values_init(&x->mv, values);
    x->states = lin_states_new();
    if (!x->states) {
        expiry_ctx_free(x);
        return NULL;
    }
    return x;
}

/* An operand read as an integer: *has is false when it is nil (not
 * recorded); false when out of memory. A non-integer operand (the readers
 * refuse those) reads as not recorded. */
static bool expiry_int(struct expiry_ctx *x, int32_t id, bool *has, int64_t *out)
{
    *has = false;
    if (id == LIN_NIL)
        return true;
    const struct model_value *v = model_value(&x->mv, id);
    if (!v)
        return false;
    *has = v->is_int;
    *out = v->i;
    return true;
}

static bool expiry_step(void *ctx, const struct lin_op *op, int32_t state, int32_t *next)
{
    struct expiry_ctx *x = ctx;
    int64_t value, deadline, t = 0, out = 0;
    bool timed, has_out;
    *next = state;
    if (op->outcome == LIN_FAIL) /* the readers drop definite failures: none is seen */
        return true;
    lin_states_get(x->states, state, &value, &deadline);
    if (!expiry_int(x, op->c, &timed, &t))
        goto oom;
    bool present = value != 0;
    bool expiring = present && deadline != EXPIRY_NONE;
    /* Live: at a known time, by the deadline; at an unknown one, maybe
     * either when it has a deadline (the output decides). */
    bool live = present && (!timed || deadline > t);
    bool ok = op->outcome == LIN_OK;
    switch (op->f) {
    case LIN_SET: {
        const struct model_value *v = model_value(&x->mv, op->a);
        bool has_deadline;
        if (!v)
            goto oom;
        value = v->str;
        if (!expiry_int(x, op->b, &has_deadline, &deadline))
            goto oom;
        if (!has_deadline)
            deadline = EXPIRY_NONE;
        if (value == LIN_NIL || (timed && deadline <= t))
            value = deadline = 0;
        break;
    }
    case LIN_GET: {
        if (!ok)
            return true;
        const struct model_value *v = model_value(&x->mv, op->a);
        if (!v)
            goto oom;
        if (v->str != LIN_NIL)
            return live && v->str == value;
        if (live && !(expiring && !timed))
            return false;
        if (!timed)
            value = deadline = 0; /* it expired, and stays so */
        else
            return true;
        break;
    }
    case LIN_DEL:
        if (!expiry_int(x, op->b, &has_out, &out))
            goto oom;
        if (ok && has_out) {
            if (out == 1 && !live)
                return false;
            if (out != 1 && (out != 0 || (live && !(expiring && !timed))))
                return false;
        }
        value = deadline = 0;
        break;
    case LIN_TTL:
    case LIN_PTTL:
        if (!ok)
            return true;
        if (!expiry_int(x, op->a, &has_out, &out))
            goto oom;
        if (!has_out)
            return true;
        if (out == -2) {
            if (live && !(expiring && !timed))
                return false;
            if (!timed && present)
                value = deadline = 0;
            break;
        }
        if (!live)
            return false;
        if (out == -1)
            return !expiring;
        if (!expiring || out < 0)
            return false;
        if (timed) {
            int64_t left = deadline - t;
            return out == (op->f == LIN_PTTL ? left : (left + 500) / 1000);
        }
        return true;
    case LIN_PERSIST:
        if (!expiry_int(x, op->b, &has_out, &out))
            goto oom;
        if (!ok || !has_out) {
            if (live && expiring)
                deadline = EXPIRY_NONE; /* an unknown time: it took effect while live */
            else if (timed && present && !live)
                value = deadline = 0;
            break;
        }
        if (out == 1) {
            if (!live || !expiring)
                return false;
            deadline = EXPIRY_NONE;
        } else if (out == 0) {
            if (live && expiring && timed)
                return false;
            if (expiring) /* it was past its deadline */
                value = deadline = 0;
        } else {
            return false;
        }
        break;
    default:
        return false;
    }
    *next = lin_states_intern(x->states, value, deadline);
    if (*next < 0)
        goto oom;
    return true;
oom:
    *next = -1;
    return false;
}

static void expiry_describe(void *ctx, int32_t state, char *buf, size_t len)
{
    struct expiry_ctx *x = ctx;
    int64_t value, deadline;
    lin_states_get(x->states, state, &value, &deadline);
    if (value == 0)
        snprintf(buf, len, "absent");
    else if (deadline == EXPIRY_NONE)
        snprintf(buf, len, "%s (no deadline)", lin_values_text(x->mv.values, (int32_t)value));
    else
        snprintf(buf, len, "%s until %lld", lin_values_text(x->mv.values, (int32_t)value), (long long)deadline);
}

const struct lin_model lin_expiry_model = {
    .name = "expiry",
    .functions = 1u << LIN_GET | 1u << LIN_SET | 1u << LIN_DEL | 1u << LIN_TTL | 1u << LIN_PTTL | 1u << LIN_PERSIST,
    .ctx_new = expiry_ctx_new,
    .ctx_free = expiry_ctx_free,
    .step = expiry_step,
    .describe_state = expiry_describe,
};
