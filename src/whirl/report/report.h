/* report.h - whirl's reports: the pages and plots written into a run folder,
 * and the tiny HTTP server that shows a store of runs in a browser.
 *
 * Everything is read back from the files a run leaves (docs/STORE.md), so a
 * report can be regenerated for any old run and the runtime only has to call
 * report_write() once at the end. Pages are self-contained (inline CSS and
 * JS, no network) so they open offline from the file system.
 */
#ifndef RAFTKV_WHIRL_REPORT_H
#define RAFTKV_WHIRL_REPORT_H

#include <stddef.h>

/* Reads run_dir/history.jsonl (required), results.json and messages.jsonl
 * (optional) and writes index.html, timeline.html, latency-raw.svg,
 * latency-quantiles.svg, rate.svg, messages.svg (+ messages-invalid.svg), and
 * per key independent/<key>/timeline.html (+ linear.svg, linear.txt for an
 * invalid key). Malformed lines are skipped, never fatal. Returns 0, or -1
 * with a message in err (err may be NULL). */
int report_write(const char *run_dir, char *err, size_t errlen);

/* `whirl report DIR...`: regenerates the reports of existing run folders.
 * argv[0] is "report". Returns a process exit code. */
int whirl_report_main(int argc, char **argv);

/* `whirl serve [--port P] [STORE]`: serves STORE (default ./store) on
 * 127.0.0.1:P (default 8080) until killed: a generated list of runs at "/",
 * newest first, coloured by verdict; files below STORE otherwise. argv[0] is
 * "serve". Returns a process exit code. */
int whirl_serve_main(int argc, char **argv);

#endif
