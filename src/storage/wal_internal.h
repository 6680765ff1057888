/* wal_internal.h - what wal.c (appending) and wal_recover.c (start-up)
 * share about a struct wal beyond the public wal.h. */
#ifndef RAFTKV_STORAGE_WAL_INTERNAL_H
#define RAFTKV_STORAGE_WAL_INTERNAL_H

#include "storage/wal.h"
#include "storage/wal_format.h"

/* One line to the store's log callback (or stderr). */
void wal_logf(struct wal *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Track a segment (empty: last = first - 1) / an entry's place. -1: no memory. */
int wal_push_segment(struct wal *w, uint64_t first, uint64_t bytes);
int wal_push_pos(struct wal *w, uint64_t offset, uint64_t term);
/* Room for `more` entries' places, made at once. -1: no memory. */
int wal_reserve_pos(struct wal *w, size_t more);
/* Ask for huge pages under a large fresh array (a hint). */
void wal_advise_large(void *p, size_t len);
/* Delete segments [from, n_segs) newest first, each unlink fsync'ed. */
int wal_delete_segments_from(struct wal *w, size_t from, char *err, size_t errlen);

#endif
