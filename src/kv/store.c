/* store.c - the replicated map's life and the dispatch of operations
 * through the registry (ops.h), with what every operation shares: finding
 * a live key (expiry), storing a value under a new version, filling a
 * result. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/ops.h"

struct kv_store *kv_store_new(void)
{
    struct kv_store *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (kv_map_init(&s->map) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

void kv_store_free(struct kv_store *s)
{
    if (!s)
        return;
    kv_store_free(s->flushed);
    kv_map_free(&s->map);
    free(s->config);
    free(s);
}

struct kv_store *kv_store_take_flushed(struct kv_store *s)
{
    struct kv_store *f = s->flushed;
    s->flushed = NULL;
    return f;
}

int kv_set_configuration(struct kv_store *s, uint64_t index, const uint8_t *data, size_t len)
{
    if (len == 0 || len > KV_CONFIG_MAX_BYTES)
        return -1;
    uint8_t *copy = malloc(len);
    if (!copy)
        return -1;
    memcpy(copy, data, len);
    free(s->config);
    s->config = copy;
    s->config_len = (uint32_t)len;
    s->config_index = index;
    return 0;
}

bool kv_configuration(const struct kv_store *s, uint64_t *index, const uint8_t **data, size_t *len)
{
    if (!s->config)
        return false;
    *index = s->config_index;
    *data = s->config;
    *len = s->config_len;
    return true;
}

size_t kv_store_size(const struct kv_store *s)
{
    return s->map.size;
}

size_t kv_store_bytes(const struct kv_store *s)
{
    return kv_map_bytes(&s->map);
}

bool kv_store_rehash(struct kv_store *s, size_t max_slots)
{
    if (kv_map_rehashing(&s->map))
        kv_map_rehash_step(&s->map, max_slots);
    return kv_map_rehashing(&s->map);
}

bool kv_store_rehashing(const struct kv_store *s)
{
    return kv_map_rehashing(&s->map);
}

char *kv_key_text(const json_t *key, char *buf, size_t size)
{
    /* Small integers are by far the commonest key; skip the encoder. */
    if (json_is_integer(key) && size >= 24) {
        json_int_t v = json_integer_value(key);
        uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
        char tmp[24];
        char *p = tmp + sizeof tmp;
        do {
            *--p = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        if (v < 0)
            *--p = '-';
        size_t n = (size_t)(tmp + sizeof tmp - p);
        memcpy(buf, p, n);
        buf[n] = '\0';
        return buf;
    }
    /* Redis keys: a string needing no escapes is itself between quotes,
     * exactly what the encoder would write. */
    if (json_is_string(key)) {
        const char *s = json_string_value(key);
        size_t len = json_string_length(key);
        if (len + 3 <= size && kv_plain_ascii(s, len)) {
            buf[0] = '"';
            memcpy(buf + 1, s, len);
            buf[len + 1] = '"';
            buf[len + 2] = '\0';
            return buf;
        }
    }
    size_t n = json_dumpb(key, buf, size, KV_KEY_FLAGS);
    if (n == 0)
        return NULL;
    if (n < size) {
        buf[n] = '\0';
        return buf;
    }
    return json_dumps(key, KV_KEY_FLAGS);
}

/* ---- what the operations share ---- */

struct kv_map_entry *kv_live(struct kv_store *s, const struct kv_str *key, int64_t now_ms)
{
    struct kv_map_entry *e = kv_map_get(&s->map, (const char *)key->p, key->n);
    if (!e)
        return NULL;
    int64_t at = kv_map_expiry(&s->map, e);
    return at == 0 || at > now_ms ? e : NULL;
}

struct kv_map_entry *kv_live_w(struct kv_store *s, const struct kv_str *key, int64_t now_ms)
{
    struct kv_map_entry *e = kv_map_get(&s->map, (const char *)key->p, key->n);
    int64_t at = e ? kv_map_expiry(&s->map, e) : 0;
    if (at != 0 && at <= now_ms) {
        kv_store_del(s, (const char *)key->p, key->n);
        return NULL;
    }
    return e;
}

size_t kv_delete_bucket(const char *key, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a: fixed, so every member agrees */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)key[i]) * 16777619u;
    return h % KV_DELETE_BUCKETS;
}

void kv_store_touch_absent(struct kv_store *s, const char *key, size_t len)
{
    s->deleted[kv_delete_bucket(key, len)] = ++s->version;
}

int kv_store_del(struct kv_store *s, const char *key, size_t len)
{
    if (!kv_map_del(&s->map, key, len))
        return 0;
    s->deleted[kv_delete_bucket(key, len)] = ++s->version;
    return 1;
}

struct kv_map_entry *kv_store_put(struct kv_store *s, const char *key, size_t len, uint8_t type,
                                  const void *value, size_t value_len)
{
    struct kv_map_entry *e = kv_map_put(&s->map, key, len, type, value, value_len);
    if (e)
        e->version = ++s->version;
    return e;
}

void kv_res(struct kv_result *r, int code, const char *fmt, ...)
{
    r->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->text, sizeof r->text, fmt, ap);
    va_end(ap);
}

int kv_res_bytes(struct kv_result *r, const void *p, size_t n)
{
    free(r->bytes);
    r->bytes = malloc(n ? n : 1);
    if (!r->bytes) {
        r->len = 0;
        kv_res(r, KV_ERR_MALFORMED, "out of memory");
        return -1;
    }
    if (n)
        memcpy(r->bytes, p, n);
    r->len = n;
    return 0;
}

