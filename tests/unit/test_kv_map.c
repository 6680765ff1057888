/* test_kv_map.c - the store's hash map against a jansson object as the
 * model (key -> the integer whose decimal text the map holds as value
 * bytes): random sets, overwrites and deletes keep every lookup, the size
 * and the iteration equal to the model's; snapshots do not depend on the
 * order keys arrived in. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "kv/kv.h"
#include "kv/map.h"

static uint64_t test_seed(void)
{
    const char *env = getenv("RAFTKV_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 10) : 20261126;
    printf("kv map seed %llu (replay: RAFTKV_SEED=%llu)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    return seed;
}

/* Keys from a small space so that overwrites and deletes of present keys
 * are common, with some long keys so hashing sees more than one block. */
static size_t random_key(struct rng *g, char *buf, size_t cap)
{
    uint64_t k = rng_below(g, 3000);
    int n = k % 7 == 0 ? snprintf(buf, cap, "\"a-rather-long-key-%llu-xxxxxxxxxxxx\"", (unsigned long long)k)
                       : snprintf(buf, cap, "%llu", (unsigned long long)k);
    return (size_t)n;
}

static int map_set(struct kv_map *m, const char *key, size_t n, json_int_t v)
{
    char t[24];
    int len = snprintf(t, sizeof t, "%lld", (long long)v);
    return kv_map_put(m, key, n, KV_TYPE_STR, t, (size_t)len) ? 0 : -1;
}

/* The integer an entry's value bytes spell, or -1 for no entry. */
static long long entry_int(const struct kv_map_entry *e)
{
    if (!e)
        return -1;
    char t[24];
    snprintf(t, sizeof t, "%.*s", (int)kv_entry_value_len(e), kv_entry_value(e));
    return atoll(t);
}

static long long model_int(json_t *model, const char *k, size_t n)
{
    json_t *v = json_object_getn(model, k, n);
    return v ? (long long)json_integer_value(v) : -1;
}

static void assert_same_as_model(const struct kv_map *m, json_t *model)
{
    cr_assert_eq(m->size, json_object_size(model));
    size_t pos = 0, seen = 0;
    for (const struct kv_map_entry *e; (e = kv_map_next(m, &pos));) {
        long long want = model_int(model, kv_entry_key(e), kv_entry_key_len(e));
        cr_assert_neq(want, -1, "map holds %.*s, the model does not", (int)kv_entry_key_len(e), kv_entry_key(e));
        cr_assert_eq(entry_int(e), want, "value of %.*s", (int)kv_entry_key_len(e), kv_entry_key(e));
        seen++;
    }
    cr_assert_eq(seen, json_object_size(model), "iteration visits each entry once");
    const char *k;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach(model, k, klen, v)
    {
        cr_assert_eq(entry_int(kv_map_get(m, k, klen)), json_integer_value(v), "lookup of %s", k);
    }
}

/* drop_tags_at: the step at which the map switches to plain addresses
 * (as after an allocation past 48 bits); -1: never. */
static void random_run_agrees_with_a_model(int drop_tags_at)
{
    struct rng g;
    rng_seed(&g, test_seed());
    struct kv_map m;
    cr_assert_eq(kv_map_init(&m), 0);
    json_t *model = json_object();
    char key[96];
    for (int step = 0; step < 60000; step++) {
        size_t n = random_key(&g, key, sizeof key);
        uint64_t what = rng_below(&g, 10);
        if (what < 6) {
            json_int_t v = (json_int_t)rng_below(&g, 16);
            cr_assert_eq(map_set(&m, key, n, v), 0);
            json_object_setn_new(model, key, n, json_integer(v));
        } else if (what < 9) {
            int had = json_object_getn(model, key, n) != NULL;
            cr_assert_eq(kv_map_del(&m, key, n), had, "delete of %s at step %d", key, step);
            json_object_deln(model, key, n);
        } else {
            cr_assert_eq(entry_int(kv_map_get(&m, key, n)), model_int(model, key, n), "step %d", step);
        }
        if (step == drop_tags_at) {
            kv_map_drop_tags(&m);
            assert_same_as_model(&m, model);
        }
        if (step % 5000 == 0)
            assert_same_as_model(&m, model);
    }
    assert_same_as_model(&m, model);
    kv_map_free(&m);
    json_decref(model);
}

