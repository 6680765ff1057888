/* server_store.c - opening and closing the data directory (or an
 * --in-memory member's private one, mem_dir.h) around the replica, and
 * running its log syncs on libuv's thread pool; src/storage owns the
 * files, CRCs and locking, and fills the replica's log-store seam
 * (storage_replica.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/alloc.h"
#include "server/mem_dir.h"
#include "server/server_internal.h"
#include "storage/storage.h"
#include "storage/storage_replica.h"

static void store_log(void *ctx, const char *line)
{
    (void)ctx;
    server_log(SLOG_WARN, "storage_recovery", "detail=\"%s\"", line);
}

static void sync_work_run(uv_work_t *w)
{
    storage_sync_job_run(w->data);
}

static void sync_work_done(uv_work_t *w, int status)
{
    (void)status; /* never cancelled: the job always runs */
    struct server *s = w->loop->data;
    loop_watch_note(&s->loop_watch, LOOP_CB_LOG_SYNCED);
    int rc = storage_replica_sync_end(&s->bg_sync);
    if (!s->replica)
        return;
    replica_synced(s->replica, rc);
    server_after_io(s);
}

static int sync_queue(void *ctx, struct storage_sync_job *job)
{
    struct server *s = ctx;
    s->sync_work.data = job;
    return uv_queue_work(s->loop, &s->sync_work, sync_work_run, sync_work_done);
}

static void snapshot_done(struct bgsave *b, int rc)
{
    struct server *s = b->ctx;
    loop_watch_note(&s->loop_watch, LOOP_CB_SNAPSHOT);
    double ms = (double)b->write_ns / 1e6;
    if (rc == 0 && b->job.superseded) {
        server_log(SLOG_INFO, "snapshot_superseded", "index=%llu ms=%.1f",
                   (unsigned long long)b->job.index, ms);
    } else if (rc == 0 && b->walking) {
        server_log(SLOG_INFO, "snapshot_done",
                   "index=%llu term=%llu ms=%.1f method=walk loop_ms=%.1f loop_cpu_ms=%.1f "
                   "slices=%llu max_slice_ms=%.2f max_slice_cpu_ms=%.2f kept_peak_bytes=%zu "
                   "kept_keys=%zu max_budget_ms=%.1f commit_ms=%.2f commit_loop_ms=%.3f "
                   "disk_bytes=%llu",
                   (unsigned long long)b->job.index, (unsigned long long)b->job.term, ms,
                   (double)b->walk_loop_ns / 1e6, (double)b->walk_loop_cpu_ns / 1e6,
                   (unsigned long long)b->walk_slices, (double)b->walk_max_slice_ns / 1e6,
                   (double)b->walk_max_slice_cpu_ns / 1e6, b->walk_kept_peak, b->walk_kept_keys,
                   (double)b->walk_max_budget_ns / 1e6,
                   (double)b->commit_ns / 1e6, (double)b->commit_loop_ns / 1e6,
                   (unsigned long long)b->file_bytes);
    } else if (rc == 0) {
        server_log(SLOG_INFO, "snapshot_done",
                   "index=%llu term=%llu ms=%.1f fork_ms=%.2f commit_ms=%.2f commit_loop_ms=%.3f "
                   "disk_bytes=%llu",
                   (unsigned long long)b->job.index, (unsigned long long)b->job.term, ms,
                   (double)b->fork_ns / 1e6, (double)b->commit_ns / 1e6,
                   (double)b->commit_loop_ns / 1e6,
                   (unsigned long long)b->file_bytes);
    } else if (rc == BGSAVE_CHILD_FAILED) {
        server_log(SLOG_ERROR, "snapshot_failed",
                   "index=%llu reason=\"%s\" detail=\"the previous snapshot stays; trying again in %d ms\"",
                   (unsigned long long)b->job.index, b->why, REPLICA_SNAPSHOT_RETRY_MS);
    }
    if (!s->replica)
        return;
    if (rc < 0) { /* the commit failed: the store has stopped */
        server_log(SLOG_ERROR, "storage_failed", "rc=%d reason=\"%s\"", rc, b->why);
        server_fatal(s, "storage failed: the node cannot trust its disk and stops");
        return;
    }
    replica_snapshot_done(s->replica, b->job.index, rc, server_now(s));
    server_after_io(s);
}

