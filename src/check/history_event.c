/* history_event.c - turns an event's parsed fields (JSON or EDN, as a
 * jansson tree) into a check_event for the builder.
 */
#include <inttypes.h>
#include <stdio.h>

#include "check/history_internal.h"
#include "check/model_values.h"

/* An integer operand: a JSON integer, or a string Redis reads as one. */
static bool check_is_int(const json_t *v)
{
    int64_t ignored;
    return json_is_integer(v) || (json_is_string(v) && model_parse_int(json_string_value(v), json_string_length(v),
                                                                       &ignored));
}

/* Whether the fields fit the function (the other models' functions; the
 * register's are checked below). NULL, or what is wrong. */
static const char *check_fields_fit(int type, int f, const json_t *value, const json_t *deadline, const json_t *at)
{
    bool absent = !value || json_is_null(value);
    if (deadline && !json_is_null(deadline) && !json_is_integer(deadline))
        return "\"deadline\" must be an integer (ms)";
    if (deadline && !json_is_null(deadline) && f != LIN_SET)
        return "only set takes a deadline";
    if (at && !json_is_null(at) && !json_is_integer(at))
        return "\"at\" must be an integer (ms)";
    if (type == CHECK_INVOKE) {
        if (f == LIN_INCR && !absent && !check_is_int(value))
            return "an incr's value (the increment) must be an integer";
        if ((f == LIN_APPEND || f == LIN_SET || f == LIN_GETSET) && absent)
            return "set, getset and append need a value";
    } else if (type == CHECK_OK && !absent &&
               (f == LIN_INCR || f == LIN_APPEND || f == LIN_DEL || f == LIN_TTL || f == LIN_PTTL ||
                f == LIN_PERSIST) &&
               !check_is_int(value)) {
        return "this function's output (value) must be an integer";
    }
    return NULL;
}

int check_add_parsed(struct check_history *h, int64_t process, int type, int f, const json_t *key,
                     const json_t *value, const json_t *deadline, const json_t *at, int64_t error, int64_t index,
                     int64_t position, char *err, size_t err_len)
{
    char key_buf[64], from_buf[64], to_buf[64], deadline_buf[32], at_buf[32];
    char *key_text = NULL, *from = NULL, *to = NULL;
    int rc = 0;

    struct check_event ev = {.process = process, .type = (enum check_type)type, .f = (enum lin_f)f,
                             .error = error, .index = index, .time = (uint64_t)position};
    if (f > LIN_CAS) {
        const char *why = check_fields_fit(type, f, value, deadline, at);
        if (why) {
            snprintf(err, err_len, "%s", why);
            return CHECK_ERR_PARSE;
        }
        /* Integers: canonical text without an allocation. */
        ev.deadline = json_is_integer(deadline) ? check_canonical_text(deadline, deadline_buf, sizeof deadline_buf) : NULL;
        ev.at = json_is_integer(at) ? check_canonical_text(at, at_buf, sizeof at_buf) : NULL;
    }
    if (key) {
        key_text = check_canonical_text(key, key_buf, sizeof key_buf);
        /* A null key is still a key; give it a text that is not "nil". */
        ev.key = key_text ? key_text : "<null>";
    }
    if (f == LIN_CAS && type == CHECK_INVOKE) {
        if (!json_is_array(value) || json_array_size(value) != 2) {
            snprintf(err, err_len, "cas value must be [from, to]");
            rc = CHECK_ERR_PARSE;
            goto done;
        }
        from = check_canonical_text(json_array_get(value, 0), from_buf, sizeof from_buf);
        to = check_canonical_text(json_array_get(value, 1), to_buf, sizeof to_buf);
        ev.value = from;
        ev.value_to = to;
    } else if ((f == LIN_WRITE && type == CHECK_INVOKE) || (f == LIN_READ && type == CHECK_OK) ||
               (f > LIN_CAS && (type == CHECK_INVOKE || type == CHECK_OK))) {
        from = check_canonical_text(value, from_buf, sizeof from_buf);
        ev.value = from;
    }
    rc = check_history_add(h, &ev);
done:
    if (key_text)
        check_text_release(key_text, key_buf);
    if (from)
        check_text_release(from, from_buf);
    if (to)
        check_text_release(to, to_buf);
    return rc;
}
