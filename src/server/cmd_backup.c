/* cmd_backup.c - RAFTKV.BACKUP, the server's side of `raftkv backup`
 * (backup_cmd.c): a linearizable image of the whole state machine, taken by
 * the leader and read back by the client in bounded chunks.
 *
 *   RAFTKV.BACKUP START           -> [id, ID, bytes, N, index, I, term, T]
 *   RAFTKV.BACKUP READ ID OFF LEN -> the image's bytes [OFF, OFF+LEN) (fewer
 *                                    at its end, "" past it); LEN <= 4 MiB
 *   RAFTKV.BACKUP END ID          -> +OK (the image is dropped)
 *   RAFTKV.BACKUP STATUS          -> one [id, ID, state, S, bytes, N] per image
 *                                    of this member (S confirming, writing or
 *                                    ready; N the bytes written so far)
 *
 * STATUS lets raftkv backup, while START waits for a large image, see it
 * grow (on a second connection: START holds its own), so its timeout is
 * one of no progress rather than of the whole write.
 *
 * START is answered by the leader only (a follower says `-ERR not leader`
 * and names the leader it knows; raftkv backup then tries its next
 * address). It first reads through the replica as GET does (ReadIndex: a
 * quorum round confirms leadership, and the answer comes once this member
 * has applied up to the read index), so the map, when the answer arrives,
 * holds every write acknowledged before START was sent. At that instant a
 * forked child (as bgsave.c's) writes the map in the snapshot format
 * (snap_format.h: header, CRC'd blocks, trailer) to an unlinked temporary
 * file in the data directory (TMPDIR for --in-memory); the loop goes on
 * serving meanwhile and answers START when the child is done. With
 * --snapshot-method walk there is no child: the loop writes the image
 * itself from a point-in-time walk of the map (backup_walk.h), as such a
 * member writes its snapshots, and answers START once the file is complete
 * and synced. One walk of the map runs at a time (map_walk.h): a backup
 * that finds one running (a snapshot's, or another backup's) forks its
 * image instead, and a walk that gives up by itself (its pre-images past
 * --snapshot-walk-max-bytes, a re-key, the map replaced or detached) is
 * followed by a child writing the map as it is then (every write
 * acknowledged before START is still in it); a periodic snapshot due while
 * a backup walks waits for it (tried again each second). READs are
 * pread from that file, so the leader never holds the image in memory; the
 * client paces them. An image belongs to the connection that started it
 * and goes with it (END, or the connection's close), and at most
 * --max-backups are kept at once. The image keeps the old cluster id:
 * `raftkv restore` gives the new cluster its own. It holds no map hash key
 * (KV_SNAP_NO_MAP_KEY: the key is the cluster's secret, map.h, and the
 * image crosses the client port): the restored cluster's first leader
 * draws a new one.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kv/map.h"
#include "kv/snapshot_walk.h"
#include "server/backup_walk.h"
#include "server/commands.h"
#include "server/server_internal.h"

#define BACKUP_MAX_CHUNK (4u << 20)
/* The key the confirming read asks about: its answer does not matter. */
#define BACKUP_READ_KEY "raftkv:backup"

enum backup_state { BK_CONFIRMING, BK_WRITING, BK_READY };

struct backup {
    struct backup *next;
    struct server *s;
    struct client *owner;
    uint64_t id;
    enum backup_state state;
    uint64_t op_id;         /* BK_CONFIRMING: the read's id at the replica */
    struct client_req *req; /* START, waiting for its answer */
    int fd;                 /* the image (an unlinked file) */
    pid_t pid;              /* BK_WRITING: the child */
    struct backup_walk *walk; /* BK_WRITING: or the loop's walk */
    bool deferred_snapshot; /* a snapshot waited for this walk (logged) */
    int pipe_fd;
    uv_poll_t *poll;
    uint64_t index, term, bytes;
    uint64_t started_ms;
};

