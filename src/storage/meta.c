/* meta.c - the hard-state file: two alternating CRC'd slots (see meta.h). */
#include "storage/meta.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "storage/crc32c.h"
#include "storage/le.h"

#define META_NAME "meta"
#define META_TMP_NAME "meta.tmp"
#define META_SLOT_BYTES 512
#define META_MAGIC 0x4154454du /* "META" */
#define META_VERSION 1u
/* Slot layout: magic u32, version u32, seq u64, term u64, voted_for i64, crc u32. */
#define META_SLOT_USED 36

static void meta_encode(uint8_t *slot, uint64_t seq, uint64_t term, int voted_for)
{
    memset(slot, 0, META_SLOT_BYTES);
    le_put32(slot, META_MAGIC);
    le_put32(slot + 4, META_VERSION);
    le_put64(slot + 8, seq);
    le_put64(slot + 16, term);
    le_put64(slot + 24, (uint64_t)(int64_t)voted_for);
    le_put32(slot + 32, crc32c(slot, 32));
}

static bool meta_decode(const uint8_t *slot, uint64_t *seq, uint64_t *term, int *voted_for)
{
    if (le_get32(slot) != META_MAGIC || le_get32(slot + 4) != META_VERSION)
        return false;
    if (le_get32(slot + 32) != crc32c(slot, 32))
        return false;
    int64_t vote = (int64_t)le_get64(slot + 24);
    if (vote < -1 || vote >= 1 << 20)
        return false;
    *seq = le_get64(slot + 8);
    *term = le_get64(slot + 16);
    *voted_for = (int)vote;
    return true;
}

static int meta_create(struct sio *io, int dirfd, const char *dir, char *err, size_t errlen)
{
    uint8_t file[2 * META_SLOT_BYTES];
    meta_encode(file, 0, 0, -1);
    meta_encode(file + META_SLOT_BYTES, 1, 0, -1);
    int fd = openat(dirfd, META_TMP_NAME, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "%s/%s: create: %s", dir, META_TMP_NAME, strerror(errno));
        return -1;
    }
    if (sio_write_all(io, fd, file, sizeof file) < 0 || sio_fdatasync(io, fd) < 0) {
        snprintf(err, errlen, "%s/%s: write: %s", dir, META_TMP_NAME, strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    if (renameat(dirfd, META_TMP_NAME, dirfd, META_NAME) < 0 || sio_fsync(io, dirfd) < 0) {
        snprintf(err, errlen, "%s/%s: rename: %s", dir, META_NAME, strerror(errno));
        return -1;
    }
    return 0;
}

int meta_open(struct meta *m, struct sio *io, int dirfd, const char *dir, bool may_create,
              char *err, size_t errlen)
{
    m->fd = -1;
    int fd = openat(dirfd, META_NAME, O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && !may_create) {
        snprintf(err, errlen,
                 "%s/%s is missing but the directory holds a log or snapshot: without the "
                 "term and vote this node could vote twice in one term",
                 dir, META_NAME);
        return -2;
    }
    if (fd < 0 && errno == ENOENT) {
        if (meta_create(io, dirfd, dir, err, errlen) < 0)
            return -1;
        fd = openat(dirfd, META_NAME, O_RDWR | O_CLOEXEC);
    }
    if (fd < 0) {
        snprintf(err, errlen, "%s/%s: open: %s", dir, META_NAME, strerror(errno));
        return -1;
    }
    uint8_t file[2 * META_SLOT_BYTES];
    memset(file, 0, sizeof file);
    ssize_t n = pread(fd, file, sizeof file, 0);
    if (n < 0) {
        snprintf(err, errlen, "%s/%s: read: %s", dir, META_NAME, strerror(errno));
        close(fd);
        return -1;
    }
    bool found = false;
    for (int i = 0; i < 2; i++) {
        uint64_t seq, term;
        int vote;
        if (n >= (i + 1) * META_SLOT_BYTES &&
            meta_decode(file + i * META_SLOT_BYTES, &seq, &term, &vote) &&
            (!found || seq > m->seq)) {
            found = true;
            m->seq = seq;
            m->term = term;
            m->voted_for = vote;
            m->slot = i;
        }
    }
    if (!found) {
        snprintf(err, errlen, "%s/%s: both hard-state slots are damaged (offsets 0 and %d)", dir,
                 META_NAME, META_SLOT_BYTES);
        close(fd);
        return -2;
    }
    m->fd = fd;
    return 0;
}

int meta_store(struct meta *m, struct sio *io, uint64_t term, int voted_for, const char *dir,
               char *err, size_t errlen)
{
    uint8_t slot[META_SLOT_BYTES];
    uint64_t seq = m->seq + 1;
    meta_encode(slot, seq, term, voted_for);
    int target = 1 - m->slot; /* never overwrite the state we may fall back to */
    if (sio_pwrite_all(io, m->fd, slot, sizeof slot, (off_t)target * META_SLOT_BYTES) < 0) {
        snprintf(err, errlen, "%s/%s: write: %s", dir, META_NAME, strerror(errno));
        return -1;
    }
    if (sio_fdatasync(io, m->fd) < 0) {
        snprintf(err, errlen, "%s/%s: fdatasync: %s", dir, META_NAME, strerror(errno));
        return -1;
    }
    m->seq = seq;
    m->slot = target;
    m->term = term;
    m->voted_for = voted_for;
    return 0;
}

void meta_close(struct meta *m)
{
    if (m->fd >= 0)
        close(m->fd);
    m->fd = -1;
}
