/* script_lua.c - one run of a Lua script in the state machine: a fresh Lua
 * 5.1 state per run with Redis's sandbox (the base, table, string and math
 * libraries; no io, os, load*, require, print; reading an undefined global
 * or writing any is an error), KEYS and ARGV, the redis.* library, the
 * limits (an instruction budget through a count hook, a memory cap through
 * the allocator) and the conversion of the script's value to a RESP2 reply
 * by Redis's rules. Everything a member does here depends only on the
 * entry and the store, so every member computes the same reply and writes:
 * math.random is a fixed-seed generator (lrand48's recurrence, seeded 0
 * before each script, as Redis does), tostring of a table or function
 * shows no address, and the budget and cap come from the entry. */
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/ops.h"
#include "kv/script.h"

#define RUN_KEY "raftkv.run"

static struct script_run *run_of(lua_State *L)
{
    void *ud;
    lua_getallocf(L, &ud);
    return ud;
}

/* ---- limits ---- */

static void hook(lua_State *L, lua_Debug *ar);

static void *alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct script_run *x = ud;
    if (nsize == 0) {
        free(ptr);
        x->mem -= osize;
        return NULL;
    }
    if (nsize > osize && x->mem - osize + nsize > x->mem_cap) {
        /* Refused from now on until the script is out: a pcall in the
         * script cannot catch its way past the cap (see hook). */
        x->over_memory = true;
        if (x->L)
            lua_sethook(x->L, hook, LUA_MASKCOUNT, 1);
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (p)
        x->mem = x->mem - osize + nsize;
    return p;
}

/* The count hook's next call: after SCRIPT_HOOK_STEP instructions, or
 * what is left of the budget. */
#define SCRIPT_HOOK_STEP 1000

static void arm(struct script_run *x)
{
    int64_t left = x->budget - x->spent;
    x->step = left < SCRIPT_HOOK_STEP ? (int)left : SCRIPT_HOOK_STEP;
    lua_sethook(x->L, hook, LUA_MASKCOUNT, x->step);
}

bool kv_script_charge(struct script_run *x, uint64_t cost)
{
    if (x->over_budget)
        return false;
    if (cost < (uint64_t)(x->budget - x->spent)) {
        x->spent += (int64_t)cost; /* the hook's step goes on: at most a step past the budget */
        return true;
    }
    x->spent = x->budget;
    x->over_budget = true;
    lua_sethook(x->L, hook, LUA_MASKCOUNT, 1);
    return false;
}

/* Called every step of the budget (instructions counted in x->spent);
 * once the budget or the memory is spent, at every instruction, raising
 * each time: a pcall inside the script catches one error but the next
 * instruction raises again, so the error reaches the top. */
static void hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    struct script_run *x = run_of(L);
    if (!x->over_memory && !x->over_budget) {
        x->spent += x->step;
        if (x->spent < x->budget) {
            arm(x);
            return;
        }
        x->over_budget = true;
    }
    lua_sethook(L, hook, LUA_MASKCOUNT, 1);
    lua_pushstring(L, "script stopped");
    lua_error(L);
}

/* ---- the sandbox ---- */

/* lrand48's recurrence (POSIX: X' = (aX + c) mod 2^48, the top 31 bits),
 * seeded as srand48(0): the same numbers on every member, whatever else
 * the process draws. */
#define RAND_A 0x5DEECE66DULL
#define RAND_C 0xBULL
#define RAND_MAX31 2147483647

static uint64_t *rand_state(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, "raftkv.rand");
    uint64_t *p = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return p;
}

static int32_t rand_next(lua_State *L)
{
    uint64_t *x = rand_state(L);
    *x = (RAND_A * *x + RAND_C) & ((1ULL << 48) - 1);
    return (int32_t)(*x >> 17);
}

static void rand_seed(lua_State *L, int32_t seed)
{
    *rand_state(L) = ((uint64_t)(uint32_t)seed << 16) | 0x330E;
}

