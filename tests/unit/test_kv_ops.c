/* test_kv_ops.c - the operation registry and the string family (kv.h):
 * the binary entry's layout byte for byte, the decoder's refusals, SET's
 * options and expiry at the entry's stamped time, versions, MULTI with
 * guards, results as bytes for proxied answers, and snapshots that keep
 * types, deadlines and versions. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv.h"

static struct kv_command cmd(enum kv_op op, const char *key, const char *arg0, uint32_t flags,
                             int64_t num0)
{
    struct kv_command c = {.op = op, .flags = flags, .num = {num0, 0}};
    if (key)
        cr_assert_eq(kv_str_set(&c.skey, key, strlen(key)), 0);
    if (arg0)
        cr_assert_eq(kv_str_set(&c.arg[0], arg0, strlen(arg0)), 0);
    return c;
}

/* Encode, stamp `at`, apply through the bytes as a follower would. */
static struct kv_result logged(struct kv_store *s, struct kv_command c, int64_t at)
{
    uint8_t *data;
    size_t len;
    cr_assert_eq(kv_command_encode(&c, &data, &len), 0);
    kv_entry_stamp(data, len, at);
    struct kv_result r;
    kv_apply_bytes(s, data, len, 0, &r);
    free(data);
    kv_command_release(&c);
    return r;
}

static struct kv_result read_at(struct kv_store *s, struct kv_command c, int64_t at)
{
    struct kv_result r;
    kv_apply(s, &c, at, &r);
    kv_command_release(&c);
    return r;
}

static void assert_value(struct kv_store *s, const char *key, int64_t at, const char *want)
{
    struct kv_result r = read_at(s, cmd(KV_GET, key, NULL, 0, 0), at);
    if (!want) {
        cr_assert_eq(r.code, 20, "%s at %lld: absent", key, (long long)at);
    } else {
        cr_assert_eq(r.code, 0, "%s at %lld", key, (long long)at);
        cr_assert_eq(r.len, strlen(want));
        cr_assert_eq(memcmp(r.bytes, want, r.len), 0);
    }
    kv_result_release(&r);
}

Test(kv_ops, a_set_entry_is_the_documented_layout)
{
    struct kv_command c = cmd(KV_SET, "k", "v", 0, 0);
    uint8_t *data;
    size_t len;
    cr_assert_eq(kv_command_encode(&c, &data, &len), 0);
    static const uint8_t want[47] = {
        0xB5, 1, 0, 0, 0, 0, 0, 0, 0, 0, /* magic, version, time 0 */
        0, 1, 0, 0, 0,                    /* one op, not a MULTI */
        18, 0, 0, 0, 0,                   /* SET, flags */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* num0, num1 */
        3, 1, 0, 0, 0, 'k', 1, 0, 0, 0, 'v'};           /* key and value */
    cr_assert_eq(len, sizeof want);
    cr_assert_eq(memcmp(data, want, len), 0);
    cr_assert_eq(kv_entry_time(data, len), 0);
    kv_entry_stamp(data, len, 0x0102030405060708);
    cr_assert_eq(data[2], 0x08);
    cr_assert_eq(data[9], 0x01);
    cr_assert_eq(kv_entry_time(data, len), 0x0102030405060708);
    struct kv_command d;
    cr_assert_eq(kv_command_decode(data, len, &d), 0);
    cr_assert_eq(d.op, KV_SET);
    cr_assert_eq(d.skey.n, 1);
    cr_assert_eq(d.skey.p[0], 'k');
    cr_assert_eq(d.arg[0].p[0], 'v');
    kv_command_release(&d);
    kv_command_release(&c);
    free(data);
    /* A JSON-family entry has no time, and stamping leaves it alone. */
    uint8_t json[] = "{\"k\":1,\"op\":\"r\"}";
    cr_assert_eq(kv_entry_time(json, sizeof json - 1), -1);
    kv_entry_stamp(json, sizeof json - 1, 5);
    cr_assert_str_eq((char *)json, "{\"k\":1,\"op\":\"r\"}");
}

