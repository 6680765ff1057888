/* test_check_models.c - the checker's models besides the register: the
 * string register (get, set, incr, append, getset, del) and keys with
 * expiry (set with a deadline, get, ttl, pttl, persist, judged at the time
 * stamped on each op), from small literal histories in whirl's jsonl and
 * EDN; how a history's model is chosen; and the fields the readers refuse.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check/check.h"
#include "common/rng.h"

struct checked {
    struct check_history h;
    int rc;
    char err[512];
    enum lin_verdict verdict;
};

static void check_text(struct checked *c, const char *text)
{
    cr_assert_eq(check_history_init(&c->h), 0);
    FILE *in = fmemopen((void *)text, strlen(text), "r");
    cr_assert(in);
    c->err[0] = '\0';
    c->rc = check_history_read_stream(in, "test", CHECK_FORMAT_AUTO, &c->h, c->err, sizeof c->err);
    fclose(in);
    c->verdict = c->rc == 0 ? check_history_run(&c->h, NULL) : LIN_UNKNOWN;
}

/* The verdict of a history that must parse, and the model it was judged by. */
static enum lin_verdict verdict_of(const char *text, const char *model)
{
    struct checked c;
    check_text(&c, text);
    cr_assert_eq(c.rc, 0, "history refused: %s", c.err);
    cr_assert_str_eq(c.h.model->name, model);
    enum lin_verdict v = c.verdict;
    check_history_free(&c.h);
    return v;
}

/* An error message for a history that must be refused. */
static void refused(const char *text, const char *want)
{
    struct checked c;
    check_text(&c, text);
    cr_assert_eq(c.rc, CHECK_ERR_PARSE, "accepted: %s", text);
    cr_assert(strstr(c.err, want), "error '%s' lacks '%s'", c.err, want);
    check_history_free(&c.h);
}

#define I(p, f, rest) "{\"process\":" #p ",\"type\":\"invoke\",\"f\":\"" f "\",\"key\":\"k\"" rest "}\n"
#define OK(p, f, rest) "{\"process\":" #p ",\"type\":\"ok\",\"f\":\"" f "\",\"key\":\"k\"" rest "}\n"
#define FAIL(p, f, rest) "{\"process\":" #p ",\"type\":\"fail\",\"f\":\"" f "\",\"key\":\"k\"" rest "}\n"
#define INFO(p, f, rest) "{\"process\":" #p ",\"type\":\"info\",\"f\":\"" f "\",\"key\":\"k\"" rest "}\n"

/* ---- the string register -------------------------------------------------- */

Test(string_model, concurrent_incrs_cannot_both_return_1)
{
    cr_assert_eq(verdict_of(I(0, "incr", "") I(1, "incr", "") OK(0, "incr", ",\"value\":1") OK(1, "incr", ",\"value\":1"),
                            "string"),
                 LIN_INVALID);
    cr_assert_eq(verdict_of(I(0, "incr", "") I(1, "incr", "") OK(0, "incr", ",\"value\":2") OK(1, "incr", ",\"value\":1"),
                            "string"),
                 LIN_VALID);
    /* incrby, and integers written as strings */
    cr_assert_eq(verdict_of(I(0, "incrby", ",\"value\":10") OK(0, "incrby", ",\"value\":\"10\"")
                                I(0, "incr", ",\"value\":\"-3\"") OK(0, "incr", ",\"value\":7")
                                I(0, "get", "") OK(0, "get", ",\"value\":\"7\""),
                            "string"),
                 LIN_VALID);
    cr_assert_eq(verdict_of(I(0, "incrby", ",\"value\":10") OK(0, "incrby", ",\"value\":11"), "string"), LIN_INVALID);
}