/* math.random as Lua 5.1's, over the generator above. */
static int l_random(lua_State *L)
{
    lua_Number r = (lua_Number)(rand_next(L) % RAND_MAX31) / (lua_Number)RAND_MAX31;
    switch (lua_gettop(L)) {
    case 0:
        lua_pushnumber(L, r);
        break;
    case 1: {
        int u = luaL_checkint(L, 1);
        luaL_argcheck(L, 1 <= u, 1, "interval is empty");
        lua_pushnumber(L, (lua_Number)(int)(r * u) + 1);
        break;
    }
    case 2: {
        int l = luaL_checkint(L, 1), u = luaL_checkint(L, 2);
        luaL_argcheck(L, l <= u, 2, "interval is empty");
        lua_pushnumber(L, (lua_Number)(int)(r * (u - l + 1)) + l);
        break;
    }
    default:
        return luaL_error(L, "wrong number of arguments");
    }
    return 1;
}

static int l_randomseed(lua_State *L)
{
    rand_seed(L, (int32_t)luaL_checkint(L, 1));
    return 0;
}

/* tostring without addresses (they differ between members). */
static int l_tostring(lua_State *L)
{
    luaL_checkany(L, 1);
    if (luaL_callmeta(L, 1, "__tostring"))
        return 1;
    switch (lua_type(L, 1)) {
    case LUA_TNUMBER:
    case LUA_TSTRING:
        lua_pushvalue(L, 1);
        lua_pushstring(L, lua_tostring(L, -1));
        return 1;
    case LUA_TBOOLEAN:
        lua_pushstring(L, lua_toboolean(L, 1) ? "true" : "false");
        return 1;
    case LUA_TNIL:
        lua_pushliteral(L, "nil");
        return 1;
    default:
        lua_pushstring(L, luaL_typename(L, 1));
        return 1;
    }
}

static int l_call(lua_State *L)
{
    return kv_script_call(L, true);
}

static int l_pcall(lua_State *L)
{
    return kv_script_call(L, false);
}

static int reply_table(lua_State *L, const char *field)
{
    luaL_checkstring(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, field);
    return 1;
}

static int l_error_reply(lua_State *L)
{
    return reply_table(L, "err");
}

static int l_status_reply(lua_State *L)
{
    return reply_table(L, "ok");
}

static int l_sha1hex(lua_State *L)
{
    size_t n;
    const char *p = luaL_checklstring(L, 1, &n);
    char hex[41];
    kv_script_sha1(p, n, hex);
    lua_pushstring(L, hex);
    return 1;
}

static int l_nothing(lua_State *L)
{
    (void)L;
    return 0;
}

static int l_true(lua_State *L)
{
    lua_pushboolean(L, 1);
    return 1;
}

static int l_global_index(lua_State *L)
{
    return luaL_error(L, "Script attempted to access nonexistent global variable '%s'",
                      luaL_optstring(L, 2, "?"));
}

static int l_global_newindex(lua_State *L)
{
    return luaL_error(L, "Attempt to modify a readonly table");
}

static void open_lib(lua_State *L, lua_CFunction f, const char *name)
{
    lua_pushcfunction(L, f);
    lua_pushstring(L, name);
    lua_call(L, 1, 0);
}

static void set_fn(lua_State *L, const char *name, lua_CFunction f)
{
    lua_pushcfunction(L, f);
    lua_setfield(L, -2, name);
}

static void set_int(lua_State *L, const char *name, int v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, name);
}

static void push_strings(lua_State *L, const struct kv_str *packed, int64_t skip, int64_t count)
{
    lua_newtable(L);
    const uint8_t *at = packed->p, *end = packed->p + packed->n;
    int64_t i = 0;
    while (end - at >= 4) {
        uint32_t n = (uint32_t)at[0] | (uint32_t)at[1] << 8 | (uint32_t)at[2] << 16 |
                     (uint32_t)at[3] << 24;
        if ((size_t)(end - at - 4) < n)
            break;
        if (i >= skip && i < skip + count) {
            lua_pushlstring(L, (const char *)at + 4, n);
            lua_rawseti(L, -2, (int)(i - skip + 1));
        }
        at += 4 + n;
        i++;
    }
}

