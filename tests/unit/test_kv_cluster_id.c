/* test_kv_cluster_id.c - the state machine's cluster id (kv.h,
 * KV_CLUSTER_ID): its log-entry bytes, applied once and never replaced,
 * kept through a snapshot (the header's "cluster_id" metadata entry),
 * refused when malformed. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv.h"
#include "storage/snap_writer.h"

#define HEX_A "0123456789abcdeffedcba9876543210"
#define HEX_B "ffffffffffffffffffffffffffffff01"

static void apply_id(struct kv_store *s, const char *hex, struct kv_result *r)
{
    struct kv_command c = {.op = KV_CLUSTER_ID, .value = json_string(hex)};
    uint8_t *data;
    size_t len;
    cr_assert_eq(kv_command_encode(&c, &data, &len), 0);
    json_decref(c.value);
    kv_apply_bytes(s, data, len, 0, r);
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

/* An image written with the given metadata entries and the one key "a"
 * holding 7 (snap_format.h), malloc'd. */
static uint8_t *image_with_meta(const struct snap_meta *meta, size_t n_meta, size_t *len)
{
    struct snap_membuf b = {0};
    struct snap_writer w;
    cr_assert_eq(snap_writer_begin(&w, snap_membuf_sink, &b, 5, 1, 1, meta, n_meta), 0);
    struct snap_record rec = {.key = (const uint8_t *)"\"a\"", .key_len = 3,
                              .value = (const uint8_t *)"7", .value_len = 1};
    cr_assert_eq(snap_writer_add(&w, &rec), 0);
    cr_assert_eq(snap_writer_end(&w), 0);
    *len = b.len;
    return b.data;
}

Test(kv_cluster_id, a_snapshot_keeps_the_id)
{
    struct kv_store *s = kv_store_new();
    struct kv_result r;
    apply_id(s, HEX_A, &r);
    json_t *k = json_string("a"), *v = json_integer(7);
    struct kv_command w = {.op = KV_WRITE, .key = k, .value = v};
    kv_apply(s, &w, 0, &r);
    cr_assert_eq(r.code, 0);
    uint8_t *data;
    size_t len;
    cr_assert_eq(kv_snapshot(s, 9, 2, &data, &len), 0);
    /* The header's metadata, not a record: three entries (meta_count at
     * 32), 68 bytes (at 36): name_len 10, "cluster_id", value_len 16 and
     * the id's bytes (31 bytes), "version" (20) and "time" (17), no
     * "deleted" (nothing was); one record (the key "a", count at 24). */
    cr_assert_gt(len, 108);
    cr_assert_eq(data[24], 1);
    cr_assert_eq(data[32], 3);
    cr_assert_eq(data[36], 68);
    cr_assert_eq(data[40], 10);
    cr_assert_eq(memcmp(data + 41, "cluster_id", 10), 0);
    cr_assert_eq(data[51], 16);
    static const uint8_t id_a[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                     0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10};
    cr_assert_eq(memcmp(data + 55, id_a, 16), 0);
    cr_assert_eq(data[71], 7);
    cr_assert_eq(memcmp(data + 72, "version", 7), 0);
    cr_assert_eq(data[79], 8);
    cr_assert_eq(data[83], 1, "one write so far: the version counter is 1");

    struct kv_store *t = kv_store_new();
    apply_id(t, HEX_B, &r); /* restoring replaces it with the image's */
    cr_assert_eq(kv_restore(t, data, len, NULL, NULL), 0);
    uint8_t id[16];
    cr_assert(kv_cluster_id(t, id));
    cr_assert_eq(memcmp(id, id_a, 16), 0);
    cr_assert_eq(kv_store_size(t), 1);
    struct kv_command rd = {.op = KV_READ, .key = k};
    kv_apply(t, &rd, 0, &r);
    cr_assert_eq(json_integer_value(r.value), 7);
    json_decref(r.value);
    free(data);

    /* The loader tells the id of an image it only checked. */
    struct kv_loader *l = kv_loader_new(false);
    cr_assert_eq(kv_snapshot(s, 9, 2, &data, &len), 0);
    cr_assert_eq(kv_loader_feed(l, data, len), 0);
    cr_assert_eq(kv_loader_finish(l, NULL, NULL, NULL), 0);
    memset(id, 0, sizeof id);
    cr_assert(kv_loader_cluster_id(l, id));
    cr_assert_eq(memcmp(id, id_a, 16), 0);
    kv_loader_free(l);
    free(data);

    /* An image without the entry has no id (other names pass); one with a
     * bad id, or the entry twice, is refused and changes nothing. */
    uint8_t zero[16] = {0}, other[16] = {0xff, 1}, id_17[17];
    memcpy(id_17, id_a, 16);
    id_17[16] = 0x5a;
    const struct snap_meta unknown[] = {{.name = "later", .value = id_a, .len = 3}};
    data = image_with_meta(unknown, 1, &len);
    cr_assert_eq(kv_restore(t, data, len, NULL, NULL), 0);
    cr_assert(!kv_cluster_id(t, id));
    cr_assert_eq(kv_store_size(t), 1);
    free(data);
    const struct snap_meta bad[][2] = {
        {{.name = "cluster_id", .value = zero, .len = 16}},
        {{.name = "cluster_id", .value = id_a, .len = 15}},
        {{.name = "cluster_id", .value = id_17, .len = 17}},
        {{.name = "cluster_id", .value = id_a, .len = 16},
         {.name = "cluster_id", .value = other, .len = 16}},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        data = image_with_meta(bad[i], bad[i][1].name ? 2 : 1, &len);
        cr_assert_eq(kv_restore(s, data, len, NULL, NULL), -1, "image %zu", i);
        cr_assert_eq(kv_restore(NULL, data, len, NULL, NULL), -1, "image %zu", i);
        cr_assert(kv_cluster_id(s, id), "a refused image changes nothing");
        cr_assert_eq(memcmp(id, id_a, 16), 0);
        free(data);
    }
    json_decref(k);
    json_decref(v);
    kv_store_free(s);
    kv_store_free(t);
}

