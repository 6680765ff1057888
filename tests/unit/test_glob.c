/* test_glob.c - kv_glob_match against literal cases whose answers are
 * Redis 7.0's (checked with redis-server's KEYS on the same key and
 * pattern): wildcards, sets, ranges, negation, escapes, unterminated sets,
 * and the empty-string quirk. */
#include <criterion/criterion.h>
#include <string.h>

#include "kv/kv.h"

static bool m(const char *pat, const char *s)
{
    return kv_glob_match(pat, strlen(pat), s, strlen(s));
}

Test(glob, wildcards)
{
    cr_assert(m("*", "abc"));
    cr_assert(m("a*", "a"));
    cr_assert(m("a*", "abc"));
    cr_assert(m("a**", "a"));
    cr_assert(m("*c", "abc"));
    cr_assert(!m("*c", "abd"));
    cr_assert(m("a*b*c", "aXbYc"));
    cr_assert(m("a*b*c", "abc"));
    cr_assert(!m("a*b*c", "acb"));
    cr_assert(m("*a*a*a*", "xaaax"));
    cr_assert(!m("*a*a*a*", "xaax"));
    cr_assert(m("h?llo", "hello"));
    cr_assert(!m("h?llo", "hllo"));
    cr_assert(!m("?", ""));
    cr_assert(m("??", "ab"));
    cr_assert(!m("??", "abc"));
    cr_assert(m("abc", "abc"));
    cr_assert(!m("abc", "abcd"));
    cr_assert(!m("abcd", "abc"));
}

Test(glob, sets_ranges_and_negation)
{
    cr_assert(m("h[ae]llo", "hallo"));
    cr_assert(m("h[ae]llo", "hello"));
    cr_assert(!m("h[ae]llo", "hillo"));
    cr_assert(m("h[^e]llo", "hallo"));
    cr_assert(!m("h[^e]llo", "hello"));
    cr_assert(m("h[a-b]llo", "hbllo"));
    cr_assert(!m("h[a-b]llo", "hcllo"));
    cr_assert(m("h[b-a]llo", "hallo")); /* reversed bounds */
    cr_assert(m("[a-c1-3]", "2"));
    cr_assert(!m("[a-c1-3]", "4"));
    cr_assert(m("[-a]", "-"));          /* '-' first is a member */
    cr_assert(!m("[a-]", "-"));         /* "a-]" is a range from a to ']' */
    cr_assert(m("[a-]", "_"));          /* ('_' lies between ']' and 'a') */
    cr_assert(!m("[]a]", "a"));         /* "[]" is an empty set, then "a]" */
    cr_assert(m("[]a]", "]") == false);
    cr_assert(m("[]a]x", "xa]x") == false);
    cr_assert(m("[^]", "z"));           /* an empty negated set takes any byte */
}

Test(glob, escapes)
{
    cr_assert(m("a\\*", "a*"));
    cr_assert(!m("a\\*", "ab"));
    cr_assert(m("\\?", "?"));
    cr_assert(!m("\\?", "x"));
    cr_assert(m("[\\]]", "]"));
    cr_assert(m("[\\-]", "-"));
    cr_assert(!m("[a\\-c]", "b"));       /* an escaped '-' is no range */
    cr_assert(m("a\\", "a\\"));          /* a lone '\' at the end is itself */
    cr_assert(m("\\a", "a"));
}

Test(glob, unterminated_sets_take_the_rest_of_the_pattern)
{
    cr_assert(m("[abc", "b"));
    cr_assert(!m("[abc", "bc"));
    cr_assert(!m("[", "["));
    cr_assert(m("[^", "x"));
    cr_assert(m("x[", "x") == false);
}

Test(glob, empty_strings_match_only_the_empty_pattern)
{
    cr_assert(m("", ""));
    cr_assert(!m("**", "")); /* KEYS and SCAN read a lone "*" as "every key" */
    cr_assert(!m("", "a"));
}

Test(glob, binary_bytes)
{
    cr_assert(kv_glob_match("a?c", 3, "a\0c", 3));
    cr_assert(kv_glob_match("[\xff]", 3, "\xff", 1));
    cr_assert(!kv_glob_match("[a-z]", 5, "\xff", 1));
}
