/* ratelog.c - per-event line budgets for rate-limited logging (ratelog.h). */
#include "server/ratelog.h"

#include <string.h>

static struct ratelog_slot *ratelog_slot(struct ratelog *rl, const char *event)
{
    for (size_t i = 0; i < RATELOG_MAX_EVENTS; i++) {
        struct ratelog_slot *sl = &rl->slots[i];
        if (!sl->event) {
            sl->event = event;
            return sl;
        }
        if (sl->event == event || strcmp(sl->event, event) == 0)
            return sl;
    }
    return &rl->slots[RATELOG_MAX_EVENTS - 1];
}

static bool ratelog_window_over(const struct ratelog_slot *sl, uint64_t now_ms)
{
    return now_ms - sl->window_start_ms >= RATELOG_WINDOW_MS || now_ms < sl->window_start_ms;
}

bool ratelog_admit(struct ratelog *rl, const char *event, uint64_t now_ms, uint64_t *report)
{
    struct ratelog_slot *sl = ratelog_slot(rl, event);
    *report = 0;
    if (sl->in_window == 0 && sl->suppressed == 0)
        sl->window_start_ms = now_ms; /* first line, or first since a report */
    else if (ratelog_window_over(sl, now_ms)) {
        *report = sl->suppressed;
        sl->suppressed = 0;
        sl->in_window = 0;
        sl->window_start_ms = now_ms;
    }
    if (sl->in_window < RATELOG_PER_SEC) {
        sl->in_window++;
        return true;
    }
    sl->suppressed++;
    rl->suppressed_total++;
    return false;
}

bool ratelog_take_expired(struct ratelog *rl, uint64_t now_ms, const char **event, uint64_t *count)
{
    for (size_t i = 0; i < RATELOG_MAX_EVENTS; i++) {
        struct ratelog_slot *sl = &rl->slots[i];
        if (sl->event && sl->suppressed > 0 && ratelog_window_over(sl, now_ms)) {
            *event = sl->event;
            *count = sl->suppressed;
            sl->suppressed = 0;
            sl->in_window = 0;
            sl->window_start_ms = now_ms;
            return true;
        }
    }
    return false;
}
