/* nemesis.c - partition shapes, kill/pause targets and the healthy/faulty
 * schedule. */
#include "whirl/nemesis.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "whirl/cluster.h"
#include "whirl/recovery.h"

const char *const whirl_shape_names[WHIRL_SHAPE_COUNT] = {"one node isolated", "minority third", "random halves",
                                                          "majority ring", "bridge"};

static void shuffle(struct rng *g, int *a, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(g, (uint64_t)i + 1);
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

static void put_components(struct whirl_buf *value, char **ids, const int *comp, int n, int n_comp)
{
    whirl_buf_append(value, "[", 1);
    for (int c = 0; c < n_comp; c++) {
        whirl_buf_append(value, c ? ",[" : "[", c ? 2 : 1);
        int first = 1;
        for (int i = 0; i < n; i++)
            if (comp[i] == c) {
                whirl_buf_printf(value, "%s\"%s\"", first ? "" : ",", ids[i]);
                first = 0;
            }
        whirl_buf_append(value, "]", 1);
    }
    whirl_buf_append(value, "]", 1);
}

static void put_grudge(struct whirl_buf *value, char **ids, const bool *blocked, int n)
{
    whirl_buf_append(value, "{", 1);
    for (int i = 0; i < n; i++) {
        whirl_buf_printf(value, "%s\"%s\":[", i ? "," : "", ids[i]);
        int first = 1;
        for (int j = 0; j < n; j++)
            if (blocked[(size_t)j * (size_t)n + (size_t)i]) {
                whirl_buf_printf(value, "%s\"%s\"", first ? "" : ",", ids[j]);
                first = 0;
            }
        whirl_buf_append(value, "]", 1);
    }
    whirl_buf_append(value, "}", 1);
}

int whirl_partition_pick(struct rng *g, int n, char **ids, bool *blocked, struct whirl_buf *value)
{
    if (n < 2)
        return -1;
    int shapes[WHIRL_SHAPE_COUNT], n_shapes = 0;
    shapes[n_shapes++] = WHIRL_SHAPE_ONE;
    if (n >= 3) {
        shapes[n_shapes++] = WHIRL_SHAPE_MINORITY_THIRD;
        shapes[n_shapes++] = WHIRL_SHAPE_HALVES;
        shapes[n_shapes++] = WHIRL_SHAPE_BRIDGE;
    }
    if (n >= 4)
        shapes[n_shapes++] = WHIRL_SHAPE_RING;
    int shape = shapes[rng_below(g, (uint64_t)n_shapes)];

    int *perm = malloc((size_t)n * sizeof *perm);
    int *comp = malloc((size_t)n * sizeof *comp);
    if (!perm || !comp) {
        free(perm);
        free(comp);
        return -1;
    }
    for (int i = 0; i < n; i++)
        perm[i] = i;
    shuffle(g, perm, n);
    memset(blocked, 0, (size_t)n * (size_t)n * sizeof *blocked);
    value->len = 0;

    if (shape == WHIRL_SHAPE_RING) {
        /* perm is the ring order; a node hears those within distance d, where
         * 1 + 2d >= majority, so every node sees a majority and neighbouring
         * majorities overlap. */
        int majority = n / 2 + 1;
        int d = majority / 2; /* ceil((majority - 1) / 2) */
        int *pos = comp;
        for (int i = 0; i < n; i++)
            pos[perm[i]] = i;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                int dist = abs(pos[i] - pos[j]);
                if (n - dist < dist)
                    dist = n - dist;
                blocked[(size_t)i * (size_t)n + (size_t)j] = dist > d;
            }
        put_grudge(value, ids, blocked, n);
    } else if (shape == WHIRL_SHAPE_BRIDGE) {
        /* perm[0] is the bridge; perm[1..half] one side, the rest the other. */
        int half = (n - 1) / 2;
        for (int i = 0; i < n; i++)
            comp[perm[i]] = i == 0 ? 0 : i <= half ? 1 : 2;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                blocked[(size_t)i * (size_t)n + (size_t)j] =
                    (comp[i] == 1 && comp[j] == 2) || (comp[i] == 2 && comp[j] == 1);
        put_grudge(value, ids, blocked, n);
    } else {
        int cut = shape == WHIRL_SHAPE_ONE ? 1 : shape == WHIRL_SHAPE_HALVES ? n / 2 : (n / 3 > 0 ? n / 3 : 1);
        for (int i = 0; i < n; i++)
            comp[perm[i]] = i < cut ? 0 : 1;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                blocked[(size_t)i * (size_t)n + (size_t)j] = comp[i] != comp[j];
        put_components(value, ids, comp, n, 2);
    }
    free(perm);
    free(comp);
    return shape;
}

