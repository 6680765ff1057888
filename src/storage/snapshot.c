/* snapshot.c - atomic snapshot files in the streaming format (see
 * snapshot.h and snap_format.h). */
#include "storage/snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/snap_reader.h"

#define SNAP_NAME_FMT "snap-%020" PRIu64 ".snap"
#define SNAP_TMP_FMT "snap-%020" PRIu64 ".tmp"
#define SNAP_RECV_FMT "snap-%020" PRIu64 ".recv"
#define SNAP_STREAM_CHUNK (1u << 20)

void snapshot_name(char *buf, size_t n, uint64_t index)
{
    snprintf(buf, n, SNAP_NAME_FMT, index);
}

void snapshot_tmp_name(char *buf, size_t n, uint64_t index)
{
    snprintf(buf, n, SNAP_TMP_FMT, index);
}

void snapshot_recv_name(char *buf, size_t n, uint64_t index)
{
    snprintf(buf, n, SNAP_RECV_FMT, index);
}

/* 1 for a snapshot name we write, 2 for a temp name (.tmp, .recv), 0 for anything else;
 * *index gets its index. Names are compared exactly, so a stray
 * "snap-5.snap" is left alone rather than mistaken for snap-000...5.snap. */
static int snap_parse(const char *name, uint64_t *index)
{
    char tail[8], canon[64];
    if (sscanf(name, "snap-%20" SCNu64 ".%7s", index, tail) != 2)
        return 0;
    snapshot_name(canon, sizeof canon, *index);
    if (strcmp(canon, name) == 0)
        return 1;
    snapshot_tmp_name(canon, sizeof canon, *index);
    if (strcmp(canon, name) == 0)
        return 2;
    snapshot_recv_name(canon, sizeof canon, *index);
    return strcmp(canon, name) == 0 ? 2 : 0;
}

/* Delete snapshots (and temp files) older than index: the one at index is
 * durable, so a crash before they are gone only leaves garbage that the
 * next start-up removes. */
void snapshot_remove_older(int dirfd, uint64_t index)
{
    int dup_fd = dup(dirfd);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    if (!d) {
        if (dup_fd >= 0)
            close(dup_fd);
        return;
    }
    rewinddir(d); /* a dup shares the directory offset with dirfd */
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint64_t other;
        if (snap_parse(de->d_name, &other) && other < index)
            unlinkat(dirfd, de->d_name, 0);
    }
    closedir(d);
}

int snapshot_install_tmp(struct sio *io, int dirfd, const char *dir, uint64_t index,
                         uint64_t *file_bytes, char *err, size_t errlen)
{
    char tmp[64];
    snapshot_tmp_name(tmp, sizeof tmp, index);
    return snapshot_install_file(io, dirfd, dir, tmp, index, file_bytes, err, errlen);
}

int snapshot_install_file(struct sio *io, int dirfd, const char *dir, const char *tmp,
                          uint64_t index, uint64_t *file_bytes, char *err, size_t errlen)
{
    char name[64];
    snapshot_name(name, sizeof name, index);
    struct stat st;
    if (fstatat(dirfd, tmp, &st, 0) < 0) {
        snprintf(err, errlen, "%s/%s: stat: %s", dir, tmp, strerror(errno));
        return -1;
    }
    if (renameat(dirfd, tmp, dirfd, name) < 0) {
        snprintf(err, errlen, "%s/%s: rename: %s", dir, name, strerror(errno));
        return -1;
    }
    if (sio_fsync(io, dirfd) < 0) {
        snprintf(err, errlen, "%s: fsync directory: %s", dir, strerror(errno));
        return -1;
    }
    *file_bytes = (uint64_t)st.st_size;
    snapshot_remove_older(dirfd, index);
    return 0;
}

int snapshot_save(struct sio *io, int dirfd, const char *dir, uint64_t index, uint64_t term,
                  const uint8_t *data, size_t len, uint64_t *file_bytes, char *err,
                  size_t errlen)
{
    struct snap_header h;
    size_t need;
    char why[200];
    int hrc = snap_header_peek(data, len, &h, &need, why, sizeof why);
    if (hrc != 0 || h.index != index || h.term != term) {
        snprintf(err, errlen, "snapshot image for (%" PRIu64 ", %" PRIu64 ") %s", index, term,
                 hrc < 0 ? why : hrc > 0 ? "is shorter than its header" : "says another index or term");
        return -4;
    }
    char tmp[64];
    snapshot_tmp_name(tmp, sizeof tmp, index);
    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "%s/%s: create: %s", dir, tmp, strerror(errno));
        return -1;
    }
    if (sio_write_all(io, fd, data, len) < 0) {
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
    return snapshot_install_tmp(io, dirfd, dir, index, file_bytes, err, errlen);
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
                  uint64_t *index, uint64_t *term, uint64_t *file_bytes, char *err,
                  size_t errlen)
{
    (void)io;
    *index = *term = 0;
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

    /* The header only (its CRC, the version, the index against the name):
     * the rest (every block's CRC, the file's, the counts) is checked as
     * the state machine loads the file, before the member serves anything
     * (kv_loader_load), so the file is read once. */
    char name[64];
    snapshot_name(name, sizeof name, newest);
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(err, errlen, "%s/%s: open: %s", dir, name, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    static const size_t cap = SNAP_HEADER_FIXED + SNAP_MAX_META_BYTES + 4;
    uint8_t *head = malloc(cap);
    size_t got = 0;
    while (head && got < cap) {
        ssize_t n = pread(fd, head + got, cap - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n < 0)
                got = SIZE_MAX;
            break;
        }
        got += (size_t)n;
    }
    close(fd);
    if (!head || got == SIZE_MAX) {
        snprintf(err, errlen, "%s/%s: read: %s", dir, name, head ? strerror(errno) : "out of memory");
        free(head);
        return -1;
    }
    struct snap_header h;
    size_t need;
    char why[200];
    int hrc = snap_header_peek(head, got, &h, &need, why, sizeof why);
    free(head);
    if (hrc == 1)
        snprintf(why, sizeof why, "at offset %zu: truncated: the file ends inside header", got);
    else if (hrc == 0 && h.index != newest)
        snprintf(why, sizeof why, "at offset 8: index %" PRIu64 " does not match the name", h.index);
    if (hrc != 0 || h.index != newest) {
        snprintf(err, errlen, "%s/%s: corrupt snapshot %s", dir, name, why);
        return -2;
    }
    *index = newest;
    *term = h.term;
    *file_bytes = (uint64_t)st.st_size;

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

int snapshot_stream(int dirfd, const char *dir, uint64_t index,
                    int (*feed)(void *ctx, const uint8_t *p, size_t n), void *ctx, char *err,
                    size_t errlen)
{
    char name[64];
    snapshot_name(name, sizeof name, index);
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s/%s: open: %s", dir, name, strerror(errno));
        return -1;
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    uint8_t *buf = malloc(SNAP_STREAM_CHUNK);
    int rc = buf ? 0 : -1;
    if (!buf)
        snprintf(err, errlen, "out of memory");
    while (rc == 0) {
        ssize_t n = read(fd, buf, SNAP_STREAM_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errlen, "%s/%s: read: %s", dir, name, strerror(errno));
            rc = -1;
        } else if (n == 0) {
            break;
        } else if (feed(ctx, buf, (size_t)n) != 0) {
            rc = -2;
        }
    }
    free(buf);
    close(fd);
    return rc;
}