Test(string_model, incr_on_a_non_integer_fails)
{
    const char *set_abc = I(0, "set", ",\"value\":\"abc\"") OK(0, "set", "");
    char h[1024];
    snprintf(h, sizeof h, "%s%s%s", set_abc, I(1, "incr", ""), FAIL(1, "incr", ",\"error\":[40,\"not an integer\"]"));
    cr_assert_eq(verdict_of(h, "string"), LIN_VALID);
    snprintf(h, sizeof h, "%s%s%s", set_abc, I(1, "incr", ""), FAIL(1, "incr", ",\"error\":\"not-an-integer\""));
    cr_assert_eq(verdict_of(h, "string"), LIN_VALID);
    snprintf(h, sizeof h, "%s%s%s", set_abc, I(1, "incr", ""), OK(1, "incr", ",\"value\":1"));
    cr_assert_eq(verdict_of(h, "string"), LIN_INVALID);
    /* The value is an integer (written as a JSON number): the incr cannot fail. */
    cr_assert_eq(verdict_of(I(0, "set", ",\"value\":5") OK(0, "set", "") I(1, "incr", "")
                                FAIL(1, "incr", ",\"error\":[40,\"not an integer\"]"),
                            "string"),
                 LIN_INVALID);
    cr_assert_eq(verdict_of(I(0, "set", ",\"value\":5") OK(0, "set", "") I(1, "incr", "") OK(1, "incr", ",\"value\":6"),
                            "string"),
                 LIN_VALID);
    /* " 5", "05" and "-0" are not integers to Redis; the largest int64 overflows. */
    cr_assert_eq(verdict_of(I(0, "set", ",\"value\":\"05\"") OK(0, "set", "") I(1, "incr", "")
                                FAIL(1, "incr", ",\"error\":40"),
                            "string"),
                 LIN_VALID);
    cr_assert_eq(verdict_of(I(0, "set", ",\"value\":\"9223372036854775807\"") OK(0, "set", "") I(1, "incr", "")
                                FAIL(1, "incr", ",\"error\":40"),
                            "string"),
                 LIN_VALID);
    cr_assert_eq(verdict_of(I(0, "set", ",\"value\":\"9223372036854775806\"") OK(0, "set", "") I(1, "incr", "")
                                FAIL(1, "incr", ",\"error\":40"),
                            "string"),
                 LIN_INVALID);
}

Test(string_model, append_returns_the_new_length)
{
    const char *two = I(0, "append", ",\"value\":\"ab\"") OK(0, "append", ",\"value\":2") I(0, "append", ",\"value\":\"c\"");
    char h[1024];
    snprintf(h, sizeof h, "%s%s%s%s", two, OK(0, "append", ",\"value\":3"), I(1, "get", ""), OK(1, "get", ",\"value\":\"abc\""));
    cr_assert_eq(verdict_of(h, "string"), LIN_VALID);
    snprintf(h, sizeof h, "%s%s%s%s", two, OK(0, "append", ",\"value\":3"), I(1, "get", ""), OK(1, "get", ",\"value\":\"abd\""));
    cr_assert_eq(verdict_of(h, "string"), LIN_INVALID);
    snprintf(h, sizeof h, "%s%s", two, OK(0, "append", ",\"value\":2"));
    cr_assert_eq(verdict_of(h, "string"), LIN_INVALID);
    /* Lengths are in bytes: "é" is 2. */
    cr_assert_eq(verdict_of(I(0, "append", ",\"value\":\"\\u00e9\"") OK(0, "append", ",\"value\":2"), "string"), LIN_VALID);
    cr_assert_eq(verdict_of(I(0, "append", ",\"value\":\"\\u00e9\"") OK(0, "append", ",\"value\":1"), "string"), LIN_INVALID);
    /* A number appended to a number: "12" ++ "3" reads back as 123 (or "123"). */
    cr_assert_eq(verdict_of(I(0, "set", ",\"value\":12") OK(0, "set", "") I(0, "append", ",\"value\":3")
                                OK(0, "append", ",\"value\":3") I(0, "incr", "") OK(0, "incr", ",\"value\":124"),
                            "string"),
                 LIN_VALID);
}

