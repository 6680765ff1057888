/* node_log.c - stderr logging with a level filter; one line per call,
 * prefixed with the node's name and the level, written with one write(). */
#include "node/node_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum node_log_level node_log_level = NODE_LOG_INFO;
static char node_name[32] = "-";

static const char *const level_names[] = {"error", "warn", "info", "debug", "trace"};

int node_log_parse_level(const char *name)
{
    for (int i = 0; i <= NODE_LOG_TRACE; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

void node_log_set_name(const char *name)
{
    snprintf(node_name, sizeof node_name, "%s", name);
}

void node_log_write(enum node_log_level lvl, const char *fmt, ...)
{
    char line[1024];
    int n = snprintf(line, sizeof line, "%s %s: ", node_name, level_names[lvl]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(2, line, len);
    (void)w; /* a log line that cannot be written is dropped */
}

bool node_log_limit_pass(struct node_log_limit *l, uint64_t now_ms, uint64_t *suppressed)
{
    if (l->next_ms != 0 && now_ms < l->next_ms) {
        l->suppressed++;
        return false;
    }
    *suppressed = l->suppressed;
    l->suppressed = 0;
    l->next_ms = now_ms + 1000;
    return true;
}
