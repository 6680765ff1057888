/* bgsave.c - the snapshot child process and its watcher (bgsave.h). */
#include "server/bgsave.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kv/map.h"

struct bgsave_result {
    int rc;  /* 0 ok, -1 failed */
    int err; /* errno of the failure */
};

void bgsave_init(struct bgsave *b, uv_loop_t *loop, struct storage *storage, bgsave_done_fn done,
                 void *ctx)
{
    memset(b, 0, sizeof *b);
    b->loop = loop;
    b->storage = storage;
    b->done = done;
    b->ctx = ctx;
    b->fd = -1;
    b->job.fd = -1;
    b->walk_max_bytes = BGSAVE_WALK_MAX_BYTES_DEFAULT;
    b->walk_slice_ns = BGSAVE_WALK_SLICE_MS_DEFAULT * 1000000ull;
    b->walk_max_slice_ns_limit = BGSAVE_WALK_MAX_SLICE_MS_DEFAULT * 1000000ull;
    b->walk_target_ns = BGSAVE_WALK_TARGET_MS_DEFAULT * 1000000ull;
}

/* Close every descriptor but keep_a and keep_b (stdin/out/err stay). */
static void close_others(int keep_a, int keep_b)
{
    int lo = keep_a < keep_b ? keep_a : keep_b, hi = keep_a < keep_b ? keep_b : keep_a;
    if (lo > 3)
        close_range(3, (unsigned)lo - 1, 0);
    if (hi > lo + 1)
        close_range((unsigned)lo + 1, (unsigned)hi - 1, 0);
    close_range((unsigned)hi + 1, ~0u, 0);
}

/* The child runs at a lower CPU priority than the member (BGSAVE_NICE
 * more), so that on a busy machine the scheduler prefers the event loops,
 * which must heartbeat within an election timeout, over the snapshot, which
 * only has to finish eventually. */
static void lower_priority(void)
{
    errno = 0;
    int now = getpriority(PRIO_PROCESS, 0);
    if (now == -1 && errno != 0)
        now = 0;
    int want = now + BGSAVE_NICE > 19 ? 19 : now + BGSAVE_NICE;
    if (setpriority(PRIO_PROCESS, 0, want) != 0) {
        /* Not fatal: the snapshot is written at the member's priority. */
    }
}

static void child_main(struct bgsave *b, const struct kv_store *kv, int out_fd, pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(2);
    lower_priority();
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    close_others(b->job.fd, out_fd);
    struct bgsave_result res = {0, 0};
    if (b->fail_errno) {
        res.rc = -1;
        res.err = b->fail_errno;
    } else if (kv_snapshot_write(kv, b->job.index, b->job.term, storage_snapshot_job_write,
                                 &b->job) != 0 ||
               storage_snapshot_job_sync(&b->job) != 0) {
        res.rc = -1;
        res.err = b->job.err ? b->job.err : ENOMEM;
    }
    ssize_t n = write(out_fd, &res, sizeof res);
    _exit(n == (ssize_t)sizeof res && res.rc == 0 ? 0 : 1);
}

/* Each child gets its own watcher, freed once closed, so the next snapshot
 * may start at once, before libuv has finished closing this one. */
static void on_closed(uv_handle_t *h)
{
    free(h);
}

static void finish_poll(struct bgsave *b)
{
    if (b->poll && !uv_is_closing((uv_handle_t *)b->poll))
        uv_close((uv_handle_t *)b->poll, on_closed);
    b->poll = NULL;
    if (b->fd >= 0)
        close(b->fd);
    b->fd = -1;
}

/* After the commit (inline or from the thread pool): report it. */
static void commit_finish(struct bgsave *b, int rc)
{
    if (rc == STORAGE_OK) {
        struct storage_stats ss;
        storage_get_stats(b->storage, &ss);
        b->file_bytes = ss.disk_bytes;
    } else if (rc < 0) {
        snprintf(b->why, sizeof b->why, "%s", storage_error(b->storage));
    }
    b->done(b, rc);
}

static void commit_run(uv_work_t *w)
{
    struct bgsave *b = w->data;
    storage_commit_job_run(&b->commit);
}

static void commit_done(uv_work_t *w, int status)
{
    (void)status; /* never cancelled: bgsave_stop waits instead */
    struct bgsave *b = w->data;
    if (!b->committing)
        return; /* bgsave_stop ended it */
    b->committing = false;
    uint64_t t0 = bgsave_now_ns();
    int rc = storage_snapshot_commit_end(b->storage, &b->commit);
    b->commit_loop_ns += bgsave_now_ns() - t0;
    b->commit_ns = b->commit.ns;
    commit_finish(b, rc);
}

