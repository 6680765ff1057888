/* cmd_script.c - EVAL EVALSHA EVAL_RO EVALSHA_RO and SCRIPT LOAD|EXISTS|
 * FLUSH, with Redis 7.0's argument checks and error texts. A script is one
 * state-machine operation (KV_EVAL: the body, keys and arguments, and this
 * member's limits) that goes through the log like any write and runs at
 * apply time on every member (src/kv/script_lua.c), so it is atomic and
 * linearizable wherever the client is connected. EVALSHA is turned into
 * the body here, from this process's script cache, before proposing (at
 * EXEC when queued in MULTI): the log never depends on a cache. EVAL_RO
 * goes through the log as well (a read-only script is refused any write). The reply is the RESP2 the state
 * machine made, re-written for the connection's protocol.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "server/commands.h"

#define NOT_INT "ERR value is not an integer or out of range"

/* numkeys at argv[2]: true, or false with the error written. */
static bool numkeys(struct cmd_ctx *x, long long *nk)
{
    struct resp_buf *b = &x->r->reply;
    if (!cmd_arg_ll(x->q, 2, nk)) {
        resp_write_error(b, NOT_INT);
        return false;
    }
    if (*nk < 0) {
        resp_write_error(b, "ERR Number of keys can't be negative");
        return false;
    }
    if ((unsigned long long)*nk > x->q->argc - 3) {
        resp_write_error(b, "ERR Number of keys can't be greater than number of args");
        return false;
    }
    return true;
}

static void run_script(struct cmd_ctx *x, const void *body, size_t n, long long nk, uint32_t flags)
{
    const struct server_options *o = &x->s->opt;
    if (n > o->script_max_bytes) {
        char msg[160];
        snprintf(msg, sizeof msg, "ERR script is %zu bytes, past --script-max-bytes %zu", n,
                 o->script_max_bytes);
        resp_write_error(&x->r->reply, msg);
        return;
    }
    struct kv_command c = {.op = KV_EVAL};
    c.num[0] = nk;
    c.num[1] = (int64_t)o->script_max_instructions;
    c.flags = flags | (uint32_t)(o->script_max_memory / 1024) << 8;
    if (kv_str_set(&c.arg[0], body, n) != 0 ||
        kv_pack_fields(&c.arg[1], x->q->argv + 3, x->q->argl + 3, x->q->argc - 3) != 0) {
        kv_command_release(&c);
        resp_write_error(&x->r->reply, "ERR out of memory");
        return;
    }
    cmd_run(x, &c, 1);
}

/* EVAL caches the body on this member at once (every member caches it
 * when the entry applies; one that does not compile is dropped again
 * then), so that EVALSHA through this member finds it right after. */
static void eval(struct cmd_ctx *x, bool ro)
{
    long long nk;
    if (!numkeys(x, &nk))
        return;
    if (!x->capture && x->q->argl[1] <= x->s->opt.script_max_bytes) {
        kv_script_cache_limit(x->s->opt.script_cache_max);
        kv_script_remember_local(x->q->argv[1], x->q->argl[1]);
    }
    run_script(x, x->q->argv[1], x->q->argl[1], nk, ro ? KV_EVAL_RO : 0);
}

static void evalsha(struct cmd_ctx *x, bool ro)
{
    /* As Redis: a name that is no SHA1 at all, then numkeys, then the
     * cache. */
    const char *noscript = "NOSCRIPT No matching script. Please use EVAL.";
    long long nk;
    if (x->q->argl[1] != 40) {
        resp_write_error(&x->r->reply, noscript);
        return;
    }
    if (!numkeys(x, &nk))
        return;
    uint32_t flags = ro ? KV_EVAL_RO : 0;
    if (x->capture) {
        /* Queued in MULTI: the SHA1 for now, turned into the body at EXEC
         * (cmd_script_resolve), when Redis would look it up. */
        run_script(x, x->q->argv[1], 40, nk, flags | KV_EVAL_BY_SHA);
        return;
    }
    kv_script_cache_limit(x->s->opt.script_cache_max);
    const struct kv_str *body = kv_script_lookup(x->q->argv[1], x->q->argl[1]);
    if (!body) {
        resp_write_error(&x->r->reply, noscript);
        return;
    }
    run_script(x, body->p, body->n, nk, flags | KV_EVAL_SHA);
}

/* EXEC: a queued EVALSHA takes the body this member's cache holds now
 * (KV_EVAL_SHA), or stays a SHA1 (KV_EVAL_BY_SHA) that only a SCRIPT LOAD
 * or EVAL earlier in the transaction can give a body; the entry then
 * decides, on every member alike, whether a SCRIPT FLUSH earlier in it
 * makes it NOSCRIPT (src/kv/script_tx.c). */
void cmd_script_resolve(struct server *s, struct kv_command *c)
{
    if (c->op != KV_EVAL || !(c->flags & KV_EVAL_BY_SHA))
        return;
    kv_script_cache_limit(s->opt.script_cache_max);
    const struct kv_str *body = kv_script_lookup((const char *)c->arg[0].p, c->arg[0].n);
    struct kv_str copy = {0};
    if (!body || body->n > s->opt.script_max_bytes || kv_str_set(&copy, body->p, body->n) != 0)
        return; /* out of memory: as if not cached */
    free(c->arg[0].p);
    c->arg[0] = copy;
    c->flags = (c->flags & ~(uint32_t)KV_EVAL_BY_SHA) | KV_EVAL_SHA;
}

void cmd_eval(struct cmd_ctx *x)
{
    eval(x, false);
}

void cmd_eval_ro(struct cmd_ctx *x)
{
    eval(x, true);
}

void cmd_evalsha(struct cmd_ctx *x)
{
    evalsha(x, false);
}

