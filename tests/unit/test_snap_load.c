/* test_snap_load.c - loading a whole snapshot image at once (issue 12,
 * item 2): the reader's report of each piece checked and its in-place
 * reading, kv_loader_load's second thread (images of 1 MiB or more) that
 * checks the CRCs while the map is built, and the start-up path through the
 * data directory (the header checked at open, the rest as the file loads,
 * mapped). Damage anywhere is refused with the offset, and a refused image
 * leaves the store as it was. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv.h"
#include "kv_test_util.h"
#include "storage/crc32c.h"
#include "storage/le.h"
#include "storage/snap_reader.h"
#include "storage/snap_writer.h"
#include "storage/storage_replica.h"
#include "test_storage_util.h"

/* n Redis-string records "key:%012d" -> 100 bytes starting "v<i>;", about
 * 141 bytes each on disk (so 12,000 make 1.7 MB, past the thread's 1 MiB). */
static struct snap_membuf string_image(unsigned n, uint64_t index)
{
    struct snap_membuf b = {0};
    struct snap_writer w;
    cr_assert_eq(snap_writer_begin(&w, snap_membuf_sink, &b, index, 3, n, NULL, 0), 0);
    for (unsigned i = 0; i < n; i++) {
        char key[32], value[101];
        snprintf(key, sizeof key, "key:%012u", i);
        memset(value, 'a' + (int)(i % 26), 100);
        int head = snprintf(value, sizeof value, "v%u;", i);
        value[head] = 'x';
        struct snap_record r = {.type = 1, .key = (const uint8_t *)key, .key_len = 16,
                                .value = (const uint8_t *)value, .value_len = 100,
                                .version = i + 1};
        cr_assert_eq(snap_writer_add(&w, &r), 0);
    }
    cr_assert_eq(snap_writer_end(&w), 0);
    return b;
}

/* The offset of block k's head (k from 0). */
static size_t block_at(const uint8_t *p, int k)
{
    size_t at = 40 + le_get32(p + 36) + 4;
    for (int i = 0; i < k; i++)
        at += 16 + le_get32(p + at + 4);
    return at;
}

static void expect_get(struct kv_store *s, unsigned i)
{
    char key[32], want[16];
    snprintf(key, sizeof key, "key:%012u", i);
    int n = snprintf(want, sizeof want, "v%u;x", i);
    struct kv_result r = kt_read(s, kt_cmd(KV_GET, key, NULL, 0, 0), 0);
    cr_assert_eq(r.code, KV_OK, "%s", key);
    cr_assert_eq(r.len, 100);
    cr_assert_eq(memcmp(r.bytes, want, (size_t)n), 0, "%s: %.*s", key, n, (const char *)r.bytes);
    kv_result_release(&r);
}

struct progress {
    uint64_t ends[64];
    int n;
};

static int on_checked(void *ctx, uint64_t end)
{
    struct progress *p = ctx;
    if (p->n < 64)
        p->ends[p->n] = end;
    p->n++;
    return 0;
}

Test(snap_load, the_reader_reports_each_piece_checked_where_its_bytes_end)
{
    struct snap_membuf b = string_image(1500, 9); /* about 4 blocks */
    uint64_t blocks = le_get64(b.data + b.len - 20);
    cr_assert_gt(blocks, 2);
    const size_t pieces[] = {1, 7, 4096, b.len};
    for (size_t k = 0; k < sizeof pieces / sizeof pieces[0]; k++) {
        struct progress p = {0};
        struct snap_reader r;
        snap_reader_init(&r, &(struct snap_reader_ops){.checked = on_checked}, &p);
        for (size_t at = 0; at < b.len; at += pieces[k])
            cr_assert_eq(snap_reader_feed(&r, b.data + at, b.len - at < pieces[k] ? b.len - at : pieces[k]), 0,
                         "%s", snap_reader_error(&r));
        cr_assert_eq(snap_reader_finish(&r), 0);
        snap_reader_free(&r);
        /* The header (40 fixed bytes, no metadata, its CRC), each block, the trailer. */
        cr_assert_eq(p.n, (int)blocks + 2, "piece %zu: %d reports", pieces[k], p.n);
        cr_assert_eq(p.ends[0], 44);
        for (int i = 1; i <= (int)blocks; i++)
            cr_assert_eq(p.ends[i], block_at(b.data, i), "block %d", i - 1);
        cr_assert_eq(p.ends[p.n - 1], b.len);
    }
    free(b.data);
}

