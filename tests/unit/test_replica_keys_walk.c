/* test_replica_keys_walk.c - KEYS on a large map, served by the replica
 * from a point-in-time walk in bounded steps (src/replica/keys_walk.c):
 * answered only after several turns, each walking at most
 * keys_walk_entries entries, with the key set of the walk's beginning
 * (writes applied meanwhile are not in it); the deadline is "now" while it
 * walks; several KEYS are answered in arrival order; one waits while
 * another walk holds the map and answers once it is free; a walk abandoned
 * by a large FLUSHALL or by an installed snapshot begins again on the
 * current map; below keys_walk_min KEYS answers inline as before; and the
 * reply cap. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv_internal.h"
#include "kv/map_walk.h"
#include "kv_test_util.h"
#include "replica/replica.h"
#include "replica_test_util.h"

/* Answers to refs below 100 (the KEYS reads); writes take 100 and up. */
#define ANSWERS_MAX 64

struct answer {
    uint64_t ref;
    enum replica_status status;
    int code;
    size_t keys;
    size_t late; /* keys named late:* */
    char text[200];
};

static struct answer answers[ANSWERS_MAX];
static size_t n_answers;

static void on_complete(void *ctx, uint64_t ref, const struct replica_result *res)
{
    (void)ctx;
    if (ref >= 100)
        return; /* the writes' answers */
    cr_assert_lt(n_answers, ANSWERS_MAX);
    struct answer *a = &answers[n_answers++];
    *a = (struct answer){.ref = ref, .status = res->status, .code = res->kv.code};
    snprintf(a->text, sizeof a->text, "%s", res->text && res->text[0] ? res->text : res->kv.text);
    size_t pos = 0, len;
    const uint8_t *k;
    while (res->status == REPLICA_DONE &&
           kv_bulks_next(res->kv.bytes, res->kv.len, &pos, &k, &len)) {
        a->keys++;
        if (len >= 5 && memcmp(k, "late:", 5) == 0)
            a->late++;
    }
}

static void on_send(void *ctx, const struct raft_msg *m)
{
    (void)ctx, (void)m;
}

static const struct answer *answer_of(uint64_t ref)
{
    for (size_t i = 0; i < n_answers; i++)
        if (answers[i].ref == ref)
            return &answers[i];
    return NULL;
}

/* A one-member replica in memory, leading, with `n` keys key:0..n-1
 * written through the log. */
static struct replica *solo(size_t walk_min, size_t entries, size_t n, uint64_t *now)
{
    n_answers = 0;
    struct replica_config c;
    replica_config_default(&c, 0, 1, 5);
    c.send = on_send;
    c.complete = on_complete;
    c.snapshot_threshold = 0;
    c.keys_walk_min = walk_min;
    c.keys_walk_entries = entries;
    *now = 1000;
    struct replica *rep = replica_new(&c, *now);
    cr_assert_not_null(rep);
    for (int k = 0; k < 100 && replica_role(rep) != RAFT_LEADER; k++) {
        *now = replica_deadline(rep) > *now ? replica_deadline(rep) : *now + 1;
        replica_tick(rep, *now);
        rtu_flush(rep, *now);
    }
    cr_assert_eq(replica_role(rep), RAFT_LEADER);
    for (size_t i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "key:%zu", i);
        struct kv_command set = kt_cmd(KV_SET, key, "v", 0, 0);
        replica_submit(rep, 1000000 + i, &set, *now);
        kv_command_release(&set);
    }
    for (int k = 0; k < 100 && kv_store_size(replica_store(rep)) < n; k++)
        rtu_flush(rep, ++*now);
    cr_assert_eq(kv_store_size(replica_store(rep)), n);
    n_answers = 0;
    return rep;
}

static void submit_keys(struct replica *rep, uint64_t ref, const char *pat, uint64_t now)
{
    struct kv_command c = kt_cmd(KV_KEYS, NULL, pat, 0, 0);
    replica_submit(rep, ref, &c, now);
    kv_command_release(&c);
}

static void submit_set(struct replica *rep, uint64_t ref, const char *key, uint64_t now)
{
    struct kv_command c = kt_cmd(KV_SET, key, "v", 0, 0);
    replica_submit(rep, ref, &c, now);
    kv_command_release(&c);
}

static uint64_t walked(struct replica *rep)
{
    struct replica_stats st;
    replica_stats(rep, &st);
    return st.keys_walk_entries;
}

/* One event-loop turn as the server makes it: tick, flush, turn end. */
static void turn(struct replica *rep, uint64_t now)
{
    replica_tick(rep, now);
    rtu_flush(rep, now);
    replica_turn_end(rep);
}

