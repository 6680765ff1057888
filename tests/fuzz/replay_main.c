/* replay_main.c - runs a fuzz target over saved inputs without libFuzzer:
 * `replay_<target> DIR|FILE...` calls LLVMFuzzerTestOneInput once per file,
 * so `make test` replays every corpus under the sanitizers of its build. A
 * crash, a sanitizer report or a failed property ends the run with the
 * file's name on stderr. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

static const char *current; /* the input being run, for the crash message */

static void say_current(void)
{
    if (!current)
        return;
    static const char head[] = "replay: the input was ";
    ssize_t rc = write(2, head, sizeof head - 1);
    rc = write(2, current, strlen(current));
    rc = write(2, "\n", 1);
    (void)rc;
}

static void on_signal(int sig)
{
    say_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Sanitizers end the process without atexit or a signal: ask them too. */
extern void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0) {
        perror(path);
        if (f)
            fclose(f);
        return -1;
    }
    /* An exact-size buffer, so ASan sees a read past the input's end. */
    size_t len = (size_t)st.st_size;
    uint8_t *buf = malloc(len ? len : 1);
    int bad = !buf || fread(buf, 1, len, f) != len;
    fclose(f);
    if (bad) {
        fprintf(stderr, "%s: read error\n", path);
        free(buf);
        return -1;
    }
    current = path;
    LLVMFuzzerTestOneInput(buf, len);
    current = NULL;
    free(buf);
    return 0;
}

static int name_order(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    signal(SIGABRT, on_signal);
    signal(SIGSEGV, on_signal);
    signal(SIGBUS, on_signal);
    if (__sanitizer_set_death_callback)
        __sanitizer_set_death_callback(say_current);
    size_t n = 0;
    int failed = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            failed |= replay_file(argv[i]) != 0;
            n++;
            continue;
        }
        struct dirent **names;
        int k = scandir(argv[i], &names, NULL, NULL);
        if (k < 0) {
            perror(argv[i]);
            return 1;
        }
        qsort(names, (size_t)k, sizeof *names, name_order);
        for (int j = 0; j < k; j++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], names[j]->d_name);
            if (names[j]->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                failed |= replay_file(path) != 0;
                n++;
            }
            free(names[j]);
        }
        free(names);
    }
    printf("replayed %zu inputs\n", n);
    return failed;
}
