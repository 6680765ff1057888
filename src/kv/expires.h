/* expires.h - the map's deadlines, kept beside the entries rather than in
 * them (as Redis keeps db->expires): most keys have none, so an entry
 * spends one flag bit on it instead of eight bytes, and a deadline set or
 * cleared later never moves the entry. Open addressing keyed by the
 * entry's address, linear probing, backward-shift deletion, grown past 70%
 * full (90% while a snapshot child runs), shrunk by 4 below 1/8 full, and
 * freed when the last deadline goes. Private to the map (map.c).
 *
 * Growth and shrinking are incremental, as the map's (map.h says why the
 * scheme is safe and why the new table never fills first): the new table
 * is allocated, and each kv_expires_set or kv_expires_del moves at most
 * KV_EXPIRES_STEP_SLOTS deadlines of the old table (visiting at most 16
 * times as many slots), kv_expires_step as many as it is told; lookups
 * read both; while a snapshot child runs the move pauses as the map's
 * does. The leader's sampler of expired keys (kv_expired_sample) walks
 * the new table: a deadline not moved yet waits for its move (the event
 * loop moves 4096 a ms). */
#ifndef RAFTKV_KV_EXPIRES_H
#define RAFTKV_KV_EXPIRES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kv_map_entry;

struct kv_expires_slot {
    const struct kv_map_entry *entry; /* NULL: empty */
    int64_t at;
};

#define KV_EXPIRES_STEP_SLOTS 4

struct kv_expires {
    struct kv_expires_slot *slots; /* NULL until the first deadline */
    size_t mask, size;             /* size: deadlines in both tables */
    /* While growing: the old table, its deadlines not yet moved, and the
     * moved stretch [old_start, old_start + old_done) (empty slots). */
    struct kv_expires_slot *old; /* NULL when not growing */
    size_t old_mask, old_size, old_start, old_done;
    size_t moved;      /* deadlines moved by migrations so far (tests count them) */
    size_t migrations; /* tables replaced so far (tests count them) */
};

/* The deadline stored for e (it must have one). */
int64_t kv_expires_get(const struct kv_expires *x, const struct kv_map_entry *e);
/* Store or replace e's deadline: 0, or -1 when out of memory (unchanged). */
int kv_expires_set(struct kv_expires *x, const struct kv_map_entry *e, int64_t at);
/* Forget e's deadline, if it has one. */
void kv_expires_del(struct kv_expires *x, const struct kv_map_entry *e);
/* Start a growth or shrink that is due, then move up to max_slots
 * deadlines of the old table (visiting at most 16 * max_slots slots);
 * the number moved. */
size_t kv_expires_step(struct kv_expires *x, size_t max_slots);
/* Whether a step has work: a migration under way and not paused, or one
 * due. */
bool kv_expires_busy(const struct kv_expires *x);
void kv_expires_free(struct kv_expires *x);
size_t kv_expires_bytes(const struct kv_expires *x);

#endif
