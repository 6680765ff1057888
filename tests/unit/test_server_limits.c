/* test_server_limits.c - the server's limits that do not need sockets:
 * the rate limiter behind every refusal's log line (ratelog.c and
 * server_log_limited, on a fake clock), and the client deadlines of
 * client_sweep.c (--timeout, the handshake deadline, the bounded
 * round-robin sweep). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/ratelog.h"
#include "server/server_internal.h"

/* ---- ratelog: the decision --------------------------------------------------- */

Test(ratelog, ten_lines_a_second_pass_then_the_rest_are_counted_and_reported_once)
{
    static struct ratelog rl;
    uint64_t report = 99;
    for (int i = 0; i < 10; i++) {
        cr_assert(ratelog_admit(&rl, "client_refused", 5000 + (uint64_t)i, &report), "line %d", i);
        cr_assert_eq(report, 0);
    }
    for (int i = 0; i < 25; i++)
        cr_assert_not(ratelog_admit(&rl, "client_refused", 5100 + (uint64_t)i, &report), "line %d", 10 + i);
    cr_assert_eq(report, 0);
    /* 999 ms after the window opened: still the same window. */
    cr_assert_not(ratelog_admit(&rl, "client_refused", 5999, &report));
    cr_assert_eq(report, 0);
    /* 1000 ms: a new window; the 26 dropped are reported with this line. */
    cr_assert(ratelog_admit(&rl, "client_refused", 6000, &report));
    cr_assert_eq(report, 26);
    cr_assert_eq(rl.suppressed_total, 26);
    cr_assert(ratelog_admit(&rl, "client_refused", 6001, &report));
    cr_assert_eq(report, 0, "reported once");
    /* Nothing dropped in the window of 6000: the next one reports nothing. */
    cr_assert(ratelog_admit(&rl, "client_refused", 7000, &report));
    cr_assert_eq(report, 0, "the 26 are not reported again");
    cr_assert_eq(rl.suppressed_total, 26);
}

Test(ratelog, each_event_has_its_own_budget)
{
    static struct ratelog rl;
    uint64_t report;
    for (int i = 0; i < 10; i++)
        cr_assert(ratelog_admit(&rl, "client_refused", 100, &report));
    cr_assert_not(ratelog_admit(&rl, "client_refused", 100, &report));
    /* Another name, equal text at another address counts as the same. */
    char name[] = "peer_refused";
    for (int i = 0; i < 10; i++)
        cr_assert(ratelog_admit(&rl, name, 100, &report), "line %d", i);
    cr_assert_not(ratelog_admit(&rl, "peer_refused", 100, &report));
}

Test(ratelog, a_flood_that_stopped_is_reported_by_the_timer)
{
    static struct ratelog rl;
    uint64_t report, count = 0;
    const char *event = NULL;
    for (int i = 0; i < 17; i++)
        ratelog_admit(&rl, "client_output_limit", 2000, &report);
    cr_assert_not(ratelog_take_expired(&rl, 2999, &event, &count), "the window is not over");
    cr_assert(ratelog_take_expired(&rl, 3000, &event, &count));
    cr_assert_str_eq(event, "client_output_limit");
    cr_assert_eq(count, 7);
    cr_assert_not(ratelog_take_expired(&rl, 3000, &event, &count), "taken once");
    /* And the lines right after the report have a full budget. */
    for (int i = 0; i < 10; i++) {
        cr_assert(ratelog_admit(&rl, "client_output_limit", 3000, &report), "line %d", i);
        cr_assert_eq(report, 0);
    }
    cr_assert_not(ratelog_admit(&rl, "client_output_limit", 3000, &report));
    cr_assert(ratelog_take_expired(&rl, 4000, &event, &count));
    cr_assert_eq(count, 1);
    cr_assert_not(ratelog_take_expired(&rl, 9000, &event, &count));
}

Test(ratelog, quiet_events_are_not_reported)
{
    static struct ratelog rl;
    uint64_t report;
    const char *event;
    uint64_t count;
    for (int i = 0; i < 10; i++)
        ratelog_admit(&rl, "peer_bad_frame", 0, &report);
    cr_assert_not(ratelog_take_expired(&rl, 50000, &event, &count), "nothing was dropped");
    cr_assert(ratelog_admit(&rl, "peer_bad_frame", 50000, &report));
    cr_assert_eq(report, 0);
}

/* ---- server_log_limited: the lines written ---------------------------------- */

static uint64_t fake_now;
static uint64_t fake_clock(void)
{
    return fake_now;
}

