/* durability.c - lost writes: acknowledged writes checked against the
 * final reads. */
#include "whirl/durability.h"

#include <stdlib.h>
#include <string.h>

/* Acknowledged writes against the final reads: a key whose acknowledged
 * writes all vanished (it reads empty at the end) lost them. Subtler losses
 * (an older value read back) are the linearizability check's to find, since
 * the final reads are in the history. Returns the lost_writes array (or null
 * without final reads) and adds a final_reads summary to results. */
json_t *whirl_lost_writes_json(struct whirl_run *run, json_t *results_extra, size_t *n_lost)
{
    *n_lost = 0;
    int64_t n = run->n_final_keys;
    if (!run->final_values || n <= 0)
        return json_null();
    uint32_t *acked = calloc((size_t)n, sizeof *acked);
    int32_t *last = calloc((size_t)n, sizeof *last);
    json_t *lost = json_array();
    json_t *unread = json_array();
    if (!acked || !last) {
        free(acked);
        free(last);
        return lost;
    }
    for (size_t i = 0; i < run->history.n; i++) {
        const struct whirl_event *e = &run->history.ev[i];
        if (e->process == WHIRL_PROCESS_NEMESIS || e->type != WHIRL_EV_OK || e->key < 0 || e->key >= n)
            continue;
        if (e->f == WHIRL_F_WRITE || e->f == WHIRL_F_CAS) {
            acked[e->key]++;
            last[e->key] = e->f == WHIRL_F_WRITE ? e->a : e->b;
        }
    }
    for (int64_t k = 0; k < n; k++) {
        const char *fv = run->final_values[k];
        if (!fv) {
            if (json_array_size(unread) < 50)
                json_array_append_new(unread, json_integer(k));
            continue;
        }
        if (acked[k] > 0 && strcmp(fv, "null") == 0) {
            (*n_lost)++;
            json_array_append_new(lost, json_pack("{s:I, s:n, s:I, s:i}", "key", (json_int_t)k, "final",
                                                  "acknowledged", (json_int_t)acked[k], "last_acknowledged",
                                                  last[k]));
            if (*n_lost <= 5)
                whirl_say(run, "!!! LOST WRITES: key %lld reads empty at the end after %u acknowledged writes "
                               "(the last wrote %d)", (long long)k, acked[k], last[k]);
        }
    }
    whirl_say(run, "Final reads: %lld of %lld keys read%s; %zu key(s) lost acknowledged writes",
              (long long)run->final_done, (long long)n, run->final_done < n ? " (some never answered)" : "", *n_lost);
    json_object_set_new(results_extra, "final_reads",
                        json_pack("{s:I, s:I, s:o}", "keys", (json_int_t)n, "read", (json_int_t)run->final_done,
                                  "unread", unread));
    free(acked);
    free(last);
    return lost;
}
