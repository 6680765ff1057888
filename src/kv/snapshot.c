/* snapshot.c - the map as a snapshot stream and back (the format is
 * src/storage/snap_format.h): one record per key, its canonical key text as
 * the key bytes and its value's canonical JSON text as the value bytes
 * (type 0), expiry and version 0 for now. Written in slot order, with no
 * sort and no copy of the map, so a writer (the snapshot child process)
 * needs one block of memory; read back through a loader that is fed the
 * bytes in pieces and builds a new map aside, swapped in only when the whole
 * stream checked out. The state machine's fields besides the map go in the
 * header's metadata: "cluster_id" (its 16 bytes) once one was applied; a
 * loader passes on names it does not know, and an image without the entry
 * leaves the store with no id. */
#include <stdlib.h>
#include <string.h>

#include "kv/kv_internal.h"
#include "storage/snap_reader.h"
#include "storage/snap_writer.h"

#define META_CLUSTER_ID "cluster_id"

int kv_snapshot_write(const struct kv_store *s, uint64_t index, uint64_t term, kv_sink_fn sink,
                      void *ctx)
{
    const struct kv_map *m = &s->map;
    struct snap_meta meta[1];
    size_t n_meta = 0;
    if (s->has_cluster_id)
        meta[n_meta++] = (struct snap_meta){
            .name = META_CLUSTER_ID, .value = s->cluster_id, .len = CLUSTER_ID_BYTES};
    struct snap_writer w;
    if (snap_writer_begin(&w, sink, ctx, index, term, m->size, meta, n_meta) != 0) {
        snap_writer_discard(&w);
        return -1;
    }
    struct kv_text t = {0};
    size_t pos = 0;
    for (const struct kv_map_entry *e; (e = kv_map_next(m, &pos));) {
        t.len = 0;
        kv_text_value(&t, e->value);
        if (t.err)
            break;
        struct snap_record rec = {.type = SNAP_TYPE_JSON,
                                  .key = (const uint8_t *)e->key,
                                  .key_len = e->key_len,
                                  .value = (const uint8_t *)t.p,
                                  .value_len = (uint32_t)t.len};
        if (t.len > UINT32_MAX || snap_writer_add(&w, &rec) != 0) {
            t.err = 1;
            break;
        }
    }
    free(t.p);
    if (t.err) {
        snap_writer_discard(&w);
        return -1;
    }
    return snap_writer_end(&w);
}

int kv_snapshot(const struct kv_store *s, uint64_t index, uint64_t term, uint8_t **data,
                size_t *len)
{
    struct snap_membuf b = {0};
    if (kv_snapshot_write(s, index, term, snap_membuf_sink, &b) != 0) {
        free(b.data);
        return -1;
    }
    *data = b.data;
    *len = b.len;
    return 0;
}

/* ---- loading ---- */

struct kv_loader {
    struct snap_reader rd;
    struct kv_map map; /* built aside */
    bool build;
    bool has_cluster_id; /* the "cluster_id" metadata entry, checked */
    uint8_t cluster_id[CLUSTER_ID_BYTES];
    uint64_t index, term, records;
    char err[240];
};

/* Every key must be the canonical text of some JSON value, or lookups would
 * never find it. A quoted string needing no escapes and a plain integer are
 * canonical as they stand (nearly every key); anything else is checked by a
 * round trip through jansson. */
