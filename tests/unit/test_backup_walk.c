/* test_backup_walk.c - backup images written by the loop from a walk of
 * the map (src/server/backup_walk.c, RAFTKV.BACKUP with --snapshot-method
 * walk): a map of 100,000 keys is written while a 1 ms timer keeps
 * overwriting, deleting and creating keys; the file holds the map as it
 * was at the start, without the cluster's hash key, every byte counted; a
 * second walk of the map cannot begin meanwhile; a write error ends it as
 * failed, a walk abandoned by the map (replaced, or past its pre-image
 * limit) as given up; and a walk freed in the middle leaves no handle. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "kv/kv.h"
#include "kv/snapshot_walk.h"
#include "server/backup_walk.h"

#define BW_HEX_ID "0123456789abcdeffedcba9876543210"
#define BW_KEY_HEX "5a5a5a5a5a5a5a5a0102030405060708"

static void bw_apply(struct kv_store *s, int op, size_t i, const char *value)
{
    char k[32];
    snprintf(k, sizeof k, "key:%08zu", i);
    json_t *key = json_string(k), *v = value ? json_string(value) : NULL;
    struct kv_command c = {.op = op, .key = key, .value = v};
    struct kv_result r;
    kv_apply(s, &c, 0, &r);
    json_decref(key);
    json_decref(v);
}

/* A store with the cluster's id and hash key, then n keys of 100 bytes. */
static struct kv_store *bw_store(size_t n)
{
    struct kv_store *s = kv_store_new();
    struct kv_command c = {.op = KV_CLUSTER_ID, .value = json_string(BW_HEX_ID),
                           .to = json_string(BW_KEY_HEX)};
    uint8_t *data;
    size_t len;
    cr_assert_eq(kv_command_encode(&c, &data, &len), 0);
    json_decref(c.value);
    json_decref(c.to);
    struct kv_result r;
    kv_apply_bytes(s, data, len, 0, &r);
    free(data);
    cr_assert_eq(r.code, 0);
    cr_assert(kv_has_map_key(s));
    char value[101];
    memset(value, 'v', 100);
    value[100] = '\0';
    for (size_t i = 0; i < n; i++)
        bw_apply(s, KV_WRITE, i, value);
    return s;
}

static int bw_tmpfile(void)
{
    int fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        char path[] = "/tmp/raftkv-bw-XXXXXX";
        fd = mkstemp(path);
        cr_assert_geq(fd, 0);
        unlink(path);
    }
    return fd;
}

struct bw_run {
    struct kv_store *kv;
    struct backup_walk *w;
    uv_timer_t timer;
    size_t n;
    int ticks, done, rc;
    uint64_t started_ms; /* the loop's clock at the start */
    char why[200];
    bool detach_at_tick_3; /* the map is replaced under the walk */
    bool free_at_tick_2;   /* the owner goes (its connection closed) */
};

static void bw_done(void *ctx, int rc, const char *why)
{
    struct bw_run *r = ctx;
    r->done++;
    r->rc = rc;
    snprintf(r->why, sizeof r->why, "%s", why);
    backup_walk_free(r->w); /* as cmd_backup.c does, in the callback */
    r->w = NULL;
}

static void bw_tick(uv_timer_t *t)
{
    struct bw_run *r = t->data;
    r->ticks++;
    /* A walk that stalls fails here instead of hanging the suite: with
     * this timer firing, Criterion's --timeout did not end such a test. */
    cr_assert_lt(uv_now(t->loop) - r->started_ms, 60000, "no end after 60 s (%d ticks)", r->ticks);
    /* Changes after the start: the image must not see them. */
    for (int i = 0; i < 50; i++) {
        size_t k = (size_t)(r->ticks * 50 + i) * 7919 % (r->n + r->n / 10);
        if (i % 5 == 0)
            bw_apply(r->kv, KV_DELETE, k, NULL);
        else
            bw_apply(r->kv, KV_WRITE, k, "written after the start");
    }
    if (r->detach_at_tick_3 && r->ticks == 3)
        kv_snapshot_walk_detach(r->kv);
    if (r->free_at_tick_2 && r->ticks == 2 && r->w) {
        backup_walk_free(r->w);
        r->w = NULL;
        r->done = -1;
    }
    if (r->done)
        uv_stop(t->loop);
}

/* Walk r->kv into fd on a fresh loop, the timer changing the map, until
 * done (or freed). */
static void bw_run(struct bw_run *r, int fd, size_t max_kept, unsigned pause_ms)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_timer_init(&loop, &r->timer);
    r->timer.data = r;
    struct backup_walk_options o = {.loop = &loop,
                                    .fd = fd,
                                    .max_kept_bytes = max_kept,
                                    .slice_ns = 2000000,
                                    .pause_ms = pause_ms,
                                    .done = bw_done,
                                    .ctx = r};
    char why[200];
    r->w = backup_walk_start(&o, r->kv, 42, 7, why, sizeof why);
    cr_assert_not_null(r->w, "%s", why);
    /* One walk of the map at a time. */
    struct backup_walk_options o2 = o;
    cr_assert_null(backup_walk_start(&o2, r->kv, 42, 7, why, sizeof why));
    cr_assert_str_eq(why, "a walk over the map is under way");
    r->started_ms = uv_now(&loop);
    uv_timer_start(&r->timer, bw_tick, 1, 1);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&r->timer, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0, "every handle closed");
}

static uint8_t *bw_read_all(int fd, size_t *len)
{
    struct stat sb;
    cr_assert_eq(fstat(fd, &sb), 0);
    *len = (size_t)sb.st_size;
    uint8_t *data = malloc(*len + 1);
    cr_assert_not_null(data);
    cr_assert_eq(pread(fd, data, *len, 0), (ssize_t)*len);
    return data;
}

