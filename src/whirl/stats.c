/* stats.c - counting a run's completions by function and outcome, and the
 * stats verdict (see stats.h). */
#include "whirl/stats.h"

#include <stdio.h>
#include <string.h>

static const char *const stats_f_names[WHIRL_STATS_F] = {"read", "write", "cas"};

static uint64_t f_count(const struct whirl_stats *s, int f)
{
    return s->n[f][WHIRL_EV_OK] + s->n[f][WHIRL_EV_FAIL] + s->n[f][WHIRL_EV_INFO];
}

void whirl_stats_compute(const struct whirl_event *events, size_t n, struct whirl_stats *s)
{
    memset(s, 0, sizeof *s);
    for (size_t i = 0; i < n; i++) {
        const struct whirl_event *e = &events[i];
        if (e->process == WHIRL_PROCESS_NEMESIS || e->f >= WHIRL_STATS_F || e->type == WHIRL_EV_INVOKE ||
            e->type > WHIRL_EV_INFO)
            continue;
        s->n[e->f][e->type]++;
    }
    s->valid = true;
    size_t len = 0;
    for (int f = 0; f < WHIRL_STATS_F; f++) {
        if (f_count(s, f) == 0 || s->n[f][WHIRL_EV_OK] > 0)
            continue;
        s->valid = false;
        int w = snprintf(s->reason + len, sizeof s->reason - len, "%sno %s ever succeeded (0 ok, %llu fail, %llu info)",
                         len ? "; " : "", stats_f_names[f], (unsigned long long)s->n[f][WHIRL_EV_FAIL],
                         (unsigned long long)s->n[f][WHIRL_EV_INFO]);
        if (w > 0)
            len += (size_t)w < sizeof s->reason - len ? (size_t)w : sizeof s->reason - len - 1;
    }
}

json_t *whirl_stats_json(const struct whirl_stats *s)
{
    uint64_t tot[4] = {0, 0, 0, 0};
    json_t *j = json_object();
    if (!j)
        return NULL;
    json_object_set_new(j, "valid", json_boolean(s->valid));
    json_object_set_new(j, "reason", s->valid ? json_null() : json_string(s->reason));
    for (int f = 0; f < WHIRL_STATS_F; f++)
        for (int t = WHIRL_EV_OK; t <= WHIRL_EV_INFO; t++)
            tot[t] += s->n[f][t];
    uint64_t count = tot[WHIRL_EV_OK] + tot[WHIRL_EV_FAIL] + tot[WHIRL_EV_INFO];
    json_object_set_new(j, "count", json_integer((json_int_t)count));
    json_object_set_new(j, "ok", json_integer((json_int_t)tot[WHIRL_EV_OK]));
    json_object_set_new(j, "fail", json_integer((json_int_t)tot[WHIRL_EV_FAIL]));
    json_object_set_new(j, "info", json_integer((json_int_t)tot[WHIRL_EV_INFO]));
    for (int f = 0; f < WHIRL_STATS_F; f++) {
        if (f_count(s, f) == 0)
            continue;
        json_object_set_new(j, stats_f_names[f],
                            json_pack("{s:I, s:I, s:I, s:I, s:b}", "count", (json_int_t)f_count(s, f), "ok",
                                      (json_int_t)s->n[f][WHIRL_EV_OK], "fail", (json_int_t)s->n[f][WHIRL_EV_FAIL],
                                      "info", (json_int_t)s->n[f][WHIRL_EV_INFO], "valid",
                                      s->n[f][WHIRL_EV_OK] > 0));
    }
    return j;
}
