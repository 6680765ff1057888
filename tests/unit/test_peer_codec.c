/* test_peer_codec.c - the frames between raftkv servers: round trips of every
 * Raft message type and of the handshake and proxy frames, and rejection of
 * truncated, oversized and garbage frames.
 */
#include "server/peer_codec.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/rng.h"

/* A message of `type` with every field the codec carries set to something
 * distinct, so a field dropped or swapped on the way shows up. */
static void sample_msg(enum raft_msg_type type, struct raft_msg *m, struct raft_entry *entries,
                       uint8_t *payload)
{
    memset(m, 0, sizeof *m);
    m->type = type;
    m->from = 2;
    m->to = 1;
    m->term = 7 + type;
    m->last_log_index = 300;
    m->last_log_term = 6;
    m->granted = type % 2;
    m->prev_index = 41;
    m->prev_term = 5;
    m->commit = 40;
    m->seq = 1u << 20;
    m->success = type % 3 == 0;
    m->transfer = type % 2 == 0;
    m->match_index = 44;
    m->reject_index = 42;
    m->hint_index = 39;
    m->hint_term = UINT64_MAX;
    m->snap_index = 1000;
    m->snap_term = 4;
    if (type == RAFT_MSG_APPEND) {
        for (int i = 0; i < 3; i++) {
            entries[i].index = 42 + (raft_index)i;
            entries[i].term = 5 + (raft_term)i / 2;
            entries[i].type = i == 0 ? RAFT_ENTRY_NOOP : RAFT_ENTRY_COMMAND;
            entries[i].len = i == 0 ? 0 : 10 * (uint32_t)i;
            entries[i].data = i == 0 ? NULL : payload;
        }
        m->entries = entries;
        m->n_entries = 3;
    }
    if (type == RAFT_MSG_SNAPSHOT) {
        m->snap_data = payload;
        m->snap_len = 100;
    }
}

static void assert_same_msg(const struct raft_msg *a, const struct raft_msg *b)
{
    cr_assert_eq(a->type, b->type);
    cr_assert_eq(a->from, b->from);
    cr_assert_eq(a->to, b->to);
    cr_assert_eq(a->granted, b->granted);
    cr_assert_eq(a->success, b->success);
    cr_assert_eq(a->transfer, b->transfer);
    const uint64_t fa[] = {a->term, a->last_log_index, a->last_log_term, a->prev_index,
                           a->prev_term, a->commit, a->seq, a->match_index, a->reject_index,
                           a->hint_index, a->hint_term, a->snap_index, a->snap_term};
    const uint64_t fb[] = {b->term, b->last_log_index, b->last_log_term, b->prev_index,
                           b->prev_term, b->commit, b->seq, b->match_index, b->reject_index,
                           b->hint_index, b->hint_term, b->snap_index, b->snap_term};
    for (size_t i = 0; i < sizeof fa / sizeof fa[0]; i++)
        cr_assert_eq(fa[i], fb[i], "field %zu of type %d", i, (int)a->type);
    cr_assert_eq(a->n_entries, b->n_entries);
    for (size_t i = 0; i < a->n_entries; i++) {
        cr_assert_eq(a->entries[i].index, b->entries[i].index);
        cr_assert_eq(a->entries[i].term, b->entries[i].term);
        cr_assert_eq(a->entries[i].type, b->entries[i].type);
        cr_assert_eq(a->entries[i].len, b->entries[i].len);
        if (a->entries[i].len)
            cr_assert_eq(memcmp(a->entries[i].data, b->entries[i].data, a->entries[i].len), 0);
    }
    cr_assert_eq(a->snap_len, b->snap_len);
    if (a->snap_len)
        cr_assert_eq(memcmp(a->snap_data, b->snap_data, a->snap_len), 0);
}

static const uint8_t *body_of(const struct peer_wbuf *b, uint8_t want_kind, size_t *len)
{
    uint8_t kind = 0;
    size_t flen = 0;
    cr_assert_eq(peer_frame_peek(b->data, b->len, PEER_DEFAULT_MAX_FRAME, &kind, &flen), 1);
    cr_assert_eq(kind, want_kind);
    cr_assert_eq(flen, b->len);
    *len = flen - PEER_FRAME_HEADER;
    return b->data + PEER_FRAME_HEADER;
}

Test(peer_codec, round_trips_every_raft_message_type)
{
    uint8_t payload[100];
    for (int i = 0; i < 100; i++)
        payload[i] = (uint8_t)(i * 7);
    for (int t = 0; t < RAFT_MSG_TYPE_COUNT; t++) {
        struct raft_entry entries[3];
        struct raft_msg m, back;
        sample_msg((enum raft_msg_type)t, &m, entries, payload);
        struct peer_wbuf b = {0};
        cr_assert_eq(peer_encode_raft(&b, &m), PEER_OK);
        size_t len;
        const uint8_t *body = body_of(&b, PEER_FRAME_RAFT, &len);
        cr_assert_eq(peer_decode_raft(body, len, 3, &back), PEER_OK, "type %d", t);
        /* Entries only travel in APPEND, snapshot data only in SNAPSHOT. */
        if (t != RAFT_MSG_APPEND) {
            m.n_entries = 0;
        }
        if (t != RAFT_MSG_SNAPSHOT) {
            m.snap_len = 0;
        }
        assert_same_msg(&m, &back);
        peer_raft_msg_release(&back);
        peer_wbuf_free(&b);
    }
}

/* Leadership transfer: TIMEOUT_NOW is type 8 on the wire, the transfer
 * flag of a VOTE is bit 2 (4) of the flags byte. */
