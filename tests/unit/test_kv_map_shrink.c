/* test_kv_map_shrink.c - the map's migrations other than growth (map.h):
 * shrinking after mass deletion, re-keying a filled map, and what a
 * snapshot child changes (growth postponed to 90%, migrations paused,
 * no shrink). A seeded model run interleaves every operation with them;
 * SCAN cursors cross shrinking and growing members; the per-operation
 * bound and the one move per entry per migration; the slot memory given
 * back after a mass delete, for the slot table and the deadline table. */
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
    return kmm_seed("kv map shrink", 20261208);
}

static size_t slot_bytes(const struct kv_map *m)
{
    return kv_map_bytes(m) - m->bytes;
}

static bool rekeying(const struct kv_map *m)
{
    return m->rekey_pending || (m->old && (m->old_k0 != m->k0 || m->old_k1 != m->k1));
}

static void settle(struct kv_map *m)
{
    while (kv_map_rehashing(m))
        kv_map_rehash_step(m, 4096);
}

/* ---- the model run ---- */

enum { KEYS = 4000 };

/* Phases fill the key space and empty it again (so the map grows and
 * shrinks again and again), the snapshot flag goes on and off, and now
 * and then the map is given another hash key; every put and delete is
 * checked against the bound, every full SCAN against the guarantee
 * (re-keys overlapping some of them). */
