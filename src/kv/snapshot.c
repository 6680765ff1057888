/* snapshot.c - the whole map as bytes and back, for Raft snapshots: the map
 * object itself in compact JSON (canonical key text -> value). */
#include <stdlib.h>
#include <string.h>

#include "kv/kv_internal.h"

int kv_snapshot(const struct kv_store *s, uint8_t **data, size_t *len)
{
    char *text = json_dumps(s->map, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        return -1;
    *data = (uint8_t *)text;
    *len = strlen(text);
    return 0;
}

/* Every key of a snapshot must be the canonical text of some JSON value, or
 * lookups would never find it; a snapshot that breaks this is refused. */
static int keys_canonical(json_t *map)
{
    const char *k;
    json_t *v;
    char buf[64];
    json_object_foreach(map, k, v) {
        json_t *key = json_loads(k, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        char *text = key ? kv_key_text(key, buf, sizeof buf) : NULL;
        int same = text && strcmp(text, k) == 0;
        if (text && text != buf)
            free(text);
        json_decref(key);
        if (!same)
            return -1;
    }
    return 0;
}

int kv_restore(struct kv_store *s, const uint8_t *data, size_t len)
{
    if (!data || len == 0)
        return -1;
    json_t *map = json_loadb((const char *)data, len, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(map) || keys_canonical(map) != 0) {
        json_decref(map);
        return -1;
    }
    json_decref(s->map);
    s->map = map;
    return 0;
}
