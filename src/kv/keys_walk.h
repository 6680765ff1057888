/* keys_walk.h - KEYS over a large map in bounded steps: the keys a glob
 * matches in the map as it was when the walk began (the map's
 * point-in-time walk, map_walk.h), gathered a slice at a time by the
 * thread that changes the map, and answered as the same kv_result the
 * inline KV_KEYS gives (kv.h's kv_bulks: the reply's bulk strings,
 * framed slice by slice, and their count) once the walk ends. What a replica
 * runs for a KEYS read on a large map (src/replica/keys_walk.c), so
 * nothing proportional to the map runs in one event-loop turn.
 *
 * The reply's size is capped: each key counts its bytes plus
 * KV_KEYS_REPLY_KEY_BYTES (more than a RESP bulk string's framing takes),
 * and past the cap the result is an error that says so (a client's output
 * limit would otherwise close its connection), as soon as the cap is
 * passed: the walk ends there. The map has one walk at a time: a snapshot
 * or backup walk over it makes begin return NULL. */
#ifndef RAFTKV_KV_KEYS_WALK_H
#define RAFTKV_KV_KEYS_WALK_H

#include <stddef.h>
#include <stdint.h>

#include "kv/kv.h"

#define KV_KEYS_REPLY_KEY_BYTES 16

struct kv_keys_walk;

/* Begin over s as it is now: the keys pat matches (pat->p NULL or "*":
 * every key) that are live at `now` (a deadline <= now is absent, as in
 * the inline KV_KEYS). max_bytes caps the reply (0: none); max_kept_bytes
 * bounds the pre-images the map keeps meanwhile (map_walk.h). The pattern
 * is copied. NULL with why filled when it cannot begin (the map has a
 * walk, is re-keying, or memory ran out). */
struct kv_keys_walk *kv_keys_walk_begin(struct kv_store *s, const struct kv_str *pat, int64_t now,
                                        size_t max_bytes, size_t max_kept_bytes, char *why,
                                        size_t whylen);
/* Visit up to about max_entries entries (a bucket is not split). 1: done
 * (the result is ready, and the map no longer watched); 0: more to come;
 * -1: abandoned (a large FLUSHALL, the map replaced, freed or re-keyed, the
 * pre-images past max_kept_bytes: kv_keys_walk_error): only free is left. */
int kv_keys_walk_step(struct kv_keys_walk *w, size_t max_entries);
/* Entries visited so far (every key of the view, matched or not). */
size_t kv_keys_walk_visited(const struct kv_keys_walk *w);
const char *kv_keys_walk_error(const struct kv_keys_walk *w);
/* After step returned 1: the answer (the list moves into r; once). */
void kv_keys_walk_result(struct kv_keys_walk *w, struct kv_result *r);
/* The store the walk was begun on. */
const struct kv_store *kv_keys_walk_store(const struct kv_keys_walk *w);
/* Detaches from the map (if still attached) and frees everything. */
void kv_keys_walk_free(struct kv_keys_walk *w);

/* The inline KEYS with the same cap: one pass over s. */
void kv_keys_once(struct kv_store *s, const struct kv_str *pat, int64_t now, size_t max_bytes,
                  struct kv_result *r);

#endif
