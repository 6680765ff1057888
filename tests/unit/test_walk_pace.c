/* test_walk_pace.c - the length of a snapshot walk's slices
 * (src/server/walk_pace.h): the base slice while the walk keeps up,
 * longer by its projected length over the target or by the pre-images it
 * keeps against the map's size, never past the cap; given made-up clocks and progress. */
#include <criterion/criterion.h>

#include "server/walk_pace.h"

#define MS 1000000ull
#define MIB ((size_t)1 << 20)

static const struct walk_pace pace = {.base_ns = 8 * MS, .max_ns = 32 * MS, .target_ns = 10000 * MS};
#define MAP (1024 * MIB) /* the map's bytes at the walk's start */

Test(walk_pace, a_walk_that_keeps_up_takes_the_base_slice)
{
    cr_assert_eq(walk_pace_slice_ns(&pace, 0, 0, 1000000, 0, MAP), 8 * MS);
    /* halfway in half the target: on time */
    cr_assert_eq(walk_pace_slice_ns(&pace, 5000 * MS, 500000, 1000000, 512, MAP), 8 * MS);
    /* ahead of time */
    cr_assert_eq(walk_pace_slice_ns(&pace, 1000 * MS, 900000, 1000000, 0, MAP), 8 * MS);
}

Test(walk_pace, a_walk_behind_its_target_stretches_by_its_projected_length_over_the_target)
{
    /* a quarter in half the target: projected 20 s, twice the target */
    cr_assert_eq(walk_pace_slice_ns(&pace, 5000 * MS, 250000, 1000000, 0, MAP), 16 * MS);
    /* a third in half: projected 15 s */
    cr_assert_eq(walk_pace_slice_ns(&pace, 5000 * MS, 500000, 1500000, 0, MAP), 12 * MS);
}

Test(walk_pace, the_projection_waits_for_a_64th_of_the_entries)
{
    /* 15,000 of 1,000,000 written (below 15,625): too early to project */
    cr_assert_eq(walk_pace_slice_ns(&pace, 5000 * MS, 15000, 1000000, 0, MAP), 8 * MS);
    /* 15,625: projected 320 s, far behind: the cap */
    cr_assert_eq(walk_pace_slice_ns(&pace, 5000 * MS, 15625, 1000000, 0, MAP), 32 * MS);
}

Test(walk_pace, each_sixteenth_of_the_map_kept_as_pre_images_adds_a_base_slice)
{
    cr_assert_eq(walk_pace_slice_ns(&pace, 0, 0, 1000000, 64 * MIB, MAP), 16 * MS);
    cr_assert_eq(walk_pace_slice_ns(&pace, 0, 0, 1000000, 32 * MIB, MAP), 12 * MS);
    cr_assert_eq(walk_pace_slice_ns(&pace, 0, 0, 1000000, 128 * MIB, MAP), 24 * MS);
}

Test(walk_pace, the_larger_factor_counts_and_the_cap_bounds_the_slice)
{
    /* time: 2x; memory: 3x */
    cr_assert_eq(walk_pace_slice_ns(&pace, 5000 * MS, 250000, 1000000, 128 * MIB, MAP), 24 * MS);
    /* time: 2.5x (a fifth in half the target); memory: 1.5x */
    cr_assert_eq(walk_pace_slice_ns(&pace, 5000 * MS, 200000, 1000000, 32 * MIB, MAP), 20 * MS);
    /* pre-images half the map: 9x, capped */
    cr_assert_eq(walk_pace_slice_ns(&pace, 0, 0, 1000000, 512 * MIB, MAP), 32 * MS);
    /* time: 10x, capped */
    cr_assert_eq(walk_pace_slice_ns(&pace, 10000 * MS, 100000, 1000000, 0, MAP), 32 * MS);
}

Test(walk_pace, a_cap_below_the_base_is_the_base_and_no_target_is_no_time_rule)
{
    struct walk_pace p = pace;
    p.max_ns = 4 * MS;
    cr_assert_eq(walk_pace_slice_ns(&p, 0, 0, 1000000, 256 * MIB, MAP), 8 * MS);
    p = pace;
    p.target_ns = 0;
    cr_assert_eq(walk_pace_slice_ns(&p, 100000 * MS, 20000, 1000000, 0, MAP), 8 * MS);
    cr_assert_eq(walk_pace_slice_ns(&p, 100000 * MS, 20000, 1000000, 256 * MIB, 0), 8 * MS,
                 "no map bytes: no memory rule");
}
