/* test_kv_script.c - Lua scripts in the state machine (src/kv/script_*.c,
 * ops_script.c): the Lua -> RESP conversion by Redis's rules, redis.call's
 * mapping and error texts, the sandbox, the instruction budget and memory
 * cap (a stopped script applies nothing), determinism (two stores applying
 * the same entries end equal, math.random included), the script cache,
 * and the result bytes surviving a proxied answer's encoding. */
#include <criterion/criterion.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv.h"
#include "kv_test_util.h"

static struct kv_store *store;

static void setup(void)
{
    store = kv_store_new();
    cr_assert_not_null(store);
}

static void teardown(void)
{
    kv_store_free(store);
}

TestSuite(kv_script, .init = setup, .fini = teardown);

/* A KV_EVAL entry: words[0..nkeys) keys, then arguments. */
static struct kv_command eval_cmd(const char *body, int nkeys, const char *const *words, int n,
                                  int64_t budget, uint32_t mem_kib, bool ro)
{
    struct kv_command c = {.op = KV_EVAL};
    cr_assert_eq(kv_str_set(&c.arg[0], body, strlen(body)), 0);
    char *p[16];
    size_t l[16];
    for (int i = 0; i < n; i++) {
        p[i] = (char *)words[i];
        l[i] = strlen(words[i]);
    }
    cr_assert_eq(kv_pack_fields(&c.arg[1], p, l, (size_t)n), 0);
    c.num[0] = nkeys;
    c.num[1] = budget;
    c.flags = (ro ? KV_EVAL_RO : 0) | mem_kib << 8;
    return c;
}

/* The RESP2 reply of a script run through its log entry at time `at`. */
static char *eval_at(struct kv_store *s, const char *body, int nkeys, const char *const *words,
                     int n, int64_t at)
{
    struct kv_result r = kt_logged(s, eval_cmd(body, nkeys, words, n, 1000000, 4096, false), at);
    cr_assert_eq(r.code, 0, "%s", r.text);
    cr_assert_not_null(r.bytes);
    char *out = strndup((const char *)r.bytes, r.len);
    kv_result_release(&r);
    return out;
}

static char *eval0(const char *body)
{
    return eval_at(store, body, 0, NULL, 0, 1000);
}

#define EXPECT_REPLY(body, want)                                                                 \
    do {                                                                                         \
        char *got_ = eval0(body);                                                                \
        cr_assert_str_eq(got_, want, "script %s", body);                                       \
        free(got_);                                                                              \
    } while (0)

Test(kv_script, lua_values_convert_to_resp_as_redis_does)
{
    EXPECT_REPLY("return 1", ":1\r\n");
    EXPECT_REPLY("return 3.99", ":3\r\n");
    EXPECT_REPLY("return -2.5", ":-2\r\n");
    EXPECT_REPLY("return 'hi'", "$2\r\nhi\r\n");
    EXPECT_REPLY("return true", ":1\r\n");
    EXPECT_REPLY("return false", "$-1\r\n");
    EXPECT_REPLY("return nil", "$-1\r\n");
    EXPECT_REPLY("return {ok='fine'}", "+fine\r\n");
    EXPECT_REPLY("return {err='My Error'}", "-My Error\r\n");
    EXPECT_REPLY("return {err='a\\r\\nb'}", "-a  b\r\n");
    EXPECT_REPLY("return redis.status_reply('S')", "+S\r\n");
    EXPECT_REPLY("return redis.error_reply('E x')", "-E x\r\n");
    /* arrays stop at the first nil; nested arrays, booleans inside */
    EXPECT_REPLY("return {1,2,{3,'x'},nil,5}", "*3\r\n:1\r\n:2\r\n*2\r\n:3\r\n$1\r\nx\r\n");
    EXPECT_REPLY("return {1,'a',false,true}", "*4\r\n:1\r\n$1\r\na\r\n$-1\r\n:1\r\n");
    EXPECT_REPLY("return {}", "*0\r\n");
    EXPECT_REPLY("local t = {} t[1] = t return 1", ":1\r\n");
}

