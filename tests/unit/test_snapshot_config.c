/* test_snapshot_config.c - the cluster configuration inside snapshots (kv.h,
 * the "raft_config" metadata entry): kept through an image byte for byte,
 * absent from an image written before any change, refused when malformed;
 * and a replica whose log was compacted past its CONFIG entry restarts
 * from the snapshot alone with the configuration intact. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv.h"
#include "replica/replica.h"
#include "storage/snap_writer.h"
#include "storage/storage_replica.h"
#include "test_storage_util.h"

/* Core bytes (raft.h: format 1, 2 members, id 0 voter, id 3 learner) and
 * what a driver put after them. */
static const uint8_t conf_bytes[] = {1, 2, 0, 0, 3, 1, 'n', 'a', 'm', 'e', 's'};

Test(snapshot_config, an_image_carries_the_configuration_as_metadata)
{
    struct kv_store *s = kv_store_new();
    cr_assert_eq(kv_set_configuration(s, 12, conf_bytes, sizeof conf_bytes), 0);
    uint8_t *data;
    size_t len;
    cr_assert_eq(kv_snapshot(s, 20, 3, &data, &len), 0);
    /* The first metadata entry (at 40): name length 11, "raft_config",
     * value length 8 + 11 = 19 (u32 LE at 52), index 12 (u64 LE at 56),
     * then the configuration's bytes. */
    cr_assert_eq(data[40], 11);
    cr_assert_eq(memcmp(data + 41, "raft_config", 11), 0);
    cr_assert_eq(data[52], 19);
    cr_assert_eq(data[56], 12);
    cr_assert_eq(memcmp(data + 64, conf_bytes, sizeof conf_bytes), 0);

    struct kv_store *back = kv_store_new();
    uint64_t index, term;
    cr_assert_eq(kv_restore(back, data, len, &index, &term), 0);
    cr_assert_eq(index, 20);
    const uint8_t *got;
    size_t got_len;
    uint64_t ci;
    cr_assert(kv_configuration(back, &ci, &got, &got_len));
    cr_assert_eq(ci, 12);
    cr_assert_eq(got_len, sizeof conf_bytes);
    cr_assert_eq(memcmp(got, conf_bytes, sizeof conf_bytes), 0);
    struct raft_configuration c;
    cr_assert_eq(replica_store_configuration(back, &c), 1);
    cr_assert_eq(c.n, 2);
    cr_assert_eq(c.members[1].id, 3);
    cr_assert_eq(c.members[1].role, RAFT_LEARNER);
    free(data);
    kv_store_free(back);

    /* A store with none writes none, and restores as none. */
    struct kv_store *plain = kv_store_new();
    cr_assert_eq(kv_snapshot(plain, 20, 3, &data, &len), 0);
    cr_assert_neq(memcmp(data + 41, "raft_config", 11), 0);
    cr_assert_eq(kv_restore(s, data, len, NULL, NULL), 0);
    cr_assert_not(kv_configuration(s, &ci, &got, &got_len), "restoring an image without one drops it");
    cr_assert_eq(replica_store_configuration(s, &c), 0);
    free(data);
    kv_store_free(plain);
    kv_store_free(s);
}

Test(snapshot_config, a_malformed_entry_is_refused)
{
    uint8_t value[8 + 2] = {5, 0, 0, 0, 0, 0, 0, 0, 1, 0}; /* index 5, format 1, no members */
    struct snap_meta meta = {.name = "raft_config", .value = value, .len = 9}; /* one byte short */
    struct snap_membuf b = {0};
    struct snap_writer w;
    cr_assert_eq(snap_writer_begin(&w, snap_membuf_sink, &b, 5, 1, 0, &meta, 1), 0);
    cr_assert_eq(snap_writer_end(&w), 0);
    struct kv_store *s = kv_store_new();
    cr_assert_eq(kv_restore(s, b.data, b.len, NULL, NULL), -1);
    free(b.data);
    /* Well-formed for the store but not a configuration (format 2): the
     * replica refuses it. */
    value[8] = 2;
    meta.len = 10;
    b = (struct snap_membuf){0};
    cr_assert_eq(snap_writer_begin(&w, snap_membuf_sink, &b, 5, 1, 0, &meta, 1), 0);
    cr_assert_eq(snap_writer_end(&w), 0);
    cr_assert_eq(kv_restore(s, b.data, b.len, NULL, NULL), 0);
    struct raft_configuration c;
    cr_assert_eq(replica_store_configuration(s, &c), -1);
    free(b.data);
    kv_store_free(s);
}

