/* test_storage_replica_vote.c - a replica restarted over a data directory
 * whose newest hard-state slot was damaged after it voted: it must refuse
 * a second vote in that term (and in every term the lost slot could have
 * held), and still vote in a later one, so the cluster can elect a leader.
 * Member 0 of three; the candidates are driven by hand. */
#include "storage/storage_replica.h"
#include "test_storage_util.h"

static char dir[256];
static char meta[300];
static struct tsu_log vlog;

/* The last VOTE_RESP the member sent. */
static struct {
    int count;
    int to;
    raft_term term;
    bool granted;
} resp;

static void setup(void)
{
    tsu_make_dir(dir, sizeof dir);
    snprintf(meta, sizeof meta, "%s/meta", dir);
    memset(&vlog, 0, sizeof vlog);
}

static void teardown(void)
{
    tsu_remove_dir(dir);
}

TestSuite(storage_replica_vote, .init = setup, .fini = teardown);

static void on_send(void *ctx, const struct raft_msg *m)
{
    (void)ctx;
    if (m->type != RAFT_MSG_VOTE_RESP)
        return;
    resp.count++;
    resp.to = m->to;
    resp.term = m->term;
    resp.granted = m->granted;
}

static void on_complete(void *ctx, uint64_t ref, const struct replica_result *res)
{
    (void)ctx;
    (void)ref;
    (void)res;
}

struct member {
    struct storage *st;
    struct replica_log_store ls;
    struct replica *r;
};

static void member_start(struct member *m)
{
    struct storage_options o = {.log = tsu_log_line, .log_ctx = &vlog};
    struct raft_restore restore;
    m->st = tsu_open(dir, &restore, &o);
    storage_replica_log_store(m->st, &m->ls);
    struct replica_config c;
    replica_config_default(&c, 0, 3, 11);
    c.send = on_send;
    c.complete = on_complete;
    c.store = &m->ls;
    m->r = replica_new(&c, 0);
    cr_assert_not_null(m->r);
    storage_release_restore(m->st);
}

static void member_stop(struct member *m)
{
    replica_free(m->r);
    storage_close(m->st);
}

/* Candidate `from` asks for a vote in `term` with a log as long as any
 * (the member's is empty): the answer depends on the term and vote only. */
static bool ask_vote(struct member *m, int from, raft_term term)
{
    memset(&resp, 0, sizeof resp);
    struct raft_msg req = {.type = RAFT_MSG_VOTE, .from = from, .to = 0, .term = term};
    cr_assert_eq(replica_receive(m->r, &req, 1), 0);
    cr_assert_eq(replica_flush(m->r, 1), 0, "%s", storage_error(m->st));
    cr_assert_eq(resp.count, 1, "one answer to the vote request");
    cr_assert_eq(resp.to, from);
    return resp.granted;
}

static uint8_t meta_byte(off_t off)
{
    int fd = open(meta, O_RDONLY);
    uint8_t b = 0;
    cr_assert_eq(pread(fd, &b, 1, off), 1);
    close(fd);
    return b;
}

Test(storage_replica_vote, a_vote_lost_with_its_slot_is_never_cast_again_in_its_term)
{
    struct member m;
    member_start(&m);
    cr_assert(ask_vote(&m, 1, 5), "A gets the vote in term 5");
    cr_assert(!ask_vote(&m, 2, 5), "one vote per term");
    member_stop(&m);
    /* The vote (term 5, for 1) is the first save: slot 0 (byte 16: term,
     * byte 24: vote). Damage it as a bad sector would. */
    cr_assert_eq(meta_byte(16), 5);
    cr_assert_eq(meta_byte(24), 1);
    tsu_xor_byte(meta, 16, 0xff);

    member_start(&m);
    cr_assert_not_null(strstr(vlog.text, "warning"), "%s", vlog.text);
    cr_assert_not_null(strstr(vlog.text, meta), "%s", vlog.text);
    /* Above the slot's ceiling (16): every term the lost slot could hold. */
    cr_assert_eq(replica_term(m.r), 17);
    cr_assert(!ask_vote(&m, 2, 5), "B must not get a second vote in term 5");
    cr_assert_eq(resp.term, 17, "the refusal tells B the member's term");
    cr_assert(!ask_vote(&m, 2, 16), "nor in any term the lost slot may have held");
    cr_assert(ask_vote(&m, 2, 18), "a later term still gets a vote");
    cr_assert(!ask_vote(&m, 1, 18), "and only one");
    member_stop(&m);

    member_start(&m);
    cr_assert_eq(replica_term(m.r), 18);
    cr_assert(ask_vote(&m, 2, 18), "the vote for 2 in term 18 was kept");
    cr_assert(!ask_vote(&m, 1, 18));
    member_stop(&m);
}
