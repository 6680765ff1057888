/* test_restore_borrow.c - a restored log whose data the driver lends
 * (raft_restore.borrow): the core points at the lent bytes instead of
 * copying them, never writes or frees them, and stops using them as they are
 * truncated, compacted or replaced by a snapshot (raft_borrows_restore).
 * The lent bytes sit in a read-only page that is not the heap's, so a write
 * faults and a free() aborts.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/mman.h>

#include "../lib/solo.h"

#define PAGE 4096

static uint8_t *lent_page(void)
{
    uint8_t *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(p, MAP_FAILED);
    for (int i = 0; i < PAGE; i++)
        p[i] = (uint8_t)(i * 13 + 1);
    cr_assert_eq(mprotect(p, PAGE, PROT_READ), 0);
    return p;
}

/* Entries 1..n of the given terms, entry i's 8 bytes at lent + 8 * (i - 1). */
static void restore_lent(struct raft_restore *rs, struct raft_entry *ents, const raft_term *terms,
                         size_t n, const uint8_t *lent, bool borrow)
{
    memset(rs, 0, sizeof *rs);
    for (size_t i = 0; i < n; i++)
        ents[i] = (struct raft_entry){.term = terms[i], .index = i + 1, .type = RAFT_ENTRY_COMMAND,
                                      .len = 8, .data = (uint8_t *)lent + 8 * i};
    rs->term = terms[n - 1];
    rs->voted_for = RAFT_NO_NODE;
    rs->entries = ents;
    rs->n_entries = n;
    rs->borrow = borrow;
}

Test(restore_borrow, the_log_points_at_the_lent_bytes_and_never_frees_them)
{
    uint8_t *lent = lent_page();
    raft_term terms[] = {1, 1, 2, 2, 2};
    struct raft_entry ents[5];
    struct raft_restore rs;
    restore_lent(&rs, ents, terms, 5, lent, true);
    struct solo s;
    solo_init(&s, 3, &rs);
    cr_assert(raft_borrows_restore(s.r));
    for (raft_index i = 1; i <= 5; i++) {
        const struct raft_entry *e = raft_entry_at(s.r, i);
        cr_assert_not_null(e);
        cr_assert_eq(e->data, lent + 8 * (i - 1), "entry %llu is not a copy",
                     (unsigned long long)i);
        cr_assert_eq(e->len, 8);
        cr_assert_eq(e->term, terms[i - 1]);
    }
    /* Counted as the log's memory as if copied: 8 bytes plus a record each. */
    cr_assert_eq(raft_log_bytes(s.r), 5 * (8 + sizeof(struct raft_entry)));
    solo_free(&s); /* a free() of lent bytes would abort here */

    /* Without borrow the core copies, as before. */
    restore_lent(&rs, ents, terms, 5, lent, false);
    solo_init(&s, 3, &rs);
    cr_assert_not(raft_borrows_restore(s.r));
    const struct raft_entry *e = raft_entry_at(s.r, 3);
    cr_assert_neq(e->data, lent + 16);
    cr_assert_eq(memcmp(e->data, lent + 16, 8), 0);
    solo_free(&s);

    /* A restore refused halfway (an index gap) frees what it copied, not
     * what it borrowed. */
    restore_lent(&rs, ents, terms, 5, lent, true);
    ents[3].index = 9;
    struct raft_config cfg;
    raft_config_default(&cfg, 0, 3, 1);
    cr_assert_null(raft_new(&cfg, &rs, 0));
    munmap(lent, PAGE);
}

/* A leader's conflicting entries replace a borrowed suffix with owned ones;
 * the borrowed prefix stays borrowed until compacted away. */
