/* test_report.c - whirl's report internals: escaping untrusted text, the
 * request-path guard of `whirl serve`, reading a run folder back (pairing,
 * pending ops, fault periods, malformed lines, the checker's per-key
 * results, key folder names), and the SVG axis arithmetic.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "whirl/report/html_escape.h"
#include "whirl/report/pages.h"
#include "whirl/report/process_map.h"
#include "whirl/report/report.h"
#include "whirl/report/run.h"
#include "whirl/report/serve_pages.h"
#include "whirl/report/svg_plot.h"


/* ---- helpers ---------------------------------------------------------- */

static char *escaped(void (*fn)(FILE *, const char *), const char *in)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    fn(f, in);
    fclose(f);
    return out;
}

/* A run folder in /tmp holding the given history and results (NULL: none). */
static char *make_run(const char *history, const char *results)
{
    char tmpl[] = "/tmp/whirl-report-test-XXXXXX";
    char *dir = strdup(mkdtemp(tmpl));
    char path[512];
    snprintf(path, sizeof path, "%s/history.jsonl", dir);
    FILE *f = fopen(path, "w");
    fputs(history, f);
    fclose(f);
    if (results) {
        snprintf(path, sizeof path, "%s/results.json", dir);
        f = fopen(path, "w");
        fputs(results, f);
        fclose(f);
    }
    return dir;
}

static void remove_run(char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
    free(dir);
}

/* ---- escaping --------------------------------------------------------- */

Test(report_escape, html_escape_turns_markup_into_text)
{
    char *s = escaped(html_escape, "<b a=\"x\">'&'</b>");
    cr_assert_str_eq(s, "&lt;b a=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/b&gt;");
    free(s);
}

Test(report_escape, html_escape_drops_control_characters_xml_refuses)
{
    char *s = escaped(html_escape, "a\x01" "b\nc\td\x1f");
    cr_assert_str_eq(s, "ab\nc\td");
    free(s);
}

Test(report_escape, script_strings_cannot_close_the_script_element)
{
    char *s = escaped(html_script_string, "</script><script>alert(1)</script>\"\\");
    cr_assert_null(strstr(s, "</"), "a raw </ survived: %s", s);
    cr_assert_null(strchr(s, '<'));
    json_t *back = json_loads(s, JSON_DECODE_ANY, NULL); /* still the same string to the script */
    cr_assert_str_eq(json_string_value(back), "</script><script>alert(1)</script>\"\\");
    json_decref(back);
    free(s);
    s = escaped(html_script_string, NULL);
    cr_assert_str_eq(s, "null");
    free(s);
}

Test(report_escape, script_strings_are_valid_json_for_quotes_and_newlines)
{
    char *s = escaped(html_script_string, "a\"b\\c\nd");
    cr_assert_str_eq(s, "\"a\\\"b\\\\c\\nd\"");
    json_t *back = json_loads(s, JSON_DECODE_ANY, NULL);
    cr_assert(json_is_string(back));
    cr_assert_str_eq(json_string_value(back), "a\"b\\c\nd");
    json_decref(back);
    free(s);
}

Test(report_escape, url_segments_escape_everything_but_unreserved_characters)
{
    char *s = escaped(html_url_segment, "a b/%22.-_~");
    cr_assert_str_eq(s, "a%20b%2F%2522.-_~");
    free(s);
}

/* ---- the path guard of whirl serve ------------------------------------ */

Test(report_serve, request_paths_are_percent_decoded_without_query)
{
    char out[256];
    cr_assert_eq(serve_decode_path("/lin-kv/a%20b/x.svg?all=1#top", out, sizeof out), 0);
    cr_assert_str_eq(out, "/lin-kv/a b/x.svg");
}

Test(report_serve, dot_dot_segments_are_refused_plain_or_encoded)
{
    char out[256];
    cr_assert_eq(serve_decode_path("/../etc/passwd", out, sizeof out), -1);
    cr_assert_eq(serve_decode_path("/a/..", out, sizeof out), -1);
    cr_assert_eq(serve_decode_path("/a/%2e%2e/b", out, sizeof out), -1);
    cr_assert_eq(serve_decode_path("/a/%2E./b", out, sizeof out), -1);
    /* names that merely contain dots are fine */
    cr_assert_eq(serve_decode_path("/a/..b/c..", out, sizeof out), 0);
}

