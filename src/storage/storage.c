/* storage.c - the durable store the drivers use: ties the directory lock, the
 * hard-state file, the log segments and the snapshot together, enforces the
 * "stop after a disk error" rule, and keeps the statistics (see storage.h). */
#include "storage/storage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "storage/dir_lock.h"
#include "storage/meta.h"
#include "storage/sio.h"
#include "storage/snap_writer.h"
#include "storage/snapshot.h"
#include "storage/wal.h"
#include "storage/wal_format.h"

#define STORAGE_ERR_BYTES 512

struct storage {
    char *dir;
    int dirfd;
    int lock_fd;
    struct sio io;
    struct meta meta;
    struct wal wal;

    bool hard_state_dirty;
    raft_term term;
    int voted_for;

    raft_index snap_index;
    raft_term snap_term;
    uint64_t snap_file_bytes;
    raft_index recv_index; /* snap-<recv_index>.recv is being received; 0: none */

    /* What storage_open() handed out, until storage_release_restore(). */
    struct raft_entry *restore_entries;
    size_t n_restore_entries;
    struct raft_restore restore;
    bool restore_released;
    /* The segment memory those entries point into, once lent to the core
     * (storage_lend_restore), until storage_end_loan() or the end. */
    struct wal_maps *lent;
    /* After storage_end_loan(): those mappings not yet unmapped, a few a
     * storage_lend_release() call (STORAGE_LEND_RELEASE_MAPS). */
    struct wal_maps *loan_ended;

    bool failed; /* a disk error happened: refuse every further write */
    char err[STORAGE_ERR_BYTES];

    /* The snapshot commit running on another thread, if any. */
    struct storage_commit_job *commit;

    uint64_t syncs, snapshots;
    uint64_t sync_ns_last, sync_ns_max, sync_ns_total;
    uint64_t sync_us_hist[STORAGE_SYNC_BUCKETS];
};

const char *storage_strerror(int rc)
{
    switch (rc) {
    case STORAGE_OK: return "ok";
    case STORAGE_ERR_IO: return "disk I/O error";
    case STORAGE_ERR_CORRUPT: return "corrupt data directory";
    case STORAGE_ERR_LOCKED: return "data directory in use";
    case STORAGE_ERR_INVALID: return "invalid argument";
    case STORAGE_ERR_NOMEM: return "out of memory";
    case STORAGE_ERR_FAILED: return "store stopped after an earlier disk error";
    default: return "unknown storage error";
    }
}

const char *storage_error(const struct storage *s)
{
    return s->err;
}

static uint64_t storage_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Map an internal module result (-1 I/O, -2 corrupt, -3 memory, -4 caller)
 * to a STORAGE_ERR_*, and stop the store on anything but a caller error:
 * after a failed write or fsync the file's contents are unknown. */
static int storage_result(struct storage *s, int rc)
{
    switch (rc) {
    case 0: return STORAGE_OK;
    case -4: return STORAGE_ERR_INVALID;
    case -3: s->failed = true; return STORAGE_ERR_NOMEM;
    case -2: s->failed = true; return STORAGE_ERR_CORRUPT;
    default: s->failed = true; return STORAGE_ERR_IO;
    }
}

static int storage_check_usable(struct storage *s)
{
    if (!s->failed)
        return 0;
    /* Keep the original message: it is the one that explains the stop. */
    return STORAGE_ERR_FAILED;
}

/* mkdir -p, fsync'ing each parent whose entry we created. */
static int storage_make_dir(const char *dir, char *err, size_t errlen)
{
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return 0;
        snprintf(err, errlen, "%s: not a directory", dir);
        return -1;
    }
    char *path = strdup(dir);
    if (!path) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(path, 0755) == 0) {
            /* Make the new directory's name durable in its parent. */
            char parent[4096];
            const char *slash = strrchr(path, '/');
            if (!slash)
                snprintf(parent, sizeof parent, ".");
            else if (slash == path)
                snprintf(parent, sizeof parent, "/");
            else
                snprintf(parent, sizeof parent, "%.*s", (int)(slash - path), path);
            int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (pfd >= 0) {
                fsync(pfd);
                close(pfd);
            }
        } else if (errno != EEXIST) {
            snprintf(err, errlen, "%s: mkdir: %s", path, strerror(errno));
            free(path);
            return -1;
        }
        *p = saved;
        if (saved == '\0')
            break;
    }
    free(path);
    return 0;
}

static uint64_t storage_env_u64(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 10) : 0;
}

