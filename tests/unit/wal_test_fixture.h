/* wal_test_fixture.h - the fixture of the tests that write a log, damage
 * or reopen it and read what comes back (test_wal_recovery.c,
 * test_storage_commit.c): a fresh data directory per test, storage options
 * whose log lines are captured in rlog, and the sizes of the records
 * tsu_append_range writes. Header-only, as test_storage_util.h: each file
 * names its suite with .init = wal_fixture_setup, .fini =
 * wal_fixture_teardown. */
#ifndef RAFTKV_WAL_TEST_FIXTURE_H
#define RAFTKV_WAL_TEST_FIXTURE_H

#include "test_storage_util.h"

static char dir[256];
static struct tsu_log rlog;
static struct storage_options opts;

static inline void wal_fixture_setup(void)
{
    tsu_make_dir(dir, sizeof dir);
    memset(&rlog, 0, sizeof rlog);
    memset(&opts, 0, sizeof opts);
    opts.log = tsu_log_line;
    opts.log_ctx = &rlog;
}

static inline void wal_fixture_teardown(void)
{
    tsu_remove_dir(dir);
}

/* Entries 1..9 of term 1 have 14-byte payloads: 25 + 14 = 39-byte records
 * after the 24-byte segment header. */
#define REC 39
#define HDR 24

#endif
