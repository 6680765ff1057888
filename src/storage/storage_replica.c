/* storage_replica.c - struct replica_log_store over struct storage: thin
 * casts, since the seam was shaped after raft.h's order of work as the store
 * is; and the store's half of the replica's background syncs. Each returns STORAGE_OK or a negative STORAGE_ERR_*, which the replica
 * treats as fatal (storage_error() says why). */
#include "storage/storage_replica.h"

#include <sys/mman.h>
#include <unistd.h>

/* The entries' data are lent, not copied: the core points into the mapped
 * segments until the replica gives them back (release_restore). */
static int storage_replica_load(void *impl, struct raft_restore *out)
{
    return storage_lend_restore(impl, out);
}

static void storage_replica_release_restore(void *impl)
{
    storage_end_loan(impl);
}

static size_t storage_replica_lend(void *impl, raft_index first, size_t n, struct raft_entry *out)
{
    return storage_lend(impl, first, n, out);
}

static void storage_replica_lend_release(void *impl, raft_index first, raft_index last)
{
    storage_lend_release(impl, first, last);
}

static int storage_replica_save_hard_state(void *impl, raft_term term, int voted_for)
{
    return storage_set_hard_state(impl, term, voted_for);
}

static int storage_replica_save_commit(void *impl, raft_index commit)
{
    return storage_set_commit(impl, commit);
}

static int storage_replica_append(void *impl, const struct raft_entry *entries, size_t n)
{
    return storage_append(impl, entries, n);
}

static int storage_replica_save_snapshot(void *impl, raft_index index, raft_term term,
                                         const uint8_t *data, size_t len)
{
    return storage_save_snapshot(impl, index, term, data, len);
}

static int storage_replica_sync(void *impl)
{
    return storage_sync(impl);
}

static int loader_feed(void *ctx, const uint8_t *p, size_t n)
{
    return kv_loader_feed(ctx, p, n);
}

/* Load the stored snapshot into the map: the file mapped and given to the
 * loader whole (its CRCs checked on a second thread while the map is
 * built, and no copy of the bytes), or streamed in pieces when it cannot
 * be mapped. As with the log's mapped segments, a read error of the disk
 * under the mapping ends the process (SIGBUS) instead of failing the
 * start. Damage is named in storage_error() with the file and offset. */
static int storage_replica_load_snapshot(void *impl, struct kv_store *kv)
{
    struct storage *s = impl;
    struct kv_loader *l = kv_loader_new(true);
    if (!l)
        return STORAGE_ERR_NOMEM;
    int fd;
    uint64_t size;
    int rc = storage_snapshot_open(s, storage_snapshot_index(s), &fd, &size);
    void *map = MAP_FAILED;
    if (rc == STORAGE_OK) {
        if (size > 0)
            map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
    }
    if (map != MAP_FAILED) {
        (void)madvise(map, (size_t)size, MADV_SEQUENTIAL);
        rc = kv_loader_load(l, map, (size_t)size) == 0 ? STORAGE_OK : STORAGE_ERR_CORRUPT;
        munmap(map, (size_t)size);
    } else if (rc == STORAGE_OK) {
        rc = storage_snapshot_stream(s, loader_feed, l);
    }
    uint64_t index = 0;
    if (rc == STORAGE_OK && kv_loader_finish(l, kv, &index, NULL) != 0)
        rc = STORAGE_ERR_CORRUPT;
    if (rc == STORAGE_ERR_CORRUPT)
        storage_snapshot_corrupt(s, kv_loader_error(l));
    kv_loader_free(l);
    return rc;
}

static int storage_replica_read_snapshot(void *impl, raft_index index, uint8_t **data, size_t *len)
{
    if (index != storage_snapshot_index(impl))
        return STORAGE_ERR_INVALID;
    return storage_snapshot_read(impl, data, len);
}

static int storage_replica_adopt_snapshot(void *impl, raft_index index, raft_term term)
{
    return storage_snapshot_adopt(impl, index, term);
}

void storage_replica_log_store(struct storage *s, struct replica_log_store *out)
{
    out->impl = s;
    out->load = storage_replica_load;
    out->release_restore = storage_replica_release_restore;
    out->lend = storage_replica_lend;
    out->lend_release = storage_replica_lend_release;
    out->save_hard_state = storage_replica_save_hard_state;
    out->save_commit = storage_replica_save_commit;
    out->append = storage_replica_append;
    out->save_snapshot = storage_replica_save_snapshot;
    out->sync = storage_replica_sync;
    out->load_snapshot = storage_replica_load_snapshot;
    out->read_snapshot = storage_replica_read_snapshot;
    out->adopt_snapshot = storage_replica_adopt_snapshot;
}

int storage_replica_sync_start(struct storage_replica_sync *b)
{
    int rc = storage_sync_begin(b->storage, &b->job);
    if (rc != STORAGE_SYNC_STARTED)
        return rc == STORAGE_SYNC_INLINE ? REPLICA_SYNC_INLINE : rc;
    if (b->queue(b->ctx, &b->job) != 0) {
        storage_sync_job_run(&b->job); /* no thread to run it on */
        return storage_sync_end(b->storage, &b->job);
    }
    return REPLICA_SYNC_STARTED;
}

int storage_replica_sync_end(struct storage_replica_sync *b)
{
    return storage_sync_end(b->storage, &b->job);
}
