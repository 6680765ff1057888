/* resp.c - the Redis protocol: resumable request parser, reply writers, and a
 * one-reply reader for clients. See resp.h for the contract. */
#include "server/resp.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    RESP_S_START,
    RESP_S_ARRAY_HDR, /* reading "<n>\r\n" after '*' */
    RESP_S_BULK_DOLLAR,
    RESP_S_BULK_HDR, /* reading "<len>\r\n" after '$' */
    RESP_S_BULK_BODY,
    RESP_S_BULK_CR,
    RESP_S_BULK_LF,
    RESP_S_INLINE,
    RESP_S_FAILED,
};

void resp_limits_default(struct resp_limits *l)
{
    l->max_bulk_bytes = RESP_DEFAULT_MAX_BULK_BYTES;
    l->max_args = RESP_DEFAULT_MAX_ARGS;
    l->max_request_bytes = RESP_DEFAULT_MAX_REQUEST_BYTES;
    l->max_inline_bytes = RESP_DEFAULT_MAX_INLINE_BYTES;
}

void resp_request_release(struct resp_request *r)
{
    for (size_t i = 0; i < r->argc; i++)
        free(r->argv[i]);
    free(r->argv);
    free(r->argl);
    memset(r, 0, sizeof *r);
}

void resp_parser_init(struct resp_parser *p, const struct resp_limits *limits)
{
    memset(p, 0, sizeof *p);
    if (limits)
        p->limits = *limits;
    else
        resp_limits_default(&p->limits);
    p->state = RESP_S_START;
}

void resp_parser_free(struct resp_parser *p)
{
    resp_request_release(&p->req);
    free(p->inline_buf);
    p->inline_buf = NULL;
    p->inline_len = p->inline_cap = 0;
}

static int resp_fail(struct resp_parser *p, int rc, const char *msg)
{
    snprintf(p->err, sizeof p->err, "%s", msg);
    p->state = RESP_S_FAILED;
    return rc;
}

/* Accumulate a short header line. 1: complete (line[] holds it without
 * "\r\n"), 0: need more, -1: malformed. */
static int resp_read_header_line(struct resp_parser *p, const char *data, size_t len, size_t *i)
{
    while (*i < len) {
        char c = data[(*i)++];
        if (c == '\0') /* the number is parsed as a C string: a NUL would end it early */
            return -1;
        if (c == '\n') {
            if (p->line_len == 0 || p->line[p->line_len - 1] != '\r')
                return -1;
            p->line[--p->line_len] = '\0';
            return 1;
        }
        if (p->line_len + 1 >= sizeof p->line)
            return -1;
        p->line[p->line_len++] = c;
    }
    return 0;
}

/* A decimal integer that is the whole string, or -1 on any junk. */
static int resp_parse_i64(const char *s, int64_t *out)
{
    if (*s == '\0')
        return -1;
    bool neg = false;
    if (*s == '-') {
        neg = true;
        s++;
        if (*s == '\0')
            return -1;
    }
    int64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        if (v > (INT64_MAX - (*s - '0')) / 10)
            return -1;
        v = v * 10 + (*s - '0');
    }
    *out = neg ? -v : v;
    return 0;
}

static void resp_reset_request(struct resp_parser *p)
{
    p->state = RESP_S_START;
    p->line_len = 0;
    p->inline_len = 0;
    p->request_bytes = 0;
    p->args_expected = 0;
    p->argv_cap = 0;
}

static int resp_reserve_args(struct resp_parser *p, size_t n)
{
    if (n <= p->argv_cap)
        return 0;
    char **argv = realloc(p->req.argv, n * sizeof *argv);
    if (!argv)
        return -1;
    p->req.argv = argv;
    size_t *argl = realloc(p->req.argl, n * sizeof *argl);
    if (!argl)
        return -1;
    p->req.argl = argl;
    p->argv_cap = n;
    return 0;
}

static int resp_push_arg(struct resp_parser *p, const char *s, size_t n)
{
    if (p->req.argc >= p->limits.max_args)
        return resp_fail(p, RESP_ERR_TOO_LARGE, "Protocol error: too many arguments");
    if (resp_reserve_args(p, p->req.argc < 8 ? 8 : p->req.argc * 2) != 0)
        return resp_fail(p, RESP_ERR_TOO_LARGE, "out of memory");
    char *a = malloc(n + 1);
    if (!a)
        return resp_fail(p, RESP_ERR_TOO_LARGE, "out of memory");
    memcpy(a, s, n);
    a[n] = '\0';
    p->req.argv[p->req.argc] = a;
    p->req.argl[p->req.argc++] = n;
    return 0;
}

