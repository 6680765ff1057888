/* resp_linkv.c - Jepsen's lin-kv workload over the Redis protocol, for a
 * raftkv TCP cluster: concurrent clients doing GET, SET and CAS on a few
 * registers at a time, recording whirl's history.jsonl (docs/STORE.md) for
 * `whirl check`.
 *
 *   resp_linkv --nodes n1=127.0.0.1:7001,n2=... --time-limit S --out FILE
 *              [--concurrency C] [--timeout-ms T] [--ops-per-key N] [--seed N]
 *              [--workload register|string|expiry] [--final-reads]
 *
 * The string workload does GET, SET (0-4), INCRBY (1-3), APPEND ("x"),
 * GETSET and DEL instead, recorded as the checker's string model expects
 * (src/check/check.h): INCRBY on a value that is no integer fails with
 * error 40; GET and GETSET record their values as JSON strings. The expiry
 * workload does SET with PXAT (an absolute deadline 50-1500 ms ahead on
 * this machine's clock, recorded as "deadline"; a third of them without
 * one), GET, PTTL, PERSIST and DEL, judged by the expiry model.
 *
 * Client p talks to node p mod N, one request at a time. Keys are "k<i>";
 * values 0-4. Outcomes follow the Maelstrom conventions the checker knows:
 *   GET nil                -> fail, error 20 (the register was empty)
 *   CAS :0 / nil           -> fail, error 22 / 20
 *   -TRYAGAIN (definite)   -> fail, error 11
 *   -UNCERTAIN, a timeout, or a connection lost mid-request -> info (a read
 *     that ends so is a fail: reads change nothing); the client then drops
 *     its connection (a late reply must not answer the next request) and
 *     continues as a new process, as Jepsen does.
 * The seed is printed; it fixes the clients' choices (not the timing).
 *
 * SIGTERM or SIGINT ends the workload early, as the time limit does (the
 * requests in flight finish; the history is complete). --final-reads (the
 * register workload) then reads every key the run touched, moving to the
 * next node after a lost connection, until each read answers (a value or
 * nil) or 10 s pass: an acknowledged write that vanished makes the checker
 * find the history not linearizable.
 *
 * The RESP reply reader is the server's own (src/server/resp.c), compiled in.
 */
#include "server/resp.c"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "common/rng.h"

#define WL_MAX_NODES 16

enum wl_f { WL_READ, WL_WRITE, WL_CAS, WL_GET, WL_SET, WL_INCR, WL_APPEND, WL_GETSET, WL_DEL, WL_PTTL,
            WL_PERSIST, WL_NF };
static const char *wl_f_names[] = {"read",   "write", "cas", "get",  "set",    "incr",
                                   "append", "getset", "del", "pttl", "persist"};

struct wl;

struct wl_client {
    struct wl *wl;
    int index, node;
    int64_t process;
    uv_tcp_t *tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    uv_timer_t timer;
    char out[160];
    char *in;
    size_t in_len, in_cap;
    bool connected, busy, stopped;
    int final_key; /* the key this client reads in the final reads, or -1 */
    /* the request in flight */
    int f, key, a, b;
    int64_t deadline; /* SET PXAT: the absolute deadline (ms); 0: none */
    uint64_t invoke_ns;
};

struct wl {
    uv_loop_t *loop;
    int n_nodes;
    char names[WL_MAX_NODES][32];
    struct sockaddr_in addrs[WL_MAX_NODES];
    int concurrency;
    uint64_t time_limit_ns, timeout_ms, ops_per_key;
    uint64_t start_ns, invoked;
    uint64_t index;
    struct rng rng;
    FILE *out;
    int running;
    bool strings; /* --workload string */
    bool expiry;  /* --workload expiry */
    bool final_reads;                                /* --final-reads */
    int max_key, final_next;                         /* keys 0..max_key were used; the next to read */
    uint64_t final_deadline_ns, final_done;
    uint64_t counts[WL_NF][3]; /* f x ok/fail/info */
};