static void on_poll_closed(uv_handle_t *h)
{
    free(h);
}

static void stop_child(struct backup *b)
{
    if (b->poll) {
        uv_close((uv_handle_t *)b->poll, on_poll_closed);
        b->poll = NULL;
    }
    if (b->pipe_fd >= 0)
        close(b->pipe_fd);
    b->pipe_fd = -1;
    if (b->pid > 0) {
        kill(b->pid, SIGKILL);
        while (waitpid(b->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        kv_map_snapshot_child(false);
    }
    b->pid = 0;
}

/* Answer START (if still waiting) with an error, or with the image. */
static void answer(struct backup *b, const char *err)
{
    struct client_req *r = b->req;
    if (!r)
        return;
    b->req = NULL;
    if (err) {
        resp_write_error(&r->reply, err);
    } else {
        resp_write_array_len(&r->reply, 8);
        resp_write_bulk(&r->reply, "id", 2);
        resp_write_int(&r->reply, (int64_t)b->id);
        resp_write_bulk(&r->reply, "bytes", 5);
        resp_write_int(&r->reply, (int64_t)b->bytes);
        resp_write_bulk(&r->reply, "index", 5);
        resp_write_int(&r->reply, (int64_t)b->index);
        resp_write_bulk(&r->reply, "term", 4);
        resp_write_int(&r->reply, (int64_t)b->term);
    }
    client_req_done(r);
}

static void backup_free(struct backup *b)
{
    struct backup **p = &b->s->backups;
    while (*p && *p != b)
        p = &(*p)->next;
    if (*p)
        *p = b->next;
    stop_child(b);
    backup_walk_free(b->walk);
    b->walk = NULL;
    answer(b, "ERR backup abandoned");
    if (b->fd >= 0)
        close(b->fd);
    free(b);
}

static void fail(struct backup *b, const char *why)
{
    char msg[300];
    snprintf(msg, sizeof msg, "ERR backup failed: %s", why);
    server_log(SLOG_WARN, "backup_failed", "id=%" PRIu64 " reason=\"%s\"", b->id, why);
    answer(b, msg);
    backup_free(b);
}

static size_t count(const struct server *s)
{
    size_t n = 0;
    for (const struct backup *b = s->backups; b; b = b->next)
        n++;
    return n;
}

/* An unlinked file for the image, on the data directory's disk (it is as
 * large as a snapshot, which fits there), or TMPDIR's in memory. */
static int image_file(const struct server *s, char *err, size_t errlen)
{
    const char *dir = s->opt.in_memory ? getenv("TMPDIR") : s->opt.data_dir;
    if (!dir || !dir[0])
        dir = "/tmp";
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%.*s/backup-XXXXXX", PATH_MAX, dir);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create a file in %.200s: %s", dir, strerror(errno));
        return -1;
    }
    unlink(path);
    return fd;
}

struct child_sink {
    int fd;
    int err;
    uint64_t written, paused_at;
};

/* Test hook (RAFTKV_BACKUP_CHILD_PAUSE_MS, read at START, logged): the
 * child (or the walk's writer) pauses this long after every MiB, so a test
 * sees a slow image grow (raftkv backup's progress timeout). */
static unsigned child_pause_ms;

