/* test_lin.c - the register linearizability search (src/check/lin.c) on
 * crafted histories, and against a brute-force search on random small ones.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check/check.h"
#include "common/rng.h"

/* Values in these tests are their own ids: 1..9 stand for themselves. */
static struct lin_op op_read(int64_t p, int32_t v, uint64_t call, uint64_t ret)
{
    return (struct lin_op){.process = p, .f = LIN_READ, .outcome = LIN_OK, .a = v, .call = call, .ret = ret};
}

static struct lin_op op_write(int64_t p, int32_t v, uint64_t call, uint64_t ret)
{
    return (struct lin_op){.process = p, .f = LIN_WRITE, .outcome = LIN_OK, .a = v, .call = call, .ret = ret};
}

static struct lin_op op_cas(int64_t p, int32_t from, int32_t to, uint64_t call, uint64_t ret)
{
    return (struct lin_op){.process = p, .f = LIN_CAS, .outcome = LIN_OK, .a = from, .b = to, .call = call,
                           .ret = ret};
}

static struct lin_op op_cas_failed(int64_t p, int32_t from, int32_t to, uint64_t call, uint64_t ret)
{
    struct lin_op o = op_cas(p, from, to, call, ret);
    o.outcome = LIN_FAIL;
    return o;
}

static struct lin_op op_unknown(struct lin_op o)
{
    o.outcome = LIN_INFO;
    o.ret = 0;
    return o;
}

