/* test_server_identity_gate.c - when a member that holds nothing (a new
 * or wiped data directory) stays out of a cluster that already exists
 * (server_identity_stays_out, src/server/server_identity.c): only for a
 * HELLO carrying a cluster id, only without --first-start and --join, and
 * never alone. */
#include <criterion/criterion.h>

#include "server/server_internal.h"

Test(identity_gate, a_wiped_member_stays_out_of_an_existing_cluster)
{
    /* peer_has_id, holds_nothing, first_start, joining, n_nodes */
    cr_assert(server_identity_stays_out(true, true, false, false, 3));
    cr_assert(server_identity_stays_out(true, true, false, false, 2));
}

Test(identity_gate, everything_else_goes_on_as_before)
{
    cr_assert_not(server_identity_stays_out(false, true, false, false, 3), "a new cluster: every HELLO has no id");
    cr_assert_not(server_identity_stays_out(true, false, false, false, 3), "this member holds a log or an id");
    cr_assert_not(server_identity_stays_out(true, true, true, false, 3), "--first-start vouches for it");
    cr_assert_not(server_identity_stays_out(true, true, false, true, 3), "a --join member learns its table at the join");
    cr_assert_not(server_identity_stays_out(true, true, false, false, 1), "a one-member cluster has no peers");
}
