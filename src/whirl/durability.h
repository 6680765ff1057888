/* durability.h - the durability check beside linearizability: after the
 * faults end every key is read (workload.h's final reads), and a key whose
 * acknowledged writes vanished is a lost write.
 */
#ifndef RAFTKV_WHIRL_DURABILITY_H
#define RAFTKV_WHIRL_DURABILITY_H

#include <jansson.h>
#include <stddef.h>

#include "whirl/run.h"

/* Returns the lost_writes array for results.json (JSON null when there were
 * no final reads), adds a final_reads summary to results_extra, prints what
 * it found and sets *n_lost. */
json_t *whirl_lost_writes_json(struct whirl_run *run, json_t *results_extra, size_t *n_lost);

#endif
