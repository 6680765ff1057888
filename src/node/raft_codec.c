/* raft_codec.c - encode and decode Raft messages as JSON bodies. */
#include "node/raft_codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[RAFT_MSG_TYPE_COUNT] = {
    [RAFT_MSG_PREVOTE] = "raft_prevote",   [RAFT_MSG_PREVOTE_RESP] = "raft_prevote_resp",
    [RAFT_MSG_VOTE] = "raft_vote",         [RAFT_MSG_VOTE_RESP] = "raft_vote_resp",
    [RAFT_MSG_APPEND] = "raft_append",     [RAFT_MSG_APPEND_RESP] = "raft_append_resp",
    [RAFT_MSG_SNAPSHOT] = "raft_snapshot", [RAFT_MSG_SNAPSHOT_RESP] = "raft_snapshot_resp",
    [RAFT_MSG_TIMEOUT_NOW] = "raft_timeout_now",
};

const char *raft_codec_type_name(enum raft_msg_type t)
{
    return (unsigned)t < RAFT_MSG_TYPE_COUNT ? type_names[t] : "raft_unknown";
}

int raft_codec_type(const char *type)
{
    if (strncmp(type, "raft_", 5) != 0)
        return -1;
    for (int i = 0; i < RAFT_MSG_TYPE_COUNT; i++)
        if (strcmp(type, type_names[i]) == 0)
            return i;
    return -1;
}

static void field(struct outbuf *b, const char *name, uint64_t v)
{
    outbuf_raw(b, ",\"", 2);
    outbuf_lit(b, name);
    outbuf_raw(b, "\":", 2);
    outbuf_u64(b, v);
}

/* Bytes that are JSON text (commands, snapshot images) go in as they are;
 * anything else (never made by this project) as null, so the line stays
 * valid JSON. */
static void embed(struct outbuf *b, const uint8_t *data, size_t len)
{
    if (len == 0 || !data) {
        outbuf_lit(b, "null");
        return;
    }
    if (memchr(data, '\n', len) || (data[0] != '{' && data[0] != '[')) {
        outbuf_lit(b, "null");
        return;
    }
    outbuf_raw(b, data, len);
}

void raft_codec_encode_fields(struct outbuf *b, const struct raft_msg *m)
{
    field(b, "t", m->term);
    switch (m->type) {
    case RAFT_MSG_PREVOTE:
    case RAFT_MSG_VOTE:
        field(b, "li", m->last_log_index);
        field(b, "lt", m->last_log_term);
        if (m->transfer)
            field(b, "tr", 1); /* a leadership transfer's campaign */
        break;
    case RAFT_MSG_PREVOTE_RESP:
    case RAFT_MSG_VOTE_RESP:
        field(b, "g", m->granted);
        break;
    case RAFT_MSG_APPEND:
        field(b, "pi", m->prev_index);
        field(b, "pt", m->prev_term);
        field(b, "c", m->commit);
        field(b, "q", m->seq);
        if (m->n_entries > 0) {
            outbuf_lit(b, ",\"e\":[");
            for (size_t i = 0; i < m->n_entries; i++) {
                const struct raft_entry *e = &m->entries[i];
                outbuf_raw(b, i ? ",[" : "[", i ? 2 : 1);
                outbuf_u64(b, e->term);
                outbuf_raw(b, ",", 1);
                outbuf_u64(b, e->type);
                outbuf_raw(b, ",", 1);
                embed(b, e->data, e->len);
                outbuf_raw(b, "]", 1);
            }
            outbuf_raw(b, "]", 1);
        }
        break;
    case RAFT_MSG_SNAPSHOT:
        field(b, "c", m->commit);
        field(b, "q", m->seq);
        field(b, "si", m->snap_index);
        field(b, "st", m->snap_term);
        outbuf_lit(b, ",\"sd\":");
        embed(b, m->snap_data, m->snap_len);
        break;
    case RAFT_MSG_APPEND_RESP:
    case RAFT_MSG_SNAPSHOT_RESP:
        field(b, "s", m->success);
        field(b, "q", m->seq);
        field(b, "mi", m->match_index);
        if (!m->success) {
            field(b, "ri", m->reject_index);
            field(b, "hi", m->hint_index);
            field(b, "ht", m->hint_term);
        }
        break;
    default:
        break;
    }
}

void raft_codec_arena_free(struct raft_codec_arena *a)
{
    free(a->entries);
    free(a->offsets);
    outbuf_free(&a->bytes);
    memset(a, 0, sizeof *a);
}

static int refuse(struct raft_codec_arena *a, const char *fmt, const char *name)
{
    snprintf(a->error, sizeof a->error, fmt, name);
    return -1;
}

/* An optional integer member in 0..RAFT_CODEC_MAX_INT (0 when absent). */
static int get_u53(const json_t *body, const char *name, uint64_t *out,
                   struct raft_codec_arena *a)
{
    const json_t *v = json_object_get(body, name);
    *out = 0;
    if (!v)
        return 0;
    if (!json_is_integer(v))
        return refuse(a, "\"%s\" is not an integer", name);
    if (json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > RAFT_CODEC_MAX_INT)
        return refuse(a, "\"%s\" is outside 0..2^53-1", name);
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* An optional flag: true, false, 1 or 0 (what the encoder writes). */
static int get_flag(const json_t *body, const char *name, bool *out, struct raft_codec_arena *a)
{
    const json_t *v = json_object_get(body, name);
    *out = false;
    if (!v)
        return 0;
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1)) {
        *out = json_integer_value(v) == 1;
        return 0;
    }
    return refuse(a, "\"%s\" is not a flag (0, 1, true or false)", name);
}

