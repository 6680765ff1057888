/* identity.h - the member identity record of a data directory: which member
 * the directory belongs to, in which cluster.
 *
 * The file `identity` is written when a member first starts on an empty
 * directory: its name, the sorted names of every member it was started
 * with, and (once learned through the Raft log) the 128-bit cluster id.
 * Every later start compares it with the options: a directory started under
 * another name, or with another set of member names, is refused, since its
 * votes and log entries were given as that member of that cluster.
 * Addresses are not recorded: a member may move.
 *
 * The file is text an operator can read, with a checksum:
 *     raftkv-identity 1
 *     name n1
 *     members n1 n2 n3
 *     cluster_id 0f1e...(32 hex digits, or - while not known)
 *     crc32c 89abcdef            (CRC-32C of every byte before this line)
 * Bytes of a name outside '!'..'~', and '%', are written as %XX. It is
 * replaced atomically: write identity.tmp, fsync, rename, fsync the
 * directory, so a crash leaves the old record or the new one.
 */
#ifndef RAFTKV_STORAGE_IDENTITY_H
#define RAFTKV_STORAGE_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cluster_id.h"
#include "raft/raft.h"

#define IDENTITY_FILE "identity"
#define IDENTITY_VERSION 1
#define IDENTITY_MAX_NAME 64
#define IDENTITY_MAX_MEMBERS RAFT_MAX_NODES

#define IDENTITY_OK 0
#define IDENTITY_MISSING (-1) /* no file */
#define IDENTITY_CORRUPT (-2) /* checksum, version or syntax */
#define IDENTITY_IO (-3)
/* identity_check's mismatches */
#define IDENTITY_NAME_DIFFERS (-4)
#define IDENTITY_MEMBERS_DIFFER (-5)

struct identity {
    char name[IDENTITY_MAX_NAME + 1];
    int n_members;
    char members[IDENTITY_MAX_MEMBERS][IDENTITY_MAX_NAME + 1]; /* sorted */
    bool has_cluster_id;
    uint8_t cluster_id[CLUSTER_ID_BYTES]; /* never all zero when has_cluster_id */
};

/* Fill `id` with a name and members given in any order (sorted here).
 * Returns 0, or -1 for a name too long, an empty name, too many members or
 * a duplicate. */
int identity_init(struct identity *id, const char *name, const char *const *members, int n);

/* Read dir/identity. IDENTITY_OK, IDENTITY_MISSING, IDENTITY_CORRUPT or
 * IDENTITY_IO; err says what and where. */
int identity_read(const char *dir, struct identity *out, char *err, size_t errlen);
/* Replace dir/identity atomically and durably. IDENTITY_OK or IDENTITY_IO. */
int identity_write(const char *dir, const struct identity *id, char *err, size_t errlen);

/* The bytes of the file, and back (for tests and the two above). encode
 * returns the length written (< cap), or -1 if cap is too small. */
int identity_encode(const struct identity *id, char *buf, size_t cap);
int identity_decode(const char *buf, size_t len, struct identity *out, char *err, size_t errlen);

/* Compare what a directory recorded with what a start was given (the
 * cluster id is not compared). IDENTITY_OK, IDENTITY_NAME_DIFFERS or
 * IDENTITY_MEMBERS_DIFFER. */
int identity_check(const struct identity *recorded, const struct identity *given);

/* "n1,n2,n3" into buf (truncated to cap). */
void identity_members_text(const struct identity *id, char *buf, size_t cap);

#endif
