/* test_node_codec.c - Raft messages survive the node's JSON wire format, and
 * ill-formed bodies are refused rather than half-decoded. */
#include <criterion/criterion.h>
#include <string.h>

#include "node/raft_codec.h"

/* src/node is linked into build/raftkv only, not into libraftkv.a, so the
 * codec and its buffer are compiled into this test directly. */
#include "node/outbuf.c"
#include "node/raft_codec.c"

static struct raft_codec_arena arena;

static void teardown(void)
{
    raft_codec_arena_free(&arena);
}

TestSuite(node_codec, .fini = teardown);

/* Encode m as a body, parse it, decode it into out. */
static json_t *round_trip(const struct raft_msg *m, struct raft_msg *out)
{
    struct outbuf b = {0};
    outbuf_lit(&b, "{\"type\":");
    outbuf_str(&b, raft_codec_type_name(m->type));
    raft_codec_encode_fields(&b, m);
    outbuf_lit(&b, "}");
    json_error_t err;
    json_t *body = json_loadb(b.data, b.len, 0, &err);
    cr_assert_not_null(body, "encoded body is not JSON: %.*s (%s)", (int)b.len, b.data, err.text);
    int type = raft_codec_type(json_string_value(json_object_get(body, "type")));
    cr_assert_eq(type, (int)m->type);
    out->from = m->from;
    out->to = m->to;
    cr_assert_eq(raft_codec_decode(body, (enum raft_msg_type)type, &arena, out), 0);
    outbuf_free(&b);
    return body;
}

Test(node_codec, a_vote_request_and_its_answer_round_trip)
{
    struct raft_msg m = {.type = RAFT_MSG_VOTE, .from = 1, .to = 2, .term = 7,
                         .last_log_index = 41, .last_log_term = 6};
    struct raft_msg out;
    json_decref(round_trip(&m, &out));
    cr_assert_eq(out.term, 7);
    cr_assert_eq(out.last_log_index, 41);
    cr_assert_eq(out.last_log_term, 6);
    struct raft_msg r = {.type = RAFT_MSG_PREVOTE_RESP, .term = 8, .granted = true};
    json_decref(round_trip(&r, &out));
    cr_assert(out.granted);
    cr_assert_eq(out.term, 8);
}

/* Leadership transfer: "raft_timeout_now", and "tr":1 on a transfer's VOTE
 * (absent otherwise, so other votes keep their bytes). */
Test(node_codec, timeout_now_and_a_transfer_vote_round_trip)
{
    struct raft_msg m = {.type = RAFT_MSG_VOTE, .term = 7, .last_log_index = 4, .transfer = true};
    struct raft_msg out;
    json_t *body = round_trip(&m, &out);
    cr_assert_eq(json_integer_value(json_object_get(body, "tr")), 1);
    cr_assert(out.transfer);
    json_decref(body);
    m.transfer = false;
    body = round_trip(&m, &out);
    cr_assert_null(json_object_get(body, "tr"));
    cr_assert_not(out.transfer);
    json_decref(body);
    cr_assert_str_eq(raft_codec_type_name(RAFT_MSG_TIMEOUT_NOW), "raft_timeout_now");
    struct raft_msg t = {.type = RAFT_MSG_TIMEOUT_NOW, .term = 12};
    json_decref(round_trip(&t, &out));
    cr_assert_eq(out.type, RAFT_MSG_TIMEOUT_NOW);
    cr_assert_eq(out.term, 12);
}

