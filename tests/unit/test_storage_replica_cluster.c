/* test_storage_replica_cluster.c - three replicas on real data directories,
 * wired by an in-process message queue: a follower cut off while the others
 * commit and compact catches up by InstallSnapshot, which its store saves as
 * a leader's snapshot (dropping its stale log), and after a restart from its
 * directory alone it holds exactly the leader's map. A follower restarted
 * over a damaged hard-state slot rejoins at its higher term. */
#include "storage/storage_replica.h"
#include "test_storage_util.h"

#define CL_NODES 3
#define CL_QUEUE 65536

struct cl_msg {
    struct raft_msg m;
};

struct cl_node {
    char dir[300];
    struct storage *st;
    struct replica_log_store ls;
    struct replica *r;
    uint64_t acked;
};

static struct cl_node nodes[CL_NODES];
static struct cl_msg queue[CL_QUEUE];
static size_t queue_len;
static bool isolated[CL_NODES];
static uint64_t now_ms;
static char base[256];

/* The replica's messages live only during the call: copy them deeply. */
static void cl_send(void *ctx, const struct raft_msg *m)
{
    (void)ctx;
    if (queue_len == CL_QUEUE || isolated[m->from] || isolated[m->to])
        return; /* dropped, as a network may */
    cr_assert_eq(raft_msg_copy(&queue[queue_len++].m, m), RAFT_OK);
}

static void cl_complete(void *ctx, uint64_t ref, const struct replica_result *res)
{
    (void)ref;
    struct cl_node *n = ctx;
    if (res->status == REPLICA_DONE && res->kv.code == KV_OK)
        n->acked++;
}

static void cl_start(int i)
{
    struct cl_node *n = &nodes[i];
    struct raft_restore restore;
    n->st = tsu_open(n->dir, &restore, NULL);
    storage_replica_log_store(n->st, &n->ls);
    struct replica_config c;
    replica_config_default(&c, i, CL_NODES, 100 + (uint64_t)i);
    c.send = cl_send;
    c.complete = cl_complete;
    c.ctx = n;
    c.store = &n->ls;
    c.snapshot_threshold = 25;
    n->r = replica_new(&c, now_ms);
    cr_assert_not_null(n->r);
    storage_release_restore(n->st);
}

static void cl_stop(int i)
{
    replica_free(nodes[i].r);
    storage_close(nodes[i].st);
    nodes[i].r = NULL;
}

/* Deliver what is queued, flush everyone, let 5 ms pass. */
static void cl_round(void)
{
    size_t n = queue_len;
    static struct cl_msg batch[CL_QUEUE];
    memcpy(batch, queue, n * sizeof *batch);
    queue_len = 0;
    for (size_t k = 0; k < n; k++) {
        struct raft_msg *m = &batch[k].m;
        if (nodes[m->to].r && !isolated[m->from] && !isolated[m->to])
            replica_receive(nodes[m->to].r, m, now_ms);
        raft_msg_release(m);
    }
    for (int i = 0; i < CL_NODES; i++)
        if (nodes[i].r)
            cr_assert_eq(replica_flush(nodes[i].r, now_ms), 0, "%s", storage_error(nodes[i].st));
    now_ms += 5;
    for (int i = 0; i < CL_NODES; i++)
        if (nodes[i].r)
            replica_tick(nodes[i].r, now_ms);
}

static int cl_leader(void)
{
    for (int i = 0; i < CL_NODES; i++)
        if (nodes[i].r && !isolated[i] && replica_role(nodes[i].r) == RAFT_LEADER)
            return i;
    return -1;
}

static int cl_wait_leader(void)
{
    for (int k = 0; k < 4000; k++) {
        int l = cl_leader();
        if (l >= 0)
            return l;
        cl_round();
    }
    cr_assert_fail("no leader elected");
    return -1;
}

static void setup(void)
{
    char tmpl[] = "/tmp/raftkv-storage-XXXXXX";
    cr_assert_not_null(mkdtemp(tmpl));
    snprintf(base, sizeof base, "%s", tmpl);
    memset(nodes, 0, sizeof nodes);
    memset(isolated, 0, sizeof isolated);
    queue_len = 0;
    now_ms = 0;
    for (int i = 0; i < CL_NODES; i++)
        snprintf(nodes[i].dir, sizeof nodes[i].dir, "%s/n%d", base, i);
}

static void teardown(void)
{
    for (size_t k = 0; k < queue_len; k++)
        raft_msg_release(&queue[k].m);
    queue_len = 0;
    for (int i = 0; i < CL_NODES; i++)
        if (nodes[i].r)
            cl_stop(i);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    (void)!system(cmd);
}

TestSuite(storage_replica_cluster, .init = setup, .fini = teardown);

static json_t *cl_read(int i, int key)
{
    json_t *k = json_integer(key);
    struct kv_command c = {.op = KV_READ, .key = k};
    struct kv_result res;
    kv_apply((struct kv_store *)replica_store(nodes[i].r), &c, 0, &res);
    json_decref(k);
    return res.code == KV_OK ? res.value : NULL;
}

