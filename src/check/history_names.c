/* history_names.c - what the readers share: canonical value text and the
 * names of event types, functions and Maelstrom error codes.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/history_internal.h"

char *check_canonical_text(const json_t *v, char *buf, size_t len)
{
    if (!v || json_is_null(v))
        return NULL;
    if (json_is_integer(v)) { /* the common case, without an allocation */
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    }
    return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

void check_text_release(char *text, const char *buf)
{
    if (text != buf)
        free(text);
}

static const char *check_strip_colon(const char *name)
{
    return name && name[0] == ':' ? name + 1 : name;
}

int check_type_from_name(const char *name)
{
    name = check_strip_colon(name);
    if (!name)
        return -1;
    if (strcmp(name, "invoke") == 0)
        return CHECK_INVOKE;
    if (strcmp(name, "ok") == 0)
        return CHECK_OK;
    if (strcmp(name, "fail") == 0)
        return CHECK_FAIL;
    if (strcmp(name, "info") == 0)
        return CHECK_INFO;
    return -1;
}

int check_f_from_name(const char *name)
{
    name = check_strip_colon(name);
    if (!name)
        return -1;
    if (strcmp(name, "read") == 0)
        return LIN_READ;
    if (strcmp(name, "write") == 0)
        return LIN_WRITE;
    if (strcmp(name, "cas") == 0)
        return LIN_CAS;
    static const struct {
        const char *name;
        int f;
    } more[] = {{"get", LIN_GET},       {"set", LIN_SET},       {"incr", LIN_INCR}, {"incrby", LIN_INCR},
                {"append", LIN_APPEND}, {"getset", LIN_GETSET}, {"del", LIN_DEL},   {"ttl", LIN_TTL},
                {"pttl", LIN_PTTL},     {"persist", LIN_PERSIST}};
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
        if (strcmp(name, more[i].name) == 0)
            return more[i].f;
    return -1;
}

/* Maelstrom's error names (PROTOCOL.md), as its EDN histories spell them. */
static const struct {
    const char *name;
    int code;
} check_error_names[] = {
    {"timeout", 0},
    {"net-timeout", 0},
    {"node-not-found", 1},
    {"not-supported", 10},
    {"temporarily-unavailable", 11},
    {"malformed-request", 12},
    {"crash", 13},
    {"abort", 14},
    {"key-does-not-exist", 20},
    {"key-already-exists", 21},
    {"precondition-failed", 22},
    {"txn-conflict", 30},
    {"timed-out", 0},
    {"not-an-integer", CHECK_CODE_NOT_INTEGER},
};

int64_t check_error_code(const json_t *error)
{
    if (json_is_array(error) && json_array_size(error) > 0)
        error = json_array_get(error, 0);
    if (json_is_integer(error))
        return json_integer_value(error) < 0 ? CHECK_NO_ERROR : json_integer_value(error);
    if (json_is_string(error)) {
        const char *name = check_strip_colon(json_string_value(error));
        for (size_t i = 0; i < sizeof check_error_names / sizeof check_error_names[0]; i++)
            if (strcmp(name, check_error_names[i].name) == 0)
                return check_error_names[i].code;
    }
    return CHECK_NO_ERROR;
}
