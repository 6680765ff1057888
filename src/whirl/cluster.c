/* cluster.c - node processes under libuv: spawn, stdin batches, stdout
 * lines, stderr logs, exits. */
#include "whirl/cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sys/stat.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "whirl/net.h"

/* A node that does not read its stdin must not make whirl grow without
 * bound: beyond this backlog, messages to it are dropped (and counted). */
#define NODE_MAX_BACKLOG (64u * 1024 * 1024)

static void on_handle_closed(uv_handle_t *h)
{
    struct whirl_node *node = h->data;
    node->open_handles--;
}

static void close_handle(struct whirl_node *node, uv_handle_t *h)
{
    if (!uv_is_closing(h)) {
        h->data = node;
        uv_close(h, on_handle_closed);
    }
}

static void on_node_exit(uv_process_t *proc, int64_t exit_status, int term_signal)
{
    struct whirl_node *node = proc->data;
    struct whirl_run *run = node->run;
    node->running = false;
    node->exit_status = exit_status;
    node->term_signal = term_signal;
    if (!node->expected_exit) {
        node->crashed = true;
        run->n_crashed++;
        if (term_signal)
            whirl_say(run, "!!! node %s was killed by signal %d (%s) unexpectedly; see %s/node-logs/%s.log",
                      node->id, term_signal, strsignal(term_signal), run->dir, node->id);
        else
            whirl_say(run, "!!! node %s exited unexpectedly with status %lld; see %s/node-logs/%s.log", node->id,
                      (long long)exit_status, run->dir, node->id);
        if (run->phase == WHIRL_PHASE_INIT && !node->init_ok)
            whirl_abort(run, "node %s exited before answering init", node->id);
    }
    close_handle(node, (uv_handle_t *)&node->proc);
    if (node->stdin_open) {
        node->stdin_open = false;
        close_handle(node, (uv_handle_t *)&node->in);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct whirl_node *node = h->data;
    buf->base = node->read_buf;
    buf->len = sizeof node->read_buf;
}

void whirl_node_note_junk(struct whirl_node *node, const char *line, size_t len, const char *why)
{
    node->junk_lines++;
    if (node->junk_lines == 1) {
        snprintf(node->first_junk, sizeof node->first_junk, "%s: %.*s", why, (int)(len > 100 ? 100 : len), line);
        whirl_say(node->run, "!!! node %s wrote a line that is not a valid message (%s): %.*s", node->id, why,
                  (int)(len > 200 ? 200 : len), line);
    }
}

/* Hands every complete line to the network; keeps the partial tail. Lines
 * wholly inside this chunk are passed in place, without a copy. */
static void on_stdout(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct whirl_node *node = s->data;
    if (nread < 0) {
        if (node->carry.len) {
            whirl_node_note_junk(node, node->carry.data, node->carry.len, "unterminated last line");
            node->carry.len = 0;
        }
        uv_read_stop(s);
        close_handle(node, (uv_handle_t *)s);
        return;
    }
    const char *p = buf->base, *end = buf->base + nread;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (node->discarding) {
            /* The rest of an overlong line, already reported. */
            if (!nl)
                return;
            node->discarding = false;
            p = nl + 1;
            continue;
        }
        if (!nl) {
            if (node->carry.len + (size_t)(end - p) > WHIRL_MAX_LINE) {
                if (node->carry.len)
                    whirl_node_note_junk(node, node->carry.data, node->carry.len, "line longer than 16 MiB");
                else
                    whirl_node_note_junk(node, p, (size_t)(end - p), "line longer than 16 MiB");
                node->carry.len = 0;
                node->discarding = true;
            } else if (whirl_buf_append(&node->carry, p, (size_t)(end - p)) != 0) {
                whirl_abort(node->run, "out of memory reading %s", node->id);
            }
            return;
        }
        node->lines_out++;
        if (node->carry.len) {
            if (whirl_buf_append(&node->carry, p, (size_t)(nl - p)) != 0) {
                whirl_abort(node->run, "out of memory reading %s", node->id);
                return;
            }
            whirl_net_from_node(node->run, node, node->carry.data, node->carry.len);
            node->carry.len = 0;
        } else {
            whirl_net_from_node(node->run, node, p, (size_t)(nl - p));
        }
        p = nl + 1;
    }
}

