/* fuzz_peer_frame.c - the frames between raftkv servers (src/server/
 * peer_codec.c): framing and the decoder of every frame kind.
 *
 * The input is read twice: as a byte stream of frames (peek, then decode
 * each whole frame by its kind), and as one body whose kind is the first
 * byte, so the fuzzer reaches the decoders without first guessing a
 * length. Property: whatever decodes encodes again, and that decodes to
 * the same values (the commands a proxy request carries go through
 * kv_command_decode too; a snapshot chunk's bytes stay inside its frame). */
#include <string.h>

#include "fuzz.h"
#include "kv/kv.h"
#include "server/peer_codec.h"

#define N_NODES 5

static void same_raft(const struct raft_msg *a, const struct raft_msg *b)
{
    FUZZ_CHECK(a->type == b->type && a->from == b->from && a->to == b->to);
    FUZZ_CHECK(a->term == b->term && a->last_log_index == b->last_log_index &&
               a->last_log_term == b->last_log_term && a->granted == b->granted);
    FUZZ_CHECK(a->prev_index == b->prev_index && a->prev_term == b->prev_term &&
               a->commit == b->commit && a->seq == b->seq && a->success == b->success);
    FUZZ_CHECK(a->match_index == b->match_index && a->reject_index == b->reject_index &&
               a->hint_index == b->hint_index && a->hint_term == b->hint_term);
    FUZZ_CHECK(a->snap_index == b->snap_index && a->snap_term == b->snap_term);
    FUZZ_CHECK(a->n_entries == b->n_entries && a->snap_len == b->snap_len);
    for (size_t i = 0; i < a->n_entries; i++) {
        const struct raft_entry *x = &a->entries[i], *y = &b->entries[i];
        FUZZ_CHECK(x->index == y->index && x->term == y->term && x->type == y->type &&
                   x->len == y->len);
        FUZZ_CHECK(x->len == 0 || memcmp(x->data, y->data, x->len) == 0);
    }
    FUZZ_CHECK(a->snap_len == 0 || memcmp(a->snap_data, b->snap_data, a->snap_len) == 0);
}

/* Re-encode, peek the new frame, decode its body with the same kind. */
static const uint8_t *reencoded_body(struct peer_wbuf *w, uint8_t kind, size_t *len)
{
    uint8_t k;
    size_t frame_len;
    FUZZ_CHECK(peer_frame_peek(w->data, w->len, PEER_DEFAULT_MAX_FRAME, &k, &frame_len) == 1);
    FUZZ_CHECK(k == kind && frame_len == w->len);
    *len = frame_len - PEER_FRAME_HEADER;
    return w->data + PEER_FRAME_HEADER;
}