Test(peer_codec, carries_timeout_now_and_the_transfer_flag)
{
    struct raft_msg m = {.type = RAFT_MSG_VOTE, .from = 1, .to = 0, .term = 9, .transfer = true};
    struct peer_wbuf b = {0};
    cr_assert_eq(peer_encode_raft(&b, &m), PEER_OK);
    size_t len;
    const uint8_t *body = body_of(&b, PEER_FRAME_RAFT, &len);
    cr_assert_eq(body[0], 2, "VOTE is type 2");
    cr_assert_eq(body[3], 4, "flags: transfer only");
    struct raft_msg back;
    cr_assert_eq(peer_decode_raft(body, len, 3, &back), PEER_OK);
    cr_assert(back.transfer);
    peer_wbuf_free(&b);
    m = (struct raft_msg){.type = RAFT_MSG_TIMEOUT_NOW, .from = 0, .to = 2, .term = 9};
    cr_assert_eq(peer_encode_raft(&b, &m), PEER_OK);
    body = body_of(&b, PEER_FRAME_RAFT, &len);
    cr_assert_eq(body[0], 8, "TIMEOUT_NOW is type 8");
    cr_assert_eq(peer_decode_raft(body, len, 3, &back), PEER_OK);
    cr_assert_eq(back.type, RAFT_MSG_TIMEOUT_NOW);
    cr_assert_eq(back.term, 9);
    cr_assert_not(back.transfer);
    peer_wbuf_free(&b);
}

Test(peer_codec, encodes_a_heartbeat_in_a_few_bytes)
{
    struct raft_msg m = {.type = RAFT_MSG_APPEND, .from = 0, .to = 1, .term = 3,
                         .prev_index = 1000, .prev_term = 3, .commit = 1000, .seq = 77};
    struct peer_wbuf b = {0};
    cr_assert_eq(peer_encode_raft(&b, &m), PEER_OK);
    cr_assert_leq(b.len, 24, "heartbeat is %zu bytes", b.len);
    peer_wbuf_free(&b);
}

Test(peer_codec, rejects_every_truncation_of_a_raft_frame)
{
    uint8_t payload[100] = {1, 2, 3};
    for (int t = 0; t < RAFT_MSG_TYPE_COUNT; t++) {
        struct raft_entry entries[3];
        struct raft_msg m, back;
        sample_msg((enum raft_msg_type)t, &m, entries, payload);
        struct peer_wbuf b = {0};
        cr_assert_eq(peer_encode_raft(&b, &m), PEER_OK);
        const uint8_t *body = b.data + PEER_FRAME_HEADER;
        size_t len = b.len - PEER_FRAME_HEADER;
        for (size_t k = 0; k < len; k++)
            cr_assert_eq(peer_decode_raft(body, k, 3, &back), PEER_ERR_MALFORMED, "%d cut %zu", t, k);
        /* A trailing byte is as wrong as a missing one. */
        uint8_t *longer = malloc(len + 1);
        memcpy(longer, body, len);
        longer[len] = 0;
        cr_assert_eq(peer_decode_raft(longer, len + 1, 3, &back), PEER_ERR_MALFORMED);
        free(longer);
        /* The frame layer waits for the rest of a truncated frame. */
        uint8_t kind;
        size_t flen;
        for (size_t k = 0; k < b.len; k++)
            cr_assert_eq(peer_frame_peek(b.data, k, PEER_DEFAULT_MAX_FRAME, &kind, &flen), 0);
        peer_wbuf_free(&b);
    }
}

Test(peer_codec, rejects_node_ids_outside_the_cluster_and_unknown_types)
{
    struct raft_msg m = {.type = RAFT_MSG_VOTE, .from = 4, .to = 0, .term = 2};
    struct peer_wbuf b = {0};
    cr_assert_eq(peer_encode_raft(&b, &m), PEER_OK);
    struct raft_msg back;
    cr_assert_eq(peer_decode_raft(b.data + 6, b.len - 6, 3, &back), PEER_ERR_MALFORMED);
    cr_assert_eq(peer_decode_raft(b.data + 6, b.len - 6, 5, &back), PEER_OK);
    b.data[6] = RAFT_MSG_TYPE_COUNT;
    cr_assert_eq(peer_decode_raft(b.data + 6, b.len - 6, 5, &back), PEER_ERR_MALFORMED);
    peer_wbuf_free(&b);
}

Test(peer_codec, rejects_oversized_and_foreign_frames_from_their_header)
{
    uint8_t kind;
    size_t flen;
    const uint8_t huge[6] = {0x7f, 0xff, 0xff, 0xff, PEER_CODEC_VERSION, PEER_FRAME_RAFT};
    cr_assert_eq(peer_frame_peek(huge, 4, PEER_DEFAULT_MAX_FRAME, &kind, &flen), PEER_ERR_TOO_LARGE);
    const uint8_t version[6] = {0, 0, 0, 10, 9, PEER_FRAME_RAFT};
    cr_assert_eq(peer_frame_peek(version, 6, PEER_DEFAULT_MAX_FRAME, &kind, &flen), PEER_ERR_VERSION);
    const uint8_t bad_kind[6] = {0, 0, 0, 10, PEER_CODEC_VERSION, 99};
    cr_assert_eq(peer_frame_peek(bad_kind, 6, PEER_DEFAULT_MAX_FRAME, &kind, &flen), PEER_ERR_MALFORMED);
    /* Someone typing "GET x" at a peer port is refused at once. */
    const char *text = "GET x\r\n";
    cr_assert_lt(peer_frame_peek((const uint8_t *)text, 7, PEER_DEFAULT_MAX_FRAME, &kind, &flen), 0);
}