Test(string_model, getset_returns_the_old_value)
{
    cr_assert_eq(verdict_of(I(0, "set", ",\"value\":\"a\"") OK(0, "set", "") I(0, "getset", ",\"value\":\"b\"")
                                OK(0, "getset", ",\"value\":\"a\"") I(0, "get", "") OK(0, "get", ",\"value\":\"b\""),
                            "string"),
                 LIN_VALID);
    cr_assert_eq(verdict_of(I(0, "set", ",\"value\":\"a\"") OK(0, "set", "") I(0, "getset", ",\"value\":\"b\"")
                                OK(0, "getset", ",\"value\":null"),
                            "string"),
                 LIN_INVALID);
    /* Two concurrent getsets cannot both find the key absent. */
    cr_assert_eq(verdict_of(I(0, "getset", ",\"value\":\"x\"") I(1, "getset", ",\"value\":\"y\"")
                                OK(0, "getset", ",\"value\":null") OK(1, "getset", ",\"value\":null"),
                            "string"),
                 LIN_INVALID);
    cr_assert_eq(verdict_of(I(0, "getset", ",\"value\":\"x\"") I(1, "getset", ",\"value\":\"y\"")
                                OK(0, "getset", ",\"value\":\"y\"") OK(1, "getset", ",\"value\":null"),
                            "string"),
                 LIN_VALID);
}

Test(string_model, del_counts_and_empties)
{
    cr_assert_eq(verdict_of(I(0, "set", ",\"value\":1") OK(0, "set", "") I(0, "del", "") OK(0, "del", ",\"value\":1")
                                I(0, "del", "") OK(0, "del", ",\"value\":0") I(0, "get", "") OK(0, "get", ",\"value\":null"),
                            "string"),
                 LIN_VALID);
    cr_assert_eq(verdict_of(I(0, "set", ",\"value\":1") OK(0, "set", "") I(0, "del", "") OK(0, "del", ",\"value\":1")
                                I(0, "del", "") OK(0, "del", ",\"value\":1"),
                            "string"),
                 LIN_INVALID);
    cr_assert_eq(verdict_of(I(0, "set", ",\"value\":1") OK(0, "set", "") I(0, "del", "") OK(0, "del", "")
                                I(0, "get", "") OK(0, "get", ",\"value\":1"),
                            "string"),
                 LIN_INVALID);
}

Test(string_model, unknown_outcomes_may_or_may_not_take_effect)
{
    const char *info = I(0, "incr", "") INFO(0, "incr", "");
    char h[1024];
    snprintf(h, sizeof h, "%s%s%s", info, I(1, "get", ""), OK(1, "get", ",\"value\":\"1\""));
    cr_assert_eq(verdict_of(h, "string"), LIN_VALID);
    snprintf(h, sizeof h, "%s%s%s", info, I(1, "get", ""), OK(1, "get", ",\"value\":null"));
    cr_assert_eq(verdict_of(h, "string"), LIN_VALID);
    snprintf(h, sizeof h, "%s%s%s", info, I(1, "get", ""), OK(1, "get", ",\"value\":\"2\""));
    cr_assert_eq(verdict_of(h, "string"), LIN_INVALID);
    /* A definite failure (other than 40) did not happen. */
    cr_assert_eq(verdict_of(I(0, "set", ",\"value\":\"a\"") FAIL(0, "set", ",\"error\":[11,\"busy\"]") I(0, "get", "")
                                OK(0, "get", ",\"value\":\"a\""),
                            "string"),
                 LIN_INVALID);
}

Test(string_model, explains_with_states)
{
    struct checked c;
    check_text(&c, I(0, "incr", "") I(1, "incr", "") OK(0, "incr", ",\"value\":1") OK(1, "incr", ",\"value\":1"));
    cr_assert_eq(c.verdict, LIN_INVALID);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    check_explain_key(out, &c.h, 0, true);
    fclose(out);
    cr_assert(strstr(buf, "cannot linearize: process "), "%s", buf);
    cr_assert(strstr(buf, "incr -> 1"), "%s", buf);
    cr_assert(strstr(buf, "states possible just before it: \"1\""), "%s", buf);
    cr_assert(strstr(buf, "the string model allows no such outcome from \"1\""), "%s", buf);
    free(buf);
    check_history_free(&c.h);
}

/* ---- keys with expiry ---------------------------------------------------------- */

