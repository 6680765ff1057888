/* wal_format.h - the bytes of a log segment: names, headers and records.
 *
 * Kept apart from the code that appends and recovers so that the on-disk
 * format is in one place (layout in wal.h); every integer is little-endian.
 */
#ifndef RAFTKV_STORAGE_WAL_FORMAT_H
#define RAFTKV_STORAGE_WAL_FORMAT_H

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

#define WAL_MAGIC 0x314c4157u /* "WAL1" */
#define WAL_VERSION 1u
#define WAL_HEADER_BYTES 24 /* magic u32, version u32, first u64, crc u32, zero u32 */
#define WAL_RECORD_HEADER 25 /* len u32, crc u32, term u64, index u64, type u8 */
/* A record of this type is no entry but a commit mark: no data, its index
 * a commit index the node knew and its term that entry's term, written
 * after the entries up to it (wal.h). Raft's entry types are below it. */
#define WAL_RECORD_COMMIT 0xC0u
#define WAL_NAME_FMT "wal-%020" PRIu64 ".log"
#define WAL_NAME_MAX 64

struct wal_record {
    uint32_t len;
    uint64_t term, index;
    uint8_t type;
    const uint8_t *data; /* points into the buffer decoded */
};

/* "wal-<first, 20 digits>.log" into buf (WAL_NAME_MAX bytes). */
void wal_name(char *buf, uint64_t first);
/* The 24-byte header of the segment whose first index is `first`. */
void wal_encode_header(uint8_t *h, uint64_t first);
/* Encode e at out (WAL_RECORD_HEADER + e->len bytes). */
void wal_encode_record(uint8_t *out, const struct raft_entry *e);
/* Encode a commit mark for (index, term) at out (WAL_RECORD_HEADER bytes). */
void wal_encode_commit(uint8_t *out, uint64_t index, uint64_t term);
/* Decode the record at off; NULL if it is whole and its CRC holds, else a
 * short reason ("checksum mismatch", "zero-filled", ...). */
const char *wal_decode_record(const uint8_t *buf, size_t size, size_t off, struct wal_record *r);
/* True if all n bytes at p are zero (a zero-filled tail). */
bool wal_all_zero(const uint8_t *p, size_t n);
/* The offset of the first CRC-valid record after `from`, or 0 if none: a
 * valid record beyond a bad one means the damage is not a torn tail. */
size_t wal_find_valid_after(const uint8_t *buf, size_t size, size_t from);

#endif
