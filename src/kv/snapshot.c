/* snapshot.c - the whole map as bytes and back, for Raft snapshots: one
 * compact JSON object from canonical key text to value, members sorted by
 * key so that equal maps give equal bytes on every node. */
#include <stdlib.h>
#include <string.h>

#include "kv/kv_internal.h"

static int entry_order(const void *a, const void *b)
{
    const struct kv_map_entry *x = *(const struct kv_map_entry *const *)a;
    const struct kv_map_entry *y = *(const struct kv_map_entry *const *)b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);
    return c ? c : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

/* A key's text as a JSON string. Canonical text has no control characters
 * (the encoder escapes them), so only quotes and backslashes need escaping. */
static void put_key(struct kv_text *t, const char *key, size_t len)
{
    kv_text_put(t, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        if (key[i] != '"' && key[i] != '\\')
            continue;
        kv_text_put(t, key + run, i - run);
        kv_text_put(t, "\\", 1);
        run = i;
    }
    kv_text_put(t, key + run, len - run);
    kv_text_put(t, "\":", 2);
}

int kv_snapshot(const struct kv_store *s, uint8_t **data, size_t *len)
{
    const struct kv_map *m = &s->map;
    const struct kv_map_entry **sorted = malloc((m->size ? m->size : 1) * sizeof *sorted);
    if (!sorted)
        return -1;
    size_t n = 0, pos = 0;
    for (const struct kv_map_entry *e; (e = kv_map_next(m, &pos));)
        sorted[n++] = e;
    qsort(sorted, n, sizeof *sorted, entry_order);
    struct kv_text t = {0};
    kv_text_put(&t, "{", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            kv_text_put(&t, ",", 1);
        put_key(&t, sorted[i]->key, sorted[i]->key_len);
        kv_text_value(&t, sorted[i]->value);
    }
    kv_text_put(&t, "}", 1);
    free(sorted);
    if (t.err) {
        free(t.p);
        return -1;
    }
    t.p[t.len] = '\0';
    *data = (uint8_t *)t.p;
    *len = t.len;
    return 0;
}

/* Every key of a snapshot must be the canonical text of some JSON value, or
 * lookups would never find it; a snapshot that breaks this is refused. */
static int key_canonical(const char *k, size_t len)
{
    char buf[64];
    json_t *key = json_loadb(k, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    char *text = key ? kv_key_text(key, buf, sizeof buf) : NULL;
    int same = text && strlen(text) == len && memcmp(text, k, len) == 0;
    if (text && text != buf)
        free(text);
    json_decref(key);
    return same ? 0 : -1;
}

int kv_restore(struct kv_store *s, const uint8_t *data, size_t len)
{
    if (!data || len == 0)
        return -1;
    json_t *obj = json_loadb((const char *)data, len, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(obj)) {
        json_decref(obj);
        return -1;
    }
    /* Built aside and swapped in, so a refused image changes nothing. */
    struct kv_map fresh;
    int rc = kv_map_init(&fresh);
    const char *k;
    size_t klen;
    json_t *v;
    void *tmp;
    json_object_keylen_foreach_safe(obj, tmp, k, klen, v)
    {
        if (rc != 0)
            break;
        rc = key_canonical(k, klen) == 0 && kv_map_set(&fresh, k, klen, v) == 0 ? 0 : -1;
    }
    json_decref(obj);
    if (rc != 0) {
        kv_map_free(&fresh);
        return -1;
    }
    kv_map_free(&s->map);
    s->map = fresh;
    return 0;
}
