/* result.c - an operation's result (kv.h's struct kv_result): releasing,
 * copying, and the bytes a proxied answer carries between members:
 *   code u32, num i64, has_bytes u8, [len u32, bytes], text_len u8, text,
 *   n_sub u32, then n_sub results the same way (one level deep)
 * every integer little-endian. The bytes go as the operation left them
 * (KEYS's are kv_bulks, its reply's RESP framing, with num the count:
 * kv.h), so both members of a forward must run the same build. */
#include <stdlib.h>
#include <string.h>

#include "kv/kv_internal.h"
#include "storage/le.h"

void kv_result_release(struct kv_result *r)
{
    json_decref(r->value);
    free(r->bytes);
    for (size_t i = 0; i < r->n_sub; i++)
        kv_result_release(&r->sub[i]);
    free(r->sub);
    memset(r, 0, sizeof *r);
}

int kv_result_copy(struct kv_result *dst, const struct kv_result *src)
{
    *dst = *src;
    dst->value = json_incref(src->value);
    dst->bytes = NULL;
    dst->sub = NULL;
    dst->n_sub = 0;
    if (src->bytes && !(dst->bytes = malloc(src->len ? src->len : 1)))
        goto fail;
    if (src->bytes && src->len)
        memcpy(dst->bytes, src->bytes, src->len);
    if (src->n_sub) {
        if (!(dst->sub = calloc(src->n_sub, sizeof *dst->sub)))
            goto fail;
        for (; dst->n_sub < src->n_sub; dst->n_sub++)
            if (kv_result_copy(&dst->sub[dst->n_sub], &src->sub[dst->n_sub]) != 0)
                goto fail;
    }
    return 0;
fail:
    kv_result_release(dst);
    return -1;
}

int kv_str_set(struct kv_str *s, const void *p, size_t n)
{
    uint8_t *q = malloc(n ? n : 1);
    if (!q)
        return -1;
    if (n)
        memcpy(q, p, n);
    free(s->p);
    s->p = q;
    s->n = n;
    return 0;
}

static void put_result(struct kv_text *t, const struct kv_result *r, bool top)
{
    uint8_t head[13];
    le_put32(head, (uint32_t)r->code);
    le_put64(head + 4, (uint64_t)r->num);
    head[12] = r->bytes != NULL;
    kv_text_put(t, (const char *)head, sizeof head);
    if (r->bytes) {
        uint8_t n[4];
        le_put32(n, (uint32_t)r->len);
        kv_text_put(t, (const char *)n, 4);
        kv_text_put(t, (const char *)r->bytes, r->len);
    }
    size_t tl = strnlen(r->text, sizeof r->text - 1);
    uint8_t l = (uint8_t)tl; /* < sizeof r->text */
    kv_text_put(t, (const char *)&l, 1);
    kv_text_put(t, r->text, l);
    uint8_t n[4];
    le_put32(n, top ? (uint32_t)r->n_sub : 0);
    kv_text_put(t, (const char *)n, 4);
    for (size_t i = 0; top && i < r->n_sub; i++)
        put_result(t, &r->sub[i], false);
}

int kv_result_encode(const struct kv_result *r, uint8_t **data, size_t *len)
{
    if (r->len > UINT32_MAX || r->n_sub > UINT32_MAX)
        return -1;
    struct kv_text t = {0};
    kv_text_reserve(&t, r->len + 64); /* a large answer is copied once, not grown into */
    put_result(&t, r, true);
    if (t.err) {
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

static bool need(struct rd *d, size_t n)
{
    return (size_t)(d->end - d->p) >= n;
}

static int get_result(struct rd *d, struct kv_result *r, bool top)
{
    if (!need(d, 13))
        return -1;
    r->code = (int)le_get32(d->p);
    r->num = (int64_t)le_get64(d->p + 4);
    bool has = d->p[12];
    d->p += 13;
    if (has) {
        if (!need(d, 4))
            return -1;
        size_t n = le_get32(d->p);
        d->p += 4;
        if (!need(d, n) || !(r->bytes = malloc(n ? n : 1)))
            return -1;
        memcpy(r->bytes, d->p, n);
        r->len = n;
        d->p += n;
    }
    if (!need(d, 1) || !need(d, 1 + (size_t)d->p[0]))
        return -1;
    size_t tl = d->p[0];
    if (tl >= sizeof r->text)
        return -1;
    memcpy(r->text, d->p + 1, tl);
    r->text[tl] = '\0';
    d->p += 1 + tl;
    if (!need(d, 4))
        return -1;
    size_t n_sub = le_get32(d->p);
    d->p += 4;
    if (n_sub == 0)
        return 0;
    /* Each result takes at least 18 bytes: a count beyond that is a lie. */
    if (!top || n_sub > (size_t)(d->end - d->p) / 18 || !(r->sub = calloc(n_sub, sizeof *r->sub)))
        return -1;
    for (; r->n_sub < n_sub; r->n_sub++)
        if (get_result(d, &r->sub[r->n_sub], false) != 0) {
            r->n_sub++;
            return -1;
        }
    return 0;
}

int kv_result_decode(const uint8_t *data, size_t len, struct kv_result *r)
{
    memset(r, 0, sizeof *r);
    struct rd d = {data, data + len};
    if (get_result(&d, r, true) != 0 || d.p != d.end) {
        kv_result_release(r);
        return -1;
    }
    return 0;
}