Test(expiry_model, a_past_deadline_reads_as_absent)
{
    /* set at 100 with deadline 50: the key is gone at once. */
    const char *set = I(0, "set", ",\"value\":\"v\",\"deadline\":50") OK(0, "set", ",\"at\":100");
    char h[1024];
    snprintf(h, sizeof h, "%s%s%s", set, I(1, "get", ""), OK(1, "get", ",\"value\":\"v\",\"at\":120"));
    cr_assert_eq(verdict_of(h, "expiry"), LIN_INVALID);
    snprintf(h, sizeof h, "%s%s%s", set, I(1, "get", ""), OK(1, "get", ",\"value\":null,\"at\":120"));
    cr_assert_eq(verdict_of(h, "expiry"), LIN_VALID);
}

Test(expiry_model, the_deadline_itself_is_expired)
{
    const char *set = I(0, "set", ",\"value\":\"v\",\"deadline\":1000,\"at\":100") OK(0, "set", "");
    char h[1024];
    snprintf(h, sizeof h, "%s%s%s", set, I(1, "get", ""), OK(1, "get", ",\"value\":\"v\",\"at\":999"));
    cr_assert_eq(verdict_of(h, "expiry"), LIN_VALID);
    snprintf(h, sizeof h, "%s%s%s", set, I(1, "get", ""), OK(1, "get", ",\"value\":\"v\",\"at\":1000"));
    cr_assert_eq(verdict_of(h, "expiry"), LIN_INVALID);
    snprintf(h, sizeof h, "%s%s%s", set, I(1, "get", ""), OK(1, "get", ",\"value\":null,\"at\":999"));
    cr_assert_eq(verdict_of(h, "expiry"), LIN_INVALID);
    /* A set without a deadline never expires, and clears an earlier deadline. */
    snprintf(h, sizeof h, "%s%s%s%s%s", set, I(0, "set", ",\"value\":\"w\",\"at\":200"), OK(0, "set", ""), I(1, "get", ""),
             OK(1, "get", ",\"value\":\"w\",\"at\":5000"));
    cr_assert_eq(verdict_of(h, "expiry"), LIN_VALID);
}

Test(expiry_model, ttl_and_pttl)
{
    const char *set = I(0, "set", ",\"value\":1,\"deadline\":1000") OK(0, "set", ",\"at\":100");
    struct {
        const char *f;
        const char *reply;
        int at;
        enum lin_verdict want;
    } cases[] = {
        {"pttl", "600", 400, LIN_VALID},  {"pttl", "601", 400, LIN_INVALID}, {"ttl", "1", 400, LIN_VALID},
        {"ttl", "0", 400, LIN_INVALID},    {"ttl", "0", 600, LIN_VALID},     {"ttl", "-1", 400, LIN_INVALID},
        {"ttl", "-2", 1000, LIN_VALID},   {"pttl", "-2", 999, LIN_INVALID}, {"pttl", "1", 999, LIN_VALID},
        {"ttl", "1", 500, LIN_VALID},     {"ttl", "0", 500, LIN_INVALID},   {"ttl", "0", 501, LIN_VALID},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char h[1024];
        snprintf(h, sizeof h,
                 "%s{\"process\":1,\"type\":\"invoke\",\"f\":\"%s\",\"key\":\"k\"}\n"
                 "{\"process\":1,\"type\":\"ok\",\"f\":\"%s\",\"key\":\"k\",\"value\":%s,\"at\":%d}\n",
                 set, cases[i].f, cases[i].f, cases[i].reply, cases[i].at);
        cr_assert_eq(verdict_of(h, "expiry"), cases[i].want, "%s %s at %d", cases[i].f, cases[i].reply, cases[i].at);
    }
    /* No deadline: -1; absent: -2. */
    cr_assert_eq(verdict_of(I(0, "set", ",\"value\":1,\"at\":5") OK(0, "set", "") I(0, "ttl", "")
                                OK(0, "ttl", ",\"value\":-1,\"at\":6") I(0, "del", ",\"at\":7") OK(0, "del", ",\"value\":1")
                                I(0, "pttl", "") OK(0, "pttl", ",\"value\":-2,\"at\":8"),
                            "expiry"),
                 LIN_VALID);
    cr_assert_eq(verdict_of(I(0, "set", ",\"value\":1,\"at\":5") OK(0, "set", "") I(0, "ttl", "")
                                OK(0, "ttl", ",\"value\":-2,\"at\":6"),
                            "expiry"),
                 LIN_INVALID);
}

