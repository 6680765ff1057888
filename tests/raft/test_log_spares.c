/* test_log_spares.c - the log's spare payload blocks (src/raft/log.c,
 * raft_config.log_spare_blocks): chunks that compaction or a loan emptied
 * are kept, at most log_spare_blocks of them, and the next payloads are
 * carved out of them instead of fresh blocks (the driver is told of no new
 * block); chunks a truncation emptied are never kept. Entries keep their
 * bytes throughout (ASan catches a spare freed twice or used after free).
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../lib/solo.h"

#define LEN 200u /* every payload: 10,485 to a 2 MiB block */
#define BLOCK ((size_t)2 << 20)

static void fill(uint8_t *p, raft_index i, raft_term t)
{
    for (uint32_t k = 0; k < LEN; k++)
        p[k] = (uint8_t)(i * 13 + t * 3 + k);
}

/* An APPEND from leader 1 of term t with entries prev+1..last. */
static void append(struct solo *s, raft_term t, raft_index prev, raft_term prev_term, raft_index last,
                   raft_index commit)
{
    size_t n = (size_t)(last - prev);
    struct raft_entry *in = calloc(n, sizeof *in);
    uint8_t *bytes = malloc(n * LEN);
    cr_assert(in && bytes);
    for (size_t k = 0; k < n; k++) {
        fill(bytes + k * LEN, prev + 1 + k, t);
        in[k] = (struct raft_entry){
            .term = t, .index = prev + 1 + k, .type = RAFT_ENTRY_COMMAND, .len = LEN, .data = bytes + k * LEN};
    }
    cr_assert_eq(solo_append(s, t, prev, prev_term, in, n, commit), RAFT_OK);
    memset(bytes, 0, n * LEN);
    free(bytes);
    free(in);
}

static void check(const struct solo *s, raft_index from, raft_index to, raft_term t)
{
    uint8_t want[LEN];
    for (raft_index i = from; i <= to; i++) {
        const struct raft_entry *e = raft_entry_at(s->r, i);
        cr_assert_not_null(e, "entry %llu", (unsigned long long)i);
        fill(want, i, t);
        cr_assert_eq(memcmp(e->data, want, LEN), 0, "entry %llu keeps its bytes", (unsigned long long)i);
    }
}

static uintptr_t blocks[64];
static size_t n_blocks;

static void note_block(void *p, size_t len)
{
    if (len == BLOCK && (uintptr_t)p % BLOCK == 0 && n_blocks < 64)
        blocks[n_blocks++] = (uintptr_t)p;
}

static bool in_block(const void *p, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        if ((uintptr_t)p - blocks[i] < BLOCK)
            return true;
    return false;
}

static void start(struct solo *s, size_t spares)
{
    struct raft_config cfg;
    raft_config_default(&cfg, 0, 3, 21);
    cfg.snapshot_trailing = 0;
    cfg.advise_log_block = note_block;
    cfg.log_spare_blocks = spares;
    n_blocks = 0;
    solo_init_config(s, &cfg, NULL);
}

/* Entries 1..upto committed, durable, applied, then a snapshot at upto
 * compacts every chunk away. */
static void compact(struct solo *s, raft_index upto)
{
    solo_persisted_all(s);
    append(s, 1, upto, 1, upto, upto);
    cr_assert_eq(raft_applied_index(s->r), upto);
    uint8_t image[1] = {7};
    struct raft_event e = {.type = RAFT_EVENT_SNAPSHOT, .now_ms = s->now};
    e.snapshot.index = upto;
    e.snapshot.data = image;
    e.snapshot.len = 1;
    cr_assert_eq(raft_step(s->r, &e, &s->u), RAFT_OK);
    cr_assert_null(raft_entry_at(s->r, upto));
    /* The emptied chunks are released log_sweep_blocks (4) an event. */
    for (int k = 0; k < 8 && raft_log_dead_blocks(s->r) > 0; k++)
        solo_tick(s, s->now);
    cr_assert_eq(raft_log_dead_blocks(s->r), 0);
}

