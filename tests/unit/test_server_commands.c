/* test_server_commands.c - the server commands' pieces that need no
 * replica: INFO's section selection (info_sections), ROLE's reply and INFO's
 * replication section from a role view (role.c), CLIENT LIST's line
 * (client_list.c), RESP3 verbatim strings, and CLIENT's subcommands through
 * commands_dispatch, with the bytes redis-server 7.0.15 gives. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "server/commands.h"
#include "server/role.h"

static uint32_t sections(const char *words)
{
    char copy[256];
    snprintf(copy, sizeof copy, "%s", words);
    char *argv[16];
    size_t argl[16], argc = 0;
    for (char *save = NULL, *w = strtok_r(copy, " ", &save); w && argc < 16; w = strtok_r(NULL, " ", &save)) {
        argv[argc] = w;
        argl[argc++] = strlen(w);
    }
    return info_sections(argc, argv, argl);
}

/* Bits: server 0x1, clients 0x2, memory 0x4, persistence 0x8, stats 0x10,
 * replication 0x20, cpu 0x40, cluster 0x80, raft 0x100, keyspace 0x200. */
Test(info_sections, as_redis_reads_its_arguments)
{
    cr_assert_eq(sections(""), 0x3ff, "no argument: the default sections, here all ten");
    cr_assert_eq(sections("server"), 0x1);
    cr_assert_eq(sections("SERVER"), 0x1, "any case");
    cr_assert_eq(sections("keyspace server"), 0x201, "several; the order is INFO's own");
    cr_assert_eq(sections("clients clients"), 0x2);
    cr_assert_eq(sections("replication"), 0x20);
    cr_assert_eq(sections("raft"), 0x100);
    cr_assert_eq(sections("cluster"), 0x80);
    cr_assert_eq(sections("cpu memory"), 0x44);
    cr_assert_eq(sections("persistence stats"), 0x18);
    cr_assert_eq(sections("all"), 0x3ff);
    cr_assert_eq(sections("everything"), 0x3ff);
    cr_assert_eq(sections("Default"), 0x3ff);
    cr_assert_eq(sections("nosuch"), 0, "an unknown section: nothing (an empty reply)");
    cr_assert_eq(sections("nosuch stats"), 0x10);
    cr_assert_eq(sections("commandstats"), 0, "Redis's sections raftkv does not have");
    cr_assert_eq(sections("serverx"), 0);
    cr_assert_eq(sections("serve"), 0);
    cr_assert_str_eq(info_section_name(0), "server");
    cr_assert_str_eq(info_section_name(7), "cluster");
    cr_assert_str_eq(info_section_name(8), "raft");
    cr_assert_str_eq(info_section_name(9), "keyspace");
    cr_assert_null(info_section_name(10));
}

static const char *text(struct resp_buf *b)
{
    static char out[2048];
    size_t n = b->len < sizeof out - 1 ? b->len : sizeof out - 1;
    memcpy(out, b->data ? b->data : "", n);
    out[n] = '\0';
    b->len = 0;
    return out;
}

static struct role_view leader_view(void)
{
    struct role_view v = {.master = true, .offset = 42, .master_host = "", .n_replicas = 2};
    v.replicas[0] = (struct role_member){.name = "n2", .id = 1, .host = "10.0.0.2", .port = 7102, .offset = 40,
                                         .online = true};
    v.replicas[1] = (struct role_member){.name = "n4", .id = 3, .host = "10.0.0.3", .port = 7103, .offset = 17,
                                         .online = false};
    return v;
}

Test(role, leader_is_a_master_with_its_followers)
{
    struct resp_buf b = {0};
    struct role_view v = leader_view();
    role_write_reply(&b, &v, 2);
    cr_assert_str_eq(text(&b), "*3\r\n$6\r\nmaster\r\n:42\r\n*2\r\n"
                               "*3\r\n$8\r\n10.0.0.2\r\n$4\r\n7102\r\n$2\r\n40\r\n"
                               "*3\r\n$8\r\n10.0.0.3\r\n$4\r\n7103\r\n$2\r\n17\r\n");
    role_write_info(&b, &v);
    cr_assert_str_eq(text(&b), "# Replication\r\nrole:master\r\nconnected_slaves:1\r\n"
                               "slave0:ip=10.0.0.2,port=7102,state=online,offset=40,name=n2,id=1,lag_entries=2\r\n"
                               "master_failover_state:no-failover\r\nmaster_repl_offset:42\r\n");
    struct role_view alone = {.master = true, .offset = 5, .master_host = ""};
    role_write_reply(&b, &alone, 3);
    cr_assert_str_eq(text(&b), "*3\r\n$6\r\nmaster\r\n:5\r\n*0\r\n", "redis-server's shape without replicas");
    resp_buf_free(&b);
}

