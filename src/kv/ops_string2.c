/* ops_string2.c - the Redis front end's string operations beyond GET and
 * SET (ops_string.c): INCR and its family, INCRBYFLOAT, APPEND, STRLEN,
 * GETRANGE, SETRANGE, GETDEL, GETEX and MSETNX, with
 * Redis 7.0's rules: a value read as a number must be one as Redis reads it
 * (string2ll, string2ld), a change that keeps the value's key keeps its
 * deadline (INCR, APPEND, SETRANGE), a string is at most KV_STRING_MAX
 * bytes. Errors are KV_ERR_TYPE results whose text is Redis's whole error
 * line, which the front end sends as it is. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/ops.h"
#include "storage/le.h"

#define WRONGTYPE "WRONGTYPE Operation against a key holding the wrong kind of value"
#define NOT_INT "ERR value is not an integer or out of range"
#define NOT_FLOAT "ERR value is not a valid float"
#define TOO_BIG "ERR string exceeds maximum allowed size (proto-max-bulk-len)"

bool kv_parse_ll(const void *p, size_t n, long long *out)
{
    const char *s = p;
    /* Redis's string2ll: an optional '-', digits without a leading zero
     * (but "0" itself), nothing else, at most 20 characters, in range. */
    if (n == 0 || n > 20)
        return false;
    size_t k = s[0] == '-';
    if (k == n || (s[k] == '0' && n > k + 1) || (k && s[k] == '0'))
        return false;
    unsigned long long v = 0;
    for (size_t j = k; j < n; j++) {
        if (s[j] < '0' || s[j] > '9')
            return false;
        unsigned d = (unsigned)(s[j] - '0');
        if (v > (ULLONG_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (k) {
        if (v > (unsigned long long)LLONG_MAX + 1)
            return false;
        *out = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
    } else {
        if (v > (unsigned long long)LLONG_MAX)
            return false;
        *out = (long long)v;
    }
    return true;
}

bool kv_parse_ld(const void *p, size_t n, long double *out)
{
    /* Redis's string2ld: strtold reads every byte (a NUL inside is not a
     * number), no leading space, no NaN, no overflow or underflow to zero.
     * "inf" parses (INCRBYFLOAT then refuses the infinite result). */
    char buf[KV_FLOAT_TEXT_MAX];
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, p, n);
    buf[n] = '\0';
    char *end;
    errno = 0;
    long double v = strtold(buf, &end);
    if (isspace((unsigned char)buf[0]) || *end != '\0' || (size_t)(end - buf) != n ||
        (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || fpclassify(v) == FP_ZERO)) ||
        isnan(v))
        return false;
    *out = v;
    return true;
}

/* A value as INCRBYFLOAT writes it: 17 digits after the point, trailing
 * zeros (and a bare point) dropped, "-0" as "0". Returns the length. */
static size_t format_ld(char *buf, size_t cap, long double v)
{
    int l = snprintf(buf, cap, "%.17Lf", v);
    if (l < 0 || (size_t)l >= cap)
        return 0;
    size_t n = (size_t)l;
    if (memchr(buf, '.', n)) {
        while (buf[n - 1] == '0')
            n--;
        if (buf[n - 1] == '.')
            n--;
    }
    if (n == 2 && buf[0] == '-' && buf[1] == '0') {
        buf[0] = '0';
        n = 1;
    }
    buf[n] = '\0';
    return n;
}

/* Store bytes under the command's key with the given deadline. */
static int put(struct kv_store *s, const struct kv_command *c, const void *v, size_t n,
               int64_t expiry)
{
    struct kv_map_entry *e =
        kv_store_put(s, (const char *)c->skey.p, c->skey.n, KV_TYPE_STR, v, n);
    if (!e)
        return -1;
    kv_map_set_expiry(&s->map, e, expiry);
    return 0;
}

/* The live string under the key for a write, NULL if absent; *bad set
 * (and r filled) if it holds another type. */
static struct kv_map_entry *live_str(struct kv_store *s, const struct kv_command *c, int64_t now,
                                     struct kv_result *r, bool *bad)
{
    struct kv_map_entry *e = kv_live_w(s, &c->skey, now);
    *bad = e && e->type != KV_TYPE_STR;
    if (*bad)
        kv_res(r, KV_ERR_TYPE, WRONGTYPE);
    return *bad ? NULL : e;
}

static void oom(struct kv_result *r)
{
    kv_res(r, KV_ERR_MALFORMED, "out of memory");
}

/* INCR, DECR, INCRBY, DECRBY (DECR's are increments of the opposite sign;
 * the front end refuses DECRBY's LLONG_MIN). */
