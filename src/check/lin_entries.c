/* lin_entries.c - the history as the search walks it: call and return
 * entries in time order, in doubly linked lists that ops are lifted out of
 * while they are linearized and put back when the search backtracks.
 */
#include <stdlib.h>

#include "check/lin_internal.h"

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

long lin_entries_build(const struct lin_op *ops, size_t n, struct lin_entry *head, struct lin_entry *info_head,
                       struct lin_entry *entries)
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
    return (long)k;
}

void lin_entries_lift(struct lin_entry *e)
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

void lin_entries_unlift(struct lin_entry *e)
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
