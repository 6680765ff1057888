/* test_kv_map_scan_rekey.c - SCAN's guarantee across a change of the
 * map's hash key (map.h, "SCAN across a re-key"): every interleaving of a
 * small SCAN with a re-key that starts, moves and ends between its calls;
 * a seeded run mixing re-keys, growth, shrinking, snapshot children and
 * loop steps between the calls of many SCANs; a cursor carried between a
 * re-keying member and settled ones; what a cursor looks like (below
 * 2^63, 0 only at the end) and what an unknown one does (starts over). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "kv/kv.h"
#include "kv/map.h"
#include "kv_map_test_keys.h"

static uint64_t test_seed(void)
{
    const char *env = getenv("RAFTKV_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 10) : 20261209;
    printf("kv map scan-rekey seed %llu (replay: RAFTKV_SEED=%llu)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    return seed;
}

static bool rekeying(const struct kv_map *m)
{
    return m->old && (m->old_k0 != m->k0 || m->old_k1 != m->k1);
}

static void settle(struct kv_map *m)
{
    while (kv_map_rehashing(m))
        kv_map_rehash_step(m, 4096);
}

static void make_key(uint8_t key[KV_MAP_KEY_BYTES], unsigned n)
{
    for (int i = 0; i < KV_MAP_KEY_BYTES; i++)
        key[i] = (uint8_t)(n * 131 + (unsigned)i * 29 + 7);
}

/* Keys k0..k(n-1) are the stable ones; "x..." keys are extras that come
 * and go (never counted). */
struct seen {
    unsigned *count;
    unsigned keys;
};

static void seen_visit(void *ctx, const struct kv_map_entry *e)
{
    struct seen *s = ctx;
    if (kv_entry_key(e)[0] == 'x')
        return;
    unsigned k = key_number(e);
    cr_assert_lt(k, s->keys, "SCAN returned k%u, never put", k);
    s->count[k]++;
}

static void put_extra(struct kv_map *m, unsigned x)
{
    char t[32];
    size_t len = (size_t)snprintf(t, sizeof t, "x%u", x);
    cr_assert_not_null(kv_map_put(m, t, len, KV_TYPE_STR, "1", 1));
}

static void del_extra(struct kv_map *m, unsigned x)
{
    char t[32];
    size_t len = (size_t)snprintf(t, sizeof t, "x%u", x);
    kv_map_del(m, t, len);
}

/* ---- every interleaving of one small SCAN with one re-key ---- */

/* 700 keys in 1024 slots, SCAN with COUNT 20 (about 40 calls). For each
 * call index at which the key changes (before the first call, between
 * any two, or never), and each pace of the move between calls (one
 * entry, 7, 60, the whole move at once, none until the scan ends), from a
 * map under its own key (a new cluster's first leader) and from one under
 * another shared key: every key comes back. The move starts, goes on
 * and ends between calls in these runs (counted, so the test cannot pass
 * by never overlapping). */
