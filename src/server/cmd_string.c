/* cmd_string.c - the string commands beyond GET/SET/MGET (cmd_data.c):
 * INCR DECR INCRBY DECRBY INCRBYFLOAT APPEND STRLEN GETRANGE SUBSTR
 * SETRANGE GETSET GETDEL GETEX SETNX SETEX PSETEX MSET MSETNX, with Redis
 * 7.0's argument checks and error texts. What can be judged from the
 * arguments alone is refused here, before the log; what depends on the
 * value held (not an integer, an overflow, a string grown past
 * KV_STRING_MAX) is the state machine's answer (ops_string2.c), whose text
 * the reply carries as it is. MSET and MSETNX are one operation each (a
 * KV_MULTI, a KV_MSETNX), so every member applies all of their keys or
 * none.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "server/commands.h"

#define NOT_INT "ERR value is not an integer or out of range"

/* reply_flags of GETEX run as a plain read because its expire argument is
 * bad: Redis answers nil for an absent key and the error for a present one. */
#define GETEX_BAD_INT (1u << 0)
#define GETEX_BAD_TIME (1u << 1)

static void oom(struct cmd_ctx *x, struct kv_command *c)
{
    kv_command_release(c);
    resp_write_error(&x->r->reply, "ERR out of memory");
}

/* One operation on the key at argv[1], with num[0] and an optional
 * argument argv[arg] (0: none). */
static void run_one(struct cmd_ctx *x, enum kv_op op, int64_t num, size_t arg)
{
    struct kv_command c;
    if (cmd_key_op(&c, op, x->q, 1) != 0 || (arg && cmd_arg_str(&c.arg[0], x->q, arg) != 0)) {
        oom(x, &c);
        return;
    }
    c.num[0] = num;
    cmd_run(x, &c, 1);
}

/* ---- counters ---- */

void cmd_incr(struct cmd_ctx *x)
{
    run_one(x, KV_INCR, 1, 0);
}

void cmd_decr(struct cmd_ctx *x)
{
    run_one(x, KV_INCR, -1, 0);
}

void cmd_incrby(struct cmd_ctx *x)
{
    long long by;
    if (!cmd_arg_ll(x->q, 2, &by)) {
        resp_write_error(&x->r->reply, NOT_INT);
        return;
    }
    run_one(x, KV_INCR, by, 0);
}

void cmd_decrby(struct cmd_ctx *x)
{
    long long by;
    if (!cmd_arg_ll(x->q, 2, &by)) {
        resp_write_error(&x->r->reply, NOT_INT);
        return;
    }
    if (by == LLONG_MIN) {
        resp_write_error(&x->r->reply, "ERR decrement would overflow");
        return;
    }
    run_one(x, KV_INCR, -by, 0);
}

void cmd_incrbyfloat(struct cmd_ctx *x)
{
    long double by;
    if (!kv_parse_ld(x->q->argv[2], x->q->argl[2], &by)) {
        resp_write_error(&x->r->reply, "ERR value is not a valid float");
        return;
    }
    run_one(x, KV_INCRFLOAT, 0, 2);
}

/* ---- lengths and ranges ---- */

void cmd_append(struct cmd_ctx *x)
{
    run_one(x, KV_APPEND, 0, 2);
}

void cmd_strlen(struct cmd_ctx *x)
{
    run_one(x, KV_STRLEN, 0, 0);
}

/* GETRANGE and SUBSTR key start end */
void cmd_getrange(struct cmd_ctx *x)
{
    long long start, end;
    if (!cmd_arg_ll(x->q, 2, &start) || !cmd_arg_ll(x->q, 3, &end)) {
        resp_write_error(&x->r->reply, NOT_INT);
        return;
    }
    struct kv_command c;
    if (cmd_key_op(&c, KV_GETRANGE, x->q, 1) != 0) {
        oom(x, &c);
        return;
    }
    c.num[0] = start;
    c.num[1] = end;
    cmd_run(x, &c, 1);
}

