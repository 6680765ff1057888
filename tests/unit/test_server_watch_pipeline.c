/* test_server_watch_pipeline.c - a transaction pipelined whole (WATCH k,
 * MULTI, SET k v, EXEC in one read, before WATCH's version is back): EXEC
 * waits for the connection's WATCH reads and then guards with the version
 * they learnt; what follows it waits too, in order (src/server/multi.c,
 * client.c). A server with a router that leads (route.c) and no replica:
 * the test takes the operations it would submit and answers them itself.
 * Also what EXEC's entry carries from this member's options: LCS's and
 * KEYS's bounds. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "server/commands.h"

struct fixture {
    uv_loop_t loop;
    struct server *s;
    struct client *c;
};

static void setup(struct fixture *f)
{
    cr_assert_eq(uv_loop_init(&f->loop), 0);
    f->s = calloc(1, sizeof *f->s);
    cr_assert_not_null(f->s);
    struct server *s = f->s;
    s->loop = &f->loop;
    s->opt.max_output_bytes = 1u << 20;
    s->opt.max_pending_per_client = 1024;
    s->opt.max_pending = 1024;
    s->opt.request_timeout_ms = 1000;
    s->opt.self = 0;
    s->opt.n_nodes = 1;
    cr_assert_eq(acl_init(&s->acl), 0);
    cr_assert_eq(route_start(s), 0);
    router_view(s->router, 0, 1, true, server_now(s)); /* this node leads */
    f->c = calloc(1, sizeof *f->c);
    cr_assert_not_null(f->c);
    f->c->srv = s;
    f->c->id = 3;
    f->c->proto = 2;
    f->c->reading = true; /* so answering never touches the (absent) socket */
    resp_parser_init(&f->c->parser, NULL);
    s->clients = f->c;
    s->n_clients = 1;
    f->c->user = acl_default_user(&s->acl);
}

static void teardown(struct fixture *f)
{
    commands_free_all(f->s); /* ends what is left; the replies go to out */
    multi_client_free(f->c);
    resp_buf_free(&f->c->held);
    resp_parser_free(&f->c->parser);
    server_out_free(&f->c->out);
    free(f->c);
    acl_free(&f->s->acl);
    free(f->s);
    uv_loop_close(&f->loop);
}

static void send_words(struct fixture *f, const char *const *cmds)
{
    char buf[1024];
    size_t n = 0;
    for (size_t i = 0; cmds[i]; i++) {
        char copy[128];
        snprintf(copy, sizeof copy, "%s", cmds[i]);
        char *w[8];
        size_t argc = 0;
        for (char *save = NULL, *t = strtok_r(copy, " ", &save); t && argc < 8; t = strtok_r(NULL, " ", &save))
            w[argc++] = t;
        n += (size_t)snprintf(buf + n, sizeof buf - n, "*%zu\r\n", argc);
        for (size_t j = 0; j < argc; j++)
            n += (size_t)snprintf(buf + n, sizeof buf - n, "$%zu\r\n%s\r\n", strlen(w[j]), w[j]);
    }
    client_input(f->c, buf, n); /* one read */
}

/* The operations the router handed to the replica, taken off the queue. */
static size_t take_queued(struct server *s, struct server_op **out, size_t cap)
{
    size_t n = 0;
    struct server_op *op = s->queued_head;
    s->queued_head = s->queued_tail = NULL;
    while (op) {
        struct server_op *next = op->next;
        op->prev = op->next = NULL;
        op->route = OP_ROUTE_REPLICA;
        cr_assert_lt(n, cap);
        out[n++] = op;
        op = next;
    }
    return n;
}

static void out_is(struct fixture *f, const char *want)
{
    struct resp_buf *o = &f->c->out.pending;
    cr_assert_eq(o->len, strlen(want), "output %.*s, want %s", (int)o->len, o->data, want);
    cr_assert(o->len == 0 || memcmp(o->data, want, o->len) == 0, "output %.*s, want %s", (int)o->len, o->data,
              want);
}

