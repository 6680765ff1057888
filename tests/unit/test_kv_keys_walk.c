/* test_kv_keys_walk.c - KEYS in bounded steps over the map's point-in-time
 * walk (src/kv/keys_walk.c): the answer is the key set as it was when the
 * walk began (what the inline KEYS said then), whatever puts, deletes and
 * deadline changes come between steps (seeded; RAFTKV_SEED replays); the
 * pattern and the read's time apply as in the inline KEYS; the reply cap
 * (each key its bytes plus 16) turns the answer into an error and frees the
 * map at once; a busy map refuses to begin; a large FLUSHALL or the map
 * leaving abandons the walk. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "kv/command_args.h"
#include "kv/keys_walk.h"
#include "kv/kv_internal.h"
#include "kv/map_walk.h"
#include "kv/snapshot_walk.h"

static uint64_t test_seed(void)
{
    const char *env = getenv("RAFTKV_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 10) : 20261207;
    printf("kv keys walk seed %llu (replay: RAFTKV_SEED=%llu)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    return seed;
}

static void key_of(char *buf, size_t n, size_t i)
{
    snprintf(buf, n, "key:%06zu", i);
}

static struct kv_map_entry *put(struct kv_store *s, size_t i)
{
    char k[32];
    key_of(k, sizeof k, i);
    struct kv_map_entry *e = kv_store_put(s, k, strlen(k), KV_TYPE_STR, "v", 1);
    cr_assert_not_null(e);
    return e;
}

static int del(struct kv_store *s, size_t i)
{
    char k[32];
    key_of(k, sizeof k, i);
    return kv_store_del(s, k, strlen(k));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A kv_list's keys, sorted, one per line, malloc'd; duplicates fail. */
static char *sorted(const struct kv_result *r)
{
    cr_assert_eq(r->code, KV_OK, "%s", r->text);
    size_t n = 0, cap = 64, pos = 0, len, total = 1;
    char **keys = malloc(cap * sizeof *keys);
    const uint8_t *k;
    while (kv_bulks_next(r->bytes, r->len, &pos, &k, &len)) {
        if (n == cap)
            keys = realloc(keys, (cap *= 2) * sizeof *keys);
        keys[n++] = strndup((const char *)k, len);
        total += len + 1;
    }
    cr_assert_eq(pos, r->len);
    cr_assert_eq(r->num, (int64_t)n);
    qsort(keys, n, sizeof *keys, cmp_str);
    char *out = malloc(total);
    out[0] = '\0';
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert(i == 0 || strcmp(keys[i - 1], keys[i]) != 0, "%s twice", keys[i]);
        at += (size_t)sprintf(out + at, "%s\n", keys[i]);
    }
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
    return out;
}

static char *inline_keys(struct kv_store *s, const char *pat, int64_t now)
{
    struct kv_str p = {(uint8_t *)pat, strlen(pat)};
    struct kv_result r = {0};
    kv_keys_once(s, &p, now, 0, &r);
    char *out = sorted(&r);
    kv_result_release(&r);
    return out;
}

static struct kv_keys_walk *begin(struct kv_store *s, const char *pat, int64_t now, size_t cap)
{
    struct kv_str p = {(uint8_t *)pat, strlen(pat)};
    char why[200];
    struct kv_keys_walk *w = kv_keys_walk_begin(s, &p, now, cap, 1 << 24, why, sizeof why);
    cr_assert_not_null(w, "%s", why);
    return w;
}

/* Step to the end; the steps taken. */
static size_t finish(struct kv_keys_walk *w, size_t per_step, struct kv_result *r)
{
    size_t steps = 0;
    int rc;
    while ((rc = kv_keys_walk_step(w, per_step)) == 0)
        steps++;
    cr_assert_eq(rc, 1, "%s", kv_keys_walk_error(w));
    *r = (struct kv_result){0};
    kv_keys_walk_result(w, r);
    return steps + 1;
}