Test(snap_load, a_reader_told_the_crcs_are_checked_elsewhere_skips_only_them)
{
    struct snap_membuf b = string_image(1500, 9);
    b.data[block_at(b.data, 1) + 16 + 30] ^= 0x04; /* a value byte of block 1 */
    struct snap_reader r;
    snap_reader_init(&r, NULL, NULL);
    cr_assert_eq(snap_reader_feed(&r, b.data, b.len), -1);
    cr_assert_not_null(strstr(snap_reader_error(&r), "block 1 CRC mismatch"), "%s", snap_reader_error(&r));
    snap_reader_free(&r);
    snap_reader_init(&r, NULL, NULL);
    r.crcs_checked_elsewhere = true;
    cr_assert_eq(snap_reader_feed(&r, b.data, b.len), 0, "%s", snap_reader_error(&r));
    cr_assert_eq(snap_reader_finish(&r), 0);
    snap_reader_free(&r);
    /* The framing and counts are still its own to check. */
    le_put32(b.data + block_at(b.data, 0) + 8, le_get32(b.data + block_at(b.data, 0) + 8) + 1);
    snap_reader_init(&r, NULL, NULL);
    r.crcs_checked_elsewhere = true;
    cr_assert_eq(snap_reader_feed(&r, b.data, b.len), -1);
    cr_assert_not_null(strstr(snap_reader_error(&r), "block 0 ends inside record"), "%s",
                       snap_reader_error(&r));
    snap_reader_free(&r);
    free(b.data);
}

/* A store holding one other key, which a refused image must leave. */
static struct kv_store *store_with_one_key(void)
{
    struct kv_store *s = kv_store_new();
    kt_set(s, "before", "kept", 0);
    cr_assert_eq(kv_store_size(s), 1);
    return s;
}

static void expect_unchanged(struct kv_store *s)
{
    cr_assert_eq(kv_store_size(s), 1);
    struct kv_result r = kt_read(s, kt_cmd(KV_GET, "before", NULL, 0, 0), 0);
    cr_assert_eq(r.code, KV_OK);
    cr_assert_eq(r.len, 4);
    cr_assert_eq(memcmp(r.bytes, "kept", 4), 0);
    kv_result_release(&r);
}

Test(snap_load, a_large_image_loads_on_two_threads_as_it_does_fed_in_pieces)
{
    struct snap_membuf b = string_image(12000, 77);
    cr_assert_gt(b.len, 1u << 20, "the image must take the threaded path: %zu bytes", b.len);
    struct kv_store *whole = store_with_one_key();
    uint64_t index = 0, term = 0;
    cr_assert_eq(kv_restore(whole, b.data, b.len, &index, &term), 0);
    cr_assert_eq(index, 77);
    cr_assert_eq(term, 3);
    cr_assert_eq(kv_store_size(whole), 12000);
    for (unsigned i = 0; i < 12000; i += 997)
        expect_get(whole, i);
    expect_get(whole, 11999);
    /* The same image fed in 4 KiB pieces on this thread alone. */
    struct kv_loader *l = kv_loader_new(true);
    for (size_t at = 0; at < b.len; at += 4096)
        cr_assert_eq(kv_loader_feed(l, b.data + at, b.len - at < 4096 ? b.len - at : 4096), 0);
    struct kv_store *pieces = kv_store_new();
    cr_assert_eq(kv_loader_finish(l, pieces, NULL, NULL), 0);
    kv_loader_free(l);
    cr_assert(kv_store_equal(whole, pieces));
    kv_store_free(whole);
    kv_store_free(pieces);
    free(b.data);
}

/* Damage at `at` (xor mask) must be refused with `why`, the store kept. */
static void expect_refused(struct snap_membuf *b, size_t at, uint8_t mask, const char *why)
{
    b->data[at] ^= mask;
    struct kv_store *s = store_with_one_key();
    struct kv_loader *l = kv_loader_new(true);
    int rc = kv_loader_load(l, b->data, b->len);
    if (rc == 0)
        rc = kv_loader_finish(l, s, NULL, NULL);
    cr_assert_eq(rc, -1, "damage at %zu not found", at);
    cr_assert_not_null(strstr(kv_loader_error(l), why), "'%s', want '%s'", kv_loader_error(l), why);
    kv_loader_free(l);
    expect_unchanged(s);
    cr_assert_neq(kv_restore(s, b->data, b->len, NULL, NULL), 0);
    expect_unchanged(s);
    kv_store_free(s);
    b->data[at] ^= mask;
}

Test(snap_load, the_threaded_load_refuses_a_damaged_block_and_leaves_the_store)
{
    struct snap_membuf b = string_image(12000, 77);
    uint64_t blocks = le_get64(b.data + b.len - 20);
    cr_assert_gt(blocks, 20);
    /* A value byte in the middle block, and in the last: the checker finds
     * them at the block's CRC, after the loader took the blocks before. */
    const int ks[] = {(int)blocks / 2, (int)blocks - 1};
    for (int i = 0; i < 2; i++) {
        size_t at = block_at(b.data, ks[i]);
        char why[96];
        snprintf(why, sizeof why, "at offset %zu: block %d CRC mismatch", at + 12, ks[i]);
        expect_refused(&b, at + 16 + 60, 0x10, why);
    }
    expect_refused(&b, b.len - 2, 0x01, "file CRC mismatch");
    expect_refused(&b, 17, 0x01, "header CRC mismatch");
    free(b.data);
}

