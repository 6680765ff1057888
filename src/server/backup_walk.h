/* backup_walk.h - a backup image (RAFTKV.BACKUP, cmd_backup.c) written by
 * the event loop itself from a point-in-time walk of the map, with no fork:
 * what a member run with --snapshot-method walk does for backups too.
 *
 * The image is the map as it was when the walk began (kv/snapshot_walk.h
 * over kv/map_walk.h), in the snapshot format without the map's hash key
 * (KV_SNAP_NO_MAP_KEY), written into a file the caller owns (cmd_backup.c's
 * unlinked temporary file) from offset 0. A uv_idle handle encodes it in
 * slices of at most slice_ns of the loop's time; 256 KiB chunks go to the
 * file in order, one write at a time, on libuv's thread pool (fdatasync'ed
 * every 4 MiB, and at the end), and while 2 MiB wait the walk pauses. The
 * caller hears once, through done, that the image is complete and synced
 * (0) or why it is not: BACKUP_WALK_GAVE_UP when the walk gave up by itself
 * (its pre-images past max_kept_bytes, the map re-keyed, replaced by an
 * installed snapshot or detached by FLUSHALL: the file holds a partial
 * image), BACKUP_WALK_FAILED when writing failed. Only one walk of a map
 * can run at a time (map_walk.h): a start while another runs fails.
 */
#ifndef RAFTKV_SERVER_BACKUP_WALK_H
#define RAFTKV_SERVER_BACKUP_WALK_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "kv/kv.h"

#define BACKUP_WALK_GAVE_UP 1
#define BACKUP_WALK_FAILED 2

struct backup_walk;
/* rc 0, BACKUP_WALK_GAVE_UP or BACKUP_WALK_FAILED (why says why). Called
 * from the loop, last thing: the owner may free the walk in it. */
typedef void (*backup_walk_done_fn)(void *ctx, int rc, const char *why);

struct backup_walk_options {
    uv_loop_t *loop;
    int fd;                /* the image's file: written from offset 0 */
    size_t max_kept_bytes; /* --snapshot-walk-max-bytes */
    uint64_t slice_ns;     /* --snapshot-walk-slice-ms */
    /* Test hook: the writer sleeps this long after every MiB (on the pool,
     * so the loop runs on and the walk pauses behind its full queue). */
    unsigned pause_ms;
    backup_walk_done_fn done;
    void *ctx;
};

/* Begin the image of kv at (index, term). NULL with why filled when it
 * cannot begin (another walk of the map runs, the map is re-keying, out of
 * memory): nothing was written. */
struct backup_walk *backup_walk_start(const struct backup_walk_options *o, struct kv_store *kv,
                                      uint64_t index, uint64_t term, char *why, size_t whylen);
/* Bytes handed to the file so far. */
uint64_t backup_walk_written(const struct backup_walk *w);
/* Stop (if still running) and free: waits for the thread part of a write
 * on the pool, if one is there (one chunk, or a sync). */
void backup_walk_free(struct backup_walk *w);

#endif
