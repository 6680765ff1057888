/* process_map.c - the process -> open op map of process_map.h (linear
 * probing, tombstones on removal, doubled when half full). */
#include "whirl/report/process_map.h"

#include <stdbool.h>
#include <stdlib.h>

int process_map_init(struct process_map *m)
{
    m->cap = 1024;
    m->used = 0;
    m->proc = calloc(m->cap, sizeof *m->proc);
    m->op = malloc(m->cap * sizeof *m->op);
    if (!m->proc || !m->op)
        return -1;
    for (size_t i = 0; i < m->cap; i++)
        m->op[i] = -1;
    return 0;
}

static size_t process_map_slot(const struct process_map *m, int64_t proc)
{
    uint64_t h = (uint64_t)proc * 0x9E3779B97F4A7C15ull;
    size_t i = (size_t)(h >> 20) & (m->cap - 1);
    size_t tomb = SIZE_MAX;
    while (m->op[i] != -1) {
        if (m->op[i] == -2) {
            if (tomb == SIZE_MAX)
                tomb = i;
        } else if (m->proc[i] == proc) {
            return i;
        }
        i = (i + 1) & (m->cap - 1);
    }
    return tomb != SIZE_MAX ? tomb : i;
}

long process_map_get(const struct process_map *m, int64_t proc)
{
    size_t i = process_map_slot(m, proc);
    return m->op[i] >= 0 && m->proc[i] == proc ? m->op[i] : -1;
}

static int process_map_rehash(struct process_map *m)
{
    struct process_map n = {0};
    n.cap = m->cap * 2;
    n.proc = calloc(n.cap, sizeof *n.proc);
    n.op = malloc(n.cap * sizeof *n.op);
    if (!n.proc || !n.op) {
        free(n.proc);
        free(n.op);
        return -1;
    }
    for (size_t i = 0; i < n.cap; i++)
        n.op[i] = -1;
    for (size_t i = 0; i < m->cap; i++)
        if (m->op[i] >= 0)
            process_map_put(&n, m->proc[i], m->op[i]);
    free(m->proc);
    free(m->op);
    *m = n;
    return 0;
}

int process_map_put(struct process_map *m, int64_t proc, long op)
{
    if ((m->used + 1) * 2 > m->cap && process_map_rehash(m) != 0)
        return -1;
    size_t i = process_map_slot(m, proc);
    bool present = m->op[i] >= 0 && m->proc[i] == proc;
    if (op < 0) {
        if (present)
            m->op[i] = -2;
        return 0;
    }
    if (!present && m->op[i] == -1)
        m->used++;
    m->proc[i] = proc;
    m->op[i] = op;
    return 0;
}

void process_map_free(struct process_map *m)
{
    free(m->proc);
    free(m->op);
}
