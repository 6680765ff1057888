/* explain.c - plain-text explanations of a key's verdict: for an
 * invalid history, the operation that cannot be linearized, what ran
 * concurrently with it, the register values possible just before it and why
 * it fails from each (as Knossos words it: "can't read 3 from register 0"),
 * and the longest linearizable prefix. linear.txt and `whirl check` print it.
 * The other models' keys are explained the same way, with their states.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "check/check.h"

#define EXPLAIN_SHORT_PREFIX 10
#define EXPLAIN_SHORT_CONCURRENT 12

void lin_op_describe(char *buf, size_t len, const struct lin_op *op, const struct lin_values *values)
{
    const char *a = lin_values_text(values, op->a);
    const char *b = lin_values_text(values, op->b);
    const char *unknown = op->outcome == LIN_INFO ? " (outcome unknown)" : "";
    switch (op->f) {
    case LIN_READ:
        snprintf(buf, len, "process %" PRId64 " read %s%s", op->process, a, unknown);
        break;
    case LIN_WRITE:
        snprintf(buf, len, "process %" PRId64 " write %s%s", op->process, a, unknown);
        break;
    case LIN_CAS:
        if (op->outcome == LIN_FAIL)
            snprintf(buf, len, "process %" PRId64 " cas %s -> %s (failed: value was not %s)", op->process, a, b, a);
        else
            snprintf(buf, len, "process %" PRId64 " cas %s -> %s%s", op->process, a, b, unknown);
        break;
    default: {
        static const char *const names[LIN_F_COUNT] = {[LIN_GET] = "get",       [LIN_SET] = "set",
                                                       [LIN_INCR] = "incr",     [LIN_APPEND] = "append",
                                                       [LIN_GETSET] = "getset", [LIN_DEL] = "del",
                                                       [LIN_TTL] = "ttl",       [LIN_PTTL] = "pttl",
                                                       [LIN_PERSIST] = "persist"};
        const char *name = op->f < LIN_F_COUNT ? names[op->f] : NULL;
        if (!name) {
            snprintf(buf, len, "process %" PRId64 " ?", op->process);
            break;
        }
        /* Which operands the function has (lin.h, struct lin_op). */
        bool in_a = op->f == LIN_SET || op->f == LIN_APPEND || op->f == LIN_GETSET ||
                    (op->f == LIN_INCR && op->a != LIN_NIL); /* nil: by 1 */
        bool out_a = op->f == LIN_GET || op->f == LIN_TTL || op->f == LIN_PTTL;
        bool out_b = op->f == LIN_INCR || op->f == LIN_APPEND || op->f == LIN_GETSET || op->f == LIN_DEL ||
                     op->f == LIN_PERSIST;
        char at[48] = "", deadline[48] = "", out[96] = "";
        if (op->c != LIN_NIL)
            snprintf(at, sizeof at, " at %s", lin_values_text(values, op->c));
        if (op->f == LIN_SET && op->b != LIN_NIL)
            snprintf(deadline, sizeof deadline, " deadline %s", b);
        if (op->outcome == LIN_FAIL)
            snprintf(out, sizeof out, " (failed: not an integer)");
        else if (op->outcome == LIN_INFO)
            snprintf(out, sizeof out, "%s", unknown);
        else if (out_a || (out_b && (op->b != LIN_NIL || op->f == LIN_GETSET)))
            snprintf(out, sizeof out, " -> %s", out_a ? a : b);
        snprintf(buf, len, "process %" PRId64 " %s%s%s%s%s%s", op->process, name, in_a ? " " : "", in_a ? a : "",
                 deadline, at, out);
    }
    }
}

static void explain_op_line(FILE *out, const char *lead, const struct lin_op *op, int64_t complete,
                            const struct lin_values *values)
{
    char d[256];
    lin_op_describe(d, sizeof d, op, values);
    if (complete >= 0)
        fprintf(out, "%s%s  [event %" PRId64 " .. %" PRId64 "]\n", lead, d, op->id, complete);
    else if (op->outcome == LIN_INFO)
        fprintf(out, "%s%s  [event %" PRId64 " .. never]\n", lead, d, op->id);
    else
        fprintf(out, "%s%s  [event %" PRId64 "]\n", lead, d, op->id);
}

/* Why op cannot be the next operation when the register holds `value`. */
static void explain_why(FILE *out, const struct lin_op *op, int32_t value, const struct lin_values *values,
                        bool connection_order)
{
    const char *v = lin_values_text(values, value);
    const char *a = lin_values_text(values, op->a);
    const char *b = lin_values_text(values, op->b);
    if (op->f == LIN_READ && op->outcome == LIN_OK && value != op->a)
        fprintf(out, "can't read %s from register %s\n", a, v);
    else if (op->f == LIN_CAS && op->outcome == LIN_OK && value != op->a)
        fprintf(out, "can't cas %s from %s to %s\n", v, a, b);
    else if (op->f == LIN_CAS && op->outcome == LIN_FAIL && value == op->a)
        fprintf(out, "a cas from %s failed, yet register %s held %s\n", a, v, a);
    else if (connection_order)
        fprintf(out, "it applies to register %s, but not after all of process %" PRId64
                "'s earlier operations, or no order of the operations after it works\n", v, op->process);
    else
        fprintf(out, "it applies to register %s, but no order of the operations after it works\n", v);
}

