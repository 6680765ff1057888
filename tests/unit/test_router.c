/* test_router.c - scripted tests of each routing rule in router.h, with a
 * driver that records what the router asks for. Node 0 is this node; the
 * tests move the leader view and answer operations as a replica or a
 * leader would. */
#include <criterion/criterion.h>
#include <string.h>

#include "router/router.h"

#define MAX_EVENTS 64

enum ev_kind { EV_SUBMIT, EV_FORWARD, EV_FINISH };

struct ev {
    enum ev_kind kind;
    int user;     /* the test's operation number */
    uint64_t id;  /* SUBMIT, FORWARD */
    int leader;   /* FORWARD */
    raft_term term;
    enum replica_status status; /* FINISH */
};

struct drv {
    struct ev ev[MAX_EVENTS];
    size_t n;
    bool link_down;
};

static struct drv d;
static struct router *rt;
static int users[32];

static void on_submit(void *ctx, uint64_t id, void *user)
{
    struct drv *x = ctx;
    x->ev[x->n++] = (struct ev){.kind = EV_SUBMIT, .user = *(int *)user, .id = id};
}

static bool on_forward(void *ctx, int leader, raft_term term, uint64_t id, void *user)
{
    struct drv *x = ctx;
    if (x->link_down)
        return false;
    x->ev[x->n++] = (struct ev){
        .kind = EV_FORWARD, .user = *(int *)user, .id = id, .leader = leader, .term = term};
    return true;
}

static void on_finish(void *ctx, void *user, enum replica_status status, const char *text)
{
    struct drv *x = ctx;
    cr_assert(text && text[0], "every ending says why");
    x->ev[x->n++] = (struct ev){.kind = EV_FINISH, .user = *(int *)user, .status = status};
}

static void setup(void)
{
    memset(&d, 0, sizeof d);
    for (int i = 0; i < 32; i++)
        users[i] = i;
    struct router_config c;
    router_config_default(&c, 0, 3);
    c.leader_wait_ms = 1000;
    c.forward_timeout_ms = 1500;
    c.submit = on_submit;
    c.forward = on_forward;
    c.finish = on_finish;
    c.ctx = &d;
    rt = router_new(&c);
    cr_assert(rt);
}

static void teardown(void)
{
    router_free(rt);
}

/* The i-th recorded event, which must exist. */
static struct ev *ev(size_t i)
{
    cr_assert_lt(i, d.n, "expected event %zu, only %zu happened", i, d.n);
    return &d.ev[i];
}

static void submit(struct router_conn *conn, enum router_kind kind, int user, uint64_t now)
{
    router_submit(rt, conn, kind, &users[user], now);
}

TestSuite(router, .init = setup, .fini = teardown);

/* Rule 1: local when leading, forwarded with the leader's term otherwise. */
Test(router, leader_runs_locally_follower_forwards_with_term)
{
    router_view(rt, 0, 4, true, 0);
    submit(NULL, ROUTER_WRITE, 1, 0);
    cr_assert_eq(d.n, 1);
    cr_assert_eq(ev(0)->kind, EV_SUBMIT);
    cr_assert_eq(ev(0)->user, 1);

    router_view(rt, 2, 5, false, 10);
    submit(NULL, ROUTER_WRITE, 2, 10);
    cr_assert_eq(ev(1)->kind, EV_FORWARD);
    cr_assert_eq(ev(1)->leader, 2);
    cr_assert_eq(ev(1)->term, 5);
}

/* Rule 1: no leader known: it waits, and goes once one is known. */
Test(router, waits_for_a_leader_then_goes)
{
    submit(NULL, ROUTER_WRITE, 1, 0);
    cr_assert_eq(d.n, 0, "nothing happens without a leader");
    router_view(rt, RAFT_NO_NODE, 3, false, 400);
    cr_assert_eq(d.n, 0);
    router_view(rt, 1, 3, false, 500);
    cr_assert_eq(d.n, 1);
    cr_assert_eq(ev(0)->kind, EV_FORWARD);
    cr_assert_eq(ev(0)->leader, 1);
}

/* Rule 1: waiting ends definitely after leader_wait_ms (11 / -TRYAGAIN). */
Test(router, wait_for_a_leader_is_bounded_and_definite)
{
    submit(NULL, ROUTER_WRITE, 1, 100);
    cr_assert_eq(router_deadline(rt), 1100);
    router_tick(rt, 1099);
    cr_assert_eq(d.n, 0);
    router_tick(rt, 1100);
    cr_assert_eq(d.n, 1);
    cr_assert_eq(ev(0)->kind, EV_FINISH);
    cr_assert_eq(ev(0)->status, REPLICA_NOT_LEADER, "definite: it was never sent");
    cr_assert_eq(router_ops(rt), 0);
    cr_assert_eq(router_deadline(rt), UINT64_MAX);
}

/* A forward that could not be sent (link down) left nothing: it waits. */
Test(router, unsendable_forward_waits_and_is_definite)
{
    d.link_down = true;
    router_view(rt, 1, 3, false, 0);
    submit(NULL, ROUTER_WRITE, 1, 0);
    cr_assert_eq(d.n, 0);
    router_view(rt, 1, 3, false, 600); /* the link is still down */
    cr_assert_eq(d.n, 0);
    d.link_down = false;
    router_view(rt, 1, 3, false, 700);
    cr_assert_eq(ev(0)->kind, EV_FORWARD);
    cr_assert(router_forward_done(rt, ev(0)->id, REPLICA_DONE, 710));
    d.n = 0;
    d.link_down = true;
    submit(NULL, ROUTER_WRITE, 2, 800);
    router_tick(rt, 1800);
    cr_assert_eq(ev(0)->kind, EV_FINISH);
    cr_assert_eq(ev(0)->status, REPLICA_NOT_LEADER);
}

/* Rule 3: a forwarded write whose leader changed ends indefinite at once
 * and is never sent again; the answer of the old attempt is ignored. */