Test(peer_codec, never_crashes_on_random_garbage)
{
    uint64_t seed = 0x5eed1234;
    printf("peer_codec garbage seed %llu\n", (unsigned long long)seed);
    struct rng g;
    rng_seed(&g, seed);
    uint8_t payload[100] = {0};
    uint8_t buf[512];
    for (int round = 0; round < 20000; round++) {
        size_t len;
        if (round % 2) { /* a valid frame with a few bytes flipped */
            struct raft_entry entries[3];
            struct raft_msg m;
            sample_msg((enum raft_msg_type)rng_below(&g, RAFT_MSG_TYPE_COUNT), &m, entries, payload);
            struct peer_wbuf b = {0};
            peer_encode_raft(&b, &m);
            len = b.len - 6 < sizeof buf ? b.len - 6 : sizeof buf;
            memcpy(buf, b.data + 6, len);
            peer_wbuf_free(&b);
            for (int k = 0; k < 3; k++)
                buf[rng_below(&g, len)] ^= (uint8_t)(1u << rng_below(&g, 8));
        } else {
            len = rng_below(&g, sizeof buf);
            for (size_t i = 0; i < len; i++)
                buf[i] = (uint8_t)rng_next(&g);
        }
        struct raft_msg back;
        if (peer_decode_raft(buf, len, 3, &back) == PEER_OK) {
            cr_assert_lt(back.from, 3);
            cr_assert_lt(back.to, 3);
            size_t total = 0;
            for (size_t i = 0; i < back.n_entries; i++) {
                total += back.entries[i].len;
                cr_assert(back.entries[i].len == 0 ||
                          (back.entries[i].data >= buf && back.entries[i].data + back.entries[i].len <= buf + len));
            }
            cr_assert_leq(total, len);
            peer_raft_msg_release(&back);
        }
        struct peer_hello h;
        peer_decode_hello(buf, len, &h);
        struct peer_proxy_req q;
        peer_decode_proxy_req(buf, len, &q);
        struct peer_proxy_resp p;
        peer_decode_proxy_resp(buf, len, &p);
    }
}

Test(peer_codec, round_trips_the_handshake_and_refuses_bad_names)
{
    struct peer_hello h = {.sender = "n2", .receiver = "n1", .cluster_fingerprint = peer_fingerprint("n1=a,n2=b")};
    struct peer_wbuf b = {0};
    cr_assert_eq(peer_encode_hello(&b, &h), PEER_OK);
    size_t len;
    const uint8_t *body = body_of(&b, PEER_FRAME_HELLO, &len);
    struct peer_hello back;
    cr_assert_eq(peer_decode_hello(body, len, &back), PEER_OK);
    cr_assert_str_eq(back.sender, "n2");
    cr_assert_str_eq(back.receiver, "n1");
    cr_assert_eq(back.cluster_fingerprint, h.cluster_fingerprint);
    cr_assert_neq(peer_fingerprint("n1=a,n2=b"), peer_fingerprint("n1=a,n2=c"));
    for (size_t k = 0; k < len; k++)
        cr_assert_eq(peer_decode_hello(body, k, &back), PEER_ERR_MALFORMED);
    peer_wbuf_free(&b);
    struct peer_hello empty = {.sender = "", .receiver = "n1"};
    cr_assert_eq(peer_encode_hello(&b, &empty), PEER_ERR_MALFORMED);
    cr_assert_eq(b.len, 0);
}

/* The cluster id travels as 16 raw bytes after the fingerprint; all zero
 * (a fresh member) round-trips as all zero. */
Test(peer_codec, round_trips_the_handshake_with_its_cluster_id)
{
    struct peer_hello h = {.sender = "n2", .receiver = "n1", .cluster_fingerprint = 5,
                           .cluster_id = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x80}};
    struct peer_wbuf b = {0};
    cr_assert_eq(peer_encode_hello(&b, &h), PEER_OK);
    /* Byte for byte: length 25, version 5, kind 1, "n2", "n1", varint 5, the id. */
    const uint8_t want[] = {0, 0, 0, 25, 5, 1, 2, 'n', '2', 2, 'n', '1', 5,
                            0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x80};
    cr_assert_eq(b.len, sizeof want);
    cr_assert_eq(memcmp(b.data, want, sizeof want), 0);
    size_t len;
    const uint8_t *body = body_of(&b, PEER_FRAME_HELLO, &len);
    struct peer_hello back;
    cr_assert_eq(peer_decode_hello(body, len, &back), PEER_OK);
    cr_assert_eq(back.cluster_id[0], 0xde);
    cr_assert_eq(back.cluster_id[15], 0x80);
    cr_assert_eq(memcmp(back.cluster_id, h.cluster_id, 16), 0);
    /* Without its id (a version 2 body) the handshake is malformed. */
    cr_assert_eq(peer_decode_hello(body, len - 16, &back), PEER_ERR_MALFORMED);
    peer_wbuf_free(&b);

    struct peer_hello fresh = {.sender = "n3", .receiver = "n1", .cluster_fingerprint = 5};
    cr_assert_eq(peer_encode_hello(&b, &fresh), PEER_OK);
    body = body_of(&b, PEER_FRAME_HELLO, &len);
    memset(back.cluster_id, 0xff, 16);
    cr_assert_eq(peer_decode_hello(body, len, &back), PEER_OK);
    const uint8_t zero[16] = {0};
    cr_assert_eq(memcmp(back.cluster_id, zero, 16), 0);
    peer_wbuf_free(&b);
}

