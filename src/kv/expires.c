/* expires.c - the map's deadline table (expires.h), grown and shrunk
 * incrementally. */
#include "kv/expires.h"

#include <stdbool.h>
#include <stdlib.h>

#include "kv/map.h"

#define EXPIRES_MIN_SLOTS 16
/* As the map's (map.c): grow past 70%, or past 90% while a snapshot child
 * runs; shrink by 4 below 1/8. */
#define FULL(x) ((x)->size + 1 > ((x)->mask + 1) / 10 * 7)
#define HARD(x) ((x)->size + 1 > ((x)->mask + 1) / 10 * 9)
#define RESUME(x) ((x)->size + 1 > ((x)->mask + 1) / 10 * 6)
#define SPARSE(x) ((x)->size < ((x)->mask + 1) / 8 && (x)->mask + 1 > EXPIRES_MIN_SLOTS)

static size_t home(size_t mask, const struct kv_map_entry *e)
{
    uint64_t p = (uint64_t)(uintptr_t)e;
    return (size_t)((p ^ p >> 29) * 0x9e3779b97f4a7c15ull >> 20) & mask;
}

/* The slot holding e on the run from slot i, or the empty slot ending it. */
static size_t probe(const struct kv_expires_slot *slots, size_t mask, size_t i,
                    const struct kv_map_entry *e)
{
    while (slots[i].entry && slots[i].entry != e)
        i = (i + 1) & mask;
    return i;
}

static size_t find(const struct kv_expires *x, const struct kv_map_entry *e)
{
    return probe(x->slots, x->mask, home(x->mask, e), e);
}

/* In the old table: the moved stretch is empty, and a run whose home lies
 * in it now starts where the stretch ends (map.h). */
static size_t old_find(const struct kv_expires *x, const struct kv_map_entry *e)
{
    size_t i = home(x->old_mask, e);
    if (((i - x->old_start) & x->old_mask) < x->old_done)
        i = (x->old_start + x->old_done) & x->old_mask;
    return probe(x->old, x->old_mask, i, e);
}

int64_t kv_expires_get(const struct kv_expires *x, const struct kv_map_entry *e)
{
    if (!x->slots)
        return 0;
    const struct kv_expires_slot *s = &x->slots[find(x, e)];
    if (!s->entry && x->old)
        s = &x->old[old_find(x, e)];
    return s->entry ? s->at : 0;
}

/* Move deadlines of the old table until max_moved have moved or max_slots
 * slots were visited; the number moved. */
static size_t migrate(struct kv_expires *x, size_t max_moved, size_t max_slots)
{
    size_t moved = 0;
    for (size_t n = 0; x->old && n < max_slots && moved < max_moved; n++) {
        size_t i = (x->old_start + x->old_done) & x->old_mask;
        if (x->old[i].entry) {
            x->slots[find(x, x->old[i].entry)] = x->old[i];
            x->old[i] = (struct kv_expires_slot){0};
            x->old_size--;
            moved++;
        }
        x->old_done++;
        if (x->old_size == 0) {
            free(x->old);
            x->old = NULL;
        }
    }
    x->moved += moved;
    return moved;
}

/* Paused while a snapshot child runs and the new table is below 60%. */
static bool paused(const struct kv_expires *x)
{
    return kv_map_child_running() && !RESUME(x);
}

static void op_step(struct kv_expires *x)
{
    if (x->old && !paused(x))
        migrate(x, KV_EXPIRES_STEP_SLOTS, KV_EXPIRES_STEP_SLOTS * KV_MAP_SCAN_PER_ENTRY);
}

/* A new table of count slots; the current one, if it holds deadlines,
 * becomes the old table, moved from one of its empty slots on (a table
 * at most 90% full has one within a few slots of slot 0). An empty
 * table of the least size goes altogether. */
static int grow(struct kv_expires *x, size_t count)
{
    if (x->size == 0 && count <= EXPIRES_MIN_SLOTS && x->slots) {
        free(x->slots);
        x->slots = NULL;
        x->mask = 0;
        x->migrations++;
        return 0;
    }
    struct kv_expires_slot *slots = calloc(count, sizeof *slots);
    if (!slots)
        return -1;
    if (x->slots && x->size > 0) {
        x->old = x->slots;
        x->old_mask = x->mask;
        x->old_size = x->size;
        x->old_done = 0;
        size_t p = 0;
        while (x->old[p].entry)
            p++;
        x->old_start = p;
    } else {
        free(x->slots);
    }
    x->slots = slots;
    x->mask = count - 1;
    x->migrations++;
    return 0;
}

