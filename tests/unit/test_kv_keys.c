/* test_kv_keys.c - the keyspace operations: TYPE, RENAME (NX), COPY
 * (REPLACE), KEYS with a glob and deadlines, DBSIZE, FLUSH and WATCH,
 * RANDOMKEY and its bound; KEYS inside a transaction refused from the
 * bound its entry carries (0: none); kv_list's layout; SCAN's bound per call; and SCAN's guarantee: a cursor made on one
 * store continues on another (which shares the cluster's hash key but lays
 * its slots out under its own secret) whose table has another size (as a
 * member that restored a snapshot), and a full iteration returns every
 * key present throughout, under random writes, also when the cluster's
 * key arrives mid-SCAN (seeded; RAFTKV_SEED replays). */
#include <stdio.h>

#include "common/rng.h"
#include "kv/kv_internal.h"
#include "kv/map.h"
#include "kv_test_util.h"

static uint64_t test_seed(void)
{
    const char *env = getenv("RAFTKV_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 10) : 20261206;
    printf("kv keys seed %llu (replay: RAFTKV_SEED=%llu)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    return seed;
}

static bool bytes_are(const struct kv_result *r, const char *want)
{
    return r->bytes && r->len == strlen(want) && memcmp(r->bytes, want, r->len) == 0;
}

/* A KEYS result's keys (kv_bulks, every byte of them, as many as num
 * says), sorted and joined with ',' into out. */
static void list_text(const struct kv_result *r, char *out, size_t cap)
{
    char *keys[256];
    size_t n = 0, pos = 0, len;
    const uint8_t *k;
    while (kv_bulks_next(r->bytes, r->len, &pos, &k, &len) && n < 256)
        keys[n++] = strndup((const char *)k, len);
    cr_assert_eq(pos, r->len);
    cr_assert_eq(r->num, (int64_t)n);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
            char *t = keys[j];
            keys[j] = keys[j - 1];
            keys[j - 1] = t;
        }
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? "," : "", keys[i]);
        free(keys[i]);
    }
}

Test(kv_keys, a_list_is_length_prefixed_keys)
{
    size_t pos = 0, len;
    const uint8_t *k;
    cr_assert(kv_list_next((const uint8_t *)"\x02\x00\x00\x00" "ab", 6, &pos, &k, &len));
    cr_assert_eq(len, 2);
    cr_assert_eq(memcmp(k, "ab", 2), 0);
    /* a truncated list ends the walk */
    pos = 0;
    cr_assert(!kv_list_next((const uint8_t *)"\x05\x00\x00\x00" "ab", 6, &pos, &k, &len));
}

Test(kv_keys, keys_answers_the_replys_bulk_strings_and_their_count)
{
    struct kv_store *s = kv_store_new();
    struct kv_result r = kt_read(s, kt_cmd(KV_KEYS, NULL, "*", 0, 0), 1);
    cr_assert_eq(r.code, 0);
    cr_assert(r.bytes != NULL); /* an empty list, not none */
    cr_assert_eq(r.len, 0);
    cr_assert_eq(r.num, 0);
    kv_result_release(&r);
    kt_set(s, "ab", "v", 1);
    r = kt_read(s, kt_cmd(KV_KEYS, NULL, "*", 0, 0), 1);
    cr_assert(bytes_are(&r, "$2\r\nab\r\n"));
    cr_assert_eq(r.num, 1);
    kv_result_release(&r);
    /* a key with CRLF inside, one of 12 bytes (two digits), an empty one */
    kv_store_free(s);
    s = kv_store_new();
    kt_set(s, "a\r\n$1\r\nb", "v", 1);
    r = kt_read(s, kt_cmd(KV_KEYS, NULL, "*", 0, 0), 1);
    cr_assert(bytes_are(&r, "$8\r\na\r\n$1\r\nb\r\n"));
    kv_result_release(&r);
    kt_set(s, "0123456789ab", "v", 1);
    r = kt_read(s, kt_cmd(KV_KEYS, NULL, "0*", 0, 0), 1);
    cr_assert(bytes_are(&r, "$12\r\n0123456789ab\r\n"));
    cr_assert_eq(r.num, 1);
    kv_result_release(&r);
    kt_set(s, "", "v", 1);
    r = kt_read(s, kt_cmd(KV_KEYS, NULL, "", 0, 0), 1);
    cr_assert(bytes_are(&r, "$0\r\n\r\n"));
    cr_assert_eq(r.num, 1);
    kv_result_release(&r);
    r = kt_read(s, kt_cmd(KV_KEYS, NULL, "*", 0, 0), 1);
    cr_assert_eq(r.num, 3);
    cr_assert_eq(r.len, strlen("$8\r\na\r\n$1\r\nb\r\n$12\r\n0123456789ab\r\n$0\r\n\r\n"));
    kv_result_release(&r);
    kv_store_free(s);
}

