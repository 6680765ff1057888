/* test_kv_script_tx.c - EVALSHA, SCRIPT EXISTS, SCRIPT LOAD, EVAL and
 * SCRIPT FLUSH in one transaction's entry (src/kv/script_tx.c): as Redis
 * 7.0 runs EXEC's commands one after another, a flush earlier in the
 * entry makes a later EVALSHA answer NOSCRIPT unless a SCRIPT LOAD or EVAL
 * of the body came after it, and every member decides alike from the
 * entry, whatever its own script cache holds (applied here with a full
 * and with an empty cache). The replies are Redis's, checked against
 * Debian's redis-server 7.0.15:
 *   SCRIPT LOAD "return 7"; MULTI; SCRIPT FLUSH SYNC; EVALSHA <sha> 0;
 *   SCRIPT EXISTS <sha>; EXEC -> OK, NOSCRIPT No matching script. Please
 *   use EVAL., 0 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv.h"
#include "kv_test_util.h"

#define NOSCRIPT "-NOSCRIPT No matching script. Please use EVAL.\r\n"
#define SET_RAN "return redis.call('SET', KEYS[1], 'ran')"
#define SET_RAN_SHA "78dbbe62228e9d375a9ab991bff1d0e54711b430"
#define SEVEN "return 7"
#define SEVEN_SHA "59b6ab2fbe0ee4b25733de0f62e6cda4899ef8e9"
#define BAD "return ("
#define BAD_SHA "728acb63e2aaef0ee859ece5db586bff5d800d1e"
#define MSET_BODY "redis.call('MSET', 'n1', '1', 'n2', '2') return 1"

static struct kv_store *a, *b;

static void setup(void)
{
    a = kv_store_new();
    b = kv_store_new();
    cr_assert(a && b);
    kv_script_forget_all();
}

static void teardown(void)
{
    kv_store_free(a);
    kv_store_free(b);
    kv_script_forget_all();
}

TestSuite(kv_script_tx, .init = setup, .fini = teardown);

/* A KV_EVAL: arg0 a body or (KV_EVAL_BY_SHA) a SHA1; key, if any, KEYS[1]. */
static struct kv_command ev(const char *arg0, uint32_t flags, const char *key)
{
    struct kv_command c = kt_cmd(KV_EVAL, NULL, arg0, flags | 4096u << 8, key ? 1 : 0);
    char *p[1] = {(char *)key};
    size_t l[1] = {key ? strlen(key) : 0};
    cr_assert_eq(kv_pack_fields(&c.arg[1], p, l, key ? 1 : 0), 0);
    c.num[1] = 1000000;
    return c;
}

static struct kv_command exists(const char *sha1, const char *sha2)
{
    struct kv_command c = {.op = KV_SCRIPT_EXISTS};
    char *p[2] = {(char *)sha1, (char *)sha2};
    size_t l[2] = {strlen(sha1), strlen(sha2)};
    cr_assert_eq(kv_pack_fields(&c.arg[0], p, l, 2), 0);
    return c;
}

#define FLUSH() kt_cmd(KV_SCRIPT_FLUSH, NULL, NULL, 0, 0)
#define LOAD(body) kt_cmd(KV_SCRIPT_LOAD, NULL, body, 0, 0)

/* Apply one EXEC entry of n sub-commands (released) to s, through its
 * bytes, as every member does; the result is the caller's. */
static struct kv_result exec_on(struct kv_store *s, const struct kv_command *subs, size_t n)
{
    struct kv_command tx = {.op = KV_MULTI, .n_sub = n};
    tx.sub = calloc(n, sizeof *tx.sub);
    cr_assert_not_null(tx.sub);
    for (size_t i = 0; i < n; i++) {
        tx.sub[i] = subs[i];
        /* a deep copy, so that the same subs can go to the other member */
        tx.sub[i].arg[0] = (struct kv_str){0};
        tx.sub[i].arg[1] = (struct kv_str){0};
        tx.sub[i].skey = (struct kv_str){0};
        if (subs[i].arg[0].p)
            cr_assert_eq(kv_str_set(&tx.sub[i].arg[0], subs[i].arg[0].p, subs[i].arg[0].n), 0);
        if (subs[i].arg[1].p)
            cr_assert_eq(kv_str_set(&tx.sub[i].arg[1], subs[i].arg[1].p, subs[i].arg[1].n), 0);
    }
    struct kv_result r = kt_logged(s, tx, 1000);
    cr_assert_eq(r.code, 0, "%s", r.text);
    cr_assert_eq(r.n_sub, n);
    return r;
}

static void release_all(struct kv_command *subs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        kv_command_release(&subs[i]);
}

