/* expires.c - the map's deadline table (expires.h). */
#include "kv/expires.h"

#include <stdlib.h>

#define EXPIRES_MIN_SLOTS 16

static size_t home(const struct kv_expires *x, const struct kv_map_entry *e)
{
    uint64_t p = (uint64_t)(uintptr_t)e;
    return (size_t)((p ^ p >> 29) * 0x9e3779b97f4a7c15ull >> 20) & x->mask;
}

static size_t find(const struct kv_expires *x, const struct kv_map_entry *e)
{
    size_t i = home(x, e);
    while (x->slots[i].entry && x->slots[i].entry != e)
        i = (i + 1) & x->mask;
    return i;
}

int64_t kv_expires_get(const struct kv_expires *x, const struct kv_map_entry *e)
{
    if (!x->slots)
        return 0;
    const struct kv_expires_slot *s = &x->slots[find(x, e)];
    return s->entry ? s->at : 0;
}

static int resize(struct kv_expires *x, size_t count)
{
    struct kv_expires_slot *slots = calloc(count, sizeof *slots);
    if (!slots)
        return -1;
    struct kv_expires old = *x;
    x->slots = slots;
    x->mask = count - 1;
    for (size_t i = 0; old.slots && i <= old.mask; i++)
        if (old.slots[i].entry)
            x->slots[find(x, old.slots[i].entry)] = old.slots[i];
    free(old.slots);
    return 0;
}

int kv_expires_set(struct kv_expires *x, const struct kv_map_entry *e, int64_t at)
{
    if (!x->slots && resize(x, EXPIRES_MIN_SLOTS) != 0)
        return -1;
    size_t i = find(x, e);
    if (!x->slots[i].entry) {
        if (x->size + 1 > (x->mask + 1) / 10 * 7) {
            if (resize(x, (x->mask + 1) * 2) != 0)
                return -1;
            i = find(x, e);
        }
        x->size++;
    }
    x->slots[i] = (struct kv_expires_slot){.entry = e, .at = at};
    return 0;
}

void kv_expires_del(struct kv_expires *x, const struct kv_map_entry *e)
{
    if (!x->slots)
        return;
    size_t i = find(x, e);
    if (!x->slots[i].entry)
        return;
    x->size--;
    size_t hole = i;
    for (size_t j = (i + 1) & x->mask; x->slots[j].entry; j = (j + 1) & x->mask) {
        size_t h = home(x, x->slots[j].entry);
        if (((j - h) & x->mask) >= ((j - hole) & x->mask)) {
            x->slots[hole] = x->slots[j];
            hole = j;
        }
    }
    x->slots[hole] = (struct kv_expires_slot){0};
}

void kv_expires_free(struct kv_expires *x)
{
    free(x->slots);
    *x = (struct kv_expires){0};
}

size_t kv_expires_bytes(const struct kv_expires *x)
{
    return x->slots ? (x->mask + 1) * sizeof *x->slots : 0;
}
