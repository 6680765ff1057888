/* log.c - the in-memory Raft log: a contiguous array of entries after a
 * compaction offset.
 *
 * Contiguity is what lets an update point straight into the log for the
 * entries to persist, to send and to apply, without copying. Entry payloads
 * are owned by the log (copied on append), except a lent prefix: a restored
 * log the driver lent (raft_restore.borrow), extended while running by
 * committed entries whose bytes the driver lends once they are durable and
 * applied (log_lend(): their own copy is dropped, the chunks holding only
 * lent payloads freed). Lent payloads point at the driver's bytes (the
 * log's mapped files), are never freed or written here, and stop being
 * used as they are compacted or reset away (log_borrows()).
 *
 * Payloads of up to LOG_CHUNK_ENTRY_MAX bytes are carved, in index order,
 * out of chunks (64 KiB doubling to RAFT_LOG_BLOCK, 2 MiB, whose memory
 * the driver may advise on: raft_config.advise_log_block); larger ones get
 * an allocation each. A chunk goes once compaction passes the last entry it
 * holds, or a loan covers it, or truncation removes every entry it holds;
 * its space is never reused for another entry while it lives. Chunks that
 * compaction or a loan emptied are kept as spares, up to
 * raft_config.log_spare_blocks, and carved again for later entries (never
 * one a truncation or a reset emptied): a learner catching up takes
 * entries in at several times the log's growth, and a spare's pages are
 * already the process's, where a new chunk's must be faulted in and
 * zeroed by the kernel. One allocation per chunk instead of one per
 * entry (a follower appends tens of thousands of entries a second) costs
 * the allocator's per-call work once per thousands of entries, the page
 * faults of fresh memory once per block where the driver gets huge pages
 * for it (bench/log_bench.c: 0.9 us of CPU per 130-byte entry taken from
 * APPENDs, 0.5 with chunks, 0.12-0.27 with huge pages, on this project's
 * virtual machines where a page fault costs ~20 us), and the payloads a
 * batch appends lie side by side for the copies that follow (the log
 * store's, the APPENDs' encoding, the state machine's).
 *
 * Dropping is bounded per event. Compaction and a reset may drop millions
 * of entries and hundreds of blocks at once, and releasing them (the byte
 * accounting, a free() per payload allocated alone, one per chunk, a copy
 * of the entries kept) is work proportional to the log that the driver's
 * event loop would wait on. So compaction only moves `entries` (a pointer
 * into the allocation `base`) past the dropped entries and hands them,
 * with the chunks they emptied (moved to a list of their own, so that
 * truncation, loans and carving never see them), to the dead region; a
 * reset hands it the whole old array and chunk list and starts afresh.
 * Both are O(chunks). raft_step() then sweeps the dead region a budget at
 * a time (raft_config.log_sweep_entries and log_sweep_blocks an event):
 * the accounting, the free() of each payload the log owned and allocated
 * alone, and each chunk freed or kept as a spare as compaction's rule
 * says. A lent entry's payload is never touched (its mapping may be gone
 * already), nor is any dead entry's data read: a chunked payload may lie
 * in a chunk a later truncation or loan freed. raft_log_bytes() counts
 * the dead entries until they are swept. A reset's old array is swept
 * from its end and shrunk behind the sweep, LOG_SHRINK_STEP slots at a
 * time, then the swept front it still held (below) as much an event, so
 * no event frees it whole.
 *
 * There is one dead region at a time: a compaction or reset while one is
 * left finishes it first, which costs at most what the previous drop left
 * (the sweep usually ends long before the next snapshot). Dead entries in
 * the live array lie at positions, not pointers, so an append's realloc()
 * may move the array under them. Once they are swept, the live entries
 * move back to the front of the allocation only when that copy is small,
 * up to LOG_MOVE_MAX entries (8 MiB, about a millisecond), or when the
 * swept front is at least as long as the live part: that copy is then
 * paid for by the entries swept, like the copy realloc() growth makes,
 * but it is one event's work, proportional to the live part; it happens
 * only when a snapshot leaves more than LOG_MOVE_MAX entries after it, and
 * keeps the wasted front below the live part. After the move, an array
 * under a quarter full shrinks LOG_SHRINK_STEP slots an event (the
 * allocator unmaps what a shrink gives back, in proportion to it).
 * log_free() releases everything at once (teardown).
 *
 * The entry table is allocated, grown, shrunk and freed through the
 * driver's raft_config.log_table_resize when it gives one, else realloc()
 * and free(). Growth doubles the table, and a realloc() of a block that
 * large (jemalloc's, glibc's past its mmap threshold) may copy it whole
 * into fresh pages: 128 MiB at 4 million entries, 60-90 ms of CPU in one
 * event (bench/table_bench.c), loop turns of 100-400 ms in the server.
 * The table stays one allocation, so updates keep pointing straight into
 * it, and the core stays free of system calls: the server's hook grows
 * it with mremap(), which moves the pages rather than their bytes
 * (src/server/log_table.c). Its shrinks and frees are bounded an event
 * as above, whichever allocator serves them.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "raft/raft_private.h"

void log_init(struct raft_log *l, raft_index offset, raft_term offset_term)
{
    memset(l, 0, sizeof *l);
    l->offset = offset;
    l->offset_term = offset_term;
}

#define LOG_CHUNK_MIN ((size_t)64 << 10)
#define LOG_CHUNK_MAX ((size_t)RAFT_LOG_BLOCK)
#define LOG_CHUNK_ENTRY_MAX ((uint32_t)(LOG_CHUNK_MIN / 4))
#define LOG_CHUNK_ALIGN 8
/* The live entries always move to the array's front when this few (log_reclaim). */
#define LOG_MOVE_MAX ((size_t)256 << 10)
/* The most slots a shrinking array gives back in one event (8 MiB). */
#define LOG_SHRINK_STEP ((size_t)256 << 10)

