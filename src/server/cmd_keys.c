/* cmd_keys.c - the keyspace commands, as Redis 7.0 answers them: UNLINK,
 * TOUCH, TYPE, RENAME, RENAMENX, COPY, KEYS, SCAN, RANDOMKEY, DBSIZE,
 * FLUSHDB, FLUSHALL (the first six parsed by the shared parser,
 * src/kv/command_args.c, run by cmd_parsed). Each prepares state-machine operations (kv.h's
 * KV_TYPE ... KV_FLUSH) and runs them with cmd_run, so they are
 * linearizable (reads through ReadIndex, writes through the log) and work
 * inside MULTI. UNLINK frees nothing in the background: it is DEL.
 * FLUSHDB and FLUSHALL accept ASYNC and SYNC and do the same (there is one
 * database). SCAN's cursor is valid on every member (src/kv/map.h); its
 * COUNT, a hint, is cut to --scan-max-count, so one call's walk is bounded
 * whatever the client asks (inside MULTI the cut count goes in the log
 * entry: every member walks the same); RANDOMKEY looks at no more than
 * --randomkey-max-slots slots of the map; a KEYS inside MULTI on a map of
 * --keys-walk-min keys or more answers an error (the bound in the entry). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "server/commands.h"

static void oom(struct cmd_ctx *x, struct kv_command *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        kv_command_release(&c[i]);
    resp_write_error(&x->r->reply, "ERR out of memory");
}

/* The bound of a KEYS inside MULTI travels in the entry (kv.h's KV_KEYS
 * num[0]): the maps that a KEYS outside MULTI would walk in slices, this
 * member's --keys-walk-min keys or more (0, every KEYS walks: any key at
 * all), answer an error there instead of a pass on every member's loop.
 * Outside MULTI the read path walks or answers (replica's keys_walk.c) and
 * does not look at it. */
void cmd_keys(struct cmd_ctx *x)
{
    size_t min = x->r->client ? x->r->client->srv->opt.keys_walk_min : REPLICA_DEFAULT_KEYS_WALK_MIN;
    struct kv_command c = {.op = KV_KEYS, .num = {min > 0 ? (int64_t)min : 1}};
    if (cmd_arg_str(&c.arg[0], x->q, 1) != 0) {
        oom(x, &c, 1);
        return;
    }
    cmd_run(x, &c, 1);
}

/* Redis 7.0's cursor: what strtoul reads, the whole argument (so "" is 0
 * and "-1" is 2^64 - 1), no leading space, no overflow. */
static bool scan_cursor(const struct resp_request *q, size_t i, uint64_t *out)
{
    char buf[64];
    size_t n = q->argl[i];
    if (n >= sizeof buf)
        return false;
    memcpy(buf, q->argv[i], n);
    buf[n] = '\0';
    if (buf[0] == ' ' || (buf[0] >= '\t' && buf[0] <= '\r'))
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(buf, &end, 10);
    if (*end != '\0' || errno == ERANGE)
        return false;
    *out = v;
    return true;
}

/* SCAN cursor [MATCH pattern] [COUNT n] [TYPE type] */
void cmd_scan(struct cmd_ctx *x)
{
    const struct resp_request *q = x->q;
    struct resp_buf *b = &x->r->reply;
    uint64_t cursor;
    if (!scan_cursor(q, 1, &cursor)) {
        resp_write_error(b, "ERR invalid cursor");
        return;
    }
    long long count = 10;
    size_t match = 0, type = 0;
    for (size_t i = 2; i < q->argc; i += 2) {
        bool more = i + 1 < q->argc;
        if (more && cmd_arg_is(q, i, "count")) {
            if (!cmd_arg_ll(q, i + 1, &count)) {
                resp_write_error(b, "ERR value is not an integer or out of range");
                return;
            }
            if (count < 1) {
                resp_write_error(b, "ERR syntax error");
                return;
            }
        } else if (more && cmd_arg_is(q, i, "match")) {
            match = i + 1;
        } else if (more && cmd_arg_is(q, i, "type")) {
            type = i + 1;
        } else {
            resp_write_error(b, "ERR syntax error");
            return;
        }
    }
    size_t max = x->r->client ? x->r->client->srv->opt.scan_max_count : SERVER_DEFAULT_SCAN_MAX_COUNT;
    if ((unsigned long long)count > max)
        count = (long long)max;
    struct kv_command c = {.op = KV_SCAN, .num = {(int64_t)cursor, count}};
    if ((match && cmd_arg_str(&c.arg[0], q, match) != 0) || (type && cmd_arg_str(&c.arg[1], q, type) != 0)) {
        oom(x, &c, 1);
        return;
    }
    cmd_run(x, &c, 1);
}

