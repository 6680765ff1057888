/* cmd_data.c - the data commands: GET SET DEL EXISTS MGET CAS. Each
 * becomes one replicated key-value operation per key, run where the router
 * says (route.c: locally on the leader, proxied from a follower), in the
 * connection's order; its row's reply function writes the reply once all
 * of them have ended (commands_format_reply).
 *
 * Keys and values are binary-safe Redis strings, stored as JSON values as
 * resp_value.h describes.
 *
 * CAS key from to: sets key to `to` if its current value is `from`.
 *   :1 swapped; :0 the key holds another value; nil (RESP2 $-1, RESP3 _)
 *   the key does not exist.
 */
#include <stdlib.h>
#include <string.h>

#include "server/commands.h"
#include "server/resp_value.h"

static json_t *arg_json(const struct resp_request *q, size_t i)
{
    return resp_value_from_bytes(q->argv[i], q->argl[i]);
}

/* Start the data operations of a command: `n` operations of type `op`,
 * on the keys at argv[first], argv[first + step], ... */
static void start_ops(struct cmd_ctx *x, enum kv_op kop, size_t first, size_t n, size_t step)
{
    struct server *s = x->s;
    struct client_req *r = x->r;
    const struct resp_request *q = x->q;
    r->data = true;
    r->cmd = x->cmd;
    if (s->n_ops + n > s->opt.max_pending) {
        char addr[SERVER_ADDR_TEXT] = "?";
        if (r->client)
            server_addr_text(&r->client->tcp, addr, sizeof addr);
        server_log_limited(SLOG_WARN, "client_pending_limit", "addr=%s pending=%zu max_pending=%zu", addr,
                           s->n_ops, s->opt.max_pending);
        resp_write_error(&r->reply, "TRYAGAIN too many pending operations");
        s->stats.errors_tryagain++;
        client_req_done(r);
        return;
    }
    /* Most commands have one key: their scratch arrays live on the stack
     * (a malloc and free fewer each, per request). */
    enum { SMALL_OPS = 8 };
    struct kv_command cmds_small[SMALL_OPS];
    struct server_op *ops_small[SMALL_OPS];
    bool small = n <= SMALL_OPS;
    if (small)
        memset(cmds_small, 0, sizeof cmds_small);
    r->results = calloc(n, sizeof *r->results);
    struct kv_command *cmds = small ? cmds_small : calloc(n, sizeof *cmds);
    bool ok = r->results && cmds;
    for (size_t i = 0; ok && i < n; i++) {
        size_t a = first + i * step;
        cmds[i].op = kop;
        cmds[i].key = arg_json(q, a);
        ok = cmds[i].key != NULL;
        if (ok && kop == KV_WRITE)
            ok = (cmds[i].value = arg_json(q, a + 1)) != NULL;
        if (ok && kop == KV_CAS)
            ok = (cmds[i].from = arg_json(q, a + 1)) != NULL && (cmds[i].to = arg_json(q, a + 2)) != NULL;
    }
    if (!ok) {
        for (size_t i = 0; cmds && i < n; i++)
            kv_command_release(&cmds[i]);
        if (!small)
            free(cmds);
        resp_write_error(&r->reply, "ERR out of memory");
        client_req_done(r);
        return;
    }
    r->n_ops = n;
    /* Create every operation before routing any: routing may finish one
     * at once, and the reply must not be formatted before all exist. */
    struct server_op **ops = small ? ops_small : calloc(n, sizeof *ops);
    for (size_t i = 0; ops && i < n; i++) {
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
    if (!small)
        free(cmds);
    if (!ops) {
        resp_write_error(&r->reply, "ERR out of memory");
        r->n_ops = 0;
        client_req_done(r);
        return;
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

void cmd_get(struct cmd_ctx *x)
{
    start_ops(x, KV_READ, 1, 1, 1);
}

void cmd_set(struct cmd_ctx *x)
{
    if (x->q->argc > 3) {
        resp_write_error(&x->r->reply, "ERR SET options (EX, NX, ...) are not supported");
        return;
    }
    start_ops(x, KV_WRITE, 1, 1, 1);
}

void cmd_del(struct cmd_ctx *x)
{
    start_ops(x, KV_DELETE, 1, x->q->argc - 1, 1);
}

void cmd_exists(struct cmd_ctx *x)
{
    start_ops(x, KV_READ, 1, x->q->argc - 1, 1);
}

void cmd_mget(struct cmd_ctx *x)
{
    start_ops(x, KV_READ, 1, x->q->argc - 1, 1);
}

void cmd_cas(struct cmd_ctx *x)
{
    start_ops(x, KV_CAS, 1, 1, 1);
}

static void write_value(struct resp_buf *b, const struct op_result *res, int proto)
{
    if (res->kv_code != KV_OK || !res->value)
        resp_write_null(b, proto);
    else
        resp_value_write_bulk(b, res->value);
}

void cmd_reply_value(struct client_req *r, int proto)
{
    write_value(&r->reply, &r->results[0], proto);
}

void cmd_reply_ok(struct client_req *r, int proto)
{
    (void)proto;
    resp_write_simple(&r->reply, "OK");
}

/* DEL and EXISTS: how many keys the operation found. */
void cmd_reply_count(struct client_req *r, int proto)
{
    (void)proto;
    int64_t count = 0;
    for (size_t i = 0; i < r->n_ops; i++)
        count += r->results[i].kv_code == KV_OK;
    resp_write_int(&r->reply, count);
}

void cmd_reply_values(struct client_req *r, int proto)
{
    resp_write_array_len(&r->reply, r->n_ops);
    for (size_t i = 0; i < r->n_ops; i++)
        write_value(&r->reply, &r->results[i], proto);
}

void cmd_reply_cas(struct client_req *r, int proto)
{
    const struct op_result *res = &r->results[0];
    if (res->kv_code == KV_OK)
        resp_write_int(&r->reply, 1);
    else if (res->kv_code == KV_ERR_PRECONDITION)
        resp_write_int(&r->reply, 0);
    else
        resp_write_null(&r->reply, proto);
}