Test(kv_map_shrink, a_random_run_with_shrinks_rekeys_and_snapshot_children_agrees_with_a_model,
     .timeout = 120)
{
    struct rng g;
    rng_seed(&g, test_seed());
    struct kv_map_model *md = kmm_new(KEYS);
    struct kv_map m;
    cr_assert_eq(kv_map_init(&m), 0);
    bool child = false, scanning = false, scan_rekeyed = false;
    uint64_t cursor = 0;
    size_t shrinks = 0, growths = 0, rekeys = 0, scans = 0, scans_across_shrink = 0,
           scans_across_rekey = 0, child_steps = 0, paused_moves = 0, deadline_shrinks = 0;
    bool scan_saw_shrink = false;
    for (int step = 0; step < 240000; step++) {
        /* Phases of 15000 steps: mostly puts, then mostly deletes (and
         * deadlines cleared rather than set). */
        bool filling = (step / 15000) % 2 == 0;
        int put_pct = filling ? 60 : 1;
        uint64_t k0_before = m.k0;
        size_t mask0 = m.mask, xmask0 = m.expires.mask;
        size_t migrations0 = m.migrations, xmig0 = m.expires.migrations;
        bool had_slots = m.expires.slots != NULL;
        /* Paused: a child runs and the table taking new keys is under 60%
         * (for the slot table and the deadline table alike). */
        bool map_paused = child && m.old && m.size + 1 <= (m.mask + 1) / 10 * 6;
        bool x_paused = child && m.expires.old && m.expires.size + 1 <= (m.expires.mask + 1) / 10 * 6;
        size_t moved0 = m.moved, xmoved0 = m.expires.moved;
        unsigned k = (unsigned)rng_below(&g, KEYS);
        uint64_t what = rng_below(&g, 100);
        bool op = false;
        if (what < (uint64_t)put_pct) {
            kmm_put(&m, md, k, (int)rng_below(&g, 1000));
            op = true;
        } else if (what < 70) {
            kmm_del(&m, md, k, step);
            op = true;
        } else if (what < 76) {
            kmm_lookup(&m, md, k, step);
        } else if (what < 84) {
            struct kv_map_entry *e = get_key(&m, k);
            if (e) {
                int64_t at = what < 82 && filling ? 1000 + step : 0;
                cr_assert_eq(kv_map_set_expiry(&m, e, at), 0);
                md->at[k] = at;
                op = true;
            }
        } else if (what < 89) {
            size_t budget = (size_t)rng_below(&g, 64);
            size_t moved = kv_map_rehash_step(&m, budget);
            cr_assert_leq(moved, 2 * budget);
            paused_moves += map_paused || x_paused;
        } else if (what < 97) {
            if (!scanning) {
                kmm_scan_begin(md);
                scanning = true;
                scan_rekeyed = rekeying(&m);
                scan_saw_shrink = false;
                cursor = 0;
            }
            uint64_t count = 1 + rng_below(&g, 30);
            cursor = kv_map_scan(&m, cursor, count, 10 * count, kmm_visit, md);
            if (cursor == 0) {
                kmm_scan_end(md, step);
                scanning = false;
                scans++;
                scans_across_shrink += scan_saw_shrink;
                scans_across_rekey += scan_rekeyed;
            }
        } else if (what < 99) {
            /* A snapshot child is forked or reaped. */
            child = !child;
            kv_map_snapshot_child(child);
        } else if (rng_below(&g, 200) == 0) {
            uint8_t key[KV_MAP_KEY_BYTES];
            for (int i = 0; i < KV_MAP_KEY_BYTES; i++)
                key[i] = (uint8_t)rng_next(&g);
            kv_map_set_key(&m, key);
            uint8_t back[KV_MAP_KEY_BYTES];
            cr_assert(kv_map_key(&m, back));
            cr_assert_eq(memcmp(back, key, sizeof key), 0, "the new key reads back at once");
            rekeys++;
            scan_rekeyed = true;
        } else {
            const struct kv_map_entry *e = kv_map_pick(&m, rng_next(&g), SIZE_MAX, kmm_accept_all, NULL);
            cr_assert_eq(e != NULL, m.size > 0);
        }
        if (map_paused)
            cr_assert_eq(m.moved, moved0, "a paused migration moved entries (step %d)", step);
        if (x_paused)
            cr_assert_eq(m.expires.moved, xmoved0, "a paused deadline migration moved (step %d)", step);
        if (op) {
            cr_assert_leq(m.moved - moved0, 4, "step %d moved %zu entries", step, m.moved - moved0);
            cr_assert_leq(m.expires.moved - xmoved0, 4, "step %d moved %zu deadlines", step,
                          m.expires.moved - xmoved0);
        }
        if (m.migrations != migrations0) {
            bool shrink = m.mask < mask0;
            shrinks += shrink;
            growths += m.mask > mask0;
            if (shrink)
                cr_assert(!child, "no shrink starts while a snapshot child runs (step %d)", step);
            if (m.mask > mask0 && child && m.k0 == k0_before)
                cr_assert_gt(m.size, (mask0 + 1) / 10 * 9,
                             "a growth under a child waits for 90%% (step %d)", step);
        }
        if (m.expires.migrations != xmig0 && had_slots && (!m.expires.slots || m.expires.mask < xmask0)) {
            cr_assert(!child, "no deadline shrink while a snapshot child runs");
            deadline_shrinks++;
        }
        if (child && m.old)
            child_steps++;
        if (scanning && rekeying(&m))
            scan_rekeyed = true;
        if (scanning && m.old && m.mask < m.old_mask)
            scan_saw_shrink = true;
        if (step % 5000 == 0)
            kmm_assert_same(&m, md);
    }
    if (child)
        kv_map_snapshot_child(false);
    kmm_assert_same(&m, md);
    settle(&m);
    kmm_assert_same(&m, md);
    printf("shrink model run: %zu shrinks, %zu growths, %zu re-keys, %zu deadline shrinks, %zu scans "
           "(%zu across a shrink, %zu across a re-key), %zu steps migrating under a child, %zu "
           "loop steps while paused\n",
           shrinks, growths, rekeys, deadline_shrinks, scans, scans_across_shrink,
           scans_across_rekey, child_steps, paused_moves);
    cr_assert_geq(shrinks, 5, "the run must shrink often");
    cr_assert_gt(growths, 10);
    cr_assert_gt(rekeys, 3);
    cr_assert_gt(deadline_shrinks, 3);
    cr_assert_gt(scans_across_shrink, 5);
    cr_assert_gt(scans_across_rekey, 3);
    cr_assert_gt(child_steps, 1000, "and migrate while a child runs");
    cr_assert_gt(paused_moves, 100, "loop steps came while paused");
    kv_map_free(&m);
    kmm_free(md);
}