Test(kv_keys, bulks_next_walks_keys_and_stops_at_malformed_bytes)
{
    const char *ok = "$3\r\na\r\n\r\n$0\r\n\r\n";
    size_t pos = 0, len;
    const uint8_t *k;
    cr_assert(kv_bulks_next((const uint8_t *)ok, strlen(ok), &pos, &k, &len));
    cr_assert_eq(len, 3);
    cr_assert_eq(memcmp(k, "a\r\n", 3), 0);
    cr_assert(kv_bulks_next((const uint8_t *)ok, strlen(ok), &pos, &k, &len));
    cr_assert_eq(len, 0);
    cr_assert_eq(pos, strlen(ok));
    cr_assert(!kv_bulks_next((const uint8_t *)ok, strlen(ok), &pos, &k, &len));
    const char *bad[] = {"$4\r\nab\r\n", "$2\r\nabc\r\n", "$\r\n\r\n", "2\r\nab\r\n",
                         "$2\nab\r\n", "$2\r\nab\r", "$99999999999999999999999\r\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pos = 0;
        cr_assert(!kv_bulks_next((const uint8_t *)bad[i], strlen(bad[i]), &pos, &k, &len), "%zu", i);
    }
}

Test(kv_keys, type_rename_and_copy)
{
    struct kv_store *s = kv_store_new();
    kt_set(s, "a", "1", 1000);
    struct kv_result r = kt_read(s, kt_cmd(KV_TYPE, "a", NULL, 0, 0), 1000);
    cr_assert(bytes_are(&r, "string"));
    kv_result_release(&r);
    r = kt_read(s, kt_cmd(KV_TYPE, "zz", NULL, 0, 0), 1000);
    cr_assert(bytes_are(&r, "none"));
    kv_result_release(&r);

    r = kt_logged(s, kt_cmd(KV_RENAME, "zz", "b", 0, 0), 1000);
    cr_assert_eq(r.code, 20);
    kv_result_release(&r);
    kt_w(s, kt_cmd(KV_EXPIRE, "a", NULL, 0, 9000), 1000);
    cr_assert_eq(kt_w(s, kt_cmd(KV_RENAME, "a", "b", 0, 0), 1000), 1);
    cr_assert_eq(kt_r(s, kt_cmd(KV_EXISTS, "a", NULL, 0, 0), 1000), 0);
    cr_assert_eq(kt_r(s, kt_cmd(KV_TTL, "b", NULL, KV_TTL_AT, 0), 1000), 9000);
    kt_set(s, "c", "3", 1000);
    cr_assert_eq(kt_w(s, kt_cmd(KV_RENAME, "b", "c", KV_RENAME_NX, 0), 1000), 0);
    cr_assert_eq(kt_w(s, kt_cmd(KV_RENAME, "b", "b", KV_RENAME_NX, 0), 1000), 0);
    cr_assert_eq(kt_w(s, kt_cmd(KV_RENAME, "b", "b", 0, 0), 1000), 1);
    cr_assert_eq(kt_w(s, kt_cmd(KV_RENAME, "b", "c", 0, 0), 1000), 1); /* overwrites */
    r = kt_read(s, kt_cmd(KV_GET, "c", NULL, 0, 0), 1000);
    cr_assert(bytes_are(&r, "1"));
    kv_result_release(&r);
    cr_assert_eq(kv_store_size(s), 1);

    cr_assert_eq(kt_w(s, kt_cmd(KV_COPY, "c", "d", 0, 0), 1000), 1);
    cr_assert_eq(kt_r(s, kt_cmd(KV_TTL, "d", NULL, KV_TTL_AT, 0), 1000), 9000);
    kt_set(s, "d", "other", 1000);
    cr_assert_eq(kt_w(s, kt_cmd(KV_COPY, "c", "d", 0, 0), 1000), 0);
    cr_assert_eq(kt_w(s, kt_cmd(KV_COPY, "c", "d", KV_COPY_REPLACE, 0), 1000), 1);
    cr_assert_eq(kt_w(s, kt_cmd(KV_COPY, "nokey", "d", KV_COPY_REPLACE, 0), 1000), 0);
    r = kt_read(s, kt_cmd(KV_GET, "d", NULL, 0, 0), 1000);
    cr_assert(bytes_are(&r, "1"));
    kv_result_release(&r);
    /* past c's deadline the copy and the rename find no source */
    cr_assert_eq(kt_w(s, kt_cmd(KV_COPY, "c", "e", 0, 0), 9000), 0);
    kv_store_free(s);
}