Test(kv_ops, the_decoder_refuses_what_the_encoder_never_makes)
{
    struct kv_command c = cmd(KV_SET, "k", "v", 0, 0);
    uint8_t *data;
    size_t len;
    cr_assert_eq(kv_command_encode(&c, &data, &len), 0);
    kv_command_release(&c);
    struct kv_command d;
    cr_assert_eq(kv_command_decode(data, len - 1, &d), -1, "truncated");
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, data, len);
    longer[len] = 0;
    cr_assert_eq(kv_command_decode(longer, len + 1, &d), -1, "a trailing byte");
    free(longer);
    struct {
        size_t at;
        uint8_t value;
        const char *what;
    } bad[] = {{1, 2, "version 2"},       {10, 2, "multi flag 2"},
               {11, 2, "two ops, not a MULTI"}, {15, 63, "an unknown op"},
               {15, 1, "a JSON-family op"},     {15, 16, "a MULTI inside"},
               {36, 1, "SET without its value"}, {36, 8, "a field bit beyond arg1"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t save = data[bad[i].at];
        data[bad[i].at] = bad[i].value;
        cr_assert_eq(kv_command_decode(data, len, &d), -1, "%s", bad[i].what);
        data[bad[i].at] = save;
    }
    cr_assert_eq(kv_command_decode(data, len, &d), 0);
    kv_command_release(&d);
    /* A SET whose value is not there at all (no field bit, no bytes): well
     * formed as bytes, but the row needs the value. */
    data[36] = 1;
    cr_assert_eq(kv_command_decode(data, len - 5, &d), -1, "SET without its value field");
    free(data);
}

Test(kv_ops, set_nx_xx_and_get_answer_as_redis)
{
    struct kv_store *s = kv_store_new();
    struct kv_result r = logged(s, cmd(KV_SET, "a", "1", KV_SET_XX, 0), 100);
    cr_assert_eq(r.code, 0);
    cr_assert_eq(r.num, 0, "XX on a missing key sets nothing");
    assert_value(s, "a", 100, NULL);
    r = logged(s, cmd(KV_SET, "a", "1", KV_SET_NX, 0), 100);
    cr_assert_eq(r.num, 1);
    r = logged(s, cmd(KV_SET, "a", "2", KV_SET_NX | KV_SET_GET, 0), 100);
    cr_assert_eq(r.num, 0, "NX on a present key sets nothing");
    cr_assert_eq(r.len, 1);
    cr_assert_eq(r.bytes[0], '1', "but GET answers the old value");
    kv_result_release(&r);
    r = logged(s, cmd(KV_SET, "a", "3", KV_SET_GET, 0), 100);
    cr_assert_eq(r.num, 1);
    cr_assert_eq(r.bytes[0], '1');
    kv_result_release(&r);
    r = logged(s, cmd(KV_SET, "new", "x", KV_SET_GET, 0), 100);
    cr_assert_null(r.bytes, "GET of a key that was not there: nil");
    cr_assert_eq(r.num, 1);
    assert_value(s, "a", 100, "3");
    assert_value(s, "new", 100, "x");
    kv_store_free(s);
}

