/* test_kv_map_walk.c - snapshots written in steps from a point-in-time
 * walk of a live map (src/kv/map_walk.c, src/kv/snapshot_walk.c). A seeded
 * model run changes the store between steps (puts over visited and
 * unvisited keys, new keys, deletes, deadline changes, clears, growth,
 * migration steps) and checks that the finished image, loaded back, is the
 * store as it was when the walk began (a reference copy taken then); one
 * test per pre-image case; the limit on kept pre-images; and the events
 * that abandon a walk (re-key, FLUSHALL of a large map, the map freed). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "kv/kv.h"
#include "kv/kv_internal.h"
#include "kv/map_walk.h"
#include "kv/snapshot_walk.h"
#include "storage/snap_writer.h"

static uint64_t test_seed(const char *what, uint64_t dflt)
{
    const char *env = getenv("RAFTKV_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 10) : dflt;
    printf("%s seed %llu (replay: RAFTKV_SEED=%llu)\n", what, (unsigned long long)seed,
           (unsigned long long)seed);
    return seed;
}

static void key_of(char *buf, size_t n, size_t i)
{
    snprintf(buf, n, "key:%06zu", i);
}

static struct kv_map_entry *put(struct kv_store *s, size_t i, const char *value)
{
    char k[32];
    key_of(k, sizeof k, i);
    struct kv_map_entry *e = kv_store_put(s, k, strlen(k), KV_TYPE_STR, value, strlen(value));
    cr_assert_not_null(e);
    return e;
}

static struct kv_map_entry *get(struct kv_store *s, size_t i)
{
    char k[32];
    key_of(k, sizeof k, i);
    return kv_map_get(&s->map, k, strlen(k));
}

static int del(struct kv_store *s, size_t i)
{
    char k[32];
    key_of(k, sizeof k, i);
    return kv_store_del(s, k, strlen(k));
}

/* A deadline change as EXPIRE/PERSIST apply it: in place, then the
 * version. */
static void expire(struct kv_store *s, struct kv_map_entry *e, int64_t at)
{
    cr_assert_eq(kv_map_set_expiry(&s->map, e, at), 0);
    e->version = ++s->version;
}

/* The image of s as it is now, loaded into a new store (the reference). */
static struct kv_store *copy_now(const struct kv_store *s)
{
    uint8_t *img;
    size_t len;
    cr_assert_eq(kv_snapshot(s, 7, 3, &img, &len), 0);
    struct kv_store *c = kv_store_new();
    uint64_t idx, term;
    cr_assert_eq(kv_restore(c, img, len, &idx, &term), 0);
    free(img);
    return c;
}

/* Equal maps, deadlines, versions and store metadata. */
static void assert_same(const struct kv_store *a, const struct kv_store *b, const char *what)
{
    cr_assert(kv_store_equal(a, b), "%s: the stores differ (sizes %zu, %zu)", what, a->map.size,
              b->map.size);
    cr_assert_eq(a->version, b->version, "%s: version counter", what);
    size_t pos = 0;
    for (const struct kv_map_entry *e; (e = kv_map_next(&a->map, &pos));) {
        const struct kv_map_entry *f = kv_map_get(&b->map, kv_entry_key(e), kv_entry_key_len(e));
        cr_assert_not_null(f);
        cr_assert_eq(e->version, f->version, "%s: version of %.*s", what,
                     (int)kv_entry_key_len(e), kv_entry_key(e));
    }
}

struct walked {
    struct kv_snapshot_walk *w;
    struct snap_membuf buf;
};

static void walk_begin(struct walked *x, struct kv_store *s, size_t max_bytes)
{
    memset(x, 0, sizeof *x);
    char why[200] = "";
    x->w = kv_snapshot_walk_begin(s, 7, 3, max_bytes, snap_membuf_sink, &x->buf, why, sizeof why);
    cr_assert_not_null(x->w, "%s", why);
}

/* Steps until done; the image loaded back. */
static struct kv_store *walk_finish(struct walked *x, size_t per_step)
{
    int rc;
    while ((rc = kv_snapshot_walk_step(x->w, per_step)) == 0)
        ;
    cr_assert_eq(rc, 1, "the walk failed: %s", kv_snapshot_walk_error(x->w));
    kv_snapshot_walk_free(x->w);
    x->w = NULL;
    struct kv_store *back = kv_store_new();
    uint64_t idx = 0, term = 0;
    cr_assert_eq(kv_restore(back, x->buf.data, x->buf.len, &idx, &term), 0,
                 "the image does not load");
    cr_assert_eq(idx, 7);
    cr_assert_eq(term, 3);
    free(x->buf.data);
    return back;
}