/* Whether a payload of this length lives in a chunk (the rule, not a
 * lookup: a payload is freed by it). */
static bool chunked(uint32_t len)
{
    return len > 0 && len <= LOG_CHUNK_ENTRY_MAX;
}

/* An entry table's allocation from old_slots to new_slots (0: freed):
 * by the driver's raft_config.log_table_resize, else realloc() and free(). */
static struct raft_entry *table_resize(const struct raft_log *l, struct raft_entry *p,
                                       size_t old_slots, size_t new_slots)
{
    if (!p && !new_slots)
        return NULL;
    if (l->resize)
        return l->resize(p, old_slots * sizeof *p, new_slots * sizeof *p);
    if (!new_slots) {
        free(p);
        return NULL;
    }
    return realloc(p, new_slots * sizeof *p);
}

static void log_free_range(struct raft_log *l, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        l->bytes -= l->entries[i].len + sizeof(struct raft_entry);
        if (l->offset + 1 + i <= l->borrowed)
            l->lent_bytes -= l->entries[i].len;
        else if (!chunked(l->entries[i].len))
            free(l->entries[i].data);
    }
}

static void chunks_free(struct raft_log *l)
{
    for (size_t i = 0; i < l->n_chunks; i++)
        free(l->chunks[i].base);
    l->n_chunks = 0;
}

static void spares_trim(struct raft_log *l, size_t keep)
{
    if (l->n_spare <= keep)
        return;
    size_t gone = l->n_spare - keep;
    for (size_t i = 0; i < gone; i++)
        free(l->spare[i].base);
    memmove(l->spare, l->spare + gone, keep * sizeof *l->spare);
    l->n_spare = keep;
}

void log_set_spare(struct raft_log *l, size_t max)
{
    l->max_spare = max < RAFT_LOG_SPARE_MAX ? max : RAFT_LOG_SPARE_MAX;
    spares_trim(l, l->max_spare);
}

size_t log_spare_bytes(const struct raft_log *l)
{
    size_t bytes = 0;
    for (size_t i = 0; i < l->n_spare; i++)
        bytes += l->spare[i].cap;
    return bytes;
}

/* The oldest `gone` chunks, emptied by compaction or a loan: the newest
 * of them kept as spares while there is room (older spares make way),
 * the rest freed. */
