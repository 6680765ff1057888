/* test_log_lend.c - lending committed entries' bytes to a running core
 * (raft_lend, src/raft/log.c): the core points at the driver's copy, frees
 * its own (separate payloads and every chunk left holding only lent ones),
 * keeps every entry's bytes, refuses a loan that does not match, and stops
 * using lent bytes as they are compacted or reset away. The lent copy sits
 * in read-only pages outside the heap: a write faults, a free() aborts.
 * White box: the chunk count is read from raft_private.h.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../lib/solo.h"
#include "raft/raft_private.h"

/* Entry i's payload: a pattern of its index and term; one in 40 larger
 * than 16 KiB (a separate allocation in the core). */
static uint32_t len_of(raft_index i)
{
    return i % 40 == 0 ? 17000 : (uint32_t)(100 + i % 37);
}

static void fill(uint8_t *p, uint32_t len, raft_index i, raft_term t)
{
    for (uint32_t k = 0; k < len; k++)
        p[k] = (uint8_t)(i * 29 + t * 5 + k);
}

/* An APPEND from leader 1 of term t with entries prev+1..last. */
static void append(struct solo *s, raft_term t, raft_index prev, raft_term prev_term,
                   raft_index last, raft_index commit)
{
    size_t n = (size_t)(last - prev);
    struct raft_entry *in = calloc(n ? n : 1, sizeof *in);
    cr_assert_not_null(in);
    for (size_t k = 0; k < n; k++) {
        raft_index i = prev + 1 + k;
        uint8_t *d = malloc(len_of(i));
        cr_assert_not_null(d);
        fill(d, len_of(i), i, t);
        in[k] = (struct raft_entry){.term = t, .index = i, .type = RAFT_ENTRY_COMMAND,
                                    .len = len_of(i), .data = d};
    }
    cr_assert_eq(solo_append(s, t, prev, prev_term, in, n, commit), RAFT_OK);
    for (size_t k = 0; k < n; k++)
        free(in[k].data);
    free(in);
}

/* The driver's copy of entries first..last (term t): read-only pages. */
struct copy {
    uint8_t *base;
    size_t size;
    struct raft_entry *e;
    size_t n;
};

