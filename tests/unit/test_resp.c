/* test_resp.c - the RESP request parser and reply writers. */
#include "server/resp.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

/* Parse all of `in` fed in pieces of at most `piece` bytes (0: all at once);
 * collect the requests into a flat "arg|arg;arg;" rendering. Returns the
 * final rc (NEED_MORE after complete input, or an error). */
static int parse_pieces(const char *in, size_t len, size_t piece, const struct resp_limits *lim,
                        char *render, size_t render_cap, int *n_requests)
{
    struct resp_parser p;
    resp_parser_init(&p, lim);
    size_t off = 0, r = 0;
    int rc = RESP_NEED_MORE;
    *n_requests = 0;
    render[0] = '\0';
    while (off < len) {
        size_t chunk = piece && len - off > piece ? piece : len - off;
        size_t used_total = 0;
        while (used_total < chunk) {
            size_t used = 0;
            struct resp_request req = {0};
            rc = resp_parse(&p, in + off + used_total, chunk - used_total, &used, &req);
            if (rc < 0)
                goto out;
            used_total += used;
            if (rc == RESP_READY) {
                (*n_requests)++;
                for (size_t a = 0; a < req.argc; a++) {
                    r += (size_t)snprintf(render + r, render_cap - r, "%s%.*s", a ? "|" : "",
                                          (int)req.argl[a], req.argv[a]);
                }
                r += (size_t)snprintf(render + r, render_cap - r, ";");
                resp_request_release(&req);
            }
        }
        off += chunk;
    }
out:
    resp_parser_free(&p);
    return rc;
}

static const char pipeline[] = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nv\r\nal\r\n"
                               "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
                               "*1\r\n$0\r\n\r\n"
                               "PING  hello\r\n"
                               "\r\n"
                               "*0\r\n"
                               "*1\r\n$4\r\nINFO\r\n";
static const char pipeline_rendered[] = "SET|k|v\r\nal;GET|k;;PING|hello;INFO;";

Test(resp_parser, parses_a_pipeline_of_multibulk_and_inline_requests_at_once)
{
    char out[512];
    int n;
    int rc = parse_pieces(pipeline, sizeof pipeline - 1, 0, NULL, out, sizeof out, &n);
    cr_assert_eq(rc, RESP_READY);
    cr_assert_eq(n, 5);
    cr_assert_str_eq(out, pipeline_rendered);
}

Test(resp_parser, gives_the_same_requests_whatever_the_input_is_split_at)
{
    /* Every split point, as two reads; and one byte per read. */
    for (size_t cut = 1; cut < sizeof pipeline - 1; cut++) {
        struct resp_parser p;
        resp_parser_init(&p, NULL);
        char out[512] = "";
        size_t r = 0;
        int n = 0;
        const char *parts[2] = {pipeline, pipeline + cut};
        size_t lens[2] = {cut, sizeof pipeline - 1 - cut};
        for (int k = 0; k < 2; k++) {
            size_t off = 0;
            while (off < lens[k]) {
                size_t used = 0;
                struct resp_request req = {0};
                int rc = resp_parse(&p, parts[k] + off, lens[k] - off, &used, &req);
                cr_assert_geq(rc, 0, "cut %zu: rc %d (%s)", cut, rc, p.err);
                off += used;
                if (rc == RESP_READY) {
                    n++;
                    for (size_t a = 0; a < req.argc; a++)
                        r += (size_t)snprintf(out + r, sizeof out - r, "%s%.*s", a ? "|" : "",
                                              (int)req.argl[a], req.argv[a]);
                    r += (size_t)snprintf(out + r, sizeof out - r, ";");
                    resp_request_release(&req);
                }
            }
        }
        resp_parser_free(&p);
        cr_assert_eq(n, 5, "cut at %zu", cut);
        cr_assert_str_eq(out, pipeline_rendered, "cut at %zu", cut);
    }
    char out[512];
    int n;
    parse_pieces(pipeline, sizeof pipeline - 1, 1, NULL, out, sizeof out, &n);
    cr_assert_eq(n, 5);
    cr_assert_str_eq(out, pipeline_rendered);
}

