/* linear_text.c - independent/<key>/linear.txt: why a key's history is not
 * linearizable, in words. The checker's own explanation is used when
 * results.json carries one; otherwise this writes Knossos's kind of account
 * from what it gives (the failing op and the register values possible just
 * before it): the op, the ops concurrent with it, the possible values, and
 * why the op cannot apply to each ("can't read 3 from register 2").
 */
#include "whirl/report/pages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t *linear_concurrent_ops(const struct run *run, int k, int failed, size_t *n)
{
    size_t *idx = malloc((run->n_ops + 1) * sizeof *idx);
    *n = 0;
    if (!idx || failed < 0)
        return idx;
    const struct run_op *fo = &run->ops[failed];
    for (size_t i = 0; i < run->n_ops; i++) {
        const struct run_op *op = &run->ops[i];
        if (op->key == k && op->t0_ns <= fo->t1_ns && op->t1_ns >= fo->t0_ns)
            idx[(*n)++] = i;
    }
    return idx;
}

/* The error code of "[code, text]", or -1. */
static long error_code(const char *error)
{
    if (!error || error[0] != '[')
        return -1;
    char *end;
    long c = strtol(error + 1, &end, 10);
    return end == error + 1 ? -1 : c;
}

static const char *nil_name(const char *v)
{
    return v && strcmp(v, "null") != 0 ? v : "nil";
}

/* cas's value is "[from,to]": splits it into two texts. */
static void cas_args(const char *req, char *from, char *to, size_t len)
{
    snprintf(from, len, "?");
    snprintf(to, len, "?");
    if (!req || req[0] != '[')
        return;
    const char *comma = strchr(req, ',');
    if (!comma)
        return;
    snprintf(from, len, "%.*s", (int)(comma - req - 1), req + 1);
    size_t tl = strlen(comma + 1);
    snprintf(to, len, "%.*s", (int)(tl > 0 ? tl - 1 : 0), comma + 1);
}

void linear_describe_op(FILE *f, const struct run_op *op)
{
    fprintf(f, "process %-4lld %-5s %-12s -> ", (long long)op->process, op->f_name, op->request ? op->request : "");
    if (!op->completed)
        fputs("never answered", f);
    else
        fprintf(f, "%s%s%s%s%s", report_run_outcome_names[op->outcome], op->response ? " " : "",
                op->response ? op->response : "", op->error ? " error " : "", op->error ? op->error : "");
    fprintf(f, "   %.6f s .. %.6f s   [history index %lld]", op->t0_ns / 1e9, op->t1_ns / 1e9,
            (long long)op->invoke_index);
}

/* Why op cannot take effect on a register holding v (JSON text). */
void linear_reason(FILE *f, const struct run_op *op, const char *v)
{
    const char *reg = nil_name(v);
    long code = error_code(op->error);
    char from[64], to[64];
    if (op->f == RUN_READ) {
        const char *seen = op->outcome == RUN_OK ? nil_name(op->response) : code == 20 ? "nil" : NULL;
        if (!seen)
            fprintf(f, "the read failed and tells nothing about register %s", reg);
        else if (strcmp(seen, reg) != 0)
            fprintf(f, "can't read %s from register %s", seen, reg);
        else
            fprintf(f, "reading %s from register %s is possible here, but no order of the ops before it "
                       "leaves it so while also fitting the ops after",
                    seen, reg);
    } else if (op->f == RUN_CAS) {
        cas_args(op->request, from, to, sizeof from);
        if (op->outcome == RUN_OK && strcmp(nil_name(from), reg) != 0)
            fprintf(f, "can't CAS register %s from %s to %s", reg, from, to);
        else if (op->outcome == RUN_FAIL && code == 20 && strcmp(reg, "nil") != 0)
            fprintf(f, "the cas saw no key, but register holds %s", reg);
        else if (op->outcome == RUN_FAIL && code == 22 && strcmp(nil_name(from), reg) == 0)
            fprintf(f, "the cas failed, but register %s equals %s, so it would have succeeded", reg, from);
        else
            fprintf(f, "CAS %s -> %s on register %s fits by itself; the ops around it cannot all be ordered", from,
                    to, reg);
    } else {
        fprintf(f, "a %s applies to any register; it is the ops ordered after it that cannot fit (register %s)",
                op->f_name, reg);
    }
}

int linear_text_write(const struct run *run, int k, const char *path)
{
    const struct run_key *key = &run->keys[k];
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    if (key->explanation) {
        fputs(key->explanation, f);
        if (key->explanation[0] && key->explanation[strlen(key->explanation) - 1] != '\n')
            fputc('\n', f);
    } else {
        fprintf(f, "Key %s is not linearizable.\n\n", key->text);
        if (key->failed_op < 0) {
            fprintf(f, "The checker did not name the operation that cannot be linearized%s.\n",
                    key->failed_op_index >= 0 ? " (its history index is not in the history)" : "");
        } else {
            const struct run_op *fo = &run->ops[key->failed_op];
            fputs("The operation that cannot be linearized:\n  ", f);
            linear_describe_op(f, fo);
            size_t n;
            size_t *conc = linear_concurrent_ops(run, k, key->failed_op, &n);
            fprintf(f, "\n\nOperations concurrent with it (%zu):\n", n ? n - 1 : 0);
            for (size_t i = 0; conc && i < n; i++) {
                if ((int)conc[i] == key->failed_op)
                    continue;
                fputs("  ", f);
                linear_describe_op(f, &run->ops[conc[i]]);
                fputc('\n', f);
            }
            free(conc);
            fputs("\nRegister values possible just before it:", f);
            if (key->n_possible == 0)
                fputs(" (not given by the checker)\n", f);
            for (size_t i = 0; i < key->n_possible; i++)
                fprintf(f, "%s %s", i ? "," : "", nil_name(key->possible[i]));
            if (key->n_possible) {
                fputs("\n\nWhy each path fails:\n", f);
                for (size_t i = 0; i < key->n_possible; i++) {
                    fputs("  ", f);
                    linear_reason(f, fo, key->possible[i]);
                    fputc('\n', f);
                }
            }
        }
    }
    int bad = ferror(f);
    bad |= fclose(f);
    return bad ? -1 : 0;
}
