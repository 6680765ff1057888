/* expires.h - the map's deadlines, kept beside the entries rather than in
 * them (as Redis keeps db->expires): most keys have none, so an entry
 * spends one flag bit on it instead of eight bytes, and a deadline set or
 * cleared later never moves the entry. Open addressing keyed by the
 * entry's address, linear probing, backward-shift deletion, grown past 70%
 * full. Private to the map (map.c). */
#ifndef RAFTKV_KV_EXPIRES_H
#define RAFTKV_KV_EXPIRES_H

#include <stddef.h>
#include <stdint.h>

struct kv_map_entry;

struct kv_expires_slot {
    const struct kv_map_entry *entry; /* NULL: empty */
    int64_t at;
};

struct kv_expires {
    struct kv_expires_slot *slots; /* NULL until the first deadline */
    size_t mask, size;
};

/* The deadline stored for e (it must have one). */
int64_t kv_expires_get(const struct kv_expires *x, const struct kv_map_entry *e);
/* Store or replace e's deadline: 0, or -1 when out of memory (unchanged). */
int kv_expires_set(struct kv_expires *x, const struct kv_map_entry *e, int64_t at);
/* Forget e's deadline, if it has one. */
void kv_expires_del(struct kv_expires *x, const struct kv_map_entry *e);
void kv_expires_free(struct kv_expires *x);
size_t kv_expires_bytes(const struct kv_expires *x);

#endif
