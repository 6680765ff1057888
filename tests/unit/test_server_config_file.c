/* test_server_config_file.c - `raftkv serve --config FILE`
 * (src/server/server_config_file.c): how a line splits, that errors name
 * the file and line, that the command line overrides the file, and the new
 * operations options; and the /health rule (src/server/metrics.c) on
 * literal inputs. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/server_internal.h"

static int split(const char *text, char *key, char *val)
{
    char line[256], *k = NULL, *v = NULL;
    snprintf(line, sizeof line, "%s", text);
    int rc = server_config_line_split(line, &k, &v);
    key[0] = val[0] = '\0';
    if (rc == 1) {
        strcpy(key, k);
        strcpy(val, v);
    }
    return rc;
}

Test(config_file, line_split)
{
    char k[256], v[256];
    cr_assert_eq(split("listen 127.0.0.1:7001\n", k, v), 1);
    cr_assert_str_eq(k, "listen");
    cr_assert_str_eq(v, "127.0.0.1:7001");
    cr_assert_eq(split("  data-dir = /var/lib/raftkv  # the data\r\n", k, v), 1);
    cr_assert_str_eq(k, "data-dir");
    cr_assert_str_eq(v, "/var/lib/raftkv");
    cr_assert_eq(split("heartbeat-ms=50", k, v), 1);
    cr_assert_str_eq(k, "heartbeat-ms");
    cr_assert_str_eq(v, "50");
    cr_assert_eq(split("in-memory", k, v), 1);
    cr_assert_str_eq(k, "in-memory");
    cr_assert_str_eq(v, "");
    cr_assert_eq(split("   # only a comment", k, v), 0);
    cr_assert_eq(split("\t\r\n", k, v), 0);
    cr_assert_eq(split("= 5", k, v), -1);
    cr_assert_eq(split("--listen 1.2.3.4:5", k, v), -1);
}

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/raftkv-conf.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static const char *write_conf(const char *text)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/raftkv.conf", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Parse argv with stderr captured into err. */
static int parse_capture(struct server_options *o, int argc, const char **argv, char *err, size_t cap)
{
    char errpath[128];
    snprintf(errpath, sizeof errpath, "%s/stderr", dir);
    fflush(stderr);
    int saved = dup(2);
    FILE *e = fopen(errpath, "w+");
    cr_assert_not_null(e);
    dup2(fileno(e), 2);
    int rc = server_options_parse(o, argc, (char **)argv);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(e);
    size_t n = fread(err, 1, cap - 1, e);
    err[n] = '\0';
    fclose(e);
    return rc;
}

TestSuite(config_file, .init = setup, .fini = teardown);

