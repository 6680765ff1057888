/* test_kv_string.c - the string family's operations beyond GET and SET
 * (src/kv/ops_string2.c) on the state machine: Redis's number rules and
 * error texts, ranges, the 512 MiB limit, which operations keep a key's
 * deadline, MSET/MSETNX as one KV_MULTI, and each one's entry bytes
 * decoding back to the same command and the same state. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv.h"

static struct kv_store *store;

static void setup(void)
{
    store = kv_store_new();
    cr_assert_not_null(store);
}

static void teardown(void)
{
    kv_store_free(store);
}

TestSuite(kv_string, .init = setup, .fini = teardown);

static struct kv_command mk(enum kv_op op, const char *key, const char *arg, int64_t n0,
                            int64_t n1, uint32_t flags)
{
    struct kv_command c = {.op = op, .flags = flags, .num = {n0, n1}};
    if (key)
        cr_assert_eq(kv_str_set(&c.skey, key, strlen(key)), 0);
    if (arg)
        cr_assert_eq(kv_str_set(&c.arg[0], arg, strlen(arg)), 0);
    return c;
}

/* Apply at time now; the result is the caller's (kv_result_release). */
static struct kv_result run_at(int64_t now, enum kv_op op, const char *key, const char *arg,
                               int64_t n0, int64_t n1, uint32_t flags)
{
    struct kv_command c = mk(op, key, arg, n0, n1, flags);
    struct kv_result r;
    kv_apply(store, &c, now, &r);
    kv_command_release(&c);
    return r;
}

static struct kv_result run(enum kv_op op, const char *key, const char *arg, int64_t n0,
                            int64_t n1)
{
    return run_at(1000, op, key, arg, n0, n1, 0);
}

static void set_at(int64_t now, const char *key, const char *v, int64_t deadline)
{
    struct kv_result r =
        run_at(now, KV_SET, key, v, deadline, 0, deadline ? KV_SET_EXPIRE_AT : 0);
    cr_assert_eq(r.code, KV_OK);
    kv_result_release(&r);
}

static void set(const char *key, const char *v)
{
    set_at(1000, key, v, 0);
}

/* The value under key at time now as a NUL-terminated copy (NULL: absent). */
static char *get_at(int64_t now, const char *key)
{
    struct kv_result r = run_at(now, KV_GET, key, NULL, 0, 0, 0);
    char *out = NULL;
    if (r.code == KV_OK) {
        out = malloc(r.len + 1);
        memcpy(out, r.bytes, r.len);
        out[r.len] = '\0';
    } else {
        cr_assert_eq(r.code, KV_ERR_NO_KEY);
    }
    kv_result_release(&r);
    return out;
}

static void expect_value(int64_t now, const char *key, const char *want)
{
    char *got = get_at(now, key);
    if (!want)
        cr_assert_null(got, "%s at %lld: want absent, got '%s'", key, (long long)now, got);
    else {
        cr_assert_not_null(got, "%s at %lld: want '%s', got absent", key, (long long)now, want);
        cr_assert_str_eq(got, want);
    }
    free(got);
}

static void expect_error(struct kv_result r, const char *text)
{
    cr_assert_eq(r.code, 30, "code %d, text %s", r.code, r.text); /* KV_ERR_TYPE */
    cr_assert_str_eq(r.text, text);
    kv_result_release(&r);
}

static void expect_num(struct kv_result r, int64_t want)
{
    cr_assert_eq(r.code, 0, "code %d: %s", r.code, r.text);
    cr_assert_eq(r.num, want, "num %lld, want %lld", (long long)r.num, (long long)want);
    kv_result_release(&r);
}

static void expect_bytes(struct kv_result r, const void *want, size_t n)
{
    cr_assert_eq(r.code, 0, "code %d: %s", r.code, r.text);
    cr_assert_not_null(r.bytes);
    cr_assert_eq(r.len, n, "len %zu, want %zu", r.len, n);
    cr_assert_eq(memcmp(r.bytes, want, n), 0);
    kv_result_release(&r);
}