Test(kv_keys, keys_matches_live_keys_only)
{
    struct kv_store *s = kv_store_new();
    kt_set(s, "user:1", "a", 1000);
    kt_set(s, "user:2", "b", 1000);
    kt_set(s, "user:10", "c", 1000);
    kt_set(s, "order:1", "d", 1000);
    kt_w(s, kt_cmd(KV_EXPIRE, "user:2", NULL, 0, 2000), 1000);
    char text[256];
    struct kv_result r = kt_read(s, kt_cmd(KV_KEYS, NULL, "user:?", 0, 0), 1500);
    list_text(&r, text, sizeof text);
    cr_assert_str_eq(text, "user:1,user:2");
    kv_result_release(&r);
    r = kt_read(s, kt_cmd(KV_KEYS, NULL, "user:*", 0, 0), 2000);
    list_text(&r, text, sizeof text);
    cr_assert_str_eq(text, "user:1,user:10");
    kv_result_release(&r);
    r = kt_read(s, kt_cmd(KV_KEYS, NULL, "*", 0, 0), 2000);
    list_text(&r, text, sizeof text);
    cr_assert_str_eq(text, "order:1,user:1,user:10");
    kv_result_release(&r);
    r = kt_read(s, kt_cmd(KV_KEYS, NULL, "nomatch*", 0, 0), 2000);
    cr_assert_eq(r.code, 0);
    cr_assert_eq(r.len, 0);
    kv_result_release(&r);
    /* DBSIZE counts a key until its removal, as Redis's */
    cr_assert_eq(kt_r(s, kt_cmd(KV_DBSIZE, NULL, NULL, 0, 0), 2000), 4);
    kv_store_free(s);
}

/* One EXEC's entry, through its bytes as every member applies it: KEYS *
 * carrying `bound` (kv.h's KV_KEYS num[0]), then SET after 1. */
static struct kv_result exec_keys_then_set(struct kv_store *s, int64_t bound, int64_t at)
{
    struct kv_command tx = {.op = KV_MULTI, .n_sub = 2};
    tx.sub = calloc(2, sizeof *tx.sub);
    cr_assert_not_null(tx.sub);
    tx.sub[0] = kt_cmd(KV_KEYS, NULL, "*", 0, bound);
    tx.sub[1] = kt_cmd(KV_SET, "after", "1", 0, 0);
    struct kv_result r = kt_logged(s, tx, at);
    cr_assert_eq(r.code, 0, "%s", r.text);
    cr_assert_eq(r.n_sub, 2);
    cr_assert_eq(r.sub[1].code, 0, "%s", r.sub[1].text);
    return r;
}