Test(expiry_model, persist_removes_the_deadline)
{
    const char *set = I(0, "set", ",\"value\":1,\"deadline\":1000,\"at\":100") OK(0, "set", "");
    char h[1024];
    snprintf(h, sizeof h, "%s%s%s%s%s", set, I(0, "persist", ""), OK(0, "persist", ",\"value\":1,\"at\":500"),
             I(1, "get", ""), OK(1, "get", ",\"value\":1,\"at\":2000"));
    cr_assert_eq(verdict_of(h, "expiry"), LIN_VALID);
    snprintf(h, sizeof h, "%s%s%s", set, I(1, "get", ""), OK(1, "get", ",\"value\":1,\"at\":2000"));
    cr_assert_eq(verdict_of(h, "expiry"), LIN_INVALID);
    /* A live key with a deadline: persist cannot answer 0; after it, 1 is impossible. */
    snprintf(h, sizeof h, "%s%s%s", set, I(0, "persist", ""), OK(0, "persist", ",\"value\":0,\"at\":500"));
    cr_assert_eq(verdict_of(h, "expiry"), LIN_INVALID);
    snprintf(h, sizeof h, "%s%s%s", set, I(0, "persist", ""), OK(0, "persist", ",\"value\":1,\"at\":1500"));
    cr_assert_eq(verdict_of(h, "expiry"), LIN_INVALID);
    /* An unknown persist may have saved the key. */
    snprintf(h, sizeof h, "%s%s%s%s%s", set, I(0, "persist", ""), INFO(0, "persist", ""), I(1, "get", ""),
             OK(1, "get", ",\"value\":1,\"at\":2000"));
    cr_assert_eq(verdict_of(h, "expiry"), LIN_VALID);
}

Test(expiry_model, concurrent_set_and_get_at_their_own_times)
{
    /* The get overlaps the set; at 150 it may see it, at 1200 the key has expired. */
    cr_assert_eq(verdict_of(I(0, "set", ",\"value\":\"v\",\"deadline\":1000") I(1, "get", "")
                                OK(1, "get", ",\"value\":\"v\",\"at\":150") OK(0, "set", ",\"at\":120"),
                            "expiry"),
                 LIN_VALID);
    cr_assert_eq(verdict_of(I(0, "set", ",\"value\":\"v\",\"deadline\":1000") I(1, "get", "")
                                OK(1, "get", ",\"value\":\"v\",\"at\":1200") OK(0, "set", ",\"at\":120"),
                            "expiry"),
                 LIN_INVALID);
}

Test(expiry_model, an_op_without_a_time_stamp)
{
    /* Judged at a time that explains it: a key with a deadline may have
     * expired; once seen expired it stays so. */
    const char *set = I(0, "set", ",\"value\":\"v\",\"deadline\":1000") OK(0, "set", "");
    char h[1024];
    snprintf(h, sizeof h, "%s%s%s", set, I(1, "get", ""), OK(1, "get", ",\"value\":null"));
    cr_assert_eq(verdict_of(h, "expiry"), LIN_VALID);
    snprintf(h, sizeof h, "%s%s%s%s%s", set, I(1, "get", ""), OK(1, "get", ",\"value\":null"), I(1, "get", ""),
             OK(1, "get", ",\"value\":\"v\""));
    cr_assert_eq(verdict_of(h, "expiry"), LIN_INVALID);
    /* Without a deadline it cannot. */
    cr_assert_eq(verdict_of(I(0, "set", ",\"value\":\"v\",\"at\":1") OK(0, "set", "") I(1, "get", "")
                                OK(1, "get", ",\"value\":null"),
                            "expiry"),
                 LIN_INVALID);
}