static size_t count_lines(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

Test(server_log_limited, writes_ten_lines_then_one_line_with_the_exact_count)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert_not_null(f);
    server_log_init("n1", SLOG_INFO);
    server_log_set_output(f, fake_clock);
    fake_now = 1000;
    for (int i = 0; i < 2000; i++)
        server_log_limited(SLOG_WARN, "client_refused", "addr=127.0.0.1:%d reason=\"max clients\"", 40000 + i);
    fake_now = 1500;
    server_log_limited_flush();
    fflush(f);
    cr_assert_eq(count_lines(text, "\n"), 10, "%s", text);
    cr_assert_eq(count_lines(text, "level=warn node=n1 event=client_refused addr=127.0.0.1:4000"), 10);
    cr_assert(strstr(text, "event=client_refused addr=127.0.0.1:40009 reason=\"max clients\"\n"));
    cr_assert_null(strstr(text, "127.0.0.1:40010"), "the 11th is dropped");
    fake_now = 2000;
    server_log_limited_flush();
    fflush(f);
    cr_assert_eq(count_lines(text, "\n"), 11, "%s", text);
    cr_assert(strstr(text, "level=warn node=n1 event=log_suppressed of=client_refused suppressed=1990 window_ms=1000\n"),
              "%s", text);
    cr_assert_eq(server_log_suppressed_total(), 1990);
    fclose(f);
    free(text);
}

Test(server_log_limited, the_count_comes_before_the_next_line_when_the_flood_goes_on)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    server_log_init("n2", SLOG_INFO);
    server_log_set_output(f, fake_clock);
    fake_now = 70000;
    for (int i = 0; i < 13; i++)
        server_log_limited(SLOG_INFO, "client_protocol_error", "client=%d", i);
    fake_now = 71000;
    server_log_limited(SLOG_INFO, "client_protocol_error", "client=%d", 13);
    fflush(f);
    const char *count = strstr(text, "event=log_suppressed of=client_protocol_error suppressed=3 window_ms=1000\n");
    const char *next = strstr(text, "event=client_protocol_error client=13\n");
    cr_assert(count && next && count < next, "%s", text);
    cr_assert_eq(count_lines(text, "\n"), 12);
    fclose(f);
    free(text);
}

Test(server_log_limited, lines_below_the_log_level_use_no_budget)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    server_log_init("n1", SLOG_WARN);
    server_log_set_output(f, fake_clock);
    fake_now = 0;
    for (int i = 0; i < 50; i++)
        server_log_limited(SLOG_INFO, "client_idle_timeout", "client=%d", i);
    fake_now = 5000;
    server_log_limited_flush();
    fflush(f);
    cr_assert_eq(len, 0, "%s", text);
    cr_assert_eq(server_log_suppressed_total(), 0);
    fclose(f);
    free(text);
}

/* ---- client deadlines --------------------------------------------------------- */

static struct client_req busy_marker;

Test(client_expiry, the_idle_timeout_is_redis_s_strictly_more_than_the_timeout)
{
    struct client c = {.handshake_done = true, .last_io_ms = 10000};
    cr_assert_eq(client_expiry(&c, 12000, 2000), CLIENT_LIVE, "exactly 2 s idle is not more than 2 s");
    cr_assert_eq(client_expiry(&c, 12001, 2000), CLIENT_EXPIRED_IDLE);
    cr_assert_eq(client_expiry(&c, 11500, 2000), CLIENT_LIVE);
    cr_assert_eq(client_expiry(&c, 99999999, 0), CLIENT_LIVE, "--timeout 0: never");
}

Test(client_expiry, a_client_with_a_command_in_flight_is_not_idle)
{
    struct client c = {.handshake_done = true, .last_io_ms = 0, .head = &busy_marker};
    cr_assert_eq(client_expiry(&c, 60000, 2000), CLIENT_LIVE);
    c.head = NULL;
    cr_assert_eq(client_expiry(&c, 60000, 2000), CLIENT_EXPIRED_IDLE);
}

Test(client_expiry, no_first_command_by_the_deadline_closes_it_whatever_the_idle_timeout)
{
    struct client c = {.handshake_deadline_ms = 11000, .last_io_ms = 10999};
    cr_assert_eq(client_expiry(&c, 10999, 0), CLIENT_LIVE);
    cr_assert_eq(client_expiry(&c, 11000, 0), CLIENT_EXPIRED_HANDSHAKE, "due at the deadline");
    cr_assert_eq(client_expiry(&c, 11000, 3600000), CLIENT_EXPIRED_HANDSHAKE);
    c.handshake_done = true;
    cr_assert_eq(client_expiry(&c, 50000, 0), CLIENT_LIVE, "its first command came");
    c.handshake_done = false;
    c.handshake_deadline_ms = 0;
    cr_assert_eq(client_expiry(&c, 50000, 0), CLIENT_LIVE, "--client-handshake-timeout-ms 0: no limit");
}

