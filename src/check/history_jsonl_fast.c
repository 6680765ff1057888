/* history_jsonl_fast.c - a fast path for the lines whirl writes to
 * history.jsonl: one flat JSON object whose fields of interest hold
 * integers, plain ASCII strings, null, or arrays of those.
 *
 * Building a jansson tree per line costs about 2 us, most of the time of
 * reading a 100,000-operation history. This scanner validates the whole line
 * against JSON's grammar and reads the fields in place; whenever a line is
 * anything but the simple case (escapes in a string that matters, floats,
 * nested values in a field of interest, a repeated field, bad syntax), it
 * declines and the jansson path decides, so both paths accept and reject
 * exactly the same lines and build the same events.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "check/history_internal.h"

#define FAST_MAX_DEPTH 64
#define FAST_MAX_FIELDS 32

enum fast_kind { FAST_ABSENT, FAST_NULL, FAST_INT, FAST_STR, FAST_ARRAY, FAST_OTHER };

/* A scalar: null, an integer, or a string without escapes or non-ASCII. */
struct fast_scalar {
    enum fast_kind kind;
    int64_t i;
    const char *s; /* for FAST_STR: the text between the quotes */
    size_t len;
};

struct fast_field {
    enum fast_kind kind;
    struct fast_scalar scalar;   /* kind NULL, INT or STR */
    struct fast_scalar elem[2];  /* FAST_ARRAY of scalars: the first two */
    size_t n_elems;
    bool elems_scalar;           /* every element is a scalar as above */
};

struct fast_scan {
    const char *p;
};

static void fast_ws(struct fast_scan *s)
{
    while (*s->p == ' ' || *s->p == '\t' || *s->p == '\r' || *s->p == '\n')
        s->p++;
}

/* A JSON string at s->p; fills `out` as FAST_STR if it is plain (no escapes,
 * printable ASCII), FAST_OTHER otherwise. false on bad syntax. */
static bool fast_string(struct fast_scan *s, struct fast_scalar *out)
{
    const char *start = ++s->p;
    bool plain = true;
    for (;;) {
        unsigned char c = (unsigned char)*s->p;
        if (c == '"')
            break;
        if (c < 0x20) /* control characters, and the end of the line */
            return false;
        /* Non-ASCII text and \u escapes (NUL, lone surrogates) have rules
         * of their own: leave those lines to jansson. */
        if (c >= 0x80)
            return false;
        if (c == '\\') {
            plain = false;
            char e = s->p[1];
            if (!e || !strchr("\"\\/bfnrt", e))
                return false;
            s->p += 2;
            continue;
        }
        s->p++;
    }
    if (out)
        *out = (struct fast_scalar){.kind = plain ? FAST_STR : FAST_OTHER, .s = start, .len = (size_t)(s->p - start)};
    s->p++;
    return true;
}

