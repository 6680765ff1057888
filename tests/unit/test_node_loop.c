/* test_node_loop.c - the Maelstrom node's event loop (node_loop.c) over a
 * restart's committed log tail: node n0 of three restarts over 3 x 4096 +
 * 100 writes its log's commit mark says were committed. Its apply budget is
 * a turn's (REPLICA_DEFAULT_APPLY_BATCH, 4096 entries) from the first turn
 * on; between turns the loop polls without sleeping and reads its input,
 * so a message sent after init_ok is answered while most of the tail still
 * waits. The loop runs one turn (uv_run UV_RUN_ONCE) at a time on pipes. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "node/node.h"
#include "node/node_log.h"
#include "node/node_loop.h"
#include "replica_test_util.h"
#include "test_storage_util.h"

#define NL_TAIL (3 * 4096 + 100)

struct nl_fixture {
    char dir[256];
    struct node *node;
    uv_loop_t loop;
    struct node_loop *l;
    int in[2], out[2];
    char got[8192];
    size_t got_len;
};

/* A data dir holding writes 1..NL_TAIL of term 1, commit mark NL_TAIL. */
static void nl_make_log(char *dir, size_t n)
{
    tsu_make_dir(dir, n);
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, NULL);
    cr_assert_eq(storage_set_hard_state(s, 1, 0), STORAGE_OK);
    rtu_append_writes(s, 1, NL_TAIL, 1);
    cr_assert_eq(storage_set_commit(s, NL_TAIL), STORAGE_OK);
    cr_assert_eq(storage_sync(s), STORAGE_OK);
    storage_close(s);
}

static void nl_start(struct nl_fixture *f)
{
    node_log_level = NODE_LOG_WARN;
    nl_make_log(f->dir, sizeof f->dir);
    /* No election or snapshot during the test: only the tail is applied. */
    struct node_options o = {.seed = 3, .election_timeout_ms = 1000000, .heartbeat_ms = 100000,
                             .snapshot_entries = 1000000, .data_dir = f->dir};
    f->node = node_new(&o);
    cr_assert_not_null(f->node);
    cr_assert_eq(pipe(f->in), 0);
    cr_assert_eq(pipe(f->out), 0);
    cr_assert_eq(fcntl(f->out[0], F_SETFL, O_NONBLOCK), 0);
    cr_assert_eq(uv_loop_init(&f->loop), 0);
    f->l = node_loop_open(f->node, &f->loop, f->in[0], f->out[1]);
    cr_assert_not_null(f->l);
    cr_assert_not(node_loop_stopped(f->l));
}

static void nl_send(struct nl_fixture *f, const char *line)
{
    size_t len = strlen(line);
    cr_assert_eq(write(f->in[1], line, len), (ssize_t)len);
}

/* What the node wrote since the last call. */
static const char *nl_output(struct nl_fixture *f)
{
    ssize_t r = read(f->out[0], f->got, sizeof f->got - 1);
    f->got_len = r > 0 ? (size_t)r : 0;
    f->got[f->got_len] = '\0';
    return f->got;
}

static void nl_finish(struct nl_fixture *f)
{
    close(f->in[1]);
    for (int i = 0; i < 100 && !node_loop_stopped(f->l); i++)
        uv_run(&f->loop, UV_RUN_ONCE);
    cr_assert(node_loop_stopped(f->l), "EOF stops the loop");
    cr_assert_eq(node_loop_close(f->l), 0);
    cr_assert_eq(uv_loop_close(&f->loop), 0);
    node_free(f->node);
    close(f->in[0]);
    close(f->out[0]);
    close(f->out[1]);
    tsu_remove_dir(f->dir);
}

#define NL_INIT(id)                                                                                \
    "{\"src\":\"c1\",\"dest\":\"n0\",\"body\":{\"type\":\"init\",\"msg_id\":" #id                   \
    ",\"node_id\":\"n0\",\"node_ids\":[\"n0\",\"n1\",\"n2\"]}}\n"

Test(node_loop, restart_tail_applied_a_turn_at_a_time_while_input_is_read)
{
    struct nl_fixture f = {0};
    nl_start(&f);
    nl_send(&f, NL_INIT(1));
    /* The turn that reads init applies a turn's budget, and answers. */
    uv_run(&f.loop, UV_RUN_ONCE);
    cr_assert_eq(node_commit_index(f.node), NL_TAIL, "the commit mark is the commit index");
    cr_assert_eq(node_applied_index(f.node), 4096);
    cr_assert(strstr(nl_output(&f), "\"init_ok\",\"msg_id\":1,\"in_reply_to\":1"), "%s", f.got);
    /* Committed entries wait: the loop does not sleep in its poll. */
    cr_assert_eq(uv_backend_timeout(&f.loop), 0);

    /* A message sent now is read and answered in the next turn, which
     * applies the next 4096 entries: not after the whole tail. */
    nl_send(&f, NL_INIT(2));
    uv_run(&f.loop, UV_RUN_ONCE);
    cr_assert(strstr(nl_output(&f), "\"in_reply_to\":2"), "answered in the next turn: '%s'", f.got);
    cr_assert_eq(node_applied_index(f.node), 2 * 4096);
    cr_assert_eq(uv_backend_timeout(&f.loop), 0);

    uv_run(&f.loop, UV_RUN_ONCE);
    cr_assert_eq(node_applied_index(f.node), 3 * 4096);
    cr_assert_eq(uv_backend_timeout(&f.loop), 0);
    uv_run(&f.loop, UV_RUN_ONCE);
    cr_assert_eq(node_applied_index(f.node), NL_TAIL);
    /* Nothing left to apply: the loop may sleep until its next deadline
     * (the election timeout's, far away). */
    cr_assert_gt(uv_backend_timeout(&f.loop), 1000);
    nl_finish(&f);
}

/* EOF in the middle of the tail ends the loop at once, exit code 0, with
 * what the turns so far applied. */
Test(node_loop, eof_during_the_tail_stops_at_once)
{
    struct nl_fixture f = {0};
    nl_start(&f);
    nl_send(&f, NL_INIT(1));
    uv_run(&f.loop, UV_RUN_ONCE);
    cr_assert_eq(node_applied_index(f.node), 4096);
    close(f.in[1]);
    uv_run(&f.loop, UV_RUN_ONCE);
    cr_assert(node_loop_stopped(f.loop.data));
    cr_assert_eq(node_applied_index(f.node), 2 * 4096);
    cr_assert_eq(node_loop_close(f.l), 0);
    cr_assert_eq(uv_loop_close(&f.loop), 0);
    node_free(f.node);
    close(f.in[0]);
    close(f.out[0]);
    close(f.out[1]);
    tsu_remove_dir(f.dir);
}