/* The test hook of storage.h: fault injection from the environment. */
static void storage_faults_from_env(struct sio *io)
{
    io->fail_write_at = storage_env_u64("RAFTKV_STORAGE_FAIL_WRITE_AT");
    io->fail_sync_at = storage_env_u64("RAFTKV_STORAGE_FAIL_SYNC_AT");
    io->fail_write_errno = io->fail_sync_errno = (int)storage_env_u64("RAFTKV_STORAGE_FAIL_ERRNO");
    io->fail_write_torn = storage_env_u64("RAFTKV_STORAGE_FAIL_TORN") != 0;
    if (io->fail_write_at || io->fail_sync_at)
        fprintf(stderr,
                "storage: TEST HOOK: write call %" PRIu64 " / sync call %" PRIu64
                " will fail (0: never)\n",
                io->fail_write_at, io->fail_sync_at);
}

/* Whether the directory holds log segments or snapshots: the meta file is
 * created before either, so then it must exist. */
static bool storage_dir_has_state(int dirfd)
{
    int dup_fd = dup(dirfd);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    if (!d) {
        if (dup_fd >= 0)
            close(dup_fd);
        return true; /* cannot tell: do not create a fresh term and vote */
    }
    rewinddir(d);
    bool found = false;
    struct dirent *de;
    while (!found && (de = readdir(d)) != NULL)
        found = strncmp(de->d_name, "wal-", 4) == 0 || strncmp(de->d_name, "snap-", 5) == 0;
    closedir(d);
    return found;
}

static void storage_commit_wait(struct storage_commit_job *cj);
static void storage_commit_release(struct storage_commit_job *cj);

static void storage_free(struct storage *s)
{
    if (s->commit) { /* as a kill -9: what the job did stays, memory is not told */
        storage_commit_wait(s->commit);
        storage_commit_release(s->commit);
        s->commit = NULL;
    }
    storage_end_loan(s);
    wal_maps_free(s->loan_ended);
    wal_close(&s->wal);
    meta_close(&s->meta);
    if (s->dirfd >= 0)
        close(s->dirfd);
    dir_lock_release(s->lock_fd);
    free(s->dir);
    free(s);
}

int storage_open(const char *dir, const struct storage_options *options, struct storage **out,
                 struct raft_restore *restore_out, char *err, size_t errlen)
{
    static const struct storage_options defaults = {0};
    const struct storage_options *o = options ? options : &defaults;
    *out = NULL;
    memset(restore_out, 0, sizeof *restore_out);
    restore_out->voted_for = RAFT_NO_NODE;
    if (!dir || !*dir) {
        snprintf(err, errlen, "no data directory given");
        return STORAGE_ERR_INVALID;
    }
    if (storage_make_dir(dir, err, errlen) < 0)
        return STORAGE_ERR_IO;

    struct storage *s = calloc(1, sizeof *s);
    if (!s || !(s->dir = strdup(dir))) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return STORAGE_ERR_NOMEM;
    }
    s->lock_fd = -1;
    s->meta.fd = -1;
    s->wal.tail_fd = -1;
    s->io.fail_write_at = o->fail_write_at;
    s->io.fail_sync_at = o->fail_sync_at;
    s->io.fail_write_errno = o->fail_errno;
    s->io.fail_sync_errno = o->fail_errno;
    s->io.fail_write_torn = o->fail_write_torn;
    if (!o->fail_write_at && !o->fail_sync_at && !o->fail_errno && !o->fail_write_torn)
        storage_faults_from_env(&s->io);

    int rc;
    s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0) {
        snprintf(err, errlen, "%s: open: %s", dir, strerror(errno));
        rc = STORAGE_ERR_IO;
        goto fail;
    }
    s->lock_fd = dir_lock_acquire(s->dirfd, dir, err, errlen);
    if (s->lock_fd < 0) {
        rc = s->lock_fd == -1 ? STORAGE_ERR_LOCKED : STORAGE_ERR_IO;
        goto fail;
    }
    int mrc = meta_open(&s->meta, &s->io, s->dirfd, dir, !storage_dir_has_state(s->dirfd), o->log,
                        o->log_ctx, err, errlen);
    if (mrc < 0) {
        rc = mrc == -2 ? STORAGE_ERR_CORRUPT : STORAGE_ERR_IO;
        goto fail;
    }
    s->term = s->meta.term;
    s->voted_for = s->meta.voted_for;

    int src = snapshot_load(&s->io, s->dirfd, dir, o->log, o->log_ctx, &s->snap_index,
                            &s->snap_term, &s->snap_file_bytes, err, errlen);
    if (src < 0) {
        rc = src == -2 ? STORAGE_ERR_CORRUPT : STORAGE_ERR_IO;
        goto fail;
    }
    int wrc = wal_open(&s->wal, &s->io, s->dirfd, s->dir,
                       o->segment_bytes ? o->segment_bytes : STORAGE_DEFAULT_SEGMENT_BYTES,
                       o->buffer_bytes ? o->buffer_bytes : STORAGE_DEFAULT_BUFFER_BYTES, o->log,
                       o->log_ctx, s->snap_index, s->snap_term, &s->restore_entries,
                       &s->n_restore_entries, err, errlen);
    if (wrc < 0) {
        rc = wrc == -2 ? STORAGE_ERR_CORRUPT : wrc == -3 ? STORAGE_ERR_NOMEM : STORAGE_ERR_IO;
        goto fail;
    }

    restore_out->term = s->term;
    restore_out->voted_for = s->voted_for;
    restore_out->snap_index = s->snap_index;
    restore_out->snap_term = s->snap_term;
    /* The image stays in its file: storage_snapshot_stream() reads it. */
    restore_out->snap_data = NULL;
    restore_out->snap_len = 0;
    restore_out->entries = s->restore_entries;
    restore_out->n_entries = s->n_restore_entries;
    restore_out->commit = wal_commit_marked(&s->wal);
    s->restore = *restore_out;
    *out = s;
    return STORAGE_OK;