#define NOT_INT "ERR value is not an integer or out of range"
#define OVERFLOW "ERR increment or decrement would overflow"
#define NOT_FLOAT "ERR value is not a valid float"
#define TOO_BIG "ERR string exceeds maximum allowed size (proto-max-bulk-len)"

Test(kv_string, codes_are_the_log_format)
{
    cr_assert_eq(KV_INCR, 24);
    cr_assert_eq(KV_INCRFLOAT, 25);
    cr_assert_eq(KV_APPEND, 26);
    cr_assert_eq(KV_STRLEN, 27);
    cr_assert_eq(KV_GETRANGE, 28);
    cr_assert_eq(KV_SETRANGE, 29);
    cr_assert_eq(KV_GETDEL, 30);
    cr_assert_eq(KV_GETEX, 31);
    cr_assert_eq(KV_MSETNX, 32);
    cr_assert_eq(KV_STRING_MAX, 536870912);
    /* reads go through ReadIndex, writes through the log */
    cr_assert(kv_op_reads(KV_STRLEN) && kv_op_reads(KV_GETRANGE));
    cr_assert(!kv_op_reads(KV_INCR) && !kv_op_reads(KV_INCRFLOAT) && !kv_op_reads(KV_APPEND) &&
              !kv_op_reads(KV_SETRANGE) && !kv_op_reads(KV_GETDEL) && !kv_op_reads(KV_GETEX) &&
              !kv_op_reads(KV_MSETNX));
}

/* KEYS (51) alone is a long read (the router's rule 9): no write is, nor
 * any other read, nor a code the registry does not know. */
Test(kv_string, only_keys_is_a_long_read)
{
    for (int op = 0; op < 200; op++)
        cr_assert_eq(kv_op_long_read((enum kv_op)op), op == 51, "op %d", op);
    cr_assert(kv_op_reads((enum kv_op)51));
}

Test(kv_string, incr_counts_from_absent)
{
    expect_num(run(KV_INCR, "c", NULL, 1, 0), 1);
    expect_num(run(KV_INCR, "c", NULL, 10, 0), 11);
    expect_num(run(KV_INCR, "c", NULL, -20, 0), -9);
    expect_value(1000, "c", "-9");
}

Test(kv_string, incr_overflow_changes_nothing)
{
    set("c", "9223372036854775807");
    expect_error(run(KV_INCR, "c", NULL, 1, 0), OVERFLOW);
    expect_value(1000, "c", "9223372036854775807");
    expect_num(run(KV_INCR, "c", NULL, -1, 0), 9223372036854775806);
    set("d", "-9223372036854775808");
    expect_error(run(KV_INCR, "d", NULL, -1, 0), OVERFLOW);
    expect_value(1000, "d", "-9223372036854775808");
    expect_num(run(KV_INCR, "d", NULL, INT64_MAX, 0), -1);
    set("e", "-1");
    expect_error(run(KV_INCR, "e", NULL, INT64_MIN, 0), OVERFLOW);
    expect_num(run(KV_INCR, "e", NULL, INT64_MIN + 1, 0), INT64_MIN);
}

Test(kv_string, incr_refuses_what_redis_does_not_read_as_an_integer)
{
    const char *bad[] = {"abc", " 1", "1 ", "+1", "01", "-0", "", "1.5", "99999999999999999999",
                         "9223372036854775808", "00000000000000000001"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        set("c", bad[i]);
        expect_error(run(KV_INCR, "c", NULL, 1, 0), NOT_INT);
        expect_value(1000, "c", bad[i]);
    }
    set("c", "0");
    expect_num(run(KV_INCR, "c", NULL, 1, 0), 1);
}