Test(router, forwarded_write_is_indefinite_on_leader_change_never_resent)
{
    router_view(rt, 1, 3, false, 0);
    submit(NULL, ROUTER_WRITE, 1, 0);
    uint64_t id = ev(0)->id;
    router_view(rt, 2, 4, false, 50);
    cr_assert_eq(d.n, 2);
    cr_assert_eq(ev(1)->kind, EV_FINISH);
    cr_assert_eq(ev(1)->status, REPLICA_INDEFINITE);
    cr_assert_eq(router_ops(rt), 0);
    cr_assert_not(router_forward_done(rt, id, REPLICA_DONE, 60), "a late answer finds nothing");
    router_view(rt, 1, 5, false, 70);
    router_tick(rt, 10000);
    cr_assert_eq(d.n, 2, "nothing is sent again");
}

/* Rule 3 with await_former_leader: the write waits for the old leader's
 * own answer (a leader that handed over gives it), then for the deadline. */
Test(router, with_await_former_leader_a_forwarded_write_takes_the_old_leaders_answer)
{
    router_free(rt);
    struct router_config c;
    router_config_default(&c, 0, 3);
    c.submit = on_submit;
    c.forward = on_forward;
    c.finish = on_finish;
    c.ctx = &d;
    c.leader_wait_ms = 1000;
    c.forward_timeout_ms = 1500;
    c.await_former_leader = true;
    rt = router_new(&c);
    router_view(rt, 1, 3, false, 0);
    submit(NULL, ROUTER_WRITE, 1, 0);
    submit(NULL, ROUTER_WRITE, 2, 0);
    uint64_t id = ev(0)->id;
    router_view(rt, 2, 4, false, 50);
    cr_assert_eq(d.n, 2, "ended or resent on the view change");
    cr_assert(router_forward_done(rt, id, REPLICA_DONE, 60), "the old leader's answer counts");
    router_tick(rt, 1499);
    cr_assert_eq(d.n, 2);
    router_tick(rt, 1500); /* the other: no answer from its leader, ever */
    cr_assert_eq(ev(2)->kind, EV_FINISH);
    cr_assert_eq(ev(2)->status, REPLICA_INDEFINITE);
    cr_assert_eq(router_ops(rt), 0);
}

/* Rule 3: the same leader in a new term is a new route too. */
Test(router, forwarded_write_is_indefinite_when_only_the_term_changes)
{
    router_view(rt, 1, 3, false, 0);
    submit(NULL, ROUTER_WRITE, 1, 0);
    router_view(rt, 1, 4, false, 10);
    cr_assert_eq(ev(1)->kind, EV_FINISH);
    cr_assert_eq(ev(1)->status, REPLICA_INDEFINITE);
}

/* Rule 3: no answer in time: a write ends indefinite. */
Test(router, forwarded_write_times_out_indefinite)
{
    router_view(rt, 1, 3, false, 0);
    submit(NULL, ROUTER_WRITE, 1, 0);
    cr_assert_eq(router_deadline(rt), 1500);
    router_tick(rt, 1499);
    cr_assert_eq(d.n, 1);
    router_tick(rt, 1500);
    cr_assert_eq(ev(1)->kind, EV_FINISH);
    cr_assert_eq(ev(1)->status, REPLICA_INDEFINITE);
}

/* Rule 5: a forwarded read is routed again at once when the leader
 * changes, and ends definitely when no answer comes. */
Test(router, forwarded_read_is_rerouted_and_times_out_definite)
{
    router_view(rt, 1, 3, false, 0);
    submit(NULL, ROUTER_READ, 1, 0);
    uint64_t old = ev(0)->id;
    router_view(rt, 2, 4, false, 10);
    cr_assert_eq(d.n, 2);
    cr_assert_eq(ev(1)->kind, EV_FORWARD);
    cr_assert_eq(ev(1)->leader, 2);
    cr_assert_neq(ev(1)->id, old, "a new attempt has a new id");
    cr_assert_not(router_forward_done(rt, old, REPLICA_DONE, 20));
    router_tick(rt, 10 + 1500);
    cr_assert_eq(ev(2)->kind, EV_FINISH);
    cr_assert_eq(ev(2)->status, REPLICA_UNAVAILABLE, "a read changes nothing: definite");
}

/* Rule 4: a definite refusal is retried once the view differs; an
 * answer with the value ends it (true: the caller delivers it). */
Test(router, not_leader_refusal_is_retried_on_a_new_view)
{
    router_view(rt, 1, 3, false, 0);
    submit(NULL, ROUTER_WRITE, 1, 0);
    cr_assert_not(router_forward_done(rt, ev(0)->id, REPLICA_NOT_LEADER, 5));
    cr_assert_eq(d.n, 1, "not sent again to the view that refused it");
    router_view(rt, 1, 3, false, 6);
    cr_assert_eq(d.n, 1);
    router_view(rt, 2, 4, false, 7);
    cr_assert_eq(d.n, 2);
    cr_assert_eq(ev(1)->kind, EV_FORWARD);
    cr_assert_eq(ev(1)->leader, 2);
    cr_assert(router_forward_done(rt, ev(1)->id, REPLICA_DONE, 8));
    cr_assert_eq(router_ops(rt), 0);
}

/* Rule 4: a refusal from the local replica is retried the same way, and
 * retries are bounded. */
Test(router, local_refusals_are_retried_a_bounded_number_of_times)
{
    router_view(rt, 0, 3, true, 0);
    submit(NULL, ROUTER_WRITE, 1, 0);
    raft_term t = 3;
    size_t sent = 0;
    for (int i = 0; i < 10 && router_ops(rt); i++) {
        struct ev *last = ev(d.n - 1);
        cr_assert(last->kind == EV_SUBMIT || last->kind == EV_FORWARD);
        sent++;
        bool ended = last->kind == EV_SUBMIT
                         ? router_local_done(rt, last->id, REPLICA_NOT_LEADER, 10)
                         : router_forward_done(rt, last->id, REPLICA_NOT_LEADER, 10);
        if (ended)
            break;
        router_view(rt, i % 2 ? 0 : 1, ++t, i % 2, 10);
    }
    cr_assert_eq(sent, 4, "the first attempt and 3 retries");
    cr_assert_eq(router_ops(rt), 0);
}