static void chunks_retire(struct raft_log *l, size_t gone)
{
    size_t keep = gone < l->max_spare ? gone : l->max_spare;
    for (size_t i = 0; i < gone - keep; i++)
        free(l->chunks[i].base);
    if (keep) {
        spares_trim(l, l->max_spare - keep);
        for (size_t i = gone - keep; i < gone; i++)
            l->spare[l->n_spare++] = (struct log_chunk){.base = l->chunks[i].base, .cap = l->chunks[i].cap};
    }
    memmove(l->chunks, l->chunks + gone, (l->n_chunks - gone) * sizeof *l->chunks);
    l->n_chunks -= gone;
}

/* The newest spare of at least `size` bytes, or {0}; smaller spares on
 * top of it are freed (chunks only grow until they reach the block). */
static struct log_chunk spare_take(struct raft_log *l, size_t size)
{
    while (l->n_spare > 0) {
        struct log_chunk c = l->spare[--l->n_spare];
        if (c.cap >= size)
            return c;
        free(c.base);
    }
    return (struct log_chunk){0};
}

/* Room for len bytes (chunked(len)) in the newest chunk, or a new one,
 * on behalf of entry `index`. */
static uint8_t *chunk_carve(struct raft_log *l, raft_index index, uint32_t len)
{
    struct log_chunk *c = l->n_chunks ? &l->chunks[l->n_chunks - 1] : NULL;
    size_t at = c ? (c->used + LOG_CHUNK_ALIGN - 1) & ~(size_t)(LOG_CHUNK_ALIGN - 1) : 0;
    if (!c || at + len > c->cap) {
        size_t prev = c ? c->cap : l->next_chunk / 2;
        size_t size = prev < LOG_CHUNK_MIN ? LOG_CHUNK_MIN : prev < LOG_CHUNK_MAX ? 2 * prev : LOG_CHUNK_MAX;
        if (l->n_chunks == l->cap_chunks) {
            size_t cap = l->cap_chunks ? 2 * l->cap_chunks : 8;
            struct log_chunk *v = realloc(l->chunks, cap * sizeof *v);
            if (!v)
                return NULL;
            l->chunks = v;
            l->cap_chunks = cap;
        }
        struct log_chunk spare = spare_take(l, size);
        uint8_t *base = spare.base;
        if (base) {
            size = spare.cap;
        } else {
            base = size == LOG_CHUNK_MAX ? aligned_alloc(LOG_CHUNK_MAX, size) : malloc(size);
            if (!base)
                return NULL;
            if (size == LOG_CHUNK_MAX && l->advise)
                l->advise(base, size);
        }
        c = &l->chunks[l->n_chunks++];
        *c = (struct log_chunk){.base = base, .cap = size};
        at = 0;
    }
    c->used = at + len;
    c->last = index;
    return c->base + at;
}

/* The swept front of the live array given back, under the rule above. */
static void log_reclaim(struct raft_log *l)
{
    if (l->front == 0 || (!l->dead.alloc && l->dead.pos < l->dead.end))
        return;
    if (l->n > LOG_MOVE_MAX && l->front < l->n)
        return;
    memmove(l->base, l->entries, l->n * sizeof *l->entries);
    l->cap += l->front;
    l->front = 0;
    l->entries = l->base;
}

/* A quarter-full array shrinks towards twice its entries, LOG_SHRINK_STEP
 * slots an event: the allocator unmaps what a shrink gives back, which
 * costs the kernel time in proportion to it (16-20 ms for 3 million
 * slots at once). */
static void log_shrink_step(struct raft_log *l)
{
    if (l->front > 0 || l->cap <= 1024 || l->n >= l->cap / 4)
        return;
    size_t want = l->n * 2 > 256 ? l->n * 2 : 256;
    size_t cap = l->cap - want > LOG_SHRINK_STEP ? l->cap - LOG_SHRINK_STEP : want;
    struct raft_entry *e = table_resize(l, l->base, l->cap, cap);
    if (e) {
        l->base = l->entries = e;
        l->cap = cap;
    }
}