Test(role, follower_is_a_replica_of_the_leader)
{
    struct resp_buf b = {0};
    struct role_view v = {.offset = 40, .master_host = "10.0.0.1", .master_port = 7101, .link_up = true};
    role_write_reply(&b, &v, 2);
    cr_assert_str_eq(text(&b), "*5\r\n$5\r\nslave\r\n$8\r\n10.0.0.1\r\n:7101\r\n$9\r\nconnected\r\n:40\r\n");
    role_write_info(&b, &v);
    cr_assert_str_eq(text(&b), "# Replication\r\nrole:slave\r\nmaster_host:10.0.0.1\r\nmaster_port:7101\r\n"
                               "master_link_status:up\r\nmaster_sync_in_progress:0\r\nslave_repl_offset:40\r\n"
                               "slave_read_only:0\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\n"
                               "master_repl_offset:40\r\n");
    struct role_view lost = {.offset = 3, .master_host = ""};
    role_write_reply(&b, &lost, 2);
    cr_assert_str_eq(text(&b), "*5\r\n$5\r\nslave\r\n$0\r\n\r\n:0\r\n$10\r\nconnecting\r\n:3\r\n",
                     "no leader known: connecting, to nobody");
    resp_buf_free(&b);
}

Test(resp, verbatim_text_in_resp3_bulk_in_resp2)
{
    struct resp_buf b = {0};
    resp_write_verbatim(&b, "a:1\r\n", 5, 2);
    cr_assert_str_eq(text(&b), "$5\r\na:1\r\n\r\n");
    resp_write_verbatim(&b, "a:1\r\n", 5, 3);
    cr_assert_str_eq(text(&b), "=9\r\ntxt:a:1\r\n\r\n");
    resp_write_verbatim(&b, "", 0, 3);
    cr_assert_str_eq(text(&b), "=4\r\ntxt:\r\n", "redis-server's empty INFO in RESP3");
    resp_buf_free(&b);
}

struct fixture {
    struct server *s;
    struct client *c, *other;
};

static struct fixture setup(void)
{
    struct fixture f;
    f.s = calloc(1, sizeof *f.s);
    cr_assert_not_null(f.s);
    f.s->opt.max_output_bytes = 1u << 20;
    f.s->opt.max_pending_per_client = 1024;
    f.s->opt.max_pending = 1024;
    cr_assert_eq(acl_init(&f.s->acl), 0);
    f.other = calloc(1, sizeof *f.other);
    f.c = calloc(1, sizeof *f.c);
    cr_assert(f.c && f.other);
    /* The list holds the newest first: c (id 9) joined after other (id 4). */
    f.other->srv = f.s;
    f.other->id = 4;
    f.other->proto = 2;
    snprintf(f.other->addr, sizeof f.other->addr, "127.0.0.1:5001");
    snprintf(f.other->laddr, sizeof f.other->laddr, "127.0.0.1:6379");
    f.c->srv = f.s;
    f.c->id = 9;
    f.c->proto = 2;
    f.c->reading = true; /* so answering never touches the (absent) socket */
    snprintf(f.c->addr, sizeof f.c->addr, "127.0.0.1:5000");
    snprintf(f.c->laddr, sizeof f.c->laddr, "127.0.0.1:6379");
    f.c->user = f.other->user = acl_default_user(&f.s->acl);
    f.c->next = f.other;
    f.other->prev = f.c;
    f.s->clients = f.c;
    f.s->n_clients = 2;
    return f;
}

static void teardown(struct fixture *f)
{
    server_out_free(&f->c->out);
    free(f->c);
    free(f->other);
    acl_free(&f->s->acl);
    free(f->s);
}

/* Send one command (words separated by '|') and return its reply. */
static const char *run_cmd(struct fixture *f, const char *line)
{
    static char reply[4096];
    char copy[512];
    snprintf(copy, sizeof copy, "%s", line);
    char *argv[16];
    size_t argl[16], argc = 0;
    for (char *p = copy, *w = copy;; p++)
        if (*p == '|' || *p == '\0') {
            bool end = *p == '\0';
            *p = '\0';
            argv[argc] = w;
            argl[argc++] = strlen(w);
            w = p + 1;
            if (end || argc == 16)
                break;
        }
    struct resp_request q = {.argc = argc, .argv = argv, .argl = argl};
    f->c->out.pending.len = 0;
    cr_assert_eq(commands_dispatch(f->c, &q), 0);
    size_t n = f->c->out.pending.len < sizeof reply - 1 ? f->c->out.pending.len : sizeof reply - 1;
    memcpy(reply, f->c->out.pending.data, n);
    reply[n] = '\0';
    return reply;
}

