/* test_log_sweep.c - what compaction and a snapshot's reset drop is
 * released a budget at a time (src/raft/log.c, raft_config.log_sweep_entries
 * and log_sweep_blocks): the dropped entries' bytes leave raft_log_bytes()
 * and raft_log_lent_bytes() at most a budget an event, down to the exact
 * value of what is kept; a lent payload is never read while swept (its
 * mapping is gone); appends, truncations, loans, a second compaction and a
 * reset in the middle of a sweep leave the accounting exact. Leaks and
 * double frees are the ASan build's to report.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../lib/solo.h"
#include "raft/raft_private.h"

/* Every 50th payload is allocated alone (over 16 KiB), the rest chunked
 * (a test of many entries makes them all small). */
static uint32_t large = 20000, small = 200;

static uint32_t len_of(raft_index i)
{
    return i % 50 == 0 ? large : small;
}

static void fill(uint8_t *p, uint32_t len, raft_index i, raft_term t)
{
    for (uint32_t k = 0; k < len; k++)
        p[k] = (uint8_t)(i * 17 + t * 5 + k);
}

/* An APPEND from leader 1 of term t with entries prev+1..last. */
static void append(struct solo *s, raft_term t, raft_index prev, raft_term prev_term, raft_index last,
                   raft_index commit)
{
    size_t n = (size_t)(last - prev), size = 0;
    for (raft_index i = prev + 1; i <= last; i++)
        size += len_of(i);
    struct raft_entry *in = calloc(n ? n : 1, sizeof *in);
    uint8_t *bytes = malloc(size ? size : 1);
    cr_assert(in && bytes);
    size_t at = 0;
    for (size_t k = 0; k < n; k++) {
        raft_index i = prev + 1 + k;
        fill(bytes + at, len_of(i), i, t);
        in[k] = (struct raft_entry){
            .term = t, .index = i, .type = RAFT_ENTRY_COMMAND, .len = len_of(i), .data = bytes + at};
        at += len_of(i);
    }
    cr_assert_eq(solo_append(s, t, prev, prev_term, in, n, commit), RAFT_OK);
    memset(bytes, 0, size);
    free(bytes);
    free(in);
}

static void snapshot(struct solo *s, raft_index index)
{
    uint8_t image[1] = {7};
    struct raft_event e = {.type = RAFT_EVENT_SNAPSHOT, .now_ms = s->now};
    e.snapshot.index = index;
    e.snapshot.data = image;
    e.snapshot.len = 1;
    cr_assert_eq(raft_step(s->r, &e, &s->u), RAFT_OK);
}

static void check(const struct solo *s, raft_index from, raft_index to, raft_term t)
{
    static uint8_t want[20000];
    for (raft_index i = from; i <= to; i++) {
        const struct raft_entry *e = raft_entry_at(s->r, i);
        cr_assert_not_null(e, "entry %llu", (unsigned long long)i);
        cr_assert_eq(e->len, len_of(i));
        fill(want, e->len, i, t);
        cr_assert_eq(memcmp(e->data, want, e->len), 0, "entry %llu keeps its bytes", (unsigned long long)i);
    }
}

/* What the entries in memory hold: a record and a payload each. */
static size_t live_bytes(const struct solo *s)
{
    size_t bytes = 0;
    for (raft_index i = raft_snapshot_index(s->r) + 1; i <= raft_last_index(s->r); i++) {
        const struct raft_entry *e = raft_entry_at(s->r, i);
        if (e)
            bytes += e->len + sizeof *e;
    }
    return bytes;
}

/* Events until nothing is left to sweep: at most `most` of them. */
static void sweep_within(struct solo *s, size_t most)
{
    size_t k = 0;
    for (; k < most && (raft_log_dead_entries(s->r) > 0 || raft_log_dead_blocks(s->r) > 0); k++)
        solo_tick(s, s->now + 1);
    cr_assert_eq(raft_log_dead_entries(s->r), 0, "swept within %zu events", most);
    cr_assert_eq(raft_log_dead_blocks(s->r), 0);
}

