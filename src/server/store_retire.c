/* store_retire.c - freeing a state-machine map the replica no longer needs
 * (replica_config.retire_store: the one a snapshot replaced, or one built
 * for a snapshot the core did not install) on libuv's thread pool. Freeing
 * millions of entries takes about as long as building them, and the loop
 * must not stall on it; nothing else holds the map once it is retired. */
#include <stdlib.h>

#include "server/server_internal.h"

struct retired {
    uv_work_t work;
    struct kv_store *kv;
};

static void retire_run(uv_work_t *w)
{
    struct retired *t = w->data;
    kv_store_free(t->kv);
    t->kv = NULL;
}

static void retire_done(uv_work_t *w, int status)
{
    (void)status;
    struct retired *t = w->data;
    kv_store_free(t->kv); /* cancelled (never ran): here then */
    free(t);
}

void server_retire_store(void *ctx, struct kv_store *kv)
{
    struct server *s = ctx;
    if (!kv)
        return;
    /* A snapshot's or a backup's walk over it stops here, on the loop
     * (bgsave_walk.c, backup_walk.c). */
    bgsave_store_leaving(&s->bgsave, kv);
    backup_store_leaving(s, kv);
    struct retired *t = malloc(sizeof *t);
    if (t) {
        *t = (struct retired){.kv = kv};
        t->work.data = t;
        if (uv_queue_work(s->loop, &t->work, retire_run, retire_done) == 0)
            return;
        free(t);
    }
    kv_store_free(kv); /* no thread to run it on */
}