Test(node_codec, an_append_with_commands_and_a_noop_round_trips_byte_for_byte)
{
    const char *cmd1 = "{\"k\":1,\"op\":\"w\",\"v\":{\"a\":[1,2],\"b\":\"x\\ny\"}}";
    const char *cmd2 = "{\"f\":1,\"k\":\"key\",\"op\":\"c\",\"t\":2}";
    struct raft_entry e[3] = {
        {.term = 3, .index = 11, .type = RAFT_ENTRY_NOOP},
        {.term = 3, .index = 12, .type = RAFT_ENTRY_COMMAND, .data = (uint8_t *)cmd1,
         .len = (uint32_t)strlen(cmd1)},
        {.term = 4, .index = 13, .type = RAFT_ENTRY_COMMAND, .data = (uint8_t *)cmd2,
         .len = (uint32_t)strlen(cmd2)},
    };
    struct raft_msg m = {.type = RAFT_MSG_APPEND, .term = 4, .prev_index = 10, .prev_term = 2,
                         .commit = 9, .seq = 77, .n_entries = 3, .entries = e};
    struct raft_msg out;
    json_t *body = round_trip(&m, &out);
    cr_assert_eq(out.prev_index, 10);
    cr_assert_eq(out.prev_term, 2);
    cr_assert_eq(out.commit, 9);
    cr_assert_eq(out.seq, 77);
    cr_assert_eq(out.n_entries, 3);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(out.entries[i].index, e[i].index);
        cr_assert_eq(out.entries[i].term, e[i].term);
        cr_assert_eq(out.entries[i].type, e[i].type);
        cr_assert_eq(out.entries[i].len, e[i].len, "entry %d", i);
        if (e[i].len)
            cr_assert(memcmp(out.entries[i].data, e[i].data, e[i].len) == 0, "entry %d", i);
    }
    json_decref(body);
}

Test(node_codec, an_append_rejection_carries_its_backtracking_hints)
{
    struct raft_msg m = {.type = RAFT_MSG_APPEND_RESP, .term = 5, .success = false, .seq = 3,
                         .reject_index = 20, .hint_index = 15, .hint_term = 2};
    struct raft_msg out;
    json_decref(round_trip(&m, &out));
    cr_assert(!out.success);
    cr_assert_eq(out.reject_index, 20);
    cr_assert_eq(out.hint_index, 15);
    cr_assert_eq(out.hint_term, 2);
    cr_assert_eq(out.seq, 3);
}

Test(node_codec, a_snapshot_carries_the_map_image)
{
    /* Canonical (sorted, compact) as kv_snapshot() makes it. */
    const char *img = "{\"\\\"1\\\"\":{\"a\":[1]},\"1\":10}";
    struct raft_msg m = {.type = RAFT_MSG_SNAPSHOT, .term = 9, .snap_index = 500,
                         .snap_term = 8, .snap_data = (uint8_t *)img, .snap_len = strlen(img)};
    struct raft_msg out;
    json_t *body = round_trip(&m, &out);
    cr_assert_eq(out.snap_index, 500);
    cr_assert_eq(out.snap_term, 8);
    cr_assert_eq(out.snap_len, strlen(img));
    cr_assert(memcmp(out.snap_data, img, out.snap_len) == 0);
    json_decref(body);
}

Test(node_codec, ill_formed_bodies_are_refused)
{
    const char *bad[] = {
        "{\"t\":-1}",
        "{\"t\":\"3\"}",
        "{\"t\":1,\"pi\":1.5}",
        "{\"t\":1,\"e\":{}}",
        "{\"t\":1,\"e\":[[1,1]]}",
        "{\"t\":1,\"e\":[[1,300,null]]}",
        "{\"t\":1,\"e\":[[\"1\",1,null]]}",
        "{\"t\":1,\"e\":[5]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *body = json_loads(bad[i], 0, NULL);
        cr_assert_not_null(body);
        struct raft_msg out = {0};
        cr_assert_neq(raft_codec_decode(body, RAFT_MSG_APPEND, &arena, &out), 0, "%s", bad[i]);
        json_decref(body);
    }
    json_t *snap = json_loads("{\"t\":1,\"si\":3,\"sd\":\"text\"}", 0, NULL);
    struct raft_msg out = {0};
    cr_assert_neq(raft_codec_decode(snap, RAFT_MSG_SNAPSHOT, &arena, &out), 0);
    json_decref(snap);
}

