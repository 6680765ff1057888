/* fuzz_snapshot.c - loading a snapshot: the file at start-up
 * (src/storage/snapshot.c snapshot_load, which checks its header with
 * src/storage/snap_reader.c) and the image streamed into a map
 * (src/kv/snapshot.c, the kv loader), and given whole (kv_loader_load:
 * from 1 MiB on a second thread checks the CRCs; below, the same reader
 * reads each piece in place).
 *
 * Input: one control byte, then a snapshot file (snap_format.h). Control
 * bit 0 first fixes every CRC the bytes reach (header, each block, the
 * file's), so the input reaches the records; bits 1-3 choose the piece size
 * the loader is fed in (1, 2, 3, 7, 16, 64, 4096 bytes or all at once).
 * The file is named after the index its header holds. Properties: a file
 * the checking loader takes passes start-up's header check; the building
 * loader gives the same verdict in pieces of any size and given whole (and
 * the same map); a file that loads has the header's index and term; an image the
 * loader takes gives a map that snapshots and loads back equal, with its
 * hash key, and without it as a backup's image (KV_SNAP_NO_MAP_KEY). */
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "kv/kv.h"
#include "storage/crc32c.h"
#include "storage/le.h"
#include "storage/snap_format.h"
#include "storage/snap_writer.h"
#include "storage/snapshot.h"

static void quiet(void *ctx, const char *line)
{
    (void)ctx;
    (void)line;
}

/* Recompute every CRC as far as the structure parses. */
static void fix_crcs(uint8_t *b, size_t len)
{
    if (len < SNAP_HEADER_FIXED)
        return;
    uint64_t at = SNAP_HEADER_FIXED + (uint64_t)le_get32(b + 36);
    if (at + 4 > len)
        return;
    le_put32(b + at, crc32c(b, at));
    at += 4;
    while (at + 4 <= len) {
        uint32_t tag = le_get32(b + at);
        if (tag == SNAP_BLOCK_TAG && at + SNAP_BLOCK_HEAD <= len) {
            uint64_t plen = le_get32(b + at + 4);
            if (at + SNAP_BLOCK_HEAD + plen > len)
                return;
            le_put32(b + at + 12, crc32c(b + at + SNAP_BLOCK_HEAD, plen));
            at += SNAP_BLOCK_HEAD + plen;
        } else if (tag == SNAP_END_TAG && at + SNAP_TRAILER_BYTES <= len) {
            le_put32(b + at + 20, crc32c(b, at + 20));
            return;
        } else {
            return;
        }
    }
}

/* Feed the loader in pieces of `piece` bytes (0: all at once). */
static int load(struct kv_store *into, const uint8_t *b, size_t len, size_t piece,
                uint64_t *index, uint64_t *term)
{
    struct kv_loader *l = kv_loader_new(into != NULL);
    FUZZ_CHECK(l != NULL);
    int rc = 0;
    for (size_t at = 0; rc == 0 && at < len;) {
        size_t n = piece && len - at > piece ? piece : len - at;
        rc = kv_loader_feed(l, b + at, n);
        at += n;
    }
    if (rc == 0)
        rc = kv_loader_finish(l, into, index, term);
    FUZZ_CHECK(rc == 0 || kv_loader_error(l)[0] != '\0');
    kv_loader_free(l);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const size_t pieces[8] = {0, 1, 2, 3, 7, 16, 64, 4096};
    uint8_t ctl = data[0];
    size_t len = size - 1;
    uint8_t *buf = malloc(len ? len : 1);
    FUZZ_CHECK(buf != NULL);
    memcpy(buf, data + 1, len);
    if (ctl & 1)
        fix_crcs(buf, len);
    uint64_t index = len >= 16 ? le_get64(buf + 8) : 1;

    const char *dir;
    int dirfd = fuzz_scratch_dir(&dir);
    char name[64];
    snapshot_name(name, sizeof name, index);
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(write(fd, buf, len) == (ssize_t)len);
    close(fd);

    struct sio io = {0};
    uint64_t got_index, got_term, file_bytes;
    char err[512];
    int rc = snapshot_load(&io, dirfd, dir, quiet, NULL, &got_index, &got_term, &file_bytes, err,
                           sizeof err);
    FUZZ_CHECK(rc == 0 || rc == -2);
    if (rc == 0) {
        FUZZ_CHECK(got_index == index && got_term == le_get64(buf + 16) && file_bytes == len);
    }

    /* The store's check and a checking loader agree on the file's form;
     * the loader may refuse records the file check does not decode. */
    uint64_t li = 0, lt = 0;
    int checked = load(NULL, buf, len, 0, &li, &lt);
    if (checked == 0)
        FUZZ_CHECK(rc == 0 && li == got_index && lt == got_term);

    struct kv_store *s = kv_store_new();
    FUZZ_CHECK(s != NULL);
    int built = load(s, buf, len, pieces[(ctl >> 1) & 7], NULL, NULL);
    /* Given whole: the same verdict. */
    {
        struct kv_store *w = kv_store_new();
        FUZZ_CHECK(w != NULL);
        struct kv_loader *l = kv_loader_new(true);
        FUZZ_CHECK(l != NULL);
        int whole = kv_loader_load(l, buf, len) == 0 && kv_loader_finish(l, w, NULL, NULL) == 0 ? 0 : -1;
        kv_loader_free(l);
        FUZZ_CHECK(whole == built);
        FUZZ_CHECK(whole != 0 || kv_store_equal(s, w));
        kv_store_free(w);
    }
    if (built == 0) {
        FUZZ_CHECK(rc == 0 && checked == 0);
        uint8_t *img;
        size_t img_len;
        FUZZ_CHECK(kv_snapshot(s, li, lt, &img, &img_len) == 0);
        struct kv_store *t = kv_store_new();
        FUZZ_CHECK(t != NULL);
        uint64_t bi = 0, bt = 0;
        FUZZ_CHECK(kv_restore(t, img, img_len, &bi, &bt) == 0);
        FUZZ_CHECK(bi == li && bt == lt && kv_store_equal(s, t));
        FUZZ_CHECK(kv_has_map_key(t) == kv_has_map_key(s));
        free(img);
        kv_store_free(t);
        /* A backup's image: the same state without the hash key. */
        struct snap_membuf nokey = {0};
        FUZZ_CHECK(kv_snapshot_write_flags(s, li, lt, KV_SNAP_NO_MAP_KEY, snap_membuf_sink, &nokey) == 0);
        t = kv_store_new();
        FUZZ_CHECK(t != NULL);
        FUZZ_CHECK(kv_restore(t, nokey.data, nokey.len, &bi, &bt) == 0);
        FUZZ_CHECK(bi == li && bt == lt && kv_store_equal(s, t) && !kv_has_map_key(t));
        FUZZ_CHECK(memmem(nokey.data, nokey.len, "map_key", 7) == NULL);
        free(nokey.data);
        kv_store_free(t);
    } else {
        uint8_t id[16];
        /* a refused image changes nothing */
        FUZZ_CHECK(kv_store_size(s) == 0 && !kv_cluster_id(s, id));
    }
    kv_store_free(s);
    free(buf);
    fuzz_scratch_clear();
    return 0;
}
