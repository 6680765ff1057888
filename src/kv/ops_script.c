/* ops_script.c - the scripting operations of the registry: KV_EVAL runs a
 * Lua script against the store at the entry's time (script_lua.c), every
 * write it makes being part of this one entry; KV_SCRIPT_LOAD checks that a
 * body compiles and caches it; KV_SCRIPT_FLUSH empties the cache. The
 * cache is each member's own (script_cache.c): these entries fill and
 * empty it on every member alike, but no write depends on it; inside one
 * transaction's entry, what the entry did to it decides (script_tx.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/ops.h"
#include "kv/script.h"

#define NOSCRIPT "-NOSCRIPT No matching script. Please use EVAL.\r\n"

/* An EVALSHA (kv.h's KV_EVAL_SHA, KV_EVAL_BY_SHA) inside a transaction
 * runs only if the transaction so far leaves its script in the cache, as
 * Redis runs EXEC's commands one after another (script_tx.c). */
void kv_op_eval(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r)
{
    bool by_sha = c->flags & KV_EVAL_BY_SHA;
    if (!(c->flags & (KV_EVAL_SHA | KV_EVAL_BY_SHA)) || (!by_sha && !s->script_tx)) {
        kv_script_run(s, c, now, r);
        return;
    }
    char sha[41];
    if (by_sha) {
        memcpy(sha, c->arg[0].p, c->arg[0].n < 40 ? c->arg[0].n : 40);
        sha[c->arg[0].n < 40 ? c->arg[0].n : 40] = '\0';
    } else {
        kv_script_sha1(c->arg[0].p, c->arg[0].n, sha);
    }
    const uint8_t *body = NULL;
    size_t n = 0;
    switch (kv_script_tx_find(s, sha, by_sha ? c->arg[0].n : 40, &body, &n)) {
    case KV_SCRIPT_TX_FAILED:
        kv_res(r, KV_ERR_MALFORMED, "out of memory");
        return;
    case KV_SCRIPT_TX_GONE:
        kv_res_bytes(r, NOSCRIPT, strlen(NOSCRIPT));
        return;
    case KV_SCRIPT_TX_UNKNOWN:
        if (by_sha) /* the member's cache lacked it, and so does the entry */
            kv_res_bytes(r, NOSCRIPT, strlen(NOSCRIPT));
        else
            kv_script_run(s, c, now, r);
        return;
    case KV_SCRIPT_TX_LOADED:
        break;
    }
    struct kv_command run = *c; /* borrowed fields: not released */
    run.arg[0] = (struct kv_str){.p = (uint8_t *)body, .n = n};
    run.flags &= ~(uint32_t)KV_EVAL_BY_SHA;
    kv_script_run(s, &run, now, r);
}

void kv_op_script_load(struct kv_store *s, const struct kv_command *c, int64_t now,
                       struct kv_result *r)
{
    (void)s;
    (void)now;
    char err[300];
    const char *e = kv_script_check(c->arg[0].p, c->arg[0].n, err, sizeof err);
    if (e) {
        /* RESP2 bytes like KV_EVAL's, so the reply shows Redis's text. */
        size_t n = strlen(e);
        char line[320];
        int l = snprintf(line, sizeof line, "-%.*s\r\n", (int)(n > 300 ? 300 : n), e);
        for (int i = 1; i < l - 2; i++)
            if (line[i] == '\r' || line[i] == '\n')
                line[i] = ' ';
        kv_res_bytes(r, line, (size_t)l);
        r->num = -1;
        return;
    }
    kv_script_remember(c->arg[0].p, c->arg[0].n);
    char sha[41];
    kv_script_sha1(c->arg[0].p, c->arg[0].n, sha);
    kv_script_tx_loaded(s, sha, c->arg[0].p, c->arg[0].n);
    kv_res_bytes(r, sha, 40);
}

void kv_op_script_flush(struct kv_store *s, const struct kv_command *c, int64_t now,
                        struct kv_result *r)
{
    (void)c;
    (void)now;
    (void)r;
    kv_script_forget_all();
    kv_script_tx_flushed(s);
}

void kv_op_script_exists(struct kv_store *s, const struct kv_command *c, int64_t now,
                         struct kv_result *r)
{
    (void)now;
    struct kv_text t = {0};
    size_t n = 0;
    for (const uint8_t *at = c->arg[0].p, *end = at + c->arg[0].n; end - at >= 4;) {
        size_t len = (size_t)at[0] | (size_t)at[1] << 8 | (size_t)at[2] << 16 | (size_t)at[3] << 24;
        if ((size_t)(end - at - 4) < len)
            break;
        at += 4 + len;
        n++;
    }
    char head[32];
    int h = snprintf(head, sizeof head, "*%zu\r\n", n);
    kv_text_put(&t, head, (size_t)h);
    for (const uint8_t *at = c->arg[0].p, *end = at + c->arg[0].n; n-- > 0;) {
        size_t len = (size_t)at[0] | (size_t)at[1] << 8 | (size_t)at[2] << 16 | (size_t)at[3] << 24;
        const uint8_t *body;
        size_t blen;
        enum kv_script_tx_state st = kv_script_tx_find(s, (const char *)at + 4, len, &body, &blen);
        bool have = st == KV_SCRIPT_TX_LOADED ||
                    (st == KV_SCRIPT_TX_UNKNOWN && kv_script_lookup((const char *)at + 4, len) != NULL);
        kv_text_put(&t, have ? ":1\r\n" : ":0\r\n", 4);
        at += 4 + len;
        (void)end;
    }
    if (t.err)
        kv_res(r, KV_ERR_MALFORMED, "out of memory");
    else
        kv_res_bytes(r, t.p, t.len);
    free(t.p);
}