/* The same for any other model: it names the state, not the reason. */
static void explain_why_model(FILE *out, const struct lin_model *m, void *ctx, const struct lin_op *op, int32_t state,
                              bool connection_order)
{
    int32_t next = 0;
    char st[160];
    m->describe_state(ctx, state, st, sizeof st);
    if (!m->step(ctx, op, state, &next))
        fprintf(out, "the %s model allows no such outcome from %s\n", m->name, st);
    else if (connection_order)
        fprintf(out, "it applies to %s, but not after all of process %" PRId64
                "'s earlier operations, or no order of the operations after it works\n", st, op->process);
    else
        fprintf(out, "it applies to %s, but no order of the operations after it works\n", st);
}

static void explain_impl(FILE *out, const struct lin_model *m, void *ctx, const struct lin_op *ops,
                         const int64_t *complete, size_t n, const struct lin_values *values,
                         const struct lin_report *r, bool verbose)
{
    bool is_register = !m || m == &lin_register_model;
    char st[160];
    if (r->verdict == LIN_VALID) {
        fprintf(out, "linearizable: %zu operations, %" PRIu64 " configurations explored\n", n, r->states_explored);
        return;
    }
    if (r->verdict == LIN_UNKNOWN) {
        fprintf(out, "unknown: %s (%zu operations, %" PRIu64 " configurations explored)\n", r->reason, n,
                r->states_explored);
        return;
    }
    if (r->failed_op >= n) {
        fprintf(out, "not linearizable (no details)\n");
        return;
    }
    const struct lin_op *f = &ops[r->failed_op];
    int64_t f_complete = complete ? complete[r->failed_op] : -1;
    fprintf(out, "not linearizable%s: no order of the %zu operations gets past the one below (%" PRIu64
            " configurations explored)\n",
            r->connection_order ? " in each process's order" : "", n, r->states_explored);
    explain_op_line(out, "cannot linearize: ", f, f_complete, values);

    fprintf(out, is_register ? "register values possible just before it:" : "states possible just before it:");
    for (size_t i = 0; i < r->n_possible; i++) {
        if (!is_register)
            m->describe_state(ctx, r->possible[i], st, sizeof st);
        fprintf(out, "%s %s", i ? "," : "", is_register ? lin_values_text(values, r->possible[i]) : st);
    }
    fprintf(out, "%s\n", r->n_possible ? "" : " (none recorded)");
    for (size_t i = 0; i < r->n_possible; i++) {
        if (is_register) {
            fprintf(out, "  from %s: ", lin_values_text(values, r->possible[i]));
            explain_why(out, f, r->possible[i], values, r->connection_order);
        } else {
            m->describe_state(ctx, r->possible[i], st, sizeof st);
            fprintf(out, "  from %s: ", st);
            explain_why_model(out, m, ctx, f, r->possible[i], r->connection_order);
        }
    }

    size_t n_concurrent = 0;
    for (size_t j = 0; j < n; j++) {
        const struct lin_op *o = &ops[j];
        if (j != r->failed_op && o->call <= f->ret && (o->outcome == LIN_INFO || o->ret >= f->call))
            n_concurrent++;
    }
    fprintf(out, "concurrent with it: %zu operation%s\n", n_concurrent, n_concurrent == 1 ? "" : "s");
    size_t shown = 0;
    for (size_t j = 0; j < n; j++) {
        const struct lin_op *o = &ops[j];
        if (j == r->failed_op || o->call > f->ret || (o->outcome != LIN_INFO && o->ret < f->call))
            continue;
        if (!verbose && shown == EXPLAIN_SHORT_CONCURRENT) {
            fprintf(out, "  ... (%zu more)\n", n_concurrent - shown);
            break;
        }
        explain_op_line(out, "  ", o, complete ? complete[j] : -1, values);
        shown++;
    }

    size_t first = 0;
    if (!verbose && r->prefix_ops > EXPLAIN_SHORT_PREFIX)
        first = r->prefix_ops - EXPLAIN_SHORT_PREFIX;
    fprintf(out, "longest linearizable prefix before it: %zu operation%s%s\n", r->prefix_ops, r->prefix_ops == 1 ? "" : "s",
            first ? " (the last ones shown)" : "");
    int32_t value = LIN_NIL;
    for (size_t i = 0; i < r->prefix_ops; i++) {
        size_t j = r->prefix[i];
        if (j >= n)
            break;
        const struct lin_op *o = &ops[j];
        /* Replay the prefix to show the register after each step. */
        if (!is_register) {
            int32_t next = value;
            if (m->step(ctx, o, value, &next))
                value = next;
        } else if (o->f == LIN_WRITE) {
            value = o->a;
        } else if (o->f == LIN_CAS && o->outcome != LIN_FAIL && value == o->a) {
            value = o->b;
        }
        if (i < first)
            continue;
        char lead[32];
        snprintf(lead, sizeof lead, "  %zu. ", i + 1);
        char d[256];
        lin_op_describe(d, sizeof d, o, values);
        if (!is_register)
            m->describe_state(ctx, value, st, sizeof st);
        fprintf(out, "%s%s  -> %s %s  [event %" PRId64 "]\n", lead, d, is_register ? "register" : "key",
                is_register ? lin_values_text(values, value) : st, o->id);
    }
}

void lin_explain(FILE *out, const struct lin_op *ops, size_t n, const struct lin_values *values,
                 const struct lin_report *report, bool verbose)
{
    explain_impl(out, NULL, NULL, ops, NULL, n, values, report, verbose);
}

void check_explain_key(FILE *out, const struct check_history *h, size_t i, bool verbose)
{
    if (i >= h->n_keys)
        return;
    const struct check_key *k = &h->keys[i];
    explain_impl(out, h->model, h->model_ctx, k->ops, k->complete_index, k->n_ops, h->values, &k->report, verbose);
}
