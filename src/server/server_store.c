/* server_store.c - opening and closing the data directory around the
 * replica, and running its log syncs on libuv's thread pool; src/storage
 * owns the files, CRCs and locking, and fills the replica's log-store seam
 * (storage_replica.h). */
#include <string.h>

#include "server/server_internal.h"
#include "storage/storage.h"
#include "storage/storage_replica.h"

static void store_log(void *ctx, const char *line)
{
    (void)ctx;
    server_log(SLOG_WARN, "storage_recovery", "detail=\"%s\"", line);
}

int server_store_open(struct server *s, char *err, size_t errlen)
{
    struct storage_options so = {.log = store_log};
    struct raft_restore restore;
    memset(&restore, 0, sizeof restore);
    int rc = storage_open(s->opt.data_dir, &so, &s->storage, &restore, err, errlen);
    if (rc != STORAGE_OK)
        return rc;
    storage_replica_log_store(s->storage, &s->log_store);
    server_log(SLOG_INFO, "storage_opened", "dir=%s term=%llu voted_for=%d snapshot_index=%llu entries=%zu",
               s->opt.data_dir, (unsigned long long)restore.term, restore.voted_for,
               (unsigned long long)restore.snap_index, restore.n_entries);
    return 0;
}

/* The replica has copied what it needs once it exists. */
void server_store_loaded(struct server *s)
{
    if (s->storage)
        storage_release_restore(s->storage);
}

void server_store_close(struct server *s)
{
    if (s->storage) {
        if (storage_sync(s->storage) != STORAGE_OK)
            server_log(SLOG_ERROR, "storage_sync_failed", "reason=\"%s\"", storage_error(s->storage));
        storage_close(s->storage);
        s->storage = NULL;
    }
}

static void sync_work_run(uv_work_t *w)
{
    struct server *s = w->data;
    storage_sync_job_run(&s->sync_job);
}

static void sync_work_done(uv_work_t *w, int status)
{
    (void)status; /* never cancelled: the job always runs */
    struct server *s = w->data;
    s->sync_running = false;
    int rc = storage_sync_end(s->storage, &s->sync_job);
    if (!s->replica)
        return;
    replica_synced(s->replica, rc);
    server_after_io(s);
}

int server_store_sync_start(void *ctx)
{
    struct server *s = ctx;
    if (!s->storage || s->sync_running)
        return REPLICA_SYNC_INLINE;
    int rc = storage_sync_begin(s->storage, &s->sync_job);
    if (rc != STORAGE_SYNC_STARTED)
        return rc == STORAGE_SYNC_INLINE ? REPLICA_SYNC_INLINE : rc;
    s->sync_work.data = s;
    if (uv_queue_work(s->loop, &s->sync_work, sync_work_run, sync_work_done) != 0) {
        /* No thread to run it on: run it here. */
        storage_sync_job_run(&s->sync_job);
        return storage_sync_end(s->storage, &s->sync_job);
    }
    s->sync_running = true;
    return REPLICA_SYNC_STARTED;
}
