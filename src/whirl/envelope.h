/* envelope.h - the fast path that reads a node's stdout line as a Maelstrom
 * message without building a JSON tree.
 *
 * whirl routes every message, so this is its hottest code: one pass validates
 * the line as a JSON object and notes where the top-level "src", "dest" and
 * "body" values lie. Node-to-node lines are then forwarded as the same bytes;
 * only client replies are parsed further (with jansson).
 */
#ifndef RAFTKV_WHIRL_ENVELOPE_H
#define RAFTKV_WHIRL_ENVELOPE_H

#include <stddef.h>

struct whirl_envelope {
    const char *src, *dest; /* string contents, without quotes, not NUL-terminated */
    size_t src_len, dest_len;
    const char *body; /* the body object's text, braces included */
    size_t body_len;
};

/* Scans line[0..len) (no newline). Returns 0 and fills env when the line is
 * one JSON object with string "src" and "dest" (no escapes) and an object
 * "body"; otherwise -1 with *why naming the first problem found. */
int whirl_envelope_scan(const char *line, size_t len, struct whirl_envelope *env, const char **why);

/* Finds a top-level member of a JSON object text (braces included) and returns
 * its value's span, or NULL. The object must already be known valid. */
const char *whirl_json_member(const char *obj, size_t len, const char *name, size_t *value_len);

#endif