static void sub_is(const struct kv_result *r, size_t i, const char *want)
{
    const struct kv_result *x = &r->sub[i];
    cr_assert_eq(x->code, 0, "sub %zu: %s", i, x->text);
    cr_assert_not_null(x->bytes, "sub %zu has no bytes", i);
    cr_assert(x->len == strlen(want) && memcmp(x->bytes, want, x->len) == 0, "sub %zu: %.*s, want %s", i,
              (int)x->len, (const char *)x->bytes, want);
}

/* The process's cache, as a member that cached the script (SCRIPT LOAD
 * applied before the MULTI) or as one that did not (restarted since). */
static void cache_holds(bool full)
{
    kv_script_forget_all();
    if (full) {
        cr_assert_eq(kv_script_remember(SET_RAN, strlen(SET_RAN)), 0);
        cr_assert_eq(kv_script_remember(SEVEN, strlen(SEVEN)), 0);
    }
}

static bool has_key(struct kv_store *s, const char *k)
{
    struct kv_result r = kt_read(s, kt_cmd(KV_GET, k, NULL, 0, 0), 1000);
    bool there = r.code == 0 && r.bytes;
    kv_result_release(&r);
    return there;
}

/* CI's sequence (seed 1350931790): MULTI, SCRIPT FLUSH SYNC, AUTH,
 * EVALSHA_RO and EVALSHA of scripts cached before the MULTI, EXEC: both
 * NOSCRIPT, and nothing written, on a member whose cache had them and on
 * one whose had not. */
Test(kv_script_tx, a_flush_earlier_in_exec_makes_evalsha_noscript_on_every_member)
{
    struct kv_command subs[] = {FLUSH(), ev(SET_RAN, KV_EVAL_RO | KV_EVAL_SHA, "k1"),
                                ev(SET_RAN, KV_EVAL_SHA, "k2"), exists(SET_RAN_SHA, SEVEN_SHA)};
    size_t n = sizeof subs / sizeof *subs;
    cache_holds(true);
    struct kv_result ra = exec_on(a, subs, n);
    cache_holds(false);
    struct kv_result rb = exec_on(b, subs, n);
    for (int m = 0; m < 2; m++) {
        struct kv_result *r = m ? &rb : &ra;
        sub_is(r, 1, NOSCRIPT);
        sub_is(r, 2, NOSCRIPT);
        sub_is(r, 3, "*2\r\n:0\r\n:0\r\n");
    }
    cr_assert_not(has_key(a, "k2"), "the script did not run");
    cr_assert_not(has_key(b, "k2"));
    cr_assert_null(kv_script_lookup(SET_RAN_SHA, 40), "the flush emptied the cache");
    kv_result_release(&ra);
    kv_result_release(&rb);
    release_all(subs, n);
}

/* Redis: MULTI, SCRIPT FLUSH, SCRIPT LOAD body, EVALSHA, SCRIPT EXISTS,
 * EXEC -> OK, sha, 1, 1; the same with EVAL body instead of SCRIPT LOAD
 * (and EVAL_RO); but a second flush after the EVAL, or an EVAL that does
 * not compile, leaves EVALSHA NOSCRIPT. */
Test(kv_script_tx, a_load_or_eval_after_the_flush_brings_the_script_back)
{
    struct kv_command subs[] = {FLUSH(),
                                LOAD(SET_RAN),
                                ev(SET_RAN, KV_EVAL_SHA, "k1"),
                                exists(SET_RAN_SHA, SEVEN_SHA),
                                ev(SEVEN, KV_EVAL_RO, NULL),
                                ev(SEVEN, KV_EVAL_SHA, NULL),
                                FLUSH(),
                                ev(SEVEN, KV_EVAL_SHA, NULL),
                                ev(BAD, 0, NULL),
                                ev(BAD_SHA, KV_EVAL_BY_SHA, NULL),
                                exists(SEVEN_SHA, BAD_SHA)};
    size_t n = sizeof subs / sizeof *subs;
    for (int m = 0; m < 2; m++) {
        cache_holds(m == 0);
        struct kv_result r = exec_on(m ? b : a, subs, n);
        sub_is(&r, 1, SET_RAN_SHA);
        sub_is(&r, 2, "+OK\r\n");
        sub_is(&r, 3, "*2\r\n:1\r\n:0\r\n");
        sub_is(&r, 4, ":7\r\n");
        sub_is(&r, 5, ":7\r\n");
        sub_is(&r, 7, NOSCRIPT);
        cr_assert(r.sub[8].len > 44 && memcmp(r.sub[8].bytes, "-ERR Error compiling script (new function): ", 44) == 0);
        sub_is(&r, 9, NOSCRIPT);
        sub_is(&r, 10, "*2\r\n:0\r\n:0\r\n");
        cr_assert(has_key(m ? b : a, "k1"));
        kv_result_release(&r);
    }
    release_all(subs, n);
}

