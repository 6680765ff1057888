/* stats.h - the stats check of a `whirl test` run, after Jepsen's stats
 * checker: client completions counted by function (read, write, cas) and
 * outcome, and the rule that a run in which some function was invoked but
 * never completed ok is invalid (nothing was shown to work). A cas that
 * fails (error 20 or 22) is a fail, not an ok.
 */
#ifndef RAFTKV_WHIRL_STATS_H
#define RAFTKV_WHIRL_STATS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "whirl/history.h"

#define WHIRL_STATS_F 3 /* read, write, cas */

struct whirl_stats {
    uint64_t n[WHIRL_STATS_F][4]; /* [f][type]: completions; the invoke column stays 0 */
    bool valid;                   /* every function that was invoked has an ok */
    char reason[512];             /* when !valid: which functions never succeeded */
};

/* Counts the client completions of events[0..n) (nemesis events and
 * invocations are skipped) and judges them. */
void whirl_stats_compute(const struct whirl_event *events, size_t n, struct whirl_stats *s);

/* {"valid", "reason" (null when valid), "count", "ok", "fail", "info",
 *  "read"|"write"|"cas": {"count", "ok", "fail", "info", "valid"}}; a
 * function never invoked is left out, as in Jepsen. */
json_t *whirl_stats_json(const struct whirl_stats *s);

#endif
