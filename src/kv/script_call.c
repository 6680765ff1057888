/* script_call.c - redis.call and redis.pcall inside a script: the Redis
 * commands a script may call (the string and key commands redis-py's
 * lock() and common scripts use), each mapped onto the store's own
 * operations (ops.h) applied at the entry's time, with Redis 7.0's checks
 * and error texts, and the replies converted to Lua as Redis converts them
 * (integer -> number, bulk -> string, nil -> false, status -> {ok=...},
 * error -> {err=...}, array -> table). Before a script's first write to a
 * key the key's state is recorded (the undo log), so a script stopped by
 * its budget or memory cap leaves the store as it found it. */
#include <lauxlib.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kv/ops.h"
#include "kv/script.h"

#define NOT_INT "ERR value is not an integer or out of range"

struct call {
    struct script_run *x;
    lua_State *L;
    size_t argc;
    const char **argv;
    size_t *argl;
    char err[200];
};

/* ---- the undo log ---- */

static int record(struct script_run *x, const void *key, size_t n)
{
    for (size_t i = 0; i < x->n_undo; i++)
        if (x->undo[i].key.n == n && memcmp(x->undo[i].key.p, key, n) == 0)
            return 0;
    if (x->n_undo == x->cap_undo) {
        size_t cap = x->cap_undo ? 2 * x->cap_undo : 8;
        struct script_undo *p = realloc(x->undo, cap * sizeof *p);
        if (!p)
            return -1;
        x->undo = p;
        x->cap_undo = cap;
    }
    struct script_undo *u = &x->undo[x->n_undo];
    *u = (struct script_undo){0};
    if (kv_str_set(&u->key, key, n) != 0)
        return -1;
    const struct kv_map_entry *e = kv_map_get(&x->s->map, key, n);
    u->deleted = x->s->deleted[kv_delete_bucket(key, n)];
    if (e) {
        u->existed = true;
        u->type = e->type;
        u->expiry = kv_map_expiry(&x->s->map, e);
        u->version = e->version;
        if (kv_str_set(&u->value, kv_entry_value(e), kv_entry_value_len(e)) != 0) {
            free(u->key.p);
            return -1;
        }
    }
    x->n_undo++;
    return 0;
}

void kv_script_undo(struct script_run *x)
{
    struct kv_store *s = x->s;
    for (size_t i = x->n_undo; i-- > 0;) {
        struct script_undo *u = &x->undo[i];
        const char *key = (const char *)u->key.p;
        if (u->existed) {
            struct kv_map_entry *e = kv_map_put(&s->map, key, u->key.n, u->type, u->value.p,
                                                u->value.n);
            if (e) {
                e->version = u->version;
                kv_map_set_expiry(&s->map, e, u->expiry);
            }
        } else {
            kv_map_del(&s->map, key, u->key.n);
        }
        s->deleted[kv_delete_bucket(key, u->key.n)] = u->deleted;
    }
    s->version = x->version0;
}

void kv_script_undo_free(struct script_run *x)
{
    for (size_t i = 0; i < x->n_undo; i++) {
        free(x->undo[i].key.p);
        free(x->undo[i].value.p);
    }
    free(x->undo);
    x->undo = NULL;
    x->n_undo = x->cap_undo = 0;
}

/* ---- running one operation ---- */

static int fail(struct call *k, const char *msg)
{
    snprintf(k->err, sizeof k->err, "%s", msg);
    return -1;
}

/* A command on the key at argv[i]; the caller fills the rest. */
static int key_op(struct call *k, struct kv_command *c, enum kv_op op, size_t i)
{
    *c = (struct kv_command){.op = op};
    return kv_str_set(&c->skey, k->argv[i], k->argl[i]) == 0 ? 0 : fail(k, "ERR out of memory");
}

/* Apply c (released here) into r: 0, or -1 with k->err set for an answer
 * that is an error. */
