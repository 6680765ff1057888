/* storage_replica.h - the durable store behind the replica's log-store seam.
 *
 * src/replica takes its storage as a table of functions (struct
 * replica_log_store) so that it can run in memory; this fills that table
 * from an open struct storage, so a driver only writes:
 *
 *   struct storage *st; struct raft_restore restore; char err[512];
 *   if (storage_open(dir, NULL, &st, &restore, err, sizeof err) != 0) die(err);
 *   struct replica_log_store ls;
 *   storage_replica_log_store(st, &ls);
 *   config.store = &ls;              // must outlive the replica
 *   r = replica_new(&config, now);   // calls ls.load
 *   storage_release_restore(st);     // the entry array; the core borrows
 *                                    // the data until it needs them no more
 *   ... on a replica_flush() failure: log storage_error(st), exit ...
 *   replica_free(r); storage_close(st);
 */
#ifndef RAFTKV_STORAGE_REPLICA_H
#define RAFTKV_STORAGE_REPLICA_H

#include "replica/replica.h"
#include "storage/storage.h"

void storage_replica_log_store(struct storage *s, struct replica_log_store *out);

/* Background syncs (replica_config.sync_start) for a driver with a thread
 * pool. storage_replica_sync_start() begins a sync job on `storage` and
 * hands it to queue(ctx, job), which runs storage_sync_job_run(job) on
 * another thread and, back on this one, calls storage_replica_sync_end() and
 * passes its result to replica_synced(). Returns what sync_start must: a
 * REPLICA_SYNC_* code, 0, or a negative STORAGE_ERR_*. If queue fails
 * (nonzero), the job runs here and now. The replica starts one at a time. */
struct storage_replica_sync {
    struct storage *storage;
    int (*queue)(void *ctx, struct storage_sync_job *job);
    void *ctx;
    struct storage_sync_job job;
};

int storage_replica_sync_start(struct storage_replica_sync *b);
int storage_replica_sync_end(struct storage_replica_sync *b);

#endif
