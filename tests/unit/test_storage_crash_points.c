/* test_storage_crash_points.c - a crash at EVERY system call of a scripted
 * workload (appends, segment rolls, truncations within and across segments,
 * compaction, a leader's snapshot, a snapshot written by a separate writer
 * as the server's child process does, hard-state changes): the Nth write (whole
 * or torn in half) or the Nth fsync fails, the store is abandoned as a
 * kill -9 would leave it, and the directory is reopened. Every time it must
 * open (a crash is never "corruption"), and everything acknowledged before
 * the crash must be there, except what the interrupted operation was
 * itself allowed to remove. */
#include "test_storage_util.h"

#define CP_MAX 200

struct cp_model {
    raft_term term_of[CP_MAX]; /* acknowledged entries: index -> term (0: none) */
    raft_index acked_last;
    raft_index acked_snap;
    raft_term acked_hard_term;
    int acked_vote;
    raft_index touch_from; /* the in-flight operation may remove entries >= this */
    raft_index leader_snap; /* the in-flight operation installs this snapshot */
};

enum cp_fault { CP_WRITE, CP_WRITE_TORN, CP_SYNC };

/* Steps of the script; each returns false once the store has failed. */
static bool cp_append(struct storage *s, struct cp_model *m, raft_index first, raft_index last,
                      raft_term term)
{
    m->touch_from = first <= m->acked_last ? first : CP_MAX;
    struct tsu_entries t;
    for (raft_index i = first; i <= last; i++)
        tsu_fill(&t, i - first, i, term);
    if (storage_append(s, t.e, last - first + 1) != STORAGE_OK || storage_sync(s) != STORAGE_OK)
        return false;
    for (raft_index i = first; i < CP_MAX; i++)
        m->term_of[i] = i <= last ? term : 0;
    m->acked_last = last;
    m->touch_from = CP_MAX;
    return true;
}

static bool cp_hard_state(struct storage *s, struct cp_model *m, raft_term term, int vote)
{
    if (storage_set_hard_state(s, term, vote) != STORAGE_OK || storage_sync(s) != STORAGE_OK)
        return false;
    m->acked_hard_term = term;
    m->acked_vote = vote;
    return true;
}

static bool cp_snapshot(struct storage *s, struct cp_model *m, raft_index index, raft_term term,
                        bool from_leader)
{
    if (from_leader) {
        m->touch_from = 1;
        m->leader_snap = index;
    }
    if (tsu_save_snapshot(s, index, term, "snapshot") != STORAGE_OK)
        return false;
    if (from_leader) {
        for (raft_index i = 1; i < CP_MAX; i++)
            m->term_of[i] = 0;
        m->acked_last = index;
    }
    m->acked_snap = index;
    m->touch_from = CP_MAX;
    m->leader_snap = 0;
    return true;
}

/* A snapshot written as the server's child writes it (the writer's writes
 * and syncs count as crash points too), then committed. */
static bool cp_bg_snapshot(struct storage *s, struct cp_model *m, raft_index index, raft_term term)
{
    struct storage_snapshot_job job;
    if (storage_snapshot_begin(s, index, term, &job) != STORAGE_OK)
        return false;
    size_t len;
    uint8_t *img = tsu_image(index, term, "background", &len);
    bool ok = storage_snapshot_job_write(&job, img, len / 2) == 0 &&
              storage_snapshot_job_write(&job, img + len / 2, len - len / 2) == 0 &&
              storage_snapshot_job_sync(&job) == 0;
    free(img);
    if (!ok) {
        storage_snapshot_abort(s, &job);
        return false; /* a crash here: the child's file is only a .tmp */
    }
    if (storage_snapshot_commit(s, &job) != STORAGE_OK)
        return false;
    m->acked_snap = index;
    return true;
}

/* The script; returns true if it ran to the end (the fault never fired). */
static bool cp_script(struct storage *s, struct cp_model *m)
{
    return cp_hard_state(s, m, 1, 0) && cp_append(s, m, 1, 10, 1) &&
           cp_append(s, m, 11, 30, 1) &&      /* rolls segments */
           cp_append(s, m, 28, 29, 2) &&      /* truncate inside the tail */
           cp_append(s, m, 30, 45, 2) &&      /* more segments */
           cp_append(s, m, 17, 20, 3) &&      /* truncate across segments */
           cp_snapshot(s, m, 15, 1, false) && /* compaction keeps 16.. */
           cp_append(s, m, 21, 40, 3) &&
           cp_hard_state(s, m, 4, 1) &&
           cp_snapshot(s, m, 60, 4, true) &&  /* a leader's snapshot: log dropped */
           cp_append(s, m, 61, 75, 4) &&
           cp_append(s, m, 70, 72, 5) && cp_snapshot(s, m, 71, 5, false) &&
           cp_append(s, m, 73, 80, 5) &&
           cp_bg_snapshot(s, m, 78, 5) &&     /* written elsewhere, then committed */
           cp_append(s, m, 81, 84, 5) &&
           cp_hard_state(s, m, 40, 2); /* past the term ceiling: raised first */
}

