/* multi.c - Redis transactions: MULTI queues a connection's commands, EXEC
 * runs them as ONE state-machine operation (a KV_MULTI: one log entry,
 * applied atomically on every member), DISCARD drops them, and WATCH makes
 * EXEC answer nil when a watched key was written since.
 *
 * Queueing. Inside MULTI a data command's handler runs as usual, but
 * cmd_run() hands its prepared operations to the transaction's item
 * instead of routing them; at EXEC the row's reply function formats the
 * item's slice of the MULTI's results, so every command answers in EXEC's
 * array exactly as it would alone. A command that is no data command
 * (PING, ECHO, CLIENT SETNAME, ...) is kept as it came and runs once the
 * transaction's entry is applied and its guards held, when EXEC's reply is
 * written; its reply takes its place in the array. An unknown command, a wrong arity or a refused permission at
 * queue time makes EXEC answer EXECABORT, as Redis does; an error found
 * while applying (a wrong type) is that command's element of the array.
 *
 * WATCH reads each key's version (kv.h's KV_VERSION, linearizable like
 * GET); EXEC puts one guard per watched key before the commands: a version
 * that changed, or was never learnt (the read failed), applies nothing and
 * EXEC answers nil. EXEC and DISCARD forget the watches. A key deleted and
 * created again between WATCH and EXEC has a new version; one absent at
 * WATCH and again at EXEC counts as changed if it existed in between
 * (kv.h's KV_VERSION says how, and when that errs on the side of nil).
 *
 * A pipelined WATCH k, MULTI, ..., EXEC reaches EXEC before WATCH's read is
 * answered. EXEC then waits, as Redis's would have run after WATCH: the
 * connection counts its WATCH reads in flight, and an EXEC parsed while
 * any is (multi_defer_exec) is kept, with the input behind it held unparsed
 * (client.c), until the last one ends; it is then dispatched as if it had
 * just arrived (multi_take_ready), so the connection's order is kept.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/commands.h"

#define MULTI_MAX_WATCHES 4096

struct multi_item {
    const struct command_def *cmd;
    uint32_t reply_flags;
    bool data;
    struct kv_command *cmds; /* data: its operations, owned until EXEC */
    size_t n;
    size_t n_ops_taken; /* after EXEC: how many of the MULTI's results are its */
    struct resp_buf fixed;   /* otherwise: its reply, once it ran */
    struct resp_request argv; /* otherwise: the command as it came, until EXEC */
    struct kv_str script;     /* SCRIPT LOAD, EVAL: its body, cached here once EXEC applied it */
    bool script_flush;        /* SCRIPT FLUSH: this member's cache emptied once EXEC applied it */
};

struct client_watch {
    struct kv_str key;
    int64_t version;
    bool known;
};

struct client_multi {
    bool active, aborted;
    struct multi_item *items;
    size_t n_items, cap_items, n_ops;
    struct client_watch *watches;
    size_t n_watches, cap_watches;
    uint64_t watch_gen; /* grows when the watches are dropped */
    size_t watch_reads; /* WATCH requests whose reads have not ended */
    struct resp_request deferred; /* an EXEC waiting for them (argc 0: none) */
};

/* What an EXEC request keeps to format its reply. */
struct multi_exec {
    struct multi_item *items;
    size_t n_items;
    size_t n_guards;
};

/* The WATCH request's note for its reply: which entries it fills. */
struct watch_note {
    uint64_t gen;
    size_t first;
    bool counted; /* in watch_reads until the request ends */
};

static struct client_multi *state(struct client *c)
{
    if (!c->multi)
        c->multi = calloc(1, sizeof *c->multi);
    return c->multi;
}

static void item_free(struct multi_item *it)
{
    for (size_t i = 0; i < it->n; i++)
        kv_command_release(&it->cmds[i]);
    free(it->cmds);
    resp_buf_free(&it->fixed);
    resp_request_release(&it->argv);
    free(it->script.p);
}

