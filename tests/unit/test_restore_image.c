/* test_restore_image.c - what `raftkv restore` writes: the image copied
 * with a new cluster id (src/server/restore_image.h), checked byte by byte
 * against the snapshot layout (snap_format.h), and the id derivation
 * (restore_cluster_id in src/server/backup.h) against digests computed
 * independently (Python's hashlib). A damaged input is refused. */
#include <criterion/criterion.h>
#include <string.h>

#include "kv/kv.h"
#include "server/backup.h"
#include "server/restore_image.h"
#include "storage/snap_writer.h"

static const uint8_t OLD_ID[16] = {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
                                   0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11};
static const uint8_t NEW_ID[16] = {0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
                                   0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22};

/* Index 7, term 3, metadata cluster_id (OLD_ID, if with_id) and version 5,
 * one string record k = v with version 9. */
static struct snap_membuf input(bool with_id)
{
    struct snap_membuf b = {0};
    uint8_t version[8] = {5, 0, 0, 0, 0, 0, 0, 0};
    struct snap_meta meta[2] = {{.name = "cluster_id", .value = OLD_ID, .len = 16},
                                {.name = "version", .value = version, .len = 8}};
    struct snap_writer w;
    cr_assert_eq(snap_writer_begin(&w, snap_membuf_sink, &b, 7, 3, 1, with_id ? meta : meta + 1,
                                   with_id ? 2 : 1), 0);
    struct snap_record r = {.type = 1, .key = (const uint8_t *)"k", .key_len = 1,
                            .value = (const uint8_t *)"v", .value_len = 1, .version = 9};
    cr_assert_eq(snap_writer_add(&w, &r), 0);
    cr_assert_eq(snap_writer_end(&w), 0);
    return b;
}

static struct snap_membuf copy(const struct snap_membuf *in, size_t piece, int *rc, char *err)
{
    struct snap_membuf out = {0};
    struct restore_image x;
    cr_assert_eq(restore_image_init(&x, NEW_ID, snap_membuf_sink, &out), 0);
    *rc = 0;
    for (size_t off = 0; off < in->len && *rc == 0; off += piece)
        *rc = restore_image_feed(&x, in->data + off, in->len - off < piece ? in->len - off : piece);
    if (*rc == 0)
        *rc = restore_image_finish(&x);
    snprintf(err, 256, "%s", *rc ? restore_image_error(&x) : "");
    restore_image_free(&x);
    return out;
}

/* The header and the block as snap_format.h lays them out. */
static const uint8_t WANT_HEADER[] = {
    'R', 'K', 'V', 'S', 2, 0, 0, 0,                 /* magic, version 2 */
    7, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, /* index 7, term 3 */
    1, 0, 0, 0, 0, 0, 0, 0,                         /* 1 record */
    2, 0, 0, 0, 51, 0, 0, 0,                        /* 2 entries, 51 bytes */
    10, 'c', 'l', 'u', 's', 't', 'e', 'r', '_', 'i', 'd', 16, 0, 0, 0,
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
    7, 'v', 'e', 'r', 's', 'i', 'o', 'n', 8, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0,
};
static const uint8_t WANT_BLOCK[] = {
    'B', 'L', 'K', '1', 27, 0, 0, 0, 1, 0, 0, 0, /* tag, payload 27 bytes, 1 record (then its CRC) */
};
static const uint8_t WANT_RECORD[] = {
    1, 1, 0, 0, 0, 1, 0, 0, 0,  /* type 1, key 1 byte, value 1 byte */
    0, 0, 0, 0, 0, 0, 0, 0,     /* no expiry */
    9, 0, 0, 0, 0, 0, 0, 0,     /* version 9 */
    'k', 'v',
};

static void check_output(const struct snap_membuf *out)
{
    cr_assert_eq(sizeof WANT_HEADER, 91);
    cr_assert_eq(out->len, 91 + 4 + 16 + 27 + 24, "got %zu bytes", out->len);
    cr_assert_eq(memcmp(out->data, WANT_HEADER, sizeof WANT_HEADER), 0, "header bytes differ");
    cr_assert_eq(memcmp(out->data + 95, WANT_BLOCK, sizeof WANT_BLOCK), 0, "block head differs");
    cr_assert_eq(memcmp(out->data + 111, WANT_RECORD, sizeof WANT_RECORD), 0, "record differs");
    cr_assert_eq(memcmp(out->data + 138, "END1", 4), 0);
    /* Every CRC holds: a store loads it, with the new id. */
    struct kv_store *kv = kv_store_new();
    uint64_t index = 0, term = 0;
    cr_assert_eq(kv_restore(kv, out->data, out->len, &index, &term), 0);
    cr_assert_eq(index, 7);
    cr_assert_eq(term, 3);
    cr_assert_eq(kv_store_size(kv), 1);
    uint8_t id[16];
    cr_assert(kv_cluster_id(kv, id));
    cr_assert_eq(memcmp(id, NEW_ID, 16), 0);
    kv_store_free(kv);
}

