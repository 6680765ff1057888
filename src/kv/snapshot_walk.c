/* snapshot_walk.c - a snapshot written in steps from a point-in-time walk
 * of the map (snapshot_walk.h). */
#include "kv/snapshot_walk.h"

#include <stdio.h>
#include <stdlib.h>

#include "kv/kv_internal.h"
#include "kv/map_walk.h"
#include "storage/snap_writer.h"

struct kv_snapshot_walk {
    struct kv_map_walk *walk;
    struct snap_writer w;
    bool failed, done;
    char why[200];
};

struct kv_snapshot_walk *kv_snapshot_walk_begin(struct kv_store *s, uint64_t index, uint64_t term,
                                                size_t max_kept_bytes, kv_sink_fn sink, void *ctx,
                                                char *why, size_t whylen)
{
    return kv_snapshot_walk_begin_flags(s, index, term, 0, max_kept_bytes, sink, ctx, why, whylen);
}

struct kv_snapshot_walk *kv_snapshot_walk_begin_flags(struct kv_store *s, uint64_t index,
                                                      uint64_t term, unsigned flags,
                                                      size_t max_kept_bytes, kv_sink_fn sink,
                                                      void *ctx, char *why, size_t whylen)
{
    struct kv_snapshot_walk *sw = calloc(1, sizeof *sw);
    if (!sw) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    sw->walk = kv_map_walk_begin(&s->map, max_kept_bytes, why, whylen);
    if (!sw->walk) {
        free(sw);
        return NULL;
    }
    if (kv_snapshot_header(s, index, term, flags, kv_map_walk_expected(sw->walk), &sw->w, sink, ctx) !=
        0) {
        snprintf(why, whylen, "writing the snapshot's header failed");
        kv_map_walk_end(sw->walk);
        free(sw);
        return NULL;
    }
    return sw;
}

static int emit(void *ctx, const struct kv_map_entry *e, int64_t expiry_ms)
{
    struct kv_snapshot_walk *sw = ctx;
    return kv_snapshot_entry(&sw->w, e, expiry_ms);
}

int kv_snapshot_walk_step(struct kv_snapshot_walk *sw, size_t max_entries)
{
    if (sw->failed)
        return -1;
    if (sw->done)
        return 1;
    int rc = kv_map_walk_step(sw->walk, max_entries, emit, sw);
    if (rc < 0) {
        snprintf(sw->why, sizeof sw->why, "%s", kv_map_walk_error(sw->walk));
        sw->failed = true;
        snap_writer_discard(&sw->w);
        return -1;
    }
    if (rc == 0)
        return 0;
    if (snap_writer_end(&sw->w) != 0) {
        snprintf(sw->why, sizeof sw->why, "writing the snapshot's end failed");
        sw->failed = true;
        return -1;
    }
    sw->done = true;
    return 1;
}

const char *kv_snapshot_walk_error(const struct kv_snapshot_walk *sw)
{
    return sw->why;
}

void kv_snapshot_walk_stats(const struct kv_snapshot_walk *sw, uint64_t *written, uint64_t *total,
                            size_t *kept_peak, size_t *kept_keys)
{
    *written = sw->w.records;
    *total = kv_map_walk_expected(sw->walk);
    *kept_peak = kv_map_walk_kept_peak(sw->walk);
    *kept_keys = kv_map_walk_kept_count(sw->walk);
}

size_t kv_snapshot_walk_map_bytes(const struct kv_snapshot_walk *sw)
{
    return kv_map_walk_start_bytes(sw->walk);
}

void kv_snapshot_walk_free(struct kv_snapshot_walk *sw)
{
    if (!sw)
        return;
    if (!sw->done && !sw->failed)
        snap_writer_discard(&sw->w);
    kv_map_walk_end(sw->walk);
    free(sw);
}

void kv_snapshot_walk_detach(struct kv_store *s)
{
    if (s && s->map.walk)
        kv_map_walk_detach(&s->map, "the map was replaced");
}
