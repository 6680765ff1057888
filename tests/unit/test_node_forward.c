/* test_node_forward.c - forwards between Maelstrom nodes (node_client.c),
 * driven in-process: three struct node on a virtual clock, their output
 * lines passed round by round, any line held back when a test says so. A
 * follower that restarted numbers its forwards as its previous life did, so
 * the leader's answers to that life must not end its new requests. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/node.h"
#include "node/node_log.h"

#define N 3
#define MAX_LINES 4096

struct line {
    int to;     /* node index */
    char *text; /* without the newline */
};

static struct node *nodes[N];
static struct line lines[MAX_LINES]; /* in flight between nodes */
static size_t n_lines;
static uint64_t now = 1000;
static json_t *answers; /* client answers, in order */
static int appender = -1; /* the node raft_append lines came from last */

static void node_start(int i)
{
    struct node_options o = {
        .seed = 7 + (uint64_t)i, .election_timeout_ms = 50, .heartbeat_ms = 10};
    nodes[i] = node_new(&o);
    cr_assert(nodes[i]);
    char buf[200];
    int len = snprintf(buf, sizeof buf,
                       "{\"src\":\"c0\",\"dest\":\"n%d\",\"body\":{\"type\":\"init\",\"msg_id\":1,"
                       "\"node_id\":\"n%d\",\"node_ids\":[\"n0\",\"n1\",\"n2\"]}}",
                       i, i);
    node_handle_line(nodes[i], buf, (size_t)len, now);
    node_end_batch(nodes[i], now);
    node_output(nodes[i])->len = 0; /* init_ok */
}

/* Take node i's output: lines to nodes queue up, answers to clients are kept. */
static void collect(int i)
{
    struct outbuf *out = node_output(nodes[i]);
    char *p = out->data, *end = out->data + out->len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        cr_assert(nl);
        json_error_t err;
        json_t *m = json_loadb(p, (size_t)(nl - p), 0, &err);
        cr_assert(m, "node output is JSON: %s", err.text);
        const char *dest = json_string_value(json_object_get(m, "dest"));
        const char *type = json_string_value(json_object_get(json_object_get(m, "body"), "type"));
        if (type && strcmp(type, "raft_append") == 0)
            appender = i;
        if (dest[0] == 'n') {
            cr_assert_lt(n_lines, MAX_LINES);
            lines[n_lines++] =
                (struct line){.to = dest[1] - '0', .text = strndup(p, (size_t)(nl - p))};
        } else {
            json_array_append(answers, m);
        }
        json_decref(m);
        p = nl + 1;
    }
    out->len = 0;
}

static bool is_type(const struct line *l, const char *type)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"type\":\"%s\"", type);
    return strstr(l->text, pat) != NULL;
}

/* Lines of type `hold` from node `from` stay queued (hold NULL: none). */
static bool held(const struct line *l, int from, const char *hold)
{
    char src[16];
    snprintf(src, sizeof src, "\"src\":\"n%d\"", from);
    return hold && strstr(l->text, src) && is_type(l, hold);
}

/* One round: every node gets what was sent to it, but held lines, ticks
 * when due, and ends its batch. */
static void round_once(int hold_from, const char *hold)
{
    static struct line in[MAX_LINES];
    size_t n_in = n_lines;
    memcpy(in, lines, n_lines * sizeof *in);
    n_lines = 0;
    for (size_t k = 0; k < n_in; k++)
        if (held(&in[k], hold_from, hold))
            lines[n_lines++] = in[k];
    now++;
    for (int i = 0; i < N; i++) {
        for (size_t k = 0; k < n_in; k++)
            if (in[k].to == i && !held(&in[k], hold_from, hold))
                node_handle_line(nodes[i], in[k].text, strlen(in[k].text), now);
        if (node_deadline(nodes[i]) <= now)
            node_tick(nodes[i], now);
        node_end_batch(nodes[i], now);
        collect(i);
    }
    for (size_t k = 0; k < n_in; k++)
        if (!held(&in[k], hold_from, hold))
            free(in[k].text);
}

static void rounds(int n, int hold_from, const char *hold)
{
    for (int r = 0; r < n; r++)
        round_once(hold_from, hold);
}