Test(report_serve, malformed_paths_are_refused)
{
    char out[256];
    cr_assert_eq(serve_decode_path("relative", out, sizeof out), -1);
    cr_assert_eq(serve_decode_path("/a%00b", out, sizeof out), -1);
    cr_assert_eq(serve_decode_path("/a%zz", out, sizeof out), -1);
    cr_assert_eq(serve_decode_path("/a%2", out, sizeof out), -1);
    cr_assert_eq(serve_decode_path("/a\\..\\b", out, sizeof out), -1);
    char small[4];
    cr_assert_eq(serve_decode_path("/abcdef", small, sizeof small), -1);
}

Test(report_serve, content_types_follow_the_extension)
{
    cr_assert_str_eq(serve_content_type("/x/timeline.html"), "text/html; charset=utf-8");
    cr_assert_str_eq(serve_content_type("/x/rate.svg"), "image/svg+xml");
    cr_assert_str_eq(serve_content_type("/x/results.json"), "application/json");
    cr_assert_str_eq(serve_content_type("/x/node-logs/n1.log"), "text/plain; charset=utf-8");
    cr_assert_str_eq(serve_content_type("/x.d/noext"), "application/octet-stream");
}

/* ---- the process -> open op map -------------------------------------- */

Test(report_process_map, keeps_every_process_through_growth_and_removals)
{
    struct process_map m;
    cr_assert_eq(process_map_init(&m), 0);
    /* ids far apart and negative too: a hash, not an array */
    for (long i = 0; i < 20000; i++)
        cr_assert_eq(process_map_put(&m, i * 7919 - 50000, i), 0);
    for (long i = 0; i < 20000; i += 2)
        cr_assert_eq(process_map_put(&m, i * 7919 - 50000, -1), 0);
    for (long i = 0; i < 20000; i++)
        cr_assert_eq(process_map_get(&m, i * 7919 - 50000), i % 2 ? i : -1, "process %ld", i);
    /* a removed process can open a new op, found past the tombstones */
    cr_assert_eq(process_map_put(&m, -50000, 42), 0);
    cr_assert_eq(process_map_get(&m, -50000), 42);
    cr_assert_eq(process_map_get(&m, 123456789), -1);
    process_map_free(&m);
}

/* ---- reading a run back ----------------------------------------------- */

static const char history_basic[] =
    "{\"index\":0,\"time\":1000000,\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"key\":1,\"value\":3,\"node\":\"n0\"}\n"
    "{\"index\":1,\"time\":1500000,\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"key\":1,\"value\":null}\n"
    "not json at all\n"
    "{\"index\":2,\"time\":2000000,\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"key\":1,\"value\":3}\n"
    "{\"index\":3,\"time\":2100000,\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"start-partition\",\"value\":[[\"n0\"],[\"n1\"]]}\n"
    "{\"index\":4,\"time\":2500000,\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"key\":1,\"value\":4}\n"
    "{\"index\":5,\"time\":2600000,\"process\":2,\"type\":\"invoke\",\"f\":\"cas\",\"key\":\"a\",\"value\":[1,2]}\n"
    "{\"index\":6,\"time\":3000000,\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"stop-partition\",\"value\":null}\n"
    "{\"index\":7,\"time\":3500000,\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"kill\",\"value\":\"n1\"}\n"
    "{\"index\":8,\"time\":9000000,\"process\":3,\"type\":\"ok\",\"f\":\"read\",\"key\":1,\"value\":4}\n";

Test(report_run, invokes_pair_with_their_process_completion)
{
    char *dir = make_run(history_basic, NULL);
    struct run run;
    char err[256];
    cr_assert_eq(report_run_load(&run, dir, err, sizeof err), 0, "%s", err);
    cr_assert_eq(run.n_ops, 3);
    const struct run_op *w = &run.ops[0], *r = &run.ops[1];
    cr_assert(w->completed && w->outcome == RUN_OK && w->f == RUN_WRITE);
    cr_assert_eq(w->t0_ns, 1000000);
    cr_assert_eq(w->t1_ns, 2000000);
    cr_assert_str_eq(w->request, "3");
    cr_assert_str_eq(w->node, "n0");
    cr_assert(r->completed && r->outcome == RUN_OK && r->f == RUN_READ);
    cr_assert_str_eq(r->response, "4");
    cr_assert_eq(r->invoke_index, 1);
    cr_assert_eq(r->complete_index, 4);
    report_run_free(&run);
    remove_run(dir);
}