/* Rule 4: other definite answers end the operation. */
Test(router, unavailable_is_not_retried)
{
    router_view(rt, 0, 3, true, 0);
    submit(NULL, ROUTER_WRITE, 1, 0);
    cr_assert(router_local_done(rt, ev(0)->id, REPLICA_UNAVAILABLE, 1));
    cr_assert_eq(router_ops(rt), 0);
}

/* Rule 7: local operations are not timed out by the router. */
Test(router, local_operations_wait_for_the_replica)
{
    router_view(rt, 0, 3, true, 0);
    submit(NULL, ROUTER_WRITE, 1, 0);
    cr_assert_eq(router_deadline(rt), UINT64_MAX);
    router_tick(rt, 1000000);
    cr_assert_eq(d.n, 1);
    router_view(rt, 1, 4, false, 1000001); /* deposed: the replica answers */
    cr_assert_eq(d.n, 1);
    cr_assert(router_local_done(rt, ev(0)->id, REPLICA_INDEFINITE, 1000002));
}

/* Rule 6: a pipeline of writes goes out at once, in order. */
Test(router, pipelined_writes_go_together_in_order)
{
    struct router_conn conn = {0};
    router_view(rt, 1, 3, false, 0);
    for (int i = 1; i <= 4; i++)
        submit(&conn, ROUTER_WRITE, i, 0);
    cr_assert_eq(d.n, 4);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(ev(i)->kind, EV_FORWARD);
        cr_assert_eq(ev(i)->user, i + 1);
    }
}

/* Rule 6: a read after a write on one connection waits for the write's
 * answer; a read on another connection does not. */
Test(router, read_after_write_waits_for_the_write)
{
    struct router_conn a = {0}, b = {0};
    router_view(rt, 0, 3, true, 0);
    submit(&a, ROUTER_WRITE, 1, 0);
    submit(&a, ROUTER_READ, 2, 0);
    submit(&b, ROUTER_READ, 3, 0);
    cr_assert_eq(d.n, 2);
    cr_assert_eq(ev(0)->user, 1);
    cr_assert_eq(ev(1)->user, 3, "the other connection's read goes at once");
    cr_assert(router_local_done(rt, ev(0)->id, REPLICA_DONE, 1));
    cr_assert_eq(d.n, 3);
    cr_assert_eq(ev(2)->kind, EV_SUBMIT);
    cr_assert_eq(ev(2)->user, 2);
}

/* Rule 6: a write after reads waits for all of them; reads share a round. */
Test(router, write_after_reads_waits_for_all_of_them)
{
    struct router_conn a = {0};
    router_view(rt, 1, 3, false, 0);
    submit(&a, ROUTER_READ, 1, 0);
    submit(&a, ROUTER_READ, 2, 0);
    submit(&a, ROUTER_WRITE, 3, 0);
    submit(&a, ROUTER_READ, 4, 0);
    cr_assert_eq(d.n, 2, "both reads go, the write waits");
    cr_assert(router_forward_done(rt, ev(0)->id, REPLICA_DONE, 1));
    cr_assert_eq(d.n, 2);
    cr_assert(router_forward_done(rt, ev(1)->id, REPLICA_DONE, 1));
    cr_assert_eq(d.n, 3);
    cr_assert_eq(ev(2)->user, 3);
    cr_assert(router_forward_done(rt, ev(2)->id, REPLICA_DONE, 2));
    cr_assert_eq(ev(3)->user, 4);
}

/* Rule 6: ops of one connection never go two routes at once: a write
 * behind writes in flight to an old leader waits until they end. */
Test(router, connection_never_has_two_routes_in_flight)
{
    struct router_conn a = {0};
    router_view(rt, 0, 3, true, 0);
    submit(&a, ROUTER_WRITE, 1, 0);
    router_view(rt, 2, 4, false, 5); /* deposed; op 1 is still the replica's (it commits) */
    submit(&a, ROUTER_WRITE, 2, 5);
    cr_assert_eq(d.n, 1, "op 2 waits for op 1, which went elsewhere");
    cr_assert(router_local_done(rt, ev(0)->id, REPLICA_DONE, 6));
    cr_assert_eq(d.n, 2);
    cr_assert_eq(ev(1)->kind, EV_FORWARD);
    cr_assert_eq(ev(1)->user, 2);
    cr_assert_eq(ev(1)->leader, 2);
}

/* Rules 3 and 6: a leader change ends a connection's forwarded writes and
 * its next operation goes to the new leader only after them. */
Test(router, leader_change_ends_writes_then_the_next_goes)
{
    struct router_conn a = {0};
    router_view(rt, 1, 3, false, 0);
    submit(&a, ROUTER_WRITE, 1, 0);
    submit(&a, ROUTER_WRITE, 2, 0);
    submit(&a, ROUTER_READ, 3, 0);
    cr_assert_eq(d.n, 2);
    router_view(rt, 2, 4, false, 10);
    cr_assert_eq(d.n, 5);
    cr_assert_eq(ev(2)->kind, EV_FINISH);
    cr_assert_eq(ev(2)->user, 1);
    cr_assert_eq(ev(2)->status, REPLICA_INDEFINITE);
    cr_assert_eq(ev(3)->kind, EV_FINISH);
    cr_assert_eq(ev(3)->user, 2);
    cr_assert_eq(ev(4)->kind, EV_FORWARD);
    cr_assert_eq(ev(4)->user, 3);
    cr_assert_eq(ev(4)->leader, 2);
}

/* Rules 4 and 6: of a connection's refused writes only the last one sent
 * is retried; an earlier one ends with its refusal, since something after it
 * was sent (and might have taken effect). */