static int request_copy(struct resp_request *dst, const struct resp_request *src)
{
    *dst = (struct resp_request){0};
    dst->argv = calloc(src->argc, sizeof *dst->argv);
    dst->argl = calloc(src->argc, sizeof *dst->argl);
    if (!dst->argv || !dst->argl) {
        free(dst->argv);
        free(dst->argl);
        *dst = (struct resp_request){0};
        return -1;
    }
    for (; dst->argc < src->argc; dst->argc++) {
        size_t n = src->argl[dst->argc];
        if (!(dst->argv[dst->argc] = malloc(n + 1))) {
            resp_request_release(dst);
            return -1;
        }
        memcpy(dst->argv[dst->argc], src->argv[dst->argc], n);
        dst->argv[dst->argc][n] = '\0';
        dst->argl[dst->argc] = n;
    }
    return 0;
}

static void items_free(struct multi_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        item_free(&items[i]);
    free(items);
}

static void unwatch(struct client_multi *m)
{
    for (size_t i = 0; i < m->n_watches; i++)
        free(m->watches[i].key.p);
    m->n_watches = 0;
    m->watch_gen++;
}

static void reset(struct client_multi *m)
{
    items_free(m->items, m->n_items);
    m->items = NULL;
    m->n_items = m->cap_items = m->n_ops = 0;
    m->active = m->aborted = false;
}

void multi_client_free(struct client *c)
{
    struct client_multi *m = c->multi;
    if (!m)
        return;
    reset(m);
    unwatch(m);
    free(m->watches);
    resp_request_release(&m->deferred);
    free(m);
    c->multi = NULL;
}

void multi_req_ended(struct client_req *r)
{
    struct watch_note *note = r->watch;
    if (!note || !note->counted)
        return;
    note->counted = false;
    struct client_multi *m = r->client ? r->client->multi : NULL;
    if (m && m->watch_reads > 0)
        m->watch_reads--;
}

bool multi_defer_exec(struct client *c, struct resp_request *q)
{
    struct client_multi *m = c->multi;
    if (!m || m->watch_reads == 0 || m->deferred.argc || q->argc == 0 || q->argl[0] != 4 ||
        strncasecmp(q->argv[0], "exec", 4) != 0)
        return false;
    m->deferred = *q; /* taken over */
    *q = (struct resp_request){0};
    return true;
}

bool multi_holds(const struct client *c)
{
    return c->multi && c->multi->deferred.argc > 0;
}

bool multi_exec_ready(const struct client *c)
{
    return multi_holds(c) && c->multi->watch_reads == 0;
}

bool multi_take_ready(struct client *c, struct resp_request *q)
{
    struct client_multi *m = c->multi;
    if (!multi_exec_ready(c))
        return false;
    *q = m->deferred;
    m->deferred = (struct resp_request){0};
    return true;
}

void multi_req_free(struct client_req *r)
{
    if (r->exec)
        items_free(r->exec->items, r->exec->n_items);
    free(r->exec);
    free(r->watch);
    r->exec = NULL;
    r->watch = NULL;
}

bool multi_queues(const struct client *c, const struct command_def *cmd)
{
    if (!c->multi || !c->multi->active)
        return false;
    return !cmd || (cmd->handler != cmd_exec && cmd->handler != cmd_discard &&
                    cmd->handler != cmd_multi && cmd->handler != cmd_watch &&
                    cmd->handler != cmd_quit);
}

void multi_flag_error(struct client *c, struct client_req *r, const struct resp_request *q)
{
    struct client_multi *m = c->multi;
    if (m && m->active)
        m->aborted = true;
    if (q->argl[0] != 4 || strncasecmp(q->argv[0], "exec", 4) != 0)
        return;
    /* EXEC itself refused, inside MULTI or not (as Redis 7.0): any
     * transaction ends, saying why. */
    char why[200];
    size_t n = r->reply.len > 7 ? r->reply.len - 7 : 0; /* "-ERR " ... "\r\n" */
    snprintf(why, sizeof why, "EXECABORT Transaction discarded because of: %.*s", (int)n,
             (const char *)r->reply.data + 5);
    r->reply.len = 0;
    resp_write_error(&r->reply, why);
    if (m) {
        reset(m);
        unwatch(m);
    }
}