int whirl_fault_targets(struct rng *g, int n, bool *targets)
{
    memset(targets, 0, (size_t)n * sizeof *targets);
    uint64_t r = rng_below(g, 10);
    int count = r < 5 ? 1 : r < 9 ? (n - 1) / 2 : n;
    if (count < 1)
        count = 1;
    int picked = 0;
    while (picked < count) {
        int i = (int)rng_below(g, (uint64_t)n);
        if (!targets[i]) {
            targets[i] = true;
            picked++;
        }
    }
    return count;
}

static void record(struct whirl_run *run, uint8_t f, const char *value, const char *text)
{
    struct whirl_event e = {.time_ns = whirl_now(run), .process = WHIRL_PROCESS_NEMESIS, .type = WHIRL_EV_INFO,
                            .f = f, .node = -1, .value_json = value ? strdup(value) : NULL,
                            .text = text ? strdup(text) : NULL};
    whirl_history_add(&run->history, &e);
}

/* The fault's targets as a JSON list of ids, into value (NUL-terminated). */
static void targets_json(struct whirl_run *run, struct whirl_buf *value)
{
    value->len = 0;
    whirl_buf_append(value, "[", 1);
    int first = 1;
    for (int i = 0; i < run->n_nodes; i++)
        if (run->fault_targets[i]) {
            whirl_buf_printf(value, "%s\"%s\"", first ? "" : ",", run->nodes[i].id);
            first = 0;
        }
    whirl_buf_append(value, "]", 2); /* with the NUL */
}

static void on_restart_retry(void *ctx, void *p, uint64_t index);

static void restart_node(struct whirl_run *run, int i)
{
    int rc = whirl_node_restart(&run->nodes[i]);
    if (rc == UV_EAGAIN)
        whirl_at(run, whirl_now(run) + 20000000ull, on_restart_retry, NULL, (uint64_t)i);
    else if (rc != 0)
        whirl_say(run, "!!! nemesis: cannot restart %s: %s", run->nodes[i].id, uv_strerror(rc));
}

static void on_restart_retry(void *ctx, void *p, uint64_t index)
{
    (void)p;
    restart_node(ctx, (int)index);
}

static void end_fault(struct whirl_run *run)
{
    struct whirl_buf value = {0};
    switch (run->fault) {
    case WHIRL_FAULT_PARTITION:
        memset(run->blocked, 0, (size_t)run->n_nodes * (size_t)run->n_nodes * sizeof *run->blocked);
        run->partitioned = false;
        record(run, WHIRL_F_STOP_PARTITION, NULL, "network healed");
        whirl_say(run, "nemesis: network healed");
        break;
    case WHIRL_FAULT_KILL:
        targets_json(run, &value);
        record(run, WHIRL_F_RESTART, value.data, "restarted");
        whirl_say(run, "nemesis: restarting %s", value.data);
        for (int i = 0; i < run->n_nodes; i++)
            if (run->fault_targets[i])
                restart_node(run, i);
        break;
    case WHIRL_FAULT_PAUSE:
        targets_json(run, &value);
        for (int i = 0; i < run->n_nodes; i++)
            if (run->fault_targets[i])
                whirl_node_signal(&run->nodes[i], SIGCONT, 0);
        record(run, WHIRL_F_RESUME, value.data, "resumed");
        whirl_say(run, "nemesis: resuming %s", value.data);
        break;
    default: break;
    }
    whirl_buf_free(&value);
    run->fault = WHIRL_FAULT_NONE;
    snprintf(run->net_state, sizeof run->net_state, "healed");
    whirl_recovery_note(run, "healed");
}

static const char *target_text(int count, int n)
{
    return count == n ? "all nodes" : count == 1 ? "one node" : "a minority";
}