/* Everything the script sees; runs protected (memory may run out). */
static int setup(lua_State *L)
{
    const struct kv_command *c = lua_touserdata(L, 1);
    open_lib(L, luaopen_base, "");
    open_lib(L, luaopen_table, LUA_TABLIBNAME);
    open_lib(L, luaopen_string, LUA_STRLIBNAME);
    open_lib(L, luaopen_math, LUA_MATHLIBNAME);
    static const char *const unsafe[] = {"dofile", "loadfile", "load", "loadstring", "require",
                                         "module", "print", "collectgarbage", "gcinfo",
                                         "newproxy", "getfenv", "setfenv", NULL};
    for (int i = 0; unsafe[i]; i++) {
        lua_pushnil(L);
        lua_setglobal(L, unsafe[i]);
    }
    lua_pushcfunction(L, l_tostring);
    lua_setglobal(L, "tostring");
    lua_getglobal(L, LUA_STRLIBNAME);
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
    lua_newuserdata(L, sizeof(uint64_t));
    lua_setfield(L, LUA_REGISTRYINDEX, "raftkv.rand");
    rand_seed(L, 0);
    lua_getglobal(L, LUA_MATHLIBNAME);
    set_fn(L, "random", l_random);
    set_fn(L, "randomseed", l_randomseed);
    lua_pop(L, 1);

    lua_newtable(L);
    set_fn(L, "call", l_call);
    set_fn(L, "pcall", l_pcall);
    set_fn(L, "error_reply", l_error_reply);
    set_fn(L, "status_reply", l_status_reply);
    set_fn(L, "sha1hex", l_sha1hex);
    set_fn(L, "log", l_nothing);
    set_fn(L, "set_repl", l_nothing);
    set_fn(L, "replicate_commands", l_true);
    set_int(L, "LOG_DEBUG", 0);
    set_int(L, "LOG_VERBOSE", 1);
    set_int(L, "LOG_NOTICE", 2);
    set_int(L, "LOG_WARNING", 3);
    set_int(L, "REPL_NONE", 0);
    set_int(L, "REPL_AOF", 1);
    set_int(L, "REPL_SLAVE", 2);
    set_int(L, "REPL_REPLICA", 2);
    set_int(L, "REPL_ALL", 3);
    lua_setglobal(L, "redis");

    int64_t nkeys = c->num[0];
    push_strings(L, &c->arg[1], 0, nkeys);
    lua_setglobal(L, "KEYS");
    push_strings(L, &c->arg[1], nkeys, INT32_MAX);
    lua_setglobal(L, "ARGV");

    /* Globals are read-only from here on, and reading an undefined one
     * is an error, as in Redis. */
    lua_pushvalue(L, LUA_GLOBALSINDEX);
    lua_newtable(L);
    lua_pushcfunction(L, l_global_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_global_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_setmetatable(L, -2);
    lua_pop(L, 1);
    return 0;
}

/* ---- errors ---- */

/* The message handler: an error as Redis 7.0 words it, with the line of
 * the script it happened at. A string error gets "ERR " in front; an
 * error reply raised by redis.call ({err=...}) keeps its own code. */
static int on_error(lua_State *L)
{
    struct script_run *x = run_of(L);
    int line = 0;
    lua_Debug ar;
    for (int level = 1; lua_getstack(L, level, &ar); level++) {
        if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
            line = ar.currentline;
            break;
        }
    }
    const char *msg = NULL;
    bool has_code = false;
    if (lua_type(L, 1) == LUA_TTABLE) {
        lua_getfield(L, 1, "err");
        msg = lua_tostring(L, -1);
        has_code = true;
    } else {
        msg = lua_tostring(L, 1);
    }
    if (!msg)
        msg = "unknown error";
    lua_pushfstring(L, "%s%s script: %s, on @user_script:%d.", has_code ? "" : "ERR ", msg,
                    x->sha, line);
    return 1;
}