TestSuite(kv_map_walk, .timeout = 120);

Test(kv_map_walk, a_walk_of_an_unchanged_map_is_its_snapshot)
{
    struct kv_store *s = kv_store_new();
    for (size_t i = 0; i < 5000; i++)
        put(s, i, i % 3 ? "a value" : "another, longer value");
    expire(s, get(s, 17), 5000000);
    struct kv_store *then = copy_now(s);
    struct walked x;
    walk_begin(&x, s, 1 << 20);
    struct kv_store *back = walk_finish(&x, 7);
    assert_same(back, then, "unchanged");
    cr_assert_null(s->map.walk, "the map is no longer watched");
    kv_store_free(back);
    kv_store_free(then);
    kv_store_free(s);
}

/* ---- the pre-image cases, through the map walk itself: a collector
 * store receives what the walk emits, so the test knows which keys a step
 * has visited ---- */

struct collect {
    struct kv_store *out;
    size_t dups;
};

static int collect(void *ctx, const struct kv_map_entry *e, int64_t expiry)
{
    struct collect *c = ctx;
    if (kv_map_get(&c->out->map, kv_entry_key(e), kv_entry_key_len(e)))
        c->dups++;
    struct kv_map_entry *n = kv_map_put(&c->out->map, kv_entry_key(e), kv_entry_key_len(e),
                                        e->type, kv_entry_value(e), kv_entry_value_len(e));
    if (!n || kv_map_set_expiry(&c->out->map, n, expiry) != 0)
        return -1;
    n->version = e->version;
    return 0;
}

struct case_run {
    struct kv_store *s, *then;
    struct kv_map_walk *w;
    struct collect c;
    size_t visited, unvisited; /* a key of each kind after the first step */
};

#define CASE_KEYS 2000

static void case_begin(struct case_run *r)
{
    memset(r, 0, sizeof *r);
    r->s = kv_store_new();
    for (size_t i = 0; i < CASE_KEYS; i++)
        put(r->s, i, "value at S");
    expire(r->s, get(r->s, 5), 9000000);
    r->then = copy_now(r->s);
    r->c.out = kv_store_new();
    char why[200];
    r->w = kv_map_walk_begin(&r->s->map, 1 << 20, why, sizeof why);
    cr_assert_not_null(r->w, "%s", why);
    cr_assert_eq(kv_map_walk_step(r->w, 100, collect, &r->c), 0);
    r->visited = r->unvisited = SIZE_MAX;
    for (size_t i = 0; i < CASE_KEYS; i++) {
        char k[32];
        key_of(k, sizeof k, i);
        bool seen = kv_map_get(&r->c.out->map, k, strlen(k)) != NULL;
        if (seen && r->visited == SIZE_MAX)
            r->visited = i;
        if (!seen && r->unvisited == SIZE_MAX)
            r->unvisited = i;
    }
    size_t n = r->c.out->map.size;
    cr_assert(n >= 100 && n < 400, "one step of 100 visited %zu keys", n);
    cr_assert_neq(r->visited, SIZE_MAX);
    cr_assert_neq(r->unvisited, SIZE_MAX);
}

/* Finish the walk; what it emitted must be the map at S, each key once. */
static void case_end(struct case_run *r, const char *what)
{
    int rc;
    while ((rc = kv_map_walk_step(r->w, 37, collect, &r->c)) == 0)
        ;
    cr_assert_eq(rc, 1, "%s: %s", what, kv_map_walk_error(r->w));
    cr_assert_eq(r->c.dups, 0, "%s: a key came twice", what);
    cr_assert_eq(r->c.out->map.size, CASE_KEYS, "%s: keys emitted", what);
    /* The collector has no store metadata: compare entries only. */
    memcpy(r->c.out->deleted, r->then->deleted, sizeof r->then->deleted);
    r->c.out->version = r->then->version;
    assert_same(r->c.out, r->then, what);
    kv_map_walk_end(r->w);
    kv_store_free(r->c.out);
    kv_store_free(r->then);
    kv_store_free(r->s);
}

Test(kv_map_walk, a_put_over_an_unvisited_key_is_emitted_as_its_pre_image)
{
    struct case_run r;
    case_begin(&r);
    put(r.s, r.unvisited, "written after S");
    put(r.s, r.unvisited, "written again");
    cr_assert_eq(kv_map_walk_kept_count(r.w), 1, "one pre-image, kept at the first change");
    case_end(&r, "put over an unvisited key");
}

