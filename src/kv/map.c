/* map.c - the store's hash map (map.h): SipHash-1-3 keyed one-word slots
 * (address and hash tag), linear probing from a secretly permuted bucket,
 * backward-shift deletion, and SCAN's walk over the buckets. */
#include "kv/map.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <threads.h>

#define MAP_MIN_SLOTS 64
/* Grow past 70% full: linear probing's runs stay short below that. */
#define MAP_FULL(m) ((m)->size + 1 > ((m)->mask + 1) / 10 * 7)

static uint64_t sip_k0, sip_k1; /* this process's secret */
static once_flag sip_once = ONCE_FLAG_INIT;
static atomic_uint_fast64_t map_count; /* maps made so far, for their secrets */

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

/* SipHash-1-3 (one compression round, three finalization rounds) under
 * the key (k0, k1). */
static uint64_t siphash13(uint64_t k0, uint64_t k1, const char *key, size_t len)
{
    uint64_t v0 = k0 ^ 0x736f6d6570736575ull, v1 = k1 ^ 0x646f72616e646f6dull;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ull, v3 = k1 ^ 0x7465646279746573ull;
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

static inline uint64_t map_hash(const struct kv_map *m, const char *key, size_t len)
{
    return siphash13(m->k0, m->k1, key, len);
}

uint64_t kv_map_hash_with(const uint8_t key[KV_MAP_KEY_BYTES], const char *k, size_t len)
{
    return siphash13(load_le64(key), load_le64(key + 8), k, len);
}

/* The slot where bucket b's run starts: a bijection of the buckets,
 * (((b ^ c) * a) xorshift) * d within the mask, under this map's secret
 * odd a, d and c. Clients can learn a key's bucket (SCAN shows it); this
 * keeps them from learning where its run lies, so they cannot aim keys at
 * one stretch of slots (see map.h). */
static inline size_t bucket_home(const struct kv_map *m, uint64_t b)
{
    uint64_t x = ((b ^ m->perm_c) * m->perm_a) & m->mask;
    x ^= x >> m->perm_shift;
    return (size_t)((x * m->perm_d) & m->mask);
}

static inline size_t home(const struct kv_map *m, uint64_t h)
{
    return bucket_home(m, h & m->mask);
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

/* A new slot array of count (a power of two) slots, and the permutation's
 * shift for its size: half its bits, rounded up. */
static uint64_t *slots_new(struct kv_map *m, size_t count)
{
    uint64_t *slots = calloc(count, sizeof(uint64_t));
    if (slots) {
        unsigned bits = 0;
        while (((size_t)1 << bits) < count)
            bits++;
        m->perm_shift = (bits + 1) / 2;
    }
    return slots;
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

static inline uint64_t entry_hash(const struct kv_map *m, const struct kv_map_entry *e)
{
    return map_hash(m, kv_entry_key(e), kv_entry_key_len(e));
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
    /* This map's own secrets, from the process's key and a count of maps:
     * its hash key until kv_map_set_key gives the cluster's, and the
     * permutation of its buckets (two maps of one process lay out their
     * slots differently, as two members do). */
    uint64_t n = atomic_fetch_add(&map_count, 1), s[5];
    for (int i = 0; i < 5; i++) {
        uint64_t in[2] = {n, (uint64_t)i};
        s[i] = siphash13(sip_k0, sip_k1, (const char *)in, sizeof in);
    }
    m->k0 = s[0];
    m->k1 = s[1];
    m->shared_key = false;
    m->perm_a = s[2] | 1;
    m->perm_d = s[3] | 1;
    m->perm_c = s[4];
    m->slots = slots_new(m, MAP_MIN_SLOTS);
    m->mask = MAP_MIN_SLOTS - 1;
    m->size = 0;
    m->bytes = 0;
    m->ptr_mask = ADDR_BITS;
    m->expires = (struct kv_expires){0};
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
}

void kv_map_free(struct kv_map *m)
{
    if (!m->slots)
        return;
    kv_map_clear(m);
    free(m->slots);
    m->slots = NULL;
}

size_t kv_map_bytes(const struct kv_map *m)
{
    return m->bytes + (m->mask + 1) * sizeof(uint64_t) + kv_expires_bytes(&m->expires);
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
    size_t i = home(m, h);
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

/* Put e (hash h) at the first free slot from its home j. */
static inline void place(struct kv_map *m, struct kv_map_entry *e, uint64_t h, size_t j)
{
    while (m->slots[j])
        j = (j + 1) & m->mask;
    m->slots[j] = slot_word(m, e, h);
}

/* Every entry into a new array of count slots, each hashed again (under
 * the map's key as it is now). Homes are permuted, so the new slots are
 * written in no order: a pipeline keeps the misses overlapping (an entry
 * is fetched 16 slots ahead, hashed and its home fetched, and placed
 * RING entries later). */
#define RING 16
static int map_rehash(struct kv_map *m, size_t count)
{
    size_t old_mask = m->mask;
    uint64_t *old = m->slots;
    uint64_t *slots = slots_new(m, count);
    if (!slots)
        return -1;
    m->slots = slots;
    m->mask = count - 1;
    struct {
        struct kv_map_entry *e;
        uint64_t h;
        size_t j;
    } ring[RING];
    size_t n = 0; /* entries taken in so far; ring[n % RING] is the oldest once full */
    for (size_t i = 0; i <= old_mask; i++) {
        if (i + 16 <= old_mask && old[i + 16])
            __builtin_prefetch(slot_entry(m, old[i + 16]));
        if (!old[i])
            continue;
        struct kv_map_entry *e = slot_entry(m, old[i]);
        uint64_t h = entry_hash(m, e);
        size_t j = home(m, h);
        __builtin_prefetch(&slots[j], 1);
        size_t r = n++ % RING;
        if (n > RING)
            place(m, ring[r].e, ring[r].h, ring[r].j);
        ring[r].e = e;
        ring[r].h = h;
        ring[r].j = j;
    }
    for (size_t k = n > RING ? n - RING : 0; k < n; k++)
        place(m, ring[k % RING].e, ring[k % RING].h, ring[k % RING].j);
    free(old);
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
    return map_rehash(m, count);
}

void kv_map_set_key(struct kv_map *m, const uint8_t key[KV_MAP_KEY_BYTES])
{
    uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
    if (m->shared_key && m->k0 == k0 && m->k1 == k1)
        return;
    uint64_t o0 = m->k0, o1 = m->k1;
    m->k0 = k0;
    m->k1 = k1;
    m->shared_key = true;
    if (m->size == 0)
        return;
    /* Entries hashed under the old key (a map filled before its cluster's
     * key came): place them again. Out of memory, the map keeps its own
     * key, and its SCAN cursors stay this member's own. */
    if (map_rehash(m, m->mask + 1) == 0)
        return;
    m->k0 = o0;
    m->k1 = o1;
    m->shared_key = false;
}

bool kv_map_key(const struct kv_map *m, uint8_t out[KV_MAP_KEY_BYTES])
{
    if (!m->shared_key)
        return false;
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t)(m->k0 >> (8 * i));
        out[8 + i] = (uint8_t)(m->k1 >> (8 * i));
    }
    return true;
}

struct kv_map_entry *kv_map_get(const struct kv_map *m, const char *key, size_t len)
{
    return slot_entry(m, m->slots[map_find(m, key, len, map_hash(m, key, len))]);
}

struct kv_map_entry *kv_map_put(struct kv_map *m, const char *key, size_t len, uint8_t type,
                                const void *value, size_t value_len)
{
    if (len > UINT32_MAX || value_len > UINT32_MAX)
        return NULL;
    uint64_t h = map_hash(m, key, len);
    size_t i = map_find(m, key, len, h);
    if (!m->slots[i] && MAP_FULL(m)) {
        if (map_rehash(m, (m->mask + 1) * 2) != 0)
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
    if (m->slots[i])
        entry_free(m, slot_entry(m, m->slots[i]));
    else
        m->size++;
    m->bytes += size;
    if ((uintptr_t)e & ~m->ptr_mask)
        kv_map_drop_tags(m);
    m->slots[i] = slot_word(m, e, h);
    return e;
}

int kv_map_del(struct kv_map *m, const char *key, size_t len)
{
    size_t i = map_find(m, key, len, map_hash(m, key, len));
    if (!m->slots[i])
        return 0;
    entry_free(m, slot_entry(m, m->slots[i]));
    m->size--;
    /* Pull later members of the run back over the hole, each only if its
     * home slot does not lie cyclically in (hole, j]. */
    size_t hole = i;
    for (size_t j = (i + 1) & m->mask; m->slots[j]; j = (j + 1) & m->mask) {
        size_t h = home(m, entry_hash(m, slot_entry(m, m->slots[j])));
        if (((j - h) & m->mask) >= ((j - hole) & m->mask)) {
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

/* ---- SCAN and RANDOMKEY ---- */

static uint64_t reverse_bits(uint64_t v)
{
    v = ((v >> 1) & 0x5555555555555555ull) | ((v & 0x5555555555555555ull) << 1);
    v = ((v >> 2) & 0x3333333333333333ull) | ((v & 0x3333333333333333ull) << 2);
    v = ((v >> 4) & 0x0f0f0f0f0f0f0f0full) | ((v & 0x0f0f0f0f0f0f0f0full) << 4);
    v = ((v >> 8) & 0x00ff00ff00ff00ffull) | ((v & 0x00ff00ff00ff00ffull) << 8);
    v = ((v >> 16) & 0x0000ffff0000ffffull) | ((v & 0x0000ffff0000ffffull) << 16);
    return (v >> 32) | (v << 32);
}

uint64_t kv_map_scan(const struct kv_map *m, uint64_t cursor, uint64_t max_entries,
                     uint64_t max_buckets, kv_map_visit_fn fn, void *ctx)
{
    uint64_t mask = m->mask, entries = 0, buckets = 0;
    do {
        /* Bucket b's entries all lie in the run that starts at its home
         * slot (linear probing never leaves a gap): take those whose hash
         * is in b. */
        uint64_t b = cursor & mask;
        for (size_t i = bucket_home(m, b); m->slots[i]; i = (i + 1) & mask) {
            const struct kv_map_entry *e = slot_entry(m, m->slots[i]);
            if ((entry_hash(m, e) & mask) == b) {
                fn(ctx, e);
                entries++;
            }
        }
        buckets++;
        /* The next bucket in reverse-binary order: set the bits above the
         * mask, so that the increment of the reversed cursor carries into
         * the bits that index the table. */
        cursor |= ~mask;
        cursor = reverse_bits(reverse_bits(cursor) + 1);
    } while (cursor != 0 && entries < max_entries && buckets < max_buckets);
    return cursor;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

const struct kv_map_entry *kv_map_pick(const struct kv_map *m, uint64_t seed,
                                       kv_map_accept_fn accept, void *ctx)
{
    /* Slots drawn from the seed: each entry has one slot, so a draw that
     * lands on an accepted entry picks every such entry alike. Should 64
     * draws miss (a nearly empty table, or mostly expired keys), the first
     * accepted entry after the first draw. */
    uint64_t x = mix64(seed); /* seeds a step apart draw unrelated slots */
    for (uint64_t t = 0; t < 64; t++) {
        uint64_t v = m->slots[mix64(x + t * 0x9e3779b97f4a7c15ull) & m->mask];
        if (v && accept(ctx, slot_entry(m, v)))
            return slot_entry(m, v);
    }
    size_t start = (size_t)(x & m->mask);
    for (size_t i = 0; i <= m->mask; i++) {
        uint64_t v = m->slots[(start + i) & m->mask];
        if (v && accept(ctx, slot_entry(m, v)))
            return slot_entry(m, v);
    }
    return NULL;
}
