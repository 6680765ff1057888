/* test_apply_gate.c - the leader's push-back while applying lags
 * (src/server/apply_gate.c): client reads pause once more than
 * --max-apply-backlog entries are committed and unapplied, stay paused
 * down to half of it, resume at half or below, or at once when the member
 * stops leading; 0 turns it off. */
#include <criterion/criterion.h>

#include "server/apply_gate.h"

Test(apply_gate, pauses_past_the_bound_and_resumes_at_half)
{
    struct apply_gate g = {0};
    cr_assert_eq(apply_gate_step(&g, 100, true, 1100, 1000), APPLY_GATE_SAME, "100 is not past 100");
    cr_assert_eq(g.backlog, 100);
    cr_assert_eq(apply_gate_step(&g, 100, true, 1101, 1000), APPLY_GATE_PAUSE);
    cr_assert(g.paused);
    cr_assert_eq(g.pauses, 1);
    cr_assert_eq(apply_gate_step(&g, 100, true, 1200, 1000), APPLY_GATE_SAME);
    cr_assert_eq(apply_gate_step(&g, 100, true, 1200, 1149), APPLY_GATE_SAME, "51 left: still paused");
    cr_assert(g.paused);
    cr_assert_eq(apply_gate_step(&g, 100, true, 1200, 1150), APPLY_GATE_RESUME, "50 left: half");
    cr_assert(!g.paused);
    cr_assert_eq(g.backlog, 50);
    cr_assert_eq(apply_gate_step(&g, 100, true, 1200, 1150), APPLY_GATE_SAME);
    cr_assert_eq(apply_gate_step(&g, 100, true, 1300, 1150), APPLY_GATE_PAUSE);
    cr_assert_eq(g.pauses, 2);
}

Test(apply_gate, a_follower_never_pauses_and_a_paused_leader_that_steps_down_resumes)
{
    struct apply_gate g = {0};
    cr_assert_eq(apply_gate_step(&g, 100, false, 5000, 1000), APPLY_GATE_SAME);
    cr_assert(!g.paused);
    cr_assert_eq(g.backlog, 4000);
    cr_assert_eq(apply_gate_step(&g, 100, true, 5000, 1000), APPLY_GATE_PAUSE);
    cr_assert_eq(apply_gate_step(&g, 100, false, 5000, 1000), APPLY_GATE_RESUME);
    cr_assert(!g.paused);
    cr_assert_eq(g.pauses, 1);
}

Test(apply_gate, zero_turns_it_off_and_lifts_a_pause)
{
    struct apply_gate g = {0};
    cr_assert_eq(apply_gate_step(&g, 0, true, 1000000, 0), APPLY_GATE_SAME);
    cr_assert(!g.paused);
    cr_assert_eq(apply_gate_step(&g, 10, true, 1000000, 0), APPLY_GATE_PAUSE);
    cr_assert_eq(apply_gate_step(&g, 0, true, 1000000, 0), APPLY_GATE_RESUME);
    /* An applied index past the commit index (a snapshot installed) is no backlog. */
    cr_assert_eq(apply_gate_step(&g, 10, true, 90, 100), APPLY_GATE_SAME);
    cr_assert_eq(g.backlog, 0);
}
