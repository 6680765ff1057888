/* history_internal.h - helpers the history readers share: canonical value
 * text, names of types, functions and error codes, and the EDN reader.
 */
#ifndef RAFTKV_CHECK_HISTORY_INTERNAL_H
#define RAFTKV_CHECK_HISTORY_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "check/check.h"

/* Canonical text of a value: compact JSON with sorted object keys; NULL for
 * JSON null. The result is either `buf` or a malloc'd string to free with
 * check_text_release(). */
char *check_canonical_text(const json_t *v, char *buf, size_t len);
void check_text_release(char *text, const char *buf);

/* "invoke"/":invoke" etc.; -1 if not a type name. */
int check_type_from_name(const char *name);
/* "read"/":read" etc.; -1 if not a client function. */
int check_f_from_name(const char *name);
/* An error field: a code, [code, text], a keyword name (":precondition-failed")
 * or [name, text]; CHECK_NO_ERROR if absent or not understood. */
int64_t check_error_code(const json_t *error);

/* Adds one client event whose fields are parsed JSON: `key` NULL for a
 * single register; `value` as the history holds it (read: the value read;
 * write: the value; cas: [from, to]; the other functions as check.h
 * says); `deadline` and `at` (NULL if absent) the expiry fields. Returns 0,
 * or CHECK_ERR_PARSE with err set when a field does not fit the function,
 * or CHECK_ERR_NOMEM. */
int check_add_parsed(struct check_history *h, int64_t process, int type, int f, const json_t *key,
                     const json_t *value, const json_t *deadline, const json_t *at, int64_t error, int64_t index,
                     int64_t position, char *err, size_t err_len);

/* The fast path for one history.jsonl line: returns 0 with the event added,
 * 1 for a nemesis line, CHECK_ERR_NOMEM, or CHECK_FAST_DECLINED when the
 * line is not in the simple form it handles (then check_jsonl_line's jansson
 * path reads it, and reports errors). */
#define CHECK_FAST_DECLINED 2
int check_jsonl_fast(struct check_history *h, const char *line, int64_t position);
/* The general path: jansson. */
int check_jsonl_line_general(struct check_history *h, const char *line, int64_t position, char *err,
                             size_t err_len);

/* Parses one EDN value (maps, vectors, lists, sets, keywords, symbols,
 * integers, floats, strings, nil, booleans) into a jansson tree: nil ->
 * null, keywords -> strings keeping their ':', maps -> objects keyed by the
 * key's text, vectors/lists/sets -> arrays. Returns NULL with err set if
 * the text is not one EDN value. `end` (if not NULL) receives where parsing
 * stopped. */
json_t *check_edn_parse(const char *text, const char **end, char *err, size_t err_len);

#endif