Test(kv_keys, keys_inside_a_transaction_is_refused_from_the_entrys_bound)
{
    struct kv_store *s = kv_store_new();
    kt_set(s, "k1", "v", 1000);
    kt_set(s, "k2", "v", 1000);
    kt_set(s, "k3", "v", 1000);
    /* a map of 3 keys and the bound 3: refused, no keys; the SET applies */
    struct kv_result r = exec_keys_then_set(s, 3, 1000);
    cr_assert_eq(r.sub[0].code, 12);
    cr_assert_str_eq(r.sub[0].text, "KEYS inside MULTI on a key space of 3 keys or more (--keys-walk-min) "
                                    "would hold every member's event loop; run KEYS outside MULTI or use SCAN");
    cr_assert_null(r.sub[0].bytes);
    kv_result_release(&r);
    struct kv_result g = kt_read(s, kt_cmd(KV_GET, "after", NULL, 0, 0), 1000);
    cr_assert(bytes_are(&g, "1"));
    kv_result_release(&g);
    kt_w(s, kt_cmd(KV_DEL, "after", NULL, 0, 0), 1000);

    /* the bound 4, one key more than the map holds: the keys */
    char text[256];
    r = exec_keys_then_set(s, 4, 1000);
    cr_assert_eq(r.sub[0].code, 0, "%s", r.sub[0].text);
    list_text(&r.sub[0], text, sizeof text);
    cr_assert_str_eq(text, "k1,k2,k3");
    kv_result_release(&r);
    /* now 4 keys (after is back): the same bound refuses */
    r = exec_keys_then_set(s, 4, 1000);
    cr_assert_eq(r.sub[0].code, 12);
    kv_result_release(&r);

    /* 0, an entry made before the bound existed: no bound */
    r = exec_keys_then_set(s, 0, 1000);
    cr_assert_eq(r.sub[0].code, 0, "%s", r.sub[0].text);
    list_text(&r.sub[0], text, sizeof text);
    cr_assert_str_eq(text, "after,k1,k2,k3");
    kv_result_release(&r);

    /* the map's size decides, keys past their deadline not yet removed
     * included (every member holds the same ones at the same entry): 2 of
     * 4 live and the bound 3 still refuse */
    kt_w(s, kt_cmd(KV_EXPIRE, "k1", NULL, 0, 2000), 1000);
    kt_w(s, kt_cmd(KV_EXPIRE, "k2", NULL, 0, 2000), 1000);
    r = kt_read(s, kt_cmd(KV_KEYS, NULL, "*", 0, 0), 3000);
    list_text(&r, text, sizeof text);
    cr_assert_str_eq(text, "after,k3");
    kv_result_release(&r);
    r = exec_keys_then_set(s, 3, 3000);
    cr_assert_eq(r.sub[0].code, 12);
    kv_result_release(&r);
    kv_store_free(s);
}

Test(kv_keys, flush_deletes_everything_and_watch_sees_it)
{
    struct kv_store *s = kv_store_new();
    kt_set(s, "a", "1", 1000);
    kt_set(s, "b", "2", 1000);
    kt_w(s, kt_cmd(KV_EXPIRE, "b", NULL, 0, 5000), 1000);
    int64_t va = kt_r(s, kt_cmd(KV_VERSION, "a", NULL, 0, 0), 1000);
    int64_t vx = kt_r(s, kt_cmd(KV_VERSION, "x", NULL, 0, 0), 1000);
    cr_assert_eq(kt_w(s, kt_cmd(KV_FLUSH, NULL, NULL, 0, 0), 1000), 1);
    cr_assert_eq(kv_store_size(s), 0);
    cr_assert_eq(kv_store_expiring(s), 0);
    struct kv_result r = kt_read(s, kt_cmd(KV_VERSION, "a", NULL, KV_VERSION_EXPECT, va), 1000);
    cr_assert_eq(r.code, 22);
    kv_result_release(&r);
    /* an absent key stays unchanged, unless it shares a deleted bucket */
    r = kt_read(s, kt_cmd(KV_VERSION, "x", NULL, KV_VERSION_EXPECT, vx), 1000);
    cr_assert_eq(r.code, 0);
    kv_result_release(&r);
    kt_set(s, "c", "3", 1000);
    cr_assert_eq(kv_store_size(s), 1);
    kv_store_free(s);
}

/* From 16384 keys (16 per delete bucket) FLUSHALL hands the whole map to
 * the owner (kv_store_take_flushed) instead of freeing it in place; below,
 * it frees in place and hands nothing. Either way the store is empty and
 * usable, with the cluster's hash key, and a WATCH sees the keys deleted. */
