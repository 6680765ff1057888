/* test_history.c - the history readers (whirl jsonl, Jepsen EDN, Jepsen log),
 * the normalisation of outcomes they share, and their handling of bad input.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check/check.h"
#include "common/rng.h"

struct parsed {
    struct check_history h;
    int rc;
    char err[512];
};

static void parse(struct parsed *p, const char *text, enum check_format format)
{
    cr_assert_eq(check_history_init(&p->h), 0);
    FILE *in = fmemopen((void *)text, strlen(text), "r");
    cr_assert(in);
    p->err[0] = '\0';
    p->rc = check_history_read_stream(in, "test", format, &p->h, p->err, sizeof p->err);
    fclose(in);
}

static const struct check_key *key_named(const struct check_history *h, const char *key)
{
    for (size_t i = 0; i < h->n_keys; i++)
        if (strcmp(h->keys[i].key, key) == 0)
            return &h->keys[i];
    cr_assert_fail("no key %s", key);
    return NULL;
}

static int32_t val(const struct check_history *h, const char *text)
{
    return lin_values_intern(h->values, text);
}

/* ---- whirl jsonl -------------------------------------------------------------- */

static const char *jsonl_sample =
    "{\"index\":0,\"time\":1,\"process\":3,\"type\":\"invoke\",\"f\":\"read\",\"key\":0,\"value\":null,\"node\":\"n1\"}\n"
    "{\"index\":1,\"time\":2,\"process\":3,\"type\":\"ok\",\"f\":\"read\",\"key\":0,\"value\":4,\"node\":\"n1\"}\n"
    "{\"index\":2,\"time\":3,\"process\":5,\"type\":\"invoke\",\"f\":\"cas\",\"key\":0,\"value\":[4,1]}\n"
    "{\"index\":3,\"time\":4,\"process\":5,\"type\":\"fail\",\"f\":\"cas\",\"key\":0,\"value\":[4,1],"
    "\"error\":[22,\"expected 4, had 2\"]}\n"
    "{\"index\":4,\"time\":5,\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"start-partition\",\"value\":[[\"n1\"]]}\n"
    "\n"
    "{\"index\":5,\"time\":6,\"process\":6,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k\",\"value\":null}\n"
    "{\"index\":6,\"time\":7,\"process\":6,\"type\":\"fail\",\"f\":\"read\",\"key\":\"k\",\"value\":null,"
    "\"error\":[20,\"no such key\"]}\n"
    "{\"index\":7,\"time\":8,\"process\":7,\"type\":\"invoke\",\"f\":\"write\",\"key\":\"k\",\"value\":{\"b\":1,\"a\":2}}\n"
    "{\"index\":8,\"time\":9,\"process\":7,\"type\":\"fail\",\"f\":\"write\",\"key\":\"k\",\"value\":1,"
    "\"error\":[11,\"no leader\"]}\n"
    "{\"index\":9,\"time\":10,\"process\":8,\"type\":\"invoke\",\"f\":\"write\",\"key\":\"k\",\"value\":3}\n"
    "{\"index\":10,\"time\":11,\"process\":8,\"type\":\"info\",\"f\":\"write\",\"key\":\"k\",\"value\":3}\n"
    "{\"index\":11,\"time\":12,\"process\":9,\"type\":\"invoke\",\"f\":\"cas\",\"key\":\"k\",\"value\":[1,2]}\n"
    "{\"index\":12,\"time\":13,\"process\":9,\"type\":\"fail\",\"f\":\"cas\",\"key\":\"k\",\"value\":[1,2],"
    "\"error\":[20,\"no such key\"]}\n"
    "{\"index\":13,\"time\":14,\"process\":10,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k\",\"value\":null}\n"
    "{\"index\":14,\"time\":15,\"process\":10,\"type\":\"info\",\"f\":\"read\",\"key\":\"k\",\"value\":null}\n"
    "{\"index\":15,\"time\":16,\"process\":11,\"type\":\"ok\",\"f\":\"read\",\"key\":\"k\",\"value\":1}\n"
    "{\"index\":16,\"time\":17,\"process\":12,\"type\":\"invoke\",\"f\":\"cas\",\"key\":\"k\",\"value\":[3,4]}\n"
    "{\"index\":17,\"time\":18,\"process\":12,\"type\":\"fail\",\"f\":\"cas\",\"key\":\"k\",\"value\":[3,4],"
    "\"error\":[1000,\"forwarding failed\"]}\n";

