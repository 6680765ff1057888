/* test_kv_map_grow.c - the map's incremental growth (map.h): a seeded
 * model run of puts, deletes, lookups, deadlines, iteration, RANDOMKEY
 * and SCAN interleaved with growth steps, with and without hash tags;
 * SCAN cursors carried between members that are growing and members that
 * are not, of different sizes; the bound on the entries one call moves,
 * for the slot table and for the deadline table; and what sizes the map
 * at once (kv_map_reserve). Shrinking, re-keying and snapshot children:
 * test_kv_map_shrink.c. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "kv/kv.h"
#include "kv/map.h"
#include "kv_map_test_model.h"

static uint64_t test_seed(void)
{
    return kmm_seed("kv map grow", 20261207);
}

/* ---- the model run ---- */

enum { KEYS = 20000 };

/* Two rounds, each on a fresh map whose key space widens (so it grows
 * again and again) while every operation runs against it. */
static void model_run(uint64_t seed, int drop_tags_at)
{
    struct rng g;
    rng_seed(&g, seed);
    struct kv_map_model *md = kmm_new(KEYS);
    size_t growing_steps = 0, scans = 0, scans_across_growth = 0, deadline_growths = 0;
    for (int round = 0; round < 2; round++) {
        struct kv_map m;
        cr_assert_eq(kv_map_init(&m), 0);
        kmm_reset(md);
        unsigned limit = 64;
        bool scanning = false, scan_saw_growing = false, scan_saw_still = false;
        uint64_t cursor = 0;
        for (int step = 0; step < 60000; step++) {
            if (step % 2000 == 0 && limit < KEYS)
                limit = limit * 3 / 2 < KEYS ? limit * 3 / 2 : KEYS;
            unsigned k = (unsigned)rng_below(&g, limit);
            uint64_t what = rng_below(&g, 100);
            if (what < 50) {
                kmm_put(&m, md, k, (int)rng_below(&g, 1000));
            } else if (what < 68) {
                kmm_del(&m, md, k, step);
            } else if (what < 78) {
                kmm_lookup(&m, md, k, step);
            } else if (what < 88) {
                struct kv_map_entry *e = get_key(&m, k);
                if (e) {
                    int64_t at = what < 86 ? 1000 + step : 0;
                    bool was = m.expires.old != NULL;
                    cr_assert_eq(kv_map_set_expiry(&m, e, at), 0);
                    deadline_growths += !was && m.expires.old != NULL;
                    md->at[k] = at;
                }
            } else if (what < 93) {
                size_t budget = (size_t)rng_below(&g, 64);
                cr_assert_leq(kv_map_rehash_step(&m, budget), 2 * budget);
            } else if (what < 99) {
                if (!scanning) {
                    kmm_scan_begin(md);
                    scanning = true;
                    scan_saw_growing = scan_saw_still = false;
                    cursor = 0;
                }
                if (m.old)
                    scan_saw_growing = true;
                else
                    scan_saw_still = true;
                uint64_t count = 1 + rng_below(&g, 20);
                cursor = kv_map_scan(&m, cursor, count, 10 * count, kmm_visit, md);
                if (cursor == 0) {
                    kmm_scan_end(md, step);
                    scanning = false;
                    scans++;
                    scans_across_growth += scan_saw_growing && scan_saw_still;
                }
            } else {
                const struct kv_map_entry *e = kv_map_pick(&m, rng_next(&g), SIZE_MAX, kmm_accept_all, NULL);
                cr_assert_eq(e != NULL, m.size > 0);
                if (e)
                    cr_assert_eq(entry_value(e), md->val[key_number(e)]);
            }
            growing_steps += m.old != NULL;
            if (step == drop_tags_at) {
                kv_map_drop_tags(&m);
                kmm_assert_same(&m, md);
            }
            if (step % 3000 == 0)
                kmm_assert_same(&m, md);
        }
        kmm_assert_same(&m, md);
        kv_map_free(&m);
    }
    printf("model run: %zu steps growing, %zu scans (%zu across a growth), %zu deadline growths\n",
           growing_steps, scans, scans_across_growth, deadline_growths);
    cr_assert_gt(growing_steps, 5000, "the run must spend real time growing");
    cr_assert_gt(scans_across_growth, 5, "some scans must see growth start or end");
    cr_assert_gt(deadline_growths, 5);
    kmm_free(md);
}

