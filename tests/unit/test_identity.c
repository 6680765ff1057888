/* test_identity.c - the data directory's identity record (src/storage/
 * identity.c): its exact bytes, a round trip through a file, damage of
 * every kind detected, and each way a start can differ from the record. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/crc32c.h"
#include "storage/identity.h"

static char dir[] = "/tmp/raftkv-identity-XXXXXX";

static void setup(void)
{
    strcpy(dir, "/tmp/raftkv-identity-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(identity, .init = setup, .fini = teardown);

static void make(struct identity *id, const char *name, const char *a, const char *b, const char *c)
{
    const char *m[3] = {a, b, c};
    cr_assert_eq(identity_init(id, name, m, c ? 3 : b ? 2 : 1), 0);
}

static const uint8_t ID[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                               0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10};

Test(identity, the_record_is_readable_text_with_a_checksum)
{
    struct identity id;
    make(&id, "n2", "n3", "n1", "n2"); /* members sorted */
    char buf[512];
    int n = identity_encode(&id, buf, sizeof buf);
    const char *body = "raftkv-identity 1\nname n2\nmembers n1 n2 n3\ncluster_id -\n";
    char want[512];
    snprintf(want, sizeof want, "%scrc32c %08x\n", body, crc32c(body, strlen(body)));
    cr_assert_eq(n, (int)strlen(want));
    cr_assert_str_eq(buf, want);

    id.has_cluster_id = true;
    memcpy(id.cluster_id, ID, 16);
    n = identity_encode(&id, buf, sizeof buf);
    cr_assert_gt(n, 0);
    cr_assert(strstr(buf, "\ncluster_id 0123456789abcdeffedcba9876543210\n"), "%s", buf);
}

Test(identity, a_record_round_trips_through_its_file)
{
    struct identity id, back;
    char err[256];
    make(&id, "n1", "n1", "n2", "n3");
    cr_assert_eq(identity_read(dir, &back, err, sizeof err), IDENTITY_MISSING);
    cr_assert_eq(identity_write(dir, &id, err, sizeof err), IDENTITY_OK, "%s", err);
    cr_assert_eq(identity_read(dir, &back, err, sizeof err), IDENTITY_OK, "%s", err);
    cr_assert_str_eq(back.name, "n1");
    cr_assert_eq(back.n_members, 3);
    cr_assert_str_eq(back.members[0], "n1");
    cr_assert_str_eq(back.members[2], "n3");
    cr_assert(!back.has_cluster_id);

    id.has_cluster_id = true;
    memcpy(id.cluster_id, ID, 16);
    cr_assert_eq(identity_write(dir, &id, err, sizeof err), IDENTITY_OK, "%s", err);
    cr_assert_eq(identity_read(dir, &back, err, sizeof err), IDENTITY_OK, "%s", err);
    cr_assert(back.has_cluster_id);
    cr_assert_eq(memcmp(back.cluster_id, ID, 16), 0);
    char path[256];
    snprintf(path, sizeof path, "%s/identity.tmp", dir);
    cr_assert_neq(access(path, F_OK), 0, "the temp file is renamed away");
}

Test(identity, names_with_any_bytes_round_trip)
{
    struct identity id, back;
    char err[256];
    make(&id, "a b%c", "a b%c", "x\ty", "z=1");
    char buf[512];
    int n = identity_encode(&id, buf, sizeof buf);
    cr_assert_gt(n, 0);
    cr_assert(strstr(buf, "name a%20b%25c\n"), "%s", buf);
    cr_assert_eq(identity_decode(buf, (size_t)n, &back, err, sizeof err), IDENTITY_OK, "%s", err);
    cr_assert_str_eq(back.name, "a b%c");
    cr_assert_str_eq(back.members[0], "a b%c");
    cr_assert_str_eq(back.members[1], "x\ty");
    cr_assert_str_eq(back.members[2], "z=1");
}

