/* test_command_table.c - the command table (src/server/command_table.c):
 * case-insensitive lookup, Redis's arity convention, the flags and the
 * ACL categories they give, and COMMAND INFO's bytes against those of
 * redis-server 7.0.15. */
#include "server/command_table.h"

#include <criterion/criterion.h>
#include <string.h>

#include "server/commands.h"

static const struct command_def *find(const char *name)
{
    return command_lookup(name, strlen(name), false);
}

Test(command_table, lookup_ignores_case_and_needs_the_whole_name)
{
    const struct command_def *get = find("get");
    cr_assert_not_null(get);
    cr_assert_str_eq(get->name, "get");
    cr_assert_eq(find("GET"), get);
    cr_assert_eq(find("gEt"), get);
    cr_assert_null(find("ge"));
    cr_assert_null(find("gett"));
    cr_assert_null(find(""));
    cr_assert_str_eq(find("MGET")->name, "mget");
    cr_assert_str_eq(find("Hello")->name, "hello");
    /* "get\0x" is not GET: the length counts. */
    cr_assert_null(command_lookup("get\0x", 5, false));
}

Test(command_table, debug_rows_exist_only_when_enabled)
{
    cr_assert_null(find("debug.cut"));
    const struct command_def *c = command_lookup("DEBUG.CUT", 9, true);
    cr_assert_not_null(c);
    cr_assert_eq(c->arity, 3);
}

Test(command_table, subcommands_by_full_name)
{
    const struct command_def *client = find("client");
    cr_assert_not_null(client);
    const struct command_def *id = command_lookup_sub(client, "ID", 2);
    cr_assert_not_null(id);
    cr_assert_str_eq(id->name, "client|id");
    cr_assert_eq(command_lookup_full("CLIENT|Id", 9, false), id);
    cr_assert_null(command_lookup_sub(client, "nosuch", 6));
    cr_assert_null(command_lookup_full("client|", 7, false));
    cr_assert_str_eq(command_lookup_full("config|get", 10, false)->name, "config|get");
    cr_assert_str_eq(command_lookup_full("acl|whoami", 10, false)->name, "acl|whoami");
    cr_assert_str_eq(command_lookup_full("command|docs", 12, false)->name, "command|docs");
}

Test(command_table, arity_as_redis_counts_it)
{
    const struct command_def *get = find("get"), *set = find("set"), *del = find("del"), *ping = find("ping");
    cr_assert_eq(get->arity, 2);
    cr_assert(command_arity_ok(get, 2));
    cr_assert_not(command_arity_ok(get, 1));
    cr_assert_not(command_arity_ok(get, 3));
    cr_assert_eq(set->arity, -3);
    cr_assert(command_arity_ok(set, 3));
    cr_assert(command_arity_ok(set, 5));
    cr_assert_not(command_arity_ok(set, 2));
    cr_assert_eq(del->arity, -2);
    cr_assert(command_arity_ok(del, 2));
    cr_assert(command_arity_ok(del, 9));
    cr_assert_not(command_arity_ok(del, 1));
    cr_assert(command_arity_ok(ping, 1));
    cr_assert_eq(find("auth")->arity, -2);
    cr_assert_eq(find("cas")->arity, 4);
    cr_assert_eq(find("echo")->arity, 2);
    cr_assert_eq(find("select")->arity, 2);
    cr_assert_eq(command_lookup_full("command|count", 13, false)->arity, 2);
    cr_assert_eq(command_lookup_full("config|get", 10, false)->arity, -3);
}

Test(command_table, the_arity_error_is_redis_text)
{
    struct resp_buf b = {0};
    cmd_reply_arity(&b, "get");
    cr_assert_eq(b.len, strlen("-ERR wrong number of arguments for 'get' command\r\n"));
    cr_assert(memcmp(b.data, "-ERR wrong number of arguments for 'get' command\r\n", b.len) == 0);
    resp_buf_free(&b);
}

