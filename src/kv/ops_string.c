/* ops_string.c - the Redis front end's operations on binary-safe string
 * values (type KV_TYPE_STR): GET, SET with its options, DEL, EXISTS, the
 * string compare-and-set, a key's version (WATCH), and MULTI, which applies
 * several as one. Every one sees a key whose deadline has passed (at the
 * entry's stamped time, or the read's) as absent. */
#include <stdlib.h>
#include <string.h>

#include "kv/ops.h"
#include "kv/script.h"

#define WRONGTYPE "WRONGTYPE Operation against a key holding the wrong kind of value"

static int put_str(struct kv_store *s, const struct kv_str *key, const struct kv_str *v,
                   int64_t expiry)
{
    struct kv_map_entry *e =
        kv_store_put(s, (const char *)key->p, key->n, KV_TYPE_STR, v->p, v->n);
    if (!e)
        return -1;
    return kv_map_set_expiry(&s->map, e, expiry);
}

void kv_op_get(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r)
{
    const struct kv_map_entry *e = kv_live(s, &c->skey, now);
    if (!e)
        kv_res(r, KV_ERR_NO_KEY, "key does not exist");
    else if (e->type != KV_TYPE_STR)
        kv_res(r, KV_ERR_TYPE, WRONGTYPE);
    else
        kv_res_bytes(r, kv_entry_value(e), kv_entry_value_len(e));
}

/* SET key value [NX|XX] [GET] [EX|PX|EXAT|PXAT t|KEEPTTL]: num 1 if it
 * set the value, 0 if NX/XX held it back; with GET, bytes is the old value
 * (NULL: there was none). A deadline already past deletes the key. */
void kv_op_set(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r)
{
    const struct kv_map_entry *e = kv_live_w(s, &c->skey, now);
    if ((c->flags & KV_SET_GET) && e) {
        if (e->type != KV_TYPE_STR) {
            kv_res(r, KV_ERR_TYPE, WRONGTYPE);
            return;
        }
        if (kv_res_bytes(r, kv_entry_value(e), kv_entry_value_len(e)) != 0)
            return;
    }
    if (((c->flags & KV_SET_NX) && e) || ((c->flags & KV_SET_XX) && !e)) {
        r->num = 0;
        return;
    }
    int64_t expiry = 0;
    if (c->flags & KV_SET_EXPIRE_IN)
        expiry = c->num[0] > INT64_MAX - now ? INT64_MAX : now + c->num[0];
    else if (c->flags & KV_SET_EXPIRE_AT)
        expiry = c->num[0];
    else if ((c->flags & KV_SET_KEEPTTL) && e)
        expiry = kv_map_expiry(&s->map, e);
    r->num = 1;
    if ((c->flags & (KV_SET_EXPIRE_IN | KV_SET_EXPIRE_AT)) && expiry <= now) {
        /* Set and gone at once: still a write of the key for WATCH, as in
         * Redis, even if it was absent before. */
        if (!kv_store_del(s, (const char *)c->skey.p, c->skey.n))
            kv_store_touch_absent(s, (const char *)c->skey.p, c->skey.n);
        return;
    }
    if (put_str(s, &c->skey, &c->arg[0], expiry) != 0)
        kv_res(r, KV_ERR_MALFORMED, "out of memory");
}

void kv_op_del(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r)
{
    r->num = kv_live_w(s, &c->skey, now) && kv_store_del(s, (const char *)c->skey.p, c->skey.n);
}

void kv_op_exists(struct kv_store *s, const struct kv_command *c, int64_t now,
                  struct kv_result *r)
{
    r->num = kv_live(s, &c->skey, now) != NULL;
}

/* A live key answers its version (> 0); an absent one minus the store's
 * counter (<= 0), so that a later check can tell whether a key of its
 * bucket was deleted since, or the key was written at all (even if it has
 * expired again). */
void kv_op_version(struct kv_store *s, const struct kv_command *c, int64_t now,
                   struct kv_result *r)
{
    const struct kv_map_entry *e = kv_live(s, &c->skey, now);
    r->num = e ? (int64_t)e->version : -(int64_t)s->version;
    if (!(c->flags & KV_VERSION_EXPECT))
        return;
    bool same;
    if (c->num[0] > 0) {
        same = r->num == c->num[0];
    } else {
        uint64_t then = (uint64_t)-c->num[0];
        const char *k = (const char *)c->skey.p;
        same = !e && !kv_map_get(&s->map, k, c->skey.n) &&
               s->deleted[kv_delete_bucket(k, c->skey.n)] <= then;
    }
    if (!same)
        kv_res(r, KV_ERR_PRECONDITION, "changed");
}

void kv_op_scas(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r)
{
    const struct kv_map_entry *e = kv_live_w(s, &c->skey, now);
    if (!e)
        kv_res(r, KV_ERR_NO_KEY, "key does not exist");
    else if (e->type != KV_TYPE_STR)
        kv_res(r, KV_ERR_TYPE, WRONGTYPE);
    else if (kv_entry_value_len(e) != c->arg[0].n || memcmp(kv_entry_value(e), c->arg[0].p, c->arg[0].n))
        kv_res(r, KV_ERR_PRECONDITION, "the key holds another value");
    else if (put_str(s, &c->skey, &c->arg[1], 0) != 0)
        kv_res(r, KV_ERR_MALFORMED, "out of memory");
}

/* Guards first, all reads; a failed guard applies nothing. */
void kv_op_multi(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r)
{
    bool past_guards = false;
    for (size_t i = 0; i < c->n_sub; i++) {
        const struct kv_command *sub = &c->sub[i];
        bool guard = sub->flags & KV_GUARD;
        if (sub->op == KV_MULTI || (guard && (past_guards || !kv_op_reads(sub->op)))) {
            kv_res(r, KV_ERR_MALFORMED, "malformed transaction");
            return;
        }
        past_guards |= !guard;
    }
    r->sub = calloc(c->n_sub ? c->n_sub : 1, sizeof *r->sub);
    if (!r->sub) {
        kv_res(r, KV_ERR_MALFORMED, "out of memory");
        return;
    }
    r->n_sub = c->n_sub;
    size_t i = 0;
    for (; i < c->n_sub && (c->sub[i].flags & KV_GUARD); i++) {
        kv_apply(s, &c->sub[i], now, &r->sub[i]);
        if (r->sub[i].code != KV_OK) {
            kv_res(r, KV_ERR_PRECONDITION, "a watched key changed");
            return;
        }
    }
    struct kv_script_tx tx; /* SCRIPT FLUSH, then EVALSHA, in one EXEC */
    kv_script_tx_begin(s, &tx);
    for (; i < c->n_sub; i++)
        kv_apply(s, &c->sub[i], now, &r->sub[i]);
    kv_script_tx_end(s, &tx);
}
