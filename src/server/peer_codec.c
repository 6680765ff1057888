/* peer_codec.c - encoding and checked decoding of the frames between raftkv
 * servers. The layout is documented in peer_codec.h. */
#include "server/peer_codec.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void peer_wbuf_free(struct peer_wbuf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

static int wbuf_reserve(struct peer_wbuf *b, size_t extra)
{
    if (b->len + extra <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra)
        cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (!d)
        return -1;
    b->data = d;
    b->cap = cap;
    return 0;
}

/* Writers below assume wbuf_reserve succeeded for the frame's upper bound. */
static void put_u8(struct peer_wbuf *b, uint8_t v)
{
    b->data[b->len++] = v;
}

static void put_varint(struct peer_wbuf *b, uint64_t v)
{
    while (v >= 0x80) {
        b->data[b->len++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b->data[b->len++] = (uint8_t)v;
}

static void put_bytes(struct peer_wbuf *b, const void *p, size_t n)
{
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
}

/* Reserve room, write the header with a placeholder length; the caller
 * fills the body then calls frame_end. */
static int frame_begin(struct peer_wbuf *b, size_t body_bound, uint8_t kind, size_t *start)
{
    if (body_bound > UINT32_MAX - 16)
        return PEER_ERR_TOO_LARGE;
    if (wbuf_reserve(b, PEER_FRAME_HEADER + body_bound) != 0)
        return PEER_ERR_NOMEM;
    *start = b->len;
    b->len += 4;
    put_u8(b, PEER_CODEC_VERSION);
    put_u8(b, kind);
    return PEER_OK;
}

static void frame_end(struct peer_wbuf *b, size_t start)
{
    uint32_t n = (uint32_t)(b->len - start - 4);
    b->data[start] = (uint8_t)(n >> 24);
    b->data[start + 1] = (uint8_t)(n >> 16);
    b->data[start + 2] = (uint8_t)(n >> 8);
    b->data[start + 3] = (uint8_t)n;
}

/* ---- Reading, with bounds checks on every step ---------------------------- */

struct reader {
    const uint8_t *p;
    size_t len, pos;
    bool bad;
};

static _Thread_local const char *decode_detail = "";

const char *peer_decode_detail(void)
{
    return decode_detail;
}

/* Refuse with a reason for the log. */
static int refuse(const char *detail)
{
    decode_detail = detail;
    return PEER_ERR_MALFORMED;
}

static uint8_t get_u8(struct reader *r)
{
    if (r->pos >= r->len) {
        r->bad = true;
        return 0;
    }
    return r->p[r->pos++];
}

static uint64_t get_varint(struct reader *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        uint8_t c = get_u8(r);
        if (r->bad)
            return 0;
        if (shift == 63 && c > 1) { /* would overflow 64 bits */
            decode_detail = "a varint past 64 bits";
            r->bad = true;
            return 0;
        }
        if (shift > 0 && c == 0) { /* a longer form than needed: never made here */
            decode_detail = "a varint not in its shortest form";
            r->bad = true;
            return 0;
        }
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return v;
    }
    r->bad = true;
    return 0;
}

/* A length-prefixed byte string, pointing into the input. */
static const uint8_t *get_bytes(struct reader *r, size_t *n)
{
    uint64_t len = get_varint(r);
    if (r->bad || len > r->len - r->pos) {
        r->bad = true;
        *n = 0;
        return NULL;
    }
    const uint8_t *s = r->p + r->pos;
    r->pos += (size_t)len;
    *n = (size_t)len;
    return s;
}

static bool reader_done(const struct reader *r)
{
    return !r->bad && r->pos == r->len;
}

/* ---- HELLO ------------------------------------------------------------------ */

int peer_encode_hello(struct peer_wbuf *b, const struct peer_hello *h)
{
    size_t ls = strnlen(h->sender, PEER_MAX_NAME + 1), lr = strnlen(h->receiver, PEER_MAX_NAME + 1);
    if (ls == 0 || ls > PEER_MAX_NAME || lr == 0 || lr > PEER_MAX_NAME)
        return PEER_ERR_MALFORMED;
    size_t start;
    int rc = frame_begin(b, 2 * (10 + PEER_MAX_NAME) + 10 + sizeof h->cluster_id, PEER_FRAME_HELLO,
                         &start);
    if (rc != PEER_OK)
        return rc;
    put_varint(b, ls);
    put_bytes(b, h->sender, ls);
    put_varint(b, lr);
    put_bytes(b, h->receiver, lr);
    put_varint(b, h->cluster_fingerprint);
    put_bytes(b, h->cluster_id, sizeof h->cluster_id);
    frame_end(b, start);
    return PEER_OK;
}

static int get_name(struct reader *r, char *out)
{
    size_t n;
    const uint8_t *s = get_bytes(r, &n);
    if (!s || n == 0 || n > PEER_MAX_NAME || memchr(s, '\0', n))
        return -1;
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

int peer_decode_hello(const uint8_t *body, size_t len, struct peer_hello *h)
{
    struct reader r = {body, len, 0, false};
    memset(h, 0, sizeof *h);
    if (get_name(&r, h->sender) != 0 || get_name(&r, h->receiver) != 0)
        return PEER_ERR_MALFORMED;
    h->cluster_fingerprint = get_varint(&r);
    for (size_t i = 0; i < sizeof h->cluster_id; i++)
        h->cluster_id[i] = get_u8(&r);
    return reader_done(&r) ? PEER_OK : PEER_ERR_MALFORMED;
}

/* ---- Raft messages ------------------------------------------------------------ */

#define RAFT_FIELD_COUNT 13
#define FLAG_GRANTED 1u
#define FLAG_SUCCESS 2u
#define FLAG_TRANSFER 4u /* VOTE: a leadership transfer's campaign */

/* The u64 fields of struct raft_msg, in wire order. */
static void raft_fields(struct raft_msg *m, uint64_t *f[RAFT_FIELD_COUNT])
{
    f[0] = &m->term;
    f[1] = &m->last_log_index;
    f[2] = &m->last_log_term;
    f[3] = &m->prev_index;
    f[4] = &m->prev_term;
    f[5] = &m->commit;
    f[6] = &m->seq;
    f[7] = &m->match_index;
    f[8] = &m->reject_index;
    f[9] = &m->hint_index;
    f[10] = &m->hint_term;
    f[11] = &m->snap_index;
    f[12] = &m->snap_term;
}

/* The upper bound of a Raft message's body, or 0 when it cannot be sent. */
static size_t raft_body_bound(const struct raft_msg *m)
{
    if ((unsigned)m->type >= RAFT_MSG_TYPE_COUNT || m->from < 0 || m->to < 0 ||
        m->from >= RAFT_MAX_NODES || m->to >= RAFT_MAX_NODES)
        return 0;
    size_t n_entries = m->type == RAFT_MSG_APPEND ? m->n_entries : 0;
    size_t bound = 4 + 2 + RAFT_FIELD_COUNT * 10 + 20;
    for (size_t i = 0; i < n_entries; i++) {
        if (m->entries[i].index != m->entries[0].index + i)
            return 0;
        bound += 21 + m->entries[i].len;
    }
    size_t snap_len = m->type == RAFT_MSG_SNAPSHOT ? m->snap_len : 0;
    return bound + 10 + snap_len;
}

static void put_raft_body(struct peer_wbuf *b, const struct raft_msg *m)
{
    size_t n_entries = m->type == RAFT_MSG_APPEND ? m->n_entries : 0;
    size_t snap_len = m->type == RAFT_MSG_SNAPSHOT ? m->snap_len : 0;
    put_u8(b, (uint8_t)m->type);
    put_varint(b, (uint64_t)m->from);
    put_varint(b, (uint64_t)m->to);
    put_u8(b, (uint8_t)((m->granted ? FLAG_GRANTED : 0) | (m->success ? FLAG_SUCCESS : 0) |
                        (m->transfer ? FLAG_TRANSFER : 0)));
    uint64_t *f[RAFT_FIELD_COUNT];
    raft_fields((struct raft_msg *)m, f); /* read only */
    uint16_t mask = 0;
    for (int i = 0; i < RAFT_FIELD_COUNT; i++)
        if (*f[i])
            mask |= (uint16_t)(1u << i);
    put_u8(b, (uint8_t)(mask >> 8));
    put_u8(b, (uint8_t)mask);
    for (int i = 0; i < RAFT_FIELD_COUNT; i++)
        if (*f[i])
            put_varint(b, *f[i]);
    if (m->type == RAFT_MSG_APPEND) {
        put_varint(b, n_entries);
        if (n_entries) {
            put_varint(b, m->entries[0].index);
            for (size_t i = 0; i < n_entries; i++) {
                put_varint(b, m->entries[i].term);
                put_u8(b, m->entries[i].type);
                put_varint(b, m->entries[i].len);
                put_bytes(b, m->entries[i].data, m->entries[i].len);
            }
        }
    }
    if (m->type == RAFT_MSG_SNAPSHOT) {
        put_varint(b, snap_len);
        put_bytes(b, m->snap_data, snap_len);
    }
}

int peer_encode_raft(struct peer_wbuf *b, const struct raft_msg *m)
{
    size_t bound = raft_body_bound(m);
    if (bound == 0)
        return PEER_ERR_MALFORMED;
    size_t start;
    int rc = frame_begin(b, bound, PEER_FRAME_RAFT, &start);
    if (rc != PEER_OK)
        return rc;
    put_raft_body(b, m);
    frame_end(b, start);
    return PEER_OK;
}

int peer_decode_raft(const uint8_t *body, size_t len, int n_nodes, struct raft_msg *m)
{
    struct reader r = {body, len, 0, false};
    memset(m, 0, sizeof *m);
    decode_detail = "truncated or with trailing bytes";
    uint8_t type = get_u8(&r);
    uint64_t from = get_varint(&r), to = get_varint(&r);
    uint8_t flags = get_u8(&r);
    if (r.bad)
        return PEER_ERR_MALFORMED;
    if (type >= RAFT_MSG_TYPE_COUNT)
        return refuse("unknown Raft message type");
    if (from >= (uint64_t)n_nodes || to >= (uint64_t)n_nodes)
        return refuse("node id past the peer list");
    if (flags & ~(FLAG_GRANTED | FLAG_SUCCESS | FLAG_TRANSFER))
        return refuse("unknown flags");
    m->type = (enum raft_msg_type)type;
    m->from = (int)from;
    m->to = (int)to;
    m->granted = flags & FLAG_GRANTED;
    m->success = flags & FLAG_SUCCESS;
    m->transfer = flags & FLAG_TRANSFER;
    uint16_t mask = (uint16_t)(get_u8(&r) << 8);
    mask |= get_u8(&r);
    if (r.bad)
        return PEER_ERR_MALFORMED;
    if (mask >> RAFT_FIELD_COUNT)
        return refuse("unknown fields");
    uint64_t *f[RAFT_FIELD_COUNT];
    raft_fields(m, f);
    for (int i = 0; i < RAFT_FIELD_COUNT; i++)
        if (mask & (1u << i)) {
            *f[i] = get_varint(&r);
            if (r.bad)
                return PEER_ERR_MALFORMED;
            if (*f[i] == 0) /* zero fields are never sent: not a frame we made */
                return refuse("a zero field sent");
        }
    if (m->type == RAFT_MSG_APPEND) {
        uint64_t n = get_varint(&r);
        if (r.bad)
            return PEER_ERR_MALFORMED;
        /* Bound the count before allocating: by its own limit, and by the
         * bytes present (each entry takes at least 3). */
        if (n > PEER_MAX_ENTRIES)
            return refuse("entry count above 65536");
        if (n > (r.len - r.pos) / 3)
            return refuse("entry count beyond the frame's bytes");
        if (n) {
            uint64_t first = get_varint(&r);
            if (r.bad)
                return PEER_ERR_MALFORMED;
            /* The first entry follows prev_index, and the last index fits. */
            if (first == 0 || first - 1 != m->prev_index || first > UINT64_MAX - n)
                return refuse("entries do not follow prev_index");
            m->entries = calloc((size_t)n, sizeof *m->entries);
            if (!m->entries)
                return PEER_ERR_NOMEM;
            m->n_entries = (size_t)n;
            for (size_t i = 0; i < n && !r.bad; i++) {
                struct raft_entry *e = &m->entries[i];
                e->index = first + i;
                e->term = get_varint(&r);
                e->type = get_u8(&r);
                size_t dl;
                const uint8_t *d = get_bytes(&r, &dl);
                if (!r.bad && (e->type > RAFT_ENTRY_CONFIG || dl > UINT32_MAX)) {
                    decode_detail = "an entry of unknown type or over 4 GiB";
                    r.bad = true;
                }
                e->len = (uint32_t)dl;
                e->data = (uint8_t *)d; /* borrowed from the frame */
            }
        }
    }
    if (m->type == RAFT_MSG_SNAPSHOT) {
        m->snap_data = (uint8_t *)get_bytes(&r, &m->snap_len);
    }
    if (!reader_done(&r)) {
        peer_raft_msg_release(m);
        return PEER_ERR_MALFORMED;
    }
    return PEER_OK;
}

void peer_raft_msg_release(struct raft_msg *m)
{
    free(m->entries);
    m->entries = NULL;
    m->n_entries = 0;
}

/* ---- Proxied client commands --------------------------------------------------- */

int peer_encode_proxy_req(struct peer_wbuf *b, const struct peer_proxy_req *q)
{
    size_t start;
    int rc = frame_begin(b, 30 + q->command_len, PEER_FRAME_PROXY_REQ, &start);
    if (rc != PEER_OK)
        return rc;
    put_varint(b, q->id);
    put_varint(b, q->term);
    put_varint(b, q->command_len);
    put_bytes(b, q->command, q->command_len);
    frame_end(b, start);
    return PEER_OK;
}

int peer_decode_proxy_req(const uint8_t *body, size_t len, struct peer_proxy_req *q)
{
    struct reader r = {body, len, 0, false};
    q->id = get_varint(&r);
    q->term = get_varint(&r);
    q->command = get_bytes(&r, &q->command_len);
    return reader_done(&r) && q->command_len > 0 ? PEER_OK : PEER_ERR_MALFORMED;
}

int peer_encode_proxy_resp(struct peer_wbuf *b, const struct peer_proxy_resp *p)
{
    size_t start;
    int rc = frame_begin(b, 60 + p->result_len + p->text_len, PEER_FRAME_PROXY_RESP, &start);
    if (rc != PEER_OK)
        return rc;
    put_varint(b, p->id);
    put_u8(b, p->status);
    put_varint(b, (uint64_t)(p->leader + 1)); /* RAFT_NO_NODE (-1) -> 0 */
    put_varint(b, (uint64_t)(uint32_t)p->kv_code);
    put_u8(b, p->result ? 1 : 0);
    if (p->result) {
        put_varint(b, p->result_len);
        put_bytes(b, p->result, p->result_len);
    }
    put_varint(b, p->text ? p->text_len : 0);
    put_bytes(b, p->text, p->text ? p->text_len : 0);
    frame_end(b, start);
    return PEER_OK;
}

int peer_decode_proxy_resp(const uint8_t *body, size_t len, struct peer_proxy_resp *p)
{
    struct reader r = {body, len, 0, false};
    memset(p, 0, sizeof *p);
    p->id = get_varint(&r);
    p->status = get_u8(&r);
    uint64_t leader = get_varint(&r);
    uint64_t code = get_varint(&r);
    uint8_t has_value = get_u8(&r);
    if (r.bad || leader > RAFT_MAX_NODES || code > UINT32_MAX || has_value > 1)
        return PEER_ERR_MALFORMED;
    p->leader = (int)leader - 1;
    p->kv_code = (int)(uint32_t)code;
    if (has_value)
        p->result = get_bytes(&r, &p->result_len);
    size_t tl;
    const uint8_t *t = get_bytes(&r, &tl);
    p->text = tl ? (const char *)t : NULL;
    p->text_len = tl;
    return reader_done(&r) ? PEER_OK : PEER_ERR_MALFORMED;
}

/* ---- Snapshot transfers ------------------------------------------------------ */

int peer_encode_snap_offer(struct peer_wbuf *b, const struct peer_snap_offer *o)
{
    if (o->msg.type != RAFT_MSG_SNAPSHOT || o->msg.snap_len != 0 || o->size == 0)
        return PEER_ERR_MALFORMED;
    size_t bound = raft_body_bound(&o->msg);
    if (bound == 0)
        return PEER_ERR_MALFORMED;
    size_t start;
    int rc = frame_begin(b, 20 + bound, PEER_FRAME_SNAP_OFFER, &start);
    if (rc != PEER_OK)
        return rc;
    put_varint(b, o->id);
    put_varint(b, o->size);
    put_raft_body(b, &o->msg);
    frame_end(b, start);
    return PEER_OK;
}

int peer_decode_snap_offer(const uint8_t *body, size_t len, int n_nodes, struct peer_snap_offer *o)
{
    struct reader r = {body, len, 0, false};
    memset(o, 0, sizeof *o);
    decode_detail = "truncated or with trailing bytes";
    o->id = get_varint(&r);
    o->size = get_varint(&r);
    if (r.bad)
        return PEER_ERR_MALFORMED;
    if (o->id == 0 || o->size == 0)
        return refuse("a transfer with no id or no bytes");
    int rc = peer_decode_raft(body + r.pos, len - r.pos, n_nodes, &o->msg);
    if (rc != PEER_OK)
        return rc;
    if (o->msg.type != RAFT_MSG_SNAPSHOT || o->msg.snap_len != 0) {
        peer_raft_msg_release(&o->msg);
        return refuse("an offer that is not an image-less SNAPSHOT");
    }
    return PEER_OK;
}

int peer_encode_snap_chunk(struct peer_wbuf *b, const struct peer_snap_chunk *c)
{
    if (c->len == 0 || c->len > PEER_SNAP_CHUNK_MAX || c->id == 0)
        return PEER_ERR_MALFORMED;
    size_t start;
    int rc = frame_begin(b, 24 + c->len, PEER_FRAME_SNAP_CHUNK, &start);
    if (rc != PEER_OK)
        return rc;
    put_varint(b, c->id);
    put_varint(b, c->offset);
    put_u8(b, (uint8_t)(c->crc >> 24));
    put_u8(b, (uint8_t)(c->crc >> 16));
    put_u8(b, (uint8_t)(c->crc >> 8));
    put_u8(b, (uint8_t)c->crc);
    put_bytes(b, c->data, c->len);
    frame_end(b, start);
    return PEER_OK;
}

int peer_decode_snap_chunk(const uint8_t *body, size_t len, struct peer_snap_chunk *c)
{
    struct reader r = {body, len, 0, false};
    memset(c, 0, sizeof *c);
    decode_detail = "truncated";
    c->id = get_varint(&r);
    c->offset = get_varint(&r);
    for (int i = 0; i < 4; i++)
        c->crc = (c->crc << 8) | get_u8(&r);
    if (r.bad)
        return PEER_ERR_MALFORMED;
    c->len = r.len - r.pos;
    if (c->id == 0 || c->len == 0 || c->len > PEER_SNAP_CHUNK_MAX)
        return refuse("a chunk with no id, no bytes or over 1 MiB");
    if (c->offset > UINT64_MAX - c->len)
        return refuse("a chunk past 2^64 bytes");
    c->data = r.p + r.pos;
    return PEER_OK;
}

int peer_encode_snap_ack(struct peer_wbuf *b, const struct peer_snap_ack *a)
{
    if (a->status > PEER_SNAP_REFUSED)
        return PEER_ERR_MALFORMED;
    size_t start;
    int rc = frame_begin(b, 21, PEER_FRAME_SNAP_ACK, &start);
    if (rc != PEER_OK)
        return rc;
    put_varint(b, a->id);
    put_varint(b, a->offset);
    put_u8(b, a->status);
    frame_end(b, start);
    return PEER_OK;
}

int peer_decode_snap_ack(const uint8_t *body, size_t len, struct peer_snap_ack *a)
{
    struct reader r = {body, len, 0, false};
    memset(a, 0, sizeof *a);
    decode_detail = "truncated or with trailing bytes";
    a->id = get_varint(&r);
    a->offset = get_varint(&r);
    a->status = get_u8(&r);
    if (!reader_done(&r))
        return PEER_ERR_MALFORMED;
    if (a->status > PEER_SNAP_REFUSED)
        return refuse("unknown transfer status");
    return PEER_OK;
}

int peer_encode_members(struct peer_wbuf *b, uint64_t index, const uint8_t *table, size_t len)
{
    size_t start;
    int rc = frame_begin(b, 10 + len, PEER_FRAME_MEMBERS, &start);
    if (rc != PEER_OK)
        return rc;
    put_varint(b, index);
    memcpy(b->data + b->len, table, len);
    b->len += len;
    frame_end(b, start);
    return PEER_OK;
}

int peer_decode_members(const uint8_t *body, size_t len, uint64_t *index, const uint8_t **table,
                        size_t *table_len)
{
    struct reader r = {body, len, 0, false};
    decode_detail = "truncated members frame";
    *index = get_varint(&r);
    if (r.bad)
        return PEER_ERR_MALFORMED;
    *table = body + r.pos;
    *table_len = len - r.pos;
    return PEER_OK;
}

int peer_encode_removed(struct peer_wbuf *b, uint64_t index, const char *name)
{
    size_t ln = strnlen(name, PEER_MAX_NAME + 1);
    if (ln == 0 || ln > PEER_MAX_NAME || index == 0)
        return PEER_ERR_MALFORMED;
    size_t start;
    int rc = frame_begin(b, 20 + PEER_MAX_NAME, PEER_FRAME_REMOVED, &start);
    if (rc != PEER_OK)
        return rc;
    put_varint(b, index);
    put_varint(b, ln);
    put_bytes(b, name, ln);
    frame_end(b, start);
    return PEER_OK;
}

int peer_decode_removed(const uint8_t *body, size_t len, uint64_t *index, char name[PEER_MAX_NAME + 1])
{
    struct reader r = {body, len, 0, false};
    decode_detail = "malformed removed frame";
    *index = get_varint(&r);
    if (r.bad || *index == 0 || get_name(&r, name) != 0 || !reader_done(&r))
        return PEER_ERR_MALFORMED;
    return PEER_OK;
}

/* ---- Framing -------------------------------------------------------------------- */

int peer_frame_peek(const uint8_t *data, size_t len, size_t max_frame, uint8_t *kind,
                    size_t *frame_len)
{
    if (len < 4)
        return 0;
    uint32_t n = ((uint32_t)data[0] << 24) | ((uint32_t)data[1] << 16) |
                 ((uint32_t)data[2] << 8) | data[3];
    if (n < 2 || n > max_frame)
        return n < 2 ? PEER_ERR_MALFORMED : PEER_ERR_TOO_LARGE;
    if (len < 6)
        return 0;
    if (data[4] != PEER_CODEC_VERSION)
        return PEER_ERR_VERSION;
    if (data[5] < PEER_FRAME_HELLO || data[5] > PEER_FRAME_REMOVED)
        return PEER_ERR_MALFORMED;
    if (len < 4 + (size_t)n)
        return 0;
    *kind = data[5];
    *frame_len = 4 + (size_t)n;
    return 1;
}

uint64_t peer_fingerprint(const char *text)
{
    uint64_t h = 14695981039346656037ull;
    for (; *text; text++) {
        h ^= (uint8_t)*text;
        h *= 1099511628211ull;
    }
    return h;
}

const char *peer_strerror(int rc)
{
    switch (rc) {
    case PEER_OK:
        return "ok";
    case PEER_ERR_MALFORMED:
        return "malformed frame";
    case PEER_ERR_TOO_LARGE:
        return "frame too large";
    case PEER_ERR_VERSION:
        return "peer protocol version differs";
    case PEER_ERR_NOMEM:
        return "out of memory";
    default:
        return "unknown error";
    }
}