Test(snap_load, the_threaded_load_stops_when_the_loader_refuses_a_record)
{
    /* A JSON-typed record whose key is no canonical JSON text, in block 9
     * with every CRC right: the loader refuses it; the checker thread stops. */
    struct snap_membuf b = string_image(12000, 77);
    size_t at = block_at(b.data, 9) + 16;
    b.data[at] = 0; /* the first record's type: JSON */
    le_put32(b.data + block_at(b.data, 9) + 12,
             crc32c(b.data + at, le_get32(b.data + block_at(b.data, 9) + 4)));
    le_put32(b.data + b.len - 4, crc32c(b.data, b.len - 4));
    struct kv_store *s = store_with_one_key();
    cr_assert_neq(kv_restore(s, b.data, b.len, NULL, NULL), 0);
    expect_unchanged(s);
    struct kv_loader *l = kv_loader_new(true);
    cr_assert_eq(kv_loader_load(l, b.data, b.len), -1);
    cr_assert_not_null(strstr(kv_loader_error(l), "refused"), "%s", kv_loader_error(l));
    kv_loader_free(l);
    kv_store_free(s);
    free(b.data);
}

Test(snap_load, a_truncated_large_image_is_refused)
{
    struct snap_membuf b = string_image(12000, 77);
    size_t cuts[] = {block_at(b.data, 10), block_at(b.data, 10) + 100, b.len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        struct kv_store *s = store_with_one_key();
        cr_assert_neq(kv_restore(s, b.data, cuts[i], NULL, NULL), 0, "cut at %zu", cuts[i]);
        expect_unchanged(s);
        kv_store_free(s);
    }
    free(b.data);
}

/* Start-up: open checks the header only; the replica's load_snapshot maps
 * the file and loads it, refusing damage with the file and offset. */
Test(snap_load, start_up_loads_the_mapped_file_and_refuses_a_damaged_block)
{
    char dir[256];
    tsu_make_dir(dir, sizeof dir);
    struct raft_restore r;
    struct storage *s = tsu_open(dir, &r, NULL);
    struct snap_membuf b = string_image(12000, 50);
    cr_assert_eq(storage_save_snapshot(s, 50, 3, b.data, b.len), STORAGE_OK);
    storage_close(s);

    s = tsu_open(dir, &r, NULL);
    cr_assert_eq(r.snap_index, 50);
    struct replica_log_store store;
    storage_replica_log_store(s, &store);
    struct kv_store *kv = kv_store_new();
    cr_assert_eq(store.load_snapshot(store.impl, kv), STORAGE_OK, "%s", storage_error(s));
    cr_assert_eq(kv_store_size(kv), 12000);
    expect_get(kv, 6543);
    kv_store_free(kv);
    storage_close(s);

    char path[512];
    snprintf(path, sizeof path, "%s/snap-%020d.snap", dir, 50);
    size_t at = block_at(b.data, 7);
    tsu_xor_byte(path, (off_t)(at + 16 + 200), 0x08);
    s = tsu_open(dir, &r, NULL); /* the header is whole */
    storage_replica_log_store(s, &store);
    kv = store_with_one_key();
    cr_assert_eq(store.load_snapshot(store.impl, kv), STORAGE_ERR_CORRUPT);
    char want[160];
    snprintf(want, sizeof want, "snap-%020d.snap: corrupt snapshot at offset %zu: block 7 CRC mismatch", 50,
             at + 12);
    cr_assert_not_null(strstr(storage_error(s), want), "'%s', want '%s'", storage_error(s), want);
    expect_unchanged(kv);
    kv_store_free(kv);
    storage_close(s);

    /* A file whose name says another index than its header is refused at
     * the open. */
    char renamed[512];
    snprintf(renamed, sizeof renamed, "%s/snap-%020d.snap", dir, 51);
    cr_assert_eq(rename(path, renamed), 0);
    struct storage *bad = NULL;
    char err[512] = "";
    cr_assert_eq(storage_open(dir, NULL, &bad, &r, err, sizeof err), STORAGE_ERR_CORRUPT);
    cr_assert_not_null(strstr(err, "at offset 8: index 50 does not match the name"), "%s", err);
    cr_assert_eq(rename(renamed, path), 0);

    /* A damaged header refuses the open itself. */
    tsu_xor_byte(path, (off_t)(at + 16 + 200), 0x08);
    tsu_xor_byte(path, 20, 0x01);
    cr_assert_eq(storage_open(dir, NULL, &bad, &r, err, sizeof err), STORAGE_ERR_CORRUPT);
    cr_assert_not_null(strstr(err, "header CRC mismatch"), "%s", err);
    free(b.data);
    tsu_remove_dir(dir);
}
