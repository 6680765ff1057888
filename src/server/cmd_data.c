/* cmd_data.c - the data commands: GET SET DEL EXISTS MGET CAS, and what
 * every data command shares: a handler prepares the state machine's
 * operations (kv.h's string family: keys and values are Redis's
 * binary-safe strings, as they are) and cmd_run() runs them where the
 * router says (route.c: locally on the leader, proxied from a follower),
 * in the connection's order; the row's reply function writes the reply
 * once all of them have ended (commands_format_reply). An operation that
 * must be atomic with others (MSET, EXEC) is one KV_MULTI.
 *
 * The handler of these commands and of the string, key and deadline
 * commands is cmd_parsed: their arguments are parsed in the state machine's
 * module (src/kv/command_args.c), which scripts' redis.call shares.
 *
 * CAS key from to: sets key to `to` if its current value is `from`.
 *   :1 swapped; :0 the key holds another value; nil (RESP2 $-1, RESP3 _)
 *   the key does not exist.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kv/command_args.h"
#include "server/commands.h"

/* ---- shared by the data commands ---- */

int cmd_key_op(struct kv_command *c, enum kv_op op, const struct resp_request *q, size_t i)
{
    *c = (struct kv_command){.op = op};
    return kv_str_set(&c->skey, q->argv[i], q->argl[i]);
}

int cmd_arg_str(struct kv_str *f, const struct resp_request *q, size_t i)
{
    return kv_str_set(f, q->argv[i], q->argl[i]);
}

bool cmd_arg_ll(const struct resp_request *q, size_t i, long long *out)
{
    return kv_parse_ll(q->argv[i], q->argl[i], out);
}

void cmd_run(struct cmd_ctx *x, struct kv_command *cmds, size_t n)
{
    if (x->capture) {
        multi_capture(x->capture, x, cmds, n);
        return;
    }
    struct server *s = x->s;
    struct client_req *r = x->r;
    r->data = true;
    r->cmd = x->cmd;
    if (s->n_ops + n > s->opt.max_pending) {
        char addr[SERVER_ADDR_TEXT] = "?";
        if (r->client)
            server_addr_text(&r->client->tcp, addr, sizeof addr);
        server_log_limited(SLOG_WARN, "client_pending_limit", "addr=%s pending=%zu max_pending=%zu", addr,
                           s->n_ops, s->opt.max_pending);
        for (size_t i = 0; i < n; i++)
            kv_command_release(&cmds[i]);
        resp_write_error(&r->reply, "TRYAGAIN too many pending operations");
        s->stats.errors_tryagain++;
        client_req_done(r);
        return;
    }
    enum { SMALL_OPS = 8 };
    struct server_op *ops_small[SMALL_OPS];
    bool small = n <= SMALL_OPS;
    r->results = calloc(n ? n : 1, sizeof *r->results);
    struct server_op **ops = small ? ops_small : calloc(n, sizeof *ops);
    if (!r->results || !ops) {
        for (size_t i = 0; i < n; i++)
            kv_command_release(&cmds[i]);
        if (!small)
            free(ops);
        resp_write_error(&r->reply, "ERR out of memory");
        client_req_done(r);
        return;
    }
    r->n_ops = n;
    /* Create every operation before routing any: routing may finish one
     * at once, and the reply must not be formatted before all exist. */
    for (size_t i = 0; i < n; i++) {
        ops[i] = route_op_new(s, OP_LOCAL_CLIENT);
        if (ops[i]) {
            ops[i]->cmd = cmds[i];
            ops[i]->req = r;
            ops[i]->index = i;
        } else {
            kv_command_release(&cmds[i]);
            r->results[i].status = REPLICA_UNAVAILABLE;
            snprintf(r->results[i].text, sizeof r->results[i].text, "out of memory");
            r->n_done++;
        }
    }
    if (r->n_done == n) {
        commands_format_reply(s, r);
        client_req_done(r);
    }
    for (size_t i = 0; i < n; i++)
        if (ops[i])
            route_op(s, ops[i]);
    if (!small)
        free(ops);
}

int64_t cmd_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the commands ---- */

/* Every command of the shared parser's table (kv/command_args.h): its
 * arguments become operations there, with Redis's checks and texts. MSET's
 * KV_MULTI, queued in a transaction, goes as its KV_SETs alone (EXEC's
 * entry is the KV_MULTI). */
void cmd_parsed(struct cmd_ctx *x)
{
    const struct kv_args_def *d = kv_args_find(x->cmd->name, strlen(x->cmd->name));
    char err[200];
    struct kv_args a = {.argc = x->q->argc, .argv = x->q->argv, .argl = x->q->argl,
                        .now_ms = cmd_wall_ms(), .err = err, .err_cap = sizeof err};
    struct kv_parsed p;
    if (!d) {
        resp_write_error(&x->r->reply, "ERR command without a parser");
        return;
    }
    if (kv_args_parse(d, &a, &p) != 0) {
        resp_write_error(&x->r->reply, err);
        return;
    }
    x->r->reply_flags = p.reply_flags;
    if (x->capture && p.n == 1 && p.cmds[0].op == KV_MULTI) {
        struct kv_command *sub = p.cmds[0].sub;
        cmd_run(x, sub, p.cmds[0].n_sub); /* takes the KV_SETs over */
        free(sub);
        return;
    }
    cmd_run(x, p.cmds, p.n);
    kv_parsed_free_array(&p);
}

/* ---- replies ---- */

void cmd_write_bulk_or_nil(struct resp_buf *b, const struct kv_result *kv, int proto)
{
    if (kv->code != KV_OK || !kv->bytes)
        resp_write_null(b, proto);
    else
        resp_write_bulk(b, kv->bytes, kv->len);
}

void cmd_reply_value(struct client_req *r, int proto)
{
    cmd_write_bulk_or_nil(&r->reply, &r->results[0].kv, proto);
}

void cmd_reply_ok(struct client_req *r, int proto)
{
    (void)proto;
    resp_write_simple(&r->reply, "OK");
}

/* SET: +OK, or nil when NX/XX held it back; with GET the old value. */
void cmd_reply_set(struct client_req *r, int proto)
{
    const struct kv_result *kv = &r->results[0].kv;
    if (r->reply_flags & KV_SET_GET)
        cmd_write_bulk_or_nil(&r->reply, kv, proto);
    else if (kv->num)
        resp_write_simple(&r->reply, "OK");
    else
        resp_write_null(&r->reply, proto);
}

/* DEL and EXISTS: the sum of the operations' counts. */
void cmd_reply_count(struct client_req *r, int proto)
{
    (void)proto;
    int64_t count = 0;
    for (size_t i = 0; i < r->n_ops; i++)
        count += r->results[i].kv.num;
    resp_write_int(&r->reply, count);
}

void cmd_reply_values(struct client_req *r, int proto)
{
    resp_write_array_len(&r->reply, r->n_ops);
    for (size_t i = 0; i < r->n_ops; i++)
        cmd_write_bulk_or_nil(&r->reply, &r->results[i].kv, proto);
}

void cmd_reply_cas(struct client_req *r, int proto)
{
    const struct kv_result *kv = &r->results[0].kv;
    if (kv->code == KV_OK)
        resp_write_int(&r->reply, 1);
    else if (kv->code == KV_ERR_PRECONDITION)
        resp_write_int(&r->reply, 0);
    else
        resp_write_null(&r->reply, proto);
}