Test(kv_keys, a_large_flush_detaches_the_map_for_the_owner)
{
    struct kv_store *s = kv_store_new();
    uint8_t key[KV_MAP_KEY_BYTES];
    for (int i = 0; i < KV_MAP_KEY_BYTES; i++)
        key[i] = (uint8_t)(i * 7 + 1);
    kv_map_set_key(&s->map, key);
    char k[32];
    for (int i = 0; i < 16383; i++) {
        snprintf(k, sizeof k, "key:%d", i);
        kt_set(s, k, "v", 1000);
    }
    cr_assert_eq(kt_w(s, kt_cmd(KV_FLUSH, NULL, NULL, 0, 0), 1000), 1);
    cr_assert_null(kv_store_take_flushed(s), "16383 keys are freed in place");
    for (int i = 0; i < 16384; i++) {
        snprintf(k, sizeof k, "key:%d", i);
        kt_set(s, k, "v", 1000);
    }
    int64_t v7 = kt_r(s, kt_cmd(KV_VERSION, "key:7", NULL, 0, 0), 1000);
    int64_t vx = kt_r(s, kt_cmd(KV_VERSION, "absent", NULL, 0, 0), 1000);
    cr_assert_eq(kt_w(s, kt_cmd(KV_FLUSH, NULL, NULL, 0, 0), 1000), 1);
    cr_assert_eq(kv_store_size(s), 0);
    struct kv_store *old = kv_store_take_flushed(s);
    cr_assert_not_null(old, "16384 keys leave with their map");
    cr_assert_eq(kv_store_size(old), 16384);
    cr_assert_null(kv_store_take_flushed(s), "taken once");
    struct kv_result r = kt_read(s, kt_cmd(KV_VERSION, "key:7", NULL, KV_VERSION_EXPECT, v7), 1000);
    cr_assert_eq(r.code, 22, "a WATCH on a flushed key sees it changed");
    kv_result_release(&r);
    r = kt_read(s, kt_cmd(KV_VERSION, "absent", NULL, KV_VERSION_EXPECT, vx), 1000);
    cr_assert_eq(r.code, 22, "every bucket took the new version");
    kv_result_release(&r);
    uint8_t got[KV_MAP_KEY_BYTES];
    cr_assert(kv_map_key(&s->map, got), "the empty map keeps the cluster's hash key");
    cr_assert_eq(memcmp(got, key, sizeof key), 0);
    kt_set(s, "key:7", "again", 1000);
    cr_assert_eq(kv_store_size(s), 1);
    r = kt_read(s, kt_cmd(KV_GET, "key:7", NULL, 0, 0), 1000);
    cr_assert(bytes_are(&r, "again"));
    kv_result_release(&r);
    kv_store_free(old);
    /* Not taken: freed with the store (ASan checks). */
    for (int i = 0; i < 16384; i++) {
        snprintf(k, sizeof k, "key:%d", i);
        kt_set(s, k, "v", 1000);
    }
    cr_assert_eq(kt_w(s, kt_cmd(KV_FLUSH, NULL, NULL, 0, 0), 1000), 1);
    kv_store_free(s);
}

Test(kv_keys, randomkey_answers_a_live_key)
{
    struct kv_store *s = kv_store_new();
    struct kv_result r = kt_read(s, kt_cmd(KV_RANDOMKEY, NULL, NULL, 0, 7), 1000);
    cr_assert_eq(r.code, 20);
    kv_result_release(&r);
    kt_set(s, "a", "1", 1000);
    kt_set(s, "b", "2", 1000);
    kt_w(s, kt_cmd(KV_EXPIRE, "b", NULL, 0, 2000), 1000);
    bool saw_b = false;
    for (int64_t seed = 0; seed < 64; seed++) {
        r = kt_read(s, kt_cmd(KV_RANDOMKEY, NULL, NULL, 0, seed * 0x9e3779b97f4a7c15), 1500);
        cr_assert(bytes_are(&r, "a") || bytes_are(&r, "b"));
        saw_b |= bytes_are(&r, "b");
        kv_result_release(&r);
        r = kt_read(s, kt_cmd(KV_RANDOMKEY, NULL, NULL, 0, seed * 0x9e3779b97f4a7c15), 2000);
        cr_assert(bytes_are(&r, "a"));
        kv_result_release(&r);
    }
    cr_assert(saw_b);
    kv_store_free(s);
}

static bool accept_none(void *ctx, const struct kv_map_entry *e)
{
    (void)e;
    (*(size_t *)ctx)++;
    return false;
}

/* RANDOMKEY with nearly every key past its deadline (a mass expiry the
 * leader is still removing): it looks at no more slots than num[1] says,
 * so it may answer "no keys" while one is live, rather than walk the map. */
