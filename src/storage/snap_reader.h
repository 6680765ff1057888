/* snap_reader.h - reading a snapshot (snap_format.h) as a stream. The
 * reader is fed the bytes in pieces of any size (a file read in chunks, the
 * chunks of a transfer) and calls back once per header, metadata entry and
 * record as soon as the block holding it is whole and its CRC checked; it
 * holds one block at most. Every kind of damage is reported with the file
 * offset where it was found: bad magic, an unknown version, a bad header,
 * block or file CRC, a malformed block, counts that disagree, a stream that
 * ends early or goes on after its trailer. Records of a block reach the
 * callbacks only after that block's CRC matched, but the file's CRC is known
 * only at the end: a consumer builds aside and keeps the result only when
 * snap_reader_finish() succeeds.
 *
 * A piece (the header, a block, the trailer) that lies whole in the bytes
 * fed is read where it is, not copied. Two readers can share the work of
 * one image (kv/snapshot.c's threaded load): one checks every CRC and
 * reports each piece checked (ops.checked, with the file offset its bytes
 * end at); the other, with crcs_checked_elsewhere set, skips the block and
 * file CRCs and must be fed only bytes the first one reported checked. */
#ifndef RAFTKV_STORAGE_SNAP_READER_H
#define RAFTKV_STORAGE_SNAP_READER_H

#include <stdbool.h>

#include "storage/snap_format.h"

struct snap_reader_ops {
    /* Each may be NULL; a nonzero return stops the reader ("refused"). */
    int (*header)(void *ctx, const struct snap_header *h);
    int (*meta)(void *ctx, const struct snap_meta *m);
    int (*record)(void *ctx, const struct snap_record *rec);
    /* After each piece (header, block, trailer) passed every check: the
     * file's bytes before `end` are checked. Records of a block came
     * before it. */
    int (*checked)(void *ctx, uint64_t end);
};

struct snap_reader {
    struct snap_reader_ops ops;
    void *ctx;
    int state;
    uint8_t *buf;
    size_t have, need, cap;
    uint64_t piece_off; /* file offset of buf[0] */
    uint32_t file_crc;
    struct snap_header hdr;
    uint32_t meta_bytes;
    uint64_t blocks, records;
    bool failed;
    bool crcs_checked_elsewhere; /* skip block and file CRCs (see above) */
    char err[200];
};

void snap_reader_init(struct snap_reader *r, const struct snap_reader_ops *ops, void *ctx);
/* 0, or -1 with snap_reader_error() saying what and where. */
int snap_reader_feed(struct snap_reader *r, const uint8_t *data, size_t n);
/* Whether the whole file was seen, trailer and all: 0 or -1. */
int snap_reader_finish(struct snap_reader *r);
void snap_reader_free(struct snap_reader *r);
const char *snap_reader_error(const struct snap_reader *r);
/* The header, once seen (after the first SNAP_HEADER_FIXED + meta bytes). */
bool snap_reader_has_header(const struct snap_reader *r);

/* Check and decode a header alone from its first bytes (a prefix of the
 * file of at least SNAP_HEADER_FIXED bytes). 0; 1 when more bytes are needed
 * (*need says how many in all); -1 when damaged (err says why). */
int snap_header_peek(const uint8_t *p, size_t n, struct snap_header *h, size_t *need, char *err,
                     size_t errlen);

#endif
