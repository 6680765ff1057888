/* script_tx.c - what a transaction's entry (one KV_MULTI) did to the script
 * cache while it applies: whether a SCRIPT FLUSH came earlier in it, and
 * which scripts a SCRIPT LOAD or an EVAL cached since (its start or that
 * flush). Redis runs a transaction's commands one after another against
 * one cache, so MULTI, SCRIPT FLUSH, EVALSHA x, EXEC answers NOSCRIPT, and
 * MULTI, SCRIPT LOAD body, EVALSHA sha, EXEC runs it. Here an EVALSHA's
 * body is looked up by the member that received the EXEC, before the
 * entry exists; whether the transaction itself emptied or filled the cache
 * before the EVALSHA is decided here, at apply time, from the entry alone,
 * so that every member answers the same (the caches themselves differ:
 * restarts, --script-cache-max). The record points into the entry's own
 * sub-commands, which outlive it. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "kv/script.h"

void kv_script_tx_begin(struct kv_store *s, struct kv_script_tx *tx)
{
    *tx = (struct kv_script_tx){0};
    if (!s->script_tx)
        s->script_tx = tx;
}

void kv_script_tx_end(struct kv_store *s, struct kv_script_tx *tx)
{
    if (s->script_tx == tx)
        s->script_tx = NULL;
    free(tx->seen);
    *tx = (struct kv_script_tx){0};
}

void kv_script_tx_flushed(struct kv_store *s)
{
    struct kv_script_tx *tx = s->script_tx;
    if (!tx)
        return;
    tx->flushed = true;
    tx->n_seen = 0;
}

void kv_script_tx_loaded(struct kv_store *s, const char *sha, const void *body, size_t n)
{
    struct kv_script_tx *tx = s->script_tx;
    if (!tx)
        return;
    if (tx->n_seen == tx->cap_seen) {
        size_t cap = tx->cap_seen ? tx->cap_seen * 2 : 8;
        struct kv_script_tx_seen *p = realloc(tx->seen, cap * sizeof *p);
        if (!p) {
            tx->failed = true;
            return;
        }
        tx->seen = p;
        tx->cap_seen = cap;
    }
    struct kv_script_tx_seen *e = &tx->seen[tx->n_seen++];
    memcpy(e->sha, sha, 40);
    e->sha[40] = '\0';
    e->body = body;
    e->n = n;
}

enum kv_script_tx_state kv_script_tx_find(const struct kv_store *s, const char *sha, size_t sha_len,
                                          const uint8_t **body, size_t *n)
{
    const struct kv_script_tx *tx = s->script_tx;
    if (!tx)
        return KV_SCRIPT_TX_UNKNOWN;
    if (tx->failed)
        return KV_SCRIPT_TX_FAILED;
    if (sha_len == 40) {
        char low[40];
        for (size_t i = 0; i < 40; i++)
            low[i] = (char)tolower((unsigned char)sha[i]);
        for (size_t i = tx->n_seen; i-- > 0;)
            if (memcmp(tx->seen[i].sha, low, 40) == 0) {
                *body = tx->seen[i].body;
                *n = tx->seen[i].n;
                return KV_SCRIPT_TX_LOADED;
            }
    }
    return tx->flushed ? KV_SCRIPT_TX_GONE : KV_SCRIPT_TX_UNKNOWN;
}
