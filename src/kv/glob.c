/* glob.c - Redis's glob patterns (KEYS, SCAN MATCH), matching what Redis
 * 7.0's stringmatchlen answers (case-sensitive):
 *   *      any run of bytes, the empty one included
 *   ?      any one byte
 *   [...]  one byte of the set: members are bytes, ranges a-z (either
 *          order), \x for a literal x; [^...] negates; a set that never
 *          closes takes the rest of the pattern
 *   \x     x itself (a lone \ at the end is a literal \)
 * and Redis's quirks: an empty string matches only the empty pattern (so
 * "*" alone does not match "": KEYS and SCAN treat a lone "*" as "no
 * pattern", as Redis does); range bounds compare as signed chars.
 * Every token but * consumes exactly one byte, so the classic backtracking
 * to the last * decides the same as Redis's recursion, in O(|pat| * |s|). */
#include <stdbool.h>
#include <stddef.h>

#include "kv/kv.h"

/* Whether byte c matches the one-byte token at pat[*i] (not a '*'); *i
 * moves past the token. */
static bool token(const char *pat, size_t plen, size_t *i, char c)
{
    size_t j = *i;
    if (pat[j] == '?') {
        *i = j + 1;
        return true;
    }
    if (pat[j] == '\\' && j + 1 < plen) {
        *i = j + 2;
        return pat[j + 1] == c;
    }
    if (pat[j] != '[') {
        *i = j + 1;
        return pat[j] == c;
    }
    j++;
    bool negate = j < plen && pat[j] == '^';
    j += negate;
    bool match = false;
    while (j < plen) {
        if (pat[j] == '\\' && j + 1 < plen) {
            match |= pat[j + 1] == c;
            j += 2;
        } else if (pat[j] == ']') {
            j++;
            break;
        } else if (j + 2 < plen && pat[j + 1] == '-') {
            signed char lo = (signed char)pat[j], hi = (signed char)pat[j + 2], x = (signed char)c;
            if (lo > hi) {
                signed char t = lo;
                lo = hi;
                hi = t;
            }
            match |= x >= lo && x <= hi;
            j += 3;
        } else {
            match |= pat[j] == c;
            j++;
        }
    }
    *i = j;
    return match != negate;
}

bool kv_glob_match(const char *pat, size_t plen, const char *s, size_t slen)
{
    if (slen == 0)
        return plen == 0;
    size_t p = 0, k = 0;
    size_t star_p = (size_t)-1, star_k = 0; /* after the last '*', and where it resumes */
    while (k < slen) {
        if (p < plen && pat[p] == '*') {
            while (p < plen && pat[p] == '*')
                p++;
            star_p = p;
            star_k = k;
            continue;
        }
        size_t next = p;
        if (p < plen && token(pat, plen, &next, s[k])) {
            p = next;
            k++;
            continue;
        }
        if (star_p == (size_t)-1)
            return false;
        /* Let the last '*' take one more byte and try again from there. */
        p = star_p;
        k = ++star_k;
    }
    while (p < plen && pat[p] == '*')
        p++;
    return p == plen;
}