static void copy_make(struct copy *c, raft_index first, raft_index last, raft_term t)
{
    c->n = (size_t)(last - first + 1);
    c->size = 0;
    for (raft_index i = first; i <= last; i++)
        c->size += len_of(i);
    c->size = (c->size + 4095) / 4096 * 4096;
    c->base = mmap(NULL, c->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(c->base, MAP_FAILED);
    c->e = calloc(c->n, sizeof *c->e);
    size_t at = 0;
    for (size_t k = 0; k < c->n; k++) {
        raft_index i = first + k;
        fill(c->base + at, len_of(i), i, t);
        c->e[k] = (struct raft_entry){.term = t, .index = i, .len = len_of(i), .data = c->base + at};
        at += len_of(i);
    }
    cr_assert_eq(mprotect(c->base, c->size, PROT_READ), 0);
}

static void copy_free(struct copy *c)
{
    munmap(c->base, c->size);
    free(c->e);
}

static void check(const struct solo *s, raft_index from, raft_index to, raft_term t)
{
    static uint8_t want[20000];
    for (raft_index i = from; i <= to; i++) {
        const struct raft_entry *e = raft_entry_at(s->r, i);
        cr_assert_not_null(e, "entry %llu", (unsigned long long)i);
        cr_assert_eq(e->len, len_of(i));
        fill(want, e->len, i, t);
        cr_assert_eq(memcmp(e->data, want, e->len), 0, "entry %llu keeps its bytes",
                     (unsigned long long)i);
    }
}

static void follower(struct solo *s, size_t trailing)
{
    struct raft_config cfg;
    raft_config_default(&cfg, 0, 3, 5);
    cfg.snapshot_trailing = trailing;
    cfg.verify_lent = true;
    solo_init_config(s, &cfg, NULL);
}

static void range(const struct solo *s, raft_index first, raft_index last)
{
    raft_index f, l;
    raft_lent_range(s->r, &f, &l);
    cr_assert_eq(f, first, "lent range starts at %llu", (unsigned long long)f);
    cr_assert_eq(l, last, "lent range ends at %llu", (unsigned long long)l);
}

Test(log_lend, lent_entries_point_at_the_copy_and_their_chunks_are_freed)
{
    struct solo s;
    follower(&s, 0);
    append(&s, 1, 0, 0, 3000, 2500);
    solo_persisted_all(&s);
    size_t chunks = s.r->log.n_chunks, bytes = raft_log_bytes(s.r);
    cr_assert_geq(chunks, 3, "3000 entries of ~120 bytes fill several chunks (64, 128, 256 KiB)");
    range(&s, 1, 0);

    struct copy c;
    copy_make(&c, 1, 3000, 1);
    /* Past the commit index (2500): refused, nothing changed. */
    cr_assert_eq(raft_lend(s.r, c.e, 3000), RAFT_ERR_INVALID);
    /* Not at the start of what is lendable: refused. */
    cr_assert_eq(raft_lend(s.r, c.e + 1, 10), RAFT_ERR_INVALID);
    /* A wrong length or term: refused. */
    c.e[5].len++;
    cr_assert_eq(raft_lend(s.r, c.e, 10), RAFT_ERR_INVALID);
    c.e[5].len--;
    c.e[7].term = 2;
    cr_assert_eq(raft_lend(s.r, c.e, 10), RAFT_ERR_INVALID);
    c.e[7].term = 1;
    range(&s, 1, 0);
    cr_assert_eq(s.r->log.n_chunks, chunks);
    cr_assert_eq(raft_log_lent_bytes(s.r), 0);

    /* 1..2000 lent, in two loans. */
    cr_assert_eq(raft_lend(s.r, c.e, 1000), RAFT_OK);
    cr_assert_eq(raft_lend(s.r, c.e + 1000, 1000), RAFT_OK);
    range(&s, 1, 2000);
    for (raft_index i = 1; i <= 2000; i++)
        cr_assert_eq(raft_entry_at(s.r, i)->data, c.e[i - 1].data, "entry %llu is lent",
                     (unsigned long long)i);
    for (raft_index i = 2001; i <= 3000; i++) {
        const uint8_t *d = raft_entry_at(s.r, i)->data;
        cr_assert(d < c.base || d >= c.base + c.size, "entry %llu is the core's own",
                  (unsigned long long)i);
    }
    size_t lent = 0;
    for (raft_index i = 1; i <= 2000; i++)
        lent += len_of(i);
    cr_assert_eq(raft_log_lent_bytes(s.r), lent);
    cr_assert_eq(raft_log_bytes(s.r), bytes, "the log's size is the same, lent or not");
    cr_assert_lt(s.r->log.n_chunks, chunks, "chunks holding only lent payloads are freed");
    for (size_t k = 0; k < s.r->log.n_chunks; k++)
        cr_assert_gt(s.r->log.chunks[k].last, 2000, "chunk %zu holds an entry not lent", k);
    check(&s, 1, 3000, 1);

    /* Lending the rest frees every chunk; new entries get new ones. */
    append(&s, 1, 3000, 1, 3000, 3000);
    cr_assert_eq(raft_lend(s.r, c.e + 2000, 1000), RAFT_OK);
    cr_assert_eq(s.r->log.n_chunks, 0);
    append(&s, 1, 3000, 1, 3100, 3000);
    check(&s, 1, 3100, 1);

    /* With verify_lent, different bytes are refused. */
    uint8_t wrong[200];
    memset(wrong, 0xEE, sizeof wrong);
    struct raft_entry bad = {.term = 1, .index = 3001, .len = len_of(3001), .data = wrong};
    append(&s, 1, 3100, 1, 3100, 3100);
    cr_assert_eq(raft_lend(s.r, &bad, 1), RAFT_ERR_INVALID);
    range(&s, 1, 3000);
    solo_free(&s); /* a free() of lent bytes would abort here */
    copy_free(&c);
}

/* A restored, borrowed prefix goes on as one lent prefix. */
Test(log_lend, a_loan_extends_the_restored_prefix)
{
    struct copy old;
    copy_make(&old, 1, 5, 1);
    struct raft_restore rs = {.term = 1, .voted_for = RAFT_NO_NODE, .entries = old.e,
                              .n_entries = 5, .borrow = true};
    struct raft_config cfg;
    raft_config_default(&cfg, 0, 3, 5);
    cfg.verify_lent = true;
    struct solo s;
    solo_init_config(&s, &cfg, &rs);
    range(&s, 1, 5);
    append(&s, 1, 5, 1, 50, 50);
    struct copy c;
    copy_make(&c, 6, 50, 1);
    cr_assert_eq(raft_lend(s.r, c.e, 45), RAFT_OK);
    range(&s, 1, 50);
    cr_assert_eq(raft_entry_at(s.r, 5)->data, old.e[4].data);
    cr_assert_eq(raft_entry_at(s.r, 6)->data, c.e[0].data);
    check(&s, 1, 50, 1);
    solo_free(&s);
    copy_free(&c);
    copy_free(&old);
}

/* A conflicting suffix after the lent (committed) prefix is replaced by
 * owned entries; the lent ones stay lent; compaction then ends the loan
 * of what it passes. */
Test(log_lend, truncation_after_the_lent_prefix_and_compaction)
{
    struct solo s;
    follower(&s, 0);
    append(&s, 1, 0, 0, 100, 60);
    solo_persisted_all(&s);
    struct copy c;
    copy_make(&c, 1, 60, 1);
    cr_assert_eq(raft_lend(s.r, c.e, 60), RAFT_OK);
    /* Term 2's leader replaces 71..100. */
    append(&s, 2, 70, 1, 120, 120);
    cr_assert_eq(raft_last_index(s.r), 120);
    range(&s, 1, 60);
    check(&s, 1, 70, 1);
    check(&s, 71, 120, 2);
    for (raft_index i = 61; i <= 120; i++) {
        const uint8_t *d = raft_entry_at(s.r, i)->data;
        cr_assert(d < c.base || d >= c.base + c.size);
    }
    /* Compaction to 40: 41..60 still lent. */
    solo_persisted_all(&s);
    uint8_t image[1] = {1};
    struct raft_event e = {.type = RAFT_EVENT_SNAPSHOT, .now_ms = s.now};
    e.snapshot.index = 40;
    e.snapshot.data = image;
    e.snapshot.len = 1;
    cr_assert_eq(raft_step(s.r, &e, &s.u), RAFT_OK);
    range(&s, 41, 60);
    size_t lent = 0;
    for (raft_index i = 41; i <= 60; i++)
        lent += len_of(i);
    cr_assert_eq(raft_log_lent_bytes(s.r), lent);
    /* Past the lent prefix: nothing lent; the next loan starts after 70. */
    e.snapshot.index = 70;
    cr_assert_eq(raft_step(s.r, &e, &s.u), RAFT_OK);
    range(&s, 71, 70);
    cr_assert_not(raft_borrows_restore(s.r));
    cr_assert_eq(raft_log_lent_bytes(s.r), 0);
    check(&s, 71, 120, 2);
    solo_free(&s);
    copy_free(&c);
}

/* A leader's snapshot that the log does not hold resets the log: nothing
 * is lent any more, and loans start again after the snapshot. */
Test(log_lend, install_snapshot_resets_the_loan)
{
    struct solo s;
    follower(&s, 0);
    append(&s, 1, 0, 0, 30, 30);
    solo_persisted_all(&s);
    struct copy c;
    copy_make(&c, 1, 30, 1);
    cr_assert_eq(raft_lend(s.r, c.e, 30), RAFT_OK);
    uint8_t image[2] = {7, 7};
    struct raft_msg m = solo_from(1, RAFT_MSG_SNAPSHOT, 3);
    m.snap_index = 500;
    m.snap_term = 3;
    m.snap_data = image;
    m.snap_len = 2;
    solo_recv(&s, &m);
    cr_assert_eq(raft_last_index(s.r), 500);
    range(&s, 501, 500);
    cr_assert_eq(raft_log_lent_bytes(s.r), 0);
    copy_free(&c); /* the driver may unmap now */
    append(&s, 3, 500, 3, 520, 520);
    struct copy d;
    copy_make(&d, 501, 520, 3);
    cr_assert_eq(raft_lend(s.r, d.e, 20), RAFT_OK);
    range(&s, 501, 520);
    check(&s, 501, 520, 3);
    solo_free(&s);
    copy_free(&d);
}