Test(expiry_model, edn_fields)
{
    const char *edn = "{:type :invoke, :f :set, :value [\"k\" \"v\"], :deadline 50, :process 0, :index 0}\n"
                      "{:type :ok, :f :set, :value [\"k\" \"v\"], :at 100, :process 0, :index 1}\n"
                      "{:type :invoke, :f :get, :value [\"k\" nil], :process 1, :index 2}\n"
                      "{:type :ok, :f :get, :value [\"k\" \"v\"], :at 120, :process 1, :index 3}\n";
    cr_assert_eq(verdict_of(edn, "expiry"), LIN_INVALID);
}

/* ---- choosing the model, and what the readers refuse ------------------------------ */

Test(check_models, chosen_from_the_functions_seen)
{
    cr_assert_eq(verdict_of(I(0, "write", ",\"value\":1") OK(0, "write", "") I(0, "read", "") OK(0, "read", ",\"value\":1"),
                            "register"),
                 LIN_VALID);
    cr_assert_eq(verdict_of(I(0, "set", ",\"value\":1") OK(0, "set", "") I(0, "get", "") OK(0, "get", ",\"value\":1"),
                            "string"),
                 LIN_VALID);
    cr_assert_eq(verdict_of(I(0, "set", ",\"value\":1") OK(0, "set", "") I(0, "ttl", "") OK(0, "ttl", ",\"value\":-1"),
                            "expiry"),
                 LIN_VALID);
    cr_assert_eq(verdict_of("", "register"), LIN_VALID);
    refused(I(0, "write", ",\"value\":1") OK(0, "write", "") I(0, "get", "") OK(0, "get", ",\"value\":1"),
            "no one model takes all of write, get (register: read, write, cas; string:");
    refused(I(0, "incr", "") OK(0, "incr", ",\"value\":1") I(0, "ttl", "") OK(0, "ttl", ",\"value\":-1"),
            "no one model takes all of incr, ttl");
    /* A time stamp means expiry, which has no incr. */
    refused(I(0, "incr", ",\"at\":5") OK(0, "incr", ",\"value\":1"), "no one model takes all of incr");
}

Test(check_models, a_model_named)
{
    struct checked c;
    cr_assert_eq(check_history_init(&c.h), 0);
    c.h.model_name = "expiry";
    const char *text = I(0, "set", ",\"value\":1") OK(0, "set", "") I(0, "get", "") OK(0, "get", ",\"value\":1");
    FILE *in = fmemopen((void *)text, strlen(text), "r");
    cr_assert_eq(check_history_read_stream(in, "t", CHECK_FORMAT_AUTO, &c.h, c.err, sizeof c.err), 0, "%s", c.err);
    fclose(in);
    cr_assert_str_eq(c.h.model->name, "expiry");
    cr_assert_eq(check_history_run(&c.h, NULL), LIN_VALID);
    check_history_free(&c.h);

    cr_assert_eq(check_history_init(&c.h), 0);
    c.h.model_name = "queue";
    in = fmemopen((void *)text, strlen(text), "r");
    cr_assert_eq(check_history_read_stream(in, "t", CHECK_FORMAT_AUTO, &c.h, c.err, sizeof c.err), CHECK_ERR_PARSE);
    fclose(in);
    cr_assert(strstr(c.err, "no model named queue"), "%s", c.err);
    check_history_free(&c.h);

    /* A named model that lacks a function says which. */
    cr_assert_eq(check_history_init(&c.h), 0);
    c.h.model_name = "register";
    in = fmemopen((void *)text, strlen(text), "r");
    cr_assert_eq(check_history_read_stream(in, "t", CHECK_FORMAT_AUTO, &c.h, c.err, sizeof c.err), CHECK_ERR_PARSE);
    fclose(in);
    cr_assert(strstr(c.err, "the register model does not take get, set"), "%s", c.err);
    check_history_free(&c.h);
}

