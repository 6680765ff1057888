/* map.c - the store's hash map (map.h): SipHash-1-3 keyed one-word slots
 * (address and hash tag), linear probing from a secretly permuted bucket,
 * backward-shift deletion, SCAN's walk over the buckets, and the
 * incremental migration that grows, shrinks and re-keys the table. */
#include "kv/map.h"

#include "kv/map_walk.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <threads.h>

#define MAP_MIN_SLOTS 64
/* The most slots a table may have: SCAN's cursor holds a bucket number of
 * 40 bits (2^40 slots are 8 TiB of slot table). */
#define MAP_MAX_SLOTS ((size_t)1 << 40)
/* Grow past 70% full: linear probing's runs stay short below that. */
#define MAP_FULL(m) ((m)->size + 1 > ((m)->mask + 1) / 10 * 7)
/* The hard limit (map.h): past 90% a growth starts even while a snapshot
 * child runs. A miss there probes about 50 slots (linear probing's
 * (1 + 1/(1-a)^2)/2 at a = 0.9; 6 at 0.7, 200 at 0.95), a few cache lines
 * read in order: slower, not broken; and the last 10% leave a migration
 * the room to finish at its own pace. */
#define MAP_HARD(m) ((m)->size + 1 > ((m)->mask + 1) / 10 * 9)
/* While a snapshot child runs, a migration under way resumes past 60%
 * of the table taking new keys (map.h: it then ends before 90%). */
#define MAP_RESUME(m) ((m)->size + 1 > ((m)->mask + 1) / 10 * 6)
/* Shrink below 1/8 full, by a factor of 4 (to at most 1/2 full). */
#define MAP_SPARSE(m) ((m)->size < ((m)->mask + 1) / 8 && (m)->mask + 1 > MAP_MIN_SLOTS)

static uint64_t sip_k0, sip_k1; /* this process's secret */
static once_flag sip_once = ONCE_FLAG_INIT;
static atomic_uint_fast64_t map_count; /* maps made so far, for their secrets */
static atomic_int map_children;        /* snapshot children running (map.h) */

void kv_map_snapshot_child(bool running)
{
    if (running)
        atomic_fetch_add_explicit(&map_children, 1, memory_order_relaxed);
    else if (atomic_fetch_sub_explicit(&map_children, 1, memory_order_relaxed) <= 0)
        atomic_store_explicit(&map_children, 0, memory_order_relaxed); /* unbalanced: none */
}

bool kv_map_child_running(void)
{
    return atomic_load_explicit(&map_children, memory_order_relaxed) > 0;
}

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

/* The slot where bucket b's run starts in a table of mask + 1 slots (shift:
 * half its bits): a bijection of the buckets, (((b ^ c) * a) xorshift) * d
 * within the mask, under this map's secret odd a, d and c. Clients can
 * learn a key's bucket (SCAN shows it); this keeps them from learning
 * where its run lies, so they cannot aim keys at one stretch of slots (see
 * map.h). */
static inline size_t bucket_home_in(const struct kv_map *m, uint64_t b, size_t mask,
                                    unsigned shift)
{
    uint64_t x = ((b ^ m->perm_c) * m->perm_a) & mask;
    x ^= x >> shift;
    return (size_t)((x * m->perm_d) & mask);
}

static inline size_t bucket_home(const struct kv_map *m, uint64_t b)
{
    return bucket_home_in(m, b, m->mask, m->perm_shift);
}

static inline size_t home(const struct kv_map *m, uint64_t h)
{
    return bucket_home(m, h & m->mask);
}

/* Where a probe for bucket b starts in the old table while it is moved:
 * its home, unless that lies in the moved stretch (all empty now), whose
 * end then starts the run that holds what is left of b (map.h). */
