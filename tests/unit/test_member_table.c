/* test_member_table.c - the server's member table: its wire bytes (in CONFIG
 * entries and MEMBERS frames) against literal bytes, decoder refusals, the
 * members file, and RAFT.NODE's argument checks with their exact texts. */
#include <criterion/criterion.h>
#include <string.h>

#include "server/member_table.h"
#include "server/peer_codec.h"

static struct member_table three(void)
{
    struct member_table t;
    memset(&t, 0, sizeof t);
    const char *names[] = {"n1", "n2", "n3"};
    for (int i = 0; i < 3; i++) {
        t.m[i].used = true;
        t.m[i].role = RAFT_VOTER;
        strcpy(t.m[i].name, names[i]);
        strcpy(t.m[i].host, "h");
        t.m[i].port = 7101 + i;
    }
    return t;
}

Test(member_table, wire_bytes_are_literal)
{
    struct member_table t;
    memset(&t, 0, sizeof t);
    t.m[0] = (struct member_entry){.used = true, .role = RAFT_VOTER, .name = "a", .host = "h", .port = 258};
    t.m[5] = (struct member_entry){.used = true, .role = RAFT_LEARNER, .name = "bc", .host = "ip", .port = 7101};
    uint8_t buf[64];
    size_t n = member_table_encode(&t, buf, sizeof buf);
    static const uint8_t want[] = {1, 2, /* id 0 */ 0, 0, 1, 'a', 1, 'h', 1, 2,
                                   /* id 5 */ 5, 1, 2, 'b', 'c', 2, 'i', 'p', 0x1b, 0xbd};
    cr_assert_eq(n, sizeof want);
    cr_assert_arr_eq(buf, want, sizeof want);
    struct member_table d;
    memset(&d, 0, sizeof d);
    cr_assert_eq(member_table_decode(buf, n, &d), 0);
    cr_assert(member_table_same(&t, &d));
    cr_assert_eq(d.m[5].port, 7101);
    cr_assert_eq(d.m[5].role, RAFT_LEARNER);
    cr_assert_eq(member_table_encode(&t, buf, 19), 0, "too small a buffer");
}

Test(member_table, decoder_refuses_damage)
{
    static const uint8_t good[] = {1, 2, 0, 0, 1, 'a', 1, 'h', 1, 2, 5, 1, 2, 'b', 'c', 2, 'i', 'p', 0x1b, 0xbd};
    uint8_t b[sizeof good];
    struct member_table d;
    memset(&d, 0, sizeof d);
    cr_assert_eq(member_table_decode(good, sizeof good - 1, &d), -1, "truncated");
    uint8_t longer[sizeof good + 1];
    memcpy(longer, good, sizeof good);
    longer[sizeof good] = 0;
    cr_assert_eq(member_table_decode(longer, sizeof longer, &d), -1, "a trailing byte");
    memcpy(b, good, sizeof b);
    b[0] = 2;
    cr_assert_eq(member_table_decode(b, sizeof b, &d), -1, "version");
    memcpy(b, good, sizeof b);
    b[10] = 0;
    cr_assert_eq(member_table_decode(b, sizeof b, &d), -1, "ids out of order");
    memcpy(b, good, sizeof b);
    b[11] = 3; /* 0 voter, 1 learner, 2 learner promoted when caught up */
    cr_assert_eq(member_table_decode(b, sizeof b, &d), -1, "role");
    b[11] = 2;
    cr_assert_eq(member_table_decode(b, sizeof b, &d), 0, "a learner to promote");
    cr_assert(d.m[5].auto_promote);
    memset(&d, 0, sizeof d);
    memcpy(b, good, sizeof b);
    b[13] = 'a';
    b[14] = ' ';
    cr_assert_eq(member_table_decode(b, sizeof b, &d), -1, "a space in a name");
    memcpy(b, good, sizeof b);
    b[12] = 1;
    b[13] = 'a';
    b[14] = 2; /* a second "a" with a shifted host: its own host length */
    cr_assert_eq(member_table_decode(b, sizeof b, &d), -1, "duplicate name or bad lengths");
    memcpy(b, good, sizeof b);
    b[18] = 0;
    b[19] = 0;
    cr_assert_eq(member_table_decode(b, sizeof b, &d), -1, "port 0");
    memcpy(b, good, sizeof b);
    b[10] = 64;
    cr_assert_eq(member_table_decode(b, sizeof b, &d), -1, "id 64");
    cr_assert_eq(member_table_count(&d), 0, "a refused decode leaves the output alone");
}