/* --log-stderr: keep the log file and echo complete lines to the console. */
static void on_stderr(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct whirl_node *node = s->data;
    if (nread < 0) {
        uv_read_stop(s);
        close_handle(node, (uv_handle_t *)s);
        return;
    }
    if (node->log_fd >= 0 && write(node->log_fd, buf->base, (size_t)nread) < 0) {
        close(node->log_fd);
        node->log_fd = -1;
    }
    const char *p = buf->base, *end = buf->base + nread;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) {
            if (node->errcarry.len < 65536)
                whirl_buf_append(&node->errcarry, p, (size_t)(end - p));
            return;
        }
        if (node->errcarry.len) {
            whirl_buf_append(&node->errcarry, p, (size_t)(nl - p));
            whirl_say(node->run, "%s: %.*s", node->id, (int)node->errcarry.len, node->errcarry.data);
            node->errcarry.len = 0;
        } else {
            whirl_say(node->run, "%s: %.*s", node->id, (int)(nl - p), p);
        }
        p = nl + 1;
    }
}

int whirl_node_spawn(struct whirl_node *node)
{
    struct whirl_run *run = node->run;
    uv_pipe_init(run->loop, &node->in, 0);
    uv_pipe_init(run->loop, &node->out, 0);
    node->in.data = node->out.data = node;
    node->open_handles += 2;
    bool err_pipe = run->opts->log_stderr || node->log_fd < 0;
    if (err_pipe) {
        uv_pipe_init(run->loop, &node->err, 0);
        node->err.data = node;
        node->open_handles++;
    }
    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    stdio[0].data.stream = (uv_stream_t *)&node->in;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&node->out;
    if (err_pipe) {
        stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
        stdio[2].data.stream = (uv_stream_t *)&node->err;
    } else {
        stdio[2].flags = UV_INHERIT_FD;
        stdio[2].data.fd = node->log_fd;
    }
    uv_process_options_t po;
    memset(&po, 0, sizeof po);
    po.file = run->opts->bin;
    po.args = node->args;
    po.exit_cb = on_node_exit;
    po.stdio = stdio;
    po.stdio_count = 3;
    node->proc.data = node;
    node->expected_exit = false;
    int rc = uv_spawn(run->loop, &node->proc, &po);
    if (rc != 0) {
        close_handle(node, (uv_handle_t *)&node->in);
        close_handle(node, (uv_handle_t *)&node->out);
        if (err_pipe)
            close_handle(node, (uv_handle_t *)&node->err);
        /* uv_spawn initialised the process handle even on failure. */
        node->open_handles++;
        close_handle(node, (uv_handle_t *)&node->proc);
        return rc;
    }
    node->open_handles++;
    node->running = true;
    node->stdin_open = true;
    node->init_ok = false;
    node->carry.len = 0;
    node->discarding = false;
    uv_read_start((uv_stream_t *)&node->out, on_alloc, on_stdout);
    if (err_pipe)
        uv_read_start((uv_stream_t *)&node->err, on_alloc, on_stderr);
    return 0;
}

/* Copies the node argv, replacing {data} by the node's data folder, which
 * is created when an argument uses it or the kill nemesis may restart. */
static int node_make_args(struct whirl_node *node)
{
    struct whirl_run *run = node->run;
    char **src = run->opts->bin_args;
    int n = 0;
    while (src[n])
        n++;
    node->args = calloc((size_t)n + 1, sizeof *node->args);
    if (!node->args)
        return -1;
    char *abs_dir = realpath(run->dir, NULL);
    snprintf(node->data_dir, sizeof node->data_dir, "%s/data/%s", abs_dir ? abs_dir : run->dir, node->id);
    free(abs_dir);
    bool used = (run->opts->nemesis & WHIRL_NEMESIS_KILL) != 0;
    for (int i = 0; i < n; i++) {
        const char *a = src[i];
        const char *at = i > 0 ? strstr(a, WHIRL_DATA_PLACEHOLDER) : NULL;
        if (!at) {
            node->args[i] = strdup(a);
        } else {
            size_t pre = (size_t)(at - a), dl = strlen(node->data_dir);
            const char *post = at + strlen(WHIRL_DATA_PLACEHOLDER);
            node->args[i] = malloc(pre + dl + strlen(post) + 1);
            if (node->args[i])
                sprintf(node->args[i], "%.*s%s%s", (int)pre, a, node->data_dir, post);
            used = true;
        }
        if (!node->args[i])
            return -1;
    }
    if (used) {
        char parent[4300];
        snprintf(parent, sizeof parent, "%s/data", run->dir);
        if ((mkdir(parent, 0755) != 0 && errno != EEXIST) || (mkdir(node->data_dir, 0755) != 0 && errno != EEXIST))
            return -1;
    }
    return 0;
}

