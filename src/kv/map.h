/* map.h - the store's hash map: canonical key text -> JSON value, and the
 * order SCAN walks it in.
 *
 * Open addressing with linear probing over a slot array that keeps each
 * key's hash beside its entry pointer, so a lookup touches the slot array
 * once and the one entry whose hash matches. It replaced a jansson object,
 * whose chained pairs cost several cache misses per write and showed as a
 * fifth of the leader's CPU under redis-benchmark. Deletion shifts the run
 * back instead of leaving tombstones, so a map that sees many deletes does
 * not slow down.
 *
 * An entry is one allocation: its fixed fields, then the key's bytes, then
 * the value's bytes (a small type tag says how they read: kv.h's
 * KV_TYPE_*), so a key costs one malloc and one 8-byte slot. kv_map_next's
 * order is the slot order, which differs from map to map: callers that
 * need a stable order sort.
 *
 * Hashing, and SCAN. Keys hash with SipHash-1-3 (64 bits) under a 16-byte
 * key. A key's bucket is the low bits of its hash (as many as the table
 * has slots), and SCAN walks buckets in Redis's reverse-binary cursor
 * order (kv_map_scan). The hash key is the cluster's (kv_map_set_key:
 * drawn at random by the member that first leads the cluster, carried by
 * the log's cluster-id entry and by snapshots, never shown to clients nor
 * put in backups: `raftkv restore` gives the new cluster a key of its own),
 * so a key is in the same bucket on every member whose table has the same
 * size; and the reverse-binary order visits, between two calls with
 * different table sizes, exactly the buckets of the new size that hold
 * what the old size's unvisited buckets held. So a cursor made by one
 * member continues correctly on another member with any table size (sizes
 * differ: a member that restored a snapshot sized its table to the
 * snapshot). Redis's guarantee follows: a key present from the start to
 * the end of a full iteration is returned at least once, whichever members
 * serve the calls and whatever snapshots or leader changes happen in
 * between; a key may come more than once when the table grew, shrank or
 * was re-keyed meanwhile. Until a map is given the cluster's key (the Maelstrom node, a cluster
 * made before the key existed) it hashes under a key of its own, drawn
 * per map from a per-process random secret: everything works, only a
 * cursor taken to another member starts its walk over there (below).
 *
 * Where a bucket's entries lie: the run of slots that starts at the
 * bucket's home slot, a permutation of the bucket numbers under this map's
 * own secret (so slot layouts differ between members). Linear probing
 * never leaves a gap between an entry and its home, so a SCAN step reads
 * the run from the home slot to the next empty slot and takes the entries
 * whose hash falls in the bucket (hashing each key of the run again).
 *
 * Hash flooding. The hash key is secret, so clients cannot compute keys
 * that collide. SCAN does show which bucket a key is in, so a client
 * that writes and scans can find keys of one bucket online, one in about
 * as many tries as the table has slots (as Redis's SCAN lets it find keys
 * of one of its buckets); because bucket homes are permuted under a
 * per-map secret, it cannot aim keys of many buckets at one stretch of
 * slots, the attack linear probing would otherwise fear (a run filled by
 * keys of neighbouring buckets).
 *
 * Growth, shrinking and re-keying, a bounded step at a time. Past 70%
 * full the slot table doubles; below 1/8 full (and above 64 slots) it
 * shrinks to a quarter (so it is then under half full: growth and shrink
 * are far apart); given the cluster's key (kv_map_set_key) while holding
 * entries, it moves to a table under that key. No call moves every
 * entry: moving 734,000 keys at once took 0.5 to 2.6 s on the event
 * loop, long enough for a leader to lose its followers. Each of the three
 * is one migration: a new table is allocated, the current one is kept as
 * the old table, and entries move across in steps: each put and delete
 * moves at most KV_MAP_STEP_SLOTS (4) entries, visiting at most 64 old
 * slots, and the event loop calls kv_map_rehash_step while
 * kv_map_rehashing() (replica_flush: REPLICA_REHASH_SLOTS = 4096
 * entries, at most once a ms; under a millisecond of CPU), which also
 * starts a shrink left after the last delete (its first steps into a
 * table over 1 MiB touch its pages in order instead, 1 MiB a step: moved
 * entries land at random slots, and faulting most of a fresh table's
 * pages in one step took 37 ms at 2^21 slots). Lookups move nothing (const
 * to them). The bound: a put or delete moves at most 4 entries, and at
 * most 4 deadlines in the deadline table (expires.h, migrated the same
 * way); a kv_map_rehash_step(m, n) at most n entries and n deadlines.
 * Only kv_map_reserve finishes one at once (on an empty map, before a
 * snapshot's load); kv_map_clear returns to 64 slots.
 *
 * The new table never fills first, so no put has to finish a migration:
 * with n entries to move out of T old slots, the puts and deletes of at
 * most n/4 + T/64 operations finish it. A growth starts at 0.7 N entries
 * in 2N slots, whose puts reach 70% of the new table only after 0.7 N
 * more (0.19 N would do); a shrink of T slots starts below T/8 entries
 * in T/4 slots (at most half full), and T/64 + T/32 = 0.19 (T/4) ops come
 * before the 0.2 (T/4) puts that fill it to 70%; a re-key goes to a table
 * at most half full (the same size, or double), and 0.14 of its size in
 * ops come before the 0.2 that fill it to 70%. A put that finds the new
 * table past 90% with the move unfinished (never, by this count)
 * finishes it and grows; past 70% it only goes on.
 *
 * Snapshot children. A snapshot (or backup) is written by a forked child
 * (bgsave.h) that shares the parent's pages copy-on-write: every slot a
 * migration writes copies the 4 KiB page under it (up to 24 MB of slot
 * tables at 1M keys for one growth). While a child runs
 * (kv_map_snapshot_child, set by the server around the fork), as Redis
 * postpones dict resizes during BGSAVE: no shrink starts; a growth waits
 * until the table is 90% full (a miss then probes about 50 slots, read in
 * order, instead of 6: slower, not broken; and the last 10% leave room
 * for the move); a migration under way pauses while the table taking new
 * keys is below 60%, then goes on, and by the count above ends before
 * that table passes 90% (from 60% of 2N there are 0.6 N puts for at most
 * 0.24 N operations' moves; from 60% of a shrunk table 0.3 for 0.19, of a
 * re-keyed one 0.3 for 0.14 or less). The next step after the child is
 * reaped starts what waited. Measured (bench/map_bench.c fork, 1M keys):
 * with a growth due when the child forks, 100,000 new keys took 5,568
 * minor faults and 219-249 ms of CPU, against 7,618 and 488-548 ms when
 * the map did not know of the child (the 8 MB old table copied, the
 * 734,000 entries moved meanwhile); overwrites cost the same either way
 * (27,400 faults: the entries' own pages).
 *
 * Snapshot walks. With --snapshot-method walk no child shares the pages:
 * the event loop walks the map itself (map_walk.h) along SCAN's cursor, and
 * while a walk runs, puts, deletes and deadline changes first hand it the
 * key's entry as it was (a pre-image) if it has not passed the key; no
 * shrink starts (its smaller table would revisit buckets) and a re-key
 * abandons the walk; growth goes on as usual.
 *
 * While migrating, a lookup reads the new table, then the old one (under
 * the old key, hashing the key again while re-keying); a new key goes
 * into the new table, a key still in the old one is replaced in place, a
 * delete takes the key from whichever holds it. The old table
 * is moved in slot order from one of its empty slots, p, on (wrapping), so
 * its moved stretch [p, p + done) is all empty, and because no run
 * crossed the empty p, an entry still there whose home lies in the
 * stretch sits in the run that starts at the stretch's end: lookups and
 * SCAN in the old table start there instead (the old table is at most
 * 90% full, so the empty p exists, whatever its size against the new). Deletion there shifts back
 * as usual: the run after the hole ends at the latest at the stretch
 * (empty), so nothing is shifted into it or around the table's end behind
 * it, and no tombstones are needed. kv_map_next visits the new table's
 * slots and then the old one's (each entry once); kv_map_pick draws over
 * the slots of both (each entry alike); kv_map_bytes counts both.
 *
 * SCAN while migrating walks the buckets of the smaller table's size, m0
 * (the old one's when growing, the new one's when shrinking): for the
 * cursor's bucket b it takes b in the smaller table and, in the larger,
 * each bucket b expands to (b plus every value of the bits its mask
 * adds). Those are exactly the keys whose hash is b under m0, wherever
 * they sit at the time of the call, which is what one call on a settled
 * table of the smaller size returns; the cursor then advances in m0's
 * reverse-binary order. So, for the guarantee above, a migrating map is a
 * table of its smaller size, and the argument between calls on tables of
 * different sizes holds unchanged: a cursor passes between growing,
 * shrinking and settled members, of any sizes, and a growth or shrink may
 * start or end between two calls, and each key present throughout still
 * comes back.
 *
 * SCAN across a re-key. A bucket number means nothing under another hash
 * key, so a cursor says which key its number is counted under: its low 40
 * bits are the bucket (tables have at most 2^40 slots), bits 40-61 a
 * fingerprint of the key (22 bits of its SipHash of a fixed text: the
 * same on every member with the cluster's key, telling nothing of the
 * key), bit 62 a flag (below), bit 63 never set (a cursor fits a signed
 * 64-bit integer). While re-keying (an old cluster's first leader applies
 * the cluster's key: the move lasts about a ms per 4096 entries), the map
 * walks in two halves: first the old table's buckets under the old key
 * (old table only), then, from bucket 0, the new table's under the new
 * key (new table only), that half's cursors flagged and tagged with a
 * fingerprint of the pair (old key, new key). A key present throughout
 * comes back: entries only leave the old table (a new key goes into the
 * new one, a key replaced stays where it is), so one still there when the
 * first half reaches its bucket is returned then, and one moved before is
 * in the new table for the whole second half, which walks all of it. A
 * cursor of the old key's walk made before the re-key started is in the
 * first half already (the map walked the same table under the same key);
 * a cursor the map cannot place starts the walk over, from bucket 0 of
 * the first half (or of the map's walk when not re-keying), returning
 * every key again: one made under another key (another member without
 * the cluster's key, a member before or after its own re-key), a
 * first-half cursor after the move ended (its keys are anywhere in the
 * new table now), a second-half cursor anywhere but on the member that
 * walked its first half (which knows the pair while re-keying and after),
 * a cursor made up by a client. So the guarantee holds however the calls
 * and the move interleave, at the price of one more whole walk for each
 * re-key a SCAN overlaps (its second half, or a start over) and for each
 * move between members that cannot place each other's cursors (reads are
 * served by the leader: at a leader change); and the fingerprints
 * compared are 22 bits, so a cursor of an unrelated key is taken for the
 * map's own once in 4 million such arrivals.
 *
 * Costs. Memory: one 8-byte slot per key in a table at most 70% full (90%
 * while a snapshot child runs) and at least 1/8 full (or of 64 slots),
 * and nothing else for SCAN. Time: a lookup hashes once and probes the run
 * (tags rule out nearly every other entry without touching it); while not
 * growing, a put, delete or lookup adds one predictable branch (is an old
 * table there?); growth and deletion hash again the keys they move; a
 * SCAN call costs, for each bucket it visits, the run from the bucket's
 * home (a few slots at 70%), each key of it hashed: O(COUNT + empty
 * buckets visited (at most 10 * COUNT)), times the mean run length (about
 * twice that while growing: the bucket's run in the old table and its two
 * expansions' in the new one).
 */
