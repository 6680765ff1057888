/* ops_json.c - the Maelstrom node's operations: read, write, compare-and-set
 * and delete on JSON keys and values. A key is stored as its canonical text
 * and a value as its canonical JSON text (type KV_TYPE_JSON), so values
 * compare as JSON values: 1 and "1" differ, objects compare by content. */
#include <stdlib.h>
#include <string.h>

#include "kv/ops.h"

/* The canonical text of c->key, in buf or malloc'd (kv_key_text). */
struct key_text {
    char buf[256];
    char *p;
    size_t n;
};

static int key_open(struct key_text *k, const json_t *key, struct kv_result *r)
{
    k->p = kv_key_text(key, k->buf, sizeof k->buf);
    if (!k->p) {
        kv_res(r, KV_ERR_MALFORMED, "key cannot be encoded");
        return -1;
    }
    k->n = strlen(k->p);
    return 0;
}

static void key_close(struct key_text *k)
{
    if (k->p && k->p != k->buf)
        free(k->p);
}

/* A stored value's JSON text as a jansson value (a new reference). */
static json_t *value_parse(const char *v, size_t len)
{
    if (len >= 2 && v[0] == '"' && v[len - 1] == '"' && kv_plain_ascii(v + 1, len - 2))
        return json_stringn_nocheck(v + 1, len - 2);
    return json_loadb(v, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
}

/* Store v's canonical text under the key. */
static int put_json(struct kv_store *s, const struct key_text *k, const json_t *v)
{
    struct kv_text t = {0};
    kv_text_value(&t, v);
    int rc = t.err || !kv_store_put(s, k->p, k->n, KV_TYPE_JSON, t.p, t.len) ? -1 : 0;
    free(t.p);
    return rc;
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

void kv_op_read(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r)
{
    (void)now;
    struct key_text k;
    if (key_open(&k, c->key, r) != 0)
        return;
    const struct kv_map_entry *e = kv_map_get(&s->map, k.p, k.n);
    if (!e)
        kv_res(r, KV_ERR_NO_KEY, "key does not exist");
    else if (e->type != KV_TYPE_JSON || !(r->value = value_parse(kv_entry_value(e), kv_entry_value_len(e))))
        kv_res(r, KV_ERR_MALFORMED, "stored value is not JSON");
    key_close(&k);
}

void kv_op_write(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r)
{
    (void)now;
    struct key_text k;
    if (key_open(&k, c->key, r) != 0)
        return;
    if (put_json(s, &k, c->value) != 0)
        kv_res(r, KV_ERR_MALFORMED, "write failed");
    key_close(&k);
}

/* Equal canonical texts are equal values; texts that differ may still be
 * equal numbers (0.0 and -0.0), which jansson decides. */
static bool same_value(const struct kv_map_entry *e, const json_t *want)
{
    struct kv_text t = {0};
    kv_text_value(&t, want);
    bool same = !t.err && kv_entry_value_len(e) == t.len && memcmp(kv_entry_value(e), t.p, t.len) == 0;
    free(t.p);
    if (same || !json_is_number(want))
        return same;
    json_t *have = value_parse(kv_entry_value(e), kv_entry_value_len(e));
    same = have && json_equal(have, want);
    json_decref(have);
    return same;
}

void kv_op_cas(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r)
{
    (void)now;
    struct key_text k;
    if (key_open(&k, c->key, r) != 0)
        return;
    const struct kv_map_entry *e = kv_map_get(&s->map, k.p, k.n);
    if (!e) {
        kv_res(r, KV_ERR_NO_KEY, "key does not exist");
    } else if (e->type != KV_TYPE_JSON || !same_value(e, c->from)) {
        char want[48], have[48];
        value_brief(c->from, want, sizeof want);
        json_t *cur = value_parse(kv_entry_value(e), kv_entry_value_len(e));
        value_brief(cur, have, sizeof have);
        json_decref(cur);
        kv_res(r, KV_ERR_PRECONDITION, "expected %s, had %s", want, have);
    } else if (put_json(s, &k, c->to) != 0) {
        kv_res(r, KV_ERR_MALFORMED, "cas failed");
    }
    key_close(&k);
}

void kv_op_delete(struct kv_store *s, const struct kv_command *c, int64_t now,
                  struct kv_result *r)
{
    (void)now;
    struct key_text k;
    if (key_open(&k, c->key, r) != 0)
        return;
    if (!kv_store_del(s, k.p, k.n))
        kv_res(r, KV_ERR_NO_KEY, "key does not exist");
    key_close(&k);
}