Test(config_file, file_then_command_line_overrides)
{
    const char *path = write_conf("# a member\n"
                                  "id n1\n"
                                  "peers = n1=127.0.0.1:7101\n"
                                  "listen 127.0.0.1:7001\n"
                                  "in-memory yes\n"
                                  "heartbeat-ms 50\n"
                                  "metrics-listen 127.0.0.1:9100\n"
                                  "health-max-lag 5\n"
                                  "log-file /var/log/raftkv/n1.log\n"
                                  "enable-debug-commands no\n");
    struct server_options o;
    char err[1024];
    const char *argv[] = {"serve", "--listen", "127.0.0.1:7002", "--config", path, "--health-max-lag", "7"};
    cr_assert_eq(parse_capture(&o, 7, argv, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(o.id, "n1");
    cr_assert(o.in_memory);
    cr_assert(!o.debug_commands);
    cr_assert_eq(o.heartbeat_ms, 50);
    cr_assert_eq(o.listen_port, 7002); /* the command line wins, before or after --config */
    cr_assert_eq(o.health_max_lag, 7);
    cr_assert(o.metrics_listen_set);
    cr_assert_str_eq(o.metrics_host, "127.0.0.1");
    cr_assert_eq(o.metrics_port, 9100);
    cr_assert_str_eq(o.log_file, "/var/log/raftkv/n1.log");
    cr_assert_eq(o.metrics_max_clients, 64); /* defaults */
    cr_assert_eq(o.metrics_timeout_ms, 5000);
}

Test(config_file, defaults_without_metrics)
{
    struct server_options o;
    char err[1024];
    const char *argv[] = {"serve", "--id", "n1", "--peers", "n1=127.0.0.1:7101", "--listen", "127.0.0.1:7001",
                          "--in-memory"};
    cr_assert_eq(parse_capture(&o, 8, argv, err, sizeof err), 0, "%s", err);
    cr_assert(!o.metrics_listen_set);
    cr_assert_eq(o.health_max_lag, 1000);
    cr_assert_str_eq(o.log_file, "");
}

static void expect_refused(const char *conf, const char *want)
{
    const char *path = write_conf(conf);
    struct server_options o;
    char err[1024];
    const char *argv[] = {"serve", "--config", path};
    cr_assert_eq(parse_capture(&o, 3, argv, err, sizeof err), 64, "accepted: %s", conf);
    char where[256];
    snprintf(where, sizeof where, "%s%s", path, want);
    cr_assert(strstr(err, where) != NULL, "want '%s' in: %s", where, err);
}

Test(config_file, errors_name_file_and_line)
{
    expect_refused("id n1\n\n# x\nlisten-port 7001\n", ":4: unknown option --listen-port");
    expect_refused("id n1\nheartbeat-ms fast\n", ":2: bad value for --heartbeat-ms: 'fast'");
    expect_refused("id n1\nmetrics-listen 127.0.0.1\n", ":2: bad value for --metrics-listen");
    expect_refused("id n1\nhealth-max-lag -1\n", ":2: bad value for --health-max-lag");
    expect_refused("data-dir\n", ":1: 'data-dir' has no value");
    expect_refused("in-memory maybe\n", ":1: bad value for in-memory: 'maybe'");
    expect_refused("id n1\n--peers x\n", ":2: expected 'option value'");
    expect_refused("config /etc/other.conf\n", ":1: --config cannot be nested");
}

Test(config_file, missing_file)
{
    struct server_options o;
    char err[1024];
    const char *argv[] = {"serve", "--config", "/nonexistent/raftkv.conf"};
    cr_assert_eq(parse_capture(&o, 3, argv, err, sizeof err), 64);
    cr_assert(strstr(err, "cannot read config /nonexistent/raftkv.conf: No such file or directory"), "%s", err);
}

/* ---- /health (metrics.c health_check) ---------------------------------------- */

static struct health_input healthy_follower(void)
{
    struct health_input in;
    memset(&in, 0, sizeof in);
    in.n_nodes = 3;
    in.self = 1;
    in.role = RAFT_FOLLOWER;
    in.leader = 0;
    in.leader_name = "n1";
    in.heard_ago_ms[0] = 40;
    in.heard_ago_ms[2] = UINT64_MAX;
    in.election_timeout_ms = 300;
    in.commit_index = 2000;
    in.applied_index = 1500;
    in.max_lag = 1000;
    return in;
}

Test(health, follower_rules)
{
    char why[256];
    struct health_input in = healthy_follower();
    cr_assert_eq(health_check(&in, why, sizeof why), 200);
    cr_assert_str_eq(why, "ok");
    in.heard_ago_ms[0] = 300; /* exactly the timeout: still heard */
    cr_assert_eq(health_check(&in, why, sizeof why), 200);
    in.heard_ago_ms[0] = 301;
    cr_assert_eq(health_check(&in, why, sizeof why), 503);
    cr_assert_str_eq(why, "leader n1 not heard for 301 ms (election timeout 300 ms)");
    in.heard_ago_ms[0] = UINT64_MAX;
    cr_assert_eq(health_check(&in, why, sizeof why), 503);
    cr_assert_str_eq(why, "leader n1 never heard");
    in = healthy_follower();
    in.leader = RAFT_NO_NODE;
    cr_assert_eq(health_check(&in, why, sizeof why), 503);
    cr_assert_str_eq(why, "no leader known (role follower)");
    in.role = RAFT_CANDIDATE;
    cr_assert_eq(health_check(&in, why, sizeof why), 503);
    cr_assert_str_eq(why, "no leader known (role candidate)");
}

Test(health, applied_lag)
{
    char why[256];
    struct health_input in = healthy_follower();
    in.applied_index = 1000; /* 1000 behind: the bound itself is fine */
    cr_assert_eq(health_check(&in, why, sizeof why), 200);
    in.applied_index = 999;
    cr_assert_eq(health_check(&in, why, sizeof why), 503);
    cr_assert_str_eq(why, "applied index 999 is 1001 entries behind commit index 2000 (max 1000)");
    in.max_lag = 0;
    in.applied_index = 2000;
    cr_assert_eq(health_check(&in, why, sizeof why), 200);
}

Test(health, leader_needs_a_quorum)
{
    char why[256];
    struct health_input in = healthy_follower();
    in.role = RAFT_LEADER;
    in.self = 0;
    in.leader = 0;
    in.heard_ago_ms[1] = 100;
    in.heard_ago_ms[2] = UINT64_MAX;
    cr_assert_eq(health_check(&in, why, sizeof why), 200); /* itself and n2: 2 of 3 */
    in.heard_ago_ms[1] = 5000;
    cr_assert_eq(health_check(&in, why, sizeof why), 503);
    cr_assert_str_eq(why, "leader without a quorum: heard 1 of 3 voters (itself included) within the election "
                          "timeout of 300 ms");
    in.n_nodes = 1; /* alone, it is its own quorum */
    cr_assert_eq(health_check(&in, why, sizeof why), 200);
    in.n_nodes = 4; /* 2 of 4 is not a majority */
    in.heard_ago_ms[1] = 10;
    in.heard_ago_ms[3] = UINT64_MAX;
    cr_assert_eq(health_check(&in, why, sizeof why), 503);
    /* After a removal ids have gaps: voters 0, 2 and 3 of ids 0..3 (id 1
     * gone, never heard again). Itself and id 2 are 2 of 3 voters. */
    in.voters = (1u << 0) | (1u << 2) | (1u << 3);
    in.heard_ago_ms[1] = UINT64_MAX;
    in.heard_ago_ms[2] = 10;
    in.heard_ago_ms[3] = UINT64_MAX;
    cr_assert_eq(health_check(&in, why, sizeof why), 200, "%s", why);
    in.heard_ago_ms[2] = UINT64_MAX;
    in.heard_ago_ms[1] = 10; /* hearing a removed id counts for nothing */
    cr_assert_eq(health_check(&in, why, sizeof why), 503);
    cr_assert_str_eq(why, "leader without a quorum: heard 1 of 3 voters (itself included) within the election "
                          "timeout of 300 ms");
    in.shutting_down = true;
    cr_assert_eq(health_check(&in, why, sizeof why), 503);
    cr_assert_str_eq(why, "shutting down");
}

Test(config_file, snapshot_log_options_default_parse_and_refuse_bad_values)
{
    struct server_options o;
    char err[1024];
    const char *base[] = {"serve", "--id", "n1", "--peers", "n1=127.0.0.1:7101", "--listen",
                          "127.0.0.1:7001", "--in-memory", NULL, NULL};
    cr_assert_eq(parse_capture(&o, 8, base, err, sizeof err), 0, "%s", err);
    cr_assert_eq(o.snapshot_log_percent, 25);
    cr_assert_eq(o.snapshot_log_min_bytes, 33554432);
    base[8] = "--snapshot-log-percent";
    base[9] = "0";
    cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 0, "0 turns the trigger off: %s", err);
    cr_assert_eq(o.snapshot_log_percent, 0);
    base[9] = "1000";
    cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 0, "%s", err);
    cr_assert_eq(o.snapshot_log_percent, 1000);
    base[9] = "1001";
    cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 64);
    cr_assert(strstr(err, "--snapshot-log-percent"), "names the option: %s", err);
    base[9] = "ten";
    cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 64);
    base[8] = "--snapshot-log-min-bytes";
    base[9] = "1048576";
    cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 0, "%s", err);
    cr_assert_eq(o.snapshot_log_min_bytes, 1048576);
    base[9] = "0";
    cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 64, "a size must be positive");
}