#ifndef RAFTKV_KV_MAP_H
#define RAFTKV_KV_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv/expires.h"

/* An entry: the fields below, then the key's length and the value's as
 * varints (LEB128: one byte each below 128), then the key's bytes and the
 * value's. A 16-byte key with a 100-byte value takes 128 bytes (jemalloc's
 * 128 class), where fixed 32-bit lengths and an inline deadline took 165
 * (the 192 class), and a separate SCAN index's links 148 (the 160 class). Read the lengths and bytes with kv_entry_*(); a
 * deadline lives in the map's table (expires.h): kv_map_expiry(),
 * kv_map_set_expiry(). */
struct kv_map_entry {
    uint64_t version; /* the store's version counter when last written */
    uint8_t type;     /* KV_TYPE_* */
    uint8_t flags;    /* KV_ENTRY_* */
    unsigned char data[];
};

#define KV_ENTRY_EXPIRES 0x01 /* a deadline in the map's table */
/* Written (put, or its deadline changed) while a walk ran (map_walk.h):
 * the walk may hold the key's pre-image, so it looks the key up in its
 * side table before emitting the entry; an entry without the flag cannot
 * have one, and the walk skips the lookup. A walk clears the flag of each
 * entry it visits; one left from an abandoned walk costs the next walk a
 * lookup, nothing else. */
