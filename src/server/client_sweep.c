/* client_sweep.c - client deadlines: the idle timeout (--timeout, Redis's
 * semantics) and the handshake deadline (--client-handshake-timeout-ms: a
 * connection that has not finished its first command by then is closed,
 * so idle sockets cannot hold every --max-clients slot and lock operators
 * out). One libuv timer serves every client, as Redis's clientsCron does:
 * each tick visits a bounded share of the clients round-robin from a cursor
 * kept in struct server, instead of one timer per client. It also reports
 * the counts of rate-limited log lines (server_log_limited_flush). */
#include <inttypes.h>

#include "server/server_internal.h"

enum client_expiry client_expiry(const struct client *c, uint64_t now_ms, uint64_t idle_ms)
{
    if (!c->handshake_done && c->handshake_deadline_ms != 0 && now_ms >= c->handshake_deadline_ms)
        return CLIENT_EXPIRED_HANDSHAKE;
    /* Redis: "now - lastinteraction > maxidletime", blocked clients exempt. */
    if (idle_ms != 0 && !c->head && now_ms > c->last_io_ms && now_ms - c->last_io_ms > idle_ms)
        return CLIENT_EXPIRED_IDLE;
    return CLIENT_LIVE;
}

size_t client_sweep_budget(size_t n_clients)
{
    size_t share = (n_clients + (1000 / CLIENT_SWEEP_TICK_MS) - 1) / (1000 / CLIENT_SWEEP_TICK_MS);
    return share > CLIENT_SWEEP_MIN ? share : CLIENT_SWEEP_MIN;
}

size_t client_sweep_tick_budget(const struct server *s)
{
    return client_sweep_budget(s->sweep_round_n > s->n_clients ? s->sweep_round_n : s->n_clients);
}

size_t client_sweep_run(struct server *s, uint64_t now_ms, size_t budget,
                        void (*expire)(struct client *c, enum client_expiry why))
{
    uint64_t idle_ms = s->opt.timeout_s * 1000u;
    size_t visits = budget < s->n_clients ? budget : s->n_clients;
    for (size_t i = 0; i < visits && s->clients; i++) {
        if (!s->sweep_next)
            s->sweep_round_n = s->n_clients; /* a round begins */
        struct client *c = s->sweep_next ? s->sweep_next : s->clients;
        s->sweep_next = c->next; /* before expire() unlinks c */
        enum client_expiry why = client_expiry(c, now_ms, idle_ms);
        if (why != CLIENT_LIVE)
            expire(c, why);
    }
    return visits;
}

void client_sweep_forget(struct server *s, struct client *c)
{
    if (s->sweep_next == c)
        s->sweep_next = c->next;
}

static void client_sweep_expire(struct client *c, enum client_expiry why)
{
    struct server *s = c->srv;
    char addr[SERVER_ADDR_TEXT];
    server_addr_text(&c->tcp, addr, sizeof addr);
    if (why == CLIENT_EXPIRED_HANDSHAKE) {
        s->stats.clients_handshake_timeout++;
        server_log_limited(SLOG_WARN, "client_handshake_timeout",
                           "client=%" PRIu64 " addr=%s timeout_ms=%" PRIu64, c->id, addr,
                           s->opt.client_handshake_timeout_ms);
        client_close(c, "handshake timeout");
    } else {
        s->stats.clients_idle_timeout++;
        server_log_limited(SLOG_INFO, "client_idle_timeout", "client=%" PRIu64 " addr=%s timeout_s=%" PRIu64,
                           c->id, addr, s->opt.timeout_s);
        client_close(c, "idle timeout");
    }
}

static void client_sweep_tick(uv_timer_t *t)
{
    struct server *s = t->data;
    loop_watch_note(&s->loop_watch, LOOP_CB_SWEEP);
    client_sweep_run(s, server_now(s), client_sweep_tick_budget(s), client_sweep_expire);
    server_log_limited_flush();
}

void client_sweep_start(struct server *s)
{
    uv_timer_init(s->loop, &s->sweep_timer);
    s->sweep_timer.data = s;
    s->sweep_open = true;
    uv_timer_start(&s->sweep_timer, client_sweep_tick, CLIENT_SWEEP_TICK_MS, CLIENT_SWEEP_TICK_MS);
}

void client_sweep_stop(struct server *s)
{
    if (s->sweep_open && !uv_is_closing((uv_handle_t *)&s->sweep_timer)) {
        uv_timer_stop(&s->sweep_timer);
        uv_close((uv_handle_t *)&s->sweep_timer, NULL);
    }
}
