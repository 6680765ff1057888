/* fuzz_wal_record.c - reading the log back (src/storage/wal_format.c and
 * wal_recover.c): the record decoder over a buffer, then start-up recovery
 * of the same bytes as a segment file.
 *
 * Input: one control byte, then a segment file (24-byte header, records).
 * Control bit 0 rewrites the header's and every record's CRC first, so the
 * fuzzer gets past the checksums to the checks behind them; bits 2-5 pick
 * the snapshot recovery is reconciled with. The file is named after the
 * first index its header holds. Properties: a decoded record lies inside
 * the buffer; recovery that succeeds yields consecutive indexes after the
 * snapshot with terms that never decrease, and recovering again (after the
 * first recovery cut a torn tail) succeeds with the same entries. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "storage/crc32c.h"
#include "storage/le.h"
#include "storage/wal.h"
#include "storage/wal_format.h"

static void quiet(void *ctx, const char *line)
{
    (void)ctx;
    (void)line;
}

static void fix_crcs(uint8_t *buf, size_t size)
{
    if (size < WAL_HEADER_BYTES)
        return;
    le_put32(buf + 16, crc32c(buf, 16));
    size_t off = WAL_HEADER_BYTES;
    while (size - off >= WAL_RECORD_HEADER) {
        uint32_t len = le_get32(buf + off);
        if (len > size - off - WAL_RECORD_HEADER)
            break;
        uint32_t c = crc32c(buf + off, 4);
        c = crc32c_extend(c, buf + off + 8, WAL_RECORD_HEADER - 8);
        c = crc32c_extend(c, buf + off + WAL_RECORD_HEADER, len);
        le_put32(buf + off + 4, c);
        off += WAL_RECORD_HEADER + (size_t)len;
    }
}

static void scan_records(const uint8_t *buf, size_t size)
{
    size_t off = size >= WAL_HEADER_BYTES ? WAL_HEADER_BYTES : 0;
    while (off < size) {
        struct wal_record r;
        if (wal_decode_record(buf, size, off, &r) != NULL) {
            size_t valid = wal_find_valid_after(buf, size, off);
            FUZZ_CHECK(valid == 0 || (valid > off && valid + WAL_RECORD_HEADER <= size));
            break;
        }
        FUZZ_CHECK(r.data == buf + off + WAL_RECORD_HEADER);
        FUZZ_CHECK(r.len <= size - off - WAL_RECORD_HEADER);
        off += WAL_RECORD_HEADER + (size_t)r.len;
    }
}

static int recover(int dirfd, const char *dir, uint64_t snap_index, uint64_t snap_term,
                   struct raft_entry **entries, size_t *n)
{
    struct sio io = {0};
    struct wal w;
    char err[512];
    int rc = wal_open(&w, &io, dirfd, dir, 1u << 20, 1u << 16, quiet, NULL, snap_index,
                      snap_term, entries, n, err, sizeof err);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < *n; i++) {
        FUZZ_CHECK((*entries)[i].index == snap_index + 1 + i);
        FUZZ_CHECK(i == 0 || (*entries)[i].term >= (*entries)[i - 1].term);
        FUZZ_CHECK(wal_term_at(&w, (*entries)[i].index) == (*entries)[i].term);
    }
    if (*n)
        FUZZ_CHECK(wal_last_index(&w) == (*entries)[*n - 1].index);
    /* A commit mark taken names an entry the log holds (wal.h). */
    uint64_t c = wal_commit_marked(&w);
    FUZZ_CHECK(c <= wal_last_index(&w));
    wal_close(&w);
    return 0;
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
    if (ctl & 1)
        fix_crcs(buf, len);
    scan_records(buf, len);

    static const uint64_t snap_indexes[4] = {0, 1, 2, 5};
    uint64_t snap_index = snap_indexes[(ctl >> 2) & 3];
    uint64_t snap_term = snap_index ? (ctl >> 4) & 3 : 0;
    uint64_t first = len >= 16 ? le_get64(buf + 8) : 1;

    const char *dir;
    int dirfd = fuzz_scratch_dir(&dir);
    char name[WAL_NAME_MAX];
    wal_name(name, first);
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(write(fd, buf, len) == (ssize_t)len);
    close(fd);
    free(buf);

    struct raft_entry *e1, *e2;
    size_t n1, n2;
    if (recover(dirfd, dir, snap_index, snap_term, &e1, &n1) == 0) {
        FUZZ_CHECK(recover(dirfd, dir, snap_index, snap_term, &e2, &n2) == 0);
        FUZZ_CHECK(n1 == n2);
        for (size_t i = 0; i < n1; i++) {
            FUZZ_CHECK(e1[i].index == e2[i].index && e1[i].term == e2[i].term &&
                       e1[i].type == e2[i].type && e1[i].len == e2[i].len);
            FUZZ_CHECK(e1[i].len == 0 || memcmp(e1[i].data, e2[i].data, e1[i].len) == 0);
        }
        wal_free_entries(e2, n2);
        wal_free_entries(e1, n1);
    }
    fuzz_scratch_clear();
    return 0;
}