Test(watch_pipeline, exec_waits_for_the_watch_read_and_guards_with_its_version)
{
    struct fixture f;
    setup(&f);
    struct server *s = f.s;
    send_words(&f, (const char *const[]){"WATCH k", "MULTI", "SET k v", "EXEC", "GET k", NULL});
    /* WATCH's read is out; MULTI and SET were queued; EXEC waits, and GET
     * behind it is not even parsed. */
    struct server_op *ops[8];
    size_t n = take_queued(s, ops, 8);
    cr_assert_eq(n, 1, "only WATCH's read runs before its version is known (%zu ops)", n);
    cr_assert_eq(ops[0]->cmd.op, KV_VERSION);
    cr_assert_eq(s->stats.commands, 3, "WATCH, MULTI, SET dispatched; EXEC waits");
    cr_assert(multi_holds(f.c));
    cr_assert_not(multi_exec_ready(f.c));
    cr_assert_gt(f.c->held.len, 0, "GET k is held behind EXEC");
    out_is(&f, ""); /* WATCH's reply comes first */

    /* WATCH's version arrives: 42. */
    struct replica_result res = {.status = REPLICA_DONE, .kv = {.code = KV_OK, .num = 42}};
    commands_complete(s, ops[0]->id, &res);
    out_is(&f, "+OK\r\n+OK\r\n+QUEUED\r\n");
    cr_assert(multi_exec_ready(f.c));
    cr_assert(f.c->draining, "the connection is taken up at the batch's end");
    cr_assert_eq(take_queued(s, ops, 8), 0, "EXEC is not run inside another command's completion");

    client_drain_held(s);
    cr_assert_not(multi_holds(f.c));
    cr_assert_eq(f.c->held.len, 0);
    cr_assert_eq(s->stats.commands, 5, "EXEC, then GET");
    n = take_queued(s, ops, 8);
    cr_assert_geq(n, 1);
    const struct kv_command *tx = &ops[0]->cmd;
    cr_assert_eq(tx->op, KV_MULTI, "EXEC's entry goes first");
    cr_assert_eq(tx->n_sub, 2, "one guard and the SET");
    cr_assert_eq(tx->sub[0].op, KV_VERSION);
    cr_assert(tx->sub[0].flags & KV_GUARD);
    cr_assert_eq(tx->sub[0].num[0], 42, "the guard holds the version WATCH read, not 'unknown'");
    cr_assert_eq(tx->sub[0].skey.n, 1);
    cr_assert(memcmp(tx->sub[0].skey.p, "k", 1) == 0);
    for (size_t i = 1; i < n; i++)
        cr_assert_eq(ops[i]->cmd.op, KV_GET, "GET k follows EXEC");
    for (size_t i = 0; i < n; i++) /* back to the router, for teardown */
        ops[i]->route = OP_ROUTE_REPLICA;
    teardown(&f);
}

Test(watch_pipeline, without_a_watch_in_flight_exec_runs_at_once)
{
    struct fixture f;
    setup(&f);
    send_words(&f, (const char *const[]){"MULTI", "SET k v", "EXEC", "GET k", NULL});
    cr_assert_not(multi_holds(f.c));
    cr_assert_eq(f.c->held.len, 0);
    cr_assert_eq(f.s->stats.commands, 4);
    struct server_op *ops[8];
    size_t n = take_queued(f.s, ops, 8);
    cr_assert_geq(n, 1);
    cr_assert_eq(ops[0]->cmd.op, KV_MULTI);
    cr_assert_eq(ops[0]->cmd.n_sub, 1);
    teardown(&f);
}

Test(watch_pipeline, a_watch_that_failed_at_once_does_not_hold_exec)
{
    struct fixture f;
    setup(&f);
    /* A read in flight first: the commands behind it end at once but wait
     * for its reply. */
    send_words(&f, (const char *const[]){"GET x", NULL});
    f.s->fatal = true; /* from now on every operation ends as it is routed */
    send_words(&f, (const char *const[]){"WATCH k", "MULTI", "SET k v", "EXEC", "PING", NULL});
    cr_assert_not(multi_holds(f.c), "EXEC waits for nothing");
    cr_assert_eq(f.c->held.len, 0);
    cr_assert_eq(f.s->stats.commands, 6);
    struct server_op *ops[8];
    cr_assert_eq(take_queued(f.s, ops, 8), 1); /* GET x */
    f.s->fatal = false;
    struct replica_result res = {.status = REPLICA_DONE, .kv = {.code = KV_ERR_NO_KEY}};
    commands_complete(f.s, ops[0]->id, &res);
    out_is(&f, "$-1\r\n-TRYAGAIN node is stopping\r\n+OK\r\n+QUEUED\r\n-TRYAGAIN node is stopping\r\n+PONG\r\n");
    teardown(&f);
}