/* Split a complete inline line into words (spaces and tabs separate). */
static int resp_split_inline(struct resp_parser *p)
{
    size_t n = p->inline_len;
    if (n > 0 && p->inline_buf[n - 1] == '\r')
        n--;
    size_t i = 0;
    while (i < n) {
        while (i < n && (p->inline_buf[i] == ' ' || p->inline_buf[i] == '\t'))
            i++;
        size_t start = i;
        while (i < n && p->inline_buf[i] != ' ' && p->inline_buf[i] != '\t')
            i++;
        if (i > start) {
            int rc = resp_push_arg(p, p->inline_buf + start, i - start);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

static int resp_ready(struct resp_parser *p, struct resp_request *out)
{
    *out = p->req;
    memset(&p->req, 0, sizeof p->req);
    resp_reset_request(p);
    return RESP_READY;
}

int resp_parse(struct resp_parser *p, const char *data, size_t len, size_t *consumed,
               struct resp_request *out)
{
    assert(p->state != RESP_S_FAILED && "resp_parse fed after an error");
    size_t i = 0;
    int rc;
    while (i < len) {
        size_t before = i;
        switch (p->state) {
        case RESP_S_START:
            if (data[i] == '*') {
                i++;
                p->state = RESP_S_ARRAY_HDR;
            } else {
                p->state = RESP_S_INLINE;
            }
            break;

        case RESP_S_ARRAY_HDR: {
            rc = resp_read_header_line(p, data, len, &i);
            if (rc < 0)
                return resp_fail(p, RESP_ERR_PROTOCOL, "Protocol error: invalid multibulk length");
            if (rc == 0)
                break;
            int64_t n;
            if (resp_parse_i64(p->line, &n) != 0)
                return resp_fail(p, RESP_ERR_PROTOCOL, "Protocol error: invalid multibulk length");
            p->line_len = 0;
            if (n <= 0) { /* "*0" and "*-1": nothing to do, as Redis */
                if (p->request_bytes + (i - before) > p->limits.max_request_bytes)
                    return resp_fail(p, RESP_ERR_TOO_LARGE, "Protocol error: request too large");
                resp_reset_request(p);
                continue; /* its bytes are not the next request's */
            }
            if ((uint64_t)n > p->limits.max_args)
                return resp_fail(p, RESP_ERR_TOO_LARGE, "Protocol error: too many arguments");
            if (resp_reserve_args(p, (size_t)n) != 0)
                return resp_fail(p, RESP_ERR_TOO_LARGE, "out of memory");
            p->args_expected = (size_t)n;
            p->state = RESP_S_BULK_DOLLAR;
            break;
        }

        case RESP_S_BULK_DOLLAR:
            if (data[i] != '$')
                return resp_fail(p, RESP_ERR_PROTOCOL, "Protocol error: expected '$'");
            i++;
            p->state = RESP_S_BULK_HDR;
            break;

        case RESP_S_BULK_HDR: {
            rc = resp_read_header_line(p, data, len, &i);
            if (rc < 0)
                return resp_fail(p, RESP_ERR_PROTOCOL, "Protocol error: invalid bulk length");
            if (rc == 0)
                break;
            int64_t n;
            if (resp_parse_i64(p->line, &n) != 0 || n < 0)
                return resp_fail(p, RESP_ERR_PROTOCOL, "Protocol error: invalid bulk length");
            p->line_len = 0;
            if ((uint64_t)n > p->limits.max_bulk_bytes)
                return resp_fail(p, RESP_ERR_TOO_LARGE, "Protocol error: bulk string too long");
            if (p->request_bytes + (i - before) + (uint64_t)n + 2 > p->limits.max_request_bytes)
                return resp_fail(p, RESP_ERR_TOO_LARGE, "Protocol error: request too large");
            char *a = malloc((size_t)n + 1);
            if (!a)
                return resp_fail(p, RESP_ERR_TOO_LARGE, "out of memory");
            a[n] = '\0';
            p->req.argv[p->req.argc] = a;
            p->req.argl[p->req.argc] = (size_t)n;
            p->req.argc++; /* counted now so release frees it if we fail */
            p->bulk_len = (size_t)n;
            p->bulk_got = 0;
            p->state = p->bulk_len ? RESP_S_BULK_BODY : RESP_S_BULK_CR;
            break;
        }

        case RESP_S_BULK_BODY: {
            size_t want = p->bulk_len - p->bulk_got;
            size_t take = len - i < want ? len - i : want;
            memcpy(p->req.argv[p->req.argc - 1] + p->bulk_got, data + i, take);
            p->bulk_got += take;
            i += take;
            if (p->bulk_got == p->bulk_len)
                p->state = RESP_S_BULK_CR;
            break;
        }

        case RESP_S_BULK_CR:
            if (data[i++] != '\r')
                return resp_fail(p, RESP_ERR_PROTOCOL, "Protocol error: bulk not followed by CRLF");
            p->state = RESP_S_BULK_LF;
            break;

        case RESP_S_BULK_LF:
            if (data[i++] != '\n')
                return resp_fail(p, RESP_ERR_PROTOCOL, "Protocol error: bulk not followed by CRLF");
            p->request_bytes += i - before;
            if (p->req.argc == p->args_expected) {
                *consumed = i;
                return resp_ready(p, out);
            }
            p->state = RESP_S_BULK_DOLLAR;
            continue;

        case RESP_S_INLINE: {
            const char *nl = memchr(data + i, '\n', len - i);
            size_t take = nl ? (size_t)(nl - (data + i)) : len - i;
            if (p->inline_len + take > p->limits.max_inline_bytes)
                return resp_fail(p, RESP_ERR_TOO_LARGE, "Protocol error: too big inline request");
            if (p->inline_len + take > p->inline_cap) {
                size_t cap = p->inline_cap ? p->inline_cap : 256;
                while (cap < p->inline_len + take)
                    cap *= 2;
                char *b = realloc(p->inline_buf, cap);
                if (!b)
                    return resp_fail(p, RESP_ERR_TOO_LARGE, "out of memory");
                p->inline_buf = b;
                p->inline_cap = cap;
            }
            if (take) /* an empty line may come before any buffer exists */
                memcpy(p->inline_buf + p->inline_len, data + i, take);
            p->inline_len += take;
            i += take;
            if (!nl)
                break;
            i++; /* the '\n' */
            rc = resp_split_inline(p);
            if (rc != 0)
                return rc;
            if (p->req.argc == 0) { /* an empty line: ignored, as Redis */
                resp_reset_request(p);
                continue;
            }
            *consumed = i;
            return resp_ready(p, out);
        }

        default:
            assert(0 && "resp parser state");
            return RESP_ERR_PROTOCOL;
        }
        p->request_bytes += i - before;
        if (p->request_bytes > p->limits.max_request_bytes)
            return resp_fail(p, RESP_ERR_TOO_LARGE, "Protocol error: request too large");
    }
    *consumed = i;
    return RESP_NEED_MORE;
}

/* ---- Replies ------------------------------------------------------------ */

void resp_buf_free(struct resp_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void resp_buf_consume(struct resp_buf *b, size_t n)
{
    assert(n <= b->len);
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

int resp_buf_reserve(struct resp_buf *b, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d)
            return -1;
        b->data = d;
        b->cap = cap;
    }
    return 0;
}

int resp_buf_append(struct resp_buf *b, const void *data, size_t n)
{
    if (resp_buf_reserve(b, n) != 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    return 0;
}

/* A type byte, a header, CRLF. */
static int resp_write_line(struct resp_buf *b, char type, const char *s, size_t n)
{
    size_t old = b->len;
    if (resp_buf_append(b, &type, 1) || resp_buf_append(b, s, n) || resp_buf_append(b, "\r\n", 2)) {
        b->len = old;
        return -1;
    }
    return 0;
}

/* Simple strings and errors cannot hold CR or LF: replace them. */
static int resp_write_clean_line(struct resp_buf *b, char type, const char *s)
{
    size_t n = strlen(s);
    size_t old = b->len;
    if (resp_buf_append(b, &type, 1) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = (s[i] == '\r' || s[i] == '\n') ? ' ' : s[i];
        if (resp_buf_append(b, &c, 1) != 0) {
            b->len = old;
            return -1;
        }
    }
    if (resp_buf_append(b, "\r\n", 2) != 0) {
        b->len = old;
        return -1;
    }
    return 0;
}

int resp_write_simple(struct resp_buf *b, const char *s)
{
    return resp_write_clean_line(b, '+', s);
}

int resp_write_error(struct resp_buf *b, const char *msg)
{
    return resp_write_clean_line(b, '-', msg);
}

int resp_write_int(struct resp_buf *b, int64_t v)
{
    char s[32];
    int n = snprintf(s, sizeof s, "%" PRId64, v);
    return resp_write_line(b, ':', s, (size_t)n);
}

int resp_write_bulk(struct resp_buf *b, const void *s, size_t n)
{
    char hdr[32];
    int h = snprintf(hdr, sizeof hdr, "%zu", n);
    size_t old = b->len;
    if (resp_write_line(b, '$', hdr, (size_t)h) || resp_buf_append(b, s, n) ||
        resp_buf_append(b, "\r\n", 2)) {
        b->len = old;
        return -1;
    }
    return 0;
}

int resp_write_null(struct resp_buf *b, int proto)
{
    return proto >= 3 ? resp_buf_append(b, "_\r\n", 3) : resp_buf_append(b, "$-1\r\n", 5);
}

int resp_write_array_len(struct resp_buf *b, size_t n)
{
    char s[32];
    int k = snprintf(s, sizeof s, "%zu", n);
    return resp_write_line(b, '*', s, (size_t)k);
}

int resp_write_map_len(struct resp_buf *b, size_t n, int proto)
{
    char s[32];
    int k = snprintf(s, sizeof s, "%zu", proto >= 3 ? n : 2 * n);
    return resp_write_line(b, proto >= 3 ? '%' : '*', s, (size_t)k);
}

int resp_write_set_len(struct resp_buf *b, size_t n, int proto)
{
    char s[32];
    int k = snprintf(s, sizeof s, "%zu", n);
    return resp_write_line(b, proto >= 3 ? '~' : '*', s, (size_t)k);
}

int resp_write_verbatim(struct resp_buf *b, const char *s, size_t n, int proto)
{
    if (proto < 3)
        return resp_write_bulk(b, s, n);
    char head[32];
    int k = snprintf(head, sizeof head, "%zu", n + 4);
    size_t old = b->len;
    if (resp_write_line(b, '=', head, (size_t)k) || resp_buf_append(b, "txt:", 4) || resp_buf_append(b, s, n) ||
        resp_buf_append(b, "\r\n", 2)) {
        b->len = old;
        return -1;
    }
    return 0;
}

/* ---- Client side ---------------------------------------------------------- */

long resp_reply_parse(const char *data, size_t len, struct resp_reply *out)
{
    if (len < 3)
        return 0;
    const char *cr = NULL;
    for (size_t i = 1; i + 1 < len; i++) {
        if (data[i] == '\r' && data[i + 1] == '\n') {
            cr = data + i;
            break;
        }
    }
    if (!cr)
        return len > 4096 ? -1 : 0;
    size_t line_len = (size_t)(cr - data) - 1;
    long head = (long)(cr - data) + 2;
    char num[32];
    int64_t v = 0;
    memset(out, 0, sizeof *out);
    switch (data[0]) {
    case '+':
    case '-':
        out->type = data[0] == '+' ? RESP_R_SIMPLE : RESP_R_ERROR;
        out->str = data + 1;
        out->len = line_len;
        return head;
    case '_':
        out->type = RESP_R_NULL;
        return head;
    case ':':
    case '$':
    case '*':
    case '%':
        if (line_len >= sizeof num)
            return -1;
        memcpy(num, data + 1, line_len);
        num[line_len] = '\0';
        if (resp_parse_i64(num, &v) != 0)
            return -1;
        break;
    default:
        return -1;
    }
    if (data[0] == ':') {
        out->type = RESP_R_INT;
        out->integer = v;
        return head;
    }
    if (data[0] == '*' || data[0] == '%') {
        if (v < 0) {
            out->type = RESP_R_NULL;
            return head;
        }
        if (data[0] == '%' && v > INT64_MAX / 2)
            return -1; /* its 2v elements would not fit in `integer` */
        out->type = RESP_R_ARRAY;
        out->integer = data[0] == '%' ? 2 * v : v;
        return head;
    }
    if (v < 0) {
        out->type = RESP_R_NULL;
        return head;
    }
    if ((size_t)head + (size_t)v + 2 > len)
        return 0;
    if (data[head + v] != '\r' || data[head + v + 1] != '\n')
        return -1;
    out->type = RESP_R_BULK;
    out->str = data + head;
    out->len = (size_t)v;
    return head + (long)v + 2;
}
