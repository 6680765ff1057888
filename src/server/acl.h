/* acl.h - client users, their passwords and permissions, as Redis 7's ACLs
 * (a subset), and protected mode.
 *
 * Users come from `--aclfile FILE`, lines of Redis ACL rules:
 *     user NAME on|off [>password | #<sha256-hex> | nopass]... ~* [+@cat -@cat +cmd -cmd]...
 * and the default user's password from `--requirepass-file FILE`.
 * Rules apply left to right as in Redis: on/off, >pw (add a password),
 * #hex (add a SHA-256 of one), nopass, resetpass, ~* or allkeys (every key;
 * the only key pattern supported), resetkeys, &* allchannels resetchannels
 * (accepted; there is no pub/sub), +@cat -@cat (the categories the
 * command table gives each row), +@all/allcommands, -@all/nocommands,
 * +cmd -cmd +cmd|sub -cmd|sub, reset. A new user is off, with no password,
 * no keys and no commands.
 *
 * Without either option the default user is on, needs no password and may
 * run everything, and protected mode serves loopback clients only. With
 * --aclfile and no `user default` line, the default user is off: every
 * client must AUTH as a named user (Redis would leave it open).
 *
 * Passwords are kept only as SHA-256 digests and compared in constant time
 * (the same work for a wrong user, a wrong password, or a right one).
 */
#ifndef RAFTKV_ACL_H
#define RAFTKV_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "server/command_table.h"

#define ACL_MAX_NAME 64
#define ACL_MAX_PASSWORDS 16
#define ACL_MAX_USERS 1024
#define ACL_MAX_PASSWORD_BYTES 4096

/* One bit per command id (COMMAND_MAX_IDS of them). */
typedef unsigned __int128 acl_mask;

struct acl_user {
    char name[ACL_MAX_NAME + 1];
    bool on, nopass, allkeys;
    int n_passwords;
    uint8_t passwords[ACL_MAX_PASSWORDS][32]; /* SHA-256 */
    acl_mask allowed; /* bit i: the command with id i may run */
};

struct acl {
    struct acl_user *users; /* users[0] is "default" */
    size_t n_users;
    bool from_file;     /* --aclfile given */
    bool has_password;  /* --requirepass-file given */
    bool default_in_file; /* the ACL file has a `user default` line */
};

/* Only the default user: on, nopass, ~*, +@all. 0, or -1 out of memory. */
int acl_init(struct acl *a);
void acl_free(struct acl *a);

/* Apply one rule to u; 0, or -1 with why in err. */
int acl_user_rule(struct acl_user *u, const char *rule, size_t len, char *err, size_t errlen);
/* One line of an ACL file ("user NAME rules..."; blank lines and '#'
 * comments are skipped); 0, or -1 with why in err (no file or line). */
int acl_parse_line(struct acl *a, const char *line, char *err, size_t errlen);
/* --aclfile: every line, or nothing (the error names FILE:LINE). The
 * default user is off unless a line defines it. Refuses a file other
 * users can read. */
int acl_load_file(struct acl *a, const char *path, char *err, size_t errlen);
/* --requirepass-file: the default user's password, the file's one line.
 * Refuses an unreadable, empty or world-readable file. */
int acl_load_requirepass(struct acl *a, const char *path, char *err, size_t errlen);

const struct acl_user *acl_find(const struct acl *a, const char *name, size_t len);
static inline const struct acl_user *acl_default_user(const struct acl *a)
{
    return &a->users[0];
}
/* The user, when it is on and the password is one of its own (or it is
 * nopass); NULL otherwise. */
const struct acl_user *acl_authenticate(const struct acl *a, const char *user, size_t ul, const char *pw,
                                        size_t pl);
/* Whether a new connection is authenticated at once, as the default user
 * (it is on and needs no password). */
bool acl_default_open(const struct acl *a);

enum acl_verdict {
    ACL_ALLOW,
    ACL_NOAUTH,      /* -NOAUTH Authentication required. */
    ACL_NOPERM_CMD,  /* -NOPERM this user has no permissions to run the '<cmd>' command */
    ACL_NOPERM_KEY,  /* -NOPERM this user has no permissions to access one of the keys ... */
};
/* May `u` (NULL: not authenticated) run `c`? */
enum acl_verdict acl_check(const struct acl_user *u, const struct command_def *c);
/* The error reply for a refusal (no leading '-'), into buf. */
const char *acl_verdict_error(enum acl_verdict v, const struct command_def *c, char *buf, size_t cap);

void acl_sha256(const void *data, size_t len, uint8_t out[32]);

/* Protected mode (Redis's): on, and the default user open, refuses every
 * client whose address is not 127.0.0.1 or ::1 (or a unix socket). */
bool acl_protected_refuses(const struct acl *a, bool protected_mode, const struct sockaddr *peer);
extern const char acl_protected_mode_error[];

#endif