/* A JSON number that is an integer fitting int64 (anything else declines). */
static bool fast_number(struct fast_scan *s, struct fast_scalar *out)
{
    const char *p = s->p;
    bool neg = *p == '-';
    if (neg)
        p++;
    if (*p < '0' || *p > '9')
        return false;
    bool fits = true;
    uint64_t mag = 0;
    if (*p == '0') {
        p++;
    } else {
        while (*p >= '0' && *p <= '9') {
            uint64_t d = (uint64_t)(*p++ - '0');
            if (mag > (UINT64_MAX - d) / 10)
                fits = false;
            else
                mag = mag * 10 + d;
        }
    }
    bool integral = true;
    if (*p == '.') {
        integral = false;
        p++;
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        integral = false;
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    s->p = p;
    if (fits && (neg ? mag > (uint64_t)INT64_MAX + 1 : mag > (uint64_t)INT64_MAX))
        fits = false;
    /* Reals (which may overflow) and huge integers: jansson's to judge. */
    if (!integral || !fits)
        return false;
    out->kind = FAST_INT;
    out->i = !fits ? 0 : neg ? (mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
    return true;
}

static bool fast_literal(struct fast_scan *s, const char *word)
{
    size_t n = strlen(word);
    if (strncmp(s->p, word, n) != 0)
        return false;
    s->p += n;
    return true;
}

static bool fast_value(struct fast_scan *s, struct fast_field *out, int depth);

/* Any JSON value, validated; `out` (may be NULL) says what it was. */
static bool fast_value(struct fast_scan *s, struct fast_field *out, int depth)
{
    struct fast_field ignored;
    if (!out)
        out = &ignored;
    memset(out, 0, sizeof *out);
    if (depth > FAST_MAX_DEPTH)
        return false;
    switch (*s->p) {
    case '"':
        if (!fast_string(s, &out->scalar))
            return false;
        out->kind = out->scalar.kind;
        return true;
    case 'n':
        out->kind = out->scalar.kind = FAST_NULL;
        return fast_literal(s, "null");
    case 't':
        out->kind = FAST_OTHER;
        return fast_literal(s, "true");
    case 'f':
        out->kind = FAST_OTHER;
        return fast_literal(s, "false");
    case '[': {
        s->p++;
        out->kind = FAST_ARRAY;
        out->elems_scalar = true;
        fast_ws(s);
        if (*s->p == ']') {
            s->p++;
            return true;
        }
        for (;;) {
            struct fast_field item;
            fast_ws(s);
            if (!fast_value(s, &item, depth + 1))
                return false;
            bool scalar = item.kind == FAST_NULL || item.kind == FAST_INT || item.kind == FAST_STR;
            if (!scalar)
                out->elems_scalar = false;
            if (out->n_elems < 2 && scalar)
                out->elem[out->n_elems] = item.scalar;
            out->n_elems++;
            fast_ws(s);
            if (*s->p == ']') {
                s->p++;
                return true;
            }
            if (*s->p != ',')
                return false;
            s->p++;
        }
    }
    case '{': {
        s->p++;
        out->kind = FAST_OTHER;
        fast_ws(s);
        if (*s->p == '}') {
            s->p++;
            return true;
        }
        for (;;) {
            fast_ws(s);
            if (*s->p != '"' || !fast_string(s, NULL))
                return false;
            fast_ws(s);
            if (*s->p != ':')
                return false;
            s->p++;
            fast_ws(s);
            if (!fast_value(s, NULL, depth + 1))
                return false;
            fast_ws(s);
            if (*s->p == '}') {
                s->p++;
                return true;
            }
            if (*s->p != ',')
                return false;
            s->p++;
        }
    }
    default:
        if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9')) {
            if (!fast_number(s, &out->scalar))
                return false;
            out->kind = out->scalar.kind;
            return true;
        }
        return false;
    }
}

enum { FIELD_PROCESS, FIELD_TYPE, FIELD_F, FIELD_KEY, FIELD_VALUE, FIELD_ERROR, FIELD_INDEX, FIELD_COUNT };
static const char *const fast_field_names[FIELD_COUNT] = {"process", "type", "f", "key", "value", "error", "index"};

/* Canonical text of a scalar (as check_canonical_text would give); NULL for null. */
static const char *fast_text(const struct fast_scalar *v, char *buf, size_t len)
{
    if (v->kind == FAST_INT) {
        snprintf(buf, len, "%" PRId64, v->i);
        return buf;
    }
    if (v->kind == FAST_STR) {
        if (v->len + 3 > len)
            return NULL;
        buf[0] = '"';
        memcpy(buf + 1, v->s, v->len);
        buf[v->len + 1] = '"';
        buf[v->len + 2] = '\0';
        return buf;
    }
    return NULL;
}

static int fast_name(const struct fast_field *f, int (*from_name)(const char *))
{
    char name[16];
    if (f->kind != FAST_STR || f->scalar.len >= sizeof name)
        return -1;
    memcpy(name, f->scalar.s, f->scalar.len);
    name[f->scalar.len] = '\0';
    return from_name(name);
}

static bool fast_scalar_ok(const struct fast_scalar *v, size_t max_len)
{
    return v->kind == FAST_NULL || v->kind == FAST_INT || (v->kind == FAST_STR && v->len + 3 <= max_len);
}

int check_jsonl_fast(struct check_history *h, const char *line, int64_t position)
{
    struct fast_scan s = {.p = line};
    struct fast_field fields[FIELD_COUNT];
    memset(fields, 0, sizeof fields);
    fast_ws(&s);
    if (*s.p != '{')
        return CHECK_FAST_DECLINED;
    s.p++;
    fast_ws(&s);
    if (*s.p == '}')
        return CHECK_FAST_DECLINED;
    struct fast_scalar names[FAST_MAX_FIELDS];
    size_t n_names = 0;
    for (;;) {
        struct fast_scalar name;
        fast_ws(&s);
        if (*s.p != '"' || !fast_string(&s, &name) || name.kind != FAST_STR || n_names == FAST_MAX_FIELDS)
            return CHECK_FAST_DECLINED;
        for (size_t i = 0; i < n_names; i++) /* jansson refuses repeated names */
            if (names[i].len == name.len && memcmp(names[i].s, name.s, name.len) == 0)
                return CHECK_FAST_DECLINED;
        names[n_names++] = name;
        fast_ws(&s);
        if (*s.p != ':')
            return CHECK_FAST_DECLINED;
        s.p++;
        fast_ws(&s);
        int which = -1;
        for (int i = 0; i < FIELD_COUNT; i++)
            if (strlen(fast_field_names[i]) == name.len && memcmp(fast_field_names[i], name.s, name.len) == 0)
                which = i;
        if (!fast_value(&s, which >= 0 ? &fields[which] : NULL, 1))
            return CHECK_FAST_DECLINED;
        fast_ws(&s);
        if (*s.p == '}')
            break;
        if (*s.p != ',')
            return CHECK_FAST_DECLINED;
        s.p++;
    }
    s.p++;
    fast_ws(&s);
    if (*s.p)
        return CHECK_FAST_DECLINED;

    /* The line is valid JSON; now its meaning, as check_jsonl_line reads it. */
    const struct fast_field *process = &fields[FIELD_PROCESS];
    if (process->kind == FAST_STR || process->kind == FAST_OTHER) {
        /* A string process is the nemesis. FAST_OTHER may be a string with
         * escapes, or a float: let jansson tell them apart. */
        return process->kind == FAST_STR ? 1 : CHECK_FAST_DECLINED;
    }
    if (process->kind != FAST_INT)
        return CHECK_FAST_DECLINED;
    int type = fast_name(&fields[FIELD_TYPE], check_type_from_name);
    int f = fast_name(&fields[FIELD_F], check_f_from_name);
    if (type < 0 || f < 0 || f > LIN_CAS) /* the other models' functions: the general path */
        return CHECK_FAST_DECLINED;

    char key_buf[64], a_buf[64], b_buf[64];
    struct check_event ev = {.process = process->scalar.i, .type = (enum check_type)type, .f = (enum lin_f)f,
                             .error = CHECK_NO_ERROR, .index = position, .time = (uint64_t)position};
    const struct fast_field *key = &fields[FIELD_KEY];
    if (key->kind != FAST_ABSENT) {
        if (key->kind != FAST_NULL && !(key->kind != FAST_ARRAY && fast_scalar_ok(&key->scalar, sizeof key_buf)))
            return CHECK_FAST_DECLINED;
        const char *t = fast_text(&key->scalar, key_buf, sizeof key_buf);
        ev.key = t ? t : "<null>";
    }
    const struct fast_field *value = &fields[FIELD_VALUE];
    if (f == LIN_CAS && type == CHECK_INVOKE) {
        if (value->kind != FAST_ARRAY || value->n_elems != 2 || !value->elems_scalar ||
            !fast_scalar_ok(&value->elem[0], sizeof a_buf) || !fast_scalar_ok(&value->elem[1], sizeof b_buf))
            return CHECK_FAST_DECLINED;
        ev.value = fast_text(&value->elem[0], a_buf, sizeof a_buf);
        ev.value_to = fast_text(&value->elem[1], b_buf, sizeof b_buf);
    } else if ((f == LIN_WRITE && type == CHECK_INVOKE) || (f == LIN_READ && type == CHECK_OK)) {
        if (value->kind != FAST_ABSENT && value->kind != FAST_NULL &&
            !(value->kind != FAST_ARRAY && fast_scalar_ok(&value->scalar, sizeof a_buf)))
            return CHECK_FAST_DECLINED;
        ev.value = value->kind == FAST_ABSENT ? NULL : fast_text(&value->scalar, a_buf, sizeof a_buf);
    }
    const struct fast_field *error = &fields[FIELD_ERROR];
    if (error->kind == FAST_INT)
        ev.error = error->scalar.i < 0 ? CHECK_NO_ERROR : error->scalar.i;
    else if (error->kind == FAST_ARRAY && error->n_elems > 0 && error->elems_scalar && error->elem[0].kind == FAST_INT)
        ev.error = error->elem[0].i < 0 ? CHECK_NO_ERROR : error->elem[0].i;
    else if (error->kind != FAST_ABSENT && error->kind != FAST_NULL)
        return CHECK_FAST_DECLINED; /* error names and the like: the general path */
    const struct fast_field *index = &fields[FIELD_INDEX];
    if (index->kind == FAST_INT)
        ev.index = index->scalar.i;
    else if (index->kind != FAST_ABSENT)
        return CHECK_FAST_DECLINED;
    return check_history_add(h, &ev);
}
