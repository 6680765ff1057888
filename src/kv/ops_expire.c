/* ops_expire.c - deadlines: EXPIRE and its family (NX XX GT LT), TTL and
 * EXPIRETIME, PERSIST, the leader's active expiry (KV_EXPIRED), the count
 * INFO shows and the sampler that finds expired keys.
 *
 * Deadlines are absolute ms on the cluster's clock, which is the time the
 * leader stamps into each entry (replica.c: never behind the last stamped
 * time). A write decides at its entry's time, a read at the time stamped
 * when it is served; so every member agrees what has expired, and no
 * member deletes anything on its own: removal is an entry in the log. */
#include <stdlib.h>

#include "kv/ops.h"

static int64_t add_sat(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

/* Redis 7.0's order: the key, then NX/XX/GT/LT against the current
 * deadline (none counts as infinite for GT and LT), then a deadline not
 * after now deletes the key, and any other one is set. */
void kv_op_expire(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r)
{
    struct kv_map_entry *e = kv_live_w(s, &c->skey, now);
    if (!e)
        return; /* num 0 */
    int64_t when = c->flags & KV_EXPIRE_IN ? add_sat(now, c->num[0]) : c->num[0];
    int64_t cur = kv_map_expiry(&s->map, e);
    if (((c->flags & KV_EXPIRE_NX) && cur != 0) || ((c->flags & KV_EXPIRE_XX) && cur == 0) ||
        ((c->flags & KV_EXPIRE_GT) && (cur == 0 || when <= cur)) ||
        ((c->flags & KV_EXPIRE_LT) && cur != 0 && when >= cur))
        return;
    r->num = 1;
    if (when <= now) {
        kv_store_del(s, (const char *)c->skey.p, c->skey.n);
        return;
    }
    kv_map_set_expiry(&s->map, e, when);
    e->version = ++s->version;
}

void kv_op_ttl(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r)
{
    const struct kv_map_entry *e = kv_live(s, &c->skey, now);
    if (!e)
        r->num = -2;
    else if (kv_map_expiry(&s->map, e) == 0)
        r->num = -1;
    else
        r->num = c->flags & KV_TTL_AT ? kv_map_expiry(&s->map, e) : kv_map_expiry(&s->map, e) - now;
}

void kv_op_persist(struct kv_store *s, const struct kv_command *c, int64_t now,
                   struct kv_result *r)
{
    struct kv_map_entry *e = kv_live_w(s, &c->skey, now);
    if (!e || kv_map_expiry(&s->map, e) == 0)
        return;
    kv_map_set_expiry(&s->map, e, 0);
    e->version = ++s->version;
    r->num = 1;
}

void kv_op_expired(struct kv_store *s, const struct kv_command *c, int64_t now,
                   struct kv_result *r)
{
    const struct kv_map_entry *e = kv_map_get(&s->map, (const char *)c->skey.p, c->skey.n);
    if (e && kv_map_expiry(&s->map, e) != 0 && kv_map_expiry(&s->map, e) <= now)
        r->num = kv_store_del(s, (const char *)c->skey.p, c->skey.n);
}

size_t kv_store_expiring(const struct kv_store *s)
{
    return kv_map_expiring(&s->map);
}

int kv_expired_sample(const struct kv_store *s, int64_t now_ms, size_t *pos, size_t max_slots,
                      size_t max_keys, struct kv_command *cmd)
{
    *cmd = (struct kv_command){.op = KV_MULTI};
    const struct kv_map *m = &s->map;
    if (kv_map_expiring(m) == 0 || max_keys == 0)
        return 0;
    if (!(cmd->sub = calloc(max_keys, sizeof *cmd->sub)))
        return -1;
    /* The deadline table holds exactly the keys that have one. */
    const struct kv_expires *x = &m->expires;
    size_t p = *pos > x->mask ? 0 : *pos;
    for (size_t seen = 0; seen < max_slots && seen <= x->mask && cmd->n_sub < max_keys; seen++) {
        const struct kv_expires_slot *sl = &x->slots[p];
        p = (p + 1) & x->mask;
        if (!sl->entry || sl->at > now_ms)
            continue;
        const struct kv_map_entry *e = sl->entry;
        struct kv_command *sub = &cmd->sub[cmd->n_sub];
        *sub = (struct kv_command){.op = KV_EXPIRED};
        if (kv_str_set(&sub->skey, kv_entry_key(e), kv_entry_key_len(e)) != 0) {
            kv_command_release(cmd);
            return -1;
        }
        cmd->n_sub++;
    }
    *pos = p;
    return 0;
}