int server_store_snapshot_start(void *ctx, raft_index index, raft_term term)
{
    struct server *s = ctx;
    loop_watch_note(&s->loop_watch, LOOP_CB_SNAPSHOT);
    if (s->bgsave.method == BGSAVE_WALK && !s->bgsave.walk_gave_up && backup_defers_snapshot(s))
        return -1; /* the replica tries again in REPLICA_SNAPSHOT_RETRY_MS */
    if (bgsave_start(&s->bgsave, replica_store(s->replica), index, term) != 0) {
        server_log(SLOG_ERROR, "snapshot_failed",
                   "index=%llu reason=\"%s\" detail=\"the previous snapshot stays; trying again in %d ms\"",
                   (unsigned long long)index, s->bgsave.why, REPLICA_SNAPSHOT_RETRY_MS);
        return -1;
    }
    if (s->bgsave.walking) {
        server_log(SLOG_INFO, "snapshot_started", "index=%llu term=%llu method=walk",
                   (unsigned long long)index, (unsigned long long)term);
        return 0;
    }
    server_log(SLOG_INFO, "snapshot_started", "index=%llu term=%llu pid=%d fork_ms=%.2f fork_cpu_ms=%.2f%s",
               (unsigned long long)index, (unsigned long long)term, (int)s->bgsave.pid,
               (double)s->bgsave.fork_ns / 1e6, (double)s->bgsave.fork_cpu_ns / 1e6,
               s->bgsave.method == BGSAVE_WALK
                   ? " method=fork detail=\"the last walk gave up; this one forks, the next walks\""
                   : "");
    return 0;
}

void server_store_stop_snapshot(struct server *s)
{
    if (s->storage)
        bgsave_stop(&s->bgsave);
}

int server_store_open(struct server *s, const char *dir, char *err, size_t errlen)
{
    struct storage_options so = {.log = store_log};
    struct raft_restore restore;
    memset(&restore, 0, sizeof restore);
    uint64_t t0 = uv_hrtime();
    int rc = storage_open(dir, &so, &s->storage, &restore, err, errlen);
    double open_ms = (double)(uv_hrtime() - t0) / 1e6;
    if (rc != STORAGE_OK)
        return rc;
    s->storage_had_data = restore.term > 0 || restore.voted_for != RAFT_NO_NODE ||
                          restore.snap_index > 0 || restore.n_entries > 0;
    storage_replica_log_store(s->storage, &s->log_store);
    s->bg_sync = (struct storage_replica_sync){.storage = s->storage, .queue = sync_queue, .ctx = s};
    bgsave_init(&s->bgsave, s->loop, s->storage, snapshot_done, s);
    s->bgsave.method = s->opt.snapshot_walk ? BGSAVE_WALK : BGSAVE_FORK;
    s->bgsave.walk_max_bytes = s->opt.snapshot_walk_max_bytes;
    s->bgsave.walk_slice_ns = s->opt.snapshot_walk_slice_ms * 1000000ull;
    s->bgsave.walk_max_slice_ns_limit = s->opt.snapshot_walk_max_slice_ms * 1000000ull;
    s->bgsave.walk_target_ns = s->opt.snapshot_walk_target_ms * 1000000ull;
    /* Test hook: make the next snapshot child fail with this errno. */
    const char *fail = getenv("RAFTKV_SNAPSHOT_FAIL_ERRNO");
    if (fail && *fail) {
        s->bgsave.fail_errno = atoi(fail);
        server_log(SLOG_WARN, "test_hook", "detail=\"the first snapshot child fails with errno %d\"",
                   s->bgsave.fail_errno);
    }
    server_log(SLOG_INFO, "storage_opened",
               "dir=%s term=%llu voted_for=%d snapshot_index=%llu entries=%zu commit=%llu ms=%.1f",
               dir, (unsigned long long)restore.term, restore.voted_for,
               (unsigned long long)restore.snap_index, restore.n_entries,
               (unsigned long long)restore.commit, open_ms);
    return 0;
}