Test(backup_walk, the_image_is_the_map_at_the_start_without_the_hash_key)
{
    struct bw_run r = {.n = 100000};
    r.kv = bw_store(r.n);
    uint8_t *img;
    size_t len;
    cr_assert_eq(kv_snapshot(r.kv, 42, 7, &img, &len), 0);
    struct kv_store *then = kv_store_new();
    cr_assert_eq(kv_restore(then, img, len, NULL, NULL), 0);
    free(img);

    int fd = bw_tmpfile();
    bw_run(&r, fd, (size_t)512 << 20, 0);
    cr_assert_eq(r.done, 1);
    cr_assert_eq(r.rc, 0, "%s", r.why);
    cr_assert_gt(r.ticks, 5, "the timer kept firing while the loop walked");

    uint8_t *data = bw_read_all(fd, &len);
    cr_assert_gt(len, r.n * 100);
    cr_assert_null(memmem(data, len, "map_key", 7), "a backup holds no hash key");
    static const uint8_t key[8] = {0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a};
    cr_assert_null(memmem(data, len, key, sizeof key), "the key's bytes are in the image");
    struct kv_store *back = kv_store_new();
    uint64_t index = 0, term = 0;
    cr_assert_eq(kv_restore(back, data, len, &index, &term), 0, "the image reads back whole");
    cr_assert_eq(index, 42);
    cr_assert_eq(term, 7);
    cr_assert_eq(kv_store_size(back), r.n);
    cr_assert_not(kv_has_map_key(back));
    uint8_t id[16];
    cr_assert(kv_cluster_id(back, id), "the cluster id stays");
    cr_assert(kv_store_equal(back, then), "the image is the map at the start");
    free(data);
    kv_store_free(back);
    kv_store_free(then);
    kv_store_free(r.kv);
    close(fd);
}

Test(backup_walk, slow_writes_hold_the_walk_back_and_the_image_is_still_whole)
{
    /* The writer sleeps 20 ms after every MiB (the test hook): the walk
     * waits behind its full queue, and the file grows MiB by MiB. */
    struct bw_run r = {.n = 40000};
    r.kv = bw_store(r.n);
    int fd = bw_tmpfile();
    bw_run(&r, fd, (size_t)512 << 20, 20);
    cr_assert_eq(r.rc, 0, "%s", r.why);
    size_t len;
    uint8_t *data = bw_read_all(fd, &len);
    struct kv_store *back = kv_store_new();
    cr_assert_eq(kv_restore(back, data, len, NULL, NULL), 0);
    cr_assert_eq(kv_store_size(back), r.n);
    cr_assert_gt(r.ticks, 4 * (int)(len >> 20), "%d ticks for %zu bytes", r.ticks, len);
    free(data);
    kv_store_free(back);
    kv_store_free(r.kv);
    close(fd);
}

Test(backup_walk, a_write_error_fails_the_image)
{
    struct bw_run r = {.n = 20000};
    r.kv = bw_store(r.n);
    char path[] = "/tmp/raftkv-bw-ro-XXXXXX";
    int w = mkstemp(path);
    cr_assert_geq(w, 0);
    close(w);
    int fd = open(path, O_RDONLY);
    unlink(path);
    bw_run(&r, fd, (size_t)512 << 20, 0);
    cr_assert_eq(r.done, 1);
    cr_assert_eq(r.rc, BACKUP_WALK_FAILED);
    cr_assert_str_eq(r.why, "writing the image: Bad file descriptor");
    close(fd);
    /* The map is no longer walked: another walk begins. */
    int fd2 = bw_tmpfile();
    struct bw_run r2 = {.n = r.n, .kv = r.kv};
    bw_run(&r2, fd2, (size_t)512 << 20, 0);
    cr_assert_eq(r2.rc, 0, "%s", r2.why);
    close(fd2);
    kv_store_free(r.kv);
}

Test(backup_walk, a_walk_the_map_abandons_gives_up)
{
    /* Replaced under it (an installed snapshot, FLUSHALL's detach). */
    struct bw_run r = {.n = 100000, .detach_at_tick_3 = true};
    r.kv = bw_store(r.n);
    int fd = bw_tmpfile();
    bw_run(&r, fd, (size_t)512 << 20, 20);
    cr_assert_eq(r.done, 1);
    cr_assert_eq(r.rc, BACKUP_WALK_GAVE_UP, "rc %d: %s", r.rc, r.why);
    cr_assert_str_eq(r.why, "the map was replaced");
    close(fd);
    /* Past its pre-images' limit. */
    struct bw_run r2 = {.n = 100000, .kv = r.kv};
    fd = bw_tmpfile();
    bw_run(&r2, fd, 4096, 20);
    cr_assert_eq(r2.rc, BACKUP_WALK_GAVE_UP, "rc %d: %s", r2.rc, r2.why);
    close(fd);
    kv_store_free(r.kv);
}

Test(backup_walk, a_walk_freed_in_the_middle_leaves_nothing_running)
{
    struct bw_run r = {.n = 100000, .free_at_tick_2 = true};
    r.kv = bw_store(r.n);
    int fd = bw_tmpfile();
    bw_run(&r, fd, (size_t)512 << 20, 20);
    cr_assert_eq(r.done, -1, "freed before it ended");
    /* The map is free for the next walk. */
    int fd2 = bw_tmpfile();
    struct bw_run r2 = {.n = r.n, .kv = r.kv};
    bw_run(&r2, fd2, (size_t)512 << 20, 0);
    cr_assert_eq(r2.rc, 0, "%s", r2.why);
    close(fd);
    close(fd2);
    kv_store_free(r.kv);
}