Test(kv_ops, expiry_is_decided_by_the_stamped_time)
{
    struct kv_store *s = kv_store_new();
    logged(s, cmd(KV_SET, "t", "v", KV_SET_EXPIRE_IN, 10000), 1000);
    assert_value(s, "t", 10999, "v");
    assert_value(s, "t", 11000, NULL);
    struct kv_result r = read_at(s, cmd(KV_EXISTS, "t", NULL, 0, 0), 11000);
    cr_assert_eq(r.num, 0);
    /* KEEPTTL keeps the deadline; a plain SET clears it. */
    logged(s, cmd(KV_SET, "t", "w", KV_SET_KEEPTTL, 0), 2000);
    assert_value(s, "t", 10999, "w");
    assert_value(s, "t", 11000, NULL);
    logged(s, cmd(KV_SET, "t", "z", 0, 0), 3000);
    assert_value(s, "t", 999999999, "z");
    /* An absolute deadline already past deletes the key. */
    logged(s, cmd(KV_SET, "t", "q", KV_SET_EXPIRE_AT, 3999), 4000);
    assert_value(s, "t", 4000, NULL);
    cr_assert_eq(kv_store_size(s), 0);
    /* A write after the deadline sees the key as absent (NX sets it). */
    logged(s, cmd(KV_SET, "u", "1", KV_SET_EXPIRE_AT, 5000), 4000);
    r = logged(s, cmd(KV_SET, "u", "2", KV_SET_NX, 0), 5000);
    cr_assert_eq(r.num, 1);
    assert_value(s, "u", 5000, "2");
    /* The store's time follows the entries' and never goes back. */
    cr_assert_eq(kv_store_time(s), 5000);
    logged(s, cmd(KV_DEL, "u", NULL, 0, 0), 4500);
    cr_assert_eq(kv_store_time(s), 5000);
    kv_store_free(s);
}

Test(kv_ops, del_and_exists_count_and_versions_grow_with_each_write)
{
    struct kv_store *s = kv_store_new();
    logged(s, cmd(KV_SET, "a", "1", 0, 0), 1);
    logged(s, cmd(KV_SET, "b", "1", 0, 0), 1);
    logged(s, cmd(KV_SET, "a", "2", 0, 0), 1);
    struct kv_result r = read_at(s, cmd(KV_VERSION, "a", NULL, 0, 0), 1);
    cr_assert_eq(r.num, 3);
    r = read_at(s, cmd(KV_VERSION, "b", NULL, 0, 0), 1);
    cr_assert_eq(r.num, 2);
    r = read_at(s, cmd(KV_VERSION, "none", NULL, 0, 0), 1);
    cr_assert_eq(r.num, -3, "an absent key answers minus the write counter");
    r = read_at(s, cmd(KV_VERSION, "a", NULL, KV_VERSION_EXPECT, 2), 1);
    cr_assert_eq(r.code, 22);
    r = read_at(s, cmd(KV_VERSION, "a", NULL, KV_VERSION_EXPECT, 3), 1);
    cr_assert_eq(r.code, 0);
    r = logged(s, cmd(KV_DEL, "a", NULL, 0, 0), 1);
    cr_assert_eq(r.num, 1);
    r = logged(s, cmd(KV_DEL, "a", NULL, 0, 0), 1);
    cr_assert_eq(r.num, 0);
    r = read_at(s, cmd(KV_EXISTS, "b", NULL, 0, 0), 1);
    cr_assert_eq(r.num, 1);
    kv_store_free(s);
}

static struct kv_command multi(struct kv_command *subs, size_t n)
{
    struct kv_command m = {.op = KV_MULTI, .n_sub = n};
    m.sub = calloc(n, sizeof *m.sub);
    memcpy(m.sub, subs, n * sizeof *subs);
    return m;
}

