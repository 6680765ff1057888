/* serve_pages.c - the generated pages of `whirl serve`: the runs of a store,
 * newest first and coloured by verdict, and folder listings.
 *
 * Run folders are named by timestamp (YYYYMMDDTHHMMSS.mmm), so newest first
 * is the folder name in descending order.
 */
#include "whirl/report/serve_pages.h"

#include "whirl/report/html_escape.h"

#include <dirent.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SERVE_MAX_RUNS 5000

struct serve_run {
    char *rel;  /* "lin-kv/20260101T000000.000" */
    char *name; /* the last segment, for sorting */
};

static bool is_dir(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode); /* lstat: `latest` is a symlink, skip it */
}

static bool is_run(const char *path)
{
    char p[4500];
    snprintf(p, sizeof p, "%s/history.jsonl", path);
    if (access(p, R_OK) == 0)
        return true;
    snprintf(p, sizeof p, "%s/results.json", path);
    return access(p, R_OK) == 0;
}

static void add_runs(const char *store, const char *rel, int depth, struct serve_run *runs, size_t *n)
{
    char path[4400];
    snprintf(path, sizeof path, "%s%s%s", store, rel[0] ? "/" : "", rel);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) && *n < SERVE_MAX_RUNS) {
        if (e->d_name[0] == '.')
            continue;
        char sub_rel[1024], sub[4400];
        if (snprintf(sub_rel, sizeof sub_rel, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name) >= (int)sizeof sub_rel)
            continue;
        snprintf(sub, sizeof sub, "%s/%s", store, sub_rel);
        if (!is_dir(sub))
            continue;
        if (is_run(sub)) {
            runs[*n].rel = strdup(sub_rel);
            runs[*n].name = strdup(e->d_name);
            if (runs[*n].rel && runs[*n].name)
                (*n)++;
        } else if (depth < 2) {
            add_runs(store, sub_rel, depth + 1, runs, n);
        }
    }
    closedir(d);
}

static int cmp_newest_first(const void *a, const void *b)
{
    const struct serve_run *x = a, *y = b;
    int c = strcmp(y->name, x->name);
    return c ? c : strcmp(x->rel, y->rel);
}

static void url_path(FILE *f, const char *rel)
{
    /* each segment escaped, slashes kept */
    char seg[1024];
    const char *s = rel;
    while (*s) {
        size_t n = strcspn(s, "/");
        snprintf(seg, sizeof seg, "%.*s", (int)n, s);
        fputc('/', f);
        html_url_segment(f, seg);
        s += n;
        if (*s == '/')
            s++;
    }
}

char *serve_runs_page(const char *store, size_t *len)
{
    struct serve_run *runs = calloc(SERVE_MAX_RUNS, sizeof *runs);
    char *out = NULL;
    FILE *f = runs ? open_memstream(&out, len) : NULL;
    if (!f) {
        free(runs);
        return NULL;
    }
    size_t n = 0;
    add_runs(store, "", 1, runs, &n);
    qsort(runs, n, sizeof *runs, cmp_newest_first);
    fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>whirl runs</title><style>"
          "body{font-family:sans-serif;margin:20px}table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}"
          "tr.valid td.v{background:#c9f2d0}tr.invalid td.v{background:#ffc9c9}tr.unknown td.v{background:#ffe3a8}"
          "tr.none td.v{background:#eee}</style></head>\n<body><h1>whirl runs</h1>\n",
          f);
    fprintf(f, "<p>%zu runs in <code>", n);
    html_escape(f, store);
    fputs("</code>, newest first.</p>\n<table id=\"runs\"><tr><th>run</th><th>verdict</th><th>test</th></tr>\n", f);
    for (size_t i = 0; i < n; i++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/%s/results.json", store, runs[i].rel);
        json_t *res = json_load_file(path, 0, NULL);
        json_t *v = json_object_get(res, "valid");
        const char *verdict = json_is_true(v)    ? "valid"
                              : json_is_false(v) ? "invalid"
                              : res && v         ? "unknown"
                                                 : "none";
        fprintf(f, "<tr class=\"run %s\"><td><a href=\"", verdict);
        url_path(f, runs[i].rel);
        fputs("/\">", f);
        html_escape(f, runs[i].name);
        fprintf(f, "</a></td><td class=\"v\">%s</td><td>", verdict);
        const char *slash = strchr(runs[i].rel, '/');
        if (slash)
            fprintf(f, "%.*s", (int)(slash - runs[i].rel), runs[i].rel);
        fputs("</td></tr>\n", f);
        json_decref(res);
        free(runs[i].rel);
        free(runs[i].name);
    }
    fputs("</table></body></html>\n", f);
    fclose(f);
    free(runs);
    return out;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *serve_listing_page(const char *fs_dir, const char *url, size_t *len)
{
    DIR *d = opendir(fs_dir);
    if (!d)
        return NULL;
    char *names[2000];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 2000)
        if (e->d_name[0] != '.')
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    char *out = NULL;
    FILE *f = open_memstream(&out, len);
    if (f) {
        fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>", f);
        html_escape(f, url);
        fputs("</title></head><body style=\"font-family:sans-serif\"><h1>", f);
        html_escape(f, url);
        fputs("</h1><ul><li><a href=\"../\">../</a></li>\n", f);
        for (size_t i = 0; i < n; i++) {
            if (!names[i])
                continue;
            char sub[4400];
            snprintf(sub, sizeof sub, "%s/%s", fs_dir, names[i]);
            struct stat st;
            bool dir = stat(sub, &st) == 0 && S_ISDIR(st.st_mode);
            fputs("<li><a href=\"", f);
            html_url_segment(f, names[i]);
            fputs(dir ? "/\">" : "\">", f);
            html_escape(f, names[i]);
            fputs(dir ? "/</a></li>\n" : "</a></li>\n", f);
        }
        fputs("</ul></body></html>\n", f);
        fclose(f);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    return out;
}