Test(router, only_the_last_sent_operation_of_a_connection_is_retried)
{
    struct router_conn a = {0};
    router_view(rt, 1, 3, false, 0);
    submit(&a, ROUTER_WRITE, 1, 0);
    submit(&a, ROUTER_WRITE, 2, 0);
    cr_assert(router_forward_done(rt, ev(0)->id, REPLICA_NOT_LEADER, 1),
              "op 1 ends: op 2 was sent after it");
    cr_assert_not(router_forward_done(rt, ev(1)->id, REPLICA_NOT_LEADER, 1));
    cr_assert_eq(d.n, 2);
    router_view(rt, 0, 4, true, 2);
    cr_assert_eq(d.n, 3);
    cr_assert_eq(ev(2)->kind, EV_SUBMIT);
    cr_assert_eq(ev(2)->user, 2);
}

/* Rule 5 with the same limit: a connection's forwarded reads, on a leader
 * change, are sent again only from the last one sent; earlier ones end
 * definitely (their forward may be lost while a later one was answered). */
Test(router, earlier_reads_of_a_connection_end_on_a_leader_change)
{
    struct router_conn a = {0};
    router_view(rt, 1, 3, false, 0);
    submit(&a, ROUTER_READ, 1, 0);
    submit(&a, ROUTER_READ, 2, 0);
    router_view(rt, 2, 4, false, 5);
    cr_assert_eq(d.n, 4);
    cr_assert_eq(ev(2)->kind, EV_FINISH);
    cr_assert_eq(ev(2)->user, 1);
    cr_assert_eq(ev(2)->status, REPLICA_UNAVAILABLE);
    cr_assert_eq(ev(3)->kind, EV_FORWARD);
    cr_assert_eq(ev(3)->user, 2);
    cr_assert_eq(ev(3)->leader, 2);
}

/* A closed connection's unsent operations end; those in flight go on. */
Test(router, closing_a_connection)
{
    struct router_conn a = {0};
    router_view(rt, 0, 3, true, 0);
    submit(&a, ROUTER_WRITE, 1, 0);
    submit(&a, ROUTER_READ, 2, 0);
    router_conn_close(rt, &a);
    cr_assert_eq(d.n, 2);
    cr_assert_eq(ev(1)->kind, EV_FINISH);
    cr_assert_eq(ev(1)->user, 2);
    cr_assert_eq(ev(1)->status, REPLICA_UNAVAILABLE);
    cr_assert(router_local_done(rt, ev(0)->id, REPLICA_DONE, 1));
    cr_assert_eq(router_ops(rt), 0);
}

/* The table is bounded: more operations are refused definitely. */
Test(router, bounded)
{
    router_free(rt);
    struct router_config c;
    router_config_default(&c, 0, 3);
    c.max_ops = 2;
    c.submit = on_submit;
    c.forward = on_forward;
    c.finish = on_finish;
    c.ctx = &d;
    rt = router_new(&c);
    router_view(rt, 0, 3, true, 0);
    submit(NULL, ROUTER_WRITE, 1, 0);
    submit(NULL, ROUTER_WRITE, 2, 0);
    submit(NULL, ROUTER_WRITE, 3, 0);
    cr_assert_eq(ev(2)->kind, EV_FINISH);
    cr_assert_eq(ev(2)->user, 3);
    cr_assert_eq(ev(2)->status, REPLICA_UNAVAILABLE);
    cr_assert(router_local_done(rt, ev(0)->id, REPLICA_DONE, 1));
    submit(NULL, ROUTER_WRITE, 4, 0);
    cr_assert_eq(ev(3)->kind, EV_SUBMIT);
}

/* Abort: writes in flight may have happened, the rest did not. */
Test(router, abort_all)
{
    struct router_conn a = {0};
    router_view(rt, 1, 3, false, 0);
    submit(&a, ROUTER_WRITE, 1, 0);
    submit(&a, ROUTER_READ, 2, 0);
    submit(NULL, ROUTER_READ, 3, 0);
    router_abort_all(rt, "stopping");
    cr_assert_eq(router_ops(rt), 0);
    int seen = 0;
    for (size_t i = 0; i < d.n; i++) {
        if (d.ev[i].kind != EV_FINISH)
            continue;
        seen++;
        cr_assert_eq(d.ev[i].status, d.ev[i].user == 1 ? REPLICA_INDEFINITE : REPLICA_UNAVAILABLE);
    }
    cr_assert_eq(seen, 3);
}

/* Rule 6: nothing overtakes an operation of its connection that waits. */
Test(router, nothing_overtakes_a_waiting_operation)
{
    struct router_conn a = {0};
    router_view(rt, 1, 3, false, 0);
    submit(&a, ROUTER_WRITE, 1, 0);
    cr_assert_not(router_forward_done(rt, ev(0)->id, REPLICA_NOT_LEADER, 1));
    submit(&a, ROUTER_WRITE, 2, 2);
    cr_assert_eq(d.n, 1, "op 2 waits behind op 1");
    cr_assert_eq(a.unsent, 2);
    router_view(rt, 2, 4, false, 3);
    cr_assert_eq(d.n, 3);
    cr_assert_eq(ev(1)->kind, EV_FORWARD);
    cr_assert_eq(ev(1)->user, 1);
    cr_assert_eq(ev(2)->kind, EV_FORWARD);
    cr_assert_eq(ev(2)->user, 2);
    cr_assert_eq(a.unsent, 0);
}

/* Rule 8: a write that timed out may still be appended; nothing of its
 * connection is sent after it, and the connection stays refused. */
Test(router, a_timed_out_write_breaks_its_connection)
{
    struct router_conn a = {0}, b = {0};
    router_view(rt, 1, 3, false, 0);
    submit(&a, ROUTER_WRITE, 1, 0);
    submit(&a, ROUTER_READ, 2, 0);
    submit(&b, ROUTER_READ, 3, 0);
    cr_assert(router_forward_done(rt, ev(1)->id, REPLICA_DONE, 1));
    router_tick(rt, 1500);
    cr_assert_eq(d.n, 2, "the leader's answer at 1 was progress: the write waits to 1501");
    router_tick(rt, 1501);
    cr_assert_eq(d.n, 4);
    cr_assert_eq(ev(2)->user, 1);
    cr_assert_eq(ev(2)->status, REPLICA_INDEFINITE);
    cr_assert_eq(ev(3)->kind, EV_FINISH, "the read behind it is not sent");
    cr_assert_eq(ev(3)->user, 2);
    cr_assert_eq(ev(3)->status, REPLICA_UNAVAILABLE);
    submit(&a, ROUTER_READ, 4, 1600);
    cr_assert_eq(ev(4)->kind, EV_FINISH);
    cr_assert_eq(ev(4)->status, REPLICA_UNAVAILABLE);
    submit(&b, ROUTER_READ, 5, 1600);
    cr_assert_eq(ev(5)->kind, EV_FORWARD, "other connections go on");
    cr_assert_eq(router_ops(rt), 1);
}