Test(kv_map_grow, a_random_run_interleaved_with_growth_agrees_with_a_model)
{
    model_run(test_seed(), -1);
}

Test(kv_map_grow, without_hash_tags_a_random_run_interleaved_with_growth_agrees_with_a_model)
{
    model_run(test_seed() + 1, 0);
}

Test(kv_map_grow, dropping_tags_in_the_middle_of_a_growth_strips_both_tables)
{
    struct kv_map m;
    cr_assert_eq(kv_map_init(&m), 0);
    unsigned k = 0;
    while (!m.old)
        cr_assert_not_null(put_int(&m, k++, 7));
    kv_map_drop_tags(&m);
    for (unsigned j = 0; j < k; j++)
        cr_assert_not_null(get_key(&m, j), "k%u lost", j);
    while (m.old)
        kv_map_rehash_step(&m, 3);
    for (unsigned j = 0; j < k; j++)
        cr_assert_not_null(get_key(&m, j), "k%u lost", j);
    kv_map_free(&m);
}

/* ---- SCAN across members ---- */

/* Three members with the cluster's key hold the same 3000 keys in tables
 * of different sizes, each now and then growing (extra keys of its own
 * come and go); one SCAN's calls go to any of them. Every one of the 3000
 * keys comes back in each full iteration. */
Test(kv_map_grow, a_cursor_moves_between_growing_and_settled_members_of_any_size)
{
    struct rng g;
    rng_seed(&g, test_seed());
    enum { K = 3000, MEMBERS = 3, EXTRA = 60000 };
    uint8_t key[KV_MAP_KEY_BYTES];
    for (int i = 0; i < KV_MAP_KEY_BYTES; i++)
        key[i] = (uint8_t)(0x51 * i + 3);
    struct kv_map m[MEMBERS];
    static unsigned extra_keys[MEMBERS][EXTRA];
    struct kmm_extra extra[MEMBERS];
    unsigned next_extra = 0;
    for (int i = 0; i < MEMBERS; i++) {
        cr_assert_eq(kv_map_init(&m[i]), 0);
        kv_map_set_key(&m[i], key);
        extra[i] = (struct kmm_extra){.keys = extra_keys[i], .cap = EXTRA};
    }
    cr_assert_eq(kv_map_reserve(&m[1], 20000), 0, "member 1 starts with 32768 slots");
    for (unsigned k = 0; k < K; k++)
        for (int i = 0; i < MEMBERS; i++)
            cr_assert_not_null(put_int(&m[i], k, 1));
    cr_assert_not_null(m[0].old, "member 0 is growing from 4096 slots to 8192");
    cr_assert_null(m[1].old);
    bool seen[K];
    struct kmm_cross ctx = {.seen = seen, .keys = K};
    size_t handovers = 0, started = 0, finished = 0;
    for (int round = 0; round < 40; round++) {
        memset(seen, 0, sizeof seen);
        uint64_t cursor = 0;
        int prev = -1;
        do {
            int i = (int)rng_below(&g, MEMBERS);
            struct kv_map *x = &m[i];
            bool was = x->old != NULL;
            uint64_t what = rng_below(&g, 8);
            if (what < 3) {
                /* Extra keys: growth starts (and, with the puts' own
                 * steps, may end) in the middle of the SCAN. */
                kmm_extra_add(x, &extra[i], &next_extra, rng_below(&g, 300));
            } else if (what < 5) {
                kv_map_rehash_step(x, (size_t)rng_below(&g, 3000));
            } else if (what < 7) {
                kmm_extra_del(x, &extra[i], &g, rng_below(&g, 200));
            } else {
                /* The member is rebuilt (as from a snapshot): the 3000
                 * keys, in a table of another size, often still growing. */
                kmm_member_rebuild(x, key, K, &g, 50000, &extra[i]);
                was = false;
            }
            started += !was && x->old;
            finished += was && !x->old;
            if (prev >= 0 && (m[prev].old != NULL) != (x->old != NULL) && m[prev].mask != x->mask)
                handovers++;
            uint64_t count = 1 + rng_below(&g, 200);
            cursor = kv_map_scan(x, cursor, count, 10 * count, kmm_cross_visit, &ctx);
            prev = i;
        } while (cursor != 0);
        kmm_cross_check(&ctx, round);
    }
    printf("cross-member scans: %zu handovers between growing and settled members, %zu growths "
           "started and %zu finished mid-scan\n",
           handovers, started, finished);
    cr_assert_gt(handovers, 20);
    cr_assert_gt(started, 3);
    cr_assert_gt(finished, 3);
    for (int i = 0; i < MEMBERS; i++)
        kv_map_free(&m[i]);
}

