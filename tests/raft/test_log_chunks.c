/* test_log_chunks.c - the log's payload storage (src/raft/log.c): small
 * payloads are carved side by side, 8-byte aligned, out of shared chunks,
 * large ones allocated alone; every payload keeps its bytes through
 * appends, a conflicting suffix's truncation and compaction; a truncated
 * entry's chunk space is never handed to the entries that replace it. Memory
 * errors in the chunks' bookkeeping (a chunk freed while a kept entry
 * points into it, a chunk interior passed to free()) are the ASan build's.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/solo.h"

/* Entry i's payload: len bytes of a pattern of its index and term. */
static void fill(uint8_t *p, uint32_t len, raft_index i, raft_term t)
{
    for (uint32_t k = 0; k < len; k++)
        p[k] = (uint8_t)(i * 31 + t * 7 + k);
}

static uint32_t len_of(raft_index i)
{
    /* Mostly small ones of odd lengths, one in 50 larger than 16 KiB. */
    return i % 50 == 0 ? 20000 + (uint32_t)(i % 1000) : (uint32_t)(1 + i % 97);
}

/* An APPEND from leader 1 of term t with entries first..last. */
static void append(struct solo *s, raft_term t, raft_index prev, raft_term prev_term, raft_index last,
                   raft_index commit)
{
    size_t n = (size_t)(last - prev);
    struct raft_entry *in = calloc(n, sizeof *in);
    cr_assert_not_null(in);
    for (size_t k = 0; k < n; k++) {
        raft_index i = prev + 1 + k;
        uint32_t len = len_of(i);
        uint8_t *d = malloc(len);
        cr_assert_not_null(d);
        fill(d, len, i, t);
        in[k] = (struct raft_entry){.term = t, .index = i, .type = RAFT_ENTRY_COMMAND, .len = len, .data = d};
    }
    cr_assert_eq(solo_append(s, t, prev, prev_term, in, n, commit), RAFT_OK);
    for (size_t k = 0; k < n; k++) {
        memset(in[k].data, 0, in[k].len); /* the message's buffers are gone */
        free(in[k].data);
    }
    free(in);
}

static void check(const struct solo *s, raft_index from, raft_index to, raft_term t)
{
    uint8_t want[30000];
    for (raft_index i = from; i <= to; i++) {
        const struct raft_entry *e = raft_entry_at(s->r, i);
        cr_assert_not_null(e, "entry %llu", (unsigned long long)i);
        cr_assert_eq(e->term, t);
        cr_assert_eq(e->len, len_of(i));
        fill(want, e->len, i, t);
        cr_assert_eq(memcmp(e->data, want, e->len), 0, "entry %llu keeps its bytes", (unsigned long long)i);
    }
}

Test(log_chunks, small_payloads_lie_side_by_side_aligned_and_keep_their_bytes)
{
    struct raft_config cfg;
    raft_config_default(&cfg, 0, 3, 11);
    cfg.snapshot_trailing = 0;
    struct solo s;
    solo_init_config(&s, &cfg, NULL);
    append(&s, 1, 0, 0, 3000, 0);
    cr_assert_eq(raft_last_index(s.r), 3000);
    check(&s, 1, 3000, 1);
    /* Entries 1..49 are small: each one 8-aligned right after the one before. */
    for (raft_index i = 1; i < 49; i++) {
        const struct raft_entry *a = raft_entry_at(s.r, i), *b = raft_entry_at(s.r, i + 1);
        cr_assert_eq((uintptr_t)a->data % 8, 0, "entry %llu aligned", (unsigned long long)i);
        cr_assert_eq(b->data, a->data + ((a->len + 7) / 8) * 8, "entry %llu follows %llu",
                     (unsigned long long)i + 1, (unsigned long long)i);
    }
    /* 65 KiB of the first 3000 payloads' bytes fill more than one chunk (64 KiB, then 128). */
    size_t small = 0;
    for (raft_index i = 1; i <= 3000; i++)
        small += len_of(i) < 20000 ? (len_of(i) + 7) / 8 * 8 : 0;
    cr_assert_gt(small, (size_t)64 << 10);
    /* Compaction behind a snapshot frees whole chunks only: the rest keep their bytes. */
    solo_persisted_all(&s);
    append(&s, 1, 3000, 1, 3000, 3000);
    cr_assert_eq(raft_applied_index(s.r), 3000);
    uint8_t image[3] = {1, 2, 3};
    for (raft_index at = 700; at <= 2900; at += 1100) {
        struct raft_event e = {.type = RAFT_EVENT_SNAPSHOT, .now_ms = s.now};
        e.snapshot.index = at;
        e.snapshot.data = image;
        e.snapshot.len = 3;
        cr_assert_eq(raft_step(s.r, &e, &s.u), RAFT_OK);
        cr_assert_null(raft_entry_at(s.r, at));
        check(&s, at + 1, 3000, 1);
    }
    append(&s, 1, 3000, 1, 3600, 3000);
    check(&s, 2901, 3600, 1);
    cr_assert_eq((uintptr_t)raft_entry_at(s.r, 3001)->data % 8, 0);
    solo_free(&s);
}

