/* server_log.c - structured logs: one "ts=... level=... node=... event=..."
 * line per event on stderr, then the event's own key=value pairs; and the
 * rate-limited variant every refusal uses (budgets in ratelog.h). With
 * --log-file, stderr is that file, opened again on SIGHUP (logrotate). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server/ratelog.h"
#include "server/server_internal.h"

static char server_log_node[PEER_MAX_NAME + 1] = "-";
static int server_log_level = SLOG_INFO;
static FILE *server_log_out; /* NULL: stderr */
static uint64_t (*server_log_clock)(void);
static struct ratelog server_log_budget;
static char server_log_path[PATH_MAX]; /* --log-file; "" for none */

int server_log_open_file(const char *path)
{
    if (!path || !*path || strlen(path) >= sizeof server_log_path) {
        errno = EINVAL;
        return -1;
    }
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    fflush(stderr);
    /* dup2 replaces fd 2 at once: no line is written to neither file. */
    int rc = dup2(fd, STDERR_FILENO);
    int saved = errno;
    close(fd);
    if (rc < 0) {
        errno = saved;
        return -1;
    }
    if (server_log_path != path)
        snprintf(server_log_path, sizeof server_log_path, "%s", path);
    return 0;
}

int server_log_reopen(void)
{
    if (!server_log_path[0])
        return 0;
    return server_log_open_file(server_log_path);
}

void server_log_init(const char *node, int level)
{
    snprintf(server_log_node, sizeof server_log_node, "%s", node);
    server_log_level = level;
}

void server_log_set_output(FILE *f, uint64_t (*clock_ms)(void))
{
    server_log_out = f;
    server_log_clock = clock_ms;
    memset(&server_log_budget, 0, sizeof server_log_budget);
}

static void server_vlog(int level, const char *event, const char *fmt, va_list ap)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char line[1024];
    int n = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s node=%s event=%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, names[level], server_log_node, event);
    if (n > 0 && (size_t)n < sizeof line && fmt && *fmt) {
        line[n++] = ' ';
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    }
    fprintf(server_log_out ? server_log_out : stderr, "%s\n", line);
}

void server_log(int level, const char *event, const char *fmt, ...)
{
    if (level > server_log_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    server_vlog(level, event, fmt, ap);
    va_end(ap);
}

static uint64_t server_log_now_ms(void)
{
    if (server_log_clock)
        return server_log_clock();
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Always at warn: lines were dropped, whatever their own level. */
static void server_log_suppressed(const char *event, uint64_t count)
{
    server_log(SLOG_WARN, "log_suppressed", "of=%s suppressed=%llu window_ms=%d", event, (unsigned long long)count,
               RATELOG_WINDOW_MS);
}

void server_log_limited(int level, const char *event, const char *fmt, ...)
{
    if (level > server_log_level)
        return;
    uint64_t report = 0;
    bool pass = ratelog_admit(&server_log_budget, event, server_log_now_ms(), &report);
    if (report)
        server_log_suppressed(event, report);
    if (!pass)
        return;
    va_list ap;
    va_start(ap, fmt);
    server_vlog(level, event, fmt, ap);
    va_end(ap);
}

void server_log_limited_flush(void)
{
    const char *event;
    uint64_t count;
    uint64_t now = server_log_now_ms();
    while (ratelog_take_expired(&server_log_budget, now, &event, &count))
        server_log_suppressed(event, count);
}

uint64_t server_log_suppressed_total(void)
{
    return server_log_budget.suppressed_total;
}

const char *server_addr_text(const uv_tcp_t *tcp, char *buf, size_t cap)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "";
    snprintf(buf, cap, "?");
    if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) != 0)
        return buf;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        snprintf(buf, cap, "%s:%u", host, (unsigned)ntohs(a->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        snprintf(buf, cap, "[%s]:%u", host, (unsigned)ntohs(a->sin6_port));
    }
    return buf;
}
