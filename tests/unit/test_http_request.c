/* test_http_request.c - the metrics port's HTTP request-head parser
 * (src/server/http_request.c) on literal requests: what it accepts, what
 * it refuses with which status, and that it waits for more bytes only while
 * nothing is wrong yet. */
#include <criterion/criterion.h>
#include <string.h>

#include "server/http_request.h"

static int parse(const char *text, struct http_request *r)
{
    return http_parse_request(text, strlen(text), 8192, r);
}

Test(http_request, prometheus_scrape)
{
    struct http_request r;
    const char *req = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9100\r\nUser-Agent: Prometheus/2.45.0\r\n"
                      "Accept: text/plain;version=0.0.4;q=1,*/*;q=0.1\r\nAccept-Encoding: gzip\r\n"
                      "X-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n";
    cr_assert_eq(parse(req, &r), 1);
    cr_assert_str_eq(r.method, "GET");
    cr_assert_str_eq(r.path, "/metrics");
    cr_assert_eq(r.minor, 1);
    cr_assert_eq(r.head_len, strlen(req));
    cr_assert(!r.has_body);
}

Test(http_request, query_dropped_bare_lf_and_leading_blank_lines)
{
    struct http_request r;
    cr_assert_eq(parse("\r\n\nHEAD /health?verbose=1 HTTP/1.0\nUser-Agent: x\n\nrest", &r), 1);
    cr_assert_str_eq(r.method, "HEAD");
    cr_assert_str_eq(r.path, "/health");
    cr_assert_eq(r.minor, 0);
    /* 3 bytes of blank lines, the request line (32), the header (14), the
     * blank line (1); "rest" is not part of the head. */
    cr_assert_eq(r.head_len, 3 + 32 + 14 + 1);
}

Test(http_request, incomplete_until_the_blank_line)
{
    struct http_request r;
    cr_assert_eq(parse("", &r), 0);
    cr_assert_eq(parse("GE", &r), 0);
    cr_assert_eq(parse("GET /metrics HTTP/1.1\r\n", &r), 0);
    cr_assert_eq(parse("GET /metrics HTTP/1.1\r\nHost: a\r\n", &r), 0);
    cr_assert_eq(parse("GET /metrics HTTP/1.1\r\nHost: a\r\n\r", &r), 0);
    cr_assert_eq(parse("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n", &r), 1);
}

Test(http_request, garbage_refused_before_the_line_ends)
{
    struct http_request r;
    cr_assert_eq(parse("\x16\x03\x01\x02", &r), -1); /* a TLS ClientHello */
    cr_assert_eq(parse("*3\r\n$3\r\nSET", &r), -1);  /* RESP */
    cr_assert_eq(parse("GET\t/", &r), -1);
    cr_assert_eq(parse("VERYLONGMETHODNAME", &r), -1);
    cr_assert_not_null(r.error);
}

Test(http_request, bad_request_lines)
{
    struct http_request r;
    cr_assert_eq(parse("GET  /metrics HTTP/1.1\r\nHost: a\r\n\r\n", &r), -1);
    cr_assert_eq(parse("GET /metrics\r\n\r\n", &r), -1);                  /* HTTP/0.9 */
    cr_assert_eq(parse("GET http://a/metrics HTTP/1.1\r\nHost: a\r\n\r\n", &r), -1);
    cr_assert_eq(parse("GET /m\x01 HTTP/1.1\r\nHost: a\r\n\r\n", &r), -1);
    cr_assert_eq(parse("GET /metrics HTTP/1.2x\r\nHost: a\r\n\r\n", &r), -1);
    cr_assert_eq(parse("GET /metrics http/1.1\r\nHost: a\r\n\r\n", &r), -1);
    cr_assert_eq(parse("GET /metrics HTTP/2.0\r\n\r\n", &r), -4);
    cr_assert_eq(http_parse_status(-4), 505);
    cr_assert_eq(parse("GET /metrics HTTP/1.1\rX\n\r\n", &r), -1); /* a stray CR */
}

Test(http_request, bad_headers)
{
    struct http_request r;
    cr_assert_eq(parse("GET / HTTP/1.1\r\n\r\n", &r), -1); /* 1.1 needs Host */
    cr_assert_str_eq(r.error, "HTTP/1.1 request without Host");
    cr_assert_eq(parse("GET / HTTP/1.0\r\n\r\n", &r), 1);  /* 1.0 does not */
    cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", &r), -1);
    cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", &r), -1);
    cr_assert_eq(parse("GET / HTTP/1.1\r\nHost : a\r\n\r\n", &r), -1);
    cr_assert_eq(parse("GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n", &r), -1);
    cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n", &r), -1);
    cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", &r), -1);
    cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\ncontent-length: 2\r\n\r\n", &r), -1);
    cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nX: \x00\r\n\r\n", &r), 0); /* strlen stops at the NUL */
    cr_assert_eq(http_parse_request("GET / HTTP/1.1\r\nHost: a\r\nX: \0\r\n\r\n", 33, 8192, &r), -1);
}

Test(http_request, bodies_are_flagged)
{
    struct http_request r;
    cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", &r), 1);
    cr_assert(!r.has_body);
    cr_assert_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", &r), 1);
    cr_assert(r.has_body);
    cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", &r), 1);
    cr_assert(r.has_body);
}

Test(http_request, size_bounds)
{
    struct http_request r;
    static char big[9000];
    /* A head that does not end within the bound: 431, however it goes on. */
    memset(big, 'a', sizeof big);
    memcpy(big, "GET / HTTP/1.1\r\nHost: a\r\nX: ", 28);
    cr_assert_eq(http_parse_request(big, 8192, 8192, &r), -2);
    cr_assert_eq(http_parse_request(big, sizeof big, 8192, &r), -2);
    cr_assert_eq(http_parse_request(big, 8191, 8192, &r), 0);
    cr_assert_eq(http_parse_status(-2), 431);
    /* A head of exactly the bound is whole. */
    memcpy(big + 8192 - 4, "\r\n\r\n", 4);
    cr_assert_eq(http_parse_request(big, 8192, 8192, &r), 1);
    cr_assert_eq(r.head_len, 8192);
    /* A target longer than 1024 bytes: 414. */
    char line[1200];
    memset(line, 'b', sizeof line);
    memcpy(line, "GET /", 5);
    memcpy(line + 5 + 1024, " HTTP/1.1\r\n", 11); /* "/" and 1024 bytes: 1025 */
    cr_assert_eq(http_parse_request(line, 5 + 1024 + 11, 8192, &r), -3);
    cr_assert_eq(http_parse_status(-3), 414);
    memset(line + 5, 'b', 1100);
    memcpy(line + 5 + 1023, " HTTP/1.1\r\nHost: a\r\n\r\n", 22); /* 1024: fine */
    cr_assert_eq(http_parse_request(line, 5 + 1023 + 22, 8192, &r), 1);
    cr_assert_eq(strlen(r.path), 1024);
}
