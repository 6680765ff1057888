/* lin_pairs.c - the (op, register value) pairs the search met at dead ends:
 * for the op finally blamed, its values are "the values possible just
 * before it" in the explanation.
 */
#include <stdlib.h>

#include "check/lin_internal.h"

uint64_t lin_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int lin_pairs_add(struct lin_pair_set *p, uint32_t op, int32_t value)
{
    uint64_t key = (((uint64_t)op << 32) | (uint32_t)value) + 1;
    if ((p->n_used + 1) * 2 > p->n_slots) {
        size_t n = p->n_slots ? p->n_slots * 2 : 256;
        uint64_t *s = calloc(n, sizeof *s);
        if (!s)
            return -1;
        for (size_t i = 0; i < p->n_slots; i++) {
            if (!p->slots[i])
                continue;
            size_t j = lin_mix64(p->slots[i]) & (n - 1);
            while (s[j])
                j = (j + 1) & (n - 1);
            s[j] = p->slots[i];
        }
        free(p->slots);
        p->slots = s;
        p->n_slots = n;
    }
    size_t j = lin_mix64(key) & (p->n_slots - 1);
    while (p->slots[j]) {
        if (p->slots[j] == key)
            return 0;
        j = (j + 1) & (p->n_slots - 1);
    }
    p->slots[j] = key;
    p->n_used++;
    return 0;
}

static int lin_cmp_value(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int lin_pairs_values_of(const struct lin_pair_set *p, uint32_t op, struct lin_report *r)
{
    r->possible = malloc((p->n_used ? p->n_used : 1) * sizeof *r->possible);
    if (!r->possible)
        return -1;
    r->n_possible = 0;
    for (size_t i = 0; i < p->n_slots; i++) {
        if (!p->slots[i])
            continue;
        uint64_t key = p->slots[i] - 1;
        if ((uint32_t)(key >> 32) == op)
            r->possible[r->n_possible++] = (int32_t)(uint32_t)key;
    }
    qsort(r->possible, r->n_possible, sizeof *r->possible, lin_cmp_value);
    return 0;
}

void lin_pairs_free(struct lin_pair_set *p)
{
    free(p->slots);
    p->slots = NULL;
    p->n_slots = p->n_used = 0;
}
