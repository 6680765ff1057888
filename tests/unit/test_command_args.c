/* test_command_args.c - the one parser of the data commands' arguments
 * (src/kv/command_args.c): its error texts (redis-server 7.0.15's, as
 * literals), the operations it makes, its table against the server's
 * command table, and each command family answering the same through a
 * client (the server's dispatcher) and through a script's redis.pcall. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/command_args.h"
#include "kv_test_util.h"
#include "server/commands.h"

/* Split words on spaces into argv/argl (at most 16). */
struct words {
    char buf[512];
    char *argv[16];
    size_t argl[16];
    size_t argc;
};

static void split(struct words *w, const char *line)
{
    snprintf(w->buf, sizeof w->buf, "%s", line);
    w->argc = 0;
    for (char *save = NULL, *t = strtok_r(w->buf, " ", &save); t && w->argc < 16; t = strtok_r(NULL, " ", &save)) {
        w->argv[w->argc] = t;
        w->argl[w->argc++] = strlen(t);
    }
}

/* Parse a command line at now_ms: NULL and *p filled, or the error text. */
static const char *parse_at(const char *line, int64_t now, struct kv_parsed *p)
{
    static char err[200];
    static struct words w;
    split(&w, line);
    const struct kv_args_def *d = kv_args_find(w.argv[0], w.argl[0]);
    cr_assert_not_null(d, "%s has a row", line);
    struct kv_args a = {.argc = w.argc, .argv = w.argv, .argl = w.argl, .now_ms = now, .err = err, .err_cap = sizeof err};
    err[0] = '\0';
    return kv_args_parse(d, &a, p) == 0 ? NULL : err;
}

static const char *parse_err(const char *line)
{
    struct kv_parsed p;
    const char *e = parse_at(line, 1000, &p);
    cr_assert_not_null(e, "%s must be refused", line);
    return e;
}

#define REFUSED(line, want) cr_assert_str_eq(parse_err(line), want, "%s", line)