static inline size_t old_bucket_start(const struct kv_map *m, uint64_t b)
{
    size_t i = bucket_home_in(m, b, m->old_mask, m->old_shift);
    if (((i - m->old_start) & m->old_mask) < m->old_done)
        i = (m->old_start + m->old_done) & m->old_mask;
    return i;
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

size_t kv_map_entry_size(const struct kv_map_entry *e)
{
    return entry_size(kv_entry_key_len(e), kv_entry_value_len(e));
}

/* A walk is under way (map_walk.h): before key (hash h) changes from old
 * (NULL: absent), the walk copies old if it needs the pre-image. */
static void walk_note(struct kv_map *m, uint64_t h, const char *key, size_t len,
                      const struct kv_map_entry *old)
{
    kv_map_walk_note(m->walk, m, h, key, len, old, old ? kv_map_expiry(m, old) : 0);
}

/* Drop e (key, hash h; out of the slots already), a walk told first. */
static void entry_drop(struct kv_map *m, struct kv_map_entry *e, uint64_t h, const char *key,
                       size_t len)
{
    if (__builtin_expect(m->walk != NULL, 0))
        walk_note(m, h, key, len, e);
    entry_free(m, e);
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

/* key's hash in the old table (under the old table's key, which differs
 * from the map's only while re-keying), given h, its hash in the new
 * one. */
static inline uint64_t old_hash(const struct kv_map *m, const char *key, size_t len, uint64_t h)
{
    if (__builtin_expect(m->old_k0 == m->k0 && m->old_k1 == m->k1, 1))
        return h;
    return siphash13(m->old_k0, m->old_k1, key, len);
}

/* An address past 48 bits cannot share its word with a tag: strip every
 * tag, and keep plain addresses from now on. */
void kv_map_drop_tags(struct kv_map *m)
{
    for (size_t i = 0; i <= m->mask; i++)
        m->slots[i] &= ADDR_BITS;
    for (size_t i = 0; m->old && i <= m->old_mask; i++)
        m->old[i] &= ADDR_BITS;
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
    *m = (struct kv_map){0};
    m->k0 = s[0];
    m->k1 = s[1];
    m->shared_key = false;
    m->perm_a = s[2] | 1;
    m->perm_d = s[3] | 1;
    m->perm_c = s[4];
    m->slots = slots_new(m, MAP_MIN_SLOTS);
    m->mask = MAP_MIN_SLOTS - 1;
    m->ptr_mask = ADDR_BITS;
    return m->slots ? 0 : -1;
}

/* Free every entry, and the old table; zero the slots if zero_slots (not
 * when the table is going anyway). */
static void release_entries(struct kv_map *m, bool zero_slots)
{
    for (size_t i = 0; i <= m->mask; i++) {
        if (m->slots[i]) {
            free(slot_entry(m, m->slots[i]));
            if (zero_slots)
                m->slots[i] = 0;
        }
    }
    if (m->old) {
        for (size_t i = 0; i <= m->old_mask; i++)
            if (m->old[i])
                free(slot_entry(m, m->old[i]));
        free(m->old);
        m->old = NULL;
    }
    m->size = 0;
    m->bytes = 0;
    kv_expires_free(&m->expires);
    if (m->rekey_pending) {
        m->k0 = m->next_k0;
        m->k1 = m->next_k1;
        m->rekey_pending = false;
    }
}

/* A walk is under way over m (map_walk.h): it takes the whole table as it
 * stands and m becomes an empty map with the same hash key, O(1). False
 * when out of memory (the walk is abandoned; m is cleared as usual). */
static bool clear_for_walk(struct kv_map *m)
{
    struct kv_map *frozen = malloc(sizeof *frozen);
    if (!frozen) {
        kv_map_walk_detach(m, "out of memory");
        return false;
    }
    *frozen = *m;
    uint64_t *small = slots_new(m, MAP_MIN_SLOTS);
    if (!small) {
        m->perm_shift = frozen->perm_shift;
        free(frozen);
        kv_map_walk_detach(m, "out of memory");
        return false;
    }
    struct kv_map_walk *w = m->walk;
    frozen->walk = NULL;
    m->walk = NULL;
    m->slots = small;
    m->mask = MAP_MIN_SLOTS - 1;
    m->size = 0;
    m->bytes = 0;
    m->expires = (struct kv_expires){0};
    m->old = NULL;
    m->old_mask = m->old_size = m->old_start = m->old_done = 0;
    m->warm = MAP_MIN_SLOTS;
    if (m->rekey_pending) {
        m->k0 = m->next_k0;
        m->k1 = m->next_k1;
        m->rekey_pending = false;
    }
    kv_map_walk_adopt(w, frozen);
    return true;
}

void kv_map_clear(struct kv_map *m)
{
    if (__builtin_expect(m->walk != NULL, 0) && clear_for_walk(m))
        return;
    /* The table goes back to its least size at once: a new small one
     * instead of zeroing the old (which, while a snapshot child shares its
     * pages, would copy every one of them). */
    uint64_t *small = NULL;
    if (m->mask + 1 > MAP_MIN_SLOTS)
        small = slots_new(m, MAP_MIN_SLOTS);
    release_entries(m, small == NULL);
    if (small) {
        free(m->slots);
        m->slots = small;
        m->mask = MAP_MIN_SLOTS - 1;
    }
}

void kv_map_free(struct kv_map *m)
{
    if (m->walk)
        kv_map_walk_detach(m, "the map was freed");
    if (!m->slots)
        return;
    release_entries(m, false);
    free(m->slots);
    m->slots = NULL;
}

size_t kv_map_bytes(const struct kv_map *m)
{
    return m->bytes + (m->mask + 1) * sizeof(uint64_t) +
           (m->old ? (m->old_mask + 1) * sizeof(uint64_t) : 0) + kv_expires_bytes(&m->expires);
}

int64_t kv_map_expiry(const struct kv_map *m, const struct kv_map_entry *e)
{
    return (e->flags & KV_ENTRY_EXPIRES) ? kv_expires_get(&m->expires, e) : 0;
}

int kv_map_set_expiry(struct kv_map *m, struct kv_map_entry *e, int64_t expiry_ms)
{
    if (__builtin_expect(m->walk != NULL, 0)) {
        kv_map_walk_note_inplace(m->walk, m, entry_hash(m, e), e, kv_map_expiry(m, e));
        e->flags |= KV_ENTRY_WALK;
    }
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

static inline bool entry_is(const struct kv_map_entry *e, const char *key, size_t len)
{
    uint32_t klen, vlen;
    size_t n = kv_varint_get(e->data, &klen);
    n += kv_varint_get(e->data + n, &vlen);
    return klen == len && memcmp(e->data + n, key, len) == 0;
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
        if ((v & ~m->ptr_mask) == tag && entry_is(slot_entry(m, v), key, len))
            return i;
        i = (i + 1) & m->mask;
    }
}

/* The old table's slot holding key, or NULL (the map is growing). */
static uint64_t *old_find(const struct kv_map *m, const char *key, size_t len, uint64_t h)
{
    uint64_t tag = h & ~m->ptr_mask;
    for (size_t i = old_bucket_start(m, h & m->old_mask); m->old[i]; i = (i + 1) & m->old_mask) {
        uint64_t v = m->old[i];
        if ((v & ~m->ptr_mask) == tag && entry_is(slot_entry(m, v), key, len))
            return &m->old[i];
    }
    return NULL;
}

/* Put e (hash h) at the first free slot from its home j. */
static inline void place(struct kv_map *m, struct kv_map_entry *e, uint64_t h, size_t j)
{
    while (m->slots[j])
        j = (j + 1) & m->mask;
    m->slots[j] = slot_word(m, e, h);
}

/* ---- migration: growth, shrinking and re-keying, a bounded step at a
 * time (map.h) ---- */

/* Move the entries of the old table, from the end of the moved stretch
 * on, each to its place in the new table (hashed under the map's key),
 * until max_entries have moved or max_slots slots were visited; the old
 * table goes once it is empty. The number moved. Entries go in batches
 * of up to BATCH: each (fetched ahead) is hashed and its new home
 * fetched, then the batch is placed, so the misses overlap. */
#define BATCH 8
static size_t migrate(struct kv_map *m, size_t max_entries, size_t max_slots)
{
    size_t moved = 0;
    while (m->old && max_slots > 0 && moved < max_entries) {
        struct {
            struct kv_map_entry *e;
            uint64_t h;
            size_t j;
        } batch[BATCH];
        size_t n = 0;
        while (n < BATCH && max_slots > 0 && moved + n < max_entries && m->old_size > n) {
            size_t i = (m->old_start + m->old_done) & m->old_mask;
            __builtin_prefetch(slot_entry(m, m->old[(i + 2 * BATCH) & m->old_mask]));
            uint64_t v = m->old[i];
            if (v) {
                struct kv_map_entry *e = slot_entry(m, v);
                uint64_t h = entry_hash(m, e);
                size_t j = home(m, h);
                __builtin_prefetch(&m->slots[j], 1);
                batch[n].e = e;
                batch[n].h = h;
                batch[n].j = j;
                n++;
                m->old[i] = 0;
            }
            m->old_done++;
            max_slots--;
        }
        for (size_t k = 0; k < n; k++)
            place(m, batch[k].e, batch[k].h, batch[k].j);
        m->old_size -= n;
        moved += n;
        if (m->old_size == 0) {
            free(m->old);
            m->old = NULL;
        }
    }
    m->moved += moved;
    return moved;
}

/* While a snapshot child runs, a migration waits (its writes would copy
 * pages the child shares), unless the table that takes new keys is past
 * 60%: then it goes on, and ends before that table reaches the hard
 * limit (map.h). */
static inline bool paused(const struct kv_map *m)
{
    return kv_map_child_running() && !MAP_RESUME(m);
}

/* The loop's step touches a new table's pages before it moves entries
 * into it: WARM_SLOTS (1 MiB) a step, in order. Moved entries land at
 * random slots, so the first steps into a fresh table of 2^21 slots
 * took 37, 14 and 6 ms, nearly all of it faulting in its pages. */
#define WARM_SLOTS ((size_t)1 << 17)

static void warm_up(struct kv_map *m)
{
    size_t end = m->warm + WARM_SLOTS > m->mask + 1 ? m->mask + 1 : m->warm + WARM_SLOTS;
    for (size_t i = m->warm; i < end; i += 4096 / sizeof(uint64_t)) {
        volatile uint64_t *p = &m->slots[i];
        *p = *p; /* a write: the page is the table's own from now on */
    }
    m->warm = end;
}

/* A put's or delete's share of a migration under way. */
static inline void op_step(struct kv_map *m)
{
    if (!paused(m))
        migrate(m, KV_MAP_STEP_SLOTS, KV_MAP_STEP_SLOTS * KV_MAP_SCAN_PER_ENTRY);
}

/* Start a migration into a new table of count slots under the hash key
 * (k0, k1) (the map is not migrating). The current table, if it holds
 * entries, becomes the old one, moved from one of its empty slots on
 * (at most 90% full, it has one a few slots from slot 0). */
static int start(struct kv_map *m, size_t count, uint64_t k0, uint64_t k1)
{
    unsigned shift = m->perm_shift;
    if (count > MAP_MAX_SLOTS)
        return -1;
    uint64_t *slots = slots_new(m, count);
    if (!slots)
        return -1;
    if (m->size > 0 && (k0 != m->k0 || k1 != m->k1)) {
        m->rekeyed = true;
        m->prev_k0 = m->k0;
        m->prev_k1 = m->k1;
    }
    if (m->size > 0) {
        m->old = m->slots;
        m->old_mask = m->mask;
        m->old_shift = shift;
        m->old_size = m->size;
        m->old_done = 0;
        m->old_k0 = m->k0;
        m->old_k1 = m->k1;
        size_t p = 0;
        while (m->old[p])
            p++;
        m->old_start = p;
    } else {
        free(m->slots);
    }
    m->slots = slots;
    m->mask = count - 1;
    m->k0 = k0;
    m->k1 = k1;
    m->warm = count <= WARM_SLOTS ? count : 0;
    m->migrations++;
    return 0;
}

/* The size a shrink goes to: a quarter (so the new table is at most half
 * full and the move ends before it fills: map.h), or the least size for
 * an empty map. */
static size_t shrunk_size(const struct kv_map *m)
{
    size_t count = m->size == 0 ? MAP_MIN_SLOTS : (m->mask + 1) / 4;
    return count < MAP_MIN_SLOTS ? MAP_MIN_SLOTS : count;
}

/* The cluster's key given while the map was migrating: its migration
 * starts now that the other is over. Out of memory, the map keeps its
 * own key (its SCAN cursors stay this member's own). */
static void start_rekey(struct kv_map *m)
{
    m->rekey_pending = false;
    /* Every entry moves: into a table at most half full, so the move ends
     * long before it fills, a child or not. */
    size_t count = m->mask + 1;
    if (m->size > count / 2)
        count *= 2;
    if (start(m, count, m->next_k0, m->next_k1) != 0)
        m->shared_key = false;
}

/* Whether the map, not migrating, has a migration to start: a key given
 * during the last one, a growth postponed while a snapshot child ran, a
 * shrink. */
static bool map_due(const struct kv_map *m)
{
    if (m->old)
        return false;
    if (m->rekey_pending)
        return true;
    return !kv_map_child_running() &&
           (m->size > (m->mask + 1) / 10 * 7 || (MAP_SPARSE(m) && !m->walk));
}

/* Start what map_due says (a failed allocation: later). Only where no
 * hash is held across the call: a re-key changes the map's key. */
static void start_due(struct kv_map *m)
{
    if (m->rekey_pending) {
        start_rekey(m);
    } else if (m->size > (m->mask + 1) / 10 * 7) {
        (void)start(m, (m->mask + 1) * 2, m->k0, m->k1);
    } else if (MAP_SPARSE(m) && !m->walk) {
        (void)start(m, shrunk_size(m), m->k0, m->k1);
    }
}

size_t kv_map_rehash_step(struct kv_map *m, size_t max_slots)
{
    if (map_due(m))
        start_due(m);
    size_t moved = 0;
    if (m->old && !paused(m) && m->warm <= m->mask && max_slots > 0)
        warm_up(m);
    else if (m->old && !paused(m))
        moved = migrate(m, max_slots, max_slots > SIZE_MAX / KV_MAP_SCAN_PER_ENTRY
                                          ? SIZE_MAX
                                          : max_slots * KV_MAP_SCAN_PER_ENTRY);
    return moved + kv_expires_step(&m->expires, max_slots);
}

bool kv_map_rehashing(const struct kv_map *m)
{
    /* Paused, a migration has no step to take: the loop need not wake for
     * it every ms while the child runs (a put that resumes it is seen at
     * the next flush). */
    return (m->old && !paused(m)) || map_due(m) || kv_expires_busy(&m->expires);
}

int kv_map_reserve(struct kv_map *m, size_t n)
{
    /* Before a load, into an empty map: nothing to move. */
    migrate(m, SIZE_MAX, SIZE_MAX);
    size_t count = m->mask + 1;
    while (n > count / 10 * 7) {
        if (count > SIZE_MAX / 2 / sizeof(uint64_t))
            return -1;
        count *= 2;
    }
    if (count == m->mask + 1)
        return 0;
    return start(m, count, m->k0, m->k1);
}

void kv_map_prefetch(const struct kv_map *m, const char *key, size_t len)
{
    __builtin_prefetch(&m->slots[home(m, map_hash(m, key, len))], 1);
}

uint64_t kv_map_prefetch_slot(const struct kv_map *m, const char *key, size_t len)
{
    uint64_t h = map_hash(m, key, len);
    __builtin_prefetch(&m->slots[home(m, h)], 1);
    return h;
}

/* Only the first few slots of the run: a hint, not a lookup. */
void kv_map_prefetch_entry(const struct kv_map *m, uint64_t h)
{
    size_t i = home(m, h);
    uint64_t tag = h & ~m->ptr_mask;
    for (int k = 0; k < 4; k++, i = (i + 1) & m->mask) {
        uint64_t v = m->slots[i];
        if (!v)
            return;
        if ((v & ~m->ptr_mask) == tag) {
            __builtin_prefetch(slot_entry(m, v), 1);
            return;
        }
    }
}

void kv_map_set_key(struct kv_map *m, const uint8_t key[KV_MAP_KEY_BYTES])
{
    uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
    if (m->shared_key && (m->rekey_pending ? m->next_k0 == k0 && m->next_k1 == k1
                                           : m->k0 == k0 && m->k1 == k1))
        return;
    m->shared_key = true;
    if (m->walk) /* its buckets would change meaning (map_walk.h) */
        kv_map_walk_detach(m, "the map's hash key changed");
    if (m->size == 0) {
        /* Nothing placed under the old key: the new one at once. */
        m->k0 = k0;
        m->k1 = k1;
        m->rekey_pending = false;
        return;
    }
    /* Entries hashed under the old key (a map filled before its cluster's
     * key came): a migration to a table under the new one, after the one
     * under way if any. */
    m->next_k0 = k0;
    m->next_k1 = k1;
    m->rekey_pending = true;
    if (!m->old)
        start_rekey(m);
}

bool kv_map_key(const struct kv_map *m, uint8_t out[KV_MAP_KEY_BYTES])
{
    if (!m->shared_key)
        return false;
    uint64_t k0 = m->rekey_pending ? m->next_k0 : m->k0;
    uint64_t k1 = m->rekey_pending ? m->next_k1 : m->k1;
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t)(k0 >> (8 * i));
        out[8 + i] = (uint8_t)(k1 >> (8 * i));
    }
    return true;
}

