/* fuzz_maelstrom_line.c - the Maelstrom node's input (src/node): lines fed
 * to a node through node_handle_line, and the Raft-message codec
 * (src/node/raft_codec.c) on its own.
 *
 * Input: lines of text. Unless the first line is an init of its own, the
 * node is first initialized as n1 of n1..n3, so the lines reach the client
 * handlers and the Raft core (as messages from n2 and n3). Time moves on by
 * a step per line and timers run at the end. Properties: nothing the node
 * writes is anything but whole lines of JSON objects with src, dest and
 * body; a Raft body that decodes re-encodes to text that decodes and
 * encodes to the same text. */
#include <string.h>

#include "fuzz.h"
#include "node/node.h"
#include "node/node_log.h"
#include "node/raft_codec.h"

static const char default_init[] =
    "{\"src\":\"c0\",\"dest\":\"n1\",\"body\":{\"type\":\"init\",\"msg_id\":1,"
    "\"node_id\":\"n1\",\"node_ids\":[\"n1\",\"n2\",\"n3\"]}}";

/* Every output line is a JSON object with string src and dest and an
 * object body with a string type; then the buffer is emptied. */
static void check_output(struct node *n)
{
    struct outbuf *o = node_output(n);
    size_t off = 0;
    while (off < o->len) {
        const char *line = o->data + off;
        const char *nl = memchr(line, '\n', o->len - off);
        FUZZ_CHECK(nl != NULL);
        json_error_t jerr;
        json_t *msg = json_loadb(line, (size_t)(nl - line), 0, &jerr);
        if (!msg)
            fprintf(stderr, "unparseable output (%s): %.*s\n", jerr.text, (int)(nl - line), line);
        FUZZ_CHECK(msg != NULL);
        const json_t *body = json_object_get(msg, "body");
        FUZZ_CHECK(json_is_string(json_object_get(msg, "src")));
        FUZZ_CHECK(json_is_string(json_object_get(msg, "dest")));
        FUZZ_CHECK(json_is_object(body) && json_is_string(json_object_get(body, "type")));
        json_decref(msg);
        off = (size_t)(nl - o->data) + 1;
    }
    o->len = 0;
}

/* encode(decode(body)) as a body of its own: {"type":"raft_..."...}. */
static int render(const json_t *body, enum raft_msg_type type, struct raft_codec_arena *a,
                  struct outbuf *out)
{
    struct raft_msg m = {.from = 1, .to = 0};
    if (raft_codec_decode(body, type, a, &m) != 0)
        return -1;
    out->len = 0;
    outbuf_lit(out, "{\"type\":");
    outbuf_str(out, raft_codec_type_name(type));
    raft_codec_encode_fields(out, &m);
    outbuf_raw(out, "}", 1);
    FUZZ_CHECK(!out->oom);
    return 0;
}

static void codec_round_trip(const char *line, size_t len)
{
    json_t *msg = json_loadb(line, len, JSON_ALLOW_NUL, NULL);
    const json_t *body = json_object_get(msg, "body");
    const char *type_name = json_string_value(json_object_get(body, "type"));
    int type = type_name ? raft_codec_type(type_name) : -1;
    if (type >= 0) {
        struct raft_codec_arena a = {0};
        struct outbuf first = {0}, second = {0};
        if (render(body, (enum raft_msg_type)type, &a, &first) == 0) {
            json_error_t jerr;
            json_t *again = json_loadb(first.data, first.len, 0, &jerr);
            if (!again)
                fprintf(stderr, "re-encoded body does not parse (%s): %.*s\n", jerr.text,
                        (int)first.len, first.data);
            FUZZ_CHECK(again != NULL);
            FUZZ_CHECK(render(again, (enum raft_msg_type)type, &a, &second) == 0);
            FUZZ_CHECK(first.len == second.len && memcmp(first.data, second.data, first.len) == 0);
            json_decref(again);
        }
        outbuf_free(&first);
        outbuf_free(&second);
        raft_codec_arena_free(&a);
    }
    json_decref(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    node_log_level = NODE_LOG_ERROR; /* warnings about bad input are expected */
    struct node_options o = {.seed = 7, .election_timeout_ms = 150, .heartbeat_ms = 50};
    struct node *n = node_new(&o);
    FUZZ_CHECK(n != NULL);
    const char *text = (const char *)data;
    const char *nl = memchr(text, '\n', size);
    size_t first_len = nl ? (size_t)(nl - text) : size;
    uint64_t now = 1000;
    if (!memmem(text, first_len, "init\"", 5))
        node_handle_line(n, default_init, sizeof default_init - 1, now);
    check_output(n);

    size_t off = 0;
    while (off < size) {
        const char *line = text + off;
        nl = memchr(line, '\n', size - off);
        size_t len = nl ? (size_t)(nl - line) : size - off;
        node_handle_line(n, line, len, now);
        codec_round_trip(line, len);
        off += len + 1;
        now += 37;
        check_output(n);
    }
    node_end_batch(n, now);
    check_output(n);
    /* Let the timers run: elections, heartbeats, request time-outs. */
    for (int i = 0; i < 4; i++) {
        uint64_t due = node_deadline(n);
        if (due == UINT64_MAX || node_failed(n))
            break;
        now = due > now ? due : now;
        node_tick(n, now);
        node_end_batch(n, now);
        check_output(n);
    }
    node_free(n);
    return 0;
}
