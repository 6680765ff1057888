/* command_table.h - the Redis commands raftkv knows, one row each, as
 * Redis's command table: name, arity, flags, ACL categories, key positions,
 * handler, and the text COMMAND DOCS shows.
 *
 * ARITY follows Redis: n > 0 means exactly n words (the name counted),
 * n < 0 means at least -n. A container (CLIENT, CONFIG, COMMAND, ACL) has
 * subcommands, each a row of its own named "container|sub" as Redis names
 * them in errors and ACL rules.
 *
 * CATEGORIES are what ACL rules (+@read, -@admin) match: a row's flags give
 * @write, @read, @admin and @dangerous, @fast or @slow, @blocking; a row
 * adds its family (@string, @keyspace, @connection) itself.
 *
 * Every row (subcommands included) has an id below COMMAND_MAX_IDS; a
 * user's permissions are a bitmap over the ids (acl.h).
 */
#ifndef RAFTKV_COMMAND_TABLE_H
#define RAFTKV_COMMAND_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/resp.h"

enum command_flag {
    CMDF_WRITE = 1u << 0,    /* may change the keyspace */
    CMDF_READONLY = 1u << 1, /* reads keys, changes nothing */
    CMDF_ADMIN = 1u << 2,    /* server administration (and @dangerous) */
    CMDF_FAST = 1u << 3,     /* O(1) or O(log N) */
    CMDF_MAY_BLOCK = 1u << 4, /* Redis's "blocking" */
    CMDF_NO_AUTH = 1u << 5,  /* allowed before authentication, never refused by ACLs */
    CMDF_LOADING = 1u << 6,  /* allowed while loading (shown only) */
    CMDF_STALE = 1u << 7,    /* allowed on a stale replica (shown only) */
    CMDF_DENYOOM = 1u << 8,  /* may use more memory (shown only) */
    CMDF_DEBUG = 1u << 9,    /* exists only with --enable-debug-commands */
    CMDF_NO_MULTI = 1u << 10, /* refused inside MULTI (Redis's "no-multi") */
};

/* ACL categories, as bits; the names are Redis's (acl_category_name). */
enum command_category {
    CAT_KEYSPACE, CAT_READ, CAT_WRITE, CAT_SET, CAT_SORTEDSET, CAT_LIST, CAT_HASH, CAT_STRING,
    CAT_BITMAP, CAT_HYPERLOGLOG, CAT_GEO, CAT_STREAM, CAT_PUBSUB, CAT_ADMIN, CAT_FAST, CAT_SLOW,
    CAT_BLOCKING, CAT_DANGEROUS, CAT_CONNECTION, CAT_TRANSACTION, CAT_SCRIPTING,
    CAT_COUNT
};
#define CAT(c) (1u << (c))

#define COMMAND_MAX_IDS 128

struct cmd_ctx;
typedef void (*command_fn)(struct cmd_ctx *x);
struct client_req;
/* A data command's reply, once all its operations ended without error. */
typedef void (*command_reply_fn)(struct client_req *r, int proto);

struct command_def {
    const char *name;     /* lower case; "container|sub" for a subcommand */
    int arity;
    uint32_t flags;       /* enum command_flag */
    uint32_t categories;  /* the family's CAT() bits; the flags add theirs */
    int first_key, last_key, key_step; /* 1-based; last -1 = the last word */
    const char *key_flags; /* key spec flags, e.g. "RO access" (NULL: no keys) */
    command_fn handler;   /* NULL for a container: its subcommand runs */
    command_reply_fn reply;
    const char *summary, *group, *complexity;
    const struct command_def *subs; /* a container's subcommands */
    size_t n_subs;
    int id; /* set by command_table_init */
};

/* The top-level rows, in the table's order. */
extern struct command_def command_table[];
extern const size_t command_table_len;

/* Assign ids (idempotent); returns how many rows there are in all. */
int command_table_init(void);
/* Every row by id (subcommands included); NULL past the last. */
const struct command_def *command_by_id(int id);
size_t command_count_ids(void);

/* The top-level row named `name` (any case), or NULL. Debug rows are
 * found only when `debug` is true. */
const struct command_def *command_lookup(const char *name, size_t len, bool debug);
/* A row by its full name, "get" or "client|id" (any case), or NULL. */
const struct command_def *command_lookup_full(const char *name, size_t len, bool debug);
/* A container's subcommand named `name` (any case), or NULL. */
const struct command_def *command_lookup_sub(const struct command_def *c, const char *name, size_t len);

/* Whether argc words satisfy the row's arity. */
static inline bool command_arity_ok(const struct command_def *c, size_t argc)
{
    return c->arity > 0 ? argc == (size_t)c->arity : argc >= (size_t)-c->arity;
}

/* The row's categories: its own plus those its flags give. */
uint32_t command_categories(const struct command_def *c);
/* "read" for CAT_READ; NULL past the last. */
const char *command_category_name(int cat);
/* CAT_* for "read", or -1. */
int command_category_lookup(const char *name, size_t len);

/* COMMAND INFO's and COMMAND DOCS's entry for one row (command_info.c). */
void command_write_info(struct resp_buf *b, const struct command_def *c, int proto, bool debug);
void command_write_docs(struct resp_buf *b, const struct command_def *c, int proto);

#endif