Test(replica_keys_walk, a_large_keys_walks_over_bounded_turns_and_misses_later_writes)
{
    uint64_t now;
    struct replica *rep = solo(100, 200, 3000, &now);
    submit_keys(rep, 1, "*", now);
    int turns = 0, late = 0;
    uint64_t before = walked(rep);
    while (!answer_of(1) && turns < 1000) {
        now++;
        turn(rep, now);
        turns++;
        uint64_t w = walked(rep);
        /* 200 a turn, and a bucket is not split: a few keys over at most */
        cr_assert_leq(w - before, 200 + 16, "turn %d walked %llu entries", turns,
                      (unsigned long long)(w - before));
        before = w;
        if (!answer_of(1)) {
            cr_assert_leq(replica_deadline(rep), now, "a walk with work left: the deadline is now");
            char key[32];
            snprintf(key, sizeof key, "late:%d", late);
            submit_set(rep, 2000 + (uint64_t)late++, key, now); /* applied in the next turns */
        }
    }
    const struct answer *a = answer_of(1);
    cr_assert_not_null(a);
    cr_assert_eq(a->status, REPLICA_DONE);
    cr_assert_eq(a->code, KV_OK, "%s", a->text);
    cr_assert_geq(turns, 14, "3000 keys at 200 a turn: answered after %d turns", turns);
    cr_assert_eq(a->keys, 3000, "the keys at the walk's beginning");
    cr_assert_eq(a->late, 0, "none written after it began");
    cr_assert_gt(kv_store_size(replica_store(rep)), 3000 + 10, "the writes were applied meanwhile");
    struct replica_stats st;
    replica_stats(rep, &st);
    cr_assert_eq(st.keys_walks_begun, 1);
    cr_assert_eq(st.keys_walks_done, 1);
    cr_assert_eq(replica_pending(rep), 0);
    replica_free(rep);
}

Test(replica_keys_walk, below_keys_walk_min_keys_answers_inline)
{
    uint64_t now;
    struct replica *rep = solo(3001, 200, 3000, &now);
    submit_keys(rep, 1, "key:1*", now);
    rtu_flush(rep, now);
    const struct answer *a = answer_of(1);
    cr_assert_not_null(a, "answered in the flush that served it");
    cr_assert_eq(a->keys, 1111);
    struct replica_stats st;
    replica_stats(rep, &st);
    cr_assert_eq(st.keys_walks_begun, 0);
    replica_free(rep);
}

Test(replica_keys_walk, several_keys_are_answered_in_arrival_order)
{
    uint64_t now;
    struct replica *rep = solo(100, 300, 3000, &now);
    submit_keys(rep, 1, "*", now);
    rtu_flush(rep, now);
    submit_keys(rep, 2, "key:1*", now);
    submit_keys(rep, 3, "nomatch", now);
    for (int t = 0; t < 200 && n_answers < 3; t++)
        turn(rep, ++now);
    cr_assert_eq(n_answers, 3);
    cr_assert_eq(answers[0].ref, 1);
    cr_assert_eq(answers[1].ref, 2);
    cr_assert_eq(answers[2].ref, 3);
    cr_assert_eq(answers[0].keys, 3000);
    cr_assert_eq(answers[1].keys, 1111);
    cr_assert_eq(answers[2].keys, 0);
    struct replica_stats st;
    replica_stats(rep, &st);
    cr_assert_eq(st.keys_walks_done, 3);
    replica_free(rep);
}

Test(replica_keys_walk, keys_waits_while_another_walk_holds_the_map)
{
    uint64_t now;
    struct replica *rep = solo(100, 500, 2000, &now);
    struct kv_store *kv = (struct kv_store *)replica_store(rep);
    char why[200];
    struct kv_map_walk *other = kv_map_walk_begin(&kv->map, 1 << 20, why, sizeof why);
    cr_assert_not_null(other, "%s", why);
    submit_keys(rep, 1, "*", now);
    for (int t = 0; t < 20; t++) {
        turn(rep, ++now);
        cr_assert_eq(replica_deadline(rep), now + 1, "polls the map each ms");
    }
    cr_assert_null(answer_of(1), "not while the map is taken");
    cr_assert_eq(replica_pending(rep), 1);
    struct replica_stats st;
    replica_stats(rep, &st);
    cr_assert_eq(st.keys_walks_begun, 0);
    kv_map_walk_end(other);
    for (int t = 0; t < 50 && !answer_of(1); t++)
        turn(rep, ++now);
    cr_assert_not_null(answer_of(1));
    cr_assert_eq(answer_of(1)->keys, 2000);
    replica_free(rep);
}