/* A reply's bytes as a JSON string (digits and letters only come back
 * here, but anything else is escaped). */
static void wl_json_string(char *out, size_t cap, const char *s, size_t n)
{
    size_t k = 0;
    out[k++] = '"';
    for (size_t i = 0; i < n && k + 8 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\')
            k += (size_t)snprintf(out + k, cap - k, "\\%c", ch);
        else if (ch < 0x20 || ch > 0x7e)
            k += (size_t)snprintf(out + k, cap - k, "\\u%04x", ch);
        else
            out[k++] = (char)ch;
    }
    out[k++] = '"';
    out[k] = '\0';
}

static uint64_t wl_now(const struct wl *w)
{
    return uv_hrtime() - w->start_ns;
}

/* Past the time limit (or a stop signal), in the final reads. */
static bool wl_final_phase(const struct wl *w)
{
    return w->final_reads && wl_now(w) >= w->time_limit_ns;
}

/* Whether client c has nothing more to do: the workload is over and, with
 * --final-reads, no key is left for it to read (or their time is up).
 * Hands c the next key to read. */
static bool wl_over(struct wl_client *c)
{
    struct wl *w = c->wl;
    uint64_t now = wl_now(w);
    if (now < w->time_limit_ns)
        return false;
    if (!w->final_reads)
        return true;
    if (!w->final_deadline_ns)
        w->final_deadline_ns = now + 10000000000ull;
    if (now >= w->final_deadline_ns)
        return true;
    if (c->final_key < 0 && w->final_next <= w->max_key)
        c->final_key = w->final_next++;
    return c->final_key < 0;
}

/* output: the completion's value as JSON (string workload), or NULL for
 * the invocation's (and the register workload's own rendering). */
static void wl_record_value(struct wl_client *c, const char *type, int code, const char *text, int read_value,
                            const char *output);

static void wl_record(struct wl_client *c, const char *type, int code, const char *text, int read_value)
{
    wl_record_value(c, type, code, text, read_value, NULL);
}

static void wl_record_value(struct wl_client *c, const char *type, int code, const char *text, int read_value,
                            const char *output)
{
    struct wl *w = c->wl;
    char value[600];
    bool invoke = strcmp(type, "invoke") == 0;
    if (c->f == WL_READ)
        snprintf(value, sizeof value, read_value >= 0 ? "%d" : "null", read_value);
    else if (c->f == WL_WRITE)
        snprintf(value, sizeof value, "%d", c->a);
    else if (c->f == WL_CAS)
        snprintf(value, sizeof value, "[%d,%d]", c->a, c->b);
    else if (!invoke && output)
        snprintf(value, sizeof value, "%s", output);
    else if (c->f == WL_SET || c->f == WL_GETSET)
        snprintf(value, sizeof value, "\"%d\"", c->a);
    else if (c->f == WL_INCR)
        snprintf(value, sizeof value, "%d", c->a);
    else if (c->f == WL_APPEND)
        snprintf(value, sizeof value, "\"x\"");
    else
        snprintf(value, sizeof value, "null");
    if (invoke && c->f == WL_READ)
        snprintf(value, sizeof value, "null");
    fprintf(w->out,
            "{\"index\":%" PRIu64 ",\"time\":%" PRIu64 ",\"process\":%" PRId64
            ",\"type\":\"%s\",\"f\":\"%s\",\"key\":%d,\"value\":%s,\"node\":\"%s\"",
            w->index++, strcmp(type, "invoke") == 0 ? c->invoke_ns : wl_now(w), c->process, type,
            wl_f_names[c->f], c->key, value, w->names[c->node]);
    if (invoke && c->f == WL_SET && c->deadline)
        fprintf(w->out, ",\"deadline\":%" PRId64, c->deadline);
    if (code >= 0) {
        fprintf(w->out, ",\"error\":[%d,\"", code);
        for (const char *p = text; *p; p++)
            if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
                fputc(*p, w->out);
        fprintf(w->out, "\"]");
    }
    fprintf(w->out, "}\n");
    if (strcmp(type, "ok") == 0)
        w->counts[c->f][0]++;
    else if (strcmp(type, "fail") == 0)
        w->counts[c->f][1]++;
    else if (strcmp(type, "info") == 0)
        w->counts[c->f][2]++;
}

