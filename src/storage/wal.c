/* wal.c - the log while a node runs: group-committed appends through one
 * buffer, segment rolls, durable truncation of conflicting suffixes and
 * compaction behind snapshots (format and rules in wal.h; start-up is
 * wal_recover.c). */
#include "storage/wal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "storage/wal_internal.h"

void wal_logf(struct wal *w, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (w->log)
        w->log(w->log_ctx, line);
    else
        fprintf(stderr, "storage: %s\n", line);
}

/* ---- in-memory bookkeeping ---- */

int wal_push_segment(struct wal *w, uint64_t first, uint64_t bytes)
{
    if (w->n_segs == w->cap_segs) {
        size_t cap = w->cap_segs ? 2 * w->cap_segs : 8;
        struct wal_segment *segs = realloc(w->segs, cap * sizeof *segs);
        if (!segs)
            return -1;
        w->segs = segs;
        w->cap_segs = cap;
    }
    w->segs[w->n_segs++] =
        (struct wal_segment){.first = first, .last = first - 1, .bytes = bytes, .gen = ++w->seg_gen};
    return 0;
}

/* Fresh room for a long log's arrays (tens of MB at a restart) is filled
 * in one pass: backed by huge pages where the kernel allows it on request
 * (THP "madvise"), that is one page fault per 2 MiB instead of per 4 KiB,
 * which on this project's virtual machines was a third of the time a
 * restart spent reading the log. Only a hint: its failure changes nothing. */
void wal_advise_large(void *p, size_t len)
{
#ifdef MADV_HUGEPAGE
    uintptr_t from = ((uintptr_t)p + 4095) & ~(uintptr_t)4095;
    uintptr_t to = ((uintptr_t)p + len) & ~(uintptr_t)4095;
    if (to > from && to - from >= ((uintptr_t)2 << 20))
        (void)madvise((void *)from, to - from, MADV_HUGEPAGE);
#else
    (void)p;
    (void)len;
#endif
}

int wal_reserve_pos(struct wal *w, size_t more)
{
    if (w->cap_pos - w->n_pos >= more)
        return 0;
    size_t cap = w->n_pos + more;
    struct wal_pos *pos = realloc(w->pos, cap * sizeof *pos);
    if (!pos)
        return -1;
    w->pos = pos;
    w->cap_pos = cap;
    wal_advise_large(pos + w->n_pos, more * sizeof *pos);
    return 0;
}

int wal_push_pos(struct wal *w, uint64_t offset, uint64_t term)
{
    if (w->n_pos == w->cap_pos) {
        size_t cap = w->cap_pos ? 2 * w->cap_pos : 1024;
        struct wal_pos *pos = realloc(w->pos, cap * sizeof *pos);
        if (!pos)
            return -1;
        w->pos = pos;
        w->cap_pos = cap;
        /* Grown while running (a follower, a leader under writes): the new
         * half is fresh memory too. */
        wal_advise_large(pos + w->n_pos, (cap - w->n_pos) * sizeof *pos);
    }
    w->pos[w->n_pos++] = (struct wal_pos){.offset = offset, .term = term};
    return 0;
}

static int wal_reserve_buf(struct wal *w, size_t more)
{
    if (w->buf_len + more <= w->buf_cap)
        return 0;
    size_t cap = w->buf_cap ? w->buf_cap : 4096;
    while (cap < w->buf_len + more)
        cap *= 2;
    uint8_t *buf = realloc(w->buf, cap);
    if (!buf)
        return -1;
    w->buf = buf;
    w->buf_cap = cap;
    return 0;
}

uint64_t wal_last_index(const struct wal *w)
{
    return w->pos_first + w->n_pos - 1;
}

uint64_t wal_term_at(const struct wal *w, uint64_t index)
{
    if (index < w->pos_first || index > wal_last_index(w))
        return 0;
    return w->pos[index - w->pos_first].term;
}

uint64_t wal_disk_bytes(const struct wal *w)
{
    uint64_t total = 0;
    for (size_t i = 0; i < w->n_segs; i++)
        total += w->segs[i].bytes;
    return total;
}