Test(kv_ops, a_multi_applies_all_or_nothing_by_its_guards)
{
    struct kv_store *s = kv_store_new();
    logged(s, cmd(KV_SET, "w", "0", 0, 0), 1); /* version 1 */
    struct kv_command ok[] = {cmd(KV_VERSION, "w", NULL, KV_VERSION_EXPECT | KV_GUARD, 1),
                              cmd(KV_SET, "x", "1", 0, 0), cmd(KV_GET, "w", NULL, 0, 0)};
    struct kv_result r = logged(s, multi(ok, 3), 2);
    cr_assert_eq(r.code, 0);
    cr_assert_eq(r.n_sub, 3);
    cr_assert_eq(r.sub[1].num, 1);
    cr_assert_eq(r.sub[2].bytes[0], '0');
    kv_result_release(&r);
    assert_value(s, "x", 2, "1");
    /* w changed since: the guard fails and nothing applies. */
    logged(s, cmd(KV_SET, "w", "9", 0, 0), 3);
    struct kv_command stale[] = {cmd(KV_VERSION, "w", NULL, KV_VERSION_EXPECT | KV_GUARD, 1),
                                 cmd(KV_SET, "x", "2", 0, 0)};
    r = logged(s, multi(stale, 2), 4);
    cr_assert_eq(r.code, 22);
    kv_result_release(&r);
    assert_value(s, "x", 4, "1");
    /* A guard after an ordinary sub-command, or a guard that writes, is
     * malformed on every member alike. */
    struct kv_command late[] = {cmd(KV_SET, "x", "3", 0, 0),
                                cmd(KV_GET, "w", NULL, KV_GUARD, 0)};
    r = logged(s, multi(late, 2), 5);
    cr_assert_eq(r.code, 12);
    kv_result_release(&r);
    struct kv_command writes[] = {cmd(KV_SET, "x", "4", KV_GUARD, 0)};
    r = logged(s, multi(writes, 1), 5);
    cr_assert_eq(r.code, 12);
    kv_result_release(&r);
    assert_value(s, "x", 5, "1");
    kv_store_free(s);
}

Test(kv_ops, a_key_absent_at_watch_and_again_at_exec_changed_if_it_existed_between)
{
    struct kv_store *s = kv_store_new();
    logged(s, cmd(KV_SET, "other", "1", 0, 0), 1);
    struct kv_result r = read_at(s, cmd(KV_VERSION, "w", NULL, 0, 0), 1);
    int64_t watched = r.num;
    cr_assert_eq(watched, -1);
    r = read_at(s, cmd(KV_VERSION, "w", NULL, KV_VERSION_EXPECT, watched), 1);
    cr_assert_eq(r.code, 0, "nothing happened to w");
    logged(s, cmd(KV_SET, "other", "2", 0, 0), 2);
    r = read_at(s, cmd(KV_VERSION, "w", NULL, KV_VERSION_EXPECT, watched), 2);
    cr_assert_eq(r.code, 0, "writes to other keys do not count");
    logged(s, cmd(KV_SET, "w", "x", 0, 0), 3);
    r = read_at(s, cmd(KV_VERSION, "w", NULL, KV_VERSION_EXPECT, watched), 3);
    cr_assert_eq(r.code, 22, "created");
    logged(s, cmd(KV_DEL, "w", NULL, 0, 0), 4);
    r = read_at(s, cmd(KV_VERSION, "w", NULL, KV_VERSION_EXPECT, watched), 4);
    cr_assert_eq(r.code, 22, "created and deleted again");
    /* SET with a deadline already past leaves it absent, but wrote it. */
    r = read_at(s, cmd(KV_VERSION, "p", NULL, 0, 0), 4);
    watched = r.num;
    logged(s, cmd(KV_SET, "p", "x", KV_SET_EXPIRE_AT, 1), 4);
    r = read_at(s, cmd(KV_VERSION, "p", NULL, KV_VERSION_EXPECT, watched), 4);
    cr_assert_eq(r.code, 22, "SET ... PXAT <past> counts as a write");
    /* Created with a deadline that has passed: it existed, so it changed. */
    r = read_at(s, cmd(KV_VERSION, "e", NULL, 0, 0), 5);
    watched = r.num;
    logged(s, cmd(KV_SET, "e", "x", KV_SET_EXPIRE_AT, 6), 5);
    r = read_at(s, cmd(KV_VERSION, "e", NULL, KV_VERSION_EXPECT, watched), 7);
    cr_assert_eq(r.code, 22);
    kv_store_free(s);
}

