/* sio.h - the storage engine's system calls, counted, with injectable faults.
 *
 * Every write, truncate and sync of the engine goes through here so that a
 * test can make the Nth one fail (full disk, failed fsync) and check that the
 * engine reports it and then refuses to go on. Functions return 0, or -1 with
 * errno set, like the calls they wrap.
 */
#ifndef RAFTKV_STORAGE_SIO_H
#define RAFTKV_STORAGE_SIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sio {
    uint64_t write_calls; /* write/pwrite/ftruncate, for fault injection */
    uint64_t sync_calls;  /* fsync/fdatasync */
    uint64_t fail_write_at, fail_sync_at; /* 0: never */
    int fail_write_errno, fail_sync_errno;
    bool fail_write_torn; /* the failing write first writes half its bytes */
};

/* Write all of buf at the file position (loops over short writes). io may
 * be NULL: no fault injection. */
int sio_write_all(struct sio *io, int fd, const void *buf, size_t len);
int sio_pwrite_all(struct sio *io, int fd, const void *buf, size_t len, off_t off);
int sio_ftruncate(struct sio *io, int fd, off_t len);
int sio_fdatasync(struct sio *io, int fd);
/* Count a sync call made elsewhere (another thread); returns the errno it
 * must fail with when it is the injected failure, else 0. */
int sio_sync_fault_errno(struct sio *io);
/* fsync a directory, making created, renamed and deleted names durable. */
int sio_fsync(struct sio *io, int fd);
/* Read exactly len bytes at off; 0, or -1 (errno, or EIO for a short file). */
int sio_pread_all(int fd, void *buf, size_t len, off_t off);
/* Read a whole file into a malloc'd buffer. */
int sio_read_file(int dirfd, const char *name, uint8_t **data, size_t *len);

#endif