/* ---- memory given back ---- */

/* 100000 keys with deadlines take 262144 slots of each table; deleting
 * all but 1000 shrinks both, a quarter at a time, to 4096 slots (1000 is
 * at least 1/8 of 4096, not of 1024), and deleting the rest to the least
 * sizes: 64 slots, and no deadline table at all. */
Test(kv_map_shrink, mass_deletion_gives_the_slot_memory_back, .timeout = 60)
{
    struct kv_map m;
    cr_assert_eq(kv_map_init(&m), 0);
    for (unsigned k = 0; k < 100000; k++) {
        struct kv_map_entry *e = put_int(&m, k, (int)k);
        cr_assert_not_null(e);
        cr_assert_eq(kv_map_set_expiry(&m, e, 1000 + k), 0);
    }
    settle(&m);
    cr_assert_eq(m.mask + 1, 262144);
    cr_assert_eq(m.expires.mask + 1, 262144);
    cr_assert_eq(slot_bytes(&m), 262144 * 8 + 262144 * 16);
    for (unsigned k = 1000; k < 100000; k++)
        cr_assert_eq(del_key(&m, k), 1);
    settle(&m);
    cr_assert_eq(m.mask + 1, 4096);
    cr_assert_eq(m.expires.mask + 1, 4096);
    cr_assert_eq(slot_bytes(&m), 4096 * 8 + 4096 * 16);
    for (unsigned k = 0; k < 100000; k++) {
        const struct kv_map_entry *e = get_key(&m, k);
        cr_assert_eq(e != NULL, k < 1000, "k%u", k);
        if (e)
            cr_assert_eq(kv_map_expiry(&m, e), 1000 + k);
    }
    for (unsigned k = 0; k < 1000; k++)
        cr_assert_eq(del_key(&m, k), 1);
    settle(&m);
    cr_assert_eq(slot_bytes(&m), 64 * 8);
    cr_assert_null(m.expires.slots);
    kv_map_free(&m);
}

/* FLUSHALL below the detach threshold clears in place: the table goes
 * back to 64 slots at once, a snapshot child or not (a new small table,
 * rather than zeroing the old one's pages, which the child shares). */
Test(kv_map_shrink, clearing_returns_the_table_to_its_least_size)
{
    struct kv_map m;
    cr_assert_eq(kv_map_init(&m), 0);
    for (int child = 0; child < 2; child++) {
        for (unsigned k = 0; k < 10000; k++)
            cr_assert_eq(kv_map_set_expiry(&m, put_int(&m, k, 1), 5), 0);
        settle(&m);
        cr_assert_eq(m.mask + 1, 16384);
        if (child)
            kv_map_snapshot_child(true);
        kv_map_clear(&m);
        cr_assert_eq(slot_bytes(&m), 64 * 8);
        cr_assert(!kv_map_rehashing(&m));
        cr_assert_not_null(put_int(&m, 3, 3));
        cr_assert_eq(entry_value(get_key(&m, 3)), 3);
        if (child)
            kv_map_snapshot_child(false);
    }
    kv_map_free(&m);
}

/* Deleted down to nothing while a snapshot child runs, the table stays
 * (a shrink would write the pages the child shares); the first loop step
 * after the child is reaped shrinks it. */