Test(replica_keys_walk, a_large_flushall_restarts_the_walk_on_the_current_map)
{
    uint64_t now;
    struct replica *rep = solo(100, 500, KV_FLUSH_DETACH_KEYS + 100, &now);
    submit_keys(rep, 1, "*", now);
    turn(rep, ++now);
    turn(rep, ++now);
    cr_assert_null(answer_of(1));
    struct kv_command fl = {.op = KV_FLUSH};
    replica_submit(rep, 2, &fl, now);
    submit_set(rep, 3, "late:1", now);
    for (int t = 0; t < 200 && !answer_of(1); t++)
        turn(rep, ++now);
    const struct answer *a = answer_of(1);
    cr_assert_not_null(a);
    cr_assert_eq(a->status, REPLICA_DONE);
    cr_assert_leq(a->keys, 1, "the map after the FLUSHALL: %zu keys", a->keys);
    struct replica_stats st;
    replica_stats(rep, &st);
    cr_assert_eq(st.keys_walks_restarted, 1);
    cr_assert_eq(st.keys_walks_begun, 2);
    replica_free(rep);
}

Test(replica_keys_walk, a_small_flushall_leaves_the_walk_its_key_set)
{
    uint64_t now;
    struct replica *rep = solo(100, 100, 2000, &now);
    submit_keys(rep, 1, "*", now);
    turn(rep, ++now);
    struct kv_command fl = {.op = KV_FLUSH};
    replica_submit(rep, 2, &fl, now);
    for (int t = 0; t < 200 && !answer_of(1); t++)
        turn(rep, ++now);
    cr_assert_not_null(answer_of(1));
    cr_assert_eq(answer_of(1)->keys, 2000, "the frozen table: the state at the beginning");
    cr_assert_eq(kv_store_size(replica_store(rep)), 0);
    replica_free(rep);
}

Test(replica_keys_walk, a_reply_past_keys_max_bytes_is_an_error)
{
    uint64_t now;
    struct replica *rep = solo(100, 500, 1000, &now);
    replica_free(rep);
    /* The same with a cap: 1000 keys of 5-7 bytes take over 21000. */
    n_answers = 0;
    struct replica_config c;
    replica_config_default(&c, 0, 1, 5);
    c.send = on_send;
    c.complete = on_complete;
    c.keys_walk_min = 100;
    c.keys_walk_entries = 500;
    c.keys_max_bytes = 20000;
    now = 1000;
    rep = replica_new(&c, now);
    for (int k = 0; k < 100 && replica_role(rep) != RAFT_LEADER; k++) {
        now = replica_deadline(rep) > now ? replica_deadline(rep) : now + 1;
        replica_tick(rep, now);
        rtu_flush(rep, now);
    }
    for (size_t i = 0; i < 1000; i++) {
        char key[32];
        snprintf(key, sizeof key, "key:%zu", i);
        submit_set(rep, 100 + i, key, now);
    }
    for (int k = 0; k < 10; k++)
        rtu_flush(rep, ++now);
    n_answers = 0;
    submit_keys(rep, 1, "*", now);       /* walked: past the cap */
    submit_keys(rep, 2, "key:1?", now);  /* walked (queued behind): 10 keys fit */
    for (int t = 0; t < 50 && n_answers < 2; t++)
        turn(rep, ++now);
    cr_assert_eq(n_answers, 2);
    cr_assert_eq(answers[0].code, KV_ERR_MALFORMED);
    cr_assert_str_eq(answers[0].text,
                     "KEYS reply would exceed 20000 bytes (--max-output-bytes); use SCAN");
    cr_assert_eq(answers[1].code, KV_OK);
    cr_assert_eq(answers[1].keys, 10);
    replica_free(rep);
}

/* ---- an installed snapshot replaces the map under a walk ---- */

static struct {
    raft_index last;  /* the latest APPEND to n1: its last index */
    uint64_t seq;     /* ... and heartbeat round */
    bool any;
    bool vote, prevote;
} to_n1;

static void on_send3(void *ctx, const struct raft_msg *m)
{
    (void)ctx;
    if (m->to != 1)
        return;
    if (m->type == RAFT_MSG_PREVOTE)
        to_n1.prevote = true;
    if (m->type == RAFT_MSG_VOTE)
        to_n1.vote = true;
    if (m->type == RAFT_MSG_APPEND) {
        to_n1.last = m->prev_index + m->n_entries;
        to_n1.seq = m->seq;
        to_n1.any = true;
    }
}

/* n1 acknowledges the latest APPEND it was sent (a quorum with n0). */
static void ack_n1(struct replica *rep, uint64_t now)
{
    if (!to_n1.any)
        return;
    struct raft_msg a = rtu_from_peer(1, RAFT_MSG_APPEND_RESP, replica_term(rep));
    a.success = true;
    a.match_index = to_n1.last;
    a.seq = to_n1.seq;
    replica_receive(rep, &a, now);
}

