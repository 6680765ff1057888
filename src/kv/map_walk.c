/* map_walk.c - the point-in-time walk over a live map and its side table
 * of pre-images (map_walk.h). */
#include "kv/map_walk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A key's state at the walk's beginning: e (a copy, after the key in the
 * same arena allocation) with its deadline, or e NULL: absent. */
struct walk_rec {
    uint64_t h;
    struct kv_map_entry *e;
    int64_t expiry;
    size_t klen;
    char key[];
};

/* Records live in large chunks of the walk's own (a bump allocator), not
 * one allocation each: the map frees an entry as soon as the walk has
 * copied it, so the next write reuses its memory instead of the heap
 * growing by every pre-image, and all the chunks go back at the walk's
 * end (the allocator's small-object pages would keep the pre-images'
 * holes after the walk: 15-25 bytes/key at rest at 1M keys). */
#define ARENA_CHUNK ((size_t)1 << 20)
struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    _Alignas(8) char data[];
};

enum { PHASE_SCAN, PHASE_KEPT, PHASE_DONE, PHASE_FAILED };

struct kv_map_walk {
    struct kv_map *live;   /* the map watched; NULL once frozen or detached */
    struct kv_map *frozen; /* what a clear left the walk (its own) */
    const struct kv_map *visiting; /* the map a step scans */
    int phase;
    uint64_t cursor;  /* SCAN's, over live or frozen */
    size_t kept_pos;  /* the side table's slot the pre-image phase is at */
    struct walk_rec **recs; /* open addressing, linear probing; NULL slots empty */
    size_t rec_mask, n_recs;
    /* While the side table grows: the old table, whose records are copied
     * (the pointers) into the new one a few slots at each change, never
     * all at once; lookups read the new table, then the old. */
    struct walk_rec **old_recs;
    size_t old_mask, old_pos;
    struct arena_chunk *arena; /* the records' chunks, newest first */
    size_t bytes, peak, max_bytes;
    size_t expected, emitted;
    size_t start_bytes; /* kv_map_bytes of the map at the beginning */
    kv_map_walk_fn fn;
    void *ctx;
    char why[160];
};

#define REC_MIN_SLOTS 64

static struct walk_rec *table_find(struct walk_rec **recs, size_t mask, uint64_t h,
                                   const char *key, size_t len)
{
    for (size_t i = (size_t)((h * 0x9e3779b97f4a7c15ull) >> 17) & mask;; i = (i + 1) & mask) {
        struct walk_rec *r = recs[i];
        if (!r)
            return NULL;
        if (r->h == h && r->klen == len && memcmp(r->key, key, len) == 0)
            return r;
    }
}

static struct walk_rec *rec_find(const struct kv_map_walk *w, uint64_t h, const char *key,
                                 size_t len)
{
    if (w->n_recs == 0)
        return NULL;
    struct walk_rec *r = table_find(w->recs, w->rec_mask, h, key, len);
    if (!r && w->old_recs)
        r = table_find(w->old_recs, w->old_mask, h, key, len);
    return r;
}

static void table_put(struct walk_rec **recs, size_t mask, struct walk_rec *r)
{
    size_t i = (size_t)((r->h * 0x9e3779b97f4a7c15ull) >> 17) & mask;
    while (recs[i])
        i = (i + 1) & mask;
    recs[i] = r;
}

/* Copy up to n slots of the old table into the new; the old one goes
 * once all are copied. */
static void recs_migrate(struct kv_map_walk *w, size_t n)
{
    for (; w->old_recs && n > 0; n--) {
        if (w->old_recs[w->old_pos])
            table_put(w->recs, w->rec_mask, w->old_recs[w->old_pos]);
        if (++w->old_pos > w->old_mask) {
            w->bytes -= (w->old_mask + 1) * sizeof *w->old_recs;
            free(w->old_recs);
            w->old_recs = NULL;
        }
    }
}

