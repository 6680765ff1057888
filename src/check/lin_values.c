/* lin_values.c - interning of register values (canonical text -> small id).
 *
 * The search compares values as integers; this table gives every distinct
 * canonical text an id >= 1, in order of first appearance, and maps the
 * texts "null" and "nil" to LIN_NIL, the empty register, because histories
 * write the empty read as either.
 */
#include "check/lin.h"

#include <stdlib.h>
#include <string.h>

struct lin_values {
    char **texts; /* texts[id - 1] */
    size_t n;
    size_t cap;
    int32_t *slots; /* open addressing: id, 0 = empty */
    size_t n_slots;
};

static uint64_t lin_values_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

struct lin_values *lin_values_new(void)
{
    struct lin_values *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    v->n_slots = 64;
    v->slots = calloc(v->n_slots, sizeof *v->slots);
    if (!v->slots) {
        free(v);
        return NULL;
    }
    return v;
}

void lin_values_free(struct lin_values *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++)
        free(v->texts[i]);
    free(v->texts);
    free(v->slots);
    free(v);
}

static int lin_values_rehash(struct lin_values *v)
{
    size_t n = v->n_slots * 2;
    int32_t *s = calloc(n, sizeof *s);
    if (!s)
        return -1;
    for (size_t i = 0; i < v->n; i++) {
        size_t j = lin_values_hash(v->texts[i]) & (n - 1);
        while (s[j])
            j = (j + 1) & (n - 1);
        s[j] = (int32_t)(i + 1);
    }
    free(v->slots);
    v->slots = s;
    v->n_slots = n;
    return 0;
}

/* Returns the id of canonical_text, adding it if new; -1 when out of memory
 * or when the table is full (more than INT32_MAX - 1 values). */
int32_t lin_values_intern(struct lin_values *v, const char *text)
{
    if (!v || !text)
        return -1;
    if (strcmp(text, "null") == 0 || strcmp(text, "nil") == 0)
        return LIN_NIL;
    size_t j = lin_values_hash(text) & (v->n_slots - 1);
    while (v->slots[j]) {
        if (strcmp(v->texts[v->slots[j] - 1], text) == 0)
            return v->slots[j];
        j = (j + 1) & (v->n_slots - 1);
    }
    if (v->n >= INT32_MAX - 1)
        return -1;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        char **t = realloc(v->texts, cap * sizeof *t);
        if (!t)
            return -1;
        v->texts = t;
        v->cap = cap;
    }
    char *copy = strdup(text);
    if (!copy)
        return -1;
    v->texts[v->n++] = copy;
    int32_t id = (int32_t)v->n;
    v->slots[j] = id;
    if (v->n * 2 > v->n_slots && lin_values_rehash(v) != 0)
        return -1;
    return id;
}

const char *lin_values_text(const struct lin_values *v, int32_t id)
{
    if (id == LIN_NIL)
        return "nil";
    if (!v || id < 0 || (size_t)id > v->n)
        return "?";
    return v->texts[id - 1];
}

size_t lin_values_count(const struct lin_values *v)
{
    return v ? v->n : 0;
}
