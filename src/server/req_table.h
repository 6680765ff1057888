/* req_table.h - a map from operation ids (uint64, never 0) to the operations
 * in flight, so an answer from the replica or from a peer finds its request
 * without trusting a pointer that crossed a process boundary. Open
 * addressing with linear probing and backward-shift deletion (no tombstones).
 */
#ifndef RAFTKV_REQ_TABLE_H
#define RAFTKV_REQ_TABLE_H

#include <stddef.h>
#include <stdint.h>

struct req_table_slot {
    uint64_t id; /* 0: empty */
    void *value;
};

struct req_table {
    struct req_table_slot *slots;
    size_t cap; /* a power of two */
    size_t len;
};

void req_table_free(struct req_table *t);
/* Insert a new id (id != 0, not present). Returns 0 or -1 (no memory). */
int req_table_put(struct req_table *t, uint64_t id, void *value);
void *req_table_get(const struct req_table *t, uint64_t id);
/* Remove and return the value, or NULL if absent. */
void *req_table_take(struct req_table *t, uint64_t id);

#endif