/* Maps retired, kept to the test's end as a server's worker thread may
 * keep one a while: a walk left on one would read the old keys. */
static struct kv_store *retired[4];
static int n_retired;

static void on_retire(void *ctx, struct kv_store *kv)
{
    (void)ctx;
    cr_assert_lt(n_retired, 4);
    retired[n_retired++] = kv;
}

Test(replica_keys_walk, an_installed_snapshot_restarts_the_walk_on_its_map)
{
    n_answers = 0;
    memset(&to_n1, 0, sizeof to_n1);
    struct replica_config c;
    replica_config_default(&c, 0, 3, 11);
    c.send = on_send3;
    c.complete = on_complete;
    c.snapshot_threshold = 0;
    c.keys_walk_min = 100;
    c.keys_walk_entries = 100;
    c.retire_store = on_retire;
    n_retired = 0;
    uint64_t now = 1000;
    struct replica *rep = replica_new(&c, now);
    cr_assert_not_null(rep);
    for (int k = 0; k < 100 && !to_n1.prevote; k++) {
        now = replica_deadline(rep) > now ? replica_deadline(rep) : now + 1;
        replica_tick(rep, now);
        rtu_flush(rep, now);
    }
    struct raft_msg g = rtu_from_peer(1, RAFT_MSG_PREVOTE_RESP, replica_term(rep) + 1);
    g.granted = true;
    replica_receive(rep, &g, now);
    rtu_flush(rep, now);
    cr_assert(to_n1.vote);
    g = rtu_from_peer(1, RAFT_MSG_VOTE_RESP, replica_term(rep));
    g.granted = true;
    replica_receive(rep, &g, now);
    rtu_flush(rep, now);
    cr_assert_eq(replica_role(rep), RAFT_LEADER);
    /* 2000 keys straight into the leader's map (KEYS reads only that). */
    struct kv_store *kv = (struct kv_store *)replica_store(rep);
    for (int i = 0; i < 2000; i++) {
        char key[32];
        snprintf(key, sizeof key, "old:%d", i);
        cr_assert_not_null(kv_store_put(kv, key, strlen(key), KV_TYPE_STR, "v", 1));
    }
    submit_keys(rep, 1, "*", now);
    for (int t = 0; t < 10; t++) { /* confirmed (n1's acknowledgement), walking */
        ack_n1(rep, now);
        turn(rep, ++now);
    }
    struct replica_stats st;
    replica_stats(rep, &st);
    cr_assert_eq(st.keys_walks_begun, 1, "the walk began");
    cr_assert_null(answer_of(1), "and is under way");
    /* n1 leads a later term and sends a snapshot of another map. */
    struct kv_store *other = kv_store_new();
    for (int i = 0; i < 300; i++) {
        char key[32];
        snprintf(key, sizeof key, "new:%d", i);
        cr_assert_not_null(kv_store_put(other, key, strlen(key), KV_TYPE_STR, "v", 1));
    }
    raft_term term = replica_term(rep) + 1;
    uint8_t *img;
    size_t len;
    cr_assert_eq(kv_snapshot(other, 500, term, &img, &len), 0);
    struct raft_msg m = rtu_from_peer(1, RAFT_MSG_SNAPSHOT, term);
    m.snap_index = 500;
    m.snap_term = term;
    m.snap_data = img;
    m.snap_len = len;
    cr_assert_eq(replica_receive(rep, &m, now), 0);
    free(img);
    kv_store_free(other);
    cr_assert_eq(replica_applied_index(rep), 500, "installed");
    for (int t = 0; t < 50 && !answer_of(1); t++)
        turn(rep, ++now);
    const struct answer *a = answer_of(1);
    cr_assert_not_null(a);
    cr_assert_eq(a->status, REPLICA_DONE);
    cr_assert_eq(a->keys, 300, "the installed map's keys: %zu", a->keys);
    replica_stats(rep, &st);
    cr_assert_eq(st.keys_walks_restarted, 1);
    cr_assert_eq(st.keys_walks_begun, 2);
    replica_free(rep);
    cr_assert_eq(n_retired, 1, "the old map was retired");
    cr_assert_null(retired[0]->map.walk, "with no walk left on it");
    kv_store_free(retired[0]);
}

Test(replica_keys_walk, freeing_the_replica_drops_a_walk_under_way)
{
    uint64_t now;
    struct replica *rep = solo(100, 100, 2000, &now);
    submit_keys(rep, 1, "*", now);
    submit_keys(rep, 2, "*", now);
    turn(rep, ++now);
    cr_assert_eq(replica_pending(rep), 2);
    replica_free(rep); /* the sanitizer build checks nothing leaks or is read after */
    cr_assert_eq(n_answers, 0);
}