Test(report_run, a_never_answered_op_is_info_until_the_end_of_the_run)
{
    char *dir = make_run(history_basic, NULL);
    struct run run;
    cr_assert_eq(report_run_load(&run, dir, NULL, 0), 0);
    const struct run_op *cas = &run.ops[2];
    cr_assert(!cas->completed);
    cr_assert_eq(cas->outcome, RUN_INFO);
    cr_assert_eq(cas->t1_ns, run.end_ns);
    cr_assert_eq(run.end_ns, 9000000);
    report_run_free(&run);
    remove_run(dir);
}

Test(report_run, bad_lines_and_orphan_completions_are_skipped_and_counted)
{
    char *dir = make_run(history_basic, NULL);
    struct run run;
    cr_assert_eq(report_run_load(&run, dir, NULL, 0), 0);
    /* "not json at all" and process 3's ok with no invoke */
    cr_assert_eq(run.skipped_lines, 2);
    report_run_free(&run);
    remove_run(dir);
}

Test(report_run, nemesis_events_become_fault_periods)
{
    char *dir = make_run(history_basic, NULL);
    struct run run;
    cr_assert_eq(report_run_load(&run, dir, NULL, 0), 0);
    cr_assert_eq(run.n_periods, 2);
    cr_assert_eq(run.periods[0].fault, RUN_FAULT_PARTITION);
    cr_assert_eq(run.periods[0].t0_ns, 2100000);
    cr_assert_eq(run.periods[0].t1_ns, 3000000);
    cr_assert_eq(run.periods[1].fault, RUN_FAULT_KILL);
    cr_assert_eq(run.periods[1].t1_ns, run.end_ns, "a fault still open at the end lasts to the end");
    report_run_free(&run);
    remove_run(dir);
}

Test(report_run, processes_are_the_distinct_client_ids_in_order)
{
    char *dir = make_run(history_basic, NULL);
    struct run run;
    cr_assert_eq(report_run_load(&run, dir, NULL, 0), 0);
    cr_assert_eq(run.n_processes, 3);
    cr_assert_eq(report_run_process_column(&run, 2), 2);
    cr_assert_eq(report_run_process_column(&run, 7), -1);
    report_run_free(&run);
    remove_run(dir);
}

Test(report_run, keys_are_named_by_canonical_json_and_folders_are_safe)
{
    char *dir = make_run(history_basic, NULL);
    struct run run;
    cr_assert_eq(report_run_load(&run, dir, NULL, 0), 0);
    cr_assert_eq(run.n_keys, 2);
    cr_assert_str_eq(run.keys[0].text, "1");
    cr_assert_str_eq(run.keys[0].dir, "1");
    cr_assert_str_eq(run.keys[1].text, "\"a\"");
    cr_assert_str_eq(run.keys[1].dir, "a", "a string key's folder drops the quotes");
    cr_assert_eq(run.keys[0].n_ops, 2);
    report_run_free(&run);
    remove_run(dir);
    char *d = report_key_dir_of("\"1\"");
    cr_assert_str_eq(d, "%221%22", "the string \"1\" must not share key 1's folder");
    free(d);
    d = report_key_dir_of("\"../etc\"");
    cr_assert_str_eq(d, "%2E.%2Fetc");
    free(d);
    d = report_key_dir_of("[1,{\"b\":2}]");
    cr_assert_null(strpbrk(d, "/\\\"[]{}:,"), "%s", d);
    free(d);
}

Test(report_run, results_attach_each_keys_verdict_and_failure)
{
    char *dir = make_run(history_basic,
                         "{\"valid\":false,\"seed\":7,\"keys\":{"
                         "\"1\":{\"valid\":false,\"failed_op_index\":4,\"possible\":[3,null],\"explanation\":\"why\"},"
                         "\"\\\"a\\\"\":{\"valid\":\"unknown\"},"
                         "\"9\":{\"valid\":true}}}");
    struct run run;
    cr_assert_eq(report_run_load(&run, dir, NULL, 0), 0);
    cr_assert_eq(run.verdict, RUN_INVALID);
    cr_assert_eq(run.n_keys, 3, "a key only results.json names is listed too");
    const struct run_key *k1 = &run.keys[0];
    cr_assert_eq(k1->verdict, RUN_INVALID);
    cr_assert_eq(k1->failed_op, 1, "history index 4 is the read's completion");
    cr_assert_eq(k1->n_possible, 2);
    cr_assert_str_eq(k1->possible[0], "3");
    cr_assert_str_eq(k1->possible[1], "null");
    cr_assert_str_eq(k1->explanation, "why");
    cr_assert_eq(run.keys[1].verdict, RUN_UNKNOWN);
    cr_assert_eq(run.keys[2].verdict, RUN_VALID);
    cr_assert_eq(report_run_first_invalid_op(&run), 1);
    report_run_free(&run);
    remove_run(dir);
}