/* Re-render embedded JSON as the compact, sorted bytes it was made from. */
static int dump_into(struct outbuf *b, const json_t *v)
{
    size_t need = json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_SORT_KEYS);
    if (need == 0)
        return -1;
    outbuf_reserve(b, need);
    if (b->oom || b->len + need > b->cap)
        return -1;
    b->len += json_dumpb(v, b->data + b->len, need, JSON_COMPACT | JSON_SORT_KEYS);
    return 0;
}

static int decode_entries(const json_t *list, struct raft_codec_arena *a, struct raft_msg *m)
{
    size_t n = json_array_size(list);
    if (!json_is_array(list) || n == 0)
        return list ? refuse(a, "\"%s\" is not a non-empty array", "e") : 0;
    if (n > RAFT_CODEC_MAX_ENTRIES)
        return refuse(a, "\"%s\" holds more than 65536 entries", "e");
    /* prev_index <= RAFT_CODEC_MAX_INT already: no wrap here. */
    if (n > RAFT_CODEC_MAX_INT - m->prev_index)
        return refuse(a, "\"%s\" would take indexes past 2^53-1", "e");
    if (n > a->cap_entries) {
        struct raft_entry *e = realloc(a->entries, n * sizeof *e);
        if (!e)
            return -1;
        a->entries = e;
        a->cap_entries = n;
    }
    if (n > a->cap_offsets) {
        size_t *o = realloc(a->offsets, n * sizeof *o);
        if (!o)
            return -1;
        a->offsets = o;
        a->cap_offsets = n;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(list, i);
        const json_t *term = json_array_get(e, 0), *type = json_array_get(e, 1);
        const json_t *data = json_array_get(e, 2);
        if (json_array_size(e) != 3 || !json_is_integer(term) || json_integer_value(term) < 0 ||
            (uint64_t)json_integer_value(term) > RAFT_CODEC_MAX_INT || !json_is_integer(type) ||
            json_integer_value(type) < 0 || json_integer_value(type) > 255)
            return refuse(a, "an entry of \"%s\" is not [term, type, data] in range", "e");
        struct raft_entry *out = &a->entries[i];
        out->term = (raft_term)json_integer_value(term);
        out->index = m->prev_index + 1 + i;
        out->type = (uint8_t)json_integer_value(type);
        a->offsets[i] = a->bytes.len;
        if (json_is_null(data))
            out->len = 0;
        else if (dump_into(&a->bytes, data) != 0)
            return refuse(a, "an entry of \"%s\" cannot be stored", "e");
        else if (a->bytes.len - a->offsets[i] > UINT32_MAX)
            return refuse(a, "an entry of \"%s\" is over 4 GiB", "e");
        else
            out->len = (uint32_t)(a->bytes.len - a->offsets[i]);
    }
    for (size_t i = 0; i < n; i++)
        a->entries[i].data = a->entries[i].len ? (uint8_t *)a->bytes.data + a->offsets[i] : NULL;
    m->entries = a->entries;
    m->n_entries = n;
    return 0;
}

int raft_codec_decode(const json_t *body, enum raft_msg_type type, struct raft_codec_arena *a,
                      struct raft_msg *m)
{
    int from = m->from, to = m->to;
    memset(m, 0, sizeof *m);
    m->from = from;
    m->to = to;
    m->type = type;
    a->bytes.len = 0;
    a->error[0] = '\0';
    static const char *const names[] = {"t",  "li", "lt", "pi", "pt", "c",  "q",
                                        "mi", "ri", "hi", "ht", "si", "st"};
    uint64_t *fields[] = {&m->term,         &m->last_log_index, &m->last_log_term,
                          &m->prev_index,   &m->prev_term,      &m->commit,
                          &m->seq,          &m->match_index,    &m->reject_index,
                          &m->hint_index,   &m->hint_term,      &m->snap_index,
                          &m->snap_term};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (get_u53(body, names[i], fields[i], a) != 0)
            return -1;
    if (get_flag(body, "g", &m->granted, a) != 0 || get_flag(body, "s", &m->success, a) != 0 ||
        get_flag(body, "tr", &m->transfer, a) != 0)
        return -1;
    if (type == RAFT_MSG_APPEND && decode_entries(json_object_get(body, "e"), a, m) != 0)
        return -1;
    if (type == RAFT_MSG_SNAPSHOT) {
        const json_t *sd = json_object_get(body, "sd");
        if (!json_is_object(sd) || dump_into(&a->bytes, sd) != 0)
            return refuse(a, "\"%s\" is not a map image", "sd");
        m->snap_data = (uint8_t *)a->bytes.data;
        m->snap_len = a->bytes.len;
    }
    return 0;
}
