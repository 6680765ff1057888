/* test_server_dispatch.c - commands_dispatch (src/server/commands.c) on a
 * connection of a server with no replica: the order of its checks
 * (unknown, arity, NOAUTH, NOPERM) and AUTH/HELLO, with the reply bytes
 * redis-server 7.0.15 gives. Only commands that never reach the replica
 * are sent. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "server/commands.h"

struct fixture {
    struct server *s;
    struct client *c;
};

static struct fixture setup(const char *const *acl_lines)
{
    struct fixture f;
    f.s = calloc(1, sizeof *f.s);
    cr_assert_not_null(f.s);
    f.s->opt.max_output_bytes = 1u << 20;
    f.s->opt.max_pending_per_client = 1024;
    f.s->opt.max_pending = 1024;
    f.s->opt.protected_mode = true;
    cr_assert_eq(acl_init(&f.s->acl), 0);
    for (size_t i = 0; acl_lines && acl_lines[i]; i++) {
        char err[256];
        cr_assert_eq(acl_parse_line(&f.s->acl, acl_lines[i], err, sizeof err), 0, "%s", err);
    }
    f.c = calloc(1, sizeof *f.c);
    cr_assert_not_null(f.c);
    f.c->srv = f.s;
    f.c->id = 7;
    f.c->proto = 2;
    f.c->reading = true; /* so answering never touches the (absent) socket */
    snprintf(f.c->addr, sizeof f.c->addr, "127.0.0.1:5000");
    f.s->clients = f.c;
    f.s->n_clients = 1;
    f.c->user = acl_default_open(&f.s->acl) ? acl_default_user(&f.s->acl) : NULL;
    return f;
}

static void teardown(struct fixture *f)
{
    multi_client_free(f->c);
    server_out_free(&f->c->out);
    free(f->c);
    acl_free(&f->s->acl);
    free(f->s);
}

/* Send one command (words separated by spaces) and return its reply. */
static const char *run_cmd(struct fixture *f, const char *line)
{
    static char reply[4096];
    char copy[512];
    snprintf(copy, sizeof copy, "%s", line);
    char *argv[16];
    size_t argl[16], argc = 0;
    for (char *save = NULL, *w = strtok_r(copy, " ", &save); w && argc < 16; w = strtok_r(NULL, " ", &save)) {
        argv[argc] = w;
        argl[argc++] = strlen(w);
    }
    struct resp_request q = {.argc = argc, .argv = argv, .argl = argl};
    f->c->out.pending.len = 0;
    cr_assert_eq(commands_dispatch(f->c, &q), 0);
    size_t n = f->c->out.pending.len < sizeof reply - 1 ? f->c->out.pending.len : sizeof reply - 1;
    memcpy(reply, f->c->out.pending.data, n);
    reply[n] = '\0';
    return reply;
}

#define EXPECT(f, cmd, want)                                                                       \
    do {                                                                                           \
        const char *got_ = run_cmd(f, cmd);                                                        \
        cr_assert_str_eq(got_, want, "%s: got %s", cmd, got_);                                     \
    } while (0)

static const char *const password_only[] = {"user default on >secret ~* +@all", NULL};
static const char *const three_users[] = {
    "user default off",
    "user ro on >ropw ~* +@read +@connection",
    "user rw on >rwpw ~* +@all -@admin",
    "user admin on >admpw ~* +@all",
    "user gone off >gonepw ~* +@all",
    NULL,
};

#define NOAUTH "-NOAUTH Authentication required.\r\n"
#define WRONGPASS "-WRONGPASS invalid username-password pair or user is disabled.\r\n"

Test(dispatch, before_auth_everything_but_auth_hello_quit_is_noauth)
{
    struct fixture f = setup(password_only);
    EXPECT(&f, "PING", NOAUTH);
    EXPECT(&f, "GET k", NOAUTH);
    EXPECT(&f, "set k v", NOAUTH);
    EXPECT(&f, "ECHO x", NOAUTH);
    EXPECT(&f, "COMMAND", NOAUTH);
    EXPECT(&f, "CLIENT ID", NOAUTH);
    EXPECT(&f, "SELECT 0", NOAUTH);
    /* Unknown commands and wrong arity come first, as in Redis. */
    EXPECT(&f, "GET", "-ERR wrong number of arguments for 'get' command\r\n");
    EXPECT(&f, "FROB", "-ERR unknown command 'FROB', with args beginning with: \r\n");
    EXPECT(&f, "CLIENT FOO", "-ERR unknown subcommand 'FOO'. Try CLIENT HELP.\r\n");
    EXPECT(&f, "HELLO 3",
           "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH "
           "<user> <pass> option can be used to authenticate the client and select the RESP protocol version "
           "at the same time\r\n");
    cr_assert_eq(f.c->proto, 2, "a refused HELLO does not switch the protocol");
    EXPECT(&f, "AUTH wrong", WRONGPASS);
    EXPECT(&f, "AUTH default wrong", WRONGPASS);
    EXPECT(&f, "PING", NOAUTH);
    cr_assert_eq(f.s->stats.auth_failures, 2);
    EXPECT(&f, "AUTH secret", "+OK\r\n");
    EXPECT(&f, "PING", "+PONG\r\n");
    EXPECT(&f, "ACL WHOAMI", "$7\r\ndefault\r\n");
    EXPECT(&f, "AUTH a b c", "-ERR syntax error\r\n");
    EXPECT(&f, "AUTH", "-ERR wrong number of arguments for 'auth' command\r\n");
    teardown(&f);
}