/* The same walk, by hand: a cursor made on a growing map (old table 4096
 * slots) continues on a settled one of 65536 slots, and the reverse. */
Test(kv_map_grow, a_cursor_from_a_growing_map_continues_on_a_larger_settled_one_and_back)
{
    uint8_t key[KV_MAP_KEY_BYTES];
    for (int i = 0; i < KV_MAP_KEY_BYTES; i++)
        key[i] = (uint8_t)(i * 17 + 1);
    struct kv_map a, b;
    cr_assert_eq(kv_map_init(&a), 0);
    cr_assert_eq(kv_map_init(&b), 0);
    kv_map_set_key(&a, key);
    kv_map_set_key(&b, key);
    cr_assert_eq(kv_map_reserve(&b, 40000), 0);
    enum { K = 2900 };
    for (unsigned k = 0; k < K; k++) {
        cr_assert_not_null(put_int(&a, k, 1));
        cr_assert_not_null(put_int(&b, k, 1));
    }
    cr_assert_not_null(a.old);
    cr_assert_eq(a.old_mask + 1, 4096);
    cr_assert_eq(a.mask + 1, 8192);
    cr_assert_null(b.old);
    cr_assert_eq(b.mask + 1, 65536);
    for (int start = 0; start < 2; start++) {
        bool seen[K] = {false};
        struct kmm_cross ctx = {.seen = seen, .keys = K};
        uint64_t cursor = 0;
        int turn = start;
        do {
            cursor = kv_map_scan(turn ? &b : &a, cursor, 25, 250, kmm_cross_visit, &ctx);
            turn ^= 1;
        } while (cursor != 0);
        for (unsigned k = 0; k < K; k++)
            cr_assert(seen[k], "k%u missed (first call on %s)", k, start ? "the settled map" : "the growing one");
    }
    kv_map_free(&a);
    kv_map_free(&b);
}

/* ---- the bound ---- */

/* Filling a map to a million keys: the growth from 1048576 slots (at
 * 733999 entries, 70% of them) moves them all, at most 4 for each put,
 * and is done before the table needs to grow again. */
Test(kv_map_grow, growing_a_map_of_a_million_keys_moves_at_most_4_entries_per_put, .timeout = 120)
{
    struct kv_map m;
    cr_assert_eq(kv_map_init(&m), 0);
    size_t growth_start = 0, grew_at = 0, max_moved = 0;
    bool done = false;
    for (unsigned k = 0; k < 1000000; k++) {
        size_t before = m.moved;
        bool was = m.old != NULL;
        cr_assert_not_null(put_int(&m, k, (int)k));
        size_t moved = m.moved - before;
        if (moved > max_moved)
            max_moved = moved;
        cr_assert_leq(moved, 4, "put %u moved %zu entries", k, moved);
        if (!was && m.old && m.old_mask + 1 == 1048576) {
            growth_start = before;
            grew_at = k;
        }
        if (was && !m.old && m.mask + 1 == 2097152) {
            cr_assert_eq(m.moved - growth_start, 733999, "every entry moved once");
            done = true;
        }
    }
    cr_assert_eq(grew_at, 733999, "growth starts at the 733,999th entry's successor");
    cr_assert(done, "and is over before a million");
    cr_assert_eq(max_moved, 4);
    /* The loop's explicit step: a table sized for 1.5 million keys takes
     * the million by steps of 10000 slots, each moving at most 10000. */
    cr_assert_eq(kv_map_reserve(&m, 1500000), 0);
    cr_assert_eq(m.old_mask + 1, 2097152);
    size_t calls = 0, total = 0;
    while (kv_map_rehashing(&m)) {
        size_t moved = kv_map_rehash_step(&m, 10000);
        cr_assert_leq(moved, 10000);
        total += moved;
        calls++;
        cr_assert_eq(entry_value(get_key(&m, (unsigned)(calls * 4099 % 1000000))),
                     (int)(calls * 4099 % 1000000));
    }
    cr_assert_eq(total, 1000000);
    cr_assert_leq(calls, 210, "2097152 slots in steps of 10000");
    for (unsigned k = 0; k < 1000000; k += 997)
        cr_assert_eq(entry_value(get_key(&m, k)), (int)k);
    kv_map_free(&m);
}

