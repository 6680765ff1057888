/* serve_pages.h - the pages `whirl serve` generates rather than reads: the
 * list of runs in a store, and a plain listing of a folder that has no
 * index.html. Internal to src/whirl/report.
 */
#ifndef RAFTKV_WHIRL_REPORT_SERVE_PAGES_H
#define RAFTKV_WHIRL_REPORT_SERVE_PAGES_H

#include <stddef.h>

/* The runs below store (folders holding history.jsonl or results.json, one
 * or two levels down), newest first, coloured by verdict. Returns a malloc'd
 * HTML document and its length in *len, or NULL. */
char *serve_runs_page(const char *store, size_t *len);

/* A listing of the folder fs_dir, shown at URL path url_path (ending in /).
 * Returns a malloc'd HTML document, or NULL. */
char *serve_listing_page(const char *fs_dir, const char *url_path, size_t *len);

#endif
