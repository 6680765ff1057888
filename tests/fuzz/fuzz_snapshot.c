/* fuzz_snapshot.c - loading a snapshot at start-up: the file
 * (src/storage/snapshot.c snapshot_load) and the image in it
 * (src/kv/snapshot.c kv_restore).
 *
 * Input: one control byte, then a snapshot file (36-byte header, image).
 * Control bit 0 first makes the header consistent (magic, version, length,
 * CRC), so the image reaches kv_restore; the file is named after the index
 * its header holds. Properties: a file that loads has the header's index and
 * term and the rest of the file as its image; an image that restores
 * snapshots to bytes that restore and snapshot to the same bytes. */
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "kv/kv.h"
#include "storage/crc32c.h"
#include "storage/le.h"
#include "storage/snapshot.h"

#define HEADER 36

static void quiet(void *ctx, const char *line)
{
    (void)ctx;
    (void)line;
}

static void restore_round_trip(const uint8_t *image, size_t len)
{
    struct kv_store *s = kv_store_new();
    FUZZ_CHECK(s != NULL);
    if (kv_restore(s, image, len) == 0) {
        uint8_t *a, *b;
        size_t alen, blen;
        FUZZ_CHECK(kv_snapshot(s, &a, &alen) == 0);
        struct kv_store *t = kv_store_new();
        FUZZ_CHECK(t != NULL);
        FUZZ_CHECK(kv_restore(t, a, alen) == 0);
        FUZZ_CHECK(kv_store_size(t) == kv_store_size(s));
        FUZZ_CHECK(kv_snapshot(t, &b, &blen) == 0);
        FUZZ_CHECK(alen == blen && memcmp(a, b, alen) == 0);
        free(a);
        free(b);
        kv_store_free(t);
    } else {
        FUZZ_CHECK(kv_store_size(s) == 0); /* a refused image changes nothing */
    }
    kv_store_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t ctl = data[0];
    size_t len = size - 1;
    uint8_t *buf = malloc(len ? len : 1);
    FUZZ_CHECK(buf != NULL);
    memcpy(buf, data + 1, len);
    if ((ctl & 1) && len >= HEADER) {
        le_put32(buf, 0x50414e53u); /* "SNAP" */
        le_put32(buf + 4, 1);
        le_put64(buf + 24, len - HEADER);
        le_put32(buf + 32, crc32c_extend(crc32c(buf, 32), buf + HEADER, len - HEADER));
    }
    uint64_t index = len >= 16 ? le_get64(buf + 8) : 1;

    const char *dir;
    int dirfd = fuzz_scratch_dir(&dir);
    char name[64];
    snprintf(name, sizeof name, "snap-%020" PRIu64 ".snap", index);
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(write(fd, buf, len) == (ssize_t)len);
    close(fd);

    struct sio io = {0};
    uint64_t got_index, term, file_bytes;
    uint8_t *image;
    size_t image_len;
    char err[512];
    int rc = snapshot_load(&io, dirfd, dir, quiet, NULL, &got_index, &term, &image, &image_len,
                           &file_bytes, err, sizeof err);
    FUZZ_CHECK(rc == 0 || rc == -2);
    if (rc == 0) {
        FUZZ_CHECK(len >= HEADER && got_index == index && term == le_get64(buf + 16));
        FUZZ_CHECK(image_len == len - HEADER && file_bytes == len);
        FUZZ_CHECK(image_len == 0 || memcmp(image, buf + HEADER, image_len) == 0);
        restore_round_trip(image, image_len);
        free(image);
    }
    free(buf);
    fuzz_scratch_clear();
    return 0;
}
