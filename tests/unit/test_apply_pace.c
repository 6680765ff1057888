/* test_apply_pace.c - the loop's decision while committed entries wait
 * (src/replica/apply_pace.c), with the values the server and the node pass:
 * keep turning exactly while applied < commit; the timer's delay to the
 * deadline, 0 once it is past, capped. */
#include <criterion/criterion.h>

#include "replica/apply_pace.h"

Test(apply_pace, keeps_turning_exactly_while_committed_entries_wait)
{
    cr_assert(apply_pace(0, 300000, 5000, 1000, 1000).keep_turning);
    cr_assert(apply_pace(299999, 300000, 5000, 1000, 1000).keep_turning);
    cr_assert_not(apply_pace(300000, 300000, 5000, 1000, 1000).keep_turning);
    /* A snapshot's install may leave applied past a stale commit view. */
    cr_assert_not(apply_pace(300001, 300000, 5000, 1000, 1000).keep_turning);
    cr_assert_not(apply_pace(0, 0, 5000, 1000, 1000).keep_turning);
}

Test(apply_pace, delay_is_to_the_deadline_and_capped)
{
    cr_assert_eq(apply_pace(5, 5, 1250, 1000, 1000).delay_ms, 250);
    cr_assert_eq(apply_pace(5, 5, 1001, 1000, 1000).delay_ms, 1);
    cr_assert_eq(apply_pace(5, 5, 1000, 1000, 1000).delay_ms, 0);
    cr_assert_eq(apply_pace(5, 5, 900, 1000, 1000).delay_ms, 0, "a deadline past: at once");
    cr_assert_eq(apply_pace(5, 5, 2000, 1000, 1000).delay_ms, 1000);
    cr_assert_eq(apply_pace(5, 5, 2001, 1000, 1000).delay_ms, 1000, "capped");
    cr_assert_eq(apply_pace(5, 5, UINT64_MAX, 1000, 1000).delay_ms, 1000);
    cr_assert_eq(apply_pace(5, 5, UINT64_MAX - 1, 1000, UINT64_MAX).delay_ms, UINT64_MAX - 1001);
    /* A backlog does not change the delay (the replica's deadline does). */
    cr_assert_eq(apply_pace(1, 9, 1001, 1000, 1000).delay_ms, 1);
}