void wal_set_commit(struct wal *w, uint64_t index)
{
    if (index > w->commit_known)
        w->commit_known = index;
}

uint64_t wal_commit_marked(const struct wal *w)
{
    return w->commit_marked;
}

int wal_mark_commit(struct wal *w, bool always, char *err, size_t errlen)
{
    if (w->tail_fd < 0 || w->n_segs == 0)
        return 0;
    if (!always && w->buf_len == 0 && !w->tail_dirty)
        return 0; /* no entries to write or sync: no mark alone */
    uint64_t c = w->commit_known < wal_last_index(w) ? w->commit_known : wal_last_index(w);
    if (c <= w->commit_marked || c < w->pos_first)
        return 0; /* nothing new, or only what the snapshot holds */
    if (wal_reserve_buf(w, WAL_RECORD_HEADER) < 0) {
        snprintf(err, errlen, "out of memory");
        return -3;
    }
    struct wal_segment *tail = &w->segs[w->n_segs - 1];
    wal_encode_commit(w->buf + w->buf_len, c, wal_term_at(w, c));
    /* The tail's last entry is no longer followed by the next one alone
     * (wal_lend reads its length from its header instead). */
    if (tail->last >= tail->first && tail->last >= w->pos_first)
        w->pos[tail->last - w->pos_first].offset |= WAL_POS_MARKED;
    w->buf_len += WAL_RECORD_HEADER;
    tail->bytes += WAL_RECORD_HEADER;
    w->commit_marked = c;
    return 0;
}

bool wal_pending(const struct wal *w)
{
    return w->buf_len > 0 || w->tail_dirty || w->dir_dirty || w->sync_inflight;
}

/* ---- writing ---- */

/* Allocate the tail's file ahead of its records, a step at a time: an
 * fdatasync of bytes written inside the file's size flushes only data, while
 * one that grows the file also flushes its new size (on this project's
 * machines, ext4: ~100 us against ~170 us per sync). Best effort: if
 * fallocate fails, the file just grows as it is written. */
static void wal_preallocate(struct wal *w, uint64_t end)
{
    if (end <= w->tail_alloc || w->prealloc_off)
        return;
    uint64_t want = end + WAL_PREALLOC_STEP;
    uint64_t cap = end > w->segment_bytes ? end : w->segment_bytes;
    if (want > cap)
        want = cap;
    if (fallocate(w->tail_fd, 0, (off_t)w->tail_alloc, (off_t)(want - w->tail_alloc)) < 0) {
        w->prealloc_off = true;
        return;
    }
    w->tail_alloc = want;
}

int wal_write_buffered(struct wal *w, char *err, size_t errlen)
{
    if (w->buf_len == 0)
        return 0;
    assert(w->tail_fd >= 0 && w->n_segs > 0);
    uint64_t off = w->segs[w->n_segs - 1].bytes - w->buf_len;
    wal_preallocate(w, off + w->buf_len);
    if (sio_pwrite_all(w->io, w->tail_fd, w->buf, w->buf_len, (off_t)off) < 0) {
        char name[WAL_NAME_MAX];
        wal_name(name, w->segs[w->n_segs - 1].first);
        snprintf(err, errlen, "%s/%s: write: %s", w->dir, name, strerror(errno));
        return -1;
    }
    w->writes++;
    w->bytes += w->buf_len;
    w->buf_len = 0;
    w->tail_dirty = true;
    return 0;
}

/* Make the tail segment's written bytes durable: flush the buffer, then
 * fdatasync the tail if anything reached it since the last sync. */
static int wal_sync_tail(struct wal *w, char *err, size_t errlen)
{
    if (wal_write_buffered(w, err, errlen) < 0)
        return -1;
    if (w->tail_fd >= 0 && (w->tail_dirty || w->sync_inflight)) {
        if (sio_fdatasync(w->io, w->tail_fd) < 0) {
            char name[WAL_NAME_MAX];
            wal_name(name, w->segs[w->n_segs - 1].first);
            snprintf(err, errlen, "%s/%s: fdatasync: %s", w->dir, name, strerror(errno));
            return -1;
        }
        w->tail_dirty = false;
    }
    return 0;
}

