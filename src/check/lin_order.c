/* lin_order.c - the tables behind per-process order (lin.h,
 * lin_limits.connection_order): for each op, its process's previous op
 * with a return and its process's next op in invocation order, and whether
 * real-time order alone already places it after all of its process's other
 * ops (then the rule can never bind it).
 */
#include <stdlib.h>

#include "check/lin_internal.h"

/* Ops by (process, call, index): each process's ops in invocation order. */
static int lin_order_cmp(const void *a, const void *b, void *arg)
{
    const struct lin_op *ops = arg;
    uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
    const struct lin_op *x = &ops[i], *y = &ops[j];
    if (x->process != y->process)
        return x->process < y->process ? -1 : 1;
    if (x->call != y->call)
        return x->call < y->call ? -1 : 1;
    return (i > j) - (i < j);
}

int lin_order_build(const struct lin_op *ops, size_t n, struct lin_order *o)
{
    uint32_t *by = malloc((n + 1) * sizeof *by);
    o->prev_req = malloc((n + 1) * sizeof *o->prev_req);
    o->next = malloc((n + 1) * sizeof *o->next);
    o->free = malloc((n + 1) * sizeof *o->free);
    if (!by || !o->prev_req || !o->next || !o->free) {
        free(by);
        lin_order_free(o);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        by[i] = (uint32_t)i;
    qsort_r(by, n, sizeof *by, lin_order_cmp, (void *)ops);
    for (size_t g = 0; g < n;) {
        size_t end = g + 1;
        while (end < n && ops[by[end]].process == ops[by[g]].process)
            end++;
        uint32_t prev_req = LIN_NO_OP;
        uint64_t latest_ret = 0; /* of the ops so far; UINT64_MAX if one is unknown */
        for (size_t k = g; k < end; k++) {
            uint32_t op = by[k];
            const struct lin_op *x = &ops[op];
            o->prev_req[op] = prev_req;
            o->next[op] = k + 1 < end ? by[k + 1] : LIN_NO_OP;
            /* Equal times count as concurrent (lin_entries.c), hence <. */
            o->free[op] = k + 1 == end && (k == g || latest_ret < x->call);
            uint64_t ret = x->ret < x->call ? x->call : x->ret;
            if (x->outcome == LIN_INFO)
                latest_ret = UINT64_MAX;
            else if (ret > latest_ret)
                latest_ret = ret;
            if (x->outcome != LIN_INFO)
                prev_req = op;
        }
        g = end;
    }
    free(by);
    return 0;
}

void lin_order_free(struct lin_order *o)
{
    free(o->prev_req);
    free(o->next);
    free(o->free);
    o->prev_req = o->next = NULL;
    o->free = NULL;
}