static int apply(struct call *k, struct kv_command *c, struct kv_result *r)
{
    struct script_run *x = k->x;
    memset(r, 0, sizeof *r);
    if (!kv_op_reads(c->op) && record(x, c->skey.p, c->skey.n) != 0) {
        x->undo_failed = true;
        kv_command_release(c);
        return fail(k, "ERR out of memory");
    }
    kv_apply(x->s, c, x->now, r);
    kv_command_release(c);
    if (r->code == KV_OK || r->code == KV_ERR_NO_KEY || r->code == KV_ERR_PRECONDITION)
        return 0;
    if (r->code == KV_ERR_TYPE)
        snprintf(k->err, sizeof k->err, "%s", r->text);
    else
        snprintf(k->err, sizeof k->err, "ERR %s", r->text[0] ? r->text : "state machine error");
    kv_result_release(r);
    return -1;
}

static bool arg_is(struct call *k, size_t i, const char *word)
{
    return k->argl[i] == strlen(word) && strncasecmp(k->argv[i], word, k->argl[i]) == 0;
}

static bool arg_ll(struct call *k, size_t i, long long *v)
{
    return kv_parse_ll(k->argv[i], k->argl[i], v);
}

/* The pushes (a Lua memory error may leave r's bytes behind: at most one
 * result per script that exhausts its cap). */
static void push_bulk_or_nil(lua_State *L, struct kv_result *r)
{
    if (r->code == KV_OK && r->bytes)
        lua_pushlstring(L, (const char *)r->bytes, r->len);
    else
        lua_pushboolean(L, 0);
}

static void push_status(lua_State *L, const char *s, size_t n)
{
    lua_newtable(L);
    lua_pushlstring(L, s, n);
    lua_setfield(L, -2, "ok");
}

/* ---- the commands ---- */

/* GET GETDEL STRLEN TTL PTTL PERSIST TYPE: one key, one operation. */
static int c_get(struct call *k)
{
    struct kv_command c;
    struct kv_result r;
    if (key_op(k, &c, KV_GET, 1) != 0 || apply(k, &c, &r) != 0)
        return -1;
    push_bulk_or_nil(k->L, &r);
    kv_result_release(&r);
    return 0;
}

static int c_getdel(struct call *k)
{
    struct kv_command c;
    struct kv_result r;
    if (key_op(k, &c, KV_GETDEL, 1) != 0 || apply(k, &c, &r) != 0)
        return -1;
    push_bulk_or_nil(k->L, &r);
    kv_result_release(&r);
    return 0;
}

static int int_op(struct call *k, enum kv_op op, uint32_t flags, int64_t num)
{
    struct kv_command c;
    struct kv_result r;
    if (key_op(k, &c, op, 1) != 0)
        return -1;
    c.flags = flags;
    c.num[0] = num;
    if (apply(k, &c, &r) != 0)
        return -1;
    lua_pushnumber(k->L, (lua_Number)r.num);
    kv_result_release(&r);
    return 0;
}

static int c_strlen(struct call *k)
{
    return int_op(k, KV_STRLEN, 0, 0);
}

static int c_persist(struct call *k)
{
    return int_op(k, KV_PERSIST, 0, 0);
}

static int ttl(struct call *k, bool ms)
{
    struct kv_command c;
    struct kv_result r;
    if (key_op(k, &c, KV_TTL, 1) != 0 || apply(k, &c, &r) != 0)
        return -1;
    int64_t v = r.num;
    if (v >= 0 && !ms)
        v = (v + 500) / 1000;
    lua_pushnumber(k->L, (lua_Number)v);
    return 0;
}

static int c_ttl(struct call *k)
{
    return ttl(k, false);
}

static int c_pttl(struct call *k)
{
    return ttl(k, true);
}

static int c_type(struct call *k)
{
    struct kv_command c;
    struct kv_result r;
    if (key_op(k, &c, KV_TYPE, 1) != 0 || apply(k, &c, &r) != 0)
        return -1;
    push_status(k->L, r.bytes ? (const char *)r.bytes : "none", r.bytes ? r.len : 4);
    kv_result_release(&r);
    return 0;
}

