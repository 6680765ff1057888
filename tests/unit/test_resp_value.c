/* test_resp_value.c - Redis strings stored as JSON values and written back. */
#include "server/resp_value.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "common/rng.h"

/* The bulk string resp_value_write_bulk writes, without its "$n\r\n" header. */
static size_t bulk_of(const json_t *v, char *out, size_t cap)
{
    struct resp_buf b = {0};
    cr_assert_eq(resp_value_write_bulk(&b, v), 0);
    struct resp_reply r;
    cr_assert_eq(resp_reply_parse(b.data, b.len, &r), (long)b.len);
    cr_assert_eq(r.type, RESP_R_BULK);
    cr_assert_leq(r.len, cap);
    memcpy(out, r.str, r.len);
    resp_buf_free(&b);
    return r.len;
}

Test(resp_value, keeps_utf8_strings_as_json_strings)
{
    json_t *v = resp_value_from_bytes("h\xc3\xa9llo", 6);
    cr_assert(json_is_string(v));
    cr_assert_str_eq(json_string_value(v), "h\xc3\xa9llo");
    char out[16];
    cr_assert_eq(bulk_of(v, out, sizeof out), 6);
    cr_assert_eq(memcmp(out, "h\xc3\xa9llo", 6), 0);
    json_decref(v);
}

Test(resp_value, round_trips_any_bytes_and_maps_equal_bytes_to_equal_json)
{
    uint64_t seed = 6;
    printf("resp_value seed %llu\n", (unsigned long long)seed);
    struct rng g;
    rng_seed(&g, seed);
    for (int round = 0; round < 2000; round++) {
        char in[40], out[64];
        size_t n = rng_below(&g, sizeof in);
        for (size_t i = 0; i < n; i++)
            in[i] = (char)rng_next(&g);
        if (round % 2 && n) /* make sure invalid UTF-8 and NULs show up */
            in[rng_below(&g, n)] = (char)(round % 4 ? 0xff : 0);
        json_t *a = resp_value_from_bytes(in, n), *b = resp_value_from_bytes(in, n);
        cr_assert_not_null(a);
        cr_assert(json_equal(a, b), "round %d", round);
        cr_assert_eq(bulk_of(a, out, sizeof out), n, "round %d", round);
        cr_assert_eq(memcmp(in, out, n), 0, "round %d", round);
        json_decref(a);
        json_decref(b);
    }
}

Test(resp_value, never_confuses_a_utf8_string_with_encoded_bytes)
{
    json_t *bin = resp_value_from_bytes("\xff", 1);
    cr_assert(json_is_object(bin));
    const char *text = "{\"$base64\":\"/w==\"}"; /* the same, typed as UTF-8 text */
    json_t *str = resp_value_from_bytes(text, strlen(text));
    cr_assert(json_is_string(str));
    cr_assert(!json_equal(bin, str));
    json_decref(bin);
    json_decref(str);
}

Test(resp_value, writes_json_no_redis_client_wrote_as_its_text)
{
    json_t *v = json_integer(42);
    char out[16];
    cr_assert_eq(bulk_of(v, out, sizeof out), 2);
    cr_assert_eq(memcmp(out, "42", 2), 0);
    json_decref(v);
}
