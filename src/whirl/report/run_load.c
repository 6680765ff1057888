/* report_run_load.c - reads a run folder's history.jsonl and results.json into a
 * struct run: pairs each client invoke with its completion, turns nemesis
 * events into fault periods, and attaches the checker's per-key verdicts.
 *
 * Bad input is skipped line by line (and counted): a report of a damaged run
 * is still worth having.
 */
#include "whirl/report/run.h"

#include "whirl/report/process_map.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const report_run_f_names[RUN_F_COUNT] = {"read", "write", "cas", "other"};
const char *const report_run_outcome_names[RUN_OUTCOME_COUNT] = {"ok", "fail", "info"};
const char *const report_run_verdict_names[4] = {"valid", "invalid", "unknown", "none"};
const char *const report_run_fault_names[RUN_FAULT_COUNT] = {"partition", "kill", "pause", "fault"};

static void set_err(char *err, size_t errlen, const char *what, const char *path)
{
    if (err && errlen)
        snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
}

int report_run_path(char *buf, size_t len, const char *dir, const char *rel)
{
    int n = snprintf(buf, len, "%s/%s", dir, rel);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

char *report_run_json_text(const json_t *v, size_t max_len)
{
    if (!v)
        return NULL;
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s && max_len >= 8 && strlen(s) > max_len)
        memcpy(s + max_len - 3, "...", 4);
    return s;
}

/* ---- growable arrays -------------------------------------------------- */

static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return p;
    size_t c = *cap ? *cap * 2 : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(p, c * size);
    if (!q)
        return NULL;
    *cap = c;
    return q;
}

/* ---- keys ------------------------------------------------------------- */

/* The key's name as the checker and results.json spell it: its canonical
 * compact JSON text (0, "a", [1,2]). */
static char *key_text_of(const json_t *key)
{
    return report_run_json_text(key, 0);
}

/* A string key's folder drops the quotes ("a" -> a) unless the bare text
 * could be mistaken for another key (a number or a JSON literal). */
static bool key_unquotable(const char *text, size_t n)
{
    if (n < 3 || text[0] != '"' || text[n - 1] != '"' || memchr(text + 1, '\\', n - 2))
        return false;
    json_t *bare = json_loadb(text + 1, n - 2, JSON_DECODE_ANY, NULL);
    bool clash = bare != NULL;
    json_decref(bare);
    return !clash;
}

/* A folder name that is safe on any file system and in a URL: letters,
 * digits, '-', '_' and '.' stay, everything else becomes %XX; "." and ".."
 * cannot come out because dots at the start are escaped too. */
char *report_key_dir_of(const char *text)
{
    size_t n = strlen(text);
    if (key_unquotable(text, n)) {
        text++;
        n -= 2;
    }
    if (n > 80)
        n = 80;
    char *d = malloc(n * 3 + 4);
    if (!d)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '_' || (c == '.' && i > 0);
        if (plain) {
            d[o++] = (char)c;
        } else {
            sprintf(d + o, "%%%02X", c);
            o += 3;
        }
    }
    if (o == 0)
        d[o++] = '_';
    d[o] = 0;
    return d;
}

static int key_find_or_add(struct run *run, const char *text)
{
    /* Recent keys are the likeliest: search backwards. */
    for (size_t i = run->n_keys; i-- > 0;)
        if (strcmp(run->keys[i].text, text) == 0)
            return (int)i;
    struct run_key *k = grow(run->keys, &run->cap_keys, run->n_keys + 1, sizeof *k);
    if (!k)
        return -1;
    run->keys = k;
    k = &run->keys[run->n_keys];
    memset(k, 0, sizeof *k);
    k->text = strdup(text);
    k->dir = report_key_dir_of(text);
    k->verdict = RUN_NO_VERDICT;
    k->failed_op_index = -1;
    k->failed_op = -1;
    if (!k->text || !k->dir) {
        free(k->text);
        free(k->dir);
        return -1;
    }
    return (int)run->n_keys++;
}

/* ---- history ---------------------------------------------------------- */

static enum run_f f_of(const char *f)
{
    if (strcmp(f, "read") == 0)
        return RUN_READ;
    if (strcmp(f, "write") == 0)
        return RUN_WRITE;
    if (strcmp(f, "cas") == 0)
        return RUN_CAS;
    return RUN_F_OTHER;
}

static uint64_t time_of(const json_t *ev)
{
    json_t *t = json_object_get(ev, "time");
    double v = json_is_number(t) ? json_number_value(t) : 0;
    /* Clamped so a corrupt time cannot overflow the conversion. */
    return v > 0 ? (uint64_t)(v < REPORT_RUN_MAX_NS ? v : REPORT_RUN_MAX_NS) : 0;
}