Test(kv_keys_walk, an_unchanged_map_answers_what_the_inline_keys_does_in_many_steps)
{
    struct kv_store *s = kv_store_new();
    for (size_t i = 0; i < 3000; i++)
        put(s, i);
    const char *pats[] = {"*", "key:0001*", "key:00[12]?5?", "nomatch*"};
    for (size_t p = 0; p < 4; p++) {
        char *want = inline_keys(s, pats[p], 0);
        struct kv_keys_walk *w = begin(s, pats[p], 0, 0);
        struct kv_result r;
        size_t steps = finish(w, 100, &r);
        cr_assert_geq(steps, 20, "3000 keys at 100 a step: %zu steps", steps);
        cr_assert_eq(kv_keys_walk_visited(w), 3000);
        cr_assert_null(s->map.walk, "the map is free once the walk is done");
        char *got = sorted(&r);
        cr_assert_str_eq(got, want, "pattern %s", pats[p]);
        free(got);
        free(want);
        kv_result_release(&r);
        kv_keys_walk_free(w);
    }
    kv_store_free(s);
}

Test(kv_keys_walk, keys_whose_deadline_passed_at_the_reads_time_are_absent)
{
    struct kv_store *s = kv_store_new();
    for (size_t i = 0; i < 10; i++)
        cr_assert_eq(kv_map_set_expiry(&s->map, put(s, i), (int64_t)(1000 + i)), 0);
    put(s, 10);
    struct kv_keys_walk *w = begin(s, "*", 1005, 0); /* 1000..1005 passed; 1006.. not */
    struct kv_result r;
    finish(w, 3, &r);
    char *got = sorted(&r);
    cr_assert_str_eq(got, "key:000006\nkey:000007\nkey:000008\nkey:000009\nkey:000010\n");
    free(got);
    kv_result_release(&r);
    kv_keys_walk_free(w);
    kv_store_free(s);
}

Test(kv_keys_walk, changes_between_steps_leave_the_key_set_of_the_beginning)
{
    uint64_t seed = test_seed();
    struct rng g;
    rng_seed(&g, seed);
    struct kv_store *s = kv_store_new();
    size_t space = 4000;
    for (size_t i = 0; i < space / 2; i++) {
        struct kv_map_entry *e = put(s, rng_below(&g, space));
        if (rng_below(&g, 4) == 0) /* some have passed at the read's time 5000 */
            cr_assert_eq(kv_map_set_expiry(&s->map, e, (int64_t)rng_below(&g, 10000) + 1), 0);
    }
    const int64_t now = 5000;
    char *want_all = inline_keys(s, "*", now);
    char *want_pat = inline_keys(s, "key:001*", now);
    struct kv_keys_walk *all = begin(s, "*", now, 0);
    int rc;
    size_t steps = 0;
    while ((rc = kv_keys_walk_step(all, 37)) == 0) {
        steps++;
        for (int k = 0; k < 30; k++) {
            size_t i = rng_below(&g, space);
            char key[32];
            key_of(key, sizeof key, i);
            struct kv_map_entry *e = kv_map_get(&s->map, key, strlen(key));
            switch (rng_below(&g, 4)) {
            case 0: /* a new key, or a put over one */
                put(s, i);
                break;
            case 1:
                del(s, i);
                break;
            case 2: /* a deadline that passed by the read's time, or none */
                if (e)
                    cr_assert_eq(kv_map_set_expiry(&s->map, e,
                                                   rng_below(&g, 2) ? 1 : 0), 0);
                break;
            default: /* a deadline not yet passed */
                if (e)
                    cr_assert_eq(kv_map_set_expiry(&s->map, e, 9000), 0);
                break;
            }
        }
    }
    cr_assert_eq(rc, 1, "%s", kv_keys_walk_error(all));
    cr_assert_gt(steps, 20);
    struct kv_result r = {0};
    kv_keys_walk_result(all, &r);
    char *got = sorted(&r);
    cr_assert_str_eq(got, want_all, "the key set at the beginning (seed %llu)",
                     (unsigned long long)seed);
    char *after = inline_keys(s, "*", now);
    cr_assert_str_neq(after, want_all, "the map did change meanwhile");
    free(after);
    free(got);
    kv_result_release(&r);
    kv_keys_walk_free(all);
    /* A pattern walk over the changed map, changed again: its own beginning. */
    free(want_pat);
    want_pat = inline_keys(s, "key:001*", now);
    struct kv_keys_walk *pw = begin(s, "key:001*", now, 0);
    for (size_t i = 1000; i < 2000; i += 2)
        del(s, i);
    finish(pw, 50, &r);
    got = sorted(&r);
    cr_assert_str_eq(got, want_pat);
    free(got);
    free(want_pat);
    free(want_all);
    kv_result_release(&r);
    kv_keys_walk_free(pw);
    kv_store_free(s);
}