#define KV_ENTRY_WALK 0x02

/* Reads a varint at p into *v; its byte count. */
static inline size_t kv_varint_get(const unsigned char *p, uint32_t *v)
{
    uint32_t x = 0;
    size_t i = 0;
    for (int shift = 0;; shift += 7) {
        unsigned char b = p[i++];
        x |= (uint32_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            break;
    }
    *v = x;
    return i;
}

static inline size_t kv_entry_key_len(const struct kv_map_entry *e)
{
    uint32_t k;
    kv_varint_get(e->data, &k);
    return k;
}

static inline size_t kv_entry_value_len(const struct kv_map_entry *e)
{
    uint32_t k, v;
    kv_varint_get(e->data + kv_varint_get(e->data, &k), &v);
    return v;
}

static inline const char *kv_entry_key(const struct kv_map_entry *e)
{
    uint32_t k, v;
    size_t n = kv_varint_get(e->data, &k);
    n += kv_varint_get(e->data + n, &v);
    return (const char *)e->data + n;
}

static inline const char *kv_entry_value(const struct kv_map_entry *e)
{
    uint32_t k, v;
    size_t n = kv_varint_get(e->data, &k);
    n += kv_varint_get(e->data + n, &v);
    return (const char *)e->data + n + k;
}

/* A slot is one word: the entry's address in the low 48 bits and the top
 * 16 bits of the key's hash above them (a tag that rules out nearly every
 * entry a probe passes without touching it); 0 is empty. x86-64 and
 * aarch64 user addresses fit in 48 bits; should an allocation not fit, the
 * map drops the tags for good and slots hold plain addresses (lookups then
 * compare keys of every entry probed). The full hash is not kept: growing
 * and deleting hash the entry's key again. */
struct kv_map {
    uint64_t *slots;
    size_t mask; /* slot count - 1; the count is a power of two */
    size_t size;
    size_t bytes;      /* bytes requested for entries (headers, keys, values) */
    struct kv_expires expires; /* deadlines of the entries that have one */
    uint64_t ptr_mask; /* the address bits of a slot: 48 bits, or all when untagged */
    uint64_t k0, k1;   /* the hash key */
    bool shared_key;   /* k0, k1 are the cluster's (kv_map_set_key) */
    uint64_t perm_a, perm_d, perm_c; /* the bucket permutation's secret */
    unsigned perm_shift;             /* and its shift: half the mask's bits */
    /* While migrating (see above): the old table, its shift, its hash
     * key (the map's but while re-keying), the entries still in it, and
     * the moved stretch [old_start, old_start + old_done) of its slots
     * (all empty). old is NULL otherwise. */
    uint64_t *old;
    size_t old_mask, old_size, old_start, old_done;
    unsigned old_shift;
    uint64_t old_k0, old_k1;
    /* The cluster's key, given while another migration ran: its own
     * migration starts when that one ends. */
    bool rekey_pending;
    uint64_t next_k0, next_k1;
    /* The key the last re-key moved entries away from (rekeyed: there was
     * one): SCAN cursors made in its new table's walk name the pair. */
    bool rekeyed;
    uint64_t prev_k0, prev_k1;
    size_t warm;       /* slots of the new table the loop's steps have touched */
    size_t moved;      /* entries moved by migrations so far (tests count them) */
    size_t migrations; /* migrations started so far (tests count them) */
    /* A point-in-time walk under way over this map (map_walk.h), or NULL:
     * changes first tell it, and no shrink starts meanwhile. */
    struct kv_map_walk *walk;
};

/* Entries a put or delete moves while the map migrates (at most), visiting
 * at most KV_MAP_SCAN_PER_ENTRY times as many old slots; the loop's
 * kv_map_rehash_step(m, n) moves at most n, visiting at most 16 n. */
#define KV_MAP_STEP_SLOTS 4
#define KV_MAP_SCAN_PER_ENTRY 16

#define KV_MAP_KEY_BYTES 16

int kv_map_init(struct kv_map *m);
/* Releases every entry and value; the map is empty and usable after. */
void kv_map_clear(struct kv_map *m);
void kv_map_free(struct kv_map *m);

/* The entry, or NULL if the key is absent. */
struct kv_map_entry *kv_map_get(const struct kv_map *m, const char *key, size_t len);
/* Store value (type, bytes) under key, replacing what was there; the new
 * entry has no deadline and version 0 (the caller sets them). The entry, or
 * NULL when out of memory (the map is then unchanged). */
struct kv_map_entry *kv_map_put(struct kv_map *m, const char *key, size_t len, uint8_t type,
                                const void *value, size_t value_len);
/* 1 if the key was there (now removed), 0 if it was absent. */
int kv_map_del(struct kv_map *m, const char *key, size_t len);

/* Make room for n entries in all without growing (a snapshot's record
 * count, before loading it): 0, or -1 when out of memory (unchanged). */
int kv_map_reserve(struct kv_map *m, size_t n);
/* Fetch into the cache the slot where a put of key starts looking (a
 * snapshot's loader calls it some keys ahead of their kv_map_put). */
void kv_map_prefetch(const struct kv_map *m, const char *key, size_t len);
/* The same in two steps for a run of lookups (applying a batch of
 * entries): kv_map_prefetch_slot some keys ahead returns the key's hash;
 * kv_map_prefetch_entry with it, a few keys later, when the slot is in the
 * cache, fetches the entry its tag points at. Hints only: a stale hash
 * (the map grew or was re-keyed in between) fetches the wrong line. */
uint64_t kv_map_prefetch_slot(const struct kv_map *m, const char *key, size_t len);
void kv_map_prefetch_entry(const struct kv_map *m, uint64_t h);

/* e's deadline in ms, 0 for none. */
int64_t kv_map_expiry(const struct kv_map *m, const struct kv_map_entry *e);
/* Set e's deadline (0: none); the entry stays where it is. 0, or -1 when
 * out of memory (then unchanged). */
int kv_map_set_expiry(struct kv_map *m, struct kv_map_entry *e, int64_t expiry_ms);
/* The number of entries with a deadline. */
size_t kv_map_expiring(const struct kv_map *m);

/* Bytes requested for the map's entries, its slot array and its deadline
 * table. */
size_t kv_map_bytes(const struct kv_map *m);

/* Slots hold plain addresses from now on, as after an allocation past
 * 48 bits (kv_map_put does this itself; tests call it to run that way). */
void kv_map_drop_tags(struct kv_map *m);

/* A migration's bounded step, for the event loop to call while
 * kv_map_rehashing(): starts one that is due (a growth postponed while a
 * snapshot child ran, a shrink, a re-key), then moves up to max_slots
 * entries of the old slot table, visiting at most 16 * max_slots of its
 * slots, and as many of the old deadline table (so at most 2 * max_slots
 * entries); the number moved. */
size_t kv_map_rehash_step(struct kv_map *m, size_t max_slots);
/* Whether a step has work: a migration under way and not paused, or one
 * due. */
bool kv_map_rehashing(const struct kv_map *m);

/* A snapshot (or backup) child was forked (true) or has been reaped
 * (false); counted, for this process's maps. While one runs, the maps
 * start no growth below the hard limit (90%) and no shrink, and pause
 * their migrations while the table taking new keys is below 60%: each
 * slot written would copy a page the child still shares. */
void kv_map_snapshot_child(bool running);
bool kv_map_child_running(void);

/* Entries in slot order (both tables while growing): start with *pos = 0;
 * NULL at the end. The map must not change in between. */
const struct kv_map_entry *kv_map_next(const struct kv_map *m, size_t *pos);

/* For map_walk.c: the bytes an entry takes (its allocation's size asked
 * for); key's hash in m (what kv_map_walk_passed takes); whether a SCAN
 * walk from cursor 0 that has reached cursor has visited the bucket of a
 * key of hash h (the map neither shrank nor was re-keyed since: map_walk.h
 * says why it holds). */
size_t kv_map_entry_size(const struct kv_map_entry *e);
uint64_t kv_map_key_hash(const struct kv_map *m, const char *key, size_t len);
bool kv_map_walk_passed(const struct kv_map *m, uint64_t cursor, uint64_t h);

/* Hash under the cluster's key from now on (the same key on every
 * member). Entries already there move to a table under the new key a
 * bounded step at a time (after a migration under way, if any); an empty
 * map takes the key at once. The same key again changes nothing. */
void kv_map_set_key(struct kv_map *m, const uint8_t key[KV_MAP_KEY_BYTES]);
/* The cluster's key, if the map was given one: true and out filled. */
bool kv_map_key(const struct kv_map *m, uint8_t out[KV_MAP_KEY_BYTES]);
/* A key's hash under the given hash key (tests check it against
 * SipHash-1-3 computed independently). */
uint64_t kv_map_hash_with(const uint8_t key[KV_MAP_KEY_BYTES], const char *k, size_t len);

/* SCAN: visit buckets from cursor in reverse-binary order, calling fn for
 * each entry, until at least max_entries were visited or max_buckets
 * buckets were, or the walk wrapped. Returns the next cursor (0: done;
 * otherwise a bucket number tagged with the key it is counted under, and
 * below 2^63: see "SCAN across a re-key" above). A cursor the map cannot
 * place starts the walk over. */
typedef void (*kv_map_visit_fn)(void *ctx, const struct kv_map_entry *e);
uint64_t kv_map_scan(const struct kv_map *m, uint64_t cursor, uint64_t max_entries,
                     uint64_t max_buckets, kv_map_visit_fn fn, void *ctx);
/* The same walk for map_walk.c: fn is given each entry's hash in m too,
 * and on a settled table (no migration) the buckets a few places ahead
 * are fetched into the cache while the current one is visited. */
typedef void (*kv_map_hvisit_fn)(void *ctx, const struct kv_map_entry *e, uint64_t h);
uint64_t kv_map_scan_hashed(const struct kv_map *m, uint64_t cursor, uint64_t max_entries,
                            uint64_t max_buckets, kv_map_hvisit_fn fn, void *ctx);

/* RANDOMKEY: an entry that accept() takes, drawn from seed (each such
 * entry alike while they are not rare), or NULL if none is accepted among
 * the at most max_slots slots it looks at (64 drawn, then a run of the
 * rest; SIZE_MAX: the whole table). Expected O(1) when most entries are
 * accepted, O(max_slots) at worst. */
typedef bool (*kv_map_accept_fn)(void *ctx, const struct kv_map_entry *e);
const struct kv_map_entry *kv_map_pick(const struct kv_map *m, uint64_t seed, size_t max_slots,
                                       kv_map_accept_fn accept, void *ctx);

#endif