Test(resp_parser, ignores_empty_lines_even_before_any_request)
{
    char out[128];
    int n;
    const char in[] = "\n\r\n*1\r\n$4\r\nPING\r\n";
    int rc = parse_pieces(in, sizeof in - 1, 0, NULL, out, sizeof out, &n);
    cr_assert_eq(rc, RESP_READY);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(out, "PING;");
}

Test(resp_parser, reports_need_more_for_an_incomplete_request)
{
    struct resp_parser p;
    resp_parser_init(&p, NULL);
    const char in[] = "*2\r\n$3\r\nGET\r\n$1\r\n";
    size_t used = 0;
    struct resp_request req = {0};
    cr_assert_eq(resp_parse(&p, in, sizeof in - 1, &used, &req), RESP_NEED_MORE);
    cr_assert_eq(used, sizeof in - 1);
    cr_assert_eq(req.argc, 0);
    resp_parser_free(&p);
}

static int parse_once(const char *in, size_t len, const struct resp_limits *lim, char *err)
{
    struct resp_parser p;
    resp_parser_init(&p, lim);
    size_t off = 0;
    int rc = RESP_NEED_MORE;
    while (off < len) {
        size_t used = 0;
        struct resp_request req = {0};
        rc = resp_parse(&p, in + off, len - off, &used, &req);
        if (rc < 0)
            break;
        off += used;
        resp_request_release(&req);
    }
    if (err)
        strcpy(err, p.err);
    resp_parser_free(&p);
    return rc;
}

Test(resp_parser, rejects_malformed_requests)
{
    const char *bad[] = {
        "*x\r\n",                    /* non-numeric array length */
        "*2\r\n:3\r\n",              /* element not a bulk string */
        "*1\r\n$-1\r\n",             /* negative bulk length */
        "*1\r\n$3\r\nabcd\r\n",      /* bulk longer than declared */
        "*1\r\n$3\n",                /* header without CR */
        "*1\r\n$99999999999999999999999\r\n", /* overflow */
        "*1\r\n$1a\r\nx\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[128];
        int rc = parse_once(bad[i], strlen(bad[i]), NULL, err);
        cr_assert_eq(rc, RESP_ERR_PROTOCOL, "case %zu gave %d", i, rc);
        cr_assert(strstr(err, "Protocol error") != NULL, "case %zu: %s", i, err);
    }
}

Test(resp_parser, rejects_a_nul_byte_in_a_length_line)
{
    /* Read as C strings these were "*0" and "$3": junk after the NUL passed. */
    static const char empty_array[] = "*0\0junk\r\n";
    static const char bulk[] = "*1\r\n$3\0x\r\nabc\r\n";
    cr_assert_eq(parse_once(empty_array, sizeof empty_array - 1, NULL, NULL), RESP_ERR_PROTOCOL);
    cr_assert_eq(parse_once(bulk, sizeof bulk - 1, NULL, NULL), RESP_ERR_PROTOCOL);
}

Test(resp_parser, rejects_a_header_line_that_never_ends_without_reading_it_all)
{
    char in[200];
    in[0] = '*';
    memset(in + 1, '1', sizeof in - 1);
    cr_assert_eq(parse_once(in, sizeof in, NULL, NULL), RESP_ERR_PROTOCOL);
}

Test(resp_parser, refuses_a_bulk_longer_than_the_limit_before_allocating_it)
{
    struct resp_limits lim;
    resp_limits_default(&lim);
    lim.max_bulk_bytes = 16;
    const char in[] = "*2\r\n$3\r\nSET\r\n$17\r\n";
    char err[128];
    cr_assert_eq(parse_once(in, sizeof in - 1, &lim, err), RESP_ERR_TOO_LARGE);
    cr_assert(strstr(err, "bulk") != NULL);
    /* The default limit refuses a 2 GiB declaration at once. */
    const char huge[] = "*1\r\n$2147483648\r\n";
    cr_assert_eq(parse_once(huge, sizeof huge - 1, NULL, NULL), RESP_ERR_TOO_LARGE);
}

