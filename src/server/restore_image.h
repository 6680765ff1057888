/* restore_image.h - a snapshot image (snap_format.h) copied as a stream
 * with its "cluster_id" metadata entry replaced, its "raft_config" (kv.h)
 * dropped and its "map_key" replaced by the new cluster's (or dropped), for
 * `raftkv restore`: the restored cluster must not carry the old cluster's
 * id, nor its members (the new cluster's are its --peers), nor its hash
 * key. A new key in the image lets every member load the map hashed under
 * it; without one the first leader draws a key and every member hashes
 * its whole map again when that entry applies.
 * Every other metadata entry, the index, the term and every record are copied as they
 * are; the input is checked as it is read (block CRCs, counts, trailer,
 * file CRC) and the output gets its own CRCs. Memory: one block each way
 * and the metadata (at most 64 KiB).
 */
#ifndef RAFTKV_SERVER_RESTORE_IMAGE_H
#define RAFTKV_SERVER_RESTORE_IMAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/cluster_id.h"
#include "kv/map.h"
#include "storage/snap_reader.h"
#include "storage/snap_writer.h"

struct restore_image {
    struct snap_reader rd;
    struct snap_writer w;
    snap_sink_fn sink;
    void *sink_ctx;
    bool begun, failed;
    struct snap_header hdr;
    uint8_t id[CLUSTER_ID_BYTES];
    uint8_t map_key[KV_MAP_KEY_BYTES];
    bool has_map_key;
    bool had_id;
    uint8_t old_id[CLUSTER_ID_BYTES];
    struct snap_meta *meta; /* kept until the writer begins: names and values in arena */
    size_t n_meta, cap_meta;
    uint8_t *arena;
    size_t arena_len, arena_cap;
    char err[256];
};

/* Copy to sink, with `id` as the image's cluster id and map_key (NULL:
 * none) as its hash key. 0, or -1 out of memory. */
int restore_image_init(struct restore_image *x, const uint8_t id[CLUSTER_ID_BYTES],
                       const uint8_t *map_key, snap_sink_fn sink, void *ctx);
/* Input bytes, in pieces of any size. 0, or -1 (restore_image_error says why). */
int restore_image_feed(struct restore_image *x, const uint8_t *data, size_t n);
/* The input ended: check its trailer, write the output's. 0 or -1. */
int restore_image_finish(struct restore_image *x);
void restore_image_free(struct restore_image *x);
const char *restore_image_error(const struct restore_image *x);

#endif
