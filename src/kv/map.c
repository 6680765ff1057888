/* map.c - the store's hash map (map.h): SipHash-1-3 keyed one-word slots
 * (address and hash tag), linear probing, backward-shift deletion. */
#include "kv/map.h"

#include "kv/scan_index.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <threads.h>

#define MAP_MIN_SLOTS 64
/* Grow past 70% full: linear probing's runs stay short below that. */
#define MAP_FULL(m) ((m)->size + 1 > ((m)->mask + 1) / 10 * 7)

static uint64_t sip_k0, sip_k1;
static once_flag sip_once = ONCE_FLAG_INIT;

static void sip_seed(void)
{
    uint64_t k[2] = {0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
    /* Without entropy the map still works; only collision resistance is lost. */
    if (getrandom(k, sizeof k, 0) != (ssize_t)sizeof k) {
        k[0] = 0x0706050403020100ull;
        k[1] = 0x0f0e0d0c0b0a0908ull;
    }
    sip_k0 = k[0];
    sip_k1 = k[1];
}

static inline uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

#define SIPROUND                                                                           \
    do {                                                                                   \
        v0 += v1;                                                                          \
        v1 = rotl(v1, 13);                                                                 \
        v1 ^= v0;                                                                          \
        v0 = rotl(v0, 32);                                                                 \
        v2 += v3;                                                                          \
        v3 = rotl(v3, 16);                                                                 \
        v3 ^= v2;                                                                          \
        v0 += v3;                                                                          \
        v3 = rotl(v3, 21);                                                                 \
        v3 ^= v0;                                                                          \
        v2 += v1;                                                                          \
        v1 = rotl(v1, 17);                                                                 \
        v1 ^= v2;                                                                          \
        v2 = rotl(v2, 32);                                                                 \
    } while (0)

static uint64_t load_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* SipHash-1-3 (one compression round, three finalization rounds). */
static uint64_t map_hash(const char *key, size_t len)
{
    uint64_t v0 = sip_k0 ^ 0x736f6d6570736575ull, v1 = sip_k1 ^ 0x646f72616e646f6dull;
    uint64_t v2 = sip_k0 ^ 0x6c7967656e657261ull, v3 = sip_k1 ^ 0x7465646279746573ull;
    const unsigned char *p = (const unsigned char *)key;
    const unsigned char *end = p + (len & ~(size_t)7);
    for (; p < end; p += 8) {
        uint64_t m = load_le64(p);
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t i = 0; i < (len & 7); i++)
        b |= (uint64_t)p[i] << (8 * i);
    v3 ^= b;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

#define TAG_BITS 0xffff000000000000ull
#define ADDR_BITS 0x0000ffffffffffffull
static size_t varint_len(uint32_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static size_t varint_put(unsigned char *p, uint32_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (unsigned char)v;
    return n;
}

static size_t entry_size(size_t klen, size_t vlen)
{
    return offsetof(struct kv_map_entry, data) + varint_len((uint32_t)klen) +
           varint_len((uint32_t)vlen) + klen + vlen;
}

/* Drop e (out of the slots already), with its deadline. */
static void entry_free(struct kv_map *m, struct kv_map_entry *e)
{
    if (e->flags & KV_ENTRY_EXPIRES)
        kv_expires_del(&m->expires, e);
    m->bytes -= entry_size(kv_entry_key_len(e), kv_entry_value_len(e));
    free(e);
}

static uint64_t *slots_new(size_t count)
{
    return calloc(count, sizeof(uint64_t));
}

static inline struct kv_map_entry *slot_entry(const struct kv_map *m, uint64_t v)
{
    return (struct kv_map_entry *)(uintptr_t)(v & m->ptr_mask);
}

/* The slot word for e under hash h (tags only while the map has them). */
static inline uint64_t slot_word(const struct kv_map *m, const struct kv_map_entry *e, uint64_t h)
{
    return (uint64_t)(uintptr_t)e | (h & ~m->ptr_mask);
}

static inline uint64_t entry_hash(const struct kv_map_entry *e)
{
    return map_hash(kv_entry_key(e), kv_entry_key_len(e));
}

/* An address past 48 bits cannot share its word with a tag: strip every
 * tag, and keep plain addresses from now on. */
void kv_map_drop_tags(struct kv_map *m)
{
    for (size_t i = 0; i <= m->mask; i++)
        m->slots[i] &= ADDR_BITS;
    m->ptr_mask = ~0ull;
}

int kv_map_init(struct kv_map *m)
{
    call_once(&sip_once, sip_seed);
    m->slots = slots_new(MAP_MIN_SLOTS);
    m->mask = MAP_MIN_SLOTS - 1;
    m->size = 0;
    m->bytes = 0;
    m->ptr_mask = ADDR_BITS;
    m->expires = (struct kv_expires){0};
    m->scan = NULL;
    if (m->slots && scan_index_init(m) != 0) {
        free(m->slots);
        m->slots = NULL;
    }
    return m->slots ? 0 : -1;
}

void kv_map_clear(struct kv_map *m)
{
    for (size_t i = 0; i <= m->mask; i++) {
        if (m->slots[i]) {
            free(slot_entry(m, m->slots[i]));
            m->slots[i] = 0;
        }
    }
    m->size = 0;
    m->bytes = 0;
    kv_expires_free(&m->expires);
    scan_index_reset(m);
}

void kv_map_free(struct kv_map *m)
{
    if (!m->slots)
        return;
    kv_map_clear(m);
    free(m->slots);
    m->slots = NULL;
    scan_index_free(m);
}

size_t kv_map_bytes(const struct kv_map *m)
{
    return m->bytes + (m->mask + 1) * sizeof(uint64_t) + kv_expires_bytes(&m->expires) +
           (m->scan ? (m->scan_mask + 1) * sizeof *m->scan : 0);
}

int64_t kv_map_expiry(const struct kv_map *m, const struct kv_map_entry *e)
{
    return (e->flags & KV_ENTRY_EXPIRES) ? kv_expires_get(&m->expires, e) : 0;
}

int kv_map_set_expiry(struct kv_map *m, struct kv_map_entry *e, int64_t expiry_ms)
{
    if (expiry_ms == 0) {
        if (e->flags & KV_ENTRY_EXPIRES)
            kv_expires_del(&m->expires, e);
        e->flags &= (uint8_t)~KV_ENTRY_EXPIRES;
        return 0;
    }
    if (kv_expires_set(&m->expires, e, expiry_ms) != 0)
        return -1;
    e->flags |= KV_ENTRY_EXPIRES;
    return 0;
}

size_t kv_map_expiring(const struct kv_map *m)
{
    return m->expires.size;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t map_find(const struct kv_map *m, const char *key, size_t len, uint64_t h)
{
    size_t i = (size_t)h & m->mask;
    uint64_t tag = h & ~m->ptr_mask;
    for (;;) {
        uint64_t v = m->slots[i];
        if (!v)
            return i;
        if ((v & ~m->ptr_mask) == tag) {
            const struct kv_map_entry *e = slot_entry(m, v);
            uint32_t klen, vlen;
            size_t n = kv_varint_get(e->data, &klen);
            n += kv_varint_get(e->data + n, &vlen);
            if (klen == len && memcmp(e->data + n, key, len) == 0)
                return i;
        }
        i = (i + 1) & m->mask;
    }
}

static int map_grow(struct kv_map *m)
{
    size_t count = (m->mask + 1) * 2;
    uint64_t *slots = slots_new(count);
    if (!slots)
        return -1;
    for (size_t i = 0; i <= m->mask; i++) {
        if (i + 8 <= m->mask && m->slots[i + 8])
            __builtin_prefetch(slot_entry(m, m->slots[i + 8]));
        if (!m->slots[i])
            continue;
        size_t j = (size_t)entry_hash(slot_entry(m, m->slots[i])) & (count - 1);
        while (slots[j])
            j = (j + 1) & (count - 1);
        slots[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = slots;
    m->mask = count - 1;
    return 0;
}

int kv_map_reserve(struct kv_map *m, size_t n)
{
    size_t count = m->mask + 1;
    while (n > count / 10 * 7) {
        if (count > SIZE_MAX / 2 / sizeof(uint64_t))
            return -1;
        count *= 2;
    }
    if (count == m->mask + 1)
        return 0;
    if (m->size == 0) {
        uint64_t *slots = slots_new(count);
        if (!slots)
            return -1;
        free(m->slots);
        m->slots = slots;
        m->mask = count - 1;
        return 0;
    }
    while (m->mask + 1 < count)
        if (map_grow(m) != 0)
            return -1;
    return 0;
}

struct kv_map_entry *kv_map_get(const struct kv_map *m, const char *key, size_t len)
{
    return slot_entry(m, m->slots[map_find(m, key, len, map_hash(key, len))]);
}

struct kv_map_entry *kv_map_put(struct kv_map *m, const char *key, size_t len, uint8_t type,
                                const void *value, size_t value_len)
{
    if (len > UINT32_MAX || value_len > UINT32_MAX)
        return NULL;
    uint64_t h = map_hash(key, len);
    size_t i = map_find(m, key, len, h);
    if (!m->slots[i] && MAP_FULL(m)) {
        if (map_grow(m) != 0)
            return NULL;
        i = map_find(m, key, len, h);
    }
    size_t size = entry_size(len, value_len);
    struct kv_map_entry *e = malloc(size);
    if (!e)
        return NULL;
    e->version = 0;
    e->type = type;
    e->flags = 0;
    size_t n = varint_put(e->data, (uint32_t)len);
    n += varint_put(e->data + n, (uint32_t)value_len);
    memcpy(e->data + n, key, len);
    if (value_len)
        memcpy(e->data + n + len, value, value_len);
    if (m->slots[i]) {
        struct kv_map_entry *old = slot_entry(m, m->slots[i]);
        scan_index_replace(m, old, e);
        entry_free(m, old);
    } else {
        m->size++;
        scan_index_add(m, e);
    }
    m->bytes += size;
    if ((uintptr_t)e & ~m->ptr_mask)
        kv_map_drop_tags(m);
    m->slots[i] = slot_word(m, e, h);
    return e;
}

int kv_map_del(struct kv_map *m, const char *key, size_t len)
{
    size_t i = map_find(m, key, len, map_hash(key, len));
    if (!m->slots[i])
        return 0;
    struct kv_map_entry *e = slot_entry(m, m->slots[i]);
    scan_index_remove(m, e);
    entry_free(m, e);
    m->size--;
    /* Pull later members of the run back over the hole, each only if its
     * home slot does not lie cyclically in (hole, j]. */
    size_t hole = i;
    for (size_t j = (i + 1) & m->mask; m->slots[j]; j = (j + 1) & m->mask) {
        size_t home = (size_t)entry_hash(slot_entry(m, m->slots[j])) & m->mask;
        if (((j - home) & m->mask) >= ((j - hole) & m->mask)) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole] = 0;
    return 1;
}

const struct kv_map_entry *kv_map_next(const struct kv_map *m, size_t *pos)
{
    for (; *pos <= m->mask; (*pos)++) {
        if (m->slots[*pos])
            return slot_entry(m, m->slots[(*pos)++]);
    }
    return NULL;
}
