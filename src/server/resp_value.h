/* resp_value.h - Redis strings as the state machine's JSON values, and back.
 *
 * The replicated map holds JSON (kv.h). A Redis string that is valid UTF-8
 * becomes a JSON string, so Maelstrom-mode and Redis-mode data read the same.
 * Any other byte string (Redis strings are binary-safe) becomes the object
 * {"$base64": "<its bytes in base64>"}: no UTF-8 string ever maps to an
 * object, so the two never collide, and equal byte strings give equal JSON,
 * which CAS relies on.
 */
#ifndef RAFTKV_RESP_VALUE_H
#define RAFTKV_RESP_VALUE_H

#include <jansson.h>
#include <stddef.h>

#include "server/resp.h"

/* A new reference, or NULL if memory ran out. */
json_t *resp_value_from_bytes(const char *s, size_t n);

/* Write v as a bulk string: the bytes it was made from; JSON that no Redis
 * client wrote (numbers, other objects) as its compact JSON text. */
int resp_value_write_bulk(struct resp_buf *b, const json_t *v);

#endif
