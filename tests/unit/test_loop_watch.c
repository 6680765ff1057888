/* test_loop_watch.c - the event loop's turn meter (src/server/loop_watch.c)
 * on literal clock readings: a turn is the span between two boundaries,
 * its CPU time decides "slow" against --slow-loop-ms, its wall time rides
 * along, the callbacks noted in it are reported and then forgotten, and
 * the histogram and maxima add up. */
#include <criterion/criterion.h>
#include <string.h>

#include "server/loop_watch.h"

#define MS UINT64_C(1000000)

Test(loop_watch, the_first_boundary_only_starts_a_turn)
{
    struct loop_watch w;
    loop_watch_init(&w, 100);
    struct loop_turn t;
    loop_watch_note(&w, LOOP_CB_TICK);
    cr_assert(!loop_watch_turn(&w, 500 * MS, 9000 * MS, &t));
    cr_assert_eq(w.turns, 0);
    cr_assert_eq(w.tags, 0, "the callbacks noted before the first boundary are forgotten");
}

Test(loop_watch, cpu_time_decides_slow_and_wall_time_does_not)
{
    struct loop_watch w;
    loop_watch_init(&w, 100);
    struct loop_turn t;
    loop_watch_turn(&w, 1000 * MS, 5000 * MS, &t);
    /* 900 ms of wall time, 40 ms of CPU: waiting (a loaded machine, the
     * poll), not work. */
    cr_assert(!loop_watch_turn(&w, 1040 * MS, 5900 * MS, &t));
    cr_assert_eq(t.cpu_ns, 40 * MS);
    cr_assert_eq(t.wall_ns, 900 * MS);
    /* Exactly the threshold is not past it. */
    cr_assert(!loop_watch_turn(&w, 1140 * MS, 6000 * MS, &t));
    /* 101 ms of CPU in 300 ms: slow; the callbacks noted come with it. */
    loop_watch_note(&w, LOOP_CB_PEER_READ);
    loop_watch_note(&w, LOOP_CB_BATCH);
    loop_watch_note(&w, LOOP_CB_PEER_READ);
    cr_assert(loop_watch_turn(&w, 1241 * MS, 6300 * MS, &t));
    cr_assert_eq(t.cpu_ns, 101 * MS);
    cr_assert_eq(t.wall_ns, 300 * MS);
    cr_assert_eq(t.tags, (1u << LOOP_CB_PEER_READ) | (1u << LOOP_CB_BATCH));
    char text[64];
    loop_watch_tags_text(t.tags, text, sizeof text);
    cr_assert_str_eq(text, "batch,peer_read");
    cr_assert_eq(w.tags, 0);
    cr_assert_eq(w.turns, 3);
    cr_assert_eq(w.slow_turns, 1);
    cr_assert_eq(w.cpu_max_ns, 101 * MS);
    cr_assert_eq(w.slow_wall_max_ns, 300 * MS);
    cr_assert_eq(w.cpu_sum_ns, (40 + 100 + 101) * MS);
}

Test(loop_watch, histogram_buckets_are_log2_microseconds)
{
    cr_assert_eq(loop_watch_bucket(0), 0);
    cr_assert_eq(loop_watch_bucket(1999), 0);
    cr_assert_eq(loop_watch_bucket(2000), 1);
    cr_assert_eq(loop_watch_bucket(3999), 1);
    cr_assert_eq(loop_watch_bucket(4000), 2);
    cr_assert_eq(loop_watch_bucket(100 * MS), 16); /* 100000 us: [65536, 131072) */
    cr_assert_eq(loop_watch_bucket(UINT64_MAX), 31);
    struct loop_watch w;
    loop_watch_init(&w, 100);
    struct loop_turn t;
    loop_watch_turn(&w, 0, 0, &t);
    loop_watch_turn(&w, 3000, 10000, &t);                /* 3 us */
    loop_watch_turn(&w, 3000 + 100 * MS, 200 * MS, &t); /* 100 ms */
    cr_assert_eq(w.cpu_hist[1], 1);
    cr_assert_eq(w.cpu_hist[16], 1);
    cr_assert_eq(w.turns, 2);
}

Test(loop_watch, cpu_time_past_the_wall_time_is_cut_to_it)
{
    struct loop_watch w;
    loop_watch_init(&w, 100);
    struct loop_turn t;
    loop_watch_turn(&w, 0, 0, &t);
    cr_assert(!loop_watch_turn(&w, 104 * MS, 3 * MS, &t), "104 ms of CPU in 3 ms is a clock artefact");
    cr_assert_eq(t.cpu_ns, 3 * MS);
    cr_assert_eq(w.cpu_max_ns, 3 * MS);
}

Test(loop_watch, a_clock_that_steps_back_counts_zero)
{
    struct loop_watch w;
    loop_watch_init(&w, 1);
    struct loop_turn t;
    loop_watch_turn(&w, 50 * MS, 50 * MS, &t);
    cr_assert(!loop_watch_turn(&w, 10 * MS, 10 * MS, &t));
    cr_assert_eq(t.cpu_ns, 0);
    cr_assert_eq(t.wall_ns, 0);
}

Test(loop_watch, tags_text_names_and_truncates)
{
    char text[16];
    loop_watch_tags_text(0, text, sizeof text);
    cr_assert_str_eq(text, "none");
    loop_watch_tags_text(1u << LOOP_CB_SNAPSHOT, text, sizeof text);
    cr_assert_str_eq(text, "snapshot");
    loop_watch_tags_text((1u << LOOP_CB_TICK) | (1u << LOOP_CB_CLIENT_READ) | (1u << LOOP_CB_LOG_SYNCED), text,
                         sizeof text);
    cr_assert_str_eq(text, "tick"); /* "tick,client_read" does not fit in 16 */
}