Test(command_args, refuses_with_redis_texts)
{
    REFUSED("SET k v bogus", "ERR syntax error");
    REFUSED("set k v nx xx", "ERR syntax error");
    REFUSED("SET k v EX 10 PX 10", "ERR syntax error");
    REFUSED("SET k v KEEPTTL EX 10", "ERR syntax error");
    REFUSED("SET k v EX", "ERR syntax error");
    REFUSED("SET k v EX ten", "ERR value is not an integer or out of range");
    REFUSED("SET k v EX 0", "ERR invalid expire time in 'set' command");
    REFUSED("SET k v PX -5", "ERR invalid expire time in 'set' command");
    REFUSED("SET k v EX 9223372036854775", "ERR invalid expire time in 'set' command");
    REFUSED("INCRBY k 1.5", "ERR value is not an integer or out of range");
    REFUSED("INCRBY k 9223372036854775808", "ERR value is not an integer or out of range");
    REFUSED("DECRBY k -9223372036854775808", "ERR decrement would overflow");
    REFUSED("INCRBYFLOAT k abc", "ERR value is not a valid float");
    REFUSED("GETRANGE k 0 x", "ERR value is not an integer or out of range");
    REFUSED("SETRANGE k -1 v", "ERR offset is out of range");
    REFUSED("SETRANGE k 536870911 vv", "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    REFUSED("GETEX k EX 10 PX 10", "ERR syntax error");
    REFUSED("GETEX k PERSIST EX 1", "ERR syntax error");
    REFUSED("SETEX k 0 v", "ERR invalid expire time in 'setex' command");
    REFUSED("PSETEX k x v", "ERR value is not an integer or out of range");
    /* relative: past LLONG_MAX once added to the clock (1000 here) */
    REFUSED("PSETEX k 9223372036854775000 v", "ERR invalid expire time in 'psetex' command");
    REFUSED("PEXPIRE k 9223372036854775000", "ERR invalid expire time in 'pexpire' command");
    REFUSED("MSET a 1 b", "ERR wrong number of arguments for 'mset' command");
    REFUSED("MSETNX a 1 b", "ERR wrong number of arguments for 'msetnx' command");
    REFUSED("EXPIRE k 10 bogus", "ERR Unsupported option bogus");
    REFUSED("EXPIRE k 10 NX GT", "ERR NX and XX, GT or LT options at the same time are not compatible");
    REFUSED("PEXPIRE k 10 GT LT", "ERR GT and LT options at the same time are not compatible");
    REFUSED("EXPIRE k x", "ERR value is not an integer or out of range");
    REFUSED("EXPIREAT k 9223372036854776", "ERR invalid expire time in 'expireat' command");
    REFUSED("COPY a b DB 1", "ERR raftkv has only database 0");
    REFUSED("COPY a b DB 16", "ERR DB index is out of range");
    REFUSED("COPY a a", "ERR source and destination objects are the same");
    REFUSED("COPY a b REPLACE x", "ERR syntax error");
    /* A count the row's arity refuses (the server's dispatcher checks it
     * first; a script gets its own text, script_call.c). */
    REFUSED("GET", "ERR wrong number of arguments for 'get' command");
    REFUSED("GET a b", "ERR wrong number of arguments for 'get' command");
}

Test(command_args, makes_the_operations)
{
    struct kv_parsed p;
    cr_assert_null(parse_at("set k v ex 10 get", 5000, &p));
    cr_assert_eq(p.n, 1);
    cr_assert_eq(p.cmds[0].op, KV_SET);
    cr_assert_eq(p.cmds[0].flags, KV_SET_GET | KV_SET_EXPIRE_IN);
    cr_assert_eq(p.cmds[0].num[0], 10000, "seconds become ms");
    cr_assert_eq(p.reply_flags & KV_SET_GET, KV_SET_GET);
    cr_assert_eq(p.cmds[0].skey.n, 1);
    cr_assert_eq(memcmp(p.cmds[0].arg[0].p, "v", 1), 0);
    kv_parsed_release(&p);
    /* the same option twice: the last time counts, as Redis */
    cr_assert_null(parse_at("SET k v PX 5 PX 7", 5000, &p));
    cr_assert_eq(p.cmds[0].num[0], 7);
    kv_parsed_release(&p);
    cr_assert_null(parse_at("DECRBY k 5", 0, &p));
    cr_assert_eq(p.cmds[0].op, KV_INCR);
    cr_assert_eq(p.cmds[0].num[0], -5);
    kv_parsed_release(&p);
    cr_assert_null(parse_at("DEL a b c", 0, &p));
    cr_assert_eq(p.n, 3);
    cr_assert_eq(p.cmds[2].op, KV_DEL);
    cr_assert_eq(memcmp(p.cmds[2].skey.p, "c", 1), 0);
    kv_parsed_release(&p);
    cr_assert_null(parse_at("MSET a 1 b 2", 0, &p));
    cr_assert_eq(p.n, 1);
    cr_assert_eq(p.cmds[0].op, KV_MULTI);
    cr_assert_eq(p.cmds[0].n_sub, 2);
    cr_assert_eq(memcmp(p.cmds[0].sub[1].arg[0].p, "2", 1), 0);
    kv_parsed_release(&p);
    cr_assert_null(parse_at("PEXPIREAT k 123 xx", 0, &p));
    cr_assert_eq(p.cmds[0].op, KV_EXPIRE);
    cr_assert_eq(p.cmds[0].flags, KV_EXPIRE_XX, "absolute: no KV_EXPIRE_IN");
    cr_assert_eq(p.cmds[0].num[0], 123);
    kv_parsed_release(&p);
    /* GETEX with a bad time is a read whose reply knows why */
    cr_assert_null(parse_at("GETEX k EX 0", 0, &p));
    cr_assert_eq(p.cmds[0].op, KV_GET);
    cr_assert_eq(p.reply_flags, 2);
    kv_parsed_release(&p);
    cr_assert_null(parse_at("GETEX k PX nope", 0, &p));
    cr_assert_eq(p.reply_flags, 1);
    kv_parsed_release(&p);
    cr_assert_null(parse_at("GETEX k PX 9223372036854775000", 1000, &p));
    cr_assert_eq(p.reply_flags, 2, "past the clock's room");
    kv_parsed_release(&p);
    cr_assert_null(parse_at("GETEX k PXAT 9223372036854775000", 1000, &p));
    cr_assert_eq(p.cmds[0].op, KV_GETEX, "absolute: no room needed");
    kv_parsed_release(&p);
    /* a relative time checked against the clock it is given */
    cr_assert_null(parse_at("SET k v PX 9223372036854775000", 0, &p));
    kv_parsed_release(&p);
    cr_assert_str_eq(parse_at("SET k v PX 9223372036854775000", 1000, &p), "ERR invalid expire time in 'set' command");
}

/* The parser's table against the server's: every row of one is a row of
 * the other with the same arity and write flag, and the server runs it
 * through the parser. */
Test(command_args, table_agrees_with_the_server_command_table)
{
    size_t n;
    const struct kv_args_def *rows = kv_args_rows(&n);
    cr_assert_gt(n, 30);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            cr_assert_lt(strcmp(rows[i - 1].name, rows[i].name), 0, "sorted: %s", rows[i].name);
        const struct command_def *c = command_lookup(rows[i].name, strlen(rows[i].name), false);
        cr_assert_not_null(c, "%s is in the server's table", rows[i].name);
        cr_assert_eq(c->arity, rows[i].arity, "%s's arity", rows[i].name);
        cr_assert_eq((c->flags & CMDF_WRITE) != 0, rows[i].writes, "%s's write flag", rows[i].name);
        cr_assert_eq(c->handler, cmd_parsed, "%s runs through the parser", rows[i].name);
        cr_assert_eq(kv_args_find(rows[i].name, strlen(rows[i].name)), &rows[i]);
    }
    for (size_t i = 0; i < command_table_len; i++)
        if (command_table[i].handler == cmd_parsed)
            cr_assert_not_null(kv_args_find(command_table[i].name, strlen(command_table[i].name)),
                               "%s has a parser row", command_table[i].name);
    cr_assert_not_null(kv_args_find("GeTeX", 5));
    cr_assert_null(kv_args_find("getexx", 6));
    cr_assert_null(kv_args_find("ge", 2));
    cr_assert_null(kv_args_find("eval", 4));
}