Test(history, jsonl_events_are_split_by_key_and_normalised)
{
    struct parsed p;
    parse(&p, jsonl_sample, CHECK_FORMAT_AUTO);
    cr_assert_eq(p.rc, 0, "%s", p.err);
    cr_assert_eq(p.h.n_keys, 2);
    const struct check_key *k0 = key_named(&p.h, "0");
    cr_assert_eq(k0->n_ops, 2);
    cr_assert_eq(k0->ops[0].f, LIN_READ);
    cr_assert_eq(k0->ops[0].a, val(&p.h, "4"));
    cr_assert_eq(k0->ops[0].id, 0);
    cr_assert_eq(k0->complete_index[0], 1);
    /* cas failed with 22: it observed a value other than 4 */
    cr_assert_eq(k0->ops[1].f, LIN_CAS);
    cr_assert_eq(k0->ops[1].outcome, LIN_FAIL);
    cr_assert_eq(k0->ops[1].a, val(&p.h, "4"));

    const struct check_key *k = key_named(&p.h, "\"k\"");
    /* read fail 20 -> read nil; write fail 11 dropped; info write kept as
     * unknown; cas fail 20 -> read nil; info read dropped; the stray ok
     * ignored; cas with indefinite code 1000 kept as unknown. */
    cr_assert_eq(k->n_ops, 4);
    cr_assert_eq(k->ops[0].f, LIN_READ);
    cr_assert_eq(k->ops[0].outcome, LIN_OK);
    cr_assert_eq(k->ops[0].a, LIN_NIL);
    cr_assert_eq(k->ops[1].f, LIN_WRITE);
    cr_assert_eq(k->ops[1].outcome, LIN_INFO);
    cr_assert_eq(k->ops[2].f, LIN_READ);
    cr_assert_eq(k->ops[2].a, LIN_NIL);
    cr_assert_eq(k->ops[3].f, LIN_CAS);
    cr_assert_eq(k->ops[3].outcome, LIN_INFO);
    cr_assert_eq(p.h.n_ignored, 1);
    cr_assert_eq(p.h.n_dropped, 2);
    check_history_free(&p.h);
}

Test(history, jsonl_values_compare_as_json_whatever_their_key_order)
{
    const char *text =
        "{\"index\":0,\"process\":1,\"type\":\"invoke\",\"f\":\"write\",\"key\":1,\"value\":{\"b\":1,\"a\":[2]}}\n"
        "{\"index\":1,\"process\":1,\"type\":\"ok\",\"f\":\"write\",\"key\":1,\"value\":{\"b\":1,\"a\":[2]}}\n"
        "{\"index\":2,\"process\":2,\"type\":\"invoke\",\"f\":\"read\",\"key\":1,\"value\":null}\n"
        "{\"index\":3,\"process\":2,\"type\":\"ok\",\"f\":\"read\",\"key\":1,\"value\":{\"a\":[2],\"b\":1}}\n"
        "{\"index\":4,\"process\":2,\"type\":\"invoke\",\"f\":\"read\",\"key\":1,\"value\":null}\n"
        "{\"index\":5,\"process\":2,\"type\":\"ok\",\"f\":\"read\",\"key\":1,\"value\":\"1\"}\n";
    struct parsed p;
    parse(&p, text, CHECK_FORMAT_JSONL);
    cr_assert_eq(p.rc, 0, "%s", p.err);
    const struct check_key *k = key_named(&p.h, "1");
    cr_assert_eq(k->ops[0].a, k->ops[1].a);
    cr_assert_neq(k->ops[2].a, val(&p.h, "1"), "the string \"1\" is not the number 1");
    /* The last read of "1" makes the key invalid. */
    cr_assert_eq(check_history_run(&p.h, NULL), LIN_INVALID);
    check_history_free(&p.h);
}