/* The deadline table: 300000 deadlines; its growth from 262144 slots (at
 * 183498 deadlines) moves at most 4 per deadline set or cleared. */
Test(kv_map_grow, growing_the_deadline_table_moves_at_most_4_deadlines_per_call, .timeout = 120)
{
    struct kv_map m;
    cr_assert_eq(kv_map_init(&m), 0);
    enum { N = 300000 };
    static struct kv_map_entry *e[N];
    for (unsigned k = 0; k < N; k++)
        cr_assert_not_null(e[k] = put_int(&m, k, (int)k));
    while (kv_map_rehashing(&m))
        kv_map_rehash_step(&m, 100000);
    size_t start = 0;
    bool grew = false, done = false;
    for (unsigned k = 0; k < N; k++) {
        size_t before = m.expires.moved;
        bool was = m.expires.old != NULL;
        cr_assert_eq(kv_map_set_expiry(&m, e[k], 5000 + k), 0);
        cr_assert_leq(m.expires.moved - before, 4, "deadline %u moved %zu", k, m.expires.moved - before);
        if (!was && m.expires.old && m.expires.old_mask + 1 == 262144) {
            start = before;
            grew = true;
            cr_assert_eq(k, 183498);
        }
        if (was && !m.expires.old && m.expires.mask + 1 == 524288) {
            cr_assert_eq(m.expires.moved - start, 183498);
            done = true;
        }
    }
    cr_assert(grew && done);
    /* Clearing and deleting in the middle of a growth: the same bound,
     * and every other deadline stays. */
    for (unsigned k = N; k < N + 200000; k++) {
        struct kv_map_entry *x = put_int(&m, k, (int)k);
        cr_assert_not_null(x);
        size_t before = m.expires.moved;
        cr_assert_eq(kv_map_set_expiry(&m, x, 9), 0);
        cr_assert_leq(m.expires.moved - before, 4);
        if (m.expires.old)
            break;
    }
    cr_assert_not_null(m.expires.old, "a second growth is under way");
    /* 50000 calls: fewer than the growth's 367001 deadlines need (4 a
     * call), so the loop's steps below finish it. */
    for (unsigned k = 0; k < N / 2; k += 3) {
        size_t before = m.expires.moved;
        if (k % 2)
            cr_assert_eq(kv_map_set_expiry(&m, e[k], 0), 0);
        else
            cr_assert_eq(del_key(&m, k), 1);
        cr_assert_leq(m.expires.moved - before, 4);
    }
    for (unsigned k = 0; k < N; k++) {
        const struct kv_map_entry *x = get_key(&m, k);
        bool touched = k % 3 == 0 && k < N / 2;
        if (touched && k % 2 == 0) {
            cr_assert_null(x);
            continue;
        }
        cr_assert_not_null(x);
        cr_assert_eq(kv_map_expiry(&m, x), touched ? 0 : 5000 + k, "deadline of k%u", k);
    }
    size_t total = 0;
    while (m.expires.old) {
        size_t moved = kv_map_rehash_step(&m, 1000);
        cr_assert_leq(moved, 2000);
        total += moved;
    }
    cr_assert_gt(total, 0);
    kv_map_free(&m);
}

/* ---- what sizes or re-keys the map at once ---- */

Test(kv_map_grow, reserving_an_empty_map_sizes_it_once_and_moves_nothing)
{
    struct kv_map m;
    cr_assert_eq(kv_map_init(&m), 0);
    cr_assert_eq(kv_map_reserve(&m, 100000), 0);
    cr_assert_eq(m.mask + 1, 262144);
    cr_assert_null(m.old);
    for (unsigned k = 0; k < 100000; k++)
        cr_assert_not_null(put_int(&m, k, 1));
    cr_assert_eq(m.moved, 0, "no growth at all");
    cr_assert(!kv_map_rehashing(&m), "38%% full: neither growth nor shrink is due");
    cr_assert_eq(kv_map_bytes(&m) - m.bytes, 262144 * 8);
    kv_map_free(&m);
}

