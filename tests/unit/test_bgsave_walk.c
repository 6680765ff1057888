/* test_bgsave_walk.c - snapshots written by the event loop from a walk of
 * the map (--snapshot-method walk, src/server/bgsave_walk.c): a map of
 * 200,000 keys is snapshotted while a 1 ms timer keeps overwriting,
 * deleting, creating and expiring keys; the loop's slices stay short and
 * the file holds the map as it was at the start. A crash at any point of
 * the walk (the data directory as a kill -9 leaves it: copied then) starts
 * up on the old snapshot; a stopped or failed walk leaves the old snapshot
 * and no temp file. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "kv/kv.h"
#include "server/bgsave.h"
#include "storage/storage_replica.h"
#include "test_storage_util.h"
#include "bgsave_test_util.h"

static void apply(struct kv_store *s, int op, size_t i, const char *value, int64_t n)
{
    char k[32];
    snprintf(k, sizeof k, "key:%08zu", i);
    json_t *key = json_string(k), *v = value ? json_string(value) : NULL;
    struct kv_command c = {.op = op, .key = key, .value = v};
    c.num[0] = n;
    struct kv_result r;
    kv_apply(s, &c, 0, &r);
    json_decref(key);
    json_decref(v);
}

static void put(struct kv_store *s, size_t i, const char *value)
{
    apply(s, KV_WRITE, i, value, 0);
}

static void on_tick(uv_timer_t *t)
{
    struct run *r = t->data;
    double n = now_s();
    if (n - r->last > r->max_gap)
        r->max_gap = n - r->last;
    r->last = n;
    r->ticks++;
    /* Changes after the start: the snapshot must not see them. */
    for (int i = 0; i < 50; i++) {
        size_t k = (size_t)(r->ticks * 50 + i) * 7919 % (r->n + r->n / 10);
        if (i % 5 == 0)
            apply(kv, KV_DELETE, k, NULL, 0);
        else
            put(kv, k, "written after the start");
    }
    if (r->done)
        uv_stop(t->loop);
}

TestSuite(bgsave_walk, .init = setup, .fini = teardown, .timeout = 120);

static struct kv_store *load_stored(void)
{
    struct replica_log_store ls;
    storage_replica_log_store(st, &ls);
    struct kv_store *back = kv_store_new();
    cr_assert_eq(ls.load_snapshot(st, back), STORAGE_OK, "%s", storage_error(st));
    return back;
}

Test(bgsave_walk, a_walk_of_200k_keys_keeps_the_loop_running_and_holds_the_start_time_map)
{
    struct run r = {.n = 200000};
    char value[101];
    memset(value, 'v', 100);
    value[100] = '\0';
    for (size_t i = 0; i < r.n; i++)
        put(kv, i, value);
    /* The reference: the map as it is when the walk starts. */
    uint8_t *img;
    size_t len;
    cr_assert_eq(kv_snapshot(kv, 10, 1, &img, &len), 0);
    struct kv_store *then = kv_store_new();
    cr_assert_eq(kv_restore(then, img, len, NULL, NULL), 0);
    free(img);

    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_timer_init(&loop, &r.timer);
    r.timer.data = &r;
    bgsave_init(&r.b, &loop, st, on_done, &r);
    r.b.method = BGSAVE_WALK;
    r.last = now_s();
    cr_assert_eq(bgsave_start(&r.b, kv, 10, 1), 0, "%s", r.b.why);
    cr_assert_eq(r.b.pid, 0, "no child");
    cr_assert_neq(bgsave_start(&r.b, kv, 10, 1), 0, "a second snapshot while one runs");
    uv_timer_start(&r.timer, on_tick, 1, 1);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&r.timer, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0, "every handle closed");
    fprintf(stderr,
            "bgsave walk: 200k keys written in %.0f ms, %llu slices, loop %.0f ms, longest "
            "slice %.2f ms, %d ticks, longest loop gap %.1f ms, kept %zu keys (%zu bytes)\n",
            (double)r.b.write_ns / 1e6, (unsigned long long)r.b.walk_slices,
            (double)r.b.walk_loop_ns / 1e6, (double)r.b.walk_max_slice_ns / 1e6, r.ticks,
            r.max_gap * 1e3, r.b.walk_kept_keys, r.b.walk_kept_peak);
    cr_assert_eq(r.rc, 0, "%s", r.b.why);
    cr_assert_eq(storage_snapshot_index(st), 10);
    cr_assert_gt(r.ticks, 5, "the timer kept firing while the loop walked");
    cr_assert_gt(r.b.walk_slices, 5, "the walk took several slices");
    cr_assert_gt(r.b.walk_kept_keys, 0, "some keys changed before the walk reached them");
    /* A slice is bounded at about 2 ms; a loaded machine may stretch it. */
    cr_assert_lt(r.b.walk_max_slice_ns, 100000000ull, "longest slice %.1f ms",
                 (double)r.b.walk_max_slice_ns / 1e6);
    cr_assert_null(r.b.walk);

    storage_close(st);
    struct raft_restore rr;
    st = tsu_open(dir, &rr, NULL);
    cr_assert_eq(rr.snap_index, 10);
    cr_assert_eq(rr.n_entries, 0, "the log it covers is gone");
    struct kv_store *back = load_stored();
    cr_assert_eq(kv_store_size(back), 200000);
    cr_assert(kv_store_equal(back, then), "the snapshot is the map at the start");
    kv_store_free(back);
    kv_store_free(then);
}

