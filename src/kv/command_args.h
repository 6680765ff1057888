/* command_args.h - the one parser of the data commands' arguments: the
 * words of a Redis command (GET, SET with its options, the string,
 * counter, key and deadline commands) -> the state machine's operations
 * (kv.h) that carry it out, or Redis 7.0's error text for bad arguments.
 * Both front ends of these commands use it: the server's handlers
 * (src/server, which formats the results with its command table row's
 * reply function) and a script's redis.call (script_call.c, which converts
 * them to Lua by the row's reply shape). So a command's syntax, limits and
 * error texts exist once, and a command with a row here is callable from
 * scripts.
 *
 * The server's command table (src/server/command_table.c) stays the place
 * that lists every command with its arity and flags; a row here repeats the
 * arity and whether the command writes only because scripts (in src/kv,
 * below the server) must check them, and a unit test holds the two equal
 * (test_command_args.c).
 */
#ifndef RAFTKV_KV_COMMAND_ARGS_H
#define RAFTKV_KV_COMMAND_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv/kv.h"

/* How a command's results become its reply (its row in the server's table
 * has the matching reply function). */
enum kv_reply_shape {
    KV_REPLY_VALUE,    /* results[0]'s bytes, or nil */
    KV_REPLY_GETEX,    /* as VALUE; a bad expire time (reply_flags) is the
                        * error when the key exists */
    KV_REPLY_SET,      /* OK or nil; with KV_SET_GET in reply_flags the old value */
    KV_REPLY_NUM,      /* results[0].num */
    KV_REPLY_BOOL,     /* 1 if results[0].num else 0 */
    KV_REPLY_COUNT,    /* the sum of every result's num */
    KV_REPLY_VALUES,   /* one value or nil per result */
    KV_REPLY_OK,       /* +OK */
    KV_REPLY_TTL_SEC,  /* ms left (or -1, -2) as seconds, rounded to the nearest */
    KV_REPLY_TIME_SEC, /* a deadline in ms, truncated to seconds (EXPIRETIME) */
    KV_REPLY_TYPE,     /* a status: the type's name */
    KV_REPLY_RENAME,   /* OK, or (KV_RENAME_NX in reply_flags) 1 or 0; no key: an error */
    KV_REPLY_CAS,      /* 1 swapped, 0 differs, nil missing */
};

/* GETEX with a bad expire time runs as a read; reply_flags says why. */
#define KV_ARGS_BAD_INT 1u
#define KV_ARGS_BAD_TIME 2u

/* A command's words (borrowed) and what parsing needs besides. */
struct kv_args {
    size_t argc;
    char *const *argv;
    const size_t *argl;
    int64_t now_ms; /* the clock relative expire times are checked against */
    char *err;      /* an error reply's text goes here (Redis's, "ERR ..." ) */
    size_t err_cap;
};

/* The operations that carry a command out. cmds points at one when there
 * is one operation (do not copy the struct), else at an array. */
struct kv_parsed {
    struct kv_command *cmds;
    size_t n;
    struct kv_command one;
    uint32_t reply_flags; /* what the reply needs besides the results */
};

struct kv_args_def {
    const char *name;  /* lower case */
    int arity;         /* as the server's row: n exactly, -n at least */
    bool writes;       /* as the server's row's write flag */
    enum kv_reply_shape reply;
    int (*parse)(const struct kv_args *a, struct kv_parsed *p);
};

/* The row of a command by name (any case), or NULL. */
const struct kv_args_def *kv_args_find(const char *name, size_t n);
/* Every row (for tests): *n of them, sorted by name. */
const struct kv_args_def *kv_args_rows(size_t *n);
/* Whether argc words fit a row's arity. */
bool kv_args_arity_ok(const struct kv_args_def *d, size_t argc);
/* Parse a->argv (whose count fits d's arity) into p: 0, or -1 with the
 * error reply's text in a->err and nothing held. */
int kv_args_parse(const struct kv_args_def *d, const struct kv_args *a, struct kv_parsed *p);
/* Free p's array (the commands themselves were handed on). */
void kv_parsed_free_array(struct kv_parsed *p);
/* Release every command and the array. */
void kv_parsed_release(struct kv_parsed *p);

/* A result's error reply text (Redis's words for the state machine's
 * answer), or NULL when the result is no error. */
const char *kv_result_error_text(const struct kv_result *r, char *buf, size_t cap);

#endif
