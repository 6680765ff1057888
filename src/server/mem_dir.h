/* mem_dir.h - the private directory an --in-memory member keeps its log
 * and snapshot files in: made at start under --in-memory-dir (a tmpfs,
 * /dev/shm by default, whose fsyncs do nothing), removed at exit, so the
 * member runs the durable storage layer (background snapshots, chunked
 * transfers) while nothing survives a restart.
 *
 * A member killed with -9 cannot remove its directory; the next member to
 * start under the same base removes the leftovers of dead ones: a
 * directory named raftkv-mem-<pid>-XXXXXX whose pid is gone and whose
 * storage LOCK no process holds (both, so neither a reused pid nor
 * another pid namespace sharing the base makes it remove a live one), and
 * such a directory with no LOCK only while it is empty. */
#ifndef RAFTKV_SERVER_MEM_DIR_H
#define RAFTKV_SERVER_MEM_DIR_H

#include <stdbool.h>
#include <stddef.h>

#define MEM_DIR_PREFIX "raftkv-mem-"
#define MEM_DIR_DEFAULT_BASE "/dev/shm"

/* Make base/raftkv-mem-<pid>-XXXXXX (mode 0700) into out: 0, or -1 with
 * err saying why and out "". *on_memory: whether base is a memory file system
 * (tmpfs, ramfs), where the storage's syncs cost nothing. */
int mem_dir_make(const char *base, char *out, size_t cap, bool *on_memory, char *err, size_t errlen);

/* Remove the files directly in dir, then dir. 0, or -1 (errno). */
int mem_dir_remove(const char *dir);

/* Remove the leftovers of dead members under base (see above); returns how
 * many were removed. */
int mem_dir_sweep(const char *base);

#endif