static enum lin_verdict check(const struct lin_op *ops, size_t n)
{
    struct lin_report r;
    enum lin_verdict v = lin_check(ops, n, NULL, &r);
    cr_assert_eq(v, r.verdict);
    lin_report_free(&r);
    return v;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

Test(lin, an_empty_history_is_valid)
{
    cr_assert_eq(check(NULL, 0), LIN_VALID);
}

Test(lin, a_sequential_write_then_read_of_the_same_value_is_valid)
{
    struct lin_op h[] = {op_write(1, 1, 0, 1), op_read(2, 1, 2, 3)};
    cr_assert_eq(check(h, N(h)), LIN_VALID);
}

Test(lin, a_sequential_read_of_a_value_never_written_is_invalid)
{
    struct lin_op h[] = {op_write(1, 1, 0, 1), op_read(2, 2, 2, 3)};
    cr_assert_eq(check(h, N(h)), LIN_INVALID);
}

Test(lin, a_read_concurrent_with_a_write_may_see_the_new_value)
{
    struct lin_op h[] = {op_write(1, 1, 0, 10), op_read(2, 1, 5, 6)};
    cr_assert_eq(check(h, N(h)), LIN_VALID);
}

Test(lin, a_read_concurrent_with_a_write_may_see_the_old_value)
{
    struct lin_op h[] = {op_write(1, 1, 0, 10), op_read(2, LIN_NIL, 5, 6)};
    cr_assert_eq(check(h, N(h)), LIN_VALID);
}

Test(lin, once_a_new_value_was_read_a_later_read_cannot_see_the_old_one)
{
    struct lin_op h[] = {op_write(1, 1, 0, 10), op_read(2, 1, 2, 3), op_read(3, LIN_NIL, 4, 5)};
    cr_assert_eq(check(h, N(h)), LIN_INVALID);
}

Test(lin, operations_touching_at_one_instant_count_as_concurrent)
{
    struct lin_op touching[] = {op_read(1, 1, 0, 5), op_write(2, 1, 5, 10)};
    cr_assert_eq(check(touching, N(touching)), LIN_VALID);
    struct lin_op apart[] = {op_read(1, 1, 0, 4), op_write(2, 1, 5, 10)};
    cr_assert_eq(check(apart, N(apart)), LIN_INVALID);
}

Test(lin, a_stale_read_after_an_overwrite_is_invalid)
{
    struct lin_op h[] = {op_write(1, 1, 0, 1), op_write(1, 2, 2, 3), op_read(2, 1, 4, 5)};
    cr_assert_eq(check(h, N(h)), LIN_INVALID);
}

Test(lin, a_read_of_nil_is_valid_on_the_empty_register_only)
{
    struct lin_op empty[] = {op_read(1, LIN_NIL, 0, 1), op_write(2, 3, 2, 3)};
    cr_assert_eq(check(empty, N(empty)), LIN_VALID);
    struct lin_op written[] = {op_write(2, 3, 0, 1), op_read(1, LIN_NIL, 2, 3)};
    cr_assert_eq(check(written, N(written)), LIN_INVALID);
}

Test(lin, an_unknown_write_may_take_effect_long_after_its_call)
{
    /* The write's call is at 0; it must land between the two reads. */
    struct lin_op h[] = {op_unknown(op_write(1, 1, 0, 0)), op_read(2, LIN_NIL, 10, 11), op_read(2, 1, 20, 21)};
    cr_assert_eq(check(h, N(h)), LIN_VALID);
}

Test(lin, an_unknown_write_may_never_take_effect)
{
    struct lin_op h[] = {op_write(1, 1, 0, 1), op_unknown(op_write(2, 2, 2, 0)), op_read(3, 1, 10, 11),
                         op_read(3, 1, 20, 21)};
    cr_assert_eq(check(h, N(h)), LIN_VALID);
}

Test(lin, an_unknown_write_cannot_take_effect_before_its_call)
{
    struct lin_op h[] = {op_read(1, 1, 0, 1), op_unknown(op_write(2, 1, 2, 0))};
    cr_assert_eq(check(h, N(h)), LIN_INVALID);
}

Test(lin, a_cas_succeeds_only_from_its_from_value)
{
    struct lin_op ok[] = {op_write(1, 1, 0, 1), op_cas(1, 1, 2, 2, 3), op_read(2, 2, 4, 5)};
    cr_assert_eq(check(ok, N(ok)), LIN_VALID);
    struct lin_op bad[] = {op_write(1, 1, 0, 1), op_cas(1, 3, 2, 2, 3)};
    cr_assert_eq(check(bad, N(bad)), LIN_INVALID);
}

Test(lin, identical_unknown_writes_can_each_take_effect_once)
{
    /* Two unknown writes of 1; the second is needed after the write of 2. */
    struct lin_op h[] = {op_unknown(op_write(1, 1, 0, 0)), op_read(2, 1, 1, 2),      op_unknown(op_write(3, 1, 10, 0)),
                         op_write(4, 2, 12, 13),           op_read(2, 2, 14, 15),    op_read(2, 1, 16, 17)};
    cr_assert_eq(check(h, N(h)), LIN_VALID);
    /* Called too late to be the second 1: invalid. */
    h[2].call = 18;
    cr_assert_eq(check(h, N(h)), LIN_INVALID);
}

Test(lin, a_failed_cas_is_invalid_when_the_register_certainly_held_from)
{
    struct lin_op h[] = {op_write(1, 1, 0, 1), op_cas_failed(2, 1, 5, 2, 3)};
    cr_assert_eq(check(h, N(h)), LIN_INVALID);
}

Test(lin, a_failed_cas_is_valid_when_the_register_held_another_value)
{
    struct lin_op h[] = {op_write(1, 2, 0, 1), op_cas_failed(2, 1, 5, 2, 3), op_read(3, 2, 4, 5)};
    cr_assert_eq(check(h, N(h)), LIN_VALID);
}

Test(lin, a_failed_cas_changes_nothing)
{
    struct lin_op h[] = {op_write(1, 2, 0, 1), op_cas_failed(2, 1, 5, 2, 3), op_read(3, 5, 4, 5)};
    cr_assert_eq(check(h, N(h)), LIN_INVALID);
}

Test(lin, an_invalid_report_names_the_failed_op_the_possible_values_and_the_prefix)
{
    /* Two concurrent writes, then a read of a value nobody wrote. */
    struct lin_op h[] = {op_write(1, 1, 0, 10), op_write(2, 2, 0, 10), op_read(3, 3, 11, 12)};
    struct lin_report r;
    cr_assert_eq(lin_check(h, N(h), NULL, &r), LIN_INVALID);
    cr_assert_eq(r.failed_op, 2);
    cr_assert_eq(r.n_possible, 2);
    cr_assert_eq(r.possible[0], 1);
    cr_assert_eq(r.possible[1], 2);
    cr_assert_eq(r.prefix_ops, 2);
    cr_assert(r.prefix[0] <= 1 && r.prefix[1] <= 1 && r.prefix[0] != r.prefix[1]);
    lin_report_free(&r);
}

Test(lin, the_explanation_says_why_the_op_fails_from_each_possible_value)
{
    struct lin_values *vals = lin_values_new();
    int32_t one = lin_values_intern(vals, "1"), two = lin_values_intern(vals, "2");
    cr_assert_eq(one, 1);
    cr_assert_eq(two, 2);
    struct lin_op h[] = {op_write(1, one, 0, 1), op_write(1, two, 2, 3), op_read(7, one, 4, 5)};
    h[2].id = 42;
    struct lin_report r;
    cr_assert_eq(lin_check(h, N(h), NULL, &r), LIN_INVALID);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    lin_explain(out, h, N(h), vals, &r, true);
    fclose(out);
    cr_assert(strstr(text, "cannot linearize: process 7 read 1  [event 42]"), "%s", text);
    cr_assert(strstr(text, "register values possible just before it: 2\n"), "%s", text);
    cr_assert(strstr(text, "can't read 1 from register 2"), "%s", text);
    cr_assert(strstr(text, "longest linearizable prefix before it: 2 operations"), "%s", text);
    free(text);
    lin_report_free(&r);
    lin_values_free(vals);
}

/* Twenty unknown writes of distinct values, all concurrent, then a read of a
 * value none wrote: the search must try every subset and order of them. */
static size_t hard_history(struct lin_op *h)
{
    size_t n = 0;
    for (int i = 0; i < 20; i++)
        h[n++] = op_unknown(op_write(i, i + 1, (uint64_t)i, 0));
    h[n++] = op_read(99, 77, 100, 101);
    return n;
}

Test(lin, a_search_past_its_state_bound_is_unknown_with_a_reason)
{
    struct lin_op h[32];
    size_t n = hard_history(h);
    struct lin_limits lim = {.max_states = 1000};
    struct lin_report r;
    cr_assert_eq(lin_check(h, n, &lim, &r), LIN_UNKNOWN);
    cr_assert(strstr(r.reason, "state bound"), "%s", r.reason);
    lin_report_free(&r);
}

Test(lin, a_search_past_its_time_bound_is_unknown_and_stops_promptly)
{
    struct lin_op h[32];
    size_t n = hard_history(h);
    struct lin_limits lim = {.max_states = 1ULL << 40, .max_seconds = 0.05};
    struct lin_report r;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert_eq(lin_check(h, n, &lim, &r), LIN_UNKNOWN);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    cr_assert(strstr(r.reason, "bound"), "%s", r.reason);
    cr_assert_lt(s, 2.0);
    lin_report_free(&r);
}

Test(lin, interning_gives_each_text_one_id_and_nil_its_own)
{
    struct lin_values *v = lin_values_new();
    cr_assert_eq(lin_values_intern(v, "null"), LIN_NIL);
    int32_t a = lin_values_intern(v, "\"a\"");
    int32_t one = lin_values_intern(v, "1");
    cr_assert_neq(a, one);
    for (int i = 0; i < 1000; i++) { /* grows past several rehashes */
        char t[16];
        snprintf(t, sizeof t, "[%d]", i);
        cr_assert_eq(lin_values_intern(v, t), i + 3);
    }
    cr_assert_eq(lin_values_intern(v, "\"a\""), a);
    cr_assert_str_eq(lin_values_text(v, one), "1");
    cr_assert_str_eq(lin_values_text(v, LIN_NIL), "nil");
    cr_assert_str_eq(lin_values_text(v, 5000), "?");
    lin_values_free(v);
}

/* ---- against brute force -------------------------------------------------- */

static bool brute_step(const struct lin_op *o, int32_t v, int32_t *out)
{
    *out = v;
    if (o->f == LIN_READ)
        return o->a == v;
    if (o->f == LIN_WRITE) {
        *out = o->a;
        return true;
    }
    if (o->outcome == LIN_FAIL)
        return v != o->a;
    if (v != o->a)
        return false;
    *out = o->b;
    return true;
}

/* Tries every order that respects real time; unknown ops may be skipped. */
static bool brute_linearizable(const struct lin_op *h, size_t n, unsigned done, int32_t v)
{
    bool all = true;
    for (size_t i = 0; i < n; i++)
        if (!(done & (1u << i)) && h[i].outcome != LIN_INFO)
            all = false;
    if (all)
        return true;
    for (size_t i = 0; i < n; i++) {
        if (done & (1u << i))
            continue;
        bool allowed = true; /* no pending completed op returned strictly before i's call */
        for (size_t j = 0; j < n && allowed; j++)
            if (j != i && !(done & (1u << j)) && h[j].outcome != LIN_INFO && h[j].ret < h[i].call)
                allowed = false;
        int32_t nv;
        if (allowed && brute_step(&h[i], v, &nv) && brute_linearizable(h, n, done | (1u << i), nv))
            return true;
    }
    return false;
}

Test(lin, random_small_histories_agree_with_brute_force)
{
    uint64_t seed = (uint64_t)time(NULL);
    const char *env = getenv("LIN_TEST_SEED");
    if (env)
        seed = strtoull(env, NULL, 10);
    printf("lin brute-force comparison: seed %llu (replay with LIN_TEST_SEED=%llu)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    fflush(stdout);
    struct rng g;
    rng_seed(&g, seed);
    int invalid = 0;
    for (int round = 0; round < 3000; round++) {
        struct lin_op h[8];
        size_t n = 1 + rng_below(&g, 7);
        for (size_t i = 0; i < n; i++) {
            uint64_t call = rng_below(&g, 20), len = rng_below(&g, 8);
            int32_t a = (int32_t)rng_below(&g, 3), b = (int32_t)rng_below(&g, 3);
            uint64_t kind = rng_below(&g, 4);
            h[i] = kind == 0 ? op_write((int64_t)i, a, call, call + len)
                   : kind == 1 ? op_cas((int64_t)i, a, b, call, call + len)
                   : kind == 2 ? op_cas_failed((int64_t)i, a, b, call, call + len)
                               : op_read((int64_t)i, a, call, call + len);
            if (kind < 2 && rng_below(&g, 4) == 0)
                h[i] = op_unknown(h[i]);
        }
        bool expect = brute_linearizable(h, n, 0, LIN_NIL);
        struct lin_report r;
        enum lin_verdict v = lin_check(h, n, NULL, &r);
        cr_assert_eq(v, expect ? LIN_VALID : LIN_INVALID, "seed %llu round %d: checker %d, brute force %d",
                     (unsigned long long)seed, round, v, expect);
        if (v == LIN_INVALID) {
            invalid++;
            cr_assert_lt(r.failed_op, n);
            cr_assert_neq(h[r.failed_op].outcome, LIN_INFO);
            cr_assert_leq(r.prefix_ops, n - 1);
        }
        lin_report_free(&r);
    }
    cr_assert_gt(invalid, 100, "the generator should produce invalid histories too (seed %llu)",
                 (unsigned long long)seed);
}

/* Clients on one register, each op taking effect at a random instant of its
 * call (or, if unknown, possibly never): linearizable by construction. */
static size_t simulated_history(struct rng *g, struct lin_op *h, size_t n, size_t procs)
{
    uint64_t clock[8] = {0};
    uint64_t point[64];
    for (size_t i = 0; i < n; i++) {
        size_t p = rng_below(g, procs);
        uint64_t call = clock[p] + rng_below(g, 5), ret = call + 1 + rng_below(g, 40);
        clock[p] = ret + 1;
        uint64_t kind = rng_below(g, 3);
        int32_t a = (int32_t)rng_below(g, 4), b = (int32_t)rng_below(g, 4);
        h[i] = kind == 0 ? op_read((int64_t)p, 0, call, ret) : kind == 1 ? op_write((int64_t)p, a, call, ret)
                                                                        : op_cas((int64_t)p, a, b, call, ret);
        if (kind != 0 && rng_below(g, 5) == 0)
            h[i].outcome = LIN_INFO; /* took effect or not: decided below */
        point[i] = call + rng_below(g, ret - call + 1);
    }
    /* Apply in order of the instants. */
    size_t order[64];
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && point[order[j]] < point[order[j - 1]]; j--) {
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    int32_t value = LIN_NIL;
    for (size_t k = 0; k < n; k++) {
        struct lin_op *o = &h[order[k]];
        if (o->outcome == LIN_INFO && rng_below(g, 2))
            continue; /* never took effect */
        if (o->f == LIN_READ)
            o->a = value;
        else if (o->f == LIN_WRITE)
            value = o->a;
        else if (value == o->a)
            value = o->b;
        else if (o->outcome != LIN_INFO)
            o->outcome = LIN_FAIL;
    }
    return n;
}

Test(lin, simulated_histories_with_unknown_outcomes_are_valid_and_a_wrong_read_is_caught)
{
    uint64_t seed = (uint64_t)time(NULL) ^ 0x5eed;
    const char *env = getenv("LIN_TEST_SEED");
    if (env)
        seed = strtoull(env, NULL, 10);
    printf("lin simulated histories: seed %llu (replay with LIN_TEST_SEED=%llu)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    fflush(stdout);
    struct rng g;
    rng_seed(&g, seed);
    for (int round = 0; round < 300; round++) {
        struct lin_op h[64];
        size_t n = simulated_history(&g, h, 20 + rng_below(&g, 45), 2 + rng_below(&g, 6));
        struct lin_report r;
        cr_assert_eq(lin_check(h, n, NULL, &r), LIN_VALID, "seed %llu round %d", (unsigned long long)seed, round);
        lin_report_free(&r);
        /* A read of a value no one ever writes cannot be linearized. */
        for (size_t i = 0; i < n; i++) {
            if (h[i].f == LIN_READ) {
                h[i].a = 9;
                cr_assert_eq(lin_check(h, n, NULL, &r), LIN_INVALID, "seed %llu round %d", (unsigned long long)seed,
                             round);
                cr_assert_eq(h[r.failed_op].a, 9, "the failed op is the impossible read");
                lin_report_free(&r);
                break;
            }
        }
    }
}

static int cmp_point(const void *a, const void *b, void *points)
{
    const uint64_t *p = points;
    uint64_t x = p[*(const size_t *)a], y = p[*(const size_t *)b];
    return (x > y) - (x < y);
}

Test(lin, a_long_register_history_is_decided_not_given_up)
{
    /* 100,000 ops on one key, 6 clients, 2% unknown outcomes: the memo's
     * keys must stay small (a window of ops in flight), or the memory bound
     * would make this unknown. */
    enum { LONG_N = 100000 };
    uint64_t seed = 42;
    struct rng g;
    rng_seed(&g, seed);
    struct lin_op *h = calloc(LONG_N, sizeof *h);
    uint64_t *point = calloc(LONG_N, sizeof *point);
    size_t *order = calloc(LONG_N, sizeof *order);
    uint64_t clock[6] = {0};
    for (size_t i = 0; i < LONG_N; i++) {
        size_t p = rng_below(&g, 6);
        uint64_t call = clock[p] + rng_below(&g, 5), ret = call + 1 + rng_below(&g, 40);
        clock[p] = ret + 1;
        uint64_t kind = rng_below(&g, 3);
        int32_t a = (int32_t)rng_below(&g, 5), b = (int32_t)rng_below(&g, 5);
        h[i] = kind == 0 ? op_read((int64_t)p, 0, call, ret) : kind == 1 ? op_write((int64_t)p, a, call, ret)
                                                                        : op_cas((int64_t)p, a, b, call, ret);
        if (kind != 0 && rng_below(&g, 50) == 0)
            h[i].outcome = LIN_INFO;
        point[i] = call + rng_below(&g, ret - call + 1);
        order[i] = i;
    }
    qsort_r(order, LONG_N, sizeof *order, cmp_point, point);
    int32_t value = LIN_NIL;
    for (size_t k = 0; k < LONG_N; k++) {
        struct lin_op *o = &h[order[k]];
        if (o->outcome == LIN_INFO && rng_below(&g, 2))
            continue;
        if (o->f == LIN_READ)
            o->a = value;
        else if (o->f == LIN_WRITE)
            value = o->a;
        else if (value == o->a)
            value = o->b;
        else if (o->outcome != LIN_INFO)
            o->outcome = LIN_FAIL;
    }
    struct lin_report r;
    enum lin_verdict v = lin_check(h, LONG_N, NULL, &r);
    cr_assert_eq(v, LIN_VALID, "seed %llu: %s", (unsigned long long)seed, r.reason);
    lin_report_free(&r);
    free(h);
    free(point);
    free(order);
}

/* ---- per-process (per-connection) order ------------------------------------ */

static enum lin_verdict check_ordered(const struct lin_op *ops, size_t n)
{
    struct lin_limits lim = {.connection_order = true};
    struct lin_report r;
    enum lin_verdict v = lin_check(ops, n, &lim, &r);
    cr_assert_eq(v, r.verdict);
    lin_report_free(&r);
    return v;
}

Test(lin_order, a_pipelined_read_that_misses_its_own_earlier_write_is_refused_only_with_the_option)
{
    /* Connection 1 sends write 1, then read before the write's answer; the
     * read returns first, with the old value. Linearizable (they overlap),
     * but the read took effect before the write it was sent after. */
    struct lin_op h[] = {op_write(1, 1, 0, 10), op_read(1, LIN_NIL, 1, 5)};
    cr_assert_eq(check(h, N(h)), LIN_VALID);
    cr_assert_eq(check_ordered(h, N(h)), LIN_INVALID);
    /* The same read from another connection may come first. */
    h[1].process = 2;
    cr_assert_eq(check_ordered(h, N(h)), LIN_VALID);
}

Test(lin_order, a_pipelined_read_that_sees_its_own_earlier_write_is_valid)
{
    struct lin_op h[] = {op_write(1, 1, 0, 10), op_read(1, 1, 1, 12), op_write(2, 2, 11, 13),
                         op_read(1, 2, 13, 20), op_cas(1, 2, 3, 14, 15), op_read(3, 3, 21, 22)};
    cr_assert_eq(check_ordered(h, N(h)), LIN_VALID);
}

Test(lin_order, pipelined_writes_take_effect_in_the_order_sent)
{
    /* write 1 then write 2 on one connection, both pending together; a read
     * after both returned can only see 2. */
    struct lin_op h[] = {op_write(1, 1, 0, 10), op_write(1, 2, 1, 10), op_read(2, 1, 11, 12)};
    cr_assert_eq(check(h, N(h)), LIN_VALID);
    cr_assert_eq(check_ordered(h, N(h)), LIN_INVALID);
    h[2].a = 2;
    cr_assert_eq(check_ordered(h, N(h)), LIN_VALID);
}

Test(lin_order, an_unknown_write_takes_effect_before_its_connections_later_ops_or_never)
{
    /* Connection 1: write 1 (outcome unknown), then a read that saw nil;
     * later connection 2 reads 1. The write could only have taken effect
     * after the read, which the order forbids. */
    struct lin_op h[] = {op_unknown(op_write(1, 1, 0, 0)), op_read(1, LIN_NIL, 1, 5), op_read(2, 1, 6, 7)};
    cr_assert_eq(check(h, N(h)), LIN_VALID);
    cr_assert_eq(check_ordered(h, N(h)), LIN_INVALID);
    /* Never taking effect blocks nothing: write 1 unknown, then write 2. */
    struct lin_op g[] = {op_unknown(op_write(1, 1, 0, 0)), op_write(1, 2, 1, 5), op_read(2, 2, 6, 7)};
    cr_assert_eq(check_ordered(g, N(g)), LIN_VALID);
    /* But once write 2 took effect, write 1 no longer can. */
    g[2].a = 1;
    cr_assert_eq(check(g, N(g)), LIN_VALID);
    cr_assert_eq(check_ordered(g, N(g)), LIN_INVALID);
}

Test(lin_order, identical_unknown_writes_of_pipelining_connections_are_not_interchangeable)
{
    /* Connection 1: unknown write 1, then write 2 (ok). Connection 2,
     * later: unknown write 1. A read of 1 at the end is possible only
     * through connection 2's write, not through connection 1's (it cannot
     * follow write 2): the twin shortcut must not tie the two together. */
    struct lin_op h[] = {op_unknown(op_write(1, 1, 0, 0)), op_write(1, 2, 1, 5), op_unknown(op_write(2, 1, 6, 0)),
                         op_read(3, 1, 8, 9)};
    cr_assert_eq(check_ordered(h, N(h)), LIN_VALID);
}

/* Brute force with per-process order: op i may go next if every op of its
 * process invoked before it that has a return is done, and none invoked
 * after it is done. */
static bool brute_before(const struct lin_op *h, size_t j, size_t i)
{
    return h[j].call < h[i].call || (h[j].call == h[i].call && j < i);
}

static bool brute_ordered(const struct lin_op *h, size_t n, unsigned done, int32_t v)
{
    bool all = true;
    for (size_t i = 0; i < n; i++)
        if (!(done & (1u << i)) && h[i].outcome != LIN_INFO)
            all = false;
    if (all)
        return true;
    for (size_t i = 0; i < n; i++) {
        if (done & (1u << i))
            continue;
        bool allowed = true;
        for (size_t j = 0; j < n && allowed; j++) {
            if (j == i)
                continue;
            bool dj = done & (1u << j);
            if (!dj && h[j].outcome != LIN_INFO && h[j].ret < h[i].call)
                allowed = false;
            if (h[j].process == h[i].process) {
                if (brute_before(h, j, i) && !dj && h[j].outcome != LIN_INFO)
                    allowed = false;
                if (brute_before(h, i, j) && dj)
                    allowed = false;
            }
        }
        int32_t nv;
        if (allowed && brute_step(&h[i], v, &nv) && brute_ordered(h, n, done | (1u << i), nv))
            return true;
    }
    return false;
}

Test(lin_order, random_small_pipelined_histories_agree_with_brute_force)
{
    uint64_t seed = (uint64_t)time(NULL) ^ 0x0dde;
    const char *env = getenv("LIN_TEST_SEED");
    if (env)
        seed = strtoull(env, NULL, 10);
    printf("lin_order brute-force comparison: seed %llu (replay with LIN_TEST_SEED=%llu)\n",
           (unsigned long long)seed, (unsigned long long)seed);
    fflush(stdout);
    struct rng g;
    rng_seed(&g, seed);
    int invalid = 0, only_by_order = 0;
    for (int round = 0; round < 3000; round++) {
        struct lin_op h[8];
        size_t n = 1 + rng_below(&g, 7);
        for (size_t i = 0; i < n; i++) {
            /* Two or three connections, so that ops of one overlap. */
            int64_t p = (int64_t)rng_below(&g, 2 + rng_below(&g, 2));
            uint64_t call = rng_below(&g, 20), len = rng_below(&g, 8);
            int32_t a = (int32_t)rng_below(&g, 3), b = (int32_t)rng_below(&g, 3);
            uint64_t kind = rng_below(&g, 4);
            h[i] = kind == 0 ? op_write(p, a, call, call + len)
                   : kind == 1 ? op_cas(p, a, b, call, call + len)
                   : kind == 2 ? op_cas_failed(p, a, b, call, call + len)
                               : op_read(p, a, call, call + len);
            if (kind < 2 && rng_below(&g, 4) == 0)
                h[i] = op_unknown(h[i]);
        }
        bool expect = brute_ordered(h, n, 0, LIN_NIL);
        struct lin_limits lim = {.connection_order = true};
        struct lin_report r;
        enum lin_verdict v = lin_check(h, n, &lim, &r);
        cr_assert_eq(v, expect ? LIN_VALID : LIN_INVALID, "seed %llu round %d: checker %d, brute force %d",
                     (unsigned long long)seed, round, v, expect);
        lin_report_free(&r);
        if (!expect) {
            invalid++;
            only_by_order += brute_linearizable(h, n, 0, LIN_NIL);
        }
    }
    cr_assert_gt(only_by_order, 50, "the generator should make histories only the order refuses (seed %llu)",
                 (unsigned long long)seed);
    cr_assert_gt(invalid, only_by_order);
}