#define KEY_HEX "5a5a5a5a5a5a5a5a0102030405060708"

static void apply_id_key(struct kv_store *s, const char *hex, const char *key_hex,
                         struct kv_result *r)
{
    struct kv_command c = {.op = KV_CLUSTER_ID, .value = json_string(hex),
                           .to = json_string(key_hex)};
    uint8_t *data;
    size_t len;
    cr_assert_eq(kv_command_encode(&c, &data, &len), 0);
    json_decref(c.value);
    json_decref(c.to);
    kv_apply_bytes(s, data, len, 0, r);
    free(data);
}

/* The first leader's entry carries the map's hash key as "h" (sorted
 * first); the snapshot carries it on as "map_key" and a store restored
 * from it writes it again. */
Test(kv_cluster_id, the_entry_carries_the_hash_key_into_snapshots)
{
    struct kv_command c = {.op = KV_CLUSTER_ID, .value = json_string(HEX_A),
                           .to = json_string(KEY_HEX)};
    uint8_t *data;
    size_t len;
    cr_assert_eq(kv_command_encode(&c, &data, &len), 0);
    const char *want = "{\"h\":\"" KEY_HEX "\",\"id\":\"" HEX_A "\",\"op\":\"i\"}";
    cr_assert_eq(len, strlen(want));
    cr_assert_eq(memcmp(data, want, len), 0);
    struct kv_command back;
    cr_assert_eq(kv_command_decode(data, len, &back), 0);
    cr_assert_str_eq(json_string_value(back.to), KEY_HEX);
    kv_command_release(&back);
    free(data);
    json_decref(c.value);
    json_decref(c.to);

    struct kv_store *s = kv_store_new();
    struct kv_result r;
    apply_id_key(s, HEX_A, KEY_HEX, &r);
    cr_assert_eq(r.code, 0);
    cr_assert_eq(kv_snapshot(s, 9, 2, &data, &len), 0);
    static const uint8_t meta[] = {7, 'm', 'a', 'p', '_', 'k', 'e', 'y', 16, 0, 0, 0,
                                   0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
                                   1, 2, 3, 4, 5, 6, 7, 8};
    cr_assert_not_null(memmem(data, len, meta, sizeof meta), "the key as map_key metadata");
    struct kv_store *b = kv_store_new();
    cr_assert_eq(kv_restore(b, data, len, NULL, NULL), 0);
    free(data);
    cr_assert_eq(kv_snapshot(b, 9, 2, &data, &len), 0);
    cr_assert_not_null(memmem(data, len, meta, sizeof meta), "kept through a restore");
    free(data);
    kv_store_free(b);
    kv_store_free(s);
}

