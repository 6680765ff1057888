/* peer_codec.h - the framed binary encoding spoken between raftkv servers.
 *
 * Every frame is
 *     u32 length (big endian; the bytes after this field, at most max_frame)
 *     u8  version (PEER_CODEC_VERSION)
 *     u8  kind    (enum peer_frame_kind)
 *     body
 * Integers in bodies are unsigned LEB128 varints, so a heartbeat costs a
 * dozen bytes. A Raft message body is
 *     u8 type, varint from, varint to, u8 flags (granted, success, transfer),
 *     u16 mask of the non-zero u64 fields, then those fields in a fixed order,
 *     APPEND: varint n_entries, varint first index, then per entry
 *             varint term, u8 type, varint len, bytes
 *     SNAPSHOT: varint len, bytes
 * Only non-zero fields travel, and the codec needs no knowledge of which
 * fields a message type uses: what the core writes, the peer reads back.
 *
 * The first frame on a connection is HELLO, naming the sender, the receiver,
 * a fingerprint of the cluster's peer list (0 once the membership changed:
 * not compared) and the sender's cluster id (16 bytes, all zero while the
 * sender does not know it): the receiver refuses a connection from a name
 * not in its member table, with another peer list, or with a cluster id
 * other than its own (when both are known). A MEMBERS frame follows. A
 * HELLO from a member the receiver's committed configuration no longer
 * holds is answered, on that connection (the one frame a listener ever
 * writes), with REMOVED: that member was removed while it was down.
 * After it, every Raft message's `from` must be the HELLO's sender.
 *
 * Followers proxy client commands to the leader with PROXY_REQ frames (a
 * request id, the term of the leader it is meant for, and
 * kv_command_encode() bytes) and get PROXY_RESP back. The leader appends a
 * proxied write only while it leads in that term (router.h, rule 2).
 *
 * A snapshot image travels in its own frames, streamed from the sender's
 * file with flow control (snap_transfer.c): SNAP_OFFER (a transfer id, the
 * image's size in bytes, then a SNAPSHOT Raft message body with no image),
 * SNAP_CHUNK (the id, the chunk's offset, a CRC32C of its bytes as a u32
 * big endian, then 1 to PEER_SNAP_CHUNK_MAX bytes: the rest of the frame)
 * and, back on the receiver's own link, SNAP_ACK (the id, the bytes received
 * and written so far, a u8 status: 0 go on, 1 done, 2 refused). So no frame
 * limit bounds the data set.
 *
 * Decoders never trust a length: every count and size is checked against
 * the bytes actually present and its own bound (PEER_MAX_ENTRIES, 2^32-1
 * bytes an entry) before anything is allocated; a varint is at most 64 bits
 * in its shortest form; an APPEND's first entry follows its prev_index and
 * its indexes never wrap; a frame with trailing or missing bytes is rejected
 * as a whole. Terms and indexes past the core's bounds are the core's to
 * refuse (raft_config.max_term, max_index).
 */
#ifndef RAFTKV_PEER_CODEC_H
#define RAFTKV_PEER_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

/* 2: PROXY_REQ carries a term; 3: HELLO a cluster id; 4: MEMBERS follows
 * HELLO, REMOVED answers a removed member; 5: log entries of a transaction
 * carry its script-cache flags (SCRIPT FLUSH, then EVALSHA: kv.h), which a
 * member of 4 would ignore and so apply differently. A frame of another version is
 * refused whole (peer_frame_peek): members of mixed versions do not talk. */
#define PEER_CODEC_VERSION 5
#define PEER_DEFAULT_MAX_FRAME (256u << 20)
/* Bytes of image in one SNAP_CHUNK frame, at most. */
#define PEER_SNAP_CHUNK_MAX (1u << 20)
#define PEER_FRAME_HEADER 6                /* length + version + kind */
#define PEER_MAX_NAME 64
/* Entries in one APPEND frame: above what a leader batches (the core's
 * max_entries_per_msg and catchup_entries_per_msg, --catchup-append-entries
 * at most this), checked before anything is allocated for them. */
#define PEER_MAX_ENTRIES 65536u

enum peer_frame_kind {
    PEER_FRAME_HELLO = 1,
    PEER_FRAME_RAFT = 2,
    PEER_FRAME_PROXY_REQ = 3,
    PEER_FRAME_PROXY_RESP = 4,
    PEER_FRAME_SNAP_OFFER = 5,
    PEER_FRAME_SNAP_CHUNK = 6,
    PEER_FRAME_SNAP_ACK = 7,
    PEER_FRAME_MEMBERS = 8, /* varint index, then member_table.h's bytes */
    PEER_FRAME_REMOVED = 9, /* varint index, varint name length, name */
};

enum peer_snap_status { PEER_SNAP_GO_ON = 0, PEER_SNAP_DONE = 1, PEER_SNAP_REFUSED = 2 };

#define PEER_OK 0
#define PEER_ERR_MALFORMED (-1)
#define PEER_ERR_TOO_LARGE (-2)
#define PEER_ERR_VERSION (-3)
#define PEER_ERR_NOMEM (-4)

/* A growable output buffer for encoded frames. */
struct peer_wbuf {
    uint8_t *data;
    size_t len, cap;
};
void peer_wbuf_free(struct peer_wbuf *b);