static int64_t index_of(const json_t *ev, int64_t fallback)
{
    json_t *i = json_object_get(ev, "index");
    return json_is_integer(i) ? (int64_t)json_integer_value(i) : fallback;
}

/* Nemesis events: "start-X"/"stop-X", "kill"/"restart", "pause"/"resume".
 * One period per fault kind is open at a time; a repeated start (Jepsen logs
 * the invoke and the completion) extends nothing. */
static void nemesis_event(struct run *run, const json_t *ev, bool open[RUN_FAULT_COUNT],
                          size_t open_idx[RUN_FAULT_COUNT])
{
    const char *f = json_string_value(json_object_get(ev, "f"));
    if (!f)
        return;
    int kind = -1;
    bool start = false;
    if (strncmp(f, "start-", 6) == 0 || strncmp(f, "stop-", 5) == 0) {
        start = f[2] == 'a';
        const char *what = f + (start ? 6 : 5);
        kind = strstr(what, "partition") ? RUN_FAULT_PARTITION
               : strstr(what, "kill")    ? RUN_FAULT_KILL
               : strstr(what, "pause")   ? RUN_FAULT_PAUSE
                                         : RUN_FAULT_OTHER;
    } else if (strcmp(f, "kill") == 0 || strcmp(f, "restart") == 0) {
        kind = RUN_FAULT_KILL;
        start = f[0] == 'k';
    } else if (strcmp(f, "pause") == 0 || strcmp(f, "resume") == 0) {
        kind = RUN_FAULT_PAUSE;
        start = f[0] == 'p';
    }
    if (kind < 0)
        return;
    uint64_t t = time_of(ev);
    if (start && !open[kind]) {
        struct run_period *p = grow(run->periods, &run->cap_periods, run->n_periods + 1, sizeof *p);
        if (!p)
            return;
        run->periods = p;
        p = &run->periods[run->n_periods];
        p->fault = (uint8_t)kind;
        p->t0_ns = t;
        p->t1_ns = UINT64_MAX;
        char *v = report_run_json_text(json_object_get(ev, "value"), 60);
        const char *text = json_string_value(json_object_get(ev, "text"));
        snprintf(p->label, sizeof p->label, "%s %s%s%s", f, v ? v : "", text ? " " : "", text ? text : "");
        free(v);
        open[kind] = true;
        open_idx[kind] = run->n_periods++;
    } else if (!start && open[kind]) {
        run->periods[open_idx[kind]].t1_ns = t;
        open[kind] = false;
    }
}