int wal_trim_tail(struct wal *w, char *err, size_t errlen)
{
    if (w->tail_fd < 0 || w->n_segs == 0)
        return 0;
    if (wal_write_buffered(w, err, errlen) < 0)
        return -1;
    w->prealloc_off = true; /* the tail is finished */
    uint64_t used = w->segs[w->n_segs - 1].bytes;
    if (w->tail_alloc <= used)
        return 0;
    if (sio_ftruncate(w->io, w->tail_fd, (off_t)used) < 0) {
        char name[WAL_NAME_MAX];
        wal_name(name, w->segs[w->n_segs - 1].first);
        snprintf(err, errlen, "%s/%s: trim: %s", w->dir, name, strerror(errno));
        return -1;
    }
    w->tail_alloc = used;
    w->tail_dirty = true;
    return 0;
}

int wal_sync(struct wal *w, char *err, size_t errlen)
{
    if (wal_sync_tail(w, err, errlen) < 0)
        return -1;
    if (w->dir_dirty) {
        if (sio_fsync(w->io, w->dirfd) < 0) {
            snprintf(err, errlen, "%s: fsync directory: %s", w->dir, strerror(errno));
            return -1;
        }
        w->dir_dirty = false;
    }
    return 0;
}

/* Start segment wal-<first>.log as the new tail. Its header only goes into
 * the buffer: a crash before the next flush leaves an empty file, which
 * recovery treats as a torn tail. */
static int wal_create_segment(struct wal *w, uint64_t first, char *err, size_t errlen)
{
    assert(w->tail_fd < 0 && w->buf_len == 0);
    char name[WAL_NAME_MAX];
    wal_name(name, first);
    int fd = openat(w->dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "%s/%s: create: %s", w->dir, name, strerror(errno));
        return -1;
    }
    if (wal_push_segment(w, first, WAL_HEADER_BYTES) < 0 ||
        wal_reserve_buf(w, WAL_HEADER_BYTES) < 0) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return -3;
    }
    w->tail_fd = fd;
    w->tail_alloc = 0;
    w->prealloc_off = false;
    wal_encode_header(w->buf, first);
    w->buf_len = WAL_HEADER_BYTES;
    w->dir_dirty = true;
    return 0;
}

/* Close the full tail segment durably so that only one file is ever dirty.
 * Its allocation past the records goes first: only the last segment may end
 * in zeros (recovery takes them for the unused end of the tail). */
static int wal_roll(struct wal *w, uint64_t next_first, char *err, size_t errlen)
{
    if (wal_trim_tail(w, err, errlen) < 0 || wal_sync_tail(w, err, errlen) < 0)
        return -1;
    close(w->tail_fd);
    w->tail_fd = -1;
    w->roll_pending = false;
    return wal_create_segment(w, next_first, err, errlen);
}

/* Unlink one segment and make that durable before anything else changes:
 * unlinks not yet fsync'ed may reach the disk in any order, and a crash
 * that kept a later segment but lost an earlier one would leave an index
 * gap that start-up must take for corruption. Deletions are rare (a
 * snapshot, a truncation across segments), so the extra fsyncs are cheap. */
static int wal_unlink_segment(struct wal *w, uint64_t first, char *err, size_t errlen)
{
    char name[WAL_NAME_MAX];
    wal_name(name, first);
    if (unlinkat(w->dirfd, name, 0) < 0 && errno != ENOENT) {
        snprintf(err, errlen, "%s/%s: unlink: %s", w->dir, name, strerror(errno));
        return -1;
    }
    if (sio_fsync(w->io, w->dirfd) < 0) {
        snprintf(err, errlen, "%s: fsync directory after removing %s: %s", w->dir, name,
                 strerror(errno));
        return -1;
    }
    w->dir_dirty = false;
    return 0;
}

/* Delete segments [from, n_segs) newest first, each durably, so a crash
 * midway leaves a prefix of the log, never a hole. */
