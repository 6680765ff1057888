/* lin_memo.c - the memo of configurations seen by the search (lin_memo.h). */
#include "check/lin_memo.h"

#include <stdlib.h>
#include <string.h>

struct lin_memo_slot {
    uint64_t hash;
    int32_t value;
    uint32_t lo;
    uint32_t n_req;
    uint32_t n_words;
    uint64_t at; /* arena offset + 1; 0 is an empty slot */
};

#define LIN_MEMO_MIN_SLOTS 16
#define LIN_MEMO_MAX_FIRST_SLOTS 4096

int lin_memo_init(struct lin_memo *m, size_t expected)
{
    memset(m, 0, sizeof *m);
    /* Most keys of a whirl run hold a few dozen ops: start small. */
    m->n_slots = LIN_MEMO_MIN_SLOTS;
    while (m->n_slots < 4 * expected && m->n_slots < LIN_MEMO_MAX_FIRST_SLOTS)
        m->n_slots *= 2;
    m->slots = calloc(m->n_slots, sizeof *m->slots);
    m->arena_cap = m->n_slots;
    m->arena = malloc(m->arena_cap * sizeof *m->arena);
    if (!m->slots || !m->arena) {
        lin_memo_free(m);
        return -1;
    }
    return 0;
}

void lin_memo_free(struct lin_memo *m)
{
    free(m->slots);
    free(m->arena);
    memset(m, 0, sizeof *m);
}

size_t lin_memo_bytes(const struct lin_memo *m)
{
    return m->n_slots * sizeof *m->slots + m->arena_cap * sizeof *m->arena;
}

static bool lin_memo_slot_is(const struct lin_memo *m, const struct lin_memo_slot *s, const struct lin_memo_key *k)
{
    return s->hash == k->hash && s->value == k->value && s->lo == k->lo && s->n_req == k->n_req &&
           s->n_words == k->n_words && memcmp(m->arena + (s->at - 1), k->words, k->n_words * sizeof *k->words) == 0;
}

bool lin_memo_contains(const struct lin_memo *m, const struct lin_memo_key *k)
{
    size_t mask = m->n_slots - 1;
    for (size_t j = k->hash & mask; m->slots[j].at; j = (j + 1) & mask)
        if (lin_memo_slot_is(m, &m->slots[j], k))
            return true;
    return false;
}

static int lin_memo_grow_slots(struct lin_memo *m)
{
    size_t n = m->n_slots * 2;
    struct lin_memo_slot *s = calloc(n, sizeof *s);
    if (!s)
        return -1;
    for (size_t i = 0; i < m->n_slots; i++) {
        if (!m->slots[i].at)
            continue;
        size_t j = m->slots[i].hash & (n - 1);
        while (s[j].at)
            j = (j + 1) & (n - 1);
        s[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = s;
    m->n_slots = n;
    return 0;
}

int lin_memo_insert(struct lin_memo *m, const struct lin_memo_key *k)
{
    size_t mask = m->n_slots - 1;
    size_t j = k->hash & mask;
    for (; m->slots[j].at; j = (j + 1) & mask)
        if (lin_memo_slot_is(m, &m->slots[j], k))
            return 0;
    if (m->arena_len + k->n_words > m->arena_cap) {
        size_t cap = m->arena_cap * 2;
        while (cap < m->arena_len + k->n_words)
            cap *= 2;
        uint64_t *a = realloc(m->arena, cap * sizeof *a);
        if (!a)
            return -1;
        m->arena = a;
        m->arena_cap = cap;
    }
    memcpy(m->arena + m->arena_len, k->words, k->n_words * sizeof *k->words);
    m->slots[j] = (struct lin_memo_slot){.hash = k->hash, .value = k->value, .lo = k->lo, .n_req = k->n_req,
                                         .n_words = k->n_words, .at = m->arena_len + 1};
    m->arena_len += k->n_words;
    m->n_used++;
    if (m->n_used * 2 > m->n_slots && lin_memo_grow_slots(m) != 0)
        return -1;
    return 1;
}
