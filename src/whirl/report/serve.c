/* serve.c - `whirl serve`: a tiny static HTTP/1.1 server over libuv that
 * shows a store of runs in a browser. GET and HEAD only, one request per
 * connection, bound to 127.0.0.1.
 *
 * Safety: the URL path is percent-decoded once, any ".." segment or NUL is
 * refused, and the resolved real path must still lie inside the store, so
 * neither "../" nor a symlink can reach files outside it.
 */
#include "whirl/report/report.h"

#include "whirl/report/serve_pages.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#define SERVE_MAX_REQUEST 16384
#define SERVE_MAX_FILE (512L * 1024 * 1024)

struct serve_conn {
    uv_tcp_t tcp;
    char buf[SERVE_MAX_REQUEST];
    size_t len;
    bool answered;
};

struct serve_reply {
    uv_write_t req;
    char *head;
    char *body;
};

static char serve_root[PATH_MAX]; /* realpath of the store */

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

static void conn_close(struct serve_conn *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_written(uv_write_t *req, int status)
{
    (void)status;
    struct serve_reply *r = req->data;
    conn_close(req->handle->data);
    free(r->head);
    free(r->body);
    free(r);
}

/* Sends status line, headers and body (taken over: freed after writing). */
static void reply(struct serve_conn *c, int code, const char *reason, const char *type, char *body, size_t len,
                  const char *extra_header, bool head_only)
{
    c->answered = true;
    static const char fmt[] = "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s"
                              "Cache-Control: no-store\r\nConnection: close\r\n\r\n";
    const char *extra = extra_header ? extra_header : "", *crlf = extra_header ? "\r\n" : "";
    /* sized to fit: a Location header echoes a request target of any length */
    int hl = snprintf(NULL, 0, fmt, code, reason, type, len, extra, crlf);
    struct serve_reply *r = calloc(1, sizeof *r);
    char *head = hl > 0 ? malloc((size_t)hl + 1) : NULL;
    if (!r || !head) {
        free(r);
        free(head);
        free(body);
        conn_close(c);
        return;
    }
    snprintf(head, (size_t)hl + 1, fmt, code, reason, type, len, extra, crlf);
    r->head = head;
    r->body = body;
    r->req.data = r;
    uv_buf_t bufs[2] = {uv_buf_init(head, (unsigned)hl), uv_buf_init(body ? body : "", head_only ? 0 : (unsigned)len)};
    if (uv_write(&r->req, (uv_stream_t *)&c->tcp, bufs, 2, on_written) != 0) {
        free(r->head);
        free(r->body);
        free(r);
        conn_close(c);
    }
}

static void reply_error(struct serve_conn *c, int code, const char *reason, bool head_only)
{
    char *body = malloc(128);
    int n = body ? snprintf(body, 128, "%d %s\n", code, reason) : 0;
    reply(c, code, reason, "text/plain; charset=utf-8", body, (size_t)n, NULL, head_only);
}

const char *serve_content_type(const char *path)
{
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"}, {".svg", "image/svg+xml"},
        {".json", "application/json"},         {".jsonl", "text/plain; charset=utf-8"},
        {".txt", "text/plain; charset=utf-8"}, {".log", "text/plain; charset=utf-8"},
        {".edn", "text/plain; charset=utf-8"}, {".png", "image/png"},
        {".css", "text/css"},                  {".js", "text/javascript"},
    };
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (dot && (!slash || dot > slash))
        for (size_t i = 0; i < sizeof types / sizeof *types; i++)
            if (strcmp(dot, types[i][0]) == 0)
                return types[i][1];
    return "application/octet-stream";
}

static int hex(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decodes the path part of target into out. Returns 0, or -1 for a
 * malformed or unsafe path (bad escape, NUL, a ".." segment, no leading /). */
int serve_decode_path(const char *target, char *out, size_t len)
{
    if (target[0] != '/')
        return -1;
    size_t o = 0;
    for (const char *s = target; *s && *s != '?' && *s != '#'; s++) {
        char c = *s;
        if (c == '%') {
            int a = hex(s[1]), b = a >= 0 ? hex(s[2]) : -1;
            if (a < 0 || b < 0)
                return -1;
            c = (char)(a * 16 + b);
            s += 2;
        }
        if (c == 0 || c == '\\' || o + 1 >= len)
            return -1;
        out[o++] = c;
    }
    out[o] = 0;
    /* any ".." segment is refused outright, whatever it would resolve to */
    for (const char *seg = out; seg; seg = strchr(seg + 1, '/')) {
        const char *p = seg + 1;
        if (p[0] == '.' && p[1] == '.' && (p[2] == '/' || p[2] == 0))
            return -1;
    }
    return 0;
}

static bool inside_root(const char *real)
{
    size_t n = strlen(serve_root);
    return strncmp(real, serve_root, n) == 0 && (real[n] == '/' || real[n] == 0);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *data = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && size <= SERVE_MAX_FILE && fseek(f, 0, SEEK_SET) == 0)
        data = malloc((size_t)size + 1);
    if (data && fread(data, 1, (size_t)size, f) != (size_t)size) {
        free(data);
        data = NULL;
    }
    fclose(f);
    *len = (size_t)size;
    return data;
}