Test(kv_map_walk, a_put_over_a_visited_key_keeps_nothing)
{
    struct case_run r;
    case_begin(&r);
    put(r.s, r.visited, "written after S");
    cr_assert_eq(kv_map_walk_kept_count(r.w), 0, "the walk has the key already");
    case_end(&r, "put over a visited key");
}

Test(kv_map_walk, a_deleted_unvisited_key_is_emitted_at_the_end)
{
    struct case_run r;
    case_begin(&r);
    cr_assert_eq(del(r.s, r.unvisited), 1);
    cr_assert_eq(kv_map_walk_kept_count(r.w), 1);
    /* Deleting more makes the table sparse: no shrink while walking. */
    size_t migrations = r.s->map.migrations;
    for (size_t i = 0; i < CASE_KEYS; i++)
        if (i != r.unvisited)
            del(r.s, i);
    for (int i = 0; i < 100; i++)
        kv_map_rehash_step(&r.s->map, 4096);
    cr_assert_eq(r.s->map.migrations, migrations, "no shrink started during the walk");
    case_end(&r, "delete of unvisited keys");
}

Test(kv_map_walk, a_key_created_then_deleted_during_the_walk_is_not_emitted)
{
    struct case_run r;
    case_begin(&r);
    for (size_t i = CASE_KEYS; i < CASE_KEYS + 300; i++) {
        put(r.s, i, "created after S");
        if (i % 2)
            cr_assert_eq(del(r.s, i), 1);
    }
    case_end(&r, "created (and deleted) after S");
}

Test(kv_map_walk, a_deadline_change_in_place_is_undone_in_the_image)
{
    struct case_run r;
    case_begin(&r);
    struct kv_map_entry *e = get(r.s, r.unvisited);
    expire(r.s, e, 12345678);
    expire(r.s, e, 22345678);
    /* Key 5 had a deadline at S: PERSIST it, if the walk has not passed it. */
    expire(r.s, get(r.s, 5), 0);
    expire(r.s, get(r.s, r.visited), 555);
    case_end(&r, "deadline changes");
}

/* map.h's KV_ENTRY_WALK: what a walk looks up in its side table. */
Test(kv_map_walk, entries_written_during_a_walk_are_flagged_until_the_walk_passes_them)
{
    struct case_run r;
    case_begin(&r);
    put(r.s, r.unvisited, "written after S");
    put(r.s, r.visited, "written after S too");
    cr_assert(get(r.s, r.unvisited)->flags & KV_ENTRY_WALK);
    cr_assert(get(r.s, r.visited)->flags & KV_ENTRY_WALK);
    size_t deadline = SIZE_MAX; /* an unvisited key with an untouched entry */
    for (size_t i = 0; i < CASE_KEYS && deadline == SIZE_MAX; i++) {
        char k[32];
        key_of(k, sizeof k, i);
        if (i != r.unvisited && !kv_map_get(&r.c.out->map, k, strlen(k)))
            deadline = i;
    }
    cr_assert_neq(deadline, SIZE_MAX);
    cr_assert_not(get(r.s, deadline)->flags & KV_ENTRY_WALK);
    expire(r.s, get(r.s, deadline), 7777777);
    cr_assert(get(r.s, deadline)->flags & KV_ENTRY_WALK, "a deadline changed in place");
    int rc;
    while ((rc = kv_map_walk_step(r.w, 37, collect, &r.c)) == 0)
        ;
    cr_assert_eq(rc, 1);
    cr_assert_not(get(r.s, r.unvisited)->flags & KV_ENTRY_WALK, "the walk passed it");
    cr_assert_not(get(r.s, deadline)->flags & KV_ENTRY_WALK, "the walk passed it");
    cr_assert(get(r.s, r.visited)->flags & KV_ENTRY_WALK, "written behind the walk: left");
    case_end(&r, "flags");
}

