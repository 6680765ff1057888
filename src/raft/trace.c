/* trace.c - the core's decision trace: one "condition -> action" line per
 * decision, prefixed with the time and the node, handed to config.trace.
 *
 * Tests compare these lines; drivers send them to stderr at a debug level.
 */
#include <stdarg.h>
#include <stdio.h>

#include "raft/raft_private.h"

void trace_decision(struct raft *r, const char *fmt, ...)
{
    char line[512];
    int n = snprintf(line, sizeof line, "[t=%llu] n%d ", (unsigned long long)r->now, r->cfg.id);
    if (n < 0 || (size_t)n >= sizeof line)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    r->cfg.trace(r->cfg.trace_ctx, line);
}