Test(kv_map_shrink, a_shrink_left_by_a_child_is_started_by_the_next_step)
{
    struct kv_map m;
    cr_assert_eq(kv_map_init(&m), 0);
    for (unsigned k = 0; k < 10000; k++)
        cr_assert_not_null(put_int(&m, k, 1));
    settle(&m);
    kv_map_snapshot_child(true);
    for (unsigned k = 0; k < 10000; k++)
        cr_assert_eq(del_key(&m, k), 1);
    cr_assert_eq(m.mask + 1, 16384, "the child shares the table: it stays");
    cr_assert(!kv_map_rehashing(&m));
    kv_map_rehash_step(&m, 4096);
    cr_assert_eq(m.mask + 1, 16384);
    kv_map_snapshot_child(false);
    cr_assert(kv_map_rehashing(&m), "the shrink is due once the child is reaped");
    kv_map_rehash_step(&m, 4096);
    cr_assert_eq(slot_bytes(&m), 64 * 8, "an empty map goes straight to 64 slots");
    kv_map_free(&m);
}

/* ---- the bound, and one move per entry ---- */

/* 200000 keys, then deletes down to 2000: no delete moves more than 4
 * entries; in each shrink every entry the old table held when it started
 * either moves once or is deleted from there; and no shrink has to be
 * finished at once (no migration starts while another runs). */
Test(kv_map_shrink, shrinking_moves_each_entry_once_and_at_most_4_per_delete, .timeout = 60)
{
    struct kv_map m;
    cr_assert_eq(kv_map_init(&m), 0);
    enum { N = 200000 };
    for (unsigned k = 0; k < N; k++)
        cr_assert_not_null(put_int(&m, k, (int)k));
    settle(&m);
    cr_assert_eq(m.mask + 1, 524288);
    size_t shrinks = 0, start_left = 0, moved_in = 0, deleted_in = 0;
    for (unsigned k = N - 1; k >= 2000; k--) {
        size_t before = m.moved, mig = m.migrations, left = m.old ? m.old_size : 0;
        bool was = m.old != NULL;
        cr_assert_eq(del_key(&m, k), 1);
        size_t moved = m.moved - before;
        cr_assert_leq(moved, 4, "delete of k%u moved %zu", k, moved);
        if (was) {
            cr_assert_eq(m.migrations, mig, "a shrink was finished at once at k%u", k);
            moved_in += moved;
            deleted_in += left - (m.old ? m.old_size : 0) - moved;
            if (!m.old)
                cr_assert_eq(moved_in + deleted_in, start_left,
                             "each entry of the old table moved once or was deleted");
        }
        if (m.migrations != mig) {
            cr_assert_lt(m.mask, m.old ? m.old_mask : (size_t)-1, "a shrink");
            shrinks++;
            start_left = m.old ? m.old_size : 0;
            moved_in = deleted_in = 0;
        }
        if (k % 16384 == 0)
            for (unsigned j = 0; j < k; j += 97)
                cr_assert_eq(entry_value(get_key(&m, j)), (int)j);
    }
    settle(&m);
    printf("%zu shrinks on the way from 200000 keys to 2000\n", shrinks);
    cr_assert_eq(shrinks, 3, "524288 -> 131072 -> 32768 -> 8192 slots");
    cr_assert_eq(m.mask + 1, 8192);
    for (unsigned j = 0; j < N; j++)
        cr_assert_eq(get_key(&m, j) != NULL, j < 2000);
    kv_map_free(&m);
}

/* Moved once: a shrink left to the loop's steps alone moves exactly the
 * entries the old table held when it started, and visits at most 16
 * slots per entry allowed. */
