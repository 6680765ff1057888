/* script_call.c - redis.call and redis.pcall inside a script: the Redis
 * commands a script may call are those of the shared argument parser's
 * table (command_args.h: the string, key and deadline commands), parsed
 * there exactly as the server parses them, applied as the store's own
 * operations (ops.h) at the entry's time, and the replies converted to Lua
 * by the command's reply shape, as Redis converts them
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

#include "kv/command_args.h"
#include "kv/ops.h"
#include "kv/script.h"

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

/* Record every key c may write, before it is applied. */
static int record_writes(struct script_run *x, const struct kv_command *c)
{
    if (kv_op_reads(c->op))
        return 0;
    if (c->op == KV_MULTI) {
        for (size_t i = 0; i < c->n_sub; i++)
            if (record_writes(x, &c->sub[i]) != 0)
                return -1;
        return 0;
    }
    if (c->op == KV_MSETNX) { /* arg[0]: key, value, key, value, ... */
        size_t pos = 0, n, i = 0;
        const uint8_t *f;
        while (kv_list_next(c->arg[0].p, c->arg[0].n, &pos, &f, &n))
            if (i++ % 2 == 0 && record(x, f, n) != 0)
                return -1;
        return 0;
    }
    if ((c->op == KV_RENAME || c->op == KV_COPY) && record(x, c->arg[0].p, c->arg[0].n) != 0)
        return -1; /* the new name */
    return record(x, c->skey.p, c->skey.n);
}

/* ---- running one command ---- */

static int fail(struct call *k, const char *msg)
{
    snprintf(k->err, sizeof k->err, "%s", msg);
    return -1;
}

/* The error text of r or of one of its sub-results, or NULL. */
static const char *result_error(const struct kv_result *r, char *buf, size_t cap)
{
    const char *e = kv_result_error_text(r, buf, cap);
    for (size_t i = 0; !e && i < r->n_sub; i++)
        e = kv_result_error_text(&r->sub[i], buf, cap);
    return e;
}

/* Apply p's operations, in order, into x->held (released by the next call
 * or at the script's end, so a Lua memory error while the results are
 * pushed leaks none of them): 0, or -1 with k->err set at the first that
 * answers an error (the rest are not applied). */
static int apply_all(struct call *k, struct kv_parsed *p)
{
    struct script_run *x = k->x;
    kv_script_held_free(x);
    x->held = calloc(p->n ? p->n : 1, sizeof *x->held);
    if (!x->held) {
        kv_parsed_release(p);
        return fail(k, "ERR out of memory");
    }
    int rc = 0;
    for (size_t i = 0; i < p->n; i++) {
        struct kv_command *c = &p->cmds[i];
        if (rc == 0 && record_writes(x, c) != 0) {
            x->undo_failed = true;
            rc = fail(k, "ERR out of memory");
        }
        if (rc == 0) {
            kv_apply(x->s, c, x->now, &x->held[i]);
            x->n_held = i + 1;
            if (result_error(&x->held[i], k->err, sizeof k->err))
                rc = -1;
        }
        kv_command_release(c);
    }
    kv_parsed_free_array(p);
    return rc;
}

void kv_script_held_free(struct script_run *x)
{
    for (size_t i = 0; i < x->n_held; i++)
        kv_result_release(&x->held[i]);
    free(x->held);
    x->held = NULL;
    x->n_held = 0;
}

static void push_bulk_or_nil(lua_State *L, const struct kv_result *r)
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

/* The results as Lua values, by the command's reply shape (as the server's
 * row's reply function writes them, converted as Redis converts replies):
 * 0, or -1 with k->err set for a reply that is an error. */
