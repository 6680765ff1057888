/* workload.c - the lin-kv client threads, key groups and rate limiter. */
#include "whirl/workload.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "whirl/net.h"
#include "whirl/recovery.h"

/* The pause of a client thread between failed final reads. */
#define WHIRL_FINAL_RETRY_NS 50000000ull
/* How far the rate limiter may fall behind its schedule and still catch up. */
#define WHIRL_RATE_MAX_BACKLOG_NS 100000000ull

bool whirl_error_is_definite(int code)
{
    switch (code) {
    case 1: case 10: case 11: case 12: case 14: case 20: case 21: case 22: case 30: return true;
    default: return false;
    }
}

static uint64_t rate_gap_ns(struct whirl_run *run)
{
    /* Uniform in [0, 2/rate): mean 1/rate, as Jepsen's stagger. */
    double mean_ns = 1e9 / run->opts->rate;
    return (uint64_t)(rng_double(&run->rng_rate) * 2 * mean_ns);
}

static void pump(struct whirl_run *run);

static void on_rate_slot(void *ctx, void *p, uint64_t arg)
{
    (void)p;
    (void)arg;
    struct whirl_run *run = ctx;
    run->rate_timer_set = false;
    pump(run);
}

static void on_timeout(void *ctx, void *p, uint64_t msg_id);
static void send_request(struct whirl_run *run, struct whirl_client *c);

static int64_t *group_has_process(struct whirl_key_group *g, int64_t process)
{
    for (int i = 0; i < g->n_procs; i++)
        if (g->procs[i] == process)
            return &g->procs[i];
    return NULL;
}

/* Moves a group on to a fresh key when its key is used up. */
static void group_admit(struct whirl_run *run, struct whirl_key_group *g, int64_t process)
{
    int full = g->ops >= run->opts->per_key_limit ||
               (!group_has_process(g, process) && g->n_procs >= run->opts->process_limit);
    if (full) {
        g->key = run->next_key++;
        g->ops = 0;
        g->n_procs = 0;
    }
    if (!group_has_process(g, process))
        g->procs[g->n_procs++] = process;
    g->ops++;
}

static void issue(struct whirl_run *run, struct whirl_client *c)
{
    struct whirl_key_group *g = &run->groups[c->group];
    group_admit(run, g, c->process);
    struct rng *r = &c->rng;
    switch (c->role) {
    case WHIRL_ROLE_READER: c->f = WHIRL_F_READ; break;
    case WHIRL_ROLE_WRITER: c->f = rng_below(r, 3) == 0 ? WHIRL_F_WRITE : WHIRL_F_CAS; break;
    default: {
        uint64_t x = rng_below(r, 4);
        c->f = x == 0 ? WHIRL_F_READ : x == 1 ? WHIRL_F_WRITE : WHIRL_F_CAS;
    }
    }
    c->a = c->f == WHIRL_F_READ ? 0 : (int32_t)rng_below(r, 5);
    c->b = c->f == WHIRL_F_CAS ? (int32_t)rng_below(r, 5) : 0;
    c->key = g->key;
    c->final = false;
    send_request(run, c);
}

/* Records the invocation of c's chosen operation and sends it. */
static void send_request(struct whirl_run *run, struct whirl_client *c)
{
    c->node = (int)(c->process % run->n_nodes);
    c->msg_id = ++run->next_msg_id;
    c->busy = true;

    uint64_t now = whirl_now(run);
    c->invoke_ns = now;
    whirl_recovery_on_request(run, c->node);
    struct whirl_event e = {.time_ns = now, .process = c->process, .type = WHIRL_EV_INVOKE, .f = c->f,
                            .node = c->node, .key = c->key, .a = c->a, .b = c->b};
    whirl_history_add(&run->history, &e);

    char line[256];
    int len;
    const char *node_id = run->nodes[c->node].id;
    long long client_no = (long long)c->process + 1;
    unsigned long long m = (unsigned long long)c->msg_id;
    long long key = (long long)c->key;
    if (c->f == WHIRL_F_READ)
        len = snprintf(line, sizeof line,
                       "{\"src\":\"c%lld\",\"dest\":\"%s\",\"body\":{\"type\":\"read\",\"key\":%lld,\"msg_id\":%llu}}",
                       client_no, node_id, key, m);
    else if (c->f == WHIRL_F_WRITE)
        len = snprintf(line, sizeof line,
                       "{\"src\":\"c%lld\",\"dest\":\"%s\",\"body\":{\"type\":\"write\",\"key\":%lld,\"value\":%d,"
                       "\"msg_id\":%llu}}",
                       client_no, node_id, key, c->a, m);
    else
        len = snprintf(line, sizeof line,
                       "{\"src\":\"c%lld\",\"dest\":\"%s\",\"body\":{\"type\":\"cas\",\"key\":%lld,\"from\":%d,"
                       "\"to\":%d,\"msg_id\":%llu}}",
                       client_no, node_id, key, c->a, c->b, m);
    whirl_net_from_client(run, c->node, line, (size_t)len);
    whirl_at(run, now + run->timeout_ns, on_timeout, c, c->msg_id);
}

