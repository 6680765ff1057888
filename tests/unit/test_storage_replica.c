/* test_storage_replica.c - the store behind a real replica: writes a
 * single-node replica acknowledged survive a restart from the data
 * directory, through snapshots and compaction, and one batch of writes costs
 * a handful of syncs, not one each (group commit). */
#include "storage/storage_replica.h"
#include "test_storage_util.h"

static char dir[256];

static void setup(void)
{
    tsu_make_dir(dir, sizeof dir);
}

static void teardown(void)
{
    tsu_remove_dir(dir);
}

TestSuite(storage_replica, .init = setup, .fini = teardown);

struct outcome {
    int done, other;
};

static void on_send(void *ctx, const struct raft_msg *m)
{
    (void)ctx;
    (void)m; /* a single node sends nothing that matters */
}

static void on_complete(void *ctx, uint64_t ref, const struct replica_result *res)
{
    (void)ref;
    struct outcome *o = ctx;
    if (res->status == REPLICA_DONE && res->kv.code == KV_OK)
        o->done++;
    else
        o->other++;
}

struct node {
    struct storage *st;
    struct replica_log_store ls;
    struct replica *r;
    struct outcome out;
    uint64_t now;
};

/* Entries the core keeps behind a snapshot; 0: the default. */
static size_t node_trailing;
/* The store's options; NULL: the defaults. */
static struct storage_options *node_opts;

static void node_start(struct node *n, uint64_t now)
{
    memset(n, 0, sizeof *n);
    n->now = now;
    struct raft_restore restore;
    n->st = tsu_open(dir, &restore, node_opts);
    storage_replica_log_store(n->st, &n->ls);
    struct replica_config c;
    replica_config_default(&c, 0, 1, 42);
    c.send = on_send;
    c.complete = on_complete;
    c.ctx = &n->out;
    c.store = &n->ls;
    c.snapshot_threshold = 25;
    c.raft.verify_lent = true; /* every loan compared with the core's copy */
    if (node_trailing)
        c.raft.snapshot_trailing = node_trailing;
    n->r = replica_new(&c, n->now);
    cr_assert_not_null(n->r, "replica_new from the stored state");
    storage_release_restore(n->st);
    for (int i = 0; i < 1000 && replica_role(n->r) != RAFT_LEADER; i++) {
        n->now += 10;
        replica_tick(n->r, n->now);
        cr_assert_eq(replica_flush(n->r, n->now), 0, "%s", storage_error(n->st));
    }
    cr_assert_eq(replica_role(n->r), RAFT_LEADER, "a single node elects itself");
}

static void node_stop(struct node *n)
{
    replica_free(n->r);
    storage_close(n->st);
}

static void node_write_batch(struct node *n, int first, int count)
{
    int want = n->out.done + count;
    for (int i = first; i < first + count; i++) {
        json_t *key = json_integer(i), *value = json_integer(i * 10);
        struct kv_command c = {.op = KV_WRITE, .key = key, .value = value};
        replica_submit(n->r, (uint64_t)i, &c, n->now);
        json_decref(key);
        json_decref(value);
    }
    for (int i = 0; i < 1000 && n->out.done < want; i++) {
        cr_assert_eq(replica_flush(n->r, n->now), 0, "%s", storage_error(n->st));
        n->now += 1;
        replica_tick(n->r, n->now);
    }
    cr_assert_eq(n->out.done, want, "acknowledged %d of %d", n->out.done, want);
    cr_assert_eq(n->out.other, 0);
}

static void expect_value(struct node *n, int key, int value)
{
    json_t *k = json_integer(key);
    struct kv_command c = {.op = KV_READ, .key = k};
    struct kv_result res;
    kv_apply((struct kv_store *)replica_store(n->r), &c, 0, &res);
    cr_assert_eq(res.code, KV_OK, "key %d lost after restart", key);
    cr_assert(json_is_integer(res.value) && json_integer_value(res.value) == value,
              "key %d: wrong value after restart", key);
    json_decref(res.value);
    json_decref(k);
}

Test(storage_replica, acknowledged_writes_survive_a_restart_through_snapshots)
{
    struct node n;
    node_start(&n, 0);
    raft_term term_before = replica_term(n.r);
    for (int b = 0; b < 6; b++)
        node_write_batch(&n, b * 20, 20);
    struct storage_stats st;
    storage_get_stats(n.st, &st);
    cr_assert_gt(st.snapshots, 0, "120 entries with a threshold of 25 snapshot the map");
    uint64_t now = n.now;
    node_stop(&n);

    node_start(&n, now + 1000);
    cr_assert_geq(replica_term(n.r), term_before);
    for (int i = 0; i < 120; i++)
        expect_value(&n, i, i * 10);
    node_write_batch(&n, 500, 5);
    node_stop(&n);
}

/* A restart lends the stored log to the core instead of copying it: the
 * entries are applied from the mapped segments after the entry array went
 * (storage_release_restore in node_start), and the loan ends once snapshots
 * compacted the core's log past the last restored entry. */