Test(watch_pipeline, two_watches_in_flight_exec_waits_for_both)
{
    struct fixture f;
    setup(&f);
    struct server *s = f.s;
    send_words(&f, (const char *const[]){"WATCH a", "WATCH b", "MULTI", "SET a 1", "EXEC", NULL});
    struct server_op *ops[8];
    cr_assert_eq(take_queued(s, ops, 8), 2);
    struct replica_result res = {.status = REPLICA_DONE, .kv = {.code = KV_OK, .num = 7}};
    commands_complete(s, ops[1]->id, &res); /* the second WATCH ends first */
    cr_assert_not(multi_exec_ready(f.c), "one WATCH read is still out");
    res.kv.num = 5;
    commands_complete(s, ops[0]->id, &res);
    cr_assert(multi_exec_ready(f.c));
    client_drain_held(s);
    size_t n = take_queued(s, ops, 8);
    cr_assert_eq(n, 1);
    const struct kv_command *tx = &ops[0]->cmd;
    cr_assert_eq(tx->op, KV_MULTI);
    cr_assert_eq(tx->n_sub, 3);
    cr_assert_eq(tx->sub[0].num[0], 5);
    cr_assert_eq(tx->sub[1].num[0], 7);
    teardown(&f);
}

Test(watch_pipeline, a_command_that_ends_inside_its_handler_at_the_head)
{
    /* Nothing before it: its reply goes out at once, and its request
     * (pinned while the handler runs) is freed only after (ASan). */
    struct fixture f;
    setup(&f);
    f.s->fatal = true;
    send_words(&f, (const char *const[]){"WATCH k", "MULTI", "SET k v", "EXEC", "GET k", "PING", NULL});
    cr_assert_not(multi_holds(f.c));
    cr_assert_eq(f.s->stats.commands, 6);
    cr_assert_null(f.c->head, "every request answered and freed");
    out_is(&f, "-TRYAGAIN node is stopping\r\n+OK\r\n+QUEUED\r\n-TRYAGAIN node is stopping\r\n"
               "-TRYAGAIN node is stopping\r\n+PONG\r\n");
    teardown(&f);
}

/* The LCS commands of one EXEC are computed one after another on the
 * event loop when its reply is written, so --max-lcs-cells bounds their
 * total (src/server/cmd_lcs.c, multi.c): the one that would pass it
 * answers its own error in EXEC's array, the others their lengths. */
Test(watch_pipeline, exec_bounds_the_total_of_its_lcs_cells)
{
    struct fixture f;
    setup(&f);
    struct server *s = f.s;
    s->opt.max_lcs_cells = 100; /* two LCS of 6 x 6 = 36 cells fit, a third does not */
    send_words(&f, (const char *const[]){"MULTI", "LCS a b LEN", "LCS a b LEN", "LCS a b LEN", "GET a", "EXEC",
                                         NULL});
    out_is(&f, "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n");
    struct server_op *ops[8];
    size_t n = take_queued(s, ops, 8);
    cr_assert_eq(n, 1);
    cr_assert_eq(ops[0]->cmd.op, KV_MULTI);
    cr_assert_eq(ops[0]->cmd.n_sub, 7, "two GETs per LCS, then GET a");
    struct replica_result res = {.status = REPLICA_DONE, .kv = {.code = KV_OK}};
    struct kv_result sub[7];
    for (size_t i = 0; i < 7; i++)
        sub[i] = (struct kv_result){.code = KV_OK, .bytes = (uint8_t *)(i % 2 ? "54321" : "12345"), .len = 5};
    sub[6].bytes = (uint8_t *)"12345";
    res.kv.sub = sub;
    res.kv.n_sub = 7;
    f.c->out.pending.len = 0;
    commands_complete(s, ops[0]->id, &res);
    out_is(&f, "*4\r\n:1\r\n:1\r\n-ERR LCS cells of this transaction exceed max-lcs-cells\r\n$5\r\n12345\r\n");
    /* Outside a transaction each LCS has the whole bound. */
    send_words(&f, (const char *const[]){"LCS a b LEN", NULL});
    n = take_queued(s, ops, 8);
    cr_assert_eq(n, 2);
    f.c->out.pending.len = 0;
    struct replica_result one = {.status = REPLICA_DONE, .kv = {.code = KV_OK, .bytes = (uint8_t *)"12345", .len = 5}};
    commands_complete(s, ops[0]->id, &one);
    commands_complete(s, ops[1]->id, &one);
    out_is(&f, ":5\r\n");
    teardown(&f);
}

