/* replica_test_util.h - what the tests that drive one replica by hand
 * share: a message from a peer to node 0, a flush that must succeed, and
 * a log of writes put in storage as a restart finds it. Header-only, as
 * test_storage_util.h. */
#ifndef RAFTKV_REPLICA_TEST_UTIL_H
#define RAFTKV_REPLICA_TEST_UTIL_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv.h"
#include "replica/replica.h"
#include "storage/storage.h"

/* A message of `type` and `term` from node `from` to node 0, every other
 * field zero. */
static inline struct raft_msg rtu_from_peer(int from, enum raft_msg_type type, raft_term term)
{
    struct raft_msg m;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.from = from;
    m.to = 0;
    m.term = term;
    return m;
}

static inline void rtu_flush(struct replica *rep, uint64_t now)
{
    cr_assert_eq(replica_flush(rep, now), 0);
}

/* A write of key "k" = value, encoded as a log entry's payload (malloc'd). */
static inline uint8_t *rtu_write_payload(json_int_t value, size_t *len)
{
    json_t *k = json_string("k"), *v = json_integer(value);
    struct kv_command c = {.op = KV_WRITE, .key = k, .value = v};
    uint8_t *data;
    cr_assert_eq(kv_command_encode(&c, &data, len), 0);
    json_decref(k);
    json_decref(v);
    return data;
}

/* Entries first..last of `term` appended to s, entry i writing "k" = i. */
static inline void rtu_append_writes(struct storage *s, raft_index first, raft_index last,
                                     raft_term term)
{
    for (raft_index i = first; i <= last; i++) {
        size_t len;
        uint8_t *data = rtu_write_payload((json_int_t)i, &len);
        struct raft_entry e = {.term = term, .index = i, .type = RAFT_ENTRY_COMMAND,
                               .data = data, .len = (uint32_t)len};
        cr_assert_eq(storage_append(s, &e, 1), STORAGE_OK);
        free(data);
    }
}

#endif