Test(kv_keys, randomkey_looks_at_no_more_slots_than_its_bound)
{
    struct kv_store *s = kv_store_new();
    char k[16];
    for (int i = 0; i < 5000; i++) {
        snprintf(k, sizeof k, "k%d", i);
        kt_set(s, k, "v", 1000);
        kt_w(s, kt_cmd(KV_EXPIRE, k, NULL, 0, 2000), 1000);
    }
    kt_set(s, "live", "v", 1000);
    cr_assert_eq(s->map.mask + 1, 8192, "the table these figures assume");
    /* the map's own count of the slots looked at: occupied ones are offered */
    size_t offered = 0;
    cr_assert_null(kv_map_pick(&s->map, 99, 100, accept_none, &offered));
    cr_assert(offered >= 1 && offered <= 100, "%zu entries offered for a bound of 100 slots", offered);
    offered = 0;
    cr_assert_null(kv_map_pick(&s->map, 99, 10, accept_none, &offered));
    cr_assert(offered <= 10, "%zu entries offered for a bound of 10 slots", offered);
    offered = 0;
    cr_assert_null(kv_map_pick(&s->map, 99, SIZE_MAX, accept_none, &offered));
    cr_assert(offered > 5001 && offered <= 5001 + 64,
              "no bound: the 64 draws' entries, then every entry once (%zu)", offered);
    int missed = 0;
    for (int64_t seed = 1; seed <= 32; seed++) {
        struct kv_command c = kt_cmd(KV_RANDOMKEY, NULL, NULL, 0, seed * 0x9e3779b97f4a7c15);
        c.num[1] = 64;
        struct kv_result r = kt_read(s, c, 3000);
        cr_assert(r.code == 20 || bytes_are(&r, "live"), "seed %lld", (long long)seed);
        missed += r.code == 20;
        kv_result_release(&r);
        /* 0: the default bound, 16384 slots, more than this table holds */
        r = kt_read(s, kt_cmd(KV_RANDOMKEY, NULL, NULL, 0, seed * 0x9e3779b97f4a7c15), 3000);
        cr_assert(bytes_are(&r, "live"), "seed %lld: code %d", (long long)seed, r.code);
        kv_result_release(&r);
        c = kt_cmd(KV_RANDOMKEY, NULL, NULL, 0, seed * 0x9e3779b97f4a7c15);
        c.num[1] = 8192 + 64;
        r = kt_read(s, c, 3000);
        cr_assert(bytes_are(&r, "live"), "seed %lld: the draws and then the whole table find it",
                  (long long)seed);
        kv_result_release(&r);
    }
    /* 64 slots of 8192 hold the live key with a chance of 1 in 128 */
    cr_assert(missed >= 28, "64 slots found the one live key among 5001 for %d seeds of 32", 32 - missed);
    kv_store_free(s);
}

Test(kv_keys, the_hash_is_siphash_1_3_under_the_given_key)
{
    /* Cursors of every member and every version depend on these: the
     * values of SipHash-1-3 under the key 00 01 .. 0f as an independent
     * implementation computes them (its SipHash-2-4 gives the reference
     * vector 0x726fdb47dd0e0e31 for the empty message). */
    uint8_t key[16];
    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)i;
    cr_assert_eq(kv_map_hash_with(key, "", 0), 0xabac0158050fc4dcull);
    cr_assert_eq(kv_map_hash_with(key, "a", 1), 0x1c2697ab786a6237ull);
    cr_assert_eq(kv_map_hash_with(key, "key:000000123456", 16), 0x9cf985faf146158dull);
    key[15] ^= 1; /* another cluster's key: another hash */
    cr_assert_neq(kv_map_hash_with(key, "a", 1), 0x1c2697ab786a6237ull);
}

/* Give the store the cluster id entry with a hash key, as the first
 * leader's log entry does. */
static void give_cluster_key(struct kv_store *s)
{
    struct kv_command c = {.op = KV_CLUSTER_ID,
                           .value = json_string("0123456789abcdeffedcba9876543210"),
                           .to = json_string("5a5a5a5a5a5a5a5a0102030405060708")};
    uint8_t *data;
    size_t len;
    cr_assert_eq(kv_command_encode(&c, &data, &len), 0);
    json_decref(c.value);
    json_decref(c.to);
    struct kv_result r;
    kv_apply_bytes(s, data, len, 0, &r);
    cr_assert_eq(r.code, 0);
    kv_result_release(&r);
    free(data);
}

/* One SCAN step at time `at`: the keys into seen[] (by number), the next
 * cursor returned. */
static uint64_t scan_step(struct kv_store *s, uint64_t cursor, int64_t count, const char *match,
                          unsigned *seen, size_t n_keys)
{
    struct kv_command c = {.op = KV_SCAN, .num = {(int64_t)cursor, count}};
    if (match)
        cr_assert_eq(kv_str_set(&c.arg[0], match, strlen(match)), 0);
    struct kv_result r = kt_read(s, c, 1000);
    cr_assert_eq(r.code, 0);
    size_t pos = 0, len;
    const uint8_t *k;
    while (kv_list_next(r.bytes, r.len, &pos, &k, &len)) {
        char t[16];
        cr_assert(len < sizeof t);
        memcpy(t, k, len);
        t[len] = '\0';
        unsigned i = (unsigned)strtoul(t + 1, NULL, 10);
        cr_assert(t[0] == 'k' && i < n_keys, "%s", t);
        seen[i]++;
    }
    uint64_t next = (uint64_t)r.num;
    kv_result_release(&r);
    return next;
}

