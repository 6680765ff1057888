/* recovery.c - how soon the majority side serves again after each change
 * of the cluster's health. */
#include "whirl/recovery.h"

#include <stdlib.h>
#include <string.h>

#include "whirl/nemesis.h"

static bool node_down(const struct whirl_run *run, int i)
{
    return run->fault != WHIRL_FAULT_NONE && run->fault != WHIRL_FAULT_PARTITION && run->fault_targets[i];
}

/* Whether i and j, both running, can talk. */
static bool linked(const struct whirl_run *run, int i, int j)
{
    return !node_down(run, i) && !node_down(run, j) && !run->blocked[(size_t)i * (size_t)run->n_nodes + (size_t)j];
}

/* Notes a change of health with the nodes expected to serve after it: those
 * in a closed group of running nodes (everyone it hears hears exactly the
 * same nodes) that holds a majority. Ring and bridge partitions have no such
 * group (where the leader ends up decides who can serve), so they are not
 * measured. */
void whirl_recovery_note(struct whirl_run *run, const char *what)
{
    if (run->n_nodes > 64)
        return;
    if (run->n_transitions == run->cap_transitions) {
        size_t cap = run->cap_transitions ? run->cap_transitions * 2 : 16;
        struct whirl_transition *t = realloc(run->transitions, cap * sizeof *t);
        if (!t)
            return;
        run->transitions = t;
        run->cap_transitions = cap;
    }
    int n = run->n_nodes, majority = n / 2 + 1;
    uint64_t mask = 0;
    for (int i = 0; i < n; i++) {
        if (node_down(run, i))
            continue;
        int size = 0;
        bool closed = true;
        for (int j = 0; j < n && closed; j++) {
            if (!linked(run, i, j))
                continue;
            size++;
            for (int k = 0; k < n; k++)
                if (linked(run, i, k) != linked(run, j, k)) {
                    closed = false;
                    break;
                }
        }
        if (closed && size >= majority)
            mask |= 1ull << i;
    }
    struct whirl_transition *t = &run->transitions[run->n_transitions++];
    memset(t, 0, sizeof *t);
    t->at_ns = whirl_now(run);
    t->side_mask = mask;
    snprintf(t->what, sizeof t->what, "%s", what);
}

void whirl_recovery_on_request(struct whirl_run *run, int node)
{
    if (run->n_transitions == 0 || node >= 64)
        return;
    struct whirl_transition *t = &run->transitions[run->n_transitions - 1];
    t->asked_mask |= t->side_mask & (1ull << node);
}

void whirl_recovery_on_answer(struct whirl_run *run, int node, uint64_t invoke_ns, uint64_t now_ns)
{
    if (run->n_transitions == 0 || node >= 64)
        return;
    struct whirl_transition *t = &run->transitions[run->n_transitions - 1];
    uint64_t bit = 1ull << node;
    if (invoke_ns >= t->at_ns && (t->side_mask & bit) && !(t->ok_mask & bit)) {
        t->ok_mask |= bit;
        if (now_ns - t->at_ns > t->worst_ns)
            t->worst_ns = now_ns - t->at_ns;
    }
}

/* How soon each node on the majority side served again after a fault
 * started or ended (issue 2 asks for 1 s): per change, the slowest first ok
 * among the nodes sent requests; a node asked but silent until the next
 * change counts as never. Changes after the time limit are left out. */
json_t *whirl_recovery_json(struct whirl_run *run)
{
    json_t *list = json_array();
    uint64_t worst = 0, limit = run->test_start_ns + (uint64_t)(run->opts->time_limit_s * 1e9);
    size_t changes = 0, slow = 0, never = 0;
    for (size_t i = 0; i < run->n_transitions; i++) {
        const struct whirl_transition *t = &run->transitions[i];
        if (t->asked_mask == 0 || t->at_ns >= limit)
            continue;
        changes++;
        uint64_t silent = t->asked_mask & ~t->ok_mask;
        json_t *item = json_pack("{s:f, s:s, s:f}", "at_s", (double)t->at_ns / 1e9, "after", t->what, "ms",
                                 (double)t->worst_ns / 1e6);
        json_t *silent_ids = json_array();
        for (int n = 0; n < run->n_nodes && n < 64; n++)
            if ((silent >> n) & 1)
                json_array_append_new(silent_ids, json_string(run->nodes[n].id));
        json_object_set_new(item, "never", silent_ids);
        json_array_append_new(list, item);
        worst = t->worst_ns > worst ? t->worst_ns : worst;
        slow += t->worst_ns > 1000000000ull;
        never += silent != 0;
    }
    if (changes > 0)
        whirl_say(run, "Recovery: majority-side nodes answered again within %.0f ms at worst after %zu fault "
                       "changes (%zu slower than 1 s, %zu with a node silent until the next change)",
                  (double)worst / 1e6, changes, slow, never);
    return json_pack("{s:I, s:f, s:I, s:I, s:o}", "changes", (json_int_t)changes, "max_ms", (double)worst / 1e6,
                     "over_1s", (json_int_t)slow, "never", (json_int_t)never, "list", list);
}

void whirl_recovery_free(struct whirl_run *run)
{
    free(run->transitions);
    run->transitions = NULL;
    run->n_transitions = run->cap_transitions = 0;
}
