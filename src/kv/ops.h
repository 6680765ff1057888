/* ops.h - the state machine's operation registry: one row per operation
 * (kv.h's enum kv_op) with everything the module needs to know about it in
 * one place: its name, which fields of struct kv_command it uses (the
 * decoder refuses an entry that lacks one), whether it writes, and the
 * function that applies it. Adding an operation is one row here, one
 * apply function, and (for the string family) nothing else: every field
 * already travels in the binary entry (command.c).
 */
#ifndef RAFTKV_KV_OPS_H
#define RAFTKV_KV_OPS_H

#include "kv/kv_internal.h"

/* Fields an operation needs (struct kv_command). */
#define KV_NEEDS_KEY (1u << 0)  /* skey (string family) or key (JSON family) */
#define KV_NEEDS_ARG0 (1u << 1)
#define KV_NEEDS_ARG1 (1u << 2)
#define KV_JSON_FAMILY (1u << 3) /* JSON values; the entry is JSON text */
#define KV_WRITES (1u << 4)      /* changes the state: goes through the log */
#define KV_LONG (1u << 5)        /* a read answered many loop turns after it is served */

typedef void (*kv_apply_fn)(struct kv_store *s, const struct kv_command *c, int64_t now_ms,
                            struct kv_result *r);

struct kv_op_def {
    const char *name;
    unsigned flags; /* KV_NEEDS_*, KV_JSON_FAMILY, KV_WRITES, KV_LONG */
    kv_apply_fn apply;
};

/* The row of an operation, or NULL if no such operation exists. */
const struct kv_op_def *kv_op_def(unsigned op);

/* The apply functions, one file per family. */
void kv_op_read(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r);
void kv_op_write(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r);
void kv_op_cas(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r);
void kv_op_delete(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r);
void kv_op_cluster_id(struct kv_store *s, const struct kv_command *c, int64_t now,
                      struct kv_result *r);
void kv_op_multi(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r);
void kv_op_get(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r);
void kv_op_set(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r);
void kv_op_del(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r);
void kv_op_exists(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r);
void kv_op_version(struct kv_store *s, const struct kv_command *c, int64_t now,
                   struct kv_result *r);
void kv_op_scas(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r);
/* ops_string2.c: counters, ranges, GETDEL/GETEX, MSETNX */
void kv_op_incr(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r);
void kv_op_incrfloat(struct kv_store *s, const struct kv_command *c, int64_t now,
                     struct kv_result *r);
void kv_op_append(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r);
void kv_op_strlen(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r);
void kv_op_getrange(struct kv_store *s, const struct kv_command *c, int64_t now,
                    struct kv_result *r);
void kv_op_setrange(struct kv_store *s, const struct kv_command *c, int64_t now,
                    struct kv_result *r);
void kv_op_getdel(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r);
void kv_op_getex(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r);
void kv_op_msetnx(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r);
/* ops_keys.c, ops_expire.c: the keyspace and deadlines */
void kv_op_type(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r);
void kv_op_rename(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r);
void kv_op_copy(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r);
void kv_op_keys(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r);
void kv_op_scan(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r);
void kv_op_randomkey(struct kv_store *s, const struct kv_command *c, int64_t now,
                     struct kv_result *r);
void kv_op_dbsize(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r);
void kv_op_flush(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r);
void kv_op_expire(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r);
void kv_op_ttl(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r);
void kv_op_persist(struct kv_store *s, const struct kv_command *c, int64_t now,
                   struct kv_result *r);
void kv_op_expired(struct kv_store *s, const struct kv_command *c, int64_t now,
                   struct kv_result *r);
/* ops_script.c: Lua scripts */
void kv_op_eval(struct kv_store *s, const struct kv_command *c, int64_t now, struct kv_result *r);
void kv_op_script_load(struct kv_store *s, const struct kv_command *c, int64_t now,
                       struct kv_result *r);
void kv_op_script_flush(struct kv_store *s, const struct kv_command *c, int64_t now,
                        struct kv_result *r);
void kv_op_script_exists(struct kv_store *s, const struct kv_command *c, int64_t now,
                         struct kv_result *r);

#endif
