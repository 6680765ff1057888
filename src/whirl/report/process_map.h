/* process_map.h - which operation each client process has open: a small
 * open-addressing map from process id to op index, so pairing completions
 * with invokes stays O(1) however many processes a run spawns (every
 * indefinite answer starts a new one). Internal to src/whirl/report.
 */
#ifndef RAFTKV_WHIRL_REPORT_PROCESS_MAP_H
#define RAFTKV_WHIRL_REPORT_PROCESS_MAP_H

#include <stddef.h>
#include <stdint.h>

struct process_map {
    int64_t *proc;
    long *op; /* -1 = empty slot, -2 = deleted */
    size_t cap, used;
};

int process_map_init(struct process_map *m);
void process_map_free(struct process_map *m);
/* The op open on proc, or -1. */
long process_map_get(const struct process_map *m, int64_t proc);
/* Sets proc's open op; op < 0 removes it. Returns 0, or -1 out of memory. */
int process_map_put(struct process_map *m, int64_t proc, long op);

#endif