Test(kv_keys, scan_visits_each_key_once_when_nothing_changes)
{
    struct kv_store *s = kv_store_new();
    char k[16];
    enum { N = 500 };
    for (int i = 0; i < N; i++) {
        snprintf(k, sizeof k, "k%d", i);
        kt_set(s, k, "v", 1000);
    }
    unsigned seen[N] = {0};
    uint64_t cursor = 0;
    int calls = 0;
    do {
        cursor = scan_step(s, cursor, 7, NULL, seen, N);
        calls++;
    } while (cursor != 0);
    for (int i = 0; i < N; i++)
        cr_assert_eq(seen[i], 1, "k%d seen %u times", i, seen[i]);
    cr_assert(calls >= N / 14 && calls <= N, "%d calls", calls);
    /* MATCH filters after the walk */
    memset(seen, 0, sizeof seen);
    cursor = 0;
    do
        cursor = scan_step(s, cursor, 50, "k1?", seen, N);
    while (cursor != 0);
    for (int i = 0; i < N; i++)
        cr_assert_eq(seen[i], i >= 10 && i < 20, "k%d", i);
    kv_store_free(s);
}

/* SCAN's bound, which --scan-max-count relies on (the server cuts COUNT
 * to it): one call walks whole buckets until COUNT entries were seen, so
 * returns at most COUNT plus one bucket's run, and a full iteration at
 * that COUNT still returns every key once. */
Test(kv_keys, a_scan_call_walks_at_most_count_entries_and_the_iteration_returns_every_key)
{
    struct kv_store *s = kv_store_new();
    char k[16];
    enum { N = 20000 };
    for (int i = 0; i < N; i++) {
        snprintf(k, sizeof k, "k%d", i);
        kt_set(s, k, "v", 1000);
    }
    static unsigned seen[N];
    memset(seen, 0, sizeof seen);
    uint64_t cursor = 0;
    int calls = 0;
    unsigned before = 0, most = 0;
    do {
        cursor = scan_step(s, cursor, 100, NULL, seen, N);
        calls++;
        unsigned total = 0;
        for (int i = 0; i < N; i++)
            total += seen[i];
        most = total - before > most ? total - before : most;
        before = total;
    } while (cursor != 0);
    for (int i = 0; i < N; i++)
        cr_assert_eq(seen[i], 1, "k%d seen %u times", i, seen[i]);
    cr_assert(most >= 100 && most <= 116, "a call returned up to %u keys for COUNT 100", most);
    cr_assert(calls >= N / 116 && calls <= N / 50, "%d calls", calls);
    kv_store_free(s);
}

/* A cursor passes between two stores holding the same keys with
 * different table sizes (one grew to 16384 slots and shrank back in
 * keys, the other restored from its snapshot, which gave it the
 * cluster's hash key; each lays out its slots under its own secret), while
 * keys come and go: every key present throughout is returned. With
 * `shared` false, the first store never got the cluster's key: the two
 * hash differently, so a cursor taken to the other store starts its walk
 * over there (what the key is for: without it, a SCAN whose calls move
 * between members returns keys again and again, and ends only after a
 * whole walk on one member); the calls then move once, as at a leader
 * change. */