Test(kv_map, random_sets_overwrites_and_deletes_agree_with_a_model)
{
    random_run_agrees_with_a_model(-1);
}

Test(kv_map, a_map_that_drops_its_hash_tags_midway_still_agrees_with_a_model)
{
    random_run_agrees_with_a_model(30000);
}

Test(kv_map, bytes_count_the_one_word_slots_and_each_entry_until_it_is_deleted)
{
    struct kv_map m;
    cr_assert_eq(kv_map_init(&m), 0);
    cr_assert_eq(kv_map_bytes(&m), 512, "64 slots of 8 bytes, nothing else");
    cr_assert_eq(map_set(&m, "k", 1, 5), 0);
    size_t one = kv_map_bytes(&m);
    cr_assert_gt(one, 512 + 2, "the entry's header, key and value");
    cr_assert_eq(map_set(&m, "k", 1, 6), 0);
    cr_assert_eq(kv_map_bytes(&m), one, "an overwrite of the same size costs nothing more");
    cr_assert_eq(map_set(&m, "j", 1, 6), 0);
    cr_assert_eq(kv_map_bytes(&m) - 512, 2 * (one - 512));
    char key[32];
    for (int i = 0; i < 1000; i++)
        map_set(&m, key, (size_t)snprintf(key, sizeof key, "%d", i), 1);
    for (int i = 0; i < 1000; i++)
        kv_map_del(&m, key, (size_t)snprintf(key, sizeof key, "%d", i));
    kv_map_del(&m, "k", 1);
    kv_map_del(&m, "j", 1);
    cr_assert_eq(m.bytes, 0, "no entries");
    while (kv_map_rehashing(&m))
        kv_map_rehash_step(&m, 4096);
    cr_assert_eq(kv_map_bytes(&m), 512, "grown to 2048 slots, shrunk back to 64");
    kv_map_free(&m);
}

Test(kv_map, deleting_everything_leaves_an_empty_map_that_still_works)
{
    struct kv_map m;
    cr_assert_eq(kv_map_init(&m), 0);
    char key[32];
    for (int i = 0; i < 5000; i++)
        map_set(&m, key, (size_t)snprintf(key, sizeof key, "%d", i), 1);
    for (int i = 4999; i >= 0; i--)
        cr_assert_eq(kv_map_del(&m, key, (size_t)snprintf(key, sizeof key, "%d", i)), 1);
    cr_assert_eq(m.size, 0);
    size_t pos = 0;
    cr_assert_null(kv_map_next(&m, &pos));
    cr_assert_null(kv_map_get(&m, "1", 1));
    cr_assert_eq(map_set(&m, "1", 1, 7), 0);
    cr_assert_eq(entry_int(kv_map_get(&m, "1", 1)), 7);
    kv_map_free(&m);
}

Test(kv_map, keys_are_bytes_so_a_prefix_is_a_different_key)
{
    struct kv_map m;
    cr_assert_eq(kv_map_init(&m), 0);
    map_set(&m, "\"ab\"", 4, 1);
    map_set(&m, "\"ab", 3, 2);
    cr_assert_eq(entry_int(kv_map_get(&m, "\"ab\"", 4)), 1);
    cr_assert_eq(entry_int(kv_map_get(&m, "\"ab", 3)), 2);
    cr_assert_null(kv_map_get(&m, "\"a", 2));
    kv_map_free(&m);
}

static void write_key(struct kv_store *s, json_t *key, json_t *value)
{
    struct kv_command c = {.op = KV_WRITE, .key = key, .value = value};
    struct kv_result r;
    kv_apply(s, &c, 0, &r);
    cr_assert_eq(r.code, KV_OK);
}