Test(kv_map_scan_rekey, every_interleaving_of_a_scan_with_a_rekey_returns_every_key)
{
    enum { K = 700 };
    static const size_t paces[] = {1, 7, 60, SIZE_MAX, 0};
    size_t runs = 0, started_mid = 0, ended_mid = 0, spanned = 0;
    for (int from_shared = 0; from_shared < 2; from_shared++) {
        for (size_t p = 0; p < sizeof paces / sizeof paces[0]; p++) {
            for (int rekey_at = -1; rekey_at < 48; rekey_at++) {
                struct kv_map m;
                cr_assert_eq(kv_map_init(&m), 0);
                uint8_t key[KV_MAP_KEY_BYTES];
                if (from_shared) {
                    make_key(key, 1);
                    kv_map_set_key(&m, key);
                }
                for (unsigned k = 0; k < K; k++)
                    cr_assert_not_null(put_int(&m, k, 1));
                settle(&m);
                cr_assert_eq(m.mask + 1, 1024);
                unsigned count[K] = {0};
                struct seen s = {.count = count, .keys = K};
                uint64_t cursor = 0;
                int call = 0;
                bool was_rekeying = false, saw_start = false, saw_end = false;
                do {
                    if (call == rekey_at) {
                        make_key(key, 2);
                        kv_map_set_key(&m, key);
                        cr_assert(rekeying(&m), "the re-key starts at once");
                        saw_start = call > 0;
                    }
                    if (call > 0 && rekeying(&m)) {
                        size_t pace = paces[p];
                        if (pace == SIZE_MAX)
                            settle(&m);
                        else if (pace > 0)
                            kv_map_rehash_step(&m, pace);
                    }
                    if (was_rekeying && !rekeying(&m))
                        saw_end = true;
                    was_rekeying = rekeying(&m);
                    cursor = kv_map_scan(&m, cursor, 20, 200, seen_visit, &s);
                    call++;
                    cr_assert_lt(call, 400, "the scan ends");
                } while (cursor != 0);
                for (unsigned k = 0; k < K; k++)
                    cr_assert_geq(count[k], 1,
                                  "k%u missed (from %s key, pace %zu, re-key before call %d)", k,
                                  from_shared ? "a shared" : "its own", paces[p], rekey_at);
                runs++;
                started_mid += saw_start;
                ended_mid += saw_start && saw_end;
                spanned += saw_start && rekeying(&m);
                kv_map_free(&m);
            }
        }
    }
    printf("scan/re-key interleavings: %zu runs, %zu with the re-key starting mid-scan, %zu of "
           "them ending mid-scan, %zu outlasting the scan\n",
           runs, started_mid, ended_mid, spanned);
    cr_assert_gt(started_mid, 300);
    cr_assert_gt(ended_mid, 50);
    cr_assert_gt(spanned, 50);
}

/* ---- a seeded run: re-keys, growth, shrinking and children between calls ---- */

/* One map, 1500 stable keys and up to 40,000 extras that come and go (so
 * the table grows and shrinks), 300 SCANs; between two calls, any of: a
 * new hash key (from its own key to a shared one, then from shared keys
 * to others; one given during a re-key waits for it), loop steps
 * of any size, the whole move, extras put or deleted in bulk, a snapshot
 * child forked or reaped. Every stable key comes back in every SCAN. */
