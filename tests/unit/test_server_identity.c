/* test_server_identity.c - the handshake's cluster id check
 * (server_identity_hello_ok): the same id or a fresh peer's zero id is
 * accepted, another cluster's id refused, and a member that knows no id
 * yet takes the one a configured peer's handshake carries. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

static struct server *srv;
static uv_loop_t loop;
static uv_tcp_t tcp;

static void setup(void)
{
    srv = calloc(1, sizeof *srv);
    cr_assert_not_null(srv);
    cr_assert_eq(uv_loop_init(&loop), 0);
    uv_tcp_init(&loop, &tcp); /* never connected: the address reads "?" */
    srv->loop = &loop;
    srv->opt.in_memory = true; /* nothing written to disk */
    srv->opt.n_nodes = 3;
    for (int i = 0; i < 3; i++)
        snprintf(srv->opt.names[i], sizeof srv->opt.names[i], "n%d", i + 1);
    snprintf(srv->opt.id, sizeof srv->opt.id, "n1");
    const char *members[3] = {"n1", "n2", "n3"};
    cr_assert_eq(identity_init(&srv->identity, "n1", members, 3), 0);
}

static void teardown(void)
{
    uv_close((uv_handle_t *)&tcp, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    free(srv);
}

TestSuite(server_identity, .init = setup, .fini = teardown);

static struct peer_hello hello(const char *from, uint8_t first_byte)
{
    struct peer_hello h = {.cluster_fingerprint = 1};
    snprintf(h.sender, sizeof h.sender, "%s", from);
    snprintf(h.receiver, sizeof h.receiver, "n1");
    if (first_byte) {
        memset(h.cluster_id, 0x5a, sizeof h.cluster_id);
        h.cluster_id[0] = first_byte;
    }
    return h;
}

Test(server_identity, another_clusters_id_is_refused_and_ours_or_none_accepted)
{
    srv->identity.has_cluster_id = true;
    memset(srv->identity.cluster_id, 0x5a, 16);
    srv->identity.cluster_id[0] = 0xa1;
    struct peer_hello same = hello("n2", 0xa1), fresh = hello("n2", 0), other = hello("n3", 0xa1);
    other.cluster_id[15] = 0x01; /* differs in the last byte only */
    cr_assert(server_identity_hello_ok(srv, &same, &tcp));
    cr_assert(server_identity_hello_ok(srv, &fresh, &tcp));
    cr_assert(!server_identity_hello_ok(srv, &other, &tcp));
    cr_assert(!server_identity_hello_ok(srv, &other, &tcp), "refused again (logged at a bounded rate)");
    cr_assert_eq(srv->identity.cluster_id[0], 0xa1, "our id is unchanged");
    uint8_t sent[16];
    server_identity_hello(srv, sent);
    cr_assert_eq(sent[0], 0xa1);
}

Test(server_identity, a_member_without_an_id_takes_a_peers_and_then_holds_to_it)
{
    uint8_t sent[16];
    server_identity_hello(srv, sent);
    const uint8_t zero[16] = {0};
    cr_assert_eq(memcmp(sent, zero, 16), 0, "a fresh member sends all zero");
    struct peer_hello first = hello("n2", 0xc3), other = hello("n3", 0xd4);
    cr_assert(server_identity_hello_ok(srv, &first, &tcp));
    cr_assert(srv->identity.has_cluster_id);
    cr_assert_eq(srv->identity.cluster_id[0], 0xc3);
    cr_assert(!server_identity_hello_ok(srv, &other, &tcp));
    server_identity_hello(srv, sent);
    cr_assert_eq(sent[0], 0xc3);
}
