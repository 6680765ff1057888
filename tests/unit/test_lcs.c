/* test_lcs.c - the longest common subsequence (src/server/lcs.c) and the
 * LCS command's replies and errors (src/server/cmd_lcs.c), against what
 * redis-server 7.0.15 answers for the same values (the literals below were
 * taken from it, ties included). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "server/commands.h"
#include "server/lcs.h"

static struct lcs_result run(const char *a, const char *b, int want, size_t min)
{
    struct lcs_result r;
    cr_assert_eq(lcs_compute((const uint8_t *)a, strlen(a), (const uint8_t *)b, strlen(b), want, min, &r), 0);
    return r;
}

static void match_is(const struct lcs_result *r, size_t i, size_t as, size_t ae, size_t bs, size_t be)
{
    cr_assert_lt(i, r->n_matches);
    const struct lcs_match *m = &r->matches[i];
    cr_assert(m->a_start == as && m->a_end == ae && m->b_start == bs && m->b_end == be,
              "match %zu: [%zu,%zu] [%zu,%zu], want [%zu,%zu] [%zu,%zu]", i, m->a_start, m->a_end, m->b_start,
              m->b_end, as, ae, bs, be);
}

Test(lcs, redis_documentation_example)
{
    struct lcs_result r = run("ohmytext", "mynewtext", LCS_WANT_STR, 0);
    cr_assert_eq(r.len, 6);
    cr_assert(memcmp(r.str, "mytext", 6) == 0);
    lcs_result_free(&r);
    r = run("ohmytext", "mynewtext", LCS_WANT_MATCHES, 0);
    cr_assert_eq(r.len, 6);
    cr_assert_eq(r.n_matches, 2);
    match_is(&r, 0, 4, 7, 5, 8);
    match_is(&r, 1, 2, 3, 0, 1);
    lcs_result_free(&r);
    r = run("ohmytext", "mynewtext", LCS_WANT_MATCHES, 4);
    cr_assert_eq(r.len, 6, "the length counts every match, short ones too");
    cr_assert_eq(r.n_matches, 1);
    match_is(&r, 0, 4, 7, 5, 8);
    lcs_result_free(&r);
    r = run("ohmytext", "mynewtext", 0, 0);
    cr_assert_eq(r.len, 6);
    cr_assert_null(r.str);
    cr_assert_eq(r.n_matches, 0);
    lcs_result_free(&r);
}

Test(lcs, ties_are_broken_as_redis_does)
{
    struct lcs_result r = run("ab", "ba", LCS_WANT_STR | LCS_WANT_MATCHES, 0);
    cr_assert_eq(r.len, 1);
    cr_assert_eq(r.str[0], 'b');
    cr_assert_eq(r.n_matches, 1);
    match_is(&r, 0, 1, 1, 0, 0);
    lcs_result_free(&r);
    r = run("abcabba", "cbabac", LCS_WANT_STR | LCS_WANT_MATCHES, 0);
    cr_assert_eq(r.len, 4);
    cr_assert(memcmp(r.str, "cbba", 4) == 0);
    cr_assert_eq(r.n_matches, 3);
    match_is(&r, 0, 5, 6, 3, 4);
    match_is(&r, 1, 4, 4, 1, 1);
    match_is(&r, 2, 2, 2, 0, 0);
    lcs_result_free(&r);
    r = run("cbabac", "abcabba", LCS_WANT_STR, 0);
    cr_assert(memcmp(r.str, "baba", 4) == 0, "not symmetric: %.4s", r.str);
    lcs_result_free(&r);
}

Test(lcs, empty_and_disjoint_strings)
{
    struct lcs_result r = run("", "", LCS_WANT_STR | LCS_WANT_MATCHES, 0);
    cr_assert_eq(r.len, 0);
    cr_assert_eq(r.n_matches, 0);
    lcs_result_free(&r);
    r = run("abc", "xyz", LCS_WANT_MATCHES, 0);
    cr_assert_eq(r.len, 0);
    cr_assert_eq(r.n_matches, 0);
    lcs_result_free(&r);
    r = run("abc", "abc", LCS_WANT_MATCHES, 0);
    cr_assert_eq(r.n_matches, 1, "one run, closed at the first byte");
    match_is(&r, 0, 0, 2, 0, 2);
    lcs_result_free(&r);
}

Test(lcs, the_length_alone_agrees_with_the_table)
{
    /* LEN uses two rows only: the same length as the full table's. */
    unsigned seed = 12345;
    for (int t = 0; t < 200; t++) {
        char a[40], b[40];
        size_t na = (size_t)(rand_r(&seed) % 39), nb = (size_t)(rand_r(&seed) % 39);
        for (size_t i = 0; i < na; i++)
            a[i] = "abc"[rand_r(&seed) % 3];
        for (size_t i = 0; i < nb; i++)
            b[i] = "abc"[rand_r(&seed) % 3];
        a[na] = b[nb] = '\0';
        struct lcs_result x = run(a, b, 0, 0), y = run(a, b, LCS_WANT_STR, 0);
        cr_assert_eq(x.len, y.len, "seed 12345 case %d: %s %s", t, a, b);
        lcs_result_free(&x);
        lcs_result_free(&y);
    }
}