void multi_capture(struct multi_item *it, struct cmd_ctx *x, struct kv_command *cmds, size_t n)
{
    it->data = true;
    it->cmd = x->cmd;
    it->reply_flags = x->r->reply_flags;
    it->cmds = calloc(n ? n : 1, sizeof *it->cmds);
    if (!it->cmds) {
        for (size_t i = 0; i < n; i++)
            kv_command_release(&cmds[i]);
        it->data = false;
        resp_write_error(&x->r->reply, "ERR out of memory");
        return;
    }
    memcpy(it->cmds, cmds, n * sizeof *cmds); /* taken over */
    it->n = n;
    /* A queued SCRIPT LOAD or EVAL: this member's cache takes the body
     * when EXEC's reply shows it applied (as SCRIPT LOAD outside MULTI
     * caches it at once), so an EVALSHA right after the EXEC on this
     * connection finds it even before this member has applied the entry
     * itself; a queued SCRIPT FLUSH empties the cache then, likewise. */
    it->script_flush = n == 1 && cmds[0].op == KV_SCRIPT_FLUSH;
    bool loads = n == 1 && (cmds[0].op == KV_SCRIPT_LOAD ||
                            (cmds[0].op == KV_EVAL && !(cmds[0].flags & KV_EVAL_BY_SHA)));
    if (loads && kv_str_set(&it->script, it->cmds[0].arg[0].p, it->cmds[0].arg[0].n) != 0) {
        item_free(it);
        *it = (struct multi_item){.cmd = x->cmd};
        resp_write_error(&x->r->reply, "ERR out of memory");
    }
}

void multi_queue(struct cmd_ctx *x)
{
    struct client_multi *m = x->c->multi;
    struct resp_buf *b = &x->r->reply;
    if (x->cmd->flags & CMDF_NO_MULTI) {
        m->aborted = true;
        resp_write_error(b, "ERR Command not allowed inside a transaction");
        return;
    }
    if (m->n_items == m->cap_items) {
        size_t cap = m->cap_items ? m->cap_items * 2 : 8;
        struct multi_item *p = realloc(m->items, cap * sizeof *p);
        if (!p) {
            m->aborted = true;
            resp_write_error(b, "ERR out of memory");
            return;
        }
        m->items = p;
        m->cap_items = cap;
    }
    struct multi_item *it = &m->items[m->n_items];
    *it = (struct multi_item){.cmd = x->cmd};
    if (x->cmd->handler == cmd_unwatch) {
        /* Queued UNWATCH changes nothing: EXEC checks the watches first. */
        resp_write_simple(&it->fixed, "OK");
    } else if (!x->cmd->reply) {
        /* No data command: it runs at EXEC. */
        if (request_copy(&it->argv, x->q) != 0) {
            m->aborted = true;
            resp_write_error(b, "ERR out of memory");
            return;
        }
    } else {
        struct client_req scratch = {.client = x->c};
        struct cmd_ctx y = *x;
        y.r = &scratch;
        y.capture = it;
        x->cmd->handler(&y);
        if (!it->data)
            it->fixed = scratch.reply; /* taken over */
        else
            resp_buf_free(&scratch.reply);
    }
    if (m->n_ops + it->n > x->s->opt.max_pending) {
        item_free(it);
        m->aborted = true;
        resp_write_error(b, "ERR too many commands in the transaction (--max-pending)");
        return;
    }
    m->n_ops += it->n;
    m->n_items++;
    resp_write_simple(b, "QUEUED");
}

void cmd_multi(struct cmd_ctx *x)
{
    struct client_multi *m = state(x->c);
    if (!m) {
        resp_write_error(&x->r->reply, "ERR out of memory");
        return;
    }
    if (m->active) {
        resp_write_error(&x->r->reply, "ERR MULTI calls can not be nested");
        return;
    }
    m->active = true;
    resp_write_simple(&x->r->reply, "OK");
}

void cmd_discard(struct cmd_ctx *x)
{
    struct client_multi *m = x->c->multi;
    if (!m || !m->active) {
        resp_write_error(&x->r->reply, "ERR DISCARD without MULTI");
        return;
    }
    reset(m);
    unwatch(m);
    resp_write_simple(&x->r->reply, "OK");
}

void cmd_unwatch(struct cmd_ctx *x)
{
    if (x->c->multi)
        unwatch(x->c->multi);
    resp_write_simple(&x->r->reply, "OK");
}

