/* backup_progress.c - the leader's images as raftkv backup shows them
 * while it waits (backup_progress.h). */
#include "server/backup_progress.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

void backup_human_bytes(uint64_t n, char *buf, size_t cap)
{
    if (n >= (1ull << 30))
        snprintf(buf, cap, "%.1f GiB", (double)n / (double)(1ull << 30));
    else if (n >= (1u << 20))
        snprintf(buf, cap, "%.1f MiB", (double)n / (double)(1u << 20));
    else if (n >= 1024)
        snprintf(buf, cap, "%.1f KiB", (double)n / 1024.0);
    else
        snprintf(buf, cap, "%" PRIu64 " B", n);
}

void backup_progress_add(struct backup_progress *p, uint64_t id, uint64_t bytes)
{
    if (p->n == BACKUP_PROGRESS_MAX) {
        p->more++;
        return;
    }
    int i = p->n++;
    for (; i > 0 && p->id[i - 1] > id; i--) {
        p->id[i] = p->id[i - 1];
        p->bytes[i] = p->bytes[i - 1];
    }
    p->id[i] = id;
    p->bytes[i] = bytes;
}

/* The bytes p lists for image id, 0 if it lists none. */
static uint64_t bytes_of(const struct backup_progress *p, uint64_t id)
{
    for (int i = 0; i < p->n; i++)
        if (p->id[i] == id)
            return p->bytes[i];
    return 0;
}

bool backup_progress_grew(const struct backup_progress *before, const struct backup_progress *now)
{
    for (int i = 0; i < now->n; i++)
        if (now->bytes[i] > bytes_of(before, now->id[i]))
            return true;
    return false;
}

/* Appends to buf (at *at, bounded by cap). */
__attribute__((format(printf, 4, 5))) static void put(char *buf, size_t cap, size_t *at, const char *fmt, ...)
{
    if (*at >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf + *at, cap - *at, fmt, ap);
    va_end(ap);
    if (k > 0)
        *at += (size_t)k;
}

void backup_progress_line(const struct backup_progress *last, const struct backup_progress *now, uint64_t ms,
                          char *buf, size_t cap)
{
    size_t at = 0;
    bool one = now->n == 1 && !now->more;
    buf[0] = '\0';
    if (now->n == 0)
        return;
    if (one)
        put(buf, cap, &at, "the leader is writing the image: ");
    else
        put(buf, cap, &at, "the leader is writing %d images: ", now->n + now->more);
    for (int i = 0; i < now->n; i++) {
        char h[32], rate[32];
        uint64_t was = bytes_of(last, now->id[i]);
        uint64_t grew = now->bytes[i] > was ? now->bytes[i] - was : 0;
        backup_human_bytes(now->bytes[i], h, sizeof h);
        backup_human_bytes(ms ? (uint64_t)((double)grew * 1000.0 / (double)ms) : 0, rate, sizeof rate);
        if (!one)
            put(buf, cap, &at, "%sid %" PRIu64 " ", i ? "; " : "", now->id[i]);
        put(buf, cap, &at, "%s so far, %s/s", h, rate);
    }
    if (now->more)
        put(buf, cap, &at, "; %d more", now->more);
}

void backup_progress_sizes(const struct backup_progress *p, char *buf, size_t cap)
{
    size_t at = 0;
    char h[32];
    buf[0] = '\0';
    if (p->n <= 1 && !p->more) {
        backup_human_bytes(p->n ? p->bytes[0] : 0, h, sizeof h);
        put(buf, cap, &at, "the image at %s", h);
        return;
    }
    put(buf, cap, &at, "the images at ");
    for (int i = 0; i < p->n; i++) {
        backup_human_bytes(p->bytes[i], h, sizeof h);
        put(buf, cap, &at, "%sid %" PRIu64 " %s", i ? ", " : "", p->id[i], h);
    }
    if (p->more)
        put(buf, cap, &at, ", %d more", p->more);
}