Test(history, a_malformed_jsonl_line_is_an_error_naming_the_line)
{
    const char *text = "{\"index\":0,\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"key\":1,\"value\":null}\n"
                       "{\"index\":1,\"process\":1,\"type\":\"ok\",\"f\":\"re\n";
    struct parsed p;
    parse(&p, text, CHECK_FORMAT_AUTO);
    cr_assert_eq(p.rc, CHECK_ERR_PARSE);
    cr_assert(strstr(p.err, "test:2:"), "%s", p.err);
    check_history_free(&p.h);

    const char *bad_f = "{\"index\":0,\"process\":1,\"type\":\"invoke\",\"f\":\"frobnicate\",\"key\":1}\n";
    parse(&p, bad_f, CHECK_FORMAT_JSONL);
    cr_assert_eq(p.rc, CHECK_ERR_PARSE);
    cr_assert(strstr(p.err, "\"f\" must be"), "%s", p.err);
    check_history_free(&p.h);

    const char *bad_cas = "{\"index\":0,\"process\":1,\"type\":\"invoke\",\"f\":\"cas\",\"key\":1,\"value\":3}\n";
    parse(&p, bad_cas, CHECK_FORMAT_JSONL);
    cr_assert_eq(p.rc, CHECK_ERR_PARSE);
    cr_assert(strstr(p.err, "[from, to]"), "%s", p.err);
    check_history_free(&p.h);
}

/* ---- Jepsen EDN ------------------------------------------------------------------ */

Test(history, edn_independent_tuples_become_keys)
{
    const char *text =
        "{:type :invoke, :f :write, :value [0 3], :process 0, :time 10, :index 0}\n"
        "{:type :ok, :f :write, :value [0 3], :process 0, :time 20, :index 1}\n"
        "{:type :info, :f :start-partition, :value [:isolated {\"n1\" #{\"n2\"}}], :process :nemesis, :index 2}\n"
        "{:type :invoke, :f :cas, :value [1 [3 4]], :process 1, :time 30, :index 3}\n"
        "{:type :fail, :f :cas, :value [1 [3 4]], :process 1, :time 40, :index 4, "
        ":error [:precondition-failed \"expected 3\"]}\n"
        "{:type :invoke, :f :read, :value [0 nil], :process 2, :index 5}\n"
        "{:type :ok, :f :read, :value [0 3], :process 2, :index 6}\n"
        "{:type :invoke, :f :cas, :value [0 [3 4]], :process 3, :index 7}\n"
        "{:type :info, :f :cas, :value [0 [3 4]], :process 3, :index 8, :error :net-timeout}\n"
        "{:type :invoke, :f :read, :value [1 nil], :process 4, :index 9}\n"
        "{:type :fail, :f :read, :value [1 nil], :process 4, :index 10, :error [20 \"not found\"]}\n";
    struct parsed p;
    parse(&p, text, CHECK_FORMAT_AUTO);
    cr_assert_eq(p.rc, 0, "%s", p.err);
    cr_assert_eq(p.h.n_keys, 2);
    const struct check_key *k0 = key_named(&p.h, "0");
    cr_assert_eq(k0->n_ops, 3);
    cr_assert_eq(k0->ops[0].f, LIN_WRITE);
    cr_assert_eq(k0->ops[0].a, val(&p.h, "3"));
    cr_assert_eq(k0->ops[1].a, val(&p.h, "3"));
    cr_assert_eq(k0->ops[2].f, LIN_CAS);
    cr_assert_eq(k0->ops[2].outcome, LIN_INFO);
    cr_assert_eq(k0->ops[2].b, val(&p.h, "4"));
    const struct check_key *k1 = key_named(&p.h, "1");
    cr_assert_eq(k1->n_ops, 2);
    cr_assert_eq(k1->ops[0].outcome, LIN_FAIL, "precondition-failed is code 22");
    cr_assert_eq(k1->ops[1].f, LIN_READ);
    cr_assert_eq(k1->ops[1].a, LIN_NIL);
    cr_assert_eq(check_history_run(&p.h, NULL), LIN_VALID);
    check_history_free(&p.h);
}

