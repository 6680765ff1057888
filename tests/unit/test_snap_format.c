/* test_snap_format.c - the snapshot file format (src/storage/snap_format.h):
 * a round trip through the streaming writer and reader, fed in pieces of
 * every size, and every kind of damage found and placed: a truncated block,
 * a bad block CRC, a bad file CRC, a bad header CRC, a wrong version, bad
 * magic, counts that disagree, bytes after the trailer. Offsets and field
 * values are literal (the layout is the on-disk contract). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/crc32c.h"
#include "storage/le.h"
#include "storage/snap_reader.h"
#include "storage/snap_writer.h"

struct seen {
    struct snap_header h;
    int headers;
    char meta[8][32];
    int n_meta;
    uint64_t records;
    uint64_t key_sum; /* over the record numbers encoded in the keys */
    uint64_t bad;     /* records whose fields do not match what was written */
};

static int on_header(void *ctx, const struct snap_header *h)
{
    struct seen *s = ctx;
    s->h = *h;
    s->headers++;
    return 0;
}

static int on_meta(void *ctx, const struct snap_meta *m)
{
    struct seen *s = ctx;
    if (s->n_meta < 8)
        snprintf(s->meta[s->n_meta++], 32, "%s=%.*s", m->name, (int)m->len, (const char *)m->value);
    return 0;
}

static int on_record(void *ctx, const struct snap_record *r)
{
    struct seen *s = ctx;
    char key[32];
    snprintf(key, sizeof key, "%.*s", (int)r->key_len, (const char *)r->key);
    unsigned long i = strtoul(key + 2, NULL, 10);
    s->key_sum += i;
    if (r->value_len != 100 + i % 7 || r->value[0] != (uint8_t)('a' + i % 26) ||
        r->expiry_ms != i * 3 || r->version != i + 1 || r->type != 0)
        s->bad++;
    s->records++;
    return 0;
}

static const struct snap_reader_ops ops = {.header = on_header, .meta = on_meta, .record = on_record};

/* A file of n records (keys "k:<i>", values of 100 + i % 7 bytes). */
static struct snap_membuf make_file(uint64_t n)
{
    struct snap_membuf b = {0};
    struct snap_writer w;
    const struct snap_meta meta[] = {{.name = "cluster_id", .value = (const uint8_t *)"c-42", .len = 4},
                                     {.name = "empty", .value = NULL, .len = 0}};
    cr_assert_eq(snap_writer_begin(&w, snap_membuf_sink, &b, 1234, 7, n, meta, 2), 0);
    uint8_t value[128];
    for (uint64_t i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "k:%llu", (unsigned long long)i);
        memset(value, 'a' + (int)(i % 26), sizeof value);
        struct snap_record r = {.key = (const uint8_t *)key, .key_len = (uint32_t)strlen(key),
                                .value = value, .value_len = (uint32_t)(100 + i % 7),
                                .expiry_ms = i * 3, .version = i + 1};
        cr_assert_eq(snap_writer_add(&w, &r), 0);
    }
    cr_assert_eq(snap_writer_end(&w), 0);
    return b;
}

/* Feed in pieces of `piece` bytes; the reader's verdict (0 or -1). */
static int read_file(const uint8_t *p, size_t len, size_t piece, struct seen *s, char *err,
                     size_t errlen)
{
    memset(s, 0, sizeof *s);
    struct snap_reader r;
    snap_reader_init(&r, &ops, s);
    int rc = 0;
    for (size_t at = 0; rc == 0 && at < len; at += piece)
        rc = snap_reader_feed(&r, p + at, len - at < piece ? len - at : piece);
    if (rc == 0)
        rc = snap_reader_finish(&r);
    snprintf(err, errlen, "%s", snap_reader_error(&r));
    snap_reader_free(&r);
    return rc;
}

Test(snap_format, round_trip_in_pieces_of_any_size)
{
    uint64_t n = 3000; /* about 400 KB: several 64 KiB blocks */
    struct snap_membuf b = make_file(n);
    /* The header as laid out on disk. */
    cr_assert_eq(memcmp(b.data, "RKVS", 4), 0);
    cr_assert_eq(le_get32(b.data + 4), 2);
    cr_assert_eq(le_get64(b.data + 8), 1234);
    cr_assert_eq(le_get64(b.data + 16), 7);
    cr_assert_eq(le_get64(b.data + 24), 3000);
    cr_assert_eq(le_get32(b.data + 32), 2);
    cr_assert_eq(memcmp(b.data + b.len - 24, "END1", 4), 0);
    cr_assert_eq(le_get32(b.data + b.len - 4), crc32c(b.data, b.len - 4));
    cr_assert_gt(le_get64(b.data + b.len - 20), 5, "blocks: %llu",
                 (unsigned long long)le_get64(b.data + b.len - 20));
    const size_t pieces[] = {1, 3, 17, 4096, 65536 + 5, b.len};
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
        struct seen s;
        char err[256];
        cr_assert_eq(read_file(b.data, b.len, pieces[i], &s, err, sizeof err), 0, "piece %zu: %s",
                     pieces[i], err);
        cr_assert_eq(s.headers, 1);
        cr_assert_eq(s.h.index, 1234);
        cr_assert_eq(s.h.term, 7);
        cr_assert_eq(s.records, 3000);
        cr_assert_eq(s.key_sum, 3000ull * 2999 / 2);
        cr_assert_eq(s.bad, 0);
        cr_assert_eq(s.n_meta, 2);
        cr_assert_str_eq(s.meta[0], "cluster_id=c-42");
        cr_assert_str_eq(s.meta[1], "empty=");
    }
    free(b.data);
}

