/* command_args.c - the data commands' argument parsers and their table
 * (command_args.h), with Redis 7.0's checks and error texts. What can be
 * judged from the arguments alone is refused here, before the log; what
 * depends on the value held (not an integer, an overflow, a string grown
 * past KV_STRING_MAX, a wrong type) is the state machine's answer, whose
 * text the reply carries as it is (kv_result_error_text). */
#include "kv/command_args.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NOT_INT "ERR value is not an integer or out of range"
#define SYNTAX "ERR syntax error"

/* ---- helpers ---- */

static int fail(const struct kv_args *a, const char *msg)
{
    snprintf(a->err, a->err_cap, "%s", msg);
    return -1;
}

static bool arg_is(const struct kv_args *a, size_t i, const char *word)
{
    return i < a->argc && a->argl[i] == strlen(word) && strncasecmp(a->argv[i], word, a->argl[i]) == 0;
}

static bool arg_ll(const struct kv_args *a, size_t i, long long *v)
{
    return kv_parse_ll(a->argv[i], a->argl[i], v);
}

/* One operation op on the key at argv[key], with argv[val] as arg[0] when
 * val is not 0. */
static int one(const struct kv_args *a, struct kv_parsed *p, enum kv_op op, size_t key, size_t val)
{
    p->one = (struct kv_command){.op = op};
    p->cmds = &p->one;
    p->n = 1;
    if (kv_str_set(&p->one.skey, a->argv[key], a->argl[key]) != 0 ||
        (val && kv_str_set(&p->one.arg[0], a->argv[val], a->argl[val]) != 0)) {
        kv_command_release(&p->one);
        p->n = 0;
        return fail(a, "ERR out of memory");
    }
    return 0;
}

/* One operation op per key from argv[1] on. */
static int each_key(const struct kv_args *a, struct kv_parsed *p, enum kv_op op)
{
    size_t n = a->argc - 1;
    if (n == 1)
        return one(a, p, op, 1, 0);
    p->cmds = calloc(n, sizeof *p->cmds);
    if (!p->cmds)
        return fail(a, "ERR out of memory");
    p->n = n;
    for (size_t i = 0; i < n; i++) {
        p->cmds[i].op = op;
        if (kv_str_set(&p->cmds[i].skey, a->argv[i + 1], a->argl[i + 1]) != 0) {
            kv_parsed_release(p);
            return fail(a, "ERR out of memory");
        }
    }
    return 0;
}

/* An expire time as Redis's getExpireMillisecondsOrReply checks it: 0 and
 * *ms (in ms; relative ones not yet added to the clock), or a
 * KV_ARGS_BAD_* reason. */
static uint32_t expire_ms(const struct kv_args *a, size_t i, bool seconds, bool relative, long long *ms)
{
    if (!arg_ll(a, i, ms))
        return KV_ARGS_BAD_INT;
    if (*ms <= 0 || (seconds && *ms > LLONG_MAX / 1000))
        return KV_ARGS_BAD_TIME;
    if (seconds)
        *ms *= 1000;
    if (relative && *ms > LLONG_MAX - a->now_ms)
        return KV_ARGS_BAD_TIME;
    return 0;
}

/* ---- GET SET DEL EXISTS MGET CAS ---- */

static int p_get(const struct kv_args *a, struct kv_parsed *p)
{
    return one(a, p, KV_GET, 1, 0);
}