static int push_reply(struct call *k, enum kv_reply_shape shape, uint32_t flags)
{
    lua_State *L = k->L;
    const struct kv_result *r = k->x->held;
    int64_t v = r[0].num;
    switch (shape) {
    case KV_REPLY_GETEX:
        if (flags && r[0].code == KV_OK)
            return fail(k, flags == KV_ARGS_BAD_INT ? "ERR value is not an integer or out of range"
                                                    : "ERR invalid expire time in 'getex' command");
        push_bulk_or_nil(L, &r[0]);
        return 0;
    case KV_REPLY_VALUE:
        push_bulk_or_nil(L, &r[0]);
        return 0;
    case KV_REPLY_SET:
        if (flags & KV_SET_GET)
            push_bulk_or_nil(L, &r[0]);
        else if (v)
            push_status(L, "OK", 2);
        else
            lua_pushboolean(L, 0);
        return 0;
    case KV_REPLY_BOOL:
        v = v ? 1 : 0;
        break;
    case KV_REPLY_COUNT:
        v = 0;
        for (size_t i = 0; i < k->x->n_held; i++)
            v += r[i].num;
        break;
    case KV_REPLY_VALUES:
        lua_createtable(L, (int)k->x->n_held, 0);
        for (size_t i = 0; i < k->x->n_held; i++) {
            push_bulk_or_nil(L, &r[i]);
            lua_rawseti(L, -2, (int)i + 1);
        }
        return 0;
    case KV_REPLY_OK:
        push_status(L, "OK", 2);
        return 0;
    case KV_REPLY_TTL_SEC:
        if (v >= 0)
            v = (v + 500) / 1000;
        break;
    case KV_REPLY_TIME_SEC:
        if (v >= 0)
            v /= 1000;
        break;
    case KV_REPLY_TYPE:
        push_status(L, r[0].bytes ? (const char *)r[0].bytes : "none", r[0].bytes ? r[0].len : 4);
        return 0;
    case KV_REPLY_RENAME:
        if (r[0].code == KV_ERR_NO_KEY)
            return fail(k, "ERR no such key");
        if (!(flags & KV_RENAME_NX)) {
            push_status(L, "OK", 2);
            return 0;
        }
        break;
    case KV_REPLY_CAS:
        if (r[0].code == KV_ERR_NO_KEY) {
            lua_pushboolean(L, 0);
            return 0;
        }
        v = r[0].code == KV_OK ? 1 : 0;
        break;
    case KV_REPLY_NUM:
        break;
    }
    lua_pushnumber(L, (lua_Number)v);
    return 0;
}

/* One command of the shared parser's table (command_args.h): parsed as
 * the server parses it, applied at the entry's time, its reply pushed. */
static int run_command(struct call *k, const struct kv_args_def *d)
{
    struct kv_args a = {.argc = k->argc, .argv = (char *const *)k->argv, .argl = k->argl,
                        .now_ms = k->x->now, .err = k->err, .err_cap = sizeof k->err};
    struct kv_parsed p;
    if (kv_args_parse(d, &a, &p) != 0)
        return -1;
    uint32_t flags = p.reply_flags;
    if (apply_all(k, &p) != 0)
        return -1;
    uint64_t bytes = 0;
    for (size_t i = 0; i < k->x->n_held; i++)
        bytes += k->x->held[i].len;
    if (!kv_script_charge(k->x, bytes / KV_SCRIPT_BYTES_COST)) {
        kv_script_held_free(k->x);
        lua_pushstring(k->L, "script stopped");
        return lua_error(k->L);
    }
    int rc = push_reply(k, d->reply, flags);
    kv_script_held_free(k->x);
    return rc;
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
    const struct kv_args_def *d = kv_args_find(k.argv[0], k.argl[0]);
    if (!d)
        return error_out(L, "ERR Unknown Redis command called from script", raise);
    if (!kv_args_arity_ok(d, k.argc))
        return error_out(L, "ERR Wrong number of args calling Redis command from script", raise);
    if (d->writes && k.x->ro)
        return error_out(L, "ERR Write commands are not allowed from read-only scripts.", raise);
    /* The store's work counts against the budget: its arguments before it
     * runs, its reply's bytes after (run_command). */
    uint64_t cost = (uint64_t)k.argc * KV_SCRIPT_ARG_COST;
    for (size_t i = 0; i < k.argc; i++)
        cost += k.argl[i] / KV_SCRIPT_BYTES_COST;
    if (!kv_script_charge(k.x, cost)) {
        lua_pushstring(L, "script stopped");
        return lua_error(L);
    }
    if (run_command(&k, d) != 0)
        return error_out(L, k.err, raise);
    return 1;
}
