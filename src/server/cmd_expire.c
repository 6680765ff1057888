/* cmd_expire.c - deadlines, as Redis 7.0 answers them: EXPIRE, PEXPIRE,
 * EXPIREAT, PEXPIREAT (NX XX GT LT), TTL, PTTL, EXPIRETIME, PEXPIRETIME,
 * PERSIST. A relative time travels as it is (KV_EXPIRE_IN) and becomes a
 * deadline at the time the leader stamped on the entry, so every member
 * sets the same one; this member's clock only checks the argument for
 * overflow, as Redis does with its own. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "server/commands.h"

/* EXPIRE key t [NX|XX|GT|LT ...] and its three siblings (by the row's name). */
void cmd_expire(struct cmd_ctx *x)
{
    const struct resp_request *q = x->q;
    struct resp_buf *b = &x->r->reply;
    const char *name = x->cmd->name;
    bool at = strstr(name, "at") != NULL, ms = name[0] == 'p';
    uint32_t flags = 0;
    for (size_t i = 3; i < q->argc; i++) {
        uint32_t f = cmd_arg_is(q, i, "nx")   ? KV_EXPIRE_NX
                     : cmd_arg_is(q, i, "xx") ? KV_EXPIRE_XX
                     : cmd_arg_is(q, i, "gt") ? KV_EXPIRE_GT
                     : cmd_arg_is(q, i, "lt") ? KV_EXPIRE_LT
                                              : 0;
        if (!f) {
            char msg[200];
            snprintf(msg, sizeof msg, "ERR Unsupported option %.*s", (int)(q->argl[i] > 128 ? 128 : q->argl[i]),
                     q->argv[i]);
            resp_write_error(b, msg);
            return;
        }
        flags |= f;
    }
    if ((flags & KV_EXPIRE_NX) && (flags & (KV_EXPIRE_XX | KV_EXPIRE_GT | KV_EXPIRE_LT))) {
        resp_write_error(b, "ERR NX and XX, GT or LT options at the same time are not compatible");
        return;
    }
    if ((flags & KV_EXPIRE_GT) && (flags & KV_EXPIRE_LT)) {
        resp_write_error(b, "ERR GT and LT options at the same time are not compatible");
        return;
    }
    long long when;
    if (!cmd_arg_ll(q, 2, &when)) {
        resp_write_error(b, "ERR value is not an integer or out of range");
        return;
    }
    long long base = at ? 0 : cmd_wall_ms();
    if ((!ms && (when > LLONG_MAX / 1000 || when < LLONG_MIN / 1000)) ||
        (when * (ms ? 1 : 1000) > LLONG_MAX - base)) {
        char msg[96];
        snprintf(msg, sizeof msg, "ERR invalid expire time in '%s' command", name);
        resp_write_error(b, msg);
        return;
    }
    struct kv_command c;
    if (cmd_key_op(&c, KV_EXPIRE, q, 1) != 0) {
        kv_command_release(&c);
        resp_write_error(b, "ERR out of memory");
        return;
    }
    c.flags = flags | (at ? 0 : KV_EXPIRE_IN);
    c.num[0] = when * (ms ? 1 : 1000);
    cmd_run(x, &c, 1);
}

static void key_op(struct cmd_ctx *x, enum kv_op op, uint32_t flags)
{
    struct kv_command c;
    if (cmd_key_op(&c, op, x->q, 1) != 0) {
        kv_command_release(&c);
        resp_write_error(&x->r->reply, "ERR out of memory");
        return;
    }
    c.flags = flags;
    cmd_run(x, &c, 1);
}

/* TTL PTTL EXPIRETIME PEXPIRETIME (by the row's name, in the reply) */
void cmd_ttl(struct cmd_ctx *x)
{
    key_op(x, KV_TTL, strstr(x->cmd->name, "time") ? KV_TTL_AT : 0);
}

void cmd_persist(struct cmd_ctx *x)
{
    key_op(x, KV_PERSIST, 0);
}

/* -2 absent, -1 no deadline; else TTL rounds the ms left to the nearest
 * second, EXPIRETIME truncates the deadline, as Redis. */
void cmd_reply_ttl(struct client_req *r, int proto)
{
    (void)proto;
    int64_t v = r->results[0].kv.num;
    const char *name = r->cmd ? r->cmd->name : "pttl";
    if (v >= 0 && name[0] != 'p')
        v = strstr(name, "time") ? v / 1000 : (v + 500) / 1000;
    resp_write_int(&r->reply, v);
}