fail:
    storage_free(s);
    return rc;
}

void storage_release_restore(struct storage *s)
{
    wal_free_entries(s->restore_entries, s->n_restore_entries);
    s->restore_entries = NULL;
    s->n_restore_entries = 0;
    s->restore.entries = NULL;
    s->restore.n_entries = 0;
    s->restore_released = true;
}

int storage_restore(const struct storage *s, struct raft_restore *out)
{
    *out = s->restore;
    if (s->restore_released)
        return STORAGE_ERR_INVALID;
    return STORAGE_OK;
}

int storage_lend_restore(struct storage *s, struct raft_restore *out)
{
    int rc = storage_restore(s, out);
    if (rc != STORAGE_OK)
        return rc;
    if (!s->lent && !(s->lent = wal_entries_detach_maps(s->restore_entries)))
        return STORAGE_ERR_NOMEM;
    out->borrow = true;
    return STORAGE_OK;
}

/* Up to max of the ended restore loan's mappings; how many are left. */
static size_t storage_lend_release_restored(struct storage *s, size_t max)
{
    size_t left = wal_maps_release(s->loan_ended, max);
    if (s->loan_ended && left == 0) {
        wal_maps_free(s->loan_ended);
        s->loan_ended = NULL;
    }
    return left;
}

void storage_end_loan(struct storage *s)
{
    storage_release_restore(s); /* its entries point into the mappings */
    if (!s->lent)
        return;
    wal_maps_free(s->loan_ended); /* one restore a store: never in practice */
    s->loan_ended = s->lent;
    s->lent = NULL;
    storage_lend_release_restored(s, STORAGE_LEND_RELEASE_MAPS);
}

size_t storage_lend(struct storage *s, raft_index first, size_t n, struct raft_entry *out)
{
    ssize_t k = wal_lend(&s->wal, first, n, out, s->err, sizeof s->err);
    return k > 0 ? (size_t)k : 0;
}

size_t storage_lend_release(struct storage *s, raft_index first, raft_index last)
{
    size_t before = s->loan_ended ? wal_maps_release(s->loan_ended, 0) : 0;
    size_t left = storage_lend_release_restored(s, STORAGE_LEND_RELEASE_MAPS);
    size_t done = before - left;
    return left + wal_lend_release(&s->wal, first, last, STORAGE_LEND_RELEASE_MAPS - done);
}

void storage_close(struct storage *s)
{
    if (!s)
        return;
    if (s->commit) {
        storage_commit_wait(s->commit);
        storage_snapshot_commit_end(s, s->commit);
    }
    /* The latest commit index marked, then trimmed, so that a clean restart
     * applies all it knew at once and finds no unused space to report. */
    struct wal *w = &s->wal;
    if (!s->failed &&
        (storage_result(s, wal_mark_commit(w, true, s->err, sizeof s->err)) != STORAGE_OK ||
         storage_result(s, wal_trim_tail(w, s->err, sizeof s->err)) != STORAGE_OK ||
         storage_sync(s) != STORAGE_OK))
        fprintf(stderr, "storage: closing %s: %s\n", s->dir, s->err);
    storage_free(s);
}

void storage_abandon(struct storage *s)
{
    if (!s)
        return;
    s->wal.buf_len = 0; /* never reaches the file, as after kill -9 */
    storage_free(s);
}

int storage_set_hard_state(struct storage *s, raft_term term, int voted_for)
{
    int rc = storage_check_usable(s);
    if (rc)
        return rc;
    if (voted_for < RAFT_NO_NODE || voted_for >= RAFT_MAX_NODES) {
        snprintf(s->err, sizeof s->err, "invalid vote %d", voted_for);
        return STORAGE_ERR_INVALID;
    }
    if (term == s->meta.term && voted_for == s->meta.voted_for) {
        s->hard_state_dirty = false; /* already what is on disk */
    } else {
        s->hard_state_dirty = true;
    }
    s->term = term;
    s->voted_for = voted_for;
    return STORAGE_OK;
}

