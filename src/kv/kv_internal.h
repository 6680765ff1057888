/* kv_internal.h - what the KV module's files share and nobody else needs:
 * the store's layout and the canonical form of a key. */
#ifndef RAFTKV_KV_INTERNAL_H
#define RAFTKV_KV_INTERNAL_H

#include "kv/kv.h"

/* The map: a jansson object from the canonical text of each key to its value.
 * Canonical text (compact, sorted object keys) makes equal JSON keys the
 * same string, so 1 and "1" are distinct keys and {"a":1,"b":2} and
 * {"b":2,"a":1} are the same key. */
struct kv_store {
    json_t *map;
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

#endif