static int sink_write(void *ctx, const void *data, size_t n)
{
    struct child_sink *k = ctx;
    const char *p = data;
    while (n) {
        ssize_t w = write(k->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            k->err = w < 0 ? errno : EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
        k->written += (uint64_t)w;
    }
    if (child_pause_ms && k->written - k->paused_at >= (1u << 20)) {
        k->paused_at = k->written;
        usleep(child_pause_ms * 1000u);
    }
    return 0;
}

/* The child: as bgsave.c's, it keeps only its two descriptors, dies with
 * its parent, runs nicer, writes the map and reports. */
static void child_main(const struct kv_store *kv, int fd, int out, pid_t parent, uint64_t index,
                       uint64_t term)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(2);
    errno = 0;
    int prio = getpriority(PRIO_PROCESS, 0);
    if (!(prio == -1 && errno))
        setpriority(PRIO_PROCESS, 0, prio + BGSAVE_NICE > 19 ? 19 : prio + BGSAVE_NICE);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    int lo = fd < out ? fd : out, hi = fd < out ? out : fd;
    if (lo > 3)
        close_range(3, (unsigned)lo - 1, 0);
    if (hi > lo + 1)
        close_range((unsigned)lo + 1, (unsigned)hi - 1, 0);
    close_range((unsigned)hi + 1, ~0u, 0);
    struct child_sink k = {.fd = fd};
    int res[2] = {0, 0};
    if (kv_snapshot_write_flags(kv, index, term, KV_SNAP_NO_MAP_KEY, sink_write, &k) != 0) {
        res[0] = -1;
        res[1] = k.err ? k.err : ENOMEM;
    }
    ssize_t n = write(out, res, sizeof res);
    _exit(n == (ssize_t)sizeof res && res[0] == 0 ? 0 : 1);
}

static void ready(struct backup *b, const char *method);

static void on_child(uv_poll_t *p, int status, int events)
{
    (void)events;
    struct backup *b = p->data;
    int res[2] = {-1, 0};
    ssize_t n = -1;
    if (status == 0) {
        do
            n = read(b->pipe_fd, res, sizeof res);
        while (n < 0 && errno == EINTR);
        if (n < 0 && errno == EAGAIN)
            return;
    }
    int st = 0;
    pid_t w;
    do
        w = waitpid(b->pid, &st, 0);
    while (w < 0 && errno == EINTR);
    kv_map_snapshot_child(false);
    b->pid = 0;
    stop_child(b);
    char why[200];
    if (n != (ssize_t)sizeof res || res[0] != 0 || w < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        if (n == (ssize_t)sizeof res && res[0] != 0)
            snprintf(why, sizeof why, "writing the image: %s", strerror(res[1]));
        else
            snprintf(why, sizeof why, "the backup process ended without a result");
        fail(b, why);
        return;
    }
    ready(b, "fork");
}

/* The image is of the map as applied now: its index and term. */
static void image_point(struct backup *b)
{
    struct server *s = b->s;
    b->index = replica_applied_index(s->replica);
    b->term = s->storage ? storage_term_at(s->storage, b->index) : 0;
    if (!b->term)
        b->term = replica_term(s->replica);
}

static void ready(struct backup *b, const char *method)
{
    char why[200];
    struct stat sb;
    if (fstat(b->fd, &sb) != 0) {
        snprintf(why, sizeof why, "fstat: %s", strerror(errno));
        fail(b, why);
        return;
    }
    b->bytes = (uint64_t)sb.st_size;
    b->state = BK_READY;
    server_log(SLOG_INFO, "backup_ready",
               "id=%" PRIu64 " index=%" PRIu64 " term=%" PRIu64 " bytes=%" PRIu64 " ms=%" PRIu64
               " method=%s",
               b->id, b->index, b->term, b->bytes, server_now(b->s) - b->started_ms, method);
    answer(b, NULL);
}

/* Fork the writer of the map as it is now. */
static void fork_writer(struct backup *b)
{
    struct server *s = b->s;
    char why[200];
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
        snprintf(why, sizeof why, "pipe: %s", strerror(errno));
        fail(b, why);
        return;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, sizeof why, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        fail(b, why);
        return;
    }
    if (pid == 0)
        child_main(replica_store(s->replica), b->fd, fds[1], parent, b->index, b->term);
    close(fds[1]);
    b->pid = pid;
    kv_map_snapshot_child(true); /* the map spares the pages it shares (map.h) */
    b->pipe_fd = fds[0];
    b->state = BK_WRITING;
    b->poll = malloc(sizeof *b->poll);
    if (!b->poll || uv_poll_init(s->loop, b->poll, b->pipe_fd) != 0) {
        free(b->poll);
        b->poll = NULL;
        fail(b, "uv_poll_init failed");
        return;
    }
    b->poll->data = b;
    uv_poll_start(b->poll, UV_READABLE | UV_DISCONNECT, on_child);
}