/* ---- a replica restarting from a snapshot that compacted its CONFIG entry ---- */

static char dir[256];

static void setup(void)
{
    tsu_make_dir(dir, sizeof dir);
}

static void teardown(void)
{
    tsu_remove_dir(dir);
}

struct node {
    struct storage *st;
    struct replica_log_store ls;
    struct replica *r;
    int done, other;
    uint64_t now;
};

static void on_send(void *ctx, const struct raft_msg *m)
{
    (void)ctx;
    (void)m;
}

static void on_complete(void *ctx, uint64_t ref, const struct replica_result *res)
{
    (void)ref;
    struct node *n = ctx;
    if (res->status == REPLICA_DONE && res->kv.code == KV_OK)
        n->done++;
    else
        n->other++;
}

static void node_start(struct node *n, uint64_t now)
{
    memset(n, 0, sizeof *n);
    n->now = now;
    struct raft_restore restore;
    n->st = tsu_open(dir, &restore, NULL);
    storage_replica_log_store(n->st, &n->ls);
    struct replica_config c;
    replica_config_default(&c, 0, 1, 42);
    c.send = on_send;
    c.complete = on_complete;
    c.ctx = n;
    c.store = &n->ls;
    c.snapshot_threshold = 25;
    n->r = replica_new(&c, n->now);
    cr_assert_not_null(n->r, "replica_new from the stored state");
    storage_release_restore(n->st);
    for (int i = 0; i < 1000 && replica_role(n->r) != RAFT_LEADER; i++) {
        n->now += 10;
        replica_tick(n->r, n->now);
        cr_assert_eq(replica_flush(n->r, n->now), 0, "%s", storage_error(n->st));
    }
    cr_assert_eq(replica_role(n->r), RAFT_LEADER, "a single voter elects itself");
}

static void node_settle(struct node *n)
{
    for (int i = 0; i < 50; i++) {
        cr_assert_eq(replica_flush(n->r, n->now), 0, "%s", storage_error(n->st));
        n->now += 1;
        replica_tick(n->r, n->now);
    }
}

static void node_writes(struct node *n, int first, int count)
{
    int want = n->done + count;
    for (int i = first; i < first + count; i++) {
        json_t *key = json_integer(i), *value = json_integer(i);
        struct kv_command c = {.op = KV_WRITE, .key = key, .value = value};
        replica_submit(n->r, (uint64_t)i, &c, n->now);
        json_decref(key);
        json_decref(value);
    }
    for (int i = 0; i < 1000 && n->done < want; i++) {
        cr_assert_eq(replica_flush(n->r, n->now), 0, "%s", storage_error(n->st));
        n->now += 1;
        replica_tick(n->r, n->now);
    }
    cr_assert_eq(n->done, want);
}

