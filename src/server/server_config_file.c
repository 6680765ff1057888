/* server_config_file.c - the lines of `raftkv serve --config FILE`: one
 * option a line, "key value" or "key = value", keys as the long options
 * without "--", '#' to the end of the line a comment, blank lines ignored;
 * a flag (in-memory, ...) alone or with yes/no. Each line is handed to the
 * options (server_options.c) with "FILE:LINE" for its error messages. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

#define CONFIG_MAX_LINE 8192

int server_config_line_split(char *line, char **key, char **val)
{
    char *hash = strchr(line, '#');
    if (hash)
        *hash = '\0';
    char *p = line;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t len = strlen(p);
    while (len && (p[len - 1] == '\n' || p[len - 1] == '\r' || p[len - 1] == ' ' || p[len - 1] == '\t'))
        p[--len] = '\0';
    if (!*p)
        return 0;
    if (*p == '=' || *p == '-')
        return -1; /* no key, or "--key": keys are written without dashes */
    char *sep = p + strcspn(p, " \t=");
    char *v = sep;
    if (*v == '=') {
        *v++ = '\0';
    } else if (*v) {
        *v++ = '\0';
        while (*v == ' ' || *v == '\t')
            v++;
        if (*v == '=')
            v++;
    }
    while (*v == ' ' || *v == '\t')
        v++;
    for (char *k = p; *k; k++)
        if (*k < 0x21 || *k == 0x7f)
            return -1;
    *key = p;
    *val = v;
    return 1;
}

int server_config_file_read(const char *path, server_config_line_fn fn, void *ctx)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "raftkv serve: cannot read config %s: %s\n", path, strerror(errno));
        return 64;
    }
    char *line = malloc(CONFIG_MAX_LINE);
    if (!line) {
        fclose(f);
        return 64;
    }
    int rc = 0, lineno = 0;
    char where[PATH_MAX + 32];
    while (rc == 0 && fgets(line, CONFIG_MAX_LINE, f)) {
        lineno++;
        snprintf(where, sizeof where, "%s:%d", path, lineno);
        size_t n = strlen(line);
        if (n == CONFIG_MAX_LINE - 1 && line[n - 1] != '\n' && !feof(f)) {
            fprintf(stderr, "raftkv serve: %s: line longer than %d bytes\n", where, CONFIG_MAX_LINE - 2);
            rc = 64;
            break;
        }
        char *key, *val;
        int k = server_config_line_split(line, &key, &val);
        if (k < 0) {
            fprintf(stderr, "raftkv serve: %s: expected 'option value' (the option's name without '--')\n",
                    where);
            rc = 64;
        } else if (k > 0) {
            rc = fn(ctx, key, val, where);
        }
    }
    if (rc == 0 && ferror(f)) {
        fprintf(stderr, "raftkv serve: cannot read config %s: %s\n", path, strerror(errno));
        rc = 64;
    }
    free(line);
    fclose(f);
    return rc;
}