Test(kv_map_grow, a_growing_map_counts_both_tables_bytes_until_the_old_one_goes)
{
    struct kv_map m;
    cr_assert_eq(kv_map_init(&m), 0);
    unsigned k = 0;
    while (!m.old || m.old_mask + 1 < 1024)
        cr_assert_not_null(put_int(&m, k++, 1));
    cr_assert_eq(m.old_mask + 1, 1024);
    cr_assert_eq(kv_map_bytes(&m) - m.bytes, (1024 + 2048) * 8);
    while (m.old)
        kv_map_rehash_step(&m, 100);
    cr_assert_eq(kv_map_bytes(&m) - m.bytes, 2048 * 8);
    kv_map_free(&m);
}

static bool in_old_table(const struct kv_map *m, const struct kv_map_entry *e)
{
    for (size_t i = 0; i <= m->old_mask; i++)
        if (m->old[i] && (const struct kv_map_entry *)(uintptr_t)(m->old[i] & 0x0000ffffffffffffull) == e)
            return true;
    return false;
}

/* RANDOMKEY draws over both tables: the share of picks still in the old
 * table matches the share of entries there. */
Test(kv_map_grow, randomkey_picks_entries_of_both_tables_alike)
{
    struct kv_map m;
    cr_assert_eq(kv_map_init(&m), 0);
    unsigned k = 0;
    while (!m.old || m.old_mask + 1 < 1024)
        cr_assert_not_null(put_int(&m, k++, 1));
    kv_map_rehash_step(&m, 512); /* half of the old table's slots */
    cr_assert_not_null(m.old);
    double want = (double)m.old_size / (double)m.size;
    int in_old = 0, draws = 4000;
    for (int i = 0; i < draws; i++) {
        const struct kv_map_entry *e = kv_map_pick(&m, (uint64_t)i, SIZE_MAX, kmm_accept_all, NULL);
        cr_assert_not_null(e);
        in_old += in_old_table(&m, e);
    }
    double got = (double)in_old / draws;
    cr_assert(got > want - 0.06 && got < want + 0.06, "old-table share %.3f, entries there %.3f", got, want);
    kv_map_free(&m);
}

/* The key given during a growth moves nothing at once (its own migration
 * follows the growth: test_kv_map_shrink.c); every key stays found. */
Test(kv_map_grow, the_clusters_key_given_during_a_growth_keeps_every_key)
{
    struct kv_map m;
    cr_assert_eq(kv_map_init(&m), 0);
    unsigned k = 0;
    while (!m.old) {
        cr_assert_not_null(put_int(&m, k, (int)k));
        k++;
    }
    uint8_t key[KV_MAP_KEY_BYTES] = {1, 2, 3};
    size_t moved = m.moved;
    kv_map_set_key(&m, key);
    cr_assert_eq(m.moved, moved);
    for (unsigned j = 0; j < k; j++)
        cr_assert_eq(entry_value(get_key(&m, j)), (int)j);
    while (kv_map_rehashing(&m))
        kv_map_rehash_step(&m, 7);
    cr_assert_eq(m.k0, 0x030201ull);
    for (unsigned j = 0; j < k; j++)
        cr_assert_eq(entry_value(get_key(&m, j)), (int)j);
    kv_map_free(&m);
}

/* Clearing a growing map frees the entries of both tables (ASan would
 * report a leak) and leaves a map that works. */
Test(kv_map_grow, clearing_a_growing_map_empties_both_tables)
{
    struct kv_map m;
    cr_assert_eq(kv_map_init(&m), 0);
    unsigned k = 0;
    while (!m.old)
        cr_assert_not_null(put_int(&m, k++, 1));
    kv_map_clear(&m);
    cr_assert_null(m.old);
    cr_assert_eq(m.size, 0);
    size_t pos = 0;
    cr_assert_null(kv_map_next(&m, &pos));
    cr_assert_not_null(put_int(&m, 5, 5));
    cr_assert_eq(entry_value(get_key(&m, 5)), 5);
    kv_map_free(&m);
}
