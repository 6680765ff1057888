/* bgsave_test_util.h - the fixture test_bgsave.c and test_bgsave_walk.c
 * share: a store in a fresh directory holding ten log entries, an empty
 * map, and a run whose done callback records the snapshot's result. */
#ifndef RAFTKV_TESTS_BGSAVE_TEST_UTIL_H
#define RAFTKV_TESTS_BGSAVE_TEST_UTIL_H

#include <criterion/criterion.h>
#include <time.h>
#include <uv.h>

#include "kv/kv.h"
#include "server/bgsave.h"
#include "storage/storage_replica.h"
#include "test_storage_util.h"

static char dir[256];
static struct storage *st;
static struct kv_store *kv;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void setup(void)
{
    tsu_make_dir(dir, sizeof dir);
    struct raft_restore r;
    st = tsu_open(dir, &r, NULL);
    tsu_append_range(st, 1, 10, 1);
    cr_assert_eq(storage_sync(st), STORAGE_OK);
    kv = kv_store_new();
}

static void teardown(void)
{
    if (st)
        storage_close(st);
    kv_store_free(kv);
    tsu_remove_dir(dir);
}

struct run {
    struct bgsave b;
    uv_timer_t timer;
    double last, max_gap;
    int ticks, done, rc;
    size_t n;
};

static void on_done(struct bgsave *b, int rc)
{
    struct run *r = b->ctx;
    r->done = 1;
    r->rc = rc;
}

#endif