/* Rule 8 for the local replica's indefinite answer; rule 3's ending does
 * not break a connection. */
Test(router, an_indefinite_local_write_breaks_its_connection_a_leader_change_does_not)
{
    struct router_conn a = {0}, b = {0};
    router_view(rt, 0, 3, true, 0);
    submit(&a, ROUTER_WRITE, 1, 0);
    submit(&a, ROUTER_READ, 2, 0);
    cr_assert(router_local_done(rt, ev(0)->id, REPLICA_INDEFINITE, 1));
    cr_assert_eq(ev(1)->kind, EV_FINISH);
    cr_assert_eq(ev(1)->user, 2);
    cr_assert_eq(ev(1)->status, REPLICA_UNAVAILABLE);
    cr_assert(a.broken);

    router_view(rt, 1, 4, false, 2);
    submit(&b, ROUTER_WRITE, 3, 2);
    submit(&b, ROUTER_READ, 4, 2);
    router_view(rt, 2, 5, false, 3);
    cr_assert_not(b.broken);
    cr_assert_eq(ev(d.n - 1)->kind, EV_FORWARD);
    cr_assert_eq(ev(d.n - 1)->user, 4);
    cr_assert_eq(ev(d.n - 1)->leader, 2);
}

/* Rule 1: re-trying an unsendable forward at each view keeps the deadline
 * the wait began with. */
Test(router, waiting_keeps_its_first_deadline)
{
    d.link_down = true;
    router_view(rt, 1, 3, false, 0);
    submit(NULL, ROUTER_WRITE, 1, 0);
    router_view(rt, 1, 3, false, 600);
    router_view(rt, 1, 3, false, 900);
    cr_assert_eq(router_deadline(rt), 1000);
    router_tick(rt, 1000);
    cr_assert_eq(d.n, 1);
    cr_assert_eq(ev(0)->kind, EV_FINISH);
    cr_assert_eq(ev(0)->status, REPLICA_NOT_LEADER);
}

/* Rule 6 when a refused read is released: it does not go to the new leader
 * while an earlier read of its connection is still with the local replica. */
Test(router, a_released_operation_waits_for_earlier_ones_on_another_route)
{
    struct router_conn a = {0};
    router_view(rt, 0, 3, true, 0);
    submit(&a, ROUTER_READ, 1, 0);
    submit(&a, ROUTER_READ, 2, 0);
    cr_assert_eq(d.n, 2);
    router_view(rt, 2, 4, false, 5); /* deposed */
    cr_assert_not(router_local_done(rt, ev(1)->id, REPLICA_NOT_LEADER, 6));
    cr_assert_eq(d.n, 2, "op 2 waits: op 1 is still on the local route");
    cr_assert(router_local_done(rt, ev(0)->id, REPLICA_DONE, 7));
    cr_assert_eq(d.n, 3);
    cr_assert_eq(ev(2)->kind, EV_FORWARD);
    cr_assert_eq(ev(2)->user, 2);
}

/* Rule 8: a broken connection sends nothing new, even behind writes of its
 * own still in flight on the same route. */
Test(router, a_broken_connection_sends_nothing_new)
{
    struct router_conn a = {0};
    router_view(rt, 1, 3, false, 0);
    submit(&a, ROUTER_WRITE, 1, 0);
    submit(&a, ROUTER_WRITE, 2, 1);
    router_tick(rt, 1500); /* op 1 times out; op 2 is still in flight */
    cr_assert_eq(ev(2)->kind, EV_FINISH);
    cr_assert_eq(ev(2)->user, 1);
    submit(&a, ROUTER_WRITE, 3, 1500);
    cr_assert_eq(ev(3)->kind, EV_FINISH);
    cr_assert_eq(ev(3)->user, 3);
    cr_assert_eq(ev(3)->status, REPLICA_UNAVAILABLE);
}

/* A front end finds its operation from a forward's answer by the id alone:
 * only the attempt in flight answers to it. */
Test(router, a_forward_id_names_its_operation_only_while_that_attempt_is_out)
{
    router_view(rt, 1, 3, false, 0);
    submit(NULL, ROUTER_READ, 1, 0);
    uint64_t first = ev(0)->id;
    cr_assert_eq(router_forwarded_user(rt, first), &users[1]);
    cr_assert_null(router_forwarded_user(rt, first + 1), "no operation has that id");
    router_view(rt, 2, 4, false, 10); /* rule 5: the read goes again */
    cr_assert_eq(ev(1)->kind, EV_FORWARD);
    cr_assert_neq(ev(1)->id, first);
    cr_assert_null(router_forwarded_user(rt, first), "the earlier attempt's id is stale");
    cr_assert_eq(router_forwarded_user(rt, ev(1)->id), &users[1]);
    cr_assert(router_forward_done(rt, ev(1)->id, REPLICA_DONE, 20));
    cr_assert_null(router_forwarded_user(rt, ev(1)->id), "an ended operation has no user");

    router_view(rt, 0, 5, true, 30); /* a local attempt is not a forward */
    submit(NULL, ROUTER_READ, 2, 30);
    cr_assert_eq(ev(2)->kind, EV_SUBMIT);
    cr_assert_null(router_forwarded_user(rt, ev(2)->id));
}

/* Ids are written in decimal on the Maelstrom wire: with the default
 * max_ops the first operations' ids (a slot and a few generations) stay
 * far below 2^32. */
