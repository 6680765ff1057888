/* test_resp_req_table.c - the server's id -> operation map (src/server/
 * req_table.c), which routes replica and proxy answers to their requests. */
#include "server/req_table.h"

#include <criterion/criterion.h>
#include <stdio.h>

#include "common/rng.h"

Test(req_table, finds_what_was_put_and_forgets_what_was_taken)
{
    struct req_table t = {0};
    int a, b;
    cr_assert_eq(req_table_put(&t, 7, &a), 0);
    cr_assert_eq(req_table_put(&t, 8, &b), 0);
    cr_assert_eq(req_table_get(&t, 7), &a);
    cr_assert_eq(req_table_take(&t, 7), &a);
    cr_assert_null(req_table_get(&t, 7));
    cr_assert_null(req_table_take(&t, 7), "a second answer for the same id finds nothing");
    cr_assert_eq(req_table_get(&t, 8), &b);
    cr_assert_null(req_table_get(&t, 0), "id 0 is never an operation");
    cr_assert_eq(t.len, 1);
    req_table_free(&t);
}

Test(req_table, agrees_with_a_plain_array_under_random_puts_and_takes)
{
    uint64_t seed = 20261126;
    printf("req_table seed %llu\n", (unsigned long long)seed);
    struct rng g;
    rng_seed(&g, seed);
    enum { IDS = 4000 };
    static char present[IDS + 1];
    static int values[IDS + 1];
    struct req_table t = {0};
    size_t n = 0;
    for (int step = 0; step < 200000; step++) {
        /* Ids cluster (as operation ids do) so probe runs collide. */
        uint64_t id = 1 + rng_below(&g, IDS);
        if (rng_below(&g, 2)) {
            if (!present[id]) {
                cr_assert_eq(req_table_put(&t, id, &values[id]), 0);
                present[id] = 1;
                n++;
            }
        } else {
            void *v = req_table_take(&t, id);
            cr_assert_eq(v, present[id] ? &values[id] : NULL, "step %d id %llu", step,
                         (unsigned long long)id);
            if (present[id])
                n--;
            present[id] = 0;
        }
        cr_assert_eq(t.len, n);
    }
    for (uint64_t id = 1; id <= IDS; id++)
        cr_assert_eq(req_table_get(&t, id), present[id] ? &values[id] : NULL);
    req_table_free(&t);
}