Test(member_table, file_text_round_trip_and_checksum)
{
    struct member_table t = three();
    t.index = 12;
    t.m[1].role = RAFT_LEARNER;
    char buf[1024];
    int n = member_table_text(&t, buf, sizeof buf);
    cr_assert_gt(n, 0);
    const char *head = "raftkv-members 1\nindex 12\nmember 0 voter n1 h 7101\nmember 1 learner n2 h 7102\n"
                       "member 2 voter n3 h 7103\ncrc32c ";
    cr_assert_eq(strncmp(buf, head, strlen(head)), 0, "got %.*s", n, buf);
    struct member_table d;
    char err[128];
    cr_assert_eq(member_table_parse(buf, (size_t)n, &d, err, sizeof err), 0, "%s", err);
    cr_assert(member_table_same(&t, &d));
    cr_assert_eq(d.index, 12);
    buf[strlen("raftkv-members 1\nindex 1")] = '3'; /* index 13: the checksum no longer matches */
    cr_assert_eq(member_table_parse(buf, (size_t)n, &d, err, sizeof err), -1);
    cr_assert_str_eq(err, "line 6: checksum mismatch");
    cr_assert_eq(member_table_parse(buf, (size_t)n - 5, &d, err, sizeof err), -1, "truncated");
}

Test(member_table, addresses)
{
    char host[256];
    int port = 0;
    cr_assert_eq(member_parse_addr("127.0.0.1:7101", 14, host, sizeof host, &port), 0);
    cr_assert_str_eq(host, "127.0.0.1");
    cr_assert_eq(port, 7101);
    cr_assert_eq(member_parse_addr("[::1]:80", 8, host, sizeof host, &port), 0);
    cr_assert_str_eq(host, "::1");
    cr_assert_eq(port, 80);
    cr_assert_eq(member_parse_addr("nowhere", 7, host, sizeof host, &port), -1);
    cr_assert_eq(member_parse_addr("h:0", 3, host, sizeof host, &port), -1);
    cr_assert_eq(member_parse_addr("h:65536", 7, host, sizeof host, &port), -1);
    cr_assert_eq(member_parse_addr(":7101", 5, host, sizeof host, &port), -1);
    cr_assert_eq(member_parse_addr("a:b:7101", 8, host, sizeof host, &port), -1, "v6 without brackets");
    cr_assert(member_name_ok("n-4_b.x", 7));
    cr_assert(!member_name_ok("n 4", 3));
    cr_assert(!member_name_ok("", 0));
    cr_assert(!member_name_ok("n=4", 3));
}

