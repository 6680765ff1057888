/* ops_keys.c - the keyspace operations of the Redis front end: TYPE,
 * RENAME (and NX), COPY, KEYS, SCAN, RANDOMKEY, DBSIZE, FLUSH; the
 * kv_list their key lists travel in; and KEYS's list as it is gathered
 * (kv_keys_list, with its reply cap: already framed as the reply's RESP
 * bulk strings, kv.h's kv_bulks), which the stepped KEYS walk
 * (keys_walk.c) gathers through too. Reads see a key whose deadline has
 * passed (at the read's stamped time) as absent; writes remove it first,
 * at the entry's time, on every member alike. SCAN's cursor walks the
 * map's buckets under the cluster's hash key (map.h), so it means the same
 * on every member. */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kv/keys_walk.h"
#include "kv/map_walk.h"
#include "kv/ops.h"
#include "storage/le.h"

static const char *type_name(const struct kv_map_entry *e)
{
    return e->type == KV_TYPE_STR ? "string" : "json";
}

static bool live(const struct kv_map *m, const struct kv_map_entry *e, int64_t now)
{
    int64_t at = kv_map_expiry(m, e);
    return at == 0 || at > now;
}

static void list_put(struct kv_text *t, const char *key, size_t n)
{
    uint8_t len[4];
    le_put32(len, (uint32_t)n);
    kv_text_put(t, (const char *)len, 4);
    kv_text_put(t, key, n);
}

bool kv_list_next(const uint8_t *p, size_t n, size_t *pos, const uint8_t **key, size_t *key_len)
{
    if (*pos >= n || n - *pos < 4)
        return false;
    size_t len = le_get32(p + *pos);
    if (n - *pos - 4 < len)
        return false;
    *key = p + *pos + 4;
    *key_len = len;
    *pos += 4 + len;
    return true;
}

/* The list as the result's bytes (an empty list is 0 bytes, not none). */
static void res_list(struct kv_result *r, struct kv_text *t)
{
    if (t->err) {
        free(t->p);
        kv_res(r, KV_ERR_MALFORMED, "out of memory");
        return;
    }
    if (!t->p) {
        kv_res_bytes(r, "", 0);
        return;
    }
    r->bytes = (uint8_t *)t->p;
    r->len = t->len;
}

static bool whole_glob(const struct kv_str *pat)
{
    return !pat->p || (pat->n == 1 && pat->p[0] == '*');
}

void kv_op_type(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r)
{
    const struct kv_map_entry *e = kv_live(s, &c->skey, now);
    const char *name = e ? type_name(e) : "none";
    kv_res_bytes(r, name, strlen(name));
}

/* The deadline goes along, as in Redis; the old name is deleted (WATCH
 * sees both keys change). */
void kv_op_rename(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r)
{
    const struct kv_map_entry *e = kv_live_w(s, &c->skey, now);
    if (!e) {
        kv_res(r, KV_ERR_NO_KEY, "no such key");
        return;
    }
    bool nx = c->flags & KV_RENAME_NX;
    if (c->skey.n == c->arg[0].n && memcmp(c->skey.p, c->arg[0].p, c->skey.n) == 0) {
        r->num = !nx;
        return;
    }
    if (kv_live_w(s, &c->arg[0], now) && nx)
        return; /* num 0 */
    struct kv_map_entry *n = kv_store_put(s, (const char *)c->arg[0].p, c->arg[0].n, e->type,
                                          kv_entry_value(e), kv_entry_value_len(e));
    if (!n) {
        kv_res(r, KV_ERR_MALFORMED, "out of memory");
        return;
    }
    kv_map_set_expiry(&s->map, n, kv_map_expiry(&s->map, e));
    kv_store_del(s, (const char *)c->skey.p, c->skey.n);
    r->num = 1;
}

void kv_op_copy(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r)
{
    const struct kv_map_entry *e = kv_live_w(s, &c->skey, now);
    if (!e || (c->skey.n == c->arg[0].n && memcmp(c->skey.p, c->arg[0].p, c->skey.n) == 0))
        return; /* num 0 */
    if (kv_live_w(s, &c->arg[0], now) && !(c->flags & KV_COPY_REPLACE))
        return;
    struct kv_map_entry *n = kv_store_put(s, (const char *)c->arg[0].p, c->arg[0].n, e->type,
                                          kv_entry_value(e), kv_entry_value_len(e));
    if (!n) {
        kv_res(r, KV_ERR_MALFORMED, "out of memory");
        return;
    }
    kv_map_set_expiry(&s->map, n, kv_map_expiry(&s->map, e));
    r->num = 1;
}

