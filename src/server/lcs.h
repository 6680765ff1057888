/* lcs.h - the longest common subsequence of two byte strings, found as
 * Redis 7.0's LCS command finds it: when several subsequences are longest,
 * the same one, and the same runs of matching bytes in the same order
 * (from the strings' ends back). Dynamic programming over a table of
 * (alen+1)*(blen+1) 2-byte cells (two rows of it for the length alone):
 * that much time and memory, so callers bound lcs_cells() first
 * (cmd_lcs.c: --max-lcs-cells). */
#ifndef RAFTKV_LCS_H
#define RAFTKV_LCS_H

#include <stddef.h>
#include <stdint.h>

/* One run of bytes common to both strings: a[a_start..a_end] equals
 * b[b_start..b_end] (inclusive), and both are part of the subsequence. */
struct lcs_match {
    size_t a_start, a_end, b_start, b_end;
};

struct lcs_result {
    size_t len;                /* the subsequence's length */
    uint8_t *str;              /* LCS_WANT_STR: the subsequence (len bytes, malloc'd) */
    struct lcs_match *matches; /* LCS_WANT_MATCHES: the runs at least min_len long */
    size_t n_matches;
};

enum { LCS_WANT_STR = 1, LCS_WANT_MATCHES = 2 };

/* The shorter string's length fits a cell. */
#define LCS_MAX_SHORTER 65535u

/* (alen+1)*(blen+1), or UINT64_MAX if that does not fit. */
uint64_t lcs_cells(size_t alen, size_t blen);
/* Fill *out (zeroed first): the length always, and what `want` asks for.
 * A run shorter than min_len is left out of the matches (0: none is). 0,
 * or -1 when out of memory or both strings are longer than
 * LCS_MAX_SHORTER (nothing held). */
int lcs_compute(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, int want, size_t min_len,
                struct lcs_result *out);
void lcs_result_free(struct lcs_result *r);

#endif