static size_t shrunk_size(const struct kv_expires *x)
{
    size_t count = x->size == 0 ? EXPIRES_MIN_SLOTS : (x->mask + 1) / 4;
    return count < EXPIRES_MIN_SLOTS ? EXPIRES_MIN_SLOTS : count;
}

/* A growth postponed while a child ran, or a shrink (not migrating). */
static bool due(const struct kv_expires *x)
{
    return x->slots && !x->old && !kv_map_child_running() &&
           (x->size > (x->mask + 1) / 10 * 7 || SPARSE(x) || x->size == 0);
}

bool kv_expires_busy(const struct kv_expires *x)
{
    return (x->old && !paused(x)) || due(x);
}

size_t kv_expires_step(struct kv_expires *x, size_t max_slots)
{
    if (due(x))
        (void)grow(x, x->size > (x->mask + 1) / 10 * 7 ? (x->mask + 1) * 2 : shrunk_size(x));
    if (!x->old || paused(x))
        return 0;
    return migrate(x, max_slots, max_slots > SIZE_MAX / KV_MAP_SCAN_PER_ENTRY
                                     ? SIZE_MAX
                                     : max_slots * KV_MAP_SCAN_PER_ENTRY);
}

int kv_expires_set(struct kv_expires *x, const struct kv_map_entry *e, int64_t at)
{
    if (!x->slots && grow(x, EXPIRES_MIN_SLOTS) != 0)
        return -1;
    bool stepped = x->old != NULL; /* this call's share of the move is taken */
    if (x->old) {
        op_step(x);
        if (x->old) {
            size_t j = old_find(x, e);
            if (x->old[j].entry) {
                x->old[j].at = at;
                return 0;
            }
        }
    }
    size_t i = find(x, e);
    if (!x->slots[i].entry) {
        /* Not while migrating: the new table has room for every deadline
         * moved and the new ones set meanwhile (map.h's count). Should it
         * ever reach the hard limit, the move finishes first. */
        if (x->old ? HARD(x) : (FULL(x) && !(kv_map_child_running() && !HARD(x)))) {
            migrate(x, SIZE_MAX, SIZE_MAX);
            if (grow(x, (x->mask + 1) * 2) != 0)
                return -1;
            if (!stepped)
                op_step(x);
            i = find(x, e);
        }
        x->size++;
    }
    x->slots[i] = (struct kv_expires_slot){.entry = e, .at = at};
    return 0;
}

/* Empty slot i of a table: pull later members of its run back over the
 * hole, each only if its home does not lie cyclically in (hole, j]. */
static void shift_out(struct kv_expires_slot *slots, size_t mask, size_t i)
{
    size_t hole = i;
    for (size_t j = (i + 1) & mask; slots[j].entry; j = (j + 1) & mask) {
        size_t h = home(mask, slots[j].entry);
        if (((j - h) & mask) >= ((j - hole) & mask)) {
            slots[hole] = slots[j];
            hole = j;
        }
    }
    slots[hole] = (struct kv_expires_slot){0};
}

void kv_expires_del(struct kv_expires *x, const struct kv_map_entry *e)
{
    if (!x->slots)
        return;
    op_step(x);
    size_t i = find(x, e);
    if (x->slots[i].entry) {
        shift_out(x->slots, x->mask, i);
        x->size--;
        /* Mass expiry or deletion: the table shrinks, a step at a time. */
        if (!x->old && (SPARSE(x) || x->size == 0) && !kv_map_child_running())
            (void)grow(x, shrunk_size(x));
        return;
    }
    if (!x->old)
        return;
    i = old_find(x, e);
    if (!x->old[i].entry)
        return;
    /* The run after i ends before the moved stretch (empty, and begun at
     * an empty slot), so the shift never carries an entry into it. */
    shift_out(x->old, x->old_mask, i);
    x->size--;
    if (--x->old_size == 0) {
        free(x->old);
        x->old = NULL;
    }
}

void kv_expires_free(struct kv_expires *x)
{
    free(x->slots);
    free(x->old);
    *x = (struct kv_expires){0};
}

size_t kv_expires_bytes(const struct kv_expires *x)
{
    return (x->slots ? (x->mask + 1) * sizeof *x->slots : 0) +
           (x->old ? (x->old_mask + 1) * sizeof *x->old : 0);
}