static void cp_check(const char *dir, const struct cp_model *m, const char *what)
{
    struct tsu_log log = {0};
    struct storage_options o = {.segment_bytes = 300, .log = tsu_log_line, .log_ctx = &log};
    struct storage *s = NULL;
    struct raft_restore r;
    char err[512] = "";
    int rc = storage_open(dir, &o, &s, &r, err, sizeof err);
    cr_assert_eq(rc, STORAGE_OK, "%s: reopen refused: %s", what, err);
    cr_assert_geq(r.term, m->acked_hard_term, "%s: hard state went back", what);
    if (m->acked_hard_term > 0 && r.term == m->acked_hard_term)
        cr_assert_eq(r.voted_for, m->acked_vote, "%s: the vote changed within its term", what);
    cr_assert_geq(r.snap_index, m->acked_snap, "%s: snapshot went back", what);
    if (m->leader_snap && r.snap_index != m->leader_snap)
        cr_assert_leq(r.snap_index, m->acked_snap, "%s: unknown snapshot", what);
    /* What came back is real: contiguous entries this script wrote. */
    for (size_t i = 0; i < r.n_entries; i++) {
        const struct raft_entry *e = &r.entries[i];
        cr_assert_eq(e->index, r.snap_index + 1 + i, "%s: entries not contiguous", what);
        char want[48];
        int len = snprintf(want, sizeof want, "entry %" PRIu64 " term %" PRIu64, e->index,
                           e->term);
        cr_assert(e->len == (uint32_t)len && memcmp(e->data, want, (size_t)len) == 0,
                  "%s: entry %" PRIu64 " damaged", what, e->index);
        if (i > 0)
            cr_assert_geq(e->term, r.entries[i - 1].term, "%s: terms go back", what);
    }
    /* Nothing acknowledged is missing, unless the crashed operation was
     * removing it (a truncation from touch_from, a leader's snapshot). */
    for (raft_index i = 1; i <= m->acked_last && i < CP_MAX; i++) {
        if (m->term_of[i] == 0 || i >= m->touch_from || i <= r.snap_index)
            continue;
        cr_assert_lt(i - r.snap_index - 1, r.n_entries,
                     "%s: acknowledged entry %" PRIu64 " lost (log ends at %" PRIu64 ")", what, i,
                     r.snap_index + r.n_entries);
        cr_assert_eq(r.entries[i - r.snap_index - 1].term, m->term_of[i],
                     "%s: acknowledged entry %" PRIu64 " changed term", what, i);
    }
    storage_close(s);
}

static int cp_run_all(enum cp_fault fault)
{
    static const char *names[] = {"write", "torn write", "fsync"};
    int crashes = 0;
    for (uint64_t n = 1; n < 1000; n++) {
        char dir[256];
        tsu_make_dir(dir, sizeof dir);
        struct storage_options o = {.segment_bytes = 300};
        if (fault == CP_SYNC)
            o.fail_sync_at = n;
        else
            o.fail_write_at = n;
        o.fail_write_torn = fault == CP_WRITE_TORN;
        o.log = tsu_log_line;
        struct tsu_log quiet = {0};
        o.log_ctx = &quiet;
        static struct cp_model m;
        memset(&m, 0, sizeof m);
        m.touch_from = CP_MAX;
        struct raft_restore r;
        struct storage *s = NULL;
        char err[512] = "";
        bool finished = false;
        if (storage_open(dir, &o, &s, &r, err, sizeof err) == STORAGE_OK) {
            finished = cp_script(s, &m);
            storage_abandon(s);
        }
        char what[96];
        snprintf(what, sizeof what, "%s #%" PRIu64 " failing", names[fault], n);
        cp_check(dir, &m, what);
        tsu_remove_dir(dir);
        if (finished)
            break; /* the fault lies past the end of the script */
        crashes++;
    }
    fprintf(stderr, "storage_crash_points: crashed at each of %d %s calls\n", crashes,
            names[fault]);
    return crashes;
}

Test(storage_crash_points, a_failed_or_torn_write_at_any_point_never_loses_what_was_acknowledged)
{
    int plain = cp_run_all(CP_WRITE);
    int torn = cp_run_all(CP_WRITE_TORN);
    cr_assert_gt(plain, 20, "the script makes %d write calls", plain);
    cr_assert_eq(plain, torn);
}

Test(storage_crash_points, a_failed_fsync_at_any_point_never_loses_what_was_acknowledged)
{
    int n = cp_run_all(CP_SYNC);
    cr_assert_gt(n, 20, "the script makes %d sync calls", n);
}

/* The commit of a background snapshot runs on another thread while the
 * loop keeps appending: a kill -9 after ANY step of that job (the rename,
 * each directory fsync, the deletion of older snapshots, each segment
 * unlink) leaves the old snapshot or the new one, never neither, and every
 * acknowledged entry after whichever it is. */
