/* edn.c - a minimal EDN reader, enough for Jepsen's op maps and values.
 *
 * It turns one EDN value into a jansson tree so the readers of EDN and JSON
 * histories share the rest of their code. Nesting is bounded so hostile
 * input cannot exhaust the stack.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/history_internal.h"

#define EDN_MAX_DEPTH 64

struct edn_parser {
    const char *p;
    char *err;
    size_t err_len;
    const char *start;
};

static json_t *edn_value(struct edn_parser *e, int depth);

static void edn_fail(struct edn_parser *e, const char *what)
{
    if (e->err && e->err_len && !e->err[0])
        snprintf(e->err, e->err_len, "EDN: %s at column %zu", what, (size_t)(e->p - e->start) + 1);
}

static void edn_skip_space(struct edn_parser *e)
{
    for (;;) {
        while (*e->p && (isspace((unsigned char)*e->p) || *e->p == ','))
            e->p++;
        if (*e->p != ';')
            return;
        while (*e->p && *e->p != '\n')
            e->p++;
    }
}

static bool edn_is_delimiter(char c)
{
    return c == '\0' || isspace((unsigned char)c) || c == ',' || c == '[' || c == ']' || c == '{' || c == '}' ||
           c == '(' || c == ')' || c == '"' || c == ';';
}

static json_t *edn_string(struct edn_parser *e)
{
    e->p++; /* opening quote */
    size_t cap = 32, n = 0;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    while (*e->p && *e->p != '"') {
        char c = *e->p++;
        if (c == '\\') {
            char x = *e->p++;
            switch (x) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case '"': c = '"'; break;
            case '\\': c = '\\'; break;
            case '\0': e->p--; c = '\\'; break;
            default: c = x; break;
            }
        }
        if (n + 2 > cap) {
            char *t = realloc(s, cap *= 2);
            if (!t) {
                free(s);
                return NULL;
            }
            s = t;
        }
        s[n++] = c;
    }
    if (*e->p != '"') {
        free(s);
        edn_fail(e, "unterminated string");
        return NULL;
    }
    e->p++;
    s[n] = '\0';
    json_t *v = json_stringn(s, n);
    free(s);
    if (!v)
        edn_fail(e, "string is not valid UTF-8");
    return v;
}

/* Reads elements up to `close` into an array, or into an object when
 * as_map (alternating keys and values). */
static json_t *edn_collection(struct edn_parser *e, char close, bool as_map, int depth)
{
    json_t *out = as_map ? json_object() : json_array();
    if (!out)
        return NULL;
    for (;;) {
        edn_skip_space(e);
        if (*e->p == close) {
            e->p++;
            return out;
        }
        if (!*e->p) {
            edn_fail(e, "unterminated collection");
            break;
        }
        json_t *item = edn_value(e, depth + 1);
        if (!item)
            break;
        if (!as_map) {
            json_array_append_new(out, item);
            continue;
        }
        edn_skip_space(e);
        if (*e->p == close || !*e->p) {
            json_decref(item);
            edn_fail(e, "map with an odd number of forms");
            break;
        }
        json_t *val = edn_value(e, depth + 1);
        if (!val) {
            json_decref(item);
            break;
        }
        char buf[128];
        char *key = json_is_string(item) ? NULL : check_canonical_text(item, buf, sizeof buf);
        const char *name = json_is_string(item) ? json_string_value(item) : key ? key : "null";
        json_object_set_new(out, name, val);
        if (key)
            check_text_release(key, buf);
        json_decref(item);
    }
    json_decref(out);
    return NULL;
}

static json_t *edn_atom(struct edn_parser *e)
{
    const char *s = e->p;
    while (!edn_is_delimiter(*e->p))
        e->p++;
    size_t n = (size_t)(e->p - s);
    if (n == 0) {
        edn_fail(e, "unexpected character");
        return NULL;
    }
    char tok[256];
    if (n >= sizeof tok) {
        edn_fail(e, "token too long");
        return NULL;
    }
    memcpy(tok, s, n);
    tok[n] = '\0';
    if (strcmp(tok, "nil") == 0)
        return json_null();
    if (strcmp(tok, "true") == 0)
        return json_true();
    if (strcmp(tok, "false") == 0)
        return json_false();
    const char *digits = tok + (tok[0] == '-' || tok[0] == '+');
    if (isdigit((unsigned char)*digits)) {
        char *end;
        errno = 0;
        long long i = strtoll(tok, &end, 10);
        if (*end == 'N')
            end++;
        if (*end == '\0' && errno == 0)
            return json_integer(i);
        double d = strtod(tok, &end);
        if (*end == 'M')
            end++;
        if (*end == '\0')
            return json_real(d);
        edn_fail(e, "bad number");
        return NULL;
    }
    /* keywords (":read") and symbols stay as their text. */
    return json_string(tok);
}

static json_t *edn_value(struct edn_parser *e, int depth)
{
    if (depth > EDN_MAX_DEPTH) {
        edn_fail(e, "nesting too deep");
        return NULL;
    }
    edn_skip_space(e);
    char c = *e->p;
    switch (c) {
    case '\0':
        edn_fail(e, "unexpected end of input");
        return NULL;
    case '"':
        return edn_string(e);
    case '{':
        e->p++;
        return edn_collection(e, '}', true, depth);
    case '[':
        e->p++;
        return edn_collection(e, ']', false, depth);
    case '(':
        e->p++;
        return edn_collection(e, ')', false, depth);
    case '#':
        if (e->p[1] == '{') {
            e->p += 2;
            return edn_collection(e, '}', false, depth);
        }
        if (e->p[1] == '_') { /* discard the next form */
            e->p += 2;
            json_t *gone = edn_value(e, depth + 1);
            if (!gone)
                return NULL;
            json_decref(gone);
            return edn_value(e, depth);
        }
        /* a tagged literal (#inst "...", #jepsen.history.Op{...}): keep the value */
        e->p++;
        while (!edn_is_delimiter(*e->p))
            e->p++;
        return edn_value(e, depth + 1);
    case ']':
    case '}':
    case ')':
        edn_fail(e, "unbalanced closing bracket");
        return NULL;
    default:
        return edn_atom(e);
    }
}

json_t *check_edn_parse(const char *text, const char **end, char *err, size_t err_len)
{
    if (err && err_len)
        err[0] = '\0';
    struct edn_parser e = {.p = text, .err = err, .err_len = err_len, .start = text};
    json_t *v = edn_value(&e, 0);
    if (end)
        *end = e.p;
    return v;
}