Test(peer_codec, round_trips_proxied_requests_and_answers)
{
    const uint8_t cmd[] = "{\"op\":\"w\",\"k\":\"a\",\"v\":\"b\"}";
    struct peer_proxy_req q = {.id = 123456789012ull, .term = 0x123456789aull, .command = cmd,
                               .command_len = sizeof cmd - 1};
    struct peer_wbuf b = {0};
    cr_assert_eq(peer_encode_proxy_req(&b, &q), PEER_OK);
    size_t len;
    const uint8_t *body = body_of(&b, PEER_FRAME_PROXY_REQ, &len);
    struct peer_proxy_req qb;
    cr_assert_eq(peer_decode_proxy_req(body, len, &qb), PEER_OK);
    cr_assert_eq(qb.id, 123456789012ull);
    cr_assert_eq(qb.term, 0x123456789aull); /* the forward's term, all 40 bits of it */
    cr_assert_eq(qb.command_len, q.command_len);
    cr_assert_eq(memcmp(qb.command, cmd, q.command_len), 0);
    for (size_t k = 0; k < len; k++)
        cr_assert_eq(peer_decode_proxy_req(body, k, &qb), PEER_ERR_MALFORMED);
    peer_wbuf_free(&b);

    /* The wire layout, byte for byte: version 5, kind 3, then varints id 5,
     * term 7, command length 2, and the command. */
    struct peer_proxy_req small = {.id = 5, .term = 7, .command = (const uint8_t *)"ab", .command_len = 2};
    cr_assert_eq(peer_encode_proxy_req(&b, &small), PEER_OK);
    const uint8_t want[] = {0, 0, 0, 7, 5, 3, 5, 7, 2, 'a', 'b'};
    cr_assert_eq(b.len, sizeof want);
    cr_assert_eq(memcmp(b.data, want, sizeof want), 0);
    /* A version 1 frame (no term) is refused at its header, and so are
     * a version 2 one (its HELLO has no cluster id) and a version 3 one
     * (no MEMBERS frame after its HELLO, no REMOVED). */
    const uint8_t v1[] = {0, 0, 0, 6, 1, 3, 5, 2, 'a', 'b'};
    uint8_t kind;
    size_t flen;
    cr_assert_eq(peer_frame_peek(v1, sizeof v1, PEER_DEFAULT_MAX_FRAME, &kind, &flen), PEER_ERR_VERSION);
    const uint8_t v2[] = {0, 0, 0, 7, 2, 3, 5, 7, 2, 'a', 'b'};
    cr_assert_eq(peer_frame_peek(v2, sizeof v2, PEER_DEFAULT_MAX_FRAME, &kind, &flen), PEER_ERR_VERSION);
    const uint8_t v3[] = {0, 0, 0, 7, 3, 3, 5, 7, 2, 'a', 'b'};
    cr_assert_eq(peer_frame_peek(v3, sizeof v3, PEER_DEFAULT_MAX_FRAME, &kind, &flen), PEER_ERR_VERSION);
    /* And a version 4 one (its EVAL entries carry no transaction flags). */
    const uint8_t v4[] = {0, 0, 0, 7, 4, 3, 5, 7, 2, 'a', 'b'};
    cr_assert_eq(peer_frame_peek(v4, sizeof v4, PEER_DEFAULT_MAX_FRAME, &kind, &flen), PEER_ERR_VERSION);
    cr_assert_str_eq(peer_strerror(PEER_ERR_VERSION), "peer protocol version differs");
    peer_wbuf_free(&b);

    struct peer_proxy_resp p = {.id = 9, .status = 3, .leader = RAFT_NO_NODE, .kv_code = 22,
                                .result = (const uint8_t *)"\"x\"", .result_len = 3, .text = "no", .text_len = 2};
    cr_assert_eq(peer_encode_proxy_resp(&b, &p), PEER_OK);
    body = body_of(&b, PEER_FRAME_PROXY_RESP, &len);
    struct peer_proxy_resp pb;
    cr_assert_eq(peer_decode_proxy_resp(body, len, &pb), PEER_OK);
    cr_assert_eq(pb.id, 9);
    cr_assert_eq(pb.status, 3);
    cr_assert_eq(pb.leader, RAFT_NO_NODE);
    cr_assert_eq(pb.kv_code, 22);
    cr_assert_eq(pb.result_len, 3);
    cr_assert_eq(memcmp(pb.result, "\"x\"", 3), 0);
    cr_assert_eq(pb.text_len, 2);
    for (size_t k = 0; k < len; k++)
        cr_assert_eq(peer_decode_proxy_resp(body, k, &pb), PEER_ERR_MALFORMED);
    peer_wbuf_free(&b);
}

/* Ids run 0..n_nodes-1: n_nodes itself is the first id outside. */
Test(peer_codec, rejects_the_first_node_id_past_the_cluster)
{
    struct raft_msg m = {.type = RAFT_MSG_VOTE, .from = 3, .to = 0, .term = 2};
    struct peer_wbuf b = {0};
    cr_assert_eq(peer_encode_raft(&b, &m), PEER_OK);
    struct raft_msg back;
    cr_assert_eq(peer_decode_raft(b.data + 6, b.len - 6, 3, &back), PEER_ERR_MALFORMED);
    cr_assert_eq(peer_decode_raft(b.data + 6, b.len - 6, 4, &back), PEER_OK);
    peer_wbuf_free(&b);
    m = (struct raft_msg){.type = RAFT_MSG_VOTE, .from = 0, .to = 3, .term = 2};
    cr_assert_eq(peer_encode_raft(&b, &m), PEER_OK);
    cr_assert_eq(peer_decode_raft(b.data + 6, b.len - 6, 3, &back), PEER_ERR_MALFORMED);
    peer_wbuf_free(&b);
}

/* Every frame holds at least its version and kind bytes. */
Test(peer_codec, rejects_a_frame_length_below_two)
{
    uint8_t kind;
    size_t flen;
    for (uint8_t n = 0; n < 2; n++) {
        const uint8_t f[8] = {0, 0, 0, n, PEER_CODEC_VERSION, PEER_FRAME_RAFT, 0, 0};
        cr_assert_eq(peer_frame_peek(f, sizeof f, PEER_DEFAULT_MAX_FRAME, &kind, &flen),
                     PEER_ERR_MALFORMED, "length %u", n);
    }
}

/* A proxied answer names a leader inside the largest cluster, or none. */
Test(peer_codec, rejects_a_proxied_answer_naming_a_leader_past_any_cluster)
{
    struct peer_proxy_resp p = {.id = 1, .status = 0, .leader = RAFT_MAX_NODES};
    struct peer_wbuf b = {0};
    cr_assert_eq(peer_encode_proxy_resp(&b, &p), PEER_OK);
    size_t len;
    const uint8_t *body = body_of(&b, PEER_FRAME_PROXY_RESP, &len);
    struct peer_proxy_resp pb;
    cr_assert_eq(peer_decode_proxy_resp(body, len, &pb), PEER_ERR_MALFORMED);
    peer_wbuf_free(&b);
    p.leader = RAFT_MAX_NODES - 1;
    cr_assert_eq(peer_encode_proxy_resp(&b, &p), PEER_OK);
    body = body_of(&b, PEER_FRAME_PROXY_RESP, &len);
    cr_assert_eq(peer_decode_proxy_resp(body, len, &pb), PEER_OK);
    cr_assert_eq(pb.leader, RAFT_MAX_NODES - 1);
    peer_wbuf_free(&b);
}