static void *arena_alloc(struct kv_map_walk *w, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    struct arena_chunk *c = w->arena;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->next = w->arena;
        c->used = 0;
        c->cap = cap;
        w->arena = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

static void recs_free(struct kv_map_walk *w)
{
    recs_migrate(w, SIZE_MAX); /* every record is in the new table then */
    while (w->arena) {
        struct arena_chunk *c = w->arena;
        w->arena = c->next;
        free(c);
    }
    free(w->recs);
    w->recs = NULL;
    w->n_recs = 0;
    w->rec_mask = 0;
    w->bytes = 0;
}

static void fail(struct kv_map_walk *w, const char *why)
{
    if (w->phase == PHASE_FAILED)
        return;
    snprintf(w->why, sizeof w->why, "%s", why);
    w->phase = PHASE_FAILED;
    if (w->live && w->live->walk == w)
        w->live->walk = NULL;
    w->live = NULL;
    recs_free(w); /* the memory goes back now, not at the end */
}

struct kv_map_walk *kv_map_walk_begin(struct kv_map *m, size_t max_bytes, char *why,
                                      size_t whylen)
{
    if (m->walk) {
        snprintf(why, whylen, "a walk over the map is under way");
        return NULL;
    }
    if (m->rekey_pending || (m->old && (m->old_k0 != m->k0 || m->old_k1 != m->k1))) {
        snprintf(why, whylen, "the map is moving to the cluster's hash key");
        return NULL;
    }
    struct kv_map_walk *w = calloc(1, sizeof *w);
    struct walk_rec **recs = calloc(REC_MIN_SLOTS, sizeof *recs);
    if (!w || !recs) {
        free(w);
        free(recs);
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    w->live = m;
    w->recs = recs;
    w->rec_mask = REC_MIN_SLOTS - 1;
    w->bytes = REC_MIN_SLOTS * sizeof *recs;
    w->peak = w->bytes;
    w->max_bytes = max_bytes;
    w->expected = m->size;
    w->start_bytes = kv_map_bytes(m);
    w->phase = PHASE_SCAN;
    m->walk = w;
    return w;
}

/* Room for one more record: past half full the table quadruples, its
 * records copied over RECS_STEP slots at each insertion (so the copy ends
 * long before the new table is half full: n/2 records in 2n slots, 8n
 * new slots to fill to half, 2n / RECS_STEP insertions to copy). */
#define RECS_STEP 16
static int recs_room(struct kv_map_walk *w)
{
    recs_migrate(w, RECS_STEP);
    if ((w->n_recs + 1) * 2 <= w->rec_mask + 1)
        return 0;
    recs_migrate(w, SIZE_MAX); /* never, by the count above */
    size_t count = (w->rec_mask + 1) * 4;
    struct walk_rec **n = calloc(count, sizeof *n);
    if (!n)
        return -1;
    w->old_recs = w->recs;
    w->old_mask = w->rec_mask;
    w->old_pos = 0;
    w->recs = n;
    w->rec_mask = count - 1;
    w->bytes += count * sizeof *n;
    return 0;
}

/* Keep (h, key) -> a copy of e (NULL: absent) with its deadline; false
 * when the memory ran out or the limit was passed (the walk has then
 * failed). */
static bool rec_add(struct kv_map_walk *w, uint64_t h, const char *key, size_t len,
                    const struct kv_map_entry *e, int64_t expiry)
{
    size_t entry_bytes = e ? kv_map_entry_size(e) : 0;
    size_t need = sizeof(struct walk_rec) + len + entry_bytes;
    if ((w->n_recs + 1) * 2 > w->rec_mask + 1) /* and the side table's growth */
        need += (w->rec_mask + 1) * 4 * sizeof *w->recs;
    if (w->bytes + need > w->max_bytes) {
        char why[160];
        snprintf(why, sizeof why,
                 "the pre-images of keys changed during the walk passed %zu bytes "
                 "(--snapshot-walk-max-bytes)",
                 w->max_bytes);
        fail(w, why);
        return false;
    }
    size_t eoff = (sizeof(struct walk_rec) + len + 7) & ~(size_t)7;
    struct walk_rec *r;
    if (recs_room(w) != 0 || !(r = arena_alloc(w, eoff + entry_bytes))) {
        fail(w, "out of memory keeping a pre-image");
        return false;
    }
    r->h = h;
    r->e = e ? (struct kv_map_entry *)((char *)r + eoff) : NULL;
    if (e)
        memcpy(r->e, e, entry_bytes);
    r->expiry = expiry;
    r->klen = len;
    memcpy(r->key, key, len);
    table_put(w->recs, w->rec_mask, r);
    w->n_recs++;
    w->bytes += sizeof(struct walk_rec) + len + entry_bytes;
    if (w->bytes > w->peak)
        w->peak = w->bytes;
    return true;
}

/* Whether the walk still needs key's state as of its beginning: it
 * watches, has not passed the key's bucket, and has not kept it yet. */
static bool wants(const struct kv_map_walk *w, const struct kv_map *m, uint64_t h,
                  const char *key, size_t len)
{
    return w->phase == PHASE_SCAN && w->live == m && !kv_map_walk_passed(m, w->cursor, h) &&
           !rec_find(w, h, key, len);
}

void kv_map_walk_note(struct kv_map_walk *w, struct kv_map *m, uint64_t h, const char *key,
                      size_t len, const struct kv_map_entry *old, int64_t expiry)
{
    if (wants(w, m, h, key, len))
        (void)rec_add(w, h, key, len, old, expiry);
}

void kv_map_walk_note_inplace(struct kv_map_walk *w, struct kv_map *m, uint64_t h,
                              const struct kv_map_entry *e, int64_t expiry)
{
    kv_map_walk_note(w, m, h, kv_entry_key(e), kv_entry_key_len(e), e, expiry);
}

void kv_map_walk_adopt(struct kv_map_walk *w, struct kv_map *frozen)
{
    w->frozen = frozen;
    w->live = NULL;
}

void kv_map_walk_detach(struct kv_map *m, const char *why)
{
    struct kv_map_walk *w = m->walk;
    m->walk = NULL;
    if (w && w->live == m)
        fail(w, why);
}

static void visit(void *ctx, const struct kv_map_entry *e, uint64_t h)
{
    struct kv_map_walk *w = ctx;
    if (w->phase != PHASE_SCAN)
        return;
    /* A key changed since the beginning (only a flagged entry can be one:
     * map.h's KV_ENTRY_WALK): its pre-image comes at the end. */
    if (e->flags & KV_ENTRY_WALK) {
        ((struct kv_map_entry *)e)->flags &= (uint8_t)~KV_ENTRY_WALK; /* passed from now on */
        if (w->n_recs && rec_find(w, h, kv_entry_key(e), kv_entry_key_len(e)))
            return;
    }
    if (w->fn(w->ctx, e, kv_map_expiry(w->visiting, e)) != 0) {
        fail(w, "writing an entry failed");
        return;
    }
    w->emitted++;
}

int kv_map_walk_step(struct kv_map_walk *w, size_t max_entries, kv_map_walk_fn fn, void *ctx)
{
    w->fn = fn;
    w->ctx = ctx;
    if (max_entries == 0)
        max_entries = 1;
    if (w->phase == PHASE_SCAN) {
        w->visiting = w->frozen ? w->frozen : w->live;
        if (!w->visiting) {
            fail(w, "the map is gone");
            return -1;
        }
        /* Empty buckets count too (ten for each entry asked for), so a
         * sparse table's step stays bounded. */
        uint64_t next = kv_map_scan_hashed(w->visiting, w->cursor, max_entries,
                                           10 * (uint64_t)max_entries, visit, w);
        if (w->phase != PHASE_SCAN)
            return -1;
        w->cursor = next;
        if (next == 0) {
            /* Every bucket passed: changes from now on need no pre-image. */
            w->phase = PHASE_KEPT;
            if (w->live && w->live->walk == w)
                w->live->walk = NULL;
            w->live = NULL;
        }
        return 0;
    }
    if (w->phase == PHASE_KEPT) {
        if (w->old_recs) { /* the side table's growth first, a bounded part a step */
            recs_migrate(w, 16 * max_entries);
            return 0;
        }
        size_t n = 0;
        for (; w->kept_pos <= w->rec_mask && n < max_entries; w->kept_pos++) {
            struct walk_rec *r = w->recs[w->kept_pos];
            if (!r || !r->e)
                continue;
            if (fn(ctx, r->e, r->expiry) != 0) {
                fail(w, "writing an entry failed");
                return -1;
            }
            w->emitted++;
            n++;
        }
        if (w->kept_pos <= w->rec_mask)
            return 0;
        if (w->emitted != w->expected) {
            char why[160];
            snprintf(why, sizeof why, "the walk emitted %zu entries of %zu", w->emitted,
                     w->expected);
            fail(w, why);
            return -1;
        }
        w->phase = PHASE_DONE;
    }
    return w->phase == PHASE_DONE ? 1 : -1;
}

const char *kv_map_walk_error(const struct kv_map_walk *w)
{
    return w->phase == PHASE_FAILED ? w->why : "";
}

size_t kv_map_walk_expected(const struct kv_map_walk *w)
{
    return w->expected;
}

size_t kv_map_walk_start_bytes(const struct kv_map_walk *w)
{
    return w->start_bytes;
}

size_t kv_map_walk_kept_bytes(const struct kv_map_walk *w)
{
    return w->bytes;
}

size_t kv_map_walk_kept_peak(const struct kv_map_walk *w)
{
    return w->peak;
}

size_t kv_map_walk_kept_count(const struct kv_map_walk *w)
{
    return w->n_recs;
}

void kv_map_walk_end(struct kv_map_walk *w)
{
    if (!w)
        return;
    if (w->live && w->live->walk == w)
        w->live->walk = NULL;
    recs_free(w);
    if (w->frozen) {
        kv_map_free(w->frozen);
        free(w->frozen);
    }
    free(w);
}