void cmd_evalsha_ro(struct cmd_ctx *x)
{
    evalsha(x, true);
}

/* SCRIPT LOAD body: checked and cached here (so that an EVALSHA on this
 * member finds it at once), then through the log so that every member
 * caches it. */
void cmd_script_load(struct cmd_ctx *x)
{
    const struct resp_request *q = x->q;
    char err[300];
    if (q->argl[2] > x->s->opt.script_max_bytes) {
        snprintf(err, sizeof err, "ERR script is %zu bytes, past --script-max-bytes %zu",
                 q->argl[2], x->s->opt.script_max_bytes);
        resp_write_error(&x->r->reply, err);
        return;
    }
    const char *e = kv_script_check(q->argv[2], q->argl[2], err, sizeof err);
    if (e) {
        for (char *p = err; *p; p++)
            if (*p == '\r' || *p == '\n')
                *p = ' ';
        resp_write_error(&x->r->reply, e);
        return;
    }
    if (!x->capture) { /* inside MULTI: only if EXEC applies it */
        kv_script_cache_limit(x->s->opt.script_cache_max);
        kv_script_remember_local(q->argv[2], q->argl[2]);
    }
    struct kv_command c = {.op = KV_SCRIPT_LOAD};
    if (kv_str_set(&c.arg[0], q->argv[2], q->argl[2]) != 0) {
        resp_write_error(&x->r->reply, "ERR out of memory");
        return;
    }
    cmd_run(x, &c, 1);
}

/* SCRIPT EXISTS sha...: a read of the leader's cache through ReadIndex,
 * which holds every committed SCRIPT LOAD, EVAL and SCRIPT FLUSH. */
void cmd_script_exists(struct cmd_ctx *x)
{
    const struct resp_request *q = x->q;
    struct kv_command c = {.op = KV_SCRIPT_EXISTS};
    if (kv_pack_fields(&c.arg[0], q->argv + 2, q->argl + 2, q->argc - 2) != 0) {
        resp_write_error(&x->r->reply, "ERR out of memory");
        return;
    }
    cmd_run(x, &c, 1);
}

/* SCRIPT FLUSH [ASYNC|SYNC]: every member's cache, through the log. */
void cmd_script_flush(struct cmd_ctx *x)
{
    const struct resp_request *q = x->q;
    if (q->argc > 3 || (q->argc == 3 && !cmd_arg_is(q, 2, "async") && !cmd_arg_is(q, 2, "sync"))) {
        resp_write_error(&x->r->reply, "ERR SCRIPT FLUSH only support SYNC|ASYNC option");
        return;
    }
    if (!x->capture) /* this member's own clients see it at once */
        kv_script_forget_all_local();
    struct kv_command c = {.op = KV_SCRIPT_FLUSH};
    cmd_run(x, &c, 1);
}

/* ---- replies ---- */

struct walk {
    const char *p, *end;
};

static bool walk_line(struct walk *w, const char **s, size_t *n)
{
    const char *e = memchr(w->p, '\r', (size_t)(w->end - w->p));
    if (!e || e + 1 >= w->end || e[1] != '\n')
        return false;
    *s = w->p;
    *n = (size_t)(e - w->p);
    w->p = e + 2;
    return true;
}

/* One RESP2 value from the state machine's bytes, written for proto. */
static bool rewrite(struct resp_buf *b, struct walk *w, int proto, int depth)
{
    const char *s;
    size_t n;
    if (w->p >= w->end || depth > 1100 || !walk_line(w, &s, &n) || n == 0)
        return false;
    char kind = s[0];
    char text[64];
    long long v = 0;
    if (kind == ':' || kind == '$' || kind == '*') {
        if (n - 1 >= sizeof text)
            return false;
        memcpy(text, s + 1, n - 1);
        text[n - 1] = '\0';
        char *endp;
        v = strtoll(text, &endp, 10);
        if (*endp)
            return false;
    }
    switch (kind) {
    case '+':
    case '-': {
        char *line = malloc(n);
        if (!line)
            return false;
        memcpy(line, s + 1, n - 1);
        line[n - 1] = '\0';
        if (kind == '+')
            resp_write_simple(b, line);
        else
            resp_write_error(b, line);
        free(line);
        return true;
    }
    case ':':
        resp_write_int(b, v);
        return true;
    case '$':
        if (v < 0) {
            resp_write_null(b, proto);
            return true;
        }
        if ((size_t)(w->end - w->p) < (size_t)v + 2)
            return false;
        resp_write_bulk(b, w->p, (size_t)v);
        w->p += v + 2;
        return true;
    case '*':
        if (v < 0) {
            resp_write_null(b, proto);
            return true;
        }
        resp_write_array_len(b, (size_t)v);
        for (long long i = 0; i < v; i++)
            if (!rewrite(b, w, proto, depth + 1))
                return false;
        return true;
    default:
        return false;
    }
}

void cmd_reply_script(struct client_req *r, int proto)
{
    const struct kv_result *kv = &r->results[0].kv;
    struct walk w = {(const char *)kv->bytes, (const char *)kv->bytes + kv->len};
    if (!kv->bytes)
        resp_write_null(&r->reply, proto);
    else if (proto == 2)
        resp_buf_append(&r->reply, kv->bytes, kv->len);
    else if (!rewrite(&r->reply, &w, proto, 0))
        resp_write_error(&r->reply, "ERR malformed script reply");
}

/* SCRIPT LOAD: the SHA1, or the compile error the state machine found. */
void cmd_reply_script_load(struct client_req *r, int proto)
{
    const struct kv_result *kv = &r->results[0].kv;
    if (kv->num < 0) {
        cmd_reply_script(r, proto);
        return;
    }
    resp_write_bulk(&r->reply, kv->bytes, kv->len);
}
