/* cow_fault.c - what one copy-on-write fault costs on this machine: the
 * price a forked snapshot child makes its parent pay for each page of the
 * map the parent writes while the child runs (bench_scale.sh prints it
 * beside the fork's figures; README "Scale bench").
 *
 *   build/bench/cow_fault [MIB]     MIB of anonymous memory (default 1024)
 *
 * Fills MIB of 4 KiB pages (huge pages off), forks a child that only
 * sleeps, then writes one byte in every 7th page from the parent and
 * prints the mean time a write took: each is a fault that copies a page.
 * The same writes with no child are timed first, as the baseline. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Writes one byte in every 7th page; returns seconds per write. */
static double touch(volatile char *p, size_t n, char v, size_t *count)
{
    size_t pages = 0;
    double t0 = now_s();
    for (size_t i = 0; i < n; i += 4096 * 7) {
        p[i] = v;
        pages++;
    }
    *count = pages;
    return (now_s() - t0) / (double)pages;
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 1024;
    if (mib == 0) {
        fprintf(stderr, "usage: cow_fault [MIB > 0]\n");
        return 2;
    }
    size_t n = mib << 20;
    char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    madvise(p, n, MADV_NOHUGEPAGE);
    memset(p, 1, n);
    size_t pages;
    double plain = touch(p, n, 2, &pages);
    pid_t child = fork();
    if (child < 0) {
        perror("fork");
        return 1;
    }
    if (child == 0) {
        pause();
        _exit(0);
    }
    double cow = touch(p, n, 3, &pages);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    printf("copy-on-write fault: %.2f us (%zu pages written after a fork of %zu MiB; "
           "%.3f us each with no child)\n",
           cow * 1e6, pages, mib, plain * 1e6);
    return 0;
}