/* A length prefix claiming more bytes than the body has is refused before
 * anything reads them: the body ends right before an unreadable page, so
 * a read past it crashes the test. */
Test(peer_codec, a_name_longer_than_the_body_is_refused_without_reading_past_it)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uint8_t *map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(map, MAP_FAILED);
    cr_assert_eq(mprotect(map + page, page, PROT_NONE), 0);
    const uint8_t body[] = {40, 'n', '1'}; /* a 40-byte name with 2 bytes present */
    uint8_t *at = map + page - sizeof body;
    memcpy(at, body, sizeof body);
    struct peer_hello h;
    cr_assert_eq(peer_decode_hello(at, sizeof body, &h), PEER_ERR_MALFORMED);
    munmap(map, 2 * page);
}

/* A varint's tenth byte may only carry bit 63. */
Test(peer_codec, a_varint_past_64_bits_is_refused)
{
    uint8_t body[14];
    memset(body, 0xff, 9);
    body[9] = 0x02;  /* bit 64 */
    body[10] = 7;    /* term */
    body[11] = 1;    /* command length */
    body[12] = 'x';
    struct peer_proxy_req q;
    cr_assert_eq(peer_decode_proxy_req(body, 13, &q), PEER_ERR_MALFORMED);
    body[9] = 0x01; /* bit 63 alone fits */
    cr_assert_eq(peer_decode_proxy_req(body, 13, &q), PEER_OK);
    cr_assert_eq(q.id, UINT64_MAX);
    cr_assert_eq(q.term, 7);
}

/* An APPEND claiming more entries than its bytes could hold is malformed,
 * found before anything is allocated for them. */
Test(peer_codec, an_entry_count_beyond_the_bytes_left_is_malformed)
{
    uint8_t body[32];
    size_t n = 0;
    body[n++] = (uint8_t)RAFT_MSG_APPEND;
    body[n++] = 1; /* from */
    body[n++] = 0; /* to */
    body[n++] = 0; /* flags */
    body[n++] = 0; /* field mask */
    body[n++] = 0;
    for (int i = 0; i < 8; i++) /* 2^56 entries */
        body[n++] = 0x80;
    body[n++] = 0x01;
    body[n++] = 1; /* first index */
    struct raft_msg m;
    cr_assert_eq(peer_decode_raft(body, n, 3, &m), PEER_ERR_MALFORMED);
}

/* The encoder leaves zero fields out of the mask; a frame carrying one
 * was not made by a raftkv server. */
Test(peer_codec, a_field_present_with_value_zero_is_refused)
{
    const uint8_t body[] = {(uint8_t)RAFT_MSG_VOTE, 1, 0, 0, 0x00, 0x01 /* term */, 0};
    struct raft_msg m;
    cr_assert_eq(peer_decode_raft(body, sizeof body, 3, &m), PEER_ERR_MALFORMED);
    const uint8_t ok[] = {(uint8_t)RAFT_MSG_VOTE, 1, 0, 0, 0x00, 0x01, 5};
    cr_assert_eq(peer_decode_raft(ok, sizeof ok, 3, &m), PEER_OK);
    cr_assert_eq(m.term, 5);
}

/* ---- bounds on counts, lengths and indexes --------------------------------- */