Test(history, edn_plain_values_are_one_register_and_a_cas_fail_without_code_is_dropped_even_in_one_vector)
{
    const char *text = "[{:type :invoke, :f :write, :value 1, :process 0}\n"
                       "{:type :ok, :f :write, :value 1, :process 0}\n"
                       "{:type :invoke, :f :cas, :value [1 2], :process 1}\n"
                       "{:type :fail, :f :cas, :value [1 2], :process 1}\n"
                       "{:type :invoke, :f :read, :value nil, :process 1}\n"
                       "{:type :ok, :f :read, :value 1, :process 1}]\n";
    struct parsed p;
    parse(&p, text, CHECK_FORMAT_AUTO);
    cr_assert_eq(p.rc, 0, "%s", p.err);
    cr_assert_eq(p.h.n_keys, 1);
    cr_assert_str_eq(p.h.keys[0].key, "");
    cr_assert_eq(p.h.keys[0].n_ops, 2);
    cr_assert_eq(p.h.n_dropped, 1);
    cr_assert_eq(check_history_run(&p.h, NULL), LIN_VALID);
    check_history_free(&p.h);
}

Test(history, malformed_edn_is_an_error_not_a_crash)
{
    const char *bad[] = {
        "{:type :invoke, :f :write, :value [0 3], :process 0\n",     /* unterminated */
        "{:type :invoke, :f :write, :value [0 3] :process}\n",       /* odd map */
        "{:type :invoke, :f :write, :value [0 3], :process 0} }\n",  /* trailing text */
        "{:type :launch, :f :write, :value [0 3], :process 0}\n",    /* bad type */
        "{:type :invoke, :f :write, :value \"abc, :process 0}\n",    /* unterminated string */
        "{:type :invoke, :f :cas, :value 5, :process 0}\n",           /* a cas without [from to] */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct parsed p;
        parse(&p, bad[i], CHECK_FORMAT_EDN);
        cr_assert_eq(p.rc, CHECK_ERR_PARSE, "case %zu", i);
        cr_assert(strstr(p.err, "test:1:"), "case %zu: %s", i, p.err);
        check_history_free(&p.h);
    }
}

/* ---- Jepsen log -------------------------------------------------------------------- */

Test(history, jepsen_log_lines_follow_the_checker_suite_semantics)
{
    const char *text = "2017-01-01 INFO  jepsen.core - Running test\n"
                       "INFO  jepsen.util - 0\t:invoke\t:write\t1\n"
                       "INFO  jepsen.util - 0\t:ok\t:write\t1\n"
                       "INFO  jepsen.util - 1\t:invoke\t:read\tnil\n"
                       "INFO  jepsen.util - 1\t:fail\t:read\t:timed-out\n"
                       "INFO  jepsen.util - 2\t:invoke\t:cas\t[3 0]\n"
                       "INFO  jepsen.util - 2\t:fail\t:cas\t[3 0]\n"
                       "INFO  jepsen.util - 3   :invoke   :cas   [1 4]\n"
                       "INFO  jepsen.util - 3   :info   :cas   :timed-out\n"
                       "INFO  jepsen.util - :nemesis\t:info\t:start\tnil\n"
                       "INFO  jepsen.util - 4\t:invoke\t:write\t2\n";
    struct parsed p;
    parse(&p, text, CHECK_FORMAT_AUTO);
    cr_assert_eq(p.rc, 0, "%s", p.err);
    cr_assert_eq(p.h.n_keys, 1);
    const struct check_key *k = &p.h.keys[0];
    cr_assert_eq(k->n_ops, 4, "the timed-out read is dropped");
    cr_assert_eq(k->ops[0].f, LIN_WRITE);
    cr_assert_eq(k->ops[0].outcome, LIN_OK);
    cr_assert_eq(k->ops[1].f, LIN_CAS);
    cr_assert_eq(k->ops[1].outcome, LIN_FAIL);
    cr_assert_eq(k->ops[1].a, val(&p.h, "3"));
    cr_assert_eq(k->ops[2].outcome, LIN_INFO);
    cr_assert_eq(k->ops[2].b, val(&p.h, "4"));
    cr_assert_eq(k->ops[3].outcome, LIN_INFO, "never completed");
    cr_assert_eq(k->ops[3].id, 11, "ids are line numbers");
    check_history_free(&p.h);
}

