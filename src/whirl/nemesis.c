/* nemesis.c - partition shapes and the healed/faulty schedule. */
#include "whirl/nemesis.h"

#include <stdlib.h>
#include <string.h>

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

static void record(struct whirl_run *run, uint8_t f, const char *value, const char *text)
{
    struct whirl_event e = {.time_ns = whirl_now(run), .process = WHIRL_PROCESS_NEMESIS, .type = WHIRL_EV_INFO,
                            .f = f, .node = -1, .value_json = value ? strdup(value) : NULL,
                            .text = text ? strdup(text) : NULL};
    whirl_history_add(&run->history, &e);
}

static void heal(struct whirl_run *run)
{
    if (!run->partitioned)
        return;
    memset(run->blocked, 0, (size_t)run->n_nodes * (size_t)run->n_nodes * sizeof *run->blocked);
    run->partitioned = false;
    snprintf(run->net_state, sizeof run->net_state, "healed");
    record(run, WHIRL_F_STOP_PARTITION, NULL, "network healed");
    whirl_say(run, "nemesis: network healed");
}

static void on_phase(void *ctx, void *p, uint64_t gen)
{
    (void)p;
    struct whirl_run *run = ctx;
    if (!run->nemesis_open || gen != run->nemesis_gen)
        return;
    if (run->partitioned) {
        heal(run);
    } else {
        char **ids = malloc((size_t)run->n_nodes * sizeof *ids);
        struct whirl_buf value = {0};
        if (ids) {
            for (int i = 0; i < run->n_nodes; i++)
                ids[i] = run->nodes[i].id;
            int shape = whirl_partition_pick(&run->rng_nemesis, run->n_nodes, ids, run->blocked, &value);
            if (shape >= 0 && whirl_buf_append(&value, "", 1) == 0) {
                run->partitioned = true;
                snprintf(run->net_state, sizeof run->net_state, "%s", whirl_shape_names[shape]);
                record(run, WHIRL_F_START_PARTITION, value.data, whirl_shape_names[shape]);
                whirl_say(run, "nemesis: partition, %s: %s", whirl_shape_names[shape], value.data);
            }
        }
        free(ids);
        whirl_buf_free(&value);
    }
    uint64_t interval = (uint64_t)(run->opts->nemesis_interval_s * 1e9);
    whirl_at(run, whirl_now(run) + interval, on_phase, NULL, run->nemesis_gen);
}

void whirl_nemesis_start(struct whirl_run *run)
{
    if (!(run->opts->nemesis & WHIRL_NEMESIS_PARTITION) || run->n_nodes < 2)
        return;
    run->nemesis_open = true;
    run->nemesis_gen++;
    uint64_t interval = (uint64_t)(run->opts->nemesis_interval_s * 1e9);
    whirl_at(run, whirl_now(run) + interval, on_phase, NULL, run->nemesis_gen);
}

void whirl_nemesis_stop(struct whirl_run *run)
{
    run->nemesis_open = false;
    run->nemesis_gen++;
    heal(run);
}