static size_t put_uv(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* An APPEND body from node 1 to 0, term 3, prev_index `prev` (0: absent),
 * `count` entries announced from `first`, each {term 3, noop, no bytes}
 * for the first `present` of them. */
static uint8_t *append_body(uint64_t prev, uint64_t count, uint64_t first, size_t present,
                            size_t *len)
{
    uint8_t *b = malloc(64 + present * 3);
    size_t n = 0;
    b[n++] = (uint8_t)RAFT_MSG_APPEND;
    b[n++] = 1;
    b[n++] = 0;
    b[n++] = 0;
    uint16_t mask = 1u | (prev ? 1u << 3 | 1u << 4 : 0); /* term, prev_index, prev_term */
    b[n++] = (uint8_t)(mask >> 8);
    b[n++] = (uint8_t)mask;
    n += put_uv(b + n, 3);
    if (prev) {
        n += put_uv(b + n, prev);
        n += put_uv(b + n, 3);
    }
    n += put_uv(b + n, count);
    if (count) {
        n += put_uv(b + n, first);
        for (size_t i = 0; i < present; i++) {
            b[n++] = 3;
            b[n++] = RAFT_ENTRY_NOOP;
            b[n++] = 0;
        }
    }
    *len = n;
    return b;
}

Test(peer_codec, an_entry_count_above_65536_is_refused_even_with_the_bytes_present)
{
    size_t len;
    struct raft_msg m;
    uint8_t *b = append_body(0, 65537, 1, 65537, &len);
    cr_assert_eq(peer_decode_raft(b, len, 3, &m), PEER_ERR_MALFORMED);
    cr_assert_str_eq(peer_decode_detail(), "entry count above 65536");
    cr_assert_null(m.entries, "nothing allocated");
    free(b);
    b = append_body(0, 65536, 1, 65536, &len);
    cr_assert_eq(peer_decode_raft(b, len, 3, &m), PEER_OK);
    cr_assert_eq(m.n_entries, 65536);
    cr_assert_eq(m.entries[65535].index, 65536);
    peer_raft_msg_release(&m);
    free(b);
}

Test(peer_codec, entries_must_follow_prev_index)
{
    size_t len;
    struct raft_msg m;
    uint8_t *b = append_body(41, 1, 43, 1, &len);
    cr_assert_eq(peer_decode_raft(b, len, 3, &m), PEER_ERR_MALFORMED);
    cr_assert_str_eq(peer_decode_detail(), "entries do not follow prev_index");
    free(b);
    b = append_body(0, 1, 2, 1, &len); /* no prev_index: the first entry is 1 */
    cr_assert_eq(peer_decode_raft(b, len, 3, &m), PEER_ERR_MALFORMED);
    free(b);
    b = append_body(41, 1, 42, 1, &len);
    cr_assert_eq(peer_decode_raft(b, len, 3, &m), PEER_OK);
    cr_assert_eq(m.entries[0].index, 42);
    peer_raft_msg_release(&m);
    free(b);
}

Test(peer_codec, entry_indexes_near_2_to_the_64_never_wrap)
{
    size_t len;
    struct raft_msg m;
    /* prev 2^64-2, two entries: the second would be index 2^64, i.e. 0. */
    uint8_t *b = append_body(18446744073709551614ull, 2, 18446744073709551615ull, 2, &len);
    cr_assert_eq(peer_decode_raft(b, len, 3, &m), PEER_ERR_MALFORMED);
    cr_assert_str_eq(peer_decode_detail(), "entries do not follow prev_index");
    free(b);
    /* prev 2^64-1: the first entry would be index 0. */
    b = append_body(18446744073709551615ull, 1, 0, 1, &len);
    cr_assert_eq(peer_decode_raft(b, len, 3, &m), PEER_ERR_MALFORMED);
    free(b);
    /* Even one entry at 2^64-1: its index + 1 would wrap. */
    b = append_body(18446744073709551614ull, 1, 18446744073709551615ull, 1, &len);
    cr_assert_eq(peer_decode_raft(b, len, 3, &m), PEER_ERR_MALFORMED);
    free(b);
    /* One entry at 2^63 is a well-formed frame: the core refuses it (past
     * max_index, 2^63-1 by default) and changes nothing. */
    b = append_body(9223372036854775807ull, 1, 9223372036854775808ull, 1, &len);
    cr_assert_eq(peer_decode_raft(b, len, 3, &m), PEER_OK);
    struct raft_config cfg;
    raft_config_default(&cfg, 0, 3, 1);
    struct raft *r = raft_new(&cfg, NULL, 0);
    struct raft_event e = {.type = RAFT_EVENT_RECEIVE, .receive = m};
    struct raft_update u;
    cr_assert_eq(raft_step(r, &e, &u), RAFT_ERR_BOUNDS);
    cr_assert_eq(raft_current_term(r), 0);
    cr_assert_eq(raft_last_index(r), 0);
    cr_assert_eq(u.n_messages, 0);
    raft_free(r);
    peer_raft_msg_release(&m);
    free(b);
}

/* The frame: an APPEND with term 2^64-1 decodes (the codec checks
 * form, not meaning) and the core then refuses it without adopting it. */
Test(peer_codec, a_frame_with_term_2_to_the_64_minus_1_is_refused_by_the_core)
{
    struct raft_msg m = {.type = RAFT_MSG_APPEND, .from = 1, .to = 0,
                         .term = 18446744073709551615ull};
    struct peer_wbuf w = {0};
    cr_assert_eq(peer_encode_raft(&w, &m), PEER_OK);
    size_t len;
    const uint8_t *body = body_of(&w, PEER_FRAME_RAFT, &len);
    struct raft_msg d;
    cr_assert_eq(peer_decode_raft(body, len, 3, &d), PEER_OK);
    cr_assert_eq(d.term, 18446744073709551615ull);
    struct raft_config cfg;
    raft_config_default(&cfg, 0, 3, 1);
    struct raft_restore rs = {.term = 4, .voted_for = 2};
    struct raft *r = raft_new(&cfg, &rs, 0);
    struct raft_event e = {.type = RAFT_EVENT_RECEIVE, .receive = d};
    struct raft_update u;
    cr_assert_eq(raft_step(r, &e, &u), RAFT_ERR_BOUNDS);
    cr_assert_eq(u.term, 4);
    cr_assert_eq(u.voted_for, 2);
    cr_assert_eq(u.flags, 0);
    struct raft_refusals rf;
    raft_refusals(r, &rf);
    cr_assert_eq(rf.term, 1);
    raft_free(r);
    peer_raft_msg_release(&d);
    peer_wbuf_free(&w);
}

Test(peer_codec, a_varint_longer_than_its_shortest_form_is_refused)
{
    /* PROXY_REQ id 1 written as 0x81 0x00, term 7, a 1-byte command. */
    const uint8_t body[] = {0x81, 0x00, 7, 1, 'x'};
    struct peer_proxy_req q;
    cr_assert_eq(peer_decode_proxy_req(body, sizeof body, &q), PEER_ERR_MALFORMED);
    cr_assert_str_eq(peer_decode_detail(), "a varint not in its shortest form");
    const uint8_t ok[] = {0x01, 7, 1, 'x'};
    cr_assert_eq(peer_decode_proxy_req(ok, sizeof ok, &q), PEER_OK);
    cr_assert_eq(q.id, 1);
    /* 128 is two bytes, the last one non-zero. */
    const uint8_t two[] = {0x80, 0x01, 7, 1, 'x'};
    cr_assert_eq(peer_decode_proxy_req(two, sizeof two, &q), PEER_OK);
    cr_assert_eq(q.id, 128);
}

/* Within the 65536 bound, a count the frame's bytes cannot hold is still
 * refused before the array is allocated, and says so. */
Test(peer_codec, an_entry_count_within_the_bound_but_beyond_the_bytes_is_refused_first)
{
    size_t len;
    struct raft_msg m;
    uint8_t *b = append_body(0, 60000, 1, 2, &len);
    cr_assert_eq(peer_decode_raft(b, len, 3, &m), PEER_ERR_MALFORMED);
    cr_assert_str_eq(peer_decode_detail(), "entry count beyond the frame's bytes");
    free(b);
}

/* ---- Snapshot transfer frames (snap_transfer.h) ------------------------- */

/* Offer: id 0x1234 (varint b4 24), size 3, then a SNAPSHOT body: type 6,
 * from 0, to 1, no flags, mask 0x1861 (term, commit, seq, snap_index,
 * snap_term), 3, 9, 4, 9, 2, and an empty image. */
static const uint8_t offer_bytes[] = {0, 0, 0, 17, 5, 5, 0xb4, 0x24, 3, 6, 0, 1, 0, 0x18, 0x61,
                                      3, 9, 4, 9, 2, 0};

Test(peer_codec, encodes_a_snapshot_offer_byte_for_byte)
{
    struct peer_snap_offer o = {.id = 0x1234, .size = 3};
    o.msg = (struct raft_msg){.type = RAFT_MSG_SNAPSHOT, .from = 0, .to = 1, .term = 3,
                              .commit = 9, .seq = 4, .snap_index = 9, .snap_term = 2};
    struct peer_wbuf b = {0};
    cr_assert_eq(peer_encode_snap_offer(&b, &o), PEER_OK);
    cr_assert_eq(b.len, sizeof offer_bytes);
    cr_assert_arr_eq(b.data, offer_bytes, sizeof offer_bytes);
    peer_wbuf_free(&b);

    uint8_t kind;
    size_t flen;
    cr_assert_eq(peer_frame_peek(offer_bytes, sizeof offer_bytes, PEER_DEFAULT_MAX_FRAME, &kind, &flen), 1);
    cr_assert_eq(kind, 5);
    struct peer_snap_offer d;
    cr_assert_eq(peer_decode_snap_offer(offer_bytes + 6, flen - 6, 3, &d), PEER_OK);
    cr_assert_eq(d.id, 0x1234);
    cr_assert_eq(d.size, 3);
    cr_assert_eq(d.msg.type, RAFT_MSG_SNAPSHOT);
    cr_assert_eq(d.msg.term, 3);
    cr_assert_eq(d.msg.snap_index, 9);
    cr_assert_eq(d.msg.snap_term, 2);
    cr_assert_eq(d.msg.snap_len, 0);
    peer_raft_msg_release(&d.msg);
}

Test(peer_codec, refuses_offers_that_carry_an_image_no_size_or_another_type)
{
    struct peer_snap_offer d;
    uint8_t f[sizeof offer_bytes];
    memcpy(f, offer_bytes, sizeof f);
    /* Node 1 past a one-node cluster. */
    cr_assert_eq(peer_decode_snap_offer(f + 6, sizeof f - 6, 1, &d), PEER_ERR_MALFORMED);
    f[8] = 0; /* size 0 */
    cr_assert_eq(peer_decode_snap_offer(f + 6, sizeof f - 6, 3, &d), PEER_ERR_MALFORMED);
    memcpy(f, offer_bytes, sizeof f);
    f[9] = 4; /* an APPEND, not a SNAPSHOT */
    cr_assert_eq(peer_decode_snap_offer(f + 6, sizeof f - 6, 3, &d), PEER_ERR_MALFORMED);
    /* An image inside the offer: length 1, one byte. */
    const uint8_t with_image[] = {0xb4, 0x24, 3, 6, 0, 1, 0, 0x18, 0x61, 3, 9, 4, 9, 2, 1, 'x'};
    cr_assert_eq(peer_decode_snap_offer(with_image, sizeof with_image, 3, &d), PEER_ERR_MALFORMED);
    /* Encoding refuses what decoding would. */
    struct peer_snap_offer o = {.id = 1, .size = 3};
    o.msg = (struct raft_msg){.type = RAFT_MSG_SNAPSHOT, .to = 1, .term = 1, .snap_index = 1,
                              .snap_term = 1, .snap_data = (uint8_t *)"x", .snap_len = 1};
    struct peer_wbuf b = {0};
    cr_assert_eq(peer_encode_snap_offer(&b, &o), PEER_ERR_MALFORMED);
    cr_assert_eq(b.len, 0);
}

/* Chunk: id 0x1234, offset 0, CRC32C("RKV") = 0xb9ac9c3a big endian, the
 * bytes to the end of the frame. */
static const uint8_t chunk_bytes[] = {0, 0, 0, 12, 5, 6, 0xb4, 0x24, 0, 0xb9, 0xac, 0x9c, 0x3a,
                                      'R', 'K', 'V'};

Test(peer_codec, encodes_a_snapshot_chunk_byte_for_byte)
{
    static const uint8_t img[3] = {'R', 'K', 'V'};
    struct peer_snap_chunk c = {.id = 0x1234, .offset = 0, .crc = 0xb9ac9c3au, .data = img, .len = 3};
    struct peer_wbuf b = {0};
    cr_assert_eq(peer_encode_snap_chunk(&b, &c), PEER_OK);
    cr_assert_eq(b.len, sizeof chunk_bytes);
    cr_assert_arr_eq(b.data, chunk_bytes, sizeof chunk_bytes);
    peer_wbuf_free(&b);
    struct peer_snap_chunk d;
    cr_assert_eq(peer_decode_snap_chunk(chunk_bytes + 6, sizeof chunk_bytes - 6, &d), PEER_OK);
    cr_assert_eq(d.id, 0x1234);
    cr_assert_eq(d.offset, 0);
    cr_assert_eq(d.crc, 0xb9ac9c3au);
    cr_assert_eq(d.len, 3);
    cr_assert_eq(memcmp(d.data, "RKV", 3), 0);
    cr_assert_eq(d.data, chunk_bytes + 13, "the bytes are borrowed from the frame");
}

Test(peer_codec, refuses_empty_oversized_and_wrapping_chunks)
{
    struct peer_snap_chunk d;
    /* No bytes after the CRC. */
    const uint8_t empty[] = {0xb4, 0x24, 0, 0xb9, 0xac, 0x9c, 0x3a};
    cr_assert_eq(peer_decode_snap_chunk(empty, sizeof empty, &d), PEER_ERR_MALFORMED);
    /* A CRC cut short. */
    cr_assert_eq(peer_decode_snap_chunk(empty, 5, &d), PEER_ERR_MALFORMED);
    /* Id 0. */
    const uint8_t no_id[] = {0, 0, 1, 2, 3, 4, 'x'};
    cr_assert_eq(peer_decode_snap_chunk(no_id, sizeof no_id, &d), PEER_ERR_MALFORMED);
    /* Offset 2^64-1 with one byte: past 2^64. */
    const uint8_t wrap[] = {1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0, 0, 'x'};
    cr_assert_eq(peer_decode_snap_chunk(wrap, sizeof wrap, &d), PEER_ERR_MALFORMED);
    /* 1 MiB + 1 bytes of image: one past the chunk bound (1048576). */
    size_t n = 6 + 1048577; /* id 1, offset 0, CRC 0: 6 bytes, then the image */
    uint8_t *big = calloc(1, n);
    big[0] = 1;
    cr_assert_eq(peer_decode_snap_chunk(big, n, &d), PEER_ERR_MALFORMED);
    cr_assert_eq(peer_decode_snap_chunk(big, n - 1, &d), PEER_OK);
    cr_assert_eq(d.len, 1048576);
    struct peer_snap_chunk c = {.id = 1, .data = big, .len = 1048577};
    struct peer_wbuf b = {0};
    cr_assert_eq(peer_encode_snap_chunk(&b, &c), PEER_ERR_MALFORMED);
    free(big);
}

Test(peer_codec, encodes_snapshot_acks_byte_for_byte_and_refuses_unknown_status)
{
    const uint8_t go_on[] = {0, 0, 0, 6, 5, 7, 0xb4, 0x24, 3, 0};
    const uint8_t refused[] = {0, 0, 0, 7, 5, 7, 0xb4, 0x24, 0x80, 0x01, 2};
    struct peer_wbuf b = {0};
    struct peer_snap_ack a = {.id = 0x1234, .offset = 3, .status = PEER_SNAP_GO_ON};
    cr_assert_eq(peer_encode_snap_ack(&b, &a), PEER_OK);
    cr_assert_arr_eq(b.data, go_on, sizeof go_on);
    cr_assert_eq(b.len, sizeof go_on);
    b.len = 0;
    a = (struct peer_snap_ack){.id = 0x1234, .offset = 128, .status = PEER_SNAP_REFUSED};
    cr_assert_eq(peer_encode_snap_ack(&b, &a), PEER_OK);
    cr_assert_arr_eq(b.data, refused, sizeof refused);
    peer_wbuf_free(&b);
    struct peer_snap_ack d;
    cr_assert_eq(peer_decode_snap_ack(refused + 6, sizeof refused - 6, &d), PEER_OK);
    cr_assert_eq(d.id, 0x1234);
    cr_assert_eq(d.offset, 128);
    cr_assert_eq(d.status, 2);
    const uint8_t unknown[] = {0xb4, 0x24, 3, 3};
    cr_assert_eq(peer_decode_snap_ack(unknown, sizeof unknown, &d), PEER_ERR_MALFORMED);
    const uint8_t trailing[] = {0xb4, 0x24, 3, 0, 0};
    cr_assert_eq(peer_decode_snap_ack(trailing, sizeof trailing, &d), PEER_ERR_MALFORMED);
    /* Kinds 5-9 pass the framing (8: MEMBERS, 9: REMOVED); 10 does not. */
    uint8_t kind;
    size_t flen;
    const uint8_t k8[] = {0, 0, 0, 6, 5, 10, 0xb4, 0x24, 3, 0};
    cr_assert_eq(peer_frame_peek(go_on, sizeof go_on, PEER_DEFAULT_MAX_FRAME, &kind, &flen), 1);
    cr_assert_eq(kind, 7);
    cr_assert_eq(peer_frame_peek(k8, sizeof k8, PEER_DEFAULT_MAX_FRAME, &kind, &flen), PEER_ERR_MALFORMED);
}

/* ---- REMOVED (peer_codec.h): the answer to a removed member's HELLO ------ */

Test(peer_codec, encodes_removed_byte_for_byte_and_refuses_bad_ones)
{
    struct peer_wbuf b = {0};
    cr_assert_eq(peer_encode_removed(&b, 300, "n3"), PEER_OK);
    /* Length 7, version 5, kind 9, varint 300 (ac 02), name "n3". */
    const uint8_t want[] = {0, 0, 0, 7, 5, 9, 0xac, 0x02, 2, 'n', '3'};
    cr_assert_eq(b.len, sizeof want);
    cr_assert_arr_eq(b.data, want, sizeof want);
    uint8_t kind;
    size_t flen;
    cr_assert_eq(peer_frame_peek(b.data, b.len, PEER_DEFAULT_MAX_FRAME, &kind, &flen), 1);
    cr_assert_eq(kind, 9);
    uint64_t index;
    char name[PEER_MAX_NAME + 1];
    cr_assert_eq(peer_decode_removed(want + 6, sizeof want - 6, &index, name), PEER_OK);
    cr_assert_eq(index, 300);
    cr_assert_str_eq(name, "n3");
    /* No index 0, no empty name, nothing after the name, no truncation. */
    const uint8_t zero[] = {0, 2, 'n', '3'};
    cr_assert_eq(peer_decode_removed(zero, sizeof zero, &index, name), PEER_ERR_MALFORMED);
    const uint8_t empty[] = {5, 0};
    cr_assert_eq(peer_decode_removed(empty, sizeof empty, &index, name), PEER_ERR_MALFORMED);
    const uint8_t trailing[] = {5, 2, 'n', '3', 0};
    cr_assert_eq(peer_decode_removed(trailing, sizeof trailing, &index, name), PEER_ERR_MALFORMED);
    const uint8_t cut[] = {5, 3, 'n', '3'};
    cr_assert_eq(peer_decode_removed(cut, sizeof cut, &index, name), PEER_ERR_MALFORMED);
    size_t before = b.len;
    cr_assert_eq(peer_encode_removed(&b, 0, "n3"), PEER_ERR_MALFORMED);
    cr_assert_eq(peer_encode_removed(&b, 1, ""), PEER_ERR_MALFORMED);
    cr_assert_eq(b.len, before, "a refused encode leaves the buffer as it was");
    /* The same frame from a version 4 member is refused at its header. */
    const uint8_t old[] = {0, 0, 0, 7, 4, 9, 0xac, 0x02, 2, 'n', '3'};
    cr_assert_eq(peer_frame_peek(old, sizeof old, PEER_DEFAULT_MAX_FRAME, &kind, &flen), PEER_ERR_VERSION);
    peer_wbuf_free(&b);
}