struct kv_map_entry *kv_map_get(const struct kv_map *m, const char *key, size_t len)
{
    uint64_t h = map_hash(m, key, len);
    uint64_t v = m->slots[map_find(m, key, len, h)];
    if (__builtin_expect(!v && m->old != NULL, 0)) {
        const uint64_t *o = old_find(m, key, len, old_hash(m, key, len, h));
        v = o ? *o : 0;
    }
    return slot_entry(m, v);
}

/* Whether a full table waits to grow: while a snapshot child runs, until
 * the hard limit. */
static inline bool postponed(const struct kv_map *m)
{
    return kv_map_child_running() && !MAP_HARD(m);
}

/* The empty slot of the new table for key after growing (finishing first
 * the migration under way, if any: see map.h for why none is), or NULL
 * when out of memory; the growth's first step unless the put has taken
 * one. The key stays the same (h holds). */
static uint64_t *grown_slot(struct kv_map *m, const char *key, size_t len, uint64_t h, bool step)
{
    migrate(m, SIZE_MAX, SIZE_MAX);
    if (start(m, (m->mask + 1) * 2, m->k0, m->k1) != 0)
        return NULL;
    if (step)
        op_step(m);
    return &m->slots[map_find(m, key, len, h)];
}

/* While migrating: a step of the move, then key's slot in either table,
 * or the empty slot of the new table where it goes. *h becomes the hash
 * the slot's tag takes: the key's under the old table's key for a slot
 * there (they differ while re-keying). */
