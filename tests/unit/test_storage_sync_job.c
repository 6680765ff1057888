/* test_storage_sync_job.c - syncing off the event loop (storage.h): a job
 * writes the batch and syncs once, appends may go on meanwhile and need a
 * job of their own, a synchronous sync still syncs the job's bytes, the job
 * survives the tail rolling under it, and a failed job stops the store like
 * a failed sync. Whether the fdatasync reaches the disk cannot be seen on a
 * live file system; what a lost sync would cost is modelled by
 * test_replica_power_loss.c. */
#include <errno.h>
#include <pthread.h>

#include "test_storage_util.h"

static char dir[256];

static void setup(void)
{
    /* With its first segment made, so that what follows needs no directory
     * fsync and can go to a job. */
    tsu_make_seeded_dir(dir, sizeof dir);
}

static void teardown(void)
{
    tsu_remove_dir(dir);
}

TestSuite(storage_sync_job, .init = setup, .fini = teardown);

static void *run_job(void *job)
{
    storage_sync_job_run(job);
    return NULL;
}

/* Run the job on another thread, as the server does. */
static void run_elsewhere(struct storage_sync_job *job)
{
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, run_job, job), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
}

Test(storage_sync_job, a_job_covers_the_batch_written_before_it_and_later_appends_need_another)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, NULL);
    struct storage_sync_job job;
    cr_assert_eq(storage_sync_begin(s, &job), STORAGE_OK, "nothing to sync yet");
    tsu_append_range(s, 4, 10, 1);
    struct storage_stats before, after;
    storage_get_stats(s, &before);
    cr_assert_eq(storage_sync_begin(s, &job), STORAGE_SYNC_STARTED, "%s", storage_error(s));
    storage_get_stats(s, &after);
    cr_assert_eq(after.writes - before.writes, 1, "the batch is written when the job begins");
    /* Appends go on while the job runs; they are not covered by it. */
    tsu_append_range(s, 11, 12, 1);
    run_elsewhere(&job);
    cr_assert_eq(storage_sync_end(s, &job), STORAGE_OK, "%s", storage_error(s));
    storage_get_stats(s, &after);
    cr_assert_eq(after.syncs - before.syncs, 1);
    cr_assert_eq(after.fsyncs - before.fsyncs, 1);
    /* What came after the job's start still needs a sync of its own. */
    cr_assert_eq(storage_sync_begin(s, &job), STORAGE_SYNC_STARTED);
    run_elsewhere(&job);
    cr_assert_eq(storage_sync_end(s, &job), STORAGE_OK);
    storage_abandon(s); /* as kill -9: only synced bytes count */

    s = tsu_open(dir, &r, NULL);
    cr_assert_eq(r.n_entries, 12);
    for (size_t i = 0; i < 12; i++)
        tsu_expect_entry(&r, i, i + 1, 1);
    storage_close(s);
}

Test(storage_sync_job, a_term_or_vote_to_store_makes_the_sync_synchronous)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, NULL);
    tsu_append_range(s, 4, 4, 1);
    cr_assert_eq(storage_set_hard_state(s, 2, 1), STORAGE_OK);
    struct storage_sync_job job;
    cr_assert_eq(storage_sync_begin(s, &job), STORAGE_SYNC_INLINE);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    storage_close(s);
}

Test(storage_sync_job, a_synchronous_sync_while_a_job_runs_still_covers_the_jobs_bytes)
{
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, NULL);
    tsu_append_range(s, 4, 6, 1);
    struct storage_sync_job job;
    cr_assert_eq(storage_sync_begin(s, &job), STORAGE_SYNC_STARTED);
    cr_assert_eq(storage_sync_begin(s, &job), STORAGE_SYNC_INLINE, "one job at a time");
    /* A vote must be durable now, with the log it was cast on: the job may
     * not have synced yet, so this sync must fdatasync the tail itself. */
    cr_assert_eq(storage_set_hard_state(s, 2, 0), STORAGE_OK);
    struct storage_stats before, after;
    storage_get_stats(s, &before);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    storage_get_stats(s, &after);
    cr_assert_geq(after.fsyncs - before.fsyncs, 2, "meta and the tail: %" PRIu64,
                  after.fsyncs - before.fsyncs);
    run_elsewhere(&job);
    cr_assert_eq(storage_sync_end(s, &job), STORAGE_OK);
    storage_close(s);
}

Test(storage_sync_job, the_tail_rolling_or_being_deleted_under_a_job_does_not_break_it)
{
    struct storage_options o = {.segment_bytes = 256};
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &o);
    tsu_append_range(s, 4, 6, 1);
    struct storage_sync_job job;
    cr_assert_eq(storage_sync_begin(s, &job), STORAGE_SYNC_STARTED);
    /* Enough to roll to new segments, whose old tail's descriptor closes;
     * then a snapshot past all of it deletes the old segments. */
    tsu_append_range(s, 7, 40, 1);
    cr_assert_eq(storage_sync(s), STORAGE_OK, "%s", storage_error(s));
    cr_assert_eq(tsu_save_snapshot(s, 40, 1, "{}"), STORAGE_OK, "%s",
                 storage_error(s));
    run_elsewhere(&job);
    cr_assert_eq(job.rc, 0, "the job synced its own descriptor: %s", strerror(job.err));
    cr_assert_eq(storage_sync_end(s, &job), STORAGE_OK, "%s", storage_error(s));
    storage_close(s);
}

Test(storage_sync_job, a_failed_job_stops_the_store_like_a_failed_sync)
{
    struct storage_options o = {.fail_sync_at = 1};
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, &o);
    tsu_append_range(s, 4, 6, 1);
    struct storage_sync_job job;
    cr_assert_eq(storage_sync_begin(s, &job), STORAGE_SYNC_STARTED);
    run_elsewhere(&job);
    cr_assert_eq(storage_sync_end(s, &job), STORAGE_ERR_IO);
    cr_assert_not_null(strstr(storage_error(s), strerror(EIO)), "%s", storage_error(s));
    cr_assert_eq(storage_sync(s), STORAGE_ERR_FAILED, "never retried");
    cr_assert_eq(storage_sync_begin(s, &job), STORAGE_ERR_FAILED);
    storage_close(s);
}