static void wl_connect(struct wl_client *c);
static void wl_next(struct wl_client *c);

static void wl_on_retry(uv_timer_t *t)
{
    wl_connect(t->data);
}

static void wl_on_tcp_closed(uv_handle_t *h)
{
    free(h);
}

/* Drop the connection; an operation in flight ends as info (fail for a
 * read) and the client continues as a new process. */
static void wl_drop(struct wl_client *c, const char *why, uint64_t retry_ms)
{
    if (c->busy) {
        if (c->f == WL_READ)
            wl_record(c, "fail", 1001, why, -1);
        else
            wl_record(c, "info", -1, why, -1);
        c->busy = false;
        c->process += c->wl->concurrency;
    }
    if (c->tcp) {
        c->tcp->data = NULL;
        uv_close((uv_handle_t *)c->tcp, wl_on_tcp_closed);
        c->tcp = NULL;
    }
    c->connected = false;
    c->in_len = 0;
    uv_timer_stop(&c->timer);
    if (wl_over(c)) {
        c->stopped = true;
        return;
    }
    if (wl_final_phase(c->wl)) /* its node may be gone for good: read through the next */
        c->node = (c->node + 1) % c->wl->n_nodes;
    uv_timer_start(&c->timer, wl_on_retry, retry_ms, 0);
}

static void wl_on_timeout(uv_timer_t *t)
{
    wl_drop(t->data, "timeout", 0);
}

static void wl_on_next(uv_timer_t *t)
{
    wl_next(t->data);
}

static void wl_complete(struct wl_client *c, const struct resp_reply *r)
{
    uv_timer_stop(&c->timer);
    c->busy = false;
    bool err = r->type == RESP_R_ERROR;
    char text[96] = "";
    if (err)
        snprintf(text, sizeof text, "%.*s", (int)(r->len < 90 ? r->len : 90), r->str);
    if (err && strncmp(text, "TRYAGAIN", 8) == 0) {
        wl_record(c, "fail", 11, text, -1);
        /* No leader: back off a little instead of spinning. */
        uv_timer_start(&c->timer, wl_on_next, 20, 0);
        return;
    } else if (err && c->f == WL_INCR && strstr(text, "not an integer")) {
        wl_record(c, "fail", 40, "not-an-integer", -1);
    } else if (err) { /* UNCERTAIN or anything unexpected: outcome unknown */
        if (c->f == WL_READ || c->f == WL_GET || c->f == WL_PTTL) {
            wl_record(c, "fail", 1000, text, -1);
        } else {
            wl_record(c, "info", 1000, text, -1);
            c->process += c->wl->concurrency;
        }
    } else if (c->f >= WL_GET) {
        char v[560];
        if (c->f == WL_INCR && r->type == RESP_R_INT) {
            snprintf(v, sizeof v, "%lld", (long long)r->integer);
            wl_record_value(c, "ok", -1, "", -1, v);
        } else if ((c->f == WL_APPEND || c->f == WL_DEL || c->f == WL_PTTL || c->f == WL_PERSIST) &&
                   r->type == RESP_R_INT) {
            snprintf(v, sizeof v, "%lld", (long long)r->integer);
            wl_record_value(c, "ok", -1, "", -1, v);
        } else if ((c->f == WL_GET || c->f == WL_GETSET) && r->type == RESP_R_NULL) {
            wl_record_value(c, "ok", -1, "", -1, "null");
        } else if ((c->f == WL_GET || c->f == WL_GETSET) && r->type == RESP_R_BULK) {
            wl_json_string(v, sizeof v, r->str, r->len);
            wl_record_value(c, "ok", -1, "", -1, v);
        } else if (c->f == WL_SET && r->type == RESP_R_SIMPLE) {
            wl_record_value(c, "ok", -1, "", -1, NULL);
        } else {
            wl_record(c, "info", 1002, "unexpected reply", -1);
            c->process += c->wl->concurrency;
        }
    } else if (c->f == WL_READ) {
        bool answered = true;
        if (r->type == RESP_R_NULL)
            wl_record(c, "fail", 20, "key does not exist", -1);
        else if (r->type == RESP_R_BULK && r->len == 1 && r->str[0] >= '0' && r->str[0] <= '9')
            wl_record(c, "ok", -1, "", r->str[0] - '0');
        else {
            wl_record(c, "fail", 1002, "unexpected reply", -1);
            answered = false;
        }
        if (answered && c->final_key == c->key && wl_final_phase(c->wl)) {
            c->final_key = -1;
            c->wl->final_done++;
        }
    } else if (c->f == WL_WRITE) {
        if (r->type == RESP_R_SIMPLE)
            wl_record(c, "ok", -1, "", -1);
        else {
            wl_record(c, "info", 1002, "unexpected reply", -1);
            c->process += c->wl->concurrency;
        }
    } else {
        if (r->type == RESP_R_INT && r->integer == 1)
            wl_record(c, "ok", -1, "", -1);
        else if (r->type == RESP_R_INT && r->integer == 0)
            wl_record(c, "fail", 22, "precondition failed", -1);
        else if (r->type == RESP_R_NULL)
            wl_record(c, "fail", 20, "key does not exist", -1);
        else {
            wl_record(c, "info", 1002, "unexpected reply", -1);
            c->process += c->wl->concurrency;
        }
    }
    wl_next(c);
}