Test(snapshot_config, a_restart_from_a_snapshot_past_the_config_entry_keeps_the_configuration,
     .init = setup, .fini = teardown)
{
    struct node n;
    node_start(&n, 0);
    node_writes(&n, 0, 3);
    raft_index at = 0;
    static const uint8_t extra[] = {'t', 'a', 'b', 'l', 'e'};
    cr_assert_eq(replica_change(n.r, RAFT_CHANGE_ADD_LEARNER, 3, extra, sizeof extra, n.now, &at), RAFT_OK);
    node_settle(&n);
    cr_assert_geq(replica_commit_index(n.r), at, "a single voter commits the change alone");
    cr_assert_eq(replica_configuration(n.r)->n, 2);
    /* 60 more entries with a snapshot every 25: the log is compacted past
     * the CONFIG entry. */
    node_writes(&n, 100, 60);
    uint64_t now = n.now;
    replica_free(n.r);
    storage_close(n.st);

    node_start(&n, now + 1000);
    cr_assert_null(replica_entry_at(n.r, at), "the CONFIG entry at %llu is compacted away", (unsigned long long)at);
    const struct raft_configuration *c = replica_configuration(n.r);
    cr_assert_eq(c->n, 2, "members after the restart: %d", c->n);
    cr_assert_eq(c->members[0].id, 0);
    cr_assert_eq(c->members[0].role, RAFT_VOTER);
    cr_assert_eq(c->members[1].id, 3);
    cr_assert_eq(c->members[1].role, RAFT_LEARNER);
    cr_assert_eq(replica_configuration_index(n.r), 0, "no CONFIG entry in the log: it came with the snapshot");
    uint64_t ci;
    const uint8_t *bytes;
    size_t len;
    cr_assert(kv_configuration(replica_store(n.r), &ci, &bytes, &len));
    cr_assert_eq(ci, at);
    cr_assert_eq(len, 6 + sizeof extra, "core bytes (2 + 2 per member), then the driver's");
    cr_assert_eq(memcmp(bytes + 6, extra, sizeof extra), 0);
    /* And the next snapshot carries it on. */
    node_writes(&n, 300, 30);
    replica_free(n.r);
    storage_close(n.st);
    node_start(&n, now + 5000);
    cr_assert_eq(replica_configuration(n.r)->n, 2);
    cr_assert_eq(replica_configuration(n.r)->members[1].id, 3);
    replica_free(n.r);
    storage_close(n.st);
}

static void noop_send(void *ctx, const struct raft_msg *m)
{
    (void)ctx;
    (void)m;
}

static void noop_complete(void *ctx, uint64_t ref, const struct replica_result *res)
{
    (void)ctx;
    (void)ref;
    (void)res;
}

Test(snapshot_config, a_follower_installing_a_snapshot_takes_the_configuration_from_its_image)
{
    /* A follower (id 1 of the boot configuration {0, 1}) gets a snapshot
     * at index 10 whose image says the configuration is {0, 1, 3 learner};
     * the message itself carries none, as the TCP server's wire does. */
    struct replica_config c;
    replica_config_default(&c, 1, 2, 7);
    c.send = noop_send;
    c.complete = noop_complete;
    struct replica *r = replica_new(&c, 0);
    cr_assert_not_null(r);
    static const uint8_t three[] = {1, 3, 0, 0, 1, 0, 3, 1};
    struct kv_store *s = kv_store_new();
    cr_assert_eq(kv_set_configuration(s, 8, three, sizeof three), 0);
    uint8_t *img;
    size_t len;
    cr_assert_eq(kv_snapshot(s, 10, 1, &img, &len), 0);
    kv_store_free(s);
    struct raft_msg m = {.type = RAFT_MSG_SNAPSHOT, .from = 0, .to = 1, .term = 1, .commit = 10, .seq = 1,
                         .snap_index = 10, .snap_term = 1, .snap_data = img, .snap_len = len};
    cr_assert_eq(replica_receive(r, &m, 5), 0);
    cr_assert_eq(replica_flush(r, 5), 0);
    const struct raft_configuration *conf = replica_configuration(r);
    cr_assert_eq(conf->n, 3, "members after the install: %d", conf->n);
    cr_assert_eq(conf->members[2].id, 3);
    cr_assert_eq(conf->members[2].role, RAFT_LEARNER);
    free(img);
    replica_free(r);
}