Test(log_spares, compaction_keeps_at_most_the_bound_and_the_next_payloads_reuse_them)
{
    struct solo s;
    start(&s, 2);
    cr_assert_eq(raft_log_spare_bytes(s.r), 0);
    /* 1984 KiB of chunks from 64 KiB up (10,158 entries), then 5 blocks. */
    append(&s, 1, 0, 0, 60000, 0);
    cr_assert_eq(n_blocks, 5);
    compact(&s, 60000);
    /* Five chunks and five blocks emptied: the two newest kept. */
    cr_assert_eq(raft_log_spare_bytes(s.r), 2 * BLOCK);
    /* 20,000 payloads (4,000,000 bytes) fit the two spares: no new block. */
    append(&s, 1, 60000, 1, 80000, 0);
    cr_assert_eq(n_blocks, 5, "the spares were carved, not new blocks");
    cr_assert_eq(raft_log_spare_bytes(s.r), 0);
    cr_assert(in_block(raft_entry_at(s.r, 60001)->data, 3, 5), "the first payload lies in a kept block");
    cr_assert(in_block(raft_entry_at(s.r, 80000)->data, 3, 5), "and so does the last");
    check(&s, 60001, 80000, 1);
    /* Past them, new blocks again. */
    append(&s, 1, 80000, 1, 90000, 0);
    cr_assert_eq(n_blocks, 6);
    check(&s, 60001, 90000, 1);
    solo_free(&s);
}

Test(log_spares, none_are_kept_when_the_bound_is_zero)
{
    struct solo s;
    start(&s, 0);
    append(&s, 1, 0, 0, 60000, 0);
    cr_assert_eq(n_blocks, 5);
    compact(&s, 60000);
    cr_assert_eq(raft_log_spare_bytes(s.r), 0);
    append(&s, 1, 60000, 1, 80000, 0);
    cr_assert_eq(n_blocks, 6, "chunks from 64 KiB up again (1984 KiB), then a new block");
    check(&s, 60001, 80000, 1);
    solo_free(&s);
}

Test(log_spares, the_bound_is_refused_past_its_maximum)
{
    struct raft_config cfg;
    raft_config_default(&cfg, 0, 3, 22);
    cr_assert_eq(cfg.log_spare_blocks, 4, "4 blocks (8 MiB) by default");
    cfg.log_spare_blocks = RAFT_LOG_SPARE_MAX + 1;
    cr_assert_null(raft_new(&cfg, NULL, 0));
    cfg.log_spare_blocks = RAFT_LOG_SPARE_MAX;
    struct raft *r = raft_new(&cfg, NULL, 0);
    cr_assert_not_null(r);
    raft_free(r);
}

/* A loan empties chunks as compaction does: they are kept the same way. */
Test(log_spares, chunks_a_loan_empties_are_kept_and_reused)
{
    struct solo s;
    start(&s, 4);
    append(&s, 1, 0, 0, 40000, 0);
    cr_assert_eq(n_blocks, 3);
    solo_persisted_all(&s);
    append(&s, 1, 40000, 1, 40000, 40000);
    cr_assert_eq(raft_applied_index(s.r), 40000);
    /* The driver's copy of 1..40000, read-only as a mapped file's. */
    size_t size = (size_t)40000 * LEN;
    uint8_t *copy = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(copy, MAP_FAILED);
    struct raft_entry *lent = calloc(40000, sizeof *lent);
    cr_assert_not_null(lent);
    for (size_t k = 0; k < 40000; k++) {
        fill(copy + k * LEN, k + 1, 1);
        lent[k] = (struct raft_entry){.term = 1, .index = k + 1, .len = LEN, .data = copy + k * LEN};
    }
    cr_assert_eq(mprotect(copy, size, PROT_READ), 0);
    cr_assert_eq(raft_lend(s.r, lent, 40000), RAFT_OK);
    /* Eight chunks emptied (five below a block, three blocks): four kept,
     * the newest (three blocks and the 1 MiB chunk before them). */
    cr_assert_eq(raft_log_spare_bytes(s.r), 3 * BLOCK + ((size_t)1 << 20));
    check(&s, 1, 40000, 1);
    /* 4,000,000 bytes more: the two newest blocks, no new one. */
    append(&s, 1, 40000, 1, 60000, 0);
    cr_assert_eq(n_blocks, 3);
    cr_assert(in_block(raft_entry_at(s.r, 40001)->data, 0, 3));
    check(&s, 1, 60000, 1);
    solo_free(&s);
    free(lent);
    munmap(copy, size);
}

/* A truncation's emptied chunks are freed, never kept: an entry that
 * replaces a removed one never gets its bytes (test_log_chunks.c). */
Test(log_spares, chunks_a_truncation_empties_are_not_kept)
{
    struct solo s;
    start(&s, 4);
    append(&s, 1, 0, 0, 40000, 0);
    cr_assert_eq(n_blocks, 3);
    append(&s, 2, 12000, 1, 12001, 0); /* term 2 conflicts from 12001 on */
    cr_assert_eq(raft_last_index(s.r), 12001);
    cr_assert_eq(raft_log_spare_bytes(s.r), 0);
    check(&s, 1, 12000, 1);
    check(&s, 12001, 12001, 2);
    solo_free(&s);
}