Test(kv_keys_walk, a_reply_past_the_cap_is_an_error_and_frees_the_map_at_once)
{
    struct kv_store *s = kv_store_new();
    for (size_t i = 0; i < 100; i++)
        put(s, i); /* 10-byte keys: 26 bytes each, 2600 in all */
    struct kv_keys_walk *w = begin(s, "*", 0, 2600);
    struct kv_result r;
    finish(w, 7, &r);
    cr_assert_eq(r.code, KV_OK, "exactly at the cap: %s", r.text);
    kv_result_release(&r);
    kv_keys_walk_free(w);

    w = begin(s, "*", 0, 2599);
    int rc;
    size_t steps = 0;
    while ((rc = kv_keys_walk_step(w, 7)) == 0)
        steps++;
    cr_assert_eq(rc, 1);
    cr_assert_null(s->map.walk, "the map is free as soon as the cap is passed");
    r = (struct kv_result){0};
    kv_keys_walk_result(w, &r);
    cr_assert_eq(r.code, KV_ERR_MALFORMED);
    cr_assert_str_eq(r.text, "KEYS reply would exceed 2599 bytes (--max-output-bytes); use SCAN");
    cr_assert_null(r.bytes);
    char buf[200];
    cr_assert_str_eq(kv_result_error_text(&r, buf, sizeof buf),
                     "ERR KEYS reply would exceed 2599 bytes (--max-output-bytes); use SCAN");
    kv_result_release(&r);
    kv_keys_walk_free(w);
    /* The inline KEYS has the same cap; a pattern counts only its matches. */
    struct kv_str all = {(uint8_t *)"*", 1}, few = {(uint8_t *)"key:00000?", 10};
    r = (struct kv_result){0};
    kv_keys_once(s, &all, 0, 2599, &r);
    cr_assert_eq(r.code, KV_ERR_MALFORMED);
    kv_result_release(&r);
    r = (struct kv_result){0};
    kv_keys_once(s, &few, 0, 260, &r);
    cr_assert_eq(r.code, KV_OK, "%s", r.text);
    kv_result_release(&r);
    kv_store_free(s);
}

Test(kv_keys_walk, a_map_with_a_walk_refuses_to_begin_another)
{
    struct kv_store *s = kv_store_new();
    put(s, 1);
    char why[200];
    struct kv_map_walk *other = kv_map_walk_begin(&s->map, 1 << 20, why, sizeof why);
    cr_assert_not_null(other);
    struct kv_str p = {(uint8_t *)"*", 1};
    cr_assert_null(kv_keys_walk_begin(s, &p, 0, 0, 1 << 20, why, sizeof why));
    cr_assert_str_eq(why, "a walk over the map is under way");
    kv_map_walk_end(other);
    struct kv_keys_walk *w = begin(s, "*", 0, 0);
    kv_keys_walk_free(w);
    cr_assert_null(s->map.walk, "free detaches");
    kv_store_free(s);
}

Test(kv_keys_walk, a_large_flushall_or_the_map_leaving_abandons_the_walk)
{
    struct kv_store *s = kv_store_new();
    for (size_t i = 0; i < KV_FLUSH_DETACH_KEYS + 10; i++)
        put(s, i);
    struct kv_keys_walk *w = begin(s, "*", 0, 0);
    cr_assert_eq(kv_keys_walk_step(w, 100), 0);
    struct kv_command c = {.op = KV_FLUSH};
    struct kv_result res;
    kv_apply(s, &c, 0, &res);
    kv_result_release(&res);
    struct kv_store *flushed = kv_store_take_flushed(s);
    cr_assert_not_null(flushed, "the map was detached");
    kv_store_free(flushed);
    cr_assert_eq(kv_keys_walk_step(w, 100), -1);
    cr_assert_str_eq(kv_keys_walk_error(w), "FLUSHALL detached the map");
    cr_assert_eq(kv_keys_walk_step(w, 100), -1, "only free is left");
    kv_keys_walk_free(w);

    /* The map replaced (an installed snapshot): detached, then freed. */
    for (size_t i = 0; i < 100; i++)
        put(s, i);
    w = begin(s, "*", 0, 0);
    kv_snapshot_walk_detach(s);
    kv_store_free(s);
    cr_assert_eq(kv_keys_walk_step(w, 10), -1);
    kv_keys_walk_free(w);
}
