/* log_table.h - the Raft log's entry table in mappings of its own
 * (raft_config.log_table_resize): grown and shrunk by mremap(), which
 * moves pages instead of copying bytes. */
#ifndef RAFTKV_SERVER_LOG_TABLE_H
#define RAFTKV_SERVER_LOG_TABLE_H

#include <stddef.h>

/* raft_config.log_table_resize: p NULL allocates new_bytes, new_bytes 0
 * frees p, else p (a table of old_bytes, not 0) becomes new_bytes, its
 * first bytes kept, maybe at a new address; NULL when the kernel refuses
 * (p then left as it was). */
void *log_table_resize(void *p, size_t old_bytes, size_t new_bytes);

#endif