static void start(struct solo *s, size_t entries, size_t blocks)
{
    struct raft_config cfg;
    raft_config_default(&cfg, 0, 3, 31);
    cfg.snapshot_trailing = 0;
    cfg.verify_lent = true;
    cfg.log_sweep_entries = entries;
    cfg.log_sweep_blocks = blocks;
    solo_init_config(s, &cfg, NULL);
    cr_assert_eq(sizeof(struct raft_entry), 32, "the literals below count 32 bytes a record");
}

Test(log_sweep, the_budget_and_its_defaults)
{
    struct raft_config cfg;
    raft_config_default(&cfg, 0, 3, 1);
    cr_assert_eq(cfg.log_sweep_entries, 65536);
    cr_assert_eq(cfg.log_sweep_blocks, 4);
    cfg.log_sweep_entries = 0;
    cr_assert_null(raft_new(&cfg, NULL, 0), "a sweep that never ends is refused");
    cfg.log_sweep_entries = 1;
    cfg.log_sweep_blocks = 0;
    cr_assert_null(raft_new(&cfg, NULL, 0));
    cfg.log_sweep_blocks = 1;
    struct raft *r = raft_new(&cfg, NULL, 0);
    cr_assert_not_null(r);
    raft_free(r);
}

Test(log_sweep, a_compaction_is_released_a_budget_an_event)
{
    struct solo s;
    start(&s, 1000, 1);
    append(&s, 1, 0, 0, 10000, 10000);
    cr_assert_eq(raft_applied_index(s.r), 10000);
    /* 200 payloads of 20,000 bytes, 9,800 of 200, 10,000 records. */
    cr_assert_eq(raft_log_bytes(s.r), 6280000);
    /* 9,800 x 200 bytes fill chunks of 64, 128, 256, 512 KiB and part of 1 MiB. */
    cr_assert_eq(s.r->log.n_chunks, 5);
    snapshot(&s, 10000);
    cr_assert_null(raft_entry_at(s.r, 10000));
    cr_assert_eq(raft_last_index(s.r), 10000);
    cr_assert_eq(s.r->log.n_chunks, 0, "the emptied chunks left the live list at once");
    /* The snapshot's own event swept 1,000 entries (20 large, 980 small:
     * 628,000 bytes) and one chunk (the oldest, freed). */
    cr_assert_eq(raft_log_dead_entries(s.r), 9000);
    cr_assert_eq(raft_log_dead_blocks(s.r), 4);
    cr_assert_eq(raft_log_bytes(s.r), 5652000);
    cr_assert_eq(raft_log_spare_bytes(s.r), 0);
    /* Then as much each event, whatever the event. The four newest
     * chunks (128 KiB .. 1 MiB) become spares (log_spare_blocks 4). */
    static const size_t spare_after[] = {131072, 393216, 917504, 1966080, 1966080,
                                         1966080, 1966080, 1966080, 1966080};
    for (size_t k = 1; k <= 9; k++) {
        if (k % 2)
            solo_tick(&s, s.now + 1);
        else
            solo_persisted_all(&s);
        cr_assert_eq(raft_log_dead_entries(s.r), 9000 - 1000 * k);
        cr_assert_eq(raft_log_dead_blocks(s.r), k < 4 ? 4 - k : 0);
        cr_assert_eq(raft_log_bytes(s.r), 5652000 - 628000 * k, "after %zu events", k);
        cr_assert_eq(raft_log_spare_bytes(s.r), spare_after[k - 1], "after %zu events", k);
    }
    cr_assert_eq(raft_log_bytes(s.r), 0);
    cr_assert_eq(s.r->log.front, 0, "the emptied array's front given back");
    cr_assert_eq(s.r->log.cap, 256, "and the array shrunk");
    /* The log goes on from the spares. */
    append(&s, 1, 10000, 1, 10100, 10000);
    check(&s, 10001, 10100, 1);
    cr_assert_eq(raft_log_bytes(s.r), 2 * 20000 + 98 * 200 + 100 * 32);
    solo_free(&s);
}

