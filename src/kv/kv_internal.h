/* kv_internal.h - what the KV module's files share and nobody else needs:
 * the store's layout and the canonical form of a key. */
#ifndef RAFTKV_KV_INTERNAL_H
#define RAFTKV_KV_INTERNAL_H

#include <stdbool.h>

#include "common/cluster_id.h"
#include "kv/kv.h"
#include "kv/map.h"

/* The map from the canonical text of each key to its value. Canonical text
 * (compact, sorted object keys) makes equal JSON keys the same string, so 1
 * and "1" are distinct keys and {"a":1,"b":2} and {"b":2,"a":1} are the
 * same key. */
#define KV_DELETE_BUCKETS 1024

struct kv_store {
    struct kv_map map;
    bool has_cluster_id; /* KV_CLUSTER_ID applied (or restored) */
    uint8_t cluster_id[CLUSTER_ID_BYTES];
    uint64_t version; /* counts writes; each written key takes the new count */
    int64_t time_ms;  /* the latest time an applied entry carried */
    /* The version counter at the latest delete of a key in each bucket (by
     * a fixed hash of the key, the same on every member): a key WATCHed
     * while absent counts as changed if one in its bucket was deleted
     * since (kv_op_version), so a key created and deleted again in between
     * is seen; other keys of the bucket may abort such an EXEC needlessly,
     * one chance in KV_DELETE_BUCKETS per key deleted. */
    uint64_t deleted[KV_DELETE_BUCKETS];
    /* The latest CONFIG entry applied (kv_set_configuration): malloc'd. */
    uint8_t *config;
    uint32_t config_len;
    uint64_t config_index;
    /* What a FLUSHALL of at least KV_FLUSH_DETACH_KEYS keys took away:
     * the old map, in a store of its own, for the owner to free off its
     * event loop (kv_store_take_flushed); NULL: none. */
    struct kv_store *flushed;
    /* While a KV_MULTI applies: what it did to the script cache so far
     * (script_tx.c); NULL otherwise. */
    struct kv_script_tx *script_tx;
};

/* From this many keys FLUSHALL detaches the map instead of freeing its
 * entries in place (16 keys per delete bucket: see kv_op_flush). */
#define KV_FLUSH_DETACH_KEYS (16 * KV_DELETE_BUCKETS)

/* A write that leaves an absent key absent (SET with a past deadline):
 * recorded like a delete, so a WATCH of the key sees it. */
void kv_store_touch_absent(struct kv_store *s, const char *key, size_t len);
/* Delete a key (if there) as a write: 1 if it was there. */
int kv_store_del(struct kv_store *s, const char *key, size_t len);
/* The bucket of kv_store.deleted a key falls in. */
size_t kv_delete_bucket(const char *key, size_t len);

/* A snapshot stream in pieces (snapshot.c): the header with the store's
 * metadata as it is now and a record count, into w (discarded on
 * failure); then one record per entry (deadline apart). 0 or -1. */
struct snap_writer;
int kv_snapshot_header(const struct kv_store *s, uint64_t index, uint64_t term, unsigned flags,
                       uint64_t records, struct snap_writer *w, kv_sink_fn sink, void *ctx);
int kv_snapshot_entry(struct snap_writer *w, const struct kv_map_entry *e, int64_t expiry_ms);

/* ---- what the operations share (store.c) ---- */

/* The key's entry if it is there and not expired at now_ms. */
struct kv_map_entry *kv_live(struct kv_store *s, const struct kv_str *key, int64_t now_ms);
/* For writes: the same, but an expired entry is removed first (every
 * member applies the same entry at the same stamped time, so all remove
 * it alike). */
struct kv_map_entry *kv_live_w(struct kv_store *s, const struct kv_str *key, int64_t now_ms);
/* Store a value under key with a new version; NULL when out of memory. */
struct kv_map_entry *kv_store_put(struct kv_store *s, const char *key, size_t len, uint8_t type,
                                  const void *value, size_t value_len);
/* Fill a result: code and text (printf-style). */
void kv_res(struct kv_result *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A result's bytes: a copy of n bytes (-1 and code MALFORMED when out of
 * memory). */
int kv_res_bytes(struct kv_result *r, const void *p, size_t n);

#define KV_KEY_FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)

/* The canonical text of a key into buf (NUL-terminated). Returns the text,
 * which is buf or a malloc'd string (free it when != buf), or NULL if the
 * key cannot be encoded. */
char *kv_key_text(const json_t *key, char *buf, size_t size);

/* Whether n bytes are printable ASCII other than '"' and '\\': a JSON
 * string of them is written (and read back) byte for byte, no escapes,
 * which lets the hot paths skip jansson's encoder and parser. */
static inline int kv_plain_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
            return 0;
    }
    return 1;
}

/* A growable byte string (text.c). Appends after an out-of-memory failure
 * do nothing and leave err set, so a writer checks once at the end. The
 * buffer always has room for a terminating NUL. */
struct kv_text {
    char *p;
    size_t len, cap;
    int err;
};
bool kv_text_reserve(struct kv_text *t, size_t n);
void kv_text_put(struct kv_text *t, const char *s, size_t n);
/* A value in canonical form (compact, sorted object keys). */
void kv_text_value(struct kv_text *t, const json_t *v);
/* `name` verbatim, then the value in canonical form. */
void kv_text_member(struct kv_text *t, const char *name, const json_t *v);

/* KEYS's list as it is gathered (ops_keys.c): the keys a glob matches
 * that are live at `now`, as kv_bulks (kv.h) with their count, within a
 * byte cap. Both the inline
 * KV_KEYS and the stepped walk (keys_walk.c) gather through it. */
struct kv_keys_list {
    struct kv_text t;
    const uint8_t *pat; /* NULL: every key */
    size_t plen;
    int64_t now;
    size_t max_bytes; /* 0: no cap; else keys_walk.h's reply bytes */
    size_t counted;   /* reply bytes counted so far */
    size_t n;         /* keys in t */
    bool over;        /* past max_bytes: the list was dropped */
};
void kv_keys_list_init(struct kv_keys_list *l, const struct kv_str *pat, int64_t now,
                       size_t max_bytes);
/* Offer one entry with its deadline (0: none). */
void kv_keys_list_take(struct kv_keys_list *l, const char *key, size_t len, int64_t expiry);
/* The result: the list's bytes (moved) and num its count, the cap's
 * error, or out of memory. */
void kv_keys_list_result(struct kv_keys_list *l, struct kv_result *r);
void kv_keys_list_release(struct kv_keys_list *l);

#endif