Test(history, a_malformed_jepsen_log_line_is_an_error)
{
    const char *bad[] = {"INFO  jepsen.util - x\t:invoke\t:read\tnil\n", "INFO  jepsen.util - 1\t:invoke\n",
                         "INFO  jepsen.util - 1\t:invoke\t:append\t3\n", "INFO  jepsen.util - 1\t:invoke\t:cas\t[1\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct parsed p;
        parse(&p, bad[i], CHECK_FORMAT_JEPSEN_LOG);
        cr_assert_eq(p.rc, CHECK_ERR_PARSE, "case %zu", i);
        check_history_free(&p.h);
    }
}

/* ---- files and formats --------------------------------------------------------------- */

Test(history, the_format_is_detected_from_content_then_extension)
{
    cr_assert_eq(check_format_detect("x", "{\"index\":0}"), CHECK_FORMAT_JSONL);
    cr_assert_eq(check_format_detect("x", "{:type :invoke}"), CHECK_FORMAT_EDN);
    cr_assert_eq(check_format_detect("x", "INFO  jepsen.util - 1 :invoke :read nil"), CHECK_FORMAT_JEPSEN_LOG);
    cr_assert_eq(check_format_detect("a/history.edn", "garbage"), CHECK_FORMAT_EDN);
    cr_assert_eq(check_format_detect("a/history.jsonl", NULL), CHECK_FORMAT_JSONL);
    cr_assert_eq(check_format_detect("notes.txt", "hello"), CHECK_FORMAT_AUTO);
}

Test(history, a_missing_file_is_an_io_error_and_an_unknown_format_a_parse_error)
{
    struct check_history h;
    char err[256];
    cr_assert_eq(check_history_init(&h), 0);
    cr_assert_eq(check_history_read("/nonexistent/history.jsonl", CHECK_FORMAT_AUTO, &h, err, sizeof err),
                 CHECK_ERR_IO);
    cr_assert(strstr(err, "/nonexistent/history.jsonl"), "%s", err);
    check_history_free(&h);
    struct parsed p;
    parse(&p, "hello world\n", CHECK_FORMAT_AUTO);
    cr_assert_eq(p.rc, CHECK_ERR_PARSE);
    check_history_free(&p.h);
}

Test(history, random_garbage_never_crashes_a_reader)
{
    uint64_t seed = (uint64_t)time(NULL);
    printf("history garbage test: seed %llu\n", (unsigned long long)seed);
    struct rng g;
    rng_seed(&g, seed);
    const char alphabet[] = "{}[]():\"\\, #_-0123456789abcnil\t;:type:invoke:f:cas:value:process";
    enum check_format formats[] = {CHECK_FORMAT_JSONL, CHECK_FORMAT_EDN, CHECK_FORMAT_JEPSEN_LOG};
    for (int round = 0; round < 3000; round++) {
        char line[200];
        size_t n = rng_below(&g, sizeof line - 40);
        size_t at = 0;
        if (rng_below(&g, 2))
            at = (size_t)snprintf(line, sizeof line, "%s",
                                  rng_below(&g, 2) ? "INFO  jepsen.util - 1 :invoke " : "{:type :invoke, :value ");
        for (size_t i = at; i < n; i++)
            line[i] = alphabet[rng_below(&g, sizeof alphabet - 1)];
        line[n > at ? n : at] = '\0';
        struct check_history h;
        char err[256];
        cr_assert_eq(check_history_init(&h), 0);
        enum check_format f = formats[round % 3];
        int rc = f == CHECK_FORMAT_JSONL ? check_jsonl_line(&h, line, 1, err, sizeof err)
                 : f == CHECK_FORMAT_EDN ? check_edn_line(&h, line, 1, err, sizeof err)
                                         : check_jepsen_log_line(&h, line, 1, err, sizeof err);
        cr_assert(rc == 0 || rc == 1 || rc == CHECK_ERR_PARSE, "seed %llu: rc %d on %s", (unsigned long long)seed,
                  rc, line);
        check_history_finish(&h);
        check_history_run(&h, NULL);
        check_history_free(&h);
    }
}