/* A SCRIPT LOAD queued in MULTI: once EXEC's reply shows it applied, this
 * member's cache holds the body, so an EVALSHA right after on the same
 * connection runs the script, though this member has not applied the
 * entry itself (a follower answers EXEC with the leader's result).
 * SHA1("return(1)") = 930269f31393d0be681588b6ab08dccee7d6bb67. */
Test(watch_pipeline, script_load_in_exec_is_found_by_the_next_evalsha)
{
    struct fixture f;
    setup(&f);
    struct server *s = f.s;
    s->opt.script_cache_max = 100;
    s->opt.script_max_bytes = 1 << 20;
    kv_script_forget_all();
    send_words(&f, (const char *const[]){"MULTI", "SCRIPT LOAD return(1)", "EXEC", NULL});
    cr_assert_null(kv_script_lookup("930269f31393d0be681588b6ab08dccee7d6bb67", 40),
                   "not cached before EXEC's result");
    struct server_op *ops[8];
    cr_assert_eq(take_queued(s, ops, 8), 1);
    cr_assert_eq(ops[0]->cmd.op, KV_MULTI);
    struct kv_result sub[1] = {{.code = KV_OK, .bytes = (uint8_t *)"930269f31393d0be681588b6ab08dccee7d6bb67",
                                .len = 40}};
    struct replica_result res = {.status = REPLICA_DONE, .kv = {.code = KV_OK, .sub = sub, .n_sub = 1}};
    f.c->out.pending.len = 0;
    commands_complete(s, ops[0]->id, &res);
    out_is(&f, "*1\r\n$40\r\n930269f31393d0be681588b6ab08dccee7d6bb67\r\n");
    cr_assert_not_null(kv_script_lookup("930269f31393d0be681588b6ab08dccee7d6bb67", 40));

    f.c->out.pending.len = 0;
    send_words(&f, (const char *const[]){"EVALSHA 930269f31393d0be681588b6ab08dccee7d6bb67 0", NULL});
    out_is(&f, ""); /* no NOSCRIPT: the script went to the log */
    cr_assert_eq(take_queued(s, ops, 8), 1);
    cr_assert_eq(ops[0]->cmd.op, KV_EVAL);
    cr_assert_eq(ops[0]->cmd.flags & 0xff, KV_EVAL_SHA, "an EVALSHA's body, flagged so");

    /* A queued SCRIPT LOAD whose EXEC a changed watch aborted is not cached. */
    kv_script_forget_all();
    send_words(&f, (const char *const[]){"MULTI", "SCRIPT LOAD return(1)", "EXEC", NULL});
    cr_assert_eq(take_queued(s, ops, 8), 1);
    struct replica_result aborted = {.status = REPLICA_DONE, .kv = {.code = KV_ERR_PRECONDITION}};
    commands_complete(s, ops[0]->id, &aborted);
    cr_assert_null(kv_script_lookup("930269f31393d0be681588b6ab08dccee7d6bb67", 40));
    kv_script_forget_all();
    teardown(&f);
}

static void script_options(struct server *s)
{
    s->opt.script_cache_max = 100;
    s->opt.script_max_bytes = 1 << 20;
    s->opt.script_max_instructions = 1000000;
    s->opt.script_max_memory = 4 << 20;
}

/* Apply EXEC's entry to a store as the leader would and answer with its
 * result; before the answer, not_yet puts back this member's cache as it
 * is on a follower that has not applied the entry yet. */
static void exec_applied(struct fixture *f, struct server_op *op, void (*not_yet)(void))
{
    struct kv_store *st = kv_store_new();
    cr_assert_not_null(st);
    struct replica_result res = {.status = REPLICA_DONE};
    kv_apply(st, &op->cmd, 1000, &res.kv);
    not_yet();
    commands_complete(f->s, op->id, &res);
    kv_result_release(&res.kv);
    kv_store_free(st);
}