Test(kv_map_scan_rekey, a_seeded_run_of_scans_across_rekeys_growth_and_shrinking)
{
    struct rng g;
    rng_seed(&g, test_seed());
    enum { K = 1500, EXTRA = 40000, SCANS = 300 };
    static unsigned extra[EXTRA];
    size_t n_extra = 0;
    unsigned next_extra = 0, next_key = 10;
    struct kv_map m;
    cr_assert_eq(kv_map_init(&m), 0);
    for (unsigned k = 0; k < K; k++)
        cr_assert_not_null(put_int(&m, k, 1));
    bool child = false;
    size_t rekeys_mid = 0, rekey_ends_mid = 0, growths_mid = 0, shrinks_mid = 0, calls = 0;
    for (int scan = 0; scan < SCANS; scan++) {
        unsigned count[K] = {0};
        struct seen s = {.count = count, .keys = K};
        uint64_t cursor = 0;
        int n = 0;
        do {
            bool was_rekeying = rekeying(&m);
            size_t mask0 = m.mask, migrations0 = m.migrations;
            uint64_t what = rng_below(&g, 100);
            if (what < 4 && n > 0) {
                uint8_t key[KV_MAP_KEY_BYTES];
                make_key(key, next_key++);
                kv_map_set_key(&m, key);
                rekeys_mid++;
            } else if (what < 40) {
                kv_map_rehash_step(&m, (size_t)rng_below(&g, 200));
            } else if (what < 45) {
                settle(&m);
            } else if (what < 60) {
                for (uint64_t i = rng_below(&g, 2000); i > 0 && n_extra < EXTRA; i--) {
                    extra[n_extra++] = next_extra;
                    put_extra(&m, next_extra++);
                }
            } else if (what < 75) {
                for (uint64_t i = rng_below(&g, 4000); i > 0 && n_extra > 0; i--) {
                    size_t j = (size_t)rng_below(&g, n_extra);
                    del_extra(&m, extra[j]);
                    extra[j] = extra[--n_extra];
                }
            } else if (what < 78) {
                child = !child;
                kv_map_snapshot_child(child);
            } else if (what < 85) {
                /* stable keys overwritten: they stay present */
                for (int i = 0; i < 20; i++)
                    cr_assert_not_null(put_int(&m, (unsigned)rng_below(&g, K), 2));
            }
            if (n > 0) {
                rekey_ends_mid += was_rekeying && !rekeying(&m);
                if (m.migrations != migrations0 && !rekeying(&m)) {
                    growths_mid += m.mask > mask0;
                    shrinks_mid += m.mask < mask0;
                }
            }
            uint64_t c = 1 + rng_below(&g, 60);
            cursor = kv_map_scan(&m, cursor, c, 10 * c, seen_visit, &s);
            cr_assert_lt(cursor, (uint64_t)1 << 63, "a cursor fits a signed 64-bit integer");
            n++;
            calls++;
            cr_assert_lt(n, 100000, "scan %d ends", scan);
        } while (cursor != 0);
        for (unsigned k = 0; k < K; k++)
            cr_assert_geq(count[k], 1, "scan %d missed k%u", scan, k);
    }
    if (child)
        kv_map_snapshot_child(false);
    printf("seeded scans: %d scans, %zu calls, %zu keys given mid-scan, %zu re-keys ended "
           "mid-scan, %zu growths and %zu shrinks started mid-scan\n",
           SCANS, calls, rekeys_mid, rekey_ends_mid, growths_mid, shrinks_mid);
    cr_assert_gt(rekeys_mid, 100);
    cr_assert_gt(rekey_ends_mid, 50);
    cr_assert_gt(growths_mid, 10);
    cr_assert_gt(shrinks_mid, 10);
    kv_map_free(&m);
}

/* ---- a cursor between a re-keying member and settled ones ---- */

/* Member 0 holds the keys under its own key and is given the cluster's
 * mid-scan (an old cluster's first leader); members 1 and 2 got it from
 * a snapshot (under it from the start, tables of other sizes). A SCAN's
 * calls go mostly to one member and move now and then (a leader change):
 * every key comes back, and the walk ends. */
Test(kv_map_scan_rekey, a_cursor_moves_between_a_rekeying_member_and_settled_ones)
{
    struct rng g;
    rng_seed(&g, test_seed() + 1);
    enum { K = 3000, MEMBERS = 3 };
    uint8_t key[KV_MAP_KEY_BYTES];
    make_key(key, 3);
    size_t moves_while_rekeying = 0;
    for (int round = 0; round < 40; round++) {
        struct kv_map m[MEMBERS];
        for (int i = 0; i < MEMBERS; i++) {
            cr_assert_eq(kv_map_init(&m[i]), 0);
            if (i > 0)
                kv_map_set_key(&m[i], key);
        }
        cr_assert_eq(kv_map_reserve(&m[2], 30000), 0);
        for (unsigned k = 0; k < K; k++)
            for (int i = 0; i < MEMBERS; i++)
                cr_assert_not_null(put_int(&m[i], k, 1));
        for (int i = 0; i < MEMBERS; i++)
            settle(&m[i]);
        unsigned count[K] = {0};
        struct seen s = {.count = count, .keys = K};
        uint64_t cursor = 0;
        int on = (int)rng_below(&g, MEMBERS), calls = 0;
        int rekey_at = (int)rng_below(&g, 20);
        do {
            if (calls == rekey_at)
                kv_map_set_key(&m[0], key);
            if (rng_below(&g, 6) == 0) {
                int to = (int)rng_below(&g, MEMBERS);
                moves_while_rekeying += to != on && (rekeying(&m[0]));
                on = to;
            }
            kv_map_rehash_step(&m[0], (size_t)rng_below(&g, 150));
            uint64_t c = 1 + rng_below(&g, 40);
            cursor = kv_map_scan(&m[on], cursor, c, 10 * c, seen_visit, &s);
            calls++;
            cr_assert_lt(calls, 20000, "round %d ends", round);
        } while (cursor != 0);
        for (unsigned k = 0; k < K; k++)
            cr_assert_geq(count[k], 1, "round %d missed k%u", round, k);
        for (int i = 0; i < MEMBERS; i++)
            kv_map_free(&m[i]);
    }
    printf("cursor moves while member 0 re-keyed: %zu\n", moves_while_rekeying);
    cr_assert_gt(moves_while_rekeying, 20);
}