Test(config_file, snapshot_send_mbps_default_parse_and_refuse_bad_values)
{
    struct server_options o;
    char err[1024];
    const char *base[] = {"serve", "--id", "n1", "--peers", "n1=127.0.0.1:7101", "--listen",
                          "127.0.0.1:7001", "--in-memory", NULL, NULL};
    cr_assert_eq(parse_capture(&o, 8, base, err, sizeof err), 0, "%s", err);
    cr_assert_eq(o.snapshot_send_mbps, 160, "160 MB/s by default");
    base[8] = "--snapshot-send-mbps";
    base[9] = "0";
    cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 0, "%s", err);
    cr_assert_eq(o.snapshot_send_mbps, 0, "0: no cap");
    base[8] = "--snapshot-send-mbps";
    base[9] = "40";
    cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 0, "%s", err);
    cr_assert_eq(o.snapshot_send_mbps, 40);
    base[9] = "100000";
    cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 0, "%s", err);
    cr_assert_eq(o.snapshot_send_mbps, 100000);
    base[9] = "100001";
    cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 64);
    cr_assert(strstr(err, "--snapshot-send-mbps"), "names the option: %s", err);
    base[9] = "-5";
    cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 64);
    base[9] = "fast";
    cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 64);
}

Test(config_file, snapshot_walk_pace_options_default_parse_and_refuse_bad_values)
{
    struct server_options o;
    char err[1024];
    const char *base[] = {"serve", "--id", "n1", "--peers", "n1=127.0.0.1:7101", "--listen",
                          "127.0.0.1:7001", "--in-memory", NULL, NULL};
    cr_assert_eq(parse_capture(&o, 8, base, err, sizeof err), 0, "%s", err);
    cr_assert_eq(o.snapshot_walk_max_slice_ms, 32);
    cr_assert_eq(o.snapshot_walk_target_ms, 10000);
    base[8] = "--snapshot-walk-max-slice-ms";
    base[9] = "50";
    cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 0, "%s", err);
    cr_assert_eq(o.snapshot_walk_max_slice_ms, 50);
    base[9] = "0";
    cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 64);
    cr_assert(strstr(err, "--snapshot-walk-max-slice-ms"), "names the option: %s", err);
    base[9] = "1001";
    cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 64);
    base[8] = "--snapshot-walk-target-ms";
    base[9] = "0";
    cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 0, "0: no target: %s", err);
    cr_assert_eq(o.snapshot_walk_target_ms, 0);
    base[9] = "86400000";
    cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 0, "%s", err);
    cr_assert_eq(o.snapshot_walk_target_ms, 86400000);
    base[9] = "86400001";
    cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 64);
    cr_assert(strstr(err, "--snapshot-walk-target-ms"), "names the option: %s", err);
    base[9] = "soon";
    cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 64);
}

