/* serve_pages.h - the pages `whirl serve` generates rather than reads: the
 * list of runs in a store, and a plain listing of a folder that has no
 * index.html; and the decoding of request paths. Internal to
 * src/whirl/report.
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

/* Percent-decodes the path of a request target (query and fragment cut)
 * into out. Returns 0, or -1 for a path that is malformed or unsafe: a bad
 * escape, a NUL or backslash, a ".." segment, no leading '/'. (serve.c) */
int serve_decode_path(const char *target, char *out, size_t len);
/* The Content-Type for a file served from the store, by its extension. */
const char *serve_content_type(const char *path);

#endif