Test(history, deeply_nested_edn_is_refused_not_overflowing_the_stack)
{
    static char text[20000];
    size_t n = 0;
    for (int i = 0; i < 9000; i++)
        text[n++] = '[';
    text[n++] = '\n';
    text[n] = '\0';
    struct parsed p;
    parse(&p, text, CHECK_FORMAT_EDN);
    cr_assert_eq(p.rc, CHECK_ERR_PARSE);
    cr_assert(strstr(p.err, "deep"), "%s", p.err);
    check_history_free(&p.h);
}

Test(history, an_explanation_quotes_event_indexes_of_the_failing_op)
{
    const char *text = "{\"index\":10,\"process\":1,\"type\":\"invoke\",\"f\":\"write\",\"key\":5,\"value\":1}\n"
                       "{\"index\":11,\"process\":1,\"type\":\"ok\",\"f\":\"write\",\"key\":5,\"value\":1}\n"
                       "{\"index\":12,\"process\":2,\"type\":\"invoke\",\"f\":\"read\",\"key\":5,\"value\":null}\n"
                       "{\"index\":13,\"process\":2,\"type\":\"fail\",\"f\":\"read\",\"key\":5,\"error\":[20,\"\"]}\n";
    struct parsed p;
    parse(&p, text, CHECK_FORMAT_JSONL);
    cr_assert_eq(p.rc, 0, "%s", p.err);
    cr_assert_eq(check_history_run(&p.h, NULL), LIN_INVALID);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    check_explain_key(f, &p.h, 0, false);
    fclose(f);
    cr_assert(strstr(out, "cannot linearize: process 2 read nil  [event 12 .. 13]"), "%s", out);
    cr_assert(strstr(out, "can't read nil from register 1"), "%s", out);
    free(out);
    check_history_free(&p.h);
}

/* ---- the jsonl fast path ------------------------------------------------------------ */

#include "check/history_internal.h"

static void assert_same_history(const struct check_history *a, const struct check_history *b, uint64_t seed)
{
    cr_assert_eq(a->n_keys, b->n_keys, "seed %llu", (unsigned long long)seed);
    cr_assert_eq(a->n_ignored, b->n_ignored, "seed %llu", (unsigned long long)seed);
    cr_assert_eq(a->n_dropped, b->n_dropped, "seed %llu", (unsigned long long)seed);
    for (size_t k = 0; k < a->n_keys; k++) {
        const struct check_key *x = &a->keys[k], *y = &b->keys[k];
        cr_assert_str_eq(x->key, y->key, "seed %llu", (unsigned long long)seed);
        cr_assert_eq(x->n_ops, y->n_ops, "seed %llu key %s", (unsigned long long)seed, x->key);
        for (size_t i = 0; i < x->n_ops; i++) {
            const struct lin_op *o = &x->ops[i], *p = &y->ops[i];
            cr_assert(o->process == p->process && o->f == p->f && o->outcome == p->outcome && o->id == p->id &&
                          o->call == p->call && o->ret == p->ret,
                      "seed %llu key %s op %zu", (unsigned long long)seed, x->key, i);
            cr_assert_str_eq(lin_values_text(a->values, o->a), lin_values_text(b->values, p->a));
            cr_assert_str_eq(lin_values_text(a->values, o->b), lin_values_text(b->values, p->b));
        }
    }
}