static int key_canonical(const char *k, size_t len)
{
    if (len >= 2 && k[0] == '"' && k[len - 1] == '"' && kv_plain_ascii(k + 1, len - 2))
        return 0;
    if (len > 0 && len < 19 && (k[0] == '-' ? len > 1 && k[1] != '0' : k[0] != '0' || len == 1)) {
        size_t i = k[0] == '-';
        while (i < len && k[i] >= '0' && k[i] <= '9')
            i++;
        if (i == len)
            return 0;
    }
    char buf[64];
    json_t *key = json_loadb(k, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    char *text = key ? kv_key_text(key, buf, sizeof buf) : NULL;
    int same = text && strlen(text) == len && memcmp(text, k, len) == 0;
    if (text && text != buf)
        free(text);
    json_decref(key);
    return same ? 0 : -1;
}

/* A value's canonical JSON text as a jansson value (a new reference). */
static json_t *value_parse(const uint8_t *v, size_t len)
{
    if (len >= 2 && v[0] == '"' && v[len - 1] == '"' &&
        kv_plain_ascii((const char *)v + 1, len - 2))
        return json_stringn_nocheck((const char *)v + 1, len - 2);
    return json_loadb((const char *)v, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
}

static int on_header(void *ctx, const struct snap_header *h)
{
    struct kv_loader *l = ctx;
    l->index = h->index;
    l->term = h->term;
    return 0;
}

/* "cluster_id" must be 16 bytes, not all zero, and come once; other names
 * are for later features and pass. */
static int on_meta(void *ctx, const struct snap_meta *m)
{
    struct kv_loader *l = ctx;
    if (strcmp(m->name, META_CLUSTER_ID) != 0)
        return 0;
    if (l->has_cluster_id || m->len != CLUSTER_ID_BYTES || cluster_id_is_zero(m->value)) {
        snprintf(l->err, sizeof l->err, "bad metadata entry %s (%u bytes)", META_CLUSTER_ID,
                 (unsigned)m->len);
        return -1;
    }
    memcpy(l->cluster_id, m->value, CLUSTER_ID_BYTES);
    l->has_cluster_id = true;
    return 0;
}

static int on_record(void *ctx, const struct snap_record *rec)
{
    struct kv_loader *l = ctx;
    if (rec->type != SNAP_TYPE_JSON || key_canonical((const char *)rec->key, rec->key_len) != 0)
        return -1;
    json_t *v = value_parse(rec->value, rec->value_len);
    if (!v)
        return -1;
    int rc = 0;
    if (l->build) {
        /* The map takes its own reference; ours goes. */
        rc = kv_map_set(&l->map, (const char *)rec->key, rec->key_len, v);
    }
    json_decref(v);
    l->records++;
    return rc;
}

struct kv_loader *kv_loader_new(bool build)
{
    struct kv_loader *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    if (kv_map_init(&l->map) != 0) {
        free(l);
        return NULL;
    }
    l->build = build;
    static const struct snap_reader_ops ops = {
        .header = on_header, .meta = on_meta, .record = on_record};;
    snap_reader_init(&l->rd, &ops, l);
    return l;
}

int kv_loader_feed(struct kv_loader *l, const uint8_t *data, size_t n)
{
    return snap_reader_feed(&l->rd, data, n);
}

int kv_loader_finish(struct kv_loader *l, struct kv_store *into, uint64_t *index, uint64_t *term)
{
    if (snap_reader_finish(&l->rd) != 0)
        return -1;
    if (l->build && l->map.size != l->records) {
        snprintf(l->err, sizeof l->err, "%llu records hold only %zu distinct keys",
                 (unsigned long long)l->records, l->map.size);
        return -1;
    }
    if (index)
        *index = l->index;
    if (term)
        *term = l->term;
    if (into && l->build) {
        struct kv_map old = into->map;
        into->map = l->map;
        l->map = old; /* freed with the loader */
        into->has_cluster_id = l->has_cluster_id;
        memcpy(into->cluster_id, l->cluster_id, CLUSTER_ID_BYTES);
    }
    return 0;
}

bool kv_loader_cluster_id(const struct kv_loader *l, uint8_t out[CLUSTER_ID_BYTES])
{
    if (l->has_cluster_id)
        memcpy(out, l->cluster_id, CLUSTER_ID_BYTES);
    return l->has_cluster_id;
}

const char *kv_loader_error(const struct kv_loader *l)
{
    return l->err[0] ? l->err : snap_reader_error(&l->rd);
}

void kv_loader_free(struct kv_loader *l)
{
    if (!l)
        return;
    snap_reader_free(&l->rd);
    kv_map_free(&l->map);
    free(l);
}

int kv_restore(struct kv_store *s, const uint8_t *data, size_t len, uint64_t *index,
               uint64_t *term)
{
    struct kv_loader *l = kv_loader_new(s != NULL);
    if (!l)
        return -1;
    int rc = kv_loader_feed(l, data, len) == 0 && kv_loader_finish(l, s, index, term) == 0 ? 0 : -1;
    kv_loader_free(l);
    return rc;
}