void cmd_watch(struct cmd_ctx *x)
{
    struct client_multi *m = state(x->c);
    const struct resp_request *q = x->q;
    struct resp_buf *b = &x->r->reply;
    if (!m) {
        resp_write_error(b, "ERR out of memory");
        return;
    }
    if (m->active) {
        resp_write_error(b, "ERR WATCH inside MULTI is not allowed");
        return;
    }
    size_t n = q->argc - 1;
    if (m->n_watches + n > MULTI_MAX_WATCHES) {
        resp_write_error(b, "ERR too many watched keys");
        return;
    }
    if (m->n_watches + n > m->cap_watches) {
        size_t cap = m->n_watches + n + 8;
        struct client_watch *p = realloc(m->watches, cap * sizeof *p);
        if (!p) {
            resp_write_error(b, "ERR out of memory");
            return;
        }
        m->watches = p;
        m->cap_watches = cap;
    }
    struct kv_command *cmds = calloc(n, sizeof *cmds);
    struct watch_note *note = malloc(sizeof *note);
    size_t first = m->n_watches;
    bool ok = cmds && note;
    for (size_t i = 0; ok && i < n; i++) {
        struct client_watch *w = &m->watches[first + i];
        *w = (struct client_watch){0};
        ok = kv_str_set(&w->key, q->argv[1 + i], q->argl[1 + i]) == 0 &&
             cmd_key_op(&cmds[i], KV_VERSION, q, 1 + i) == 0;
        m->n_watches++;
    }
    if (!ok) {
        for (size_t i = 0; cmds && i < n; i++)
            kv_command_release(&cmds[i]);
        free(cmds);
        free(note);
        resp_write_error(b, "ERR out of memory");
        return;
    }
    /* The versions arrive in this request's reply; the note says where
     * they go, unless the watches were dropped in between. */
    *note = (struct watch_note){.gen = m->watch_gen, .first = first, .counted = true};
    x->r->watch = note;
    m->watch_reads++; /* until the request ends (multi_req_ended), however */
    cmd_run(x, cmds, n);
    free(cmds);
}

void cmd_reply_watch(struct client_req *r, int proto)
{
    (void)proto;
    const struct watch_note *note = r->watch;
    struct client_multi *m = r->client ? r->client->multi : NULL;
    if (m && note && note->gen == m->watch_gen && note->first + r->n_ops <= m->n_watches) {
        for (size_t i = 0; i < r->n_ops; i++) {
            m->watches[note->first + i].version = r->results[i].kv.num;
            m->watches[note->first + i].known = true;
        }
    }
    resp_write_simple(&r->reply, "OK");
}

void cmd_exec(struct cmd_ctx *x)
{
    struct client_multi *m = x->c->multi;
    struct resp_buf *b = &x->r->reply;
    if (!m || !m->active) {
        resp_write_error(b, "ERR EXEC without MULTI");
        return;
    }
    if (m->aborted) {
        reset(m);
        unwatch(m);
        resp_write_error(b, "EXECABORT Transaction discarded because of previous errors.");
        return;
    }
    struct multi_exec *e = calloc(1, sizeof *e);
    size_t n_sub = m->n_watches + m->n_ops;
    struct kv_command tx = {.op = KV_MULTI, .n_sub = n_sub};
    tx.sub = calloc(n_sub ? n_sub : 1, sizeof *tx.sub);
    if (!e || !tx.sub) {
        free(e);
        free(tx.sub);
        reset(m);
        unwatch(m);
        resp_write_error(b, "ERR out of memory");
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < m->n_watches; i++, k++) {
        struct client_watch *w = &m->watches[i];
        tx.sub[k] = (struct kv_command){.op = KV_VERSION,
                                        .skey = w->key,
                                        .flags = KV_VERSION_EXPECT | KV_GUARD,
                                        .num = {w->known ? w->version : INT64_MAX, 0}};
        w->key = (struct kv_str){0}; /* taken over */
    }
    for (size_t i = 0; i < m->n_items; i++) {
        struct multi_item *it = &m->items[i];
        for (size_t j = 0; j < it->n; j++) {
            tx.sub[k] = it->cmds[j];
            cmd_script_resolve(x->s, &tx.sub[k++]); /* a queued EVALSHA */
        }
        it->n_ops_taken = it->n;
        free(it->cmds);
        it->cmds = NULL;
        it->n = 0;
    }
    e->items = m->items;
    e->n_items = m->n_items;
    e->n_guards = m->n_watches;
    m->items = NULL;
    m->n_items = m->cap_items = 0;
    reset(m);
    unwatch(m);
    x->r->exec = e;
    if (n_sub == 0) {
        /* Nothing to replicate: the queued replies are the answer. */
        free(tx.sub);
        x->r->cmd = x->cmd;
        cmd_reply_exec(x->r, x->c->proto);
        return;
    }
    cmd_run(x, &tx, 1);
}

