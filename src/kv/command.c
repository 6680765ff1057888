/* command.c - a KV command as the bytes of a Raft log entry.
 *
 * The JSON family (kv.h) is compact JSON with sorted keys,
 * {"op":"w","k":K,"v":V} / {"op":"c","k":K,"f":A,"t":B} / {"op":"r","k":K} /
 * {"op":"d","k":K}, and {"id":"<32 hex>","op":"i"} for the cluster id: the
 * Maelstrom wire format embeds such an entry as it is, and traces stay
 * readable.
 *
 * The string family is a binary batch, every integer little-endian:
 *   magic u8 0xB5, version u8 1, time i64 (the leader's clock, ms; 0 until
 *   stamped), multi u8 (1: the ops are one KV_MULTI; 0: exactly one op),
 *   n_ops u32, then each op:
 *     op u8, flags u32, num0 i64, num1 i64, present u8 (bit 0 key, 1 arg0,
 *     2 arg1), then for each present field: len u32, bytes
 * The first byte tells the families apart (JSON text starts with '{'). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kv/ops.h"
#include "storage/le.h"

static bool string_op(enum kv_op op);
static int encode_batch(const struct kv_command *c, uint8_t **data, size_t *len);
static int decode_batch(const uint8_t *data, size_t len, struct kv_command *c);
#define ENTRY_MAGIC 0xB5

static const char *const op_names[] = {[KV_READ] = "r", [KV_WRITE] = "w", [KV_CAS] = "c",
                                       [KV_DELETE] = "d", [KV_CLUSTER_ID] = "i"};

/* {"h":K,"id":V,"op":"i"}: no key, the id as its value, and the map's
 * hash key (optional) as `to`. */
static int encode_cluster_id(const struct kv_command *c, uint8_t **data, size_t *len)
{
    if (!json_is_string(c->value) || c->key || (c->to && !json_is_string(c->to)))
        return -1;
    struct kv_text t = {0};
    if (c->to) {
        kv_text_member(&t, "{\"h\":", c->to);
        kv_text_member(&t, ",\"id\":", c->value);
    } else {
        kv_text_member(&t, "{\"id\":", c->value);
    }
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
    if (c->op == KV_MULTI || string_op(c->op))
        return encode_batch(c, data, len);
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
    if (data[0] == ENTRY_MAGIC) {
        if (decode_batch(data, len, c) == 0)
            return 0;
        kv_command_release(c);
        return -1;
    }
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
        c->to = take(o, "h");
        if (!json_is_string(c->value) || json_object_get(o, "k") ||
            (c->to && !json_is_string(c->to)))
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
    free(c->skey.p);
    free(c->arg[0].p);
    free(c->arg[1].p);
    for (size_t i = 0; i < c->n_sub; i++)
        kv_command_release(&c->sub[i]);
    free(c->sub);
    memset(c, 0, sizeof *c);
}

static int str_copy(struct kv_str *dst, const struct kv_str *src)
{
    *dst = (struct kv_str){0};
    return src->p ? kv_str_set(dst, src->p, src->n) : 0;
}

int kv_command_copy(struct kv_command *dst, const struct kv_command *src)
{
    *dst = *src;
    dst->key = json_incref(src->key);
    dst->value = json_incref(src->value);
    dst->from = json_incref(src->from);
    dst->to = json_incref(src->to);
    dst->skey = dst->arg[0] = dst->arg[1] = (struct kv_str){0};
    dst->sub = NULL;
    dst->n_sub = 0;
    int rc = str_copy(&dst->skey, &src->skey) | str_copy(&dst->arg[0], &src->arg[0]) |
             str_copy(&dst->arg[1], &src->arg[1]);
    if (rc == 0 && src->n_sub) {
        if (!(dst->sub = calloc(src->n_sub, sizeof *dst->sub)))
            rc = -1;
        for (; rc == 0 && dst->n_sub < src->n_sub; dst->n_sub++)
            rc = kv_command_copy(&dst->sub[dst->n_sub], &src->sub[dst->n_sub]);
    }
    if (rc != 0)
        kv_command_release(dst);
    return rc;
}

/* ---- the string family's binary batch ---- */

#define ENTRY_VERSION 1
#define ENTRY_HEAD 15 /* magic, version, time, multi, n_ops */
#define OP_HEAD 22    /* op, flags, num0, num1, present */
#define ENTRY_MAX_OPS (1u << 20)

static bool string_op(enum kv_op op)
{
    const struct kv_op_def *d = kv_op_def((unsigned)op);
    return d && !(d->flags & KV_JSON_FAMILY) && op != KV_MULTI;
}

static void put_field(struct kv_text *t, const struct kv_str *f)
{
    uint8_t n[4];
    le_put32(n, (uint32_t)f->n);
    kv_text_put(t, (const char *)n, 4);
    kv_text_put(t, (const char *)f->p, f->n);
}

