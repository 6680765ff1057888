/* model_values.h - what the string and expiry models read from value ids:
 * each value as a Redis string (a JSON string as itself, a JSON integer
 * as its decimal digits, any other JSON value as its text), whether that
 * string is an integer as Redis's INCR reads one, and its length in bytes;
 * cached per id. New strings (INCR's and APPEND's results) are interned
 * into the history's values.
 */
#ifndef RAFTKV_CHECK_MODEL_VALUES_H
#define RAFTKV_CHECK_MODEL_VALUES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "check/lin.h"

struct model_value {
    int32_t str;    /* the id of its string form (a JSON string text) */
    bool is_int;    /* the string is a Redis integer (INCR takes it) */
    int64_t i;      /* its value, if is_int */
    int64_t len;    /* the string's length in bytes */
    bool done;
};

struct model_values {
    struct lin_values *values;
    struct model_value *v; /* by id; v[0] is LIN_NIL's */
    size_t cap;
};

int model_values_init(struct model_values *mv, struct lin_values *values);
void model_values_free(struct model_values *mv);
/* The facts about value id (LIN_NIL: str LIN_NIL, not an integer); NULL
 * when out of memory. The pointer is valid until the next call. */
const struct model_value *model_value(struct model_values *mv, int32_t id);
/* The id of the string of decimal digits of i, or of a ++ b (string
 * forms); -1 when out of memory. */
int32_t model_values_of_int(struct model_values *mv, int64_t i);
int32_t model_values_concat(struct model_values *mv, int32_t a, int32_t b);
/* Redis's string-to-integer rule (string2ll): optional '-', digits, no
 * leading zero, no sign on zero, fits int64. */
bool model_parse_int(const char *s, size_t len, int64_t *out);

#endif
