/* etcd_load.c - a closed-loop load generator for etcd's v3 JSON gateway, so
 * bench/server_bench.sh can measure etcd beside raftkv in the same run
 * (Debian packages etcd but not its benchmark tool).
 *
 *   etcd_load --endpoints 127.0.0.1:2379,... --op put|range
 *             [--clients 50] [--requests N] [--keys K] [--seed S]
 *
 * Each client keeps one HTTP/1.1 keep-alive connection (clients spread over
 * the endpoints round robin, as etcd's own benchmark does) and one request
 * in flight: POST /v3/kv/put {"key","value"} or /v3/kv/range {"key"}, whose
 * default is a linearizable read. Prints one line:
 *   op=put requests=N errors=E seconds=S rps=R p50_ms=A p99_ms=B
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/rng.h"

struct load;

struct load_client {
    struct load *ld;
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    char out[512];
    char in[8192];
    size_t in_len;
    uint64_t sent_ns;
    bool done;
};

struct load {
    uv_loop_t *loop;
    struct sockaddr_in addrs[16];
    int n_addrs;
    bool put;
    uint64_t requests, issued, answered, errors, keys;
    uint64_t *lat_ns;
    uint64_t start_ns;
    struct rng rng;
};

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t load_base64(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)(unsigned char)s[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)s[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? b64[v & 63] : '=';
    }
    out[o] = '\0';
    return o;
}

static void load_send(struct load_client *c);

static void load_on_write(uv_write_t *w, int status)
{
    struct load_client *c = w->data;
    if (status < 0) {
        c->ld->errors++;
        c->done = true;
        uv_close((uv_handle_t *)&c->tcp, NULL);
    }
}

static void load_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    (void)size;
    struct load_client *c = h->data;
    *buf = uv_buf_init(c->in + c->in_len, (unsigned)(sizeof c->in - c->in_len));
}

/* One whole response: headers, then Content-Length bytes of body. */
static long load_response_len(const char *in, size_t len, int *status)
{
    const char *end = memmem(in, len, "\r\n\r\n", 4);
    if (!end)
        return 0;
    *status = atoi(in + 9);
    const char *cl = memmem(in, (size_t)(end - in), "Content-Length:", 15);
    if (!cl)
        cl = memmem(in, (size_t)(end - in), "content-length:", 15);
    if (!cl)
        return -1; /* chunked responses are not expected from the gateway */
    long body = atol(cl + 15);
    long total = (end - in) + 4 + body;
    return (size_t)total <= len ? total : 0;
}

static void load_on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    struct load_client *c = st->data;
    struct load *ld = c->ld;
    if (n < 0) {
        ld->errors++;
        c->done = true;
        uv_close((uv_handle_t *)&c->tcp, NULL);
        return;
    }
    c->in_len += (size_t)n;
    int status = 0;
    long total = load_response_len(c->in, c->in_len, &status);
    if (total < 0 || (total == 0 && c->in_len == sizeof c->in)) {
        ld->errors++;
        c->done = true;
        uv_close((uv_handle_t *)&c->tcp, NULL);
        return;
    }
    if (total == 0)
        return;
    if (status != 200)
        ld->errors++;
    ld->lat_ns[ld->answered++] = uv_hrtime() - c->sent_ns;
    memmove(c->in, c->in + total, c->in_len - (size_t)total);
    c->in_len -= (size_t)total;
    load_send(c);
}

static void load_send(struct load_client *c)
{
    struct load *ld = c->ld;
    if (ld->issued >= ld->requests) {
        c->done = true;
        uv_close((uv_handle_t *)&c->tcp, NULL);
        return;
    }
    ld->issued++;
    char key[32], k64[64], body[256];
    int kl = snprintf(key, sizeof key, "key:%012" PRIu64, rng_below(&ld->rng, ld->keys));
    load_base64(key, (size_t)kl, k64);
    int bl;
    if (ld->put)
        bl = snprintf(body, sizeof body, "{\"key\":\"%s\",\"value\":\"eHh4\"}", k64);
    else
        bl = snprintf(body, sizeof body, "{\"key\":\"%s\"}", k64);
    int ol = snprintf(c->out, sizeof c->out,
                      "POST /v3/kv/%s HTTP/1.1\r\nHost: etcd\r\nContent-Type: application/json\r\n"
                      "Content-Length: %d\r\n\r\n%s",
                      ld->put ? "put" : "range", bl, body);
    uv_buf_t b = uv_buf_init(c->out, (unsigned)ol);
    c->wreq.data = c;
    c->sent_ns = uv_hrtime();
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, load_on_write) != 0) {
        ld->errors++;
        c->done = true;
    }
}