static int pop_idle(struct whirl_run *run)
{
    int t = run->idle[run->idle_head];
    run->idle_head = (run->idle_head + 1) % run->n_clients;
    run->idle_n--;
    return t;
}

static void pump_final(struct whirl_run *run)
{
    while (run->idle_n > 0 && run->final_n > 0 && whirl_now(run) < run->final_deadline_ns) {
        struct whirl_client *c = &run->clients[pop_idle(run)];
        int64_t key = run->final_queue[run->final_head];
        run->final_head = (run->final_head + 1) % run->n_final_keys;
        run->final_n--;
        c->f = WHIRL_F_READ;
        c->a = c->b = 0;
        c->key = key;
        c->final = true;
        send_request(run, c);
    }
}

static void pump(struct whirl_run *run)
{
    if (run->final_open) {
        pump_final(run);
        return;
    }
    while (run->workload_open && run->idle_n > 0) {
        uint64_t now = whirl_now(run);
        if (now < run->next_rate_ns) {
            if (!run->rate_timer_set) {
                run->rate_timer_set = true;
                whirl_at(run, run->next_rate_ns, on_rate_slot, NULL, 0);
            }
            return;
        }
        issue(run, &run->clients[pop_idle(run)]);
        /* Slots follow the schedule, not the (late by up to a timer tick)
         * moment they were served, so the mean rate holds; a backlog from a
         * time when every client was busy is forgotten, not burst out. */
        uint64_t base = run->next_rate_ns + WHIRL_RATE_MAX_BACKLOG_NS >= now ? run->next_rate_ns : now;
        run->next_rate_ns = base + rate_gap_ns(run);
    }
}

static void make_idle(struct whirl_run *run, struct whirl_client *c)
{
    c->busy = false;
    run->idle[(run->idle_head + run->idle_n) % run->n_clients] = c->thread;
    run->idle_n++;
    pump(run);
}

static void on_final_backoff(void *ctx, void *p, uint64_t arg)
{
    (void)arg;
    make_idle(ctx, p);
}

/* A final read's outcome: 0 when the key is read (ok, or 20 = empty), else
 * -1 with the key queued again. */
static int final_read_result(struct whirl_run *run, struct whirl_client *c, uint8_t type, int code,
                             const char *value_json)
{
    int64_t k = c->key;
    if (type == WHIRL_EV_OK || (type == WHIRL_EV_FAIL && code == 20)) {
        if (!run->final_values[k]) {
            run->final_values[k] = strdup(type == WHIRL_EV_OK && value_json ? value_json : "null");
            run->final_done++;
        }
        return 0;
    }
    run->final_queue[(run->final_head + run->final_n) % run->n_final_keys] = k;
    run->final_n++;
    return -1;
}

/* Records the completion of c's outstanding request. An indefinite outcome
 * makes the thread continue as a new process. */
