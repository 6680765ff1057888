/* kv_test_util.h - what the string-family KV tests share: building a
 * command, applying it as a follower would (through the stamped entry's
 * bytes) or as a read at a given time. */
#ifndef RAFTKV_KV_TEST_UTIL_H
#define RAFTKV_KV_TEST_UTIL_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv.h"

static inline struct kv_command kt_cmd(enum kv_op op, const char *key, const char *arg0, uint32_t flags,
                                       int64_t num0)
{
    struct kv_command c = {.op = op, .flags = flags, .num = {num0, 0}};
    if (key)
        cr_assert_eq(kv_str_set(&c.skey, key, strlen(key)), 0);
    if (arg0)
        cr_assert_eq(kv_str_set(&c.arg[0], arg0, strlen(arg0)), 0);
    return c;
}

/* Encode, stamp `at`, apply through the bytes; the command is released. */
static inline struct kv_result kt_logged(struct kv_store *s, struct kv_command c, int64_t at)
{
    uint8_t *data;
    size_t len;
    cr_assert_eq(kv_command_encode(&c, &data, &len), 0);
    kv_entry_stamp(data, len, at);
    struct kv_result r;
    kv_apply_bytes(s, data, len, 0, &r);
    free(data);
    kv_command_release(&c);
    return r;
}

static inline struct kv_result kt_read(struct kv_store *s, struct kv_command c, int64_t at)
{
    struct kv_result r;
    kv_apply(s, &c, at, &r);
    kv_command_release(&c);
    return r;
}

/* The number a logged write answers (code must be 0). */
static inline int64_t kt_w(struct kv_store *s, struct kv_command c, int64_t at)
{
    struct kv_result r = kt_logged(s, c, at);
    cr_assert_eq(r.code, 0, "%s", r.text);
    int64_t n = r.num;
    kv_result_release(&r);
    return n;
}

static inline int64_t kt_r(struct kv_store *s, struct kv_command c, int64_t at)
{
    struct kv_result r = kt_read(s, c, at);
    cr_assert_eq(r.code, 0, "%s", r.text);
    int64_t n = r.num;
    kv_result_release(&r);
    return n;
}

static inline void kt_set(struct kv_store *s, const char *k, const char *v, int64_t at)
{
    kt_w(s, kt_cmd(KV_SET, k, v, 0, 0), at);
}

#endif