Test(kv_map_shrink, a_shrink_by_loop_steps_moves_exactly_the_entries_it_started_with)
{
    struct kv_map m;
    cr_assert_eq(kv_map_init(&m), 0);
    for (unsigned k = 0; k < 60000; k++)
        cr_assert_not_null(put_int(&m, k, (int)k));
    settle(&m);
    cr_assert_eq(m.mask + 1, 131072);
    kv_map_snapshot_child(true); /* no shrink while deleting */
    for (unsigned k = 3000; k < 60000; k++)
        cr_assert_eq(del_key(&m, k), 1);
    cr_assert_eq(m.mask + 1, 131072);
    cr_assert_null(m.old);
    kv_map_snapshot_child(false);
    size_t moved0 = m.moved;
    cr_assert_eq(kv_map_rehash_step(&m, 0), 0);
    cr_assert_not_null(m.old, "the step started the shrink");
    cr_assert_eq(m.old_mask + 1, 131072);
    cr_assert_eq(m.mask + 1, 32768);
    size_t steps = 0;
    while (m.old) {
        size_t done0 = m.old_done;
        size_t moved = kv_map_rehash_step(&m, 10);
        cr_assert_leq(moved, 10);
        cr_assert_leq(m.old_done - done0, 160, "at most 16 slots visited per entry allowed");
        steps++;
    }
    cr_assert_eq(m.moved - moved0, 3000, "each of the 3000 entries moved once");
    cr_assert_geq(steps, 700, "about 131072 slots, 160 a step");
    /* 3000 is below 1/8 of 32768: the next shrink, to 8192, is due. */
    cr_assert(kv_map_rehashing(&m));
    settle(&m);
    cr_assert_eq(m.mask + 1, 8192);
    for (unsigned k = 0; k < 60000; k++)
        cr_assert_eq(get_key(&m, k) != NULL, k < 3000);
    kv_map_free(&m);
}

/* ---- snapshot children ---- */

/* While a child runs a full table waits: 1024 slots take 918 keys (90%)
 * before a put grows it, where 714 (70%) is the limit without a child. */
Test(kv_map_shrink, a_snapshot_child_postpones_growth_to_90_percent)
{
    struct kv_map m;
    cr_assert_eq(kv_map_init(&m), 0);
    cr_assert_eq(kv_map_reserve(&m, 700), 0);
    cr_assert_eq(m.mask + 1, 1024);
    kv_map_snapshot_child(true);
    unsigned k = 0;
    while (m.mask + 1 == 1024)
        cr_assert_not_null(put_int(&m, k++, 1));
    cr_assert_eq(k, 919, "the 919th key grows the table");
    cr_assert_not_null(m.old);
    cr_assert(!kv_map_rehashing(&m), "paused: the loop has no step to take");
    size_t moved = m.moved;
    for (int i = 0; i < 100; i++) {
        cr_assert_not_null(put_int(&m, k++, 1));
        kv_map_rehash_step(&m, 4096);
    }
    cr_assert_eq(m.moved, moved, "the migration is paused");
    kv_map_snapshot_child(false);
    cr_assert(kv_map_rehashing(&m), "and goes on once the child is reaped");
    settle(&m);
    cr_assert_null(m.old);
    for (unsigned j = 0; j < k; j++)
        cr_assert_not_null(get_key(&m, j));
    /* Without a child: 714 keys fill 1024 slots. */
    struct kv_map n;
    cr_assert_eq(kv_map_init(&n), 0);
    cr_assert_eq(kv_map_reserve(&n, 700), 0);
    k = 0;
    while (n.mask + 1 == 1024)
        cr_assert_not_null(put_int(&n, k++, 1));
    cr_assert_eq(k, 715, "the 715th key grows the table");
    kv_map_free(&n);
    kv_map_free(&m);
}

/* A growth under way when the child is forked pauses: puts go to the
 * new table and move nothing while it is under 60% full; past that the
 * move resumes at its bound and ends before the new table reaches 90%,
 * so no put finishes it at once. After the child, a postponed growth is
 * started by the loop's step. */
