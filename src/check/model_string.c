/* model_string.c - a Redis string per key as a lin_model: get, set, incr
 * (incrby), append, getset, del, with Redis's integer rules. A state is the
 * id of the key's value in its string form (model_values.h), LIN_NIL when
 * the key is absent; equal strings have one id, so equal states do.
 *
 *   get      ok: the value read (nil: absent) is the value
 *   set      the value becomes a
 *   incr     the value, absent read as 0, must be a Redis integer and
 *            value + a must fit in 64 bits: then it becomes value + a and
 *            ok's output b (when recorded) is that; otherwise the incr
 *            fails (outcome LIN_FAIL, the history's error 40) and changes
 *            nothing, and only then may it fail
 *   append   the value becomes value ++ a; ok's b is its length in bytes
 *   getset   ok's b is the old value (nil: absent); the value becomes a
 *   del      ok's b is 1 if the key was present, else 0; it is absent
 */
#include "check/lin.h"

#include <stdio.h>
#include <stdlib.h>

#include "check/model_values.h"

static void *string_ctx_new(struct lin_values *values)
{
    struct model_values *mv = malloc(sizeof *mv);
    if (mv)
        model_values_init(mv, values);
    return mv;
}

static void string_ctx_free(void *ctx)
{
    if (!ctx)
        return;
    model_values_free(ctx);
    free(ctx);
}

/* The string form of value id v into *out; false when out of memory. */
static bool string_of(struct model_values *mv, int32_t v, int32_t *out)
{
    const struct model_value *mvv = model_value(mv, v);
    if (!mvv)
        return false;
    *out = mvv->str;
    return true;
}

/* Whether output `out` (a value id, nil when not recorded) is the integer n. */
static bool string_output_is(struct model_values *mv, int32_t out, int64_t n, bool *oom)
{
    if (out == LIN_NIL)
        return true;
    const struct model_value *v = model_value(mv, out);
    if (!v) {
        *oom = true;
        return false;
    }
    return v->is_int && v->i == n;
}

static bool string_step(void *ctx, const struct lin_op *op, int32_t state, int32_t *next)
{
    struct model_values *mv = ctx;
    bool oom = false, legal = false;
    *next = state;
    switch (op->f) {
    case LIN_GET: {
        int32_t seen;
        if (op->outcome != LIN_OK)
            return true;
        if (!string_of(mv, op->a, &seen))
            goto oom;
        return seen == state;
    }
    case LIN_SET:
        if (op->outcome == LIN_FAIL)
            return true;
        if (!string_of(mv, op->a, next))
            goto oom;
        return true;
    case LIN_INCR: {
        int64_t cur = 0, by = 1, sum;
        bool applies = true;
        if (state != LIN_NIL) {
            const struct model_value *v = model_value(mv, state);
            if (!v)
                goto oom;
            applies = v->is_int;
            cur = v->i;
        }
        if (op->a != LIN_NIL) {
            const struct model_value *v = model_value(mv, op->a);
            if (!v)
                goto oom;
            if (!v->is_int)
                return false; /* the readers refuse such an increment */
            by = v->i;
        }
        if (applies && __builtin_add_overflow(cur, by, &sum))
            applies = false;
        if (op->outcome == LIN_FAIL)
            return !applies;
        if (!applies)
            return op->outcome == LIN_INFO; /* an unknown incr that failed: no effect */
        legal = string_output_is(mv, op->b, sum, &oom);
        if (oom)
            goto oom;
        if (!legal && op->outcome == LIN_OK)
            return false;
        *next = model_values_of_int(mv, sum);
        if (*next < 0)
            goto oom;
        return true;
    }
    case LIN_APPEND: {
        int32_t suffix;
        if (op->outcome == LIN_FAIL)
            return true;
        if (!string_of(mv, op->a, &suffix))
            goto oom;
        int32_t joined = model_values_concat(mv, state, suffix);
        const struct model_value *v = joined < 0 ? NULL : model_value(mv, joined);
        if (!v)
            goto oom;
        if (op->outcome == LIN_OK) {
            legal = string_output_is(mv, op->b, v->len, &oom);
            if (oom)
                goto oom;
            if (!legal)
                return false;
        }
        *next = joined;
        return true;
    }
    case LIN_GETSET: {
        int32_t old;
        if (op->outcome == LIN_FAIL)
            return true;
        if (op->outcome == LIN_OK) {
            if (!string_of(mv, op->b, &old))
                goto oom;
            if (old != state)
                return false;
        }
        if (!string_of(mv, op->a, next))
            goto oom;
        return true;
    }
    case LIN_DEL:
        if (op->outcome == LIN_FAIL)
            return true;
        if (op->outcome == LIN_OK) {
            legal = string_output_is(mv, op->b, state != LIN_NIL, &oom);
            if (oom)
                goto oom;
            if (!legal)
                return false;
        }
        *next = LIN_NIL;
        return true;
    default:
        return false;
    }
oom:
    *next = -1;
    return false;
}

static void string_describe(void *ctx, int32_t state, char *buf, size_t len)
{
    struct model_values *mv = ctx;
    snprintf(buf, len, "%s", state == LIN_NIL ? "absent" : lin_values_text(mv->values, state));
}

const struct lin_model lin_string_model = {
    .name = "string",
    .functions = 1u << LIN_GET | 1u << LIN_SET | 1u << LIN_INCR | 1u << LIN_APPEND | 1u << LIN_GETSET | 1u << LIN_DEL,
    .ctx_new = string_ctx_new,
    .ctx_free = string_ctx_free,
    .step = string_step,
    .describe_state = string_describe,
};
