/* test_node_cluster_id.c - the Maelstrom node never proposes a cluster id
 * (replica.h, config.cluster_id is the TCP server's opt-in): a one-node
 * cluster elects itself, takes a write, and its log holds the no-op and
 * the write only, its state machine no id. */
#include <criterion/criterion.h>
#include <string.h>

#include "node/node.h"
#include "node/node_internal.h"
#include "replica/replica.h"

static void line(struct node *n, const char *text, uint64_t now)
{
    node_handle_line(n, text, strlen(text), now);
    node_end_batch(n, now);
}

Test(node_cluster_id, the_maelstrom_node_never_proposes_a_cluster_id)
{
    struct node_options o = {.seed = 7};
    struct node *n = node_new(&o);
    cr_assert_not_null(n);
    uint64_t now = 1000;
    line(n, "{\"src\":\"c0\",\"dest\":\"n1\",\"body\":{\"type\":\"init\",\"msg_id\":1,\"node_id\":\"n1\",\"node_ids\":[\"n1\"]}}", now);
    for (int i = 0; i < 3000 && replica_role(n->replica) != RAFT_LEADER; i++) {
        now++;
        node_tick(n, now);
        node_end_batch(n, now);
    }
    cr_assert_eq(replica_role(n->replica), RAFT_LEADER);
    line(n, "{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"write\",\"msg_id\":2,\"key\":1,\"value\":5}}", now);
    for (int i = 0; i < 1000; i++) {
        now++;
        node_tick(n, now);
        node_end_batch(n, now);
    }
    struct outbuf *out = node_output(n);
    cr_assert(out->len > 0 && memmem(out->data, out->len, "\"write_ok\"", 10), "%.*s", (int)out->len, out->data);
    cr_assert_eq(replica_last_index(n->replica), 2, "the no-op and the write only");
    uint8_t id[16];
    cr_assert(!replica_cluster_id(n->replica, id));
    node_free(n);
}