static void start_fault(struct whirl_run *run)
{
    int kinds[3], n_kinds = 0;
    unsigned want = run->opts->nemesis;
    if ((want & WHIRL_NEMESIS_PARTITION) && run->n_nodes >= 2)
        kinds[n_kinds++] = WHIRL_FAULT_PARTITION;
    if (want & WHIRL_NEMESIS_KILL)
        kinds[n_kinds++] = WHIRL_FAULT_KILL;
    if (want & WHIRL_NEMESIS_PAUSE)
        kinds[n_kinds++] = WHIRL_FAULT_PAUSE;
    if (n_kinds == 0)
        return;
    int kind = kinds[rng_below(&run->rng_nemesis, (uint64_t)n_kinds)];
    struct whirl_buf value = {0};
    if (kind == WHIRL_FAULT_PARTITION) {
        char **ids = malloc((size_t)run->n_nodes * sizeof *ids);
        if (ids) {
            for (int i = 0; i < run->n_nodes; i++)
                ids[i] = run->nodes[i].id;
            int shape = whirl_partition_pick(&run->rng_nemesis, run->n_nodes, ids, run->blocked, &value);
            if (shape >= 0 && whirl_buf_append(&value, "", 1) == 0) {
                run->partitioned = true;
                run->fault = kind;
                snprintf(run->net_state, sizeof run->net_state, "%s", whirl_shape_names[shape]);
                record(run, WHIRL_F_START_PARTITION, value.data, whirl_shape_names[shape]);
                whirl_say(run, "nemesis: partition, %s: %s", whirl_shape_names[shape], value.data);
            }
        }
        free(ids);
    } else {
        int count = whirl_fault_targets(&run->rng_nemesis, run->n_nodes, run->fault_targets);
        targets_json(run, &value);
        char text[64];
        snprintf(text, sizeof text, "%s %s", kind == WHIRL_FAULT_KILL ? "kill" : "pause",
                 target_text(count, run->n_nodes));
        run->fault = kind;
        snprintf(run->net_state, sizeof run->net_state, "%s", text);
        record(run, kind == WHIRL_FAULT_KILL ? WHIRL_F_KILL : WHIRL_F_PAUSE, value.data, text);
        whirl_say(run, "nemesis: %s: %s", text, value.data);
        for (int i = 0; i < run->n_nodes; i++)
            if (run->fault_targets[i])
                whirl_node_signal(&run->nodes[i], kind == WHIRL_FAULT_KILL ? SIGKILL : SIGSTOP,
                                  kind == WHIRL_FAULT_KILL);
    }
    whirl_buf_free(&value);
    if (run->fault != WHIRL_FAULT_NONE)
        whirl_recovery_note(run, run->net_state);
}

static void on_phase(void *ctx, void *p, uint64_t gen)
{
    (void)p;
    struct whirl_run *run = ctx;
    if (!run->nemesis_open || gen != run->nemesis_gen)
        return;
    if (run->fault != WHIRL_FAULT_NONE)
        end_fault(run);
    else
        start_fault(run);
    uint64_t interval = (uint64_t)(run->opts->nemesis_interval_s * 1e9);
    whirl_at(run, whirl_now(run) + interval, on_phase, NULL, run->nemesis_gen);
}

int whirl_nemesis_start(struct whirl_run *run)
{
    if (!run->opts->nemesis)
        return 0;
    run->fault_targets = calloc((size_t)run->n_nodes, sizeof *run->fault_targets);
    if (!run->fault_targets)
        return -1;
    run->nemesis_open = true;
    run->nemesis_gen++;
    uint64_t interval = (uint64_t)(run->opts->nemesis_interval_s * 1e9);
    return whirl_at(run, whirl_now(run) + interval, on_phase, NULL, run->nemesis_gen);
}

void whirl_nemesis_stop(struct whirl_run *run)
{
    run->nemesis_open = false;
    run->nemesis_gen++;
    if (run->fault != WHIRL_FAULT_NONE)
        end_fault(run);
}

void whirl_nemesis_free(struct whirl_run *run)
{
    whirl_recovery_free(run);
    free(run->fault_targets);
    run->fault_targets = NULL;
}
