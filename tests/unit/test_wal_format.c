/* test_wal_format.c - the checksum and the record format: CRC-32C matches
 * the published test vectors, and every single-bit flip anywhere in a record
 * is detected, so no damage is ever replayed as an entry. */
#include <criterion/criterion.h>
#include <string.h>

#include "storage/crc32c.h"
#include "storage/le.h"
#include "storage/wal_format.h"

Test(wal_format, crc32c_matches_the_rfc_3720_test_vectors)
{
    uint8_t buf[32];
    memset(buf, 0, sizeof buf);
    cr_assert_eq(crc32c(buf, 32), 0x8A9136AAu);
    memset(buf, 0xff, sizeof buf);
    cr_assert_eq(crc32c(buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)i;
    cr_assert_eq(crc32c(buf, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)(31 - i);
    cr_assert_eq(crc32c(buf, 32), 0x113FDB5Cu);
    cr_assert_eq(crc32c("123456789", 9), 0xE3069283u);
}

Test(wal_format, crc32c_can_be_computed_in_pieces_at_any_split)
{
    uint8_t buf[100];
    for (int i = 0; i < 100; i++)
        buf[i] = (uint8_t)(i * 37 + 11);
    uint32_t whole = crc32c(buf, sizeof buf);
    for (size_t cut = 0; cut <= sizeof buf; cut++)
        cr_assert_eq(crc32c_extend(crc32c(buf, cut), buf + cut, sizeof buf - cut), whole,
                     "split at %zu", cut);
}

Test(wal_format, crc32c_hardware_and_table_paths_agree_at_every_length_and_alignment)
{
    uint8_t buf[64];
    for (int i = 0; i < 64; i++)
        buf[i] = (uint8_t)(i * 91 + 5);
    for (size_t at = 0; at < 8; at++)
        for (size_t len = 0; at + len <= sizeof buf; len++)
            cr_assert_eq(crc32c_extend(0x1234u, buf + at, len),
                         crc32c_extend_table(0x1234u, buf + at, len), "at %zu, %zu bytes", at, len);
}

/* Files written before must still read: the record CRC of known records, as
 * the format has always computed it (len, then header after the CRC field,
 * then data). */
Test(wal_format, record_checksums_keep_their_on_disk_values)
{
    uint8_t payload[150];
    for (int i = 0; i < 150; i++)
        payload[i] = (uint8_t)('a' + i % 26);
    const uint32_t want[] = {0x158D2820u, 0x6BC68D58u, 0xF884776Bu};
    for (unsigned k = 0; k < 3; k++) {
        struct raft_entry e = {.term = 5, .index = 1000001, .type = 0, .len = 75 * k, .data = payload};
        uint8_t buf[WAL_RECORD_HEADER + 150];
        wal_encode_record(buf, &e);
        cr_assert_eq(le_get32(buf + 4), want[k], "len %u", e.len);
        struct wal_record r;
        cr_assert_null(wal_decode_record(buf, WAL_RECORD_HEADER + e.len, 0, &r));
    }
}

Test(wal_format, a_record_decodes_to_what_was_encoded)
{
    uint8_t payload[] = "set x = 1";
    struct raft_entry e = {.term = 7, .index = 123456789012ull, .type = 1, .len = 9, .data = payload};
    uint8_t buf[WAL_RECORD_HEADER + 9];
    wal_encode_record(buf, &e);
    struct wal_record r;
    cr_assert_null(wal_decode_record(buf, sizeof buf, 0, &r));
    cr_assert_eq(r.term, 7);
    cr_assert_eq(r.index, 123456789012ull);
    cr_assert_eq(r.type, 1);
    cr_assert_eq(r.len, 9);
    cr_assert_eq(memcmp(r.data, payload, 9), 0);
}

Test(wal_format, every_single_bit_flip_in_a_record_is_detected)
{
    uint8_t payload[40];
    for (int i = 0; i < 40; i++)
        payload[i] = (uint8_t)(i * 7);
    struct raft_entry e = {.term = 3, .index = 42, .type = 1, .len = 40, .data = payload};
    uint8_t good[WAL_RECORD_HEADER + 40], bad[sizeof good];
    wal_encode_record(good, &e);
    for (size_t bit = 0; bit < 8 * sizeof good; bit++) {
        memcpy(bad, good, sizeof good);
        bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        struct wal_record r;
        cr_assert_not_null(wal_decode_record(bad, sizeof bad, 0, &r), "flip of bit %zu accepted",
                           bit);
    }
}

Test(wal_format, a_record_cut_anywhere_is_detected)
{
    uint8_t payload[20] = "twenty bytes payload";
    struct raft_entry e = {.term = 1, .index = 1, .type = 1, .len = 20, .data = payload};
    uint8_t buf[WAL_RECORD_HEADER + 20];
    wal_encode_record(buf, &e);
    for (size_t len = 0; len < sizeof buf; len++) {
        struct wal_record r;
        cr_assert_not_null(wal_decode_record(buf, len, 0, &r), "cut at %zu accepted", len);
    }
}

Test(wal_format, segment_names_sort_by_first_index)
{
    char a[WAL_NAME_MAX], b[WAL_NAME_MAX];
    wal_name(a, 9);
    wal_name(b, 10);
    cr_assert_str_eq(a, "wal-00000000000000000009.log");
    cr_assert_lt(strcmp(a, b), 0);
}

/* The CPU's crc32 instruction (when used) and the tables agree on every
 * length and alignment, and on the published vector. */
Test(wal_format, crc32c_hardware_and_table_paths_agree)
{
    uint8_t buf[301];
    for (int i = 0; i < 301; i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    cr_assert_eq(crc32c_extend_table(0, "123456789", 9), 0xE3069283u);
    for (size_t off = 0; off < 9; off++)
        for (size_t n = 0; n + off <= sizeof buf; n += 13)
            cr_assert_eq(crc32c_extend(0x1234u, buf + off, n), crc32c_extend_table(0x1234u, buf + off, n),
                         "offset %zu length %zu", off, n);
}