Test(kv_map_walk, a_flag_left_by_an_abandoned_walk_costs_the_next_walk_a_lookup_and_no_key)
{
    struct kv_store *s = kv_store_new();
    for (size_t i = 0; i < 3000; i++)
        put(s, i, "at the first walk's start");
    char why[200];
    struct collect c = {.out = kv_store_new()};
    struct kv_map_walk *w = kv_map_walk_begin(&s->map, 1 << 20, why, sizeof why);
    cr_assert_not_null(w, "%s", why);
    cr_assert_eq(kv_map_walk_step(w, 100, collect, &c), 0);
    for (size_t i = 0; i < 3000; i++)
        put(s, i, "written during the first walk");
    kv_map_walk_end(w); /* abandoned: every entry keeps its flag */
    kv_store_free(c.out);
    cr_assert(get(s, 0)->flags & KV_ENTRY_WALK);
    struct kv_store *then = copy_now(s);
    struct walked x;
    walk_begin(&x, s, 1 << 20);
    struct kv_store *back = walk_finish(&x, 50);
    assert_same(back, then, "stale flags");
    size_t pos = 0, flagged = 0;
    for (const struct kv_map_entry *e; (e = kv_map_next(&s->map, &pos));)
        flagged += (e->flags & KV_ENTRY_WALK) != 0;
    cr_assert_eq(flagged, 0, "the second walk cleared every flag it passed");
    kv_store_free(back);
    kv_store_free(then);
    kv_store_free(s);
}

Test(kv_map_walk, a_clear_hands_the_walk_the_table_as_it_stood)
{
    struct case_run r;
    case_begin(&r);
    put(r.s, r.unvisited, "changed before the clear");
    cr_assert_eq(del(r.s, r.unvisited + 1 == r.visited ? r.unvisited + 2 : r.unvisited + 1), 1);
    put(r.s, CASE_KEYS + 1, "created before the clear");
    kv_map_clear(&r.s->map);
    cr_assert_eq(r.s->map.size, 0);
    cr_assert_null(r.s->map.walk, "the new map is not watched");
    for (size_t i = 0; i < 500; i++)
        put(r.s, i, "after the clear");
    case_end(&r, "clear");
}

Test(kv_map_walk, growth_during_the_walk_neither_loses_nor_repeats_a_key)
{
    struct case_run r;
    case_begin(&r);
    size_t mask = r.s->map.mask;
    for (size_t i = CASE_KEYS; i < 6 * CASE_KEYS; i++) {
        put(r.s, i, "growing");
        if (i % 1000 == 0)
            cr_assert_eq(kv_map_walk_step(r.w, 20, collect, &r.c), 0);
    }
    cr_assert_gt(r.s->map.mask, mask, "the table grew during the walk");
    /* Deletes move later entries back (backward shift) between steps. */
    for (size_t i = 0; i < CASE_KEYS; i += 3) {
        del(r.s, i);
        if (i % 300 == 0)
            kv_map_walk_step(r.w, 20, collect, &r.c);
    }
    case_end(&r, "growth and backward shifts");
}

Test(kv_map_walk, the_walk_is_abandoned_past_its_memory_limit_and_frees_it)
{
    struct kv_store *s = kv_store_new();
    for (size_t i = 0; i < CASE_KEYS; i++)
        put(s, i, "value at S");
    char why[200];
    struct kv_map_walk *w = kv_map_walk_begin(&s->map, 64 * 1024, why, sizeof why);
    cr_assert_not_null(w, "%s", why);
    for (size_t i = 0; i < CASE_KEYS; i++)
        put(s, i, "every key changed before the walk reached it");
    struct collect c = {.out = kv_store_new()};
    cr_assert_eq(kv_map_walk_step(w, 100, collect, &c), -1);
    cr_assert_not_null(strstr(kv_map_walk_error(w), "--snapshot-walk-max-bytes"), "%s",
                       kv_map_walk_error(w));
    cr_assert_eq(kv_map_walk_kept_bytes(w), 0, "the pre-images went back at once");
    cr_assert_null(s->map.walk);
    cr_assert_gt(kv_map_walk_kept_peak(w), 16 * 1024, "it kept pre-images up to near the limit");
    cr_assert_leq(kv_map_walk_kept_peak(w), 64 * 1024);
    kv_map_walk_end(w);
    /* A later walk begins afresh. */
    struct walked x;
    struct kv_store *then = copy_now(s);
    walk_begin(&x, s, 1 << 20);
    struct kv_store *back = walk_finish(&x, 100);
    assert_same(back, then, "after an abandoned walk");
    kv_store_free(back);
    kv_store_free(then);
    kv_store_free(c.out);
    kv_store_free(s);
}