Test(kv_ops, a_result_travels_as_bytes_and_back)
{
    struct kv_result r = {.code = 22, .num = -5};
    snprintf(r.text, sizeof r.text, "why");
    r.bytes = malloc(3);
    memcpy(r.bytes, "a\0b", 3);
    r.len = 3;
    r.sub = calloc(2, sizeof *r.sub);
    r.n_sub = 2;
    r.sub[1].num = 7;
    uint8_t *data;
    size_t len;
    cr_assert_eq(kv_result_encode(&r, &data, &len), 0);
    /* code, num, has_bytes, len, bytes, text_len, text, n_sub, two subs */
    cr_assert_eq(len, 4 + 8 + 1 + 4 + 3 + 1 + 3 + 4 + 2 * (13 + 1 + 4));
    struct kv_result d;
    cr_assert_eq(kv_result_decode(data, len, &d), 0);
    cr_assert_eq(d.code, 22);
    cr_assert_eq(d.num, -5);
    cr_assert_eq(d.len, 3);
    cr_assert_eq(memcmp(d.bytes, "a\0b", 3), 0);
    cr_assert_str_eq(d.text, "why");
    cr_assert_eq(d.n_sub, 2);
    cr_assert_eq(d.sub[1].num, 7);
    cr_assert_null(d.sub[0].bytes);
    kv_result_release(&d);
    cr_assert_eq(kv_result_decode(data, len - 1, &d), -1);
    free(data);
    kv_result_release(&r);
    /* A text longer than the field holds (159 bytes and its NUL), though
     * every byte of it is there: refused, not copied. */
    uint8_t big[13 + 1 + 200 + 4] = {0};
    big[13] = 200;
    memset(big + 14, 'a', 200);
    cr_assert_eq(kv_result_decode(big, sizeof big, &d), -1);
    big[13] = 159;
    cr_assert_eq(kv_result_decode(big, 13 + 1 + 159 + 4, &d), -1, "a sub-result count no bytes back");
    memmove(big + 14 + 159, big + 14 + 200, 4);
    cr_assert_eq(kv_result_decode(big, 13 + 1 + 159 + 4, &d), 0, "159 bytes fit");
    cr_assert_eq(strlen(d.text), 159);
    kv_result_release(&d);
}

Test(kv_ops, a_snapshot_keeps_types_deadlines_versions_and_time)
{
    struct kv_store *s = kv_store_new();
    logged(s, cmd(KV_SET, "bin\xff", "v\x00", 0, 0), 10);
    logged(s, cmd(KV_SET, "ttl", "x", KV_SET_EXPIRE_AT, 90000), 20);
    logged(s, cmd(KV_SET, "gone", "x", 0, 0), 20);
    logged(s, cmd(KV_DEL, "gone", NULL, 0, 0), 20); /* its bucket remembers */
    uint8_t *data;
    size_t len;
    cr_assert_eq(kv_snapshot(s, 7, 3, &data, &len), 0);
    struct kv_store *t = kv_store_new();
    uint64_t index, term;
    cr_assert_eq(kv_restore(t, data, len, &index, &term), 0);
    cr_assert_eq(index, 7);
    cr_assert_eq(term, 3);
    cr_assert(kv_store_equal(s, t));
    cr_assert_eq(kv_store_time(t), 20);
    assert_value(t, "ttl", 89999, "x");
    assert_value(t, "ttl", 90000, NULL);
    struct kv_result r = read_at(t, cmd(KV_VERSION, "ttl", NULL, 0, 0), 1);
    cr_assert_eq(r.num, 2);
    /* A WATCH of "gone" from before its delete still sees it changed. */
    r = read_at(t, cmd(KV_VERSION, "gone", NULL, KV_VERSION_EXPECT, -2), 30);
    cr_assert_eq(r.code, 22);
    /* The next write continues the restored counter. */
    logged(t, cmd(KV_SET, "n", "1", 0, 0), 30);
    r = read_at(t, cmd(KV_VERSION, "n", NULL, 0, 0), 30);
    cr_assert_eq(r.num, 5);
    free(data);
    kv_store_free(s);
    kv_store_free(t);
}
