/* raft_codec.h - Raft messages as Maelstrom JSON bodies: the node's wire
 * format between peers. Compact field names; an entry is [term, type, data]
 * with the command embedded as JSON (null for a no-op), its index implied
 * by prev_index; a snapshot's image is embedded as JSON too. */
#ifndef RAFTKV_NODE_RAFT_CODEC_H
#define RAFTKV_NODE_RAFT_CODEC_H

#include <jansson.h>

#include "node/outbuf.h"
#include "raft/raft.h"

/* The largest integer a JSON number carries exactly in every peer's parser
 * (IEEE doubles: JavaScript, many JSON libraries): 2^53-1. The node's core
 * is bounded by it (max_term, max_index), so it never holds a term or an
 * index it could not send back, and the codec refuses anything larger. */
#define RAFT_CODEC_MAX_INT 9007199254740991ull
/* Entries in one raft_append: far above what a sender batches (the core's
 * max_entries_per_msg), bounded before anything is allocated for them. */
#define RAFT_CODEC_MAX_ENTRIES 65536u

/* The body's "type" for a message type, e.g. "raft_append". */
const char *raft_codec_type_name(enum raft_msg_type t);
/* The message type for a body type, or -1 if it is no Raft message. */
int raft_codec_type(const char *type);

/* Append the body's members after "type" (leading comma included). */
void raft_codec_encode_fields(struct outbuf *b, const struct raft_msg *m);

/* Storage for the entries and bytes of decoded messages, reused: what
 * raft_codec_decode() returns points here until the next decode. */
struct raft_codec_arena {
    struct raft_entry *entries;
    size_t cap_entries;
    struct outbuf bytes;
    size_t *offsets;
    size_t cap_offsets;
    char error[96]; /* why the last decode failed, for the log line */
};
void raft_codec_arena_free(struct raft_codec_arena *a);

/* Decode a body of the given type; from/to are the caller's. Returns 0, or
 * -1 for an ill-formed body (nothing is kept; a->error says why): a member
 * that is not a non-negative integer up to RAFT_CODEC_MAX_INT ("g" and "s"
 * may be booleans or 0/1), more than RAFT_CODEC_MAX_ENTRIES entries, or
 * entries whose indexes would pass RAFT_CODEC_MAX_INT. */
int raft_codec_decode(const json_t *body, enum raft_msg_type type, struct raft_codec_arena *a,
                      struct raft_msg *m);

#endif