Test(report_run, a_missing_history_is_an_error_with_a_message)
{
    struct run run;
    char err[256] = "";
    cr_assert_eq(report_run_load(&run, "/nonexistent/run", err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "history.jsonl"), "%s", err);
}

Test(report_run, messages_are_counted_and_only_the_window_is_kept)
{
    char *dir = make_run(history_basic, NULL);
    char path[600];
    snprintf(path, sizeof path, "%s/messages.jsonl", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"send\":100,\"recv\":200,\"src\":\"c1\",\"dest\":\"n0\",\"type\":\"read\",\"body\":{\"type\":\"read\"}}\n"
          "{\"send\":300,\"recv\":null,\"src\":\"n0\",\"dest\":\"n1\",\"type\":\"append\",\"dropped\":true,\"body\":{}}\n"
          "garbage\n"
          "{\"send\":5000,\"recv\":6000,\"src\":\"n1\",\"dest\":\"n0\",\"body\":{\"type\":\"vote\"}}\n",
          f);
    fclose(f);
    struct run run;
    cr_assert_eq(report_run_load(&run, dir, NULL, 0), 0);
    struct run_msg *msgs;
    size_t n;
    struct run_msg_stats st;
    cr_assert_eq(report_run_messages_window(&run, 0, 1000, 10, &msgs, &n, &st), 0);
    cr_assert_eq(st.total, 3);
    cr_assert_eq(st.client_server, 1);
    cr_assert_eq(st.server_server, 2);
    cr_assert_eq(st.dropped, 1);
    cr_assert_eq(n, 2);
    cr_assert(msgs[1].dropped);
    cr_assert_str_eq(msgs[0].type, "read");
    report_run_messages_free(msgs, n);
    cr_assert_eq(report_run_messages_window(&run, 0, UINT64_MAX, 1, &msgs, &n, &st), 0);
    cr_assert_eq(n, 1, "the cap holds");
    cr_assert_str_eq(msgs[0].src, "c1");
    report_run_messages_free(msgs, n);
    cr_assert_eq(report_run_messages_window(&run, 4000, 9000, 5, &msgs, &n, &st), 0);
    cr_assert_str_eq(msgs[0].type, "vote", "a type missing at top level comes from the body");
    report_run_messages_free(msgs, n);
    report_run_free(&run);
    remove_run(dir);
}

static const char history_stale_read[] =
    "{\"index\":0,\"time\":1000,\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"key\":5,\"value\":1}\n"
    "{\"index\":1,\"time\":2000,\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"key\":5,\"value\":1}\n"
    "{\"index\":2,\"time\":3000,\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"key\":5,\"value\":null}\n"
    "{\"index\":3,\"time\":4000,\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"key\":5,\"value\":2}\n"
    "{\"index\":4,\"time\":5000,\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":6,\"value\":null}\n"
    "{\"index\":5,\"time\":6000,\"process\":0,\"type\":\"fail\",\"f\":\"read\",\"key\":6,\"value\":null,"
    "\"error\":[20,\"no key\"]}\n";

