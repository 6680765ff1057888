/* store.c - the replicated map itself: read, write, compare-and-set, delete
 * on JSON keys and values, compared as JSON values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv_internal.h"

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
    kv_map_free(&s->map);
    free(s);
}

size_t kv_store_size(const struct kv_store *s)
{
    return s->map.size;
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

static void result_set(struct kv_result *r, int code, json_t *value, const char *text)
{
    r->code = code;
    r->value = value;
    snprintf(r->text, sizeof r->text, "%s", text);
}

/* A short rendering of a value for error texts; truncated, never fails. */
static void value_brief(const json_t *v, char *out, size_t size)
{
    size_t n = v ? json_dumpb(v, out, size - 1, KV_KEY_FLAGS) : 0;
    if (n == 0 || n >= size - 1) {
        snprintf(out, size, "%s", v ? "(large value)" : "nothing");
        return;
    }
    out[n] = '\0';
}

bool kv_cluster_id(const struct kv_store *s, uint8_t out[CLUSTER_ID_BYTES])
{
    if (s->has_cluster_id)
        memcpy(out, s->cluster_id, CLUSTER_ID_BYTES);
    return s->has_cluster_id;
}

/* The first valid id applied is the cluster's; the same again changes
 * nothing; another is refused. Deterministic: every node applies the same
 * entries in the same order and so keeps the same id. */
static void apply_cluster_id(struct kv_store *s, const struct kv_command *c, struct kv_result *r)
{
    uint8_t id[CLUSTER_ID_BYTES];
    const char *hex = json_string_value(c->value);
    if (!hex || cluster_id_parse(hex, json_string_length(c->value), id) != 0) {
        result_set(r, KV_ERR_MALFORMED, NULL, "cluster id must be 32 hex digits, not all zero");
        return;
    }
    if (!s->has_cluster_id) {
        memcpy(s->cluster_id, id, sizeof id);
        s->has_cluster_id = true;
        return;
    }
    if (memcmp(s->cluster_id, id, sizeof id) != 0) {
        char have[CLUSTER_ID_HEX_LEN + 1];
        cluster_id_hex(s->cluster_id, have);
        r->code = KV_ERR_PRECONDITION;
        snprintf(r->text, sizeof r->text, "cluster id is already %s", have);
    }
}

void kv_apply(struct kv_store *s, const struct kv_command *c, struct kv_result *r)
{
    char buf[256], want[48], have[48];
    result_set(r, KV_OK, NULL, "");
    if (c->op == KV_CLUSTER_ID) {
        apply_cluster_id(s, c, r);
        return;
    }
    if (!c->key) {
        result_set(r, KV_ERR_MALFORMED, NULL, "command has no key");
        return;
    }
    char *k = kv_key_text(c->key, buf, sizeof buf);
    if (!k) {
        result_set(r, KV_ERR_MALFORMED, NULL, "key cannot be encoded");
        return;
    }
    size_t klen = strlen(k);
    /* A write needs no lookup of its own: kv_map_set finds the slot. */
    json_t *cur = c->op == KV_WRITE ? NULL : kv_map_get(&s->map, k, klen);
    switch (c->op) {
    case KV_READ:
        if (!cur)
            result_set(r, KV_ERR_NO_KEY, NULL, "key does not exist");
        else
            r->value = json_incref(cur);
        break;
    case KV_WRITE:
        if (!c->value)
            result_set(r, KV_ERR_MALFORMED, NULL, "write has no value");
        else if (kv_map_set(&s->map, k, klen, c->value) != 0)
            result_set(r, KV_ERR_MALFORMED, NULL, "write failed");
        break;
    case KV_CAS:
        if (!c->from || !c->to)
            result_set(r, KV_ERR_MALFORMED, NULL, "cas needs from and to");
        else if (!cur)
            result_set(r, KV_ERR_NO_KEY, NULL, "key does not exist");
        else if (!json_equal(cur, c->from)) {
            value_brief(c->from, want, sizeof want);
            value_brief(cur, have, sizeof have);
            r->code = KV_ERR_PRECONDITION;
            snprintf(r->text, sizeof r->text, "expected %s, had %s", want, have);
        } else if (kv_map_set(&s->map, k, klen, c->to) != 0)
            result_set(r, KV_ERR_MALFORMED, NULL, "cas failed");
        break;
    case KV_DELETE:
        if (!cur)
            result_set(r, KV_ERR_NO_KEY, NULL, "key does not exist");
        else
            kv_map_del(&s->map, k, klen);
        break;
    default:
        result_set(r, KV_ERR_MALFORMED, NULL, "unknown operation");
        break;
    }
    if (k != buf)
        free(k);
}

void kv_apply_bytes(struct kv_store *s, const uint8_t *data, size_t len, struct kv_result *r)
{
    struct kv_command c;
    if (kv_command_decode(data, len, &c) != 0) {
        result_set(r, KV_ERR_MALFORMED, NULL, "undecodable command");
        return;
    }
    kv_apply(s, &c, r);
    kv_command_release(&c);
}

bool kv_store_equal(const struct kv_store *a, const struct kv_store *b)
{
    if (a->map.size != b->map.size || a->has_cluster_id != b->has_cluster_id ||
        memcmp(a->cluster_id, b->cluster_id, CLUSTER_ID_BYTES) != 0)
        return false;
    size_t pos = 0;
    for (const struct kv_map_entry *e; (e = kv_map_next(&a->map, &pos));) {
        json_t *v = kv_map_get(&b->map, e->key, e->key_len);
        if (!v || !json_equal(v, e->value))
            return false;
    }
    return true;
}
