/* req_table.c - id -> operation map (req_table.h). */
#include "server/req_table.h"

#include <assert.h>
#include <stdlib.h>

static size_t req_table_hash(uint64_t id, size_t cap)
{
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdull;
    id ^= id >> 33;
    return (size_t)id & (cap - 1);
}

void req_table_free(struct req_table *t)
{
    free(t->slots);
    t->slots = NULL;
    t->cap = t->len = 0;
}

static int req_table_grow(struct req_table *t)
{
    size_t cap = t->cap ? t->cap * 2 : 64;
    struct req_table_slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->slots[i].id)
            continue;
        size_t j = req_table_hash(t->slots[i].id, cap);
        while (slots[j].id)
            j = (j + 1) & (cap - 1);
        slots[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return 0;
}

int req_table_put(struct req_table *t, uint64_t id, void *value)
{
    assert(id != 0);
    if ((t->len + 1) * 2 > t->cap && req_table_grow(t) != 0)
        return -1;
    size_t j = req_table_hash(id, t->cap);
    while (t->slots[j].id) {
        assert(t->slots[j].id != id);
        j = (j + 1) & (t->cap - 1);
    }
    t->slots[j].id = id;
    t->slots[j].value = value;
    t->len++;
    return 0;
}

static size_t req_table_find(const struct req_table *t, uint64_t id)
{
    if (!t->cap || !id)
        return SIZE_MAX;
    size_t j = req_table_hash(id, t->cap);
    while (t->slots[j].id) {
        if (t->slots[j].id == id)
            return j;
        j = (j + 1) & (t->cap - 1);
    }
    return SIZE_MAX;
}

void *req_table_get(const struct req_table *t, uint64_t id)
{
    size_t j = req_table_find(t, id);
    return j == SIZE_MAX ? NULL : t->slots[j].value;
}

void *req_table_take(struct req_table *t, uint64_t id)
{
    size_t j = req_table_find(t, id);
    if (j == SIZE_MAX)
        return NULL;
    void *v = t->slots[j].value;
    /* Backward-shift: pull later members of the probe run into the hole. */
    size_t hole = j;
    size_t k = (j + 1) & (t->cap - 1);
    while (t->slots[k].id) {
        size_t home = req_table_hash(t->slots[k].id, t->cap);
        /* Move k into hole if its home is not cyclically within (hole, k]. */
        if (((k - home) & (t->cap - 1)) >= ((k - hole) & (t->cap - 1))) {
            t->slots[hole] = t->slots[k];
            hole = k;
        }
        k = (k + 1) & (t->cap - 1);
    }
    t->slots[hole].id = 0;
    t->slots[hole].value = NULL;
    t->len--;
    return v;
}