Test(report_svg, the_lamport_diagram_marks_the_client_line_of_the_failing_process)
{
    /* whirl's history process 3 is client c4 (workload.c). */
    struct run_msg msgs[3] = {
        {.send_ns = 1000, .recv_ns = 2000, .src = "c4", .dest = "n1", .type = "write"},
        {.send_ns = 1500, .recv_ns = 2500, .src = "c2", .dest = "n1", .type = "read"},
        {.send_ns = 3000, .recv_ns = 4000, .src = "n1", .dest = "c4", .type = "write_ok"},
    };
    struct run_op mark = {.process = 3, .t0_ns = 1000, .t1_ns = 4000, .f_name = "write",
                          .request = "[1,2]", .invoke_index = 0, .complete_index = 1};
    char path[] = "/tmp/raftkv-msgsvg-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    cr_assert_eq(messages_svg_write(&mark, msgs, 3, 0, 10000, "t", path), 0);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    unlink(path);
    /* Columns: n1, c2, c4; only c4's line is marked, labelled with the process. */
    const char *c4 = strstr(text, ">c4</text>");
    cr_assert_not_null(c4, "%s", text);
    const char *marked = "<line class=\"life marked\"", *plain = "<line class=\"life\"";
    cr_assert(strncmp(c4 + strlen(">c4</text>"), marked, strlen(marked)) == 0, "%.200s", c4);
    cr_assert_not_null(strstr(text, ">process 3</text>"));
    const char *c2 = strstr(text, ">c2</text>");
    cr_assert(strncmp(c2 + strlen(">c2</text>"), plain, strlen(plain)) == 0, "%.200s", c2);
    cr_assert_not_null(strstr(text, "process 3's op (client c4)"));
}

Test(report_check, without_results_json_the_report_checks_the_history_itself)
{
    char *dir = make_run(history_stale_read, NULL);
    struct run run;
    cr_assert_eq(report_run_load(&run, dir, NULL, 0), 0);
    cr_assert_eq(run.verdict, RUN_NO_VERDICT);
    cr_assert_eq(report_check_missing(&run), 0);
    cr_assert(run.checked_here);
    cr_assert_eq(run.verdict, RUN_INVALID);
    cr_assert_eq(run.keys[0].verdict, RUN_INVALID);
    cr_assert_eq(run.keys[0].failed_op, 1, "the read of 2 cannot be linearized");
    cr_assert_eq(run.keys[0].n_possible, 1);
    cr_assert_str_eq(run.keys[0].possible[0], "1");
    cr_assert_not_null(strstr(run.keys[0].explanation, "can't read 2"), "%s", run.keys[0].explanation);
    cr_assert_eq(run.keys[1].verdict, RUN_VALID);
    report_run_free(&run);
    remove_run(dir);
}

Test(report_check, keys_results_json_already_explains_are_not_checked_again)
{
    char *dir = make_run(history_stale_read, "{\"valid\":false,\"keys\":{\"5\":{\"valid\":false,\"explanation\":\"given\"},"
                                             "\"6\":{\"valid\":\"unknown\"}}}");
    struct run run;
    cr_assert_eq(report_run_load(&run, dir, NULL, 0), 0);
    cr_assert_eq(report_check_missing(&run), 0);
    cr_assert(!run.checked_here);
    cr_assert_str_eq(run.keys[0].explanation, "given");
    cr_assert_eq(run.keys[0].failed_op, -1);
    cr_assert_eq(run.keys[1].verdict, RUN_UNKNOWN, "results.json's verdict stands");
    report_run_free(&run);
    remove_run(dir);
}

/* ---- SVG axes --------------------------------------------------------- */

Test(report_svg, tick_steps_are_round_numbers)
{
    cr_assert_float_eq(svg_nice_step(10, 5), 2, 1e-9);
    cr_assert_float_eq(svg_nice_step(1, 8), 0.1, 1e-9);
    cr_assert_float_eq(svg_nice_step(60, 8), 10, 1e-9);
    cr_assert_float_eq(svg_nice_step(0.003, 6), 0.0005, 1e-12);
    cr_assert_float_eq(svg_nice_step(0, 6), 1, 1e-9, "an empty range still gets a step");
}

Test(report_svg, log_axis_puts_each_decade_the_same_distance_apart)
{
    struct svg_plot p = {.width = 500, .height = 400, .top = 0, .bottom = 100, .left = 0, .right = 0,
                         .x0 = 0, .x1 = 1, .y0 = 0.1, .y1 = 1000, .log_y = true};
    double a = svg_plot_py(&p, 0.1), b = svg_plot_py(&p, 1), c = svg_plot_py(&p, 10), d = svg_plot_py(&p, 1000);
    cr_assert_float_eq(a, 300, 1e-9, "the bottom of the frame");
    cr_assert_float_eq(d, 0, 1e-9, "the top of the frame");
    cr_assert_float_eq(a - b, b - c, 1e-9);
    cr_assert_float_eq(svg_plot_py(&p, 0), a, 1e-9, "values under the range are clamped, not NaN");
    cr_assert_float_eq(svg_plot_px(&p, 0.5), 250, 1e-9);
}