static void wl_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    (void)size;
    struct wl_client *c = h->data;
    if (!c) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    if (c->in_cap - c->in_len < 4096) {
        size_t cap = c->in_cap ? c->in_cap * 2 : 8192;
        c->in = realloc(c->in, cap);
        c->in_cap = cap;
    }
    *buf = uv_buf_init(c->in + c->in_len, (unsigned)(c->in_cap - c->in_len));
}

static void wl_on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    struct wl_client *c = st->data;
    if (!c)
        return;
    if (n < 0) {
        wl_drop(c, "connection lost", 100);
        return;
    }
    c->in_len += (size_t)n;
    struct resp_reply r;
    long used = resp_reply_parse(c->in, c->in_len, &r);
    if (used < 0 || (used > 0 && !c->busy)) {
        wl_drop(c, "protocol error", 100);
        return;
    }
    if (used == 0)
        return;
    wl_complete(c, &r);
    /* One request at a time: nothing should follow a reply. */
    memmove(c->in, c->in + used, c->in_len - (size_t)used);
    c->in_len -= (size_t)used;
}

static void wl_on_write(uv_write_t *req, int status)
{
    struct wl_client *c = req->data;
    if (status < 0 && c->tcp && c->busy)
        wl_drop(c, "write failed", 100);
}