static void on_walk_done(void *ctx, int rc, const char *why)
{
    struct backup *b = ctx;
    backup_walk_free(b->walk);
    b->walk = NULL;
    if (rc == 0) {
        ready(b, "walk");
        return;
    }
    if (rc != BACKUP_WALK_GAVE_UP) {
        fail(b, why);
        return;
    }
    /* The walk gave up by itself: a child writes the map as it is now,
     * which holds every write acknowledged before START too. */
    server_log(SLOG_WARN, "backup_walk_gave_up",
               "id=%" PRIu64 " reason=\"%s\" detail=\"a forked child writes the image instead\"",
               b->id, why);
    if (ftruncate(b->fd, 0) != 0) {
        char e[200];
        snprintf(e, sizeof e, "ftruncate: %s", strerror(errno));
        fail(b, e);
        return;
    }
    image_point(b);
    fork_writer(b);
}

/* The confirming read is done: the map holds every write acknowledged
 * before START; begin writing it now, before anything else is applied:
 * by the loop's walk with --snapshot-method walk, else (or when the walk
 * cannot begin) by a forked child. */
static void confirmed(struct backup *b)
{
    struct server *s = b->s;
    image_point(b);
    if (s->opt.snapshot_walk) {
        struct backup_walk_options o = {.loop = s->loop,
                                        .fd = b->fd,
                                        .max_kept_bytes = s->opt.snapshot_walk_max_bytes,
                                        .slice_ns = s->opt.snapshot_walk_slice_ms * 1000000ull,
                                        .pause_ms = child_pause_ms,
                                        .done = on_walk_done,
                                        .ctx = b};
        char why[200];
        /* The walk notes changes in the map, which the loop keeps applying. */
        struct kv_store *kv = (struct kv_store *)replica_store(s->replica);
        b->walk = backup_walk_start(&o, kv, b->index, b->term, why, sizeof why);
        if (b->walk) {
            b->state = BK_WRITING;
            server_log(SLOG_INFO, "backup_writing", "id=%" PRIu64 " index=%" PRIu64 " method=walk",
                       b->id, b->index);
            return;
        }
        server_log(SLOG_INFO, "backup_writing",
                   "id=%" PRIu64 " index=%" PRIu64 " method=fork detail=\"the walk cannot begin: %s\"",
                   b->id, b->index, why);
    }
    fork_writer(b);
}

void backup_store_leaving(struct server *s, struct kv_store *kv)
{
    for (struct backup *b = s->backups; b; b = b->next)
        if (b->walk) {
            kv_snapshot_walk_detach(kv); /* the walk gives up at its next slice */
            return;
        }
}

bool backup_defers_snapshot(struct server *s)
{
    for (struct backup *b = s->backups; b; b = b->next)
        if (b->walk) {
            if (!b->deferred_snapshot)
                server_log(SLOG_INFO, "snapshot_deferred",
                           "backup=%" PRIu64 " detail=\"a backup walks the map; the snapshot "
                           "walks once it is done\"",
                           b->id);
            b->deferred_snapshot = true;
            return true;
        }
    return false;
}

bool backup_op_complete(struct server *s, uint64_t op_id, const struct replica_result *res)
{
    struct backup *b = s->backups;
    while (b && !(b->state == BK_CONFIRMING && b->op_id == op_id))
        b = b->next;
    if (!b)
        return false;
    b->op_id = 0;
    if (res->status != REPLICA_DONE) {
        char why[200];
        snprintf(why, sizeof why, "leadership not confirmed (%s); try again",
                 res->text ? res->text : replica_status_name(res->status));
        fail(b, why);
        return true;
    }
    confirmed(b);
    return true;
}

