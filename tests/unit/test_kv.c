/* test_kv.c - the KV state machine: read/write/cas/delete semantics, JSON
 * value comparison, command bytes and snapshots. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "kv/kv.h"
#include "storage/snap_writer.h"

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

TestSuite(kv, .init = setup, .fini = teardown);

/* Apply one command built from JSON texts (NULL: absent); returns the code. */
static int run(enum kv_op op, const char *key, const char *a, const char *b, json_t **value)
{
    struct kv_command c = {.op = op};
    c.key = key ? json_loads(key, JSON_DECODE_ANY, NULL) : NULL;
    json_t *ja = a ? json_loads(a, JSON_DECODE_ANY, NULL) : NULL;
    json_t *jb = b ? json_loads(b, JSON_DECODE_ANY, NULL) : NULL;
    if (op == KV_WRITE)
        c.value = ja;
    if (op == KV_CAS) {
        c.from = ja;
        c.to = jb;
    }
    struct kv_result r;
    kv_apply(store, &c, 0, &r);
    json_decref(c.key);
    json_decref(ja);
    json_decref(jb);
    if (value)
        *value = r.value;
    else
        json_decref(r.value);
    return r.code;
}

static void assert_reads(const char *key, const char *expected)
{
    json_t *v = NULL;
    cr_assert_eq(run(KV_READ, key, NULL, NULL, &v), KV_OK, "read %s", key);
    json_t *want = json_loads(expected, JSON_DECODE_ANY, NULL);
    cr_assert(json_equal(v, want), "read %s", key);
    json_decref(v);
    json_decref(want);
}

Test(kv, reading_a_missing_key_fails_with_code_20)
{
    cr_assert_eq(run(KV_READ, "0", NULL, NULL, NULL), 20); /* Maelstrom's key-does-not-exist */
}

Test(kv, a_write_creates_the_key_and_a_read_returns_it)
{
    cr_assert_eq(run(KV_WRITE, "0", "3", NULL, NULL), KV_OK);
    assert_reads("0", "3");
    cr_assert_eq(run(KV_WRITE, "0", "4", NULL, NULL), KV_OK);
    assert_reads("0", "4");
    cr_assert_eq(kv_store_size(store), 1);
}

Test(kv, cas_on_a_missing_key_fails_with_code_20_and_creates_nothing)
{
    cr_assert_eq(run(KV_CAS, "7", "1", "2", NULL), 20);
    cr_assert_eq(kv_store_size(store), 0);
}

Test(kv, cas_with_a_wrong_from_fails_with_code_22_and_changes_nothing)
{
    run(KV_WRITE, "1", "2", NULL, NULL);
    cr_assert_eq(run(KV_CAS, "1", "3", "4", NULL), 22); /* Maelstrom's precondition-failed */
    assert_reads("1", "2");
}

Test(kv, cas_with_the_right_from_sets_to)
{
    run(KV_WRITE, "1", "2", NULL, NULL);
    cr_assert_eq(run(KV_CAS, "1", "2", "4", NULL), KV_OK);
    assert_reads("1", "4");
}

Test(kv, values_compare_as_json_so_1_and_string_1_differ)
{
    run(KV_WRITE, "1", "1", NULL, NULL);
    cr_assert_eq(run(KV_CAS, "1", "\"1\"", "5", NULL), KV_ERR_PRECONDITION);
    cr_assert_eq(run(KV_CAS, "1", "1", "5", NULL), KV_OK);
}

Test(kv, keys_compare_as_json_so_1_and_string_1_are_different_keys)
{
    run(KV_WRITE, "1", "10", NULL, NULL);
    run(KV_WRITE, "\"1\"", "20", NULL, NULL);
    assert_reads("1", "10");
    assert_reads("\"1\"", "20");
    cr_assert_eq(kv_store_size(store), 2);
}