Test(kv_map_shrink, a_growth_pauses_under_a_child_and_resumes_before_the_new_table_fills,
     .timeout = 60)
{
    struct kv_map m;
    cr_assert_eq(kv_map_init(&m), 0);
    unsigned k = 0;
    while (!m.old || m.old_mask + 1 < 65536)
        cr_assert_not_null(put_int(&m, k++, 1));
    cr_assert_eq(m.mask + 1, 131072);
    kv_map_snapshot_child(true);
    size_t paused_puts = 0, resumed_puts = 0;
    while (m.old) {
        size_t before = m.moved;
        bool full = m.size + 1 > 131072 / 10 * 6;
        cr_assert_not_null(put_int(&m, k++, 1));
        cr_assert_leq(m.moved - before, 4);
        if (!full)
            cr_assert_eq(m.moved, before, "paused below 60%% (put %u)", k);
        paused_puts += !full;
        resumed_puts += full;
        cr_assert_leq(m.size, 131072 / 10 * 9, "the move ends before 90%%");
    }
    cr_assert_eq(m.mask + 1, 131072, "no second growth meanwhile");
    printf("%zu puts paused, %zu resumed the move\n", paused_puts, resumed_puts);
    cr_assert_gt(paused_puts, 30000, "from 35%% to 60%% of 131072 slots");
    /* The table, over 70% now, waits for 90% while the child runs. */
    while (m.size + 1 <= 131072 / 10 * 8)
        cr_assert_not_null(put_int(&m, k++, 1));
    cr_assert_eq(m.mask + 1, 131072);
    cr_assert(!kv_map_rehashing(&m));
    kv_map_snapshot_child(false);
    cr_assert(kv_map_rehashing(&m), "the postponed growth is due");
    kv_map_rehash_step(&m, 4096);
    cr_assert_eq(m.mask + 1, 262144);
    settle(&m);
    for (unsigned j = 0; j < k; j += 7)
        cr_assert_not_null(get_key(&m, j));
    kv_map_free(&m);
}

/* ---- re-keying ---- */

struct count_ctx {
    size_t *n;
};

static void count_odd(void *ctx, const struct kv_map_entry *e)
{
    struct count_ctx *c = ctx;
    *c->n += key_number(e) % 2;
}

/* The cluster's key given to a map of 100000 keys: no put or delete moves
 * more than 4 entries, every key is found throughout, the loop's steps
 * finish it, every entry moves once. */
Test(kv_map_shrink, the_clusters_key_moves_a_filled_map_a_step_at_a_time, .timeout = 60)
{
    struct kv_map m;
    cr_assert_eq(kv_map_init(&m), 0);
    enum { N = 100000 };
    for (unsigned k = 0; k < N; k++)
        cr_assert_not_null(put_int(&m, k, (int)k));
    settle(&m);
    uint8_t key[KV_MAP_KEY_BYTES], back[KV_MAP_KEY_BYTES];
    for (int i = 0; i < KV_MAP_KEY_BYTES; i++)
        key[i] = (uint8_t)(i * 29 + 5);
    size_t moved0 = m.moved;
    kv_map_set_key(&m, key);
    cr_assert_eq(m.moved, moved0, "setting the key moves nothing at once");
    cr_assert_not_null(m.old);
    cr_assert(kv_map_key(&m, back));
    cr_assert_eq(memcmp(back, key, sizeof key), 0);
    size_t mig = m.migrations;
    kv_map_set_key(&m, key);
    cr_assert_eq(m.migrations, mig, "the same key again starts nothing");
    size_t deleted_old = 0;
    for (unsigned k = 0; k < 2000; k++) {
        size_t before = m.moved, left = m.old ? m.old_size : 0;
        if (k % 2)
            cr_assert_not_null(put_int(&m, k, -(int)k));
        else
            cr_assert_eq(del_key(&m, k), 1);
        cr_assert_leq(m.moved - before, 4);
        deleted_old += left - (m.old ? m.old_size : 0) - (m.moved - before);
    }
    cr_assert_eq(m.migrations, mig);
    cr_assert_gt(deleted_old, 900, "most deletes took the key from the old table");
    for (unsigned k = 0; k < N; k += 13)
        cr_assert_eq(get_key(&m, k) != NULL, k >= 2000 || k % 2, "k%u", k);
    while (m.old)
        cr_assert_leq(kv_map_rehash_step(&m, 4096), 4096);
    cr_assert_eq(m.moved - moved0 + deleted_old, N, "every entry moved once, or was deleted first");
    for (unsigned k = 0; k < N; k++) {
        const struct kv_map_entry *e = get_key(&m, k);
        if (k < 2000 && k % 2 == 0) {
            cr_assert_null(e);
            continue;
        }
        cr_assert_not_null(e, "k%u lost", k);
        cr_assert_eq(entry_value(e), k < 2000 ? -(int)k : (int)k);
    }
    /* Settled, each key sits in its bucket under the new key: a SCAN of
     * one bucket returns exactly the keys whose hash has its low bits (the
     * cursor's bucket number is its low 40 bits, the bits above tag the
     * key: map.h). */
    size_t in_bucket = 0;
    for (unsigned k = 1; k < N; k += 2) {
        char t[64];
        size_t n = key_text(t, sizeof t, k);
        in_bucket += (kv_map_hash_with(key, t, n) & m.mask) == 5;
    }
    size_t got = 0;
    struct count_ctx c = {.n = &got};
    uint64_t tag = kv_map_scan(&m, 0, 1, 1, count_odd, &c) >> 40;
    cr_assert_neq(tag, 0);
    got = 0;
    kv_map_scan(&m, tag << 40 | 5, 1, 1, count_odd, &c);
    cr_assert_eq(got, in_bucket);
    kv_map_free(&m);
}

