/* history_read.c - reading a history file: format detection and the line
 * loop shared by every format.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"

static bool check_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

enum check_format check_format_detect(const char *path, const char *first_line)
{
    if (first_line) {
        const char *p = first_line;
        while (*p == ' ' || *p == '\t' || *p == '[')
            p++;
        if (p[0] == '{' && p[1] == '"')
            return CHECK_FORMAT_JSONL;
        if (p[0] == '{' && (p[1] == ':' || p[1] == ' '))
            return CHECK_FORMAT_EDN;
        if (strstr(first_line, "jepsen.util - ") || strstr(first_line, ":invoke"))
            return CHECK_FORMAT_JEPSEN_LOG;
    }
    if (path) {
        if (check_ends_with(path, ".jsonl") || check_ends_with(path, ".json"))
            return CHECK_FORMAT_JSONL;
        if (check_ends_with(path, ".edn"))
            return CHECK_FORMAT_EDN;
        if (check_ends_with(path, ".log"))
            return CHECK_FORMAT_JEPSEN_LOG;
    }
    return CHECK_FORMAT_AUTO; /* unknown */
}

const char *check_format_name(enum check_format f)
{
    switch (f) {
    case CHECK_FORMAT_JSONL: return "whirl history.jsonl";
    case CHECK_FORMAT_EDN: return "Jepsen history.edn";
    case CHECK_FORMAT_JEPSEN_LOG: return "Jepsen log";
    default: return "unknown format";
    }
}

static bool check_line_blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
            return false;
    return true;
}

int check_history_read_stream(FILE *in, const char *name, enum check_format format, struct check_history *h,
                              char *err, size_t err_len)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t line_no = 0, first_unknown = 0;
    int rc = 0;
    char why[256];
    if (!name)
        name = "history";
    while ((len = getline(&line, &cap, in)) >= 0) {
        line_no++;
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        if (format == CHECK_FORMAT_AUTO) {
            if (check_line_blank(line))
                continue;
            format = check_format_detect(NULL, line);
            if (format == CHECK_FORMAT_AUTO) {
                /* A Jepsen log may open with other log lines: skip them
                 * until an op line says what this is. */
                if (!first_unknown)
                    first_unknown = line_no;
                continue;
            }
            if (first_unknown && format != CHECK_FORMAT_JEPSEN_LOG)
                break;
        }
        if (strlen(line) != (size_t)len) {
            snprintf(err, err_len, "%s:%lld: line holds a NUL byte", name, (long long)line_no);
            rc = CHECK_ERR_PARSE;
            break;
        }
        why[0] = '\0';
        /* Event positions are line numbers: histories are written in the
         * order events were observed, which is all the search needs. */
        int r = format == CHECK_FORMAT_JSONL  ? check_jsonl_line(h, line, line_no, why, sizeof why)
                : format == CHECK_FORMAT_EDN  ? check_edn_line(h, line, line_no, why, sizeof why)
                                              : check_jepsen_log_line(h, line, line_no, why, sizeof why);
        if (r < 0) {
            if (r == CHECK_ERR_NOMEM)
                snprintf(err, err_len, "%s:%lld: out of memory", name, (long long)line_no);
            else
                snprintf(err, err_len, "%s:%lld: %s", name, (long long)line_no, why);
            rc = r;
            break;
        }
    }
    /* Nothing recognisable at all: only a log (by its name) may hold no op. */
    if (rc == 0 && format == CHECK_FORMAT_AUTO && check_format_detect(name, NULL) == CHECK_FORMAT_JEPSEN_LOG)
        format = CHECK_FORMAT_JEPSEN_LOG;
    if (rc == 0 && first_unknown && format != CHECK_FORMAT_JEPSEN_LOG) {
        snprintf(err, err_len, "%s:%lld: not a history this checker reads (whirl jsonl, Jepsen EDN or log)", name,
                 (long long)first_unknown);
        rc = CHECK_ERR_PARSE;
    }
    if (rc == 0 && ferror(in)) {
        snprintf(err, err_len, "%s: read error: %s", name, strerror(errno));
        rc = CHECK_ERR_IO;
    }
    free(line);
    /* An empty file is an empty history: trivially valid. */
    if (rc == 0) {
        rc = check_history_finish(h);
        if (rc == CHECK_ERR_PARSE)
            snprintf(err, err_len, "%s: %s", name, h->model_error);
        else if (rc == CHECK_ERR_NOMEM)
            snprintf(err, err_len, "%s: out of memory", name);
    }
    return rc;
}

int check_history_read(const char *path, enum check_format format, struct check_history *h, char *err,
                       size_t err_len)
{
    FILE *in = fopen(path, "r");
    if (!in) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        return CHECK_ERR_IO;
    }
    int rc = check_history_read_stream(in, path, format, h, err, err_len);
    fclose(in);
    return rc;
}
