/* cmd_data.c - the data commands: GET SET DEL EXISTS MGET CAS, and what
 * every data command shares: a handler prepares the state machine's
 * operations (kv.h's string family: keys and values are Redis's
 * binary-safe strings, as they are) and cmd_run() runs them where the
 * router says (route.c: locally on the leader, proxied from a follower),
 * in the connection's order; the row's reply function writes the reply
 * once all of them have ended (commands_format_reply). An operation that
 * must be atomic with others (MSET, EXEC) is one KV_MULTI.
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

/* One operation of type op per key at argv[first], argv[first + step], ... */
static void run_keys(struct cmd_ctx *x, enum kv_op op, size_t first, size_t step)
{
    const struct resp_request *q = x->q;
    size_t n = (q->argc - first + step - 1) / step;
    struct kv_command small[8];
    struct kv_command *cmds = n <= 8 ? small : calloc(n, sizeof *cmds);
    bool ok = cmds != NULL;
    size_t made = 0;
    for (; ok && made < n; made++)
        ok = cmd_key_op(&cmds[made], op, q, first + made * step) == 0;
    if (!ok) {
        for (size_t i = 0; cmds && i < made; i++)
            kv_command_release(&cmds[i]);
        if (cmds != small)
            free(cmds);
        resp_write_error(&x->r->reply, "ERR out of memory");
        return;
    }
    cmd_run(x, cmds, n);
    if (cmds != small)
        free(cmds);
}

int64_t cmd_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the commands ---- */

void cmd_get(struct cmd_ctx *x)
{
    run_keys(x, KV_GET, 1, 1);
}

/* SET key value [NX|XX] [GET] [EX s|PX ms|EXAT ts|PXAT ms-ts|KEEPTTL], with
 * Redis 7.0's checks and error texts. */
void cmd_set(struct cmd_ctx *x)
{
    const struct resp_request *q = x->q;
    struct resp_buf *b = &x->r->reply;
    uint32_t flags = 0;
    long long t = 0;
    size_t expire = 0; /* the index of the expire time's argument, 0: none */
    bool seconds = false;
    int expire_kind = 0;
    /* As Redis: every option's syntax first, then the time's value. */
    for (size_t i = 3; i < q->argc; i++) {
        uint32_t f = cmd_arg_is(q, i, "nx")        ? KV_SET_NX
                     : cmd_arg_is(q, i, "xx")      ? KV_SET_XX
                     : cmd_arg_is(q, i, "get")     ? KV_SET_GET
                     : cmd_arg_is(q, i, "keepttl") ? KV_SET_KEEPTTL
                                                   : 0;
        bool ex = cmd_arg_is(q, i, "ex"), px = cmd_arg_is(q, i, "px");
        bool exat = cmd_arg_is(q, i, "exat"), pxat = cmd_arg_is(q, i, "pxat");
        if (ex || px || exat || pxat) {
            /* The same option again replaces the time; another one is a
             * syntax error, as in Redis. */
            int kind = ex ? 1 : px ? 2 : exat ? 3 : 4;
            if ((expire && kind != expire_kind) || (flags & KV_SET_KEEPTTL) || i + 1 >= q->argc) {
                resp_write_error(b, "ERR syntax error");
                return;
            }
            expire = ++i;
            expire_kind = kind;
            seconds = ex || exat;
            flags |= ex || px ? KV_SET_EXPIRE_IN : KV_SET_EXPIRE_AT;
            continue;
        }
        if (!f || (f == KV_SET_KEEPTTL && expire) || (f == KV_SET_NX && (flags & KV_SET_XX)) ||
            (f == KV_SET_XX && (flags & KV_SET_NX))) {
            resp_write_error(b, "ERR syntax error");
            return;
        }
        flags |= f;
    }
    if (expire) {
        if (!cmd_arg_ll(q, expire, &t)) {
            resp_write_error(b, "ERR value is not an integer or out of range");
            return;
        }
        /* A relative time must not overflow once added to the clock. */
        if (t <= 0 || (seconds && t > LLONG_MAX / 1000) ||
            ((flags & KV_SET_EXPIRE_IN) && t * (seconds ? 1000 : 1) > LLONG_MAX - cmd_wall_ms())) {
            resp_write_error(b, "ERR invalid expire time in 'set' command");
            return;
        }
        if (seconds)
            t *= 1000;
    }
    struct kv_command c;
    if (cmd_key_op(&c, KV_SET, q, 1) != 0 || cmd_arg_str(&c.arg[0], q, 2) != 0) {
        kv_command_release(&c);
        resp_write_error(b, "ERR out of memory");
        return;
    }
    c.flags = flags;
    c.num[0] = t;
    x->r->reply_flags = flags;
    cmd_run(x, &c, 1);
}

void cmd_del(struct cmd_ctx *x)
{
    run_keys(x, KV_DEL, 1, 1);
}

void cmd_exists(struct cmd_ctx *x)
{
    run_keys(x, KV_EXISTS, 1, 1);
}

void cmd_mget(struct cmd_ctx *x)
{
    run_keys(x, KV_GET, 1, 1);
}

void cmd_cas(struct cmd_ctx *x)
{
    const struct resp_request *q = x->q;
    struct kv_command c;
    if (cmd_key_op(&c, KV_SCAS, q, 1) != 0 || cmd_arg_str(&c.arg[0], q, 2) != 0 ||
        cmd_arg_str(&c.arg[1], q, 3) != 0) {
        kv_command_release(&c);
        resp_write_error(&x->r->reply, "ERR out of memory");
        return;
    }
    cmd_run(x, &c, 1);
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