/* The data directory as a kill -9 after `turns` turns of the loop leaves
 * it: a copy taken then (the page cache holds what was written). */
static int crash_copy(const char *to)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -a '%s' '%s'", to, dir, to);
    return system(cmd);
}

Test(bgsave_walk, a_crash_at_any_point_of_the_walk_starts_up_on_the_old_snapshot_or_the_new)
{
    cr_assert_eq(tsu_save_snapshot(st, 5, 1, "old"), STORAGE_OK);
    for (size_t i = 0; i < 30000; i++)
        put(kv, i, "some value of a few dozen bytes, so that the walk takes a while");
    char copy[300];
    snprintf(copy, sizeof copy, "%s.crash", dir);
    int olds = 0, news = 0;
    for (int at = 0;; at += 2) {
        struct run r = {.n = 30000};
        uv_loop_t loop;
        uv_loop_init(&loop);
        bgsave_init(&r.b, &loop, st, on_done, &r);
        r.b.method = BGSAVE_WALK;
        cr_assert_eq(bgsave_start(&r.b, kv, 10 + (raft_index)at, 1), 0, "%s", r.b.why);
        for (int t = 0; t < at && !r.done; t++)
            uv_run(&loop, UV_RUN_ONCE);
        cr_assert_eq(crash_copy(copy), 0);
        bool finished = r.done;
        if (!finished)
            bgsave_stop(&r.b);
        uv_run(&loop, UV_RUN_DEFAULT);
        cr_assert_eq(uv_loop_close(&loop), 0);
        /* Start up from the copy. */
        struct raft_restore rr;
        struct storage *c = tsu_open(copy, &rr, NULL);
        struct replica_log_store ls;
        storage_replica_log_store(c, &ls);
        struct kv_store *back = kv_store_new();
        cr_assert_eq(ls.load_snapshot(c, back), STORAGE_OK, "crash after %d turns: %s", at,
                     storage_error(c));
        if (rr.snap_index == 5) {
            char tag[16];
            tsu_snapshot_tag(c, tag, sizeof tag);
            cr_assert_str_eq(tag, "old", "crash after %d turns", at);
            olds++;
        } else {
            cr_assert_eq(rr.snap_index, 10 + (raft_index)at, "crash after %d turns", at);
            cr_assert_eq(kv_store_size(back), 30000);
            cr_assert(kv_store_equal(back, kv));
            news++;
        }
        kv_store_free(back);
        storage_close(c);
        if (finished)
            break;
        cr_assert_eq(storage_snapshot_index(st), 5, "a stopped walk committed nothing");
        char tmp[512];
        snprintf(tmp, sizeof tmp, "%s/snap-%020llu.tmp", dir, (unsigned long long)(10 + at));
        cr_assert_eq(access(tmp, F_OK), -1, "a stopped walk leaves no temp file");
    }
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", copy);
    cr_assert_eq(system(cmd), 0);
    fprintf(stderr, "bgsave walk crash points: %d on the old snapshot, %d on the new\n", olds,
            news);
    cr_assert_gt(olds, 3, "crash points inside the walk");
    cr_assert_eq(news, 1);
}

Test(bgsave_walk, a_failed_write_leaves_the_old_snapshot_and_the_next_walk_succeeds)
{
    cr_assert_eq(tsu_save_snapshot(st, 5, 1, "old"), STORAGE_OK);
    for (size_t i = 0; i < 20000; i++)
        put(kv, i, "v");
    struct run r = {.n = 20000};
    uv_loop_t loop;
    uv_loop_init(&loop);
    bgsave_init(&r.b, &loop, st, on_done, &r);
    r.b.method = BGSAVE_WALK;
    r.b.fail_errno = 28; /* ENOSPC */
    cr_assert_eq(bgsave_start(&r.b, kv, 10, 1), 0, "%s", r.b.why);
    while (!r.done)
        uv_run(&loop, UV_RUN_ONCE);
    cr_assert_eq(r.rc, BGSAVE_CHILD_FAILED);
    cr_assert_not_null(strstr(r.b.why, "No space left"), "%s", r.b.why);
    cr_assert_eq(storage_snapshot_index(st), 5);
    cr_assert_null(kv_store_size(kv) ? NULL : "empty");
    r.done = 0;
    cr_assert_eq(bgsave_start(&r.b, kv, 12, 1), 0, "%s", r.b.why);
    while (!r.done)
        uv_run(&loop, UV_RUN_ONCE);
    cr_assert_eq(r.rc, 0, "%s", r.b.why);
    cr_assert_eq(storage_snapshot_index(st), 12);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0);
}

