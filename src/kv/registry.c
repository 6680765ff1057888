/* registry.c - the table of operations (ops.h): the one place that says
 * what each operation code is. */
#include <stddef.h>

#include "kv/ops.h"

#define JSON_KEYED (KV_JSON_FAMILY | KV_NEEDS_KEY)

static const struct kv_op_def ops[KV_OP_LIMIT] = {
    [KV_READ] = {"read", JSON_KEYED, kv_op_read},
    [KV_WRITE] = {"write", JSON_KEYED | KV_NEEDS_ARG0 | KV_WRITES, kv_op_write},
    [KV_CAS] = {"cas", JSON_KEYED | KV_NEEDS_ARG0 | KV_NEEDS_ARG1 | KV_WRITES, kv_op_cas},
    [KV_DELETE] = {"delete", JSON_KEYED | KV_WRITES, kv_op_delete},
    [KV_CLUSTER_ID] = {"cluster_id", KV_JSON_FAMILY | KV_NEEDS_ARG0 | KV_WRITES,
                       kv_op_cluster_id},
    [KV_MULTI] = {"multi", KV_WRITES, kv_op_multi},
    [KV_GET] = {"get", KV_NEEDS_KEY, kv_op_get},
    [KV_SET] = {"set", KV_NEEDS_KEY | KV_NEEDS_ARG0 | KV_WRITES, kv_op_set},
    [KV_DEL] = {"del", KV_NEEDS_KEY | KV_WRITES, kv_op_del},
    [KV_EXISTS] = {"exists", KV_NEEDS_KEY, kv_op_exists},
    [KV_SCAS] = {"scas", KV_NEEDS_KEY | KV_NEEDS_ARG0 | KV_NEEDS_ARG1 | KV_WRITES, kv_op_scas},
    [KV_VERSION] = {"version", KV_NEEDS_KEY, kv_op_version},
    [KV_INCR] = {"incr", KV_NEEDS_KEY | KV_WRITES, kv_op_incr},
    [KV_INCRFLOAT] = {"incrbyfloat", KV_NEEDS_KEY | KV_NEEDS_ARG0 | KV_WRITES, kv_op_incrfloat},
    [KV_APPEND] = {"append", KV_NEEDS_KEY | KV_NEEDS_ARG0 | KV_WRITES, kv_op_append},
    [KV_STRLEN] = {"strlen", KV_NEEDS_KEY, kv_op_strlen},
    [KV_GETRANGE] = {"getrange", KV_NEEDS_KEY, kv_op_getrange},
    [KV_SETRANGE] = {"setrange", KV_NEEDS_KEY | KV_NEEDS_ARG0 | KV_WRITES, kv_op_setrange},
    [KV_GETDEL] = {"getdel", KV_NEEDS_KEY | KV_WRITES, kv_op_getdel},
    [KV_GETEX] = {"getex", KV_NEEDS_KEY | KV_WRITES, kv_op_getex},
    [KV_MSETNX] = {"msetnx", KV_NEEDS_KEY | KV_NEEDS_ARG0 | KV_WRITES, kv_op_msetnx},
    /* the keyspace and deadlines (ops_keys.c, ops_expire.c) */
    [KV_TYPE] = {"type", KV_NEEDS_KEY, kv_op_type},
    [KV_RENAME] = {"rename", KV_NEEDS_KEY | KV_NEEDS_ARG0 | KV_WRITES, kv_op_rename},
    [KV_COPY] = {"copy", KV_NEEDS_KEY | KV_NEEDS_ARG0 | KV_WRITES, kv_op_copy},
    [KV_KEYS] = {"keys", KV_NEEDS_ARG0 | KV_LONG, kv_op_keys},
    [KV_SCAN] = {"scan", 0, kv_op_scan},
    [KV_RANDOMKEY] = {"randomkey", 0, kv_op_randomkey},
    [KV_DBSIZE] = {"dbsize", 0, kv_op_dbsize},
    [KV_FLUSH] = {"flush", KV_WRITES, kv_op_flush},
    [KV_EXPIRE] = {"expire", KV_NEEDS_KEY | KV_WRITES, kv_op_expire},
    [KV_TTL] = {"ttl", KV_NEEDS_KEY, kv_op_ttl},
    [KV_PERSIST] = {"persist", KV_NEEDS_KEY | KV_WRITES, kv_op_persist},
    [KV_EXPIRED] = {"expired", KV_NEEDS_KEY | KV_WRITES, kv_op_expired},
    /* Lua scripts (ops_script.c) */
    [KV_EVAL] = {"eval", KV_NEEDS_ARG0 | KV_NEEDS_ARG1 | KV_WRITES, kv_op_eval},
    [KV_SCRIPT_LOAD] = {"script_load", KV_NEEDS_ARG0 | KV_WRITES, kv_op_script_load},
    [KV_SCRIPT_FLUSH] = {"script_flush", KV_WRITES, kv_op_script_flush},
    [KV_SCRIPT_EXISTS] = {"script_exists", KV_NEEDS_ARG0, kv_op_script_exists},
};

const struct kv_op_def *kv_op_def(unsigned op)
{
    return op < KV_OP_LIMIT && ops[op].name ? &ops[op] : NULL;
}

bool kv_op_known(enum kv_op op)
{
    return kv_op_def((unsigned)op) != NULL;
}

bool kv_op_reads(enum kv_op op)
{
    const struct kv_op_def *d = kv_op_def((unsigned)op);
    return d && !(d->flags & KV_WRITES);
}

bool kv_op_long_read(enum kv_op op)
{
    const struct kv_op_def *d = kv_op_def((unsigned)op);
    return d && !(d->flags & KV_WRITES) && (d->flags & KV_LONG);
}

const char *kv_op_name(enum kv_op op)
{
    const struct kv_op_def *d = kv_op_def((unsigned)op);
    return d ? d->name : "unknown";
}
