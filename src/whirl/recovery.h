/* recovery.h - the recovery measure: after every fault starts or ends, how
 * long each node on the majority side takes to answer a request ok again
 * (issue 2 asks for 1 s). The nemesis notes the changes, the workload the
 * requests and their oks; results.json gets the figures.
 */
#ifndef RAFTKV_WHIRL_RECOVERY_H
#define RAFTKV_WHIRL_RECOVERY_H

#include <jansson.h>
#include <stdint.h>

#include "whirl/run.h"

/* A change just happened (run->blocked and the fault's targets already say
 * the new state); `what` names it ("healed", "random halves", ...). */
void whirl_recovery_note(struct whirl_run *run, const char *what);
/* A client request was sent to node. */
void whirl_recovery_on_request(struct whirl_run *run, int node);
/* A request to node invoked at invoke_ns completed ok at now_ns. */
void whirl_recovery_on_answer(struct whirl_run *run, int node, uint64_t invoke_ns, uint64_t now_ns);
/* The figures for results.json (prints the console line). */
json_t *whirl_recovery_json(struct whirl_run *run);
void whirl_recovery_free(struct whirl_run *run);

#endif
