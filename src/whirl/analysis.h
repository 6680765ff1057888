/* analysis.h - after a run: the linearizability check of every key (through
 * src/check), the statistics, the verdict, and results.json with the console
 * summary that ends in Maelstrom's closing line.
 */
#ifndef RAFTKV_WHIRL_ANALYSIS_H
#define RAFTKV_WHIRL_ANALYSIS_H

#include "whirl/run.h"

enum whirl_verdict { WHIRL_VALID = 0, WHIRL_INVALID = 1, WHIRL_UNKNOWN = 2 };

/* Checks the run's history, prints the summary and the closing line, writes
 * results.json. Returns the verdict (also the exit code of a single run). */
enum whirl_verdict whirl_analyse(struct whirl_run *run);

/* The closing line Maelstrom prints for a verdict. */
const char *whirl_verdict_line(enum whirl_verdict v);

#endif
