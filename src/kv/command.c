/* command.c - a KV command as the bytes of a Raft log entry: compact JSON
 * with sorted keys, {"op":"w","k":K,"v":V} / {"op":"c","k":K,"f":A,"t":B} /
 * {"op":"r","k":K} / {"op":"d","k":K}. JSON keeps the log readable in traces
 * and lets the Maelstrom wire format embed an entry as it is. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv_internal.h"

static const char *const op_names[] = {[KV_READ] = "r", [KV_WRITE] = "w", [KV_CAS] = "c",
                                       [KV_DELETE] = "d"};

/* A growable byte string for the encoder. */
struct text {
    char *p;
    size_t len, cap;
    int err;
};

/* Room for n more bytes and a NUL; false (and t->err) on OOM. */
static bool text_reserve(struct text *t, size_t n)
{
    if (t->err)
        return false;
    if (t->len + n + 1 <= t->cap)
        return true;
    size_t ncap = t->cap ? t->cap : 64;
    while (ncap < t->len + n + 1)
        ncap *= 2;
    char *p = realloc(t->p, ncap);
    if (!p) {
        t->err = 1;
        return false;
    }
    t->p = p;
    t->cap = ncap;
    return true;
}

static void text_put(struct text *t, const char *s, size_t n)
{
    if (!text_reserve(t, n))
        return;
    memcpy(t->p + t->len, s, n);
    t->len += n;
}

/* `"name":` then the value in the canonical form (compact, sorted keys). */
static void text_member(struct text *t, const char *name, const json_t *v)
{
    text_put(t, name, strlen(name));
    if (json_is_integer(v)) {
        char small[32];
        char *s = kv_key_text(v, small, sizeof small);
        text_put(t, s, strlen(s));
        return;
    }
    size_t need = json_dumpb(v, NULL, 0, KV_KEY_FLAGS);
    if (need == 0) {
        t->err = 1;
        return;
    }
    if (!text_reserve(t, need))
        return;
    t->len += json_dumpb(v, t->p + t->len, need, KV_KEY_FLAGS);
}

/* Hand-made rather than through a jansson object: this runs once per client
 * write. The members come in sorted order (f, k, op, t, v), so the bytes
 * equal what json_dumps(..., JSON_COMPACT | JSON_SORT_KEYS) would make. */
int kv_command_encode(const struct kv_command *c, uint8_t **data, size_t *len)
{
    if ((unsigned)c->op > KV_DELETE || !c->key)
        return -1;
    if (c->op == KV_WRITE && !c->value)
        return -1;
    if (c->op == KV_CAS && (!c->from || !c->to))
        return -1;
    struct text t = {0};
    if (c->op == KV_CAS) {
        text_member(&t, "{\"f\":", c->from);
        text_member(&t, ",\"k\":", c->key);
    } else {
        text_member(&t, "{\"k\":", c->key);
    }
    static const char *const op_members[] = {[KV_READ] = ",\"op\":\"r\"",
                                             [KV_WRITE] = ",\"op\":\"w\"",
                                             [KV_CAS] = ",\"op\":\"c\"",
                                             [KV_DELETE] = ",\"op\":\"d\""};
    text_put(&t, op_members[c->op], strlen(op_members[c->op]));
    if (c->op == KV_CAS)
        text_member(&t, ",\"t\":", c->to);
    if (c->op == KV_WRITE)
        text_member(&t, ",\"v\":", c->value);
    text_put(&t, "}", 1);
    if (t.err) {
        free(t.p);
        return -1;
    }
    t.p[t.len] = '\0';
    *data = (uint8_t *)t.p;
    *len = t.len;
    return 0;
}

/* A borrowed member as an owned reference, or NULL. */
static json_t *take(json_t *o, const char *name)
{
    return json_incref(json_object_get(o, name));
}

int kv_command_decode(const uint8_t *data, size_t len, struct kv_command *c)
{
    memset(c, 0, sizeof *c);
    if (!data || len == 0)
        return -1;
    json_t *o = json_loadb((const char *)data, len, JSON_DECODE_ANY, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return -1;
    }
    const char *op = json_string_value(json_object_get(o, "op"));
    int rc = -1;
    if (op && op[0] && !op[1]) {
        for (int i = KV_READ; i <= KV_DELETE; i++) {
            if (op[0] == op_names[i][0]) {
                c->op = (enum kv_op)i;
                rc = 0;
            }
        }
    }
    if (rc == 0) {
        c->key = take(o, "k");
        if (c->op == KV_WRITE)
            c->value = take(o, "v");
        if (c->op == KV_CAS) {
            c->from = take(o, "f");
            c->to = take(o, "t");
        }
        if (!c->key || (c->op == KV_WRITE && !c->value) ||
            (c->op == KV_CAS && (!c->from || !c->to)))
            rc = -1;
    }
    json_decref(o);
    if (rc != 0)
        kv_command_release(c);
    return rc;
}

void kv_command_release(struct kv_command *c)
{
    json_decref(c->key);
    json_decref(c->value);
    json_decref(c->from);
    json_decref(c->to);
    memset(c, 0, sizeof *c);
}
