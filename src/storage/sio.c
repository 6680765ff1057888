/* sio.c - counted system calls with the fault injection tests rely on. */
#include "storage/sio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* Returns -1 (errno set) when this write is the one to fail; a torn failure
 * first writes the first half of the bytes at `off` (-1: the file position). */
static int sio_write_fault(struct sio *io, int fd, const void *buf, size_t len, off_t off)
{
    if (!io)
        return 0;
    io->write_calls++;
    if (io->fail_write_at && io->write_calls == io->fail_write_at) {
        if (io->fail_write_torn && buf && len > 1) {
            ssize_t n = off < 0 ? write(fd, buf, len / 2) : pwrite(fd, buf, len / 2, off);
            (void)n; /* the write fails either way */
        }
        errno = io->fail_write_errno ? io->fail_write_errno : ENOSPC;
        return -1;
    }
    return 0;
}

static int sio_sync_fault(struct sio *io)
{
    io->sync_calls++;
    if (io->fail_sync_at && io->sync_calls == io->fail_sync_at) {
        errno = io->fail_sync_errno ? io->fail_sync_errno : EIO;
        return -1;
    }
    return 0;
}

int sio_write_all(struct sio *io, int fd, const void *buf, size_t len)
{
    if (sio_write_fault(io, fd, buf, len, -1) < 0)
        return -1;
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int sio_pwrite_all(struct sio *io, int fd, const void *buf, size_t len, off_t off)
{
    if (sio_write_fault(io, fd, buf, len, off) < 0)
        return -1;
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        off += n;
        len -= (size_t)n;
    }
    return 0;
}

int sio_ftruncate(struct sio *io, int fd, off_t len)
{
    if (sio_write_fault(io, fd, NULL, 0, 0) < 0)
        return -1;
    return ftruncate(fd, len);
}

int sio_sync_fault_errno(struct sio *io)
{
    return sio_sync_fault(io) < 0 ? errno : 0;
}

int sio_fdatasync(struct sio *io, int fd)
{
    if (sio_sync_fault(io) < 0)
        return -1;
    return fdatasync(fd);
}

int sio_fsync(struct sio *io, int fd)
{
    if (sio_sync_fault(io) < 0)
        return -1;
    return fsync(fd);
}

int sio_pread_all(int fd, void *buf, size_t len, off_t off)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) {
            errno = EIO;
            return -1;
        }
        p += n;
        off += n;
        len -= (size_t)n;
    }
    return 0;
}

int sio_read_file(int dirfd, const char *name, uint8_t **data, size_t *len)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) {
        close(fd);
        errno = ENOMEM;
        return -1;
    }
    if (size && sio_pread_all(fd, buf, size, 0) < 0) {
        int e = errno;
        free(buf);
        close(fd);
        errno = e;
        return -1;
    }
    close(fd);
    *data = buf;
    *len = size;
    return 0;
}
