/* snap_format.h - the layout of a snapshot file (format version 2): a
 * header, blocks of records, a trailer; every integer little-endian. It is
 * written and read as a stream (snap_writer.h, snap_reader.h), in memory
 * bounded by one block, never as one text; the same bytes are a file in the
 * data directory and the image an InstallSnapshot message carries.
 *
 *   header   magic u32 "RKVS", version u32 (2), index u64, term u64,
 *            records u64, meta_count u32, meta_bytes u32,
 *            then meta_bytes of metadata entries, each
 *              name_len u8, name, value_len u32, value
 *            (small named fields of the state machine besides its map;
 *            a reader passes on names it does not know),
 *            then crc u32 = CRC32C of everything before it
 *   block    tag u32 "BLK1", payload_len u32, records u32,
 *            crc u32 = CRC32C of the payload, then the payload:
 *            records back to back, each
 *              type u8, key_len u32, value_len u32, expiry u64, version u64,
 *              key, value
 *   trailer  tag u32 "END1", blocks u64, records u64,
 *            crc u32 = CRC32C of every byte of the file before it
 *
 * A record's type says how its key and value bytes read (0: canonical JSON
 * text, the Maelstrom node's; 1: binary-safe strings, the Redis front
 * end's); expiry is an absolute deadline in ms (0: none) and version the
 * state machine's write counter when the key was last written (WATCH). A block holds at most
 * SNAP_BLOCK_TARGET bytes of records, or one record larger than that, and
 * never more than SNAP_MAX_BLOCK. The header's and trailer's record counts
 * must agree with the blocks'. */
#ifndef RAFTKV_STORAGE_SNAP_FORMAT_H
#define RAFTKV_STORAGE_SNAP_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define SNAP_MAGIC 0x53564b52u         /* "RKVS" */
#define SNAP_VERSION 2u
#define SNAP_BLOCK_TAG 0x314b4c42u     /* "BLK1" */
#define SNAP_END_TAG 0x31444e45u       /* "END1" */
#define SNAP_HEADER_FIXED 40           /* up to meta_bytes */
#define SNAP_BLOCK_HEAD 16
#define SNAP_TRAILER_BYTES 24
#define SNAP_RECORD_HEAD 25
#define SNAP_BLOCK_TARGET (64u * 1024)
#define SNAP_MAX_BLOCK (1u << 30)      /* the largest record: 1 GiB with its head */
#define SNAP_MAX_META_BYTES (64u * 1024)

#define SNAP_TYPE_JSON 0u
#define SNAP_TYPE_STR 1u

struct snap_record {
    uint8_t type;
    const uint8_t *key;
    uint32_t key_len;
    const uint8_t *value;
    uint32_t value_len;
    uint64_t expiry_ms;
    uint64_t version;
};

struct snap_meta {
    const char *name; /* 1..255 bytes, NUL-terminated */
    const uint8_t *value;
    uint32_t len;
};

struct snap_header {
    uint32_t version;
    uint64_t index, term;
    uint64_t records;
    uint32_t meta_count;
};

#endif