static void complete(struct whirl_run *run, struct whirl_client *c, uint8_t type, int has_error, int code,
                     const char *text, char *value_json)
{
    struct whirl_event e = {.time_ns = whirl_now(run), .process = c->process, .type = type, .f = c->f,
                            .node = c->node, .key = c->key, .a = c->a, .b = c->b, .value_json = value_json,
                            .has_error = (uint8_t)has_error, .error_code = code,
                            .error_text = has_error ? strdup(text ? text : "") : NULL};
    whirl_history_add(&run->history, &e);
    run->requests++;
    /* A node answers from the data with ok, or with 20 or 22 (the key is
     * missing, the cas precondition failed): all three mean it serves again. */
    if (type == WHIRL_EV_OK || (type == WHIRL_EV_FAIL && has_error && (code == 20 || code == 22)))
        whirl_recovery_on_answer(run, c->node, c->invoke_ns, e.time_ns);
    if (type == WHIRL_EV_OK)
        run->ok++;
    else if (type == WHIRL_EV_FAIL)
        run->fail++;
    else
        run->info++;
    if (type == WHIRL_EV_INFO)
        c->process += run->n_clients;
    if (c->final && final_read_result(run, c, type, code, value_json) != 0) {
        /* Back off before retrying, so a node without a leader is not
         * flooded with reads for the rest of the deadline. */
        c->busy = false;
        c->final = false;
        whirl_at(run, whirl_now(run) + WHIRL_FINAL_RETRY_NS, on_final_backoff, c, 0);
        return;
    }
    c->final = false;
    make_idle(run, c);
}

static void on_timeout(void *ctx, void *p, uint64_t msg_id)
{
    struct whirl_run *run = ctx;
    struct whirl_client *c = p;
    if (!c->busy || c->msg_id != msg_id)
        return;
    complete(run, c, WHIRL_EV_INFO, 0, 0, NULL, NULL);
}

void whirl_workload_on_reply(struct whirl_run *run, int64_t client_no, int src_node, const char *body, size_t len)
{
    (void)src_node;
    int64_t process = client_no - 1;
    if (process < 0 || run->n_clients == 0) {
        run->net.stale_replies++;
        return;
    }
    struct whirl_client *c = &run->clients[process % run->n_clients];
    if (c->process != process || !c->busy) {
        run->net.stale_replies++;
        return;
    }
    json_error_t jerr;
    json_t *b = json_loadb(body, len, 0, &jerr);
    if (!b)
        return;
    json_t *irt = json_object_get(b, "in_reply_to");
    if (!json_is_integer(irt)) {
        /* Every reply must say what it answers; this one cannot be matched. */
        run->bad_replies++;
        json_decref(b);
        return;
    }
    if ((uint64_t)json_integer_value(irt) != c->msg_id) {
        run->net.stale_replies++;
        json_decref(b);
        return;
    }
    const char *type = json_string_value(json_object_get(b, "type"));
    if (!type)
        type = "";
    static const char *const ok_types[3] = {"read_ok", "write_ok", "cas_ok"};
    if (strcmp(type, ok_types[c->f]) == 0) {
        char *value = NULL;
        if (c->f == WHIRL_F_READ) {
            json_t *v = json_object_get(b, "value");
            if (!v) {
                run->bad_replies++;
                complete(run, c, WHIRL_EV_FAIL, 1, -1, "malformed reply: read_ok without a value", NULL);
                json_decref(b);
                return;
            }
            value = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
        }
        complete(run, c, WHIRL_EV_OK, 0, 0, NULL, value);
    } else if (strcmp(type, "error") == 0) {
        json_t *code_j = json_object_get(b, "code");
        int code = json_is_integer(code_j) ? (int)json_integer_value(code_j) : 13;
        const char *text = json_string_value(json_object_get(b, "text"));
        if (!json_is_integer(code_j))
            run->bad_replies++;
        uint8_t outcome = c->f == WHIRL_F_READ || whirl_error_is_definite(code) ? WHIRL_EV_FAIL : WHIRL_EV_INFO;
        complete(run, c, outcome, 1, code, text, NULL);
    } else {
        /* A reply of the wrong type promises nothing about the request. */
        run->bad_replies++;
        char why[128];
        snprintf(why, sizeof why, "malformed reply: type '%.60s'", type);
        complete(run, c, c->f == WHIRL_F_READ ? WHIRL_EV_FAIL : WHIRL_EV_INFO, 1, -1, why, NULL);
    }
    json_decref(b);
}