Test(kv_cluster_id, a_malformed_hash_key_is_refused_with_its_id)
{
    struct kv_store *s = kv_store_new();
    struct kv_result r;
    uint8_t id[16];
    apply_id_key(s, HEX_A, "00000000000000000000000000000000", &r);
    cr_assert_eq(r.code, 12);
    apply_id_key(s, HEX_A, "0123", &r);
    cr_assert_eq(r.code, 12);
    cr_assert(!kv_cluster_id(s, id));
    uint8_t *data;
    size_t len;
    cr_assert_eq(kv_snapshot(s, 9, 2, &data, &len), 0);
    cr_assert_null(memmem(data, len, "map_key", 7));
    free(data);
    kv_store_free(s);
}

#define KEY2_HEX "77777777777777770a0b0c0d0e0f1011"

/* A backup's image (KV_SNAP_NO_MAP_KEY) holds the id and no hash key; a
 * store loaded from it takes the first key an entry with the same id
 * carries (its first leader's), and keeps it. */
Test(kv_cluster_id, a_backup_image_leaves_the_key_out_and_the_next_entry_gives_one)
{
    static const uint8_t key1[16] = {0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 1, 2, 3, 4, 5, 6, 7, 8};
    static const uint8_t key2[16] = {0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77,
                                     0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11};
    struct kv_store *s = kv_store_new();
    struct kv_result r;
    apply_id_key(s, HEX_A, KEY_HEX, &r);
    cr_assert_eq(r.code, 0);
    cr_assert(kv_has_map_key(s));
    struct snap_membuf full = {0}, backup = {0};
    cr_assert_eq(kv_snapshot_write_flags(s, 9, 2, 0, snap_membuf_sink, &full), 0);
    cr_assert_eq(kv_snapshot_write_flags(s, 9, 2, KV_SNAP_NO_MAP_KEY, snap_membuf_sink, &backup), 0);
    cr_assert_not_null(memmem(full.data, full.len, key1, 16));
    cr_assert_null(memmem(backup.data, backup.len, key1, 16), "the key's bytes are in the backup");
    cr_assert_null(memmem(backup.data, backup.len, "map_key", 7));
    cr_assert_eq(full.len, backup.len + 1 + 7 + 4 + 16, "only the map_key entry differs");

    struct kv_store *b = kv_store_new();
    uint8_t id[16];
    cr_assert_eq(kv_restore(b, backup.data, backup.len, NULL, NULL), 0);
    cr_assert(kv_cluster_id(b, id), "the id stays in a backup");
    cr_assert_not(kv_has_map_key(b));
    /* The restored cluster's first leader: the same id, a new key. */
    apply_id_key(b, HEX_A, KEY2_HEX, &r);
    cr_assert_eq(r.code, 0);
    cr_assert(kv_has_map_key(b));
    /* A later entry's key does not replace it; another id is refused. */
    apply_id_key(b, HEX_A, KEY_HEX, &r);
    cr_assert_eq(r.code, 0);
    apply_id_key(b, HEX_B, KEY_HEX, &r);
    cr_assert_eq(r.code, 22);
    uint8_t *data;
    size_t len;
    cr_assert_eq(kv_snapshot(b, 10, 2, &data, &len), 0);
    cr_assert_not_null(memmem(data, len, key2, 16), "the first key after the restore");
    cr_assert_null(memmem(data, len, key1, 16));
    free(data);
    kv_store_free(b);
    free(full.data);
    free(backup.data);
    kv_store_free(s);
}
