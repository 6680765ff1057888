/* text.c - the growable byte string the KV module writes its canonical
 * JSON into: command bytes for the log and snapshot images. */
#include <stdlib.h>
#include <string.h>

#include "kv/kv_internal.h"

bool kv_text_reserve(struct kv_text *t, size_t n)
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

void kv_text_put(struct kv_text *t, const char *s, size_t n)
{
    if (!kv_text_reserve(t, n))
        return;
    memcpy(t->p + t->len, s, n);
    t->len += n;
}

void kv_text_value(struct kv_text *t, const json_t *v)
{
    /* Plain strings and integers, nearly every value, skip the encoder. */
    if (json_is_integer(v)) {
        char small[32];
        char *s = kv_key_text(v, small, sizeof small);
        kv_text_put(t, s, strlen(s));
        return;
    }
    if (json_is_string(v) && kv_plain_ascii(json_string_value(v), json_string_length(v))) {
        size_t n = json_string_length(v);
        if (!kv_text_reserve(t, n + 2))
            return;
        t->p[t->len] = '"';
        memcpy(t->p + t->len + 1, json_string_value(v), n);
        t->p[t->len + n + 1] = '"';
        t->len += n + 2;
        return;
    }
    size_t need = json_dumpb(v, NULL, 0, KV_KEY_FLAGS);
    if (need == 0) {
        t->err = 1;
        return;
    }
    if (!kv_text_reserve(t, need))
        return;
    t->len += json_dumpb(v, t->p + t->len, need, KV_KEY_FLAGS);
}

void kv_text_member(struct kv_text *t, const char *name, const json_t *v)
{
    kv_text_put(t, name, strlen(name));
    kv_text_value(t, v);
}