Test(kv, negative_and_positive_integer_keys_are_different_keys)
{
    run(KV_WRITE, "-1", "10", NULL, NULL);
    run(KV_WRITE, "1", "11", NULL, NULL);
    run(KV_WRITE, "-1234567", "12", NULL, NULL);
    assert_reads("-1", "10");
    assert_reads("1", "11");
    assert_reads("-1234567", "12");
    cr_assert_eq(run(KV_READ, "1234567", NULL, NULL, NULL), 20);
    cr_assert_eq(kv_store_size(store), 3);
}

Test(kv, objects_compare_by_content_as_keys_and_values)
{
    run(KV_WRITE, "{\"a\":1,\"b\":[1,2]}", "{\"x\":{\"y\":null,\"z\":true}}", NULL, NULL);
    assert_reads("{\"b\":[1,2],\"a\":1}", "{\"x\":{\"z\":true,\"y\":null}}");
    cr_assert_eq(run(KV_CAS, "{\"b\":[1,2],\"a\":1}", "{\"x\":{\"z\":true,\"y\":null}}", "[]",
                     NULL),
                 KV_OK);
    assert_reads("{\"a\":1,\"b\":[1,2]}", "[]");
}

Test(kv, delete_removes_a_key_and_fails_on_a_missing_one)
{
    run(KV_WRITE, "3", "1", NULL, NULL);
    cr_assert_eq(run(KV_DELETE, "3", NULL, NULL, NULL), KV_OK);
    cr_assert_eq(run(KV_READ, "3", NULL, NULL, NULL), KV_ERR_NO_KEY);
    cr_assert_eq(run(KV_DELETE, "3", NULL, NULL, NULL), 20);
}

Test(kv, a_command_without_its_fields_is_malformed_and_changes_nothing)
{
    cr_assert_eq(run(KV_WRITE, "1", NULL, NULL, NULL), KV_ERR_MALFORMED);
    cr_assert_eq(run(KV_READ, NULL, NULL, NULL, NULL), KV_ERR_MALFORMED);
    cr_assert_eq(kv_store_size(store), 0);
}

Test(kv, commands_survive_encoding_and_decoding)
{
    struct kv_command c = {.op = KV_CAS};
    c.key = json_loads("{\"k\":[1,\"x\"]}", 0, NULL);
    c.from = json_integer(1);
    c.to = json_string("two");
    uint8_t *data;
    size_t len;
    cr_assert_eq(kv_command_encode(&c, &data, &len), 0);
    struct kv_command d;
    cr_assert_eq(kv_command_decode(data, len, &d), 0);
    cr_assert_eq(d.op, KV_CAS);
    cr_assert(json_equal(d.key, c.key));
    cr_assert(json_equal(d.from, c.from));
    cr_assert(json_equal(d.to, c.to));
    cr_assert_null(d.value);
    kv_command_release(&d);
    free(data);
    json_decref(c.key);
    json_decref(c.from);
    json_decref(c.to);
}

Test(kv, applying_command_bytes_changes_the_map)
{
    const char *w = "{\"k\":5,\"op\":\"w\",\"v\":\"five\"}";
    struct kv_result r;
    kv_apply_bytes(store, (const uint8_t *)w, strlen(w), 0, &r);
    cr_assert_eq(r.code, KV_OK);
    assert_reads("5", "\"five\"");
}

Test(kv, malformed_command_bytes_change_nothing)
{
    const char *bad[] = {"",
                         "{",
                         "[]",
                         "42",
                         "{\"op\":\"w\",\"k\":1}",
                         "{\"op\":\"c\",\"k\":1,\"f\":1}",
                         "{\"op\":\"x\",\"k\":1,\"v\":1}",
                         "{\"op\":\"ww\",\"k\":1,\"v\":1}",
                         "{\"op\":7,\"k\":1,\"v\":1}",
                         "{\"op\":\"w\",\"v\":1}",
                         "{\"op\":\"w\",\"k\":1,\"v\":1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct kv_result r;
        kv_apply_bytes(store, (const uint8_t *)bad[i], strlen(bad[i]), 0, &r);
        cr_assert_eq(r.code, KV_ERR_MALFORMED, "%s", bad[i]);
        cr_assert_eq(kv_store_size(store), 0, "%s", bad[i]);
    }
    struct kv_result r;
    kv_apply_bytes(store, NULL, 0, 0, &r);
    cr_assert_eq(r.code, KV_ERR_MALFORMED);
}

