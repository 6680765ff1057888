/* run_messages.c - reads messages.jsonl: counts every message, and keeps a
 * bounded sample (a time window, at most N messages) for the Lamport
 * diagrams, so a 200,000-message log never has to sit in memory.
 */
#include "whirl/report/run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t ns_of(const json_t *v, bool *present)
{
    *present = json_is_number(v);
    double d = *present ? json_number_value(v) : 0;
    return d > 0 ? (uint64_t)(d < REPORT_RUN_MAX_NS ? d : REPORT_RUN_MAX_NS) : 0;
}

static void copy_str(char *dst, size_t len, const json_t *v)
{
    const char *s = json_string_value(v);
    snprintf(dst, len, "%s", s ? s : "?");
}

static bool is_client(const char *id)
{
    return id[0] == 'c';
}

int report_run_messages_window(const struct run *run, uint64_t from_ns, uint64_t to_ns, size_t max_kept,
                        struct run_msg **out, size_t *n_out, struct run_msg_stats *stats)
{
    char path[4200];
    *out = NULL;
    *n_out = 0;
    memset(stats, 0, sizeof *stats);
    if (report_run_path(path, sizeof path, run->dir, "messages.jsonl") != 0)
        return -1;
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    struct run_msg *msgs = max_kept ? calloc(max_kept, sizeof *msgs) : NULL;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *m = json_loads(line, JSON_DISABLE_EOF_CHECK, NULL);
        if (!json_is_object(m)) {
            json_decref(m);
            continue;
        }
        struct run_msg msg = {0};
        bool has_send, has_recv;
        msg.send_ns = ns_of(json_object_get(m, "send"), &has_send);
        msg.recv_ns = ns_of(json_object_get(m, "recv"), &has_recv);
        msg.dropped = json_is_true(json_object_get(m, "dropped")) || !has_recv;
        copy_str(msg.src, sizeof msg.src, json_object_get(m, "src"));
        copy_str(msg.dest, sizeof msg.dest, json_object_get(m, "dest"));
        json_t *type = json_object_get(m, "type");
        if (!type)
            type = json_object_get(json_object_get(m, "body"), "type");
        copy_str(msg.type, sizeof msg.type, type);
        stats->total++;
        stats->dropped += msg.dropped;
        if (is_client(msg.src) || is_client(msg.dest))
            stats->client_server++;
        else
            stats->server_server++;
        if (msgs && has_send && msg.send_ns >= from_ns && msg.send_ns < to_ns && *n_out < max_kept) {
            if (msg.recv_ns < msg.send_ns)
                msg.recv_ns = msg.send_ns;
            msg.body = report_run_json_text(json_object_get(m, "body"), 400);
            msgs[(*n_out)++] = msg;
        }
        json_decref(m);
    }
    free(line);
    fclose(f);
    stats->kept = *n_out;
    *out = msgs;
    return 0;
}

void report_run_messages_free(struct run_msg *msgs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(msgs[i].body);
    free(msgs);
}
