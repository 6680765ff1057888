/* model_values.c - value ids read as Redis strings for the string and
 * expiry models (model_values.h). Values are kept as the canonical JSON
 * text the history readers give; strings are decoded with jansson.
 */
#include "check/model_values.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int model_values_init(struct model_values *mv, struct lin_values *values)
{
    memset(mv, 0, sizeof *mv);
    mv->values = values;
    return 0;
}

void model_values_free(struct model_values *mv)
{
    free(mv->v);
    memset(mv, 0, sizeof *mv);
}

bool model_parse_int(const char *s, size_t len, int64_t *out)
{
    if (len == 0 || len > 20)
        return false;
    size_t i = 0;
    bool neg = s[0] == '-';
    if (neg)
        i++;
    if (i == len || s[i] < '0' || s[i] > '9')
        return false;
    if (s[i] == '0') { /* "0" only: no "-0", no leading zeros */
        if (len == 1) {
            *out = 0;
            return true;
        }
        return false;
    }
    uint64_t mag = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (mag > (UINT64_MAX - d) / 10)
            return false;
        mag = mag * 10 + d;
    }
    if (neg ? mag > (uint64_t)INT64_MAX + 1 : mag > (uint64_t)INT64_MAX)
        return false;
    *out = neg ? (mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
    return true;
}

/* Interns a JSON string of the bytes s[0..len) as the readers would. */
static int32_t model_values_intern_bytes(struct model_values *mv, const char *s, size_t len)
{
    json_t *j = json_stringn_nocheck(s, len);
    if (!j)
        return -1;
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    json_decref(j);
    if (!text)
        return -1;
    int32_t id = lin_values_intern(mv->values, text);
    free(text);
    return id;
}

static int model_values_fill(struct model_values *mv, int32_t id, struct model_value *out)
{
    *out = (struct model_value){.str = LIN_NIL, .done = true};
    if (id == LIN_NIL)
        return 0;
    const char *text = lin_values_text(mv->values, id);
    json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    int rc = 0;
    if (j && json_is_string(j)) {
        out->str = id;
        out->len = (int64_t)json_string_length(j);
        out->is_int = model_parse_int(json_string_value(j), json_string_length(j), &out->i);
    } else {
        /* An integer is its digits; anything else its JSON text. */
        const char *s = j && json_is_integer(j) ? NULL : text;
        char digits[32];
        if (!s) {
            snprintf(digits, sizeof digits, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
            s = digits;
        }
        out->str = model_values_intern_bytes(mv, s, strlen(s));
        out->len = (int64_t)strlen(s);
        out->is_int = model_parse_int(s, strlen(s), &out->i);
        rc = out->str < 0 ? -1 : 0;
    }
    json_decref(j);
    return rc;
}

const struct model_value *model_value(struct model_values *mv, int32_t id)
{
    if (id < 0)
        return NULL;
    if ((size_t)id >= mv->cap) {
        size_t cap = mv->cap ? mv->cap : 64;
        while (cap <= (size_t)id)
            cap *= 2;
        struct model_value *v = realloc(mv->v, cap * sizeof *v);
        if (!v)
            return NULL;
        memset(v + mv->cap, 0, (cap - mv->cap) * sizeof *v);
        mv->v = v;
        mv->cap = cap;
    }
    if (!mv->v[id].done) {
        struct model_value fresh;
        if (model_values_fill(mv, id, &fresh) != 0)
            return NULL;
        /* Filling may intern a value and so grow the table: index again. */
        if ((size_t)id >= mv->cap)
            return NULL;
        mv->v[id] = fresh;
    }
    return &mv->v[id];
}

int32_t model_values_of_int(struct model_values *mv, int64_t i)
{
    char digits[32];
    snprintf(digits, sizeof digits, "%" PRId64, i);
    return model_values_intern_bytes(mv, digits, strlen(digits));
}

int32_t model_values_concat(struct model_values *mv, int32_t a, int32_t b)
{
    json_t *ja = a == LIN_NIL ? json_string("") : json_loads(lin_values_text(mv->values, a), JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    json_t *jb = json_loads(lin_values_text(mv->values, b), JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    int32_t id = -1;
    if (ja && jb && json_is_string(ja) && json_is_string(jb)) {
        size_t la = json_string_length(ja), lb = json_string_length(jb);
        char *buf = malloc(la + lb + 1);
        if (buf) {
            memcpy(buf, json_string_value(ja), la);
            memcpy(buf + la, json_string_value(jb), lb);
            id = model_values_intern_bytes(mv, buf, la + lb);
            free(buf);
        }
    }
    json_decref(ja);
    json_decref(jb);
    return id;
}
