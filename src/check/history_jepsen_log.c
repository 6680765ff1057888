/* history_jepsen_log.c - reads the op lines of a Jepsen log, as in the
 * checker suite (/work/shared/checker-suite/README.md):
 *     INFO  jepsen.util - 3	:ok	:cas	[1 0]
 * for one register. Lines without "jepsen.util - " are other log output and
 * skipped. Outcomes carry no error codes, so the suite's meanings are mapped
 * onto them: `:fail :cas` failed its comparison (22), `:fail :read` (e.g.
 * :timed-out) tells nothing (0), any other `:fail` did not happen.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/history_internal.h"

#define CHECK_LOG_MARK "jepsen.util - "

/* Copies the next whitespace-separated token of *p into tok. */
static bool check_log_token(const char **p, char *tok, size_t len)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = 0;
    while (s[n] && s[n] != ' ' && s[n] != '\t' && s[n] != '\r' && s[n] != '\n')
        n++;
    if (n == 0 || n >= len)
        return false;
    memcpy(tok, s, n);
    tok[n] = '\0';
    *p = s + n;
    return true;
}

int check_jepsen_log_line(struct check_history *h, const char *line, int64_t position, char *err, size_t err_len)
{
    const char *p = strstr(line, CHECK_LOG_MARK);
    if (!p)
        return 1;
    p += strlen(CHECK_LOG_MARK);
    char process_tok[32], type_tok[32], f_tok[32];
    if (!check_log_token(&p, process_tok, sizeof process_tok)) {
        snprintf(err, err_len, "expected PROCESS TYPE F VALUE after \"%s\"", CHECK_LOG_MARK);
        return CHECK_ERR_PARSE;
    }
    if (process_tok[0] == ':') /* :nemesis */
        return 1;
    char *end;
    errno = 0;
    long long process = strtoll(process_tok, &end, 10);
    if (*end || errno) {
        snprintf(err, err_len, "process \"%s\" is not an integer", process_tok);
        return CHECK_ERR_PARSE;
    }
    if (!check_log_token(&p, type_tok, sizeof type_tok) || !check_log_token(&p, f_tok, sizeof f_tok)) {
        snprintf(err, err_len, "expected TYPE and F after the process");
        return CHECK_ERR_PARSE;
    }
    int type = check_type_from_name(type_tok);
    int f = check_f_from_name(f_tok);
    if (f > LIN_CAS) /* Jepsen's logs are the register's (lin-kv, etcd) */
        f = -1;
    if (type < 0 || f < 0) {
        snprintf(err, err_len, "unknown %s \"%s\"", type < 0 ? "type" : "function", type < 0 ? type_tok : f_tok);
        return CHECK_ERR_PARSE;
    }
    while (*p == ' ' || *p == '\t')
        p++;
    json_t *value = NULL;
    if (*p && *p != '\r' && *p != '\n') {
        const char *rest;
        value = check_edn_parse(p, &rest, err, err_len);
        if (!value)
            return CHECK_ERR_PARSE;
    }
    int64_t error = CHECK_NO_ERROR;
    if (type == CHECK_FAIL)
        error = f == LIN_CAS ? 22 : f == LIN_READ ? 0 : CHECK_NO_ERROR;
    int rc = check_add_parsed(h, process, type, f, NULL, value, NULL, NULL, error, position, position, err, err_len);
    json_decref(value);
    return rc;
}
