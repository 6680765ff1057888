/* ratelog.h - the decision behind rate-limited logging: per event name, at
 * most RATELOG_PER_SEC lines in each window of 1000 ms; the rest are counted,
 * and the count is reported once when the window ends (by the next line of
 * that event, or by ratelog_take_expired from a periodic timer). Pure: the
 * time is passed in, nothing is printed here (server_ratelog.c prints).
 *
 * Why 10 a second: enough to see the addresses of a handful of misbehaving
 * clients or peers every second, while a flood of any size costs at most 11
 * lines a second per event (about 2 KB/s), so it can neither fill a disk
 * nor hide other lines.
 */
#ifndef RAFTKV_RATELOG_H
#define RAFTKV_RATELOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RATELOG_PER_SEC 10
#define RATELOG_WINDOW_MS 1000
/* Distinct event names tracked; later names share the last slot. Events are
 * string literals of the code, a few dozen at most. */
#define RATELOG_MAX_EVENTS 32

struct ratelog_slot {
    const char *event; /* NULL: unused */
    uint64_t window_start_ms;
    uint32_t in_window;  /* lines let through in this window */
    uint64_t suppressed; /* lines dropped in this window */
};

struct ratelog {
    struct ratelog_slot slots[RATELOG_MAX_EVENTS];
    uint64_t suppressed_total; /* every line ever dropped */
};

/* Whether a line of `event` at now_ms may be written. When the event's
 * previous window has ended with lines dropped, *report is set to their
 * count (else 0): the caller writes that count first, then this line. */
bool ratelog_admit(struct ratelog *rl, const char *event, uint64_t now_ms, uint64_t *report);

/* One event whose window ended with lines dropped: returns true, sets
 * *event and *count and starts that event afresh; false when there is
 * none. Call until false (a timer does, so a flood that stopped still gets
 * its count reported). */
bool ratelog_take_expired(struct ratelog *rl, uint64_t now_ms, const char **event, uint64_t *count);

#endif