Test(snap_format, an_empty_map_is_a_header_and_a_trailer)
{
    struct snap_membuf b = {0};
    struct snap_writer w;
    cr_assert_eq(snap_writer_begin(&w, snap_membuf_sink, &b, 5, 1, 0, NULL, 0), 0);
    cr_assert_eq(snap_writer_end(&w), 0);
    cr_assert_eq(b.len, 40 + 4 + 24);
    struct seen s;
    char err[256];
    cr_assert_eq(read_file(b.data, b.len, 7, &s, err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.records, 0);
    free(b.data);
}

Test(snap_format, the_writer_refuses_a_record_count_other_than_announced)
{
    struct snap_membuf b = {0};
    struct snap_writer w;
    cr_assert_eq(snap_writer_begin(&w, snap_membuf_sink, &b, 5, 1, 2, NULL, 0), 0);
    struct snap_record r = {.key = (const uint8_t *)"k", .key_len = 1};
    cr_assert_eq(snap_writer_add(&w, &r), 0);
    cr_assert_neq(snap_writer_end(&w), 0, "one record of two");
    free(b.data);
}

/* Damage `b` with f, then expect the reader to refuse with `why` found at
 * `at` (when at >= 0) for every piece size. */
static void expect_damage(struct snap_membuf *b, const char *why, long at)
{
    const size_t pieces[] = {1, 13, 65536, b->len};
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
        struct seen s;
        char err[256];
        cr_assert_eq(read_file(b->data, b->len, pieces[i], &s, err, sizeof err), -1,
                     "damage not found (%s)", why);
        cr_assert_not_null(strstr(err, why), "piece %zu: '%s', want '%s'", pieces[i], err, why);
        if (at >= 0) {
            char where[64];
            snprintf(where, sizeof where, "at offset %ld:", at);
            cr_assert_not_null(strstr(err, where), "'%s', want %s", err, where);
        }
    }
}

/* The offset of block k's head (k from 0). */
static size_t block_at(const struct snap_membuf *b, int k)
{
    size_t at = 40 + le_get32(b->data + 36) + 4;
    for (int i = 0; i < k; i++)
        at += 16 + le_get32(b->data + at + 4);
    return at;
}

Test(snap_format, a_truncated_file_is_refused_wherever_it_ends)
{
    struct snap_membuf b = make_file(2000);
    size_t full = b.len;
    size_t cuts[] = {0, 10, 40, 60, block_at(&b, 1) + 3, block_at(&b, 1) + 100, full - 24,
                     full - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        b.len = cuts[i];
        if (b.len == 0)
            continue; /* nothing fed: finish alone says it */
        expect_damage(&b, "truncated", -1);
    }
    b.len = full;
    free(b.data);
}

Test(snap_format, a_bad_block_crc_is_refused_at_that_block)
{
    struct snap_membuf b = make_file(2000);
    size_t at = block_at(&b, 2);
    b.data[at + 16 + 50] ^= 0x20; /* a byte of block 2's payload */
    char why[64];
    snprintf(why, sizeof why, "block 2 CRC mismatch");
    expect_damage(&b, why, (long)(at + 12));
    free(b.data);
}

Test(snap_format, a_bad_file_crc_is_refused_at_the_trailer)
{
    struct snap_membuf b = make_file(500);
    b.data[b.len - 1] ^= 0x01;
    expect_damage(&b, "file CRC mismatch", (long)(b.len - 4));
    free(b.data);
}

Test(snap_format, a_bad_header_crc_is_refused)
{
    struct snap_membuf b = make_file(10);
    b.data[17] ^= 0x01; /* the term */
    expect_damage(&b, "header CRC mismatch", -1);
    free(b.data);
}

Test(snap_format, a_wrong_version_or_magic_is_refused_before_anything_else)
{
    struct snap_membuf b = make_file(10);
    le_put32(b.data + 4, 3);
    expect_damage(&b, "unsupported format version 3", 4);
    le_put32(b.data + 4, 1);
    expect_damage(&b, "unsupported format version 1", 4);
    le_put32(b.data + 4, 2);
    b.data[0] = 'X';
    expect_damage(&b, "bad magic", 0);
    free(b.data);
}

Test(snap_format, counts_that_disagree_are_refused)
{
    /* The header announces one record more than the blocks hold. */
    struct snap_membuf b = make_file(10);
    le_put64(b.data + 24, 11);
    size_t h = 40 + le_get32(b.data + 36);
    le_put32(b.data + h, crc32c(b.data, h));
    le_put32(b.data + b.len - 4, crc32c(b.data, b.len - 4));
    expect_damage(&b, "trailer counts", -1);
    /* A block whose records overrun its payload. */
    le_put64(b.data + 24, 10);
    le_put32(b.data + h, crc32c(b.data, h));
    size_t at = block_at(&b, 0);
    le_put32(b.data + at + 8, le_get32(b.data + at + 8) + 1);
    expect_damage(&b, "ends inside record", -1);
    free(b.data);
}

Test(snap_format, bytes_after_the_trailer_are_refused)
{
    struct snap_membuf b = make_file(10);
    snap_membuf_sink(&b, "x", 1);
    expect_damage(&b, "after the trailer", (long)(b.len - 1));
    free(b.data);
}
