/* backup.h - `raftkv backup` (backup_cmd.c) and `raftkv restore`
 * (restore_cmd.c): a linearizable image of a running cluster, taken over
 * the client port (RAFTKV.BACKUP, cmd_backup.c), and a new cluster made
 * from it. src/node/main.c calls backup_main/restore_main with argv[0]
 * "backup"/"restore": 0 done, 1 failed, 64 bad usage.
 */
#ifndef RAFTKV_SERVER_BACKUP_H
#define RAFTKV_SERVER_BACKUP_H

#include <stdint.h>

#include "common/cluster_id.h"

int backup_main(int argc, char **argv);
int restore_main(int argc, char **argv);

/* The restored cluster's id, the same on every member restored from the
 * same file with the same token and member names: the first 16 bytes of
 * SHA-256 over "raftkv-restore-1\n", the file's SHA-256 as 64 lowercase
 * hex digits, "\n", the token, "\n", the member names sorted and joined
 * by ",", "\n" (an all-zero result gets its first byte set to 1). */
void restore_cluster_id(const uint8_t file_sha256[32], const char *token, const char *const *members,
                        int n, uint8_t out[CLUSTER_ID_BYTES]);

/* The restored cluster's hash key (map.h), the same on every member
 * restored alike and unknown to anyone without the backup file: the first
 * 16 bytes of SHA-256 over "raftkv-restore-map-key-1\n", the file's
 * SHA-256 (32 bytes) and the new cluster id (16 bytes); an all-zero result
 * gets its first byte set to 1. */
void restore_map_key(const uint8_t file_sha256[32], const uint8_t cluster_id[CLUSTER_ID_BYTES],
                     uint8_t out[16]);

#endif
