/* test_whirl_stats.c - whirl's stats check (src/whirl/stats.c): completions
 * counted by function and outcome, and the rule that a function invoked but
 * never completed ok makes the run invalid, with the reason spelled out.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "whirl/stats.h"

/* Event shorthands: process 0..n, f 0 read / 1 write / 2 cas, type 0 invoke
 * / 1 ok / 2 fail / 3 info, as the history writes them. */
#define EV(p, f_, t) {.process = (p), .f = (f_), .type = (t), .node = 0}
#define NEMESIS(f_) {.process = -1, .f = (f_), .type = 3, .node = -1}

static json_int_t jint(const json_t *o, const char *a, const char *b)
{
    const json_t *x = json_object_get(o, a);
    if (b)
        x = json_object_get(x, b);
    cr_assert(json_is_integer(x), "%s.%s is not an integer", a, b ? b : "");
    return json_integer_value(x);
}

Test(whirl_stats, every_function_with_an_ok_is_valid)
{
    const struct whirl_event ev[] = {
        EV(0, 0, 0), EV(0, 0, 1), /* read ok */
        EV(1, 1, 0), EV(1, 1, 3), /* write info */
        EV(1, 1, 0), EV(1, 1, 1), /* write ok */
        EV(2, 2, 0), EV(2, 2, 2), /* cas fail */
        EV(2, 2, 0), EV(2, 2, 1), /* cas ok */
    };
    struct whirl_stats s;
    whirl_stats_compute(ev, sizeof ev / sizeof *ev, &s);
    cr_assert(s.valid);
    cr_assert_str_eq(s.reason, "");
    json_t *j = whirl_stats_json(&s);
    cr_assert(json_is_true(json_object_get(j, "valid")));
    cr_assert(json_is_null(json_object_get(j, "reason")));
    cr_assert_eq(jint(j, "count", NULL), 5);
    cr_assert_eq(jint(j, "ok", NULL), 3);
    cr_assert_eq(jint(j, "fail", NULL), 1);
    cr_assert_eq(jint(j, "info", NULL), 1);
    cr_assert_eq(jint(j, "write", "count"), 2);
    cr_assert_eq(jint(j, "write", "info"), 1);
    cr_assert_eq(jint(j, "cas", "fail"), 1);
    cr_assert(json_is_true(json_object_get(json_object_get(j, "cas"), "valid")));
    json_decref(j);
}

Test(whirl_stats, a_cas_that_only_ever_fails_makes_the_run_invalid)
{
    /* Failed cas (20, 22) are fails, not oks, however normal they are. */
    const struct whirl_event ev[] = {
        EV(0, 0, 0), EV(0, 0, 1), EV(1, 1, 0), EV(1, 1, 1),
        EV(2, 2, 0), EV(2, 2, 2), EV(2, 2, 0), EV(2, 2, 2), EV(3, 2, 0), EV(3, 2, 3),
    };
    struct whirl_stats s;
    whirl_stats_compute(ev, sizeof ev / sizeof *ev, &s);
    cr_assert(!s.valid);
    cr_assert_str_eq(s.reason, "no cas ever succeeded (0 ok, 2 fail, 1 info)");
    json_t *j = whirl_stats_json(&s);
    cr_assert(json_is_false(json_object_get(j, "valid")));
    cr_assert_str_eq(json_string_value(json_object_get(j, "reason")), "no cas ever succeeded (0 ok, 2 fail, 1 info)");
    cr_assert(json_is_false(json_object_get(json_object_get(j, "cas"), "valid")));
    cr_assert(json_is_true(json_object_get(json_object_get(j, "read"), "valid")));
    cr_assert_eq(jint(j, "cas", "count"), 3);
    cr_assert_eq(jint(j, "cas", "ok"), 0);
    json_decref(j);
}

Test(whirl_stats, nothing_ok_names_every_function_in_order)
{
    const struct whirl_event ev[] = {
        EV(0, 2, 0), EV(0, 2, 3), EV(1, 0, 0), EV(1, 0, 2), EV(1, 0, 0), EV(1, 0, 2), EV(2, 1, 0), EV(2, 1, 3),
    };
    struct whirl_stats s;
    whirl_stats_compute(ev, sizeof ev / sizeof *ev, &s);
    cr_assert(!s.valid);
    cr_assert_str_eq(s.reason, "no read ever succeeded (0 ok, 2 fail, 0 info); "
                               "no write ever succeeded (0 ok, 0 fail, 1 info); "
                               "no cas ever succeeded (0 ok, 0 fail, 1 info)");
}

Test(whirl_stats, functions_never_invoked_and_nemesis_events_are_left_out)
{
    /* No cas at all: nothing to hold against it (Jepsen counts by the :f
     * present). A write invoked but not completed is not a completion; the
     * nemesis's kill and restart are not client operations. */
    const struct whirl_event ev[] = {
        EV(0, 0, 0), NEMESIS(5), EV(0, 0, 1), NEMESIS(6), EV(1, 1, 0),
    };
    struct whirl_stats s;
    whirl_stats_compute(ev, sizeof ev / sizeof *ev, &s);
    cr_assert(s.valid);
    json_t *j = whirl_stats_json(&s);
    cr_assert_eq(jint(j, "count", NULL), 1);
    cr_assert_null(json_object_get(j, "write"));
    cr_assert_null(json_object_get(j, "cas"));
    cr_assert_eq(jint(j, "read", "ok"), 1);
    json_decref(j);
}

Test(whirl_stats, an_empty_history_is_valid_as_in_jepsen)
{
    struct whirl_stats s;
    whirl_stats_compute(NULL, 0, &s);
    cr_assert(s.valid);
    json_t *j = whirl_stats_json(&s);
    cr_assert_eq(jint(j, "count", NULL), 0);
    cr_assert_null(json_object_get(j, "read"));
    json_decref(j);
}