int whirl_node_send_init(struct whirl_node *node)
{
    struct whirl_run *run = node->run;
    json_t *ids = json_array();
    for (int i = 0; i < run->n_nodes; i++)
        json_array_append_new(ids, json_string(run->nodes[i].id));
    json_t *msg = json_pack("{s:s, s:s, s:{s:s, s:i, s:s, s:o}}", "src", "c0", "dest", node->id, "body", "type",
                            "init", "msg_id", 1, "node_id", node->id, "node_ids", ids);
    char *line = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    int rc = line ? whirl_node_send(node, line, strlen(line)) : -1;
    free(line);
    json_decref(msg);
    return rc;
}

/* A restarted node must answer init like a fresh one; one that does not is
 * a finding, not a silent gap in service. */
static void on_restart_init_deadline(void *ctx, void *p, uint64_t restart)
{
    struct whirl_run *run = ctx;
    struct whirl_node *node = p;
    if (node->restarts != restart || node->init_ok || !node->running)
        return;
    node->restart_inits_missed++;
    whirl_say(run, "!!! node %s did not answer init within %g s of its restart", node->id, run->opts->init_timeout_s);
}

int whirl_node_restart(struct whirl_node *node)
{
    if (node->running)
        return 0;
    if (node->open_handles > 0) {
        close_handle(node, (uv_handle_t *)&node->out);
        if (node->err.type == UV_NAMED_PIPE)
            close_handle(node, (uv_handle_t *)&node->err);
        return UV_EAGAIN;
    }
    memset(&node->proc, 0, sizeof node->proc);
    memset(&node->in, 0, sizeof node->in);
    memset(&node->out, 0, sizeof node->out);
    memset(&node->err, 0, sizeof node->err);
    node->outq.len = 0;
    node->inflight.len = 0;
    node->writing = false;
    node->errcarry.len = 0;
    if (node->log_fd >= 0) {
        char mark[128];
        int len = snprintf(mark, sizeof mark, "--- whirl: restarting %s at %.3f s\n", node->id,
                           (double)whirl_now(node->run) / 1e9);
        if (write(node->log_fd, mark, (size_t)len) < 0) {
            /* the log is best effort */
        }
    }
    int rc = whirl_node_spawn(node);
    if (rc != 0)
        return rc;
    node->restarts++;
    whirl_at(node->run, whirl_now(node->run) + (uint64_t)(node->run->opts->init_timeout_s * 1e9),
             on_restart_init_deadline, node, node->restarts);
    return whirl_node_send_init(node) == 0 ? 0 : UV_ENOMEM;
}

/* Whether some node argument (after the binary) holds {data}. */
static bool args_use_data(const struct whirl_opts *o)
{
    for (int i = 1; o->bin_args[0] && o->bin_args[i]; i++)
        if (strstr(o->bin_args[i], WHIRL_DATA_PLACEHOLDER))
            return true;
    return false;
}

int whirl_cluster_start(struct whirl_run *run)
{
    int n = run->opts->node_count;
    /* Without a folder that outlives the process, a killed node restarts
     * with nothing, and the final reads report what it had as lost. */
    if ((run->opts->nemesis & WHIRL_NEMESIS_KILL) && !args_use_data(run->opts))
        whirl_say(run, "whirl: warning: the kill nemesis restarts nodes, but no node argument holds {data}: a killed "
                       "node comes back empty unless it keeps its state elsewhere, and the writes it acknowledged "
                       "will be reported lost (e.g. --bin build/raftkv -- --data-dir {data})");
    run->nodes = calloc((size_t)n, sizeof *run->nodes);
    run->dirty = calloc((size_t)n, sizeof *run->dirty);
    if (!run->nodes || !run->dirty) {
        whirl_abort(run, "out of memory");
        return -1;
    }
    run->n_nodes = n;
    for (int i = 0; i < n; i++) {
        struct whirl_node *node = &run->nodes[i];
        node->run = run;
        node->index = i;
        node->log_fd = -1;
        snprintf(node->id, sizeof node->id, "n%d", i);
    }
    for (int i = 0; i < n; i++) {
        struct whirl_node *node = &run->nodes[i];
        if (node_make_args(node) != 0) {
            whirl_abort(run, "cannot prepare the arguments or data folder of %s", node->id);
            return -1;
        }
    }
    for (int i = 0; i < n; i++) {
        struct whirl_node *node = &run->nodes[i];
        char path[4200];
        snprintf(path, sizeof path, "%s/node-logs/%s.log", run->dir, node->id);
        node->log_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (node->log_fd < 0) {
            whirl_abort(run, "cannot create %s: %s", path, strerror(errno));
            return -1;
        }
        int rc = whirl_node_spawn(node);
        if (rc != 0) {
            whirl_abort(run, "cannot start node %s (%s): %s", node->id, run->opts->bin, uv_strerror(rc));
            return -1;
        }
    }
    return 0;
}

