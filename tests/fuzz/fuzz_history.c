/* fuzz_history.c - the history readers of `whirl check` (src/check):
 * format detection and the whirl jsonl, Jepsen EDN and Jepsen log readers,
 * through check_history_read_stream as `whirl check` calls them.
 *
 * Input: one control byte (the format asked for: auto, jsonl, EDN, log),
 * then the file. Besides the reader's own run, every line is given to the
 * jsonl reader's fast path and to its jansson path, which must agree: the
 * same result for every line the fast path takes, and in the end the same
 * operations in the same keys. */
#include <string.h>

#include "check/check.h"
#include "check/history_internal.h"
#include "fuzz.h"

static void same_history(const struct check_history *a, const struct check_history *b)
{
    FUZZ_CHECK(a->n_events == b->n_events && a->n_dropped == b->n_dropped &&
               a->n_ignored == b->n_ignored && a->n_keys == b->n_keys);
    for (size_t k = 0; k < a->n_keys; k++) {
        const struct check_key *x = &a->keys[k], *y = &b->keys[k];
        FUZZ_CHECK(strcmp(x->key, y->key) == 0 && x->n_ops == y->n_ops);
        for (size_t i = 0; i < x->n_ops; i++) {
            const struct lin_op *p = &x->ops[i], *q = &y->ops[i];
            FUZZ_CHECK(p->process == q->process && p->f == q->f && p->outcome == q->outcome &&
                       p->a == q->a && p->b == q->b && p->c == q->c && p->call == q->call && p->ret == q->ret &&
                       p->id == q->id);
            FUZZ_CHECK(x->complete_index[i] == y->complete_index[i]);
        }
    }
}

/* The jsonl fast path against the jansson path, line by line. */
static void jsonl_paths_agree(const char *text, size_t len)
{
    struct check_history fast, general;
    FUZZ_CHECK(check_history_init(&fast) == 0 && check_history_init(&general) == 0);
    char *line = malloc(len + 1);
    FUZZ_CHECK(line != NULL);
    char err[256];
    size_t off = 0;
    int64_t line_no = 0;
    int ok = 1;
    while (off < len && ok) {
        const char *nl = memchr(text + off, '\n', len - off);
        size_t n = nl ? (size_t)(nl - (text + off)) : len - off;
        memcpy(line, text + off, n);
        line[n] = '\0';
        off += n + 1;
        line_no++;
        if (memchr(line, '\0', n)) /* the reader refuses such lines first */
            break;
        int rf = check_jsonl_fast(&fast, line, line_no);
        if (rf == CHECK_FAST_DECLINED)
            rf = check_jsonl_line_general(&fast, line, line_no, err, sizeof err);
        else {
            int rg = check_jsonl_line_general(&general, line, line_no, err, sizeof err);
            if (rf != rg)
                fprintf(stderr, "line %lld: fast path %d, jansson path %d: %s\n",
                        (long long)line_no, rf, rg, line);
            FUZZ_CHECK(rf == rg);
            continue;
        }
        /* Declined: the jansson path read it for both. */
        int rg = check_jsonl_line_general(&general, line, line_no, err, sizeof err);
        FUZZ_CHECK(rf == rg);
        ok = rf >= 0;
    }
    free(line);
    if (ok) {
        /* A history whose functions no one model takes is refused by both. */
        int rf = check_history_finish(&fast), rg = check_history_finish(&general);
        FUZZ_CHECK(rf == rg && (rf == 0 || rf == CHECK_ERR_PARSE));
        FUZZ_CHECK(rf != 0 || fast.model == general.model);
        same_history(&fast, &general);
    }
    check_history_free(&fast);
    check_history_free(&general);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const enum check_format formats[4] = {CHECK_FORMAT_AUTO, CHECK_FORMAT_JSONL,
                                                 CHECK_FORMAT_EDN, CHECK_FORMAT_JEPSEN_LOG};
    enum check_format format = formats[data[0] & 3];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;

    struct check_history h;
    FUZZ_CHECK(check_history_init(&h) == 0);
    if (len > 0) {
        FILE *in = fmemopen((void *)text, len, "r");
        FUZZ_CHECK(in != NULL);
        char err[512];
        int rc = check_history_read_stream(in, "fuzz", format, &h, err, sizeof err);
        FUZZ_CHECK(rc == 0 || rc == CHECK_ERR_PARSE);
        fclose(in);
    }
    check_history_free(&h);

    jsonl_paths_agree(text, len);
    return 0;
}