static int client_event(struct run *run, struct process_map *open, const json_t *ev, int64_t process,
                        int64_t line_no)
{
    const char *type = json_string_value(json_object_get(ev, "type"));
    const char *f = json_string_value(json_object_get(ev, "f"));
    if (!type || !f)
        return 1;
    uint64_t t = time_of(ev);
    if (strcmp(type, "invoke") == 0) {
        char *kt = key_text_of(json_object_get(ev, "key") ? json_object_get(ev, "key") : json_null());
        int k = kt ? key_find_or_add(run, kt) : -1;
        free(kt);
        struct run_op *ops = grow(run->ops, &run->cap_ops, run->n_ops + 1, sizeof *ops);
        if (k < 0 || !ops)
            return -1;
        run->ops = ops;
        struct run_op *op = &run->ops[run->n_ops];
        memset(op, 0, sizeof *op);
        op->process = process;
        op->f = (uint8_t)f_of(f);
        op->outcome = RUN_INFO;
        op->key = k;
        op->invoke_index = index_of(ev, line_no);
        op->complete_index = -1;
        op->t0_ns = op->t1_ns = t;
        op->f_name = strdup(f);
        op->request = report_run_json_text(json_object_get(ev, "value") ? json_object_get(ev, "value") : json_null(), 200);
        const char *node = json_string_value(json_object_get(ev, "node"));
        op->node = node ? strdup(node) : NULL;
        run->keys[k].n_ops++;
        /* A second invoke on a process with an open op abandons the first. */
        return process_map_put(open, process, (long)run->n_ops++);
    }
    long i = process_map_get(open, process);
    if (i < 0)
        return 1; /* a completion with no invoke */
    struct run_op *op = &run->ops[i];
    op->completed = true;
    op->outcome = strcmp(type, "ok") == 0 ? RUN_OK : strcmp(type, "fail") == 0 ? RUN_FAIL : RUN_INFO;
    op->complete_index = index_of(ev, line_no);
    op->t1_ns = t >= op->t0_ns ? t : op->t0_ns;
    op->response = report_run_json_text(json_object_get(ev, "value"), 200);
    op->error = report_run_json_text(json_object_get(ev, "error"), 200);
    return process_map_put(open, process, -1);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int collect_processes(struct run *run)
{
    run->processes = malloc((run->n_ops + 1) * sizeof *run->processes);
    if (!run->processes)
        return -1;
    for (size_t i = 0; i < run->n_ops; i++)
        run->processes[i] = run->ops[i].process;
    qsort(run->processes, run->n_ops, sizeof *run->processes, cmp_i64);
    size_t n = 0;
    for (size_t i = 0; i < run->n_ops; i++)
        if (n == 0 || run->processes[n - 1] != run->processes[i])
            run->processes[n++] = run->processes[i];
    run->n_processes = n;
    return 0;
}

int report_run_process_column(const struct run *run, int64_t process)
{
    size_t lo = 0, hi = run->n_processes;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (run->processes[mid] < process)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < run->n_processes && run->processes[lo] == process ? (int)lo : -1;
}

static int load_history(struct run *run, char *err, size_t errlen)
{
    char path[4200];
    if (report_run_path(path, sizeof path, run->dir, "history.jsonl") != 0) {
        snprintf(err, errlen, "run folder name too long");
        return -1;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        set_err(err, errlen, "cannot open", path);
        return -1;
    }
    struct process_map open;
    if (process_map_init(&open) != 0) {
        fclose(f);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    bool fault_open[RUN_FAULT_COUNT] = {0};
    size_t fault_idx[RUN_FAULT_COUNT] = {0};
    char *line = NULL;
    size_t cap = 0;
    int64_t line_no = 0;
    int rc = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *ev = json_loads(line, JSON_DISABLE_EOF_CHECK, NULL);
        if (!json_is_object(ev)) {
            run->skipped_lines += line[0] != '\n';
            json_decref(ev);
            line_no++;
            continue;
        }
        uint64_t t = time_of(ev);
        if (t > run->end_ns)
            run->end_ns = t;
        json_t *p = json_object_get(ev, "process");
        if (json_is_integer(p)) {
            int r = client_event(run, &open, ev, (int64_t)json_integer_value(p), line_no);
            if (r < 0)
                rc = -1;
            run->skipped_lines += r > 0;
        } else {
            nemesis_event(run, ev, fault_open, fault_idx);
        }
        json_decref(ev);
        line_no++;
        if (rc != 0)
            break;
    }
    free(line);
    fclose(f);
    process_map_free(&open);
    for (size_t i = 0; i < run->n_ops; i++)
        if (!run->ops[i].completed)
            run->ops[i].t1_ns = run->end_ns;
    for (size_t i = 0; i < run->n_periods; i++)
        if (run->periods[i].t1_ns == UINT64_MAX)
            run->periods[i].t1_ns = run->end_ns;
    if (rc == 0)
        rc = collect_processes(run);
    if (rc != 0)
        snprintf(err, errlen, "out of memory reading the history");
    return rc;
}

/* ---- results.json ----------------------------------------------------- */

static enum run_verdict verdict_of(const json_t *v)
{
    if (json_is_true(v))
        return RUN_VALID;
    if (json_is_false(v))
        return RUN_INVALID;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strcmp(s, "valid") == 0 || strcmp(s, "true") == 0)
            return RUN_VALID;
        if (strcmp(s, "invalid") == 0 || strcmp(s, "false") == 0)
            return RUN_INVALID;
        return RUN_UNKNOWN;
    }
    return RUN_NO_VERDICT;
}

static char *read_small_file(const char *path, size_t max)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max, f) : 0;
    fclose(f);
    if (buf)
        buf[n] = 0;
    return buf;
}

int report_run_op_of_index(const struct run *run, int64_t index)
{
    for (size_t i = 0; i < run->n_ops; i++)
        if (run->ops[i].invoke_index == index || run->ops[i].complete_index == index)
            return (int)i;
    return -1;
}

static void key_results(struct run *run, struct run_key *k, const json_t *kr)
{
    k->verdict = verdict_of(json_object_get(kr, "valid"));
    json_t *fi = json_object_get(kr, "failed_op_index");
    if (json_is_integer(fi)) {
        k->failed_op_index = (int64_t)json_integer_value(fi);
        k->failed_op = report_run_op_of_index(run, k->failed_op_index);
    }
    json_t *pos = json_object_get(kr, "possible");
    if (json_is_array(pos) && json_array_size(pos) > 0) {
        k->possible = calloc(json_array_size(pos), sizeof *k->possible);
        for (size_t i = 0; k->possible && i < json_array_size(pos); i++) {
            char *s = report_run_json_text(json_array_get(pos, i), 100);
            if (s)
                k->possible[k->n_possible++] = s;
        }
    }
    const char *ex = json_string_value(json_object_get(kr, "explanation"));
    const char *ef = json_string_value(json_object_get(kr, "explanation_file"));
    if (ex) {
        k->explanation = strdup(ex);
    } else if (ef && !strstr(ef, "..") && ef[0] != '/') {
        char path[4400];
        if (report_run_path(path, sizeof path, run->dir, ef) == 0)
            k->explanation = read_small_file(path, 1 << 20);
    }
}

