/* client_list.c - CLIENT LIST and CLIENT INFO: one line per connection in
 * Redis 7.0's field order and format, oldest connection first, with
 * CLIENT LIST's TYPE and ID filters. Fields raftkv has no counterpart for
 * (pub/sub, transactions, per-client buffers Redis sizes differently) keep
 * Redis's value for a plain idle client. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/commands.h"

void client_list_line(struct resp_buf *b, const struct client *c, uint64_t now_ms)
{
    char flags[8];
    size_t nf = 0;
    if (c->close_after_write)
        flags[nf++] = 'c';
    if (c->closing)
        flags[nf++] = 'A';
    if (c->no_evict)
        flags[nf++] = 'e';
    if (!nf)
        flags[nf++] = 'N';
    flags[nf] = '\0';
    uv_os_fd_t fd = -1;
    if (uv_fileno((const uv_handle_t *)&c->tcp, &fd) != 0)
        fd = -1;
    size_t qbuf = c->held.len + c->parser.request_bytes;
    size_t omem = server_out_bytes(&c->out);
    const char *events = c->reading && c->out.writing ? "rw" : c->reading ? "r" : c->out.writing ? "w" : "";
    uint64_t idle_since = c->last_cmd_ms ? c->last_cmd_ms : c->connected_ms;
    char line[640];
    int n = snprintf(line, sizeof line,
                     "id=%" PRIu64 " addr=%s laddr=%s fd=%d name=%s age=%" PRIu64 " idle=%" PRIu64
                     " flags=%s db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=%zu qbuf-free=0 argv-mem=0 multi-mem=0"
                     " rbs=0 rbp=0 obl=0 oll=0 omem=%zu tot-mem=%zu events=%s cmd=%s user=%s redir=-1 resp=%d\n",
                     c->id, c->addr, c->laddr, (int)fd, c->name,
                     now_ms > c->connected_ms ? (now_ms - c->connected_ms) / 1000 : 0,
                     now_ms > idle_since ? (now_ms - idle_since) / 1000 : 0, flags, qbuf, omem,
                     sizeof *c + qbuf + omem, events, c->last_cmd ? c->last_cmd : "NULL",
                     c->user ? c->user->name : "default", c->proto);
    if (n > 0)
        resp_buf_append(b, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000;
}

static bool type_known(const struct resp_request *q, size_t i)
{
    return cmd_arg_is(q, i, "normal") || cmd_arg_is(q, i, "slave") || cmd_arg_is(q, i, "replica") ||
           cmd_arg_is(q, i, "master") || cmd_arg_is(q, i, "pubsub");
}

/* CLIENT LIST [TYPE normal|master|replica|pubsub] | [ID id ...]: every
 * raftkv client is of type normal. */
void cmd_client_list(struct cmd_ctx *x)
{
    const struct resp_request *q = x->q;
    struct resp_buf *reply = &x->r->reply;
    struct resp_buf lines = {0};
    uint64_t now = now_ms();
    bool all = true;
    if (q->argc == 4 && cmd_arg_is(q, 2, "type")) {
        if (!type_known(q, 3)) {
            char msg[200];
            snprintf(msg, sizeof msg, "ERR Unknown client type '%.*s'", (int)(q->argl[3] > 128 ? 128 : q->argl[3]),
                     q->argv[3]);
            resp_write_error(reply, msg);
            return;
        }
        all = cmd_arg_is(q, 3, "normal");
        if (!all)
            goto out;
    } else if (q->argc > 3 && cmd_arg_is(q, 2, "id")) {
        long long id = 0;
        for (size_t j = 3; j < q->argc; j++)
            if (!cmd_arg_ll(q, j, &id)) {
                resp_write_error(reply, "ERR Invalid client ID");
                return;
            }
        /* In the order asked, as Redis. */
        for (size_t j = 3; j < q->argc; j++) {
            cmd_arg_ll(q, j, &id);
            for (const struct client *c = x->s->clients; c; c = c->next)
                if ((long long)c->id == id) {
                    client_list_line(&lines, c, now);
                    break;
                }
        }
        goto out;
    } else if (q->argc != 2) {
        resp_write_error(reply, "ERR syntax error");
        return;
    }
    /* Oldest first, as Redis (the list holds the newest first). */
    size_t n = 0;
    for (const struct client *c = x->s->clients; c; c = c->next)
        n++;
    const struct client **order = n ? malloc(n * sizeof *order) : NULL;
    if (n && !order) {
        resp_write_error(reply, "ERR out of memory");
        return;
    }
    size_t k = n;
    for (const struct client *c = x->s->clients; c; c = c->next)
        order[--k] = c;
    for (size_t i = 0; i < n; i++)
        client_list_line(&lines, order[i], now);
    free(order);
out:
    resp_write_verbatim(reply, lines.data ? lines.data : "", lines.len, x->c->proto);
    resp_buf_free(&lines);
}

void cmd_client_info(struct cmd_ctx *x)
{
    struct resp_buf line = {0};
    client_list_line(&line, x->c, now_ms());
    resp_write_verbatim(&x->r->reply, line.data ? line.data : "", line.len, x->c->proto);
    resp_buf_free(&line);
}
