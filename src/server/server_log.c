/* server_log.c - structured logs: one "ts=... level=... node=... event=..."
 * line per event on stderr, then the event's own key=value pairs. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server/server_internal.h"

static char server_log_node[PEER_MAX_NAME + 1] = "-";
static int server_log_level = SLOG_INFO;

void server_log_init(const char *node, int level)
{
    snprintf(server_log_node, sizeof server_log_node, "%s", node);
    server_log_level = level;
}

void server_log(int level, const char *event, const char *fmt, ...)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    if (level > server_log_level)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char line[1024];
    int n = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s node=%s event=%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, names[level], server_log_node, event);
    if (n > 0 && (size_t)n < sizeof line && fmt && *fmt) {
        va_list ap;
        va_start(ap, fmt);
        line[n++] = ' ';
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
        va_end(ap);
    }
    fprintf(stderr, "%s\n", line);
}