Test(router, ids_stay_short)
{
    router_view(rt, 1, 3, false, 0);
    for (int i = 0; i < 20; i++)
        submit(NULL, ROUTER_WRITE, i, 0);
    cr_assert_eq(d.n, 20);
    for (size_t i = 0; i < d.n; i++) {
        cr_assert_eq(ev(i)->kind, EV_FORWARD);
        cr_assert_lt(ev(i)->id, (uint64_t)1 << 24, "id %llu", (unsigned long long)ev(i)->id);
        cr_assert(router_forward_done(rt, ev(i)->id, REPLICA_DONE, 1));
    }
}

/* Rule 3: a forwarded write waits past its timeout while the commit index
 * grows under the same view, and ends indefinite once it stood still for
 * forward_timeout_ms. */
Test(router, a_forwarded_write_waits_while_the_commit_index_grows)
{
    router_view(rt, 1, 3, false, 0);
    router_progress(rt, 5, 0);
    submit(NULL, ROUTER_WRITE, 1, 0);
    cr_assert_eq(router_deadline(rt), 1500);
    router_progress(rt, 6, 1000);
    router_progress(rt, 6, 1200); /* standing still is no progress */
    router_tick(rt, 1500);
    cr_assert_eq(d.n, 1, "the leader still commits: it waits");
    cr_assert_eq(router_deadline(rt), 2500);
    router_progress(rt, 9, 2000);
    router_tick(rt, 2500);
    cr_assert_eq(d.n, 1);
    cr_assert_eq(router_deadline(rt), 3500);
    router_tick(rt, 3499);
    cr_assert_eq(d.n, 1);
    router_tick(rt, 3500);
    cr_assert_eq(ev(1)->kind, EV_FINISH);
    cr_assert_eq(ev(1)->status, REPLICA_INDEFINITE);
    struct router_stats st;
    router_stats(rt, &st);
    cr_assert_eq(st.waited_for_progress, 2);
}

/* Rule 3: the commit index standing still while the leader applies a
 * backlog, the leader's answers to other forwards are its progress. */
Test(router, an_answer_of_the_leader_is_progress)
{
    router_view(rt, 1, 3, false, 0);
    router_progress(rt, 5, 0);
    submit(NULL, ROUTER_WRITE, 1, 0);
    submit(NULL, ROUTER_WRITE, 2, 100);
    cr_assert(router_forward_done(rt, ev(0)->id, REPLICA_DONE, 1400));
    router_tick(rt, 1600);
    cr_assert_eq(d.n, 2, "the second waits on");
    cr_assert_eq(router_deadline(rt), 2900);
    router_tick(rt, 2900);
    cr_assert_eq(ev(2)->kind, EV_FINISH);
    cr_assert_eq(ev(2)->user, 2);
    cr_assert_eq(ev(2)->status, REPLICA_INDEFINITE);
}

/* Rule 3: a write forwarded before one the leader answered will get no
 * answer (the leader answers writes in log order): it stops waiting. */
Test(router, a_write_sent_before_an_answered_one_stops_waiting)
{
    router_view(rt, 1, 3, false, 0);
    router_progress(rt, 5, 0);
    submit(NULL, ROUTER_WRITE, 1, 0);
    submit(NULL, ROUTER_WRITE, 2, 10);
    router_progress(rt, 7, 1000);
    cr_assert(router_forward_done(rt, ev(1)->id, REPLICA_DONE, 1200));
    router_tick(rt, 1500);
    cr_assert_eq(ev(2)->kind, EV_FINISH);
    cr_assert_eq(ev(2)->user, 1);
    cr_assert_eq(ev(2)->status, REPLICA_INDEFINITE, "its answer was lost");
}

/* Rule 3: a view change, even one that comes back to the same leader and
 * term, ends the wait (an answer may have gone with the link). */
Test(router, a_view_change_ends_the_wait_for_progress)
{
    router_free(rt);
    struct router_config c;
    router_config_default(&c, 0, 3);
    c.submit = on_submit;
    c.forward = on_forward;
    c.finish = on_finish;
    c.ctx = &d;
    c.leader_wait_ms = 1000;
    c.forward_timeout_ms = 1500;
    c.await_former_leader = true;
    rt = router_new(&c);
    router_view(rt, 1, 3, false, 0);
    router_progress(rt, 5, 0);
    submit(NULL, ROUTER_WRITE, 1, 0);
    router_view(rt, RAFT_NO_NODE, 3, false, 1100);
    router_view(rt, 1, 3, false, 1200);
    router_progress(rt, 8, 1300);
    router_tick(rt, 1500);
    cr_assert_eq(ev(1)->kind, EV_FINISH);
    cr_assert_eq(ev(1)->status, REPLICA_INDEFINITE);
}

/* Rule 5: a forwarded read waits for the leader's progress too, then ends
 * definitely. */
Test(router, a_forwarded_read_waits_while_the_leader_commits)
{
    router_view(rt, 1, 3, false, 0);
    router_progress(rt, 5, 0);
    submit(NULL, ROUTER_READ, 1, 0);
    router_progress(rt, 6, 1000);
    router_tick(rt, 1500);
    cr_assert_eq(d.n, 1);
    router_tick(rt, 2500);
    cr_assert_eq(ev(1)->kind, EV_FINISH);
    cr_assert_eq(ev(1)->status, REPLICA_UNAVAILABLE);
}


/* ---- long reads (rule 9) ---------------------------------------------------------- */

/* A router with long_forward_timeout_ms `long_ms` (forward_timeout_ms 1500). */
static void with_long_timeout(uint64_t long_ms)
{
    router_free(rt);
    struct router_config c;
    router_config_default(&c, 0, 3);
    c.submit = on_submit;
    c.forward = on_forward;
    c.finish = on_finish;
    c.ctx = &d;
    c.leader_wait_ms = 1000;
    c.forward_timeout_ms = 1500;
    c.long_forward_timeout_ms = long_ms;
    rt = router_new(&c);
    cr_assert(rt);
}

/* Rule 9: a long read flies alone: what its connection submits after it,
 * a read or another long read, waits for its answer. */