/* SET key value [NX|XX] [GET] [EX s|PX ms|EXAT ts|PXAT ms-ts|KEEPTTL] */
static int p_set(const struct kv_args *a, struct kv_parsed *p)
{
    uint32_t flags = 0;
    long long t = 0;
    size_t expire = 0; /* the index of the expire time's argument, 0: none */
    bool seconds = false;
    int expire_kind = 0;
    /* As Redis: every option's syntax first, then the time's value. */
    for (size_t i = 3; i < a->argc; i++) {
        uint32_t f = arg_is(a, i, "nx")        ? KV_SET_NX
                     : arg_is(a, i, "xx")      ? KV_SET_XX
                     : arg_is(a, i, "get")     ? KV_SET_GET
                     : arg_is(a, i, "keepttl") ? KV_SET_KEEPTTL
                                               : 0;
        bool ex = arg_is(a, i, "ex"), px = arg_is(a, i, "px");
        bool exat = arg_is(a, i, "exat"), pxat = arg_is(a, i, "pxat");
        if (ex || px || exat || pxat) {
            /* The same option again replaces the time; another one is a
             * syntax error, as in Redis. */
            int kind = ex ? 1 : px ? 2 : exat ? 3 : 4;
            if ((expire && kind != expire_kind) || (flags & KV_SET_KEEPTTL) || i + 1 >= a->argc)
                return fail(a, SYNTAX);
            expire = ++i;
            expire_kind = kind;
            seconds = ex || exat;
            flags |= ex || px ? KV_SET_EXPIRE_IN : KV_SET_EXPIRE_AT;
            continue;
        }
        if (!f || (f == KV_SET_KEEPTTL && expire) || (f == KV_SET_NX && (flags & KV_SET_XX)) ||
            (f == KV_SET_XX && (flags & KV_SET_NX)))
            return fail(a, SYNTAX);
        flags |= f;
    }
    if (expire) {
        if (!arg_ll(a, expire, &t))
            return fail(a, NOT_INT);
        /* A relative time must not overflow once added to the clock. */
        if (t <= 0 || (seconds && t > LLONG_MAX / 1000) ||
            ((flags & KV_SET_EXPIRE_IN) && t * (seconds ? 1000 : 1) > LLONG_MAX - a->now_ms))
            return fail(a, "ERR invalid expire time in 'set' command");
        if (seconds)
            t *= 1000;
    }
    if (one(a, p, KV_SET, 1, 2) != 0)
        return -1;
    p->one.flags = flags;
    p->one.num[0] = t;
    p->reply_flags = flags;
    return 0;
}

static int p_del(const struct kv_args *a, struct kv_parsed *p)
{
    return each_key(a, p, KV_DEL);
}

static int p_exists(const struct kv_args *a, struct kv_parsed *p)
{
    return each_key(a, p, KV_EXISTS);
}

static int p_mget(const struct kv_args *a, struct kv_parsed *p)
{
    return each_key(a, p, KV_GET);
}

/* CAS key from to */
static int p_cas(const struct kv_args *a, struct kv_parsed *p)
{
    if (one(a, p, KV_SCAS, 1, 2) != 0)
        return -1;
    if (kv_str_set(&p->one.arg[1], a->argv[3], a->argl[3]) != 0) {
        kv_parsed_release(p);
        return fail(a, "ERR out of memory");
    }
    return 0;
}

/* ---- counters ---- */

static int incr_by(const struct kv_args *a, struct kv_parsed *p, int64_t by)
{
    if (one(a, p, KV_INCR, 1, 0) != 0)
        return -1;
    p->one.num[0] = by;
    return 0;
}

static int p_incr(const struct kv_args *a, struct kv_parsed *p)
{
    return incr_by(a, p, 1);
}

static int p_decr(const struct kv_args *a, struct kv_parsed *p)
{
    return incr_by(a, p, -1);
}

static int p_incrby(const struct kv_args *a, struct kv_parsed *p)
{
    long long by;
    if (!arg_ll(a, 2, &by))
        return fail(a, NOT_INT);
    return incr_by(a, p, by);
}

static int p_decrby(const struct kv_args *a, struct kv_parsed *p)
{
    long long by;
    if (!arg_ll(a, 2, &by))
        return fail(a, NOT_INT);
    if (by == LLONG_MIN)
        return fail(a, "ERR decrement would overflow");
    return incr_by(a, p, -by);
}

static int p_incrbyfloat(const struct kv_args *a, struct kv_parsed *p)
{
    long double by;
    if (!kv_parse_ld(a->argv[2], a->argl[2], &by))
        return fail(a, "ERR value is not a valid float");
    return one(a, p, KV_INCRFLOAT, 1, 2);
}

/* ---- lengths and ranges ---- */

static int p_append(const struct kv_args *a, struct kv_parsed *p)
{
    return one(a, p, KV_APPEND, 1, 2);
}

static int p_strlen(const struct kv_args *a, struct kv_parsed *p)
{
    return one(a, p, KV_STRLEN, 1, 0);
}