int wal_delete_segments_from(struct wal *w, size_t from, char *err, size_t errlen)
{
    if (from >= w->n_segs)
        return 0;
    if (w->tail_fd >= 0) {
        close(w->tail_fd);
        w->tail_fd = -1;
    }
    w->buf_len = 0;
    w->tail_dirty = false;
    for (size_t i = w->n_segs; i-- > from;) {
        if (wal_unlink_segment(w, w->segs[i].first, err, errlen) < 0)
            return -1;
        w->n_segs = i;
    }
    return 0;
}

static size_t wal_segment_of(const struct wal *w, uint64_t index)
{
    size_t i = w->n_segs;
    while (i > 0 && w->segs[i - 1].first > index)
        i--;
    assert(i > 0);
    return i - 1;
}

/* Drop the stored entries from `index` on (Raft's conflicting suffix), made
 * durable before returning: otherwise new records written over the cut could
 * mix with old ones that a crash resurrects. */
static int wal_truncate_from(struct wal *w, uint64_t index, char *err, size_t errlen)
{
    assert(index >= w->pos_first && index <= wal_last_index(w));
    if (wal_write_buffered(w, err, errlen) < 0)
        return -1;
    size_t k = wal_segment_of(w, index);
    struct wal_segment seg = w->segs[k];
    bool was_tail = k == w->n_segs - 1;
    if (!was_tail && wal_delete_segments_from(w, k + 1, err, errlen) < 0)
        return -1;
    char name[WAL_NAME_MAX];
    wal_name(name, seg.first);
    if (w->tail_fd < 0) {
        w->tail_fd = openat(w->dirfd, name, O_WRONLY | O_CLOEXEC);
        if (w->tail_fd < 0) {
            snprintf(err, errlen, "%s/%s: open: %s", w->dir, name, strerror(errno));
            return -1;
        }
    }
    uint64_t cut = WAL_POS_OFFSET(w->pos[index - w->pos_first]);
    if (sio_ftruncate(w->io, w->tail_fd, (off_t)cut) < 0 ||
        sio_fdatasync(w->io, w->tail_fd) < 0) {
        snprintf(err, errlen, "%s/%s: truncate at offset %" PRIu64 ": %s", w->dir, name, cut,
                 strerror(errno));
        return -1;
    }
    w->tail_dirty = false;
    w->tail_alloc = cut;
    w->prealloc_off = false;
    w->segs[k].last = index - 1;
    w->segs[k].bytes = cut;
    w->n_pos = index - w->pos_first;
    w->truncations++;
    /* Marks after the cut went with it, and which of the marks before it is
     * the largest is not known here: the next sync that writes entries
     * marks the commit index the node knows again (it names no entry the
     * cut took: a committed entry is never cut). */
    w->commit_marked = 0;
    return 0;
}

int wal_append(struct wal *w, const struct raft_entry *entries, size_t n, char *err,
               size_t errlen)
{
    if (n == 0)
        return 0;
    uint64_t first = entries[0].index;
    if (first < w->pos_first || first > wal_last_index(w) + 1) {
        snprintf(err, errlen,
                 "append at index %" PRIu64 " outside the log (%" PRIu64 "..%" PRIu64 ")", first,
                 w->pos_first, wal_last_index(w) + 1);
        return -4;
    }
    for (size_t i = 0; i < n; i++) {
        if (entries[i].index != first + i || (i > 0 && entries[i].term < entries[i - 1].term) ||
            (entries[i].len > 0 && entries[i].data == NULL)) {
            snprintf(err, errlen, "appended entry %zu (index %" PRIu64 ") is out of order", i,
                     entries[i].index);
            return -4;
        }
        if (entries[i].type == WAL_RECORD_COMMIT) {
            snprintf(err, errlen, "appended entry %" PRIu64 " has type %u, the log's commit mark",
                     entries[i].index, WAL_RECORD_COMMIT);
            return -4;
        }
    }
    if (first > w->pos_first && entries[0].term < wal_term_at(w, first - 1)) {
        snprintf(err, errlen, "appended entry %" PRIu64 " has a term below its predecessor's",
                 first);
        return -4;
    }
    if (first <= wal_last_index(w)) {
        int rc = wal_truncate_from(w, first, err, errlen);
        if (rc < 0)
            return rc;
    }
    for (size_t i = 0; i < n; i++) {
        const struct raft_entry *e = &entries[i];
        int rc = 0;
        if (w->n_segs == 0)
            rc = wal_create_segment(w, e->index, err, errlen);
        else if ((w->roll_pending || w->segs[w->n_segs - 1].bytes >= w->segment_bytes) &&
                 w->segs[w->n_segs - 1].last >= w->segs[w->n_segs - 1].first)
            rc = wal_roll(w, e->index, err, errlen);
        if (rc < 0)
            return rc;
        struct wal_segment *tail = &w->segs[w->n_segs - 1];
        size_t rec = WAL_RECORD_HEADER + (size_t)e->len;
        if (wal_reserve_buf(w, rec) < 0 || wal_push_pos(w, tail->bytes, e->term) < 0) {
            snprintf(err, errlen, "out of memory");
            return -3;
        }
        wal_encode_record(w->buf + w->buf_len, e);
        w->buf_len += rec;
        tail->bytes += rec;
        tail->last = e->index;
        w->entries++;
        if (w->buf_len >= w->buffer_bytes && wal_write_buffered(w, err, errlen) < 0)
            return -1;
    }
    return 0;
}