/* ---- the reply: Lua -> RESP2, by Redis's rules ---- */

static void put_line(struct kv_text *t, char kind, const char *s, size_t n)
{
    kv_text_put(t, &kind, 1);
    for (size_t i = 0; i < n; i++) {
        char ch = s[i] == '\r' || s[i] == '\n' ? ' ' : s[i];
        kv_text_put(t, &ch, 1);
    }
    kv_text_put(t, "\r\n", 2);
}

static void put_int(struct kv_text *t, long long v)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, ":%lld\r\n", v);
    kv_text_put(t, buf, (size_t)n);
}

#define DEPTH_MAX 1000

/* The value at the top of the stack (raw access only: no metamethod runs). */
static void to_resp(lua_State *L, struct kv_text *t, int depth)
{
    if (t->err || t->len > KV_SCRIPT_REPLY_MAX) {
        t->err = 1;
        return;
    }
    switch (lua_type(L, -1)) {
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, -1, &n);
        char head[32];
        int h = snprintf(head, sizeof head, "$%zu\r\n", n);
        kv_text_put(t, head, (size_t)h);
        kv_text_put(t, s, n);
        kv_text_put(t, "\r\n", 2);
        return;
    }
    case LUA_TBOOLEAN:
        if (lua_toboolean(L, -1))
            put_int(t, 1);
        else
            kv_text_put(t, "$-1\r\n", 5);
        return;
    case LUA_TNUMBER:
        put_int(t, (long long)lua_tonumber(L, -1));
        return;
    case LUA_TTABLE:
        break;
    default:
        kv_text_put(t, "$-1\r\n", 5);
        return;
    }
    if (depth >= DEPTH_MAX || !lua_checkstack(L, 4)) {
        put_line(t, '-', "ERR reached lua stack limit", 27);
        return;
    }
    lua_pushliteral(L, "err");
    lua_rawget(L, -2);
    if (lua_type(L, -1) == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, -1, &n);
        put_line(t, '-', s, n);
        lua_pop(L, 1);
        return;
    }
    lua_pop(L, 1);
    lua_pushliteral(L, "ok");
    lua_rawget(L, -2);
    if (lua_type(L, -1) == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, -1, &n);
        put_line(t, '+', s, n);
        lua_pop(L, 1);
        return;
    }
    lua_pop(L, 1);
    /* An array up to its first nil; the count goes in front. */
    size_t count = 0;
    for (;; count++) {
        lua_rawgeti(L, -1, (int)count + 1);
        bool nil = lua_isnil(L, -1);
        lua_pop(L, 1);
        if (nil || count >= INT32_MAX - 1)
            break;
    }
    char head[32];
    int h = snprintf(head, sizeof head, "*%zu\r\n", count);
    kv_text_put(t, head, (size_t)h);
    for (size_t i = 0; i < count && !t->err; i++) {
        lua_rawgeti(L, -1, (int)i + 1);
        to_resp(L, t, depth + 1);
        lua_pop(L, 1);
    }
}

static void reply_error(struct kv_result *r, const char *msg)
{
    struct kv_text t = {0};
    put_line(&t, '-', msg, strlen(msg));
    if (!t.err)
        kv_res_bytes(r, t.p, t.len);
    else
        kv_res(r, KV_ERR_MALFORMED, "out of memory");
    free(t.p);
}

/* ---- a run ---- */