Test(member_table, raft_node_checks)
{
    struct member_table t = three();
    struct raft_configuration c;
    member_table_configuration(&t, &c);
    char host[256], why[256];
    int port;
    /* add: the smallest unused id; refusals with their texts */
    cr_assert_eq(member_check_add(&t, &c, "n4", "h:7104", 6, host, &port, why, sizeof why), 3);
    cr_assert_eq(port, 7104);
    cr_assert_eq(member_check_add(&t, &c, "n2", "h:7104", 6, host, &port, why, sizeof why), -1);
    cr_assert_str_eq(why, "a member named n2 already exists");
    cr_assert_eq(member_check_add(&t, &c, "n4", "h:7102", 6, host, &port, why, sizeof why), -1);
    cr_assert_str_eq(why, "address h:7102 is already n2's");
    cr_assert_eq(member_check_add(&t, &c, "n4", "h", 1, host, &port, why, sizeof why), -1);
    cr_assert_str_eq(why, "invalid address (want host:port)");
    cr_assert_eq(member_check_add(&t, &c, "n 4", "h:1", 3, host, &port, why, sizeof why), -1);
    cr_assert_str_eq(why, "invalid member name (1 to 64 letters, digits, '.', '_', '-')");
    /* an id the core still holds (removed from the table, change not yet
     * seen) is not reused */
    t.m[1].used = false;
    cr_assert_eq(member_check_add(&t, &c, "n4", "h:7104", 6, host, &port, why, sizeof why), 3);
    member_table_configuration(&t, &c);
    cr_assert_eq(member_check_add(&t, &c, "n4", "h:7104", 6, host, &port, why, sizeof why), 1);
    /* promote */
    t = three();
    t.m[2].role = RAFT_LEARNER;
    member_table_configuration(&t, &c);
    cr_assert_eq(member_check_promote(&t, &c, "n3", why, sizeof why), 2);
    cr_assert_eq(member_check_promote(&t, &c, "n1", why, sizeof why), -1);
    cr_assert_str_eq(why, "n1 is already a voter");
    cr_assert_eq(member_check_promote(&t, &c, "n9", why, sizeof why), -1);
    cr_assert_str_eq(why, "no member named n9");
    /* remove: never the last voter; a learner beside it may go */
    cr_assert_eq(member_check_remove(&t, &c, "n9", why, sizeof why), -1);
    cr_assert_str_eq(why, "no member named n9");
    t.m[1].used = false;
    member_table_configuration(&t, &c);
    cr_assert_eq(member_check_remove(&t, &c, "n1", why, sizeof why), -1);
    cr_assert_str_eq(why, "cannot remove the last voter");
    cr_assert_eq(member_check_remove(&t, &c, "n3", why, sizeof why), 2);
}

Test(member_table, members_frame_bytes)
{
    static const uint8_t table[] = {1, 1, 0, 0, 1, 'a', 1, 'h', 1, 2};
    struct peer_wbuf b = {0};
    cr_assert_eq(peer_encode_members(&b, 300, table, sizeof table), PEER_OK);
    /* length 2 + 2 (varint 300) + 10, version 5, kind 8 */
    static const uint8_t want[] = {0, 0, 0, 14, 5, 8, 0xac, 0x02, 1, 1, 0, 0, 1, 'a', 1, 'h', 1, 2};
    cr_assert_eq(b.len, sizeof want);
    cr_assert_arr_eq(b.data, want, sizeof want);
    uint64_t index;
    const uint8_t *t;
    size_t tl;
    cr_assert_eq(peer_decode_members(b.data + 6, b.len - 6, &index, &t, &tl), PEER_OK);
    cr_assert_eq(index, 300);
    cr_assert_eq(tl, sizeof table);
    peer_wbuf_free(&b);
}

/* A member removed while it was down is told at its handshake (REMOVED). */
Test(member_table, who_is_told_it_was_removed_and_who_obeys)
{
    struct member_table t;
    memset(&t, 0, sizeof t);
    t.index = 11;
    t.m[0] = (struct member_entry){.used = true, .name = "n1", .host = "h", .port = 1};
    t.m[3] = (struct member_entry){.used = true, .name = "n4", .host = "h", .port = 4};
    cr_assert(member_tell_removed(&t, 11, "n1", "n3"), "n3 is not in the committed table of index 11");
    cr_assert(member_tell_removed(&t, 20, "n1", "n3"));
    cr_assert_not(member_tell_removed(&t, 10, "n1", "n3"), "the change at 11 is not committed yet");
    cr_assert_not(member_tell_removed(&t, 11, "n1", "n4"), "n4 is a member");
    cr_assert_not(member_tell_removed(&t, 11, "n3", "n3"), "a HELLO in our own name is not a removed member");
    t.index = 0;
    cr_assert_not(member_tell_removed(&t, 5, "n1", "n3"), "--peers' table: nobody was ever removed");

    cr_assert(member_removal_applies("n3", "n3", 11, 5));
    cr_assert(member_removal_applies("n3", "n3", 6, 5));
    cr_assert_not(member_removal_applies("n3", "n3", 5, 5), "not newer than what n3 knows");
    cr_assert_not(member_removal_applies("n3", "n3", 11, 15), "re-added at 15: a lagging peer's news");
    cr_assert_not(member_removal_applies("n3", "n2", 11, 5), "about another member");
}
