/* wal.c - log segments: encoding, group-committed appends, truncation,
 * compaction and start-up recovery (format and rules in wal.h). */
#include "storage/wal.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/crc32c.h"
#include "storage/le.h"

#define WAL_MAGIC 0x314c4157u /* "WAL1" */
#define WAL_VERSION 1u
#define WAL_HEADER_BYTES 24 /* magic u32, version u32, first u64, crc u32, zero u32 */
#define WAL_RECORD_HEADER 25 /* len u32, crc u32, term u64, index u64, type u8 */
#define WAL_NAME_FMT "wal-%020" PRIu64 ".log"
#define WAL_NAME_MAX 64

static void wal_name(char *buf, uint64_t first)
{
    snprintf(buf, WAL_NAME_MAX, WAL_NAME_FMT, first);
}

static void wal_logf(struct wal *w, const char *fmt, ...)
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

/* ---- encoding ---- */

static void wal_encode_header(uint8_t *h, uint64_t first)
{
    memset(h, 0, WAL_HEADER_BYTES);
    le_put32(h, WAL_MAGIC);
    le_put32(h + 4, WAL_VERSION);
    le_put64(h + 8, first);
    le_put32(h + 16, crc32c(h, 16));
}

static uint32_t wal_record_crc(const uint8_t *rec, const uint8_t *data, uint32_t len)
{
    uint32_t c = crc32c(rec, 4);
    c = crc32c_extend(c, rec + 8, WAL_RECORD_HEADER - 8);
    return crc32c_extend(c, data, len);
}

static void wal_encode_record(uint8_t *out, const struct raft_entry *e)
{
    le_put32(out, e->len);
    le_put64(out + 8, e->term);
    le_put64(out + 16, e->index);
    out[24] = e->type;
    if (e->len)
        memcpy(out + WAL_RECORD_HEADER, e->data, e->len);
    le_put32(out + 4, wal_record_crc(out, out + WAL_RECORD_HEADER, e->len));
}

struct wal_record {
    uint32_t len;
    uint64_t term, index;
    uint8_t type;
    const uint8_t *data;
};

/* Decode the record at off; NULL if it is whole and its CRC holds, else why not. */
static const char *wal_decode_record(const uint8_t *buf, size_t size, size_t off,
                                     struct wal_record *r)
{
    if (size - off < WAL_RECORD_HEADER)
        return "record header cut short";
    const uint8_t *p = buf + off;
    r->len = le_get32(p);
    if (r->len > size - off - WAL_RECORD_HEADER) {
        size_t rest = size - off, zeros = 0;
        while (zeros < rest && p[zeros] == 0)
            zeros++;
        return zeros == rest ? "zero-filled" : "record runs past the end of the file";
    }
    if (le_get32(p + 4) != wal_record_crc(p, p + WAL_RECORD_HEADER, r->len)) {
        size_t rest = size - off, zeros = 0;
        while (zeros < rest && p[zeros] == 0)
            zeros++;
        return zeros == rest ? "zero-filled" : "checksum mismatch";
    }
    r->term = le_get64(p + 8);
    r->index = le_get64(p + 16);
    r->type = p[24];
    r->data = p + WAL_RECORD_HEADER;
    return NULL;
}

/* The offset of the first CRC-valid record after `from`, or 0 if none: a
 * valid record beyond a bad one means the damage is not a torn tail. */
static size_t wal_find_valid_after(const uint8_t *buf, size_t size, size_t from)
{
    for (size_t off = from + 1; off + WAL_RECORD_HEADER <= size; off++) {
        struct wal_record r;
        if (wal_decode_record(buf, size, off, &r) == NULL)
            return off;
    }
    return 0;
}

/* ---- in-memory bookkeeping ---- */

static int wal_push_segment(struct wal *w, uint64_t first, uint64_t bytes)
{
    if (w->n_segs == w->cap_segs) {
        size_t cap = w->cap_segs ? 2 * w->cap_segs : 8;
        struct wal_segment *segs = realloc(w->segs, cap * sizeof *segs);
        if (!segs)
            return -1;
        w->segs = segs;
        w->cap_segs = cap;
    }
    w->segs[w->n_segs++] = (struct wal_segment){.first = first, .last = first - 1, .bytes = bytes};
    return 0;
}