Test(history, the_jsonl_fast_path_reads_every_line_as_jansson_does)
{
    const char *templates[] = {
        "{\"index\":%d,\"time\":5,\"process\":%d,\"type\":\"invoke\",\"f\":\"cas\",\"key\":%d,\"value\":[1,2],\"node\":\"n1\"}",
        "{\"index\":%d,\"time\":6,\"process\":%d,\"type\":\"fail\",\"f\":\"cas\",\"key\":%d,\"value\":[1,2],"
        "\"error\":[22,\"had \\\"3\\\"\"]}",
        "{\"index\":%d,\"process\":%d,\"type\":\"invoke\",\"f\":\"write\",\"key\":\"k%d\",\"value\":\"v\"}",
        "{\"index\":%d,\"process\":%d,\"type\":\"ok\",\"f\":\"write\",\"key\":\"k%d\",\"value\":\"v\"}",
        "{\"index\":%d,\"process\":%d,\"type\":\"invoke\",\"f\":\"read\",\"key\":%d,\"value\":null}",
        "{\"index\":%d,\"process\":%d,\"type\":\"ok\",\"f\":\"read\",\"key\":%d,\"value\":-7}",
        "{\"index\":%d,\"process\":%d,\"type\":\"info\",\"f\":\"cas\",\"key\":%d,\"value\":[1,2],\"error\":[1000,\"\"]}",
        " { \"process\" : %d , \"index\" : %d , \"type\" : \"invoke\" , \"f\" : \"write\" , \"key\" : %d , \"value\" : 3 } ",
        "{\"index\":%d,\"time\":9,\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"kill\",\"value\":[%d,{\"a\":[%d]}]}",
    };
    const char mutations[] = "{}[]\":,\\ -0123456789.eEnulltrufasx\t";
    uint64_t seed = (uint64_t)time(NULL);
    printf("jsonl fast path comparison: seed %llu\n", (unsigned long long)seed);
    struct rng g;
    rng_seed(&g, seed);
    for (int round = 0; round < 200; round++) {
        struct check_history a, b;
        cr_assert_eq(check_history_init(&a), 0);
        cr_assert_eq(check_history_init(&b), 0);
        for (int i = 0; i < 40; i++) {
            char line[512];
            const char *t = templates[rng_below(&g, sizeof templates / sizeof templates[0])];
            snprintf(line, sizeof line, t, (int)rng_below(&g, 50), (int)rng_below(&g, 4), (int)rng_below(&g, 3));
            size_t len = strlen(line);
            for (uint64_t m = rng_below(&g, 3); m > 0 && len > 2; m--) { /* replace, insert or delete a byte */
                size_t at = rng_below(&g, len);
                uint64_t how = rng_below(&g, 3);
                char c = mutations[rng_below(&g, sizeof mutations - 1)];
                if (how == 0)
                    line[at] = c;
                else if (how == 1 && len + 1 < sizeof line) {
                    memmove(line + at + 1, line + at, len - at + 1);
                    line[at] = c;
                    len++;
                } else {
                    memmove(line + at, line + at + 1, len - at);
                    len--;
                }
            }
            char err[256];
            int rc_a = check_jsonl_line(&a, line, i, err, sizeof err);
            int rc_b = check_jsonl_line_general(&b, line, i, err, sizeof err);
            cr_assert_eq(rc_a < 0, rc_b < 0, "seed %llu: fast %d, jansson %d on %s", (unsigned long long)seed, rc_a,
                         rc_b, line);
            if (rc_a >= 0)
                cr_assert_eq(rc_a, rc_b, "seed %llu on %s", (unsigned long long)seed, line);
        }
        check_history_finish(&a);
        check_history_finish(&b);
        assert_same_history(&a, &b, seed);
        check_history_free(&a);
        check_history_free(&b);
    }
}