/* ---- a client and a script, the same words, the same answer ---- */

static struct server *srv;
static struct client *cli;
static struct kv_store *store;

static void setup(void)
{
    srv = calloc(1, sizeof *srv);
    cr_assert_not_null(srv);
    srv->opt.max_output_bytes = 1u << 20;
    srv->opt.max_pending_per_client = 1024;
    srv->opt.max_pending = 1024;
    cr_assert_eq(acl_init(&srv->acl), 0);
    cli = calloc(1, sizeof *cli);
    cr_assert_not_null(cli);
    cli->srv = srv;
    cli->id = 7;
    cli->proto = 2;
    cli->reading = true; /* answering never touches the (absent) socket */
    srv->clients = cli;
    srv->n_clients = 1;
    cli->user = acl_default_user(&srv->acl);
    store = kv_store_new();
    cr_assert_not_null(store);
}

static void teardown(void)
{
    multi_client_free(cli);
    server_out_free(&cli->out);
    free(cli);
    acl_free(&srv->acl);
    free(srv);
    kv_store_free(store);
}

TestSuite(script_vs_client, .init = setup, .fini = teardown);

/* The reply a client gets (only for words refused before the log: this
 * server has no replica). */
static char *client_reply(const char *line)
{
    struct words w;
    split(&w, line);
    struct resp_request q = {.argc = w.argc, .argv = w.argv, .argl = w.argl};
    cli->out.pending.len = 0;
    cr_assert_eq(commands_dispatch(cli, &q), 0);
    return strndup((const char *)cli->out.pending.data, cli->out.pending.len);
}

/* The reply of EVAL "return redis.pcall(unpack(ARGV))" 0 <words>, applied
 * at time `at`. */
static char *script_reply(const char *line, int64_t at)
{
    struct words w;
    split(&w, line);
    const char *body = "return redis.pcall(unpack(ARGV))";
    struct kv_command c = {.op = KV_EVAL};
    cr_assert_eq(kv_str_set(&c.arg[0], body, strlen(body)), 0);
    cr_assert_eq(kv_pack_fields(&c.arg[1], w.argv, w.argl, w.argc), 0);
    c.num[0] = 0;
    c.num[1] = 1000000;
    c.flags = 4096u << 8;
    struct kv_result r = kt_logged(store, c, at);
    cr_assert_eq(r.code, 0, "%s", r.text);
    char *out = strndup((const char *)r.bytes, r.len);
    kv_result_release(&r);
    return out;
}

static void same_error(const char *line, const char *want)
{
    char *a = client_reply(line), *b = script_reply(line, 1000);
    cr_assert_str_eq(a, want, "client: %s", line);
    cr_assert_str_eq(b, want, "script: %s", line);
    free(a);
    free(b);
}

static void script_says(const char *line, int64_t at, const char *want)
{
    char *got = script_reply(line, at);
    cr_assert_str_eq(got, want, "script: %s", line);
    free(got);
}

Test(script_vs_client, set_family_errors)
{
    same_error("SET k v EX 10 PXAT 5", "-ERR syntax error\r\n");
    same_error("SET k v EX -1", "-ERR invalid expire time in 'set' command\r\n");
    same_error("SET k v PX 1x", "-ERR value is not an integer or out of range\r\n");
    same_error("SETEX k -3 v", "-ERR invalid expire time in 'setex' command\r\n");
    same_error("PSETEX k 0 v", "-ERR invalid expire time in 'psetex' command\r\n");
    same_error("GETEX k EXAT 1 PERSIST", "-ERR syntax error\r\n");
    same_error("MSET a 1 b", "-ERR wrong number of arguments for 'mset' command\r\n");
}

