/* localkv.c - a test node: the seed's non-replicated store. Each node answers
 * read, write and cas from its own local map only, so one node alone is
 * linearizable and two or more are not (writes to one node are invisible at
 * the others). whirl's tests use it as a known-valid and a known-invalid
 * system. Speaks the Maelstrom protocol: init/raft_init, errors 20 and 22,
 * 10 for unknown types, 12 for malformed requests; exits 0 at end of input.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct localkv {
    char node_id[64];
    long long next_msg_id;
    json_t *map;     /* canonical key text -> value */
    char *out;       /* replies batched until the input read is used up */
    size_t out_len, out_cap;
};

static void out_append(struct localkv *kv, const char *s, size_t n)
{
    if (kv->out_len + n + 1 > kv->out_cap) {
        size_t cap = kv->out_cap ? kv->out_cap * 2 : 65536;
        while (cap < kv->out_len + n + 1)
            cap *= 2;
        char *p = realloc(kv->out, cap);
        if (!p)
            return;
        kv->out = p;
        kv->out_cap = cap;
    }
    memcpy(kv->out + kv->out_len, s, n);
    kv->out_len += n;
}

static void out_flush(struct localkv *kv)
{
    size_t off = 0;
    while (off < kv->out_len) {
        ssize_t w = write(STDOUT_FILENO, kv->out + off, kv->out_len - off);
        if (w <= 0)
            exit(1);
        off += (size_t)w;
    }
    kv->out_len = 0;
}

/* Sends a reply to `req`; takes ownership of body. */
static void reply(struct localkv *kv, json_t *req, json_t *body)
{
    json_t *req_body = json_object_get(req, "body");
    json_object_set(body, "in_reply_to", json_object_get(req_body, "msg_id"));
    json_object_set_new(body, "msg_id", json_integer(++kv->next_msg_id));
    json_t *msg = json_pack("{s:O, s:O, s:o}", "src", json_object_get(req, "dest"), "dest",
                            json_object_get(req, "src"), "body", body);
    char *line = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    if (line) {
        out_append(kv, line, strlen(line));
        out_append(kv, "\n", 1);
    }
    free(line);
    json_decref(msg);
}

static void reply_error(struct localkv *kv, json_t *req, int code, const char *text)
{
    reply(kv, req, json_pack("{s:s, s:i, s:s}", "type", "error", "code", code, "text", text));
}

static void handle(struct localkv *kv, const char *line, size_t len)
{
    json_error_t err;
    json_t *req = json_loadb(line, len, 0, &err);
    json_t *body = req ? json_object_get(req, "body") : NULL;
    const char *type = json_string_value(json_object_get(body, "type"));
    if (!req || !json_is_object(body) || !type) {
        fprintf(stderr, "localkv: dropping a line that is not a message: %.*s\n", (int)(len > 200 ? 200 : len), line);
        json_decref(req);
        return;
    }
    if (strcmp(type, "init") == 0 || strcmp(type, "raft_init") == 0) {
        const char *id = json_string_value(json_object_get(body, "node_id"));
        snprintf(kv->node_id, sizeof kv->node_id, "%s", id ? id : "?");
        fprintf(stderr, "localkv: I am %s\n", kv->node_id);
        reply(kv, req, json_pack("{s:s}", "type", strcmp(type, "init") == 0 ? "init_ok" : "raft_init_ok"));
        json_decref(req);
        return;
    }
    json_t *key = json_object_get(body, "key");
    if (strcmp(type, "read") != 0 && strcmp(type, "write") != 0 && strcmp(type, "cas") != 0) {
        reply_error(kv, req, 10, "unsupported request type");
        json_decref(req);
        return;
    }
    if (!key) {
        reply_error(kv, req, 12, "no key");
        json_decref(req);
        return;
    }
    char *key_text = json_dumps(key, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    json_t *current = key_text ? json_object_get(kv->map, key_text) : NULL;
    if (strcmp(type, "read") == 0) {
        if (!current)
            reply_error(kv, req, 20, "key does not exist");
        else
            reply(kv, req, json_pack("{s:s, s:O}", "type", "read_ok", "value", current));
    } else if (strcmp(type, "write") == 0) {
        json_t *value = json_object_get(body, "value");
        if (!value) {
            reply_error(kv, req, 12, "no value");
        } else {
            json_object_set(kv->map, key_text, value);
            reply(kv, req, json_pack("{s:s}", "type", "write_ok"));
        }
    } else {
        json_t *from = json_object_get(body, "from"), *to = json_object_get(body, "to");
        if (!from || !to)
            reply_error(kv, req, 12, "cas needs from and to");
        else if (!current)
            reply_error(kv, req, 20, "key does not exist");
        else if (!json_equal(current, from))
            reply_error(kv, req, 22, "current value differs from `from`");
        else {
            json_object_set(kv->map, key_text, to);
            reply(kv, req, json_pack("{s:s}", "type", "cas_ok"));
        }
    }
    free(key_text);
    json_decref(req);
}

int main(void)
{
    struct localkv kv = {.map = json_object()};
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    if (!buf || !kv.map)
        return 1;
    for (;;) {
        if (len == cap) {
            char *p = realloc(buf, cap * 2);
            if (!p)
                return 1;
            buf = p;
            cap *= 2;
        }
        ssize_t n = read(STDIN_FILENO, buf + len, cap - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        size_t start = 0;
        for (size_t i = len - (size_t)n; i < len; i++)
            if (buf[i] == '\n') {
                if (i > start)
                    handle(&kv, buf + start, i - start);
                start = i + 1;
            }
        memmove(buf, buf + start, len - start);
        len -= start;
        out_flush(&kv);
    }
    out_flush(&kv);
    free(buf);
    free(kv.out);
    json_decref(kv.map);
    return 0;
}