Test(kv, a_snapshot_restores_the_same_map)
{
    run(KV_WRITE, "1", "10", NULL, NULL);
    run(KV_WRITE, "\"1\"", "{\"a\":[1,2]}", NULL, NULL);
    run(KV_WRITE, "{\"z\":1,\"a\":2}", "null", NULL, NULL);
    uint8_t *data;
    size_t len;
    cr_assert_eq(kv_snapshot(store, 42, 7, &data, &len), 0);

    struct kv_store *other = kv_store_new();
    uint64_t index = 0, term = 0;
    cr_assert_eq(kv_restore(other, data, len, &index, &term), 0);
    cr_assert_eq(index, 42);
    cr_assert_eq(term, 7);
    kv_store_free(store);
    store = other;
    cr_assert_eq(kv_store_size(store), 3);
    assert_reads("1", "10");
    assert_reads("\"1\"", "{\"a\":[1,2]}");
    assert_reads("{\"a\":2,\"z\":1}", "null");
    free(data);
}

Test(kv, a_corrupt_snapshot_is_refused_and_keeps_the_map)
{
    run(KV_WRITE, "1", "10", NULL, NULL);
    /* Bytes that are no snapshot at all, and images whose one record holds
     * a key that is not canonical JSON text or a value that is no JSON. */
    const char *bad[] = {"{", "{\"1\":10}", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_neq(kv_restore(store, (const uint8_t *)bad[i], strlen(bad[i]), NULL, NULL), 0,
                      "%s", bad[i]);
    const char *keys[] = {"not json", "{\"b\":1, \"a\":2}", "01", "\"ok\""};
    const char *vals[] = {"1", "1", "1", "{bad"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        struct snap_membuf b = {0};
        struct snap_writer w;
        cr_assert_eq(snap_writer_begin(&w, snap_membuf_sink, &b, 3, 1, 1, NULL, 0), 0);
        struct snap_record rec = {.key = (const uint8_t *)keys[i],
                                  .key_len = (uint32_t)strlen(keys[i]),
                                  .value = (const uint8_t *)vals[i],
                                  .value_len = (uint32_t)strlen(vals[i])};
        cr_assert_eq(snap_writer_add(&w, &rec), 0);
        cr_assert_eq(snap_writer_end(&w), 0);
        cr_assert_neq(kv_restore(store, b.data, b.len, NULL, NULL), 0, "%s", keys[i]);
        free(b.data);
    }
    /* The same key twice. */
    struct snap_membuf b = {0};
    struct snap_writer w;
    cr_assert_eq(snap_writer_begin(&w, snap_membuf_sink, &b, 3, 1, 2, NULL, 0), 0);
    struct snap_record rec = {.key = (const uint8_t *)"7", .key_len = 1,
                              .value = (const uint8_t *)"1", .value_len = 1};
    cr_assert_eq(snap_writer_add(&w, &rec), 0);
    cr_assert_eq(snap_writer_add(&w, &rec), 0);
    cr_assert_eq(snap_writer_end(&w), 0);
    cr_assert_neq(kv_restore(store, b.data, b.len, NULL, NULL), 0, "a key twice");
    free(b.data);
    assert_reads("1", "10");
    cr_assert_eq(kv_store_size(store), 1);
}

Test(kv, encoded_commands_are_canonical_json_with_sorted_keys)
{
    /* The Maelstrom codec re-renders embedded commands canonically; the
     * bytes must not change on the way. */
    const char *vals[] = {"0", "-17", "9007199254740993", "\"s\\u00e9\\n\"", "{\"b\":1,\"a\":[2,{\"d\":null,\"c\":true}]}", "1.5"};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        for (int op = KV_READ; op <= KV_DELETE; op++) {
            json_t *v = json_loads(vals[i], JSON_DECODE_ANY, NULL);
            cr_assert_not_null(v, "%s", vals[i]);
            struct kv_command c = {.op = (enum kv_op)op, .key = v, .value = v, .from = v, .to = v};
            if (op != KV_WRITE)
                c.value = NULL;
            if (op != KV_CAS)
                c.from = c.to = NULL;
            uint8_t *data;
            size_t len;
            cr_assert_eq(kv_command_encode(&c, &data, &len), 0);
            json_t *back = json_loadb((const char *)data, len, 0, NULL);
            cr_assert_not_null(back, "%.*s", (int)len, data);
            char *canon = json_dumps(back, JSON_COMPACT | JSON_SORT_KEYS);
            cr_assert_eq(strlen(canon), len);
            cr_assert(memcmp(canon, data, len) == 0, "%s vs %.*s", canon, (int)len, data);
            free(canon);
            free(data);
            json_decref(back);
            json_decref(v);
        }
    }
}

