/* brokenkv.c - a test node for whirl's stats check: it answers init, then
 * fails at lin-kv in one of three ways chosen by its argument, none of which
 * the linearizability check alone can see (a history with no ok is
 * trivially linearizable):
 *   unsupported  every request gets error 10, as Maelstrom's echo demo
 *                answers requests it does not know
 *   silent       no request is ever answered (a proxy whose calls go
 *                nowhere): every operation times out as info
 *   cas-fails    read and write on a local map (correct on one node), but
 *                no cas ever succeeds: 20 on a missing key, 22 when the
 *                value differs, and 11 (did not happen) when it would have
 *                succeeded - every answer true, so the history stays
 *                linearizable
 * Speaks the Maelstrom protocol on stdin/stdout; exits 0 at end of input.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum mode { MODE_UNSUPPORTED, MODE_SILENT, MODE_CAS_FAILS };

static long long next_msg_id;

/* Writes a reply to req; takes ownership of body. */
static void reply(json_t *req, json_t *body)
{
    json_object_set(body, "in_reply_to", json_object_get(json_object_get(req, "body"), "msg_id"));
    json_object_set_new(body, "msg_id", json_integer(++next_msg_id));
    json_t *msg = json_pack("{s:O, s:O, s:o}", "src", json_object_get(req, "dest"), "dest",
                            json_object_get(req, "src"), "body", body);
    char *line = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    if (line)
        printf("%s\n", line);
    free(line);
    json_decref(msg);
}

static void reply_error(json_t *req, int code, const char *text)
{
    reply(req, json_pack("{s:s, s:i, s:s}", "type", "error", "code", code, "text", text));
}

static void handle(enum mode mode, json_t *map, json_t *req)
{
    json_t *body = json_object_get(req, "body");
    const char *type = json_string_value(json_object_get(body, "type"));
    if (!type)
        return;
    if (strcmp(type, "init") == 0) {
        const char *id = json_string_value(json_object_get(body, "node_id"));
        fprintf(stderr, "brokenkv: I am %s\n", id ? id : "?");
        reply(req, json_pack("{s:s}", "type", "init_ok"));
        return;
    }
    if (mode == MODE_SILENT)
        return;
    if (mode == MODE_UNSUPPORTED) {
        reply_error(req, 10, "not supported");
        return;
    }
    char *key = json_dumps(json_object_get(body, "key"), JSON_COMPACT | JSON_ENCODE_ANY);
    json_t *current = key ? json_object_get(map, key) : NULL;
    if (!key)
        reply_error(req, 12, "no key");
    else if (strcmp(type, "read") == 0 && current)
        reply(req, json_pack("{s:s, s:O}", "type", "read_ok", "value", current));
    else if (strcmp(type, "read") == 0)
        reply_error(req, 20, "key does not exist");
    else if (strcmp(type, "write") == 0 && json_object_get(body, "value")) {
        json_object_set(map, key, json_object_get(body, "value"));
        reply(req, json_pack("{s:s}", "type", "write_ok"));
    } else if (strcmp(type, "cas") == 0 && !current)
        reply_error(req, 20, "key does not exist");
    else if (strcmp(type, "cas") == 0 && !json_equal(current, json_object_get(body, "from")))
        reply_error(req, 22, "current value differs from `from`");
    else if (strcmp(type, "cas") == 0)
        reply_error(req, 11, "cas never happens here");
    else
        reply_error(req, 10, "not supported");
    free(key);
}

int main(int argc, char **argv)
{
    const char *m = argc > 1 ? argv[1] : "";
    enum mode mode;
    if (strcmp(m, "unsupported") == 0) {
        mode = MODE_UNSUPPORTED;
    } else if (strcmp(m, "silent") == 0) {
        mode = MODE_SILENT;
    } else if (strcmp(m, "cas-fails") == 0) {
        mode = MODE_CAS_FAILS;
    } else {
        fprintf(stderr, "usage: brokenkv unsupported|silent|cas-fails\n");
        return 64;
    }
    json_t *map = json_object();
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) > 0) {
        json_t *req = json_loadb(line, (size_t)len, 0, NULL);
        if (json_is_object(req))
            handle(mode, map, req);
        json_decref(req);
        fflush(stdout);
    }
    free(line);
    json_decref(map);
    return 0;
}