Test(storage_replica_cluster, a_follower_catches_up_by_snapshot_and_restarts_from_its_own_disk,
     .timeout = 120)
{
    for (int i = 0; i < CL_NODES; i++)
        cl_start(i);
    int leader = cl_wait_leader();
    int lagger = (leader + 1) % CL_NODES;
    isolated[lagger] = true;

    /* 200 writes while the lagger is away: the others snapshot every 25. */
    for (int w = 0; w < 200; w += 10) {
        leader = cl_wait_leader();
        uint64_t want = nodes[leader].acked + 10;
        for (int k = w; k < w + 10; k++) {
            json_t *key = json_integer(k % 40), *value = json_integer(k);
            struct kv_command c = {.op = KV_WRITE, .key = key, .value = value};
            replica_submit(nodes[leader].r, (uint64_t)k, &c, now_ms);
            json_decref(key);
            json_decref(value);
        }
        for (int k = 0; k < 2000 && nodes[leader].acked < want; k++)
            cl_round();
        cr_assert_geq(nodes[leader].acked, want, "writes %d.. were not acknowledged", w);
    }
    cr_assert_gt(storage_snapshot_index(nodes[leader].st), 100, "the leader compacted its log");
    cr_assert_eq(storage_snapshot_index(nodes[lagger].st), 0);

    /* Back on the network, the lagger can only catch up by a snapshot. */
    isolated[lagger] = false;
    raft_index target = replica_commit_index(nodes[leader].r);
    for (int k = 0; k < 4000 && replica_applied_index(nodes[lagger].r) < target; k++)
        cl_round();
    cr_assert_geq(replica_applied_index(nodes[lagger].r), target, "the lagger caught up");
    cr_assert_gt(storage_snapshot_index(nodes[lagger].st), 0, "by an installed snapshot");
    fprintf(stderr, "storage_replica_cluster: leader n%d snapshot %" PRIu64 ", commit %" PRIu64
                    "; n%d installed snapshot %" PRIu64 " at %" PRIu64 " ms\n",
            leader, storage_snapshot_index(nodes[leader].st), target, lagger,
            storage_snapshot_index(nodes[lagger].st), now_ms);
    for (int k = 0; k < 50; k++)
        cl_round();

    /* Restart it: its own directory must hold the snapshot and every entry
     * after it (checked before it can hear from anyone), and once it learns
     * the commit index its map must be the leader's. */
    cl_stop(lagger);
    cl_start(lagger);
    cr_assert_gt(replica_applied_index(nodes[lagger].r), 0, "restored from the snapshot");
    cr_assert_geq(replica_last_index(nodes[lagger].r), target, "the log after it came back");
    for (int k = 0; k < 4000 && replica_applied_index(nodes[lagger].r) < target; k++)
        cl_round();
    leader = cl_leader();
    cr_assert_geq(leader, 0);
    for (int key = 0; key < 40; key++) {
        json_t *a = cl_read(leader, key), *b = cl_read(lagger, key);
        cr_assert(a && b && json_equal(a, b), "key %d differs after the restart", key);
        json_decref(a);
        json_decref(b);
    }
}

/* Write key=value through the leader and wait until it is acknowledged. */
static void cl_write(int key, int value)
{
    int leader = cl_wait_leader();
    uint64_t want = nodes[leader].acked + 1;
    json_t *k = json_integer(key), *v = json_integer(value);
    struct kv_command c = {.op = KV_WRITE, .key = k, .value = v};
    replica_submit(nodes[leader].r, (uint64_t)key, &c, now_ms);
    json_decref(k);
    json_decref(v);
    for (int i = 0; i < 4000 && nodes[leader].acked < want; i++)
        cl_round();
    cr_assert_geq(nodes[leader].acked, want, "write of key %d not acknowledged", key);
}

/* A follower whose newest hard-state slot is damaged restarts above every
 * term it may have held (meta.h): the cluster adopts that term at the next
 * election and goes on committing, with the follower in it. */
Test(storage_replica_cluster, a_member_restarted_over_a_damaged_hard_state_slot_rejoins,
     .timeout = 120)
{
    for (int i = 0; i < CL_NODES; i++)
        cl_start(i);
    cl_write(1, 10);
    int f = (cl_wait_leader() + 1) % CL_NODES;
    raft_term before = replica_term(nodes[f].r);
    cr_assert_lt(before, 17, "the test expects the first ceiling (16) still in force");
    cl_stop(f);

    /* Damage the slot with the higher sequence number (bytes 8..15). */
    char meta[400];
    snprintf(meta, sizeof meta, "%s/meta", nodes[f].dir);
    uint8_t file[1024];
    int fd = open(meta, O_RDONLY);
    cr_assert_eq(pread(fd, file, sizeof file, 0), 1024);
    close(fd);
    uint64_t seq[2] = {0, 0};
    for (int s = 0; s < 2; s++)
        for (int b = 0; b < 8; b++)
            seq[s] |= (uint64_t)file[512 * s + 8 + b] << (8 * b);
    tsu_xor_byte(meta, (seq[1] > seq[0] ? 512 : 0) + 16, 0xff);

    cl_start(f);
    cr_assert_eq(replica_term(nodes[f].r), 17);
    cl_write(2, 20);
    for (int k = 0; k < 200; k++)
        cl_round();
    int leader = cl_wait_leader();
    cr_assert_geq(replica_term(nodes[leader].r), 17, "the cluster adopted the member's term");
    cr_assert_eq(replica_term(nodes[f].r), replica_term(nodes[leader].r));
    json_t *v = cl_read(f, 2);
    cr_assert(v && json_integer_value(v) == 20, "the member applied the write after its restart");
    json_decref(v);
}
