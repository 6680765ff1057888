/* test_storage_replica_prepared.c - a follower handed a snapshot whose map
 * the transport built off its loop (replica_receive_snapshot_prepared): the
 * old map serves and applies until the core installs the snapshot, then the
 * prepared map is swapped in as it is (no reload), holding exactly the
 * snapshot's state; the old map goes to config.retire_store; later entries
 * apply on top; and a prepared map the core does not install is retired
 * without touching the state. */
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

TestSuite(storage_replica_prepared, .init = setup, .fini = teardown);

struct ctx {
    struct kv_store *retired[8];
    int n_retired;
};

static void on_send(void *c, const struct raft_msg *m)
{
    (void)c;
    (void)m;
}

static void on_complete(void *c, uint64_t ref, const struct replica_result *res)
{
    (void)c;
    (void)ref;
    (void)res;
}

static void on_retire(void *c, struct kv_store *kv)
{
    struct ctx *x = c;
    cr_assert_lt(x->n_retired, 8);
    x->retired[x->n_retired++] = kv;
}

/* key -> value writes as log entries (first, first+1, ...) of term 3,
 * from leader 0, with the leader's commit index. */
static void append(struct replica *r, raft_index prev, raft_index commit, const int (*kv)[2],
                   size_t n, uint64_t now)
{
    struct raft_entry e[8];
    cr_assert_leq(n, 8);
    for (size_t i = 0; i < n; i++) {
        json_t *k = json_integer(kv[i][0]), *v = json_integer(kv[i][1]);
        struct kv_command c = {.op = KV_WRITE, .key = k, .value = v};
        uint8_t *data;
        size_t len;
        cr_assert_eq(kv_command_encode(&c, &data, &len), 0);
        json_decref(k);
        json_decref(v);
        e[i] = (struct raft_entry){.term = 3, .index = prev + 1 + i, .type = RAFT_ENTRY_COMMAND,
                                   .len = (uint32_t)len, .data = data};
    }
    struct raft_msg m = {.type = RAFT_MSG_APPEND, .from = 0, .to = 1, .term = 3,
                         .prev_index = prev, .prev_term = prev ? 3 : 0, .commit = commit,
                         .entries = e, .n_entries = n};
    cr_assert_eq(replica_receive(r, &m, now), 0);
    for (size_t i = 0; i < n; i++)
        free(e[i].data);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(replica_flush(r, now + (uint64_t)i), 0);
}

/* The value of integer key k in a store, or -1 when absent. */
static long long value_of(const struct kv_store *s, int k)
{
    json_t *key = json_integer(k);
    struct kv_command c = {.op = KV_READ, .key = key};
    struct kv_result res;
    kv_apply((struct kv_store *)s, &c, 0, &res);
    json_decref(key);
    long long v = res.code == KV_OK && json_is_integer(res.value) ? json_integer_value(res.value)
                                                                  : -1;
    kv_result_release(&res);
    return v;
}

