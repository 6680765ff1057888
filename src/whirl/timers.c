/* timers.c - the binary min-heap behind whirl's timer queue. */
#include "whirl/timers.h"

#include <stdlib.h>

static int timer_before(const struct whirl_timer *a, const struct whirl_timer *b)
{
    return a->at_ns < b->at_ns || (a->at_ns == b->at_ns && a->seq < b->seq);
}

int whirl_timers_add(struct whirl_timers *t, uint64_t at_ns, whirl_timer_fn *fn, void *p, uint64_t arg)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        struct whirl_timer *h = realloc(t->heap, cap * sizeof *h);
        if (!h)
            return -1;
        t->heap = h;
        t->cap = cap;
    }
    struct whirl_timer item = {at_ns, t->next_seq++, fn, p, arg};
    size_t i = t->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!timer_before(&item, &t->heap[parent]))
            break;
        t->heap[i] = t->heap[parent];
        i = parent;
    }
    t->heap[i] = item;
    return 0;
}

uint64_t whirl_timers_next(const struct whirl_timers *t)
{
    return t->n ? t->heap[0].at_ns : UINT64_MAX;
}

int whirl_timers_pop_due(struct whirl_timers *t, uint64_t now_ns, struct whirl_timer *out)
{
    if (t->n == 0 || t->heap[0].at_ns > now_ns)
        return 0;
    *out = t->heap[0];
    struct whirl_timer last = t->heap[--t->n];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= t->n)
            break;
        if (child + 1 < t->n && timer_before(&t->heap[child + 1], &t->heap[child]))
            child++;
        if (!timer_before(&t->heap[child], &last))
            break;
        t->heap[i] = t->heap[child];
        i = child;
    }
    if (t->n)
        t->heap[i] = last;
    return 1;
}

void whirl_timers_free(struct whirl_timers *t)
{
    free(t->heap);
    t->heap = NULL;
    t->n = t->cap = 0;
}