void cmd_randomkey(struct cmd_ctx *x)
{
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
        seed = (uint64_t)cmd_wall_ms() * 0x9e3779b97f4a7c15ull;
    size_t max = x->r->client ? x->r->client->srv->opt.randomkey_max_slots : KV_RANDOMKEY_MAX_SLOTS;
    struct kv_command c = {.op = KV_RANDOMKEY, .num = {(int64_t)seed, (int64_t)max}};
    cmd_run(x, &c, 1);
}

void cmd_dbsize(struct cmd_ctx *x)
{
    struct kv_command c = {.op = KV_DBSIZE};
    cmd_run(x, &c, 1);
}

/* FLUSHDB and FLUSHALL [ASYNC|SYNC] */
void cmd_flush(struct cmd_ctx *x)
{
    const struct resp_request *q = x->q;
    if (q->argc > 2 || (q->argc == 2 && !cmd_arg_is(q, 1, "async") && !cmd_arg_is(q, 1, "sync"))) {
        resp_write_error(&x->r->reply, "ERR syntax error");
        return;
    }
    struct kv_command c = {.op = KV_FLUSH};
    cmd_run(x, &c, 1);
}

/* ---- replies ---- */

void cmd_reply_type(struct client_req *r, int proto)
{
    (void)proto;
    const struct kv_result *kv = &r->results[0].kv;
    char name[32];
    snprintf(name, sizeof name, "%.*s", kv->bytes ? (int)kv->len : 0, kv->bytes ? (const char *)kv->bytes : "");
    resp_write_simple(&r->reply, name);
}

/* RENAME: +OK; RENAMENX: :1 or :0; either: -ERR no such key. */
void cmd_reply_rename(struct client_req *r, int proto)
{
    (void)proto;
    const struct kv_result *kv = &r->results[0].kv;
    if (kv->code == KV_ERR_NO_KEY)
        resp_write_error(&r->reply, "ERR no such key");
    else if (r->reply_flags & KV_RENAME_NX)
        resp_write_int(&r->reply, kv->num);
    else
        resp_write_simple(&r->reply, "OK");
}

void cmd_reply_int(struct client_req *r, int proto)
{
    (void)proto;
    resp_write_int(&r->reply, r->results[0].kv.num);
}

/* SCAN's kv_list (at most --scan-max-count keys) as an array of bulk
 * strings. */
static void write_list(struct resp_buf *b, const struct kv_result *kv)
{
    size_t n = 0, pos = 0, len;
    const uint8_t *key;
    while (kv->bytes && kv_list_next(kv->bytes, kv->len, &pos, &key, &len))
        n++;
    resp_write_array_len(b, n);
    pos = 0;
    while (kv->bytes && kv_list_next(kv->bytes, kv->len, &pos, &key, &len))
        resp_write_bulk(b, key, len);
}

/* A result of this many bytes or more becomes the reply itself. */
#define KEYS_TAKE_BYTES (64u << 10)

/* The result's bytes become the reply: moved up in place for the header
 * (realloc grows a large block without copying it). false: left as they
 * were (out of memory). */
static bool take_bytes(struct resp_buf *b, struct kv_result *kv)
{
    char head[32];
    int hl = snprintf(head, sizeof head, "*%" PRId64 "\r\n", kv->num);
    char *p = realloc(kv->bytes, kv->len + (size_t)hl);
    if (!p)
        return false;
    memmove(p + hl, p, kv->len);
    memcpy(p, head, (size_t)hl);
    resp_buf_free(b);
    *b = (struct resp_buf){.data = p, .len = kv->len + (size_t)hl, .cap = kv->len + (size_t)hl};
    kv->bytes = NULL;
    kv->len = 0;
    return true;
}

/* KEYS's result is the reply's bulk strings already (kv.h's kv_bulks,
 * framed a slice at a time as the walk gathered them): the reply is the
 * array header and those bytes, taken over when large and the request's
 * own (one move in place, no copy), else copied once. */
void cmd_reply_keys(struct client_req *r, int proto)
{
    (void)proto;
    struct kv_result *kv = &r->results[0].kv;
    if (!r->borrowed && r->reply.len == 0 && kv->bytes && kv->len >= KEYS_TAKE_BYTES &&
        take_bytes(&r->reply, kv))
        return;
    size_t start = r->reply.len;
    if (resp_write_array_len(&r->reply, kv->num > 0 ? (size_t)kv->num : 0) != 0 ||
        (kv->bytes && resp_buf_append(&r->reply, kv->bytes, kv->len) != 0)) {
        r->reply.len = start;
        resp_write_error(&r->reply, "ERR out of memory");
    }
}

void cmd_reply_scan(struct client_req *r, int proto)
{
    (void)proto;
    const struct kv_result *kv = &r->results[0].kv;
    char cursor[24];
    int n = snprintf(cursor, sizeof cursor, "%" PRIu64, (uint64_t)kv->num);
    resp_write_array_len(&r->reply, 2);
    resp_write_bulk(&r->reply, cursor, (size_t)n);
    write_list(&r->reply, kv);
}