Test(history, the_jsonl_fast_path_takes_the_lines_whirl_writes)
{
    struct check_history h;
    cr_assert_eq(check_history_init(&h), 0);
    const char *line = "{\"index\":3,\"time\":4,\"process\":5,\"type\":\"fail\",\"f\":\"cas\",\"key\":0,\"value\":[4,1],"
                       "\"node\":\"n2\",\"error\":[22,\"expected 4, had 2\"]}";
    cr_assert_eq(check_jsonl_fast(&h, line, 1), 0);
    const char *nemesis = "{\"index\":9,\"time\":9,\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"start-partition\","
                          "\"value\":[[\"n1\",\"n2\"],[\"n3\"]],\"text\":\"majority ring\"}";
    cr_assert_eq(check_jsonl_fast(&h, nemesis, 2), 1);
    cr_assert_eq(check_jsonl_fast(&h, "{\"index\":1,\"index\":2}", 3), CHECK_FAST_DECLINED);
    cr_assert_eq(check_jsonl_fast(&h, "{\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"value\":1.5}", 4),
                 CHECK_FAST_DECLINED);
    check_history_free(&h);
}

Test(history, an_invocation_while_the_process_is_busy_leaves_the_earlier_op_unknown)
{
    const char *text = "INFO  jepsen.util - 0\t:invoke\t:write\t1\n"
                       "INFO  jepsen.util - 0\t:invoke\t:read\tnil\n"
                       "INFO  jepsen.util - 0\t:ok\t:read\t1\n"
                       "INFO  jepsen.util - 0\t:ok\t:write\t1\n"; /* matches nothing pending: ignored */
    struct parsed p;
    parse(&p, text, CHECK_FORMAT_JEPSEN_LOG);
    cr_assert_eq(p.rc, 0, "%s", p.err);
    const struct check_key *k = &p.h.keys[0];
    cr_assert_eq(k->n_ops, 2);
    cr_assert_eq(k->ops[0].f, LIN_WRITE);
    cr_assert_eq(k->ops[0].outcome, LIN_INFO);
    cr_assert_eq(k->ops[1].f, LIN_READ);
    cr_assert_eq(k->ops[1].outcome, LIN_OK);
    cr_assert_eq(p.h.n_ignored, 1);
    cr_assert_eq(check_history_run(&p.h, NULL), LIN_VALID);
    check_history_free(&p.h);
}

Test(history, with_connection_order_a_busy_process_pipelines_and_completions_answer_in_order)
{
    /* The same lines as above, read as one pipelining connection: both
     * ops complete (in order), and the read, sent after the write, saw
     * nothing of it. */
    const char *text = "INFO  jepsen.util - 0\t:invoke\t:write\t1\n"
                       "INFO  jepsen.util - 0\t:invoke\t:read\tnil\n"
                       "INFO  jepsen.util - 0\t:ok\t:write\t1\n"
                       "INFO  jepsen.util - 0\t:ok\t:read\tnil\n";
    struct parsed p;
    cr_assert_eq(check_history_init(&p.h), 0);
    p.h.connection_order = true;
    FILE *in = fmemopen((void *)text, strlen(text), "r");
    p.rc = check_history_read_stream(in, "test", CHECK_FORMAT_JEPSEN_LOG, &p.h, p.err, sizeof p.err);
    fclose(in);
    cr_assert_eq(p.rc, 0, "%s", p.err);
    const struct check_key *k = &p.h.keys[0];
    cr_assert_eq(k->n_ops, 2);
    cr_assert_eq(k->ops[0].f, LIN_WRITE);
    cr_assert_eq(k->ops[0].outcome, LIN_OK);
    cr_assert_eq(k->ops[1].f, LIN_READ);
    cr_assert_eq(k->ops[1].outcome, LIN_OK);
    cr_assert_eq(p.h.n_ignored, 0);
    cr_assert_eq(check_history_run(&p.h, NULL), LIN_INVALID);
    /* The same history without the order rule: the ops overlap, so valid. */
    struct lin_report r;
    cr_assert_eq(lin_check(k->ops, k->n_ops, NULL, &r), LIN_VALID);
    lin_report_free(&r);
    check_history_free(&p.h);
}