static uint64_t *migrating_slot(struct kv_map *m, const char *key, size_t len, uint64_t *hp)
{
    uint64_t h = *hp;
    op_step(m);
    size_t i = map_find(m, key, len, h);
    if (m->slots[i])
        return &m->slots[i];
    uint64_t ho = m->old ? old_hash(m, key, len, h) : h;
    uint64_t *o = m->old ? old_find(m, key, len, ho) : NULL;
    if (o) {
        *hp = ho;
        return o;
    }
    /* Past the hard limit with the move unfinished: never, by map.h's
     * count; should it be, the move finishes first. */
    if (m->old ? MAP_HARD(m) : (MAP_FULL(m) && !postponed(m)))
        return grown_slot(m, key, len, h, false);
    return &m->slots[i];
}

struct kv_map_entry *kv_map_put(struct kv_map *m, const char *key, size_t len, uint8_t type,
                                const void *value, size_t value_len)
{
    if (len > UINT32_MAX || value_len > UINT32_MAX)
        return NULL;
    if (__builtin_expect(m->rekey_pending && !m->old, 0))
        start_rekey(m);
    uint64_t h = map_hash(m, key, len), h0 = h;
    uint64_t *slot;
    if (__builtin_expect(m->old != NULL, 0)) {
        slot = migrating_slot(m, key, len, &h);
    } else {
        size_t i = map_find(m, key, len, h);
        slot = !m->slots[i] && MAP_FULL(m) && !postponed(m) ? grown_slot(m, key, len, h, true)
                                                             : &m->slots[i];
    }
    if (!slot)
        return NULL;
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
    if (__builtin_expect(m->walk != NULL, 0))
        e->flags = KV_ENTRY_WALK; /* the walk may keep the key's pre-image */
    if (*slot) {
        entry_drop(m, slot_entry(m, *slot), h0, key, len);
    } else {
        if (__builtin_expect(m->walk != NULL, 0))
            walk_note(m, h0, key, len, NULL);
        m->size++;
    }
    m->bytes += size;
    if ((uintptr_t)e & ~m->ptr_mask)
        kv_map_drop_tags(m);
    *slot = slot_word(m, e, h);
    return e;
}

