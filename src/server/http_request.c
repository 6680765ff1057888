/* http_request.c - the hand-written HTTP/1.x request-head parser of the
 * metrics port (http_request.h): request line, header fields, the few
 * fields the port cares about (Host, Content-Length, Transfer-Encoding). */
#include <string.h>
#include <strings.h>

#include "server/http_request.h"

/* RFC 9110 tchar: the characters of a method or a field name. */
static bool http_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int http_fail(struct http_request *req, int rc, const char *why)
{
    req->error = why;
    return rc;
}

/* "GET /path?q HTTP/1.1" (the line without its end). */
static int http_request_line(const char *p, size_t n, struct http_request *req)
{
    size_t i = 0;
    while (i < n && http_tchar((unsigned char)p[i]))
        i++;
    if (i == 0 || i >= n || p[i] != ' ')
        return http_fail(req, HTTP_PARSE_BAD, "bad request line: method");
    if (i >= sizeof req->method)
        return http_fail(req, HTTP_PARSE_BAD, "bad request line: method too long");
    memcpy(req->method, p, i);
    req->method[i] = '\0';
    size_t t = ++i;
    while (i < n && p[i] != ' ') {
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || c >= 0x7f)
            return http_fail(req, HTTP_PARSE_BAD, "bad request line: target");
        i++;
    }
    size_t tlen = i - t;
    if (tlen == 0 || i >= n)
        return http_fail(req, HTTP_PARSE_BAD, "bad request line: target");
    if (tlen > HTTP_MAX_TARGET)
        return http_fail(req, HTTP_PARSE_URI_TOO_LONG, "request target too long");
    if (p[t] != '/')
        return http_fail(req, HTTP_PARSE_BAD, "bad request line: the target must be a path");
    size_t plen = 0;
    while (plen < tlen && p[t + plen] != '?')
        plen++;
    memcpy(req->path, p + t, plen);
    req->path[plen] = '\0';
    i++; /* the space */
    const char *v = p + i;
    size_t vlen = n - i;
    if (vlen == 8 && memcmp(v, "HTTP/1.", 7) == 0 && (v[7] == '0' || v[7] == '1')) {
        req->minor = v[7] - '0';
        return 0;
    }
    if (vlen == 8 && memcmp(v, "HTTP/", 5) == 0 && v[5] >= '2' && v[5] <= '9' && v[6] == '.' && v[7] >= '0' &&
        v[7] <= '9')
        return http_fail(req, HTTP_PARSE_VERSION, "HTTP version not supported");
    if (vlen == 6 && memcmp(v, "HTTP/", 5) == 0 && v[5] >= '2' && v[5] <= '9')
        return http_fail(req, HTTP_PARSE_VERSION, "HTTP version not supported");
    return http_fail(req, HTTP_PARSE_BAD, "bad request line: version");
}

/* "Name: value" (the line without its end). */
static int http_header_line(const char *p, size_t n, struct http_request *req, bool *seen_length,
                            unsigned long long *length)
{
    if (p[0] == ' ' || p[0] == '\t')
        return http_fail(req, HTTP_PARSE_BAD, "folded header line");
    size_t i = 0;
    while (i < n && http_tchar((unsigned char)p[i]))
        i++;
    if (i == 0 || i >= n || p[i] != ':')
        return http_fail(req, HTTP_PARSE_BAD, "bad header line");
    size_t name_len = i++;
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    size_t end = n;
    while (end > i && (p[end - 1] == ' ' || p[end - 1] == '\t'))
        end--;
    for (size_t k = i; k < end; k++) {
        unsigned char c = (unsigned char)p[k];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return http_fail(req, HTTP_PARSE_BAD, "control byte in a header value");
    }
    const char *val = p + i;
    size_t vlen = end - i;
    if (name_len == 4 && strncasecmp(p, "host", 4) == 0) {
        if (req->has_host)
            return http_fail(req, HTTP_PARSE_BAD, "more than one Host header");
        req->has_host = true;
    } else if (name_len == 14 && strncasecmp(p, "content-length", 14) == 0) {
        if (vlen == 0 || vlen > 18)
            return http_fail(req, HTTP_PARSE_BAD, "bad Content-Length");
        unsigned long long v = 0;
        for (size_t k = 0; k < vlen; k++) {
            if (val[k] < '0' || val[k] > '9')
                return http_fail(req, HTTP_PARSE_BAD, "bad Content-Length");
            v = v * 10 + (unsigned long long)(val[k] - '0');
        }
        if (*seen_length && v != *length)
            return http_fail(req, HTTP_PARSE_BAD, "conflicting Content-Length headers");
        *seen_length = true;
        *length = v;
        if (v > 0)
            req->has_body = true;
    } else if (name_len == 17 && strncasecmp(p, "transfer-encoding", 17) == 0) {
        req->has_body = true;
    }
    return 0;
}

int http_parse_request(const char *buf, size_t len, size_t max_bytes, struct http_request *req)
{
    memset(req, 0, sizeof *req);
    size_t scan = len < max_bytes ? len : max_bytes;
    size_t pos = 0;
    bool have_request_line = false, seen_length = false;
    unsigned long long length = 0;
    while (pos < scan) {
        const char *nl = memchr(buf + pos, '\n', scan - pos);
        if (!nl)
            break;
        size_t n = (size_t)(nl - (buf + pos));
        const char *line = buf + pos;
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (memchr(line, '\r', n) || memchr(line, '\0', n))
            return http_fail(req, HTTP_PARSE_BAD, "stray CR or NUL in a line");
        pos = (size_t)(nl - buf) + 1;
        if (n == 0) {
            if (!have_request_line)
                continue; /* RFC 9112 2.2: empty lines before the request line */
            if (req->minor == 1 && !req->has_host)
                return http_fail(req, HTTP_PARSE_BAD, "HTTP/1.1 request without Host");
            req->head_len = pos;
            req->error = NULL;
            return HTTP_PARSE_DONE;
        }
        int rc = have_request_line ? http_header_line(line, n, req, &seen_length, &length)
                                   : http_request_line(line, n, req);
        if (rc != 0)
            return rc;
        have_request_line = true;
    }
    /* The line being received: refuse a bad request line before its end. */
    if (!have_request_line) {
        size_t i = pos;
        while (i < scan && (buf[i] == '\r' || buf[i] == '\n'))
            i++;
        size_t m = 0;
        while (i + m < scan && http_tchar((unsigned char)buf[i + m]))
            m++;
        if (i + m < scan && (buf[i + m] != ' ' || m == 0))
            return http_fail(req, HTTP_PARSE_BAD, "bad request line: method");
        if (m >= sizeof req->method)
            return http_fail(req, HTTP_PARSE_BAD, "bad request line: method too long");
    }
    if (len >= max_bytes)
        return http_fail(req, HTTP_PARSE_TOO_LARGE, "request head too large");
    return HTTP_PARSE_INCOMPLETE;
}

int http_parse_status(int result)
{
    switch (result) {
    case HTTP_PARSE_TOO_LARGE:
        return 431;
    case HTTP_PARSE_URI_TOO_LONG:
        return 414;
    case HTTP_PARSE_VERSION:
        return 505;
    default:
        return 400;
    }
}
