/* history_jsonl.c - reads whirl's history.jsonl (docs/STORE.md), one event
 * per line: {"index":..,"process":..,"type":..,"f":..,"key":..,"value":..,
 * "error":[code,text]}, and for the expiry model "deadline" and "at"
 * (check.h). Nemesis events (a string process) are skipped.
 */
#include <stdio.h>
#include <string.h>

#include "check/history_internal.h"

static bool check_blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
            return false;
    return true;
}

int check_jsonl_line(struct check_history *h, const char *line, int64_t position, char *err, size_t err_len)
{
    int rc = check_jsonl_fast(h, line, position);
    if (rc != CHECK_FAST_DECLINED)
        return rc;
    return check_jsonl_line_general(h, line, position, err, err_len);
}

int check_jsonl_line_general(struct check_history *h, const char *line, int64_t position, char *err,
                             size_t err_len)
{
    if (check_blank(line))
        return 1;
    json_error_t jerr;
    json_t *o = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
    if (!o) {
        snprintf(err, err_len, "not JSON: %s (column %d)", jerr.text, jerr.column);
        return CHECK_ERR_PARSE;
    }
    int rc = 0;
    if (!json_is_object(o)) {
        snprintf(err, err_len, "an event must be a JSON object");
        rc = CHECK_ERR_PARSE;
        goto done;
    }
    const json_t *process = json_object_get(o, "process");
    if (json_is_string(process)) { /* the nemesis */
        rc = 1;
        goto done;
    }
    if (!json_is_integer(process)) {
        snprintf(err, err_len, "\"process\" must be an integer or \"nemesis\"");
        rc = CHECK_ERR_PARSE;
        goto done;
    }
    int type = check_type_from_name(json_string_value(json_object_get(o, "type")));
    int f = check_f_from_name(json_string_value(json_object_get(o, "f")));
    if (type < 0 || f < 0) {
        snprintf(err, err_len, "%s", type < 0 ? "\"type\" must be invoke, ok, fail or info"
                                               : "\"f\" must be read, write, cas, get, set, incr, incrby, "
                                                 "append, getset, del, ttl, pttl or persist");
        rc = CHECK_ERR_PARSE;
        goto done;
    }
    const json_t *index = json_object_get(o, "index");
    rc = check_add_parsed(h, json_integer_value(process), type, f, json_object_get(o, "key"),
                          json_object_get(o, "value"), json_object_get(o, "deadline"), json_object_get(o, "at"),
                          check_error_code(json_object_get(o, "error")),
                          json_is_integer(index) ? json_integer_value(index) : position, position, err, err_len);
done:
    json_decref(o);
    return rc;
}