Test(kv_map, snapshots_of_equal_maps_restore_equal_maps_whatever_the_write_order)
{
    /* Keys whose text needs escaping inside the snapshot object too. */
    json_t *keys[] = {json_string("quote\"d"), json_string("back\\slash"), json_integer(-7),
                      json_loads("{\"b\":[1,\"x\"],\"a\":null}", 0, NULL), json_string("plain"),
                      json_string("ünïcödé"), json_stringn("nul\0byte", 8)};
    size_t n = sizeof keys / sizeof keys[0];
    struct kv_store *fwd = kv_store_new(), *rev = kv_store_new();
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_integer((json_int_t)i);
        write_key(fwd, keys[i], v);
        json_decref(v);
    }
    for (size_t i = n; i-- > 0;) {
        json_t *v = json_integer((json_int_t)i);
        write_key(rev, keys[i], v);
        json_decref(v);
    }
    uint8_t *a, *b;
    size_t alen, blen;
    cr_assert_eq(kv_snapshot(fwd, 9, 2, &a, &alen), 0);
    cr_assert_eq(kv_snapshot(rev, 9, 2, &b, &blen), 0);
    cr_assert(kv_store_equal(fwd, rev));

    /* And the image is what it claims: it restores every key. */
    struct kv_store *back = kv_store_new();
    cr_assert_eq(kv_restore(back, a, alen, NULL, NULL), 0);
    cr_assert(kv_store_equal(back, fwd));
    cr_assert_eq(kv_store_size(back), n);
    for (size_t i = 0; i < n; i++) {
        struct kv_command c = {.op = KV_READ, .key = keys[i]};
        struct kv_result r;
        kv_apply(back, &c, 0, &r);
        cr_assert_eq(r.code, KV_OK, "key %zu", i);
        cr_assert_eq(json_integer_value(r.value), (json_int_t)i);
        json_decref(r.value);
        json_decref(keys[i]);
    }
    free(a);
    free(b);
    kv_store_free(fwd);
    kv_store_free(rev);
    kv_store_free(back);
}

Test(kv_map, a_16_byte_key_with_a_100_byte_value_takes_128_bytes)
{
    struct kv_map m;
    cr_assert_eq(kv_map_init(&m), 0);
    char value[100];
    memset(value, 'v', sizeof value);
    struct kv_map_entry *e = kv_map_put(&m, "key:000000000042", 16, KV_TYPE_STR, value, 100);
    cr_assert_not_null(e);
    cr_assert_eq(kv_map_bytes(&m) - 512, 128,
                 "a 10-byte header, 2 bytes of lengths, 116 of data: jemalloc's 128 class");
    cr_assert_eq(kv_entry_key_len(e), 16);
    cr_assert_eq(kv_entry_value_len(e), 100);
    cr_assert_eq(memcmp(kv_entry_key(e), "key:000000000042", 16), 0);
    cr_assert_eq(memcmp(kv_entry_value(e), value, 100), 0);
    kv_map_free(&m);
}

Test(kv_map, long_keys_and_values_keep_their_lengths_and_bytes)
{
    struct kv_map m;
    cr_assert_eq(kv_map_init(&m), 0);
    size_t lens[] = {0, 1, 127, 128, 16383, 16384, 70000};
    static char key[70001], value[70001];
    for (size_t i = 0; i < sizeof key; i++) {
        key[i] = (char)('a' + i % 26);
        value[i] = (char)(i * 7);
    }
    for (size_t i = 0; i < 7; i++)
        for (size_t j = 0; j < 7; j++) {
            size_t kl = lens[i] ? lens[i] : 1, vl = lens[j];
            cr_assert_not_null(kv_map_put(&m, key, kl, KV_TYPE_STR, value, vl));
            const struct kv_map_entry *e = kv_map_get(&m, key, kl);
            cr_assert_not_null(e);
            cr_assert_eq(kv_entry_key_len(e), kl);
            cr_assert_eq(kv_entry_value_len(e), vl, "key %zu value %zu", kl, vl);
            cr_assert_eq(memcmp(kv_entry_key(e), key, kl), 0);
            cr_assert_eq(memcmp(kv_entry_value(e), value, vl), 0);
        }
    kv_map_free(&m);
}

