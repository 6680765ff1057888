/* ops_script.c - the scripting operations of the registry: KV_EVAL runs a
 * Lua script against the store at the entry's time (script_lua.c), every
 * write it makes being part of this one entry; KV_SCRIPT_LOAD checks that a
 * body compiles and caches it; KV_SCRIPT_FLUSH empties the cache. The
 * cache is each member's own (script_cache.c): these entries fill and
 * empty it on every member alike, but no write depends on it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/ops.h"
#include "kv/script.h"

void kv_op_eval(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r)
{
    kv_script_run(s, c, now, r);
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
    kv_res_bytes(r, sha, 40);
}

void kv_op_script_flush(struct kv_store *s, const struct kv_command *c, int64_t now,
                        struct kv_result *r)
{
    (void)s;
    (void)c;
    (void)now;
    (void)r;
    kv_script_forget_all();
}

void kv_op_script_exists(struct kv_store *s, const struct kv_command *c, int64_t now,
                         struct kv_result *r)
{
    (void)s;
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
        bool have = kv_script_lookup((const char *)at + 4, len) != NULL;
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
