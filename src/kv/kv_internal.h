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
struct kv_store {
    struct kv_map map;
    bool has_cluster_id; /* KV_CLUSTER_ID applied (or restored) */
    uint8_t cluster_id[CLUSTER_ID_BYTES];
};

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

#endif