static void on_readable(uv_poll_t *p, int status, int events)
{
    (void)events;
    struct bgsave *b = p->data;
    struct bgsave_result res = {-1, 0};
    ssize_t n = -1;
    if (status == 0) {
        do
            n = read(b->fd, &res, sizeof res);
        while (n < 0 && errno == EINTR);
        if (n < 0 && errno == EAGAIN)
            return; /* spurious */
    }
    finish_poll(b);
    /* The child has written its result or is gone (EOF): it exits now. */
    int st = 0;
    pid_t w;
    do
        w = waitpid(b->pid, &st, 0);
    while (w < 0 && errno == EINTR);
    kv_map_snapshot_child(false);
    if (n == (ssize_t)sizeof res && res.rc == 0 && w == b->pid && WIFEXITED(st) &&
        WEXITSTATUS(st) == 0) {
        bgsave_written(b);
        return;
    }
    if (w == b->pid && WIFSIGNALED(st))
        snprintf(b->why, sizeof b->why, "the snapshot process was killed by signal %d",
                 WTERMSIG(st));
    else if (n == (ssize_t)sizeof res && res.rc != 0)
        snprintf(b->why, sizeof b->why, "writing the snapshot failed: %s", strerror(res.err));
    else
        snprintf(b->why, sizeof b->why, "the snapshot process ended without a result");
    bgsave_write_failed(b);
}

void bgsave_written(struct bgsave *b)
{
    b->running = false;
    b->write_ns = bgsave_now_ns() - b->start_ns;
    b->commit_ns = b->commit_loop_ns = 0;
    uint64_t t0 = bgsave_now_ns();
    int rc = storage_snapshot_commit_begin(b->storage, &b->job, &b->commit);
    b->commit_loop_ns = bgsave_now_ns() - t0;
    if (rc == STORAGE_COMMIT_STARTED) {
        b->commit_work.data = b;
        if (uv_queue_work(b->loop, &b->commit_work, commit_run, commit_done) == 0) {
            b->committing = true;
            return;
        }
        storage_commit_job_run(&b->commit); /* no thread to run it on */
        rc = storage_snapshot_commit_end(b->storage, &b->commit);
        b->commit_ns = b->commit.ns;
    }
    commit_finish(b, rc);
}

void bgsave_write_failed(struct bgsave *b)
{
    b->running = false;
    b->write_ns = bgsave_now_ns() - b->start_ns;
    b->commit_ns = b->commit_loop_ns = 0;
    storage_snapshot_abort(b->storage, &b->job);
    b->done(b, BGSAVE_CHILD_FAILED);
}

int bgsave_start(struct bgsave *b, const struct kv_store *kv, raft_index index, raft_term term)
{
    b->why[0] = '\0';
    if (b->running || b->committing) {
        snprintf(b->why, sizeof b->why, "a snapshot is already being written");
        return -1;
    }
    b->walking = b->method == BGSAVE_WALK && !b->walk_gave_up;
    if (b->walking) /* the loop writes it: bgsave_walk.c */
        return bgsave_walk_start(b, (struct kv_store *)kv, index, term);
    b->walk_gave_up = false;
    if (storage_snapshot_begin(b->storage, index, term, &b->job) != STORAGE_OK) {
        snprintf(b->why, sizeof b->why, "%s", storage_error(b->storage));
        return -1;
    }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
        snprintf(b->why, sizeof b->why, "pipe: %s", strerror(errno));
        storage_snapshot_abort(b->storage, &b->job);
        return -1;
    }
    b->start_ns = bgsave_now_ns();
    uint64_t cpu0 = bgsave_thread_cpu_ns();
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(b->why, sizeof b->why, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        storage_snapshot_abort(b->storage, &b->job);
        return -1;
    }
    if (pid == 0)
        child_main(b, kv, fds[1], parent); /* never returns */
    kv_map_snapshot_child(true); /* the map spares the pages it shares (map.h) */
    b->fork_ns = bgsave_now_ns() - b->start_ns;
    b->fork_cpu_ns = bgsave_thread_cpu_ns() - cpu0;
    b->fail_errno = 0;
    close(fds[1]);
    /* The parent needs no descriptor of the file: the child writes it. */
    close(b->job.fd);
    b->job.fd = -1;
    b->pid = pid;
    b->fd = fds[0];
    b->poll = malloc(sizeof *b->poll);
    if (!b->poll || uv_poll_init(b->loop, b->poll, b->fd) != 0) {
        free(b->poll); /* never registered with the loop */
        b->poll = NULL;
        snprintf(b->why, sizeof b->why, "uv_poll_init failed");
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        kv_map_snapshot_child(false);
        close(b->fd);
        b->fd = -1;
        storage_snapshot_abort(b->storage, &b->job);
        return -1;
    }
    b->poll->data = b;
    uv_poll_start(b->poll, UV_READABLE | UV_DISCONNECT, on_readable);
    b->running = true;
    return 0;
}

bool bgsave_busy(const struct bgsave *b)
{
    return b->running || b->committing;
}

void bgsave_stop(struct bgsave *b)
{
    if (b->committing) {
        /* The job may already run on a pool thread (it cannot be taken
         * back): wait for it and end it here; its callback then returns. */
        b->committing = false;
        storage_snapshot_commit_wait(b->storage);
    }
    if (b->running && b->walk) {
        bgsave_walk_stop(b);
    } else if (b->running) {
        kill(b->pid, SIGKILL);
        while (waitpid(b->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        kv_map_snapshot_child(false);
        b->running = false;
        storage_snapshot_abort(b->storage, &b->job);
    }
    finish_poll(b);
    bgsave_walk_release(b);
}