Test(dispatch, quit_is_allowed_before_auth)
{
    struct fixture f = setup(password_only);
    EXPECT(&f, "QUIT", "+OK\r\n");
    cr_assert(f.c->close_after_write);
    teardown(&f);
}

Test(dispatch, hello_auth)
{
    struct fixture f = setup(three_users);
    EXPECT(&f, "HELLO 3 AUTH ro wrong", WRONGPASS);
    cr_assert_null(f.c->user);
    EXPECT(&f, "HELLO 3 AUTH gone gonepw", WRONGPASS);
    EXPECT(&f, "HELLO 2 AUTH ro", "-ERR Syntax error in HELLO option 'AUTH'\r\n");
    EXPECT(&f, "HELLO 3 FOO", "-ERR Syntax error in HELLO option 'FOO'\r\n");
    EXPECT(&f, "HELLO x", "-ERR Protocol version is not an integer or out of range\r\n");
    EXPECT(&f, "HELLO 4", "-NOPROTO unsupported protocol version\r\n");
    EXPECT(&f, "AUTH ro ropw", "+OK\r\n");
    EXPECT(&f, "HELLO 3 AUTH rw rwpw SETNAME a b", "-ERR Syntax error in HELLO option 'b'\r\n");
    /* redis-server 7.0.15 takes HELLO's options left to right: the AUTH
     * before the bad option has authenticated (its PING then answers). */
    cr_assert_str_eq(f.c->user->name, "rw", "AUTH took effect before the syntax error");
    cr_assert_eq(f.c->proto, 2, "the protocol is not switched");
    cr_assert_str_eq(f.c->name, "", "nor the name set");
    teardown(&f);
}

