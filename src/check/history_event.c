/* history_event.c - turns an event's parsed fields (JSON or EDN, as a
 * jansson tree) into a check_event for the builder.
 */
#include <inttypes.h>
#include <stdio.h>

#include "check/history_internal.h"

int check_add_parsed(struct check_history *h, int64_t process, int type, int f, const json_t *key,
                     const json_t *value, int64_t error, int64_t index, int64_t position, char *err,
                     size_t err_len)
{
    char key_buf[64], from_buf[64], to_buf[64];
    char *key_text = NULL, *from = NULL, *to = NULL;
    int rc = 0;

    struct check_event ev = {.process = process, .type = (enum check_type)type, .f = (enum lin_f)f,
                             .error = error, .index = index, .time = (uint64_t)position};
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
    } else if ((f == LIN_WRITE && type == CHECK_INVOKE) || (f == LIN_READ && type == CHECK_OK)) {
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
