/* node_loop.c - the node's event loop on libuv, in Redis's order: read all
 * that stdin has, hand each line to the node, then (in the check phase, once
 * per loop iteration) end the batch and write every output line with one
 * write; one timer armed at the node's next deadline; the log's fdatasync
 * on libuv's thread pool. The replica's apply budget is a turn's from the
 * first turn on, and while committed entries wait the loop goes round
 * without sleeping (an idle handle; apply_pace.h), so a restart's committed
 * log tail is applied a turn at a time while input is read between turns.
 * Exits 0 on EOF. */
#include "node/node_loop.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include <unistd.h>

#include "node/node_log.h"
#include "replica/apply_pace.h"
#include "storage/storage.h"

#define NODE_LOOP_MAX_LINE (64u * 1024 * 1024) /* a longer line is dropped */

struct node_loop {
    uv_loop_t *loop;
    uv_pipe_t in_pipe;
    uv_idle_t in_file; /* stdin that is a regular file: read it when idle */
    uv_check_t check;
    uv_prepare_t turn;    /* before each poll: the turn ends */
    uv_idle_t backlog;    /* active while committed entries wait */
    uv_timer_t timer;
    uv_work_t sync_work;
    struct node *node;
    char *line;
    size_t line_len, line_cap;
    bool skipping; /* dropping the rest of an over-long line */
    bool dirty;
    bool eof;
    bool stopped;
    int exit_code;
    int in_fd, out_fd;
};

/* Write all of buf to stdout, waiting while the pipe is full (stdout may be
 * non-blocking when it shares its file description with stdin). */
static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w > 0) {
            p += w;
            len -= (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            poll(&pfd, 1, 100);
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else {
            return -1;
        }
    }
    return 0;
}

static void stop(struct node_loop *l, int code)
{
    l->exit_code = code;
    l->stopped = true;
    uv_stop(l->loop);
}

static void flush_output(struct node_loop *l)
{
    struct outbuf *out = node_output(l->node);
    if (out->oom) {
        node_log(NODE_LOG_ERROR, "out of memory rendering output");
        stop(l, 1);
        return;
    }
    if (out->len > 0 && write_all(l->out_fd, out->data, out->len) != 0) {
        /* The reader is gone: nothing more can be said to anyone. */
        node_log(NODE_LOG_INFO, "stdout closed; exiting");
        stop(l, 0);
    }
    out->len = 0;
}

static void write_output_now(void *ctx)
{
    flush_output(ctx);
}

static void node_loop_on_timer(uv_timer_t *t);

/* The idle callback marks the batch dirty: the check handle after the poll
 * applies the next turn's budget. */
static void on_backlog(uv_idle_t *h)
{
    struct node_loop *l = h->data;
    l->dirty = true;
}

/* Before each poll, the first one too: the turn's apply budget starts
 * afresh for the next, and the replica the init message creates counts a
 * turn's budget from its first flush on (node_turn_end). */
static void on_turn(uv_prepare_t *h)
{
    struct node_loop *l = h->data;
    node_turn_end(l->node);
}

static void arm_timer(struct node_loop *l)
{
    uint64_t d = node_deadline(l->node);
    uint64_t now = uv_now(l->loop);
    struct apply_pace p = apply_pace(node_applied_index(l->node), node_commit_index(l->node), d,
                                     now, UINT64_MAX);
    if (p.keep_turning) {
        if (!uv_is_active((uv_handle_t *)&l->backlog))
            uv_idle_start(&l->backlog, on_backlog);
    } else if (uv_is_active((uv_handle_t *)&l->backlog)) {
        uv_idle_stop(&l->backlog);
    }
    if (d == UINT64_MAX)
        uv_timer_stop(&l->timer);
    else
        uv_timer_start(&l->timer, node_loop_on_timer, p.delay_ms, 0);
}

static void end_batch(struct node_loop *l)
{
    l->dirty = false;
    uint64_t now = uv_now(l->loop);
    node_end_batch(l->node, now);
    flush_output(l);
    if (node_failed(l->node)) {
        stop(l, 1);
        return;
    }
    if (l->eof) {
        stop(l, l->exit_code);
        return;
    }
    arm_timer(l);
}

static void node_loop_on_timer(uv_timer_t *t)
{
    struct node_loop *l = t->data;
    node_tick(l->node, uv_now(l->loop));
    end_batch(l);
}

static void sync_work_run(uv_work_t *w)
{
    storage_sync_job_run(w->data);
}

static void sync_work_done(uv_work_t *w, int status)
{
    (void)status; /* never cancelled */
    struct node_loop *l = w->loop->data;
    node_sync_done(l->node);
    if (l->stopped) {
        flush_output(l);
        return;
    }
    end_batch(l);
}

static int queue_sync(void *ctx, struct storage_sync_job *job)
{
    struct node_loop *l = ctx;
    l->sync_work.data = job;
    return uv_queue_work(l->loop, &l->sync_work, sync_work_run, sync_work_done);
}

static void on_check(uv_check_t *c)
{
    struct node_loop *l = c->data;
    if (l->dirty)
        end_batch(l);
}