void kv_op_incr(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r)
{
    bool bad;
    struct kv_map_entry *e = live_str(s, c, now, r, &bad);
    if (bad)
        return;
    long long v = 0;
    int64_t expiry = 0;
    if (e) {
        if (!kv_parse_ll(kv_entry_value(e), kv_entry_value_len(e), &v)) {
            kv_res(r, KV_ERR_TYPE, NOT_INT);
            return;
        }
        expiry = kv_map_expiry(&s->map, e);
    }
    long long by = c->num[0];
    if ((by < 0 && v < 0 && by < LLONG_MIN - v) || (by > 0 && v > 0 && by > LLONG_MAX - v)) {
        kv_res(r, KV_ERR_TYPE, "ERR increment or decrement would overflow");
        return;
    }
    v += by;
    char buf[24];
    int n = snprintf(buf, sizeof buf, "%lld", v);
    if (put(s, c, buf, (size_t)n, expiry) != 0) {
        oom(r);
        return;
    }
    r->num = v;
}

/* INCRBYFLOAT: long double arithmetic as Redis's (x86-64's 80-bit format
 * on every member alike: the members of one cluster run one build). */
void kv_op_incrfloat(struct kv_store *s, const struct kv_command *c, int64_t now,
                     struct kv_result *r)
{
    bool bad;
    struct kv_map_entry *e = live_str(s, c, now, r, &bad);
    if (bad)
        return;
    long double v = 0, by;
    if ((e && !kv_parse_ld(kv_entry_value(e), kv_entry_value_len(e), &v)) ||
        !kv_parse_ld(c->arg[0].p, c->arg[0].n, &by)) {
        kv_res(r, KV_ERR_TYPE, NOT_FLOAT);
        return;
    }
    v += by;
    if (isnan(v) || isinf(v)) {
        kv_res(r, KV_ERR_TYPE, "ERR increment would produce NaN or Infinity");
        return;
    }
    char buf[KV_FLOAT_TEXT_MAX];
    size_t n = format_ld(buf, sizeof buf, v);
    int64_t expiry = e ? kv_map_expiry(&s->map, e) : 0;
    if (n == 0 || put(s, c, buf, n, expiry) != 0 || kv_res_bytes(r, buf, n) != 0)
        oom(r);
}

/* A new value of `len` bytes: the old one (olen bytes) with `p` (n bytes)
 * written at `at` and zeros in any gap; the deadline kept. */
static void splice(struct kv_store *s, const struct kv_command *c, const struct kv_map_entry *e,
                   size_t at, const void *p, size_t n, struct kv_result *r)
{
    size_t olen = e ? kv_entry_value_len(e) : 0;
    size_t len = at + n > olen ? at + n : olen;
    int64_t expiry = e ? kv_map_expiry(&s->map, e) : 0;
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        oom(r);
        return;
    }
    if (olen)
        memcpy(buf, kv_entry_value(e), olen);
    if (at > olen)
        memset(buf + olen, 0, at - olen);
    if (n)
        memcpy(buf + at, p, n);
    if (put(s, c, buf, len, expiry) != 0)
        oom(r);
    else
        r->num = (int64_t)len;
    free(buf);
}

void kv_op_append(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r)
{
    bool bad;
    struct kv_map_entry *e = live_str(s, c, now, r, &bad);
    if (bad)
        return;
    size_t olen = e ? kv_entry_value_len(e) : 0;
    if ((int64_t)c->arg[0].n > KV_STRING_MAX - (int64_t)olen) {
        kv_res(r, KV_ERR_TYPE, TOO_BIG);
        return;
    }
    splice(s, c, e, olen, c->arg[0].p, c->arg[0].n, r);
}

void kv_op_strlen(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r)
{
    const struct kv_map_entry *e = kv_live(s, &c->skey, now);
    if (e && e->type != KV_TYPE_STR)
        kv_res(r, KV_ERR_TYPE, WRONGTYPE);
    else
        r->num = e ? (int64_t)kv_entry_value_len(e) : 0;
}

/* GETRANGE key start end: Redis's indexes (negative from the end, clamped);
 * an absent key reads as the empty string. */
void kv_op_getrange(struct kv_store *s, const struct kv_command *c, int64_t now,
                    struct kv_result *r)
{
    const struct kv_map_entry *e = kv_live(s, &c->skey, now);
    if (e && e->type != KV_TYPE_STR) {
        kv_res(r, KV_ERR_TYPE, WRONGTYPE);
        return;
    }
    long long len = e ? (long long)kv_entry_value_len(e) : 0;
    long long start = c->num[0], end = c->num[1];
    if (!e || len == 0 || (start < 0 && end < 0 && start > end)) {
        kv_res_bytes(r, "", 0);
        return;
    }
    if (start < 0)
        start += len;
    if (end < 0)
        end += len;
    if (start < 0)
        start = 0;
    if (end < 0)
        end = 0;
    if (end >= len)
        end = len - 1;
    if (start > end)
        kv_res_bytes(r, "", 0);
    else
        kv_res_bytes(r, kv_entry_value(e) + start, (size_t)(end - start + 1));
}

/* SETRANGE key offset value: an empty value changes nothing and answers the
 * length; the front end refuses a negative offset. */