Test(check_models, bad_fields_are_refused)
{
    refused(I(0, "incr", ",\"value\":\"abc\""), "(the increment) must be an integer");
    refused(I(0, "incr", ",\"value\":1.5"), "(the increment) must be an integer");
    refused(I(0, "set", ",\"value\":1,\"deadline\":\"soon\""), "\"deadline\" must be an integer");
    refused(I(0, "get", ",\"deadline\":5"), "only set takes a deadline");
    refused(I(0, "get", ",\"at\":[1]"), "\"at\" must be an integer");
    refused(I(0, "append", ""), "need a value");
    refused(I(0, "append", ",\"value\":\"a\"") OK(0, "append", ",\"value\":\"long\""), "output (value) must be an integer");
    refused(I(0, "frobnicate", ""), "\"f\" must be read, write, cas, get");
}

/* ---- random histories, linearizable by construction ------------------------------ */

/* Processes run one op at a time on a few keys; each op takes effect at a
 * random moment between its invocation and its completion (the time stamp
 * is that moment's clock); some completions are lost (info: the effect
 * happened or not) and some ops carry no time stamp. Every such history is
 * linearizable, so the checker must say valid. */
struct sim_key {
    bool present;
    char value[160];
    int64_t deadline; /* -1: none */
};

struct sim_op {
    int phase; /* 0 idle, 1 invoked, 2 applied */
    char done[320];
};