int storage_append(struct storage *s, const struct raft_entry *entries, size_t n)
{
    int rc = storage_check_usable(s);
    if (rc || n == 0)
        return rc;
    if (!entries) {
        snprintf(s->err, sizeof s->err, "append of %zu entries from NULL", n);
        return STORAGE_ERR_INVALID;
    }
    /* Entries the snapshot covers are committed, hence the snapshot's own
     * history: there is nothing to store for them. */
    while (n > 0 && entries[0].index <= s->snap_index) {
        entries++;
        n--;
    }
    if (n == 0)
        return STORAGE_OK;
    return storage_result(s, wal_append(&s->wal, entries, n, s->err, sizeof s->err));
}

int storage_set_commit(struct storage *s, raft_index index)
{
    int rc = storage_check_usable(s);
    if (rc)
        return rc;
    wal_set_commit(&s->wal, index);
    return STORAGE_OK;
}

static void storage_note_sync(struct storage *s, uint64_t ns)
{
    s->syncs++;
    s->sync_ns_last = ns;
    s->sync_ns_total += ns;
    if (ns > s->sync_ns_max)
        s->sync_ns_max = ns;
    uint64_t us = ns / 1000;
    int b = 0;
    while (us > 1 && b < STORAGE_SYNC_BUCKETS - 1) {
        us >>= 1;
        b++;
    }
    s->sync_us_hist[b]++;
}

int storage_sync(struct storage *s)
{
    int rc = storage_check_usable(s);
    if (rc)
        return rc;
    if (!s->hard_state_dirty && !wal_pending(&s->wal))
        return STORAGE_OK;
    uint64_t start = storage_now_ns();
    if (s->hard_state_dirty) {
        if (meta_store(&s->meta, &s->io, s->term, s->voted_for, s->dir, s->err, sizeof s->err) <
            0)
            return storage_result(s, -1);
        s->hard_state_dirty = false;
    }
    if ((rc = storage_result(s, wal_mark_commit(&s->wal, false, s->err, sizeof s->err))) != STORAGE_OK)
        return rc;
    rc = storage_result(s, wal_sync(&s->wal, s->err, sizeof s->err));
    if (rc == STORAGE_OK)
        storage_note_sync(s, storage_now_ns() - start);
    return rc;
}

