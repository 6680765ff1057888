/* lcs.c - the longest common subsequence (lcs.h). */
#include "server/lcs.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* A cell holds an LCS length, at most the shorter string's length. */
typedef uint16_t lcs_cell;

uint64_t lcs_cells(size_t alen, size_t blen)
{
    uint64_t x = (uint64_t)alen + 1, y = (uint64_t)blen + 1;
    if (x == 0 || y == 0 || x > UINT64_MAX / y)
        return UINT64_MAX;
    return x * y;
}

void lcs_result_free(struct lcs_result *r)
{
    free(r->str);
    free(r->matches);
    memset(r, 0, sizeof *r);
}

static int add_match(struct lcs_result *out, size_t *cap, const struct lcs_match *m)
{
    if (out->n_matches == *cap) {
        size_t n = *cap ? *cap * 2 : 8;
        struct lcs_match *p = realloc(out->matches, n * sizeof *p);
        if (!p)
            return -1;
        out->matches = p;
        *cap = n;
    }
    out->matches[out->n_matches++] = *m;
    return 0;
}

/* LEN alone: two rows of the table are enough. */
static int lcs_len_only(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, struct lcs_result *out)
{
    lcs_cell *up = calloc(blen + 1, sizeof *up), *row = calloc(blen + 1, sizeof *row);
    if (!up || !row) {
        free(up);
        free(row);
        return -1;
    }
    for (size_t i = 1; i <= alen; i++) {
        uint8_t ai = a[i - 1];
        for (size_t j = 1; j <= blen; j++)
            row[j] = ai == b[j - 1] ? (lcs_cell)(up[j - 1] + 1) : up[j] > row[j - 1] ? up[j] : row[j - 1];
        lcs_cell *t = up;
        up = row;
        row = t;
    }
    out->len = up[blen];
    free(up);
    free(row);
    return 0;
}

int lcs_compute(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, int want, size_t min_len,
                struct lcs_result *out)
{
    memset(out, 0, sizeof *out);
    uint64_t cells = lcs_cells(alen, blen);
    if ((alen < blen ? alen : blen) > LCS_MAX_SHORTER || cells > SIZE_MAX / sizeof(lcs_cell))
        return -1;
    if (!want)
        return lcs_len_only(a, alen, b, blen, out);
    size_t w = blen + 1;
    /* t[i*w + j]: the length of the LCS of a[0..i) and b[0..j). */
    lcs_cell *t = malloc((size_t)cells * sizeof *t);
    if (!t)
        return -1;
    for (size_t j = 0; j <= blen; j++)
        t[j] = 0;
    for (size_t i = 1; i <= alen; i++) {
        lcs_cell *row = t + i * w;
        const lcs_cell *up = row - w;
        uint8_t ai = a[i - 1];
        row[0] = 0;
        for (size_t j = 1; j <= blen; j++)
            row[j] = ai == b[j - 1] ? (lcs_cell)(up[j - 1] + 1) : up[j] > row[j - 1] ? up[j] : row[j - 1];
    }
    out->len = t[alen * w + blen];
    if ((want & LCS_WANT_STR) && !(out->str = malloc(out->len ? out->len : 1))) {
        free(t);
        return -1;
    }
    /* Walk back from the ends: a match takes both bytes; otherwise step
     * along a's side only when that keeps a strictly longer LCS (ties go
     * along b's), as Redis does. A run ends at a step that is no match, or
     * at either string's first byte. */
    size_t i = alen, j = blen, k = out->len, cap = 0;
    bool open = false;
    struct lcs_match run = {0};
    while (i > 0 && j > 0) {
        bool close = false;
        if (a[i - 1] == b[j - 1]) {
            if (out->str)
                out->str[k - 1] = a[i - 1];
            if (!open) {
                open = true;
                run = (struct lcs_match){i - 1, i - 1, j - 1, j - 1};
            } else {
                run.a_start = i - 1;
                run.b_start = j - 1;
            }
            close = i == 1 || j == 1;
            k--;
            i--;
            j--;
        } else {
            if (t[(i - 1) * w + j] > t[i * w + j - 1])
                i--;
            else
                j--;
            close = open;
        }
        if (close) {
            open = false;
            if ((want & LCS_WANT_MATCHES) && run.a_end - run.a_start + 1 >= min_len &&
                add_match(out, &cap, &run) != 0) {
                free(t);
                lcs_result_free(out);
                return -1;
            }
        }
    }
    free(t);
    return 0;
}
