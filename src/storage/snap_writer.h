/* snap_writer.h - writing a snapshot (snap_format.h) as a stream: records
 * go into one block buffer, and each full block goes to the sink, so memory
 * stays one block whatever the map's size. */
#ifndef RAFTKV_STORAGE_SNAP_WRITER_H
#define RAFTKV_STORAGE_SNAP_WRITER_H

#include "storage/snap_format.h"

/* Takes n bytes in order; 0, or -1 to stop the writer (the sink keeps its
 * own error). */
typedef int (*snap_sink_fn)(void *ctx, const void *data, size_t n);

struct snap_writer {
    snap_sink_fn sink;
    void *ctx;
    uint8_t *buf; /* the block being filled, after its head */
    size_t len, cap;
    uint32_t block_records;
    uint64_t records, blocks, expected;
    uint32_t file_crc;
    int failed; /* a sink or allocation failure: everything after is refused */
};

/* Write the header: `records` is how many snap_writer_add() calls follow.
 * 0 or -1. */
int snap_writer_begin(struct snap_writer *w, snap_sink_fn sink, void *ctx, uint64_t index,
                      uint64_t term, uint64_t records, const struct snap_meta *meta,
                      size_t n_meta);
int snap_writer_add(struct snap_writer *w, const struct snap_record *rec);
/* The last block and the trailer; then frees the buffer. 0 or -1 (also
 * when fewer or more records came than begin said). */
int snap_writer_end(struct snap_writer *w);
/* Frees the buffer after a failure, when end is not called. */
void snap_writer_discard(struct snap_writer *w);

/* A sink that appends to a malloc'd buffer (struct snap_membuf). */
struct snap_membuf {
    uint8_t *data;
    size_t len, cap;
};
int snap_membuf_sink(void *ctx, const void *data, size_t n);

#endif
