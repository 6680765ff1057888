/* wal_lend.c - lending the log's bytes to the Raft core while the node
 * runs: the segment files mapped read-only and shared (their pages are the
 * page cache's, reclaimable, not the process's own memory), and pointers to
 * entries' payloads in them, which the core takes in place of its own
 * copies (raft_lend). A mapping lives until the caller says that no entry
 * lent from it is in use any more (wal_lend_release), past its segment's
 * deletion (an unlinked file stays readable while mapped) and past a
 * truncation after its lent entries (the pages before the cut stay). */
#include "storage/wal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "storage/le.h"
#include "storage/wal_internal.h"

struct wal_lend_map {
    uint64_t gen;    /* the segment's (wal_segment.gen): a file of its own */
    uint64_t lo, hi; /* the entries lent from this mapping */
    uint8_t *p;
    size_t len;
};

static size_t lend_page(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096;
}

/* A mapping of segment k that reaches `end`: the newest one made for it,
 * or a new one. Mapped beyond the file's end (the tail grows into it; only
 * written records are ever read), so one mapping serves a segment. */
static struct wal_lend_map *lend_map_for(struct wal *w, size_t k, uint64_t end, char *err,
                                         size_t errlen)
{
    const struct wal_segment *seg = &w->segs[k];
    for (size_t i = w->n_lend; i-- > 0;) {
        if (w->lend[i].gen == seg->gen && w->lend[i].len >= end)
            return &w->lend[i];
    }
    if (w->n_lend == w->cap_lend) {
        size_t cap = w->cap_lend ? 2 * w->cap_lend : 8;
        struct wal_lend_map *v = realloc(w->lend, cap * sizeof *v);
        if (!v) {
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        w->lend = v;
        w->cap_lend = cap;
    }
    size_t want = end > w->segment_bytes ? end : w->segment_bytes;
    want += WAL_PREALLOC_STEP; /* a segment ends past segment_bytes by its last batch */
    size_t page = lend_page();
    want = (want + page - 1) / page * page;
    char name[WAL_NAME_MAX];
    wal_name(name, seg->first);
    int fd = openat(w->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s/%s: open to map: %s", w->dir, name, strerror(errno));
        return NULL;
    }
    void *p = mmap(NULL, want, PROT_READ, MAP_SHARED, fd, 0);
    int saved = errno;
    close(fd);
    if (p == MAP_FAILED) {
        snprintf(err, errlen, "%s/%s: map: %s", w->dir, name, strerror(saved));
        return NULL;
    }
    struct wal_lend_map *m = &w->lend[w->n_lend++];
    *m = (struct wal_lend_map){.gen = seg->gen, .lo = UINT64_MAX, .hi = 0, .p = p, .len = want};
    return m;
}

ssize_t wal_lend(struct wal *w, uint64_t first, size_t n, struct raft_entry *out, char *err,
                 size_t errlen)
{
    size_t k = 0, done = 0;
    struct wal_lend_map *m = NULL;
    for (; done < n; done++) {
        uint64_t i = first + done;
        if (i < w->pos_first || i > wal_last_index(w))
            break;
        while (k < w->n_segs && w->segs[k].last < i)
            k++;
        if (k == w->n_segs || w->segs[k].first > i)
            break;
        const struct wal_segment *seg = &w->segs[k];
        struct wal_pos pos = w->pos[i - w->pos_first];
        uint64_t off = WAL_POS_OFFSET(pos);
        uint64_t end = i < seg->last ? WAL_POS_OFFSET(w->pos[i + 1 - w->pos_first]) : seg->bytes;
        /* Still in the buffer, not yet in the file: not lendable yet. */
        if (k == w->n_segs - 1 && end > seg->bytes - w->buf_len)
            break;
        if (!m || m->gen != seg->gen || m->len < end) {
            m = lend_map_for(w, k, end, err, errlen);
            if (!m)
                return done ? (ssize_t)done : -1;
        }
        if (i < m->lo)
            m->lo = i;
        if (i > m->hi)
            m->hi = i;
        /* Commit marks after it: its length is in its header (one read
         * a sync batch; the other entries' come from the offsets). */
        uint32_t len = pos.offset & WAL_POS_MARKED ? le_get32(m->p + off)
                                                   : (uint32_t)(end - off - WAL_RECORD_HEADER);
        out[done] = (struct raft_entry){.index = i, .term = pos.term, .len = len};
        out[done].data = out[done].len ? m->p + off + WAL_RECORD_HEADER : NULL;
    }
    return (ssize_t)done;
}

size_t wal_lend_release(struct wal *w, uint64_t first, uint64_t last, size_t max)
{
    size_t kept = 0, left = 0;
    for (size_t i = 0; i < w->n_lend; i++) {
        struct wal_lend_map *m = &w->lend[i];
        bool lent = first <= last && m->lo <= last && m->hi >= first;
        if (lent || max == 0) {
            left += !lent;
            w->lend[kept++] = *m;
            continue;
        }
        munmap(m->p, m->len);
        max--;
    }
    w->n_lend = kept;
    return left;
}

size_t wal_lend_bytes(const struct wal *w, size_t *maps)
{
    size_t bytes = 0;
    for (size_t i = 0; i < w->n_lend; i++)
        bytes += w->lend[i].len;
    if (maps)
        *maps = w->n_lend;
    return bytes;
}