Test(config_file, learner_sync_interval_defaults_parses_and_refuses_bad_values)
{
    struct server_options o;
    char err[1024];
    const char *base[] = {"serve", "--id", "n1", "--peers", "n1=127.0.0.1:7101", "--listen", "127.0.0.1:7001",
                          "--in-memory", NULL, NULL, NULL};
    cr_assert_eq(parse_capture(&o, 8, base, err, sizeof err), 0, "%s", err);
    cr_assert_eq(o.learner_sync_interval_ms, 20);
    base[8] = "--learner-sync-interval-ms";
    base[9] = "0";
    cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 0, "%s", err);
    cr_assert_eq(o.learner_sync_interval_ms, 0);
    base[9] = "1000";
    cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 0, "%s", err);
    cr_assert_eq(o.learner_sync_interval_ms, 1000);
    base[9] = "1001";
    cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 64, "past 1000 ms");
    cr_assert(strstr(err, "--learner-sync-interval-ms"), "names the option: %s", err);
    base[9] = "soon";
    cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 64);
}

Test(config_file, catchup_append_options_default_parse_and_refuse_bad_values)
{
    struct server_options o;
    char err[1024];
    const char *base[] = {"serve", "--id", "n1", "--peers", "n1=127.0.0.1:7101", "--listen", "127.0.0.1:7001",
                          "--in-memory", NULL, NULL, NULL, NULL};
    cr_assert_eq(parse_capture(&o, 8, base, err, sizeof err), 0, "%s", err);
    cr_assert_eq(o.catchup_append_entries, 1024);
    cr_assert_eq(o.catchup_append_bytes, 1048576);
    base[8] = "--catchup-append-entries";
    base[9] = "65536";
    cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 0, "%s", err);
    cr_assert_eq(o.catchup_append_entries, 65536);
    base[9] = "65537";
    cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 64, "past the frame decoder's entry bound");
    cr_assert(strstr(err, "--catchup-append-entries"), "names the option: %s", err);
    base[9] = "0";
    cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 64);
    base[8] = "--catchup-append-bytes";
    base[9] = "4194304";
    cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 0, "%s", err);
    cr_assert_eq(o.catchup_append_bytes, 4194304);
    base[9] = "65535";
    cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 64, "below 64 KiB");
    base[9] = "67108865";
    cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 64, "above 64 MiB");
    base[9] = "2000000";
    base[10] = "--max-frame-bytes";
    base[11] = "2000000";
    cr_assert_eq(parse_capture(&o, 12, base, err, sizeof err), 64, "an APPEND that no member would accept");
    cr_assert(strstr(err, "--max-frame-bytes"), "says why: %s", err);
}