Test(kv_map_walk, a_re_key_a_large_flushall_or_a_freed_map_abandons_the_walk)
{
    struct kv_store *s = kv_store_new();
    for (size_t i = 0; i < 100; i++)
        put(s, i, "v");
    struct walked x;
    walk_begin(&x, s, 1 << 20);
    uint8_t key[KV_MAP_KEY_BYTES];
    for (int i = 0; i < KV_MAP_KEY_BYTES; i++)
        key[i] = (uint8_t)(i + 1);
    kv_map_set_key(&s->map, key);
    cr_assert_eq(kv_snapshot_walk_step(x.w, 10), -1);
    cr_assert_not_null(strstr(kv_snapshot_walk_error(x.w), "hash key"), "%s",
                       kv_snapshot_walk_error(x.w));
    kv_snapshot_walk_free(x.w);
    free(x.buf.data);

    /* FLUSHALL of a large map detaches it (freed off the loop). */
    for (size_t i = 0; i < KV_FLUSH_DETACH_KEYS + 10; i++)
        put(s, i, "v");
    walk_begin(&x, s, 1 << 20);
    struct kv_command c = {.op = KV_FLUSH};
    struct kv_result res;
    kv_apply(s, &c, 0, &res);
    cr_assert_eq(s->map.size, 0);
    struct kv_store *flushed = kv_store_take_flushed(s);
    cr_assert_not_null(flushed);
    cr_assert_null(flushed->map.walk, "the detached map is not watched");
    kv_store_free(flushed);
    cr_assert_eq(kv_snapshot_walk_step(x.w, 10), -1);
    kv_snapshot_walk_free(x.w);
    free(x.buf.data);

    /* The store replaced (an installed snapshot): detached before it goes. */
    for (size_t i = 0; i < 100; i++)
        put(s, i, "v");
    walk_begin(&x, s, 1 << 20);
    kv_snapshot_walk_detach(s);
    cr_assert_null(s->map.walk);
    kv_store_free(s);
    cr_assert_eq(kv_snapshot_walk_step(x.w, 10), -1);
    kv_snapshot_walk_free(x.w);
    free(x.buf.data);
}

/* ---- the model run ---- */

Test(kv_map_walk, random_changes_between_steps_leave_the_image_of_the_start)
{
    uint64_t seed = test_seed("kv map walk", 20261207);
    struct rng g;
    rng_seed(&g, seed);
    struct kv_store *s = kv_store_new();
    /* The hash key from the seed too (a process draws its own), so the
     * seed replays the table's layout, not only the operations. */
    uint8_t key[KV_MAP_KEY_BYTES];
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (uint8_t)rng_below(&g, 256);
    kv_map_set_key(&s->map, key);
    size_t space = 3000;
    for (size_t i = 0; i < space / 2; i++)
        put(s, rng_below(&g, space), "initial");
    for (int round = 0; round < 40; round++) {
        /* Now and then, a map of a very different size (growth, sparse). */
        if (round % 10 == 9)
            space = space == 3000 ? 300 : 3000;
        struct kv_store *then = copy_now(s);
        struct walked x;
        walk_begin(&x, s, 64 << 20);
        int rc, steps = 0;
        while ((rc = kv_snapshot_walk_step(x.w, 1 + rng_below(&g, 60))) == 0) {
            steps++;
            size_t n = rng_below(&g, 20);
            for (size_t j = 0; j < n; j++) {
                size_t k = rng_below(&g, space);
                uint64_t op = rng_below(&g, 1000);
                struct kv_map_entry *e = get(s, k);
                char v[64];
                snprintf(v, sizeof v, "round %d step %d op %zu", round, steps, j);
                if (op < 450) {
                    put(s, k, v);
                } else if (op < 750) {
                    del(s, k);
                } else if (op < 950) {
                    if (e)
                        expire(s, e, op < 850 ? (int64_t)(1000000 + rng_below(&g, 1000)) : 0);
                } else if (op < 952) {
                    kv_map_clear(&s->map);
                } else {
                    kv_map_rehash_step(&s->map, 1 + rng_below(&g, 64));
                }
            }
        }
        cr_assert_eq(rc, 1, "seed %llu round %d: %s", (unsigned long long)seed, round,
                     kv_snapshot_walk_error(x.w));
        struct kv_store *back = walk_finish(&x, 10);
        char what[64];
        snprintf(what, sizeof what, "seed %llu round %d", (unsigned long long)seed, round);
        assert_same(back, then, what);
        kv_store_free(back);
        kv_store_free(then);
        cr_assert_null(s->map.walk);
    }
    kv_store_free(s);
}