static void client(int node, const char *body)
{
    char buf[256];
    int len = snprintf(buf, sizeof buf, "{\"src\":\"c9\",\"dest\":\"n%d\",\"body\":%s}", node,
                       body);
    node_handle_line(nodes[node], buf, (size_t)len, now);
}

/* The answer to msg_id `id`, or NULL. */
static json_t *answer_to(int id)
{
    size_t i;
    json_t *a;
    json_array_foreach(answers, i, a) {
        json_t *b = json_object_get(a, "body");
        if (json_integer_value(json_object_get(b, "in_reply_to")) == id)
            return b;
    }
    return NULL;
}

static void setup(void)
{
    node_log_level = NODE_LOG_ERROR; /* the restarted follower's lost data is one */
    answers = json_array();
    for (int i = 0; i < N; i++)
        node_start(i);
}

static void teardown(void)
{
    for (int i = 0; i < N; i++)
        node_free(nodes[i]);
    for (size_t k = 0; k < n_lines; k++)
        free(lines[k].text);
    n_lines = 0;
    json_decref(answers);
}

TestSuite(node_forward, .init = setup, .fini = teardown);

/* The "i" of the first member of a fwd line. */
static json_int_t first_fwd_id(const struct line *l)
{
    json_t *m = json_loads(l->text, 0, NULL);
    cr_assert(m);
    json_t *reqs = json_object_get(json_object_get(m, "body"), "reqs");
    json_int_t id = json_integer_value(json_object_get(json_array_get(reqs, 0), "i"));
    json_decref(m);
    return id;
}

/* How many lines in flight are of `type`. */
static size_t count_type(const char *type)
{
    size_t c = 0;
    for (size_t k = 0; k < n_lines; k++)
        c += is_type(&lines[k], type);
    return c;
}

Test(node_forward, a_restarted_followers_new_requests_ignore_answers_to_its_previous_life)
{
    rounds(1000, -1, NULL); /* elect a leader */
    int lead = appender;
    cr_assert_geq(lead, 0, "a leader was elected");
    int f = (lead + 1) % N;

    /* The follower forwards a write, its first request; the forward is
     * held back. */
    client(f, "{\"type\":\"write\",\"key\":7,\"value\":42,\"msg_id\":201}");
    rounds(1, f, "fwd");
    cr_assert_eq(count_type("fwd"), 1, "the write's forward is held");

    /* It restarts, with nothing (in memory), and learns the leader again;
     * its first request, a read, is forwarded and held too. */
    node_free(nodes[f]);
    node_start(f);
    rounds(100, f, "fwd");
    client(f, "{\"type\":\"read\",\"key\":7,\"msg_id\":301}");
    rounds(1, f, "fwd");
    cr_assert_eq(count_type("fwd"), 2, "the previous life's forward and the new read's");
    cr_assert_eq(appender, lead, "the leader did not change");

    /* Release the previous life's forward alone: the leader appends the
     * write (its term has not changed) and answers a life that is gone. */
    size_t first = n_lines, second = n_lines;
    for (size_t k = 0; k < n_lines; k++) {
        if (!is_type(&lines[k], "fwd"))
            continue;
        if (first == n_lines)
            first = k;
        else
            second = k;
    }
    cr_assert_lt(second, n_lines);
    cr_assert(strstr(lines[first].text, "\"op\":\"w\""), "the older one is the write");
    cr_assert_eq(first_fwd_id(&lines[first]), first_fwd_id(&lines[second]),
                 "the new life numbers its first forward as the previous one did");
    struct line read_fwd = lines[second];
    memmove(&lines[second], &lines[second + 1], (n_lines - second - 1) * sizeof *lines);
    n_lines--;
    rounds(50, -1, NULL);
    cr_assert_null(answer_to(301), "the read was not answered by the write's answer");

    /* Now the read goes: it sees the write. */
    lines[n_lines++] = read_fwd;
    rounds(50, -1, NULL);
    json_t *b = answer_to(301);
    cr_assert(b, "the read is answered");
    cr_assert_str_eq(json_string_value(json_object_get(b, "type")), "read_ok");
    cr_assert_eq(json_integer_value(json_object_get(b, "value")), 42);
}