int whirl_workload_start(struct whirl_run *run)
{
    int n = run->n_nodes, threads = run->opts->concurrency;
    int size = threads < 2 * n ? threads : 2 * n;
    int n_groups = threads / size;
    run->n_clients = threads;
    run->n_groups = n_groups;
    run->clients = calloc((size_t)threads, sizeof *run->clients);
    run->groups = calloc((size_t)n_groups, sizeof *run->groups);
    run->idle = calloc((size_t)threads, sizeof *run->idle);
    run->idle_head = run->idle_n = 0;
    if (!run->clients || !run->groups || !run->idle)
        return -1;
    for (int g = 0; g < n_groups; g++) {
        run->groups[g].key = g;
        run->groups[g].procs = calloc((size_t)run->opts->process_limit + 1, sizeof(int64_t));
        if (!run->groups[g].procs)
            return -1;
    }
    run->next_key = n_groups;
    for (int t = 0; t < threads; t++) {
        struct whirl_client *c = &run->clients[t];
        /* Each thread draws from its own generator, so what a thread asks
         * for does not depend on how the threads interleave. */
        rng_seed(&c->rng, rng_next(&run->rng_workload));
        c->thread = t;
        c->process = t;
        c->group = t / size < n_groups ? t / size : n_groups - 1;
        int local = t - c->group * size;
        if (size == 1)
            c->role = WHIRL_ROLE_MIXED;
        else
            c->role = local < size / 2 ? WHIRL_ROLE_READER : WHIRL_ROLE_WRITER;
    }
    double latency_ns = run->opts->latency_ms * 1e6;
    run->timeout_ns = latency_ns * 10 > 1e9 ? (uint64_t)(latency_ns * 10) : 1000000000ull;
    run->workload_open = run->opts->rate > 0;
    if (!run->workload_open)
        return 0;
    run->next_rate_ns = whirl_now(run) + rate_gap_ns(run);
    for (int t = 0; t < threads; t++) {
        run->idle[run->idle_n++] = t;
    }
    pump(run);
    return 0;
}

void whirl_workload_stop(struct whirl_run *run)
{
    run->workload_open = false;
}

bool whirl_workload_idle(const struct whirl_run *run)
{
    for (int t = 0; t < run->n_clients; t++)
        if (run->clients[t].busy)
            return false;
    return true;
}

static void on_final_deadline(void *ctx, void *p, uint64_t arg)
{
    /* Nothing to do: firing wakes the run loop to notice the deadline. */
    (void)ctx;
    (void)p;
    (void)arg;
}

int whirl_workload_start_final_reads(struct whirl_run *run, uint64_t deadline_ns)
{
    int64_t n = run->next_key;
    if (n <= 0 || run->n_clients == 0)
        return 0;
    run->final_queue = malloc((size_t)n * sizeof *run->final_queue);
    run->final_values = calloc((size_t)n, sizeof *run->final_values);
    if (!run->final_queue || !run->final_values)
        return -1;
    for (int64_t k = 0; k < n; k++)
        run->final_queue[k] = k;
    run->n_final_keys = n;
    run->final_head = 0;
    run->final_n = n;
    run->final_deadline_ns = deadline_ns;
    run->final_open = true;
    whirl_at(run, deadline_ns, on_final_deadline, NULL, 0);
    pump(run);
    return 0;
}

bool whirl_workload_final_reads_done(const struct whirl_run *run)
{
    if (run->final_done >= run->n_final_keys)
        return true;
    return whirl_now(run) >= run->final_deadline_ns && whirl_workload_idle(run);
}

void whirl_workload_free(struct whirl_run *run)
{
    for (int64_t k = 0; run->final_values && k < run->n_final_keys; k++)
        free(run->final_values[k]);
    free(run->final_values);
    free(run->final_queue);
    run->final_values = NULL;
    run->final_queue = NULL;
    for (int g = 0; g < run->n_groups; g++)
        free(run->groups[g].procs);
    free(run->groups);
    free(run->clients);
    free(run->idle);
    run->idle = NULL;
    run->groups = NULL;
    run->clients = NULL;
}