static int wal_push_pos(struct wal *w, uint64_t offset, uint64_t term)
{
    if (w->n_pos == w->cap_pos) {
        size_t cap = w->cap_pos ? 2 * w->cap_pos : 1024;
        struct wal_pos *pos = realloc(w->pos, cap * sizeof *pos);
        if (!pos)
            return -1;
        w->pos = pos;
        w->cap_pos = cap;
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

bool wal_pending(const struct wal *w)
{
    return w->buf_len > 0 || w->tail_dirty || w->dir_dirty;
}

/* ---- writing ---- */

static int wal_flush(struct wal *w, char *err, size_t errlen)
{
    if (w->buf_len == 0)
        return 0;
    assert(w->tail_fd >= 0 && w->n_segs > 0);
    if (sio_write_all(w->io, w->tail_fd, w->buf, w->buf_len) < 0) {
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

int wal_sync(struct wal *w, char *err, size_t errlen)
{
    if (wal_flush(w, err, errlen) < 0)
        return -1;
    if (w->tail_dirty) {
        if (sio_fdatasync(w->io, w->tail_fd) < 0) {
            char name[WAL_NAME_MAX];
            wal_name(name, w->segs[w->n_segs - 1].first);
            snprintf(err, errlen, "%s/%s: fdatasync: %s", w->dir, name, strerror(errno));
            return -1;
        }
        w->tail_dirty = false;
    }
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
    int fd = openat(w->dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
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
    wal_encode_header(w->buf, first);
    w->buf_len = WAL_HEADER_BYTES;
    w->dir_dirty = true;
    return 0;
}

/* Close the full tail segment durably so that only one file is ever dirty. */
static int wal_roll(struct wal *w, uint64_t next_first, char *err, size_t errlen)
{
    if (wal_flush(w, err, errlen) < 0)
        return -1;
    if (w->tail_dirty) {
        if (sio_fdatasync(w->io, w->tail_fd) < 0) {
            char name[WAL_NAME_MAX];
            wal_name(name, w->segs[w->n_segs - 1].first);
            snprintf(err, errlen, "%s/%s: fdatasync: %s", w->dir, name, strerror(errno));
            return -1;
        }
        w->tail_dirty = false;
    }
    close(w->tail_fd);
    w->tail_fd = -1;
    return wal_create_segment(w, next_first, err, errlen);
}

/* Delete segments [from, n_segs) newest first, so a crash midway leaves a
 * prefix of the log, never a hole; then fsync the directory. */
static int wal_delete_segments_from(struct wal *w, size_t from, char *err, size_t errlen)
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
        char name[WAL_NAME_MAX];
        wal_name(name, w->segs[i].first);
        if (unlinkat(w->dirfd, name, 0) < 0 && errno != ENOENT) {
            snprintf(err, errlen, "%s/%s: unlink: %s", w->dir, name, strerror(errno));
            return -1;
        }
        w->n_segs = i;
    }
    if (sio_fsync(w->io, w->dirfd) < 0) {
        snprintf(err, errlen, "%s: fsync directory: %s", w->dir, strerror(errno));
        return -1;
    }
    w->dir_dirty = false;
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
    if (wal_flush(w, err, errlen) < 0)
        return -1;
    size_t k = wal_segment_of(w, index);
    struct wal_segment seg = w->segs[k];
    bool was_tail = k == w->n_segs - 1;
    if (!was_tail && wal_delete_segments_from(w, k + 1, err, errlen) < 0)
        return -1;
    char name[WAL_NAME_MAX];
    wal_name(name, seg.first);
    if (w->tail_fd < 0) {
        w->tail_fd = openat(w->dirfd, name, O_WRONLY | O_APPEND | O_CLOEXEC);
        if (w->tail_fd < 0) {
            snprintf(err, errlen, "%s/%s: open: %s", w->dir, name, strerror(errno));
            return -1;
        }
    }
    uint64_t cut = w->pos[index - w->pos_first].offset;
    if (sio_ftruncate(w->io, w->tail_fd, (off_t)cut) < 0 ||
        sio_fdatasync(w->io, w->tail_fd) < 0) {
        snprintf(err, errlen, "%s/%s: truncate at offset %" PRIu64 ": %s", w->dir, name, cut,
                 strerror(errno));
        return -1;
    }
    w->tail_dirty = false;
    w->segs[k].last = index - 1;
    w->segs[k].bytes = cut;
    w->n_pos = index - w->pos_first;
    w->truncations++;
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
        else if (w->segs[w->n_segs - 1].bytes >= w->segment_bytes &&
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
        if (w->buf_len >= w->buffer_bytes && wal_flush(w, err, errlen) < 0)
            return -1;
    }
    return 0;
}

int wal_compact(struct wal *w, uint64_t index, uint64_t term, char *err, size_t errlen)
{
    if (index < w->pos_first)
        return 0;
    if (index <= wal_last_index(w) && wal_term_at(w, index) == term) {
        /* Keep the tail even if covered: it is the file being appended to. */
        size_t drop = 0;
        while (drop + 1 < w->n_segs && w->segs[drop].last <= index)
            drop++;
        if (drop == 0)
            return 0;
        for (size_t i = 0; i < drop; i++) { /* oldest first: the rest stays a suffix */
            char name[WAL_NAME_MAX];
            wal_name(name, w->segs[i].first);
            if (unlinkat(w->dirfd, name, 0) < 0 && errno != ENOENT) {
                snprintf(err, errlen, "%s/%s: unlink: %s", w->dir, name, strerror(errno));
                return -1;
            }
        }
        if (sio_fsync(w->io, w->dirfd) < 0) {
            snprintf(err, errlen, "%s: fsync directory: %s", w->dir, strerror(errno));
            return -1;
        }
        uint64_t new_first = w->segs[drop].first;
        size_t gone = (size_t)(new_first - w->pos_first);
        memmove(w->pos, w->pos + gone, (w->n_pos - gone) * sizeof *w->pos);
        w->n_pos -= gone;
        w->pos_first = new_first;
        memmove(w->segs, w->segs + drop, (w->n_segs - drop) * sizeof *w->segs);
        w->n_segs -= drop;
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

/* ---- recovery ---- */

static int wal_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int wal_list_segments(struct wal *w, uint64_t **firsts, size_t *n, char *err,
                             size_t errlen)
{
    *firsts = NULL;
    *n = 0;
    int dup_fd = dup(w->dirfd);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    if (!d) {
        snprintf(err, errlen, "%s: list: %s", w->dir, strerror(errno));
        if (dup_fd >= 0)
            close(dup_fd);
        return -1;
    }
    size_t cap = 0;
    rewinddir(d); /* a dup shares the directory offset with dirfd */
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint64_t first;
        char expect[WAL_NAME_MAX];
        if (sscanf(de->d_name, "wal-%20" SCNu64 ".log", &first) != 1)
            continue;
        wal_name(expect, first);
        if (strcmp(expect, de->d_name) != 0)
            continue; /* not a name we write */
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            uint64_t *grown = realloc(*firsts, cap * sizeof *grown);
            if (!grown) {
                closedir(d);
                snprintf(err, errlen, "out of memory");
                return -3;
            }
            *firsts = grown;
        }
        (*firsts)[(*n)++] = first;
    }
    closedir(d);
    if (*n)
        qsort(*firsts, *n, sizeof **firsts, wal_cmp_u64);
    return 0;
}

void wal_free_entries(struct raft_entry *entries, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(entries[i].data);
    free(entries);
}

struct wal_loaded {
    struct raft_entry *v;
    size_t n, cap;
};

static int wal_keep_entry(struct wal_loaded *out, const struct wal_record *r)
{
    if (out->n == out->cap) {
        size_t cap = out->cap ? 2 * out->cap : 256;
        struct raft_entry *v = realloc(out->v, cap * sizeof *v);
        if (!v)
            return -1;
        out->v = v;
        out->cap = cap;
    }
    struct raft_entry *e = &out->v[out->n];
    e->term = r->term;
    e->index = r->index;
    e->type = r->type;
    e->len = r->len;
    e->data = NULL;
    if (r->len) {
        e->data = malloc(r->len);
        if (!e->data)
            return -1;
        memcpy(e->data, r->data, r->len);
    }
    out->n++;
    return 0;
}

/* Scan one segment into w->segs / w->pos, keeping entries after skip_index.
 * A torn tail of the last segment is cut off (or the whole file removed if
 * even its header is torn). */
static int wal_load_segment(struct wal *w, uint64_t first, bool is_last, uint64_t skip_index,
                            struct wal_loaded *out, char *err, size_t errlen)
{
    char name[WAL_NAME_MAX];
    wal_name(name, first);
    uint8_t *buf;
    size_t size;
    if (sio_read_file(w->dirfd, name, &buf, &size) < 0) {
        snprintf(err, errlen, "%s/%s: read: %s", w->dir, name, strerror(errno));
        return -1;
    }
    int rc = 0;
    uint64_t expect = w->n_segs ? w->segs[w->n_segs - 1].last + 1 : first;
    if (w->n_segs && first != expect) {
        snprintf(err, errlen,
                 "%s/%s: index gap: the file starts at index %" PRIu64
                 " but the previous segment ends at %" PRIu64,
                 w->dir, name, first, expect - 1);
        rc = -2;
        goto done;
    }
    uint8_t header[WAL_HEADER_BYTES];
    wal_encode_header(header, first);
    if (size < WAL_HEADER_BYTES || memcmp(buf, header, WAL_HEADER_BYTES) != 0) {
        size_t valid = size >= WAL_HEADER_BYTES ? wal_find_valid_after(buf, size, 0) : 0;
        if (!is_last || valid) {
            snprintf(err, errlen, "%s/%s: corrupt segment header at offset 0", w->dir, name);
            rc = -2;
            goto done;
        }
        wal_logf(w, "%s/%s: torn segment (%zu bytes, header incomplete): removing it", w->dir,
                 name, size);
        if (unlinkat(w->dirfd, name, 0) < 0 || sio_fsync(w->io, w->dirfd) < 0) {
            snprintf(err, errlen, "%s/%s: remove: %s", w->dir, name, strerror(errno));
            rc = -1;
        }
        goto done;
    }
    if (wal_push_segment(w, first, WAL_HEADER_BYTES) < 0) {
        snprintf(err, errlen, "out of memory");
        rc = -3;
        goto done;
    }
    if (w->n_pos == 0)
        w->pos_first = first;
    struct wal_segment *seg = &w->segs[w->n_segs - 1];
    size_t off = WAL_HEADER_BYTES;
    uint64_t prev_term = w->n_pos ? w->pos[w->n_pos - 1].term : 0;
    while (off < size) {
        struct wal_record r;
        const char *why = wal_decode_record(buf, size, off, &r);
        char why_buf[128];
        if (!why && r.index != seg->last + 1) {
            snprintf(why_buf, sizeof why_buf, "index %" PRIu64 " where %" PRIu64 " was expected",
                     r.index, seg->last + 1);
            why = why_buf;
        } else if (!why && r.term < prev_term) {
            snprintf(why_buf, sizeof why_buf, "term %" PRIu64 " after term %" PRIu64, r.term,
                     prev_term);
            why = why_buf;
        }
        if (why) {
            size_t valid = wal_find_valid_after(buf, size, off);
            if (!is_last) {
                snprintf(err, errlen, "%s/%s: corrupt record at offset %zu: %s (not the last segment)",
                         w->dir, name, off, why);
                rc = -2;
            } else if (valid) {
                snprintf(err, errlen,
                         "%s/%s: corrupt record at offset %zu: %s, followed by a valid record at "
                         "offset %zu",
                         w->dir, name, off, why, valid);
                rc = -2;
            } else {
                wal_logf(w,
                         "%s/%s: torn tail at offset %zu (%s): cutting %zu bytes; the log now ends "
                         "at index %" PRIu64,
                         w->dir, name, off, why, size - off, seg->last);
                int fd = openat(w->dirfd, name, O_WRONLY | O_CLOEXEC);
                if (fd < 0 || sio_ftruncate(w->io, fd, (off_t)off) < 0 ||
                    sio_fdatasync(w->io, fd) < 0) {
                    snprintf(err, errlen, "%s/%s: truncate torn tail: %s", w->dir, name,
                             strerror(errno));
                    rc = -1;
                }
                if (fd >= 0)
                    close(fd);
            }
            break;
        }
        if (wal_push_pos(w, off, r.term) < 0 ||
            (r.index > skip_index && wal_keep_entry(out, &r) < 0)) {
            snprintf(err, errlen, "out of memory");
            rc = -3;
            break;
        }
        prev_term = r.term;
        seg->last = r.index;
        off += WAL_RECORD_HEADER + (size_t)r.len;
        seg->bytes = off;
    }
done:
    free(buf);
    return rc;
}

int wal_open(struct wal *w, struct sio *io, int dirfd, const char *dir, size_t segment_bytes,
             size_t buffer_bytes, wal_log_fn log, void *log_ctx, uint64_t snap_index,
             uint64_t snap_term, struct raft_entry **entries, size_t *n_entries, char *err,
             size_t errlen)
{
    memset(w, 0, sizeof *w);
    w->io = io;
    w->dirfd = dirfd;
    w->dir = dir;
    w->segment_bytes = segment_bytes;
    w->buffer_bytes = buffer_bytes;
    w->log = log;
    w->log_ctx = log_ctx;
    w->tail_fd = -1;
    w->pos_first = snap_index + 1;
    *entries = NULL;
    *n_entries = 0;

    uint64_t *firsts;
    size_t n_files;
    int rc = wal_list_segments(w, &firsts, &n_files, err, errlen);
    if (rc < 0)
        return rc;
    struct wal_loaded out = {0};
    for (size_t i = 0; i < n_files && rc == 0; i++)
        rc = wal_load_segment(w, firsts[i], i + 1 == n_files, snap_index, &out, err, errlen);
    free(firsts);
    if (rc < 0)
        goto fail;
    if (w->n_pos == 0) {
        /* Only empty segments (or none): nothing to keep. */
        if ((rc = wal_delete_segments_from(w, 0, err, errlen)) < 0)
            goto fail;
        w->pos_first = snap_index + 1;
    } else if (w->pos_first > snap_index + 1) {
        char name[WAL_NAME_MAX];
        wal_name(name, w->segs[0].first);
        snprintf(err, errlen,
                 "%s/%s: index gap: the log starts at index %" PRIu64
                 " but the snapshot ends at %" PRIu64 " (offset %d)",
                 dir, name, w->pos_first, snap_index, WAL_HEADER_BYTES);
        rc = -2;
        goto fail;
    } else if (snap_index >= w->pos_first &&
               (snap_index > wal_last_index(w) || wal_term_at(w, snap_index) != snap_term)) {
        /* A crash between saving a leader's snapshot and dropping the old
         * log: the log does not lead to the snapshot, so none of it counts. */
        wal_logf(w,
                 "%s: the log (%" PRIu64 "..%" PRIu64 ") does not contain the snapshot's entry %" PRIu64
                 " (term %" PRIu64 "): dropping it",
                 dir, w->pos_first, wal_last_index(w), snap_index, snap_term);
        if ((rc = wal_compact(w, snap_index, snap_term, err, errlen)) < 0)
            goto fail;
        wal_free_entries(out.v, out.n);
        out = (struct wal_loaded){0};
    } else if ((rc = wal_compact(w, snap_index, snap_term, err, errlen)) < 0) {
        goto fail;
    }
    if (w->n_segs > 0) {
        char name[WAL_NAME_MAX];
        wal_name(name, w->segs[w->n_segs - 1].first);
        w->tail_fd = openat(dirfd, name, O_WRONLY | O_APPEND | O_CLOEXEC);
        if (w->tail_fd < 0) {
            snprintf(err, errlen, "%s/%s: open: %s", dir, name, strerror(errno));
            rc = -1;
            goto fail;
        }
    }
    *entries = out.v;
    *n_entries = out.n;
    return 0;
fail:
    wal_free_entries(out.v, out.n);
    wal_close(w);
    return rc;
}

void wal_close(struct wal *w)
{
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
