/* fuzz.h - what every fuzz target shares: the libFuzzer entry point, a
 * property check that aborts (libFuzzer and the replay driver both report an
 * abort as a crash, with the input), and a scratch directory for targets that
 * go through files. Targets are built two ways: with libFuzzer's main
 * (`make fuzz`) and with replay_main.c (`make test` replays the corpora). */
#ifndef RAFTKV_TESTS_FUZZ_H
#define RAFTKV_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A private directory for this process, made on first use and removed with
 * its files at exit. Returns an fd open on it; *path gets its name. */
int fuzz_scratch_dir(const char **path);
/* Remove every file in the scratch directory (between inputs). */
void fuzz_scratch_clear(void);

#endif