/* stop: -1 the job runs whole, k >= 0 it stops after k steps. */
static void cj_setup(const char *dir, struct storage **out, struct storage_commit_job *cj,
                     long stop)
{
    struct storage_options o = {.segment_bytes = 300};
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &o);
    tsu_append_range(s, 1, 40, 1); /* several segments */
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    cr_assert_eq(tsu_save_snapshot(s, 10, 1, "old"), STORAGE_OK);
    tsu_append_range(s, 41, 60, 1);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    struct storage_snapshot_job job;
    cr_assert_eq(storage_snapshot_begin(s, 50, 1, &job), STORAGE_OK);
    size_t len;
    uint8_t *img = tsu_image(50, 1, "new", &len);
    cr_assert_eq(storage_snapshot_job_write(&job, img, len), 0);
    cr_assert_eq(storage_snapshot_job_sync(&job), 0);
    free(img);
    cr_assert_eq(storage_snapshot_commit_begin(s, &job, cj), STORAGE_COMMIT_STARTED);
    cr_assert_geq(cj->n_segs, 3, "the snapshot covers %zu whole segments", cj->n_segs);
    /* The loop goes on meanwhile: appends (rolling segments) and syncs. */
    tsu_append_range(s, 61, 70, 1);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    cj->stop = stop >= 0;
    cj->stop_after = stop >= 0 ? (size_t)stop : 0;
    storage_commit_job_run(cj);
    tsu_append_range(s, 71, 75, 1);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    *out = s;
}

Test(storage_crash_points, a_crash_at_any_step_of_an_off_loop_commit_leaves_a_whole_snapshot)
{
    /* How many steps the whole job takes. */
    char dir[256];
    tsu_make_dir(dir, sizeof dir);
    struct storage *s;
    struct storage_commit_job cj;
    cj_setup(dir, &s, &cj, -1);
    size_t steps = cj.steps;
    size_t covered = cj.n_segs;
    cr_assert_eq(steps, 3 + 2 * covered, "rename, fsync, older snapshots, unlink+fsync each");
    cr_assert_eq(storage_snapshot_commit_end(s, &cj), STORAGE_OK);
    cr_assert_eq(storage_snapshot_index(s), 50);
    cr_assert_eq(storage_first_index(s), 51);
    struct storage_stats st;
    storage_get_stats(s, &st);
    storage_close(s);
    cr_assert_eq(tsu_count_files(dir, "snap-"), 1, "the older snapshot was deleted");
    tsu_remove_dir(dir);

    int olds = 0, news = 0;
    for (size_t k = 0; k <= steps; k++) {
        tsu_make_dir(dir, sizeof dir);
        cj_setup(dir, &s, &cj, (long)k); /* k == steps: it ran whole */
        storage_abandon(s); /* kill -9 before the loop heard of the job's end */
        struct tsu_log log = {0};
        struct storage_options o = {.segment_bytes = 300, .log = tsu_log_line, .log_ctx = &log};
        struct raft_restore r;
        s = tsu_open(dir, &r, &o);
        char tag[32];
        tsu_snapshot_tag(s, tag, sizeof tag);
        /* Not renamed yet: the old one; renamed (even before the directory
         * fsync, as kill -9 keeps the page cache): the new one. */
        cr_assert_eq(r.snap_index, k == 0 ? 10 : 50, "after %zu steps: snapshot %" PRIu64, k,
                     r.snap_index);
        cr_assert_str_eq(tag, r.snap_index == 50 ? "new" : "old", "after %zu steps", k);
        olds += r.snap_index == 10;
        news += r.snap_index == 50;
        /* Every acknowledged entry after the snapshot is there. */
        cr_assert_eq(r.n_entries, 75 - r.snap_index, "after %zu steps: %zu entries after %" PRIu64,
                     k, r.n_entries, r.snap_index);
        for (size_t i = 0; i < r.n_entries; i++)
            tsu_expect_entry(&r, i, r.snap_index + 1 + i, 1);
        cr_assert_eq(tsu_count_files(dir, "snap-"), 1, "after %zu steps: one snapshot left", k);
        storage_close(s);
        tsu_remove_dir(dir);
    }
    cr_assert_eq(olds, 1, "only a crash before the rename keeps the old snapshot");
    cr_assert_eq(news, (int)steps);
}

/* A leader's snapshot saved while our commit job runs waits for the job,
 * and the job's later end only reports. */
Test(storage_crash_points, a_leaders_snapshot_during_an_off_loop_commit_waits_for_it)
{
    char dir[256];
    tsu_make_dir(dir, sizeof dir);
    struct storage *s;
    struct storage_commit_job cj;
    cj_setup(dir, &s, &cj, -1);
    cr_assert(storage_commit_running(s));
    cr_assert_eq(tsu_save_snapshot(s, 90, 2, "leader"), STORAGE_OK);
    cr_assert_not(storage_commit_running(s));
    cr_assert_eq(storage_snapshot_commit_end(s, &cj), STORAGE_OK);
    cr_assert_eq(storage_snapshot_index(s), 90);
    storage_close(s);
    struct raft_restore r;
    s = tsu_open(dir, &r, NULL);
    cr_assert_eq(r.snap_index, 90);
    cr_assert_eq(r.n_entries, 0);
    storage_close(s);
    cr_assert_eq(tsu_count_files(dir, "snap-"), 1);
    tsu_remove_dir(dir);
}