Test(kv_string, incr_appends_and_setrange_keep_the_deadline)
{
    set_at(1000, "n", "10", 1500);
    expect_num(run(KV_INCR, "n", NULL, 1, 0), 11);
    set_at(1000, "s", "ab", 1500);
    expect_num(run(KV_APPEND, "s", "cd", 0, 0), 4);
    set_at(1000, "r", "ab", 1500);
    expect_num(run(KV_SETRANGE, "r", "Z", 3, 0), 4);
    set_at(1000, "f", "1", 1500);
    expect_bytes(run(KV_INCRFLOAT, "f", "0.5", 0, 0), "1.5", 3);
    expect_value(1499, "n", "11");
    expect_value(1499, "s", "abcd");
    expect_value(1499, "f", "1.5");
    char *r = get_at(1499, "r");
    cr_assert_not_null(r);
    cr_assert_eq(memcmp(r, "ab\0Z", 4), 0);
    free(r);
    expect_value(1500, "n", NULL);
    expect_value(1500, "s", NULL);
    expect_value(1500, "r", NULL);
    expect_value(1500, "f", NULL);
    /* An expired key counts as absent: INCR starts again from 0, with no deadline. */
    expect_num(run_at(1600, KV_INCR, "n", NULL, 1, 0, 0), 1);
    expect_value(99999, "n", "1");
}

Test(kv_string, incrbyfloat_formats_as_redis)
{
    expect_bytes(run(KV_INCRFLOAT, "f", "10.5", 0, 0), "10.5", 4);
    expect_bytes(run(KV_INCRFLOAT, "f", "0.1", 0, 0), "10.6", 4);
    expect_value(1000, "f", "10.6");
    set("g", "5.0e3");
    expect_bytes(run(KV_INCRFLOAT, "g", "2.0e2", 0, 0), "5200", 4);
    expect_bytes(run(KV_INCRFLOAT, "g", "-5200", 0, 0), "0", 1);
    expect_bytes(run(KV_INCRFLOAT, "g", "-1e-20", 0, 0), "0", 1); /* "-0" is written "0" */
    expect_bytes(run(KV_INCRFLOAT, "g", "0x10", 0, 0), "16", 2);
    expect_bytes(run(KV_INCRFLOAT, "g", "-17.25", 0, 0), "-1.25", 5);
}

Test(kv_string, incrbyfloat_errors)
{
    set("f", "abc");
    expect_error(run(KV_INCRFLOAT, "f", "1", 0, 0), NOT_FLOAT);
    expect_value(1000, "f", "abc");
    set("f", "1");
    expect_error(run(KV_INCRFLOAT, "f", "nan", 0, 0), NOT_FLOAT);
    expect_error(run(KV_INCRFLOAT, "f", " 1", 0, 0), NOT_FLOAT);
    expect_error(run(KV_INCRFLOAT, "f", "1 ", 0, 0), NOT_FLOAT);
    expect_error(run(KV_INCRFLOAT, "f", "1e5000", 0, 0), NOT_FLOAT);
    expect_error(run(KV_INCRFLOAT, "f", "inf", 0, 0), "ERR increment would produce NaN or Infinity");
    expect_value(1000, "f", "1");
}

Test(kv_string, append_and_strlen)
{
    expect_num(run(KV_STRLEN, "s", NULL, 0, 0), 0);
    expect_num(run(KV_APPEND, "s", "hello", 0, 0), 5);
    expect_num(run(KV_APPEND, "s", " world", 0, 0), 11);
    expect_num(run(KV_APPEND, "s", "", 0, 0), 11);
    expect_num(run(KV_STRLEN, "s", NULL, 0, 0), 11);
    expect_value(1000, "s", "hello world");
    /* A new key made by APPEND has no deadline. */
    expect_value(INT64_MAX - 1, "s", "hello world");
}

