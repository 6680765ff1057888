/* resp.h - the Redis protocol (RESP2/RESP3): a resumable request parser with
 * hard limits, and the reply writers.
 *
 * The parser is fed whatever bytes a socket read returned. It never blocks
 * and never needs the whole request at once: it keeps its place (array
 * header, bulk header, bulk body, inline line) between calls, as Redis's
 * processMultibulkBuffer does, and says RESP_NEED_MORE when the bytes run
 * out. Every length is checked against the limits BEFORE anything is
 * allocated for it, so a client can never make the server hold more than
 * max_request_bytes of one request: an oversized or malformed request gets
 * RESP_ERR_* and the connection is to be answered with an error and closed.
 *
 * Requests are arrays of bulk strings (what every client library and
 * redis-cli send) or inline commands (a line of space-separated words, as
 * typed into telnet).
 */
#ifndef RAFTKV_RESP_H
#define RAFTKV_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Documented defaults (README, `raftkv serve --help`). */
#define RESP_DEFAULT_MAX_BULK_BYTES (1u << 20)    /* 1 MiB per argument */
#define RESP_DEFAULT_MAX_ARGS 1024u               /* arguments per request */
#define RESP_DEFAULT_MAX_REQUEST_BYTES (8u << 20) /* 8 MiB per request, all counted */
#define RESP_DEFAULT_MAX_INLINE_BYTES (64u << 10) /* one inline command line */

struct resp_limits {
    size_t max_bulk_bytes;
    size_t max_args;
    size_t max_request_bytes;
    size_t max_inline_bytes;
};

void resp_limits_default(struct resp_limits *l);

/* One parsed request: argc binary-safe arguments. Each argv[i] is followed
 * by a NUL byte not counted in argl[i], for the convenience of callers that
 * parse numbers. */
struct resp_request {
    size_t argc;
    char **argv;
    size_t *argl;
};

void resp_request_release(struct resp_request *r);

enum resp_parse_rc {
    RESP_NEED_MORE = 0,       /* all input consumed, request not complete */
    RESP_READY = 1,           /* one request complete; more input may follow */
    RESP_ERR_PROTOCOL = -1,   /* malformed: reply the error and close */
    RESP_ERR_TOO_LARGE = -2,  /* past a limit: reply the error and close */
};

struct resp_parser {
    struct resp_limits limits;
    int state;
    char line[64]; /* a header line being read ("*3", "$5") */
    size_t line_len;
    char *inline_buf; /* an inline command line being read */
    size_t inline_len, inline_cap;
    size_t args_expected; /* from the array header */
    size_t bulk_len, bulk_got;
    size_t request_bytes; /* bytes of the current request seen so far */
    struct resp_request req;
    size_t argv_cap;
    char err[128]; /* why the last RESP_ERR_* happened */
};

void resp_parser_init(struct resp_parser *p, const struct resp_limits *limits);
void resp_parser_free(struct resp_parser *p);

/* Consume bytes from data[0..len). Sets *consumed to the bytes used. On
 * RESP_READY the request moves into *out (the caller releases it with
 * resp_request_release) and the rest of the input, data[*consumed..len),
 * is to be fed again. After an error the parser must not be fed again;
 * p->err says what was wrong, ready to be sent as "-ERR <err>". */
int resp_parse(struct resp_parser *p, const char *data, size_t len, size_t *consumed,
               struct resp_request *out);

/* ---- Replies ------------------------------------------------------------ */

/* A growable output buffer. All writers return 0, or -1 if memory ran out
 * (the buffer is then unchanged). */
struct resp_buf {
    char *data;
    size_t len, cap;
};

void resp_buf_free(struct resp_buf *b);
void resp_buf_consume(struct resp_buf *b, size_t n); /* drop the first n bytes */
int resp_buf_append(struct resp_buf *b, const void *data, size_t n);
/* Room for n more bytes after len: 0, or -1 out of memory. */
int resp_buf_reserve(struct resp_buf *b, size_t n);

int resp_write_simple(struct resp_buf *b, const char *s);        /* +OK */
int resp_write_error(struct resp_buf *b, const char *msg);       /* -ERR ... (msg has prefix) */
int resp_write_int(struct resp_buf *b, int64_t v);               /* :1 */
int resp_write_bulk(struct resp_buf *b, const void *s, size_t n); /* $n */
/* proto 2: "$-1", proto 3: "_" */
int resp_write_null(struct resp_buf *b, int proto);
int resp_write_array_len(struct resp_buf *b, size_t n);
/* proto 2: an array of 2n elements, proto 3: a map "%n" */
int resp_write_map_len(struct resp_buf *b, size_t n, int proto);
/* proto 2: an array "*n", proto 3: a set "~n" */
int resp_write_set_len(struct resp_buf *b, size_t n, int proto);
/* Text (INFO, CLIENT LIST): proto 2 a bulk string, proto 3 a verbatim
 * string "=N\r\ntxt:..." as Redis sends it. */
int resp_write_verbatim(struct resp_buf *b, const char *s, size_t n, int proto);

/* ---- Client side: reading one reply (tests, the RESP workload client) --- */

enum resp_reply_type { RESP_R_SIMPLE, RESP_R_ERROR, RESP_R_INT, RESP_R_BULK, RESP_R_NULL,
                       RESP_R_ARRAY };

/* One reply, flat: for an array only its length (elements are read as
 * further replies). str points into the input and is valid while it is. */
struct resp_reply {
    enum resp_reply_type type;
    int64_t integer; /* INT; ARRAY: length */
    const char *str; /* SIMPLE, ERROR, BULK */
    size_t len;
};

/* Parse one reply at the start of data[0..len). Returns the bytes it
 * spans, 0 if incomplete, -1 if malformed. */
long resp_reply_parse(const char *data, size_t len, struct resp_reply *out);

#endif
