/* test_mem_dir.c - an --in-memory member's private storage directory
 * (src/server/mem_dir.c): made under the base with the member's pid in its
 * name, removed whole, and the sweep that removes a killed member's
 * leftovers but never a directory whose pid lives, whose LOCK is held,
 * that has another name, or no LOCK and files in it. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/mem_dir.h"

static void make_base(char *base, size_t cap)
{
    snprintf(base, cap, "/tmp/raftkv-memdir-test.XXXXXX");
    cr_assert_not_null(mkdtemp(base));
}

static void put_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* A pid that was a process's and is no longer (a child, reaped). */
static pid_t dead_pid(void)
{
    pid_t p = fork();
    cr_assert(p >= 0);
    if (p == 0)
        _exit(0);
    waitpid(p, NULL, 0);
    return p;
}

/* base/raftkv-mem-<pid>-test<tag>, holding a storage-like set of files
 * (LOCK when lock is set). */
static void leftover_dir(const char *base, pid_t pid, const char *tag, bool lock, char *out, size_t cap)
{
    snprintf(out, cap, "%s/raftkv-mem-%ld-test%s", base, (long)pid, tag);
    cr_assert_eq(mkdir(out, 0700), 0, "%s", out);
    if (lock)
        put_file(out, "LOCK", "123\n");
    put_file(out, "meta", "m");
    put_file(out, "wal-00000000000000000001.log", "w");
    put_file(out, "snap-00000000000000000009.snap", "s");
}

Test(mem_dir, made_under_the_base_with_the_pid_and_removed_whole)
{
    char base[64], dir[256], err[256];
    make_base(base, sizeof base);
    bool on_memory = true;
    cr_assert_eq(mem_dir_make(base, dir, sizeof dir, &on_memory, err, sizeof err), 0, "%s", err);
    char want[128];
    snprintf(want, sizeof want, "%s/raftkv-mem-%ld-", base, (long)getpid());
    cr_assert_eq(strncmp(dir, want, strlen(want)), 0, "%s", dir);
    cr_assert_eq(strlen(dir), strlen(want) + 6, "six random characters: %s", dir);
    struct stat st;
    cr_assert_eq(stat(dir, &st), 0);
    cr_assert(S_ISDIR(st.st_mode));
    cr_assert_eq(st.st_mode & 0777, 0700, "private to its user");
    put_file(dir, "LOCK", "1\n");
    put_file(dir, "snap-00000000000000000009.tmp", "x");
    cr_assert_eq(mem_dir_remove(dir), 0);
    cr_assert(!exists(dir));
    cr_assert_eq(rmdir(base), 0, "nothing else was left in the base");
}

Test(mem_dir, on_memory_says_whether_the_base_is_a_tmpfs)
{
    if (!exists("/dev/shm"))
        cr_skip_test("no /dev/shm");
    char dir[256], err[256];
    bool on_memory = false;
    cr_assert_eq(mem_dir_make("/dev/shm", dir, sizeof dir, &on_memory, err, sizeof err), 0, "%s", err);
    cr_assert(on_memory, "/dev/shm is a tmpfs");
    cr_assert_eq(mem_dir_remove(dir), 0);
}

Test(mem_dir, a_base_that_cannot_hold_it_is_an_error_naming_the_base)
{
    char dir[256], err[256];
    bool on_memory;
    cr_assert_eq(mem_dir_make("/nonexistent/raftkv-base", dir, sizeof dir, &on_memory, err, sizeof err), -1);
    cr_assert(strstr(err, "--in-memory-dir /nonexistent/raftkv-base"), "%s", err);
    cr_assert(strstr(err, "No such file"), "%s", err);
    cr_assert_str_eq(dir, "", "nothing made, nothing for the exit to remove");
    char tiny[16];
    cr_assert_eq(mem_dir_make("/tmp", tiny, sizeof tiny, &on_memory, err, sizeof err), -1);
    cr_assert(strstr(err, "too long"), "%s", err);
}

Test(mem_dir, the_sweep_removes_only_dead_unlocked_members_directories)
{
    char base[64];
    make_base(base, sizeof base);
    pid_t dead = dead_pid();
    char gone[256], live[256], held[256], nolock[256], other[256];
    leftover_dir(base, dead, "A", true, gone, sizeof gone);          /* removed */
    leftover_dir(base, getppid(), "B", true, live, sizeof live);     /* its pid lives */
    leftover_dir(base, dead, "C", true, held, sizeof held);          /* its LOCK is held */
    leftover_dir(base, dead, "D", false, nolock, sizeof nolock);     /* no LOCK: not a store */
    char empty[256];
    snprintf(empty, sizeof empty, "%s/raftkv-mem-%ld-testE", base, (long)dead);
    cr_assert_eq(mkdir(empty, 0700), 0);                             /* died before its LOCK */
    snprintf(other, sizeof other, "%s/raftkv-other-%ld-x", base, (long)dead);
    cr_assert_eq(mkdir(other, 0700), 0);
    put_file(other, "LOCK", "1\n");                                  /* another name */

    char lock[300];
    snprintf(lock, sizeof lock, "%s/LOCK", held);
    int lfd = open(lock, O_RDWR);
    cr_assert(lfd >= 0);
    cr_assert_eq(flock(lfd, LOCK_EX | LOCK_NB), 0);
    /* flock is per open file: the sweep's own open of LOCK must find it
     * held although this process holds it. */
    cr_assert_eq(mem_dir_sweep(base), 1);
    cr_assert(!exists(gone));
    cr_assert(!exists(empty), "an empty one with no LOCK goes too (not counted)");
    cr_assert(exists(live));
    cr_assert(exists(held));
    cr_assert(exists(nolock));
    cr_assert(exists(other));
    close(lfd);
    cr_assert_eq(mem_dir_sweep(base), 1, "the lock released, that one goes too");
    cr_assert(!exists(held));
    cr_assert_eq(mem_dir_sweep("/nonexistent/raftkv-base"), 0);

    cr_assert_eq(mem_dir_remove(live), 0);
    cr_assert_eq(mem_dir_remove(nolock), 0);
    cr_assert_eq(mem_dir_remove(other), 0);
    cr_assert_eq(rmdir(base), 0);
}