/* Empty slot i of a table (mask, shift, hash key k0, k1): pull later
 * members of its run back over the hole, each only if its home slot does
 * not lie cyclically in (hole, j]. */
static void shift_out(struct kv_map *m, uint64_t *slots, size_t mask, unsigned shift,
                      uint64_t k0, uint64_t k1, size_t i)
{
    size_t hole = i;
    for (size_t j = (i + 1) & mask; slots[j]; j = (j + 1) & mask) {
        const struct kv_map_entry *e = slot_entry(m, slots[j]);
        uint64_t eh = siphash13(k0, k1, kv_entry_key(e), kv_entry_key_len(e));
        size_t h = bucket_home_in(m, eh & mask, mask, shift);
        if (((j - h) & mask) >= ((j - hole) & mask)) {
            slots[hole] = slots[j];
            hole = j;
        }
    }
    slots[hole] = 0;
}

static int del_migrating(struct kv_map *m, const char *key, size_t len, uint64_t h)
{
    op_step(m);
    size_t i = map_find(m, key, len, h);
    if (m->slots[i]) {
        entry_drop(m, slot_entry(m, m->slots[i]), h, key, len);
        m->size--;
        shift_out(m, m->slots, m->mask, m->perm_shift, m->k0, m->k1, i);
        return 1;
    }
    uint64_t *o = m->old ? old_find(m, key, len, old_hash(m, key, len, h)) : NULL;
    if (!o)
        return 0;
    entry_drop(m, slot_entry(m, *o), h, key, len);
    m->size--;
    /* The run after the hole ends before the moved stretch (empty, and
     * begun at an empty slot): the shift never carries an entry into it. */
    shift_out(m, m->old, m->old_mask, m->old_shift, m->old_k0, m->old_k1, (size_t)(o - m->old));
    if (--m->old_size == 0) {
        free(m->old);
        m->old = NULL;
    }
    return 1;
}