/* SET key value [NX|XX] [GET] [EX|PX|EXAT|PXAT t|KEEPTTL] */
static int c_set(struct call *k)
{
    uint32_t flags = 0;
    size_t expire = 0;
    int kind_seen = 0;
    bool seconds = false;
    for (size_t i = 3; i < k->argc; i++) {
        uint32_t f = arg_is(k, i, "nx")        ? KV_SET_NX
                     : arg_is(k, i, "xx")      ? KV_SET_XX
                     : arg_is(k, i, "get")     ? KV_SET_GET
                     : arg_is(k, i, "keepttl") ? KV_SET_KEEPTTL
                                               : 0;
        int kind = arg_is(k, i, "ex") ? 1 : arg_is(k, i, "px") ? 2 : arg_is(k, i, "exat") ? 3
                   : arg_is(k, i, "pxat")                       ? 4
                                                                : 0;
        if (kind) {
            if ((expire && kind != kind_seen) || (flags & KV_SET_KEEPTTL) || i + 1 >= k->argc)
                return fail(k, "ERR syntax error");
            expire = ++i;
            kind_seen = kind;
            seconds = kind == 1 || kind == 3;
            flags |= kind <= 2 ? KV_SET_EXPIRE_IN : KV_SET_EXPIRE_AT;
            continue;
        }
        if (!f || (f == KV_SET_KEEPTTL && expire) || (f == KV_SET_NX && (flags & KV_SET_XX)) ||
            (f == KV_SET_XX && (flags & KV_SET_NX)))
            return fail(k, "ERR syntax error");
        flags |= f;
    }
    long long t = 0;
    if (expire) {
        if (!arg_ll(k, expire, &t))
            return fail(k, NOT_INT);
        if (t <= 0 || (seconds && t > LLONG_MAX / 1000) ||
            ((flags & KV_SET_EXPIRE_IN) && t * (seconds ? 1000 : 1) > LLONG_MAX - k->x->now))
            return fail(k, "ERR invalid expire time in 'set' command");
        if (seconds)
            t *= 1000;
    }
    struct kv_command c;
    struct kv_result r;
    if (key_op(k, &c, KV_SET, 1) != 0)
        return -1;
    c.flags = flags;
    c.num[0] = t;
    if (kv_str_set(&c.arg[0], k->argv[2], k->argl[2]) != 0) {
        kv_command_release(&c);
        return fail(k, "ERR out of memory");
    }
    if (apply(k, &c, &r) != 0)
        return -1;
    if (flags & KV_SET_GET)
        push_bulk_or_nil(k->L, &r);
    else if (r.num)
        push_status(k->L, "OK", 2);
    else
        lua_pushboolean(k->L, 0);
    kv_result_release(&r);
    return 0;
}

/* SETNX key value -> 1 or 0; GETSET key value -> the old value */
static int set_simple(struct call *k, uint32_t flags, bool old)
{
    struct kv_command c;
    struct kv_result r;
    if (key_op(k, &c, KV_SET, 1) != 0)
        return -1;
    c.flags = flags;
    if (kv_str_set(&c.arg[0], k->argv[2], k->argl[2]) != 0) {
        kv_command_release(&c);
        return fail(k, "ERR out of memory");
    }
    if (apply(k, &c, &r) != 0)
        return -1;
    if (old)
        push_bulk_or_nil(k->L, &r);
    else
        lua_pushnumber(k->L, (lua_Number)r.num);
    kv_result_release(&r);
    return 0;
}

static int c_setnx(struct call *k)
{
    return set_simple(k, KV_SET_NX, false);
}

static int c_getset(struct call *k)
{
    return set_simple(k, KV_SET_GET, true);
}

/* DEL and EXISTS: the count over every key. */
static int count_keys(struct call *k, enum kv_op op)
{
    int64_t sum = 0;
    for (size_t i = 1; i < k->argc; i++) {
        struct kv_command c;
        struct kv_result r;
        if (key_op(k, &c, op, i) != 0 || apply(k, &c, &r) != 0)
            return -1;
        sum += r.num;
        kv_result_release(&r);
    }
    lua_pushnumber(k->L, (lua_Number)sum);
    return 0;
}

static int c_del(struct call *k)
{
    return count_keys(k, KV_DEL);
}

static int c_exists(struct call *k)
{
    return count_keys(k, KV_EXISTS);
}