Test(router, a_long_read_flies_alone_on_its_connection)
{
    struct router_conn a = {0}, b = {0};
    router_view(rt, 0, 3, true, 0);
    submit(&a, ROUTER_READ_LONG, 1, 0);
    submit(&a, ROUTER_READ, 2, 0);
    submit(&a, ROUTER_READ_LONG, 3, 0);
    submit(&a, ROUTER_READ, 4, 0);
    cr_assert_eq(d.n, 1, "only the long read goes");
    cr_assert_eq(ev(0)->kind, EV_SUBMIT);
    cr_assert_eq(ev(0)->user, 1);
    cr_assert(router_local_done(rt, ev(0)->id, REPLICA_DONE, 1));
    cr_assert_eq(d.n, 2, "the read goes, the long read behind it waits");
    cr_assert_eq(ev(1)->user, 2);
    cr_assert(router_local_done(rt, ev(1)->id, REPLICA_DONE, 2));
    cr_assert_eq(d.n, 3);
    cr_assert_eq(ev(2)->user, 3);
    cr_assert(router_local_done(rt, ev(2)->id, REPLICA_DONE, 3));
    cr_assert_eq(d.n, 4);
    cr_assert_eq(ev(3)->user, 4);

    /* Two long reads of one connection do not fly together either; another
     * connection's go at once. */
    submit(&b, ROUTER_READ_LONG, 5, 4);
    submit(&b, ROUTER_READ_LONG, 6, 4);
    submit(NULL, ROUTER_READ_LONG, 7, 4);
    cr_assert_eq(d.n, 6);
    cr_assert_eq(ev(4)->user, 5);
    cr_assert_eq(ev(5)->user, 7);
    cr_assert(router_local_done(rt, ev(4)->id, REPLICA_DONE, 5));
    cr_assert_eq(d.n, 7);
    cr_assert_eq(ev(6)->kind, EV_SUBMIT);
    cr_assert_eq(ev(6)->user, 6);
}

/* Rule 9: a long read waits for every earlier operation of its connection
 * (reads in flight too), and a write behind it waits for it. */
Test(router, a_long_read_waits_for_earlier_reads_and_holds_later_writes)
{
    struct router_conn a = {0};
    router_view(rt, 1, 3, false, 0);
    submit(&a, ROUTER_READ, 1, 0);
    submit(&a, ROUTER_READ, 2, 0);
    submit(&a, ROUTER_READ_LONG, 3, 0);
    submit(&a, ROUTER_WRITE, 4, 0);
    cr_assert_eq(d.n, 2, "the reads go together, the long read waits");
    cr_assert(router_forward_done(rt, ev(0)->id, REPLICA_DONE, 1));
    cr_assert_eq(d.n, 2);
    cr_assert(router_forward_done(rt, ev(1)->id, REPLICA_DONE, 2));
    cr_assert_eq(d.n, 3);
    cr_assert_eq(ev(2)->kind, EV_FORWARD);
    cr_assert_eq(ev(2)->user, 3);
    cr_assert(router_forward_done(rt, ev(2)->id, REPLICA_DONE, 3));
    cr_assert_eq(d.n, 4);
    cr_assert_eq(ev(3)->user, 4);
}

/* Rule 9: a forwarded long read's deadline is long_forward_timeout_ms;
 * reads and writes keep forward_timeout_ms. */
Test(router, a_forwarded_long_read_has_the_long_timeout)
{
    with_long_timeout(6000);
    router_view(rt, 1, 3, false, 0);
    submit(NULL, ROUTER_READ_LONG, 1, 0);
    cr_assert_eq(router_deadline(rt), 6000);
    submit(NULL, ROUTER_READ, 2, 10);
    submit(NULL, ROUTER_WRITE, 3, 20);
    cr_assert_eq(router_deadline(rt), 1510);
    router_tick(rt, 1520);
    cr_assert_eq(d.n, 5);
    cr_assert_eq(ev(3)->user, 2);
    cr_assert_eq(ev(3)->status, REPLICA_UNAVAILABLE);
    cr_assert_eq(ev(4)->user, 3);
    cr_assert_eq(ev(4)->status, REPLICA_INDEFINITE);
    cr_assert_eq(router_deadline(rt), 6000);
    router_tick(rt, 5999);
    cr_assert_eq(d.n, 5);
    router_tick(rt, 6000);
    cr_assert_eq(ev(5)->kind, EV_FINISH);
    cr_assert_eq(ev(5)->user, 1);
    cr_assert_eq(ev(5)->status, REPLICA_UNAVAILABLE, "a long read changes nothing: definite");
    cr_assert_eq(router_ops(rt), 0);
}

/* Rule 9: with long_forward_timeout_ms 0 (the default) a long read has
 * forward_timeout_ms. */
Test(router, the_long_timeout_defaults_to_the_forward_timeout)
{
    struct router_config c;
    router_config_default(&c, 0, 3);
    cr_assert_eq(c.long_forward_timeout_ms, 0);
    cr_assert_eq(c.forward_timeout_ms, 1500);
    router_view(rt, 1, 3, false, 0);
    submit(NULL, ROUTER_READ_LONG, 1, 100);
    cr_assert_eq(router_deadline(rt), 1600);
}

/* Rule 9 with rule 3: the wait for progress is measured in the long
 * timeout too. */
Test(router, a_forwarded_long_read_waits_for_progress_by_the_long_timeout)
{
    with_long_timeout(6000);
    router_view(rt, 1, 3, false, 0);
    router_progress(rt, 5, 0);
    submit(NULL, ROUTER_READ_LONG, 1, 0);
    router_progress(rt, 6, 2000);
    router_tick(rt, 6000);
    cr_assert_eq(d.n, 1, "the leader committed 4000 ms ago, within 6000: it waits");
    cr_assert_eq(router_deadline(rt), 8000);
    router_progress(rt, 7, 7000);
    router_tick(rt, 8000);
    cr_assert_eq(d.n, 1);
    cr_assert_eq(router_deadline(rt), 13000);
    router_tick(rt, 12999);
    cr_assert_eq(d.n, 1);
    router_tick(rt, 13000);
    cr_assert_eq(ev(1)->kind, EV_FINISH);
    cr_assert_eq(ev(1)->status, REPLICA_UNAVAILABLE);
}

