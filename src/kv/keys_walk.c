/* keys_walk.c - KEYS in bounded steps over the map's point-in-time walk
 * (keys_walk.h); the list itself is gathered as the inline KEYS gathers
 * it (ops_keys.c's kv_keys_list). */
#include "kv/keys_walk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv_internal.h"
#include "kv/map_walk.h"

struct kv_keys_walk {
    const struct kv_store *store;
    struct kv_map_walk *walk; /* NULL once the answer is known */
    struct kv_keys_list list;
    struct kv_str pat; /* owned copy */
    size_t visited;
    bool done, failed;
    char why[200];
};

struct kv_keys_walk *kv_keys_walk_begin(struct kv_store *s, const struct kv_str *pat, int64_t now,
                                        size_t max_bytes, size_t max_kept_bytes, char *why,
                                        size_t whylen)
{
    struct kv_keys_walk *w = calloc(1, sizeof *w);
    if (w && pat->p) { /* "" stays a pattern: it matches only the empty key */
        w->pat.p = malloc(pat->n + 1);
        w->pat.n = pat->n;
        if (w->pat.p)
            memcpy(w->pat.p, pat->p, pat->n);
    }
    if (!w || (pat->p && !w->pat.p)) {
        free(w);
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    w->walk = kv_map_walk_begin(&s->map, max_kept_bytes, why, whylen);
    if (!w->walk) {
        free(w->pat.p);
        free(w);
        return NULL;
    }
    w->store = s;
    kv_keys_list_init(&w->list, &w->pat, now, max_bytes);
    return w;
}

static int take(void *ctx, const struct kv_map_entry *e, int64_t expiry_ms)
{
    struct kv_keys_walk *w = ctx;
    w->visited++;
    kv_keys_list_take(&w->list, kv_entry_key(e), kv_entry_key_len(e), expiry_ms);
    return 0;
}

int kv_keys_walk_step(struct kv_keys_walk *w, size_t max_entries)
{
    if (w->failed)
        return -1;
    if (w->done)
        return 1;
    int rc = kv_map_walk_step(w->walk, max_entries, take, w);
    if (rc < 0) {
        snprintf(w->why, sizeof w->why, "%s", kv_map_walk_error(w->walk));
        w->failed = true;
        kv_keys_list_release(&w->list);
        return -1;
    }
    if (rc == 0 && !w->list.over)
        return 0;
    /* Complete, or past the cap (the answer is the error already): the
     * map goes free at once. */
    kv_map_walk_end(w->walk);
    w->walk = NULL;
    w->done = true;
    return 1;
}

size_t kv_keys_walk_visited(const struct kv_keys_walk *w)
{
    return w->visited;
}

const char *kv_keys_walk_error(const struct kv_keys_walk *w)
{
    return w->why;
}

void kv_keys_walk_result(struct kv_keys_walk *w, struct kv_result *r)
{
    kv_keys_list_result(&w->list, r);
}

const struct kv_store *kv_keys_walk_store(const struct kv_keys_walk *w)
{
    return w->store;
}

void kv_keys_walk_free(struct kv_keys_walk *w)
{
    if (!w)
        return;
    kv_map_walk_end(w->walk);
    kv_keys_list_release(&w->list);
    free(w->pat.p);
    free(w);
}
