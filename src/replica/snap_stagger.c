/* snap_stagger.c - the members' turns for periodic snapshots
 * (snap_stagger.h). */
#include "replica/snap_stagger.h"

uint64_t snap_stagger_quantum(uint64_t interval, unsigned members)
{
    uint64_t per = members ? interval / members : interval;
    uint64_t q = 1;
    while (q <= per / 2)
        q *= 2;
    return q;
}

uint64_t snap_stagger_start(uint64_t due, uint64_t interval, unsigned slot, unsigned members)
{
    if (members < 2)
        return due;
    slot %= members;
    uint64_t q = snap_stagger_quantum(interval, members);
    uint64_t w = due / q;
    if (w % members == slot && due - w * q < q / 2 + (q == 1))
        return due; /* the first half of its own window */
    uint64_t ahead = (slot + members - w % members) % members;
    if (ahead == 0)
        ahead = members; /* its own window, past the half: the next one */
    return (w + ahead) * q;
}