/* The replica exists: the storage's entry array goes (the core borrows the
 * entries' data, which stay mapped until its snapshots pass them), and the
 * pages start-up used for it and for loading the snapshot go back to the
 * system now rather than at jemalloc's decay. new_ns: replica_new's time
 * (the map loaded from the snapshot, then the core over the log), logged
 * with the process's CPU time so far (start-up, issue 12). */
void server_store_loaded(struct server *s, uint64_t new_ns)
{
    if (s->storage)
        storage_release_restore(s->storage);
    alloc_release();
    if (!s->storage || !s->replica)
        return;
    struct timespec cpu;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
    server_log(SLOG_INFO, "snapshot_loaded", "index=%llu keys=%zu ms=%.1f cpu_ms=%.1f",
               (unsigned long long)storage_snapshot_index(s->storage),
               kv_store_size(replica_store(s->replica)), (double)new_ns / 1e6,
               (double)cpu.tv_sec * 1e3 + (double)cpu.tv_nsec / 1e6);
    raft_index last = replica_last_index(s->replica);
    raft_index commit = replica_commit_index(s->replica); /* the stored one, clamped */
    s->restart_tail_end = last > replica_applied_index(s->replica) ? last : 0;
    s->restart_commit_end = commit > replica_applied_index(s->replica) ? commit : 0;
}

/* The part of the restart's log tail its commit marks named applied
 * (restart_commit_applied, with the role then: before an election, as a
 * rule), and the whole tail applied (or cut by a new leader and passed):
 * each logged once, with the process's CPU time so far, so that a
 * restart's phases (storage_opened, snapshot_loaded, these, the election)
 * can be told apart (bench/bench_scale.sh). */
void server_store_tail(struct server *s)
{
    struct timespec cpu;
    if (s->restart_commit_end && s->replica &&
        replica_applied_index(s->replica) >= s->restart_commit_end) {
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
        int leader = replica_leader(s->replica);
        server_log(SLOG_INFO, "restart_commit_applied", "index=%llu role=%s leader=%s cpu_ms=%.1f",
                   (unsigned long long)s->restart_commit_end,
                   raft_role_name(replica_role(s->replica)),
                   leader >= 0 && leader < s->opt.n_nodes ? s->opt.names[leader] : "none",
                   (double)cpu.tv_sec * 1e3 + (double)cpu.tv_nsec / 1e6);
        s->restart_commit_end = 0;
    }
    if (!s->restart_tail_end || !s->replica ||
        replica_applied_index(s->replica) < s->restart_tail_end)
        return;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
    server_log(SLOG_INFO, "restart_tail_applied", "index=%llu applied=%llu cpu_ms=%.1f",
               (unsigned long long)s->restart_tail_end,
               (unsigned long long)replica_applied_index(s->replica),
               (double)cpu.tv_sec * 1e3 + (double)cpu.tv_nsec / 1e6);
    s->restart_tail_end = 0;
}

void server_store_close(struct server *s)
{
    if (s->storage) {
        bgsave_stop(&s->bgsave);
        if (storage_sync(s->storage) != STORAGE_OK)
            server_log(SLOG_ERROR, "storage_sync_failed", "reason=\"%s\"", storage_error(s->storage));
        storage_close(s->storage);
        s->storage = NULL;
    }
    if (s->mem_dir[0]) {
        if (mem_dir_remove(s->mem_dir) != 0)
            server_log(SLOG_WARN, "in_memory_dir_left", "dir=%s reason=\"%s\"", s->mem_dir, strerror(errno));
        s->mem_dir[0] = '\0';
    }
}

int server_store_sync_start(void *ctx)
{
    return storage_replica_sync_start(&((struct server *)ctx)->bg_sync);
}