/* The limit is the longest bulk allowed, not the first refused. */
Test(resp_parser, accepts_a_bulk_of_exactly_the_limit)
{
    struct resp_limits lim;
    resp_limits_default(&lim);
    lim.max_bulk_bytes = 16;
    const char in[] = "*2\r\n$3\r\nSET\r\n$16\r\n0123456789abcdef\r\n";
    cr_assert_eq(parse_once(in, sizeof in - 1, &lim, NULL), RESP_READY);
}

/* A bulk's declared length is checked against the CRLF that must follow. */
Test(resp_parser, rejects_a_bulk_whose_length_does_not_end_at_crlf)
{
    const char *bad[] = {"*1\r\n$3\r\nGETX\n", "*1\r\n$3\r\nGE\r\n\r\n",
                         "*1\r\n$3\r\nGET\rX"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(parse_once(bad[i], strlen(bad[i]), NULL, NULL), RESP_ERR_PROTOCOL, "%s",
                     bad[i]);
}

Test(resp_parser, refuses_too_many_arguments_and_too_large_requests)
{
    struct resp_limits lim;
    resp_limits_default(&lim);
    lim.max_args = 3;
    cr_assert_eq(parse_once("*4\r\n", 4, &lim, NULL), RESP_ERR_TOO_LARGE);
    cr_assert_eq(parse_once("a b c d\r\n", 9, &lim, NULL), RESP_ERR_TOO_LARGE);
    resp_limits_default(&lim);
    lim.max_request_bytes = 40;
    const char in[] = "*3\r\n$3\r\nSET\r\n$10\r\n0123456789\r\n$10\r\n0123456789\r\n";
    cr_assert_eq(parse_once(in, sizeof in - 1, &lim, NULL), RESP_ERR_TOO_LARGE);
    /* The same request fits a limit of its own size. */
    lim.max_request_bytes = sizeof in - 1;
    cr_assert_eq(parse_once(in, sizeof in - 1, &lim, NULL), RESP_READY);
    /* An empty array before it is a request of its own, not counted in. */
    const char after_empty[] = "*0\r\n*3\r\n$3\r\nSET\r\n$10\r\n0123456789\r\n$10\r\n0123456789\r\n";
    cr_assert_eq(parse_once(after_empty, sizeof after_empty - 1, &lim, NULL), RESP_READY);
    /* But an empty array's own header counts, read at once or in pieces. */
    lim.max_request_bytes = 8;
    const char long_empty[] = "*0000000000\r\n";
    int n;
    char out[64];
    cr_assert_eq(parse_once(long_empty, sizeof long_empty - 1, &lim, NULL), RESP_ERR_TOO_LARGE);
    cr_assert_eq(parse_pieces(long_empty, sizeof long_empty - 1, 1, &lim, out, sizeof out, &n),
                 RESP_ERR_TOO_LARGE);
}

Test(resp_parser, refuses_an_inline_line_past_the_limit_without_a_newline)
{
    struct resp_limits lim;
    resp_limits_default(&lim);
    lim.max_inline_bytes = 100;
    char in[101];
    memset(in, 'a', sizeof in);
    cr_assert_eq(parse_once(in, 100, &lim, NULL), RESP_NEED_MORE);
    cr_assert_eq(parse_once(in, 101, &lim, NULL), RESP_ERR_TOO_LARGE);
}

Test(resp_parser, handles_binary_data_in_bulk_strings)
{
    const char in[] = "*2\r\n$3\r\nGET\r\n$4\r\n\0\r\n\xff\r\n";
    struct resp_parser p;
    resp_parser_init(&p, NULL);
    size_t used;
    struct resp_request req = {0};
    cr_assert_eq(resp_parse(&p, in, sizeof in - 1, &used, &req), RESP_READY);
    cr_assert_eq(req.argc, 2);
    cr_assert_eq(req.argl[1], 4);
    cr_assert_eq(memcmp(req.argv[1], "\0\r\n\xff", 4), 0);
    resp_request_release(&req);
    resp_parser_free(&p);
}

Test(resp_writer, writes_each_reply_type_in_resp2_and_resp3)
{
    struct resp_buf b = {0};
    resp_write_simple(&b, "OK");
    resp_write_error(&b, "ERR bad\r\nthing");
    resp_write_int(&b, -42);
    resp_write_bulk(&b, "a\r\nb", 4);
    resp_write_null(&b, 2);
    resp_write_null(&b, 3);
    resp_write_array_len(&b, 2);
    resp_write_map_len(&b, 2, 2);
    resp_write_map_len(&b, 2, 3);
    const char want[] = "+OK\r\n-ERR bad  thing\r\n:-42\r\n$4\r\na\r\nb\r\n$-1\r\n_\r\n*2\r\n*4\r\n%2\r\n";
    cr_assert_eq(b.len, sizeof want - 1);
    cr_assert_eq(memcmp(b.data, want, b.len), 0);
    resp_buf_consume(&b, 5);
    cr_assert_eq(b.data[0], '-');
    resp_buf_free(&b);
}

Test(resp_reply, reads_back_what_the_writers_wrote)
{
    struct resp_buf b = {0};
    resp_write_simple(&b, "OK");
    resp_write_error(&b, "ERR x");
    resp_write_int(&b, 7);
    resp_write_bulk(&b, "hello", 5);
    resp_write_null(&b, 2);
    resp_write_null(&b, 3);
    resp_write_array_len(&b, 3);
    enum resp_reply_type want[] = {RESP_R_SIMPLE, RESP_R_ERROR, RESP_R_INT, RESP_R_BULK,
                                   RESP_R_NULL,   RESP_R_NULL,  RESP_R_ARRAY};
    size_t off = 0;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        struct resp_reply r;
        /* Every proper prefix is incomplete, never malformed. */
        long full = resp_reply_parse(b.data + off, b.len - off, &r);
        cr_assert_gt(full, 0);
        for (long k = 0; k < full; k++)
            cr_assert_eq(resp_reply_parse(b.data + off, (size_t)k, &r), 0, "reply %zu prefix %ld", i, k);
        resp_reply_parse(b.data + off, b.len - off, &r);
        cr_assert_eq(r.type, want[i], "reply %zu", i);
        off += (size_t)full;
    }
    cr_assert_eq(off, b.len);
    struct resp_reply r;
    cr_assert_eq(resp_reply_parse("?x\r\n", 4, &r), -1);
    cr_assert_eq(resp_reply_parse("$3\r\nabcd\r\n", 10, &r), -1);
    resp_buf_free(&b);
}

Test(resp_reply, reads_a_map_as_its_keys_and_values_and_refuses_one_too_large_to_count)
{
    struct resp_reply r;
    cr_assert_eq(resp_reply_parse("%2\r\n", 4, &r), 4);
    cr_assert_eq(r.type, RESP_R_ARRAY);
    cr_assert_eq(r.integer, 4);
    /* 2 x 2^62 elements overflow int64 (UBSan found it). */
    static const char huge[] = "%4611686018427387904\r\n";
    cr_assert_eq(resp_reply_parse(huge, sizeof huge - 1, &r), -1);
    static const char largest[] = "%4611686018427387903\r\n";
    cr_assert_eq(resp_reply_parse(largest, sizeof largest - 1, &r), (long)sizeof largest - 1);
    cr_assert_eq(r.integer, 9223372036854775806);
}
