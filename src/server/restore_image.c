/* restore_image.c - a snapshot image copied with a new cluster id
 * (restore_image.h). */
#include "server/restore_image.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define META_CLUSTER_ID "cluster_id"
#define META_CONFIG "raft_config"
#define META_MAP_KEY "map_key"

static int on_header(void *ctx, const struct snap_header *h)
{
    struct restore_image *x = ctx;
    x->hdr = *h;
    return 0;
}

/* Kept aside (the writer needs them all at once, before the first record). */
static int on_meta(void *ctx, const struct snap_meta *m)
{
    struct restore_image *x = ctx;
    if (strcmp(m->name, META_CLUSTER_ID) == 0) {
        if (m->len != CLUSTER_ID_BYTES || x->had_id) {
            snprintf(x->err, sizeof x->err, "bad metadata entry %s (%u bytes)", META_CLUSTER_ID,
                     (unsigned)m->len);
            return -1;
        }
        memcpy(x->old_id, m->value, CLUSTER_ID_BYTES);
        x->had_id = true;
        return 0;
    }
    /* The old cluster's configuration: the new one's is its --peers. Its
     * hash key (a backup of an older release holds one): the new cluster
     * gets its own. */
    if (strcmp(m->name, META_CONFIG) == 0 || strcmp(m->name, META_MAP_KEY) == 0)
        return 0;
    size_t name_len = strlen(m->name) + 1;
    if (x->n_meta == x->cap_meta) {
        size_t cap = x->cap_meta ? 2 * x->cap_meta : 8;
        struct snap_meta *nm = realloc(x->meta, cap * sizeof *nm);
        if (!nm)
            return -1;
        x->meta = nm;
        x->cap_meta = cap;
    }
    if (x->arena_len + name_len + m->len > x->arena_cap) {
        snprintf(x->err, sizeof x->err, "metadata larger than %u bytes", SNAP_MAX_META_BYTES);
        return -1;
    }
    char *name = (char *)x->arena + x->arena_len;
    memcpy(name, m->name, name_len);
    x->arena_len += name_len;
    uint8_t *value = x->arena + x->arena_len;
    if (m->len)
        memcpy(value, m->value, m->len);
    x->arena_len += m->len;
    x->meta[x->n_meta++] = (struct snap_meta){.name = name, .value = value, .len = m->len};
    return 0;
}

/* The new id first, as the store writes it, then the new hash key, then
 * the others in order. */
static int begin(struct restore_image *x)
{
    size_t head = x->has_map_key ? 2 : 1;
    struct snap_meta *all = malloc((x->n_meta + head) * sizeof *all);
    if (!all)
        return -1;
    all[0] = (struct snap_meta){.name = META_CLUSTER_ID, .value = x->id, .len = CLUSTER_ID_BYTES};
    if (x->has_map_key)
        all[1] = (struct snap_meta){.name = META_MAP_KEY, .value = x->map_key, .len = KV_MAP_KEY_BYTES};
    memcpy(all + head, x->meta, x->n_meta * sizeof *all);
    int rc = snap_writer_begin(&x->w, x->sink, x->sink_ctx, x->hdr.index, x->hdr.term, x->hdr.records,
                               all, x->n_meta + head);
    free(all);
    x->begun = true;
    if (rc != 0)
        snprintf(x->err, sizeof x->err, "writing the copy failed");
    return rc;
}

static int on_record(void *ctx, const struct snap_record *rec)
{
    struct restore_image *x = ctx;
    if (!x->begun && begin(x) != 0)
        return -1;
    if (snap_writer_add(&x->w, rec) != 0) {
        snprintf(x->err, sizeof x->err, "writing the copy failed");
        return -1;
    }
    return 0;
}

int restore_image_init(struct restore_image *x, const uint8_t id[CLUSTER_ID_BYTES],
                       const uint8_t *map_key, snap_sink_fn sink, void *ctx)
{
    memset(x, 0, sizeof *x);
    memcpy(x->id, id, CLUSTER_ID_BYTES);
    if (map_key) {
        memcpy(x->map_key, map_key, KV_MAP_KEY_BYTES);
        x->has_map_key = true;
    }
    x->sink = sink;
    x->sink_ctx = ctx;
    x->arena_cap = 2 * (size_t)SNAP_MAX_META_BYTES;
    x->arena = malloc(x->arena_cap);
    if (!x->arena)
        return -1;
    static const struct snap_reader_ops ops = {.header = on_header, .meta = on_meta, .record = on_record};
    snap_reader_init(&x->rd, &ops, x);
    return 0;
}

int restore_image_feed(struct restore_image *x, const uint8_t *data, size_t n)
{
    if (x->failed)
        return -1;
    if (snap_reader_feed(&x->rd, data, n) != 0) {
        x->failed = true;
        return -1;
    }
    return 0;
}

int restore_image_finish(struct restore_image *x)
{
    if (x->failed || snap_reader_finish(&x->rd) != 0) {
        x->failed = true;
        return -1;
    }
    if ((!x->begun && begin(x) != 0) || snap_writer_end(&x->w) != 0) {
        if (!x->err[0])
            snprintf(x->err, sizeof x->err, "writing the copy failed");
        x->failed = true;
        return -1;
    }
    x->begun = false; /* ended: nothing to discard */
    return 0;
}

void restore_image_free(struct restore_image *x)
{
    if (x->begun)
        snap_writer_discard(&x->w);
    snap_reader_free(&x->rd);
    free(x->meta);
    free(x->arena);
    x->meta = NULL;
    x->arena = NULL;
}

const char *restore_image_error(const struct restore_image *x)
{
    return x->err[0] ? x->err : snap_reader_error(&x->rd);
}