/* What kv_command_decode must return for `data`, read the general way:
 * jansson's parser, then the members the op needs. */
static int reference_decode(const uint8_t *data, size_t len, struct kv_command *c)
{
    memset(c, 0, sizeof *c);
    json_t *o = len ? json_loadb((const char *)data, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL) : NULL;
    const char *op = json_string_value(json_object_get(o, "op"));
    int rc = -1;
    if (op && op[0] && !op[1] && strchr("rwcd", op[0])) {
        c->op = op[0] == 'r' ? KV_READ : op[0] == 'w' ? KV_WRITE : op[0] == 'c' ? KV_CAS : KV_DELETE;
        c->key = json_incref(json_object_get(o, "k"));
        if (c->op == KV_WRITE)
            c->value = json_incref(json_object_get(o, "v"));
        if (c->op == KV_CAS) {
            c->from = json_incref(json_object_get(o, "f"));
            c->to = json_incref(json_object_get(o, "t"));
        }
        rc = c->key && (c->op != KV_WRITE || c->value) && (c->op != KV_CAS || (c->from && c->to)) ? 0 : -1;
    }
    json_decref(o);
    if (rc != 0)
        kv_command_release(c);
    return rc;
}

static bool same_json(const json_t *a, const json_t *b)
{
    /* json_equal treats 1 and 1.0 alike; the state machine must not. */
    return (!a && !b) || (a && b && json_typeof(a) == json_typeof(b) && json_equal(a, b));
}

static void assert_decodes_as_reference(const uint8_t *data, size_t len)
{
    struct kv_command got, want;
    int rc_got = kv_command_decode(data, len, &got);
    int rc_want = reference_decode(data, len, &want);
    cr_assert_eq(rc_got, rc_want, "%.*s", (int)len, data);
    if (rc_got == 0) {
        cr_assert_eq(got.op, want.op, "%.*s", (int)len, data);
        cr_assert(same_json(got.key, want.key), "%.*s", (int)len, data);
        cr_assert(same_json(got.value, want.value), "%.*s", (int)len, data);
        cr_assert(same_json(got.from, want.from), "%.*s", (int)len, data);
        cr_assert(same_json(got.to, want.to), "%.*s", (int)len, data);
        kv_command_release(&got);
        kv_command_release(&want);
    }
}