static void dead_chunk(struct raft_log *l, struct log_dead *d)
{
    size_t i = d->chunk_pos++;
    size_t keep = d->n_chunks < l->max_spare ? d->n_chunks : l->max_spare;
    if (!d->spares || i < d->n_chunks - keep) {
        free(d->chunks[i].base);
        return;
    }
    spares_trim(l, l->max_spare - 1); /* the oldest spare makes way */
    l->spare[l->n_spare++] = (struct log_chunk){.base = d->chunks[i].base, .cap = d->chunks[i].cap};
}

static void dead_entry(struct raft_log *l, const struct raft_entry *e, raft_index borrowed)
{
    l->bytes -= e->len + sizeof *e;
    if (e->index <= borrowed)
        l->lent_bytes -= e->len;
    else if (!chunked(e->len))
        free(e->data);
}

/* A reset's old array given back behind its sweep: down to the entries
 * left to sweep once LOG_SHRINK_STEP slots or more lie past them; once
 * all are swept, the rest (the swept front it held) LOG_SHRINK_STEP slots
 * a call, the last of them freed, or all at once when `finish`. */
static void dead_alloc_shrink(struct raft_log *l, struct log_dead *d, bool finish)
{
    if (d->end > d->pos) {
        if (d->alloc_cap - d->end >= LOG_SHRINK_STEP) {
            struct raft_entry *e = table_resize(l, d->alloc, d->alloc_cap, d->end);
            if (e) {
                d->alloc = e;
                d->alloc_cap = d->end;
            }
        }
        return;
    }
    if (!finish && d->alloc_cap > LOG_SHRINK_STEP) {
        size_t cap = d->alloc_cap - LOG_SHRINK_STEP;
        struct raft_entry *e = table_resize(l, d->alloc, d->alloc_cap, cap);
        if (e) {
            d->alloc = e;
            d->alloc_cap = cap;
            return;
        }
    }
    table_resize(l, d->alloc, d->alloc_cap, 0);
    d->alloc = NULL;
    d->alloc_cap = 0;
}

void log_sweep(struct raft_log *l, size_t max_entries, size_t max_chunks)
{
    struct log_dead *d = &l->dead;
    if (d->alloc) {
        /* A reset's own array: swept from its end, and given back as it
         * goes, LOG_SHRINK_STEP slots at a time (log_shrink_step). */
        size_t stop = d->end - d->pos > max_entries ? d->end - max_entries : d->pos;
        while (d->end > stop) {
            d->end--;
            dead_entry(l, &d->alloc[d->end], d->borrowed);
        }
        dead_alloc_shrink(l, d, max_entries == SIZE_MAX);
    } else {
        size_t stop = d->end - d->pos > max_entries ? d->pos + max_entries : d->end;
        for (; d->pos < stop; d->pos++)
            dead_entry(l, &l->base[d->pos], d->borrowed);
    }
    for (size_t k = 0; k < max_chunks && d->chunk_pos < d->n_chunks; k++)
        dead_chunk(l, d);
    if (d->pos < d->end || d->chunk_pos < d->n_chunks || d->alloc)
        return;
    free(d->chunks);
    memset(d, 0, sizeof *d);
    log_reclaim(l);
    log_shrink_step(l);
}

size_t log_dead_entries(const struct raft_log *l)
{
    return l->dead.end - l->dead.pos;
}

size_t log_dead_chunks(const struct raft_log *l)
{
    return l->dead.n_chunks - l->dead.chunk_pos;
}

void log_free(struct raft_log *l)
{
    log_sweep(l, SIZE_MAX, SIZE_MAX);
    log_free_range(l, 0, l->n);
    chunks_free(l);
    spares_trim(l, 0);
    free(l->chunks);
    table_resize(l, l->base, l->front + l->cap, 0);
    memset(l, 0, sizeof *l);
}

raft_index log_last_index(const struct raft_log *l)
{
    return l->offset + l->n;
}

raft_term log_last_term(const struct raft_log *l)
{
    return l->n ? l->entries[l->n - 1].term : l->offset_term;
}