struct peer_hello {
    char sender[PEER_MAX_NAME + 1];
    char receiver[PEER_MAX_NAME + 1];
    uint64_t cluster_fingerprint;
    uint8_t cluster_id[16]; /* CLUSTER_ID_BYTES; all zero: not known yet */
};

struct peer_proxy_req {
    uint64_t id;
    raft_term term; /* the term of the leader it was sent to */
    const uint8_t *command; /* kv_command_encode() bytes; borrowed */
    size_t command_len;
};

struct peer_proxy_resp {
    uint64_t id;
    uint8_t status; /* enum replica_status */
    int leader;     /* RAFT_NO_NODE or a node id */
    int kv_code;
    const uint8_t *result; /* kv_result_encode() bytes or NULL; borrowed */
    size_t result_len;
    const char *text; /* borrowed, may be NULL */
    size_t text_len;
};

struct peer_snap_offer {
    uint64_t id;   /* nonzero, chosen by the sender */
    uint64_t size; /* bytes of the image file, nonzero */
    struct raft_msg msg; /* RAFT_MSG_SNAPSHOT, snap_len 0 */
};

struct peer_snap_chunk {
    uint64_t id;
    uint64_t offset;
    uint32_t crc; /* CRC32C of data */
    const uint8_t *data; /* borrowed */
    size_t len;
};

struct peer_snap_ack {
    uint64_t id;
    uint64_t offset; /* bytes received and written */
    uint8_t status;  /* enum peer_snap_status */
};

/* Append one whole frame to b. Return PEER_OK or PEER_ERR_*; on error b is
 * unchanged. peer_encode_raft rejects an APPEND whose entries do not have
 * consecutive indexes (a programmer error upstream, reported not asserted). */
int peer_encode_hello(struct peer_wbuf *b, const struct peer_hello *h);
int peer_encode_raft(struct peer_wbuf *b, const struct raft_msg *m);
int peer_encode_proxy_req(struct peer_wbuf *b, const struct peer_proxy_req *r);
int peer_encode_proxy_resp(struct peer_wbuf *b, const struct peer_proxy_resp *r);
int peer_encode_snap_offer(struct peer_wbuf *b, const struct peer_snap_offer *o);
int peer_encode_snap_chunk(struct peer_wbuf *b, const struct peer_snap_chunk *c);
int peer_encode_snap_ack(struct peer_wbuf *b, const struct peer_snap_ack *a);

/* Look at the start of a byte stream: 1 if a whole frame is there (*kind,
 * and *frame_len = all its bytes, header included; the body is at
 * data + PEER_FRAME_HEADER, body length *frame_len - PEER_FRAME_HEADER),
 * 0 if more bytes are needed, or a PEER_ERR_* (length past max_frame,
 * unknown version): the connection is then to be closed. */
int peer_frame_peek(const uint8_t *data, size_t len, size_t max_frame, uint8_t *kind,
                    size_t *frame_len);

/* Decode a frame body. For raft: node ids must be < n_nodes; on success
 * m->entries is malloc'd (release with peer_raft_msg_release) and entry
 * data and snap_data point into `body`, which must outlive their use. */
int peer_decode_hello(const uint8_t *body, size_t len, struct peer_hello *h);
int peer_decode_raft(const uint8_t *body, size_t len, int n_nodes, struct raft_msg *m);
void peer_raft_msg_release(struct raft_msg *m);
/* What the last refused decode on this thread found wrong, for the log
 * line ("entry count above 65536", ...); static text. */
const char *peer_decode_detail(void);
int peer_decode_proxy_req(const uint8_t *body, size_t len, struct peer_proxy_req *r);
int peer_decode_proxy_resp(const uint8_t *body, size_t len, struct peer_proxy_resp *r);
/* An offer's msg is checked as peer_decode_raft's (release it the same
 * way); a chunk's data points into body. */
int peer_decode_snap_offer(const uint8_t *body, size_t len, int n_nodes, struct peer_snap_offer *o);
int peer_decode_snap_chunk(const uint8_t *body, size_t len, struct peer_snap_chunk *c);
int peer_decode_snap_ack(const uint8_t *body, size_t len, struct peer_snap_ack *a);

/* MEMBERS: the dialler's member table (member_table.h's bytes, checked by
 * member_table_decode) and the index of the CONFIG entry it came with,
 * sent right after every HELLO, so the receiver learns the names and
 * addresses of members it has not seen added (a new member joining, one
 * whose log a snapshot replaced). table points into body. */
int peer_encode_members(struct peer_wbuf *b, uint64_t index, const uint8_t *table, size_t len);
int peer_decode_members(const uint8_t *body, size_t len, uint64_t *index, const uint8_t **table,
                        size_t *table_len);

/* REMOVED: the answer to a HELLO from a member the committed configuration
 * at `index` (nonzero) no longer holds, written back on that connection
 * before it is closed; `name` is the member it is about (1..64 bytes). The
 * receiver stops if the removal is newer than the configuration it knows. */
int peer_encode_removed(struct peer_wbuf *b, uint64_t index, const char *name);
int peer_decode_removed(const uint8_t *body, size_t len, uint64_t *index, char name[PEER_MAX_NAME + 1]);

/* FNV-1a over the canonical peer list text, e.g. "n1=127.0.0.1:7101,...". */
uint64_t peer_fingerprint(const char *text);

const char *peer_strerror(int rc);

#endif