/* A lent payload's mapping goes when compaction ends the loan: the sweep
 * only counts its bytes, never reads them. */
Test(log_sweep, lent_payloads_are_never_read_by_the_sweep)
{
    struct solo s;
    start(&s, 100, 1);
    append(&s, 1, 0, 0, 3000, 3000);
    solo_persisted_all(&s);
    size_t size = 0;
    for (raft_index i = 1; i <= 2000; i++)
        size += len_of(i);
    size = (size + 4095) / 4096 * 4096;
    uint8_t *copy = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(copy, MAP_FAILED);
    struct raft_entry *lent = calloc(2000, sizeof *lent);
    size_t at = 0;
    for (raft_index i = 1; i <= 2000; i++) {
        fill(copy + at, len_of(i), i, 1);
        lent[i - 1] = (struct raft_entry){.term = 1, .index = i, .len = len_of(i), .data = copy + at};
        at += len_of(i);
    }
    cr_assert_eq(raft_lend(s.r, lent, 2000), RAFT_OK);
    /* 1..2000: 40 x 20,000 + 1,960 x 200 = 1,192,000 bytes lent. */
    cr_assert_eq(raft_log_lent_bytes(s.r), 1192000);
    cr_assert_eq(raft_log_bytes(s.r), 60 * 20000 + 2940 * 200 + 3000 * 32);
    snapshot(&s, 2500);
    raft_index first, last;
    raft_lent_range(s.r, &first, &last);
    cr_assert_lt(last, first, "no entry lent any more");
    /* The driver unmaps what nothing is lent from: any read of it faults. */
    cr_assert_eq(mprotect(copy, size, PROT_NONE), 0);
    cr_assert_eq(raft_log_dead_entries(s.r), 2400);
    /* 1..100 swept: 2 x 20,000 + 98 x 200 lent bytes gone from both counts. */
    cr_assert_eq(raft_log_lent_bytes(s.r), 1192000 - 59600);
    sweep_within(&s, 24); /* 100 an event */
    cr_assert_eq(raft_log_lent_bytes(s.r), 0);
    /* 2501..3000 kept: 10 large, 490 small. */
    cr_assert_eq(raft_log_bytes(s.r), 10 * 20000 + 490 * 200 + 500 * 32);
    check(&s, 2501, 3000, 1);
    solo_free(&s);
    free(lent);
    munmap(copy, size);
}

/* A snapshot install that replaces a log with a lent prefix: the whole
 * log is swept from its own old array, lent payloads never read, and the
 * chunks it held are freed, never kept as spares (only compaction's and a
 * loan's are). */
Test(log_sweep, a_reset_sweeps_the_old_log_and_keeps_none_of_its_chunks)
{
    struct solo s;
    start(&s, 500, 1);
    append(&s, 1, 0, 0, 3000, 3000);
    solo_persisted_all(&s);
    size_t size = 2000 * 20000;
    uint8_t *copy = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(copy, MAP_FAILED);
    struct raft_entry *lent = calloc(2000, sizeof *lent);
    size_t at = 0;
    for (raft_index i = 1; i <= 2000; i++) {
        fill(copy + at, len_of(i), i, 1);
        lent[i - 1] = (struct raft_entry){.term = 1, .index = i, .len = len_of(i), .data = copy + at};
        at += len_of(i);
    }
    cr_assert_eq(raft_lend(s.r, lent, 2000), RAFT_OK);
    size_t spares = raft_log_spare_bytes(s.r);
    cr_assert_gt(spares, 0, "the chunks the loan emptied are spares");
    cr_assert_gt(s.r->log.n_chunks, 0, "2001..3000 hold chunks of their own");
    uint8_t image[1] = {9};
    struct raft_msg m = solo_from(1, RAFT_MSG_SNAPSHOT, 2);
    m.snap_index = 5000;
    m.snap_term = 2;
    m.snap_data = image;
    m.snap_len = 1;
    cr_assert_eq(solo_recv(&s, &m), RAFT_OK);
    cr_assert_eq(mprotect(copy, size, PROT_NONE), 0);
    cr_assert_eq(raft_log_dead_entries(s.r), 2500);
    cr_assert_eq(raft_log_lent_bytes(s.r), 1192000, "2501..3000 swept first: the old array shrinks from its end");
    solo_tick(&s, s.now + 1);
    cr_assert_eq(raft_log_dead_entries(s.r), 2000);
    cr_assert_eq(raft_log_lent_bytes(s.r), 1192000, "2001..2500 swept: none lent");
    solo_tick(&s, s.now + 1);
    cr_assert_eq(raft_log_lent_bytes(s.r), 1192000 - (10 * 20000 + 490 * 200), "1501..2000 swept");
    sweep_within(&s, 3); /* 500 an event */
    cr_assert_eq(raft_log_lent_bytes(s.r), 0);
    cr_assert_eq(raft_log_bytes(s.r), 0);
    cr_assert_eq(raft_log_spare_bytes(s.r), spares, "none of the reset's chunks kept");
    solo_free(&s);
    free(lent);
    munmap(copy, size);
}