static void write_raw(const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/identity", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

Test(identity, every_damaged_byte_and_every_truncation_is_detected)
{
    struct identity id, back;
    char err[256], buf[512];
    make(&id, "n1", "n1", "n2", "n3");
    id.has_cluster_id = true;
    memcpy(id.cluster_id, ID, 16);
    int n = identity_encode(&id, buf, sizeof buf);
    for (int i = 0; i < n; i++) {
        char bad[512];
        memcpy(bad, buf, (size_t)n);
        bad[i] ^= 0x04;
        cr_assert_eq(identity_decode(bad, (size_t)n, &back, err, sizeof err), IDENTITY_CORRUPT,
                     "byte %d flipped was accepted", i);
    }
    for (int k = 0; k < n; k++)
        cr_assert_eq(identity_decode(buf, (size_t)k, &back, err, sizeof err), IDENTITY_CORRUPT,
                     "a record cut to %d bytes was accepted", k);
    /* Through the file: the error names the file and says what is wrong. */
    buf[20] ^= 1;
    buf[n] = '\0';
    write_raw(buf);
    cr_assert_eq(identity_read(dir, &back, err, sizeof err), IDENTITY_CORRUPT);
    cr_assert(strstr(err, "/identity: "), "%s", err);
    cr_assert(strstr(err, "checksum mismatch"), "%s", err);
}

Test(identity, another_format_version_is_refused)
{
    const char *body = "raftkv-identity 2\nname n1\nmembers n1\ncluster_id -\n";
    char text[256];
    snprintf(text, sizeof text, "%scrc32c %08x\n", body, crc32c(body, strlen(body)));
    struct identity back;
    char err[256];
    cr_assert_eq(identity_decode(text, strlen(text), &back, err, sizeof err), IDENTITY_CORRUPT);
    cr_assert(strstr(err, "version"), "%s", err);
}

Test(identity, a_valid_checksum_over_bad_contents_is_refused)
{
    const char *bodies[] = {
        "raftkv-identity 1\nname n1\nmembers n2 n1\ncluster_id -\n",  /* not sorted */
        "raftkv-identity 1\nname n1\nmembers n1 n1\ncluster_id -\n",  /* duplicate */
        "raftkv-identity 1\nname n1\nmembers n1\ncluster_id 00000000000000000000000000000000\n",
        "raftkv-identity 1\nname n1\nmembers n1\ncluster_id 0123\n",
        "raftkv-identity 1\nname n1\nmembers n1\n",
        "raftkv-identity 1\nname n1\nmembers n1\ncluster_id -\nextra 1\n",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        char text[256];
        snprintf(text, sizeof text, "%scrc32c %08x\n", bodies[i], crc32c(bodies[i], strlen(bodies[i])));
        struct identity back;
        char err[256];
        cr_assert_eq(identity_decode(text, strlen(text), &back, err, sizeof err), IDENTITY_CORRUPT,
                     "body %zu accepted", i);
    }
}

Test(identity, each_mismatch_is_told_apart)
{
    struct identity rec, given;
    make(&rec, "n1", "n1", "n2", "n3");
    make(&given, "n1", "n3", "n2", "n1"); /* another order: the same */
    cr_assert_eq(identity_check(&rec, &given), 0);
    given.has_cluster_id = true; /* the id is not part of this check */
    memcpy(given.cluster_id, ID, 16);
    cr_assert_eq(identity_check(&rec, &given), 0);

    make(&given, "n2", "n1", "n2", "n3");
    cr_assert_eq(identity_check(&rec, &given), -4); /* IDENTITY_NAME_DIFFERS */
    make(&given, "n1", "n1", NULL, NULL);
    cr_assert_eq(identity_check(&rec, &given), -5); /* IDENTITY_MEMBERS_DIFFER: fewer */
    make(&given, "n1", "n1", "n2", "n4");
    cr_assert_eq(identity_check(&rec, &given), -5); /* another member */
    const char *four[4] = {"n1", "n2", "n3", "n4"};
    cr_assert_eq(identity_init(&given, "n1", four, 4), 0);
    cr_assert_eq(identity_check(&rec, &given), -5); /* one more */
    cr_assert_eq(IDENTITY_NAME_DIFFERS, -4);
    cr_assert_eq(IDENTITY_MEMBERS_DIFFER, -5);

    const char *dup[2] = {"n1", "n1"};
    cr_assert_eq(identity_init(&given, "n1", dup, 2), -1);
    char text[64];
    identity_members_text(&rec, text, sizeof text);
    cr_assert_str_eq(text, "n1,n2,n3");
}
