/* kv_map_test_keys.h - the map tests' numbered keys (test_kv_map_grow.c,
 * test_kv_map_shrink.c): key number k's text, and puts, lookups and
 * deletes by number with integer values. */
#ifndef KV_MAP_TEST_KEYS_H
#define KV_MAP_TEST_KEYS_H

#include <stdio.h>
#include <stdlib.h>

#include "kv/kv.h"
#include "kv/map.h"

/* Key number k's text: short, or (one in five) longer than a SipHash
 * block. */
static inline size_t key_text(char *buf, size_t cap, unsigned k)
{
    int n = k % 5 == 0 ? snprintf(buf, cap, "a-rather-long-key-%u-with-padding", k)
                       : snprintf(buf, cap, "k%u", k);
    return (size_t)n;
}

static inline unsigned key_number(const struct kv_map_entry *e)
{
    const char *p = kv_entry_key(e);
    size_t n = kv_entry_key_len(e), i = 0;
    while (i < n && (p[i] < '0' || p[i] > '9'))
        i++;
    unsigned k = 0;
    for (; i < n && p[i] >= '0' && p[i] <= '9'; i++)
        k = k * 10 + (unsigned)(p[i] - '0');
    return k;
}

static inline int entry_value(const struct kv_map_entry *e)
{
    char t[24];
    snprintf(t, sizeof t, "%.*s", (int)kv_entry_value_len(e), kv_entry_value(e));
    return atoi(t);
}

static inline struct kv_map_entry *put_int(struct kv_map *m, unsigned k, int v)
{
    char key[64], t[24];
    size_t n = key_text(key, sizeof key, k);
    int len = snprintf(t, sizeof t, "%d", v);
    return kv_map_put(m, key, n, KV_TYPE_STR, t, (size_t)len);
}

static inline struct kv_map_entry *get_key(const struct kv_map *m, unsigned k)
{
    char key[64];
    size_t n = key_text(key, sizeof key, k);
    return kv_map_get(m, key, n);
}

static inline int del_key(struct kv_map *m, unsigned k)
{
    char key[64];
    size_t n = key_text(key, sizeof key, k);
    return kv_map_del(m, key, n);
}

#endif
