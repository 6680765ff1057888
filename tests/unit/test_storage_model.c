/* test_storage_model.c - the store against a model under random operations:
 * appends that overwrite suffixes, syncs, hard-state changes, compaction
 * snapshots, snapshots from a leader, clean restarts and crashes that tear
 * the tail. After every restart what comes back must equal the model (or,
 * after a torn tail, a prefix of it missing no more than the bytes torn).
 *
 * Commit marks too: before a sync the model may raise the commit index it
 * knows (never past its last entry; entries up to it are never overwritten,
 * as in Raft), and after a restart it knows what the store gave back, as a
 * replica does. A clean restart gives back exactly min(known, last) (0 if
 * the snapshot covers that); a torn one never more than that, never past
 * the log it kept, and at least every mark a sync wrote after appends whose
 * next entry survived the tear.
 *
 * Seeded: prints its seed; RAFTKV_STORAGE_SEED=<n> replays one run,
 * RAFTKV_STORAGE_SEEDS=<n> runs n seeds instead of 6. */
#include <time.h>

#include "common/rng.h"
#include "test_storage_util.h"

#define MODEL_MAX 20000

struct model {
    raft_term term_of[MODEL_MAX]; /* term of each index 1..last */
    raft_index last;
    raft_index snap_index;
    raft_term snap_term;
    raft_term term; /* hard state */
    int vote;
    raft_term leader_term; /* term of new entries */
    /* Commit marks: the commit index given to the store; whether entries
     * were appended since the last sync (a sync then writes a mark); the
     * marks such syncs surely wrote: (index, the last entry it follows),
     * increasing. */
    raft_index known;
    bool appended;
    struct {
        raft_index index, after;
    } marks[1024];
    size_t n_marks;
};

/* A sync's mark (storage.h, storage_set_commit): min(known, last), if past
 * the snapshot and above the marks before it. */
static void model_synced(struct model *m)
{
    raft_index c = m->known < m->last ? m->known : m->last;
    raft_index top = m->n_marks ? m->marks[m->n_marks - 1].index : 0;
    if (m->appended && c > m->snap_index && c > top && m->n_marks < 1024) {
        m->marks[m->n_marks].index = c;
        m->marks[m->n_marks].after = m->last;
        m->n_marks++;
    }
    m->appended = false;
}

/* After a restart the node knows the commit index the store gave back (its
 * core clamps it to the snapshot) and hands it to the store, as the replica
 * does before its syncs. Marks past it were lost. */
static void model_restarted(struct model *m, struct storage *s, const struct raft_restore *r)
{
    while (m->n_marks > 0 && m->marks[m->n_marks - 1].index > r->commit)
        m->n_marks--;
    m->known = r->commit > m->snap_index ? r->commit : m->snap_index;
    m->appended = false;
    cr_assert_eq(storage_set_commit(s, m->known), STORAGE_OK);
}

static void model_check(const struct model *m, struct storage *s, const struct raft_restore *r,
                        uint64_t seed, int step)
{
    cr_assert_eq(r->term, m->term, "seed %" PRIu64 " step %d: term", seed, step);
    cr_assert_eq(r->voted_for, m->vote, "seed %" PRIu64 " step %d: vote", seed, step);
    cr_assert_eq(r->snap_index, m->snap_index, "seed %" PRIu64 " step %d: snap", seed, step);
    cr_assert_eq(r->snap_term, m->snap_term, "seed %" PRIu64 " step %d", seed, step);
    cr_assert_eq(r->n_entries, m->last - m->snap_index,
                 "seed %" PRIu64 " step %d: %zu entries, model has %" PRIu64 "..%" PRIu64, seed,
                 step, r->n_entries, m->snap_index + 1, m->last);
    for (size_t i = 0; i < r->n_entries; i++)
        tsu_expect_entry(r, i, m->snap_index + 1 + i, m->term_of[m->snap_index + 1 + i]);
    cr_assert_eq(storage_last_index(s), m->last > m->snap_index ? m->last : m->snap_index);
}

