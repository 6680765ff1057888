/* test_kv_cluster_id.c - the state machine's cluster id (kv.h,
 * KV_CLUSTER_ID): its log-entry bytes, applied once and never replaced,
 * kept through a snapshot, refused when malformed. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv.h"

#define HEX_A "0123456789abcdeffedcba9876543210"
#define HEX_B "ffffffffffffffffffffffffffffff01"

static void apply_id(struct kv_store *s, const char *hex, struct kv_result *r)
{
    struct kv_command c = {.op = KV_CLUSTER_ID, .value = json_string(hex)};
    uint8_t *data;
    size_t len;
    cr_assert_eq(kv_command_encode(&c, &data, &len), 0);
    json_decref(c.value);
    kv_apply_bytes(s, data, len, r);
    free(data);
}

Test(kv_cluster_id, the_entry_is_compact_json_and_decodes_back)
{
    struct kv_command c = {.op = KV_CLUSTER_ID, .value = json_string(HEX_A)};
    uint8_t *data;
    size_t len;
    cr_assert_eq(kv_command_encode(&c, &data, &len), 0);
    const char *want = "{\"id\":\"" HEX_A "\",\"op\":\"i\"}";
    cr_assert_eq(len, strlen(want));
    cr_assert_eq(memcmp(data, want, len), 0);
    struct kv_command back;
    cr_assert_eq(kv_command_decode(data, len, &back), 0);
    cr_assert_eq(back.op, KV_CLUSTER_ID);
    cr_assert_null(back.key);
    cr_assert_str_eq(json_string_value(back.value), HEX_A);
    kv_command_release(&back);
    free(data);
    json_decref(c.value);
    /* A key with it is not an id entry. */
    const char *keyed = "{\"id\":\"" HEX_A "\",\"k\":1,\"op\":\"i\"}";
    cr_assert_eq(kv_command_decode((const uint8_t *)keyed, strlen(keyed), &back), -1);
}

Test(kv_cluster_id, the_first_id_applied_stays)
{
    struct kv_store *s = kv_store_new();
    uint8_t id[16];
    cr_assert(!kv_cluster_id(s, id));
    struct kv_result r;
    apply_id(s, HEX_A, &r);
    cr_assert_eq(r.code, 0);
    cr_assert(kv_cluster_id(s, id));
    cr_assert_eq(id[0], 0x01);
    cr_assert_eq(id[15], 0x10);
    apply_id(s, HEX_A, &r); /* the same again: nothing changes */
    cr_assert_eq(r.code, 0);
    apply_id(s, HEX_B, &r); /* another: refused, 22 */
    cr_assert_eq(r.code, 22);
    cr_assert(strstr(r.text, HEX_A), "%s", r.text);
    cr_assert(kv_cluster_id(s, id));
    cr_assert_eq(id[0], 0x01);
    cr_assert_eq(id[15], 0x10);
    kv_store_free(s);
}

Test(kv_cluster_id, a_malformed_id_is_refused_and_changes_nothing)
{
    struct kv_store *s = kv_store_new();
    struct kv_result r;
    uint8_t id[16];
    apply_id(s, "00000000000000000000000000000000", &r);
    cr_assert_eq(r.code, 12);
    apply_id(s, "0123", &r);
    cr_assert_eq(r.code, 12);
    apply_id(s, "0123456789abcdeffedcba987654321g", &r);
    cr_assert_eq(r.code, 12);
    cr_assert(!kv_cluster_id(s, id));
    kv_store_free(s);
}

Test(kv_cluster_id, a_snapshot_keeps_the_id)
{
    struct kv_store *s = kv_store_new();
    struct kv_result r;
    apply_id(s, HEX_A, &r);
    json_t *k = json_string("a"), *v = json_integer(7);
    struct kv_command w = {.op = KV_WRITE, .key = k, .value = v};
    kv_apply(s, &w, &r);
    cr_assert_eq(r.code, 0);
    uint8_t *data;
    size_t len;
    cr_assert_eq(kv_snapshot(s, &data, &len), 0);
    const char *want = "{\"#cluster_id\":\"" HEX_A "\",\"\\\"a\\\"\":7}";
    cr_assert_eq(len, strlen(want), "%.*s", (int)len, data);
    cr_assert_eq(memcmp(data, want, len), 0, "%.*s", (int)len, data);

    struct kv_store *t = kv_store_new();
    apply_id(t, HEX_B, &r); /* restoring replaces it with the image's */
    cr_assert_eq(kv_restore(t, data, len), 0);
    uint8_t id[16];
    cr_assert(kv_cluster_id(t, id));
    cr_assert_eq(id[0], 0x01);
    cr_assert_eq(kv_store_size(t), 1);
    struct kv_command rd = {.op = KV_READ, .key = k};
    kv_apply(t, &rd, &r);
    cr_assert_eq(json_integer_value(r.value), 7);
    json_decref(r.value);
    free(data);

    /* An image without the member has no id; one with a bad id is refused. */
    const char *plain = "{\"\\\"a\\\"\":7}";
    cr_assert_eq(kv_restore(t, (const uint8_t *)plain, strlen(plain)), 0);
    cr_assert(!kv_cluster_id(t, id));
    const char *bad = "{\"#cluster_id\":\"00000000000000000000000000000000\"}";
    cr_assert_eq(kv_restore(s, (const uint8_t *)bad, strlen(bad)), -1);
    cr_assert(kv_cluster_id(s, id), "a refused image changes nothing");
    json_decref(k);
    json_decref(v);
    kv_store_free(s);
    kv_store_free(t);
}