/* ---- what a cursor is ---- */

/* Nothing changing, a SCAN returns each key exactly once, its cursors are
 * below 2^63 and not 0 until the end; a member with the same key and
 * another table size continues the walk. A cursor the map cannot
 * place (made under another key, or made up) starts the walk over: every
 * key still comes back. */
Test(kv_map_scan_rekey, cursors_fit_63_bits_and_unknown_ones_start_over)
{
    enum { K = 2000 };
    uint8_t key[KV_MAP_KEY_BYTES];
    make_key(key, 4);
    struct kv_map a, b, own;
    cr_assert_eq(kv_map_init(&a), 0);
    cr_assert_eq(kv_map_init(&b), 0);
    cr_assert_eq(kv_map_init(&own), 0);
    kv_map_set_key(&a, key);
    kv_map_set_key(&b, key);
    cr_assert_eq(kv_map_reserve(&b, 50000), 0);
    for (unsigned k = 0; k < K; k++) {
        cr_assert_not_null(put_int(&a, k, 1));
        cr_assert_not_null(put_int(&b, k, 1));
        cr_assert_not_null(put_int(&own, k, 1));
    }
    settle(&a);
    settle(&own);
    cr_assert_neq(a.mask, b.mask);
    unsigned count[K] = {0};
    struct seen s = {.count = count, .keys = K};
    uint64_t cursor = 0;
    int calls = 0;
    do {
        cursor = kv_map_scan(&a, cursor, 10, 100, seen_visit, &s);
        cr_assert_lt(cursor, (uint64_t)1 << 63);
        calls++;
    } while (cursor != 0);
    cr_assert_gt(calls, 100);
    for (unsigned k = 0; k < K; k++)
        cr_assert_eq(count[k], 1, "k%u returned %u times", k, count[k]);
    /* Between sizes, a key may come twice (the smaller table's bucket
     * holds buckets of the larger one already walked), never not at all. */
    memset(count, 0, sizeof count);
    calls = 0;
    do {
        cursor = kv_map_scan(calls % 2 ? &b : &a, cursor, 10, 100, seen_visit, &s);
        cr_assert_lt(cursor, (uint64_t)1 << 63);
        calls++;
    } while (cursor != 0);
    for (unsigned k = 0; k < K; k++)
        cr_assert_geq(count[k], 1, "k%u missed between members", k);

    /* A cursor from the map under its own key, taken to a or b (another
     * key), starts over there: the walk goes on to the end. */
    const uint64_t made_up[] = {1, 12345, (uint64_t)1 << 62, UINT64_MAX, 0};
    for (int i = 0; i < 5; i++) {
        memset(count, 0, sizeof count);
        uint64_t c = made_up[i];
        if (c == 0) {
            for (int j = 0; j < 30; j++)
                c = kv_map_scan(&own, c, 10, 100, seen_visit, &s);
            cr_assert_neq(c, 0);
            memset(count, 0, sizeof count);
        }
        calls = 0;
        do {
            c = kv_map_scan(&a, c, 10, 100, seen_visit, &s);
            calls++;
        } while (c != 0);
        for (unsigned k = 0; k < K; k++)
            cr_assert_geq(count[k], 1, "k%u missed after cursor case %d", k, i);
    }
    kv_map_free(&a);
    kv_map_free(&b);
    kv_map_free(&own);
}