/* Rule 9: an ordinary read sent later and answered says nothing about a
 * long read (the leader answers it while the walk goes on): the long read
 * waits on, to its own deadline and past it while the leader progresses. */
Test(router, a_later_answered_read_does_not_end_a_long_read)
{
    with_long_timeout(6000);
    router_view(rt, 1, 3, false, 0);
    router_progress(rt, 5, 0);
    submit(NULL, ROUTER_READ_LONG, 1, 0);
    submit(NULL, ROUTER_READ, 2, 10);
    cr_assert(router_forward_done(rt, ev(1)->id, REPLICA_DONE, 100));
    router_tick(rt, 1510);
    cr_assert_eq(d.n, 2);
    router_tick(rt, 6000);
    cr_assert_eq(d.n, 2, "the answer at 100 was progress: it waits to 6100");
    cr_assert_eq(router_deadline(rt), 6100);
    cr_assert(router_forward_done(rt, ev(0)->id, REPLICA_DONE, 6050));
    cr_assert_eq(router_ops(rt), 0);
}

/* Rule 9 (and rule 3 for reads): a long read sent later and answered says
 * an earlier unanswered one's answer was lost: it ends at its deadline. */
Test(router, a_later_answered_long_read_ends_an_earlier_one)
{
    with_long_timeout(6000);
    router_view(rt, 1, 3, false, 0);
    router_progress(rt, 5, 0);
    submit(NULL, ROUTER_READ_LONG, 1, 0);
    submit(NULL, ROUTER_READ_LONG, 2, 10);
    cr_assert(router_forward_done(rt, ev(1)->id, REPLICA_DONE, 100));
    router_progress(rt, 9, 5900);
    router_tick(rt, 5999);
    cr_assert_eq(d.n, 2);
    router_tick(rt, 6000);
    cr_assert_eq(d.n, 3);
    cr_assert_eq(ev(2)->kind, EV_FINISH);
    cr_assert_eq(ev(2)->user, 1);
    cr_assert_eq(ev(2)->status, REPLICA_UNAVAILABLE, "its answer was lost");
}

/* Rule 9: nor does an answered long read say anything about an earlier
 * ordinary read, which waits for progress as before. */
Test(router, a_later_answered_long_read_does_not_end_a_read)
{
    with_long_timeout(6000);
    router_view(rt, 1, 3, false, 0);
    router_progress(rt, 5, 0);
    submit(NULL, ROUTER_READ, 1, 0);
    submit(NULL, ROUTER_READ_LONG, 2, 10);
    cr_assert(router_forward_done(rt, ev(1)->id, REPLICA_DONE, 1000));
    router_tick(rt, 1500);
    cr_assert_eq(d.n, 2, "the answer at 1000 was progress: it waits to 2500");
    cr_assert_eq(router_deadline(rt), 2500);
    router_tick(rt, 2500);
    cr_assert_eq(ev(2)->kind, EV_FINISH);
    cr_assert_eq(ev(2)->user, 1);
    cr_assert_eq(ev(2)->status, REPLICA_UNAVAILABLE);
}

/* Rules 4, 5 and 9: a long read refused NOT_LEADER goes again at the next
 * view; one forwarded to a leader that lost the view goes again at once,
 * with the long timeout afresh. */
Test(router, a_long_read_is_retried_and_rerouted_like_a_read)
{
    with_long_timeout(6000);
    struct router_conn a = {0};
    router_view(rt, 1, 3, false, 0);
    submit(&a, ROUTER_READ_LONG, 1, 0);
    cr_assert_not(router_forward_done(rt, ev(0)->id, REPLICA_NOT_LEADER, 5));
    cr_assert_eq(d.n, 1);
    router_view(rt, 2, 4, false, 10);
    cr_assert_eq(d.n, 2);
    cr_assert_eq(ev(1)->kind, EV_FORWARD);
    cr_assert_eq(ev(1)->user, 1);
    cr_assert_eq(ev(1)->leader, 2);
    router_view(rt, 1, 5, false, 20);
    cr_assert_eq(d.n, 3, "re-routed at once, not ended");
    cr_assert_eq(ev(2)->kind, EV_FORWARD);
    cr_assert_eq(ev(2)->leader, 1);
    cr_assert_eq(ev(2)->term, 5);
    cr_assert_eq(router_deadline(rt), 6020);
    cr_assert_not(a.broken);
    cr_assert(router_forward_done(rt, ev(2)->id, REPLICA_DONE, 30));
    cr_assert_eq(router_ops(rt), 0);
}

/* Rules 8 and 9: a long read that timed out or was aborted is definite,
 * and its connection goes on. */
Test(router, a_long_read_ends_definitely_and_never_breaks_its_connection)
{
    struct router_conn a = {0};
    router_view(rt, 1, 3, false, 0);
    submit(&a, ROUTER_READ_LONG, 1, 0);
    submit(&a, ROUTER_WRITE, 2, 0);
    router_tick(rt, 1500);
    cr_assert_eq(ev(1)->kind, EV_FINISH);
    cr_assert_eq(ev(1)->user, 1);
    cr_assert_eq(ev(1)->status, REPLICA_UNAVAILABLE);
    cr_assert_not(a.broken);
    cr_assert_eq(ev(2)->kind, EV_FORWARD, "the write behind it goes");
    cr_assert_eq(ev(2)->user, 2);
    submit(NULL, ROUTER_READ_LONG, 3, 1600);
    router_view(rt, 0, 4, true, 1700);
    submit(NULL, ROUTER_READ_LONG, 4, 1700);
    router_abort_all(rt, "stopping");
    for (size_t i = 3; i < d.n; i++)
        if (d.ev[i].kind == EV_FINISH)
            cr_assert_eq(d.ev[i].status, d.ev[i].user == 2 ? REPLICA_INDEFINITE : REPLICA_UNAVAILABLE,
                         "user %d", d.ev[i].user);
    cr_assert_eq(router_ops(rt), 0);
}
