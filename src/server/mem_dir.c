/* mem_dir.c - an --in-memory member's private storage directory: made at
 * start, removed at exit, leftovers of killed members swept (mem_dir.h). */
#include "server/mem_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#ifndef RAMFS_MAGIC
#define RAMFS_MAGIC 0x858458f6
#endif

int mem_dir_make(const char *base, char *out, size_t cap, bool *on_memory, char *err, size_t errlen)
{
    int n = snprintf(out, cap, "%s/" MEM_DIR_PREFIX "%ld-XXXXXX", base, (long)getpid());
    if (n < 0 || (size_t)n >= cap) {
        snprintf(err, errlen, "--in-memory-dir %s: path too long", base);
        out[0] = '\0';
        return -1;
    }
    if (!mkdtemp(out)) {
        snprintf(err, errlen, "--in-memory-dir %s: mkdtemp: %s", base, strerror(errno));
        out[0] = '\0'; /* nothing made, nothing to remove */
        return -1;
    }
    struct statfs fs;
    *on_memory = statfs(out, &fs) == 0 && (fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC);
    return 0;
}

int mem_dir_remove(const char *dir)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -1;
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        unlinkat(dfd, e->d_name, 0); /* the storage writes no subdirectories */
    }
    closedir(d);
    return rmdir(dir);
}

/* Whether base/name is a dead member's: its pid gone, its LOCK unheld.
 * One with no LOCK yet (its member died between making it and opening the
 * storage) is removed only while empty: rmdir removes nothing else. */
static bool leftover(int basefd, const char *name)
{
    char *end = NULL;
    long pid = strtol(name + strlen(MEM_DIR_PREFIX), &end, 10);
    if (pid <= 0 || !end || *end != '-' || pid == (long)getpid())
        return false;
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
        return false;
    int dfd = openat(basefd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (dfd < 0)
        return false;
    struct stat st;
    bool mine = fstat(dfd, &st) == 0 && st.st_uid == getuid();
    int lfd = mine ? openat(dfd, "LOCK", O_RDWR | O_CLOEXEC | O_NOFOLLOW) : -1;
    close(dfd);
    if (lfd < 0) {
        if (mine && errno == ENOENT)
            unlinkat(basefd, name, AT_REMOVEDIR); /* only if empty */
        return false;
    }
    bool free_lock = flock(lfd, LOCK_EX | LOCK_NB) == 0;
    close(lfd); /* drops the flock taken, if any */
    return free_lock;
}

int mem_dir_sweep(const char *base)
{
    int basefd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (basefd < 0)
        return 0;
    DIR *d = fdopendir(basefd);
    if (!d) {
        close(basefd);
        return 0;
    }
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, MEM_DIR_PREFIX, strlen(MEM_DIR_PREFIX)) != 0 || !leftover(basefd, e->d_name))
            continue;
        char path[4096];
        int n = snprintf(path, sizeof path, "%s/%s", base, e->d_name);
        if (n > 0 && (size_t)n < sizeof path && mem_dir_remove(path) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}
