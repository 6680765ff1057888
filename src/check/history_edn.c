/* history_edn.c - reads Maelstrom's (Jepsen's) history.edn: one op map per
 * line, e.g. {:type :ok, :f :cas, :value [0 [1 2]], :process 3, :index 7}.
 *
 * Values may be independent tuples [key value] (the lin-kv workload) or plain
 * values of a single register; each op is classified on its own: a read or
 * write whose value is a 2-vector, or a cas whose value is [key [from to]],
 * is a keyed op. The nemesis (:process :nemesis) is skipped.
 */
#include <stdio.h>
#include <string.h>

#include "check/history_internal.h"

static bool check_edn_is_pair(const json_t *v)
{
    return json_is_array(v) && json_array_size(v) == 2;
}

int check_edn_line(struct check_history *h, const char *line, int64_t position, char *err, size_t err_len)
{
    const char *p = line;
    while (*p == ' ' || *p == '\t' || *p == ',' || *p == '\r' || *p == '\n')
        p++;
    /* Blank lines, comments, and the brackets of a history printed as one vector. */
    if (*p == '\0' || *p == ';' || strcmp(p, "[") == 0 || strcmp(p, "]") == 0)
        return 1;
    if (*p == '[') { /* the first op of a history printed as one vector */
        const char *q = p + 1;
        while (*q == ' ' || *q == '\t' || *q == ',')
            q++;
        if (*q == '{')
            p = q;
    }
    const char *end;
    json_t *o = check_edn_parse(p, &end, err, err_len);
    if (!o)
        return CHECK_ERR_PARSE;
    int rc = 0;
    while (*end == ' ' || *end == '\t' || *end == ',' || *end == '\r' || *end == '\n' || *end == ']')
        end++;
    if (*end) {
        snprintf(err, err_len, "EDN: unexpected text after the op map");
        rc = CHECK_ERR_PARSE;
        goto done;
    }
    if (!json_is_object(o)) {
        snprintf(err, err_len, "an op must be an EDN map");
        rc = CHECK_ERR_PARSE;
        goto done;
    }
    const json_t *process = json_object_get(o, ":process");
    if (!json_is_integer(process)) { /* :nemesis, or some other non-client process */
        rc = 1;
        goto done;
    }
    int type = check_type_from_name(json_string_value(json_object_get(o, ":type")));
    int f = check_f_from_name(json_string_value(json_object_get(o, ":f")));
    if (type < 0) {
        snprintf(err, err_len, ":type must be :invoke, :ok, :fail or :info");
        rc = CHECK_ERR_PARSE;
        goto done;
    }
    if (f < 0) {
        snprintf(err, err_len, ":f must be :read, :write, :cas, :get, :set, :incr, :incrby, :append, :getset, :del, "
                               ":ttl, :pttl or :persist");
        rc = CHECK_ERR_PARSE;
        goto done;
    }
    const json_t *value = json_object_get(o, ":value");
    const json_t *key = NULL;
    bool keyed = f == LIN_CAS ? check_edn_is_pair(value) && check_edn_is_pair(json_array_get(value, 1))
                              : check_edn_is_pair(value);
    if (keyed) {
        key = json_array_get(value, 0);
        value = json_array_get(value, 1);
    }
    const json_t *index = json_object_get(o, ":index");
    rc = check_add_parsed(h, json_integer_value(process), type, f, key, value, json_object_get(o, ":deadline"),
                          json_object_get(o, ":at"), check_error_code(json_object_get(o, ":error")),
                          json_is_integer(index) ? json_integer_value(index) : position, position, err, err_len);
done:
    json_decref(o);
    return rc;
}
