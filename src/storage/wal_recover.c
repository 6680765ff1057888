/* wal_recover.c - reading the log back at start-up: list the segments,
 * check every record, cut a torn tail, refuse anything else that is
 * damaged, and reconcile the log with the snapshot (rules in wal.h). */
#include "storage/wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/le.h"
#include "storage/wal_internal.h"

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

/* The entries handed out by wal_open() point into the segment files
 * themselves, mapped read-only: no copy and no allocation per entry (the
 * core makes the one copy it keeps). The array sits behind a small header
 * that owns the mappings, so wal_free_entries(entries, n) alone releases
 * everything, whether or not the wal is still open. */
struct wal_map {
    void *p;
    size_t len;
    bool mapped; /* mmap'd, else malloc'd (a file mmap refused) */
};

struct wal_entries_block {
    struct wal_map *maps;
    size_t n_maps, cap_maps;
    size_t n, cap;
    struct raft_entry v[];
};

static struct wal_entries_block *wal_block_of(struct raft_entry *entries)
{
    return (struct wal_entries_block *)((char *)entries - offsetof(struct wal_entries_block, v));
}

static void wal_block_free(struct wal_entries_block *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n_maps; i++) {
        if (b->maps[i].mapped)
            munmap(b->maps[i].p, b->maps[i].len);
        else
            free(b->maps[i].p);
    }
    free(b->maps);
    free(b);
}

void wal_free_entries(struct raft_entry *entries, size_t n)
{
    (void)n;
    if (entries)
        wal_block_free(wal_block_of(entries));
}

/* The mappings alone, once detached from the entry array. */
struct wal_maps {
    struct wal_map *maps;
    size_t n_maps;
};

struct wal_maps *wal_entries_detach_maps(struct raft_entry *entries)
{
    struct wal_maps *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    if (entries) {
        struct wal_entries_block *b = wal_block_of(entries);
        m->maps = b->maps;
        m->n_maps = b->n_maps;
        b->maps = NULL;
        b->n_maps = b->cap_maps = 0;
    }
    return m;
}

size_t wal_maps_bytes(const struct wal_maps *m)
{
    size_t bytes = 0;
    for (size_t i = 0; m && i < m->n_maps; i++)
        bytes += m->maps[i].len;
    return bytes;
}

size_t wal_maps_release(struct wal_maps *m, size_t max)
{
    for (; m && m->n_maps > 0 && max > 0; max--) {
        struct wal_map *last = &m->maps[--m->n_maps];
        if (last->mapped)
            munmap(last->p, last->len);
        else
            free(last->p);
    }
    return m ? m->n_maps : 0;
}

void wal_maps_free(struct wal_maps *m)
{
    if (!m)
        return;
    wal_maps_release(m, SIZE_MAX);
    free(m->maps);
    free(m);
}

struct wal_loaded {
    struct wal_entries_block *b;
};

static int wal_keep_map(struct wal_loaded *out, void *p, size_t len, bool mapped)
{
    struct wal_entries_block *b = out->b;
    if (!b) {
        size_t cap = 256;
        b = calloc(1, sizeof *b + cap * sizeof b->v[0]);
        if (!b)
            return -1;
        b->cap = cap;
        out->b = b;
    }
    if (b->n_maps == b->cap_maps) {
        size_t cap = b->cap_maps ? 2 * b->cap_maps : 8;
        struct wal_map *m = realloc(b->maps, cap * sizeof *m);
        if (!m)
            return -1;
        b->maps = m;
        b->cap_maps = cap;
    }
    b->maps[b->n_maps++] = (struct wal_map){p, len, mapped};
    return 0;
}

/* Roughly how many records a mapped segment holds: its bytes over the mean
 * size of its first records (by their length fields, no checksum), so that
 * room for the whole log is made once and a long log loads without
 * regrowing, and copying, its arrays. A wrong guess costs one regrowth or
 * some unused room, nothing else. */
