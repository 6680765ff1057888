/* snapshot.c - the map as a snapshot stream and back (the format is
 * src/storage/snap_format.h): one record per key, with the entry's bytes as
 * they are in the map: the key, the value and its type (canonical JSON text
 * of the Maelstrom node, or a Redis string), its expiry deadline and
 * version. Written in slot order, with no
 * sort and no copy of the map, so a writer (the snapshot child process)
 * needs one block of memory; read back through a loader that is fed the
 * bytes in pieces and builds a new map aside, swapped in only when the whole
 * stream checked out. The state machine's fields besides the map go in the
 * header's metadata: "cluster_id" (its 16 bytes) once one was applied,
 * "map_key" (the map's hash key, 16 bytes, map.h) once one was (not in a
 * backup's image: KV_SNAP_NO_MAP_KEY),
 * "version" (the write counter, u64), "time" (the latest entry time,
 * i64) and "deleted" (kv_internal.h: each bucket that saw a delete, as
 * bucket u16 and version u64; absent when none did) and "raft_config" (the
 * configuration as of the image's index: u64 index of its CONFIG entry,
 * then the entry's bytes, kv.h; absent before any), all little-endian; a
 * loader passes on names it does not know, and an image without the entry
 * leaves the store with no id. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv_internal.h"
#include "storage/le.h"
#include "storage/snap_reader.h"
#include "storage/snap_writer.h"

#define META_CLUSTER_ID "cluster_id"
#define META_VERSION "version"
#define META_TIME "time"
#define META_DELETED "deleted"
#define META_MAP_KEY "map_key"
#define META_CONFIG "raft_config"

int kv_snapshot_write(const struct kv_store *s, uint64_t index, uint64_t term, kv_sink_fn sink,
                      void *ctx)
{
    return kv_snapshot_write_flags(s, index, term, 0, sink, ctx);
}

int kv_snapshot_write_flags(const struct kv_store *s, uint64_t index, uint64_t term, unsigned flags,
                            kv_sink_fn sink, void *ctx)
{
    struct snap_writer w;
    if (kv_snapshot_header(s, index, term, flags, s->map.size, &w, sink, ctx) != 0)
        return -1;
    size_t pos = 0;
    for (const struct kv_map_entry *e; (e = kv_map_next(&s->map, &pos));) {
        if (kv_snapshot_entry(&w, e, kv_map_expiry(&s->map, e)) != 0) {
            snap_writer_discard(&w);
            return -1;
        }
    }
    return snap_writer_end(&w);
}

int kv_snapshot_entry(struct snap_writer *w, const struct kv_map_entry *e, int64_t expiry_ms)
{
    struct snap_record rec = {.type = e->type,
                              .key = (const uint8_t *)kv_entry_key(e),
                              .key_len = kv_entry_key_len(e),
                              .value = (const uint8_t *)kv_entry_value(e),
                              .value_len = kv_entry_value_len(e),
                              .expiry_ms = (uint64_t)expiry_ms,
                              .version = e->version};
    return snap_writer_add(w, &rec);
}

int kv_snapshot_header(const struct kv_store *s, uint64_t index, uint64_t term, unsigned flags,
                       uint64_t records, struct snap_writer *w, kv_sink_fn sink, void *ctx)
{
    const struct kv_map *m = &s->map;
    uint8_t version[8], time[8];
    static _Thread_local uint8_t deleted[10 * KV_DELETE_BUCKETS];
    size_t n_deleted = 0;
    le_put64(version, s->version);
    le_put64(time, (uint64_t)s->time_ms);
    for (size_t i = 0; i < KV_DELETE_BUCKETS; i++) {
        if (!s->deleted[i])
            continue;
        deleted[10 * n_deleted] = (uint8_t)i;
        deleted[10 * n_deleted + 1] = (uint8_t)(i >> 8);
        le_put64(deleted + 10 * n_deleted + 2, s->deleted[i]);
        n_deleted++;
    }
    struct snap_meta meta[6];
    size_t n_meta = 0;
    uint8_t map_key[KV_MAP_KEY_BYTES];
    static _Thread_local uint8_t config[8 + KV_CONFIG_MAX_BYTES];
    if (s->config) {
        le_put64(config, s->config_index);
        memcpy(config + 8, s->config, s->config_len);
        meta[n_meta++] = (struct snap_meta){.name = META_CONFIG, .value = config, .len = 8 + s->config_len};
    }
    if (s->has_cluster_id)
        meta[n_meta++] = (struct snap_meta){
            .name = META_CLUSTER_ID, .value = s->cluster_id, .len = CLUSTER_ID_BYTES};
    if (!(flags & KV_SNAP_NO_MAP_KEY) && kv_map_key(m, map_key))
        meta[n_meta++] = (struct snap_meta){
            .name = META_MAP_KEY, .value = map_key, .len = KV_MAP_KEY_BYTES};
    meta[n_meta++] = (struct snap_meta){.name = META_VERSION, .value = version, .len = 8};
    meta[n_meta++] = (struct snap_meta){.name = META_TIME, .value = time, .len = 8};
    if (n_deleted)
        meta[n_meta++] = (struct snap_meta){
            .name = META_DELETED, .value = deleted, .len = (uint32_t)(10 * n_deleted)};
    if (snap_writer_begin(w, sink, ctx, index, term, records, meta, n_meta) != 0) {
        snap_writer_discard(w);
        return -1;
    }
    return 0;
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

#define LOAD_AHEAD 8

struct kv_loader {
    struct snap_reader rd;
    struct kv_map map; /* built aside */
    bool build;
    bool has_cluster_id; /* the "cluster_id" metadata entry, checked */
    uint8_t cluster_id[CLUSTER_ID_BYTES];
    uint64_t version;
    int64_t time_ms;
    uint64_t deleted[KV_DELETE_BUCKETS];
    uint64_t index, term, records;
    uint8_t *config; /* the "raft_config" entry's bytes after its index */
    uint32_t config_len;
    uint64_t config_index;
    /* Records parsed but not yet put: each one's slot is fetched into the
     * cache when it comes and the record put LOAD_AHEAD records later, so
     * the slot array's misses overlap. They point into the piece being
     * read, so they are all put when it ends (on_piece). */
    struct snap_record ahead[LOAD_AHEAD];
    size_t n_ahead, ahead_pos;
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

