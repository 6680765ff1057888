/* command.c - a KV command as the bytes of a Raft log entry: compact JSON
 * with sorted keys, {"op":"w","k":K,"v":V} / {"op":"c","k":K,"f":A,"t":B} /
 * {"op":"r","k":K} / {"op":"d","k":K}. JSON keeps the log readable in traces
 * and lets the Maelstrom wire format embed an entry as it is. */
#include <stdlib.h>
#include <string.h>

#include "kv/kv_internal.h"

static const char *const op_names[] = {[KV_READ] = "r", [KV_WRITE] = "w", [KV_CAS] = "c",
                                       [KV_DELETE] = "d"};

int kv_command_encode(const struct kv_command *c, uint8_t **data, size_t *len)
{
    if ((unsigned)c->op > KV_DELETE || !c->key)
        return -1;
    if (c->op == KV_WRITE && !c->value)
        return -1;
    if (c->op == KV_CAS && (!c->from || !c->to))
        return -1;
    json_t *o = json_object();
    if (!o)
        return -1;
    int rc = json_object_set_new(o, "op", json_string(op_names[c->op]));
    rc |= json_object_set(o, "k", c->key);
    if (c->op == KV_WRITE)
        rc |= json_object_set(o, "v", c->value);
    if (c->op == KV_CAS) {
        rc |= json_object_set(o, "f", c->from);
        rc |= json_object_set(o, "t", c->to);
    }
    char *text = rc == 0 ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    if (!text)
        return -1;
    *data = (uint8_t *)text;
    *len = strlen(text);
    return 0;
}

/* A borrowed member as an owned reference, or NULL. */
static json_t *take(json_t *o, const char *name)
{
    return json_incref(json_object_get(o, name));
}

int kv_command_decode(const uint8_t *data, size_t len, struct kv_command *c)
{
    memset(c, 0, sizeof *c);
    if (!data || len == 0)
        return -1;
    json_t *o = json_loadb((const char *)data, len, JSON_DECODE_ANY, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return -1;
    }
    const char *op = json_string_value(json_object_get(o, "op"));
    int rc = -1;
    if (op && op[0] && !op[1]) {
        for (int i = KV_READ; i <= KV_DELETE; i++) {
            if (op[0] == op_names[i][0]) {
                c->op = (enum kv_op)i;
                rc = 0;
            }
        }
    }
    if (rc == 0) {
        c->key = take(o, "k");
        if (c->op == KV_WRITE)
            c->value = take(o, "v");
        if (c->op == KV_CAS) {
            c->from = take(o, "f");
            c->to = take(o, "t");
        }
        if (!c->key || (c->op == KV_WRITE && !c->value) ||
            (c->op == KV_CAS && (!c->from || !c->to)))
            rc = -1;
    }
    json_decref(o);
    if (rc != 0)
        kv_command_release(c);
    return rc;
}

void kv_command_release(struct kv_command *c)
{
    json_decref(c->key);
    json_decref(c->value);
    json_decref(c->from);
    json_decref(c->to);
    memset(c, 0, sizeof *c);
}