static void cursor_across_members(bool shared, int rounds)
{
    struct rng g;
    rng_seed(&g, test_seed());
    enum { N = 6000, STABLE = 300 };
    char k[16];
    int again = 0;
    for (int round = 0; round < rounds; round++) {
        struct kv_store *a = kv_store_new();
        if (shared)
            give_cluster_key(a);
        for (int i = 0; i < N; i++) {
            snprintf(k, sizeof k, "k%d", i);
            kt_set(a, k, "v", 1000);
        }
        for (int i = STABLE; i < N; i++) {
            snprintf(k, sizeof k, "k%d", i);
            if (rng_below(&g, 10) != 0)
                kt_w(a, kt_cmd(KV_DEL, k, NULL, 0, 0), 1000);
        }
        uint8_t *data;
        size_t len;
        cr_assert_eq(kv_snapshot(a, 1, 1, &data, &len), 0);
        struct kv_store *b = kv_store_new();
        cr_assert_eq(kv_restore(b, data, len, NULL, NULL), 0);
        free(data);
        unsigned seen[N] = {0};
        uint64_t cursor = 0;
        int steps = 0;
        struct kv_store *on = a;
        do {
            if (shared ? rng_below(&g, 2) != 0 : steps == 5)
                on = on == a ? b : a;
            cursor = scan_step(on, cursor, 1 + (int64_t)rng_below(&g, 40), NULL, seen, N);
            /* the same writes on both members, keys >= STABLE only */
            for (int w = 0; w < 20; w++) {
                int i = STABLE + (int)rng_below(&g, N - STABLE);
                snprintf(k, sizeof k, "k%d", i);
                bool del = rng_below(&g, 2);
                for (int m = 0; m < 2; m++) {
                    struct kv_store *st = m ? b : a;
                    if (del)
                        kt_w(st, kt_cmd(KV_DEL, k, NULL, 0, 0), 1000);
                    else
                        kt_set(st, k, "v", 1000);
                }
            }
            steps++;
        } while (cursor != 0 && steps < 100000);
        cr_assert_eq(cursor, 0);
        for (int i = 0; i < STABLE; i++) {
            cr_assert(seen[i] >= 1, "round %d: k%d never returned", round, i);
            again += seen[i] > 1;
        }
        cr_assert(kv_store_equal(a, b));
        kv_store_free(a);
        kv_store_free(b);
    }
    if (!shared)
        cr_assert_gt(again, 0, "stores that hash differently start a moved cursor over");
}

Test(kv_keys, a_cursor_continues_on_another_member_with_another_table_size)
{
    cursor_across_members(true, 20);
}

Test(kv_keys, without_the_clusters_key_a_moved_cursor_starts_over)
{
    cursor_across_members(false, 2);
}

/* A store filled before it had the cluster's key (an old cluster's) gets
 * it in the middle of a SCAN, from the cluster-id entry as its first
 * leader proposes it; keys are written and deleted, and the loop moves
 * entries a little at a time, while the SCAN goes on through the same
 * operations a client's would; halfway through a round, its calls move
 * to a store restored from a snapshot taken under the key (a leader
 * change). Every key present throughout is returned. */
Test(kv_keys, a_scan_across_the_arrival_of_the_clusters_key_returns_every_key)
{
    struct rng g;
    rng_seed(&g, test_seed() + 7);
    enum { N = 6000, STABLE = 1500 };
    char k[16];
    size_t rekeying_calls = 0;
    for (int round = 0; round < 12; round++) {
        struct kv_store *a = kv_store_new();
        for (int i = 0; i < N; i++) {
            snprintf(k, sizeof k, "k%d", i);
            kt_set(a, k, "v", 1000);
        }
        struct kv_store *b = NULL;
        unsigned seen[N] = {0};
        uint64_t cursor = 0;
        int steps = 0, key_at = (int)rng_below(&g, 30), move_at = round % 2 ? key_at + 15 : -1;
        struct kv_store *on = a;
        do {
            if (steps == key_at) {
                give_cluster_key(a);
                cr_assert(kv_store_rehashing(a), "round %d: the move starts", round);
            }
            if (steps == move_at) {
                uint8_t *data;
                size_t len;
                cr_assert_eq(kv_snapshot(a, 1, 1, &data, &len), 0);
                b = kv_store_new();
                cr_assert_eq(kv_restore(b, data, len, NULL, NULL), 0);
                free(data);
                on = b;
            }
            rekeying_calls += on == a && a->map.old && a->map.old_k0 != a->map.k0;
            cursor = scan_step(on, cursor, 1 + (int64_t)rng_below(&g, 40), NULL, seen, N);
            for (int w = 0; w < 10; w++) {
                int i = STABLE + (int)rng_below(&g, N - STABLE);
                snprintf(k, sizeof k, "k%d", i);
                for (int m = 0; m < 2; m++) {
                    struct kv_store *st = m ? b : a;
                    if (!st)
                        continue;
                    if (w % 2)
                        kt_w(st, kt_cmd(KV_DEL, k, NULL, 0, 0), 1000);
                    else
                        kt_set(st, k, "v", 1000);
                }
            }
            kv_store_rehash(a, (size_t)rng_below(&g, 100));
            steps++;
        } while (cursor != 0 && steps < 100000);
        cr_assert_eq(cursor, 0);
        for (int i = 0; i < STABLE; i++)
            cr_assert(seen[i] >= 1, "round %d: k%d never returned", round, i);
        kv_store_free(a);
        kv_store_free(b);
    }
    cr_assert_gt(rekeying_calls, 100, "calls came while the store moved to the key");
}