/* The sample configuration names `peers`; a member that joins is started
 * from the same file with --join on the command line, which overrides the
 * file's peers (and a command line's --peers a file's join), while both on
 * the command line still exclude each other (exit 64). */
Test(config_file, command_line_join_overrides_file_peers)
{
    const char *path = write_conf("id n4\n"
                                  "peers n1=10.0.0.1:7101,n2=10.0.0.2:7101,n3=10.0.0.3:7101\n"
                                  "listen 127.0.0.1:7001\n"
                                  "in-memory yes\n"
                                  "peer-insecure-plaintext\n");
    struct server_options o;
    char err[1024];
    const char *argv[] = {"serve", "--config", path, "--join", "10.0.0.1:7101", "--peer-listen", "10.0.0.4:7101"};
    cr_assert_eq(parse_capture(&o, 7, argv, err, sizeof err), 0, "%s", err);
    cr_assert(o.join_set);
    cr_assert_str_eq(o.join_host, "10.0.0.1");
    cr_assert_eq(o.join_port, 7101);
    cr_assert_eq(o.n_nodes, 0);

    path = write_conf("id n1\n"
                      "join 10.0.0.2:7101\n"
                      "peer-listen 10.0.0.1:7101\n"
                      "listen 127.0.0.1:7001\n"
                      "in-memory yes\n"
                      "peer-insecure-plaintext\n");
    const char *argv2[] = {"serve", "--config", path, "--peers", "n1=10.0.0.1:7101,n2=10.0.0.2:7101"};
    cr_assert_eq(parse_capture(&o, 5, argv2, err, sizeof err), 0, "%s", err);
    cr_assert(!o.join_set);
    cr_assert_eq(o.n_nodes, 2);

    const char *argv3[] = {"serve", "--config", path, "--peers", "n1=10.0.0.1:7101", "--join", "10.0.0.2:7101"};
    cr_assert_eq(parse_capture(&o, 7, argv3, err, sizeof err), 64);
    cr_assert(strstr(err, "--join and --peers exclude each other"), "%s", err);
    const char *argv4[] = {"serve", "--config", path, "--join", "10.0.0.2:7101", "--peers", "n1=10.0.0.1:7101"};
    cr_assert_eq(parse_capture(&o, 7, argv4, err, sizeof err), 64);
}

/* --first-start vouches for one start: the command line takes it, a
 * configuration file refuses it (exit 64, FILE:LINE named). */
Test(config_file, first_start_only_on_the_command_line)
{
    struct server_options o;
    char err[1024];
    const char *argv[] = {"serve", "--id", "n1", "--peers", "n1=127.0.0.1:7101,n2=127.0.0.1:7102", "--listen",
                          "127.0.0.1:7001", "--in-memory", "--peer-insecure-plaintext", "--first-start"};
    cr_assert_eq(parse_capture(&o, 10, argv, err, sizeof err), 0, "%s", err);
    cr_assert(o.first_start);
    const char *plain[] = {"serve", "--id", "n1", "--peers", "n1=127.0.0.1:7101,n2=127.0.0.1:7102", "--listen",
                           "127.0.0.1:7001", "--in-memory", "--peer-insecure-plaintext"};
    cr_assert_eq(parse_capture(&o, 9, plain, err, sizeof err), 0, "%s", err);
    cr_assert(!o.first_start);
    const char *path = write_conf("id n1\nfirst-start yes\n");
    const char *withfile[] = {"serve", "--config", path};
    cr_assert_eq(parse_capture(&o, 3, withfile, err, sizeof err), 64);
    char want[200];
    snprintf(want, sizeof want, "%s:2: first-start is refused in a configuration file", path);
    cr_assert_neq(strstr(err, want), NULL, "%s", err);
}