void kv_op_setrange(struct kv_store *s, const struct kv_command *c, int64_t now,
                    struct kv_result *r)
{
    bool bad;
    struct kv_map_entry *e = live_str(s, c, now, r, &bad);
    if (bad)
        return;
    int64_t off = c->num[0];
    if (off < 0) {
        kv_res(r, KV_ERR_TYPE, "ERR offset is out of range");
        return;
    }
    if (c->arg[0].n == 0) {
        r->num = e ? (int64_t)kv_entry_value_len(e) : 0;
        return;
    }
    if (off > KV_STRING_MAX - (int64_t)c->arg[0].n) {
        kv_res(r, KV_ERR_TYPE, TOO_BIG);
        return;
    }
    splice(s, c, e, (size_t)off, c->arg[0].p, c->arg[0].n, r);
}

/* GETDEL's and GETEX's first step: the key's string value as the reply;
 * its entry, or NULL when the reply is already an error (a wrong type, no
 * key, out of memory) and nothing is to change. */
static struct kv_map_entry *reply_value(struct kv_store *s, const struct kv_command *c, int64_t now,
                                        struct kv_result *r)
{
    bool bad;
    struct kv_map_entry *e = live_str(s, c, now, r, &bad);
    if (bad)
        return NULL;
    if (!e) {
        kv_res(r, KV_ERR_NO_KEY, "key does not exist");
        return NULL;
    }
    if (kv_res_bytes(r, kv_entry_value(e), kv_entry_value_len(e)) != 0)
        return NULL;
    return e;
}

void kv_op_getdel(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r)
{
    if (reply_value(s, c, now, r))
        kv_store_del(s, (const char *)c->skey.p, c->skey.n);
}

/* GETEX key with EX/PX (num[0] ms from now), EXAT/PXAT (num[0] absolute
 * ms; already past: the key is deleted) or PERSIST. Changing the deadline
 * is a write of the key (a new version: WATCH sees it). */
void kv_op_getex(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r)
{
    struct kv_map_entry *e = reply_value(s, c, now, r);
    if (!e)
        return;
    if ((c->flags & KV_SET_EXPIRE_AT) && c->num[0] <= now) {
        kv_store_del(s, (const char *)c->skey.p, c->skey.n);
        return;
    }
    int64_t expiry = kv_map_expiry(&s->map, e);
    if (c->flags & KV_SET_EXPIRE_AT)
        expiry = c->num[0];
    else if (c->flags & KV_SET_EXPIRE_IN)
        expiry = c->num[0] > INT64_MAX - now ? INT64_MAX : now + c->num[0];
    else if (c->flags & KV_GETEX_PERSIST)
        expiry = 0;
    /* As Redis's: a new deadline always counts as a change, PERSIST only
     * when there was one. */
    if ((c->flags & (KV_SET_EXPIRE_AT | KV_SET_EXPIRE_IN)) || expiry != kv_map_expiry(&s->map, e)) {
        kv_map_set_expiry(&s->map, e, expiry);
        e->version = ++s->version;
    }
}

int kv_pack_fields(struct kv_str *out, char *const *p, const size_t *len, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (len[i] > UINT32_MAX)
            return -1;
        total += 4 + len[i];
    }
    uint8_t *buf = malloc(total ? total : 1), *w = buf;
    if (!buf)
        return -1;
    for (size_t i = 0; i < n; i++) {
        le_put32(w, (uint32_t)len[i]);
        memcpy(w + 4, p[i], len[i]);
        w += 4 + len[i];
    }
    free(out->p);
    out->p = buf;
    out->n = total;
    return 0;
}

/* The next packed field at *at (before end): true and f borrowing it. */
static bool next_field(const uint8_t **at, const uint8_t *end, struct kv_str *f)
{
    if (end - *at < 4)
        return false;
    size_t n = le_get32(*at);
    if ((size_t)(end - *at - 4) < n)
        return false;
    f->p = (uint8_t *)*at + 4;
    f->n = n;
    *at += 4 + n;
    return true;
}

/* MSETNX: every pair set (no deadline) if no key is live, else nothing.
 * One operation rather than guards in a KV_MULTI, so that it also works
 * queued in a transaction (whose EXEC is itself the KV_MULTI). */
void kv_op_msetnx(struct kv_store *s, const struct kv_command *c, int64_t now,
                  struct kv_result *r)
{
    const uint8_t *end = c->arg[0].p + c->arg[0].n;
    size_t pairs = 0;
    bool present = false;
    struct kv_str k, v;
    for (const uint8_t *at = c->arg[0].p; at < end; pairs++) {
        if (!next_field(&at, end, &k) || !next_field(&at, end, &v)) {
            kv_res(r, KV_ERR_MALFORMED, "malformed msetnx pairs");
            return;
        }
        present |= kv_live(s, &k, now) != NULL;
    }
    if (pairs == 0) {
        kv_res(r, KV_ERR_MALFORMED, "msetnx without pairs");
        return;
    }
    if (present)
        return; /* num 0 */
    for (const uint8_t *at = c->arg[0].p; at < end;) {
        next_field(&at, end, &k);
        next_field(&at, end, &v);
        struct kv_map_entry *e = kv_store_put(s, (const char *)k.p, k.n, KV_TYPE_STR, v.p, v.n);
        if (!e) {
            oom(r);
            return;
        }
        kv_map_set_expiry(&s->map, e, 0);
    }
    r->num = 1;
}
