/* server_store.c - opening and closing the data directory around the
 * replica; src/storage owns the files, CRCs and locking, and fills the
 * replica's log-store seam (storage_replica.h). */
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