Test(config_file, catchup_append_mbps_default_parse_and_refuse_bad_values)
{
    struct server_options o;
    char err[1024];
    const char *base[] = {"serve", "--id", "n1", "--peers", "n1=127.0.0.1:7101", "--listen",
                          "127.0.0.1:7001", "--in-memory", "--catchup-append-mbps", NULL, NULL};
    cr_assert_eq(parse_capture(&o, 8, base, err, sizeof err), 0, "%s", err);
    cr_assert_eq(o.catchup_append_mbps, 16, "16 MB/s by default");
    const char *good[] = {"0", "4", "250", "100000"};
    const uint64_t want[] = {0, 4, 250, 100000};
    for (int i = 0; i < 4; i++) {
        base[9] = good[i];
        cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 0, "%s: %s", good[i], err);
        cr_assert_eq(o.catchup_append_mbps, want[i]);
    }
    const char *bad[] = {"3", "1", "100001", "-5", "fast", ""};
    for (int i = 0; i < 6; i++) {
        base[9] = bad[i];
        cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 64, "'%s' is refused", bad[i]);
        cr_assert(strstr(err, "--catchup-append-mbps"), "names the option: %s", err);
    }
}

Test(config_file, log_spare_blocks_default_parse_and_refuse_bad_values)
{
    struct server_options o;
    char err[1024];
    const char *base[] = {"serve", "--id", "n1", "--peers", "n1=127.0.0.1:7101", "--listen",
                          "127.0.0.1:7001", "--in-memory", "--log-spare-blocks", NULL, NULL};
    cr_assert_eq(parse_capture(&o, 8, base, err, sizeof err), 0, "%s", err);
    cr_assert_eq(o.log_spare_blocks, 4, "4 blocks by default");
    const char *good[] = {"0", "1", "16"};
    const size_t want[] = {0, 1, 16};
    for (int i = 0; i < 3; i++) {
        base[9] = good[i];
        cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 0, "%s: %s", good[i], err);
        cr_assert_eq(o.log_spare_blocks, want[i]);
    }
    const char *bad[] = {"17", "-1", "many", ""};
    for (int i = 0; i < 4; i++) {
        base[9] = bad[i];
        cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 64, "'%s' is refused", bad[i]);
        cr_assert(strstr(err, "--log-spare-blocks"), "names the option: %s", err);
    }
}

Test(config_file, in_memory_dir_defaults_to_dev_shm_and_needs_in_memory)
{
    struct server_options o;
    char err[1024];
    const char *base[] = {"serve", "--id", "n1", "--peers", "n1=127.0.0.1:7101", "--listen",
                          "127.0.0.1:7001", "--in-memory", NULL, NULL};
    cr_assert_eq(parse_capture(&o, 8, base, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(o.in_memory_dir, "/dev/shm");
    base[8] = "--in-memory-dir";
    base[9] = "/run/raftkv";
    cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(o.in_memory_dir, "/run/raftkv");
    base[9] = "";
    cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 64, "an empty path is refused");
    const char *durable[] = {"serve", "--id", "n1", "--peers", "n1=127.0.0.1:7101", "--listen",
                             "127.0.0.1:7001", "--data-dir", "/var/lib/raftkv", "--in-memory-dir", "/run/raftkv"};
    cr_assert_eq(parse_capture(&o, 11, durable, err, sizeof err), 64);
    cr_assert(strstr(err, "--in-memory-dir is only for --in-memory"), "%s", err);
}

Test(config_file, long_read_timeout_default_parse_and_refuse_bad_values)
{
    struct server_options o;
    char err[1024];
    const char *base[] = {"serve", "--id", "n1", "--peers", "n1=127.0.0.1:7101", "--listen",
                          "127.0.0.1:7001", "--in-memory", "--long-read-timeout-ms", NULL, NULL};
    cr_assert_eq(parse_capture(&o, 8, base, err, sizeof err), 0, "%s", err);
    cr_assert_eq(o.long_read_timeout_ms, 60000, "a minute by default");
    const char *good[] = {"1", "250", "1000000000"};
    const uint64_t want[] = {1, 250, 1000000000};
    for (int i = 0; i < 3; i++) {
        base[9] = good[i];
        cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 0, "%s: %s", good[i], err);
        cr_assert_eq(o.long_read_timeout_ms, want[i]);
    }
    const char *bad[] = {"0", "1000000001", "-1", "soon", ""};
    for (int i = 0; i < 5; i++) {
        base[9] = bad[i];
        cr_assert_eq(parse_capture(&o, 10, base, err, sizeof err), 64, "'%s' is refused", bad[i]);
        cr_assert(strstr(err, "--long-read-timeout-ms"), "names the option: %s", err);
    }
}
