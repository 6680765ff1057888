/* test_log_table.c - the log's entry table is allocated, grown, shrunk
 * and freed through raft_config.log_table_resize when the driver gives
 * one (src/raft/log.c): each call with the exact sizes the table had and
 * gets, the entries intact across a move to a new address, a reset's old
 * table given back a bounded step an event, down to its free.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/solo.h"
#include "raft/raft_private.h"

struct resize_call {
    bool had_table;
    size_t old_bytes, new_bytes;
};

static struct resize_call calls[64];
static size_t n_calls;

/* Counts each call; every resize moves the table (a fresh allocation,
 * old_bytes copied, the old one freed), so the core must follow it, and
 * an old_bytes past the table is a read past its end under ASan. */
static void *counting_resize(void *p, size_t old_bytes, size_t new_bytes)
{
    cr_assert_lt(n_calls, 64);
    calls[n_calls++] = (struct resize_call){.had_table = p != NULL, .old_bytes = old_bytes, .new_bytes = new_bytes};
    if (new_bytes == 0) {
        free(p);
        return NULL;
    }
    void *q = malloc(new_bytes);
    cr_assert_not_null(q);
    if (p)
        memcpy(q, p, old_bytes < new_bytes ? old_bytes : new_bytes);
    free(p);
    return q;
}

static void assert_call(size_t k, bool had_table, size_t old_bytes, size_t new_bytes)
{
    cr_assert_gt(n_calls, k, "call %zu made", k);
    cr_assert_eq(calls[k].had_table, had_table, "call %zu: a table given", k);
    cr_assert_eq(calls[k].old_bytes, old_bytes, "call %zu: from %zu bytes, not %zu", k, old_bytes,
                 calls[k].old_bytes);
    cr_assert_eq(calls[k].new_bytes, new_bytes, "call %zu: to %zu bytes, not %zu", k, new_bytes,
                 calls[k].new_bytes);
}

static uint32_t len_of(raft_index i)
{
    return 1 + (uint32_t)(i % 7);
}

/* An APPEND from leader 1 of term 1 with entries prev+1..last, all committed. */
static void append(struct solo *s, raft_index prev, raft_index last)
{
    size_t n = (size_t)(last - prev);
    struct raft_entry *in = calloc(n, sizeof *in);
    uint8_t *bytes = calloc(n, 8);
    cr_assert(in && bytes);
    for (size_t k = 0; k < n; k++) {
        raft_index i = prev + 1 + k;
        memset(bytes + 8 * k, (int)(i % 251), len_of(i));
        in[k] = (struct raft_entry){
            .term = 1, .index = i, .type = RAFT_ENTRY_COMMAND, .len = len_of(i), .data = bytes + 8 * k};
    }
    struct raft_msg m = solo_from(1, RAFT_MSG_APPEND, 1);
    m.prev_index = prev;
    m.prev_term = prev ? 1 : 0;
    m.entries = in;
    m.n_entries = n;
    m.commit = last;
    cr_assert_eq(solo_recv(s, &m), RAFT_OK);
    free(bytes);
    free(in);
}