static void wl_next(struct wl_client *c)
{
    struct wl *w = c->wl;
    if (wl_over(c)) {
        c->stopped = true;
        if (c->tcp) {
            c->tcp->data = NULL;
            uv_close((uv_handle_t *)c->tcp, wl_on_tcp_closed);
            c->tcp = NULL;
        }
        uv_timer_stop(&c->timer);
        return;
    }
    c->deadline = 0;
    uint64_t roll = wl_final_phase(w) ? 0 : rng_below(&w->rng, w->strings ? 12 : w->expiry ? 10 : 4);
    if (wl_final_phase(w))
        c->f = WL_READ;
    else if (w->expiry)
        c->f = roll < 3 ? WL_GET : roll < 6 ? WL_SET : roll < 8 ? WL_PTTL : roll < 9 ? WL_PERSIST : WL_DEL;
    else if (w->strings)
        c->f = roll < 4 ? WL_GET : roll < 6 ? WL_SET : roll < 9 ? WL_INCR : roll < 10 ? WL_APPEND
               : roll < 11 ? WL_GETSET : WL_DEL;
    else
        c->f = roll < 2 ? WL_READ : roll == 2 ? WL_WRITE : WL_CAS;
    if (wl_final_phase(w)) {
        c->key = c->final_key;
        c->a = c->b = 0;
    } else {
        c->key = (int)(w->invoked / w->ops_per_key + rng_below(&w->rng, 2));
        c->a = (int)rng_below(&w->rng, 5);
        c->b = (int)rng_below(&w->rng, 5);
        if (c->f == WL_INCR)
            c->a = 1 + (int)rng_below(&w->rng, 3);
        w->invoked++;
        if (c->key > w->max_key)
            w->max_key = c->key;
    }
    int len;
    char key[24];
    int kl = snprintf(key, sizeof key, "k%d", c->key);
    if (c->f == WL_SET && w->expiry && rng_below(&w->rng, 3) != 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        c->deadline = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 50 + (int64_t)rng_below(&w->rng, 1450);
        char dl[24];
        int dn = snprintf(dl, sizeof dl, "%" PRId64, c->deadline);
        len = snprintf(c->out, sizeof c->out,
                       "*5\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\n%d\r\n$4\r\nPXAT\r\n$%d\r\n%s\r\n", kl, key,
                       c->a, dn, dl);
    } else if (c->f == WL_PTTL || c->f == WL_PERSIST)
        len = snprintf(c->out, sizeof c->out, "*2\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", c->f == WL_PTTL ? 4 : 7,
                       c->f == WL_PTTL ? "PTTL" : "PERSIST", kl, key);
    else if (c->f == WL_GET || c->f == WL_DEL)
        len = snprintf(c->out, sizeof c->out, "*2\r\n$3\r\n%s\r\n$%d\r\n%s\r\n",
                       c->f == WL_GET ? "GET" : "DEL", kl, key);
    else if (c->f == WL_SET || c->f == WL_GETSET)
        len = snprintf(c->out, sizeof c->out, "*3\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$1\r\n%d\r\n",
                       c->f == WL_SET ? 3 : 6, c->f == WL_SET ? "SET" : "GETSET", kl, key, c->a);
    else if (c->f == WL_INCR)
        len = snprintf(c->out, sizeof c->out, "*3\r\n$6\r\nINCRBY\r\n$%d\r\n%s\r\n$1\r\n%d\r\n", kl,
                       key, c->a);
    else if (c->f == WL_APPEND)
        len = snprintf(c->out, sizeof c->out, "*3\r\n$6\r\nAPPEND\r\n$%d\r\n%s\r\n$1\r\nx\r\n", kl, key);
    else if (c->f == WL_READ)
        len = snprintf(c->out, sizeof c->out, "*2\r\n$3\r\nGET\r\n$%d\r\nk%d\r\n",
                       snprintf(NULL, 0, "k%d", c->key), c->key);
    else if (c->f == WL_WRITE)
        len = snprintf(c->out, sizeof c->out, "*3\r\n$3\r\nSET\r\n$%d\r\nk%d\r\n$1\r\n%d\r\n",
                       snprintf(NULL, 0, "k%d", c->key), c->key, c->a);
    else
        len = snprintf(c->out, sizeof c->out, "*4\r\n$3\r\nCAS\r\n$%d\r\nk%d\r\n$1\r\n%d\r\n$1\r\n%d\r\n",
                       snprintf(NULL, 0, "k%d", c->key), c->key, c->a, c->b);
    c->invoke_ns = wl_now(w);
    wl_record(c, "invoke", -1, "", -1);
    c->busy = true;
    uv_buf_t b = uv_buf_init(c->out, (unsigned)len);
    c->wreq.data = c;
    uv_timer_start(&c->timer, wl_on_timeout, w->timeout_ms, 0);
    if (uv_write(&c->wreq, (uv_stream_t *)c->tcp, &b, 1, wl_on_write) != 0)
        wl_drop(c, "write failed", 100);
}

