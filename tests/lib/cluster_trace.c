/* cluster_trace.c - capture of the cores' decision traces in the test
 * cluster, for tests that assert on what a node decided and why
 * (RAFTKV_TRACE=1 also prints every line to stderr).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_private.h"

void cluster_trace_cb(void *ctx, const char *line)
{
    struct cluster_node *nd = ctx;
    struct cluster *c = nd->c;
    if (c->trace_print)
        fprintf(stderr, "%s\n", line);
    if (!c->trace_on)
        return;
    if (c->n_trace == c->cap_trace) {
        size_t cap = c->cap_trace ? c->cap_trace * 2 : 256;
        char **l = realloc(c->trace_lines, cap * sizeof *l);
        if (!l)
            return;
        c->trace_lines = l;
        c->cap_trace = cap;
    }
    c->trace_lines[c->n_trace++] = strdup(line);
}

void cluster_trace_enable(struct cluster *c, bool on)
{
    c->trace_on = on;
}

void cluster_trace_clear(struct cluster *c)
{
    for (size_t i = 0; i < c->n_trace; i++)
        free(c->trace_lines[i]);
    c->n_trace = 0;
}

size_t cluster_trace_count(const struct cluster *c, const char *needle)
{
    size_t k = 0;
    for (size_t i = 0; i < c->n_trace; i++)
        if (c->trace_lines[i] && strstr(c->trace_lines[i], needle))
            k++;
    return k;
}

bool cluster_trace_contains(const struct cluster *c, const char *needle)
{
    return cluster_trace_count(c, needle) > 0;
}

long cluster_trace_find(const struct cluster *c, const char *needle, long from)
{
    for (size_t i = from < 0 ? 0 : (size_t)from; i < c->n_trace; i++)
        if (c->trace_lines[i] && strstr(c->trace_lines[i], needle))
            return (long)i;
    return -1;
}
