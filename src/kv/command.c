/* command.c - a KV command as the bytes of a Raft log entry: compact JSON
 * with sorted keys, {"op":"w","k":K,"v":V} / {"op":"c","k":K,"f":A,"t":B} /
 * {"op":"r","k":K} / {"op":"d","k":K}, and {"id":"<32 hex>","op":"i"} for
 * the cluster id (kv.h). JSON keeps the log readable in traces
 * and lets the Maelstrom wire format embed an entry as it is. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv_internal.h"

static const char *const op_names[] = {[KV_READ] = "r", [KV_WRITE] = "w", [KV_CAS] = "c",
                                       [KV_DELETE] = "d", [KV_CLUSTER_ID] = "i"};

/* {"id":V,"op":"i"}: no key, the id as its value. */
static int encode_cluster_id(const struct kv_command *c, uint8_t **data, size_t *len)
{
    if (!json_is_string(c->value) || c->key)
        return -1;
    struct kv_text t = {0};
    kv_text_member(&t, "{\"id\":", c->value);
    kv_text_put(&t, ",\"op\":\"i\"}", 10);
    if (t.err) {
        free(t.p);
        return -1;
    }
    t.p[t.len] = '\0';
    *data = (uint8_t *)t.p;
    *len = t.len;
    return 0;
}

/* Hand-made rather than through a jansson object: this runs once per client
 * write. The members come in sorted order (f, k, op, t, v), so the bytes
 * equal what json_dumps(..., JSON_COMPACT | JSON_SORT_KEYS) would make. */
int kv_command_encode(const struct kv_command *c, uint8_t **data, size_t *len)
{
    if (c->op == KV_CLUSTER_ID)
        return encode_cluster_id(c, data, len);
    if ((unsigned)c->op > KV_DELETE || !c->key)
        return -1;
    if (c->op == KV_WRITE && !c->value)
        return -1;
    if (c->op == KV_CAS && (!c->from || !c->to))
        return -1;
    struct kv_text t = {0};
    if (c->op == KV_CAS) {
        kv_text_member(&t, "{\"f\":", c->from);
        kv_text_member(&t, ",\"k\":", c->key);
    } else {
        kv_text_member(&t, "{\"k\":", c->key);
    }
    static const char *const op_members[] = {[KV_READ] = ",\"op\":\"r\"",
                                             [KV_WRITE] = ",\"op\":\"w\"",
                                             [KV_CAS] = ",\"op\":\"c\"",
                                             [KV_DELETE] = ",\"op\":\"d\""};
    kv_text_put(&t, op_members[c->op], strlen(op_members[c->op]));
    if (c->op == KV_CAS)
        kv_text_member(&t, ",\"t\":", c->to);
    if (c->op == KV_WRITE)
        kv_text_member(&t, ",\"v\":", c->value);
    kv_text_put(&t, "}", 1);
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

/* ---- The fast path: the canonical bytes kv_command_encode makes for
 * plain strings and small integers, read without jansson's parser. It
 * accepts only input that json_loadb would read as the same values and
 * gives up on anything else, which the general path then reads; so it
 * changes speed, never meaning. */

struct scan {
    const char *p, *end;
};

static bool scan_lit(struct scan *sc, const char *lit, size_t n)
{
    if ((size_t)(sc->end - sc->p) < n || memcmp(sc->p, lit, n) != 0)
        return false;
    sc->p += n;
    return true;
}

/* A plain string or an integer of at most 18 digits (no leading zeros,
 * as JSON demands), as a new reference; NULL to give up. */
static json_t *scan_value(struct scan *sc)
{
    const char *p = sc->p;
    if (p < sc->end && *p == '"') {
        const char *q = ++p;
        while (q < sc->end && *q != '"') {
            unsigned char ch = (unsigned char)*q;
            if (ch < 0x20 || ch > 0x7e || ch == '\\')
                return NULL;
            q++;
        }
        if (q == sc->end)
            return NULL;
        sc->p = q + 1;
        return json_stringn_nocheck(p, (size_t)(q - p));
    }
    bool neg = p < sc->end && *p == '-';
    p += neg;
    const char *digits = p;
    json_int_t v = 0;
    while (p < sc->end && *p >= '0' && *p <= '9' && p - digits < 18)
        v = v * 10 + (*p++ - '0');
    size_t nd = (size_t)(p - digits);
    if (nd == 0 || (nd > 1 && digits[0] == '0') ||
        (p < sc->end && ((*p >= '0' && *p <= '9') || *p == '.' || *p == 'e' || *p == 'E')))
        return NULL;
    sc->p = p;
    return json_integer(neg ? -v : v);
}

/* 0, or -1 to leave the bytes to the general path (c is then partly
 * filled; the caller releases it). */
static int decode_canonical(const uint8_t *data, size_t len, struct kv_command *c)
{
    struct scan sc = {(const char *)data, (const char *)data + len};
    bool cas = scan_lit(&sc, "{\"f\":", 5);
    if (cas && (!(c->from = scan_value(&sc)) || !scan_lit(&sc, ",\"k\":", 5)))
        return -1;
    if (!cas && !scan_lit(&sc, "{\"k\":", 5))
        return -1;
    if (!(c->key = scan_value(&sc)) || !scan_lit(&sc, ",\"op\":\"", 7) || sc.end - sc.p < 2 ||
        sc.p[1] != '"')
        return -1;
    char op = sc.p[0];
    sc.p += 2;
    if (cas) {
        if (op != 'c' || !scan_lit(&sc, ",\"t\":", 5) || !(c->to = scan_value(&sc)))
            return -1;
        c->op = KV_CAS;
    } else if (op == 'w') {
        if (!scan_lit(&sc, ",\"v\":", 5) || !(c->value = scan_value(&sc)))
            return -1;
        c->op = KV_WRITE;
    } else if (op == 'r' || op == 'd') {
        c->op = op == 'r' ? KV_READ : KV_DELETE;
    } else {
        return -1;
    }
    return scan_lit(&sc, "}", 1) && sc.p == sc.end ? 0 : -1;
}

int kv_command_decode(const uint8_t *data, size_t len, struct kv_command *c)
{
    memset(c, 0, sizeof *c);
    if (!data || len == 0)
        return -1;
    if (decode_canonical(data, len, c) == 0)
        return 0;
    kv_command_release(c);
    json_t *o = json_loadb((const char *)data, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return -1;
    }
    const char *op = json_string_value(json_object_get(o, "op"));
    int rc = -1;
    if (op && op[0] && !op[1]) {
        for (int i = KV_READ; i <= KV_CLUSTER_ID; i++) {
            if (op[0] == op_names[i][0]) {
                c->op = (enum kv_op)i;
                rc = 0;
            }
        }
    }
    if (rc == 0 && c->op == KV_CLUSTER_ID) {
        c->value = take(o, "id");
        if (!json_is_string(c->value) || json_object_get(o, "k"))
            rc = -1;
    } else if (rc == 0) {
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

static int scalar(const json_t *v)
{
    return v && !json_is_object(v) && !json_is_array(v);
}

int kv_command_scalar(const struct kv_command *c)
{
    switch (c->op) {
    case KV_READ:
    case KV_DELETE:
        return scalar(c->key);
    case KV_WRITE:
        return scalar(c->key) && scalar(c->value);
    case KV_CAS:
        return scalar(c->key) && scalar(c->from) && scalar(c->to);
    case KV_CLUSTER_ID:
        return 0; /* rare: always applied from its bytes */
    default:
        return 0;
    }
}
