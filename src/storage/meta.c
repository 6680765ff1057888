/* meta.c - the hard-state file: two alternating CRC'd slots with a term
 * ceiling (see meta.h for why the ceiling makes one damaged slot safe). */
#include "storage/meta.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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
/* Version 2 slot: magic u32, version u32, seq u64, term u64, voted_for i64,
 * ceiling u64, crc u32 (of the 40 bytes before it).
 * Version 1 (read only): the same without the ceiling, crc at 32. */
#define META_VERSION 2u
#define META_VERSION_NO_CEILING 1u

struct meta_slot {
    uint32_t version;
    uint64_t seq, term, ceiling;
    int voted_for;
};

static uint64_t meta_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static void meta_encode(uint8_t *slot, uint64_t seq, uint64_t term, int voted_for,
                        uint64_t ceiling)
{
    memset(slot, 0, META_SLOT_BYTES);
    le_put32(slot, META_MAGIC);
    le_put32(slot + 4, META_VERSION);
    le_put64(slot + 8, seq);
    le_put64(slot + 16, term);
    le_put64(slot + 24, (uint64_t)(int64_t)voted_for);
    le_put64(slot + 32, ceiling);
    le_put32(slot + 40, crc32c(slot, 40));
}

static bool meta_decode(const uint8_t *slot, struct meta_slot *out)
{
    if (le_get32(slot) != META_MAGIC)
        return false;
    uint32_t version = le_get32(slot + 4);
    size_t crc_at = version == META_VERSION ? 40 : version == META_VERSION_NO_CEILING ? 32 : 0;
    if (!crc_at || le_get32(slot + crc_at) != crc32c(slot, crc_at))
        return false;
    int64_t vote = (int64_t)le_get64(slot + 24);
    if (vote < -1 || vote >= 1 << 20)
        return false;
    out->version = version;
    out->seq = le_get64(slot + 8);
    out->term = le_get64(slot + 16);
    out->voted_for = (int)vote;
    /* A version 1 slot was written before ceilings: its own term is the only
     * bound it gives, and only on itself. */
    out->ceiling = version == META_VERSION ? le_get64(slot + 32) : out->term;
    return out->ceiling >= out->term;
}

static int meta_create(struct sio *io, int dirfd, const char *dir, char *err, size_t errlen)
{
    uint8_t file[2 * META_SLOT_BYTES];
    meta_encode(file, 0, 0, -1, META_TERM_RESERVE);
    meta_encode(file + META_SLOT_BYTES, 1, 0, -1, META_TERM_RESERVE);
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

/* Write one slot over the one not holding the current state, sync it, and
 * make it the current state. */
static int meta_write(struct meta *m, struct sio *io, uint64_t term, int voted_for,
                      uint64_t ceiling, const char *dir, char *err, size_t errlen)
{
    uint8_t slot[META_SLOT_BYTES];
    uint64_t seq = m->seq + 1;
    meta_encode(slot, seq, term, voted_for, ceiling);
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
    m->ceiling = ceiling;
    return 0;
}

/* Slot `good` is intact and the other is not. Nothing says whether the lost
 * slot was older or newer, nor what term and vote it held, beyond the
 * invariant in meta.h: its term is at most good's ceiling c, or it held
 * (c + 1, no vote). Restart at (c + 1, no vote) and write that over the
 * lost slot: the node can never vote again in a term it may have voted in,
 * and never accepts a leader of a term it may have left. */
static int meta_fall_back(struct meta *m, struct sio *io, const struct meta_slot *good, int slot,
                          const char *dir, meta_log_fn log, void *log_ctx, char *err,
                          size_t errlen)
{
    int lost_at = (1 - slot) * META_SLOT_BYTES;
    if (good->version != META_VERSION || good->ceiling == UINT64_MAX) {
        snprintf(err, errlen,
                 "%s/%s: the hard-state slot at offset %d is damaged and the other (term %" PRIu64
                 ") cannot bound the term the lost one held (%s): this node could vote twice "
                 "in a term",
                 dir, META_NAME, lost_at, good->term,
                 good->version != META_VERSION ? "it predates term ceilings" : "no term above it");
        return -2;
    }
    m->seq = good->seq;
    m->slot = slot;
    m->term = good->term;
    m->voted_for = good->voted_for;
    m->ceiling = good->ceiling;
    uint64_t term = good->ceiling + 1;
    char line[1024];
    snprintf(line, sizeof line,
             "warning: %s/%s: the hard-state slot at offset %d is damaged; the other holds "
             "term %" PRIu64 "%s, but the lost one may have held any term up to %" PRIu64
             " and a vote in it: restarting at term %" PRIu64
             " with no vote, so that no vote is cast twice in a term",
             dir, META_NAME, lost_at, good->term,
             good->voted_for < 0 ? " and no vote" : " and a vote", good->ceiling, term);
    if (log)
        log(log_ctx, line);
    else
        fprintf(stderr, "storage: %s\n", line);
    return meta_write(m, io, term, -1, meta_add(term, META_TERM_RESERVE), dir, err, errlen);
}

int meta_open(struct meta *m, struct sio *io, int dirfd, const char *dir, bool may_create,
              meta_log_fn log, void *log_ctx, char *err, size_t errlen)
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
    struct meta_slot s[2];
    bool ok[2];
    for (int i = 0; i < 2; i++)
        ok[i] = n >= (i + 1) * META_SLOT_BYTES && meta_decode(file + i * META_SLOT_BYTES, &s[i]);
    if (!ok[0] && !ok[1]) {
        snprintf(err, errlen, "%s/%s: both hard-state slots are damaged (offsets 0 and %d)", dir,
                 META_NAME, META_SLOT_BYTES);
        close(fd);
        return -2;
    }
    m->fd = fd;
    if (ok[0] != ok[1]) {
        int rc = meta_fall_back(m, io, &s[ok[0] ? 0 : 1], ok[0] ? 0 : 1, dir, log, log_ctx, err,
                                errlen);
        if (rc < 0)
            meta_close(m);
        return rc;
    }
    int cur = s[1].seq > s[0].seq ? 1 : 0;
    m->seq = s[cur].seq;
    m->slot = cur;
    m->term = s[cur].term;
    m->voted_for = s[cur].voted_for;
    m->ceiling = s[cur].ceiling;
    return 0;
}

int meta_store(struct meta *m, struct sio *io, uint64_t term, int voted_for, const char *dir,
               char *err, size_t errlen)
{
    /* Keep meta.h's invariant: the slot left in place must bound the term
     * about to be written. If it does not, first write the current state
     * with a ceiling that does; only then the new state. */
    if (term > m->ceiling &&
        meta_write(m, io, m->term, m->voted_for, meta_add(term, META_TERM_RESERVE), dir, err,
                   errlen) < 0)
        return -1;
    return meta_write(m, io, term, voted_for, m->ceiling, dir, err, errlen);
}

void meta_close(struct meta *m)
{
    if (m->fd >= 0)
        close(m->fd);
    m->fd = -1;
}