Test(command_table, flags_decide_the_categories)
{
    uint32_t get = command_categories(find("get"));
    cr_assert(get & (1u << CAT_READ));
    cr_assert(get & (1u << CAT_FAST));
    cr_assert(get & (1u << CAT_STRING));
    cr_assert_not(get & (1u << CAT_WRITE));
    cr_assert_not(get & (1u << CAT_SLOW));
    uint32_t set = command_categories(find("set"));
    cr_assert(set & (1u << CAT_WRITE));
    cr_assert(set & (1u << CAT_SLOW));
    cr_assert_not(set & (1u << CAT_READ));
    cr_assert(command_categories(find("del")) & (1u << CAT_WRITE));
    cr_assert(command_categories(find("cas")) & (1u << CAT_WRITE));
    cr_assert(command_categories(find("exists")) & (1u << CAT_READ));
    cr_assert(command_categories(find("mget")) & (1u << CAT_READ));
    uint32_t config = command_categories(command_lookup_full("config|get", 10, false));
    cr_assert(config & (1u << CAT_ADMIN));
    cr_assert(config & (1u << CAT_DANGEROUS));
    cr_assert(command_categories(command_lookup("debug.cut", 9, true)) & (1u << CAT_ADMIN));
    cr_assert(command_categories(command_lookup_full("client|list", 11, false)) & (1u << CAT_ADMIN));
    cr_assert_not(command_categories(command_lookup_full("client|id", 9, false)) & (1u << CAT_ADMIN));
    cr_assert_not(command_categories(find("info")) & (1u << CAT_ADMIN));
    cr_assert_str_eq(command_category_name(CAT_READ), "read");
    cr_assert_eq(command_category_lookup("ADMIN", 5), CAT_ADMIN);
    cr_assert_eq(command_category_lookup("nosuch", 6), -1);
}

Test(command_table, only_auth_hello_and_quit_run_before_authentication)
{
    command_table_init();
    size_t n = command_count_ids(), no_auth = 0;
    for (size_t id = 0; id < n; id++) {
        const struct command_def *c = command_by_id((int)id);
        if (c->flags & CMDF_NO_AUTH) {
            no_auth++;
            cr_assert(strcmp(c->name, "auth") == 0 || strcmp(c->name, "hello") == 0 ||
                          strcmp(c->name, "quit") == 0,
                      "%s", c->name);
        }
    }
    cr_assert_eq(no_auth, 3);
}

Test(command_table, rows_are_well_formed)
{
    size_t n = command_count_ids();
    cr_assert_leq(n, COMMAND_MAX_IDS);
    for (size_t id = 0; id < n; id++) {
        const struct command_def *c = command_by_id((int)id);
        cr_assert_eq(c->id, (int)id);
        cr_assert(c->handler || c->n_subs, "%s runs nothing", c->name);
        cr_assert(c->arity != 0, "%s", c->name);
        for (const char *p = c->name; *p; p++)
            cr_assert(!(*p >= 'A' && *p <= 'Z'), "%s is not lower case", c->name);
        cr_assert_eq(c->first_key > 0, c->key_flags != NULL, "%s: keys and key flags", c->name);
        cr_assert(c->first_key == 0 || c->reply != NULL, "%s: commands on keys have a reply function", c->name);
        for (size_t j = 0; j < c->n_subs; j++) {
            size_t len = strlen(c->name);
            cr_assert(strncmp(c->subs[j].name, c->name, len) == 0 && c->subs[j].name[len] == '|');
        }
        for (size_t j = id + 1; j < n; j++)
            cr_assert_str_neq(c->name, command_by_id((int)j)->name);
    }
    cr_assert_null(command_by_id((int)n));
}

/* Bytes of `COMMAND INFO get` from redis-server 7.0.15 (RESP2), less the
 * leading "*1". */
Test(command_table, command_info_get_is_byte_identical_to_redis)
{
    static const char redis[] =
        "*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*3\r\n+@read\r\n+@string\r\n"
        "+@fast\r\n*0\r\n*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+RO\r\n+access\r\n$12\r\nbegin_search\r\n*4\r\n"
        "$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n*4\r\n"
        "$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n"
        "$5\r\nlimit\r\n:0\r\n*0\r\n";
    struct resp_buf b = {0};
    command_write_info(&b, find("get"), 2, false);
    cr_assert_eq(b.len, strlen(redis));
    cr_assert(memcmp(b.data, redis, b.len) == 0, "%.*s", (int)b.len, b.data);
    resp_buf_free(&b);
    /* RESP3: sets where Redis has them. */
    command_write_info(&b, find("ping"), 3, false);
    static const char ping3[] = "*10\r\n$4\r\nping\r\n:-1\r\n~1\r\n+fast\r\n:0\r\n:0\r\n:0\r\n~2\r\n+@fast\r\n"
                                "+@connection\r\n~0\r\n~0\r\n~0\r\n";
    cr_assert_eq(b.len, strlen(ping3));
    cr_assert(memcmp(b.data, ping3, b.len) == 0, "%.*s", (int)b.len, b.data);
    resp_buf_free(&b);
}

Test(command_table, multi_key_rows_say_where_their_keys_are)
{
    const struct command_def *del = find("del"), *cas = find("cas");
    cr_assert_eq(del->first_key, 1);
    cr_assert_eq(del->last_key, -1);
    cr_assert_eq(del->key_step, 1);
    cr_assert_eq(cas->first_key, 1);
    cr_assert_eq(cas->last_key, 1);
    cr_assert_eq(find("ping")->first_key, 0);
}
