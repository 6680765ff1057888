/* report_check.c - verdicts the report needs but results.json lacks. A run
 * folder without results.json (a crashed run, a history from elsewhere) or
 * an invalid key given without its failing op is checked here with the
 * project's checker (src/check), so linear.svg and linear.txt can still say
 * what went wrong. Runs that whirl test finished never need this.
 */
#include "whirl/report/pages.h"

#include "check/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A report must not hang on a hard history: past this, a key is unknown. */
#define REPORT_CHECK_SECONDS_PER_KEY 10.0

static bool key_needs_check(const struct run *run, const struct run_key *k)
{
    if (!run->results)
        return true;
    return k->verdict == RUN_INVALID && k->failed_op < 0 && !k->explanation;
}

static int key_by_text(const struct run *run, const char *text)
{
    for (size_t i = 0; i < run->n_keys; i++)
        if (strcmp(run->keys[i].text, text) == 0)
            return (int)i;
    return -1;
}

static void take_report(struct run *run, struct run_key *k, const struct check_history *h, size_t i)
{
    const struct check_key *ck = &h->keys[i];
    const struct lin_report *r = &ck->report;
    k->verdict = r->verdict == LIN_VALID ? RUN_VALID : r->verdict == LIN_INVALID ? RUN_INVALID : RUN_UNKNOWN;
    if (r->verdict != LIN_INVALID || r->failed_op >= ck->n_ops)
        return;
    k->failed_op_index = ck->ops[r->failed_op].id;
    k->failed_op = report_run_op_of_index(run, k->failed_op_index);
    k->possible = calloc(r->n_possible + 1, sizeof *k->possible);
    for (size_t j = 0; k->possible && j < r->n_possible; j++) {
        const char *t = lin_values_text(h->values, r->possible[j]);
        char *v = strdup(!t || strcmp(t, "nil") == 0 ? "null" : t);
        if (v)
            k->possible[k->n_possible++] = v;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (mem) {
        check_explain_key(mem, h, i, false);
        fclose(mem);
        free(k->explanation);
        k->explanation = text;
    }
}

int report_check_missing(struct run *run)
{
    bool any = false;
    for (size_t i = 0; i < run->n_keys && !any; i++)
        any = key_needs_check(run, &run->keys[i]);
    if (!any)
        return 0;
    char path[4200], err[256];
    if (report_run_path(path, sizeof path, run->dir, "history.jsonl") != 0)
        return -1;
    struct check_history h;
    if (check_history_init(&h) != 0)
        return -1;
    int rc = check_history_read(path, CHECK_FORMAT_JSONL, &h, err, sizeof err);
    if (rc != 0) {
        check_history_free(&h);
        return -1;
    }
    struct lin_limits limits = {.max_states = 0, .max_seconds = REPORT_CHECK_SECONDS_PER_KEY};
    bool any_invalid = false, any_unknown = false;
    for (size_t i = 0; i < h.n_keys; i++) {
        int k = key_by_text(run, h.keys[i].key);
        if (k < 0 || !key_needs_check(run, &run->keys[k]))
            continue;
        lin_report_free(&h.keys[i].report);
        enum lin_verdict v = lin_check(h.keys[i].ops, h.keys[i].n_ops, &limits, &h.keys[i].report);
        any_invalid |= v == LIN_INVALID;
        any_unknown |= v == LIN_UNKNOWN;
        take_report(run, &run->keys[k], &h, i);
    }
    if (!run->results) {
        run->verdict = any_invalid ? RUN_INVALID : any_unknown ? RUN_UNKNOWN : RUN_VALID;
        run->checked_here = true;
    }
    check_history_free(&h);
    return 0;
}