/* A value's canonical JSON text must parse. */
static int value_json(const uint8_t *v, size_t len)
{
    if (len >= 2 && v[0] == '"' && v[len - 1] == '"' &&
        kv_plain_ascii((const char *)v + 1, len - 2))
        return 0;
    json_t *j = json_loadb((const char *)v, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    json_decref(j);
    return j ? 0 : -1;
}

static int on_header(void *ctx, const struct snap_header *h)
{
    struct kv_loader *l = ctx;
    l->index = h->index;
    l->term = h->term;
    /* Slots for every record at once: no growth (each one rehashes every
     * entry so far) while loading. The count is checked at the end; past
     * 2^30 records the map grows as it goes. A failure only means growth. */
    if (l->build && h->records <= (1u << 30))
        (void)kv_map_reserve(&l->map, (size_t)h->records);
    return 0;
}

/* "cluster_id" must be 16 bytes, not all zero, and come once; "map_key"
 * 16 bytes, not all zero; other names are for later features and pass. */
static int on_meta(void *ctx, const struct snap_meta *m)
{
    struct kv_loader *l = ctx;
    if (strcmp(m->name, META_VERSION) == 0 || strcmp(m->name, META_TIME) == 0) {
        if (m->len != 8) {
            snprintf(l->err, sizeof l->err, "bad metadata entry %s (%u bytes)", m->name,
                     (unsigned)m->len);
            return -1;
        }
        if (m->name[0] == 'v')
            l->version = le_get64(m->value);
        else
            l->time_ms = (int64_t)le_get64(m->value);
        return 0;
    }
    if (strcmp(m->name, META_DELETED) == 0) {
        for (size_t off = 0; off + 10 <= m->len; off += 10) {
            size_t b = m->value[off] | (size_t)m->value[off + 1] << 8;
            if (b >= KV_DELETE_BUCKETS || m->len % 10) {
                snprintf(l->err, sizeof l->err, "bad metadata entry %s (%u bytes)", m->name,
                         (unsigned)m->len);
                return -1;
            }
            l->deleted[b] = le_get64(m->value + off + 2);
        }
        return 0;
    }
    if (strcmp(m->name, META_MAP_KEY) == 0) {
        /* Before the records (the header holds the metadata): the map is
         * still empty, nothing to place again. */
        if (m->len != KV_MAP_KEY_BYTES || cluster_id_is_zero(m->value)) {
            snprintf(l->err, sizeof l->err, "bad metadata entry %s (%u bytes)", m->name,
                     (unsigned)m->len);
            return -1;
        }
        if (l->build)
            kv_map_set_key(&l->map, m->value);
        return 0;
    }
    if (strcmp(m->name, META_CONFIG) == 0) {
        /* Its index, then at least the core's two bytes (raft.h); once. */
        if (l->config || m->len < 8 + 2 || m->len > 8 + KV_CONFIG_MAX_BYTES) {
            snprintf(l->err, sizeof l->err, "bad metadata entry %s (%u bytes)", m->name, (unsigned)m->len);
            return -1;
        }
        l->config = malloc(m->len - 8);
        if (!l->config)
            return -1;
        memcpy(l->config, m->value + 8, m->len - 8);
        l->config_len = m->len - 8;
        l->config_index = le_get64(m->value);
        return 0;
    }
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

static int put_record(struct kv_loader *l, const struct snap_record *rec)
{
    struct kv_map_entry *e = kv_map_put(&l->map, (const char *)rec->key, rec->key_len, rec->type,
                                        rec->value, rec->value_len);
    if (!e || kv_map_set_expiry(&l->map, e, (int64_t)rec->expiry_ms) != 0) {
        snprintf(l->err, sizeof l->err, "out of memory after %zu keys", l->map.size);
        return -1;
    }
    e->version = rec->version;
    return 0;
}

/* A JSON record's key must be the canonical text of some JSON value (or
 * lookups would never find it) and its value JSON text; a string record is
 * any bytes. Expiry deadlines are kept even if past: the log's next write
 * or a read at a later time sees the key as absent, as on every member. */
static int on_record(void *ctx, const struct snap_record *rec)
{
    struct kv_loader *l = ctx;
    if (rec->type == SNAP_TYPE_JSON) {
        if (key_canonical((const char *)rec->key, rec->key_len) != 0 ||
            value_json(rec->value, rec->value_len) != 0 || rec->expiry_ms != 0)
            return -1;
    } else if (rec->type != KV_TYPE_STR || rec->expiry_ms > INT64_MAX) {
        return -1;
    }
    l->records++;
    if (!l->build)
        return 0;
    kv_map_prefetch(&l->map, (const char *)rec->key, rec->key_len);
    if (l->n_ahead < LOAD_AHEAD) {
        l->ahead[l->n_ahead++] = *rec;
        return 0;
    }
    struct snap_record *oldest = &l->ahead[l->ahead_pos];
    int rc = put_record(l, oldest);
    *oldest = *rec;
    l->ahead_pos = (l->ahead_pos + 1) % LOAD_AHEAD;
    return rc;
}

/* Every record parsed so far into the map, in the image's order. */
static int put_ahead(struct kv_loader *l)
{
    int rc = 0;
    for (size_t i = 0; i < l->n_ahead && rc == 0; i++)
        rc = put_record(l, &l->ahead[(l->ahead_pos + i) % LOAD_AHEAD]);
    l->n_ahead = l->ahead_pos = 0;
    return rc;
}

/* A piece of the image ends: the records that point into it go in now. */
static int on_piece(void *ctx, uint64_t end)
{
    (void)end;
    return put_ahead(ctx);
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
        .header = on_header, .meta = on_meta, .record = on_record, .checked = on_piece};
    snap_reader_init(&l->rd, &ops, l);
    return l;
}

int kv_loader_feed(struct kv_loader *l, const uint8_t *data, size_t n)
{
    return snap_reader_feed(&l->rd, data, n);
}

int kv_loader_finish(struct kv_loader *l, struct kv_store *into, uint64_t *index, uint64_t *term)
{
    if (snap_reader_finish(&l->rd) != 0 || put_ahead(l) != 0)
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
        into->version = l->version;
        into->time_ms = l->time_ms;
        memcpy(into->deleted, l->deleted, sizeof into->deleted);
        memcpy(into->cluster_id, l->cluster_id, CLUSTER_ID_BYTES);
        free(into->config);
        into->config = l->config;
        into->config_len = l->config_len;
        into->config_index = l->config_index;
        l->config = NULL;
    }
    return 0;
}