static void load_on_connect(uv_connect_t *req, int status)
{
    struct load_client *c = req->data;
    if (status < 0) {
        fprintf(stderr, "etcd_load: connect: %s\n", uv_strerror(status));
        c->ld->errors++;
        c->done = true;
        uv_close((uv_handle_t *)&c->tcp, NULL);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, load_alloc, load_on_read);
    load_send(c);
}

static int load_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    struct load ld = {.requests = 20000, .keys = 100000};
    int clients = 50;
    const char *endpoints = NULL, *op = "put";
    uint64_t seed = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--endpoints") == 0)
            endpoints = argv[i + 1];
        else if (strcmp(argv[i], "--op") == 0)
            op = argv[i + 1];
        else if (strcmp(argv[i], "--clients") == 0)
            clients = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--requests") == 0)
            ld.requests = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--keys") == 0)
            ld.keys = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--seed") == 0)
            seed = strtoull(argv[i + 1], NULL, 10);
    }
    char *list = endpoints ? strdup(endpoints) : NULL, *save = NULL;
    for (char *e = list ? strtok_r(list, ",", &save) : NULL; e && ld.n_addrs < 16; e = strtok_r(NULL, ",", &save)) {
        char *colon = strrchr(e, ':');
        if (!colon)
            break;
        *colon = '\0';
        if (uv_ip4_addr(e, atoi(colon + 1), &ld.addrs[ld.n_addrs]) == 0)
            ld.n_addrs++;
    }
    free(list);
    if (ld.n_addrs == 0 || clients <= 0 || clients > 1000 || ld.requests == 0 || ld.keys == 0 ||
        (strcmp(op, "put") != 0 && strcmp(op, "range") != 0)) {
        fprintf(stderr, "usage: etcd_load --endpoints HOST:PORT,... --op put|range [--clients C] "
                        "[--requests N] [--keys K] [--seed S]\n");
        return 64;
    }
    ld.put = strcmp(op, "put") == 0;
    rng_seed(&ld.rng, seed);
    ld.lat_ns = calloc(ld.requests, sizeof *ld.lat_ns);
    ld.loop = uv_default_loop();
    struct load_client *cs = calloc((size_t)clients, sizeof *cs);
    ld.start_ns = uv_hrtime();
    for (int i = 0; i < clients; i++) {
        cs[i].ld = &ld;
        uv_tcp_init(ld.loop, &cs[i].tcp);
        cs[i].tcp.data = &cs[i];
        cs[i].creq.data = &cs[i];
        uv_tcp_connect(&cs[i].creq, &cs[i].tcp, (const struct sockaddr *)&ld.addrs[i % ld.n_addrs],
                       load_on_connect);
    }
    uv_run(ld.loop, UV_RUN_DEFAULT);
    double secs = (double)(uv_hrtime() - ld.start_ns) / 1e9;
    qsort(ld.lat_ns, ld.answered, sizeof *ld.lat_ns, load_cmp);
    double p50 = ld.answered ? (double)ld.lat_ns[ld.answered / 2] / 1e6 : 0;
    double p99 = ld.answered ? (double)ld.lat_ns[(size_t)((double)ld.answered * 0.99)] / 1e6 : 0;
    printf("op=%s requests=%" PRIu64 " errors=%" PRIu64 " seconds=%.2f rps=%.0f p50_ms=%.3f p99_ms=%.3f\n", op,
           ld.answered, ld.errors, secs, (double)ld.answered / secs, p50, p99);
    free(cs);
    free(ld.lat_ns);
    return ld.errors ? 1 : 0;
}