static void model_append(struct model *m, struct storage *s, struct rng *g)
{
    raft_index lo = m->snap_index + 1;
    if (m->last > lo + 5)
        lo = m->last - 5;
    raft_index first = lo + rng_below(g, m->last + 2 - lo);
    if (first <= m->known)
        first = m->known + 1; /* committed entries are never overwritten */
    size_t n = 1 + (size_t)rng_below(g, 20);
    if (first + n + 2 >= MODEL_MAX)
        return;
    if (rng_below(g, 4) == 0)
        m->leader_term++; /* a new leader: its entries overwrite what conflicts */
    static struct tsu_entries t;
    for (size_t i = 0; i < n; i++)
        tsu_fill(&t, i, first + i, m->leader_term);
    cr_assert_eq(storage_append(s, t.e, n), STORAGE_OK, "%s", storage_error(s));
    for (size_t i = 0; i < n; i++)
        m->term_of[first + i] = m->leader_term;
    m->last = first + n - 1;
    m->appended = true;
    /* An overwrite cuts the file at entry `first`, and the marks after it. */
    while (m->n_marks > 0 && m->marks[m->n_marks - 1].after >= first)
        m->n_marks--;
}

/* What a restart gave back as the commit index, taken as the core takes it
 * (raised to the snapshot; a mark at or below it tells nothing): after a
 * clean close exactly the mark the close wrote (or an equal one before
 * it); after a torn tail at most that, within the log kept, and at least
 * each sure mark whose next entry survived (the mark sits before it in the
 * file). */
static void model_check_commit(const struct model *m, raft_index closed_at,
                               const struct raft_restore *r, bool torn, uint64_t seed, int step)
{
    raft_index c = closed_at > m->snap_index ? closed_at : m->snap_index;
    raft_index got = r->commit > r->snap_index ? r->commit : r->snap_index;
    raft_index kept = r->snap_index + r->n_entries;
    if (!torn) {
        cr_assert_eq(got, c, "seed %" PRIu64 " step %d: commit %" PRIu64 ", want %" PRIu64,
                     seed, step, r->commit, c);
        return;
    }
    cr_assert_leq(got, c, "seed %" PRIu64 " step %d: commit %" PRIu64 " past the last mark",
                  seed, step, r->commit);
    cr_assert_leq(r->commit, kept, "seed %" PRIu64 " step %d: commit %" PRIu64 " past the log",
                  seed, step, r->commit);
    for (size_t i = 0; i < m->n_marks; i++)
        if (m->marks[i].after < kept && m->marks[i].index > r->snap_index)
            cr_assert_geq(r->commit, m->marks[i].index,
                          "seed %" PRIu64 " step %d: the mark %" PRIu64 " after entry %" PRIu64
                          " survived (%" PRIu64 " kept) but commit is %" PRIu64,
                          seed, step, m->marks[i].index, m->marks[i].after, kept, r->commit);
}