/* Appends (the array grown under the dead entries), a truncation, a loan,
 * a second compaction and a snapshot install while sweeps are half done. */
Test(log_sweep, sweeps_meet_appends_truncations_loans_compactions_and_resets)
{
    struct solo s;
    start(&s, 3, 1);
    append(&s, 1, 0, 0, 3000, 2000);
    solo_persisted_all(&s);
    snapshot(&s, 1000);
    cr_assert_eq(raft_log_dead_entries(s.r), 997);
    /* Growth reallocates the array with 997 dead entries in it. */
    append(&s, 1, 3000, 1, 9000, 2000);
    cr_assert_eq(raft_log_dead_entries(s.r), 994);
    check(&s, 1001, 9000, 1);
    /* Term 2 conflicts from 8001 on: 8001..9000 truncated. */
    append(&s, 2, 8000, 1, 8100, 2000);
    cr_assert_eq(raft_last_index(s.r), 8100);
    cr_assert_eq(raft_log_dead_entries(s.r), 991);
    check(&s, 1001, 8000, 1);
    check(&s, 8001, 8100, 2);
    /* 1001..1500 lent, then compaction to 1800 finishes the first sweep
     * (bounded by that compaction's 1,000) and starts its own. */
    uint8_t *copy = malloc(500 * 20000);
    struct raft_entry *lent = calloc(500, sizeof *lent);
    size_t at = 0;
    for (raft_index i = 1001; i <= 1500; i++) {
        fill(copy + at, len_of(i), i, 1);
        lent[i - 1001] = (struct raft_entry){.term = 1, .index = i, .len = len_of(i), .data = copy + at};
        at += len_of(i);
    }
    cr_assert_eq(raft_lend(s.r, lent, 500), RAFT_OK);
    cr_assert_eq(raft_log_lent_bytes(s.r), 10 * 20000 + 490 * 200);
    snapshot(&s, 1800);
    cr_assert_eq(raft_log_dead_entries(s.r), 797);
    cr_assert_eq(raft_log_lent_bytes(s.r), 10 * 20000 + 487 * 200, "1001..1003 swept");
    memset(copy, 0xee, 500 * 20000); /* the loan is over: the bytes may change */
    for (int k = 0; k < 10; k++)
        solo_tick(&s, s.now + 1);
    cr_assert_eq(raft_log_dead_entries(s.r), 767);
    /* A leader's snapshot at 10000 (term 3) the log does not hold: the
     * whole log goes to the dead region, after the rest of the previous one. */
    uint8_t image[1] = {9};
    struct raft_msg m = solo_from(1, RAFT_MSG_SNAPSHOT, 3);
    m.snap_index = 10000;
    m.snap_term = 3;
    m.snap_data = image;
    m.snap_len = 1;
    cr_assert_eq(solo_recv(&s, &m), RAFT_OK);
    cr_assert_eq(raft_snapshot_index(s.r), 10000);
    cr_assert_eq(raft_log_dead_entries(s.r), 6300 - 3, "1801..8100 left, 3 swept");
    cr_assert_eq(raft_log_lent_bytes(s.r), 0, "nothing was lent after 1800");
    append(&s, 3, 10000, 3, 10200, 10000);
    check(&s, 10001, 10200, 3);
    sweep_within(&s, 2099); /* 3 an event */
    /* 10001..10200: 4 large, 196 small. */
    cr_assert_eq(raft_log_bytes(s.r), 4 * 20000 + 196 * 200 + 200 * 32);
    cr_assert_eq(raft_log_bytes(s.r), live_bytes(&s));
    check(&s, 10001, 10200, 3);
    solo_free(&s);
    free(lent);
    free(copy);
}

