/* test_storage_util.h - shared fixtures for the storage tests: temporary data
 * directories, entry builders, a recovery-log capture and file surgery to
 * fake crashes and disk damage. Header-only so each test file stays whole.
 */
#ifndef RAFTKV_TEST_STORAGE_UTIL_H
#define RAFTKV_TEST_STORAGE_UTIL_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kv/kv.h"
#include "storage/storage.h"

/* A valid snapshot image (snap_format.h) saying (index, term), whose map
 * holds the one key "tag" with the value `tag`, so a test can tell which
 * image a store kept. malloc'd. */
static inline uint8_t *tsu_image(raft_index index, raft_term term, const char *tag, size_t *len)
{
    struct kv_store *kv = kv_store_new();
    json_t *k = json_string("tag"), *v = json_string(tag);
    struct kv_command c = {.op = KV_WRITE, .key = k, .value = v};
    struct kv_result res;
    kv_apply(kv, &c, 0, &res);
    json_decref(k);
    json_decref(v);
    uint8_t *data;
    cr_assert_eq(kv_snapshot(kv, index, term, &data, len), 0);
    kv_store_free(kv);
    return data;
}

static inline int tsu_save_snapshot(struct storage *s, raft_index index, raft_term term,
                                    const char *tag)
{
    size_t len;
    uint8_t *data = tsu_image(index, term, tag, &len);
    int rc = storage_save_snapshot(s, index, term, data, len);
    free(data);
    return rc;
}

/* The tag of the image the store holds ("" if it cannot be read). */
static inline void tsu_snapshot_tag(struct storage *s, char *buf, size_t n)
{
    uint8_t *data;
    size_t len;
    buf[0] = '\0';
    if (storage_snapshot_read(s, &data, &len) != STORAGE_OK)
        return;
    struct kv_store *kv = kv_store_new();
    if (kv_restore(kv, data, len, NULL, NULL) == 0) {
        json_t *k = json_string("tag");
        struct kv_command c = {.op = KV_READ, .key = k};
        struct kv_result res;
        kv_apply(kv, &c, 0, &res);
        if (res.code == KV_OK && json_is_string(res.value))
            snprintf(buf, n, "%s", json_string_value(res.value));
        json_decref(res.value);
        json_decref(k);
    }
    kv_store_free(kv);
    free(data);
}

/* A fresh directory under /tmp; the path to the store inside it. */
static inline void tsu_make_dir(char *out, size_t n)
{
    char tmpl[] = "/tmp/raftkv-storage-XXXXXX";
    cr_assert_not_null(mkdtemp(tmpl));
    snprintf(out, n, "%s/data", tmpl);
}

static inline void tsu_remove_dir(const char *data_dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%.*s'", (int)(strrchr(data_dir, '/') - data_dir), data_dir);
    (void)!system(cmd);
}

/* Entry `index` of term `term` whose payload says which entry it is, so a
 * test can tell an entry restored from the right write from a stale one. */
struct tsu_entries {
    struct raft_entry e[512];
    char payload[512][48];
};

static inline void tsu_fill(struct tsu_entries *t, size_t slot, raft_index index, raft_term term)
{
    int len = snprintf(t->payload[slot], sizeof t->payload[slot], "entry %" PRIu64 " term %" PRIu64,
                       index, term);
    t->e[slot] = (struct raft_entry){.term = term,
                                     .index = index,
                                     .type = RAFT_ENTRY_COMMAND,
                                     .len = (uint32_t)len,
                                     .data = (uint8_t *)t->payload[slot]};
}

/* Append entries [first, last] all of `term`, in one call. */
static inline void tsu_append_range(struct storage *s, raft_index first, raft_index last,
                                    raft_term term)
{
    static struct tsu_entries t;
    cr_assert_leq(last - first + 1, 512);
    for (raft_index i = first; i <= last; i++)
        tsu_fill(&t, i - first, i, term);
    int rc = storage_append(s, t.e, last - first + 1);
    cr_assert_eq(rc, STORAGE_OK, "append %" PRIu64 "..%" PRIu64 ": %s", first, last,
                 storage_error(s));
}