static void model_run(uint64_t seed, int steps)
{
    struct rng g;
    rng_seed(&g, seed);
    char dir[256];
    tsu_make_dir(dir, sizeof dir);
    struct tsu_log log = {0};
    struct storage_options o = {.segment_bytes = 200 + rng_below(&g, 3000),
                                .buffer_bytes = 64 + rng_below(&g, 4096),
                                .log = tsu_log_line,
                                .log_ctx = &log};
    static struct model m;
    memset(&m, 0, sizeof m);
    m.vote = RAFT_NO_NODE;
    m.leader_term = 1;
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &o);
    for (int step = 0; step < steps; step++) {
        log.text[0] = '\0'; /* only the last restart's lines matter */
        uint64_t op = rng_below(&g, 100);
        if (op < 45) {
            model_append(&m, s, &g);
        } else if (op < 60) {
            /* The replica hands its core's commit index over before a sync. */
            if (rng_below(&g, 2) == 0 && m.last > m.known) {
                m.known += 1 + rng_below(&g, m.last - m.known);
                cr_assert_eq(storage_set_commit(s, m.known), STORAGE_OK);
            }
            cr_assert_eq(storage_sync(s), STORAGE_OK, "%s", storage_error(s));
            model_synced(&m);
        } else if (op < 66) {
            m.term = m.term > m.leader_term ? m.term + 1 : m.leader_term;
            m.vote = (int)rng_below(&g, 5) - 1;
            cr_assert_eq(storage_set_hard_state(s, m.term, m.vote), STORAGE_OK);
        } else if (op < 74 && m.last > m.snap_index) {
            raft_index at = m.snap_index + 1 + rng_below(&g, m.last - m.snap_index);
            /* A node snapshots what it applied: committed. */
            if (at > m.known) {
                m.known = at;
                cr_assert_eq(storage_set_commit(s, m.known), STORAGE_OK);
            }
            /* Saving syncs the log first (a mark), then compacts it. */
            model_synced(&m);
            cr_assert_eq(tsu_save_snapshot(s, at, m.term_of[at], "s"),
                         STORAGE_OK, "%s", storage_error(s));
            m.snap_index = at;
            m.snap_term = m.term_of[at];
        } else if (op < 77) {
            /* A leader's snapshot beyond our log, of a newer term. */
            raft_index at = m.last + 1 + rng_below(&g, 10);
            if (at + 30 >= MODEL_MAX)
                continue;
            m.leader_term++;
            model_synced(&m);
            cr_assert_eq(tsu_save_snapshot(s, at, m.leader_term, "L"),
                         STORAGE_OK, "%s", storage_error(s));
            m.snap_index = at;
            m.snap_term = m.leader_term;
            m.term_of[at] = m.leader_term;
            m.last = at;
            /* Installed, it is committed; the log's marks name none of it. */
            m.known = at;
            m.n_marks = 0;
            cr_assert_eq(storage_set_commit(s, m.known), STORAGE_OK);
        } else if (op < 90) {
            storage_close(s); /* clean: syncs, with a mark of what it knows */
            raft_index closed_at = m.known < m.last ? m.known : m.last;
            s = tsu_open(dir, &r, &o);
            model_check(&m, s, &r, seed, step);
            model_check_commit(&m, closed_at, &r, false, seed, step);
            model_restarted(&m, s, &r);
        } else {
            /* Crash mid-write: everything synced, then the tail torn. */
            storage_close(s);
            model_synced(&m);
            raft_index closed_at = m.known < m.last ? m.known : m.last;
            if (tsu_count_files(dir, "wal-") > 0) {
                char seg[512];
                tsu_segment_path(dir, 0, seg, sizeof seg);
                off_t size = tsu_file_size(seg);
                off_t chop = 1 + (off_t)rng_below(&g, 120);
                if (chop > size)
                    chop = size;
                tsu_truncate(seg, size - chop);
                s = tsu_open(dir, &r, &o);
                raft_index lost_max = (raft_index)chop / 25 + 1;
                raft_index last = r.snap_index + r.n_entries;
                cr_assert_leq(last, m.last, "seed %" PRIu64 " step %d", seed, step);
                cr_assert_geq(last + lost_max, m.last,
                              "seed %" PRIu64 " step %d: tearing %jd bytes lost %" PRIu64
                              " entries",
                              seed, step, (intmax_t)chop, m.last - last);
                /* (A cut that lands on a record boundary looks like a shorter
                 * log and is not logged; the recovery tests check the log.) */
                m.last = last;
                model_check(&m, s, &r, seed, step);
                model_check_commit(&m, closed_at, &r, true, seed, step);
            } else {
                s = tsu_open(dir, &r, &o);
                model_check(&m, s, &r, seed, step);
                model_check_commit(&m, closed_at, &r, false, seed, step);
            }
            model_restarted(&m, s, &r);
        }
    }
    storage_close(s);
    raft_index closed_at = m.known < m.last ? m.known : m.last;
    s = tsu_open(dir, &r, &o);
    model_check(&m, s, &r, seed, steps);
    model_check_commit(&m, closed_at, &r, false, seed, steps);
    storage_close(s);
    tsu_remove_dir(dir);
}

Test(storage_model, random_operations_and_restarts_match_the_model)
{
    const char *env = getenv("RAFTKV_STORAGE_SEED");
    if (env) {
        uint64_t seed = strtoull(env, NULL, 10);
        fprintf(stderr, "storage_model: replaying seed %" PRIu64 "\n", seed);
        model_run(seed, 400);
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t base = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    /* A handful of seeds keeps `make test` fast; RAFTKV_STORAGE_SEEDS=<n> for a long soak. */
    const char *many = getenv("RAFTKV_STORAGE_SEEDS");
    uint64_t n_seeds = many ? strtoull(many, NULL, 10) : 6;
    for (uint64_t k = 0; k < n_seeds; k++) {
        uint64_t seed = base + k;
        fprintf(stderr, "storage_model: seed %" PRIu64 " (replay: RAFTKV_STORAGE_SEED=%" PRIu64
                        ")\n",
                seed, seed);
        model_run(seed, 400);
    }
}
