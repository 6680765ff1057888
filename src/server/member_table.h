/* member_table.h - the TCP server's member table: which member has which
 * stable node id, name, peer address and role, how the table travels and is
 * stored, and the checks RAFT.NODE's requests pass before anything changes.
 * Pure functions, except member_table_read/write (the data directory's
 * `members` file).
 *
 * Ids are stable: a member keeps the id it was given for as long as it is a
 * member (ids 0..n-1 by position in --peers at bootstrap; an added member
 * gets the smallest id that neither the table nor the core's configuration
 * uses). The core's CONFIG entry holds ids and roles; the names and
 * addresses ride in the same entry, after the core's bytes (raft.h,
 * RAFT_EVENT_CHANGE's `extra`), encoded as
 *     u8 version (1), u8 n, then per member in increasing id order:
 *     u8 id, u8 role (0 voter, 1 learner, 2 learner to be promoted once
 *     caught up: whichever member leads does it), u8 name length (1..64), name,
 *     u8 host length (1..255), host, u16 port (big endian, 1..65535)
 * so every member adopts a table exactly when the core adopts the
 * configuration it came with (on append). The same bytes are a MEMBERS
 * frame's (peer_codec.h), sent after each HELLO, so a member whose log was
 * replaced by a snapshot, or a new one joining, learns names and addresses.
 *
 * The file data_dir/members (written atomically: tmp, fsync, rename, fsync
 * the directory) keeps the table across restarts once it differs from the
 * --peers a member started with:
 *     raftkv-members 1
 *     index 12                    (the CONFIG entry it came with; 0: none)
 *     member 0 voter n1 127.0.0.1 7101
 *     member 3 learner n4 127.0.0.1 7104     (learner-auto: promoted when caught up)
 *     crc32c 89abcdef             (CRC-32C of every byte before this line)
 */
#ifndef RAFTKV_SERVER_MEMBER_TABLE_H
#define RAFTKV_SERVER_MEMBER_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

#define MEMBER_MAX_NAME 64
#define MEMBER_MAX_HOST 255
#define MEMBER_TABLE_VERSION 1
#define MEMBER_TABLE_MAX_BYTES (2 + RAFT_MAX_NODES * (5 + MEMBER_MAX_NAME + MEMBER_MAX_HOST + 2))
#define MEMBER_FILE "members"

struct member_entry {
    bool used;
    enum raft_member_role role;
    bool auto_promote; /* a learner the leader promotes once caught up */
    char name[MEMBER_MAX_NAME + 1];
    char host[MEMBER_MAX_HOST + 1];
    int port;
};

struct member_table {
    raft_index index; /* the CONFIG entry this table came with; 0: --peers */
    struct member_entry m[RAFT_MAX_NODES]; /* by node id */
};

/* Members in use, and the id of a name or address (-1: none). */
int member_table_count(const struct member_table *t);
int member_table_find_name(const struct member_table *t, const char *name);
int member_table_find_addr(const struct member_table *t, const char *host, int port);
/* The configuration the table describes (ids and roles). */
void member_table_configuration(const struct member_table *t, struct raft_configuration *c);
/* Whether two tables hold the same members (index not compared). */
bool member_table_same(const struct member_table *a, const struct member_table *b);

/* The wire bytes (above): encode returns the length, or 0 when cap is too
 * small or an entry is out of bounds; decode returns 0, or -1 for any
 * malformed byte, length, order, duplicate name or address. */
size_t member_table_encode(const struct member_table *t, uint8_t *buf, size_t cap);
int member_table_decode(const uint8_t *buf, size_t len, struct member_table *t);

/* The file's text, and back; -1 (err says why) for a damaged one. */
int member_table_text(const struct member_table *t, char *buf, size_t cap);
int member_table_parse(const char *buf, size_t len, struct member_table *t, char *err, size_t errlen);
/* 0, 1 no file, -1 damaged or unreadable (err). */
int member_table_read(const char *dir, struct member_table *t, char *err, size_t errlen);
int member_table_write(const char *dir, const struct member_table *t, char *err, size_t errlen);

/* A name RAFT.NODE ADD accepts: 1..64 bytes of letters, digits, '.', '_', '-'. */
bool member_name_ok(const char *name, size_t len);
/* "host:port" or "[v6]:port" into host and port; 0 or -1. */
int member_parse_addr(const char *text, size_t len, char *host, size_t host_cap, int *port);

/* RAFT.NODE's checks, in this order, against the table and the core's
 * configuration (both as this leader has them). Each returns the node id
 * the change is about, or -1 with *why the error text (without "ERR "):
 *   add:     "invalid member name", "invalid address (want host:port)",
 *            "a member named X already exists", "address H:P is already X's",
 *            "too many members (64)"
 *   promote: "no member named X", "X is already a voter"
 *   remove:  "no member named X", "cannot remove the last voter"
 * For add, *id is the new member's id. */
int member_check_add(const struct member_table *t, const struct raft_configuration *c, const char *name,
                     const char *addr, size_t addr_len, char *host, int *port, char *why, size_t why_cap);
int member_check_promote(const struct member_table *t, const struct raft_configuration *c, const char *name,
                         char *why, size_t why_cap);
int member_check_remove(const struct member_table *t, const struct raft_configuration *c, const char *name,
                        char *why, size_t why_cap);

/* A member removed while it was down (peer_codec.h, REMOVED). Whether to
 * answer a HELLO from `sender` with REMOVED: this member's table (index:
 * its CONFIG entry) is committed (index <= commit), came from a change
 * (index > 0), and does not hold the sender, which is not this member. */
bool member_tell_removed(const struct member_table *t, raft_index commit, const char *self, const char *sender);
/* Whether a REMOVED frame (about `name`, at `index`) tells this member to
 * stop: it names this member, and is newer than the configuration this
 * member knows (`known`: the later of its table's and its core's index),
 * so a member re-added since, or a peer that lags, is not obeyed. */
bool member_removal_applies(const char *self, const char *name, uint64_t index, uint64_t known);

#endif