Test(client_sweep, a_tick_visits_a_tenth_of_the_clients_and_at_least_fifty)
{
    cr_assert_eq(client_sweep_budget(0), 50);
    cr_assert_eq(client_sweep_budget(499), 50);
    cr_assert_eq(client_sweep_budget(501), 51);
    cr_assert_eq(client_sweep_budget(10000), 1000);
    cr_assert_eq(client_sweep_budget(10001), 1001);
}

/* A server of n clients, ids 1..n in list order, none of them touched. */
static struct server *sweep_server(size_t n, struct client *cs)
{
    struct server *s = calloc(1, sizeof *s);
    for (size_t i = 0; i < n; i++) {
        cs[i] = (struct client){.srv = s, .id = i + 1, .handshake_done = true};
        cs[i].next = i + 1 < n ? &cs[i + 1] : NULL;
        cs[i].prev = i ? &cs[i - 1] : NULL;
    }
    s->clients = n ? &cs[0] : NULL;
    s->n_clients = n;
    return s;
}

static uint64_t expired_ids[2000];
static size_t n_expired;

/* What client_close does to the list. */
static void sweep_expire(struct client *c, enum client_expiry why)
{
    cr_assert_eq(why, CLIENT_EXPIRED_IDLE);
    expired_ids[n_expired++] = c->id;
    struct server *s = c->srv;
    client_sweep_forget(s, c);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->n_clients--;
}

Test(client_sweep, visits_each_client_once_per_round_and_closes_only_the_idle)
{
    static struct client cs[25];
    struct server *s = sweep_server(25, cs);
    s->opt.timeout_s = 2;
    for (int i = 0; i < 25; i++)
        cs[i].last_io_ms = i % 5 == 0 ? 0 : 9000; /* ids 1, 6, 11, 16, 21 idle since 0 */
    n_expired = 0;
    cr_assert_eq(client_sweep_run(s, 10000, 10, sweep_expire), 10);
    cr_assert_eq(n_expired, 2);
    cr_assert_eq(expired_ids[0], 1);
    cr_assert_eq(expired_ids[1], 6);
    cr_assert_eq(s->sweep_next, &cs[10], "the next tick goes on from id 11");
    cr_assert_eq(client_sweep_run(s, 10000, 10, sweep_expire), 10);
    cr_assert_eq(n_expired, 4);
    cr_assert_eq(expired_ids[2], 11);
    cr_assert_eq(expired_ids[3], 16);
    /* 21 clients left, 5 not yet visited this round (21-25), then wrap. */
    cr_assert_eq(client_sweep_run(s, 10000, 10, sweep_expire), 10);
    cr_assert_eq(n_expired, 5);
    cr_assert_eq(expired_ids[4], 21);
    cr_assert_eq(s->n_clients, 20);
    free(s);
}

Test(client_sweep, never_visits_a_client_twice_in_one_tick)
{
    static struct client cs[3];
    struct server *s = sweep_server(3, cs);
    s->opt.timeout_s = 1;
    cr_assert_eq(client_sweep_run(s, 500, 50, sweep_expire), 3);
    free(s);
}

Test(client_sweep, the_cursor_leaves_a_client_closed_elsewhere)
{
    static struct client cs[4];
    struct server *s = sweep_server(4, cs);
    s->opt.timeout_s = 1;
    for (int i = 0; i < 4; i++)
        cs[i].last_io_ms = i == 3 ? 0 : 5000;
    n_expired = 0;
    client_sweep_run(s, 5000, 2, sweep_expire); /* visits 1, 2; cursor at 3 */
    cr_assert_eq(s->sweep_next, &cs[2]);
    sweep_expire(&cs[2], CLIENT_EXPIRED_IDLE); /* closed by its own reader meanwhile */
    cr_assert_eq(s->sweep_next, &cs[3]);
    client_sweep_run(s, 5000, 1, sweep_expire);
    cr_assert_eq(n_expired, 2);
    cr_assert_eq(expired_ids[1], 4, "the sweep went on to the next one");
    free(s);
}

Test(client_sweep, a_round_takes_ten_ticks_even_when_it_closes_most_clients)
{
    /* 2000 silent sockets past their deadline at once (an attack ending):
     * each tick's share is that of the round's 2000, not of those left, or
     * the last of them would linger for dozens of ticks. */
    static struct client cs[2000];
    struct server *s = sweep_server(2000, cs);
    s->opt.timeout_s = 1;
    n_expired = 0;
    cr_assert_eq(client_sweep_tick_budget(s), 200);
    for (int tick = 0; tick < 10; tick++)
        client_sweep_run(s, 60000, client_sweep_tick_budget(s), sweep_expire);
    cr_assert_eq(s->n_clients, 0, "%zu left after 10 ticks", s->n_clients);
    free(s);
}