/* Given during a growth, the key waits for it (kv_map_key shows it at
 * once), then its own migration runs; no call moves more than 4. */
Test(kv_map_shrink, the_clusters_key_given_during_a_growth_waits_for_it)
{
    struct kv_map m;
    cr_assert_eq(kv_map_init(&m), 0);
    unsigned k = 0;
    while (!m.old || m.old_mask + 1 < 8192) {
        cr_assert_not_null(put_int(&m, k, (int)k));
        k++;
    }
    uint8_t key[KV_MAP_KEY_BYTES] = {1, 2, 3}, back[KV_MAP_KEY_BYTES];
    size_t mig = m.migrations;
    kv_map_set_key(&m, key);
    cr_assert(m.rekey_pending);
    cr_assert_eq(m.migrations, mig);
    cr_assert(kv_map_key(&m, back));
    cr_assert_eq(memcmp(back, key, sizeof key), 0);
    bool rekeyed = false;
    for (int i = 0; i < 20000 && !(rekeyed && !m.old); i++) {
        size_t before = m.moved;
        cr_assert_not_null(put_int(&m, k, (int)k));
        k++;
        cr_assert_leq(m.moved - before, 4);
        if (m.old && m.old_k0 != m.k0)
            rekeyed = true;
        for (unsigned j = 0; j < k; j += 101)
            cr_assert_eq(entry_value(get_key(&m, j)), (int)j, "k%u at put %d", j, i);
    }
    cr_assert(rekeyed, "the re-key ran after the growth");
    cr_assert_null(m.old);
    cr_assert(!m.rekey_pending);
    for (unsigned j = 0; j < k; j++)
        cr_assert_eq(entry_value(get_key(&m, j)), (int)j);
    cr_assert_eq(m.k0, 0x030201ull, "the map hashes under the key given");
    kv_map_free(&m);
}

/* ---- SCAN across shrinking members ---- */

/* Three members with the cluster's key hold the same 2000 keys; each now
 * and then takes many keys of its own and deletes them again (so it grows
 * and shrinks, often in the middle of a SCAN), or is rebuilt in a table
 * of another size. One SCAN's calls go to any of them; every one of the
 * 2000 keys comes back in each full iteration. */