static void decode_body(uint8_t kind, const uint8_t *body, size_t len)
{
    struct peer_wbuf w = {0};
    const uint8_t *again;
    size_t again_len;
    switch (kind) {
    case PEER_FRAME_HELLO: {
        struct peer_hello h, h2;
        if (peer_decode_hello(body, len, &h) != PEER_OK)
            break;
        FUZZ_CHECK(strlen(h.sender) > 0 && strlen(h.sender) <= PEER_MAX_NAME);
        FUZZ_CHECK(strlen(h.receiver) > 0 && strlen(h.receiver) <= PEER_MAX_NAME);
        FUZZ_CHECK(peer_encode_hello(&w, &h) == PEER_OK);
        again = reencoded_body(&w, kind, &again_len);
        FUZZ_CHECK(peer_decode_hello(again, again_len, &h2) == PEER_OK);
        FUZZ_CHECK(strcmp(h.sender, h2.sender) == 0 && strcmp(h.receiver, h2.receiver) == 0 &&
                   h.cluster_fingerprint == h2.cluster_fingerprint);
        break;
    }
    case PEER_FRAME_RAFT: {
        struct raft_msg m, m2;
        if (peer_decode_raft(body, len, N_NODES, &m) != PEER_OK)
            break;
        FUZZ_CHECK(m.from >= 0 && m.from < N_NODES && m.to >= 0 && m.to < N_NODES);
        for (size_t i = 0; i < m.n_entries; i++)
            FUZZ_CHECK(m.entries[i].len == 0 ||
                       (m.entries[i].data >= body && m.entries[i].data + m.entries[i].len <= body + len));
        FUZZ_CHECK(peer_encode_raft(&w, &m) == PEER_OK);
        again = reencoded_body(&w, kind, &again_len);
        FUZZ_CHECK(peer_decode_raft(again, again_len, N_NODES, &m2) == PEER_OK);
        same_raft(&m, &m2);
        peer_raft_msg_release(&m2);
        peer_raft_msg_release(&m);
        break;
    }
    case PEER_FRAME_PROXY_REQ: {
        struct peer_proxy_req q, q2;
        if (peer_decode_proxy_req(body, len, &q) != PEER_OK)
            break;
        FUZZ_CHECK(peer_encode_proxy_req(&w, &q) == PEER_OK);
        again = reencoded_body(&w, kind, &again_len);
        FUZZ_CHECK(peer_decode_proxy_req(again, again_len, &q2) == PEER_OK);
        FUZZ_CHECK(q.id == q2.id && q.command_len == q2.command_len &&
                   memcmp(q.command, q2.command, q.command_len) == 0);
        /* The leader decodes the command it is handed. */
        struct kv_command c;
        if (kv_command_decode(q.command, q.command_len, &c) == 0) {
            uint8_t *bytes;
            size_t n;
            if (kv_command_encode(&c, &bytes, &n) == 0) {
                struct kv_command c2;
                FUZZ_CHECK(kv_command_decode(bytes, n, &c2) == 0);
                FUZZ_CHECK(c.op == c2.op && json_equal(c.key, c2.key));
                kv_command_release(&c2);
                free(bytes);
            }
            kv_command_release(&c);
        }
        break;
    }
    case PEER_FRAME_PROXY_RESP: {
        struct peer_proxy_resp p, p2;
        if (peer_decode_proxy_resp(body, len, &p) != PEER_OK)
            break;
        FUZZ_CHECK(p.leader >= -1 && p.leader < RAFT_MAX_NODES);
        FUZZ_CHECK(peer_encode_proxy_resp(&w, &p) == PEER_OK);
        again = reencoded_body(&w, kind, &again_len);
        FUZZ_CHECK(peer_decode_proxy_resp(again, again_len, &p2) == PEER_OK);
        FUZZ_CHECK(p.id == p2.id && p.status == p2.status && p.leader == p2.leader &&
                   p.kv_code == p2.kv_code && p.result_len == p2.result_len &&
                   p.text_len == p2.text_len);
        FUZZ_CHECK(!p.result == !p2.result);
        FUZZ_CHECK(p.result_len == 0 || memcmp(p.result, p2.result, p.result_len) == 0);
        FUZZ_CHECK(p.text_len == 0 || memcmp(p.text, p2.text, p.text_len) == 0);
        break;
    }
    case PEER_FRAME_SNAP_OFFER: {
        struct peer_snap_offer o, o2;
        if (peer_decode_snap_offer(body, len, N_NODES, &o) != PEER_OK)
            break;
        FUZZ_CHECK(o.id != 0 && o.size != 0 && o.msg.type == RAFT_MSG_SNAPSHOT && o.msg.snap_len == 0);
        FUZZ_CHECK(peer_encode_snap_offer(&w, &o) == PEER_OK);
        again = reencoded_body(&w, kind, &again_len);
        FUZZ_CHECK(peer_decode_snap_offer(again, again_len, N_NODES, &o2) == PEER_OK);
        FUZZ_CHECK(o.id == o2.id && o.size == o2.size);
        same_raft(&o.msg, &o2.msg);
        peer_raft_msg_release(&o2.msg);
        peer_raft_msg_release(&o.msg);
        break;
    }
    case PEER_FRAME_SNAP_CHUNK: {
        struct peer_snap_chunk c, c2;
        if (peer_decode_snap_chunk(body, len, &c) != PEER_OK)
            break;
        FUZZ_CHECK(c.len > 0 && c.len <= PEER_SNAP_CHUNK_MAX && c.data >= body &&
                   c.data + c.len == body + len);
        FUZZ_CHECK(peer_encode_snap_chunk(&w, &c) == PEER_OK);
        again = reencoded_body(&w, kind, &again_len);
        FUZZ_CHECK(peer_decode_snap_chunk(again, again_len, &c2) == PEER_OK);
        FUZZ_CHECK(c.id == c2.id && c.offset == c2.offset && c.crc == c2.crc && c.len == c2.len &&
                   memcmp(c.data, c2.data, c.len) == 0);
        break;
    }
    case PEER_FRAME_SNAP_ACK: {
        struct peer_snap_ack a, a2;
        if (peer_decode_snap_ack(body, len, &a) != PEER_OK)
            break;
        FUZZ_CHECK(a.status <= PEER_SNAP_REFUSED);
        FUZZ_CHECK(peer_encode_snap_ack(&w, &a) == PEER_OK);
        again = reencoded_body(&w, kind, &again_len);
        FUZZ_CHECK(peer_decode_snap_ack(again, again_len, &a2) == PEER_OK);
        FUZZ_CHECK(a.id == a2.id && a.offset == a2.offset && a.status == a2.status);
        break;
    }
    case PEER_FRAME_REMOVED: {
        uint64_t index, index2;
        char name[PEER_MAX_NAME + 1], name2[PEER_MAX_NAME + 1];
        if (peer_decode_removed(body, len, &index, name) != PEER_OK)
            break;
        FUZZ_CHECK(index > 0 && strlen(name) > 0 && strlen(name) <= PEER_MAX_NAME);
        FUZZ_CHECK(peer_encode_removed(&w, index, name) == PEER_OK);
        again = reencoded_body(&w, kind, &again_len);
        FUZZ_CHECK(again_len == len && memcmp(again, body, len) == 0);
        FUZZ_CHECK(peer_decode_removed(again, again_len, &index2, name2) == PEER_OK);
        FUZZ_CHECK(index == index2 && strcmp(name, name2) == 0);
        break;
    }
    default:
        break;
    }
    peer_wbuf_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A stream of frames, as a connection delivers them. */
    size_t off = 0;
    for (;;) {
        uint8_t kind;
        size_t frame_len;
        int rc = peer_frame_peek(data + off, size - off, 1u << 20, &kind, &frame_len);
        if (rc != 1)
            break;
        FUZZ_CHECK(frame_len >= PEER_FRAME_HEADER && frame_len <= size - off);
        decode_body(kind, data + off + PEER_FRAME_HEADER, frame_len - PEER_FRAME_HEADER);
        off += frame_len;
    }
    /* One body, its kind named by the first byte. */
    if (size >= 1)
        decode_body((uint8_t)(1 + data[0] % 9), data + 1, size - 1);
    return 0;
}