/* raft_free() in the middle of a sweep releases the rest at once. */
Test(log_sweep, freeing_the_core_mid_sweep_releases_everything)
{
    struct solo s;
    start(&s, 1, 1);
    append(&s, 1, 0, 0, 2000, 2000);
    snapshot(&s, 1500);
    cr_assert_eq(raft_log_dead_entries(s.r), 1499);
    solo_free(&s);
}

/* The swept front goes back to the allocation only when the copy is
 * small or paid for: after a compaction that leaves more than 256K
 * entries, not before the front is as long as the live part. */
Test(log_sweep, the_live_entries_move_to_the_front_when_the_copy_is_small_or_paid_for)
{
    struct solo s;
    large = small = 8;
    start(&s, 1 << 20, 64);
    for (raft_index at = 0; at < 600000; at += 100000)
        append(&s, 1, at, at ? 1 : 0, at + 100000, at + 100000);
    snapshot(&s, 200000);
    cr_assert_eq(raft_log_dead_entries(s.r), 0);
    cr_assert_eq(s.r->log.front, 200000, "400,000 live entries, a 200,000 front: not moved");
    check(&s, 200001, 200100, 1);
    snapshot(&s, 300000);
    cr_assert_eq(s.r->log.front, 0, "a 300,000 front, as long as the live part: moved");
    check(&s, 300001, 600000, 1);
    cr_assert_eq(s.r->log.cap, 1048576);
    snapshot(&s, 400000);
    cr_assert_eq(s.r->log.front, 0, "200,000 live entries: moved");
    /* Under a quarter full (200,000 of 1,048,576): 262,144 slots given
     * back an event, until it is no longer. */
    cr_assert_eq(s.r->log.cap, 786432);
    solo_tick(&s, s.now + 1);
    cr_assert_eq(s.r->log.cap, 786432);
    cr_assert_eq(raft_log_bytes(s.r), live_bytes(&s));
    solo_free(&s);
}

/* A reset's old array is swept from its end and shrinks as it goes, so
 * no event frees it whole. */
Test(log_sweep, a_reset_gives_the_old_array_back_a_step_at_a_time)
{
    struct solo s;
    large = small = 8;
    start(&s, 65536, 4);
    for (raft_index at = 0; at < 600000; at += 100000)
        append(&s, 1, at, at ? 1 : 0, at + 100000, at + 100000);
    cr_assert_eq(s.r->log.cap, 1048576);
    uint8_t image[1] = {9};
    struct raft_msg m = solo_from(1, RAFT_MSG_SNAPSHOT, 2);
    m.snap_index = 700000;
    m.snap_term = 2;
    m.snap_data = image;
    m.snap_len = 1;
    cr_assert_eq(solo_recv(&s, &m), RAFT_OK);
    /* 65,536 entries an event from the end; the array shrinks to what is
     * left once 262,144 slots or more lie past it. */
    static const size_t cap_after[] = {534464, 534464, 534464, 534464, 272320, 272320, 272320, 272320};
    for (size_t k = 1; k <= 8; k++) {
        cr_assert_eq(raft_log_dead_entries(s.r), 600000 - 65536 * k, "after %zu events", k);
        cr_assert_eq(s.r->log.dead.alloc_cap, cap_after[k - 1], "after %zu events", k);
        solo_tick(&s, s.now + 1);
    }
    sweep_within(&s, 2);
    cr_assert_eq(raft_log_bytes(s.r), 0);
    solo_free(&s);
}