Test(kv_map_shrink, a_cursor_moves_between_shrinking_growing_and_settled_members, .timeout = 60)
{
    struct rng g;
    rng_seed(&g, test_seed());
    enum { K = 2000, MEMBERS = 3, EXTRA = 40000 };
    uint8_t key[KV_MAP_KEY_BYTES];
    for (int i = 0; i < KV_MAP_KEY_BYTES; i++)
        key[i] = (uint8_t)(0x33 * i + 7);
    struct kv_map m[MEMBERS];
    static unsigned extra_keys[MEMBERS][EXTRA];
    struct kmm_extra extra[MEMBERS];
    unsigned next_extra = 0;
    for (int i = 0; i < MEMBERS; i++) {
        cr_assert_eq(kv_map_init(&m[i]), 0);
        kv_map_set_key(&m[i], key);
        extra[i] = (struct kmm_extra){.keys = extra_keys[i], .cap = EXTRA};
        for (unsigned k = 0; k < K; k++)
            cr_assert_not_null(put_int(&m[i], k, 1));
    }
    bool seen[K];
    struct kmm_cross ctx = {.seen = seen, .keys = K};
    size_t shrink_calls = 0, shrinks_started = 0;
    for (int round = 0; round < 60; round++) {
        memset(seen, 0, sizeof seen);
        uint64_t cursor = 0;
        do {
            int i = (int)rng_below(&g, MEMBERS);
            struct kv_map *x = &m[i];
            size_t mig = x->migrations, mask = x->mask;
            uint64_t what = rng_below(&g, 10);
            if (what < 3) {
                kmm_extra_add(x, &extra[i], &next_extra, rng_below(&g, 3000));
            } else if (what < 5) {
                kv_map_rehash_step(x, (size_t)rng_below(&g, 2000));
            } else if (what < 8) {
                kmm_extra_del(x, &extra[i], &g, rng_below(&g, 4000));
            } else if (what < 9) {
                kmm_member_rebuild(x, key, K, &g, 40000, &extra[i]);
                mig = x->migrations;
                mask = x->mask;
            }
            if (x->migrations != mig && x->mask < mask)
                shrinks_started++;
            if (x->old && x->mask < x->old_mask)
                shrink_calls++;
            uint64_t count = 1 + rng_below(&g, 100);
            cursor = kv_map_scan(x, cursor, count, 10 * count, kmm_cross_visit, &ctx);
        } while (cursor != 0);
        kmm_cross_check(&ctx, round);
    }
    printf("cross-member scans: %zu calls on shrinking members, %zu shrinks started mid-scan\n",
           shrink_calls, shrinks_started);
    cr_assert_gt(shrink_calls, 20);
    cr_assert_gt(shrinks_started, 5);
    for (int i = 0; i < MEMBERS; i++)
        kv_map_free(&m[i]);
}

/* The loop's first steps into a new table of 2^19 slots (4 MiB) touch its
 * pages, 1 MiB a step, and move nothing; then they move 4096 entries
 * each. */
Test(kv_map_shrink, the_loop_touches_a_large_new_table_before_moving_into_it)
{
    struct kv_map m;
    cr_assert_eq(kv_map_init(&m), 0);
    for (unsigned k = 0; k < 300000; k++)
        cr_assert_not_null(put_int(&m, k, 1));
    settle(&m);
    cr_assert_eq(m.mask + 1, 524288);
    uint8_t key[KV_MAP_KEY_BYTES] = {9, 9, 9};
    kv_map_set_key(&m, key);
    cr_assert_not_null(m.old);
    cr_assert_eq(m.mask + 1, 1048576, "300000 keys: over half of 2^19, so the re-key doubles");
    for (int step = 0; step < 8; step++) {
        cr_assert_eq(kv_map_rehash_step(&m, 4096), 0, "step %d warms the table", step);
        cr_assert_eq(m.warm, (size_t)(step + 1) * 131072);
    }
    cr_assert_eq(kv_map_rehash_step(&m, 4096), 4096);
    settle(&m);
    for (unsigned k = 0; k < 300000; k += 7)
        cr_assert_not_null(get_key(&m, k));
    kv_map_free(&m);
}
