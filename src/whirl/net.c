/* net.c - routing, latency, partitions and the message log. */
#include "whirl/net.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "whirl/cluster.h"
#include "whirl/envelope.h"
#include "whirl/workload.h"

int whirl_net_init(struct whirl_run *run)
{
    size_t n = (size_t)run->opts->node_count;
    run->blocked = calloc(n * n, sizeof *run->blocked);
    size_t cap = run->opts->message_log_limit;
    if (cap > 0)
        run->msgs = calloc(cap, sizeof *run->msgs);
    if (!run->blocked || (cap > 0 && !run->msgs))
        return -1;
    snprintf(run->net_state, sizeof run->net_state, "healed");
    return 0;
}

static uint64_t sample_latency_ns(struct whirl_run *run)
{
    double mean_ns = run->opts->latency_ms * 1e6;
    if (mean_ns <= 0)
        return 0;
    switch (run->opts->latency_dist) {
    case WHIRL_LAT_UNIFORM: return (uint64_t)(rng_double(&run->rng_net) * 2 * mean_ns);
    case WHIRL_LAT_EXPONENTIAL: return (uint64_t)rng_exponential(&run->rng_net, mean_ns);
    default: return (uint64_t)mean_ns;
    }
}

/* Parses "n<digits>" / "c<digits>" exactly; returns the number or -1. */
static int64_t parse_id(const char *s, size_t len, char prefix)
{
    if (len < 2 || len > 12 || s[0] != prefix)
        return -1;
    if (s[1] == '0' && len > 2)
        return -1;
    int64_t v = 0;
    for (size_t i = 1; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static size_t log_message(struct whirl_run *run, const char *line, size_t len, uint64_t now)
{
    if (run->n_msgs >= run->opts->message_log_limit)
        return SIZE_MAX;
    char *copy = malloc(len);
    if (!copy)
        return SIZE_MAX;
    memcpy(copy, line, len);
    struct whirl_msg_record *m = &run->msgs[run->n_msgs];
    m->send_ns = now;
    m->line = copy;
    m->len = len;
    return run->n_msgs++;
}

static void note_delivery(struct whirl_run *run, size_t log_index, int dropped)
{
    if (log_index == SIZE_MAX)
        return;
    struct whirl_msg_record *m = &run->msgs[log_index];
    if (dropped) {
        m->dropped = true;
    } else {
        m->delivered = true;
        m->recv_ns = whirl_now(run);
    }
}

static void deliver(struct whirl_run *run, int src_node, int dest_node, int64_t dest_client, size_t log_index,
                    const char *line, size_t len)
{
    if (dest_node >= 0) {
        if (src_node >= 0 && run->blocked[(size_t)src_node * (size_t)run->n_nodes + (size_t)dest_node]) {
            run->net.dropped++;
            note_delivery(run, log_index, 1);
            return;
        }
        if (whirl_node_send(&run->nodes[dest_node], line, len) != 0) {
            run->net.dropped++;
            note_delivery(run, log_index, 1);
            return;
        }
        note_delivery(run, log_index, 0);
        if (run->opts->log_net_recv)
            whirl_say(run, "recv %.*s", (int)len, line);
        return;
    }
    note_delivery(run, log_index, 0);
    if (run->opts->log_net_recv)
        whirl_say(run, "recv %.*s", (int)len, line);
    struct whirl_envelope env;
    const char *why;
    if (whirl_envelope_scan(line, len, &env, &why) == 0)
        whirl_workload_on_reply(run, dest_client, src_node, env.body, env.body_len);
}

static void on_flight_due(void *ctx, void *p, uint64_t arg)
{
    (void)arg;
    struct whirl_run *run = ctx;
    struct whirl_flight *f = p;
    deliver(run, f->src_node, f->dest_node, f->dest_client, f->log_index, f->data, f->len);
    free(f);
}

/* Delivers now (latency 0) or schedules the delivery. */
static void transmit(struct whirl_run *run, int src_node, int dest_node, int64_t dest_client, const char *line,
                     size_t len)
{
    uint64_t now = whirl_now(run);
    size_t log_index = log_message(run, line, len, now);
    if (run->opts->log_net_send)
        whirl_say(run, "send %.*s", (int)len, line);
    if (src_node >= 0 && dest_node >= 0 &&
        run->blocked[(size_t)src_node * (size_t)run->n_nodes + (size_t)dest_node]) {
        run->net.dropped++;
        note_delivery(run, log_index, 1);
        return;
    }
    uint64_t delay = sample_latency_ns(run);
    if (delay == 0) {
        deliver(run, src_node, dest_node, dest_client, log_index, line, len);
        return;
    }
    struct whirl_flight *f = malloc(sizeof *f + len);
    if (!f) {
        run->net.dropped++;
        note_delivery(run, log_index, 1);
        return;
    }
    f->src_node = src_node;
    f->dest_node = dest_node;
    f->dest_client = dest_client;
    f->log_index = log_index;
    f->len = len;
    memcpy(f->data, line, len);
    if (whirl_at(run, now + delay, on_flight_due, f, 0) != 0) {
        free(f);
        run->net.dropped++;
        note_delivery(run, log_index, 1);
    }
}

/* init_ok (or the seed's raft_init_ok) from a node, to whirl's control client. */
static void on_control_reply(struct whirl_run *run, struct whirl_node *from, const struct whirl_envelope *env)
{
    size_t tlen;
    const char *type = whirl_json_member(env->body, env->body_len, "type", &tlen);
    if (!type)
        return;
    if ((tlen == 9 && memcmp(type, "\"init_ok\"", 9) == 0) || (tlen == 14 && memcmp(type, "\"raft_init_ok\"", 14) == 0)) {
        if (!from->init_ok) {
            from->init_ok = true;
            if (run->inits_pending > 0)
                run->inits_pending--;
        }
    } else if (tlen == 7 && memcmp(type, "\"error\"", 7) == 0 && !from->init_ok) {
        whirl_abort(run, "node %s answered init with an error: %.*s", from->id, (int)env->body_len, env->body);
    }
}

void whirl_net_from_node(struct whirl_run *run, struct whirl_node *from, const char *line, size_t len)
{
    struct whirl_envelope env;
    const char *why;
    if (len == 0 || (len == 1 && line[0] == '\r')) {
        whirl_node_note_junk(from, line, len, "empty line");
        return;
    }
    if (whirl_envelope_scan(line, len, &env, &why) != 0) {
        whirl_node_note_junk(from, line, len, why);
        return;
    }
    if (env.src_len != strlen(from->id) || memcmp(env.src, from->id, env.src_len) != 0) {
        whirl_node_note_junk(from, line, len, "src is not the node's own id");
        return;
    }
    int64_t dest = parse_id(env.dest, env.dest_len, 'n');
    if (dest >= 0) {
        if (dest >= run->n_nodes) {
            run->net.bad_dest++;
            whirl_node_note_junk(from, line, len, "dest is not a node of this cluster");
            return;
        }
        run->net.server_msgs++;
        transmit(run, from->index, (int)dest, -1, line, len);
        return;
    }
    int64_t client = parse_id(env.dest, env.dest_len, 'c');
    if (client == WHIRL_CONTROL_CLIENT) {
        on_control_reply(run, from, &env);
        return;
    }
    if (client > 0) {
        run->net.client_msgs++;
        transmit(run, from->index, -1, client, line, len);
        return;
    }
    run->net.bad_dest++;
    whirl_node_note_junk(from, line, len, "dest is neither a node nor a client");
}

int whirl_net_from_client(struct whirl_run *run, int dest, const char *line, size_t len)
{
    run->net.client_msgs++;
    transmit(run, -1, dest, -1, line, len);
    return 0;
}

int whirl_net_write_log(struct whirl_run *run, char *err, size_t errlen)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/messages.jsonl", run->dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, errlen, "cannot write %s", path);
        return -1;
    }
    for (size_t i = 0; i < run->n_msgs; i++) {
        const struct whirl_msg_record *m = &run->msgs[i];
        struct whirl_envelope env;
        const char *why;
        if (whirl_envelope_scan(m->line, m->len, &env, &why) != 0)
            continue;
        size_t tl = 0, ml = 0, rl = 0;
        const char *type = whirl_json_member(env.body, env.body_len, "type", &tl);
        const char *msg_id = whirl_json_member(env.body, env.body_len, "msg_id", &ml);
        const char *irt = whirl_json_member(env.body, env.body_len, "in_reply_to", &rl);
        fprintf(f, "{\"send\":%llu,\"recv\":", (unsigned long long)m->send_ns);
        if (m->delivered)
            fprintf(f, "%llu", (unsigned long long)m->recv_ns);
        else
            fputs("null", f);
        fprintf(f, ",\"src\":\"%.*s\",\"dest\":\"%.*s\",\"type\":%.*s,\"msg_id\":%.*s,\"in_reply_to\":%.*s,"
                   "\"dropped\":%s,\"body\":%.*s}\n",
                (int)env.src_len, env.src, (int)env.dest_len, env.dest, (int)(type ? tl : 4), type ? type : "null",
                (int)(msg_id ? ml : 4), msg_id ? msg_id : "null", (int)(irt ? rl : 4), irt ? irt : "null",
                m->dropped ? "true" : "false", (int)env.body_len, env.body);
    }
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    if (bad) {
        snprintf(err, errlen, "error writing %s", path);
        return -1;
    }
    return 0;
}

void whirl_net_drop_pending(struct whirl_run *run)
{
    for (size_t i = 0; i < run->timers.n; i++)
        if (run->timers.heap[i].fn == on_flight_due) {
            free(run->timers.heap[i].p);
            run->timers.heap[i].p = NULL;
        }
}

void whirl_net_free(struct whirl_run *run)
{
    for (size_t i = 0; i < run->n_msgs; i++)
        free(run->msgs[i].line);
    free(run->msgs);
    free(run->blocked);
    run->msgs = NULL;
    run->blocked = NULL;
    run->n_msgs = 0;
}