Test(bgsave_walk, a_walk_past_its_memory_limit_makes_the_next_snapshot_fork_and_the_one_after_walk)
{
    cr_assert_eq(tsu_save_snapshot(st, 5, 1, "old"), STORAGE_OK);
    for (size_t i = 0; i < 20000; i++)
        put(kv, i, "v");
    struct run r = {.n = 20000};
    uv_loop_t loop;
    uv_loop_init(&loop);
    bgsave_init(&r.b, &loop, st, on_done, &r);
    r.b.method = BGSAVE_WALK;
    r.b.walk_max_bytes = 4096;
    r.b.walk_slice_ns = 1000; /* a few keys a turn: the writes below come first */
    cr_assert_eq(bgsave_start(&r.b, kv, 10, 1), 0, "%s", r.b.why);
    cr_assert(r.b.walking);
    for (int turn = 0; !r.done && turn < 100000; turn++) {
        for (size_t i = 0; i < 200; i++)
            put(kv, (size_t)(turn * 200 + i) % 20000, "overwritten during the walk");
        uv_run(&loop, UV_RUN_ONCE);
    }
    cr_assert_eq(r.rc, BGSAVE_CHILD_FAILED, "the walk should pass its 4096-byte limit");
    cr_assert_eq(storage_snapshot_index(st), 5);
    /* The next one forks, whatever the writes. */
    r.done = 0;
    cr_assert_eq(bgsave_start(&r.b, kv, 12, 1), 0, "%s", r.b.why);
    cr_assert_not(r.b.walking);
    cr_assert_gt(r.b.pid, 0);
    while (!r.done)
        uv_run(&loop, UV_RUN_ONCE);
    cr_assert_eq(r.rc, 0, "%s", r.b.why);
    cr_assert_eq(storage_snapshot_index(st), 12);
    /* And the one after walks again. */
    r.done = 0;
    r.b.walk_max_bytes = (size_t)64 << 20;
    cr_assert_eq(bgsave_start(&r.b, kv, 14, 1), 0, "%s", r.b.why);
    cr_assert(r.b.walking);
    while (!r.done)
        uv_run(&loop, UV_RUN_ONCE);
    cr_assert_eq(r.rc, 0, "%s", r.b.why);
    cr_assert_eq(storage_snapshot_index(st), 14);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0);
}

/* The pace (src/server/walk_pace.h) as the loop applies it, on a clock
 * that advances 100 us per step of the walk (the test hook): a walk on
 * time takes the base slice (1 ms: 10 steps) every turn; one far behind
 * its target (1 ns here) takes the longest slice allowed (5 ms) once a
 * 64th of it is written. */
Test(bgsave_walk, a_walk_behind_its_target_takes_slices_up_to_the_cap_and_one_on_time_the_base)
{
    for (size_t i = 0; i < 200000; i++)
        put(kv, i, "v");
    for (int behind = 0; behind < 2; behind++) {
        struct run r = {.n = 200000};
        uv_loop_t loop;
        uv_loop_init(&loop);
        bgsave_init(&r.b, &loop, st, on_done, &r);
        r.b.method = BGSAVE_WALK;
        r.b.walk_fake_step_ns = 100000;
        r.b.walk_slice_ns = 1000000;
        r.b.walk_max_slice_ns_limit = 5000000;
        if (behind)
            r.b.walk_target_ns = 1;
        cr_assert_eq(bgsave_start(&r.b, kv, 10 + (raft_index)behind, 1), 0, "%s", r.b.why);
        while (!r.done)
            uv_run(&loop, UV_RUN_ONCE);
        cr_assert_eq(r.rc, 0, "%s", r.b.why);
        fprintf(stderr, "bgsave walk pace: behind %d, %llu slices, longest %.2f ms\n", behind,
                (unsigned long long)r.b.walk_slices, (double)r.b.walk_max_slice_ns / 1e6);
        cr_assert_gt(r.b.walk_slices, 5, "several slices");
        cr_assert_eq(r.b.walk_max_budget_ns, behind ? 5000000ull : 1000000ull,
                     "behind %d: longest slice granted %llu ns", behind,
                     (unsigned long long)r.b.walk_max_budget_ns);
        cr_assert_eq(r.b.walk_max_slice_ns, behind ? 5000000ull : 1000000ull,
                     "behind %d: longest slice taken %llu ns", behind,
                     (unsigned long long)r.b.walk_max_slice_ns);
        uv_run(&loop, UV_RUN_DEFAULT);
        cr_assert_eq(uv_loop_close(&loop), 0);
    }
}
