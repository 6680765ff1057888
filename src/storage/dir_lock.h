/* dir_lock.h - one process per data directory, enforced with flock(LOCK).
 *
 * Two nodes writing one log would interleave records and break every Raft
 * promise, so the second is refused with the holder's pid. flock, not fcntl:
 * an fcntl lock is per process and would let a second open in the same
 * process through, and flock locks vanish with the process that held them
 * (kill -9 included), so a crash never leaves the directory locked.
 */
#ifndef RAFTKV_STORAGE_DIR_LOCK_H
#define RAFTKV_STORAGE_DIR_LOCK_H

#include <stddef.h>

/* Lock `dirfd`'s LOCK file. Returns the lock's fd (>= 0), -1 if another
 * holder has it (err names its pid), or -2 on another error (err says). */
int dir_lock_acquire(int dirfd, const char *dir, char *err, size_t errlen);
void dir_lock_release(int lock_fd);

#endif