static void sim_run(uint64_t seed, bool expiry, char **text, size_t *len)
{
    struct rng g;
    rng_seed(&g, seed);
    FILE *out = open_memstream(text, len);
    struct sim_key keys[4] = {{0}};
    struct sim_op procs[5] = {{0}};
    int64_t now = 1000;
    const char *fs_string[] = {"incr", "incr", "get", "append", "getset", "del", "set"};
    const char *fs_expiry[] = {"set", "get", "pttl", "ttl", "persist", "del", "get"};
    int f_of[5], key_of[5], arg_of[5];
    int64_t dl_of[5];
    for (int done = 0; done < 600;) {
        int p = (int)rng_below(&g, 5);
        now += (int64_t)rng_below(&g, 4);
        struct sim_op *o = &procs[p];
        if (o->phase == 0) {
            f_of[p] = (int)rng_below(&g, 7);
            key_of[p] = (int)rng_below(&g, 4);
            arg_of[p] = (int)rng_below(&g, 9) + 1;
            dl_of[p] = rng_below(&g, 3) == 0 ? -1 : now + (int64_t)rng_below(&g, rng_below(&g, 2) ? 60 : 3000) - 5;
            const char *f = expiry ? fs_expiry[f_of[p]] : fs_string[f_of[p]];
            fprintf(out, "{\"process\":%d,\"type\":\"invoke\",\"f\":\"%s\",\"key\":%d", p, f, key_of[p]);
            if (!expiry && f_of[p] != 2 && f_of[p] != 5)
                fprintf(out, f_of[p] <= 1 ? ",\"value\":%d" : ",\"value\":\"%d\"", arg_of[p]);
            if (expiry && f_of[p] == 0) {
                fprintf(out, ",\"value\":\"%d\"", arg_of[p]);
                if (dl_of[p] >= 0)
                    fprintf(out, ",\"deadline\":%lld", (long long)dl_of[p]);
            }
            fprintf(out, "}\n");
            o->phase = 1;
            continue;
        }
        if (o->phase == 1) { /* takes effect now */
            struct sim_key *k = &keys[key_of[p]];
            char reply[192] = "";
            const char *f = expiry ? fs_expiry[f_of[p]] : fs_string[f_of[p]];
            bool failed = false;
            if (expiry && k->present && k->deadline >= 0 && k->deadline <= now)
                k->present = false;
            if (!expiry) {
                /* Values are digits 1-9 appended, or sums: integers unless too big. */
                errno = 0;
                long long cur = k->present ? strtoll(k->value, NULL, 10) : 0;
                bool too_big = errno == ERANGE || cur > LLONG_MAX - arg_of[p];
                switch (f_of[p]) {
                case 0:
                case 1:
                    if (too_big) {
                        failed = true;
                        break;
                    }
                    snprintf(k->value, sizeof k->value, "%lld", cur + arg_of[p]);
                    k->present = true;
                    snprintf(reply, sizeof reply, ",\"value\":%s", k->value);
                    break;
                case 2:
                    snprintf(reply, sizeof reply, k->present ? ",\"value\":\"%s\"" : ",\"value\":null", k->value);
                    break;
                case 3:
                    if (!k->present)
                        k->value[0] = '\0';
                    if (strlen(k->value) + 2 < sizeof k->value)
                        snprintf(k->value + strlen(k->value), 2, "%d", arg_of[p]);
                    k->present = true;
                    snprintf(reply, sizeof reply, ",\"value\":%zu", strlen(k->value));
                    break;
                case 4:
                    snprintf(reply, sizeof reply, k->present ? ",\"value\":\"%s\"" : ",\"value\":null", k->value);
                    snprintf(k->value, sizeof k->value, "%d", arg_of[p]);
                    k->present = true;
                    break;
                case 5:
                    snprintf(reply, sizeof reply, ",\"value\":%d", k->present);
                    k->present = false;
                    break;
                default:
                    snprintf(k->value, sizeof k->value, "%d", arg_of[p]);
                    k->present = true;
                }
            } else {
                int64_t left = k->present && k->deadline >= 0 ? k->deadline - now : 0;
                switch (f_of[p]) {
                case 0:
                    snprintf(k->value, sizeof k->value, "%d", arg_of[p]);
                    k->deadline = dl_of[p];
                    k->present = dl_of[p] < 0 || dl_of[p] > now;
                    break;
                case 1:
                case 6:
                    snprintf(reply, sizeof reply, k->present ? ",\"value\":\"%s\"" : ",\"value\":null", k->value);
                    break;
                case 2:
                case 3:
                    snprintf(reply, sizeof reply, ",\"value\":%lld",
                             !k->present ? -2LL : k->deadline < 0 ? -1LL
                                                  : f_of[p] == 2 ? (long long)left : (long long)((left + 500) / 1000));
                    break;
                case 4:
                    snprintf(reply, sizeof reply, ",\"value\":%d", k->present && k->deadline >= 0);
                    if (k->present)
                        k->deadline = -1;
                    break;
                default:
                    snprintf(reply, sizeof reply, ",\"value\":%d", k->present);
                    k->present = false;
                }
            }
            char at[32] = "";
            if (expiry && rng_below(&g, 5) != 0) /* some ops carry no time stamp */
                snprintf(at, sizeof at, ",\"at\":%lld", (long long)now);
            const char *type = failed ? "fail" : rng_below(&g, 10) == 0 ? "info" : "ok";
            snprintf(o->done, sizeof o->done, "{\"process\":%d,\"type\":\"%s\",\"f\":\"%s\",\"key\":%d%s%s%s}\n", p,
                     type, f, key_of[p], strcmp(type, "ok") == 0 ? reply : "", failed ? ",\"error\":40" : "", at);
            o->phase = 2;
            continue;
        }
        fputs(o->done, out);
        o->phase = 0;
        done++;
    }
    fclose(out);
}

Test(check_models, random_linearizable_histories_are_valid)
{
    uint64_t seed = (uint64_t)time(NULL);
    printf("check models random histories: seed %llu\n", (unsigned long long)seed);
    for (uint64_t i = 0; i < 40; i++) {
        bool expiry = i % 2;
        char *text = NULL;
        size_t len = 0;
        sim_run(seed + i, expiry, &text, &len);
        struct checked c;
        check_text(&c, text);
        cr_assert_eq(c.rc, 0, "seed %llu: %s", (unsigned long long)(seed + i), c.err);
        cr_assert_str_eq(c.h.model->name, expiry ? "expiry" : "string");
        if (c.verdict != LIN_VALID) {
            for (size_t k = 0; k < c.h.n_keys; k++)
                if (c.h.keys[k].report.verdict != LIN_VALID)
                    check_explain_key(stderr, &c.h, k, true);
            cr_assert_fail("seed %llu (expiry %d): not valid:\n%s", (unsigned long long)(seed + i), expiry, text);
        }
        check_history_free(&c.h);
        free(text);
    }
}
