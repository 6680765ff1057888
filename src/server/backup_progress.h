/* backup_progress.h - what `raftkv backup` (backup_cmd.c) tells of the
 * leader's images while START waits: the images RAFTKV.BACKUP STATUS lists
 * as not yet ready, each with its own bytes. The leader may write several
 * at once (another client's backup beside this one: the second forks while
 * the first walks, cmd_backup.c), and STATUS does not say which is whose,
 * so each is shown on its own, never their sum; any of them growing is
 * progress. Pure: no I/O, no clock. */
#ifndef RAFTKV_SERVER_BACKUP_PROGRESS_H
#define RAFTKV_SERVER_BACKUP_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Images told apart; more are counted in `more` (--max-backups is 2 by
 * default). */
#define BACKUP_PROGRESS_MAX 8

struct backup_progress {
    int n;
    uint64_t id[BACKUP_PROGRESS_MAX];
    uint64_t bytes[BACKUP_PROGRESS_MAX];
    int more; /* images past BACKUP_PROGRESS_MAX */
};

/* One image STATUS lists as not ready (STATUS lists the newest first;
 * p keeps them in id order). */
void backup_progress_add(struct backup_progress *p, uint64_t id, uint64_t bytes);
/* An image in now has more bytes than it had in before (one before does
 * not list: more than 0). */
bool backup_progress_grew(const struct backup_progress *before, const struct backup_progress *now);
/* What the leader is writing, with each image's rate since `last`, ms
 * milliseconds earlier ("" when no image is being written):
 *   the leader is writing the image: 12.0 MiB so far, 3.0 MiB/s
 *   the leader is writing 2 images: id 1 12.0 MiB so far, 3.0 MiB/s; id 2 ... */
void backup_progress_line(const struct backup_progress *last, const struct backup_progress *now, uint64_t ms,
                          char *buf, size_t cap);
/* The images' sizes, for a timeout's message: "the image at 12.0 MiB",
 * "the images at id 1 12.0 MiB, id 2 1.0 MiB". */
void backup_progress_sizes(const struct backup_progress *p, char *buf, size_t cap);

/* "1.5 GiB", "512.0 MiB", "12.0 KiB", "100 B" */
void backup_human_bytes(uint64_t n, char *buf, size_t cap);

#endif