Test(dispatch, permissions_of_three_users)
{
    struct fixture f = setup(three_users);
    EXPECT(&f, "AUTH secret", WRONGPASS); /* the default user is off */
    EXPECT(&f, "AUTH ro ropw", "+OK\r\n");
    /* ACL WHOAMI is only @slow in Redis: +@read +@connection do not cover it. */
    EXPECT(&f, "ACL WHOAMI", "-NOPERM this user has no permissions to run the 'acl|whoami' command\r\n");
    EXPECT(&f, "SET k v", "-NOPERM this user has no permissions to run the 'set' command\r\n");
    EXPECT(&f, "DEL k", "-NOPERM this user has no permissions to run the 'del' command\r\n");
    EXPECT(&f, "CAS k a b", "-NOPERM this user has no permissions to run the 'cas' command\r\n");
    EXPECT(&f, "CONFIG GET save", "-NOPERM this user has no permissions to run the 'config|get' command\r\n");
    EXPECT(&f, "PING", "+PONG\r\n");
    cr_assert_eq(f.s->stats.acl_denied, 5);

    EXPECT(&f, "AUTH rw wrong", WRONGPASS);
    cr_assert_str_eq(f.c->user->name, "ro", "a failed AUTH keeps the user");
    EXPECT(&f, "AUTH rw rwpw", "+OK\r\n");
    EXPECT(&f, "CONFIG GET save", "-NOPERM this user has no permissions to run the 'config|get' command\r\n");
    EXPECT(&f, "CLIENT LIST", "-NOPERM this user has no permissions to run the 'client|list' command\r\n");
    EXPECT(&f, "CLIENT ID", ":7\r\n");
    EXPECT(&f, "ACL WHOAMI", "$2\r\nrw\r\n");

    EXPECT(&f, "AUTH admin admpw", "+OK\r\n");
    EXPECT(&f, "CONFIG GET save", "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
    const char *list = run_cmd(&f, "CLIENT LIST");
    cr_assert(strstr(list, " user=admin "), "%s", list);
    cr_assert(strstr(list, "addr=127.0.0.1:5000 "), "%s", list);
    teardown(&f);
}

Test(dispatch, without_a_password_every_connection_is_the_default_user)
{
    struct fixture f = setup(NULL);
    EXPECT(&f, "PING", "+PONG\r\n");
    EXPECT(&f, "AUTH x", "-ERR AUTH <password> called without any password configured for the default user. "
                         "Are you sure your configuration is correct?\r\n");
    EXPECT(&f, "AUTH default anything", "+OK\r\n");
    EXPECT(&f, "CONFIG GET appendonly", "*2\r\n$10\r\nappendonly\r\n$3\r\nyes\r\n");
    EXPECT(&f, "COMMAND COUNT x", "-ERR wrong number of arguments for 'command|count' command\r\n");
    EXPECT(&f, "COMMAND INFO nosuch", "*1\r\n$-1\r\n");
    EXPECT(&f, "COMMAND DOCS nosuch", "*0\r\n");
    /* SET's options are checked before anything is replicated, in
     * redis-server 7.0's words. */
    EXPECT(&f, "SET k v EX 0", "-ERR invalid expire time in 'set' command\r\n");
    EXPECT(&f, "SET k v PX -5", "-ERR invalid expire time in 'set' command\r\n");
    EXPECT(&f, "SET k v EX 9223372036854776", "-ERR invalid expire time in 'set' command\r\n");
    EXPECT(&f, "SET k v EX abc", "-ERR value is not an integer or out of range\r\n");
    EXPECT(&f, "SET k v EX +5", "-ERR value is not an integer or out of range\r\n");
    EXPECT(&f, "SET k v NX XX", "-ERR syntax error\r\n");
    EXPECT(&f, "SET k v PX", "-ERR syntax error\r\n");
    EXPECT(&f, "SET k v KEEPTTL EX 5", "-ERR syntax error\r\n");
    EXPECT(&f, "SET k v EX 5 PXAT 5", "-ERR syntax error\r\n");
    EXPECT(&f, "SET k v nope", "-ERR syntax error\r\n");
    EXPECT(&f, "SELECT 1", "-ERR raftkv has only database 0\r\n");
    EXPECT(&f, "PING a b", "-ERR wrong number of arguments for 'ping' command\r\n");
    EXPECT(&f, "DEBUG.CUT n2 10", "-ERR unknown command 'DEBUG.CUT', with args beginning with: 'n2' '10' \r\n");
    EXPECT(&f, "CLIENT SETNAME a\tb", "-ERR Client names cannot contain spaces, newlines or special characters.\r\n");
    EXPECT(&f, "CLIENT SETNAME conn1", "+OK\r\n");
    EXPECT(&f, "CLIENT GETNAME", "$5\r\nconn1\r\n");
    teardown(&f);
}

/* Transactions, as far as no operation reaches the replica: the order of
 * checks and the texts are redis-server 7.0.15's. */
Test(dispatch, multi_exec_discard_and_their_errors)
{
    struct fixture f = setup(NULL);
    EXPECT(&f, "EXEC", "-ERR EXEC without MULTI\r\n");
    EXPECT(&f, "DISCARD", "-ERR DISCARD without MULTI\r\n");
    EXPECT(&f, "EXEC x", "-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n");
    EXPECT(&f, "MULTI", "+OK\r\n");
    EXPECT(&f, "MULTI", "-ERR MULTI calls can not be nested\r\n");
    EXPECT(&f, "WATCH k", "-ERR WATCH inside MULTI is not allowed\r\n");
    EXPECT(&f, "PING", "+QUEUED\r\n");
    EXPECT(&f, "ECHO hi", "+QUEUED\r\n");
    EXPECT(&f, "CLIENT SETNAME t1", "+QUEUED\r\n");
    EXPECT(&f, "CLIENT GETNAME", "+QUEUED\r\n");
    EXPECT(&f, "UNWATCH", "+QUEUED\r\n");
    EXPECT(&f, "EXEC", "*5\r\n+PONG\r\n$2\r\nhi\r\n+OK\r\n$2\r\nt1\r\n+OK\r\n");
    /* Queued commands run at EXEC, not before; DISCARD drops them. */
    EXPECT(&f, "MULTI", "+OK\r\n");
    EXPECT(&f, "CLIENT SETNAME t2", "+QUEUED\r\n");
    EXPECT(&f, "DISCARD", "+OK\r\n");
    EXPECT(&f, "CLIENT GETNAME", "$2\r\nt1\r\n");
    EXPECT(&f, "MULTI", "+OK\r\n");
    EXPECT(&f, "PING", "+QUEUED\r\n");
    EXPECT(&f, "EXEC", "*1\r\n+PONG\r\n"); /* nothing left from the discarded one */
    /* A queue-time error aborts EXEC; an error of the command itself is
     * its element of the array. */
    EXPECT(&f, "MULTI", "+OK\r\n");
    EXPECT(&f, "NOSUCH", "-ERR unknown command 'NOSUCH', with args beginning with: \r\n");
    EXPECT(&f, "SET k", "-ERR wrong number of arguments for 'set' command\r\n");
    EXPECT(&f, "PING", "+QUEUED\r\n");
    EXPECT(&f, "EXEC", "-EXECABORT Transaction discarded because of previous errors.\r\n");
    EXPECT(&f, "MULTI", "+OK\r\n");
    EXPECT(&f, "SET k v EX 0", "+QUEUED\r\n");
    EXPECT(&f, "GET a b", "-ERR wrong number of arguments for 'get' command\r\n");
    EXPECT(&f, "EXEC", "-EXECABORT Transaction discarded because of previous errors.\r\n");
    EXPECT(&f, "MULTI", "+OK\r\n");
    EXPECT(&f, "SET k v EX 0", "+QUEUED\r\n");
    EXPECT(&f, "EXEC", "*1\r\n-ERR invalid expire time in 'set' command\r\n");
    EXPECT(&f, "MULTI", "+OK\r\n");
    EXPECT(&f, "EXEC", "*0\r\n");
    teardown(&f);
}

/* LCS's argument errors come before any read (cmd_lcs.c), with redis-server
 * 7.0.15's texts; inside MULTI they are the command's element of EXEC's array. */
Test(dispatch, lcs_argument_errors)
{
    struct fixture f = setup(NULL);
    EXPECT(&f, "LCS a", "-ERR wrong number of arguments for 'lcs' command\r\n");
    EXPECT(&f, "LCS a b BOGUS", "-ERR syntax error\r\n");
    EXPECT(&f, "LCS a b MINMATCHLEN", "-ERR syntax error\r\n");
    EXPECT(&f, "LCS a b IDX MINMATCHLEN x", "-ERR value is not an integer or out of range\r\n");
    EXPECT(&f, "LCS a b MINMATCHLEN 9223372036854775808", "-ERR value is not an integer or out of range\r\n");
    EXPECT(&f, "lcs a b len idx", "-ERR If you want both the length and indexes, please just use IDX.\r\n");
    EXPECT(&f, "LCS a b IDX LEN MINMATCHLEN 2", "-ERR If you want both the length and indexes, please just use IDX.\r\n");
    EXPECT(&f, "MULTI", "+OK\r\n");
    EXPECT(&f, "LCS a b LEN IDX", "+QUEUED\r\n");
    EXPECT(&f, "EXEC", "*1\r\n-ERR If you want both the length and indexes, please just use IDX.\r\n");
    teardown(&f);
}

/* RAFTKV.BACKUP's refusals that need no replica (cmd_backup.c): usage,
 * ids of no image of this connection, and @admin only. */
Test(dispatch, raftkv_backup_refusals)
{
    struct fixture f = setup(three_users);
    EXPECT(&f, "AUTH admin admpw", "+OK\r\n");
    EXPECT(&f, "RAFTKV.BACKUP", "-ERR wrong number of arguments for 'raftkv.backup' command\r\n");
    EXPECT(&f, "RAFTKV.BACKUP STOP", "-ERR usage: RAFTKV.BACKUP START | READ id offset length | END id | STATUS\r\n");
    EXPECT(&f, "raftkv.backup read 1 0", "-ERR usage: RAFTKV.BACKUP START | READ id offset length | END id | STATUS\r\n");
    EXPECT(&f, "RAFTKV.BACKUP READ 1 0 4", "-ERR no such backup on this connection\r\n");
    EXPECT(&f, "RAFTKV.BACKUP READ one 0 4", "-ERR backup id is not an integer\r\n");
    EXPECT(&f, "RAFTKV.BACKUP END 3", "-ERR no such backup on this connection\r\n");
    EXPECT(&f, "RAFTKV.BACKUP STATUS", "*0\r\n"); /* no image on this member */
    EXPECT(&f, "RAFTKV.BACKUP STATUS 1", "-ERR usage: RAFTKV.BACKUP START | READ id offset length | END id | STATUS\r\n");
    EXPECT(&f, "AUTH rw rwpw", "+OK\r\n");
    EXPECT(&f, "RAFTKV.BACKUP START",
           "-NOPERM this user has no permissions to run the 'raftkv.backup' command\r\n");
    teardown(&f);
}