Test(kv, decoding_near_canonical_command_bytes_agrees_with_the_general_json_parser)
{
    const char *cases[] = {
        "{\"k\":017,\"op\":\"r\"}", "{\"k\":-,\"op\":\"r\"}", "{\"k\":1.,\"op\":\"r\"}",
        "{\"k\":1.5,\"op\":\"r\"}", "{\"k\":-0,\"op\":\"d\"}", "{\"k\":00,\"op\":\"d\"}",
        "{\"k\":1e2,\"op\":\"r\"}", "{\"k\":\"a\",\"op\":\"r\",\"v\":1}",
        "{\"k\":\"a\",\"op\":\"w\"}", "{\"k\":\"a\",\"op\":\"w\",\"v\":\"b\"} ",
        "{\"k\": \"a\",\"op\":\"r\"}", "{\"k\":\"a\\u0041\",\"op\":\"r\"}",
        "{\"k\":\"a\",\"op\":\"c\",\"t\":1}", "{\"f\":1,\"k\":\"a\",\"op\":\"w\",\"t\":1}",
        "{\"f\":1,\"k\":\"a\",\"op\":\"c\",\"t\":12345678901234567890}",
        "{\"k\":\"a\",\"op\":\"w\",\"v\":\"\x7f\"}", "{\"k\":\"a\",\"op\":\"w\",\"v\":\"b}",
        "{\"k\":\"a\",\"op\":\"w\",\"v\":\"\xc3\xa9\"}", "{\"k\":\"a\",\"op\":\"w\",\"v\":\"\xc3\"}"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_decodes_as_reference((const uint8_t *)cases[i], strlen(cases[i]));
}

Test(kv, decoding_command_bytes_agrees_with_the_general_json_parser_on_mutated_input)
{
    uint64_t seed = 20261126;
    printf("kv decode seed %llu\n", (unsigned long long)seed);
    struct rng g;
    rng_seed(&g, seed);
    const char *vals[] = {"0", "-0", "7", "-17", "123456789012345678", "1234567890123456789",
                          "9007199254740993", "1.5", "2e3", "\"\"", "\"key:000000012345\"",
                          "\"a/b c~\"", "\"s\\u00e9\\n\"", "\"q\\\"x\"", "\"nul\\u0000\"", "null",
                          "true", "[1,\"x\"]", "{\"b\":1,\"a\":2}", "{\"$base64\":\"AAE=\"}"};
    size_t nv = sizeof vals / sizeof vals[0];
    for (int iter = 0; iter < 20000; iter++) {
        json_t *v[3];
        for (int i = 0; i < 3; i++)
            v[i] = json_loads(vals[rng_below(&g, nv)], JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        struct kv_command c = {.op = (enum kv_op)rng_below(&g, 4), .key = v[0]};
        if (c.op == KV_WRITE)
            c.value = v[1];
        if (c.op == KV_CAS) {
            c.from = v[1];
            c.to = v[2];
        }
        uint8_t *data;
        size_t len;
        cr_assert_eq(kv_command_encode(&c, &data, &len), 0);
        /* Most rounds mutate a byte or cut the end; some keep it intact. */
        int how = (int)rng_below(&g, 4);
        /* Mutation bytes: JSON syntax, digits, the command's letters, and
         * control bytes (the array's closing NUL included on purpose). */
        static const char mutations[] = "\"\\{},:0123456789-.eEkvftop rwcd\x7f\x01";
        if (how == 1)
            data[rng_below(&g, len)] = mutations[rng_below(&g, sizeof mutations)];
        else if (how == 2)
            len = rng_below(&g, len);
        assert_decodes_as_reference(data, len);
        free(data);
        for (int i = 0; i < 3; i++)
            json_decref(v[i]);
    }
}

/* Redis values are binary-safe, so a NUL inside a key or value string must
 * survive the log (command bytes) and snapshots: jansson refuses "\u0000"
 * unless told to allow it. */
Test(kv, strings_with_nul_bytes_survive_command_bytes_and_snapshots)
{
    struct kv_command c = {.op = KV_WRITE};
    c.key = json_stringn("a\0b", 3);
    c.value = json_stringn("x\0y", 3);
    uint8_t *data;
    size_t len;
    cr_assert_eq(kv_command_encode(&c, &data, &len), 0);
    struct kv_result r;
    kv_apply_bytes(store, data, len, 0, &r);
    cr_assert_eq(r.code, KV_OK);
    free(data);

    uint8_t *snap;
    size_t snap_len;
    cr_assert_eq(kv_snapshot(store, 1, 1, &snap, &snap_len), 0);
    struct kv_store *other = kv_store_new();
    cr_assert_eq(kv_restore(other, snap, snap_len, NULL, NULL), 0);
    kv_store_free(store);
    store = other;
    free(snap);

    struct kv_command read = {.op = KV_READ, .key = c.key};
    kv_apply(store, &read, 0, &r);
    cr_assert_eq(r.code, KV_OK);
    cr_assert(json_equal(r.value, c.value));
    json_decref(r.value);
    json_decref(c.key);
    json_decref(c.value);
}