void backup_client_closed(struct server *s, struct client *c)
{
    for (struct backup *b = s->backups, *next; b; b = next) {
        next = b->next;
        if (b->owner == c)
            backup_free(b);
    }
}

static void start(struct cmd_ctx *x)
{
    struct server *s = x->s;
    struct resp_buf *out = &x->r->reply;
    char msg[300];
    if (replica_role(s->replica) != RAFT_LEADER) {
        int l = replica_leader(s->replica);
        if (l == RAFT_NO_NODE)
            snprintf(msg, sizeof msg, "ERR not leader: no leader is known now; try again");
        else
            snprintf(msg, sizeof msg,
                     "ERR not leader: backups are taken by the leader, %s (peer address %s:%d); "
                     "give raftkv backup its client address",
                     s->opt.names[l], s->opt.peer_host[l], s->opt.peer_port[l]);
        resp_write_error(out, msg);
        return;
    }
    if (s->shutting_down) {
        resp_write_error(out, "ERR backup refused: this member is shutting down");
        return;
    }
    if (count(s) >= s->opt.max_backups) {
        snprintf(msg, sizeof msg, "ERR backup refused: %zu backups are open (--max-backups %zu)", count(s),
                 s->opt.max_backups);
        resp_write_error(out, msg);
        return;
    }
    struct backup *b = calloc(1, sizeof *b);
    if (!b) {
        resp_write_error(out, "ERR out of memory");
        return;
    }
    const char *pause = getenv("RAFTKV_BACKUP_CHILD_PAUSE_MS");
    unsigned pause_ms = pause && *pause ? (unsigned)atoi(pause) : 0;
    if (pause_ms != child_pause_ms && pause_ms)
        server_log(SLOG_WARN, "test_hook", "detail=\"backup writers pause %u ms after every MiB\"", pause_ms);
    child_pause_ms = pause_ms;
    b->s = s;
    b->owner = x->c;
    b->pipe_fd = -1;
    b->started_ms = server_now(s);
    b->fd = image_file(s, msg, sizeof msg);
    if (b->fd < 0) {
        free(b);
        char e[400];
        snprintf(e, sizeof e, "ERR backup failed: %s", msg);
        resp_write_error(out, e);
        return;
    }
    struct kv_command cmd = {.op = KV_EXISTS};
    if (kv_str_set(&cmd.skey, BACKUP_READ_KEY, strlen(BACKUP_READ_KEY)) != 0) {
        close(b->fd);
        free(b);
        resp_write_error(out, "ERR out of memory");
        return;
    }
    b->id = ++s->backup_next_id;
    b->op_id = ++s->next_op_id;
    b->req = x->r;
    b->next = s->backups;
    s->backups = b;
    x->r->deferred = true;
    server_log(SLOG_INFO, "backup_started", "id=%" PRIu64 " client=%" PRIu64, b->id, x->c->id);
    replica_submit(s->replica, b->op_id, &cmd, server_now(s));
    kv_command_release(&cmd);
}

static bool arg_u64(const struct resp_request *q, size_t i, uint64_t *v)
{
    long long n;
    if (!cmd_arg_ll(q, i, &n) || n < 0)
        return false;
    *v = (uint64_t)n;
    return true;
}

/* The connection's image with that id, or NULL after writing why. */
static struct backup *find(struct cmd_ctx *x, size_t arg)
{
    uint64_t id;
    if (!arg_u64(x->q, arg, &id)) {
        resp_write_error(&x->r->reply, "ERR backup id is not an integer");
        return NULL;
    }
    for (struct backup *b = x->s->backups; b; b = b->next)
        if (b->id == id && b->owner == x->c)
            return b;
    resp_write_error(&x->r->reply, "ERR no such backup on this connection");
    return NULL;
}