Test(kv_script, keys_and_argv)
{
    const char *w[] = {"k1", "k2", "a1"};
    char *got = eval_at(store, "return {KEYS[1], KEYS[2], ARGV[1], #KEYS, #ARGV}", 2, w, 3, 1000);
    cr_assert_str_eq(got, "*5\r\n$2\r\nk1\r\n$2\r\nk2\r\n$2\r\na1\r\n:2\r\n:1\r\n");
    free(got);
}

Test(kv_script, redis_call_maps_to_the_store)
{
    const char *w[] = {"lock", "tok"};
    /* redis-py's lock(): acquire with SET NX PX, then release compares */
    char *got = eval_at(store, "return redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', 5000)", 1, w, 2, 1000);
    cr_assert_str_eq(got, "+OK\r\n");
    free(got);
    got = eval_at(store, "return redis.call('set', KEYS[1], ARGV[1], 'nx', 'px', 5000)", 1, w, 2, 1001);
    cr_assert_str_eq(got, "$-1\r\n");
    free(got);
    got = eval_at(store, "return redis.call('pttl', KEYS[1])", 1, w, 2, 2000);
    cr_assert_str_eq(got, ":4000\r\n");
    free(got);
    got = eval_at(store, "return redis.call('ttl', KEYS[1])", 1, w, 2, 2000);
    cr_assert_str_eq(got, ":4\r\n");
    free(got);
    const char *release = "local t = redis.call('get', KEYS[1]) "
                          "if not t or t ~= ARGV[1] then return 0 end "
                          "redis.call('del', KEYS[1]) return 1";
    const char *wrong[] = {"lock", "other"};
    got = eval_at(store, release, 1, wrong, 2, 2000);
    cr_assert_str_eq(got, ":0\r\n");
    free(got);
    got = eval_at(store, release, 1, w, 2, 2000);
    cr_assert_str_eq(got, ":1\r\n");
    free(got);
    got = eval_at(store, "return redis.call('exists', KEYS[1])", 1, w, 2, 2000);
    cr_assert_str_eq(got, ":0\r\n");
    free(got);
    /* the entry's time is the script's: the key expired at 6000 */
    got = eval_at(store, "redis.call('set', 'e', 'v', 'PX', 100) return redis.call('get', 'e')", 0, NULL, 0, 3000);
    cr_assert_str_eq(got, "$1\r\nv\r\n");
    free(got);
    got = eval_at(store, "return redis.call('get', 'e')", 0, NULL, 0, 3100);
    cr_assert_str_eq(got, "$-1\r\n");
    free(got);
    EXPECT_REPLY("redis.call('mset', 'a', '1', 'b', '2') return redis.call('mget', 'a', 'b', 'c')",
                 "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n");
    EXPECT_REPLY("return {redis.call('incrby', 'a', 41), redis.call('decr', 'a'), redis.call('append', 'b', 'xy')}",
                 "*3\r\n:42\r\n:41\r\n:3\r\n");
    EXPECT_REPLY("return redis.call('type', 'a')", "+string\r\n");
    EXPECT_REPLY("return redis.call('TYPE', 'zz')", "+none\r\n");
    EXPECT_REPLY("return redis.call('set', 'n', 7)", "+OK\r\n");
    EXPECT_REPLY("return redis.call('get', 'n')", "$1\r\n7\r\n");
    EXPECT_REPLY("return redis.call('set', 'f', 0.5)", "+OK\r\n");
    EXPECT_REPLY("return redis.call('get', 'f')", "$3\r\n0.5\r\n");
}

