/* test_keys_reply.c - KEYS's reply as the client reads it (cmd_reply_keys
 * over the kv_bulks the KEYS gather framed, src/kv/ops_keys.c): the array
 * header with the count, then every key as a bulk string, byte for byte;
 * the same after the answer is forwarded (kv_result_encode/decode) and
 * when the stepped walk gathered it (src/kv/keys_walk.c); SCAN's reply
 * from its kv_list. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "kv/keys_walk.h"
#include "kv_test_util.h"
#include "server/commands.h"

/* The reply to a result, as a string (malloc'd; the length in *n). */
static char *reply_of(const struct kv_result *kv, void (*fn)(struct client_req *, int), size_t *n)
{
    struct op_result res = {.status = REPLICA_DONE, .kv = *kv}; /* borrowed */
    struct client_req r = {.n_ops = 1, .n_done = 1, .results = &res};
    fn(&r, 2);
    char *out = malloc(r.reply.len + 1);
    memcpy(out, r.reply.data, r.reply.len);
    out[r.reply.len] = '\0';
    *n = r.reply.len;
    resp_buf_free(&r.reply);
    return out;
}

/* KEYS pat on s, inline, its reply. */
static char *keys_reply(struct kv_store *s, const char *pat, size_t *n)
{
    struct kv_result kv = kt_read(s, kt_cmd(KV_KEYS, NULL, pat, 0, 0), 1000);
    cr_assert_eq(kv.code, KV_OK);
    char *out = reply_of(&kv, cmd_reply_keys, n);
    kv_result_release(&kv);
    return out;
}

static void reply_is(char *got, size_t n, const char *want, size_t want_n)
{
    cr_assert(n == want_n && memcmp(got, want, n) == 0, "reply %zu bytes \"%s\", want \"%s\"", n, got, want);
    free(got);
}
/* call fills n: it runs before n is read. */
#define REPLY_IS(call, lit)                         \
    do {                                            \
        char *got_ = call;                          \
        reply_is(got_, n, lit, sizeof lit - 1);     \
    } while (0)

Test(keys_reply, empty_one_and_binary_keys)
{
    struct kv_store *s = kv_store_new();
    size_t n;
    REPLY_IS(keys_reply(s, "*", &n), "*0\r\n");
    kt_set(s, "ab", "v", 1);
    REPLY_IS(keys_reply(s, "*", &n), "*1\r\n$2\r\nab\r\n");
    REPLY_IS(keys_reply(s, "x*", &n), "*0\r\n");
    kt_set(s, "k\r\n*2\r\n", "v", 1); /* a reply's framing inside a key */
    REPLY_IS(keys_reply(s, "k*", &n), "*1\r\n$7\r\nk\r\n*2\r\n\r\n");
    kt_set(s, "", "v", 1);
    REPLY_IS(keys_reply(s, "", &n), "*1\r\n$0\r\n\r\n");
    kv_store_free(s);
}

/* Twelve keys: a two-digit count; every key once, in some order. */
Test(keys_reply, the_count_heads_every_key)
{
    struct kv_store *s = kv_store_new();
    char k[16];
    for (int i = 0; i < 12; i++) {
        snprintf(k, sizeof k, "key%02d", i);
        kt_set(s, k, "v", 1);
    }
    kt_set(s, "other", "v", 1);
    size_t n;
    char *got = keys_reply(s, "key*", &n);
    cr_assert_eq(n, 5 + 12 * strlen("$5\r\nkey00\r\n"));
    cr_assert_eq(memcmp(got, "*12\r\n", 5), 0, "%s", got);
    for (int i = 0; i < 12; i++) {
        char want[32];
        snprintf(want, sizeof want, "$5\r\nkey%02d\r\n", i);
        cr_assert(strstr(got, want), "%s missing from %s", want, got);
    }
    free(got);
    kv_store_free(s);
}

/* The leader's answer goes to a follower as kv_result_encode bytes: the
 * follower's reply is the same, byte for byte. */
Test(keys_reply, a_forwarded_answer_replies_the_same)
{
    struct kv_store *s = kv_store_new();
    kt_set(s, "a\r\nb", "v", 1);
    kt_set(s, "c", "v", 1);
    struct kv_result kv = kt_read(s, kt_cmd(KV_KEYS, NULL, "*", 0, 0), 1000);
    uint8_t *wire;
    size_t wire_n;
    cr_assert_eq(kv_result_encode(&kv, &wire, &wire_n), 0);
    struct kv_result back = {0};
    cr_assert_eq(kv_result_decode(wire, wire_n, &back), 0);
    free(wire);
    size_t n1, n2;
    char *here = reply_of(&kv, cmd_reply_keys, &n1);
    char *there = reply_of(&back, cmd_reply_keys, &n2);
    cr_assert(n1 == n2 && memcmp(here, there, n1) == 0);
    cr_assert_eq(memcmp(here, "*2\r\n", 4), 0);
    cr_assert_eq(n1, strlen("*2\r\n$4\r\na\r\nb\r\n$1\r\nc\r\n"));
    free(here);
    free(there);
    kv_result_release(&kv);
    kv_result_release(&back);
    kv_store_free(s);
}