static void wl_on_connect(uv_connect_t *req, int status)
{
    struct wl_client *c = req->data;
    if (!c->tcp || (uv_tcp_t *)req->handle != c->tcp)
        return;
    if (status < 0) {
        wl_drop(c, "connect failed", 100);
        return;
    }
    c->connected = true;
    uv_tcp_nodelay(c->tcp, 1);
    uv_read_start((uv_stream_t *)c->tcp, wl_alloc, wl_on_read);
    wl_next(c);
}

static void wl_connect(struct wl_client *c)
{
    if (c->stopped || c->tcp)
        return;
    if (wl_over(c)) {
        c->stopped = true;
        return;
    }
    c->tcp = malloc(sizeof *c->tcp);
    uv_tcp_init(c->wl->loop, c->tcp);
    c->tcp->data = c;
    c->creq.data = c;
    if (uv_tcp_connect(&c->creq, c->tcp, (const struct sockaddr *)&c->wl->addrs[c->node], wl_on_connect) != 0)
        wl_drop(c, "connect failed", 100);
}

static int wl_parse_nodes(struct wl *w, const char *list)
{
    char *copy = strdup(list), *save = NULL;
    w->n_nodes = 0;
    for (char *it = strtok_r(copy, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(it, '='), *colon = strrchr(it, ':');
        if (!eq || !colon || colon < eq || w->n_nodes >= WL_MAX_NODES || eq - it >= 32) {
            free(copy);
            return -1;
        }
        *eq = *colon = '\0';
        snprintf(w->names[w->n_nodes], sizeof w->names[0], "%s", it);
        if (uv_ip4_addr(eq + 1, atoi(colon + 1), &w->addrs[w->n_nodes]) != 0) {
            free(copy);
            return -1;
        }
        w->n_nodes++;
    }
    free(copy);
    return w->n_nodes > 0 ? 0 : -1;
}

/* SIGTERM/SIGINT: the workload ends now, as at its time limit. */
static void wl_on_stop_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    struct wl *w = s->data;
    uint64_t now = wl_now(w);
    if (now < w->time_limit_ns)
        w->time_limit_ns = now;
}

