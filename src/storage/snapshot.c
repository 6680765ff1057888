/* snapshot.c - atomic, checksummed snapshot files (see snapshot.h). */
#include "storage/snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/crc32c.h"
#include "storage/le.h"

#define SNAP_MAGIC 0x50414e53u /* "SNAP" */
#define SNAP_VERSION 1u
/* Header: magic u32, version u32, index u64, term u64, len u64, crc u32 (over
 * the 32 bytes before it and then the data). */
#define SNAP_HEADER_BYTES 36
#define SNAP_NAME_FMT "snap-%020" PRIu64 ".snap"
#define SNAP_TMP_FMT "snap-%020" PRIu64 ".tmp"

static void snap_name(char *buf, size_t n, const char *fmt, uint64_t index)
{
    snprintf(buf, n, fmt, index);
}

/* 1 for a snapshot name we write, 2 for a temp name, 0 for anything else;
 * *index gets its index. Names are compared exactly, so a stray
 * "snap-5.snap" is left alone rather than mistaken for snap-000...5.snap. */
static int snap_parse(const char *name, uint64_t *index)
{
    char tail[8], canon[64];
    if (sscanf(name, "snap-%20" SCNu64 ".%7s", index, tail) != 2)
        return 0;
    snap_name(canon, sizeof canon, SNAP_NAME_FMT, *index);
    if (strcmp(canon, name) == 0)
        return 1;
    snap_name(canon, sizeof canon, SNAP_TMP_FMT, *index);
    return strcmp(canon, name) == 0 ? 2 : 0;
}

int snapshot_save(struct sio *io, int dirfd, const char *dir, uint64_t index, uint64_t term,
                  const uint8_t *data, size_t len, uint64_t *file_bytes, char *err,
                  size_t errlen)
{
    char tmp[64], name[64];
    snap_name(tmp, sizeof tmp, SNAP_TMP_FMT, index);
    snap_name(name, sizeof name, SNAP_NAME_FMT, index);
    uint8_t header[SNAP_HEADER_BYTES];
    le_put32(header, SNAP_MAGIC);
    le_put32(header + 4, SNAP_VERSION);
    le_put64(header + 8, index);
    le_put64(header + 16, term);
    le_put64(header + 24, len);
    le_put32(header + 32, crc32c_extend(crc32c(header, 32), data, len));

    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "%s/%s: create: %s", dir, tmp, strerror(errno));
        return -1;
    }
    if (sio_write_all(io, fd, header, sizeof header) < 0 ||
        (len && sio_write_all(io, fd, data, len) < 0)) {
        snprintf(err, errlen, "%s/%s: write: %s", dir, tmp, strerror(errno));
        close(fd);
        return -1;
    }
    if (sio_fdatasync(io, fd) < 0) {
        snprintf(err, errlen, "%s/%s: fdatasync: %s", dir, tmp, strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    if (renameat(dirfd, tmp, dirfd, name) < 0) {
        snprintf(err, errlen, "%s/%s: rename: %s", dir, name, strerror(errno));
        return -1;
    }
    if (sio_fsync(io, dirfd) < 0) {
        snprintf(err, errlen, "%s: fsync directory: %s", dir, strerror(errno));
        return -1;
    }
    *file_bytes = SNAP_HEADER_BYTES + (uint64_t)len;

    /* Older snapshots are now redundant; a crash before they are gone only
     * leaves garbage that the next start-up removes. */
    int dup_fd = dup(dirfd);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    if (!d) {
        if (dup_fd >= 0)
            close(dup_fd);
        return 0;
    }
    rewinddir(d); /* a dup shares the directory offset with dirfd */
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint64_t other;
        if (snap_parse(de->d_name, &other) && other < index)
            unlinkat(dirfd, de->d_name, 0);
    }
    closedir(d);
    return 0;
}

static void snap_log(snapshot_log_fn log, void *ctx, const char *fmt, const char *dir,
                     const char *name)
{
    char line[512];
    snprintf(line, sizeof line, fmt, dir, name);
    if (log)
        log(ctx, line);
    else
        fprintf(stderr, "storage: %s\n", line);
}

int snapshot_load(struct sio *io, int dirfd, const char *dir, snapshot_log_fn log, void *log_ctx,
                  uint64_t *index, uint64_t *term, uint8_t **data, size_t *len,
                  uint64_t *file_bytes, char *err, size_t errlen)
{
    (void)io;
    *index = *term = 0;
    *data = NULL;
    *len = 0;
    *file_bytes = 0;

    int dup_fd = dup(dirfd);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    if (!d) {
        snprintf(err, errlen, "%s: list: %s", dir, strerror(errno));
        if (dup_fd >= 0)
            close(dup_fd);
        return -1;
    }
    uint64_t newest = 0;
    int have = 0;
    rewinddir(d); /* a dup shares the directory offset with dirfd */
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint64_t idx;
        int kind = snap_parse(de->d_name, &idx);
        if (kind == 0)
            continue;
        if (kind == 2) {
            snap_log(log, log_ctx, "%s/%s: removing a snapshot left half-written by a crash", dir,
                     de->d_name);
            unlinkat(dirfd, de->d_name, 0);
        } else if (!have || idx > newest) {
            newest = idx;
            have = 1;
        }
    }
    closedir(d);
    if (!have)
        return 0;

    char name[64];
    snap_name(name, sizeof name, SNAP_NAME_FMT, newest);
    uint8_t *file;
    size_t size;
    if (sio_read_file(dirfd, name, &file, &size) < 0) {
        snprintf(err, errlen, "%s/%s: read: %s", dir, name, strerror(errno));
        return -1;
    }
    const char *why = NULL;
    size_t at = 0;
    if (size < SNAP_HEADER_BYTES) {
        why = "shorter than its header";
    } else if (le_get32(file) != SNAP_MAGIC || le_get32(file + 4) != SNAP_VERSION) {
        why = "bad magic or version";
    } else if (le_get64(file + 8) != newest) {
        why = "index does not match the file name";
        at = 8;
    } else if (le_get64(file + 24) != size - SNAP_HEADER_BYTES) {
        why = "length does not match the file size";
        at = 24;
    } else if (le_get32(file + 32) !=
               crc32c_extend(crc32c(file, 32), file + SNAP_HEADER_BYTES,
                             size - SNAP_HEADER_BYTES)) {
        why = "checksum mismatch";
        at = 32;
    }
    if (why) {
        snprintf(err, errlen, "%s/%s: corrupt snapshot at offset %zu: %s", dir, name, at, why);
        free(file);
        return -2;
    }
    *index = newest;
    *term = le_get64(file + 16);
    *len = size - SNAP_HEADER_BYTES;
    memmove(file, file + SNAP_HEADER_BYTES, *len);
    *data = file;
    *file_bytes = size;

    /* Older snapshots: a crash during the last save left them behind. */
    dup_fd = dup(dirfd);
    d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    if (d) {
        rewinddir(d);
        while ((de = readdir(d)) != NULL) {
            uint64_t idx;
            if (snap_parse(de->d_name, &idx) == 1 && idx < newest) {
                snap_log(log, log_ctx, "%s/%s: removing a superseded snapshot", dir, de->d_name);
                unlinkat(dirfd, de->d_name, 0);
            }
        }
        closedir(d);
    } else if (dup_fd >= 0) {
        close(dup_fd);
    }
    return 0;
}