Test(kv_script, errors_as_redis_words_them)
{
    /* SHA1s are Redis's own for these bodies (compared by hand with
     * redis-server 7.0.15) */
    EXPECT_REPLY("return redis.call('nosuch')",
                 "-ERR Unknown Redis command called from script script: "
                 "206396248e12c6e742fd7296250433c8d7343b74, on @user_script:1.\r\n");
    EXPECT_REPLY("return redis.pcall('nosuch')", "-ERR Unknown Redis command called from script\r\n");
    EXPECT_REPLY("return redis.call('get')",
                 "-ERR Wrong number of args calling Redis command from script script: "
                 "f187dee77f607f7cff00bbabc9df38507582c78d, on @user_script:1.\r\n");
    EXPECT_REPLY("error('boom')", "-ERR user_script:1: boom script: "
                                  "82903a0434f1503e152f89c03c9acd881a0e8150, on @user_script:1.\r\n");
    EXPECT_REPLY("syntax error here",
                 "-ERR Error compiling script (new function): user_script:1: '=' expected near 'error'\r\n");
    char *got = eval0("redis.call('set', 's', 'abc')\nreturn redis.call('incr', 's')");
    cr_assert(strstr(got, "-ERR value is not an integer or out of range script: ") == got, "%s", got);
    cr_assert(strstr(got, "on @user_script:2.\r\n") != NULL, "%s", got);
    free(got);
    EXPECT_REPLY("return redis.pcall('incr', 's')", "-ERR value is not an integer or out of range\r\n");
    EXPECT_REPLY("return redis.pcall('set', 'z', 'v', 'bogus')", "-ERR syntax error\r\n");
    EXPECT_REPLY("return redis.pcall()", "-ERR Please specify at least one argument for this redis lib call\r\n");
    EXPECT_REPLY("return redis.pcall('get', {})", "-ERR Lua redis lib command arguments must be strings or integers\r\n");
    EXPECT_REPLY("return redis.pcall('expire', 'k', 10, 'nx', 'xx')",
                 "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n");
}

Test(kv_script, sandbox_has_no_io_os_or_loaders)
{
    const char *banned[] = {"os", "io", "loadstring", "dofile", "loadfile", "require", "print", "load"};
    for (size_t i = 0; i < sizeof banned / sizeof banned[0]; i++) {
        char body[64], want[128];
        snprintf(body, sizeof body, "return %s", banned[i]);
        snprintf(want, sizeof want, "Script attempted to access nonexistent global variable '%s'", banned[i]);
        char *got = eval0(body);
        cr_assert(strstr(got, want) != NULL, "%s: %s", banned[i], got);
        free(got);
    }
    char *got = eval0("x = 5");
    cr_assert(strstr(got, "Attempt to modify a readonly table") != NULL, "%s", got);
    free(got);
    EXPECT_REPLY("return string.dump", "$-1\r\n");
    EXPECT_REPLY("return tostring({})", "$5\r\ntable\r\n");
    EXPECT_REPLY("return {string.format('%d', 7), table.concat({'a','b'}), math.floor(2.5)}",
                 "*3\r\n$1\r\n7\r\n$2\r\nab\r\n:2\r\n");
}

Test(kv_script, read_only_scripts_refuse_writes)
{
    struct kv_result r = kt_logged(store, eval_cmd("return redis.call('set', 'a', 'b')", 0, NULL, 0, 100000, 4096, true), 1000);
    cr_assert_eq(r.code, 0);
    cr_assert(strstr((const char *)r.bytes, "-ERR Write commands are not allowed from read-only scripts.") ==
              (const char *)r.bytes);
    kv_result_release(&r);
    cr_assert_eq(kv_store_size(store), 0);
    r = kt_logged(store, eval_cmd("return redis.call('get', 'a')", 0, NULL, 0, 100000, 4096, true), 1000);
    cr_assert_eq(r.len, 5);
    kv_result_release(&r);
}

/* A script stopped by its budget applies nothing, even writes made
 * before, and a pcall inside cannot catch its way past the limit. */
