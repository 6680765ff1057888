/* lin_states.c - interning of a model's composite states: a pair of 64-bit
 * words gets one id >= 1, so that the search compares states as integers
 * (lin.h, struct lin_model). (0, 0) is LIN_NIL, the initial state.
 */
#include "check/lin.h"

#include <stdlib.h>

#include "check/lin_internal.h"

struct lin_states {
    int64_t *pairs; /* pairs[2 * (id - 1)], pairs[2 * (id - 1) + 1] */
    size_t n;
    size_t cap;
    int32_t *slots; /* open addressing: id, 0 = empty */
    size_t n_slots;
};

static uint64_t lin_states_hash(int64_t x, int64_t y)
{
    return lin_mix64((uint64_t)x * 0x9e3779b97f4a7c15ULL ^ lin_mix64((uint64_t)y + 0x632be59bd9b4e019ULL));
}

struct lin_states *lin_states_new(void)
{
    struct lin_states *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->n_slots = 64;
    s->slots = calloc(s->n_slots, sizeof *s->slots);
    if (!s->slots) {
        free(s);
        return NULL;
    }
    return s;
}

void lin_states_free(struct lin_states *s)
{
    if (!s)
        return;
    free(s->pairs);
    free(s->slots);
    free(s);
}

static int lin_states_rehash(struct lin_states *s)
{
    size_t n = s->n_slots * 2;
    int32_t *slots = calloc(n, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < s->n; i++) {
        size_t j = lin_states_hash(s->pairs[2 * i], s->pairs[2 * i + 1]) & (n - 1);
        while (slots[j])
            j = (j + 1) & (n - 1);
        slots[j] = (int32_t)(i + 1);
    }
    free(s->slots);
    s->slots = slots;
    s->n_slots = n;
    return 0;
}

int32_t lin_states_intern(struct lin_states *s, int64_t x, int64_t y)
{
    if (x == 0 && y == 0)
        return LIN_NIL;
    size_t mask = s->n_slots - 1, j = lin_states_hash(x, y) & mask;
    while (s->slots[j]) {
        const int64_t *p = &s->pairs[2 * (size_t)(s->slots[j] - 1)];
        if (p[0] == x && p[1] == y)
            return s->slots[j];
        j = (j + 1) & mask;
    }
    if (s->n >= INT32_MAX - 1)
        return -1;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        int64_t *p = realloc(s->pairs, 2 * cap * sizeof *p);
        if (!p)
            return -1;
        s->pairs = p;
        s->cap = cap;
    }
    s->pairs[2 * s->n] = x;
    s->pairs[2 * s->n + 1] = y;
    int32_t id = (int32_t)++s->n;
    s->slots[j] = id;
    if (s->n * 2 > s->n_slots && lin_states_rehash(s) != 0)
        return -1;
    return id;
}

void lin_states_get(const struct lin_states *s, int32_t id, int64_t *x, int64_t *y)
{
    *x = *y = 0;
    if (id <= 0 || !s || (size_t)id > s->n)
        return;
    *x = s->pairs[2 * (size_t)(id - 1)];
    *y = s->pairs[2 * (size_t)(id - 1) + 1];
}
