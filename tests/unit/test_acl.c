/* test_acl.c - client users (src/server/acl.c): ACL file lines good and
 * bad (errors name the line), the password files, authentication, the
 * permission decisions of three levels, and protected mode. */
#include "server/acl.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static const struct command_def *cmd(const char *full)
{
    const struct command_def *c = command_lookup_full(full, strlen(full), true);
    cr_assert_not_null(c, "%s", full);
    return c;
}

static const struct acl_user *auth(const struct acl *a, const char *user, const char *pw)
{
    return acl_authenticate(a, user, strlen(user), pw, strlen(pw));
}

static void line(struct acl *a, const char *l)
{
    char err[256] = "";
    cr_assert_eq(acl_parse_line(a, l, err, sizeof err), 0, "%s: %s", l, err);
}

static void bad_line(const char *l, const char *want)
{
    struct acl a;
    cr_assert_eq(acl_init(&a), 0);
    char err[256] = "";
    cr_assert_eq(acl_parse_line(&a, l, err, sizeof err), -1, "%s was accepted", l);
    cr_assert(strstr(err, want), "'%s': error '%s' does not say '%s'", l, err, want);
    acl_free(&a);
}

static char *write_file(const char *text, mode_t mode)
{
    char *path = strdup("/tmp/raftkv-acl-test.XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    chmod(path, mode);
    return path;
}

Test(acl, without_options_the_default_user_is_open_and_may_do_anything)
{
    struct acl a;
    cr_assert_eq(acl_init(&a), 0);
    cr_assert(acl_default_open(&a));
    const struct acl_user *d = acl_default_user(&a);
    cr_assert_str_eq(d->name, "default");
    cr_assert_eq(acl_check(d, cmd("set")), ACL_ALLOW);
    cr_assert_eq(acl_check(d, cmd("config|get")), ACL_ALLOW);
    cr_assert_eq(auth(&a, "default", "anything"), d, "nopass takes any password, as Redis");
    acl_free(&a);
}

Test(acl, three_levels_of_permission)
{
    struct acl a;
    cr_assert_eq(acl_init(&a), 0);
    line(&a, "user ro on >ropw ~* +@read");
    line(&a, "user rw on >rwpw ~* +@all -@admin");
    line(&a, "user admin on >admpw ~* +@all");
    const struct acl_user *ro = acl_find(&a, "ro", 2), *rw = acl_find(&a, "rw", 2),
                          *admin = acl_find(&a, "admin", 5);
    cr_assert(ro && rw && admin);

    cr_assert_eq(acl_check(ro, cmd("get")), ACL_ALLOW);
    cr_assert_eq(acl_check(ro, cmd("mget")), ACL_ALLOW);
    cr_assert_eq(acl_check(ro, cmd("exists")), ACL_ALLOW);
    cr_assert_eq(acl_check(ro, cmd("set")), ACL_NOPERM_CMD);
    cr_assert_eq(acl_check(ro, cmd("del")), ACL_NOPERM_CMD);
    cr_assert_eq(acl_check(ro, cmd("cas")), ACL_NOPERM_CMD);
    cr_assert_eq(acl_check(ro, cmd("config|get")), ACL_NOPERM_CMD);
    cr_assert_eq(acl_check(ro, cmd("auth")), ACL_ALLOW, "AUTH is never refused");
    cr_assert_eq(acl_check(ro, cmd("hello")), ACL_ALLOW);

    cr_assert_eq(acl_check(rw, cmd("get")), ACL_ALLOW);
    cr_assert_eq(acl_check(rw, cmd("set")), ACL_ALLOW);
    cr_assert_eq(acl_check(rw, cmd("del")), ACL_ALLOW);
    cr_assert_eq(acl_check(rw, cmd("ping")), ACL_ALLOW);
    cr_assert_eq(acl_check(rw, cmd("info")), ACL_ALLOW);
    cr_assert_eq(acl_check(rw, cmd("config|get")), ACL_NOPERM_CMD);
    cr_assert_eq(acl_check(rw, cmd("client|list")), ACL_NOPERM_CMD);
    cr_assert_eq(acl_check(rw, cmd("debug.cut")), ACL_NOPERM_CMD);
    cr_assert_eq(acl_check(rw, cmd("client|id")), ACL_ALLOW);

    cr_assert_eq(acl_check(admin, cmd("config|get")), ACL_ALLOW);
    cr_assert_eq(acl_check(admin, cmd("debug.cut")), ACL_ALLOW);
    cr_assert_eq(acl_check(admin, cmd("set")), ACL_ALLOW);
    acl_free(&a);
}

Test(acl, before_authentication_only_no_auth_commands_run)
{
    cr_assert_eq(acl_check(NULL, cmd("get")), ACL_NOAUTH);
    cr_assert_eq(acl_check(NULL, cmd("ping")), ACL_NOAUTH);
    cr_assert_eq(acl_check(NULL, cmd("command")), ACL_NOAUTH);
    cr_assert_eq(acl_check(NULL, cmd("client|id")), ACL_NOAUTH);
    cr_assert_eq(acl_check(NULL, cmd("auth")), ACL_ALLOW);
    cr_assert_eq(acl_check(NULL, cmd("hello")), ACL_ALLOW);
    cr_assert_eq(acl_check(NULL, cmd("quit")), ACL_ALLOW);
}

Test(acl, rules_apply_left_to_right)
{
    struct acl a;
    cr_assert_eq(acl_init(&a), 0);
    line(&a, "user u1 on nopass ~* +@all -set");
    line(&a, "user u2 on nopass ~* -@all +get +client");
    line(&a, "user u3 on nopass ~* +@write -@all +@read");
    line(&a, "user u4 on nopass ~* allcommands -client|list nocommands +ping");
    line(&a, "user u5 on nopass +@all");
    const struct acl_user *u1 = acl_find(&a, "u1", 2), *u2 = acl_find(&a, "u2", 2), *u3 = acl_find(&a, "u3", 2),
                          *u4 = acl_find(&a, "u4", 2), *u5 = acl_find(&a, "u5", 2);
    cr_assert_eq(acl_check(u1, cmd("set")), ACL_NOPERM_CMD);
    cr_assert_eq(acl_check(u1, cmd("del")), ACL_ALLOW);
    cr_assert_eq(acl_check(u2, cmd("get")), ACL_ALLOW);
    cr_assert_eq(acl_check(u2, cmd("mget")), ACL_NOPERM_CMD);
    cr_assert_eq(acl_check(u2, cmd("client|list")), ACL_ALLOW, "+client covers its subcommands");
    cr_assert_eq(acl_check(u3, cmd("set")), ACL_NOPERM_CMD);
    cr_assert_eq(acl_check(u3, cmd("get")), ACL_ALLOW);
    cr_assert_eq(acl_check(u4, cmd("get")), ACL_NOPERM_CMD);
    cr_assert_eq(acl_check(u4, cmd("ping")), ACL_ALLOW);
    /* Without ~* a user may run commands but touch no key, as Redis. */
    cr_assert_eq(acl_check(u5, cmd("get")), ACL_NOPERM_KEY);
    cr_assert_eq(acl_check(u5, cmd("ping")), ACL_ALLOW);
    acl_free(&a);
}

Test(acl, passwords_plain_hashed_several_and_disabled_users)
{
    struct acl a;
    cr_assert_eq(acl_init(&a), 0);
    line(&a, "user alice on >one >two ~* +@all");
    line(&a, "user bob on #2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b ~* +@all");
    line(&a, "user carol off >pw ~* +@all");
    line(&a, "user dave on >old resetpass >new ~* +@all");
    line(&a, "user erin on ~* +@all");
    cr_assert_not_null(auth(&a, "alice", "one"));
    cr_assert_not_null(auth(&a, "alice", "two"));
    cr_assert_null(auth(&a, "alice", "three"));
    cr_assert_null(auth(&a, "alice", "on"), "a prefix is not the password");
    cr_assert_null(auth(&a, "alice", "one "));
    cr_assert_null(auth(&a, "alice", ""));
    cr_assert_not_null(auth(&a, "bob", "secret"), "#hex is SHA-256 of the password");
    cr_assert_null(auth(&a, "bob", "Secret"));
    cr_assert_null(auth(&a, "carol", "pw"), "a user that is off cannot authenticate");
    cr_assert_null(auth(&a, "dave", "old"));
    cr_assert_not_null(auth(&a, "dave", "new"));
    cr_assert_null(auth(&a, "erin", ""), "no password and not nopass: nothing matches");
    cr_assert_null(auth(&a, "erin", "x"));
    cr_assert_null(auth(&a, "nobody", "one"));
    cr_assert_null(auth(&a, "ALICE", "one"), "user names are case-sensitive");
    /* Only digests are kept. */
    const struct acl_user *alice = acl_find(&a, "alice", 5);
    cr_assert_eq(alice->n_passwords, 2);
    cr_assert_null(memmem(alice, sizeof *alice, "one", 3));
    acl_free(&a);
}

Test(acl, bad_lines_say_why)
{
    bad_line("usr alice on", "expected 'user NAME rules...'");
    bad_line("user", "needs a name");
    bad_line("user alice on >pw ~* +@nosuch", "unknown command category '@nosuch'");
    bad_line("user alice on >pw ~* +nosuch", "unknown command 'nosuch'");
    bad_line("user alice on >pw ~* +client|nosuch", "unknown command 'client|nosuch'");
    bad_line("user alice on sometimes", "unknown rule 'sometimes'");
    bad_line("user alice on #abc", "64 hex digits");
    bad_line("user alice on #zz80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b", "64 hex digits");
    bad_line("user alice on >pw ~user:*", "key pattern '~user:*' is not supported");
    bad_line("user alice on >pw %R~*", "is not supported");
    struct acl a;
    cr_assert_eq(acl_init(&a), 0);
    line(&a, "user alice on >pw");
    char err[256];
    cr_assert_eq(acl_parse_line(&a, "user alice on >other", err, sizeof err), -1);
    cr_assert(strstr(err, "user 'alice' is defined twice"), "%s", err);
    line(&a, "");
    line(&a, "   # a comment");
    acl_free(&a);
}

Test(acl, a_file_is_all_or_nothing_and_errors_name_the_line)
{
    struct acl a;
    cr_assert_eq(acl_init(&a), 0);
    char *path = write_file("user ro on >ropw ~* +@read\n\nuser rw on >rwpw ~* +@all -@admin\n"
                            "user bad on >x ~* +@sometimes\n",
                            0600);
    char err[512] = "";
    cr_assert_eq(acl_load_file(&a, path, err, sizeof err), -1);
    char want[600];
    snprintf(want, sizeof want, "%s:4: unknown command category '@sometimes'", path);
    cr_assert_str_eq(err, want);
    cr_assert_eq(a.n_users, 1, "nothing of a bad file is kept");
    cr_assert(acl_default_open(&a));
    unlink(path);
    free(path);

    path = write_file("user ro on >ropw ~* +@read\nuser rw on >rwpw ~* +@all -@admin\n", 0600);
    cr_assert_eq(acl_load_file(&a, path, err, sizeof err), 0, "%s", err);
    cr_assert_eq(a.n_users, 3);
    cr_assert_not(acl_default_open(&a), "with an ACL file and no default line, the default user is off");
    cr_assert_null(auth(&a, "default", ""));
    cr_assert_not_null(auth(&a, "ro", "ropw"));
    unlink(path);
    free(path);
    acl_free(&a);
}

Test(acl, a_file_others_can_read_is_refused)
{
    struct acl a;
    cr_assert_eq(acl_init(&a), 0);
    char *path = write_file("user ro on >ropw ~* +@read\n", 0644);
    char err[512] = "";
    cr_assert_eq(acl_load_file(&a, path, err, sizeof err), -1);
    cr_assert(strstr(err, "readable by every user"), "%s", err);
    cr_assert_eq(a.n_users, 1);
    unlink(path);
    free(path);
    cr_assert_eq(acl_load_file(&a, "/nonexistent/acl", err, sizeof err), -1);
    cr_assert(strstr(err, "cannot read"), "%s", err);
    acl_free(&a);
}

Test(acl, requirepass_file)
{
    struct acl a;
    char err[512] = "";
    cr_assert_eq(acl_init(&a), 0);
    char *path = write_file("s3cret pass\n", 0600);
    cr_assert_eq(acl_load_requirepass(&a, path, err, sizeof err), 0, "%s", err);
    cr_assert_not(acl_default_open(&a));
    cr_assert_not_null(auth(&a, "default", "s3cret pass"), "the line break is not part of the password");
    cr_assert_null(auth(&a, "default", "s3cret pass\n"));
    cr_assert_null(auth(&a, "default", "s3cret"));
    cr_assert_eq(acl_check(acl_default_user(&a), cmd("config|get")), ACL_ALLOW);
    unlink(path);
    free(path);
    acl_free(&a);

    const struct {
        const char *text;
        mode_t mode;
        const char *why;
    } bad[] = {
        {"", 0600, "empty"},
        {"\n", 0600, "empty"},
        {"one\ntwo\n", 0600, "more than one line"},
        {"secret\n", 0604, "readable by every user"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(acl_init(&a), 0);
        path = write_file(bad[i].text, bad[i].mode);
        cr_assert_eq(acl_load_requirepass(&a, path, err, sizeof err), -1, "case %zu accepted", i);
        cr_assert(strstr(err, bad[i].why), "case %zu: %s", i, err);
        cr_assert(acl_default_open(&a), "a refused file changes nothing");
        unlink(path);
        free(path);
        acl_free(&a);
    }
    cr_assert_eq(acl_init(&a), 0);
    cr_assert_eq(acl_load_requirepass(&a, "/nonexistent/pw", err, sizeof err), -1);
    acl_free(&a);
}

Test(acl, requirepass_and_a_default_line_conflict)
{
    struct acl a;
    char err[512] = "";
    cr_assert_eq(acl_init(&a), 0);
    char *acl_path = write_file("user default on >a ~* +@all\n", 0600);
    char *pw_path = write_file("b\n", 0600);
    cr_assert_eq(acl_load_file(&a, acl_path, err, sizeof err), 0, "%s", err);
    cr_assert_not_null(auth(&a, "default", "a"));
    cr_assert_eq(acl_load_requirepass(&a, pw_path, err, sizeof err), -1);
    cr_assert(strstr(err, "defines the default user too"), "%s", err);
    unlink(acl_path);
    unlink(pw_path);
    free(acl_path);
    free(pw_path);
    acl_free(&a);
}

Test(acl, refusal_texts_are_redis_texts)
{
    char buf[160];
    cr_assert_str_eq(acl_verdict_error(ACL_NOAUTH, cmd("get"), buf, sizeof buf), "NOAUTH Authentication required.");
    cr_assert_str_eq(acl_verdict_error(ACL_NOPERM_CMD, cmd("set"), buf, sizeof buf),
                     "NOPERM this user has no permissions to run the 'set' command");
    cr_assert_str_eq(acl_verdict_error(ACL_NOPERM_CMD, cmd("config|get"), buf, sizeof buf),
                     "NOPERM this user has no permissions to run the 'config|get' command");
    cr_assert_str_eq(acl_verdict_error(ACL_NOPERM_KEY, cmd("get"), buf, sizeof buf),
                     "NOPERM this user has no permissions to access one of the keys used as arguments");
    cr_assert_null(acl_verdict_error(ACL_ALLOW, cmd("get"), buf, sizeof buf));
}

static struct sockaddr_in v4(const char *ip)
{
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(5000)};
    cr_assert_eq(inet_pton(AF_INET, ip, &in.sin_addr), 1);
    return in;
}

static struct sockaddr_in6 v6(const char *ip)
{
    struct sockaddr_in6 in = {.sin6_family = AF_INET6, .sin6_port = htons(5000)};
    cr_assert_eq(inet_pton(AF_INET6, ip, &in.sin6_addr), 1);
    return in;
}

Test(acl, protected_mode_serves_only_loopback_while_the_default_user_is_open)
{
    struct acl a;
    cr_assert_eq(acl_init(&a), 0);
    struct sockaddr_in lo = v4("127.0.0.1"), lo2 = v4("127.0.0.2"), lan = v4("10.1.2.3");
    struct sockaddr_in6 lo6 = v6("::1"), mapped = v6("::ffff:127.0.0.1"), lan6 = v6("fe80::1");
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    cr_assert_not(acl_protected_refuses(&a, true, (struct sockaddr *)&lo));
    cr_assert(acl_protected_refuses(&a, true, (struct sockaddr *)&lo2), "127.0.0.2 is not 127.0.0.1");
    cr_assert(acl_protected_refuses(&a, true, (struct sockaddr *)&lan));
    cr_assert_not(acl_protected_refuses(&a, true, (struct sockaddr *)&lo6));
    cr_assert_not(acl_protected_refuses(&a, true, (struct sockaddr *)&mapped));
    cr_assert(acl_protected_refuses(&a, true, (struct sockaddr *)&lan6));
    cr_assert_not(acl_protected_refuses(&a, true, (struct sockaddr *)&un));
    cr_assert_not(acl_protected_refuses(&a, false, (struct sockaddr *)&lo2), "--protected-mode no");
    /* A password turns it off. */
    line(&a, "user default on >pw ~* +@all");
    cr_assert_not(acl_protected_refuses(&a, true, (struct sockaddr *)&lo2));
    acl_free(&a);
    cr_assert(strncmp(acl_protected_mode_error, "DENIED ", 7) == 0);
    cr_assert(strstr(acl_protected_mode_error, "'--protected-mode no'"));
}