bool log_term_at(const struct raft_log *l, raft_index index, raft_term *term)
{
    if (index == l->offset) {
        *term = l->offset_term;
        return true;
    }
    if (index < l->offset || index > l->offset + l->n)
        return false;
    *term = l->entries[index - l->offset - 1].term;
    return true;
}

struct raft_entry *log_get(const struct raft_log *l, raft_index index)
{
    if (index <= l->offset || index > l->offset + l->n)
        return NULL;
    return &l->entries[index - l->offset - 1];
}

int log_reserve(struct raft_log *l, size_t n)
{
    if (n <= l->cap - l->n)
        return RAFT_OK;
    log_reclaim(l);
    if (n <= l->cap - l->n)
        return RAFT_OK;
    size_t cap = l->n + n;
    struct raft_entry *e = table_resize(l, l->base, l->front + l->cap, l->front + cap);
    if (!e)
        return RAFT_ERR_NOMEM;
    l->base = e;
    l->entries = e + l->front;
    l->cap = cap;
    if (l->advise && (cap - l->n) * sizeof *e >= RAFT_LOG_BLOCK)
        l->advise(l->entries + l->n, (cap - l->n) * sizeof *e);
    return RAFT_OK;
}

static void log_push(struct raft_log *l, raft_term term, uint8_t type, uint8_t *data,
                     uint32_t len)
{
    struct raft_entry *e = &l->entries[l->n];
    e->term = term;
    e->index = l->offset + l->n + 1;
    e->type = type;
    e->len = len;
    e->data = data;
    l->n++;
    l->bytes += len + sizeof *e;
}

int log_append(struct raft_log *l, raft_term term, uint8_t type, const uint8_t *data,
               uint32_t len)
{
    if (l->n == l->cap && log_reserve(l, l->cap ? l->cap : 256) != RAFT_OK)
        return RAFT_ERR_NOMEM;
    uint8_t *copy = NULL;
    if (len) {
        copy = chunked(len) ? chunk_carve(l, log_last_index(l) + 1, len) : malloc(len);
        if (!copy)
            return RAFT_ERR_NOMEM;
        memcpy(copy, data, len);
    }
    log_push(l, term, type, copy, len);
    return RAFT_OK;
}

int log_append_borrowed(struct raft_log *l, raft_term term, uint8_t type, const uint8_t *data,
                        uint32_t len)
{
    if (l->n && l->borrowed != log_last_index(l))
        return RAFT_ERR_INVALID; /* an owned entry before it: one bound no longer covers */
    if (l->n == l->cap && log_reserve(l, l->cap ? l->cap : 256) != RAFT_OK)
        return RAFT_ERR_NOMEM;
    /* The cast keeps struct raft_entry's one pointer type; the log never
     * writes through it, nor frees it (index <= borrowed). */
    log_push(l, term, type, len ? (uint8_t *)data : NULL, len);
    l->borrowed = log_last_index(l);
    l->lent_bytes += len;
    return RAFT_OK;
}

bool log_borrows(const struct raft_log *l)
{
    return l->borrowed > l->offset;
}

raft_index log_lend_next(const struct raft_log *l)
{
    return (l->borrowed > l->offset ? l->borrowed : l->offset) + 1;
}

int log_lend(struct raft_log *l, const struct raft_entry *lent, size_t n, bool verify)
{
    raft_index first = log_lend_next(l);
    if (n == 0)
        return RAFT_OK;
    if (lent[0].index != first || first + n - 1 > log_last_index(l))
        return RAFT_ERR_INVALID;
    /* Checked whole before anything changes: a refused loan leaves the log
     * as it was. The contents only on request (it reads every lent page). */
    for (size_t k = 0; k < n; k++) {
        const struct raft_entry *e = log_get(l, first + k);
        if (lent[k].index != first + k || lent[k].term != e->term || lent[k].len != e->len ||
            (e->len && !lent[k].data) ||
            (verify && e->len && memcmp(lent[k].data, e->data, e->len) != 0))
            return RAFT_ERR_INVALID;
    }
    for (size_t k = 0; k < n; k++) {
        struct raft_entry *e = log_get(l, first + k);
        if (e->len && !chunked(e->len))
            free(e->data);
        /* The cast as in log_append_borrowed(): never written through. */
        e->data = e->len ? (uint8_t *)lent[k].data : NULL;
        l->lent_bytes += e->len;
    }
    l->borrowed = first + n - 1;
    /* Chunks are carved in index order and hold entries after the offset
     * only (compaction frees the others): one whose last payload is lent
     * holds nothing the log still reads. */
    size_t gone = 0;
    while (gone < l->n_chunks && l->chunks[gone].last <= l->borrowed)
        gone++;
    if (gone) {
        l->next_chunk = l->chunks[l->n_chunks - 1].cap;
        chunks_retire(l, gone);
    }
    return RAFT_OK;
}