Test(kv_script, budget_stops_the_script_and_undoes_its_writes)
{
    struct kv_result r = kt_logged(store, kt_cmd(KV_SET, "keep", "old", 0, 0), 500);
    kv_result_release(&r);
    /* WATCH's view: an absent key's version is minus the write counter */
    int64_t absent_before = kt_r(store, kt_cmd(KV_VERSION, "never", NULL, 0, 0), 1000);
    int64_t keep_before = kt_r(store, kt_cmd(KV_VERSION, "keep", NULL, 0, 0), 1000);
    const char *body = "redis.call('set', 'keep', 'new') redis.call('set', 'fresh', '1') "
                       "redis.call('del', 'keep') "
                       "pcall(function() while true do end end) "
                       "redis.call('set', 'escaped', '1') return 'escaped'";
    r = kt_logged(store, eval_cmd(body, 0, NULL, 0, 5000, 4096, false), 1000);
    cr_assert_eq(r.code, 0);
    cr_assert(strstr((const char *)r.bytes, "-ERR script stopped after 5000 instructions") == (const char *)r.bytes,
              "%.*s", (int)r.len, r.bytes);
    kv_result_release(&r);
    cr_assert_eq(kv_store_size(store), 1);
    r = kt_read(store, kt_cmd(KV_GET, "keep", NULL, 0, 0), 1000);
    cr_assert_eq(r.len, 3);
    cr_assert_eq(memcmp(r.bytes, "old", 3), 0);
    kv_result_release(&r);
    cr_assert_eq(kt_r(store, kt_cmd(KV_VERSION, "never", NULL, 0, 0), 1000), absent_before);
    cr_assert_eq(kt_r(store, kt_cmd(KV_VERSION, "keep", NULL, 0, 0), 1000), keep_before);
    /* under the budget the same writes stay */
    r = kt_logged(store, eval_cmd("redis.call('set', 'keep', 'new') return 1", 0, NULL, 0, 5000, 4096, false), 1000);
    kv_result_release(&r);
    r = kt_read(store, kt_cmd(KV_GET, "keep", NULL, 0, 0), 1000);
    cr_assert_eq(memcmp(r.bytes, "new", 3), 0);
    kv_result_release(&r);
}

/* The budget bounds the store's work too: each redis.call costs 100
 * instructions an argument and one per 16 bytes of its arguments and
 * reply, so a few Lua instructions calling MGET of 1000 keys in a loop
 * are stopped (an event-loop stall of seconds otherwise, on every member). */
Test(kv_script, budget_counts_the_store_work_of_redis_call)
{
    const char *mget = "redis.call('set', 'before', '1') "
                       "local k = {} for i = 1, 1000 do k[i] = 'k' .. i end "
                       "for j = 1, 100 do redis.call('mget', unpack(k)) end return 'done'";
    struct kv_result r = kt_logged(store, eval_cmd(mget, 0, NULL, 0, 1000000, 4096, false), 1000);
    cr_assert_eq(r.code, 0);
    cr_assert(strstr((const char *)r.bytes, "-ERR script stopped after 1000000 instructions") == (const char *)r.bytes,
              "%.*s", (int)r.len, r.bytes);
    kv_result_release(&r);
    cr_assert_eq(kv_store_size(store), 0, "the script's write undone");
    /* 9 such calls fit (1001 arguments: 100100 each) */
    char *got = eval0("local k = {} for i = 1, 1000 do k[i] = 'k' .. i end "
                      "for j = 1, 9 do redis.call('mget', unpack(k)) end return 'done'");
    cr_assert_str_eq(got, "$4\r\ndone\r\n");
    free(got);
    /* a reply's bytes: 200 GETs of a 100 KiB value, 6600 each with its 2 arguments */
    const char *big = "redis.call('set', 'big', string.rep('x', 102400)) "
                      "for j = 1, 200 do redis.call('get', 'big') end return 'done'";
    r = kt_logged(store, eval_cmd(big, 0, NULL, 0, 1000000, 4096, false), 1000);
    cr_assert(strstr((const char *)r.bytes, "-ERR script stopped after 1000000 instructions") == (const char *)r.bytes,
              "%.*s", (int)r.len, r.bytes);
    kv_result_release(&r);
    got = eval0("redis.call('set', 'big', string.rep('x', 102400)) "
                "for j = 1, 100 do redis.call('get', 'big') end return 'done'");
    cr_assert_str_eq(got, "$4\r\ndone\r\n", "100 GETs of it fit");
    free(got);
    /* Lua's own instructions still count exactly between the calls */
    r = kt_logged(store, eval_cmd("local i = 0 while i < 10000 do i = i + 1 end return i", 0, NULL, 0, 20000, 4096, false),
                  1000);
    cr_assert(strstr((const char *)r.bytes, "-ERR script stopped after 20000 instructions") == (const char *)r.bytes,
              "%.*s", (int)r.len, r.bytes);
    kv_result_release(&r);
    r = kt_logged(store, eval_cmd("local i = 0 while i < 1000 do i = i + 1 end return i", 0, NULL, 0, 20000, 4096, false),
                  1000);
    cr_assert(r.len == 7 && memcmp(r.bytes, ":1000\r\n", 7) == 0, "%.*s", (int)r.len, r.bytes);
    kv_result_release(&r);
}

