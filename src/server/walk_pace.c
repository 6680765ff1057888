/* walk_pace.c - the length of a snapshot walk's slices (walk_pace.h). */
#include "server/walk_pace.h"

/* Factors in 1/256ths, so the rule needs no floating point. */
#define ONE 256u

uint64_t walk_pace_slice_ns(const struct walk_pace *p, uint64_t elapsed_ns, uint64_t written,
                            uint64_t total, size_t kept_bytes, size_t map_bytes)
{
    uint64_t factor = ONE;
    if (p->target_ns > 0 && written > 0 && written >= total / 64) {
        /* projected / target = elapsed x total / (written x target) */
        long double f = (long double)elapsed_ns * (long double)total * ONE /
                        ((long double)written * (long double)p->target_ns);
        if (f > (long double)factor)
            factor = f > 1e9L ? (uint64_t)1e9 : (uint64_t)f;
    }
    if (map_bytes > 0) {
        long double f = ONE + (long double)kept_bytes * 16 * ONE / (long double)map_bytes;
        if (f > (long double)factor)
            factor = f > 1e9L ? (uint64_t)1e9 : (uint64_t)f;
    }
    long double ns = (long double)p->base_ns * factor / ONE;
    if (ns > (long double)p->max_ns)
        return p->max_ns > p->base_ns ? p->max_ns : p->base_ns;
    return ns < (long double)p->base_ns ? p->base_ns : (uint64_t)ns;
}