/* An EVALSHA that the receiving member's cache could not resolve carries
 * its SHA1 alone: it runs with the body a SCRIPT LOAD earlier in the same
 * entry gave (Redis: MULTI, SCRIPT LOAD body, EVALSHA sha, EXEC runs it),
 * never from a member's cache, and not before the load. */
Test(kv_script_tx, evalsha_by_sha_runs_only_with_a_body_the_entry_loaded)
{
    struct kv_command subs[] = {ev("59B6AB2FBE0EE4B25733DE0F62E6CDA4899EF8E9", KV_EVAL_BY_SHA, NULL),
                                LOAD(SEVEN),
                                ev("59B6AB2FBE0EE4B25733DE0F62E6CDA4899EF8E9", KV_EVAL_BY_SHA, NULL),
                                ev(SET_RAN_SHA, KV_EVAL_BY_SHA, "k1"),
                                ev("59b6", KV_EVAL_BY_SHA, NULL)};
    size_t n = sizeof subs / sizeof *subs;
    for (int m = 0; m < 2; m++) {
        cache_holds(m == 0); /* member a's cache has both: it must not matter */
        struct kv_result r = exec_on(m ? b : a, subs, n);
        sub_is(&r, 0, NOSCRIPT);
        sub_is(&r, 2, ":7\r\n");
        sub_is(&r, 3, NOSCRIPT);
        sub_is(&r, 4, NOSCRIPT);
        cr_assert_not(has_key(m ? b : a, "k1"));
        kv_result_release(&r);
    }
    release_all(subs, n);
}

/* A script's own MSET is a KV_MULTI applied inside the transaction's: it
 * keeps the transaction's record, so the flush before it still counts. */
Test(kv_script_tx, a_scripts_mset_inside_exec_keeps_the_flush)
{
    struct kv_command subs[] = {FLUSH(), ev(MSET_BODY, 0, NULL), ev(SEVEN, KV_EVAL_SHA, NULL)};
    size_t n = sizeof subs / sizeof *subs;
    cache_holds(true);
    struct kv_result r = exec_on(a, subs, n);
    sub_is(&r, 1, ":1\r\n");
    sub_is(&r, 2, NOSCRIPT);
    cr_assert(has_key(a, "n1"));
    kv_result_release(&r);
    release_all(subs, n);
}

/* Without a flush in the entry, EVALSHA runs the body it carries, and
 * SCRIPT EXISTS reads the member's cache, as before. */
Test(kv_script_tx, without_a_flush_evalsha_runs_the_body_it_carries)
{
    struct kv_command subs[] = {ev(SEVEN, KV_EVAL_SHA, NULL), exists(SEVEN_SHA, BAD_SHA)};
    size_t n = sizeof subs / sizeof *subs;
    cache_holds(true);
    struct kv_result r = exec_on(a, subs, n);
    sub_is(&r, 0, ":7\r\n");
    sub_is(&r, 1, "*2\r\n:1\r\n:0\r\n");
    kv_result_release(&r);
    /* and outside a transaction, a flagged EVAL runs too */
    r = kt_logged(a, ev(SEVEN, KV_EVAL_SHA, NULL), 1000);
    cr_assert(r.len == 4 && memcmp(r.bytes, ":7\r\n", 4) == 0);
    kv_result_release(&r);
    release_all(subs, n);
}

/* redis_compare seed 174103056, through a follower: EVAL of a body that
 * does not compile, then EVALSHA of its SHA1. The follower cached the body
 * when it passed the EVAL on and answered with the leader's result before
 * applying it, so the EVALSHA carried it; Redis caches only what compiles
 * and answers NOSCRIPT, and so does the entry, on every member. */
Test(kv_script_tx, evalsha_of_a_body_that_does_not_compile_is_noscript)
{
    struct kv_result r = kt_logged(a, ev(BAD, KV_EVAL_SHA, NULL), 1000);
    cr_assert(r.len == strlen(NOSCRIPT) && memcmp(r.bytes, NOSCRIPT, r.len) == 0, "%.*s", (int)r.len,
              (const char *)r.bytes);
    kv_result_release(&r);
    r = kt_logged(a, ev(BAD, 0, NULL), 1000); /* EVAL: the compiler's error, as Redis's */
    const char *want = "-ERR Error compiling script (new function): user_script:1: unexpected symbol near '<eof>'\r\n";
    cr_assert(r.len == strlen(want) && memcmp(r.bytes, want, r.len) == 0, "%.*s", (int)r.len, (const char *)r.bytes);
    cr_assert_eq(r.num, -1, "did not compile");
    kv_result_release(&r);
}