static void serve_path(struct serve_conn *c, const char *target, bool head_only)
{
    char path[PATH_MAX], fs[PATH_MAX * 2], real[PATH_MAX];
    if (serve_decode_path(target, path, sizeof path) != 0) {
        reply_error(c, 403, "Forbidden", head_only);
        return;
    }
    size_t len = 0;
    if (strcmp(path, "/") == 0) {
        char *page = serve_runs_page(serve_root, &len);
        if (!page)
            reply_error(c, 500, "Internal Server Error", head_only);
        else
            reply(c, 200, "OK", "text/html; charset=utf-8", page, len, NULL, head_only);
        return;
    }
    snprintf(fs, sizeof fs, "%s%s", serve_root, path);
    if (!realpath(fs, real)) {
        reply_error(c, 404, "Not Found", head_only);
        return;
    }
    if (!inside_root(real)) {
        reply_error(c, 403, "Forbidden", head_only);
        return;
    }
    struct stat st;
    if (stat(real, &st) != 0) {
        reply_error(c, 404, "Not Found", head_only);
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        size_t pl = strlen(path);
        if (path[pl - 1] != '/') {
            /* relative links in a run's index.html need the trailing slash */
            char location[PATH_MAX + 16];
            snprintf(location, sizeof location, "Location: %.*s/", (int)strcspn(target, "?#"), target);
            reply(c, 301, "Moved Permanently", "text/plain; charset=utf-8", NULL, 0, location, head_only);
            return;
        }
        char index[PATH_MAX + 16];
        snprintf(index, sizeof index, "%s/index.html", real);
        char *page = read_file(index, &len);
        if (!page)
            page = serve_listing_page(real, path, &len);
        if (!page)
            reply_error(c, 404, "Not Found", head_only);
        else
            reply(c, 200, "OK", "text/html; charset=utf-8", page, len, NULL, head_only);
        return;
    }
    char *data = S_ISREG(st.st_mode) ? read_file(real, &len) : NULL;
    if (!data)
        reply_error(c, 404, "Not Found", head_only);
    else
        reply(c, 200, "OK", serve_content_type(real), data, len, NULL, head_only);
}

static void handle_request(struct serve_conn *c)
{
    char method[16], target[8192], version[16];
    if (sscanf(c->buf, "%15s %8191s %15s", method, target, version) != 3 || strncmp(version, "HTTP/", 5) != 0) {
        reply_error(c, 400, "Bad Request", false);
        return;
    }
    bool head = strcmp(method, "HEAD") == 0;
    if (!head && strcmp(method, "GET") != 0) {
        reply_error(c, 405, "Method Not Allowed", false);
        return;
    }
    serve_path(c, target, head);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct serve_conn *c = h->data;
    size_t room = sizeof c->buf - 1 - c->len;
    *buf = uv_buf_init(c->buf + c->len, (unsigned)room);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct serve_conn *c = s->data;
    if (nread < 0) {
        if (!c->answered)
            conn_close(c);
        return;
    }
    if (c->answered)
        return;
    c->len += (size_t)nread;
    c->buf[c->len] = 0;
    if (strstr(c->buf, "\r\n\r\n") || strstr(c->buf, "\n\n")) {
        uv_read_stop(s);
        handle_request(c);
    } else if (c->len >= sizeof c->buf - 1) {
        uv_read_stop(s);
        reply_error(c, 431, "Request Header Fields Too Large", false);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    struct serve_conn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    uv_tcp_init(server->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 || uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        conn_close(c);
}

static int usage(void)
{
    fprintf(stderr, "usage: whirl serve [--port P] [STORE]\n"
                    "  serves STORE (default ./store) on http://127.0.0.1:P/ (default 8080; 0 picks a free port)\n");
    return 64;
}

int whirl_serve_main(int argc, char **argv)
{
    const char *store = "store";
    long port = 8080;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            char *end;
            port = strtol(argv[++i], &end, 10);
            if (*end || port < 0 || port > 65535)
                return usage();
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage();
            return 0;
        } else if (argv[i][0] == '-') {
            return usage();
        } else {
            store = argv[i];
        }
    }
    if (!realpath(store, serve_root)) {
        fprintf(stderr, "whirl serve: %s: %s\n", store, strerror(errno));
        return 66;
    }
    uv_loop_t *loop = uv_default_loop();
    uv_tcp_t server;
    struct sockaddr_in addr;
    uv_tcp_init(loop, &server);
    uv_ip4_addr("127.0.0.1", (int)port, &addr);
    int rc = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&server, 64, on_connection);
    if (rc != 0) {
        fprintf(stderr, "whirl serve: cannot listen on 127.0.0.1:%ld: %s\n", port, uv_strerror(rc));
        return 69;
    }
    struct sockaddr_in bound;
    int blen = sizeof bound;
    uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &blen);
    printf("whirl serve: http://127.0.0.1:%d/ serving %s\n", ntohs(bound.sin_port), serve_root);
    fflush(stdout);
    uv_run(loop, UV_RUN_DEFAULT);
    return 0;
}