/* GETRANGE and SUBSTR key start end */
static int p_getrange(const struct kv_args *a, struct kv_parsed *p)
{
    long long start, end;
    if (!arg_ll(a, 2, &start) || !arg_ll(a, 3, &end))
        return fail(a, NOT_INT);
    if (one(a, p, KV_GETRANGE, 1, 0) != 0)
        return -1;
    p->one.num[0] = start;
    p->one.num[1] = end;
    return 0;
}

static int p_setrange(const struct kv_args *a, struct kv_parsed *p)
{
    long long off;
    if (!arg_ll(a, 2, &off))
        return fail(a, NOT_INT);
    if (off < 0)
        return fail(a, "ERR offset is out of range");
    /* As Redis: checked only when there is something to write. */
    size_t n = a->argl[3];
    if (n > 0 && off > KV_STRING_MAX - (long long)n)
        return fail(a, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    if (one(a, p, KV_SETRANGE, 1, 3) != 0)
        return -1;
    p->one.num[0] = off;
    return 0;
}

/* ---- get-and-change ---- */

static int p_getset(const struct kv_args *a, struct kv_parsed *p)
{
    if (one(a, p, KV_SET, 1, 2) != 0)
        return -1;
    p->one.flags = KV_SET_GET;
    p->reply_flags = KV_SET_GET;
    return 0;
}

static int p_getdel(const struct kv_args *a, struct kv_parsed *p)
{
    return one(a, p, KV_GETDEL, 1, 0);
}

/* GETEX key [EX s|PX ms|EXAT ts|PXAT ms-ts|PERSIST]: option syntax as
 * Redis's parseExtendedStringArguments (the same option twice is allowed,
 * the last one counts; two different ones are a syntax error). */
static int p_getex(const struct kv_args *a, struct kv_parsed *p)
{
    enum { NONE, EX, PX, EXAT, PXAT, PERSIST };
    int kind = NONE;
    size_t at = 0;
    for (size_t i = 2; i < a->argc; i++) {
        int k = arg_is(a, i, "ex")        ? EX
                : arg_is(a, i, "px")      ? PX
                : arg_is(a, i, "exat")    ? EXAT
                : arg_is(a, i, "pxat")    ? PXAT
                : arg_is(a, i, "persist") ? PERSIST
                                          : NONE;
        if (k == NONE || (kind != NONE && kind != k) || (k != PERSIST && i + 1 >= a->argc))
            return fail(a, SYNTAX);
        kind = k;
        if (k != PERSIST)
            at = ++i;
    }
    long long ms = 0;
    uint32_t bad = 0;
    if (kind != NONE && kind != PERSIST)
        bad = expire_ms(a, at, kind == EX || kind == EXAT, kind == EX || kind == PX, &ms);
    if (kind == NONE || bad) {
        /* Nothing to change: a read (the reply turns a found value into
         * the error when the expire time was bad). */
        p->reply_flags = bad;
        return one(a, p, KV_GET, 1, 0);
    }
    if (one(a, p, KV_GETEX, 1, 0) != 0)
        return -1;
    p->one.flags = kind == PERSIST            ? KV_GETEX_PERSIST
                   : kind == EX || kind == PX ? KV_SET_EXPIRE_IN
                                              : KV_SET_EXPIRE_AT;
    p->one.num[0] = ms;
    return 0;
}

/* ---- SET's relatives ---- */

static int p_setnx(const struct kv_args *a, struct kv_parsed *p)
{
    if (one(a, p, KV_SET, 1, 2) != 0)
        return -1;
    p->one.flags = KV_SET_NX;
    return 0;
}

static int setex(const struct kv_args *a, struct kv_parsed *p, bool seconds)
{
    long long ms;
    uint32_t bad = expire_ms(a, 2, seconds, true, &ms);
    if (bad == KV_ARGS_BAD_INT)
        return fail(a, NOT_INT);
    if (bad) {
        snprintf(a->err, a->err_cap, "ERR invalid expire time in '%s' command", seconds ? "setex" : "psetex");
        return -1;
    }
    if (one(a, p, KV_SET, 1, 3) != 0)
        return -1;
    p->one.flags = KV_SET_EXPIRE_IN;
    p->one.num[0] = ms;
    return 0;
}

static int p_setex(const struct kv_args *a, struct kv_parsed *p)
{
    return setex(a, p, true);
}

static int p_psetex(const struct kv_args *a, struct kv_parsed *p)
{
    return setex(a, p, false);
}

/* MSET: one KV_MULTI of a KV_SET per pair, so every member applies all of
 * them or none. */
static int p_mset(const struct kv_args *a, struct kv_parsed *p)
{
    if (a->argc % 2 == 0)
        return fail(a, "ERR wrong number of arguments for 'mset' command");
    size_t pairs = (a->argc - 1) / 2;
    p->one = (struct kv_command){.op = KV_MULTI};
    p->cmds = &p->one;
    p->n = 1;
    p->one.sub = calloc(pairs, sizeof *p->one.sub);
    if (!p->one.sub) {
        p->n = 0;
        return fail(a, "ERR out of memory");
    }
    p->one.n_sub = pairs;
    for (size_t i = 0; i < pairs; i++) {
        struct kv_command *c = &p->one.sub[i];
        c->op = KV_SET;
        if (kv_str_set(&c->skey, a->argv[1 + 2 * i], a->argl[1 + 2 * i]) != 0 ||
            kv_str_set(&c->arg[0], a->argv[2 + 2 * i], a->argl[2 + 2 * i]) != 0) {
            kv_parsed_release(p);
            return fail(a, "ERR out of memory");
        }
    }
    return 0;
}

/* MSETNX: one KV_MSETNX carrying every pair. */
static int p_msetnx(const struct kv_args *a, struct kv_parsed *p)
{
    if (a->argc % 2 == 0)
        return fail(a, "ERR wrong number of arguments for 'msetnx' command");
    if (one(a, p, KV_MSETNX, 1, 0) != 0)
        return -1;
    if (kv_pack_fields(&p->one.arg[0], a->argv + 1, a->argl + 1, a->argc - 1) != 0) {
        kv_parsed_release(p);
        return fail(a, "ERR out of memory");
    }
    return 0;
}

/* ---- deadlines ---- */

/* EXPIRE key t [NX|XX|GT|LT ...] and its three siblings. Relative times
 * count from the entry's time; now_ms only checks for overflow. */
static int expire(const struct kv_args *a, struct kv_parsed *p, const char *name, bool ms, bool at)
{
    uint32_t flags = 0;
    for (size_t i = 3; i < a->argc; i++) {
        uint32_t f = arg_is(a, i, "nx")   ? KV_EXPIRE_NX
                     : arg_is(a, i, "xx") ? KV_EXPIRE_XX
                     : arg_is(a, i, "gt") ? KV_EXPIRE_GT
                     : arg_is(a, i, "lt") ? KV_EXPIRE_LT
                                          : 0;
        if (!f) {
            snprintf(a->err, a->err_cap, "ERR Unsupported option %.*s",
                     (int)(a->argl[i] > 128 ? 128 : a->argl[i]), a->argv[i]);
            return -1;
        }
        flags |= f;
    }
    if ((flags & KV_EXPIRE_NX) && (flags & (KV_EXPIRE_XX | KV_EXPIRE_GT | KV_EXPIRE_LT)))
        return fail(a, "ERR NX and XX, GT or LT options at the same time are not compatible");
    if ((flags & KV_EXPIRE_GT) && (flags & KV_EXPIRE_LT))
        return fail(a, "ERR GT and LT options at the same time are not compatible");
    long long when;
    if (!arg_ll(a, 2, &when))
        return fail(a, NOT_INT);
    long long base = at ? 0 : a->now_ms;
    if ((!ms && (when > LLONG_MAX / 1000 || when < LLONG_MIN / 1000)) ||
        (when * (ms ? 1 : 1000) > LLONG_MAX - base)) {
        snprintf(a->err, a->err_cap, "ERR invalid expire time in '%s' command", name);
        return -1;
    }
    if (one(a, p, KV_EXPIRE, 1, 0) != 0)
        return -1;
    p->one.flags = flags | (at ? 0 : KV_EXPIRE_IN);
    p->one.num[0] = when * (ms ? 1 : 1000);
    return 0;
}

static int p_expire(const struct kv_args *a, struct kv_parsed *p)
{
    return expire(a, p, "expire", false, false);
}

static int p_pexpire(const struct kv_args *a, struct kv_parsed *p)
{
    return expire(a, p, "pexpire", true, false);
}

static int p_expireat(const struct kv_args *a, struct kv_parsed *p)
{
    return expire(a, p, "expireat", false, true);
}

static int p_pexpireat(const struct kv_args *a, struct kv_parsed *p)
{
    return expire(a, p, "pexpireat", true, true);
}

/* TTL PTTL: ms left; EXPIRETIME PEXPIRETIME: the deadline (KV_TTL_AT). */
static int p_ttl(const struct kv_args *a, struct kv_parsed *p)
{
    return one(a, p, KV_TTL, 1, 0);
}

static int p_expiretime(const struct kv_args *a, struct kv_parsed *p)
{
    if (one(a, p, KV_TTL, 1, 0) != 0)
        return -1;
    p->one.flags = KV_TTL_AT;
    return 0;
}

static int p_persist(const struct kv_args *a, struct kv_parsed *p)
{
    return one(a, p, KV_PERSIST, 1, 0);
}

/* ---- the keyspace ---- */

static int p_type(const struct kv_args *a, struct kv_parsed *p)
{
    return one(a, p, KV_TYPE, 1, 0);
}

static int p_rename(const struct kv_args *a, struct kv_parsed *p)
{
    return one(a, p, KV_RENAME, 1, 2);
}

static int p_renamenx(const struct kv_args *a, struct kv_parsed *p)
{
    if (one(a, p, KV_RENAME, 1, 2) != 0)
        return -1;
    p->one.flags = KV_RENAME_NX;
    p->reply_flags = KV_RENAME_NX;
    return 0;
}

/* COPY source destination [DB n] [REPLACE]: DB 0 only. */
static int p_copy(const struct kv_args *a, struct kv_parsed *p)
{
    uint32_t flags = 0;
    for (size_t i = 3; i < a->argc; i++) {
        long long db;
        if (arg_is(a, i, "replace")) {
            flags |= KV_COPY_REPLACE;
        } else if (arg_is(a, i, "db") && i + 1 < a->argc) {
            if (!arg_ll(a, ++i, &db) || db < INT32_MIN || db > INT32_MAX)
                return fail(a, NOT_INT);
            if (db < 0 || db > 15)
                return fail(a, "ERR DB index is out of range");
            if (db != 0)
                return fail(a, "ERR raftkv has only database 0");
        } else {
            return fail(a, SYNTAX);
        }
    }
    if (a->argl[1] == a->argl[2] && memcmp(a->argv[1], a->argv[2], a->argl[1]) == 0)
        return fail(a, "ERR source and destination objects are the same");
    if (one(a, p, KV_COPY, 1, 2) != 0)
        return -1;
    p->one.flags = flags;
    return 0;
}

static int p_unlink(const struct kv_args *a, struct kv_parsed *p)
{
    return each_key(a, p, KV_DEL);
}

static int p_touch(const struct kv_args *a, struct kv_parsed *p)
{
    return each_key(a, p, KV_EXISTS);
}

/* ---- the table, sorted by name ---- */

static const struct kv_args_def rows[] = {
    {"append", 3, true, KV_REPLY_NUM, p_append},
    {"cas", 4, true, KV_REPLY_CAS, p_cas},
    {"copy", -3, true, KV_REPLY_NUM, p_copy},
    {"decr", 2, true, KV_REPLY_NUM, p_decr},
    {"decrby", 3, true, KV_REPLY_NUM, p_decrby},
    {"del", -2, true, KV_REPLY_COUNT, p_del},
    {"exists", -2, false, KV_REPLY_COUNT, p_exists},
    {"expire", -3, true, KV_REPLY_NUM, p_expire},
    {"expireat", -3, true, KV_REPLY_NUM, p_expireat},
    {"expiretime", 2, false, KV_REPLY_TIME_SEC, p_expiretime},
    {"get", 2, false, KV_REPLY_VALUE, p_get},
    {"getdel", 2, true, KV_REPLY_VALUE, p_getdel},
    {"getex", -2, true, KV_REPLY_GETEX, p_getex},
    {"getrange", 4, false, KV_REPLY_VALUE, p_getrange},
    {"getset", 3, true, KV_REPLY_SET, p_getset},
    {"incr", 2, true, KV_REPLY_NUM, p_incr},
    {"incrby", 3, true, KV_REPLY_NUM, p_incrby},
    {"incrbyfloat", 3, true, KV_REPLY_VALUE, p_incrbyfloat},
    {"mget", -2, false, KV_REPLY_VALUES, p_mget},
    {"mset", -3, true, KV_REPLY_OK, p_mset},
    {"msetnx", -3, true, KV_REPLY_NUM, p_msetnx},
    {"persist", 2, true, KV_REPLY_NUM, p_persist},
    {"pexpire", -3, true, KV_REPLY_NUM, p_pexpire},
    {"pexpireat", -3, true, KV_REPLY_NUM, p_pexpireat},
    {"pexpiretime", 2, false, KV_REPLY_NUM, p_expiretime},
    {"psetex", 4, true, KV_REPLY_SET, p_psetex},
    {"pttl", 2, false, KV_REPLY_NUM, p_ttl},
    {"rename", 3, true, KV_REPLY_RENAME, p_rename},
    {"renamenx", 3, true, KV_REPLY_RENAME, p_renamenx},
    {"set", -3, true, KV_REPLY_SET, p_set},
    {"setex", 4, true, KV_REPLY_SET, p_setex},
    {"setnx", 3, true, KV_REPLY_BOOL, p_setnx},
    {"setrange", 4, true, KV_REPLY_NUM, p_setrange},
    {"strlen", 2, false, KV_REPLY_NUM, p_strlen},
    {"substr", 4, false, KV_REPLY_VALUE, p_getrange},
    {"touch", -2, false, KV_REPLY_COUNT, p_touch},
    {"ttl", 2, false, KV_REPLY_TTL_SEC, p_ttl},
    {"type", 2, false, KV_REPLY_TYPE, p_type},
    {"unlink", -2, true, KV_REPLY_COUNT, p_unlink},
};
#define N_ROWS (sizeof rows / sizeof rows[0])

const struct kv_args_def *kv_args_rows(size_t *n)
{
    *n = N_ROWS;
    return rows;
}

const struct kv_args_def *kv_args_find(const char *name, size_t n)
{
    size_t lo = 0, hi = N_ROWS;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *r = rows[mid].name;
        size_t rn = strlen(r);
        int c = strncasecmp(name, r, n < rn ? n : rn);
        if (c == 0)
            c = n < rn ? -1 : n > rn ? 1 : 0;
        if (c == 0)
            return &rows[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

bool kv_args_arity_ok(const struct kv_args_def *d, size_t argc)
{
    return d->arity >= 0 ? argc == (size_t)d->arity : argc >= (size_t)-d->arity;
}

int kv_args_parse(const struct kv_args_def *d, const struct kv_args *a, struct kv_parsed *p)
{
    *p = (struct kv_parsed){0};
    if (!kv_args_arity_ok(d, a->argc)) {
        snprintf(a->err, a->err_cap, "ERR wrong number of arguments for '%s' command", d->name);
        return -1;
    }
    return d->parse(a, p);
}

void kv_parsed_free_array(struct kv_parsed *p)
{
    if (p->cmds != &p->one)
        free(p->cmds);
    p->cmds = NULL;
    p->n = 0;
}

void kv_parsed_release(struct kv_parsed *p)
{
    for (size_t i = 0; i < p->n; i++)
        kv_command_release(&p->cmds[i]);
    kv_parsed_free_array(p);
}

const char *kv_result_error_text(const struct kv_result *r, char *buf, size_t cap)
{
    if (r->code == KV_OK || r->code == KV_ERR_NO_KEY || r->code == KV_ERR_PRECONDITION)
        return NULL;
    if (r->code == KV_ERR_TYPE) /* Redis's own words, prefix included */
        snprintf(buf, cap, "%s", r->text);
    else
        snprintf(buf, cap, "ERR %s", r->text[0] ? r->text : "state machine error");
    return buf;
}