Test(lcs, cells_saturate)
{
    cr_assert_eq(lcs_cells(0, 0), 1);
    cr_assert_eq(lcs_cells(2047, 2047), 4194304);
    cr_assert_eq(lcs_cells(SIZE_MAX, 1), UINT64_MAX);
}

/* ---- the command's reply, from two values ---- */

static const char *reply(const char *a, const char *b, uint32_t flags, int proto, struct client *client)
{
    static char out[4096];
    struct op_result res[2] = {0};
    if (a) {
        res[0].kv = (struct kv_result){.code = KV_OK, .bytes = (uint8_t *)a, .len = strlen(a)};
    } else {
        res[0].kv.code = KV_ERR_NO_KEY;
    }
    res[1].kv = (struct kv_result){.code = KV_OK, .bytes = (uint8_t *)b, .len = strlen(b)};
    struct client_req r = {.client = client, .n_ops = 2, .n_done = 2, .results = res, .reply_flags = flags};
    cmd_reply_lcs(&r, proto);
    size_t n = r.reply.len < sizeof out - 1 ? r.reply.len : sizeof out - 1;
    memcpy(out, r.reply.data, n);
    out[n] = '\0';
    resp_buf_free(&r.reply);
    return out;
}

/* reply_flags as cmd_lcs sets them: LEN 1, IDX 2, WITHMATCHLEN 4, MINMATCHLEN << 3 */
Test(lcs_command, replies_as_redis)
{
    cr_assert_str_eq(reply("ohmytext", "mynewtext", 0, 2, NULL), "$6\r\nmytext\r\n");
    cr_assert_str_eq(reply("ohmytext", "mynewtext", 1, 2, NULL), ":6\r\n");
    cr_assert_str_eq(reply("ohmytext", "mynewtext", 2, 2, NULL),
                     "*4\r\n$7\r\nmatches\r\n*2\r\n*2\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n*2\r\n*2\r\n:2\r\n:3\r\n"
                     "*2\r\n:0\r\n:1\r\n$3\r\nlen\r\n:6\r\n");
    cr_assert_str_eq(reply("ohmytext", "mynewtext", 2 | 4 | (4u << 3), 2, NULL),
                     "*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n$3\r\nlen\r\n:6\r\n");
    cr_assert_str_eq(reply("ohmytext", "mynewtext", 2 | 4, 3, NULL),
                     "%2\r\n$7\r\nmatches\r\n*2\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n*3\r\n*2\r\n:2\r\n:3\r\n"
                     "*2\r\n:0\r\n:1\r\n:2\r\n$3\r\nlen\r\n:6\r\n");
    cr_assert_str_eq(reply(NULL, "mynewtext", 2, 3, NULL), "%2\r\n$7\r\nmatches\r\n*0\r\n$3\r\nlen\r\n:0\r\n");
    cr_assert_str_eq(reply(NULL, "", 0, 2, NULL), "$0\r\n\r\n");
}

Test(lcs_command, bounded_by_max_lcs_cells)
{
    struct server s = {0};
    struct client c = {.srv = &s};
    s.opt.max_lcs_cells = 100; /* (9+1) * (9+1) */
    cr_assert_str_eq(reply("123456789", "987654321", 1, 2, &c), ":1\r\n");
    cr_assert_str_eq(reply("1234567890", "987654321", 1, 2, &c),
                     "-ERR Insufficient memory, transient memory for LCS exceeds max-lcs-cells\r\n");
    /* The default, without a connection: 2^22 cells, two values of 2047 bytes. */
    char *a = malloc(2049), *b = malloc(2049);
    memset(a, 'x', 2048);
    memset(b, 'x', 2048);
    a[2047] = b[2047] = '\0';
    cr_assert_str_eq(reply(a, b, 1, 2, NULL), ":2047\r\n");
    a[2047] = 'x';
    a[2048] = '\0';
    cr_assert_str_eq(reply(a, b, 1, 2, NULL),
                     "-ERR Insufficient memory, transient memory for LCS exceeds max-lcs-cells\r\n");
    free(a);
    free(b);
    /* Past Redis's own bound (512 MiB of its 4-byte cells), Redis's text. */
    s.opt.max_lcs_cells = (size_t)1 << 27;
    size_t n = 11586; /* 11587^2 > 2^27 */
    a = malloc(n + 1);
    memset(a, 'y', n);
    a[n] = '\0';
    cr_assert_str_eq(reply(a, a, 1, 2, &c),
                     "-ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len\r\n");
    free(a);
}