int kv_map_del(struct kv_map *m, const char *key, size_t len)
{
    if (__builtin_expect(m->rekey_pending && !m->old, 0))
        start_rekey(m);
    uint64_t h = map_hash(m, key, len);
    if (__builtin_expect(m->old != NULL, 0))
        return del_migrating(m, key, len, h);
    size_t i = map_find(m, key, len, h);
    if (!m->slots[i])
        return 0;
    entry_drop(m, slot_entry(m, m->slots[i]), h, key, len);
    m->size--;
    shift_out(m, m->slots, m->mask, m->perm_shift, m->k0, m->k1, i);
    /* Mass deletion: the table shrinks, a step at a time (not while a
     * snapshot child shares its pages, nor while a walk runs: map_walk.h). */
    if (__builtin_expect(MAP_SPARSE(m), 0) && !kv_map_child_running() && !m->walk)
        (void)start(m, shrunk_size(m), m->k0, m->k1);
    return 1;
}

const struct kv_map_entry *kv_map_next(const struct kv_map *m, size_t *pos)
{
    for (; *pos <= m->mask; (*pos)++) {
        if (m->slots[*pos])
            return slot_entry(m, m->slots[(*pos)++]);
    }
    /* Then the old table's, while growing: positions past the new one's. */
    for (size_t i; m->old && (i = *pos - (m->mask + 1)) <= m->old_mask; (*pos)++) {
        if (m->old[i]) {
            (*pos)++;
            return slot_entry(m, m->old[i]);
        }
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

/* What a scan calls for each entry: SCAN's visitor, or the walk's, which
 * takes the key's hash too (map_walk.c looks changed keys up by it). */
struct visitor {
    kv_map_visit_fn fn;
    kv_map_hvisit_fn hfn;
    void *ctx;
};

static inline void visit_entry(const struct visitor *v, const struct kv_map_entry *e, uint64_t h)
{
    if (v->hfn)
        v->hfn(v->ctx, e, h);
    else
        v->fn(v->ctx, e);
}

/* Bucket b of one table (mask, hash key k0, k1): the entries on the run
 * from slot i whose hash falls in b (linear probing never leaves a gap
 * between an entry and where its bucket's run starts), each passed to the
 * visitor; their count. */
static uint64_t scan_run(const struct kv_map *m, const uint64_t *slots, size_t mask, size_t i,
                         uint64_t b, uint64_t k0, uint64_t k1, const struct visitor *v)
{
    uint64_t n = 0;
    for (; slots[i]; i = (i + 1) & mask) {
        const struct kv_map_entry *e = slot_entry(m, slots[i]);
        uint64_t h = siphash13(k0, k1, kv_entry_key(e), kv_entry_key_len(e));
        if ((h & mask) == b) {
            visit_entry(v, e, h);
            n++;
        }
    }
    return n;
}

/* While migrating, bucket b of the smaller table's size (mask small),
 * wherever its keys are: in each table, b itself if the table is the
 * smaller, else every bucket b expands to (b with every value of the
 * bits the larger mask adds). */
static uint64_t scan_both(const struct kv_map *m, uint64_t b, uint64_t small,
                          const struct visitor *v)
{
    uint64_t n = 0;
    for (uint64_t hi = 0; hi <= (m->old_mask & ~small); hi += small + 1)
        n += scan_run(m, m->old, m->old_mask, old_bucket_start(m, b | hi), b | hi, m->old_k0,
                      m->old_k1, v);
    for (uint64_t hi = 0; hi <= (m->mask & ~small); hi += small + 1)
        n += scan_run(m, m->slots, m->mask, bucket_home(m, b | hi), b | hi, m->k0, m->k1, v);
    return n;
}

/* A cursor: the walk's position (a bucket number, reversed-binary
 * counting) in its low 40 bits, and above them, in bits 40-62, a tag
 * naming the hash key the position is counted under (map.h): 22 bits of
 * a fingerprint of that key, and a bit for the second half of a re-key's
 * walk, whose tag fingerprints the pair (old key, new key). Bit 63 is
 * never set, so a cursor fits a signed 64-bit integer too. */
#define CURSOR_POS_BITS 40
#define CURSOR_POS (((uint64_t)1 << CURSOR_POS_BITS) - 1)
#define CURSOR_FP (((uint64_t)1 << 22) - 1)
#define CURSOR_NEW ((uint64_t)1 << 22)

/* The tag of positions counted under the key (k0, k1): never 0. */
static uint64_t key_tag(uint64_t k0, uint64_t k1)
{
    static const char label[] = "raftkv scan cursor";
    uint64_t t = siphash13(k0, k1, label, sizeof label - 1) & CURSOR_FP;
    return t ? t : 1;
}

/* The tag of positions counted under the new key (k0, k1) of a re-key
 * from (o0, o1), once the old table was walked. */
static uint64_t pair_tag(uint64_t o0, uint64_t o1, uint64_t k0, uint64_t k1)
{
    unsigned char in[16];
    for (int i = 0; i < 8; i++) {
        in[i] = (unsigned char)(o0 >> (8 * i));
        in[8 + i] = (unsigned char)(o1 >> (8 * i));
    }
    return CURSOR_NEW | (siphash13(k0, k1, (const char *)in, sizeof in) & CURSOR_FP);
}

/* The walks a cursor may be in: the map's buckets under its key (both
 * tables while growing or shrinking), or, while re-keying, the old
 * table's under the old key and then the new table's under the new. */
enum walk { WALK_MAP, WALK_OLD, WALK_NEW };

/* The walk order's position of bucket b among 2^bits buckets (and back:
 * the same reversal), for looking buckets ahead. */
static inline uint64_t rev_in(uint64_t b, unsigned bits)
{
    return reverse_bits(b) >> (64 - bits);
}

/* A walk's look-ahead: the buckets WALK_AHEAD_SLOT places ahead of the
 * cursor have their home slots' lines fetched, and those WALK_AHEAD_ENTRY
 * ahead (their slots in the cache by then) the first two lines of each
 * entry on their runs, so the misses of many buckets overlap instead of
 * coming one after another (the walk's order, like SCAN's, jumps across
 * the slot table and the heap). While migrating, as scan_both: the
 * bucket of the smaller table's size in each table, or its expansions. */
#define WALK_AHEAD_SLOT 64
#define WALK_AHEAD_ENTRY 24
#define WALK_AHEAD_RUN 8 /* slots of a run fetched ahead at most */
/* Inlined into the scan by force: GCC takes a function that only reads
 * and prefetches for a pure one, and drops calls to it whose result is
 * unused, prefetches and all. */
#define AHEAD_INLINE static inline __attribute__((always_inline))

AHEAD_INLINE void ahead_run(const struct kv_map *m, const uint64_t *slots, size_t mask, size_t i,
                             bool entries)
{
    if (!entries) {
        __builtin_prefetch(&slots[i]);
        return;
    }
    for (int k = 0; k < WALK_AHEAD_RUN && slots[i]; k++, i = (i + 1) & mask) {
        const char *e = (const char *)slot_entry(m, slots[i]);
        __builtin_prefetch(e);
        __builtin_prefetch(e + 64);
    }
}

AHEAD_INLINE void ahead_bucket(const struct kv_map *m, uint64_t b, uint64_t small, bool entries)
{
    if (!m->old) {
        ahead_run(m, m->slots, m->mask, bucket_home(m, b), entries);
        return;
    }
    for (uint64_t hi = 0; hi <= (m->old_mask & ~small); hi += small + 1)
        ahead_run(m, m->old, m->old_mask, old_bucket_start(m, b | hi), entries);
    for (uint64_t hi = 0; hi <= (m->mask & ~small); hi += small + 1)
        ahead_run(m, m->slots, m->mask, bucket_home(m, b | hi), entries);
}

/* b: the bucket about to be visited, of 2^bits (mask small). */
AHEAD_INLINE void walk_ahead(const struct kv_map *m, uint64_t b, uint64_t small, unsigned bits)
{
    uint64_t c = rev_in(b, bits);
    if (c + WALK_AHEAD_SLOT <= small)
        ahead_bucket(m, rev_in(c + WALK_AHEAD_SLOT, bits), small, false);
    if (c + WALK_AHEAD_ENTRY <= small)
        ahead_bucket(m, rev_in(c + WALK_AHEAD_ENTRY, bits), small, true);
}

static uint64_t scan_with(const struct kv_map *m, uint64_t cursor, uint64_t max_entries,
                          uint64_t max_buckets, const struct visitor *v)
{
    bool rekeying = m->old && (m->old_k0 != m->k0 || m->old_k1 != m->k1);
    uint64_t tag = cursor >> CURSOR_POS_BITS, pos = cursor & CURSOR_POS;
    /* Where the cursor's walk goes on here; a cursor this map cannot
     * place (another key's, a re-key's first walk after it ended, made
     * up) starts its walk over: every key comes back, some twice. */
    enum walk w = rekeying ? WALK_OLD : WALK_MAP;
    bool known;
    if (rekeying && tag == pair_tag(m->old_k0, m->old_k1, m->k0, m->k1)) {
        w = WALK_NEW; /* this map walked its old table for the cursor */
        known = true;
    } else if (rekeying) {
        known = tag == key_tag(m->old_k0, m->old_k1);
    } else {
        /* under the map's key, or in the new table's walk of the re-key
         * that brought it */
        known = tag == key_tag(m->k0, m->k1) ||
                (m->rekeyed && tag == pair_tag(m->prev_k0, m->prev_k1, m->k0, m->k1));
    }
    if (cursor == 0 || !known) {
        w = rekeying ? WALK_OLD : WALK_MAP;
        pos = 0;
    }
    uint64_t entries = 0, buckets = 0;
    /* The walk's look-ahead counts in the smaller table's buckets (not
     * while re-keying: a walk never runs then). */
    uint64_t small = m->old && m->old_mask < m->mask ? m->old_mask : m->mask;
    unsigned bits = 0;
    while (((uint64_t)1 << bits) <= small)
        bits++;
    bool ahead = v->hfn && !rekeying;
    for (;;) {
        uint64_t mask, b;
        if (w == WALK_OLD) {
            mask = m->old_mask;
            b = pos & mask;
            entries += scan_run(m, m->old, mask, old_bucket_start(m, b), b, m->old_k0, m->old_k1,
                                v);
        } else if (w == WALK_NEW || !m->old) {
            mask = m->mask;
            b = pos & mask;
            if (ahead)
                walk_ahead(m, b, mask, bits);
            entries += scan_run(m, m->slots, mask, bucket_home(m, b), b, m->k0, m->k1, v);
        } else {
            /* Growing or shrinking: the buckets of the smaller table's size. */
            mask = m->old_mask < m->mask ? m->old_mask : m->mask;
            b = pos & mask;
            if (ahead)
                walk_ahead(m, b, mask, bits);
            entries += scan_both(m, b, mask, v);
        }
        buckets++;
        /* The next bucket in reverse-binary order: set the bits above the
         * mask, so that the increment of the reversed position carries
         * into the bits that index the table. */
        pos = reverse_bits(reverse_bits(pos | ~mask) + 1);
        if (pos == 0) {
            if (w != WALK_OLD)
                return 0;
            /* The old table walked: the new one's walk, from its start. */
            w = WALK_NEW;
        }
        if (entries >= max_entries || buckets >= max_buckets)
            break;
    }
    if (w == WALK_OLD)
        tag = key_tag(m->old_k0, m->old_k1);
    else if (w == WALK_NEW)
        tag = pair_tag(m->old_k0, m->old_k1, m->k0, m->k1);
    else
        tag = key_tag(m->k0, m->k1);
    return tag << CURSOR_POS_BITS | pos;
}

uint64_t kv_map_scan(const struct kv_map *m, uint64_t cursor, uint64_t max_entries,
                     uint64_t max_buckets, kv_map_visit_fn fn, void *ctx)
{
    struct visitor v = {.fn = fn, .ctx = ctx};
    return scan_with(m, cursor, max_entries, max_buckets, &v);
}

uint64_t kv_map_scan_hashed(const struct kv_map *m, uint64_t cursor, uint64_t max_entries,
                            uint64_t max_buckets, kv_map_hvisit_fn fn, void *ctx)
{
    struct visitor v = {.hfn = fn, .ctx = ctx};
    return scan_with(m, cursor, max_entries, max_buckets, &v);
}

uint64_t kv_map_key_hash(const struct kv_map *m, const char *key, size_t len)
{
    return map_hash(m, key, len);
}

/* The buckets a walk from cursor 0 has visited are those before the
 * cursor's position in reverse-binary order, counted in the walk's table
 * size (the smaller one while migrating, as kv_map_scan); after the table
 * doubled, a position of the smaller size counts the same buckets (their
 * expansions), so the comparison holds across growth. */
bool kv_map_walk_passed(const struct kv_map *m, uint64_t cursor, uint64_t h)
{
    size_t mask = m->old && m->old_mask < m->mask ? m->old_mask : m->mask;
    return reverse_bits(h & mask) < reverse_bits(cursor & CURSOR_POS & mask);
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Slot i of both tables: the new one's, then (growing) the old one's. */
static inline uint64_t slot_at(const struct kv_map *m, size_t i)
{
    return i <= m->mask ? m->slots[i] : m->old[i - (m->mask + 1)];
}

const struct kv_map_entry *kv_map_pick(const struct kv_map *m, uint64_t seed, size_t max_slots,
                                       kv_map_accept_fn accept, void *ctx)
{
    /* Slots drawn from the seed, over both tables while growing: each
     * entry has one slot, so a draw that lands on an accepted entry picks
     * every such entry alike. Should 64 draws miss (a nearly empty table,
     * or mostly expired keys), the first accepted entry after the first
     * draw, among the slots max_slots leaves to look at. */
    size_t total = m->mask + 1 + (m->old ? m->old_mask + 1 : 0);
    uint64_t x = mix64(seed); /* seeds a step apart draw unrelated slots */
    uint64_t draws = max_slots < 64 ? max_slots : 64;
    for (uint64_t t = 0; t < draws; t++) {
        uint64_t v = slot_at(m, mix64(x + t * 0x9e3779b97f4a7c15ull) % total);
        if (v && accept(ctx, slot_entry(m, v)))
            return slot_entry(m, v);
    }
    size_t run = max_slots - draws < total ? max_slots - draws : total;
    size_t start = (size_t)(x % total);
    for (size_t i = 0; i < run; i++) {
        uint64_t v = slot_at(m, (start + i) % total);
        if (v && accept(ctx, slot_entry(m, v)))
            return slot_entry(m, v);
    }
    return NULL;
}
