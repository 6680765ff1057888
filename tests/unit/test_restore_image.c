/* test_restore_image.c - what `raftkv restore` writes: the image copied
 * with a new cluster id (src/server/restore_image.h), checked byte by byte
 * against the snapshot layout (snap_format.h), and the id derivation
 * (restore_cluster_id in src/server/backup.h) against digests computed
 * independently (Python's hashlib). A damaged input is refused. */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv.h"
#include "server/backup.h"
#include "server/restore_image.h"
#include "storage/snap_writer.h"

static const uint8_t OLD_ID[16] = {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
                                   0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11};
static const uint8_t NEW_ID[16] = {0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
                                   0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22};

/* Index 7, term 3, the given metadata, one string record k = v with
 * version 9. */
static struct snap_membuf image(const struct snap_meta *meta, size_t n)
{
    struct snap_membuf b = {0};
    struct snap_writer w;
    cr_assert_eq(snap_writer_begin(&w, snap_membuf_sink, &b, 7, 3, 1, meta, n), 0);
    struct snap_record r = {.type = 1, .key = (const uint8_t *)"k", .key_len = 1,
                            .value = (const uint8_t *)"v", .value_len = 1, .version = 9};
    cr_assert_eq(snap_writer_add(&w, &r), 0);
    cr_assert_eq(snap_writer_end(&w), 0);
    return b;
}

/* Index 7, term 3, metadata cluster_id (OLD_ID, if with_id) and version 5,
 * one string record k = v with version 9. */
static struct snap_membuf input(bool with_id)
{
    static const uint8_t version[8] = {5, 0, 0, 0, 0, 0, 0, 0};
    struct snap_meta meta[2] = {{.name = "cluster_id", .value = OLD_ID, .len = 16},
                                {.name = "version", .value = version, .len = 8}};
    return with_id ? image(meta, 2) : image(meta + 1, 1);
}

