/* expires.c - the map's deadline table (expires.h), grown incrementally. */
#include "kv/expires.h"

#include <stdlib.h>

#define EXPIRES_MIN_SLOTS 16

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

size_t kv_expires_step(struct kv_expires *x, size_t max_slots)
{
    size_t moved = 0;
    for (size_t n = 0; x->old && n < max_slots; n++) {
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

/* A new table of count slots; the current one, if it holds deadlines,
 * becomes the old table, moved from one of its empty slots on (a table
 * at most 70% full has one within a few slots of slot 0). */
static int grow(struct kv_expires *x, size_t count)
{
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
    return 0;
}

int kv_expires_set(struct kv_expires *x, const struct kv_map_entry *e, int64_t at)
{
    if (!x->slots && grow(x, EXPIRES_MIN_SLOTS) != 0)
        return -1;
    if (x->old) {
        kv_expires_step(x, KV_EXPIRES_STEP_SLOTS);
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
        if (x->size + 1 > (x->mask + 1) / 10 * 7) {
            /* Not while growing: the new table is half full when growth
             * starts, and the old one is empty after a quarter of its
             * slots' worth of new deadlines. Should it ever be, the
             * growth finishes first. */
            if (x->old)
                kv_expires_step(x, SIZE_MAX);
            if (grow(x, (x->mask + 1) * 2) != 0)
                return -1;
            kv_expires_step(x, KV_EXPIRES_STEP_SLOTS);
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
    if (x->old)
        kv_expires_step(x, KV_EXPIRES_STEP_SLOTS);
    size_t i = find(x, e);
    if (x->slots[i].entry) {
        shift_out(x->slots, x->mask, i);
        x->size--;
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