int whirl_node_send(struct whirl_node *node, const char *line, size_t len)
{
    if (!node->running || !node->stdin_open || node->outq.len + len > NODE_MAX_BACKLOG)
        return -1;
    if (whirl_buf_reserve(&node->outq, len + 1) != 0)
        return -1;
    memcpy(node->outq.data + node->outq.len, line, len);
    node->outq.data[node->outq.len + len] = '\n';
    node->outq.len += len + 1;
    if (!node->dirty) {
        node->dirty = true;
        node->run->dirty[node->run->n_dirty++] = node->index;
    }
    return 0;
}

static void start_write(struct whirl_node *node);

static void on_written(uv_write_t *req, int status)
{
    struct whirl_node *node = req->data;
    node->writing = false;
    node->inflight.len = 0;
    if (status < 0) {
        /* The node closed its stdin or died: what was queued cannot arrive. */
        node->outq.len = 0;
        if (node->stdin_open) {
            node->stdin_open = false;
            close_handle(node, (uv_handle_t *)&node->in);
        }
        return;
    }
    if (node->outq.len)
        start_write(node);
}

static void start_write(struct whirl_node *node)
{
    if (node->writing || !node->outq.len || !node->stdin_open)
        return;
    struct whirl_buf t = node->inflight;
    node->inflight = node->outq;
    node->outq = t;
    node->outq.len = 0;
    uv_buf_t b = uv_buf_init(node->inflight.data, (unsigned)node->inflight.len);
    node->wreq.data = node;
    node->writing = true;
    int rc = uv_write(&node->wreq, (uv_stream_t *)&node->in, &b, 1, on_written);
    if (rc != 0) {
        node->writing = false;
        node->inflight.len = 0;
    }
}

void whirl_cluster_flush(struct whirl_run *run)
{
    for (int i = 0; i < run->n_dirty; i++) {
        struct whirl_node *node = &run->nodes[run->dirty[i]];
        node->dirty = false;
        start_write(node);
    }
    run->n_dirty = 0;
}

void whirl_node_signal(struct whirl_node *node, int signum, int expected)
{
    if (!node->running)
        return;
    if (expected)
        node->expected_exit = true;
    uv_process_kill(&node->proc, signum);
}

void whirl_cluster_close_stdin(struct whirl_run *run)
{
    for (int i = 0; i < run->n_nodes; i++) {
        struct whirl_node *node = &run->nodes[i];
        node->expected_exit = true;
        if (node->stdin_open) {
            node->stdin_open = false;
            close_handle(node, (uv_handle_t *)&node->in);
        }
    }
}

int whirl_cluster_running(const struct whirl_run *run)
{
    int n = 0;
    for (int i = 0; i < run->n_nodes; i++)
        n += run->nodes[i].running;
    return n;
}

void whirl_cluster_close(struct whirl_run *run)
{
    for (int i = 0; i < run->n_nodes; i++) {
        struct whirl_node *node = &run->nodes[i];
        if (node->running)
            whirl_node_signal(node, SIGKILL, 1);
        else if (node->open_handles > 0)
            close_handle(node, (uv_handle_t *)&node->proc);
        if (node->stdin_open) {
            node->stdin_open = false;
            close_handle(node, (uv_handle_t *)&node->in);
        }
        /* A node's own children may hold its stdout open past its exit. */
        if (node->out.type == UV_NAMED_PIPE)
            close_handle(node, (uv_handle_t *)&node->out);
        if (node->err.type == UV_NAMED_PIPE)
            close_handle(node, (uv_handle_t *)&node->err);
    }
}

void whirl_cluster_free(struct whirl_run *run)
{
    for (int i = 0; i < run->n_nodes; i++) {
        struct whirl_node *node = &run->nodes[i];
        whirl_buf_free(&node->carry);
        whirl_buf_free(&node->errcarry);
        whirl_buf_free(&node->outq);
        whirl_buf_free(&node->inflight);
        if (node->log_fd >= 0)
            close(node->log_fd);
        for (int a = 0; node->args && node->args[a]; a++)
            free(node->args[a]);
        free(node->args);
    }
    free(run->nodes);
    free(run->dirty);
    run->nodes = NULL;
    run->dirty = NULL;
}