static int c_mget(struct call *k)
{
    lua_createtable(k->L, (int)(k->argc - 1), 0);
    for (size_t i = 1; i < k->argc; i++) {
        struct kv_command c;
        struct kv_result r;
        if (key_op(k, &c, KV_GET, i) != 0 || apply(k, &c, &r) != 0) {
            lua_pop(k->L, 1);
            return -1;
        }
        push_bulk_or_nil(k->L, &r);
        kv_result_release(&r);
        lua_rawseti(k->L, -2, (int)i);
    }
    return 0;
}

static int c_mset(struct call *k)
{
    if (k->argc % 2 == 0)
        return fail(k, "ERR wrong number of arguments for 'mset' command");
    for (size_t i = 1; i + 1 < k->argc; i += 2) {
        struct kv_command c;
        struct kv_result r;
        if (key_op(k, &c, KV_SET, i) != 0)
            return -1;
        if (kv_str_set(&c.arg[0], k->argv[i + 1], k->argl[i + 1]) != 0) {
            kv_command_release(&c);
            return fail(k, "ERR out of memory");
        }
        if (apply(k, &c, &r) != 0)
            return -1;
        kv_result_release(&r);
    }
    push_status(k->L, "OK", 2);
    return 0;
}

/* INCR DECR INCRBY DECRBY */
static int incr_by(struct call *k, int sign, bool has_arg)
{
    long long by = 1;
    if (has_arg && !arg_ll(k, 2, &by))
        return fail(k, NOT_INT);
    if (sign < 0 && by == LLONG_MIN)
        return fail(k, "ERR decrement would overflow");
    return int_op(k, KV_INCR, 0, sign < 0 ? -by : by);
}

static int c_incr(struct call *k)
{
    return incr_by(k, 1, false);
}

static int c_decr(struct call *k)
{
    return incr_by(k, -1, false);
}

static int c_incrby(struct call *k)
{
    return incr_by(k, 1, true);
}

static int c_decrby(struct call *k)
{
    return incr_by(k, -1, true);
}

static int c_append(struct call *k)
{
    struct kv_command c;
    struct kv_result r;
    if (key_op(k, &c, KV_APPEND, 1) != 0)
        return -1;
    if (kv_str_set(&c.arg[0], k->argv[2], k->argl[2]) != 0) {
        kv_command_release(&c);
        return fail(k, "ERR out of memory");
    }
    if (apply(k, &c, &r) != 0)
        return -1;
    lua_pushnumber(k->L, (lua_Number)r.num);
    kv_result_release(&r);
    return 0;
}

/* EXPIRE PEXPIRE EXPIREAT PEXPIREAT key t [NX|XX|GT|LT]: relative times
 * count from the entry's time. */
static int expire_cmd(struct call *k, const char *name, bool ms, bool at)
{
    uint32_t flags = 0;
    for (size_t i = 3; i < k->argc; i++) {
        uint32_t f = arg_is(k, i, "nx")   ? KV_EXPIRE_NX
                     : arg_is(k, i, "xx") ? KV_EXPIRE_XX
                     : arg_is(k, i, "gt") ? KV_EXPIRE_GT
                     : arg_is(k, i, "lt") ? KV_EXPIRE_LT
                                          : 0;
        if (!f) {
            snprintf(k->err, sizeof k->err, "ERR Unsupported option %.*s",
                     (int)(k->argl[i] > 128 ? 128 : k->argl[i]), k->argv[i]);
            return -1;
        }
        flags |= f;
    }
    if ((flags & KV_EXPIRE_NX) && (flags & (KV_EXPIRE_XX | KV_EXPIRE_GT | KV_EXPIRE_LT)))
        return fail(k, "ERR NX and XX, GT or LT options at the same time are not compatible");
    if ((flags & KV_EXPIRE_GT) && (flags & KV_EXPIRE_LT))
        return fail(k, "ERR GT and LT options at the same time are not compatible");
    long long when;
    if (!arg_ll(k, 2, &when))
        return fail(k, NOT_INT);
    long long base = at ? 0 : k->x->now;
    if ((!ms && (when > LLONG_MAX / 1000 || when < LLONG_MIN / 1000)) ||
        (when * (ms ? 1 : 1000) > LLONG_MAX - base)) {
        snprintf(k->err, sizeof k->err, "ERR invalid expire time in '%s' command", name);
        return -1;
    }
    return int_op(k, KV_EXPIRE, flags | (at ? 0 : KV_EXPIRE_IN), when * (ms ? 1 : 1000));
}