Test(kv_string, getrange_indexes)
{
    set("s", "Hello World");
    struct {
        int64_t a, b;
        const char *want;
    } cases[] = {{0, 4, "Hello"}, {-5, -1, "World"}, {5, 3, ""},   {-1, -5, ""},
                 {0, -1, "Hello World"}, {0, 100, "Hello World"}, {100, 200, ""},
                 {-100, 2, "Hel"}, {-100, -50, "H"}, {3, -100, ""}, {INT64_MIN, INT64_MAX, "Hello World"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct kv_result r = run(KV_GETRANGE, "s", NULL, cases[i].a, cases[i].b);
        cr_assert_eq(r.code, KV_OK);
        cr_assert_eq(r.len, strlen(cases[i].want), "case %zu: len %zu", i, r.len);
        cr_assert_eq(memcmp(r.bytes, cases[i].want, r.len), 0, "case %zu", i);
        kv_result_release(&r);
    }
    expect_bytes(run(KV_GETRANGE, "missing", NULL, 0, -1), "", 0);
}

Test(kv_string, setrange_pads_and_limits)
{
    expect_num(run(KV_SETRANGE, "r", "hi", 5, 0), 7);
    char *v = get_at(1000, "r");
    cr_assert_eq(memcmp(v, "\0\0\0\0\0hi", 7), 0);
    free(v);
    expect_num(run(KV_SETRANGE, "r", "ABCDEFGHIJ", 1, 0), 11);
    expect_num(run(KV_SETRANGE, "r", "", 536870912, 0), 11);
    expect_num(run(KV_SETRANGE, "missing", "", 536870912, 0), 0);
    expect_value(1000, "missing", NULL);
    expect_error(run(KV_SETRANGE, "r", "xy", 536870911, 0), TOO_BIG);
    expect_error(run(KV_SETRANGE, "r", "x", INT64_MAX, 0), TOO_BIG);
    expect_error(run(KV_SETRANGE, "r", "x", -1, 0), "ERR offset is out of range");
    v = get_at(1000, "r");
    cr_assert_eq(memcmp(v, "\0ABCDEFGHIJ", 11), 0);
    free(v);
}

Test(kv_string, getdel)
{
    set("g", "v");
    expect_bytes(run(KV_GETDEL, "g", NULL, 0, 0), "v", 1);
    expect_value(1000, "g", NULL);
    struct kv_result r = run(KV_GETDEL, "g", NULL, 0, 0);
    cr_assert_eq(r.code, KV_ERR_NO_KEY);
    cr_assert_null(r.bytes);
    kv_result_release(&r);
}

static int64_t version_of(const char *key)
{
    struct kv_result r = run(KV_VERSION, key, NULL, 0, 0);
    int64_t v = r.num;
    kv_result_release(&r);
    return v;
}

Test(kv_string, getex_sets_and_drops_the_deadline)
{
    set("e", "v");
    int64_t v0 = version_of("e");
    expect_bytes(run_at(1000, KV_GETEX, "e", NULL, 100, 0, KV_SET_EXPIRE_IN), "v", 1);
    cr_assert_gt(version_of("e"), v0); /* WATCH sees a new deadline */
    expect_value(1099, "e", "v");
    expect_value(1100, "e", NULL);
    expect_bytes(run_at(1000, KV_GETEX, "e", NULL, 0, 0, KV_GETEX_PERSIST), "v", 1);
    expect_value(99999, "e", "v");
    int64_t v1 = version_of("e");
    expect_bytes(run_at(1000, KV_GETEX, "e", NULL, 0, 0, KV_GETEX_PERSIST), "v", 1);
    cr_assert_eq(version_of("e"), v1); /* nothing to drop: no change */
    expect_bytes(run_at(1000, KV_GETEX, "e", NULL, 2000, 0, KV_SET_EXPIRE_AT), "v", 1);
    expect_value(1999, "e", "v");
    expect_value(2000, "e", NULL);
    /* A deadline already past deletes the key, after answering its value. */
    set("e", "w");
    expect_bytes(run_at(1000, KV_GETEX, "e", NULL, 1000, 0, KV_SET_EXPIRE_AT), "w", 1);
    expect_value(1000, "e", NULL);
    struct kv_result r = run_at(1000, KV_GETEX, "e", NULL, 5, 0, KV_SET_EXPIRE_IN);
    cr_assert_eq(r.code, KV_ERR_NO_KEY);
    kv_result_release(&r);
    expect_value(1000, "e", NULL);
}

/* Apply through the entry's bytes, as the log carries it, at time 1000. */
static struct kv_result run_entry(struct kv_command *c)
{
    uint8_t *data;
    size_t len;
    cr_assert_eq(kv_command_encode(c, &data, &len), 0);
    kv_command_release(c);
    kv_entry_stamp(data, len, 1000);
    struct kv_result r;
    kv_apply_bytes(store, data, len, 0, &r);
    free(data);
    return r;
}

/* MSET (a KV_MULTI of KV_SETs) or MSETNX (one KV_MSETNX) of pairs
 * {k, v, k, v, ..., NULL}. */
static struct kv_result multi_set(bool nx, const char *const *kv)
{
    size_t pairs = 0;
    while (kv[2 * pairs])
        pairs++;
    if (nx) {
        size_t len[16];
        for (size_t i = 0; i < 2 * pairs; i++)
            len[i] = strlen(kv[i]);
        struct kv_command c = mk(KV_MSETNX, kv[0], NULL, 0, 0, 0);
        cr_assert_eq(kv_pack_fields(&c.arg[0], (char *const *)kv, len, 2 * pairs), 0);
        return run_entry(&c);
    }
    struct kv_command c = {.op = KV_MULTI, .sub = calloc(pairs, sizeof(struct kv_command)), .n_sub = pairs};
    for (size_t i = 0; i < pairs; i++)
        c.sub[i] = mk(KV_SET, kv[2 * i], kv[2 * i + 1], 0, 0, 0);
    return run_entry(&c);
}

Test(kv_string, msetnx_with_one_existing_key_changes_nothing)
{
    set("b", "old");
    const char *const pairs[] = {"a", "1", "b", "2", "c", "3", NULL};
    expect_num(multi_set(true, pairs), 0);
    expect_value(1000, "a", NULL);
    expect_value(1000, "b", "old");
    expect_value(1000, "c", NULL);
    const char *const fresh[] = {"a", "1", "c", "3", "a", "4", NULL};
    expect_num(multi_set(true, fresh), 1);
    expect_value(1000, "a", "4");
    expect_value(1000, "c", "3");
    /* An expired key counts as absent; the new values have no deadline. */
    set_at(1000, "d", "x", 1500);
    const char *const later[] = {"d", "5", NULL};
    expect_num(multi_set(true, later), 0); /* stamped 1000: d is live */
    struct kv_command c = mk(KV_MSETNX, "d", NULL, 0, 0, 0);
    size_t len[] = {1, 1};
    cr_assert_eq(kv_pack_fields(&c.arg[0], (char *const *)later, len, 2), 0);
    struct kv_result r;
    kv_apply(store, &c, 1500, &r); /* at its deadline: absent */
    kv_command_release(&c);
    expect_num(r, 1);
    expect_value(INT64_MAX - 1, "d", "5");
}

Test(kv_string, msetnx_refuses_malformed_pairs)
{
    struct kv_command c = mk(KV_MSETNX, "a", NULL, 0, 0, 0);
    cr_assert_eq(kv_str_set(&c.arg[0], "\x01\x00\x00\x00a\x05\x00\x00\x00xy", 11), 0);
    struct kv_result r = run_entry(&c);
    cr_assert_eq(r.code, KV_ERR_MALFORMED);
    kv_result_release(&r);
    expect_value(1000, "a", NULL);
}

Test(kv_string, mset_sets_all_and_clears_deadlines)
{
    set_at(1000, "a", "x", 1500);
    const char *const pairs[] = {"a", "1", "b", "2", NULL};
    struct kv_result r = multi_set(false, pairs);
    cr_assert_eq(r.code, KV_OK);
    cr_assert_eq(r.n_sub, 2);
    kv_result_release(&r);
    expect_value(5000, "a", "1");
    expect_value(5000, "b", "2");
}

Test(kv_string, getset_clears_the_deadline)
{
    set_at(1000, "g", "x", 1500);
    struct kv_result r = run_at(1000, KV_SET, "g", "y", 0, 0, KV_SET_GET);
    expect_bytes(r, "x", 1);
    expect_value(5000, "g", "y");
}

/* Each new operation's entry decodes to the same command, and applying the
 * bytes gives the state applying the command gave. */
Test(kv_string, entry_bytes_decode_back)
{
    struct kv_command cmds[] = {
        mk(KV_INCR, "k", NULL, -42, 0, 0),
        mk(KV_INCRFLOAT, "k", "1.5", 0, 0, 0),
        mk(KV_APPEND, "k", "\x01\x00z", 0, 0, 0),
        mk(KV_STRLEN, "k", NULL, 0, 0, 0),
        mk(KV_GETRANGE, "k", NULL, -3, INT64_MAX, 0),
        mk(KV_SETRANGE, "k", "xyz", 7, 0, 0),
        mk(KV_GETDEL, "k", NULL, 0, 0, 0),
        mk(KV_GETEX, "k", NULL, 12345, 0, KV_SET_EXPIRE_IN),
        mk(KV_GETEX, "k", NULL, 0, 0, KV_GETEX_PERSIST),
        mk(KV_MSETNX, "k", NULL, 0, 0, 0),
    };
    cr_assert_eq(kv_str_set(&cmds[2].arg[0], "\x01\x00z", 3), 0); /* binary: past the NUL */
    cr_assert_eq(kv_str_set(&cmds[9].arg[0], "\x01\x00\x00\x00k\x01\x00\x00\x00v", 10), 0);
    struct kv_store *other = kv_store_new();
    set("k", "7");
    struct kv_result r;
    struct kv_command seed = mk(KV_SET, "k", "7", 0, 0, 0);
    kv_apply(other, &seed, 1000, &r);
    kv_result_release(&r);
    kv_command_release(&seed);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        uint8_t *data;
        size_t len;
        cr_assert_eq(kv_command_encode(&cmds[i], &data, &len), 0, "op %d", cmds[i].op);
        kv_entry_stamp(data, len, 2000);
        cr_assert_eq(kv_entry_time(data, len), 2000);
        struct kv_command d;
        cr_assert_eq(kv_command_decode(data, len, &d), 0, "op %d", cmds[i].op);
        cr_assert_eq(d.op, cmds[i].op);
        cr_assert_eq(d.flags, cmds[i].flags);
        cr_assert_eq(d.num[0], cmds[i].num[0]);
        cr_assert_eq(d.num[1], cmds[i].num[1]);
        cr_assert_eq(d.skey.n, 1);
        cr_assert_eq(d.skey.p[0], 'k');
        cr_assert_eq(d.arg[0].n, cmds[i].arg[0].n);
        if (d.arg[0].n)
            cr_assert_eq(memcmp(d.arg[0].p, cmds[i].arg[0].p, d.arg[0].n), 0);
        kv_command_release(&d);
        struct kv_result a, b;
        kv_apply(store, &cmds[i], 2000, &a);
        kv_apply_bytes(other, data, len, 0, &b);
        cr_assert_eq(a.code, b.code, "op %d", cmds[i].op);
        cr_assert_eq(a.num, b.num, "op %d", cmds[i].op);
        cr_assert_eq(a.len, b.len, "op %d", cmds[i].op);
        cr_assert(kv_store_equal(store, other), "op %d", cmds[i].op);
        kv_result_release(&a);
        kv_result_release(&b);
        free(data);
        kv_command_release(&cmds[i]);
    }
    kv_store_free(other);
}