static void load_results(struct run *run)
{
    char path[4200];
    run->verdict = RUN_NO_VERDICT;
    if (report_run_path(path, sizeof path, run->dir, "results.json") != 0)
        return;
    run->results = json_load_file(path, 0, NULL);
    if (!json_is_object(run->results)) {
        json_decref(run->results);
        run->results = NULL;
        return;
    }
    run->verdict = verdict_of(json_object_get(run->results, "valid"));
    if (run->verdict == RUN_NO_VERDICT && json_object_get(run->results, "valid"))
        run->verdict = RUN_UNKNOWN; /* a verdict we cannot read is no proof of anything */
    json_t *keys = json_object_get(run->results, "keys");
    const char *name;
    json_t *kr;
    json_object_foreach(keys, name, kr) {
        int k = key_find_or_add(run, name);
        if (k >= 0 && json_is_object(kr))
            key_results(run, &run->keys[k], kr);
    }
}

static int index_ops_by_key(struct run *run);

int report_run_load(struct run *run, const char *dir, char *err, size_t errlen)
{
    char dummy[8];
    if (!err) {
        err = dummy;
        errlen = sizeof dummy;
    }
    memset(run, 0, sizeof *run);
    if (strlen(dir) >= sizeof run->dir) {
        snprintf(err, errlen, "run folder name too long");
        return -1;
    }
    strcpy(run->dir, dir);
    if (load_history(run, err, errlen) != 0) {
        report_run_free(run);
        return -1;
    }
    load_results(run);
    if (index_ops_by_key(run) != 0) {
        snprintf(err, errlen, "out of memory indexing %s", dir);
        report_run_free(run);
        return -1;
    }
    return 0;
}

/* A counting sort of op indexes by key; ops keep history order within a key. */
static int index_ops_by_key(struct run *run)
{
    run->key_ops = malloc((run->n_ops + 1) * sizeof *run->key_ops);
    run->key_ops_start = calloc(run->n_keys + 2, sizeof *run->key_ops_start);
    if (!run->key_ops || !run->key_ops_start)
        return -1;
    for (size_t i = 0; i < run->n_ops; i++)
        if (run->ops[i].key >= 0 && (size_t)run->ops[i].key < run->n_keys)
            run->key_ops_start[run->ops[i].key + 2]++;
    for (size_t k = 2; k < run->n_keys + 2; k++)
        run->key_ops_start[k] += run->key_ops_start[k - 1];
    for (size_t i = 0; i < run->n_ops; i++)
        if (run->ops[i].key >= 0 && (size_t)run->ops[i].key < run->n_keys)
            run->key_ops[run->key_ops_start[run->ops[i].key + 1]++] = i;
    return 0;
}

size_t *report_run_ops_of_key(const struct run *run, int k, size_t *n)
{
    size_t *idx = malloc((run->n_ops + 1) * sizeof *idx);
    *n = 0;
    if (!idx)
        return NULL;
    if (k < 0) {
        for (size_t i = 0; i < run->n_ops; i++)
            idx[(*n)++] = i;
    } else if ((size_t)k < run->n_keys && run->key_ops_start) {
        *n = run->key_ops_start[k + 1] - run->key_ops_start[k];
        memcpy(idx, run->key_ops + run->key_ops_start[k], *n * sizeof *idx);
    }
    return idx;
}

int report_run_first_invalid_op(const struct run *run)
{
    int best = -1;
    for (size_t k = 0; k < run->n_keys; k++) {
        int op = run->keys[k].failed_op;
        if (run->keys[k].verdict == RUN_INVALID && op >= 0 &&
            (best < 0 || run->ops[op].t0_ns < run->ops[best].t0_ns))
            best = op;
    }
    return best;
}

void report_run_free(struct run *run)
{
    free(run->key_ops);
    free(run->key_ops_start);
    run->key_ops = NULL;
    run->key_ops_start = NULL;
    for (size_t i = 0; i < run->n_ops; i++) {
        struct run_op *op = &run->ops[i];
        free(op->f_name);
        free(op->request);
        free(op->response);
        free(op->error);
        free(op->node);
    }
    for (size_t i = 0; i < run->n_keys; i++) {
        struct run_key *k = &run->keys[i];
        free(k->text);
        free(k->dir);
        for (size_t j = 0; j < k->n_possible; j++)
            free(k->possible[j]);
        free(k->possible);
        free(k->explanation);
    }
    free(run->ops);
    free(run->periods);
    free(run->keys);
    free(run->processes);
    json_decref(run->results);
    memset(run, 0, sizeof *run);
}
