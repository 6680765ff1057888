/* raft_codec.h - Raft messages as Maelstrom JSON bodies: the node's wire
 * format between peers. Compact field names; an entry is [term, type, data]
 * with the command embedded as JSON (null for a no-op), its index implied
 * by prev_index; a snapshot's image is embedded as JSON too. */
#ifndef RAFTKV_NODE_RAFT_CODEC_H
#define RAFTKV_NODE_RAFT_CODEC_H

#include <jansson.h>

#include "node/outbuf.h"
#include "raft/raft.h"

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
};
void raft_codec_arena_free(struct raft_codec_arena *a);

/* Decode a body of the given type; from/to are the caller's. Returns 0, or
 * -1 for an ill-formed body (nothing is kept). */
int raft_codec_decode(const json_t *body, enum raft_msg_type type, struct raft_codec_arena *a,
                      struct raft_msg *m);

#endif