static void check(const struct solo *s, raft_index from, raft_index to)
{
    for (raft_index i = from; i <= to; i++) {
        const struct raft_entry *e = raft_entry_at(s->r, i);
        cr_assert_not_null(e, "entry %llu", (unsigned long long)i);
        cr_assert_eq(e->index, i);
        cr_assert_eq(e->term, 1);
        cr_assert_eq(e->len, len_of(i));
        for (uint32_t k = 0; k < e->len; k++)
            cr_assert_eq(e->data[k], i % 251, "entry %llu keeps its bytes", (unsigned long long)i);
    }
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

static void start(struct solo *s, size_t sweep_entries)
{
    n_calls = 0;
    struct raft_config cfg;
    raft_config_default(&cfg, 0, 3, 41);
    cfg.snapshot_trailing = 0;
    cfg.log_sweep_entries = sweep_entries;
    cfg.log_table_resize = counting_resize;
    solo_init_config(s, &cfg, NULL);
    cr_assert_eq(sizeof(struct raft_entry), 32, "the literals below count 32 bytes a record");
}

Test(log_table, grows_shrinks_and_frees_through_the_hook)
{
    struct solo s;
    start(&s, 65536);
    cr_assert_eq(n_calls, 0, "no table before the first entry");
    append(&s, 0, 1500);
    /* 256 slots, then doubled as each fills: 512, 1024, 2048. */
    cr_assert_eq(n_calls, 4);
    assert_call(0, false, 0, 8192);
    assert_call(1, true, 8192, 16384);
    assert_call(2, true, 16384, 32768);
    assert_call(3, true, 32768, 65536);
    check(&s, 1, 1500);
    /* 100 entries left in 2,048 slots once the front is swept and given
     * back: shrunk to 256 slots. */
    snapshot(&s, 1400);
    cr_assert_eq(n_calls, 5);
    assert_call(4, true, 65536, 8192);
    check(&s, 1401, 1500);
    solo_free(&s);
    cr_assert_eq(n_calls, 6);
    assert_call(5, true, 8192, 0);
}

/* Growth while a compaction's front is still to sweep: the table's size
 * counts the front. */
Test(log_table, growth_under_an_unswept_front_counts_it)
{
    struct solo s;
    start(&s, 1);
    append(&s, 0, 1500);
    cr_assert_eq(n_calls, 4);
    snapshot(&s, 1400);
    cr_assert_eq(n_calls, 4, "the front is not swept yet: nothing moves");
    cr_assert_eq(s.r->log.front, 1400);
    /* 648 slots after the front; filled at entry 2048, doubled to 1,296. */
    append(&s, 1500, 2100);
    cr_assert_eq(n_calls, 5);
    assert_call(4, true, (1400 + 648) * 32, (1400 + 1296) * 32);
    check(&s, 1401, 2100);
    solo_free(&s);
    /* Swept whole, the 700 live entries moved to the front, then freed. */
    cr_assert_eq(n_calls, 6);
    assert_call(5, true, (1400 + 1296) * 32, 0);
}

/* A reset's old table: its entries swept in the install's own event, then
 * the front it still held given back 262,144 slots (8 MiB) an event, the
 * last of them freed. */
Test(log_table, a_reset_gives_the_old_table_back_a_step_an_event)
{
    struct solo s;
    start(&s, 1 << 20);
    for (raft_index at = 0; at < 600000; at += 100000)
        append(&s, at, at + 100000);
    /* 256 slots doubled to 1,048,576: 13 calls. */
    cr_assert_eq(n_calls, 13);
    assert_call(12, true, 16777216, 33554432);
    snapshot(&s, 290000);
    cr_assert_eq(s.r->log.front, 290000, "310,000 live entries after a shorter front: not moved");
    cr_assert_eq(n_calls, 13);
    check(&s, 290001, 290100);
    uint8_t image[1] = {9};
    struct raft_msg m = solo_from(1, RAFT_MSG_SNAPSHOT, 2);
    m.snap_index = 700000;
    m.snap_term = 2;
    m.snap_data = image;
    m.snap_len = 1;
    cr_assert_eq(solo_recv(&s, &m), RAFT_OK);
    cr_assert_eq(raft_log_dead_entries(s.r), 0);
    cr_assert_eq(n_calls, 14);
    assert_call(13, true, 33554432, 25165824);
    solo_tick(&s, s.now + 1);
    assert_call(14, true, 25165824, 16777216);
    solo_tick(&s, s.now + 1);
    assert_call(15, true, 16777216, 8388608);
    solo_tick(&s, s.now + 1);
    assert_call(16, true, 8388608, 0);
    cr_assert_null(s.r->log.dead.alloc);
    solo_tick(&s, s.now + 1);
    cr_assert_eq(n_calls, 17);
    cr_assert_eq(raft_log_bytes(s.r), 0);
    solo_free(&s);
    cr_assert_eq(n_calls, 17, "the new log never had a table");
}

/* Freed with a swept front it still holds: the size counts the front. */
Test(log_table, a_table_with_a_front_is_freed_whole_with_the_core)
{
    struct solo s;
    start(&s, 1 << 20);
    for (raft_index at = 0; at < 600000; at += 100000)
        append(&s, at, at + 100000);
    snapshot(&s, 290000);
    cr_assert_eq(s.r->log.front, 290000);
    cr_assert_eq(n_calls, 13);
    solo_free(&s);
    cr_assert_eq(n_calls, 14);
    assert_call(13, true, 33554432, 0);
}

/* Without the hook the table is realloc()'s, as before: the same steps. */
Test(log_table, without_the_hook_realloc_serves)
{
    struct solo s;
    struct raft_config cfg;
    raft_config_default(&cfg, 0, 3, 41);
    cfg.snapshot_trailing = 0;
    solo_init_config(&s, &cfg, NULL);
    append(&s, 0, 1500);
    cr_assert_eq(s.r->log.cap, 2048);
    check(&s, 1, 1500);
    snapshot(&s, 1400);
    cr_assert_eq(s.r->log.cap, 256);
    check(&s, 1401, 1500);
    solo_free(&s);
}
