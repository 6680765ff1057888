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

static void sync_work_run(uv_work_t *w)
{
    storage_sync_job_run(w->data);
}

static void sync_work_done(uv_work_t *w, int status)
{
    (void)status; /* never cancelled: the job always runs */
    struct server *s = w->loop->data;
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

int server_store_open(struct server *s, char *err, size_t errlen)
{
    struct storage_options so = {.log = store_log};
    struct raft_restore restore;
    memset(&restore, 0, sizeof restore);
    int rc = storage_open(s->opt.data_dir, &so, &s->storage, &restore, err, errlen);
    if (rc != STORAGE_OK)
        return rc;
    s->storage_had_data = restore.term > 0 || restore.voted_for != RAFT_NO_NODE ||
                          restore.snap_index > 0 || restore.n_entries > 0;
    storage_replica_log_store(s->storage, &s->log_store);
    s->bg_sync = (struct storage_replica_sync){.storage = s->storage, .queue = sync_queue, .ctx = s};
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

int server_store_sync_start(void *ctx)
{
    return storage_replica_sync_start(&((struct server *)ctx)->bg_sync);
}