Test(restore_borrow, a_conflicting_suffix_becomes_owned_and_compaction_ends_the_loan)
{
    uint8_t *lent = lent_page();
    raft_term terms[] = {1, 1, 1};
    struct raft_entry ents[3];
    struct raft_restore rs;
    restore_lent(&rs, ents, terms, 3, lent, true);
    struct raft_config cfg;
    raft_config_default(&cfg, 0, 3, 7);
    cfg.snapshot_trailing = 0;
    struct solo s;
    solo_init_config(&s, &cfg, &rs);

    uint8_t fresh[2][8];
    memset(fresh, 0xAB, sizeof fresh);
    struct raft_entry in[2] = {
        {.term = 2, .index = 2, .type = RAFT_ENTRY_COMMAND, .len = 8, .data = fresh[0]},
        {.term = 2, .index = 3, .type = RAFT_ENTRY_COMMAND, .len = 8, .data = fresh[1]},
    };
    struct raft_msg m = solo_from(1, RAFT_MSG_APPEND, 2);
    m.prev_index = 1;
    m.prev_term = 1;
    m.entries = in;
    m.n_entries = 2;
    m.commit = 3;
    solo_recv(&s, &m);
    memset(fresh, 0, sizeof fresh); /* the leader's buffers are gone */
    cr_assert_eq(raft_last_index(s.r), 3);
    cr_assert_eq(raft_entry_at(s.r, 1)->data, lent, "entry 1 is still the lent one");
    for (raft_index i = 2; i <= 3; i++) {
        const struct raft_entry *e = raft_entry_at(s.r, i);
        cr_assert_eq(e->term, 2);
        cr_assert(e->data < lent || e->data >= lent + PAGE, "entry %llu is the core's own",
                  (unsigned long long)i);
        cr_assert_eq(e->data[0], 0xAB, "copied from the message");
    }
    cr_assert(raft_borrows_restore(s.r), "entry 1 is still borrowed");

    solo_persisted_all(&s);
    cr_assert_eq(raft_applied_index(s.r), 3);
    uint8_t image[1] = {1};
    struct raft_event e = {.type = RAFT_EVENT_SNAPSHOT, .now_ms = s.now};
    e.snapshot.index = 2;
    e.snapshot.data = image;
    e.snapshot.len = 1;
    cr_assert_eq(raft_step(s.r, &e, &s.u), RAFT_OK);
    cr_assert_null(raft_entry_at(s.r, 1));
    cr_assert_not(raft_borrows_restore(s.r),
                  "only owned entries are left: the driver may take its bytes back");
    solo_free(&s);
    munmap(lent, PAGE);
}

/* A leader restarted over a borrowed log keeps it until its snapshots pass
 * the restored entries (snapshot_trailing behind them), then not again. */
Test(restore_borrow, the_loan_ends_only_when_compaction_passes_every_restored_entry)
{
    uint8_t *lent = lent_page();
    raft_term terms[10];
    for (int i = 0; i < 10; i++)
        terms[i] = 1;
    struct raft_entry ents[10];
    struct raft_restore rs;
    restore_lent(&rs, ents, terms, 10, lent, true);
    struct raft_config cfg;
    raft_config_default(&cfg, 0, 1, 3);
    cfg.snapshot_trailing = 2;
    struct solo s;
    solo_init_config(&s, &cfg, &rs);
    solo_tick(&s, raft_deadline(s.r));
    cr_assert_eq(raft_role(s.r), RAFT_LEADER);
    solo_persisted_all(&s);
    cr_assert_eq(raft_applied_index(s.r), 11, "the restored entries and the no-op");
    uint8_t image[1] = {1};
    struct raft_event e = {.type = RAFT_EVENT_SNAPSHOT, .now_ms = s.now};
    e.snapshot.data = image;
    e.snapshot.len = 1;
    e.snapshot.index = 11; /* compacts to 9: entry 10 is still lent */
    cr_assert_eq(raft_step(s.r, &e, &s.u), RAFT_OK);
    cr_assert(raft_borrows_restore(s.r));
    cr_assert_eq(raft_entry_at(s.r, 10)->data, lent + 72);
    solo_propose(&s, 3);
    solo_persisted_all(&s);
    e.snapshot.index = 12; /* compacts to 10, the last restored entry */
    cr_assert_eq(raft_step(s.r, &e, &s.u), RAFT_OK);
    cr_assert_not(raft_borrows_restore(s.r));
    e.snapshot.index = 14;
    cr_assert_eq(raft_step(s.r, &e, &s.u), RAFT_OK);
    cr_assert_not(raft_borrows_restore(s.r));
    solo_free(&s);
    munmap(lent, PAGE);
}

/* Lent entries too large for the log's shared payload blocks (over 16 KiB)
 * are still the driver's: freeing the log must not free() them. */
Test(restore_borrow, large_lent_entries_are_never_freed)
{
    size_t len = 20000, n = 3, size = (n * len + PAGE - 1) / PAGE * PAGE;
    uint8_t *lent = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(lent, MAP_FAILED);
    memset(lent, 7, size);
    cr_assert_eq(mprotect(lent, size, PROT_READ), 0);
    struct raft_entry ents[3];
    for (size_t i = 0; i < n; i++)
        ents[i] = (struct raft_entry){.term = 1, .index = i + 1, .type = RAFT_ENTRY_COMMAND,
                                      .len = len, .data = lent + len * i};
    struct raft_restore rs;
    memset(&rs, 0, sizeof rs);
    rs.term = 1;
    rs.voted_for = RAFT_NO_NODE;
    rs.entries = ents;
    rs.n_entries = n;
    rs.borrow = true;
    struct solo s;
    solo_init(&s, 3, &rs);
    cr_assert(raft_borrows_restore(s.r));
    cr_assert_eq(raft_entry_at(s.r, 2)->data, lent + 20000);
    solo_free(&s); /* a free() of the lent bytes would abort here */
    munmap(lent, size);
}
