/* test_bgsave.c - snapshots written by a forked child (src/server/bgsave.c):
 * a map of 200,000 keys is snapshotted while a 1 ms timer keeps firing and
 * overwriting keys; the loop's longest gap stays far below what writing the
 * snapshot takes, and the file holds the map as it was at the fork, none of
 * the later writes. A killed child leaves the old snapshot and no temp
 * file; a second snapshot is refused while one runs, and the next one may
 * start from the done callback. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>

#include "kv/kv.h"
#include "server/bgsave.h"
#include "storage/storage_replica.h"
#include "test_storage_util.h"
#include "bgsave_test_util.h"

static void put(struct kv_store *s, size_t i, const char *value)
{
    char k[32];
    snprintf(k, sizeof k, "key:%08zu", i);
    json_t *key = json_string(k), *v = json_string(value);
    struct kv_command c = {.op = KV_WRITE, .key = key, .value = v};
    struct kv_result r;
    kv_apply(s, &c, 0, &r);
    json_decref(key);
    json_decref(v);
}

static void on_tick(uv_timer_t *t)
{
    struct run *r = t->data;
    double n = now_s();
    if (n - r->last > r->max_gap)
        r->max_gap = n - r->last;
    r->last = n;
    r->ticks++;
    /* Writes after the fork: the snapshot must not see them. */
    for (int i = 0; i < 50; i++)
        put(kv, (size_t)(r->ticks * 50 + i) % r->n, "written after the fork");
    if (r->done)
        uv_stop(t->loop);
}

TestSuite(bgsave, .init = setup, .fini = teardown, .timeout = 120);

Test(bgsave, a_snapshot_of_200k_keys_leaves_the_loop_running_and_holds_the_fork_time_map)
{
    struct run r = {.n = 200000};
    char value[101];
    memset(value, 'v', 100);
    value[100] = '\0';
    for (size_t i = 0; i < r.n; i++)
        put(kv, i, value);
    /* What writing the same map takes on this thread, for comparison. */
    double t0 = now_s();
    uint8_t *img;
    size_t len;
    cr_assert_eq(kv_snapshot(kv, 10, 1, &img, &len), 0);
    double inline_s = now_s() - t0;
    free(img);

    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_timer_init(&loop, &r.timer);
    r.timer.data = &r;
    bgsave_init(&r.b, &loop, st, on_done, &r);
    r.last = now_s();
    cr_assert_eq(bgsave_start(&r.b, kv, 10, 1), 0, "%s", r.b.why);
    cr_assert_neq(bgsave_start(&r.b, kv, 10, 1), 0, "a second snapshot while one runs");
    uv_timer_start(&r.timer, on_tick, 1, 1);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&r.timer, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    fprintf(stderr,
            "bgsave: 200k keys: inline encode %.0f ms; background: fork %.1f ms, written in %.0f "
            "ms, %d ticks, longest loop gap %.1f ms\n",
            inline_s * 1e3, (double)r.b.fork_ns / 1e6, (double)r.b.write_ns / 1e6, r.ticks,
            r.max_gap * 1e3);
    cr_assert_eq(r.rc, 0, "%s", r.b.why);
    cr_assert_eq(storage_snapshot_index(st), 10);
    cr_assert_gt(r.ticks, 5, "the timer kept firing while the child wrote");
    /* A generous bound for a loaded 2-core machine: the point is that the
     * loop never waits for the whole snapshot. */
    cr_assert_lt(r.max_gap, 0.25, "longest loop gap %.0f ms", r.max_gap * 1e3);

    /* The file holds the map as of the fork. */
    storage_close(st);
    struct raft_restore rr;
    st = tsu_open(dir, &rr, NULL);
    cr_assert_eq(rr.snap_index, 10);
    cr_assert_eq(rr.n_entries, 0, "the log it covers is gone");
    struct replica_log_store ls;
    storage_replica_log_store(st, &ls);
    struct kv_store *back = kv_store_new();
    cr_assert_eq(ls.load_snapshot(st, back), STORAGE_OK, "%s", storage_error(st));
    cr_assert_eq(kv_store_size(back), 200000);
    struct kv_store *then = kv_store_new();
    for (size_t i = 0; i < r.n; i++)
        put(then, i, value);
    cr_assert(kv_store_equal(back, then), "the snapshot is the map at the fork");
    kv_store_free(back);
    kv_store_free(then);
}

static void on_tick_kill(uv_timer_t *t)
{
    struct run *r = t->data;
    if (r->ticks++ == 0)
        kill(r->b.pid, SIGKILL);
    if (r->done)
        uv_stop(t->loop);
}

Test(bgsave, a_killed_child_leaves_the_old_snapshot_and_no_temp_file)
{
    cr_assert_eq(tsu_save_snapshot(st, 5, 1, "old"), STORAGE_OK);
    for (size_t i = 0; i < 100000; i++)
        put(kv, i, "some value of a few dozen bytes, so that the child takes a while");
    struct run r = {.n = 100000};
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_timer_init(&loop, &r.timer);
    r.timer.data = &r;
    bgsave_init(&r.b, &loop, st, on_done, &r);
    cr_assert_eq(bgsave_start(&r.b, kv, 10, 1), 0, "%s", r.b.why);
    uv_timer_start(&r.timer, on_tick_kill, 0, 1);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&r.timer, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    cr_assert_eq(r.rc, BGSAVE_CHILD_FAILED);
    cr_assert_not_null(strstr(r.b.why, "killed by signal 9"), "%s", r.b.why);
    cr_assert_eq(storage_snapshot_index(st), 5);
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s/snap-00000000000000000010.tmp", dir);
    cr_assert_eq(access(tmp, F_OK), -1, "the temp file is gone");
    char tag[16];
    tsu_snapshot_tag(st, tag, sizeof tag);
    cr_assert_str_eq(tag, "old");
}

/* The replica starts the next snapshot as soon as it hears of the last one,
 * from inside the done callback, before libuv has closed the last child's
 * watcher: that start must not be refused. */
static void on_done_start_next(struct bgsave *b, int rc)
{
    struct run *r = b->ctx;
    r->rc = rc;
    if (++r->done == 1 && rc == 0)
        r->ticks = bgsave_start(b, kv, 20, 1) == 0 ? 1 : -1;
}

static void on_tick_wait(uv_timer_t *t)
{
    struct run *r = t->data;
    if (r->done == 2 || r->ticks == -1)
        uv_stop(t->loop);
}

Test(bgsave, the_next_snapshot_starts_from_the_done_callback)
{
    for (size_t i = 0; i < 1000; i++)
        put(kv, i, "v");
    struct run r = {.n = 1000};
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_timer_init(&loop, &r.timer);
    r.timer.data = &r;
    bgsave_init(&r.b, &loop, st, on_done_start_next, &r);
    cr_assert_eq(bgsave_start(&r.b, kv, 10, 1), 0, "%s", r.b.why);
    uv_timer_start(&r.timer, on_tick_wait, 1, 1);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&r.timer, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0, "every watcher closed and freed");
    cr_assert_eq(r.ticks, 1, "the second start was refused: %s", r.b.why);
    cr_assert_eq(r.done, 2);
    cr_assert_eq(r.rc, 0, "%s", r.b.why);
    cr_assert_eq(storage_snapshot_index(st), 20);
}