Test(kv_script, memory_cap_stops_the_script_and_undoes_its_writes)
{
    const char *body = "redis.call('set', 'gone', '1') local t = {} "
                       "for i = 1, 1e7 do t[i] = string.rep('x', 100) .. i end return #t";
    struct kv_result r = kt_logged(store, eval_cmd(body, 0, NULL, 0, 1000000000, 1024, false), 1000);
    cr_assert(strstr((const char *)r.bytes, "-ERR script ran out of its 1024 KiB of memory") == (const char *)r.bytes,
              "%.*s", (int)r.len, r.bytes);
    kv_result_release(&r);
    cr_assert_eq(kv_store_size(store), 0);
}

/* Bytes malloc holds for the program (0 under ASan, whose LeakSanitizer
 * checks instead). */
static size_t heap_in_use(void)
{
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

/* A script that reaches its cap while a redis.call result becomes a Lua
 * string: the result (the store's copy of the value) is freed with the
 * run, not leaked (LeakSanitizer fails this test in the ASan build if it
 * is). Each GET's value is longer than the last, so the allocation that
 * crosses the cap is, almost always, the pushed result. */
Test(kv_script, memory_cap_hit_while_a_result_is_pushed_leaks_nothing)
{
    const char *body = "redis.call('set', 'k', string.rep('x', 8192)) local keep = {} "
                       "local y = string.rep('y', 8192) "
                       "for i = 1, 1e6 do redis.call('append', 'k', y) keep[i] = redis.call('get', 'k') end "
                       "return #keep";
    size_t before = 0;
    for (int round = 0; round < 5; round++) {
        if (round == 1) /* after a first run has cached the body */
            before = heap_in_use();
        struct kv_result r = kt_logged(store, eval_cmd(body, 0, NULL, 0, 1000000000, 1024, false), 1000);
        cr_assert(strstr((const char *)r.bytes, "-ERR script ran out of its 1024 KiB of memory") == (const char *)r.bytes,
                  "%.*s", (int)r.len, r.bytes);
        kv_result_release(&r);
        cr_assert_eq(kv_store_size(store), 0);
    }
    /* Each leaked result would be a value of about 128 KiB. */
    size_t after = heap_in_use();
    cr_assert_leq(after, before + 64 * 1024, "heap grew by %zu bytes over 4 runs", after - before);
}

/* Two members applying the same entries (with random numbers, a budget
 * hit and expiry) end in the same state and answer the same. */
Test(kv_script, two_stores_applying_the_same_entries_agree)
{
    struct kv_store *other = kv_store_new();
    const char *bodies[] = {
        "for i = 1, 20 do redis.call('set', 'r' .. i, math.random(1000000)) end return math.random(10)",
        "redis.call('set', 'x', 'v', 'PX', 50) return redis.call('pttl', 'x')",
        "redis.call('incr', 'c') while true do end",
        "local n = 0 for k, v in pairs({a=1, b=2, c=3, d=4}) do n = n * 10 + v redis.call('append', 'order', k) end return n",
        "return redis.call('incr', 'c')",
    };
    char *first[5];
    for (int i = 0; i < 5; i++) {
        first[i] = eval_at(store, bodies[i], 0, NULL, 0, 1000 + i);
        char *again = eval_at(other, bodies[i], 0, NULL, 0, 1000 + i);
        cr_assert_str_eq(first[i], again);
        free(again);
    }
    cr_assert(kv_store_equal(store, other));
    cr_assert_str_eq(first[4], ":1\r\n"); /* the stopped script's incr was undone */
    /* math.random is seeded alike before every script (as srand48(0)) */
    char *again = eval_at(store, bodies[0], 0, NULL, 0, 2000);
    cr_assert_str_eq(again, first[0]);
    free(again);
    EXPECT_REPLY("return math.random(100)", ":18\r\n"); /* lrand48's first after srand48(0) */
    for (int i = 0; i < 5; i++)
        free(first[i]);
    kv_store_free(other);
}

Test(kv_script, the_cache_fills_on_apply_and_flushes)
{
    struct kv_result r = kt_logged(store, kt_cmd(KV_SCRIPT_FLUSH, NULL, NULL, 0, 0), 1000);
    kv_result_release(&r);
    cr_assert_null(kv_script_lookup("2f31ba2bb6d6a0f42cc159d2e2dad55440778de3", 40));
    r = kt_logged(store, kt_cmd(KV_SCRIPT_LOAD, NULL, "return 'hi'", 0, 0), 1000);
    cr_assert_eq(r.len, 40);
    cr_assert_eq(memcmp(r.bytes, "2f31ba2bb6d6a0f42cc159d2e2dad55440778de3", 40), 0);
    kv_result_release(&r);
    const struct kv_str *b = kv_script_lookup("2F31BA2BB6D6A0F42CC159D2E2DAD55440778DE3", 40);
    cr_assert_not_null(b);
    cr_assert_eq(b->n, 11);
    /* a body that does not compile is refused and not cached */
    r = kt_logged(store, kt_cmd(KV_SCRIPT_LOAD, NULL, "return (", 0, 0), 1000);
    cr_assert(strncmp((const char *)r.bytes, "-ERR Error compiling script (new function): ", 44) == 0);
    kv_result_release(&r);
    char sha[41];
    kv_script_sha1("return (", 8, sha);
    cr_assert_null(kv_script_lookup(sha, 40));
    /* EVAL caches too; the bound drops the oldest first */
    char *got = eval0("return 2");
    free(got);
    kv_script_sha1("return 2", 8, sha);
    cr_assert_not_null(kv_script_lookup(sha, 40));
    kv_script_cache_limit(1);
    cr_assert_null(kv_script_lookup("2f31ba2bb6d6a0f42cc159d2e2dad55440778de3", 40));
    cr_assert_not_null(kv_script_lookup(sha, 40));
    kv_script_cache_limit(1000);
    r = kt_logged(store, kt_cmd(KV_SCRIPT_FLUSH, NULL, NULL, 0, 0), 1000);
    kv_result_release(&r);
    cr_assert_null(kv_script_lookup(sha, 40));
}

/* The reply travels between members as a result's bytes. */
Test(kv_script, result_round_trips_through_the_proxy_encoding)
{
    struct kv_result r = kt_logged(store, eval_cmd("return {1, {2, {ok='S'}}, {err='E'}, 'x'}", 0, NULL, 0, 100000, 4096, false), 1000);
    uint8_t *data;
    size_t len;
    cr_assert_eq(kv_result_encode(&r, &data, &len), 0);
    struct kv_result back;
    cr_assert_eq(kv_result_decode(data, len, &back), 0);
    cr_assert_eq(back.len, r.len);
    cr_assert_eq(memcmp(back.bytes, "*4\r\n:1\r\n*2\r\n:2\r\n+S\r\n-E\r\n$1\r\nx\r\n", back.len), 0);
    free(data);
    kv_result_release(&back);
    kv_result_release(&r);
}

/* A malformed entry (no budget, negative numkeys) is refused alike. */
Test(kv_script, malformed_entries_are_refused)
{
    struct kv_result r = kt_logged(store, eval_cmd("return 1", 0, NULL, 0, 0, 4096, false), 1000);
    cr_assert_eq(r.code, 12);
    kv_result_release(&r);
    r = kt_logged(store, eval_cmd("return 1", -1, NULL, 0, 1000, 4096, false), 1000);
    cr_assert_eq(r.code, 12);
    kv_result_release(&r);
}
