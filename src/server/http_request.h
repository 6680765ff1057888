/* http_request.h - the head of one HTTP/1.0 or 1.1 request, parsed by hand
 * for the metrics port (metrics_http.c): the request line and the header
 * fields up to the blank line, within a byte bound. Pure: no I/O, no
 * allocation; the caller keeps the bytes and calls again with more. */
#ifndef RAFTKV_SERVER_HTTP_REQUEST_H
#define RAFTKV_SERVER_HTTP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_MAX_REQUEST_BYTES 8192 /* the whole head, blank line included */
#define HTTP_MAX_TARGET 1024        /* the request target (path and query) */

enum http_parse_result {
    HTTP_PARSE_DONE = 1,        /* a whole head: req is filled */
    HTTP_PARSE_INCOMPLETE = 0,  /* nothing wrong so far; more bytes needed */
    HTTP_PARSE_BAD = -1,        /* 400: not HTTP as RFC 9112 says */
    HTTP_PARSE_TOO_LARGE = -2,  /* 431: no end of the head within max_bytes */
    HTTP_PARSE_URI_TOO_LONG = -3, /* 414 */
    HTTP_PARSE_VERSION = -4,    /* 505: HTTP/2 or later on this port */
};

struct http_request {
    char method[16];
    char path[HTTP_MAX_TARGET + 1]; /* the target without its query ("?...") */
    int minor;                      /* HTTP/1.minor: 0 or 1 */
    size_t head_len;                /* bytes of the head, its blank line included */
    bool has_body;                  /* Content-Length > 0, or Transfer-Encoding */
    bool has_host;
    const char *error;              /* why, when the result is negative (static text) */
};

/* Parse the head at the start of buf[0..len). Lines end with CRLF (a bare LF
 * is taken too); blank lines before the request line are skipped. Every
 * complete line is checked as soon as it is there, so garbage is refused
 * without waiting for max_bytes. HTTP/1.1 without Host, a folded header
 * line, a bad Content-Length, control bytes, a target not starting with '/'
 * are all HTTP_PARSE_BAD. Bytes after the head are not looked at. */
int http_parse_request(const char *buf, size_t len, size_t max_bytes, struct http_request *req);

/* The status code a negative result is answered with (400, 431, 414, 505). */
int http_parse_status(int result);

#endif