static int put_op(struct kv_text *t, const struct kv_command *c)
{
    if (!string_op(c->op) || c->skey.n > UINT32_MAX || c->arg[0].n > UINT32_MAX ||
        c->arg[1].n > UINT32_MAX)
        return -1;
    uint8_t h[OP_HEAD];
    h[0] = (uint8_t)c->op;
    le_put32(h + 1, c->flags);
    le_put64(h + 5, (uint64_t)c->num[0]);
    le_put64(h + 13, (uint64_t)c->num[1]);
    h[21] = (uint8_t)((c->skey.p ? 1 : 0) | (c->arg[0].p ? 2 : 0) | (c->arg[1].p ? 4 : 0));
    kv_text_put(t, (const char *)h, sizeof h);
    if (c->skey.p)
        put_field(t, &c->skey);
    if (c->arg[0].p)
        put_field(t, &c->arg[0]);
    if (c->arg[1].p)
        put_field(t, &c->arg[1]);
    return 0;
}

static int encode_batch(const struct kv_command *c, uint8_t **data, size_t *len)
{
    bool multi = c->op == KV_MULTI;
    size_t n = multi ? c->n_sub : 1;
    if (n > ENTRY_MAX_OPS)
        return -1;
    uint8_t h[ENTRY_HEAD] = {ENTRY_MAGIC, ENTRY_VERSION};
    h[10] = multi;
    le_put32(h + 11, (uint32_t)n);
    struct kv_text t = {0};
    kv_text_put(&t, (const char *)h, sizeof h);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = put_op(&t, multi ? &c->sub[i] : c);
    if (rc != 0 || t.err) {
        free(t.p);
        return -1;
    }
    *data = (uint8_t *)t.p;
    *len = t.len;
    return 0;
}

struct rd {
    const uint8_t *p, *end;
};

static int get_field(struct rd *d, struct kv_str *f)
{
    if (d->end - d->p < 4)
        return -1;
    size_t n = le_get32(d->p);
    d->p += 4;
    if ((size_t)(d->end - d->p) < n || kv_str_set(f, d->p, n) != 0)
        return -1;
    d->p += n;
    return 0;
}

static int get_op(struct rd *d, struct kv_command *c)
{
    if (d->end - d->p < OP_HEAD)
        return -1;
    const uint8_t *h = d->p;
    c->op = (enum kv_op)h[0];
    c->flags = le_get32(h + 1);
    c->num[0] = (int64_t)le_get64(h + 5);
    c->num[1] = (int64_t)le_get64(h + 13);
    uint8_t present = h[21];
    d->p += OP_HEAD;
    if (!string_op(c->op) || present > 7)
        return -1;
    /* The row's fields must all be there. */
    unsigned needs = kv_op_def((unsigned)c->op)->flags;
    if (((needs & KV_NEEDS_KEY) && !(present & 1)) || ((needs & KV_NEEDS_ARG0) && !(present & 2)) ||
        ((needs & KV_NEEDS_ARG1) && !(present & 4)))
        return -1;
    if (((present & 1) && get_field(d, &c->skey) != 0) ||
        ((present & 2) && get_field(d, &c->arg[0]) != 0) ||
        ((present & 4) && get_field(d, &c->arg[1]) != 0))
        return -1;
    return 0;
}

static int decode_batch(const uint8_t *data, size_t len, struct kv_command *c)
{
    if (len < ENTRY_HEAD || data[1] != ENTRY_VERSION || data[10] > 1)
        return -1;
    bool multi = data[10];
    size_t n = le_get32(data + 11);
    struct rd d = {data + ENTRY_HEAD, data + len};
    if ((!multi && n != 1) || n > (size_t)(d.end - d.p) / OP_HEAD)
        return -1;
    if (!multi)
        return get_op(&d, c) == 0 && d.p == d.end ? 0 : -1;
    c->op = KV_MULTI;
    if (n && !(c->sub = calloc(n, sizeof *c->sub)))
        return -1;
    for (; c->n_sub < n; c->n_sub++)
        if (get_op(&d, &c->sub[c->n_sub]) != 0) {
            c->n_sub++;
            return -1;
        }
    return d.p == d.end ? 0 : -1;
}

bool kv_entry_key_hint(const uint8_t *data, size_t len, const uint8_t **key, size_t *key_len)
{
    /* One op (not MULTI) with its key present: the key is the op's first field. */
    if (!data || len < ENTRY_HEAD + OP_HEAD + 4 || data[0] != ENTRY_MAGIC || data[1] != ENTRY_VERSION ||
        data[10] != 0 || !(data[ENTRY_HEAD + 21] & 1))
        return false;
    size_t n = le_get32(data + ENTRY_HEAD + OP_HEAD);
    if (n > len - (ENTRY_HEAD + OP_HEAD + 4))
        return false;
    *key = data + ENTRY_HEAD + OP_HEAD + 4;
    *key_len = n;
    return true;
}

int64_t kv_entry_time(const uint8_t *data, size_t len)
{
    if (!data || len < ENTRY_HEAD || data[0] != ENTRY_MAGIC)
        return -1;
    return (int64_t)le_get64(data + 2);
}

void kv_entry_stamp(uint8_t *data, size_t len, int64_t time_ms)
{
    if (data && len >= ENTRY_HEAD && data[0] == ENTRY_MAGIC)
        le_put64(data + 2, (uint64_t)time_ms);
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