Test(kv_map, deadlines_follow_their_keys_through_overwrites_deletes_and_growth)
{
    struct rng g;
    rng_seed(&g, test_seed());
    struct kv_map m;
    cr_assert_eq(kv_map_init(&m), 0);
    enum { KEYS = 300 };
    int64_t want[KEYS]; /* -1: absent; else the deadline (0: none) */
    for (int i = 0; i < KEYS; i++)
        want[i] = -1;
    char key[16];
    for (int step = 0; step < 40000; step++) {
        int k = (int)rng_below(&g, KEYS);
        size_t n = (size_t)snprintf(key, sizeof key, "k%d", k);
        uint64_t what = rng_below(&g, 10);
        if (what < 4) {
            cr_assert_eq(map_set(&m, key, n, step), 0);
            want[k] = 0; /* a new entry has no deadline */
        } else if (what < 6) {
            kv_map_del(&m, key, n);
            want[k] = -1;
        } else if (want[k] >= 0) {
            int64_t at = what < 8 ? 1000 + step : 0;
            cr_assert_eq(kv_map_set_expiry(&m, kv_map_get(&m, key, n), at), 0);
            want[k] = at;
        }
        if (step % 1000 == 0 || step == 39999) {
            size_t expiring = 0;
            for (int i = 0; i < KEYS; i++) {
                n = (size_t)snprintf(key, sizeof key, "k%d", i);
                const struct kv_map_entry *e = kv_map_get(&m, key, n);
                cr_assert_eq(e != NULL, want[i] >= 0, "key %d at step %d", i, step);
                if (e)
                    cr_assert_eq(kv_map_expiry(&m, e), want[i], "deadline of %d at step %d", i, step);
                expiring += want[i] > 0;
            }
            cr_assert_eq(kv_map_expiring(&m), expiring, "step %d", step);
        }
    }
    kv_map_free(&m);
}

Test(kv_map, a_reserved_map_holds_that_many_keys_without_growing)
{
    struct kv_map m;
    cr_assert_eq(kv_map_init(&m), 0);
    cr_assert_eq(kv_map_reserve(&m, 1000), 0);
    cr_assert_eq(m.mask + 1, 2048, "1000 keys fit 70%% of 2048 slots");
    char key[32];
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(map_set(&m, key, (size_t)snprintf(key, sizeof key, "%d", i), i), 0);
    cr_assert_eq(m.mask + 1, 2048, "no growth");
    cr_assert_eq(kv_map_reserve(&m, 3000), 0, "reserving more grows a full map");
    cr_assert_eq(m.mask + 1, 8192);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(entry_int(kv_map_get(&m, key, (size_t)snprintf(key, sizeof key, "%d", i))), i);
    kv_map_free(&m);
}

static void count_visit(void *ctx, const struct kv_map_entry *e)
{
    (void)e;
    (*(size_t *)ctx)++;
}

/* A map given the cluster's key after it filled (a cluster made before
 * the key existed, or a map loaded before) places every entry again:
 * each is still found, and a full SCAN returns each once. The same key
 * again changes nothing; kv_map_key reads it back. */
Test(kv_map, a_filled_map_given_the_clusters_key_still_finds_every_key)
{
    struct kv_map m;
    cr_assert_eq(kv_map_init(&m), 0);
    uint8_t key[KV_MAP_KEY_BYTES], back[KV_MAP_KEY_BYTES];
    cr_assert(!kv_map_key(&m, back));
    for (int i = 0; i < KV_MAP_KEY_BYTES; i++)
        key[i] = (uint8_t)(0xa0 + i);
    char k[32];
    for (int i = 0; i < 3000; i++)
        cr_assert_eq(map_set(&m, k, (size_t)snprintf(k, sizeof k, "k%d", i), i), 0);
    kv_map_set_key(&m, key);
    kv_map_set_key(&m, key);
    cr_assert(kv_map_key(&m, back));
    cr_assert_eq(memcmp(back, key, sizeof key), 0);
    for (int i = 0; i < 3000; i++) {
        const struct kv_map_entry *e = kv_map_get(&m, k, (size_t)snprintf(k, sizeof k, "k%d", i));
        cr_assert_not_null(e, "k%d lost", i);
        cr_assert_eq(entry_int(e), i);
    }
    size_t seen = 0;
    uint64_t cursor = 0;
    do
        cursor = kv_map_scan(&m, cursor, 10, 100, count_visit, &seen);
    while (cursor != 0);
    cr_assert_eq(seen, 3000);
    for (int i = 0; i < 3000; i += 2)
        cr_assert_eq(kv_map_del(&m, k, (size_t)snprintf(k, sizeof k, "k%d", i)), 1);
    cr_assert_eq(m.size, 1500);
    kv_map_free(&m);
}
