/* dir_lock.c - the data directory's LOCK file. */
#include "storage/dir_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define DIR_LOCK_NAME "LOCK"

int dir_lock_acquire(int dirfd, const char *dir, char *err, size_t errlen)
{
    int fd = openat(dirfd, DIR_LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "%s/%s: open: %s", dir, DIR_LOCK_NAME, strerror(errno));
        return -2;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        if (e == EWOULDBLOCK) {
            char holder[32] = "";
            ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
            holder[n > 0 ? n : 0] = '\0';
            holder[strcspn(holder, "\n")] = '\0';
            snprintf(err, errlen, "data directory %s is in use by pid %s (%s/%s is locked)", dir,
                     holder[0] ? holder : "unknown", dir, DIR_LOCK_NAME);
            close(fd);
            return -1;
        }
        snprintf(err, errlen, "%s/%s: flock: %s", dir, DIR_LOCK_NAME, strerror(e));
        close(fd);
        return -2;
    }
    /* The pid is only for the refusal message; it need not be durable. */
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        snprintf(err, errlen, "%s/%s: write pid: %s", dir, DIR_LOCK_NAME, strerror(errno));
        close(fd);
        return -2;
    }
    return fd;
}

void dir_lock_release(int lock_fd)
{
    if (lock_fd >= 0)
        close(lock_fd); /* closing the last descriptor drops the flock */
}