Test(node_codec, only_raft_types_are_raft_messages)
{
    cr_assert_eq(raft_codec_type("raft_append"), RAFT_MSG_APPEND);
    cr_assert_eq(raft_codec_type("raft_snapshot_resp"), RAFT_MSG_SNAPSHOT_RESP);
    cr_assert_eq(raft_codec_type("raft_init"), -1);
    cr_assert_eq(raft_codec_type("read"), -1);
    cr_assert_eq(raft_codec_type("raft_"), -1);
}

/* One message is one line: bytes with a raw newline (never made by this
 * project, but JSON allows it between tokens) must not split the line. */
Test(node_codec, entry_bytes_with_a_raw_newline_never_split_the_line)
{
    const char *data = "{\"k\":1,\n\"op\":\"r\"}";
    struct raft_entry e = {.term = 1, .index = 1, .type = RAFT_ENTRY_COMMAND,
                           .data = (uint8_t *)data, .len = (uint32_t)strlen(data)};
    struct raft_msg m = {.type = RAFT_MSG_APPEND, .term = 1, .entries = &e, .n_entries = 1};
    struct outbuf b = {0};
    raft_codec_encode_fields(&b, &m);
    cr_assert_null(memchr(b.data, '\n', b.len), "newline in %.*s", (int)b.len, b.data);
    outbuf_free(&b);
}

/* A snapshot's image is the map: a JSON object, nothing else. */
Test(node_codec, a_snapshot_image_that_is_not_an_object_is_refused)
{
    const char *bad[] = {"{\"t\":1,\"si\":3,\"sd\":[1,2]}", "{\"t\":1,\"si\":3,\"sd\":7}",
                         "{\"t\":1,\"si\":3}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *snap = json_loads(bad[i], 0, NULL);
        struct raft_msg out = {0};
        cr_assert_neq(raft_codec_decode(snap, RAFT_MSG_SNAPSHOT, &arena, &out), 0, "%s", bad[i]);
        json_decref(snap);
    }
}

static int decode_text(const char *text, enum raft_msg_type type, struct raft_msg *out)
{
    json_t *body = json_loads(text, 0, NULL);
    cr_assert_not_null(body, "%s", text);
    memset(out, 0, sizeof *out);
    int rc = raft_codec_decode(body, type, &arena, out);
    json_decref(body);
    return rc;
}

/* Every peer's JSON parser reads integers up to 2^53-1 exactly; a term or
 * index past it is refused with the member's name in the reason, and
 * 2^53-1 itself still decodes. */
Test(node_codec, integers_past_2_to_the_53_minus_1_are_refused_with_a_reason)
{
    struct raft_msg out;
    cr_assert_eq(decode_text("{\"t\":9007199254740991,\"li\":9007199254740991,\"lt\":3}",
                             RAFT_MSG_VOTE, &out), 0);
    cr_assert_eq(out.term, 9007199254740991ull);
    cr_assert_eq(out.last_log_index, 9007199254740991ull);
    cr_assert_eq(decode_text("{\"t\":9007199254740992}", RAFT_MSG_VOTE, &out), -1);
    cr_assert_str_eq(arena.error, "\"t\" is outside 0..2^53-1");
    cr_assert_eq(decode_text("{\"t\":9223372036854775807}", RAFT_MSG_APPEND, &out), -1);
    cr_assert_str_eq(arena.error, "\"t\" is outside 0..2^53-1");
    const char *fields[] = {"li", "lt", "pi", "pt", "c", "q", "mi", "ri", "hi", "ht", "si", "st"};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        char text[96], want[64];
        snprintf(text, sizeof text, "{\"t\":1,\"%s\":9007199254740992}", fields[i]);
        snprintf(want, sizeof want, "\"%s\" is outside 0..2^53-1", fields[i]);
        cr_assert_eq(decode_text(text, RAFT_MSG_APPEND_RESP, &out), -1, "%s", text);
        cr_assert_str_eq(arena.error, want);
        snprintf(text, sizeof text, "{\"t\":1,\"%s\":-1}", fields[i]);
        cr_assert_eq(decode_text(text, RAFT_MSG_APPEND_RESP, &out), -1, "%s", text);
        snprintf(text, sizeof text, "{\"t\":1,\"%s\":2.0}", fields[i]);
        cr_assert_eq(decode_text(text, RAFT_MSG_APPEND_RESP, &out), -1, "%s", text);
        snprintf(want, sizeof want, "\"%s\" is not an integer", fields[i]);
        cr_assert_str_eq(arena.error, want);
        /* A boolean is a flag, never a number. */
        snprintf(text, sizeof text, "{\"t\":1,\"%s\":true}", fields[i]);
        cr_assert_eq(decode_text(text, RAFT_MSG_APPEND_RESP, &out), -1, "%s", text);
    }
    cr_assert_eq(decode_text("{\"t\":true}", RAFT_MSG_VOTE, &out), -1);
}

