/* test_report_index.c - what a run's index.html says about its verdict:
 * every failed check in the banner (not "not linearizable" for a run that
 * failed on its stats), and the stats verdict under the operation counts,
 * from results.json or, without it, from the history.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "whirl/report/pages.h"
#include "whirl/report/run.h"

/* Two reads that fail with 20 and one write that times out: no ok at all. */
static const char history_nothing_ok[] =
    "{\"index\":0,\"time\":1000,\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":5,\"value\":null}\n"
    "{\"index\":1,\"time\":2000,\"process\":0,\"type\":\"fail\",\"f\":\"read\",\"key\":5,\"value\":null,"
    "\"error\":[20,\"no key\"]}\n"
    "{\"index\":2,\"time\":3000,\"process\":1,\"type\":\"invoke\",\"f\":\"write\",\"key\":5,\"value\":1}\n"
    "{\"index\":3,\"time\":4000,\"process\":1,\"type\":\"info\",\"f\":\"write\",\"key\":5,\"value\":1}\n"
    "{\"index\":4,\"time\":5000,\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":5,\"value\":null}\n"
    "{\"index\":5,\"time\":6000,\"process\":0,\"type\":\"fail\",\"f\":\"read\",\"key\":5,\"value\":null,"
    "\"error\":[20,\"no key\"]}\n";

/* Writes history (and results, unless NULL) into a fresh folder, loads it,
 * writes index.html and returns its text (malloc'd). */
static char *index_of(const char *history, const char *results)
{
    char tmpl[] = "/tmp/whirl-index-test-XXXXXX";
    cr_assert_not_null(mkdtemp(tmpl));
    char path[512];
    snprintf(path, sizeof path, "%s/history.jsonl", tmpl);
    FILE *f = fopen(path, "w");
    fputs(history, f);
    fclose(f);
    if (results) {
        snprintf(path, sizeof path, "%s/results.json", tmpl);
        f = fopen(path, "w");
        fputs(results, f);
        fclose(f);
    }
    struct run run;
    char err[256];
    cr_assert_eq(report_run_load(&run, tmpl, err, sizeof err), 0, "%s", err);
    struct run_msg_stats ms = {0};
    cr_assert_eq(index_html_write(&run, &ms), 0);
    report_run_free(&run);
    snprintf(path, sizeof path, "%s/index.html", tmpl);
    f = fopen(path, "r");
    cr_assert_not_null(f);
    static char text[1 << 17];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpl);
    cr_assert_eq(system(cmd), 0);
    return strdup(text);
}

Test(report_index, a_run_invalid_on_its_stats_says_so_and_why)
{
    char *html = index_of(history_nothing_ok,
                          "{\"valid\":false,\"linearizable\":{\"valid\":true},\"lost_writes\":[],"
                          "\"stats\":{\"valid\":false,\"reason\":\"no read ever succeeded (0 ok, 2 fail, 0 info)\"}}");
    cr_assert_not_null(strstr(html, ">Analysis invalid: some operation never succeeded</div>"), "%s", html);
    cr_assert_null(strstr(html, "not linearizable"));
    cr_assert_not_null(strstr(html, "Stats: <b style=\"color:#d62728\">invalid</b>: no read ever succeeded "
                                    "(0 ok, 2 fail, 0 info).</p>"));
    free(html);
}

Test(report_index, every_failed_check_is_named_in_the_banner)
{
    char *html = index_of(history_nothing_ok,
                          "{\"valid\":false,\"linearizable\":{\"valid\":false},\"lost_writes\":[{\"key\":5}],"
                          "\"stats\":{\"valid\":true,\"reason\":null},\"availability\":{\"valid\":false}}");
    cr_assert_not_null(strstr(html, ">Analysis invalid: not linearizable; acknowledged writes lost; availability "
                                    "below --availability</div>"),
                       "%s", html);
    cr_assert_not_null(strstr(html, "Stats: <b style=\"color:#2e9d46\">valid</b>"));
    free(html);
}

Test(report_index, without_a_stats_verdict_the_page_applies_the_rule_to_the_history)
{
    char *html = index_of(history_nothing_ok, NULL);
    cr_assert_not_null(strstr(html, "Stats (from the history): <b style=\"color:#d62728\">invalid</b>: no read "
                                    "ever succeeded (0 ok, 2 fail, 0 info); no write ever succeeded (0 ok, 0 fail, "
                                    "1 info).</p>"),
                       "%s", html);
    free(html);
}
