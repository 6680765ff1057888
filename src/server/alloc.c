/* alloc.c - jemalloc's counters and purge through mallctl, found weakly so
 * that builds without jemalloc link (alloc.h). */
#include "server/alloc.h"

#include <stdint.h>
#include <sys/types.h>
#include <stdio.h>

extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
    __attribute__((weak));

bool alloc_stats(struct alloc_stats *out)
{
    if (!mallctl)
        return false;
    uint64_t epoch = 1;
    size_t len = sizeof epoch;
    if (mallctl("epoch", &epoch, &len, &epoch, len) != 0)
        return false;
    struct {
        const char *name;
        size_t *to;
    } f[] = {{"stats.allocated", &out->allocated},
             {"stats.active", &out->active},
             {"stats.resident", &out->resident},
             {"stats.retained", &out->retained}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        size_t n = sizeof *f[i].to;
        if (mallctl(f[i].name, f[i].to, &n, NULL, 0) != 0)
            return false;
    }
    return true;
}

void alloc_release(void)
{
    if (!mallctl)
        return;
    char name[64];
    /* MALLCTL_ARENAS_ALL: every arena. */
    snprintf(name, sizeof name, "arena.%u.purge", 4096u);
    mallctl(name, NULL, NULL, NULL, 0);
}

void alloc_background_release(void)
{
    if (!mallctl)
        return;
    bool on = true;
    mallctl("background_thread", NULL, NULL, &on, sizeof on);
    /* Freed pages go back after 1 s rather than jemalloc's 10: a log
     * compaction after each snapshot frees tens of MB at once, which
     * otherwise stay resident that long (a fifth of a loaded member's RSS
     * right after a load). Every arena, and those made later. */
    ssize_t ms = ALLOC_DIRTY_DECAY_MS;
    mallctl("arenas.dirty_decay_ms", NULL, NULL, &ms, sizeof ms);
    unsigned n = 0;
    size_t len = sizeof n;
    if (mallctl("arenas.narenas", &n, &len, NULL, 0) != 0)
        return;
    for (unsigned i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "arena.%u.dirty_decay_ms", i);
        mallctl(name, NULL, NULL, &ms, sizeof ms); /* an arena not made yet: refused, fine */
    }
}
