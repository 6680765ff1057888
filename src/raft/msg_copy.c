/* msg_copy.c - deep copies of messages, for drivers and test networks that
 * hold a message past the next raft_step() (the core's own buffers are reused
 * on every step, as raft.h says). */
#include <stdlib.h>
#include <string.h>

#include "raft/raft.h"

int raft_msg_copy(struct raft_msg *dst, const struct raft_msg *src)
{
    *dst = *src;
    dst->entries = NULL;
    dst->snap_data = NULL;
    dst->snap_conf = NULL;
    if (src->snap_conf) {
        struct raft_configuration *conf = malloc(sizeof *conf);
        if (!conf)
            return RAFT_ERR_NOMEM;
        *conf = *src->snap_conf;
        dst->snap_conf = conf;
    }
    if (src->n_entries) {
        /* One block: the entry array, then every entry's bytes. */
        size_t bytes = src->n_entries * sizeof *src->entries;
        for (size_t i = 0; i < src->n_entries; i++)
            bytes += src->entries[i].len;
        uint8_t *block = malloc(bytes);
        if (!block) {
            raft_msg_release(dst);
            return RAFT_ERR_NOMEM;
        }
        struct raft_entry *ents = (struct raft_entry *)block;
        uint8_t *data = block + src->n_entries * sizeof *src->entries;
        for (size_t i = 0; i < src->n_entries; i++) {
            ents[i] = src->entries[i];
            ents[i].data = src->entries[i].len ? data : NULL;
            if (src->entries[i].len)
                memcpy(data, src->entries[i].data, src->entries[i].len);
            data += src->entries[i].len;
        }
        dst->entries = ents;
    }
    if (src->snap_len) {
        dst->snap_data = malloc(src->snap_len);
        if (!dst->snap_data) {
            raft_msg_release(dst);
            return RAFT_ERR_NOMEM;
        }
        memcpy(dst->snap_data, src->snap_data, src->snap_len);
    }
    return RAFT_OK;
}

void raft_msg_release(struct raft_msg *m)
{
    free(m->entries);
    free(m->snap_data);
    free((void *)m->snap_conf);
    m->entries = NULL;
    m->snap_data = NULL;
    m->snap_conf = NULL;
}