Test(storage_replica, a_restart_lends_the_log_to_the_core_until_compaction_passes_it)
{
    node_trailing = 4;
    struct node n;
    node_start(&n, 0);
    node_write_batch(&n, 0, 20); /* 21 entries: under the threshold of 25 */
    struct storage_stats st;
    storage_get_stats(n.st, &st);
    cr_assert_eq(st.snapshots, 0);
    cr_assert_eq(st.lent_bytes, 0, "nothing was restored, so nothing is lent");
    uint64_t now = n.now;
    node_stop(&n);

    node_start(&n, now + 1000);
    storage_get_stats(n.st, &st);
    cr_assert_gt(st.lent_bytes, 0, "the restored entries point into the segments");
    node_write_batch(&n, 100, 1); /* commits, so the restored entries are applied */
    for (int i = 0; i < 20; i++)
        expect_value(&n, i, i * 10);
    storage_get_stats(n.st, &st);
    cr_assert_gt(st.lent_bytes, 0, "no snapshot yet: still lent");
    for (int b = 1; b < 4; b++)
        node_write_batch(&n, b * 20, 20);
    storage_get_stats(n.st, &st);
    cr_assert_gt(st.snapshots, 0);
    cr_assert_eq(st.lent_bytes, 0, "compacted past the restored entries: the loan ended");
    for (int i = 0; i < 80; i++)
        expect_value(&n, i, i * 10);
    now = n.now;
    node_stop(&n);

    node_start(&n, now + 1000);
    for (int i = 0; i < 80; i++)
        expect_value(&n, i, i * 10);
    node_stop(&n);
    node_trailing = 0;
}

/* While it runs, entries applied and made durable are lent from their
 * segment files (the core frees its copies, and each loan's bytes were
 * compared with them): across segment rolls, snapshots that delete
 * segments under lent entries, and a restart over a log that is lent
 * both ways; the mappings follow compaction instead of piling up. */
Test(storage_replica, a_running_node_lends_applied_entries_from_its_segments)
{
    struct storage_options o = {.segment_bytes = 256};
    node_opts = &o;
    node_trailing = 4;
    struct node n;
    node_start(&n, 0);
    node_write_batch(&n, 0, 20); /* under the threshold of 25: no snapshot */
    struct replica_stats rs;
    replica_stats(n.r, &rs);
    cr_assert_geq(rs.lent, 21, "the no-op and the 20 writes are lent");
    cr_assert_eq(rs.lend_refused, 0);
    cr_assert_gt(replica_log_lent_bytes(n.r), 0);
    struct storage_stats st;
    storage_get_stats(n.st, &st);
    cr_assert_gt(st.segments, 1);
    cr_assert_eq(st.lend_maps, st.segments, "each segment mapped once");
    for (int b = 1; b < 8; b++)
        node_write_batch(&n, b * 20, 20);
    storage_get_stats(n.st, &st);
    cr_assert_geq(st.snapshots, 4);
    cr_assert_leq(st.lend_maps, st.segments + 1,
                  "segments compacted away are unmapped once the core passed them");
    replica_stats(n.r, &rs);
    cr_assert_eq(rs.lend_refused, 0);
    for (int i = 0; i < 160; i++)
        expect_value(&n, i, i * 10);
    uint64_t now = n.now;
    node_stop(&n);

    /* Restarted: the restored entries are lent by the restore, the next
     * ones by the running loans, and the restore's loan ends with them. */
    node_start(&n, now + 1000);
    node_write_batch(&n, 200, 5);
    replica_stats(n.r, &rs);
    cr_assert_geq(rs.lent, 5);
    for (int b = 0; b < 4; b++)
        node_write_batch(&n, 300 + b * 20, 20);
    storage_get_stats(n.st, &st);
    cr_assert_eq(st.lent_bytes, 0, "compacted past the restored entries: the restore's loan ended");
    replica_stats(n.r, &rs);
    cr_assert_eq(rs.lend_refused, 0);
    for (int i = 0; i < 160; i++)
        expect_value(&n, i, i * 10);
    node_stop(&n);
    node_trailing = 0;
    node_opts = NULL;
}

Test(storage_replica, a_batch_of_writes_is_made_durable_with_few_syncs)
{
    struct node n;
    node_start(&n, 0);
    struct storage_stats before, after;
    storage_get_stats(n.st, &before);
    node_write_batch(&n, 0, 20);
    storage_get_stats(n.st, &after);
    cr_assert_leq(after.syncs - before.syncs, 4, "20 writes in one batch took %" PRIu64 " syncs",
                  after.syncs - before.syncs);
    cr_assert_geq(after.entries - before.entries, 20);
    node_stop(&n);
}

/* A fresh single-node replica in `path`, ticked until it leads. */
static uint64_t start_fresh_leader(struct node *n, const char *path, struct storage_options *o)
{
    memset(n, 0, sizeof *n);
    struct raft_restore restore;
    n->st = tsu_open(path, &restore, o);
    storage_replica_log_store(n->st, &n->ls);
    struct replica_config c;
    replica_config_default(&c, 0, 1, 7);
    c.send = on_send;
    c.complete = on_complete;
    c.ctx = &n->out;
    c.store = &n->ls;
    n->r = replica_new(&c, 0);
    cr_assert_not_null(n->r);
    uint64_t now = 0;
    while (replica_role(n->r) != RAFT_LEADER && now < 20000) {
        now += 10;
        replica_tick(n->r, now);
        cr_assert_eq(replica_flush(n->r, now), 0, "%s", storage_error(n->st));
    }
    cr_assert_eq(replica_role(n->r), RAFT_LEADER);
    return now;
}