Test(kv_string, an_entry_missing_a_needed_field_is_refused)
{
    struct kv_command c = mk(KV_APPEND, "k", NULL, 0, 0, 0); /* no arg[0] */
    struct kv_result r;
    kv_apply(store, &c, 1000, &r);
    cr_assert_eq(r.code, KV_ERR_MALFORMED);
    kv_result_release(&r);
    kv_command_release(&c);
    expect_value(1000, "k", NULL);
}

Test(kv_string, number_parsers_are_redis_strict)
{
    long long v;
    cr_assert(kv_parse_ll("-9223372036854775808", 20, &v) && v == INT64_MIN);
    cr_assert(kv_parse_ll("0", 1, &v) && v == 0);
    cr_assert(!kv_parse_ll("-0", 2, &v));
    cr_assert(!kv_parse_ll("1\0", 2, &v));
    long double d;
    cr_assert(!kv_parse_ld("1\0abc", 5, &d)); /* every byte must be read, as Redis's */
    cr_assert(!kv_parse_ld("\0", 1, &d));
    cr_assert(kv_parse_ld("-inf", 4, &d) && d < 0);
    cr_assert(!kv_parse_ld("", 0, &d));
    char big[5120];
    memset(big, '0', sizeof big); /* 0...01: a number, but 5120 bytes is too long */
    big[5118] = '1';
    cr_assert(kv_parse_ld(big, 5119, &d) && d == 1);
    big[5119] = '1';
    cr_assert(!kv_parse_ld(big, sizeof big, &d));
}