/* One queued data command's element of EXEC's array: its own reply
 * function over its slice of the MULTI's results. */
static void item_reply(struct resp_buf *out, const struct multi_item *it,
                       const struct kv_result *res, struct client *client, int proto,
                       uint64_t *lcs_spent)
{
    char err[200];
    for (size_t i = 0; i < it->n_ops_taken; i++) {
        const char *e = commands_kv_error(&res[i], err, sizeof err);
        if (e) {
            resp_write_error(out, e);
            return;
        }
    }
    struct op_result *ops = calloc(it->n_ops_taken ? it->n_ops_taken : 1, sizeof *ops);
    if (!ops) {
        resp_write_error(out, "ERR out of memory");
        return;
    }
    for (size_t i = 0; i < it->n_ops_taken; i++) {
        ops[i].status = REPLICA_DONE;
        ops[i].kv = res[i]; /* borrowed: not released here */
    }
    struct client_req tmp = {.client = client, .cmd = it->cmd, .n_ops = it->n_ops_taken,
                             .n_done = it->n_ops_taken, .results = ops,
                             .reply_flags = it->reply_flags, .lcs_spent = lcs_spent, .borrowed = true};
    it->cmd->reply(&tmp, proto);
    resp_buf_append(out, tmp.reply.data, tmp.reply.len);
    resp_buf_free(&tmp.reply);
    free(ops);
}

void cmd_reply_exec(struct client_req *r, int proto)
{
    struct multi_exec *e = r->exec;
    const struct kv_result *tx = r->n_ops ? &r->results[0].kv : NULL;
    if (tx && tx->code == KV_ERR_PRECONDITION) {
        /* A watched key changed: nothing was applied. */
        if (proto >= 3)
            resp_write_null(&r->reply, proto);
        else
            resp_buf_append(&r->reply, "*-1\r\n", 5);
        return;
    }
    resp_write_array_len(&r->reply, e->n_items);
    size_t k = e->n_guards;
    uint64_t lcs_spent = 0; /* one --max-lcs-cells for all of EXEC's LCS commands */
    for (size_t i = 0; i < e->n_items; i++) {
        struct multi_item *it = &e->items[i];
        if (!it->data && it->argv.argc && r->client) {
            /* A queued command that is no data command runs now. */
            struct client_req scratch = {.client = r->client};
            struct cmd_ctx y = {.s = r->client->srv, .c = r->client, .r = &scratch,
                                .q = &it->argv, .cmd = it->cmd};
            it->cmd->handler(&y);
            resp_buf_append(&r->reply, scratch.reply.data, scratch.reply.len);
            resp_buf_free(&scratch.reply);
            continue;
        }
        if (!it->data) {
            resp_buf_append(&r->reply, it->fixed.data, it->fixed.len);
            continue;
        }
        if (!tx || k + it->n_ops_taken > tx->n_sub) {
            resp_write_error(&r->reply, "ERR the transaction's results are missing");
            continue;
        }
        item_reply(&r->reply, it, &tx->sub[k], r->client, proto, &lcs_spent);
        if (it->script_flush && tx->sub[k].code == KV_OK)
            kv_script_forget_all_shown();
        if (it->script.p && it->n_ops_taken == 1 && tx->sub[k].code == KV_OK && tx->sub[k].num >= 0 &&
            r->client) {
            kv_script_cache_limit(r->client->srv->opt.script_cache_max);
            kv_script_remember_local(it->script.p, it->script.n);
        }
        k += it->n_ops_taken;
    }
}