#define EXPECT(f, cmd, want) cr_assert_str_eq(run_cmd(f, cmd), want, "%s", cmd)

Test(client_list, line_in_redis_7_0s_field_order)
{
    struct fixture f = setup();
    struct client *c = f.c;
    snprintf(c->name, sizeof c->name, "app");
    c->connected_ms = 1000;
    c->last_cmd_ms = 3000;
    c->last_cmd = "get";
    c->proto = 3;
    struct resp_buf b = {0};
    client_list_line(&b, c, 10500);
    char want[512];
    snprintf(want, sizeof want,
             "id=9 addr=127.0.0.1:5000 laddr=127.0.0.1:6379 fd=-1 name=app age=9 idle=7 flags=N db=0 sub=0 "
             "psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 "
             "tot-mem=%zu events=r cmd=get user=default redir=-1 resp=3\n",
             sizeof(struct client));
    cr_assert_str_eq(text(&b), want);
    /* A new connection: no command yet, idle since it connected. */
    client_list_line(&b, f.other, 2999);
    snprintf(want, sizeof want,
             "id=4 addr=127.0.0.1:5001 laddr=127.0.0.1:6379 fd=-1 name= age=2 idle=2 flags=N db=0 sub=0 "
             "psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 "
             "tot-mem=%zu events= cmd=NULL user=default redir=-1 resp=2\n",
             sizeof(struct client));
    cr_assert_str_eq(text(&b), want);
    c->close_after_write = true;
    c->no_evict = true;
    client_list_line(&b, c, 10500);
    cr_assert(strstr(text(&b), " flags=ce db=0 "), "c: closes after the reply, e: no-evict");
    resp_buf_free(&b);
    teardown(&f);
}

Test(client_list, subcommands_as_redis_answers_them)
{
    struct fixture f = setup();
    EXPECT(&f, "CLIENT|SETNAME|a b", "-ERR Client names cannot contain spaces, newlines or special characters.\r\n");
    EXPECT(&f, "CLIENT|SETNAME|a\nb",
           "-ERR Client names cannot contain spaces, newlines or special characters.\r\n");
    EXPECT(&f, "CLIENT|GETNAME", "$-1\r\n");
    EXPECT(&f, "CLIENT|SETNAME|app1", "+OK\r\n");
    EXPECT(&f, "CLIENT|GETNAME", "$4\r\napp1\r\n");
    EXPECT(&f, "CLIENT|SETNAME|", "+OK\r\n");
    EXPECT(&f, "CLIENT|GETNAME", "$-1\r\n"); /* an empty name clears it */
    EXPECT(&f, "CLIENT|ID", ":9\r\n");
    EXPECT(&f, "CLIENT|LIST|TYPE|bogus", "-ERR Unknown client type 'bogus'\r\n");
    EXPECT(&f, "CLIENT|LIST|TYPE|pubsub", "$0\r\n\r\n");
    EXPECT(&f, "CLIENT|LIST|ID|abc", "-ERR Invalid client ID\r\n");
    EXPECT(&f, "CLIENT|LIST|ID|4|x", "-ERR Invalid client ID\r\n");
    EXPECT(&f, "CLIENT|LIST|ID", "-ERR syntax error\r\n");
    EXPECT(&f, "CLIENT|LIST|foo", "-ERR syntax error\r\n");
    EXPECT(&f, "CLIENT|LIST|TYPE|normal|ID|1", "-ERR syntax error\r\n");
    EXPECT(&f, "CLIENT|LIST|ID|999", "$0\r\n\r\n");
    EXPECT(&f, "CLIENT|NO-EVICT|maybe", "-ERR syntax error\r\n");
    EXPECT(&f, "CLIENT|NO-EVICT|on", "+OK\r\n");
    cr_assert(f.c->no_evict);
    EXPECT(&f, "CLIENT|NO-EVICT|OFF", "+OK\r\n");
    cr_assert(!f.c->no_evict);
    EXPECT(&f, "CLIENT|SETINFO|lib-name|redis-py", "+OK\r\n");
    EXPECT(&f, "CLIENT|SETINFO|lib-ver|5.0.1", "+OK\r\n");
    EXPECT(&f, "CLIENT|SETINFO|lib-name|a b",
           "-ERR lib-name cannot contain spaces, newlines or special characters.\r\n");
    EXPECT(&f, "CLIENT|SETINFO|color|red", "-ERR Unrecognized option 'color'\r\n");

    /* Oldest first; ID in the order asked; TYPE normal is everyone. */
    const char *all = run_cmd(&f, "CLIENT|LIST");
    const char *first = strstr(all, "id=4 "), *second = strstr(all, "id=9 ");
    cr_assert(first && second && first < second, "%s", all);
    cr_assert(strstr(all, " cmd=client|list user=default redir=-1 resp=2\n"), "%s", all);
    cr_assert_eq(strncmp(all, "$", 1), 0);
    const char *byid = run_cmd(&f, "CLIENT|LIST|ID|9|4|12");
    first = strstr(byid, "id=9 ");
    second = strstr(byid, "id=4 ");
    cr_assert(first && second && first < second, "%s", byid);
    const char *normal = run_cmd(&f, "CLIENT|LIST|TYPE|NORMAL");
    cr_assert(strstr(normal, "id=4 ") && strstr(normal, "\nid=9 "), "%s", normal);

    /* RESP3: verbatim strings, as redis-server 7.0.15 sends them. */
    f.c->proto = 3;
    EXPECT(&f, "CLIENT|LIST|ID|999", "=4\r\ntxt:\r\n");
    const char *info = run_cmd(&f, "CLIENT|INFO");
    cr_assert(strstr(info, "txt:id=9 addr=127.0.0.1:5000 laddr=127.0.0.1:6379 "), "%s", info);
    cr_assert(strstr(info, " cmd=client|info user=default redir=-1 resp=3\n\r\n"), "%s", info);
    EXPECT(&f, "TIME|x", "-ERR wrong number of arguments for 'time' command\r\n");
    EXPECT(&f, "ROLE|x", "-ERR wrong number of arguments for 'role' command\r\n");
    const char *t = run_cmd(&f, "TIME");
    cr_assert_eq(strncmp(t, "*2\r\n$10\r\n", 9), 0, "[seconds, microseconds] as bulk strings: %s", t);
    teardown(&f);
}