Test(restore_image, replaces_the_cluster_id_and_keeps_the_rest)
{
    struct snap_membuf in = input(true);
    for (size_t piece = 1; piece <= in.len; piece = piece < 8 ? piece + 1 : piece * 3) {
        int rc;
        char err[256];
        struct snap_membuf out = copy(&in, piece, &rc, err);
        cr_assert_eq(rc, 0, "piece %zu: %s", piece, err);
        check_output(&out);
        free(out.data);
    }
    free(in.data);
}

Test(restore_image, adds_the_cluster_id_to_an_image_without_one)
{
    struct snap_membuf in = input(false);
    int rc;
    char err[256];
    struct snap_membuf out = copy(&in, 4096, &rc, err);
    cr_assert_eq(rc, 0, "%s", err);
    check_output(&out);
    free(out.data);
    free(in.data);
}

Test(restore_image, refuses_a_flipped_byte)
{
    struct snap_membuf in = input(true);
    in.data[111 + 26] ^= 0x01; /* the record's value byte: the block's CRC no longer holds */
    int rc;
    char err[256];
    struct snap_membuf out = copy(&in, 4096, &rc, err);
    cr_assert_neq(rc, 0);
    cr_assert(strstr(err, "CRC") != NULL, "error: %s", err);
    free(out.data);
    free(in.data);
}

Test(restore_image, cluster_id_from_file_token_and_members)
{
    uint8_t sha[32], id[16];
    for (int i = 0; i < 32; i++)
        sha[i] = (uint8_t)i;
    const char *members[3] = {"n3", "n1", "n2"}; /* any order */
    char hex[33];
    restore_cluster_id(sha, "restore-2026-12-06", members, 3, id);
    cluster_id_hex(id, hex);
    cr_assert_str_eq(hex, "aa6b6ff540889e38c551c3b6c8ab9d95");
    restore_cluster_id(sha, "restore-2026-12-07", members, 3, id);
    cluster_id_hex(id, hex);
    cr_assert_str_eq(hex, "1c9985599eef5ca7153bc92685266723");
}

Test(restore_image, drops_the_old_clusters_configuration)
{
    /* The input of replaces_the_cluster_id_and_keeps_the_rest with a
     * "raft_config" entry (index 4, members 0..2) between the two: the
     * copy is byte for byte the same as without it. */
    struct snap_membuf in = {0};
    uint8_t version[8] = {5, 0, 0, 0, 0, 0, 0, 0};
    uint8_t config[8 + 8] = {4, 0, 0, 0, 0, 0, 0, 0, 1, 3, 0, 0, 1, 0, 2, 0};
    struct snap_meta meta[3] = {{.name = "cluster_id", .value = OLD_ID, .len = 16},
                                {.name = "raft_config", .value = config, .len = sizeof config},
                                {.name = "version", .value = version, .len = 8}};
    struct snap_writer w;
    cr_assert_eq(snap_writer_begin(&w, snap_membuf_sink, &in, 7, 3, 1, meta, 3), 0);
    struct snap_record r = {.type = 1, .key = (const uint8_t *)"k", .key_len = 1,
                            .value = (const uint8_t *)"v", .value_len = 1, .version = 9};
    cr_assert_eq(snap_writer_add(&w, &r), 0);
    cr_assert_eq(snap_writer_end(&w), 0);
    int rc;
    char err[256];
    struct snap_membuf out = copy(&in, 4096, &rc, err);
    cr_assert_eq(rc, 0, "%s", err);
    check_output(&out);
    free(out.data);
    free(in.data);
}

Test(restore_image, drops_the_old_clusters_hash_key)
{
    /* As drops_the_old_clusters_configuration, with a "map_key" entry (a
     * backup of a release that kept it): the copy is the same as without
     * it, and the key's bytes are gone. */
    struct snap_membuf in = {0};
    uint8_t version[8] = {5, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t key[16] = {0x3c, 0x3c, 0x3c, 0x3c, 0x3c, 0x3c, 0x3c, 0x3c,
                                    0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3};
    struct snap_meta meta[3] = {{.name = "cluster_id", .value = OLD_ID, .len = 16},
                                {.name = "map_key", .value = key, .len = 16},
                                {.name = "version", .value = version, .len = 8}};
    struct snap_writer w;
    cr_assert_eq(snap_writer_begin(&w, snap_membuf_sink, &in, 7, 3, 1, meta, 3), 0);
    struct snap_record r = {.type = 1, .key = (const uint8_t *)"k", .key_len = 1,
                            .value = (const uint8_t *)"v", .value_len = 1, .version = 9};
    cr_assert_eq(snap_writer_add(&w, &r), 0);
    cr_assert_eq(snap_writer_end(&w), 0);
    cr_assert_not_null(memmem(in.data, in.len, key, 16));
    int rc;
    char err[256];
    struct snap_membuf out = copy(&in, 4096, &rc, err);
    cr_assert_eq(rc, 0, "%s", err);
    check_output(&out);
    cr_assert_null(memmem(out.data, out.len, key, 16));
    free(out.data);
    free(in.data);
}