static int c_expire(struct call *k)
{
    return expire_cmd(k, "expire", false, false);
}

static int c_pexpire(struct call *k)
{
    return expire_cmd(k, "pexpire", true, false);
}

static int c_expireat(struct call *k)
{
    return expire_cmd(k, "expireat", false, true);
}

static int c_pexpireat(struct call *k)
{
    return expire_cmd(k, "pexpireat", true, true);
}

struct call_def {
    const char *name;
    int arity; /* Redis's: n exactly, -n at least */
    bool writes;
    int (*run)(struct call *k);
};

static const struct call_def calls[] = {
    {"get", 2, false, c_get},           {"set", -3, true, c_set},
    {"setnx", 3, true, c_setnx},        {"getset", 3, true, c_getset},
    {"getdel", 2, true, c_getdel},      {"del", -2, true, c_del},
    {"unlink", -2, true, c_del},        {"exists", -2, false, c_exists},
    {"mget", -2, false, c_mget},        {"mset", -3, true, c_mset},
    {"incr", 2, true, c_incr},          {"decr", 2, true, c_decr},
    {"incrby", 3, true, c_incrby},      {"decrby", 3, true, c_decrby},
    {"append", 3, true, c_append},      {"strlen", 2, false, c_strlen},
    {"expire", -3, true, c_expire},     {"pexpire", -3, true, c_pexpire},
    {"expireat", -3, true, c_expireat}, {"pexpireat", -3, true, c_pexpireat},
    {"ttl", 2, false, c_ttl},           {"pttl", 2, false, c_pttl},
    {"persist", 2, true, c_persist},    {"type", 2, false, c_type},
};

static const struct call_def *find_call(const char *name, size_t n)
{
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++)
        if (strlen(calls[i].name) == n && strncasecmp(calls[i].name, name, n) == 0)
            return &calls[i];
    return NULL;
}

/* Raise (redis.call) or return (redis.pcall) the error reply {err=msg}. */
static int error_out(lua_State *L, const char *msg, bool raise)
{
    lua_newtable(L);
    lua_pushstring(L, msg);
    lua_setfield(L, -2, "err");
    if (raise)
        return lua_error(L);
    return 1;
}

int kv_script_call(lua_State *L, bool raise)
{
    void *ud;
    lua_getallocf(L, &ud);
    struct call k = {.x = ud, .L = L, .argc = (size_t)lua_gettop(L)};
    if (k.argc == 0)
        return error_out(L, "ERR Please specify at least one argument for this redis lib call",
                         raise);
    /* The words as strings on the stack (numbers as Redis prints them),
     * in memory the Lua state owns, so an error leaks nothing. */
    k.argv = lua_newuserdata(L, k.argc * sizeof *k.argv);
    k.argl = lua_newuserdata(L, k.argc * sizeof *k.argl);
    for (size_t i = 0; i < k.argc; i++) {
        int idx = (int)i + 1;
        if (lua_type(L, idx) == LUA_TNUMBER) {
            char num[64];
            snprintf(num, sizeof num, "%.17g", (double)lua_tonumber(L, idx));
            lua_pushstring(L, num);
            lua_replace(L, idx);
        } else if (lua_type(L, idx) != LUA_TSTRING) {
            return error_out(L, "ERR Lua redis lib command arguments must be strings or integers",
                             raise);
        }
        k.argv[i] = lua_tolstring(L, idx, &k.argl[i]);
    }
    const struct call_def *d = find_call(k.argv[0], k.argl[0]);
    if (!d)
        return error_out(L, "ERR Unknown Redis command called from script", raise);
    if ((d->arity > 0 && k.argc != (size_t)d->arity) ||
        (d->arity < 0 && k.argc < (size_t)-d->arity))
        return error_out(L, "ERR Wrong number of args calling Redis command from script", raise);
    if (d->writes && k.x->ro)
        return error_out(L, "ERR Write commands are not allowed from read-only scripts.", raise);
    if (d->run(&k) != 0)
        return error_out(L, k.err, raise);
    return 1;
}