void kv_keys_list_init(struct kv_keys_list *l, const struct kv_str *pat, int64_t now,
                       size_t max_bytes)
{
    *l = (struct kv_keys_list){.now = now, .max_bytes = max_bytes};
    if (!whole_glob(pat)) {
        l->pat = pat->p;
        l->plen = pat->n;
    }
}

/* One key as a RESP bulk string, "$<len>\r\n<key>\r\n", written straight
 * into the text (no printf): the reply's formatting is done here, a slice
 * at a time in the stepped walk. */
static void bulk_put(struct kv_text *t, const char *key, size_t len)
{
    char digits[24];
    size_t d = 0;
    size_t v = len;
    do {
        digits[d++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    if (!kv_text_reserve(t, len + d + 5))
        return;
    char *out = t->p + t->len;
    *out++ = '$';
    while (d)
        *out++ = digits[--d];
    *out++ = '\r';
    *out++ = '\n';
    memcpy(out, key, len);
    out += len;
    *out++ = '\r';
    *out++ = '\n';
    t->len = (size_t)(out - t->p);
}

bool kv_bulks_next(const uint8_t *p, size_t n, size_t *pos, const uint8_t **key, size_t *key_len)
{
    size_t i = *pos;
    if (i >= n || p[i] != '$')
        return false;
    size_t len = 0;
    bool digit = false;
    for (i++; i < n && p[i] >= '0' && p[i] <= '9'; i++, digit = true) {
        if (len > (SIZE_MAX - 9) / 10)
            return false;
        len = len * 10 + (size_t)(p[i] - '0');
    }
    if (!digit || n - i < 2 || p[i] != '\r' || p[i + 1] != '\n')
        return false;
    i += 2;
    if (n - i < len || n - i - len < 2 || p[i + len] != '\r' || p[i + len + 1] != '\n')
        return false;
    *key = p + i;
    *key_len = len;
    *pos = i + len + 2;
    return true;
}

void kv_keys_list_take(struct kv_keys_list *l, const char *key, size_t len, int64_t expiry)
{
    if (l->over || (expiry != 0 && expiry <= l->now))
        return;
    if (l->pat && !kv_glob_match((const char *)l->pat, l->plen, key, len))
        return;
    l->counted += len + KV_KEYS_REPLY_KEY_BYTES;
    if (l->max_bytes && l->counted > l->max_bytes) {
        l->over = true; /* the answer is the error: the keys are not needed */
        free(l->t.p);
        l->t = (struct kv_text){0};
        return;
    }
    bulk_put(&l->t, key, len);
    l->n++;
}

void kv_keys_list_result(struct kv_keys_list *l, struct kv_result *r)
{
    if (l->over) {
        kv_res(r, KV_ERR_MALFORMED,
               "KEYS reply would exceed %zu bytes (--max-output-bytes); use SCAN", l->max_bytes);
        return;
    }
    res_list(r, &l->t);
    if (r->code == KV_OK)
        r->num = (int64_t)l->n;
    l->t = (struct kv_text){0};
}

void kv_keys_list_release(struct kv_keys_list *l)
{
    free(l->t.p);
    l->t = (struct kv_text){0};
}

void kv_keys_once(struct kv_store *s, const struct kv_str *pat, int64_t now, size_t max_bytes,
                  struct kv_result *r)
{
    struct kv_keys_list l;
    kv_keys_list_init(&l, pat, now, max_bytes);
    size_t pos = 0;
    for (const struct kv_map_entry *e; !l.over && (e = kv_map_next(&s->map, &pos));)
        kv_keys_list_take(&l, kv_entry_key(e), kv_entry_key_len(e), kv_map_expiry(&s->map, e));
    kv_keys_list_result(&l, r);
}

/* Every live key the pattern matches, in one pass: O(N). A replica serves
 * a large map's KEYS in steps instead (keys_walk.h); this runs a KEYS
 * inside a transaction, on every member at apply time, so a map of the
 * entry's bound (num[0], kv.h) or more is refused without a pass. */
void kv_op_keys(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r)
{
    if (c->num[0] > 0 && s->map.size >= (uint64_t)c->num[0]) {
        kv_res(r, KV_ERR_MALFORMED,
               "KEYS inside MULTI on a key space of %" PRId64 " keys or more (--keys-walk-min) would "
               "hold every member's event loop; run KEYS outside MULTI or use SCAN",
               c->num[0]);
        return;
    }
    kv_keys_once(s, &c->arg[0], now, 0, r);
}

struct scan_ctx {
    struct kv_text t;
    const struct kv_map *m;
    const struct kv_command *c;
    int64_t now;
    bool all;
};

static void scan_visit(void *ctx, const struct kv_map_entry *e)
{
    struct scan_ctx *x = ctx;
    const struct kv_command *c = x->c;
    if (!live(x->m, e, x->now))
        return;
    if (c->arg[1].p && (strlen(type_name(e)) != c->arg[1].n ||
                        strncasecmp(type_name(e), (const char *)c->arg[1].p, c->arg[1].n) != 0))
        return;
    if (!x->all && !kv_glob_match((const char *)c->arg[0].p, c->arg[0].n, kv_entry_key(e), kv_entry_key_len(e)))
        return;
    list_put(&x->t, kv_entry_key(e), kv_entry_key_len(e));
}

/* As Redis: whole buckets until COUNT entries were seen (before MATCH and
 * TYPE filter them) or 10 * COUNT buckets were visited. */
void kv_op_scan(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r)
{
    uint64_t count = c->num[1] > 0 ? (uint64_t)c->num[1] : 10;
    uint64_t buckets = count > UINT64_MAX / 10 ? UINT64_MAX : count * 10;
    struct scan_ctx x = {.m = &s->map, .c = c, .now = now, .all = whole_glob(&c->arg[0])};
    uint64_t next = kv_map_scan(&s->map, (uint64_t)c->num[0], count, buckets, scan_visit, &x);
    res_list(r, &x.t);
    r->num = (int64_t)next;
}

struct live_ctx {
    const struct kv_map *m;
    int64_t now;
};

static bool accept_live(void *ctx, const struct kv_map_entry *e)
{
    const struct live_ctx *x = ctx;
    return live(x->m, e, x->now);
}

/* A slot from the seed, drawn again until it holds a live key: expected
 * O(1), and never more than num[1] slots, so when nearly every key's
 * deadline passed unremoved (a mass expiry the leader is still removing)
 * the answer may be "no keys" rather than a walk of the whole map. */
void kv_op_randomkey(struct kv_store *s, const struct kv_command *c, int64_t now,
                     struct kv_result *r)
{
    uint64_t seed = (uint64_t)c->num[0];
    size_t max_slots = c->num[1] > 0 ? (size_t)c->num[1] : KV_RANDOMKEY_MAX_SLOTS;
    struct live_ctx x = {.m = &s->map, .now = now};
    const struct kv_map_entry *e = kv_map_pick(&s->map, seed, max_slots, accept_live, &x);
    if (!e)
        kv_res(r, KV_ERR_NO_KEY, "no keys");
    else
        kv_res_bytes(r, kv_entry_key(e), kv_entry_key_len(e));
}

void kv_op_dbsize(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r)
{
    (void)c;
    (void)now;
    r->num = (int64_t)s->map.size;
}

/* A large map leaves whole: it moves into a store of its own
 * (kv_store.flushed, freed by the owner off the event loop) and an empty
 * one with the same hash key takes its place, so the work here does not
 * grow with the keys. Every delete bucket takes the new version: with 16
 * keys or more per bucket, each would have been hit but for a chance of
 * e^-16, and either way a WATCH may abort needlessly, never miss a
 * change. 0: done; -1: out of memory (nothing changed). */
static int flush_detach(struct kv_store *s, uint64_t v)
{
    struct kv_store *old = kv_store_new();
    if (!old)
        return -1;
    /* A snapshot walk over the map (map_walk.h) cannot follow it into a
     * store freed off the loop: it is abandoned, and tried again later. */
    kv_map_walk_detach(&s->map, "FLUSHALL detached the map");
    struct kv_map fresh = old->map;
    old->map = s->map;
    s->map = fresh;
    uint8_t key[KV_MAP_KEY_BYTES];
    if (kv_map_key(&old->map, key))
        kv_map_set_key(&s->map, key);
    for (size_t i = 0; i < KV_DELETE_BUCKETS; i++)
        s->deleted[i] = v;
    kv_store_free(s->flushed); /* one its owner never took */
    s->flushed = old;
    return 0;
}

/* Every key goes; a WATCH on any of them sees it deleted (its bucket of
 * kv_store.deleted takes the new version), a WATCH on an absent key is not
 * disturbed, as in Redis. O(N) below KV_FLUSH_DETACH_KEYS keys, O(1)
 * from there (flush_detach). */
void kv_op_flush(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r)
{
    (void)c;
    (void)now;
    if (s->map.size == 0)
        return;
    uint64_t v = ++s->version;
    if (s->map.size >= KV_FLUSH_DETACH_KEYS && flush_detach(s, v) == 0) {
        r->num = 1;
        return;
    }
    size_t pos = 0;
    for (const struct kv_map_entry *e; (e = kv_map_next(&s->map, &pos));)
        s->deleted[kv_delete_bucket(kv_entry_key(e), kv_entry_key_len(e))] = v;
    kv_map_clear(&s->map);
    r->num = 1;
}
