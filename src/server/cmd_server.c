/* cmd_server.c - the server's commands: INFO, TIME, ROLE, LEADER, CONFIG
 * GET, DEBUG.CUT and COMMAND with its subcommands (answered from the
 * command table). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "server/commands.h"
#include "server/role.h"

/* INFO [section ...] */
void cmd_info(struct cmd_ctx *x)
{
    const struct resp_request *q = x->q;
    uint32_t want = info_sections(q->argc - 1, q->argv + 1, q->argl + 1);
    info_write_sections(x->s, x->c, want, &x->r->reply, x->c->proto);
}

/* TIME: this member's clock as [seconds, microseconds], bulk strings as
 * Redis sends them. Not the cluster's time: each member answers its own. */
void cmd_time(struct cmd_ctx *x)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    char sec[24], usec[24];
    int ns = snprintf(sec, sizeof sec, "%lld", (long long)tv.tv_sec);
    int nu = snprintf(usec, sizeof usec, "%ld", (long)tv.tv_usec);
    resp_write_array_len(&x->r->reply, 2);
    resp_write_bulk(&x->r->reply, sec, (size_t)ns);
    resp_write_bulk(&x->r->reply, usec, (size_t)nu);
}

/* ROLE: the leader as a master, the others as its replicas (role.h). */
void cmd_role(struct cmd_ctx *x)
{
    struct role_view v;
    role_view_of(x->s, &v);
    role_write_reply(&x->r->reply, &v, x->c->proto);
}

void cmd_leader(struct cmd_ctx *x)
{
    int leader = replica_leader(x->s->replica);
    if (leader < 0)
        resp_write_null(&x->r->reply, x->c->proto);
    else
        resp_write_bulk(&x->r->reply, x->s->opt.names[leader], strlen(x->s->opt.names[leader]));
}

/* redis-benchmark asks for "save" and "appendonly" on start; answer with
 * harmless values (raftkv fsyncs every write, as appendfsync always). */
void cmd_config_get(struct cmd_ctx *x)
{
    const struct resp_request *q = x->q;
    struct resp_buf *b = &x->r->reply;
    resp_write_map_len(b, q->argc - 2, x->c->proto);
    for (size_t i = 2; i < q->argc; i++) {
        resp_write_bulk(b, q->argv[i], q->argl[i]);
        if (cmd_arg_is(q, i, "appendonly"))
            resp_write_bulk(b, "yes", 3);
        else if (cmd_arg_is(q, i, "appendfsync"))
            resp_write_bulk(b, "always", 6);
        else if (cmd_arg_is(q, i, "timeout") || cmd_arg_is(q, i, "maxclients")) {
            char num[24];
            int n = snprintf(num, sizeof num, "%" PRIu64,
                             cmd_arg_is(q, i, "timeout") ? x->s->opt.timeout_s : (uint64_t)x->s->opt.max_clients);
            resp_write_bulk(b, num, (size_t)n);
        } else
            resp_write_bulk(b, "", 0);
    }
}

/* DEBUG.CUT PEER MS: a one-node view of a network partition, for tests:
 * every frame to and from PEER is dropped for MS milliseconds (0 heals).
 * Only with --enable-debug-commands. */
void cmd_debug_cut(struct cmd_ctx *x)
{
    struct server *s = x->s;
    const struct resp_request *q = x->q;
    int peer = -1;
    for (int i = 0; i < s->opt.n_nodes; i++)
        if (i != s->opt.self && cmd_arg_is(q, 1, s->opt.names[i]))
            peer = i;
    char *end = NULL;
    unsigned long long ms = strtoull(q->argv[2], &end, 10);
    if (peer < 0 || !end || *end || ms > 3600000ull) {
        resp_write_error(&x->r->reply, "ERR usage: DEBUG.CUT PEER-NAME MS");
        return;
    }
    s->cut_until_ms[peer] = server_now(s) + ms;
    server_log(SLOG_WARN, "debug_cut", "peer=%s ms=%llu", s->opt.names[peer], ms);
    resp_write_simple(&x->r->reply, "OK");
}

static bool visible(const struct server *s, const struct command_def *c)
{
    return !(c->flags & CMDF_DEBUG) || s->opt.debug_commands;
}

static size_t visible_count(const struct server *s)
{
    size_t n = 0;
    for (size_t i = 0; i < command_table_len; i++)
        n += visible(s, &command_table[i]);
    return n;
}

static void write_all_info(struct cmd_ctx *x)
{
    resp_write_array_len(&x->r->reply, visible_count(x->s));
    for (size_t i = 0; i < command_table_len; i++)
        if (visible(x->s, &command_table[i]))
            command_write_info(&x->r->reply, &command_table[i], x->c->proto, x->s->opt.debug_commands);
}

void cmd_command(struct cmd_ctx *x)
{
    write_all_info(x);
}

void cmd_command_count(struct cmd_ctx *x)
{
    resp_write_int(&x->r->reply, (int64_t)visible_count(x->s));
}

/* COMMAND INFO [name ...]: one entry per name, nil for an unknown one. */
void cmd_command_info(struct cmd_ctx *x)
{
    const struct resp_request *q = x->q;
    if (q->argc == 2) {
        write_all_info(x);
        return;
    }
    resp_write_array_len(&x->r->reply, q->argc - 2);
    for (size_t i = 2; i < q->argc; i++) {
        const struct command_def *c = command_lookup_full(q->argv[i], q->argl[i], x->s->opt.debug_commands);
        if (c)
            command_write_info(&x->r->reply, c, x->c->proto, x->s->opt.debug_commands);
        else
            resp_write_null(&x->r->reply, x->c->proto);
    }
}

/* COMMAND DOCS [name ...]: a map of the known names to their docs. */
void cmd_command_docs(struct cmd_ctx *x)
{
    const struct resp_request *q = x->q;
    struct resp_buf *b = &x->r->reply;
    bool debug = x->s->opt.debug_commands;
    if (q->argc == 2) {
        resp_write_map_len(b, visible_count(x->s), x->c->proto);
        for (size_t i = 0; i < command_table_len; i++)
            if (visible(x->s, &command_table[i])) {
                resp_write_bulk(b, command_table[i].name, strlen(command_table[i].name));
                command_write_docs(b, &command_table[i], x->c->proto);
            }
        return;
    }
    size_t n = 0;
    for (size_t i = 2; i < q->argc; i++)
        n += command_lookup_full(q->argv[i], q->argl[i], debug) != NULL;
    resp_write_map_len(b, n, x->c->proto);
    for (size_t i = 2; i < q->argc; i++) {
        const struct command_def *c = command_lookup_full(q->argv[i], q->argl[i], debug);
        if (c) {
            resp_write_bulk(b, c->name, strlen(c->name));
            command_write_docs(b, c, x->c->proto);
        }
    }
}