const char *kv_script_check(const void *body, size_t n, char *buf, size_t cap)
{
    lua_State *L = luaL_newstate();
    if (!L) {
        snprintf(buf, cap, "ERR out of memory");
        return buf;
    }
    const char *res = NULL;
    if (luaL_loadbuffer(L, body, n, "@user_script") != 0) {
        snprintf(buf, cap, "ERR Error compiling script (new function): %s",
                 lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
        res = buf;
    }
    lua_close(L);
    return res;
}

void kv_script_run(struct kv_store *s, const struct kv_command *c, int64_t now,
                   struct kv_result *r)
{
    struct script_run x = {.s = s, .now = now, .ro = c->flags & KV_EVAL_RO};
    x.mem_cap = (size_t)KV_EVAL_MEM_KIB(c->flags) * 1024;
    x.budget = c->num[1];
    x.version0 = s->version;
    kv_script_sha1(c->arg[0].p, c->arg[0].n, x.sha);
    if (c->num[0] < 0 || x.budget <= 0 || x.budget > INT32_MAX || x.mem_cap == 0) {
        kv_res(r, KV_ERR_MALFORMED, "malformed script entry");
        return;
    }
    lua_State *L = lua_newstate(alloc, &x);
    if (!L) {
        reply_error(r, "ERR script memory cap too small for a Lua state");
        return;
    }
    x.L = L;
    char err[300];
    const char *fail = NULL;
    lua_pushcfunction(L, on_error);
    int handler = lua_gettop(L);
    lua_pushcfunction(L, setup);
    lua_pushlightuserdata(L, (void *)c);
    if (lua_pcall(L, 1, 0, 0) != 0) {
        snprintf(err, sizeof err, "ERR script sandbox: %s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "out of memory");
        fail = err;
    } else if (luaL_loadbuffer(L, (const char *)c->arg[0].p, c->arg[0].n, "@user_script") != 0) {
        snprintf(err, sizeof err, "ERR Error compiling script (new function): %s",
                 lua_tostring(L, -1) ? lua_tostring(L, -1) : "out of memory");
        fail = err;
        /* the front end that proposed it may have cached it already */
        kv_script_forget(x.sha);
        /* An EVALSHA found it there (its EVAL, relayed by the leader, was
         * answered before this member applied it): Redis caches only what
         * compiles, so its answer is NOSCRIPT. */
        if ((c->flags & KV_EVAL_SHA) && !x.over_memory)
            fail = "NOSCRIPT No matching script. Please use EVAL.";
    }
    if (!fail) {
        kv_script_remember(c->arg[0].p, c->arg[0].n);
        kv_script_tx_loaded(s, x.sha, c->arg[0].p, c->arg[0].n);
    }
    bool compiled = !fail;
    struct kv_text t = {0};
    if (!fail) {
        arm(&x);
        int rc = lua_pcall(L, 0, 1, handler);
        lua_sethook(L, NULL, 0, 0);
        /* The conversion below runs unprotected: it must not meet the
         * cap (the script is over; what it holds is bounded by it). */
        x.mem_cap = SIZE_MAX;
        if (x.over_budget) {
            snprintf(err, sizeof err,
                     "ERR script stopped after %lld instructions (script-max-instructions); "
                     "nothing was applied script: %s",
                     (long long)x.budget, x.sha);
            fail = err;
        } else if (x.over_memory) {
            snprintf(err, sizeof err,
                     "ERR script ran out of its %zu KiB of memory (script-max-memory); nothing "
                     "was applied script: %s",
                     (size_t)KV_EVAL_MEM_KIB(c->flags), x.sha);
            fail = err;
        } else if (x.undo_failed) {
            fail = "ERR out of memory";
        } else if (rc != 0) {
            size_t n;
            const char *m = lua_tolstring(L, -1, &n);
            put_line(&t, '-', m ? m : "ERR script error", m ? n : 16);
        } else {
            to_resp(L, &t, 0);
            if (t.err) {
                fail = "ERR script reply too large or out of memory; nothing was applied";
                free(t.p);
                t = (struct kv_text){0};
            }
        }
    }
    if (fail && x.n_undo)
        kv_script_undo(&x);
    kv_script_undo_free(&x);
    kv_script_held_free(&x);
    lua_close(L);
    if (fail) {
        free(t.p);
        reply_error(r, fail);
        if (!compiled)
            r->num = -1;
        return;
    }
    if (t.err)
        kv_res(r, KV_ERR_MALFORMED, "out of memory");
    else
        kv_res_bytes(r, t.p, t.len);
    free(t.p);
}