void log_truncate_from(struct raft_log *l, raft_index from)
{
    assert(from > l->offset);
    if (from > log_last_index(l))
        return;
    size_t keep = (size_t)(from - l->offset - 1);
    log_free_range(l, keep, l->n);
    l->n = keep;
    if (l->borrowed >= from)
        l->borrowed = from - 1;
    /* Chunks holding only removed payloads go. Payloads are carved in
     * index order, so a chunk holds a kept one only if it holds the last
     * kept chunked payload; that chunk stays, its space not reused (a new
     * entry never gets a removed one's bytes). */
    const struct raft_entry *kept = NULL;
    for (size_t i = keep; i-- > 0 && l->offset + 1 + i > l->borrowed;) {
        if (chunked(l->entries[i].len)) {
            kept = &l->entries[i];
            break;
        }
    }
    while (l->n_chunks > 0 && l->chunks[l->n_chunks - 1].last >= from) {
        struct log_chunk *c = &l->chunks[l->n_chunks - 1];
        if (kept && (uintptr_t)kept->data - (uintptr_t)c->base < c->cap) {
            c->last = kept->index;
            break;
        }
        l->next_chunk = c->cap;
        free(c->base);
        l->n_chunks--;
    }
}

void log_compact_to(struct raft_log *l, raft_index upto)
{
    assert(upto >= l->offset && upto <= log_last_index(l));
    if (upto == l->offset)
        return;
    log_sweep(l, SIZE_MAX, SIZE_MAX); /* one dead region at a time */
    size_t drop = (size_t)(upto - l->offset);
    raft_term t = l->entries[drop - 1].term;
    size_t gone = 0;
    while (gone < l->n_chunks && l->chunks[gone].last <= upto)
        gone++;
    struct log_chunk *dead = gone ? malloc(gone * sizeof *dead) : NULL;
    if (dead) {
        memcpy(dead, l->chunks, gone * sizeof *dead);
        memmove(l->chunks, l->chunks + gone, (l->n_chunks - gone) * sizeof *l->chunks);
        l->n_chunks -= gone;
    } else if (gone) {
        chunks_retire(l, gone); /* no memory for the list: at once */
    }
    l->dead = (struct log_dead){.pos = l->front,
                                .end = l->front + drop,
                                .borrowed = l->borrowed,
                                .chunks = dead,
                                .n_chunks = dead ? gone : 0,
                                .spares = true};
    l->entries += drop;
    l->front += drop;
    l->cap -= drop;
    l->n -= drop;
    l->offset = upto;
    l->offset_term = t;
}

void log_reset(struct raft_log *l, raft_index offset, raft_term offset_term)
{
    log_sweep(l, SIZE_MAX, SIZE_MAX); /* one dead region at a time */
    l->dead = (struct log_dead){.alloc = l->base,
                                .alloc_cap = l->front + l->cap,
                                .pos = l->front,
                                .end = l->front + l->n,
                                .borrowed = l->borrowed,
                                .chunks = l->chunks,
                                .n_chunks = l->n_chunks};
    l->entries = l->base = NULL;
    l->n = l->cap = l->front = 0;
    l->chunks = NULL;
    l->n_chunks = l->cap_chunks = 0;
    l->offset = offset;
    l->offset_term = offset_term;
    l->borrowed = 0;
}
