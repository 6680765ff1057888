/* kv_map_test_model.h - the model the map's seeded runs are checked
 * against (test_kv_map_grow.c, test_kv_map_shrink.c): each numbered key's
 * value and deadline, the operations applied to the map and the model
 * together, a SCAN's guarantee, and the whole map compared with the model;
 * and the driver of their SCANs across members (the same numbered keys on
 * each, extra keys of a member's own that come and go, members rebuilt).
 * Keys are kv_map_test_keys.h's. Header-only, as test_storage_util.h. */
#ifndef KV_MAP_TEST_MODEL_H
#define KV_MAP_TEST_MODEL_H

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/rng.h"
#include "kv_map_test_keys.h"

/* The run's seed: RAFTKV_SEED, or the test's own default; printed. */
static inline uint64_t kmm_seed(const char *what, uint64_t dflt)
{
    const char *env = getenv("RAFTKV_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 10) : dflt;
    printf("%s seed %llu (replay: RAFTKV_SEED=%llu)\n", what, (unsigned long long)seed,
           (unsigned long long)seed);
    return seed;
}

struct kv_map_model {
    unsigned keys;
    int *val;    /* -1: absent */
    int64_t *at; /* the deadline, 0 for none */
    /* The SCAN under way: keys present since it began, and those seen. */
    bool *present, *seen;
    unsigned *visits; /* kmm_assert_same's count per key */
};

/* Every key absent, no deadline. */
static inline void kmm_reset(struct kv_map_model *md)
{
    for (unsigned k = 0; k < md->keys; k++) {
        md->val[k] = -1;
        md->at[k] = 0;
    }
}

static inline struct kv_map_model *kmm_new(unsigned keys)
{
    struct kv_map_model *md = calloc(1, sizeof *md);
    cr_assert_not_null(md);
    md->keys = keys;
    md->val = calloc(keys, sizeof *md->val);
    md->at = calloc(keys, sizeof *md->at);
    md->present = calloc(keys, sizeof *md->present);
    md->seen = calloc(keys, sizeof *md->seen);
    md->visits = calloc(keys, sizeof *md->visits);
    cr_assert(md->val && md->at && md->present && md->seen && md->visits);
    kmm_reset(md);
    return md;
}

static inline void kmm_free(struct kv_map_model *md)
{
    free(md->val);
    free(md->at);
    free(md->present);
    free(md->seen);
    free(md->visits);
    free(md);
}

/* SCAN's callback: only present keys, with their values, come back. */
static inline void kmm_visit(void *ctx, const struct kv_map_entry *e)
{
    struct kv_map_model *md = ctx;
    unsigned k = key_number(e);
    cr_assert_lt(k, md->keys);
    cr_assert_neq(md->val[k], -1, "SCAN returned k%u, which is absent", k);
    cr_assert_eq(entry_value(e), md->val[k]);
    md->seen[k] = true;
}

static inline bool kmm_accept_all(void *ctx, const struct kv_map_entry *e)
{
    (void)ctx;
    (void)e;
    return true;
}

/* Iteration visits each present key once with its value, lookups find
 * exactly the present keys with their values and deadlines, and the
 * counts agree. */
static inline void kmm_assert_same(const struct kv_map *m, const struct kv_map_model *md)
{
    for (unsigned k = 0; k < md->keys; k++)
        md->visits[k] = 0;
    size_t pos = 0, n = 0, expiring = 0;
    for (const struct kv_map_entry *e; (e = kv_map_next(m, &pos));) {
        unsigned k = key_number(e);
        cr_assert_lt(k, md->keys);
        cr_assert_neq(md->val[k], -1, "the map iterates k%u, which is absent", k);
        cr_assert_eq(entry_value(e), md->val[k]);
        md->visits[k]++;
        n++;
    }
    for (unsigned k = 0; k < md->keys; k++) {
        const struct kv_map_entry *e = get_key(m, k);
        if (md->val[k] == -1) {
            cr_assert_null(e, "k%u deleted, yet found", k);
            cr_assert_eq(md->visits[k], 0);
            continue;
        }
        cr_assert_not_null(e, "k%u lost", k);
        cr_assert_eq(entry_value(e), md->val[k]);
        cr_assert_eq(md->visits[k], 1, "iteration visits k%u %u times", k, md->visits[k]);
        cr_assert_eq(kv_map_expiry(m, e), md->at[k], "deadline of k%u", k);
        expiring += md->at[k] != 0;
    }
    cr_assert_eq(m->size, n);
    cr_assert_eq(kv_map_expiring(m), expiring);
}

/* A put (a new entry has no deadline). */
static inline void kmm_put(struct kv_map *m, struct kv_map_model *md, unsigned k, int v)
{
    cr_assert_not_null(put_int(m, k, v));
    md->val[k] = v;
    md->at[k] = 0;
}

/* A delete: it finds the key exactly when the model holds it. */
static inline void kmm_del(struct kv_map *m, struct kv_map_model *md, unsigned k, int step)
{
    cr_assert_eq(del_key(m, k), md->val[k] != -1, "delete of k%u at step %d", k, step);
    md->val[k] = -1;
    md->at[k] = 0;
    md->present[k] = false;
}

/* A lookup: found exactly when present, with its value and deadline. */
static inline void kmm_lookup(const struct kv_map *m, const struct kv_map_model *md, unsigned k,
                              int step)
{
    const struct kv_map_entry *e = get_key(m, k);
    cr_assert_eq(e != NULL, md->val[k] != -1, "lookup of k%u at step %d", k, step);
    if (e) {
        cr_assert_eq(entry_value(e), md->val[k]);
        cr_assert_eq(kv_map_expiry(m, e), md->at[k]);
    }
}

/* A SCAN begins: the keys present now must all come back by its end
 * (unless deleted meanwhile: kmm_del). */
static inline void kmm_scan_begin(struct kv_map_model *md)
{
    for (unsigned j = 0; j < md->keys; j++) {
        md->present[j] = md->val[j] != -1;
        md->seen[j] = false;
    }
}

static inline void kmm_scan_end(const struct kv_map_model *md, int step)
{
    for (unsigned j = 0; j < md->keys; j++)
        cr_assert(!md->present[j] || md->seen[j],
                  "k%u was present throughout a SCAN that missed it (step %d)", j, step);
}

/* ---- one SCAN's calls across members ---- */

/* The numbered keys 0..keys-1 a SCAN returned (a member's extra keys,
 * "x<n>", are not counted). */
struct kmm_cross {
    bool *seen;
    unsigned keys;
};

static inline void kmm_cross_visit(void *ctx, const struct kv_map_entry *e)
{
    struct kmm_cross *c = ctx;
    if (kv_entry_key(e)[0] == 'x')
        return; /* a member's own extra key */
    unsigned k = key_number(e);
    cr_assert_lt(k, c->keys);
    c->seen[k] = true;
}

/* Every numbered key came back in the round's full iteration. */
static inline void kmm_cross_check(const struct kmm_cross *c, int round)
{
    for (unsigned k = 0; k < c->keys; k++)
        cr_assert(c->seen[k], "round %d: k%u, on every member throughout, was never returned", round,
                  k);
}

/* A member's extra keys "x<n>" (at most cap), n drawn from *next. */
struct kmm_extra {
    unsigned *keys;
    size_t n, cap;
};

static inline void kmm_extra_add(struct kv_map *x, struct kmm_extra *ex, unsigned *next, uint64_t n)
{
    for (; n > 0 && ex->n < ex->cap; n--) {
        char t[32];
        unsigned e = (*next)++;
        size_t len = (size_t)snprintf(t, sizeof t, "x%u", e);
        cr_assert_not_null(kv_map_put(x, t, len, KV_TYPE_STR, "1", 1));
        ex->keys[ex->n++] = e;
    }
}

/* n of them deleted, drawn at random. */
static inline void kmm_extra_del(struct kv_map *x, struct kmm_extra *ex, struct rng *g, uint64_t n)
{
    for (; n > 0 && ex->n > 0; n--) {
        size_t j = (size_t)rng_below(g, ex->n);
        char t[32];
        size_t len = (size_t)snprintf(t, sizeof t, "x%u", ex->keys[j]);
        cr_assert_eq(kv_map_del(x, t, len), 1);
        ex->keys[j] = ex->keys[--ex->n];
    }
}

/* The member is rebuilt (as from a snapshot) under the cluster's key:
 * numbered keys 0..keys-1, in a table reserved for fewer than
 * reserve_below keys half the time, no extra keys. */
static inline void kmm_member_rebuild(struct kv_map *x, const uint8_t *key, unsigned keys,
                                      struct rng *g, uint64_t reserve_below, struct kmm_extra *ex)
{
    kv_map_free(x);
    cr_assert_eq(kv_map_init(x), 0);
    kv_map_set_key(x, key);
    if (rng_below(g, 2))
        cr_assert_eq(kv_map_reserve(x, (size_t)rng_below(g, reserve_below)), 0);
    for (unsigned k = 0; k < keys; k++)
        cr_assert_not_null(put_int(x, k, 1));
    ex->n = 0;
}

#endif