void cmd_setrange(struct cmd_ctx *x)
{
    long long off;
    if (!cmd_arg_ll(x->q, 2, &off)) {
        resp_write_error(&x->r->reply, NOT_INT);
        return;
    }
    if (off < 0) {
        resp_write_error(&x->r->reply, "ERR offset is out of range");
        return;
    }
    /* As Redis: checked only when there is something to write. */
    size_t n = x->q->argl[3];
    if (n > 0 && off > KV_STRING_MAX - (long long)n) {
        resp_write_error(&x->r->reply, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
        return;
    }
    run_one(x, KV_SETRANGE, off, 3);
}

/* ---- get-and-change ---- */

void cmd_getset(struct cmd_ctx *x)
{
    x->r->reply_flags = KV_SET_GET;
    struct kv_command c;
    if (cmd_key_op(&c, KV_SET, x->q, 1) != 0 || cmd_arg_str(&c.arg[0], x->q, 2) != 0) {
        oom(x, &c);
        return;
    }
    c.flags = KV_SET_GET;
    cmd_run(x, &c, 1);
}

void cmd_getdel(struct cmd_ctx *x)
{
    run_one(x, KV_GETDEL, 0, 0);
}

/* An expire time as Redis's getExpireMillisecondsOrReply checks it: 0 and
 * *ms (in ms; relative ones not yet added to the clock), or a GETEX_BAD_*
 * reason. */
static uint32_t expire_ms(const struct resp_request *q, size_t i, bool seconds, bool relative,
                          long long *ms)
{
    if (!cmd_arg_ll(q, i, ms))
        return GETEX_BAD_INT;
    if (*ms <= 0 || (seconds && *ms > LLONG_MAX / 1000))
        return GETEX_BAD_TIME;
    if (seconds)
        *ms *= 1000;
    if (relative && *ms > LLONG_MAX - cmd_wall_ms())
        return GETEX_BAD_TIME;
    return 0;
}

/* GETEX key [EX s|PX ms|EXAT ts|PXAT ms-ts|PERSIST]: option syntax as
 * Redis's parseExtendedStringArguments (the same option twice is allowed,
 * the last one counts; two different ones are a syntax error). */
void cmd_getex(struct cmd_ctx *x)
{
    const struct resp_request *q = x->q;
    enum { NONE, EX, PX, EXAT, PXAT, PERSIST };
    int kind = NONE;
    size_t at = 0;
    for (size_t i = 2; i < q->argc; i++) {
        int k = cmd_arg_is(q, i, "ex")        ? EX
                : cmd_arg_is(q, i, "px")      ? PX
                : cmd_arg_is(q, i, "exat")    ? EXAT
                : cmd_arg_is(q, i, "pxat")    ? PXAT
                : cmd_arg_is(q, i, "persist") ? PERSIST
                                              : NONE;
        if (k == NONE || (kind != NONE && kind != k) || (k != PERSIST && i + 1 >= q->argc)) {
            resp_write_error(&x->r->reply, "ERR syntax error");
            return;
        }
        kind = k;
        if (k != PERSIST)
            at = ++i;
    }
    long long ms = 0;
    uint32_t bad = 0;
    if (kind != NONE && kind != PERSIST)
        bad = expire_ms(q, at, kind == EX || kind == EXAT, kind == EX || kind == PX, &ms);
    if (kind == NONE || bad) {
        /* Nothing to change: a read (the reply turns a found value into
         * the error when the expire time was bad). */
        x->r->reply_flags = bad;
        run_one(x, KV_GET, 0, 0);
        return;
    }
    struct kv_command c;
    if (cmd_key_op(&c, KV_GETEX, q, 1) != 0) {
        oom(x, &c);
        return;
    }
    c.flags = kind == PERSIST            ? KV_GETEX_PERSIST
              : kind == EX || kind == PX ? KV_SET_EXPIRE_IN
                                         : KV_SET_EXPIRE_AT;
    c.num[0] = ms;
    cmd_run(x, &c, 1);
}

/* ---- SET's relatives ---- */

static void set_with(struct cmd_ctx *x, size_t key, size_t val, uint32_t flags, long long num)
{
    struct kv_command c;
    if (cmd_key_op(&c, KV_SET, x->q, key) != 0 || cmd_arg_str(&c.arg[0], x->q, val) != 0) {
        oom(x, &c);
        return;
    }
    c.flags = flags;
    c.num[0] = num;
    cmd_run(x, &c, 1);
}

void cmd_setnx(struct cmd_ctx *x)
{
    set_with(x, 1, 2, KV_SET_NX, 0);
}

static void setex(struct cmd_ctx *x, bool seconds)
{
    long long ms;
    uint32_t bad = expire_ms(x->q, 2, seconds, true, &ms);
    if (bad == GETEX_BAD_INT) {
        resp_write_error(&x->r->reply, NOT_INT);
        return;
    }
    if (bad) {
        char msg[64];
        snprintf(msg, sizeof msg, "ERR invalid expire time in '%s' command", seconds ? "setex" : "psetex");
        resp_write_error(&x->r->reply, msg);
        return;
    }
    set_with(x, 1, 3, KV_SET_EXPIRE_IN, ms);
}

void cmd_setex(struct cmd_ctx *x)
{
    setex(x, true);
}

void cmd_psetex(struct cmd_ctx *x)
{
    setex(x, false);
}

/* MSET: one KV_MULTI of a KV_SET per pair, so every member applies all of
 * them or none; queued in a transaction, the KV_SETs alone (EXEC's entry is
 * the KV_MULTI). */
void cmd_mset(struct cmd_ctx *x)
{
    const struct resp_request *q = x->q;
    if (q->argc % 2 == 0) {
        cmd_reply_arity(&x->r->reply, x->cmd->name);
        return;
    }
    size_t pairs = (q->argc - 1) / 2;
    struct kv_command c = {.op = KV_MULTI};
    c.sub = calloc(pairs, sizeof *c.sub);
    if (!c.sub) {
        oom(x, &c);
        return;
    }
    c.n_sub = pairs;
    for (size_t i = 0; i < pairs; i++) {
        if (cmd_key_op(&c.sub[i], KV_SET, q, 1 + 2 * i) != 0 ||
            cmd_arg_str(&c.sub[i].arg[0], q, 2 + 2 * i) != 0) {
            oom(x, &c);
            return;
        }
    }
    if (x->capture) {
        cmd_run(x, c.sub, pairs); /* takes the KV_SETs over */
        free(c.sub);
        return;
    }
    cmd_run(x, &c, 1);
}

/* MSETNX: one KV_MSETNX carrying every pair. */
void cmd_msetnx(struct cmd_ctx *x)
{
    const struct resp_request *q = x->q;
    if (q->argc % 2 == 0) {
        cmd_reply_arity(&x->r->reply, x->cmd->name);
        return;
    }
    struct kv_command c;
    if (cmd_key_op(&c, KV_MSETNX, q, 1) != 0 ||
        kv_pack_fields(&c.arg[0], q->argv + 1, q->argl + 1, q->argc - 1) != 0) {
        oom(x, &c);
        return;
    }
    cmd_run(x, &c, 1);
}

/* ---- replies ---- */

/* INCR ... APPEND STRLEN SETRANGE MSETNX: the operation's number. */
void cmd_reply_num(struct client_req *r, int proto)
{
    (void)proto;
    resp_write_int(&r->reply, r->results[0].kv.num);
}

/* SETNX: :1 set, :0 the key existed. */
void cmd_reply_setnx(struct client_req *r, int proto)
{
    (void)proto;
    resp_write_int(&r->reply, r->results[0].kv.num ? 1 : 0);
}

/* GETEX: the value or nil; run as a read with a bad expire time, the
 * error when the key exists. */
void cmd_reply_getex(struct client_req *r, int proto)
{
    const struct kv_result *kv = &r->results[0].kv;
    if (r->reply_flags && kv->code == KV_OK)
        resp_write_error(&r->reply, r->reply_flags == GETEX_BAD_INT ? NOT_INT
                                                                    : "ERR invalid expire time in 'getex' command");
    else
        cmd_write_bulk_or_nil(&r->reply, kv, proto);
}
