/* scratch.c - the fuzz targets' private scratch directory (fuzz.h). It lives
 * in $TMPDIR (or /tmp), one per process, and is removed at exit. */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

static char scratch_path[4096];
static int scratch_fd = -1;

void fuzz_scratch_clear(void)
{
    if (scratch_fd < 0)
        return;
    int dup_fd = dup(scratch_fd);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    if (!d) {
        if (dup_fd >= 0)
            close(dup_fd);
        return;
    }
    rewinddir(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            unlinkat(scratch_fd, de->d_name, 0);
    closedir(d);
}

static void scratch_remove(void)
{
    fuzz_scratch_clear();
    close(scratch_fd);
    scratch_fd = -1;
    rmdir(scratch_path);
}

int fuzz_scratch_dir(const char **path)
{
    if (scratch_fd < 0) {
        const char *tmp = getenv("TMPDIR");
        snprintf(scratch_path, sizeof scratch_path, "%s/raftkv-fuzz-XXXXXX",
                 tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(scratch_path)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        scratch_fd = open(scratch_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (scratch_fd < 0) {
            perror("fuzz: open scratch directory");
            abort();
        }
        atexit(scratch_remove);
    }
    *path = scratch_path;
    return scratch_fd;
}