Test(storage_replica, a_failed_fsync_stops_the_replica_before_the_write_is_acknowledged)
{
    /* A rehearsal counts the fsyncs an election takes; the same seed and
     * clock make the real run identical up to the write, whose fsync fails. */
    char rehearsal[256];
    tsu_make_dir(rehearsal, sizeof rehearsal);
    struct node n;
    start_fresh_leader(&n, rehearsal, NULL);
    struct storage_stats st;
    storage_get_stats(n.st, &st);
    node_stop(&n);
    tsu_remove_dir(rehearsal);

    struct storage_options o = {.fail_sync_at = st.fsyncs + 1};
    uint64_t now = start_fresh_leader(&n, dir, &o);
    json_t *key = json_integer(1), *value = json_integer(2);
    struct kv_command cmd = {.op = KV_WRITE, .key = key, .value = value};
    replica_submit(n.r, 1, &cmd, now);
    json_decref(key);
    json_decref(value);
    int rc = replica_flush(n.r, now);
    for (int i = 0; i < 100 && rc == 0; i++) {
        now += 10;
        replica_tick(n.r, now);
        rc = replica_flush(n.r, now);
    }
    cr_assert_neq(rc, 0, "the failed sync reaches the driver");
    cr_assert_eq(n.out.done, 0, "nothing is acknowledged on a disk that failed");
    cr_assert_not_null(strstr(storage_error(n.st), "Input/output error"), "%s",
                       storage_error(n.st));
    replica_free(n.r);
    storage_close(n.st);
}

/* A follower handed a snapshot whose image a transport received as a file
 * (replica_receive_snapshot_file): the store adopts the file, the map is
 * loaded from it, and nothing reads the image into one buffer. An
 * image-less SNAPSHOT through the ordinary path is refused. */
Test(storage_replica, a_snapshot_received_as_a_file_is_adopted_and_loaded)
{
    struct raft_restore restore;
    struct storage *st = tsu_open(dir, &restore, NULL);
    struct replica_log_store ls;
    storage_replica_log_store(st, &ls);
    struct outcome out = {0};
    struct replica_config c;
    replica_config_default(&c, 1, 2, 7);
    c.send = on_send;
    c.complete = on_complete;
    c.ctx = &out;
    c.store = &ls;
    c.stream_snapshots = true;
    struct replica *r = replica_new(&c, 0);
    cr_assert_not_null(r);
    storage_release_restore(st);

    /* The leader's image at (50, 3): keys 0..99 -> 7 * key. */
    struct kv_store *kv = kv_store_new();
    for (int i = 0; i < 100; i++) {
        json_t *k = json_integer(i), *v = json_integer(7 * i);
        struct kv_command w = {.op = KV_WRITE, .key = k, .value = v};
        struct kv_result res;
        kv_apply(kv, &w, 0, &res);
        json_decref(k);
        json_decref(v);
    }
    uint8_t *img;
    size_t len;
    cr_assert_eq(kv_snapshot(kv, 50, 3, &img, &len), 0);
    kv_store_free(kv);
    struct raft_msg m = {.type = RAFT_MSG_SNAPSHOT, .from = 0, .to = 1, .term = 3, .commit = 50,
                         .snap_index = 50, .snap_term = 3};
    cr_assert_eq(replica_receive(r, &m, 10), RAFT_ERR_INVALID, "no image, no file: refused");
    cr_assert_eq(replica_applied_index(r), 0);

    int fd;
    cr_assert_eq(storage_snapshot_recv_begin(st, 50, &fd), STORAGE_OK);
    cr_assert_eq(write(fd, img, len), (ssize_t)len);
    close(fd);
    free(img);
    cr_assert_eq(replica_receive_snapshot_file(r, &m, 20), 0);
    cr_assert_eq(replica_flush(r, 20), 0, "%s", storage_error(st));
    cr_assert_eq(replica_applied_index(r), 50);
    cr_assert_eq(storage_snapshot_index(st), 50);
    cr_assert_not(storage_snapshot_recv_staged(st, 50));
    cr_assert_eq(tsu_count_files(dir, "snap-00000000000000000050.snap"), 1);
    cr_assert_eq(tsu_count_files(dir, "snap-00000000000000000050.recv"), 0);
    struct node n = {.r = r};
    expect_value(&n, 0, 0);
    expect_value(&n, 99, 693);
    cr_assert_eq(kv_store_size(replica_store(r)), 100);
    replica_free(r);
    storage_close(st);

    /* And it is what a restart finds. */
    struct node again;
    node_start(&again, 1000);
    expect_value(&again, 42, 294);
    node_stop(&again);
}