bool kv_cluster_id(const struct kv_store *s, uint8_t out[CLUSTER_ID_BYTES])
{
    if (s->has_cluster_id)
        memcpy(out, s->cluster_id, CLUSTER_ID_BYTES);
    return s->has_cluster_id;
}

bool kv_has_map_key(const struct kv_store *s)
{
    uint8_t key[KV_MAP_KEY_BYTES];
    return kv_map_key(&s->map, key);
}

int64_t kv_store_time(const struct kv_store *s)
{
    return s->time_ms;
}

/* The first valid id applied is the cluster's, and its hash key, if the
 * entry carries one, the map's (map.h); the same id again changes
 * nothing but a missing hash key; another is refused. Deterministic: every node applies the same
 * entries in the same order and so keeps the same id. */
void kv_op_cluster_id(struct kv_store *s, const struct kv_command *c, int64_t now,
                      struct kv_result *r)
{
    (void)now;
    uint8_t id[CLUSTER_ID_BYTES], key[KV_MAP_KEY_BYTES];
    const char *hex = json_string_value(c->value);
    if (!hex || cluster_id_parse(hex, json_string_length(c->value), id) != 0) {
        kv_res(r, KV_ERR_MALFORMED, "cluster id must be 32 hex digits, not all zero");
        return;
    }
    const char *key_hex = json_string_value(c->to);
    if (c->to && (!key_hex || cluster_id_parse(key_hex, json_string_length(c->to), key) != 0)) {
        kv_res(r, KV_ERR_MALFORMED, "hash key must be 32 hex digits, not all zero");
        return;
    }
    if (!s->has_cluster_id) {
        memcpy(s->cluster_id, id, sizeof id);
        s->has_cluster_id = true;
        if (c->to)
            kv_map_set_key(&s->map, key);
        return;
    }
    if (memcmp(s->cluster_id, id, sizeof id) != 0) {
        char have[CLUSTER_ID_HEX_LEN + 1];
        cluster_id_hex(s->cluster_id, have);
        kv_res(r, KV_ERR_PRECONDITION, "cluster id is already %s", have);
        return;
    }
    /* The id without a key (a restored backup holds none): the first key
     * applied is the cluster's; once there is one, it stays. */
    if (c->to && !kv_has_map_key(s))
        kv_map_set_key(&s->map, key);
}

/* Whether the command has the fields its row asks for. */
static bool has_fields(const struct kv_op_def *d, const struct kv_command *c)
{
    bool json = d->flags & KV_JSON_FAMILY;
    if ((d->flags & KV_NEEDS_KEY) && !(json ? c->key != NULL : c->skey.p != NULL))
        return false;
    if ((d->flags & KV_NEEDS_ARG0) && !(json ? (c->value || c->from) : c->arg[0].p != NULL))
        return false;
    if ((d->flags & KV_NEEDS_ARG1) && !(json ? c->to != NULL : c->arg[1].p != NULL))
        return false;
    return true;
}

void kv_apply(struct kv_store *s, const struct kv_command *c, int64_t now_ms, struct kv_result *r)
{
    memset(r, 0, sizeof *r);
    const struct kv_op_def *d = kv_op_def((unsigned)c->op);
    if (!d) {
        kv_res(r, KV_ERR_MALFORMED, "unknown operation");
        return;
    }
    if (!has_fields(d, c)) {
        kv_res(r, KV_ERR_MALFORMED, "%s lacks a field it needs", d->name);
        return;
    }
    d->apply(s, c, now_ms, r);
}

void kv_apply_bytes(struct kv_store *s, const uint8_t *data, size_t len, int64_t fallback_ms,
                    struct kv_result *r)
{
    struct kv_command c;
    if (kv_command_decode(data, len, &c) != 0) {
        memset(r, 0, sizeof *r);
        kv_res(r, KV_ERR_MALFORMED, "undecodable command");
        return;
    }
    int64_t t = kv_entry_time(data, len);
    if (t < 0)
        t = fallback_ms;
    else if (t > s->time_ms)
        s->time_ms = t;
    kv_apply(s, &c, t, r);
    kv_command_release(&c);
}

bool kv_prefetch_slot(const struct kv_store *s, const uint8_t *data, size_t len, uint64_t *h)
{
    const uint8_t *key;
    size_t n;
    if (!kv_entry_key_hint(data, len, &key, &n))
        return false;
    *h = kv_map_prefetch_slot(&s->map, (const char *)key, n);
    return true;
}

void kv_prefetch_entry(const struct kv_store *s, uint64_t h)
{
    kv_map_prefetch_entry(&s->map, h);
}

bool kv_store_equal(const struct kv_store *a, const struct kv_store *b)
{
    if (a->map.size != b->map.size || a->has_cluster_id != b->has_cluster_id ||
        memcmp(a->cluster_id, b->cluster_id, CLUSTER_ID_BYTES) != 0 ||
        memcmp(a->deleted, b->deleted, sizeof a->deleted) != 0)
        return false;
    size_t pos = 0;
    for (const struct kv_map_entry *e; (e = kv_map_next(&a->map, &pos));) {
        const struct kv_map_entry *f = kv_map_get(&b->map, kv_entry_key(e), kv_entry_key_len(e));
        if (!f || f->type != e->type || kv_entry_value_len(f) != kv_entry_value_len(e) ||
            kv_map_expiry(&b->map, f) != kv_map_expiry(&a->map, e) ||
            memcmp(kv_entry_value(f), kv_entry_value(e), kv_entry_value_len(e)) != 0)
            return false;
    }
    return true;
}
