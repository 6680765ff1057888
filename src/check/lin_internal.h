/* lin_internal.h - pieces of the linearizability search shared by its
 * files: the time-ordered entry lists (lin_entries.c) and the set of
 * (op, value) pairs met at dead ends, kept for explanations (lin_pairs.c);
 * the per-process order tables (lin_order.c); the register model's step.
 */
#ifndef RAFTKV_CHECK_LIN_INTERNAL_H
#define RAFTKV_CHECK_LIN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "check/lin.h"

/* A call or a return of one op, in a doubly linked list. */
struct lin_entry {
    struct lin_entry *prev;
    struct lin_entry *next;
    struct lin_entry *match; /* a call's return entry; NULL for LIN_INFO */
    uint32_t op;
    bool is_return;
};

/* Builds, from `entries` (room for 2n), the time-ordered list of calls and
 * returns of ops with a known outcome after `head`, and the calls of
 * unknown ops (LIN_INFO, which have no return) after `info_head`. All
 * entries sit in time order in the one array, so comparing two entries'
 * addresses compares their times. Returns the number of entries, or -1 when
 * out of memory. */
long lin_entries_build(const struct lin_op *ops, size_t n, struct lin_entry *head, struct lin_entry *info_head,
                       struct lin_entry *entries);

/* Takes an op's call (and return) out of their list; puts them back. Undo
 * in the reverse order of doing. */
void lin_entries_lift(struct lin_entry *call);
void lin_entries_unlift(struct lin_entry *call);

uint64_t lin_mix64(uint64_t z);

/* The register model's step (lin.h): applies op to a register holding
 * `value`; false if the op's outcome is impossible from that value. Here so
 * that the search calls it without an indirection. */
static inline bool lin_register_step(const struct lin_op *op, int32_t value, int32_t *out)
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

/* Per-process order (lin_limits.connection_order), tables by op index. */
#define LIN_NO_OP UINT32_MAX
struct lin_order {
    uint32_t *prev_req; /* the latest earlier-invoked op of its process with a return */
    uint32_t *next;     /* the next-invoked op of its process */
    /* Real time already orders it after every other op of its process: it
     * is the last one invoked, and all the others returned before its call. */
    bool *free;
};

/* 0, or -1 when out of memory. */
int lin_order_build(const struct lin_op *ops, size_t n, struct lin_order *o);
void lin_order_free(struct lin_order *o);

struct lin_pair_set {
    uint64_t *slots; /* (op << 32 | (uint32_t)value) + 1; 0 is empty */
    size_t n_slots;
    size_t n_used;
};

int lin_pairs_add(struct lin_pair_set *p, uint32_t op, int32_t value);
/* Fills r->possible with the values paired with op, sorted. */
int lin_pairs_values_of(const struct lin_pair_set *p, uint32_t op, struct lin_report *r);
void lin_pairs_free(struct lin_pair_set *p);

#endif