/* The stepped walk (one entry a step) frames the same keys the inline
 * KEYS does (the order may differ). */
Test(keys_reply, the_walk_replies_as_the_inline_keys)
{
    struct kv_store *s = kv_store_new();
    char k[16];
    for (int i = 0; i < 40; i++) {
        snprintf(k, sizeof k, "w%d", i);
        kt_set(s, k, "v", 1);
    }
    struct kv_str pat = {.p = (uint8_t *)"w1*", .n = 3};
    char why[128];
    struct kv_keys_walk *w = kv_keys_walk_begin(s, &pat, 1000, 0, 0, why, sizeof why);
    cr_assert(w, "%s", why);
    int rc;
    while ((rc = kv_keys_walk_step(w, 1)) == 0)
        ;
    cr_assert_eq(rc, 1);
    struct kv_result walked = {.code = KV_OK};
    kv_keys_walk_result(w, &walked);
    kv_keys_walk_free(w);
    struct kv_result inline_ = kt_read(s, kt_cmd(KV_KEYS, NULL, "w1*", 0, 0), 1000);
    size_t n1, n2;
    char *a = reply_of(&walked, cmd_reply_keys, &n1);
    char *b = reply_of(&inline_, cmd_reply_keys, &n2);
    cr_assert(n1 == n2 && n1 == 5 + strlen("$2\r\nw1\r\n") + 10 * strlen("$3\r\nw10\r\n"),
              "walk \"%s\" inline \"%s\"", a, b);
    cr_assert_eq(memcmp(a, "*11\r\n", 5), 0, "%s", a);
    cr_assert_eq(memcmp(b, "*11\r\n", 5), 0, "%s", b);
    for (int i = -1; i < 10; i++) {
        char want[32];
        if (i < 0)
            snprintf(want, sizeof want, "$2\r\nw1\r\n");
        else
            snprintf(want, sizeof want, "$3\r\nw1%d\r\n", i);
        cr_assert(strstr(a, want) && strstr(b, want), "%s", want);
    }
    free(a);
    free(b);
    kv_result_release(&walked);
    kv_result_release(&inline_);
    kv_store_free(s);
}

Test(keys_reply, scan_replies_its_cursor_and_keys)
{
    struct kv_store *s = kv_store_new();
    kt_set(s, "a\r\n", "v", 1);
    struct kv_command c = {.op = KV_SCAN, .num = {0, 10}};
    struct kv_result kv = kt_read(s, c, 1000);
    size_t n;
    REPLY_IS(reply_of(&kv, cmd_reply_scan, &n), "*2\r\n$1\r\n0\r\n*1\r\n$3\r\na\r\n\r\n");
    kv_result_release(&kv);
    kv_store_free(s);
}

/* A large result the request owns becomes the reply (its bytes taken, the
 * header put in front); one EXEC borrows is copied and left alone. */
Test(keys_reply, a_large_owned_result_becomes_the_reply)
{
    struct kv_store *s = kv_store_new();
    char k[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(k, sizeof k, "large:key:%06d", i);
        kt_set(s, k, "v", 1);
    }
    struct kv_result kv = kt_read(s, kt_cmd(KV_KEYS, NULL, "*", 0, 0), 1000);
    size_t body = 5000 * strlen("$16\r\nlarge:key:000000\r\n");
    cr_assert_eq(kv.len, body);
    uint8_t *copy = malloc(body);
    memcpy(copy, kv.bytes, body);

    struct op_result borrowed = {.status = REPLICA_DONE, .kv = kv};
    struct client_req b = {.n_ops = 1, .n_done = 1, .results = &borrowed, .borrowed = true};
    cmd_reply_keys(&b, 2);
    cr_assert(borrowed.kv.bytes == kv.bytes && borrowed.kv.len == body, "a borrowed result was taken");
    cr_assert_eq(b.reply.len, 7 + body);
    cr_assert_eq(memcmp(b.reply.data, "*5000\r\n", 7), 0);
    cr_assert_eq(memcmp(b.reply.data + 7, copy, body), 0);
    resp_buf_free(&b.reply);

    struct op_result owned = {.status = REPLICA_DONE, .kv = kv};
    struct client_req r = {.n_ops = 1, .n_done = 1, .results = &owned};
    cmd_reply_keys(&r, 2);
    cr_assert(owned.kv.bytes == NULL && owned.kv.len == 0, "a large owned result was copied");
    cr_assert_eq(r.reply.len, 7 + body);
    cr_assert_eq(memcmp(r.reply.data, "*5000\r\n", 7), 0);
    cr_assert_eq(memcmp(r.reply.data + 7, copy, body), 0);
    resp_buf_free(&r.reply); /* kv.bytes went with it */
    free(copy);
    kv_store_free(s);
}