Test(storage_replica_prepared, the_prepared_map_is_swapped_in_when_the_core_installs_it)
{
    struct raft_restore restore;
    struct storage *st = tsu_open(dir, &restore, NULL);
    struct replica_log_store ls;
    storage_replica_log_store(st, &ls);
    struct ctx x = {0};
    struct replica_config c;
    replica_config_default(&c, 1, 2, 7);
    c.send = on_send;
    c.complete = on_complete;
    c.retire_store = on_retire;
    c.ctx = &x;
    c.store = &ls;
    c.stream_snapshots = true;
    struct replica *r = replica_new(&c, 0);
    cr_assert_not_null(r);
    storage_release_restore(st);

    /* The follower's own history: 1..3 applied; key 500 exists only here. */
    append(r, 0, 3, (const int[][2]){{500, 1}, {0, -1}, {1, -1}}, 3, 10);
    cr_assert_eq(replica_applied_index(r), 3);
    cr_assert_eq(value_of(replica_store(r), 500), 1);

    /* The leader's image at (50, 3): keys 0..99 -> 7 * key, staged as the
     * transport leaves it, and the map built from it aside. */
    struct kv_store *prepared = kv_store_new();
    for (int i = 0; i < 100; i++) {
        json_t *k = json_integer(i), *v = json_integer(7 * i);
        struct kv_command w = {.op = KV_WRITE, .key = k, .value = v};
        struct kv_result res;
        kv_apply(prepared, &w, 0, &res);
        kv_result_release(&res);
        json_decref(k);
        json_decref(v);
    }
    uint8_t *img;
    size_t len;
    cr_assert_eq(kv_snapshot(prepared, 50, 3, &img, &len), 0);
    int fd;
    cr_assert_eq(storage_snapshot_recv_begin(st, 50, &fd), STORAGE_OK);
    cr_assert_eq(write(fd, img, len), (ssize_t)len);
    close(fd);
    free(img);

    /* While the map was being built, the old one went on applying. */
    append(r, 3, 5, (const int[][2]){{1, -2}, {501, 1}}, 2, 20);
    cr_assert_eq(replica_applied_index(r), 5);
    cr_assert_eq(value_of(replica_store(r), 1), -2);
    const struct kv_store *old = replica_store(r);

    struct raft_msg m = {.type = RAFT_MSG_SNAPSHOT, .from = 0, .to = 1, .term = 3, .commit = 50,
                         .snap_index = 50, .snap_term = 3};
    cr_assert_eq(replica_receive_snapshot_prepared(r, &m, prepared, 30), 0);
    cr_assert_eq(replica_flush(r, 30), 0, "%s", storage_error(st));
    cr_assert_eq(replica_applied_index(r), 50);
    cr_assert(replica_store(r) == prepared, "the prepared map itself is installed, not a reload");
    cr_assert_eq(x.n_retired, 1, "the replaced map is retired, once");
    cr_assert(x.retired[0] == old, "and it is the old map");
    cr_assert_eq(storage_snapshot_index(st), 50, "the staged file was adopted");
    cr_assert_not(storage_snapshot_recv_staged(st, 50));
    /* Exactly the snapshot's state: nothing of the old history survives. */
    cr_assert_eq(kv_store_size(replica_store(r)), 100);
    cr_assert_eq(value_of(replica_store(r), 500), -1);
    cr_assert_eq(value_of(replica_store(r), 501), -1);
    cr_assert_eq(value_of(replica_store(r), 1), 7);
    cr_assert_eq(value_of(replica_store(r), 99), 693);

    /* Entries after the snapshot apply on top of it. */
    append(r, 50, 52, (const int[][2]){{0, 1000}, {200, 5}}, 2, 40);
    cr_assert_eq(replica_applied_index(r), 52);
    cr_assert_eq(value_of(replica_store(r), 0), 1000);
    cr_assert_eq(value_of(replica_store(r), 200), 5);
    cr_assert_eq(value_of(replica_store(r), 1), 7);
    cr_assert_eq(kv_store_size(replica_store(r)), 101);

    /* A snapshot the core does not install (it has index 40 applied): the
     * map built for it is retired and the state is untouched. */
    struct kv_store *stale = kv_store_new();
    struct raft_msg m2 = m;
    m2.snap_index = 40;
    m2.commit = 52;
    cr_assert_eq(replica_receive_snapshot_prepared(r, &m2, stale, 50), 0);
    cr_assert_eq(replica_flush(r, 50), 0);
    cr_assert_eq(x.n_retired, 2);
    cr_assert(x.retired[1] == stale);
    cr_assert(replica_store(r) == prepared);
    cr_assert_eq(replica_applied_index(r), 52);
    cr_assert_eq(value_of(replica_store(r), 0), 1000);

    /* A malformed call (an image in the message) is refused, and the map
     * handed over is still the replica's to retire. */
    struct kv_store *refused = kv_store_new();
    uint8_t byte = 0;
    struct raft_msg m3 = m;
    m3.snap_data = &byte;
    m3.snap_len = 1;
    cr_assert_eq(replica_receive_snapshot_prepared(r, &m3, refused, 60), RAFT_ERR_INVALID);
    cr_assert_eq(x.n_retired, 3);
    cr_assert(x.retired[2] == refused);

    replica_free(r);
    storage_close(st);
    for (int i = 0; i < x.n_retired; i++)
        kv_store_free(x.retired[i]);

    /* And a restart finds the adopted file. */
    st = tsu_open(dir, &restore, NULL);
    cr_assert_eq(restore.snap_index, 50);
    storage_close(st);
}