/* A new leader's conflicting entries replace a suffix (5.3): the kept
 * prefix keeps its bytes, and no replacing entry gets a removed one's. */
Test(log_chunks, a_truncated_suffix_never_lends_its_bytes_to_the_replacing_entries)
{
    struct raft_config cfg;
    raft_config_default(&cfg, 0, 3, 12);
    struct solo s;
    solo_init_config(&s, &cfg, NULL);
    append(&s, 1, 0, 0, 2000, 0);
    uint8_t *removed[2001];
    for (raft_index i = 1; i <= 2000; i++)
        removed[i] = raft_entry_at(s.r, i)->data;
    /* Term 2 from the same peer: it conflicts from 1501 on. */
    append(&s, 2, 1500, 1, 2600, 0);
    cr_assert_eq(raft_last_index(s.r), 2600);
    check(&s, 1, 1500, 1);
    check(&s, 1501, 2600, 2);
    /* (A large payload is allocated alone, and the allocator may hand a
     * freed one's address out again: only chunk space is promised.) */
    for (raft_index i = 1501; i <= 2600; i++) {
        const uint8_t *p = raft_entry_at(s.r, i)->data;
        for (raft_index k = 1501; k <= 2000 && len_of(i) < 20000; k++)
            cr_assert_neq(p, removed[k], "entry %llu got removed entry %llu's bytes", (unsigned long long)i,
                          (unsigned long long)k);
    }
    /* Everything up to the kept prefix truncated, then again further back. */
    append(&s, 3, 10, 1, 400, 0);
    check(&s, 1, 10, 1);
    check(&s, 11, 400, 3);
    append(&s, 4, 0, 0, 50, 0);
    check(&s, 1, 50, 4);
    solo_free(&s);
}

/* raft_config.advise_log_block: each 2 MiB payload block, aligned to 2 MiB,
 * is shown to the driver before use, and so is a grown entry array's new
 * part once it is 2 MiB or more. */
static uintptr_t advised_block[16];
static size_t n_advised_blocks, n_advised_arrays;

static void count_advice(void *p, size_t len)
{
    if (len == 2097152 && (uintptr_t)p % 2097152 == 0) {
        if (n_advised_blocks < 16)
            advised_block[n_advised_blocks] = (uintptr_t)p;
        n_advised_blocks++;
    } else {
        cr_assert_geq(len, (size_t)2097152, "only large ranges are advised");
        n_advised_arrays++;
    }
}

Test(log_chunks, the_driver_is_told_of_each_large_block_before_it_is_used)
{
    struct raft_config cfg;
    raft_config_default(&cfg, 0, 3, 13);
    cfg.advise_log_block = count_advice;
    struct solo s;
    solo_init_config(&s, &cfg, NULL);
    n_advised_blocks = n_advised_arrays = 0;
    /* 64 + 128 + ... + 1024 KiB = 1984 KiB of chunks first, then 2 MiB blocks. */
    append(&s, 1, 0, 0, 30000, 0);
    cr_assert_eq(n_advised_blocks, 0, "about 1.6 MB of payloads fit the first chunks");
    for (raft_index at = 30000; at < 100000; at += 10000)
        append(&s, 1, at, 1, at + 10000, 0);
    cr_assert_geq(n_advised_blocks, 2);
    cr_assert_geq(n_advised_arrays, 1, "100,000 entries of 32 bytes are over 2 MiB");
    check(&s, 1, 100000, 1);
    const struct raft_entry *e = raft_entry_at(s.r, 99999); /* a small one */
    bool inside = false;
    for (size_t i = 0; i < n_advised_blocks && i < 16; i++)
        inside |= (uintptr_t)e->data - advised_block[i] < 2097152;
    cr_assert(inside, "the newest payload lies in an advised block");
    solo_free(&s);
}