static size_t wal_estimate_records(const uint8_t *buf, size_t size)
{
    enum { SAMPLE = 64 };
    if (size < WAL_HEADER_BYTES)
        return 0;
    size_t off = WAL_HEADER_BYTES, k = 0;
    while (k < SAMPLE && size - off >= WAL_RECORD_HEADER) {
        uint32_t len = le_get32(buf + off);
        if (len > size - off - WAL_RECORD_HEADER || le_get64(buf + off + 16) == 0)
            break; /* damage or preallocated zeros: the sample ends */
        off += WAL_RECORD_HEADER + (size_t)len;
        k++;
    }
    if (!k)
        return 0;
    return (size - WAL_HEADER_BYTES) / ((off - WAL_HEADER_BYTES) / k) + 1;
}

static int wal_reserve_entries(struct wal_loaded *out, size_t more)
{
    struct wal_entries_block *b = out->b;
    if (!b || b->cap - b->n >= more)
        return 0;
    size_t cap = b->n + more;
    struct wal_entries_block *g = realloc(b, sizeof *b + cap * sizeof b->v[0]);
    if (!g)
        return -1;
    out->b = g;
    g->cap = cap;
    wal_advise_large(g->v + g->n, more * sizeof g->v[0]);
    return 0;
}

static int wal_keep_entry(struct wal_loaded *out, const struct wal_record *r)
{
    struct wal_entries_block *b = out->b; /* made by wal_keep_map for this segment */
    if (b->n == b->cap) {
        size_t cap = 2 * b->cap;
        struct wal_entries_block *g = realloc(b, sizeof *b + cap * sizeof b->v[0]);
        if (!g)
            return -1;
        out->b = b = g;
        b->cap = cap;
    }
    struct raft_entry *e = &b->v[b->n++];
    e->term = r->term;
    e->index = r->index;
    e->type = r->type;
    e->len = r->len;
    e->data = r->len ? (uint8_t *)r->data : NULL;
    return 0;
}

/* The segment's bytes: mapped from the page cache (no copy, no zeroing of
 * fresh memory), or read into memory where mmap is refused. The buffer is
 * owned by out from here on (the entries point into it). */