int main(int argc, char **argv)
{
    struct wl w = {.concurrency = 10, .timeout_ms = 1000, .ops_per_key = 200};
    const char *nodes = NULL, *out = NULL;
    double time_limit = 10;
    uint64_t seed = 0;
    for (int i = 1; i < argc; i += 2) {
        if (strcmp(argv[i], "--final-reads") == 0) { /* takes no value */
            w.final_reads = true;
            i--;
        } else if (i + 1 >= argc) {
            fprintf(stderr, "resp_linkv: %s wants a value\n", argv[i]);
            return 64;
        } else if (strcmp(argv[i], "--nodes") == 0)
            nodes = argv[i + 1];
        else if (strcmp(argv[i], "--out") == 0)
            out = argv[i + 1];
        else if (strcmp(argv[i], "--time-limit") == 0)
            time_limit = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--concurrency") == 0)
            w.concurrency = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--timeout-ms") == 0)
            w.timeout_ms = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--ops-per-key") == 0)
            w.ops_per_key = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--seed") == 0)
            seed = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--workload") == 0 && (strcmp(argv[i + 1], "string") == 0 ||
                                                         strcmp(argv[i + 1], "expiry") == 0 ||
                                                         strcmp(argv[i + 1], "register") == 0)) {
            w.strings = strcmp(argv[i + 1], "string") == 0;
            w.expiry = strcmp(argv[i + 1], "expiry") == 0;
        }
        else {
            fprintf(stderr, "resp_linkv: unknown option %s\n", argv[i]);
            return 64;
        }
    }
    if (!nodes || !out || wl_parse_nodes(&w, nodes) != 0 || w.concurrency <= 0 || w.concurrency > 1000 ||
        w.ops_per_key == 0 || time_limit <= 0 || (w.final_reads && (w.strings || w.expiry))) {
        fprintf(stderr, "usage: resp_linkv --nodes n1=HOST:PORT,... --out FILE [--time-limit S] "
                        "[--concurrency C] [--timeout-ms T] [--ops-per-key N] [--seed N] "
                        "[--workload register|string|expiry] [--final-reads (register only)]\n");
        return 64;
    }
    if (!seed)
        seed = uv_hrtime();
    fprintf(stderr, "resp_linkv: seed %" PRIu64 "\n", seed);
    rng_seed(&w.rng, seed);
    w.out = fopen(out, "w");
    if (!w.out) {
        perror(out);
        return 1;
    }
    w.loop = uv_default_loop();
    w.start_ns = uv_hrtime();
    w.time_limit_ns = (uint64_t)(time_limit * 1e9);
    struct wl_client *clients = calloc((size_t)w.concurrency, sizeof *clients);
    for (int i = 0; i < w.concurrency; i++) {
        struct wl_client *c = &clients[i];
        c->wl = &w;
        c->index = i;
        c->process = i;
        c->node = i % w.n_nodes;
        c->final_key = -1;
        uv_timer_init(w.loop, &c->timer);
        c->timer.data = c;
        wl_connect(c);
    }
    uv_signal_t sigs[2];
    int signums[2] = {SIGTERM, SIGINT};
    for (int i = 0; i < 2; i++) {
        uv_signal_init(w.loop, &sigs[i]);
        sigs[i].data = &w;
        uv_signal_start(&sigs[i], wl_on_stop_signal, signums[i]);
        uv_unref((uv_handle_t *)&sigs[i]); /* the clients keep the loop running, not these */
    }
    /* Run until every client stopped; then close their timers. */
    while (uv_run(w.loop, UV_RUN_ONCE)) {
        bool all = true;
        for (int i = 0; i < w.concurrency; i++)
            all = all && clients[i].stopped && !clients[i].busy;
        if (all)
            break;
    }
    for (int i = 0; i < w.concurrency; i++) {
        if (clients[i].tcp) {
            clients[i].tcp->data = NULL;
            uv_close((uv_handle_t *)clients[i].tcp, wl_on_tcp_closed);
        }
        uv_close((uv_handle_t *)&clients[i].timer, NULL);
    }
    for (int i = 0; i < 2; i++)
        uv_close((uv_handle_t *)&sigs[i], NULL);
    uv_run(w.loop, UV_RUN_DEFAULT);
    for (int i = 0; i < w.concurrency; i++)
        free(clients[i].in);
    free(clients);
    fclose(w.out);
    double secs = (double)wl_now(&w) / 1e9;
    uint64_t total = 0, ok = 0;
    for (int f = 0; f < WL_NF; f++) {
        if (w.counts[f][0] + w.counts[f][1] + w.counts[f][2] == 0)
            continue;
        fprintf(stderr, "resp_linkv: %-5s ok %" PRIu64 " fail %" PRIu64 " info %" PRIu64 "\n", wl_f_names[f],
                w.counts[f][0], w.counts[f][1], w.counts[f][2]);
        total += w.counts[f][0] + w.counts[f][1] + w.counts[f][2];
        ok += w.counts[f][0];
    }
    fprintf(stderr, "resp_linkv: %" PRIu64 " operations in %.1f s (%.0f/s), %" PRIu64 " ok\n", total, secs,
            (double)total / secs, ok);
    if (w.final_reads)
        fprintf(stderr, "resp_linkv: final reads answered for %" PRIu64 " of %d keys\n", w.final_done,
                w.max_key + 1);
    printf("ok=%" PRIu64 " total=%" PRIu64, ok, total);
    if (w.final_reads)
        printf(" final_read=%" PRIu64 " final_keys=%d", w.final_done, w.max_key + 1);
    printf("\n");
    return 0;
}