static void read_chunk(struct cmd_ctx *x)
{
    struct resp_buf *out = &x->r->reply;
    struct backup *b = find(x, 2);
    if (!b)
        return;
    uint64_t off, len;
    if (!arg_u64(x->q, 3, &off) || !arg_u64(x->q, 4, &len) || len == 0 || len > BACKUP_MAX_CHUNK) {
        resp_write_error(out, "ERR offset and length must be integers, the length 1 to 4194304");
        return;
    }
    if (b->state != BK_READY) {
        resp_write_error(out, "ERR backup not ready");
        return;
    }
    if (off >= b->bytes) {
        resp_write_bulk(out, "", 0);
        return;
    }
    if (len > b->bytes - off)
        len = b->bytes - off;
    /* Read straight into the reply: "$len\r\n", the bytes, "\r\n". */
    char head[32];
    int h = snprintf(head, sizeof head, "$%" PRIu64 "\r\n", len);
    size_t start = out->len;
    if (resp_buf_reserve(out, (size_t)h + len + 2) != 0) {
        resp_write_error(out, "ERR out of memory");
        return;
    }
    memcpy(out->data + out->len, head, (size_t)h);
    char *dst = out->data + out->len + h;
    size_t got = 0;
    int err = 0;
    while (got < len) {
        ssize_t n = pread(b->fd, dst + got, len - got, (off_t)(off + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            err = n < 0 ? errno : 0;
            break;
        }
        got += (size_t)n;
    }
    if (got < len) {
        out->len = start;
        char msg[200];
        snprintf(msg, sizeof msg, "ERR backup failed: reading the image: %s", err ? strerror(err) : "short read");
        resp_write_error(out, msg);
        return;
    }
    memcpy(dst + len, "\r\n", 2);
    out->len += (size_t)h + len + 2;
}

static void status(struct cmd_ctx *x)
{
    struct resp_buf *out = &x->r->reply;
    size_t n = 0;
    for (struct backup *b = x->s->backups; b; b = b->next)
        n++;
    resp_write_array_len(out, n);
    for (struct backup *b = x->s->backups; b; b = b->next) {
        uint64_t bytes = b->bytes;
        struct stat sb;
        if (b->state == BK_WRITING && b->fd >= 0 && fstat(b->fd, &sb) == 0)
            bytes = (uint64_t)sb.st_size;
        else if (b->state == BK_CONFIRMING)
            bytes = 0;
        const char *state = b->state == BK_CONFIRMING ? "confirming" : b->state == BK_WRITING ? "writing" : "ready";
        resp_write_array_len(out, 6);
        resp_write_bulk(out, "id", 2);
        resp_write_int(out, (int64_t)b->id);
        resp_write_bulk(out, "state", 5);
        resp_write_bulk(out, state, strlen(state));
        resp_write_bulk(out, "bytes", 5);
        resp_write_int(out, (int64_t)bytes);
    }
}

void cmd_raftkv_backup(struct cmd_ctx *x)
{
    const struct resp_request *q = x->q;
    if (cmd_arg_is(q, 1, "start") && q->argc == 2) {
        start(x);
    } else if (cmd_arg_is(q, 1, "status") && q->argc == 2) {
        status(x);
    } else if (cmd_arg_is(q, 1, "read") && q->argc == 5) {
        read_chunk(x);
    } else if (cmd_arg_is(q, 1, "end") && q->argc == 3) {
        struct backup *b = find(x, 2);
        if (b) {
            server_log(SLOG_INFO, "backup_ended", "id=%" PRIu64, b->id);
            backup_free(b);
            resp_write_simple(&x->r->reply, "OK");
        }
    } else {
        resp_write_error(&x->r->reply,
                         "ERR usage: RAFTKV.BACKUP START | READ id offset length | END id | STATUS");
    }
}
