/* store.c - run folders and the latest symlink. */
#include "whirl/store.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int make_dir(const char *path)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST)
        return 0;
    return -1;
}

int whirl_store_create_run(const char *store, const char *test, char *dir, size_t dirlen, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", store, test);
    if (make_dir(store) != 0 || make_dir(path) != 0) {
        snprintf(err, errlen, "cannot create the store folder %s: %s", path, strerror(errno));
        return -1;
    }
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    localtime_r(&tv.tv_sec, &tm);
    char stamp[64];
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &tm);
    /* Two runs in the same millisecond get -2, -3, ... */
    for (int attempt = 1; attempt < 1000; attempt++) {
        if (attempt == 1)
            snprintf(dir, dirlen, "%s/%s.%03ld", path, stamp, (long)(tv.tv_usec / 1000));
        else
            snprintf(dir, dirlen, "%s/%s.%03ld-%d", path, stamp, (long)(tv.tv_usec / 1000), attempt);
        if (mkdir(dir, 0755) == 0) {
            char logs[4200];
            snprintf(logs, sizeof logs, "%s/node-logs", dir);
            if (make_dir(logs) != 0) {
                snprintf(err, errlen, "cannot create %s: %s", logs, strerror(errno));
                return -1;
            }
            return 0;
        }
        if (errno != EEXIST)
            break;
    }
    snprintf(err, errlen, "cannot create a run folder under %s: %s", path, strerror(errno));
    return -1;
}

int whirl_store_point_latest(const char *store, const char *dir)
{
    /* A relative target keeps the store movable. */
    size_t n = strlen(store);
    const char *target = dir;
    if (strncmp(dir, store, n) == 0 && dir[n] == '/')
        target = dir + n + 1;
    char tmp[4200], link[4200];
    snprintf(tmp, sizeof tmp, "%s/.latest.%ld", store, (long)getpid());
    snprintf(link, sizeof link, "%s/latest", store);
    unlink(tmp);
    if (symlink(target, tmp) != 0)
        return -1;
    if (rename(tmp, link) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}