static int wal_map_segment(struct wal *w, const char *name, struct wal_loaded *out,
                           const uint8_t **buf, size_t *size, char *err, size_t errlen)
{
    int fd = openat(w->dirfd, name, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(err, errlen, "%s/%s: read: %s", w->dir, name, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *size = (size_t)st.st_size;
    void *p = *size ? mmap(NULL, *size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0) : MAP_FAILED;
    close(fd);
    if (p != MAP_FAILED) {
        madvise(p, *size, MADV_SEQUENTIAL);
        if (wal_keep_map(out, p, *size, true) < 0) {
            munmap(p, *size);
            snprintf(err, errlen, "out of memory");
            return -3;
        }
        *buf = p;
        return 0;
    }
    uint8_t *data;
    if (sio_read_file(w->dirfd, name, &data, size) < 0) {
        snprintf(err, errlen, "%s/%s: read: %s", w->dir, name, strerror(errno));
        return -1;
    }
    if (wal_keep_map(out, data, *size, false) < 0) {
        free(data);
        snprintf(err, errlen, "out of memory");
        return -3;
    }
    *buf = data;
    return 0;
}

/* A commit mark (wal.h) read back: NULL if it names an entry the log read
 * so far holds with that term (the segment's last entry gets the flag
 * saying that a mark follows it, and the largest mark counts), else why
 * not. A mark for an entry compacted away is whole but tells nothing. */
static const char *wal_take_mark(struct wal *w, struct wal_segment *seg, const struct wal_record *r,
                                 char *why, size_t whylen)
{
    if (r->len != 0 || r->index > seg->last ||
        (r->index >= w->pos_first && w->pos[r->index - w->pos_first].term != r->term)) {
        snprintf(why, whylen,
                 "commit mark for index %" PRIu64 " term %" PRIu64
                 " where the log ends at %" PRIu64 " or holds another term",
                 r->index, r->term, seg->last);
        return why;
    }
    if (seg->last >= seg->first)
        w->pos[w->n_pos - 1].offset |= WAL_POS_MARKED;
    if (r->index >= w->pos_first && r->index > w->commit_marked)
        w->commit_marked = r->index;
    return NULL;
}

/* Scan one segment into w->segs / w->pos, keeping entries after skip_index.
 * A torn tail of the last segment is cut off (or the whole file removed if
 * even its header is torn). */
static int wal_load_segment(struct wal *w, uint64_t first, bool is_last, uint64_t skip_index,
                            const uint8_t *buf, size_t size, struct wal_loaded *out, char *err,
                            size_t errlen)
{
    char name[WAL_NAME_MAX];
    wal_name(name, first);
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
        char why_buf[160];
        if (!why && r.type == WAL_RECORD_COMMIT) {
            why = wal_take_mark(w, seg, &r, why_buf, sizeof why_buf);
            if (!why) {
                off += WAL_RECORD_HEADER;
                seg->bytes = off;
                continue;
            }
        } else if (!why && r.index != seg->last + 1) {
            snprintf(why_buf, sizeof why_buf, "index %" PRIu64 " where %" PRIu64 " was expected",
                     r.index, seg->last + 1);
            why = why_buf;
        } else if (!why && r.term < prev_term) {
            snprintf(why_buf, sizeof why_buf, "term %" PRIu64 " after term %" PRIu64, r.term,
                     prev_term);
            why = why_buf;
        }
        if (why) {
            if (wal_all_zero(buf + off, size - off))
                why = "zero-filled";
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
                if (strcmp(why, "zero-filled") == 0)
                    wal_logf(w,
                             "%s/%s: %zu bytes of preallocated space after offset %zu: trimming "
                             "them; the log ends at index %" PRIu64,
                             w->dir, name, size - off, off, seg->last);
                else
                    wal_logf(w,
                             "%s/%s: torn tail at offset %zu (%s): cutting %zu bytes; the log "
                             "now ends at index %" PRIu64,
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
    struct wal_loaded out = {NULL};
    /* Every segment mapped first, so that the arrays are sized once. */
    struct wal_view {
        const uint8_t *buf;
        size_t size;
    } *views = n_files ? calloc(n_files, sizeof *views) : NULL;
    if (n_files && !views) {
        snprintf(err, errlen, "out of memory");
        rc = -3;
    }
    size_t expect = 0;
    for (size_t i = 0; i < n_files && rc == 0; i++) {
        char name[WAL_NAME_MAX];
        wal_name(name, firsts[i]);
        rc = wal_map_segment(w, name, &out, &views[i].buf, &views[i].size, err, errlen);
        if (rc == 0)
            expect += wal_estimate_records(views[i].buf, views[i].size);
    }
    if (rc == 0 && (wal_reserve_pos(w, expect) < 0 || wal_reserve_entries(&out, expect) < 0)) {
        snprintf(err, errlen, "out of memory");
        rc = -3;
    }
    for (size_t i = 0; i < n_files && rc == 0; i++)
        rc = wal_load_segment(w, firsts[i], i + 1 == n_files, snap_index, views[i].buf,
                              views[i].size, &out, err, errlen);
    free(views);
    free(firsts);
    if (rc < 0)
        goto fail;
    if (w->n_pos == 0) {
        /* Only empty segments (or none): nothing to keep. */
        if ((rc = wal_delete_segments_from(w, 0, err, errlen)) < 0)
            goto fail;
        w->pos_first = snap_index + 1;
        w->commit_marked = 0;
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
        if (out.b)
            out.b->n = 0;
        w->commit_marked = 0; /* its marks named that log's entries */
    } else if ((rc = wal_compact(w, snap_index, snap_term, err, errlen)) < 0) {
        goto fail;
    }
    if (w->n_segs > 0) {
        char name[WAL_NAME_MAX];
        wal_name(name, w->segs[w->n_segs - 1].first);
        w->tail_fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC);
        if (w->tail_fd < 0) {
            snprintf(err, errlen, "%s/%s: open: %s", dir, name, strerror(errno));
            rc = -1;
            goto fail;
        }
    }
    if (w->n_segs > 0)
        w->tail_alloc = w->segs[w->n_segs - 1].bytes; /* the file ends there now */
    if (out.b && out.b->n) {
        *entries = out.b->v;
        *n_entries = out.b->n;
    } else {
        wal_block_free(out.b); /* nothing kept: the files need not stay mapped */
    }
    return 0;
fail:
    wal_block_free(out.b);
    wal_close(w);
    return rc;
}