/* Assert the restored entry at position i is (index, term) with its payload. */
static inline void tsu_expect_entry(const struct raft_restore *r, size_t i, raft_index index,
                                    raft_term term)
{
    cr_assert_lt(i, r->n_entries);
    const struct raft_entry *e = &r->entries[i];
    char want[48];
    int len = snprintf(want, sizeof want, "entry %" PRIu64 " term %" PRIu64, index, term);
    cr_assert_eq(e->index, index, "entry %zu: index %" PRIu64 ", want %" PRIu64, i, e->index,
                 index);
    cr_assert_eq(e->term, term, "entry %zu: term %" PRIu64 ", want %" PRIu64, i, e->term, term);
    cr_assert_eq(e->len, (uint32_t)len);
    cr_assert_eq(memcmp(e->data, want, (size_t)len), 0, "entry %zu payload differs", i);
}

/* Recovery log capture. */
struct tsu_log {
    char text[4096];
    int lines;
};

static inline void tsu_log_line(void *ctx, const char *line)
{
    struct tsu_log *l = ctx;
    size_t used = strlen(l->text);
    snprintf(l->text + used, sizeof l->text - used, "%s\n", line);
    l->lines++;
}

static inline struct storage *tsu_open(const char *dir, struct raft_restore *r,
                                       struct storage_options *o)
{
    struct storage *s = NULL;
    char err[512] = "";
    int rc = storage_open(dir, o, &s, r, err, sizeof err);
    cr_assert_eq(rc, STORAGE_OK, "storage_open(%s): %s", dir, err);
    cr_assert_not_null(s);
    return s;
}

/* A fresh directory holding entries 1..3 of term 1 in a closed store, so that
 * a test's open writes nothing (no new file or name to sync) and counted
 * system calls and faults start at the calls under test. */
static inline void tsu_make_seeded_dir(char *out, size_t n)
{
    tsu_make_dir(out, n);
    struct raft_restore r;
    struct storage *s = tsu_open(out, &r, NULL);
    tsu_append_range(s, 1, 3, 1);
    storage_close(s);
}

/* The path of the segment with the highest first index (k = 0), or of the
 * k-th newest one. */
static inline void tsu_segment_path(const char *dir, int k, char *out, size_t n)
{
    char names[256][64];
    int count = 0;
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strncmp(de->d_name, "wal-", 4) == 0 && count < 256)
            snprintf(names[count++], sizeof names[0], "%.63s", de->d_name);
    closedir(d);
    cr_assert_gt(count, k, "only %d segments", count);
    qsort(names, (size_t)count, sizeof names[0], (int (*)(const void *, const void *))strcmp);
    snprintf(out, n, "%s/%s", dir, names[count - 1 - k]);
}

static inline int tsu_count_files(const char *dir, const char *prefix)
{
    int count = 0;
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
            count++;
    closedir(d);
    return count;
}

static inline off_t tsu_file_size(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "stat %s", path);
    return st.st_size;
}

/* Flip the bits of `mask` in the byte at `off` (negative: from the end). */
static inline void tsu_xor_byte(const char *path, off_t off, uint8_t mask)
{
    int fd = open(path, O_RDWR);
    cr_assert_geq(fd, 0);
    if (off < 0)
        off += tsu_file_size(path);
    uint8_t b;
    cr_assert_eq(pread(fd, &b, 1, off), 1);
    b ^= mask;
    cr_assert_eq(pwrite(fd, &b, 1, off), 1);
    close(fd);
}

static inline void tsu_append_bytes(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_APPEND);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static inline void tsu_truncate(const char *path, off_t len)
{
    cr_assert_eq(truncate(path, len), 0);
}

#endif