/* Split bytes into lines; each complete line goes to the node. */
static void feed(struct node_loop *l, const char *p, size_t len)
{
    uint64_t now = uv_now(l->loop);
    while (len > 0) {
        const char *nl = memchr(p, '\n', len);
        size_t take = nl ? (size_t)(nl - p) : len;
        if (!l->skipping) {
            if (l->line_len == 0 && nl) {
                node_handle_line(l->node, p, take, now); /* the common case: no copy */
            } else if (l->line_len + take > NODE_LOOP_MAX_LINE) {
                node_log(NODE_LOG_WARN, "dropped a line longer than %u bytes",
                         NODE_LOOP_MAX_LINE);
                l->line_len = 0;
                l->skipping = true;
            } else {
                if (l->line_len + take > l->line_cap) {
                    size_t ncap = l->line_cap ? l->line_cap : 4096;
                    while (ncap < l->line_len + take)
                        ncap *= 2;
                    char *b = realloc(l->line, ncap);
                    if (!b) {
                        node_log(NODE_LOG_ERROR, "out of memory for an input line");
                        stop(l, 1);
                        return;
                    }
                    l->line = b;
                    l->line_cap = ncap;
                }
                memcpy(l->line + l->line_len, p, take);
                l->line_len += take;
                if (nl) {
                    node_handle_line(l->node, l->line, l->line_len, now);
                    l->line_len = 0;
                }
            }
        }
        if (!nl)
            break;
        l->skipping = false;
        p = nl + 1;
        len -= take + 1;
    }
    l->dirty = true;
}

static void on_eof(struct node_loop *l)
{
    if (l->line_len > 0 && !l->skipping)
        node_handle_line(l->node, l->line, l->line_len, uv_now(l->loop));
    l->line_len = 0;
    l->eof = true;
    l->dirty = true;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    static char chunk[256 * 1024];
    (void)h;
    buf->base = chunk;
    buf->len = sizeof chunk;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct node_loop *l = s->data;
    if (nread > 0)
        feed(l, buf->base, (size_t)nread);
    else if (nread < 0) {
        if (nread != UV_EOF)
            node_log(NODE_LOG_WARN, "stdin: %s", uv_strerror((int)nread));
        uv_read_stop(s);
        on_eof(l);
    }
}

static void on_idle_file(uv_idle_t *h)
{
    struct node_loop *l = h->data;
    static char chunk[256 * 1024];
    ssize_t r = read(l->in_fd, chunk, sizeof chunk);
    if (r > 0) {
        feed(l, chunk, (size_t)r);
    } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        uv_idle_stop(h);
        on_eof(l);
    }
}

static void close_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

struct node_loop *node_loop_open(struct node *node, uv_loop_t *loop, int in_fd, int out_fd)
{
    struct node_loop *l = calloc(1, sizeof *l);
    if (!l) {
        node_log(NODE_LOG_ERROR, "out of memory");
        return NULL;
    }
    l->node = node;
    l->loop = loop;
    l->in_fd = in_fd;
    l->out_fd = out_fd;
    l->check.data = l->timer.data = l->in_pipe.data = l->in_file.data = l;
    l->turn.data = l->backlog.data = l;
    l->loop->data = l;
    node_set_output_writer(node, write_output_now, l);
    node_set_background_sync(node, queue_sync, l);
    uv_check_init(l->loop, &l->check);
    uv_check_start(&l->check, on_check);
    uv_prepare_init(l->loop, &l->turn);
    uv_prepare_start(&l->turn, on_turn);
    uv_idle_init(l->loop, &l->backlog);
    uv_timer_init(l->loop, &l->timer);
    uv_handle_type kind = uv_guess_handle(in_fd);
    int rc;
    if (kind == UV_FILE) {
        uv_idle_init(l->loop, &l->in_file);
        rc = uv_idle_start(&l->in_file, on_idle_file);
    } else {
        rc = uv_pipe_init(l->loop, &l->in_pipe, 0);
        if (rc == 0)
            rc = uv_pipe_open(&l->in_pipe, in_fd);
        if (rc == 0)
            rc = uv_read_start((uv_stream_t *)&l->in_pipe, on_alloc, on_read);
    }
    if (rc != 0) {
        node_log(NODE_LOG_ERROR, "cannot read stdin: %s", uv_strerror(rc));
        l->exit_code = 1;
        l->stopped = true;
    }
    return l;
}

bool node_loop_stopped(const struct node_loop *l)
{
    return l->stopped;
}

int node_loop_close(struct node_loop *l)
{
    free(l->line);
    uv_walk(l->loop, close_handle, NULL);
    uv_run(l->loop, UV_RUN_DEFAULT);
    int code = l->exit_code;
    free(l);
    return code;
}

int node_loop_run(struct node *node)
{
    uv_loop_t *loop = uv_default_loop();
    struct node_loop *l = node_loop_open(node, loop, 0, 1);
    if (!l)
        return 1;
    if (!l->stopped)
        uv_run(loop, UV_RUN_DEFAULT);
    int code = node_loop_close(l);
    uv_loop_close(loop);
    return code;
}
