/* test_kv_entry_hint.c - the key hint of an entry's bytes and the cache
 * hints built on it (kv.h kv_entry_key_hint, kv_prefetch_slot/_entry): the
 * key a one-op entry names, at its place in the layout (a 15-byte entry
 * head, a 22-byte op head, a 4-byte length), nothing for what names no
 * key or is cut short, and hints that change nothing in the map. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv.h"

static uint8_t *encode(enum kv_op op, const char *key, const char *arg0, size_t *len)
{
    struct kv_command c = {.op = op};
    if (key)
        cr_assert_eq(kv_str_set(&c.skey, key, strlen(key)), 0);
    if (arg0)
        cr_assert_eq(kv_str_set(&c.arg[0], arg0, strlen(arg0)), 0);
    uint8_t *data;
    cr_assert_eq(kv_command_encode(&c, &data, len), 0);
    kv_command_release(&c);
    return data;
}

Test(kv_entry_hint, a_set_names_its_key_at_byte_41)
{
    size_t len;
    uint8_t *d = encode(KV_SET, "key:000000000042", "value", &len);
    const uint8_t *key = NULL;
    size_t n = 0;
    cr_assert(kv_entry_key_hint(d, len, &key, &n));
    cr_assert_eq(n, 16);
    cr_assert_eq(key, d + 41);
    cr_assert(memcmp(key, "key:000000000042", 16) == 0);
    free(d);
}

Test(kv_entry_hint, no_key_from_a_multi_json_bytes_or_nothing)
{
    struct kv_command m = {.op = KV_MULTI, .n_sub = 2};
    m.sub = calloc(2, sizeof *m.sub);
    for (int i = 0; i < 2; i++) {
        m.sub[i].op = KV_SET;
        cr_assert_eq(kv_str_set(&m.sub[i].skey, "k", 1), 0);
        cr_assert_eq(kv_str_set(&m.sub[i].arg[0], "v", 1), 0);
    }
    uint8_t *d;
    size_t len;
    cr_assert_eq(kv_command_encode(&m, &d, &len), 0);
    kv_command_release(&m);
    const uint8_t *key = NULL;
    size_t n = 0;
    cr_assert_not(kv_entry_key_hint(d, len, &key, &n), "a MULTI names several keys");
    free(d);
    const char *json = "{\"op\":\"write\",\"key\":1,\"value\":2}";
    cr_assert_not(kv_entry_key_hint((const uint8_t *)json, strlen(json), &key, &n));
    cr_assert_not(kv_entry_key_hint(NULL, 0, &key, &n));
}

Test(kv_entry_hint, an_entry_cut_short_or_lying_about_its_key_names_none_past_its_end)
{
    size_t len;
    uint8_t *d = encode(KV_SET, "key:000000000042", "value", &len);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *c = malloc(cut ? cut : 1); /* exact size: ASan sees a read past it */
        memcpy(c, d, cut);
        const uint8_t *key = NULL;
        size_t n = 0;
        if (kv_entry_key_hint(c, cut, &key, &n))
            cr_assert_leq((size_t)(key - c) + n, cut, "cut at %zu", cut);
        else
            cr_assert_lt(cut, 57, "cut at %zu: the whole key is there", cut);
        free(c);
    }
    /* The key's length field (bytes 37-40) claims more than there is. */
    d[37] = 0xff;
    d[38] = 0xff;
    const uint8_t *key = NULL;
    size_t n = 0;
    cr_assert_not(kv_entry_key_hint(d, len, &key, &n));
    free(d);
}

Test(kv_entry_hint, hints_change_nothing_in_the_map)
{
    struct kv_store *a = kv_store_new(), *b = kv_store_new();
    struct kv_result r;
    for (unsigned i = 0; i < 5000; i++) {
        char key[32];
        snprintf(key, sizeof key, "key:%012u", (i * 7919u) % 3000u);
        size_t len;
        uint8_t *d = encode(i % 5 == 4 ? KV_DEL : KV_SET, key, i % 5 == 4 ? NULL : key, &len);
        uint64_t h = 0;
        if (kv_prefetch_slot(b, d, len, &h))
            kv_prefetch_entry(b, h);
        kv_prefetch_entry(b, h ^ 0x9e3779b97f4a7c15u); /* a stale or wrong hash: still only a hint */
        kv_apply_bytes(a, d, len, 0, &r);
        kv_result_release(&r);
        kv_apply_bytes(b, d, len, 0, &r);
        kv_result_release(&r);
        free(d);
    }
    cr_assert_gt(kv_store_size(a), 0);
    cr_assert(kv_store_equal(a, b));
    kv_store_free(a);
    kv_store_free(b);
}