int storage_sync_begin(struct storage *s, struct storage_sync_job *job)
{
    int rc = storage_check_usable(s);
    if (rc)
        return rc;
    struct wal *w = &s->wal;
    if (s->hard_state_dirty || w->dir_dirty || w->sync_inflight)
        return STORAGE_SYNC_INLINE;
    if ((rc = storage_result(s, wal_mark_commit(w, false, s->err, sizeof s->err))) != STORAGE_OK)
        return rc;
    if (wal_write_buffered(w, s->err, sizeof s->err) < 0)
        return storage_result(s, -1);
    if (!w->tail_dirty)
        return STORAGE_OK;
    /* A duplicate, so that rolling or deleting the segment meanwhile cannot
     * close the descriptor under the job (or hand its number to another file). */
    int fd = fcntl(w->tail_fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return STORAGE_SYNC_INLINE;
    *job = (struct storage_sync_job){.fd = fd, .start_ns = storage_now_ns()};
    job->fail_errno = sio_sync_fault_errno(&s->io);
    w->tail_dirty = false;
    w->sync_inflight = true;
    return STORAGE_SYNC_STARTED;
}

void storage_sync_job_run(struct storage_sync_job *job)
{
    if (job->fail_errno) {
        job->rc = -1;
        job->err = job->fail_errno;
    } else {
        job->rc = fdatasync(job->fd);
        job->err = job->rc < 0 ? errno : 0;
    }
    close(job->fd);
    job->fd = -1;
    job->ns = storage_now_ns() - job->start_ns;
}

int storage_sync_end(struct storage *s, struct storage_sync_job *job)
{
    s->wal.sync_inflight = false;
    if (job->rc < 0) {
        if (!s->failed)
            snprintf(s->err, sizeof s->err, "%s: fdatasync of the log tail: %s", s->dir,
                     strerror(job->err));
        s->failed = true;
        return STORAGE_ERR_IO;
    }
    storage_note_sync(s, job->ns);
    return storage_check_usable(s);
}

int storage_save_snapshot(struct storage *s, raft_index index, raft_term term, const uint8_t *data,
                          size_t len)
{
    int rc = storage_check_usable(s);
    if (rc)
        return rc;
    if (len > 0 && !data) {
        snprintf(s->err, sizeof s->err, "snapshot of %zu bytes from NULL", len);
        return STORAGE_ERR_INVALID;
    }
    if (s->commit) { /* rare: a leader's snapshot while ours is committed */
        storage_commit_wait(s->commit);
        if ((rc = storage_snapshot_commit_end(s, s->commit)) != STORAGE_OK)
            return rc;
    }
    if (index < s->snap_index)
        return STORAGE_OK; /* the stored, newer snapshot already covers it */
    if ((rc = storage_sync(s)) != STORAGE_OK)
        return rc;
    uint64_t bytes;
    int src = snapshot_save(&s->io, s->dirfd, s->dir, index, term, data, len, &bytes, s->err,
                            sizeof s->err);
    if (src < 0)
        return storage_result(s, src);
    s->snap_index = index;
    s->snap_term = term;
    s->snap_file_bytes = bytes;
    s->snapshots++;
    return storage_result(s, wal_compact(&s->wal, index, term, s->err, sizeof s->err));
}

int storage_snapshot_begin(struct storage *s, raft_index index, raft_term term,
                           struct storage_snapshot_job *job)
{
    memset(job, 0, sizeof *job);
    job->fd = -1;
    int rc = storage_check_usable(s);
    if (rc)
        return rc;
    if (s->commit) {
        snprintf(s->err, sizeof s->err, "the commit of the snapshot at %llu has not ended",
                 (unsigned long long)s->commit->index);
        return STORAGE_ERR_INVALID;
    }
    if (index <= s->snap_index) {
        snprintf(s->err, sizeof s->err, "snapshot at %llu is not newer than the stored one at %llu",
                 (unsigned long long)index, (unsigned long long)s->snap_index);
        return STORAGE_ERR_INVALID;
    }
    char tmp[64];
    snapshot_tmp_name(tmp, sizeof tmp, index);
    job->fd = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (job->fd < 0) {
        /* Not fatal: nothing the store holds was touched. */
        snprintf(s->err, sizeof s->err, "%s/%s: create: %s", s->dir, tmp, strerror(errno));
        return STORAGE_ERR_INVALID;
    }
    job->index = index;
    job->term = term;
    job->io = &s->io;
    return STORAGE_OK;
}

int storage_snapshot_job_write(void *ctx, const void *data, size_t n)
{
    struct storage_snapshot_job *job = ctx;
    if (sio_write_all(job->io, job->fd, data, n) < 0) {
        job->err = errno ? errno : EIO;
        return -1;
    }
    /* Synced as it goes, as Redis's rdb-save-incremental-fsync: one burst
     * of the whole file's dirty pages at the end would queue the log's own
     * fdatasync behind it for as long as the disk takes to write it all. */
    job->unsynced += n;
    if (job->unsynced >= STORAGE_SNAPSHOT_SYNC_EVERY) {
        job->unsynced = 0;
        return storage_snapshot_job_sync(job);
    }
    return 0;
}

int storage_snapshot_job_sync(struct storage_snapshot_job *job)
{
    if (sio_fdatasync(job->io, job->fd) < 0) {
        job->err = errno ? errno : EIO;
        return -1;
    }
    return 0;
}

static void snapshot_job_close(struct storage *s, struct storage_snapshot_job *job, bool unlink)
{
    if (job->fd >= 0)
        close(job->fd);
    job->fd = -1;
    if (unlink) {
        char tmp[64];
        snapshot_tmp_name(tmp, sizeof tmp, job->index);
        unlinkat(s->dirfd, tmp, 0);
    }
}

void storage_snapshot_abort(struct storage *s, struct storage_snapshot_job *job)
{
    snapshot_job_close(s, job, job->index > 0);
}

/* Completion of a commit job, for a store that must wait for it. */
struct storage_commit_sync {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
};

static void storage_commit_wait(struct storage_commit_job *cj)
{
    struct storage_commit_sync *cs = cj->sync;
    if (!cs)
        return;
    pthread_mutex_lock(&cs->mu);
    while (!cs->done)
        pthread_cond_wait(&cs->cv, &cs->mu);
    pthread_mutex_unlock(&cs->mu);
}

static void storage_commit_release(struct storage_commit_job *cj)
{
    struct storage_commit_sync *cs = cj->sync;
    if (cs) {
        pthread_mutex_destroy(&cs->mu);
        pthread_cond_destroy(&cs->cv);
        free(cs);
    }
    cj->sync = NULL;
    free(cj->segs);
    cj->segs = NULL;
    cj->ended = true;
}

int storage_snapshot_commit_begin(struct storage *s, struct storage_snapshot_job *job,
                                  struct storage_commit_job *cj)
{
    memset(cj, 0, sizeof *cj);
    cj->dirfd = -1;
    cj->ended = true; /* until started */
    int rc = storage_check_usable(s);
    if (rc) {
        snapshot_job_close(s, job, false);
        return rc;
    }
    if (s->commit) {
        snprintf(s->err, sizeof s->err, "the commit of the snapshot at %llu has not ended",
                 (unsigned long long)s->commit->index);
        return STORAGE_ERR_INVALID;
    }
    if (job->index <= s->snap_index) { /* a leader's newer snapshot came meanwhile */
        job->superseded = true;
        snapshot_job_close(s, job, true);
        return STORAGE_OK;
    }
    bool holds;
    size_t drop = wal_compact_plan(&s->wal, job->index, job->term, &holds);
    if (!holds) {
        /* The log does not lead to the snapshot (cannot happen for a
         * snapshot of applied entries unless the log was replaced): the
         * whole-log deletion runs here, as storage_save_snapshot()'s. */
        snapshot_job_close(s, job, false);
        if ((rc = storage_sync(s)) != STORAGE_OK)
            return rc;
        uint64_t bytes;
        if (snapshot_install_tmp(&s->io, s->dirfd, s->dir, job->index, &bytes, s->err,
                                 sizeof s->err) < 0)
            return storage_result(s, -1);
        s->snap_index = job->index;
        s->snap_term = job->term;
        s->snap_file_bytes = bytes;
        s->snapshots++;
        return storage_result(s, wal_compact(&s->wal, job->index, job->term, s->err, sizeof s->err));
    }
    struct storage_commit_sync *cs = calloc(1, sizeof *cs);
    uint64_t *segs = drop ? malloc(drop * sizeof *segs) : NULL;
    if (!cs || (drop && !segs)) {
        free(cs);
        free(segs);
        snprintf(s->err, sizeof s->err, "out of memory");
        return STORAGE_ERR_INVALID; /* nothing changed: the caller may try later */
    }
    pthread_mutex_init(&cs->mu, NULL);
    pthread_cond_init(&cs->cv, NULL);
    snapshot_job_close(s, job, false);
    for (size_t i = 0; i < drop; i++)
        segs[i] = s->wal.segs[i].first;
    *cj = (struct storage_commit_job){.index = job->index,
                                      .term = job->term,
                                      .dirfd = s->dirfd,
                                      .dir = s->dir,
                                      .segs = segs,
                                      .n_segs = drop,
                                      .sync = cs};
    /* The job's directory fsyncs take their numbers in the store's count
     * now, so injected failures land on them as on inline ones. */
    for (size_t k = 0; k < 1 + drop; k++) {
        int e = sio_sync_fault_errno(&s->io);
        if (e && !cj->fail_sync) {
            cj->fail_sync = k + 1;
            cj->fail_errno = e;
        }
    }
    s->commit = cj;
    return STORAGE_COMMIT_STARTED;
}

/* One step of the job, unless the test hook stops it before. */
static bool commit_step(struct storage_commit_job *cj)
{
    if (cj->stop && cj->steps >= cj->stop_after)
        return false;
    cj->steps++;
    return true;
}

static int commit_fsync_dir(struct storage_commit_job *cj, size_t nth)
{
    if (cj->fail_sync == nth) {
        errno = cj->fail_errno;
        return -1;
    }
    return fsync(cj->dirfd);
}

void storage_commit_job_run(struct storage_commit_job *cj)
{
    uint64_t t0 = storage_now_ns();
    char tmp[64], name[64];
    snapshot_tmp_name(tmp, sizeof tmp, cj->index);
    snapshot_name(name, sizeof name, cj->index);
    struct stat st;
    if (fstatat(cj->dirfd, tmp, &st, 0) < 0) {
        cj->rc = -1;
        cj->err = errno;
        snprintf(cj->why, sizeof cj->why, "%s/%s: stat: %s", cj->dir, tmp, strerror(errno));
        goto out;
    }
    cj->file_bytes = (uint64_t)st.st_size;
    if (!commit_step(cj))
        goto out;
    if (renameat(cj->dirfd, tmp, cj->dirfd, name) < 0) {
        cj->rc = -1;
        cj->err = errno;
        snprintf(cj->why, sizeof cj->why, "%s/%s: rename: %s", cj->dir, name, strerror(errno));
        goto out;
    }
    if (!commit_step(cj))
        goto out;
    if (commit_fsync_dir(cj, 1) < 0) {
        cj->rc = -1;
        cj->err = errno;
        snprintf(cj->why, sizeof cj->why, "%s: fsync directory: %s", cj->dir, strerror(errno));
        goto out;
    }
    /* The new snapshot is durable: the older ones and the log it covers go. */
    if (!commit_step(cj))
        goto out;
    snapshot_remove_older(cj->dirfd, cj->index);
    for (size_t i = 0; i < cj->n_segs; i++) {
        char seg[WAL_NAME_MAX];
        wal_name(seg, cj->segs[i]);
        if (!commit_step(cj))
            goto out;
        if (unlinkat(cj->dirfd, seg, 0) < 0 && errno != ENOENT) {
            cj->rc = -1;
            cj->err = errno;
            snprintf(cj->why, sizeof cj->why, "%s/%s: unlink: %s", cj->dir, seg, strerror(errno));
            goto out;
        }
        if (!commit_step(cj))
            goto out;
        if (commit_fsync_dir(cj, i + 2) < 0) {
            cj->rc = -1;
            cj->err = errno;
            snprintf(cj->why, sizeof cj->why, "%s: fsync directory after removing %s: %s",
                     cj->dir, seg, strerror(errno));
            goto out;
        }
    }
out:
    cj->ns = storage_now_ns() - t0;
    struct storage_commit_sync *cs = cj->sync;
    if (cs) {
        pthread_mutex_lock(&cs->mu);
        cs->done = true;
        pthread_cond_broadcast(&cs->cv);
        pthread_mutex_unlock(&cs->mu);
    }
}

int storage_snapshot_commit_end(struct storage *s, struct storage_commit_job *cj)
{
    if (cj->ended) /* ended already (a store that waited for it), or never started */
        return s->failed ? STORAGE_ERR_FAILED : STORAGE_OK;
    storage_commit_wait(cj);
    if (s->commit == cj)
        s->commit = NULL;
    bool stopped = cj->stop && cj->steps >= cj->stop_after;
    size_t drop = cj->n_segs;
    storage_commit_release(cj);
    if (cj->rc < 0 || stopped) {
        if (!s->failed)
            snprintf(s->err, sizeof s->err, "%s",
                     cj->rc < 0 ? cj->why : "the snapshot commit was stopped (test hook)");
        s->failed = true;
        return STORAGE_ERR_IO;
    }
    s->snap_index = cj->index;
    s->snap_term = cj->term;
    s->snap_file_bytes = cj->file_bytes;
    s->snapshots++;
    wal_compact_forget(&s->wal, cj->index, drop);
    return storage_check_usable(s);
}

bool storage_commit_running(const struct storage *s)
{
    return s->commit != NULL;
}

int storage_snapshot_commit_wait(struct storage *s)
{
    if (!s->commit)
        return storage_check_usable(s);
    storage_commit_wait(s->commit);
    return storage_snapshot_commit_end(s, s->commit);
}

int storage_snapshot_commit(struct storage *s, struct storage_snapshot_job *job)
{
    struct storage_commit_job cj;
    int rc = storage_snapshot_commit_begin(s, job, &cj);
    if (rc != STORAGE_COMMIT_STARTED)
        return rc;
    storage_commit_job_run(&cj);
    return storage_snapshot_commit_end(s, &cj);
}

int storage_snapshot_recv_begin(struct storage *s, raft_index index, int *fd)
{
    *fd = -1;
    int rc = storage_check_usable(s);
    if (rc)
        return rc;
    storage_snapshot_recv_abort(s);
    if (index == 0 || index <= s->snap_index) {
        snprintf(s->err, sizeof s->err, "snapshot at %llu is not newer than the stored one at %llu",
                 (unsigned long long)index, (unsigned long long)s->snap_index);
        return STORAGE_ERR_INVALID;
    }
    char name[64];
    snapshot_recv_name(name, sizeof name, index);
    *fd = openat(s->dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (*fd < 0) {
        snprintf(s->err, sizeof s->err, "%s/%s: create: %s", s->dir, name, strerror(errno));
        return STORAGE_ERR_INVALID;
    }
    s->recv_index = index;
    return STORAGE_OK;
}

void storage_snapshot_recv_abort(struct storage *s)
{
    if (s->recv_index == 0)
        return;
    char name[64];
    snapshot_recv_name(name, sizeof name, s->recv_index);
    unlinkat(s->dirfd, name, 0);
    s->recv_index = 0;
}

bool storage_snapshot_recv_staged(const struct storage *s, raft_index index)
{
    return index > 0 && s->recv_index == index;
}

int storage_snapshot_adopt(struct storage *s, raft_index index, raft_term term)
{
    int rc = storage_check_usable(s);
    if (rc)
        return rc;
    if (s->commit) { /* our own commit first: it may delete an older .recv */
        storage_commit_wait(s->commit);
        if ((rc = storage_snapshot_commit_end(s, s->commit)) != STORAGE_OK)
            return rc;
    }
    if (!storage_snapshot_recv_staged(s, index)) {
        snprintf(s->err, sizeof s->err, "no received snapshot at %llu to adopt",
                 (unsigned long long)index);
        return STORAGE_ERR_INVALID;
    }
    if (index <= s->snap_index) { /* the stored one already covers it */
        storage_snapshot_recv_abort(s);
        return STORAGE_OK;
    }
    if ((rc = storage_sync(s)) != STORAGE_OK)
        return rc;
    char name[64];
    snapshot_recv_name(name, sizeof name, index);
    uint64_t bytes;
    s->recv_index = 0;
    if (snapshot_install_file(&s->io, s->dirfd, s->dir, name, index, &bytes, s->err,
                              sizeof s->err) < 0)
        return storage_result(s, -1);
    s->snap_index = index;
    s->snap_term = term;
    s->snap_file_bytes = bytes;
    s->snapshots++;
    return storage_result(s, wal_compact(&s->wal, index, term, s->err, sizeof s->err));
}

int storage_snapshot_open(struct storage *s, raft_index index, int *fd, uint64_t *size)
{
    *fd = -1;
    if (index == 0 || index != s->snap_index) {
        snprintf(s->err, sizeof s->err, "no stored snapshot at %llu", (unsigned long long)index);
        return STORAGE_ERR_INVALID;
    }
    char name[64];
    snapshot_name(name, sizeof name, index);
    *fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (*fd < 0 || fstat(*fd, &st) < 0) {
        snprintf(s->err, sizeof s->err, "%s/%s: open: %s", s->dir, name, strerror(errno));
        if (*fd >= 0)
            close(*fd);
        *fd = -1;
        return STORAGE_ERR_IO;
    }
    *size = (uint64_t)st.st_size;
    return STORAGE_OK;
}

int storage_snapshot_stream(struct storage *s, int (*feed)(void *ctx, const uint8_t *p, size_t n),
                            void *ctx)
{
    if (s->snap_index == 0) {
        snprintf(s->err, sizeof s->err, "%s: no snapshot to read", s->dir);
        return STORAGE_ERR_INVALID;
    }
    int rc = snapshot_stream(s->dirfd, s->dir, s->snap_index, feed, ctx, s->err, sizeof s->err);
    return rc == 0 ? STORAGE_OK : rc == -2 ? STORAGE_ERR_CORRUPT : STORAGE_ERR_IO;
}

void storage_snapshot_corrupt(struct storage *s, const char *why)
{
    char name[64];
    snapshot_name(name, sizeof name, s->snap_index);
    snprintf(s->err, sizeof s->err, "%s/%s: corrupt snapshot %s", s->dir, name, why);
}

static int snap_membuf_sink_u8(void *ctx, const uint8_t *p, size_t n)
{
    return snap_membuf_sink(ctx, p, n);
}

int storage_snapshot_read(struct storage *s, uint8_t **data, size_t *len)
{
    struct snap_membuf b = {0};
    int rc = storage_snapshot_stream(s, snap_membuf_sink_u8, &b);
    if (rc != STORAGE_OK) {
        free(b.data);
        return rc;
    }
    *data = b.data;
    *len = b.len;
    return STORAGE_OK;
}

raft_index storage_last_index(const struct storage *s)
{
    raft_index last = wal_last_index(&s->wal);
    return last > s->snap_index ? last : s->snap_index;
}

raft_term storage_last_term(const struct storage *s)
{
    return storage_term_at(s, storage_last_index(s));
}

raft_index storage_first_index(const struct storage *s)
{
    return s->wal.pos_first > s->snap_index ? s->wal.pos_first : s->snap_index + 1;
}

raft_index storage_snapshot_index(const struct storage *s)
{
    return s->snap_index;
}

raft_term storage_term_at(const struct storage *s, raft_index index)
{
    if (index == 0)
        return 0;
    if (index == s->snap_index)
        return s->snap_term;
    if (index < s->snap_index)
        return 0;
    return wal_term_at(&s->wal, index);
}

void storage_get_stats(const struct storage *s, struct storage_stats *out)
{
    memset(out, 0, sizeof *out);
    out->syncs = s->syncs;
    out->fsyncs = s->io.sync_calls;
    out->writes = s->wal.writes;
    out->entries = s->wal.entries;
    out->bytes = s->wal.bytes;
    out->truncations = s->wal.truncations;
    out->snapshots = s->snapshots;
    out->sync_ns_last = s->sync_ns_last;
    out->sync_ns_max = s->sync_ns_max;
    out->sync_ns_total = s->sync_ns_total;
    memcpy(out->sync_us_hist, s->sync_us_hist, sizeof out->sync_us_hist);
    out->segments = s->wal.n_segs;
    out->disk_bytes = wal_disk_bytes(&s->wal) + s->snap_file_bytes;
    out->log_entries = s->wal.n_pos;
    out->lent_bytes = wal_maps_bytes(s->lent);
    out->ended_maps = wal_maps_release(s->loan_ended, 0);
    size_t maps;
    out->lend_bytes = wal_lend_bytes(&s->wal, &maps);
    out->lend_maps = maps;
}
