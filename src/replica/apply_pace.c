/* apply_pace.c - the loop's decision while committed entries wait
 * (apply_pace.h). */
#include "replica/apply_pace.h"

struct apply_pace apply_pace(uint64_t applied, uint64_t commit, uint64_t deadline_ms,
                             uint64_t now_ms, uint64_t max_delay_ms)
{
    struct apply_pace p;
    p.keep_turning = applied < commit;
    p.delay_ms = deadline_ms > now_ms ? deadline_ms - now_ms : 0;
    if (p.delay_ms > max_delay_ms)
        p.delay_ms = max_delay_ms;
    return p;
}