static void cache_return1(void)
{
    kv_script_forget_all();
    cr_assert_eq(kv_script_remember_local("return(1)", 9), 0);
}

/* CI's sequence (redis_compare seed 1350931790), with Redis 7.0.15's
 * replies: SCRIPT LOAD before; MULTI, SCRIPT FLUSH SYNC, AUTH pw,
 * EVALSHA_RO and EVALSHA of the script, EXEC -> the EVALSHAs answer
 * NOSCRIPT. The EVALSHAs carry the body this member's cache held at EXEC,
 * flagged, and the entry decides (src/kv/script_tx.c); once EXEC's reply
 * is out, this member's cache is empty too, applied here or not yet.
 * SHA1("return(1)") = 930269f31393d0be681588b6ab08dccee7d6bb67. */
Test(watch_pipeline, script_flush_in_exec_makes_a_later_evalsha_noscript)
{
    struct fixture f;
    setup(&f);
    struct server *s = f.s;
    script_options(s);
    kv_script_forget_all();
    cr_assert_eq(kv_script_remember_local("return(1)", 9), 0); /* SCRIPT LOAD before the MULTI */
    send_words(&f, (const char *const[]){"MULTI", "SCRIPT FLUSH SYNC", "AUTH pw",
                                         "EVALSHA_RO 930269f31393d0be681588b6ab08dccee7d6bb67 0",
                                         "evalsha 930269F31393D0BE681588B6AB08DCCEE7D6BB67 0", "EXEC", NULL});
    out_is(&f, "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n");
    cr_assert_not_null(kv_script_lookup("930269f31393d0be681588b6ab08dccee7d6bb67", 40),
                       "a queued flush empties nothing before EXEC");
    struct server_op *ops[8];
    cr_assert_eq(take_queued(s, ops, 8), 1);
    const struct kv_command *tx = &ops[0]->cmd;
    cr_assert_eq(tx->op, KV_MULTI);
    cr_assert_eq(tx->n_sub, 3, "the flush and the two scripts (AUTH runs at EXEC)");
    cr_assert_eq(tx->sub[0].op, KV_SCRIPT_FLUSH);
    for (int i = 1; i <= 2; i++) {
        cr_assert_eq(tx->sub[i].op, KV_EVAL);
        cr_assert(tx->sub[i].arg[0].n == 9 && memcmp(tx->sub[i].arg[0].p, "return(1)", 9) == 0,
                  "the body this member's cache held");
        cr_assert_eq(tx->sub[i].flags & 0xff, i == 1 ? KV_EVAL_RO | KV_EVAL_SHA : KV_EVAL_SHA);
    }
    f.c->out.pending.len = 0;
    exec_applied(&f, ops[0], cache_return1);
    out_is(&f, "*4\r\n+OK\r\n-ERR AUTH <password> called without any password configured for the default "
               "user. Are you sure your configuration is correct?\r\n"
               "-NOSCRIPT No matching script. Please use EVAL.\r\n"
               "-NOSCRIPT No matching script. Please use EVAL.\r\n");
    cr_assert_null(kv_script_lookup("930269f31393d0be681588b6ab08dccee7d6bb67", 40),
                   "EXEC's reply showed the flush applied");
    kv_script_forget_all();
    teardown(&f);
}

/* A queued EVALSHA is looked up at EXEC, as Redis runs it then: a script
 * flushed on this member between queueing and EXEC (by another
 * connection) goes as its SHA1 alone and answers NOSCRIPT; one loaded by
 * a SCRIPT LOAD earlier in the same MULTI runs (Redis: MULTI, SCRIPT LOAD
 * return(2), EVALSHA sha 0, EXEC -> sha, 2), and so does an EVAL's body,
 * which this member caches once EXEC's reply shows it ran.
 * SHA1("return(2)") = 572625a1039fb30b308c236ab7091a2bd7724d22. */
