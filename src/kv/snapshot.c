/* snapshot.c - the whole map as bytes and back, for Raft snapshots: one
 * compact JSON object from canonical key text to value, members sorted by
 * key so that equal maps give equal bytes on every node. The cluster id,
 * once applied, travels first as the member "#cluster_id" (32 hex digits):
 * no canonical key text starts with '#', so it never collides with a key. */
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

/* ---- the cluster id's member ---- */

#define SNAP_CLUSTER_ID "#cluster_id"

/* Whether a member was written. */
static bool put_cluster_id(struct kv_text *t, const struct kv_store *s)
{
    if (!s->has_cluster_id)
        return false;
    char hex[CLUSTER_ID_HEX_LEN + 1];
    cluster_id_hex(s->cluster_id, hex);
    static const char name[] = "\"" SNAP_CLUSTER_ID "\":\"";
    kv_text_put(t, name, sizeof name - 1);
    kv_text_put(t, hex, CLUSTER_ID_HEX_LEN);
    kv_text_put(t, "\"", 1);
    return true;
}

/* Take the member out of obj: 0 (*has set when there was one) or -1 for
 * one that is not a valid id. */
static int take_cluster_id(json_t *obj, bool *has, uint8_t id[CLUSTER_ID_BYTES])
{
    json_t *v = json_object_get(obj, SNAP_CLUSTER_ID);
    *has = false;
    if (!v)
        return 0;
    if (!json_is_string(v) || cluster_id_parse(json_string_value(v), json_string_length(v), id) != 0)
        return -1;
    *has = true;
    json_object_del(obj, SNAP_CLUSTER_ID);
    return 0;
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
    bool comma = put_cluster_id(&t, s);
    for (size_t i = 0; i < n; i++) {
        if (i || comma)
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
    bool has_id;
    uint8_t id[CLUSTER_ID_BYTES];
    if (take_cluster_id(obj, &has_id, id) != 0) {
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
    s->has_cluster_id = has_id;
    memset(s->cluster_id, 0, sizeof s->cluster_id);
    if (has_id)
        memcpy(s->cluster_id, id, sizeof id);
    return 0;
}
