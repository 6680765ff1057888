/* store.h - the store folder: store/lin-kv/<timestamp>/ per run, the
 * store/latest symlink, and whirl.log (layout in docs/STORE.md).
 */
#ifndef RAFTKV_WHIRL_STORE_H
#define RAFTKV_WHIRL_STORE_H

#include <stddef.h>

/* Creates <store>/<test>/<timestamp>/ and its node-logs/, writing the path
 * into dir. Returns 0, or -1 with err. */
int whirl_store_create_run(const char *store, const char *test, char *dir, size_t dirlen, char *err, size_t errlen);
/* Points <store>/latest at dir (replaced atomically). Returns 0 or -1. */
int whirl_store_point_latest(const char *store, const char *dir);

#endif