Test(node_codec, flags_are_booleans_or_0_and_1_only)
{
    struct raft_msg out;
    cr_assert_eq(decode_text("{\"t\":2,\"g\":1}", RAFT_MSG_VOTE_RESP, &out), 0);
    cr_assert(out.granted);
    cr_assert_eq(decode_text("{\"t\":2,\"s\":false}", RAFT_MSG_APPEND_RESP, &out), 0);
    cr_assert(!out.success);
    cr_assert_eq(decode_text("{\"t\":2,\"g\":2}", RAFT_MSG_VOTE_RESP, &out), -1);
    cr_assert_eq(decode_text("{\"t\":2,\"s\":\"yes\"}", RAFT_MSG_APPEND_RESP, &out), -1);
}

Test(node_codec, entries_are_bounded_in_count_term_and_index_before_any_allocation)
{
    struct raft_msg out;
    /* An entry's term past 2^53-1. */
    cr_assert_eq(decode_text("{\"t\":2,\"e\":[[9007199254740992,1,null]]}", RAFT_MSG_APPEND, &out),
                 -1);
    /* Two entries after prev 2^53-2 end at 2^53: refused; one ends at 2^53-1: kept. */
    cr_assert_eq(decode_text("{\"t\":2,\"pi\":9007199254740990,\"pt\":2,"
                             "\"e\":[[2,0,null],[2,0,null]]}",
                             RAFT_MSG_APPEND, &out), -1);
    cr_assert_str_eq(arena.error, "\"e\" would take indexes past 2^53-1");
    cr_assert_eq(decode_text("{\"t\":2,\"pi\":9007199254740990,\"pt\":2,\"e\":[[2,0,null]]}",
                             RAFT_MSG_APPEND, &out), 0);
    cr_assert_eq(out.n_entries, 1);
    cr_assert_eq(out.entries[0].index, 9007199254740991ull);
    /* 65537 entries: refused by count, and nothing was grown for them. */
    json_t *body = json_pack("{s:i}", "t", 2);
    json_t *list = json_array();
    for (int i = 0; i < 65537; i++)
        json_array_append_new(list, json_pack("[i,i,n]", 2, 0));
    json_object_set_new(body, "e", list);
    size_t cap_before = arena.cap_entries;
    struct raft_msg m = {0};
    cr_assert_eq(raft_codec_decode(body, RAFT_MSG_APPEND, &arena, &m), -1);
    cr_assert_str_eq(arena.error, "\"e\" holds more than 65536 entries");
    cr_assert_eq(arena.cap_entries, cap_before);
    /* 65536 is within the bound. */
    json_array_remove(list, 0);
    cr_assert_eq(raft_codec_decode(body, RAFT_MSG_APPEND, &arena, &m), 0);
    cr_assert_eq(m.n_entries, 65536);
    json_decref(body);
}