static struct snap_membuf copy(const struct snap_membuf *in, size_t piece, int *rc, char *err)
{
    struct snap_membuf out = {0};
    struct restore_image x;
    cr_assert_eq(restore_image_init(&x, NEW_ID, NULL, snap_membuf_sink, &out), 0);
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
    uint8_t version[8] = {5, 0, 0, 0, 0, 0, 0, 0};
    uint8_t config[8 + 8] = {4, 0, 0, 0, 0, 0, 0, 0, 1, 3, 0, 0, 1, 0, 2, 0};
    struct snap_meta meta[3] = {{.name = "cluster_id", .value = OLD_ID, .len = 16},
                                {.name = "raft_config", .value = config, .len = sizeof config},
                                {.name = "version", .value = version, .len = 8}};
    struct snap_membuf in = image(meta, 3);
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
    uint8_t version[8] = {5, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t key[16] = {0x3c, 0x3c, 0x3c, 0x3c, 0x3c, 0x3c, 0x3c, 0x3c,
                                    0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3};
    struct snap_meta meta[3] = {{.name = "cluster_id", .value = OLD_ID, .len = 16},
                                {.name = "map_key", .value = key, .len = 16},
                                {.name = "version", .value = version, .len = 8}};
    struct snap_membuf in = image(meta, 3);
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

Test(restore_image, gives_the_new_cluster_its_own_hash_key)
{
    /* The old key is replaced by the one given, written right after the
     * cluster id; a store loads the map hashed under it. */
    uint8_t version[8] = {5, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t old_key[16] = {0x3c, 0x3c, 0x3c, 0x3c, 0x3c, 0x3c, 0x3c, 0x3c,
                                        0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3};
    static const uint8_t new_key[16] = {0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
                                        0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5};
    struct snap_meta meta[3] = {{.name = "cluster_id", .value = OLD_ID, .len = 16},
                                {.name = "map_key", .value = old_key, .len = 16},
                                {.name = "version", .value = version, .len = 8}};
    struct snap_membuf in = image(meta, 3);

    struct snap_membuf out = {0};
    struct restore_image x;
    cr_assert_eq(restore_image_init(&x, NEW_ID, new_key, snap_membuf_sink, &out), 0);
    cr_assert_eq(restore_image_feed(&x, in.data, in.len), 0, "%s", restore_image_error(&x));
    cr_assert_eq(restore_image_finish(&x), 0, "%s", restore_image_error(&x));
    restore_image_free(&x);

    /* Header: 3 entries, 79 bytes: cluster_id (NEW_ID), map_key, version. */
    static const uint8_t want_meta[] = {
        3, 0, 0, 0, 79, 0, 0, 0,
        10, 'c', 'l', 'u', 's', 't', 'e', 'r', '_', 'i', 'd', 16, 0, 0, 0,
        0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
        7, 'm', 'a', 'p', '_', 'k', 'e', 'y', 16, 0, 0, 0,
        0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5,
        7, 'v', 'e', 'r', 's', 'i', 'o', 'n', 8, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0,
    };
    cr_assert_geq(out.len, 32 + sizeof want_meta);
    cr_assert_eq(memcmp(out.data + 32, want_meta, sizeof want_meta), 0, "metadata bytes differ");
    cr_assert_null(memmem(out.data, out.len, old_key, 16));

    struct kv_store *kv = kv_store_new();
    uint64_t index = 0, term = 0;
    cr_assert_eq(kv_restore(kv, out.data, out.len, &index, &term), 0);
    cr_assert(kv_has_map_key(kv));
    cr_assert_eq(kv_store_size(kv), 1);
    kv_store_free(kv);
    free(out.data);
    free(in.data);
}

Test(restore_image, hash_key_from_file_and_new_cluster_id)
{
    /* Python: hashlib.sha256(b"raftkv-restore-map-key-1\n" + bytes(range(32))
     * + b"\x22" * 16).hexdigest()[:32] */
    uint8_t sha[32], key[16];
    for (int i = 0; i < 32; i++)
        sha[i] = (uint8_t)i;
    restore_map_key(sha, NEW_ID, key);
    char hex[33];
    cluster_id_hex(key, hex);
    cr_assert_str_eq(hex, "22728548aa35fdf2ca3464e0a9726557");
    sha[0] ^= 1; /* another file: another key */
    restore_map_key(sha, NEW_ID, key);
    cluster_id_hex(key, hex);
    cr_assert_str_neq(hex, "22728548aa35fdf2ca3464e0a9726557");
}

/* `raftkv restore` end to end in a scratch directory: the member's
 * snapshot carries the new cluster's hash key, derived from the file and
 * the new id, so its map loads hashed under it. */
Test(restore_image, restore_writes_the_derived_hash_key_into_the_snapshot)
{
    char dir[] = "/tmp/raftkv-restore-test-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char file[128], data[160], snap[200];
    snprintf(file, sizeof file, "%s/backup.snap", dir);
    snprintf(data, sizeof data, "%s/n1", dir);
    struct snap_membuf in = input(true);
    FILE *f = fopen(file, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(in.data, 1, in.len, f), in.len);
    fclose(f);

    char *argv[] = {"restore", file, "--data-dir", data, "--id", "n1", "--peers", "n1=127.0.0.1:1",
                    "--cluster-id", "22222222222222222222222222222222", NULL};
    cr_assert_eq(restore_main(10, argv), 0);

    snprintf(snap, sizeof snap, "%s/snap-00000000000000000007.snap", data);
    f = fopen(snap, "rb");
    cr_assert_not_null(f, "no %s", snap);
    static uint8_t buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    struct kv_store *kv = kv_store_new();
    uint64_t index = 0, term = 0;
    cr_assert_eq(kv_restore(kv, buf, n, &index, &term), 0);
    cr_assert(kv_has_map_key(kv), "the restored snapshot has no hash key");
    kv_store_free(kv);

    uint8_t sha[32], key[16];
    unsigned int dl = 0;
    EVP_Digest(in.data, in.len, sha, &dl, EVP_sha256(), NULL);
    restore_map_key(sha, NEW_ID, key);
    uint8_t want[12 + 16] = {7, 'm', 'a', 'p', '_', 'k', 'e', 'y', 16, 0, 0, 0};
    memcpy(want + 12, key, 16);
    cr_assert_not_null(memmem(buf, n, want, sizeof want), "the key is not restore_map_key's");
    free(in.data);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}