Test(script_vs_client, counter_and_range_errors)
{
    same_error("INCRBY k ten", "-ERR value is not an integer or out of range\r\n");
    same_error("DECRBY k -9223372036854775808", "-ERR decrement would overflow\r\n");
    same_error("INCRBYFLOAT k 1e", "-ERR value is not a valid float\r\n");
    same_error("GETRANGE k a 1", "-ERR value is not an integer or out of range\r\n");
    same_error("SETRANGE k -2 x", "-ERR offset is out of range\r\n");
}

Test(script_vs_client, expire_and_key_errors)
{
    same_error("EXPIRE k 10 maybe", "-ERR Unsupported option maybe\r\n");
    same_error("PEXPIRE k 10 NX XX", "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n");
    same_error("EXPIREAT k 10 GT LT", "-ERR GT and LT options at the same time are not compatible\r\n");
    same_error("EXPIRE k 9223372036854775807", "-ERR invalid expire time in 'expire' command\r\n");
    same_error("COPY a b DB x", "-ERR value is not an integer or out of range\r\n");
    same_error("COPY a a", "-ERR source and destination objects are the same\r\n");
}

/* The replies scripts get from commands they could not call before the
 * parser was shared, as Redis converts them (status -> status, nil ->
 * false -> $-1). */
Test(script_vs_client, newly_callable_commands_answer_as_redis)
{
    script_says("SETEX k 10 v", 1000, "+OK\r\n");
    script_says("TTL k", 2000, ":9\r\n");
    script_says("EXPIRETIME k", 2000, ":11\r\n");
    script_says("PEXPIRETIME k", 2000, ":11000\r\n");
    script_says("GETEX k PERSIST", 2000, "$1\r\nv\r\n");
    script_says("TTL k", 2000, ":-1\r\n");
    script_says("GETEX k EX 0", 2000, "-ERR invalid expire time in 'getex' command\r\n");
    script_says("GETEX nokey EX 0", 2000, "$-1\r\n");
    script_says("SETRANGE k 3 xyz", 2000, ":6\r\n");
    script_says("GETRANGE k 3 -1", 2000, "$3\r\nxyz\r\n");
    script_says("STRLEN k", 2000, ":6\r\n");
    script_says("INCRBYFLOAT n 1.5", 2000, "$3\r\n1.5\r\n");
    script_says("MSETNX a 1 b 2", 2000, ":1\r\n");
    script_says("MSETNX b 3 c 4", 2000, ":0\r\n");
    script_says("RENAME a a2", 2000, "+OK\r\n");
    script_says("RENAME nokey x", 2000, "-ERR no such key\r\n");
    script_says("RENAMENX a2 b", 2000, ":0\r\n");
    script_says("COPY a2 a3", 2000, ":1\r\n");
    script_says("TOUCH a2 a3 zz", 2000, ":2\r\n");
    script_says("CAS a3 1 9", 2000, ":1\r\n");
    script_says("CAS a3 1 9", 2000, ":0\r\n");
    script_says("CAS zz 1 9", 2000, "$-1\r\n");
    script_says("SETNX a3 x", 2000, ":0\r\n");
}

/* The keys a newly callable command writes besides its own (RENAME's and
 * COPY's new name, MSETNX's pairs) are recorded too: a script stopped by
 * its budget leaves every one as it was. */
Test(script_vs_client, a_stopped_script_undoes_every_key_it_wrote)
{
    struct kv_result r = kt_logged(store, kt_cmd(KV_SET, "src", "old", 0, 0), 500);
    kv_result_release(&r);
    const char *body = "redis.call('copy', 'src', 'cp') redis.call('rename', 'src', 'moved') "
                       "redis.call('msetnx', 'm1', 'a', 'm2', 'b') redis.call('mset', 'm3', 'c') "
                       "redis.call('getex', 'moved', 'ex', 100) "
                       "while true do end";
    struct kv_command c = {.op = KV_EVAL};
    cr_assert_eq(kv_str_set(&c.arg[0], body, strlen(body)), 0);
    cr_assert_eq(kv_pack_fields(&c.arg[1], NULL, NULL, 0), 0);
    c.num[1] = 5000;
    c.flags = 4096u << 8;
    r = kt_logged(store, c, 1000);
    cr_assert(strstr((const char *)r.bytes, "-ERR script stopped after 5000 instructions") == (const char *)r.bytes,
              "%.*s", (int)r.len, r.bytes);
    kv_result_release(&r);
    cr_assert_eq(kv_store_size(store), 1, "only src is left");
    r = kt_read(store, kt_cmd(KV_GET, "src", NULL, 0, 0), 1000);
    cr_assert_eq(r.len, 3);
    cr_assert_eq(memcmp(r.bytes, "old", 3), 0);
    kv_result_release(&r);
    cr_assert_eq(kt_r(store, kt_cmd(KV_TTL, "src", NULL, 0, 0), 1000), -1);
}
