/* envelope.c - a validating single-pass scan of one JSON message line. */
#include "whirl/envelope.h"

#include <string.h>

#define ENVELOPE_MAX_DEPTH 64

struct scan {
    const char *p, *end;
    const char *why;
};

static void skip_ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\r' || *s->p == '\n'))
        s->p++;
}

/* On success leaves p after the closing quote; *has_escape tells whether the
 * contents need unescaping. */
static int skip_string(struct scan *s, int *has_escape)
{
    *has_escape = 0;
    s->p++; /* opening quote */
    while (s->p < s->end) {
        unsigned char c = (unsigned char)*s->p;
        if (c == '"') {
            s->p++;
            return 0;
        }
        if (c == '\\') {
            *has_escape = 1;
            s->p += 2;
            continue;
        }
        if (c < 0x20) {
            s->why = "control character in a string";
            return -1;
        }
        s->p++;
    }
    s->why = "unterminated string";
    return -1;
}

/* Skips a run of decimal digits; tells whether there was at least one. */
static int skip_digits(struct scan *s)
{
    const char *digits = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    return s->p != digits;
}

static int skip_number(struct scan *s)
{
    const char *start = s->p;
    if (s->p < s->end && *s->p == '-')
        s->p++;
    if (!skip_digits(s)) {
        s->why = start == s->p ? "unexpected character" : "bad number";
        return -1;
    }
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (!skip_digits(s)) {
            s->why = "bad number";
            return -1;
        }
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (!skip_digits(s)) {
            s->why = "bad number";
            return -1;
        }
    }
    return 0;
}

static int skip_literal(struct scan *s, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0) {
        s->why = "unexpected character";
        return -1;
    }
    s->p += n;
    return 0;
}

static int skip_value(struct scan *s, int depth);

static int skip_container(struct scan *s, int depth, char close, int is_object)
{
    if (depth >= ENVELOPE_MAX_DEPTH) {
        s->why = "nested too deeply";
        return -1;
    }
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        return 0;
    }
    for (;;) {
        skip_ws(s);
        if (is_object) {
            int esc;
            if (s->p >= s->end || *s->p != '"') {
                s->why = "expected a member name";
                return -1;
            }
            if (skip_string(s, &esc) != 0)
                return -1;
            skip_ws(s);
            if (s->p >= s->end || *s->p != ':') {
                s->why = "expected ':'";
                return -1;
            }
            s->p++;
        }
        if (skip_value(s, depth + 1) != 0)
            return -1;
        skip_ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        if (s->p < s->end && *s->p == close) {
            s->p++;
            return 0;
        }
        s->why = "expected ',' or a closing bracket";
        return -1;
    }
}

static int skip_value(struct scan *s, int depth)
{
    skip_ws(s);
    if (s->p >= s->end) {
        s->why = "truncated";
        return -1;
    }
    int esc;
    switch (*s->p) {
    case '{': return skip_container(s, depth, '}', 1);
    case '[': return skip_container(s, depth, ']', 0);
    case '"': return skip_string(s, &esc);
    case 't': return skip_literal(s, "true");
    case 'f': return skip_literal(s, "false");
    case 'n': return skip_literal(s, "null");
    default: return skip_number(s);
    }
}

int whirl_envelope_scan(const char *line, size_t len, struct whirl_envelope *env, const char **why)
{
    struct scan s = {line, line + len, NULL};
    memset(env, 0, sizeof *env);
    skip_ws(&s);
    if (s.p >= s.end || *s.p != '{') {
        *why = "not a JSON object";
        return -1;
    }
    s.p++;
    skip_ws(&s);
    int first = 1;
    while (!(s.p < s.end && *s.p == '}')) {
        if (!first) {
            if (s.p >= s.end || *s.p != ',') {
                *why = s.p >= s.end ? "truncated" : "expected ',' or '}'";
                return -1;
            }
            s.p++;
            skip_ws(&s);
        }
        first = 0;
        int esc;
        if (s.p >= s.end || *s.p != '"') {
            *why = "expected a member name";
            return -1;
        }
        const char *name = s.p + 1;
        if (skip_string(&s, &esc) != 0) {
            *why = s.why;
            return -1;
        }
        size_t name_len = (size_t)(s.p - 1 - name);
        skip_ws(&s);
        if (s.p >= s.end || *s.p != ':') {
            *why = "expected ':'";
            return -1;
        }
        s.p++;
        skip_ws(&s);
        const char *value = s.p;
        if (skip_value(&s, 1) != 0) {
            *why = s.why;
            return -1;
        }
        size_t value_len = (size_t)(s.p - value);
        int is_src = name_len == 3 && memcmp(name, "src", 3) == 0;
        int is_dest = name_len == 4 && memcmp(name, "dest", 4) == 0;
        if (is_src || is_dest) {
            if (*value != '"') {
                *why = is_src ? "src is not a string" : "dest is not a string";
                return -1;
            }
            if (memchr(value, '\\', value_len)) {
                *why = "escapes in a node id";
                return -1;
            }
            if (is_src) {
                env->src = value + 1;
                env->src_len = value_len - 2;
            } else {
                env->dest = value + 1;
                env->dest_len = value_len - 2;
            }
        } else if (name_len == 4 && memcmp(name, "body", 4) == 0) {
            if (*value != '{') {
                *why = "body is not an object";
                return -1;
            }
            env->body = value;
            env->body_len = value_len;
        }
        skip_ws(&s);
    }
    s.p++;
    skip_ws(&s);
    if (s.p != s.end) {
        *why = "text after the object";
        return -1;
    }
    if (!env->src) {
        *why = "no src";
        return -1;
    }
    if (!env->dest) {
        *why = "no dest";
        return -1;
    }
    if (!env->body) {
        *why = "no body";
        return -1;
    }
    return 0;
}

const char *whirl_json_member(const char *obj, size_t len, const char *name, size_t *value_len)
{
    struct scan s = {obj, obj + len, NULL};
    size_t want = strlen(name);
    skip_ws(&s);
    if (s.p >= s.end || *s.p != '{')
        return NULL;
    s.p++;
    for (;;) {
        skip_ws(&s);
        if (s.p >= s.end || *s.p != '"')
            return NULL;
        const char *n = s.p + 1;
        int esc;
        if (skip_string(&s, &esc) != 0)
            return NULL;
        size_t n_len = (size_t)(s.p - 1 - n);
        skip_ws(&s);
        if (s.p >= s.end || *s.p != ':')
            return NULL;
        s.p++;
        skip_ws(&s);
        const char *value = s.p;
        if (skip_value(&s, 1) != 0)
            return NULL;
        if (n_len == want && memcmp(n, name, want) == 0) {
            *value_len = (size_t)(s.p - value);
            return value;
        }
        skip_ws(&s);
        if (s.p < s.end && *s.p == ',') {
            s.p++;
            continue;
        }
        return NULL;
    }
}