/* HELLO's options as redis-server 7.0.15 takes them: left to right, the
 * name checked before the NOAUTH check; bytes from redis-server. (A
 * successful HELLO needs a replica for its role: test_server_commands.sh.) */
Test(client_list, hello_setname_as_redis_orders_its_checks)
{
    struct fixture f = setup();
    char err[256];
    cr_assert_eq(acl_parse_line(&f.s->acl, "user default on >pw ~* +@all", err, sizeof err), 0, "%s", err);
    f.c->user = NULL;
    EXPECT(&f, "HELLO|3|SETNAME|a b", "-ERR Client names cannot contain spaces, newlines or special characters.\r\n");
    EXPECT(&f, "HELLO|3|SETNAME|ok|AUTH|default|wrong",
           "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
    EXPECT(&f, "HELLO|3|SETNAME|a b|AUTH|default|wrong",
           "-ERR Client names cannot contain spaces, newlines or special characters.\r\n");
    cr_assert_null(f.c->user);
    EXPECT(&f, "HELLO|3|AUTH|default|pw|SETNAME|a b",
           "-ERR Client names cannot contain spaces, newlines or special characters.\r\n");
    cr_assert_not_null(f.c->user, "authenticated by the AUTH before the bad name");
    cr_assert_eq(f.c->proto, 2);
    cr_assert_str_eq(f.c->name, "", "no name set by a HELLO that failed");
    teardown(&f);
}

/* SELECT's errors, in Redis 7.0.15's order of checks. */
Test(client_list, select_as_redis_checks_the_index)
{
    struct fixture f = setup();
    EXPECT(&f, "SELECT|abc", "-ERR value is not an integer or out of range\r\n");
    EXPECT(&f, "SELECT|01", "-ERR value is not an integer or out of range\r\n");
    EXPECT(&f, "SELECT|", "-ERR value is not an integer or out of range\r\n");
    EXPECT(&f, "SELECT|2147483648", "-ERR value is not an integer or out of range\r\n");
    EXPECT(&f, "SELECT|-1", "-ERR DB index is out of range\r\n");
    EXPECT(&f, "SELECT|16", "-ERR DB index is out of range\r\n");
    EXPECT(&f, "SELECT|15", "-ERR raftkv has only database 0\r\n");
    EXPECT(&f, "SELECT|0", "+OK\r\n");
    teardown(&f);
}