bool kv_loader_cluster_id(const struct kv_loader *l, uint8_t out[CLUSTER_ID_BYTES])
{
    if (l->has_cluster_id)
        memcpy(out, l->cluster_id, CLUSTER_ID_BYTES);
    return l->has_cluster_id;
}

bool kv_loader_configuration(const struct kv_loader *l, uint64_t *index, const uint8_t **data, size_t *len)
{
    if (!l->config)
        return false;
    *index = l->config_index;
    *data = l->config;
    *len = l->config_len;
    return true;
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
    free(l->config);
    free(l);
}

/* ---- a whole image on two threads ----
 *
 * A checker thread runs a second reader over the image that checks every
 * CRC (header, blocks, file) and the framing, and publishes how far the
 * bytes are checked after each piece; the calling thread feeds the
 * loader's reader (which then skips the block and file CRCs) only bytes
 * up to there, so no record of a block whose CRC did not match reaches the
 * map, and the map is built while the rest is checked. A damaged piece
 * stops the loader where it starts, with the checker's error; a record the
 * loader refuses stops the checker. */
#define KV_LOAD_THREAD_MIN (1u << 20) /* smaller images: one thread */

struct image_check {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t checked; /* the image's bytes before this offset passed */
    bool done, failed, stop;
    struct snap_reader rd;
    const uint8_t *data;
    size_t len;
};