size_t wal_compact_plan(const struct wal *w, uint64_t index, uint64_t term, bool *holds)
{
    *holds = index < w->pos_first ||
             (index <= wal_last_index(w) && wal_term_at(w, index) == term);
    if (!*holds || index < w->pos_first)
        return 0;
    /* Keep the tail even if covered: it is the file being appended to. */
    size_t drop = 0;
    while (drop + 1 < w->n_segs && w->segs[drop].last <= index)
        drop++;
    return drop;
}

void wal_compact_forget(struct wal *w, uint64_t index, size_t drop)
{
    if (index < w->pos_first)
        return;
    memmove(w->segs, w->segs + drop, (w->n_segs - drop) * sizeof *w->segs);
    w->n_segs -= drop;
    /* Positions of covered entries are never needed again (nothing is
     * truncated below a snapshot), so memory stays bounded by the
     * snapshot interval even while the tail segment still holds them. */
    /* If the snapshot reaches into the tail, the next append starts a
     * new segment, so the next snapshot can delete this one whole: disk
     * use then follows the snapshot interval, not the segment size. */
    if (w->n_segs > 0 && w->segs[w->n_segs - 1].first <= index)
        w->roll_pending = true;
    size_t gone = (size_t)(index + 1 - w->pos_first);
    if (gone > w->n_pos)
        gone = w->n_pos;
    /* Only the entries after the snapshot move: the unapplied tail. */
    memmove(w->pos, w->pos + gone, (w->n_pos - gone) * sizeof *w->pos);
    w->n_pos -= gone;
    w->pos_first = index + 1;
}

int wal_compact(struct wal *w, uint64_t index, uint64_t term, char *err, size_t errlen)
{
    if (index < w->pos_first)
        return 0;
    bool holds;
    size_t drop = wal_compact_plan(w, index, term, &holds);
    if (holds) {
        for (size_t i = 0; i < drop; i++) /* oldest first: the rest stays a suffix */
            if (wal_unlink_segment(w, w->segs[i].first, err, errlen) < 0)
                return -1;
        wal_compact_forget(w, index, drop);
        return 0;
    }
    /* The snapshot is not a point of this log (installed from a leader):
     * the whole log is stale. */
    if (wal_delete_segments_from(w, 0, err, errlen) < 0)
        return -1;
    w->n_pos = 0;
    w->pos_first = index + 1;
    return 0;
}

void wal_close(struct wal *w)
{
    wal_lend_release(w, 1, 0, SIZE_MAX);
    free(w->lend);
    w->lend = NULL;
    w->cap_lend = 0;
    if (w->tail_fd >= 0)
        close(w->tail_fd);
    w->tail_fd = -1;
    free(w->segs);
    free(w->pos);
    free(w->buf);
    w->segs = NULL;
    w->pos = NULL;
    w->buf = NULL;
    w->n_segs = w->n_pos = w->buf_len = 0;
}