Test(watch_pipeline, a_queued_evalsha_is_looked_up_at_exec)
{
    struct fixture f;
    setup(&f);
    struct server *s = f.s;
    script_options(s);
    kv_script_forget_all();
    cr_assert_eq(kv_script_remember_local("return(1)", 9), 0);
    send_words(&f, (const char *const[]){"MULTI", "EVALSHA 930269f31393d0be681588b6ab08dccee7d6bb67 0", NULL});
    kv_script_forget_all(); /* another connection's SCRIPT FLUSH */
    send_words(&f, (const char *const[]){"SCRIPT LOAD return(2)", "EVALSHA 572625a1039fb30b308c236ab7091a2bd7724d22 0",
                                         "EVAL return(3) 0", "EXEC", NULL});
    struct server_op *ops[8];
    cr_assert_eq(take_queued(s, ops, 8), 1);
    const struct kv_command *tx = &ops[0]->cmd;
    cr_assert_eq(tx->n_sub, 4);
    cr_assert_eq(tx->sub[0].flags & 0xff, KV_EVAL_BY_SHA);
    cr_assert(tx->sub[0].arg[0].n == 40 && memcmp(tx->sub[0].arg[0].p, "930269f3", 8) == 0);
    cr_assert_eq(tx->sub[2].flags & 0xff, KV_EVAL_BY_SHA, "not cached here: the entry gives the body");
    cr_assert_eq(tx->sub[3].flags & 0xff, 0, "EVAL is no EVALSHA");
    f.c->out.pending.len = 0;
    exec_applied(&f, ops[0], kv_script_forget_all);
    out_is(&f, "*4\r\n-NOSCRIPT No matching script. Please use EVAL.\r\n"
               "$40\r\n572625a1039fb30b308c236ab7091a2bd7724d22\r\n:2\r\n:3\r\n");
    char sha3[41];
    kv_script_sha1("return(3)", 9, sha3);
    cr_assert_not_null(kv_script_lookup(sha3, 40), "EVAL's body cached once EXEC answered");
    kv_script_forget_all();
    teardown(&f);
}

/* A KEYS queued in MULTI carries this member's --keys-walk-min in EXEC's
 * entry (0 there: a bound of 1), and a refusal from the entry is its slot
 * of EXEC's array while the SET beside it answers as usual. */
Test(watch_pipeline, a_queued_keys_carries_the_members_bound)
{
    struct fixture f;
    setup(&f);
    struct server *s = f.s;
    s->opt.keys_walk_min = 100;
    send_words(&f, (const char *const[]){"MULTI", "KEYS *", "SET a 1", "EXEC", NULL});
    out_is(&f, "+OK\r\n+QUEUED\r\n+QUEUED\r\n");
    struct server_op *ops[8];
    size_t n = take_queued(s, ops, 8);
    cr_assert_eq(n, 1);
    const struct kv_command *tx = &ops[0]->cmd;
    cr_assert_eq(tx->op, KV_MULTI);
    cr_assert_eq(tx->n_sub, 2);
    cr_assert_eq(tx->sub[0].op, KV_KEYS);
    cr_assert_eq(tx->sub[0].num[0], 100, "the bound in the entry: %lld", (long long)tx->sub[0].num[0]);
    cr_assert_eq(tx->sub[1].op, KV_SET);
    struct kv_result sub[2] = {{.code = 12}, {.code = KV_OK, .num = 1}};
    snprintf(sub[0].text, sizeof sub[0].text, "KEYS inside MULTI on a key space of 100 keys or more");
    struct replica_result res = {.status = REPLICA_DONE, .kv = {.code = KV_OK, .sub = sub, .n_sub = 2}};
    f.c->out.pending.len = 0;
    commands_complete(s, ops[0]->id, &res);
    out_is(&f, "*2\r\n-ERR KEYS inside MULTI on a key space of 100 keys or more\r\n+OK\r\n");

    s->opt.keys_walk_min = 0; /* every KEYS walks: any key at all refuses */
    send_words(&f, (const char *const[]){"MULTI", "KEYS *", "EXEC", NULL});
    n = take_queued(s, ops, 8);
    cr_assert_eq(n, 1);
    cr_assert_eq(ops[0]->cmd.sub[0].op, KV_KEYS);
    cr_assert_eq(ops[0]->cmd.sub[0].num[0], 1);
    ops[0]->route = OP_ROUTE_REPLICA; /* back to the router, for teardown */
    teardown(&f);
}