static int check_progress(void *ctx, uint64_t end)
{
    struct image_check *c = ctx;
    pthread_mutex_lock(&c->mu);
    c->checked = end;
    bool stop = c->stop;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return stop ? -1 : 0;
}

static void *check_main(void *arg)
{
    struct image_check *c = arg;
    int rc = snap_reader_feed(&c->rd, c->data, c->len) == 0 ? snap_reader_finish(&c->rd) : -1;
    pthread_mutex_lock(&c->mu);
    c->done = true;
    c->failed = rc != 0;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* Feed l the checked bytes as they come; 0, or -1 with l's error set. */
static int load_checked(struct kv_loader *l, struct image_check *c)
{
    uint64_t fed = 0;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        while (c->checked == fed && !c->done)
            pthread_cond_wait(&c->cv, &c->mu);
        uint64_t to = c->checked;
        bool failed = c->failed;
        pthread_mutex_unlock(&c->mu);
        if (to > fed) {
            if (kv_loader_feed(l, c->data + fed, (size_t)(to - fed)) != 0)
                return -1;
            fed = to;
            continue;
        }
        if (!failed)
            return 0; /* done: everything was fed and checked */
        l->rd.failed = true;
        snprintf(l->err, sizeof l->err, "%s", snap_reader_error(&c->rd));
        return -1;
    }
}

int kv_loader_load(struct kv_loader *l, const uint8_t *data, size_t len)
{
    if (len < KV_LOAD_THREAD_MIN || l->rd.piece_off != 0 || l->rd.have != 0)
        return kv_loader_feed(l, data, len);
    struct image_check *c = calloc(1, sizeof *c);
    if (!c)
        return kv_loader_feed(l, data, len);
    c->data = data;
    c->len = len;
    static const struct snap_reader_ops check_ops = {.checked = check_progress};
    snap_reader_init(&c->rd, &check_ops, c);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    pthread_t t;
    int rc;
    if (pthread_create(&t, NULL, check_main, c) != 0) {
        rc = kv_loader_feed(l, data, len);
    } else {
        l->rd.crcs_checked_elsewhere = true;
        rc = load_checked(l, c);
        if (rc != 0) {
            pthread_mutex_lock(&c->mu);
            c->stop = true;
            pthread_mutex_unlock(&c->mu);
        }
        pthread_join(t, NULL);
    }
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    snap_reader_free(&c->rd);
    free(c);
    return rc;
}

int kv_restore(struct kv_store *s, const uint8_t *data, size_t len, uint64_t *index,
               uint64_t *term)
{
    struct kv_loader *l = kv_loader_new(s != NULL);
    if (!l)
        return -1;
    int rc = kv_loader_load(l, data, len) == 0 && kv_loader_finish(l, s, index, term) == 0 ? 0 : -1;
    kv_loader_free(l);
    return rc;
}
