/* snap_transfer.c - both ends of a chunked snapshot transfer (see
 * snap_transfer.h): the leader streaming its snapshot file to a follower,
 * and the follower writing it to its data directory and installing it. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "storage/sio.h"
#include "server/server_internal.h"
#include "storage/crc32c.h"

static uint64_t stall_ms(const struct server *s)
{
    uint64_t t = 4 * s->opt.election_timeout_ms;
    return t > SNAP_XFER_STALL_MS ? t : SNAP_XFER_STALL_MS;
}

_Static_assert((int)SNAP_ACK_GO_ON == (int)PEER_SNAP_GO_ON && (int)SNAP_ACK_DONE == (int)PEER_SNAP_DONE &&
                   (int)SNAP_ACK_REFUSED == (int)PEER_SNAP_REFUSED,
               "snap_stream.h's statuses are the wire's");

static struct snap_stream_config stream_config(const struct server *s)
{
    return (struct snap_stream_config){
        .chunk = PEER_SNAP_CHUNK_MAX, .window = SNAP_XFER_WINDOW, .stall_ms = stall_ms(s)};
}

static int step_level(const struct snap_step *st)
{
    return st->warn ? SLOG_WARN : SLOG_INFO;
}

/* CPU time this process used so far (all threads), in ms. */
static uint64_t cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

static double mb_per_s(uint64_t bytes, uint64_t ms)
{
    return (double)bytes / 1e6 / ((double)(ms ? ms : 1) / 1000.0);
}

void snap_xfer_init(struct server *s)
{
    struct snap_transfers *x = &s->xfer;
    for (int i = 0; i < RAFT_MAX_NODES; i++)
        x->out[i].fd = -1;
    x->in.fd = -1;
    /* Ids differ across restarts of the sender, so an acknowledgement meant
     * for an earlier incarnation's transfer matches nothing. */
    x->next_id = (uv_hrtime() << 8) | (uint64_t)(s->opt.self & 0xff);
}

/* ---- The sender (leader) ------------------------------------------------- */

static void send_end(struct server *s, int peer, int level, const char *why)
{
    struct snap_send *t = &s->xfer.out[peer];
    if (!t->st.active)
        return;
    uint64_t ms = server_now(s) - t->started_ms;
    uint64_t sent = t->st.sent, acked = t->st.acked, size = t->st.size;
    enum snap_send_outcome o = snap_send_end(&t->st, server_now(s));
    if (o == SNAP_SEND_DELIVERED) {
        s->xfer.sent_done++;
        server_log(SLOG_INFO, "snapshot_sent",
                   "peer=%s index=%" PRIu64 " bytes=%" PRIu64 " ms=%" PRIu64 " mb_per_s=%.1f cpu_ms=%" PRIu64,
                   s->opt.names[peer], t->msg.snap_index, size, ms, mb_per_s(size, ms),
                   cpu_ms() - t->started_cpu_ms);
    } else if (o == SNAP_SEND_HAD_IT) {
        server_log(SLOG_INFO, "snapshot_send_ended",
                   "peer=%s index=%" PRIu64 " reason=\"the receiver has it already\"",
                   s->opt.names[peer], t->msg.snap_index);
    } else {
        s->xfer.aborted++;
        server_log(level, "snapshot_send_ended",
                   "peer=%s index=%" PRIu64 " sent=%" PRIu64 " acked=%" PRIu64 " size=%" PRIu64
                   " reason=\"%s\" detail=\"the leader sends it again after an election timeout\"",
                   s->opt.names[peer], t->msg.snap_index, sent, acked, size, why);
    }
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
}

static bool queue_frame(struct server *s, int peer)
{
    return peer_send_frame(s, peer, s->xfer.wbuf.data, s->xfer.wbuf.len);
}

void snap_xfer_send(struct server *s, const struct raft_msg *m)
{
    if (m->to < 0 || m->to >= s->opt.n_nodes || m->to == s->opt.self || !s->storage)
        return;
    struct snap_send *t = &s->xfer.out[m->to];
    struct snap_stream_config cfg = stream_config(s);
    if (!snap_send_wanted(&t->st, &cfg, m->snap_index, m->snap_term, m->term, server_now(s)))
        return; /* on its way, or delivered and being installed */
    send_end(s, m->to, SLOG_INFO, "superseded by a newer snapshot or term");
    if (!peer_link_up(s, m->to))
        return;
    int fd;
    uint64_t size;
    if (storage_snapshot_open(s->storage, m->snap_index, &fd, &size) != STORAGE_OK) {
        server_log_limited(SLOG_WARN, "snapshot_send_failed", "peer=%s index=%" PRIu64 " reason=\"%s\"",
                           s->opt.names[m->to], m->snap_index, storage_error(s->storage));
        return;
    }
    struct peer_snap_offer o = {.id = ++s->xfer.next_id, .size = size, .msg = *m};
    o.msg.entries = NULL;
    o.msg.n_entries = 0;
    o.msg.snap_data = NULL;
    o.msg.snap_len = 0;
    s->xfer.wbuf.len = 0;
    if (size == 0 || peer_encode_snap_offer(&s->xfer.wbuf, &o) != PEER_OK || !queue_frame(s, m->to)) {
        close(fd);
        return;
    }
    uint64_t now = server_now(s);
    snap_send_begin(&t->st, o.id, size, m->snap_index, m->snap_term, m->term, now);
    t->fd = fd;
    t->msg = o.msg;
    t->started_ms = now;
    t->started_cpu_ms = cpu_ms();
    t->link_connects = peer_link_connects(s, m->to);
    server_log(SLOG_INFO, "snapshot_send_started", "peer=%s index=%" PRIu64 " term=%" PRIu64 " bytes=%" PRIu64,
               s->opt.names[m->to], m->snap_index, m->snap_term, size);
}

/* --snapshot-send-mbps: the bytes transfer t may have sent by now (one
 * chunk's burst, then N MB per second since it began). */
static uint64_t rate_allowance(struct server *s, const struct snap_send *t)
{
    uint64_t ms = server_now(s) - t->started_ms;
    return PEER_SNAP_CHUNK_MAX + s->opt.snapshot_send_mbps * 1000 * ms;
}

/* Read and queue the chunks the window, the link's queue and the rate cap allow. */
static void send_chunks(struct server *s, int peer)
{
    struct snap_transfers *x = &s->xfer;
    struct snap_send *t = &x->out[peer];
    if (!x->buf && !(x->buf = malloc(PEER_SNAP_CHUNK_MAX)))
        return;
    struct snap_stream_config cfg = stream_config(s);
    uint64_t off, len;
    while (snap_send_next(&t->st, &cfg, &off, &len)) {
        size_t n = (size_t)len;
        if (s->opt.snapshot_send_mbps && off + n > rate_allowance(s, t))
            return; /* --snapshot-send-mbps: the next loop turn sends on */
        size_t queued = peer_link_queued(s, peer);
        if (queued > 0 && queued + n + 64 > s->opt.peer_queue_bytes)
            return; /* the link drains first */
        size_t got = 0;
        while (got < n) {
            ssize_t r = pread(t->fd, x->buf + got, n - got, (off_t)(off + got));
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                send_end(s, peer, SLOG_ERROR, r < 0 ? strerror(errno) : "snapshot file shorter than offered");
                return;
            }
            got += (size_t)r;
        }
        struct peer_snap_chunk c = {
            .id = t->st.id, .offset = off, .crc = crc32c(x->buf, n), .data = x->buf, .len = n};
        x->wbuf.len = 0;
        if (peer_encode_snap_chunk(&x->wbuf, &c) != PEER_OK || !queue_frame(s, peer)) {
            send_end(s, peer, SLOG_INFO, "link queue refused a chunk");
            return;
        }
        snap_send_sent(&t->st, n);
        x->bytes_sent += n;
    }
}

static void send_ack(struct server *s, int peer, const struct peer_snap_ack *a)
{
    struct snap_send *t = &s->xfer.out[peer];
    struct snap_step st = snap_send_ack(&t->st, a->id, a->offset, a->status, server_now(s));
    if (st.end)
        send_end(s, peer, step_level(&st), st.why);
}

/* ---- The receiver (follower) ---------------------------------------------- */

static void recv_ack(struct server *s, int peer, uint64_t id, uint64_t off, uint8_t status)
{
    struct peer_snap_ack a = {.id = id, .offset = off, .status = status};
    s->xfer.wbuf.len = 0;
    if (peer_encode_snap_ack(&s->xfer.wbuf, &a) == PEER_OK)
        queue_frame(s, peer);
}

static void recv_end(struct server *s, int level, const char *why)
{
    struct snap_recv *t = &s->xfer.in;
    if (t->st.state == SNAP_RECV_IDLE || t->checking)
        return; /* the check's end takes it from here */
    if (why) {
        s->xfer.aborted++;
        server_log(level, "snapshot_receive_ended",
                   "peer=%s index=%" PRIu64 " received=%" PRIu64 " size=%" PRIu64
                   " reason=\"%s\" detail=\"the file is deleted; the leader sends it again\"",
                   s->opt.names[t->st.peer], t->msg.snap_index, t->st.off, t->st.size, why);
    }
    if (t->fd >= 0)
        close(t->fd);
    server_retire_store(s, t->check.prepared);
    if (t->stream) {
        snap_reader_free(t->stream);
        free(t->stream);
    }
    if (s->storage)
        storage_snapshot_recv_abort(s->storage);
    *t = (struct snap_recv){.fd = -1};
}

/* Refuse what a peer sent, logged rate-limited, with a REFUSED ack. */
static void recv_refuse(struct server *s, int peer, uint64_t id, const char *event, const char *why,
                        uint64_t index, uint64_t value)
{
    s->xfer.refused++;
    server_log_limited(SLOG_WARN, event, "peer=%s id=%" PRIu64 " index=%" PRIu64 " value=%" PRIu64 " reason=\"%s\"",
                       s->opt.names[peer], id, index, value, why);
    recv_ack(s, peer, id, 0, PEER_SNAP_REFUSED);
}

static void recv_offer(struct server *s, int peer, struct peer_snap_offer *o)
{
    struct snap_recv *t = &s->xfer.in;
    const struct raft_msg *m = &o->msg;
    if (m->from != peer || m->to != s->opt.self) {
        recv_refuse(s, peer, o->id, "snapshot_offer_refused", "addressed from or to another member",
                    m->snap_index, o->size);
        return;
    }
    enum snap_offer_kind kind = snap_recv_offer(&t->st, peer, o->id);
    if (kind == SNAP_OFFER_DUPLICATE)
        return;
    if (kind == SNAP_OFFER_BUSY) {
        recv_refuse(s, peer, o->id, "snapshot_offer_refused", "still checking the image received before",
                    m->snap_index, o->size);
        return;
    }
    if (!s->storage) {
        recv_refuse(s, peer, o->id, "snapshot_offer_refused", "no data directory", m->snap_index, o->size);
        return;
    }
    if (m->snap_index <= replica_commit_index(s->replica)) {
        /* Nothing to transfer: the core answers that it has it. */
        server_raft_refused(s, peer, m, replica_receive_snapshot_file(s->replica, m, server_now(s)));
        recv_ack(s, peer, o->id, 0, PEER_SNAP_DONE);
        return;
    }
    if (o->size > s->opt.max_snapshot_bytes) {
        recv_refuse(s, peer, o->id, "snapshot_offer_refused", "larger than --max-snapshot-bytes",
                    m->snap_index, o->size);
        return;
    }
    struct statvfs vfs;
    if (statvfs(s->opt.data_dir, &vfs) == 0 &&
        (uint64_t)vfs.f_bavail * vfs.f_frsize < o->size + (64u << 20)) {
        recv_refuse(s, peer, o->id, "snapshot_offer_refused",
                    "not enough free space in the data directory", m->snap_index, o->size);
        return;
    }
    recv_end(s, SLOG_INFO, "superseded by a new offer");
    int fd;
    if (storage_snapshot_recv_begin(s->storage, m->snap_index, &fd) != STORAGE_OK) {
        server_log_limited(SLOG_WARN, "snapshot_offer_refused", "peer=%s index=%" PRIu64 " reason=\"%s\"",
                           s->opt.names[peer], m->snap_index, storage_error(s->storage));
        recv_ack(s, peer, o->id, 0, PEER_SNAP_REFUSED);
        return;
    }
    uint64_t now = server_now(s);
    struct snap_step st = snap_recv_begin(&t->st, peer, o->id, o->size, now);
    t->fd = fd;
    t->msg = *m;
    t->stream = malloc(sizeof *t->stream);
    t->started_ms = now;
    t->started_cpu_ms = cpu_ms();
    if (t->stream)
        snap_reader_init(t->stream, &(struct snap_reader_ops){0}, NULL);
    if (!t->stream) {
        recv_end(s, SLOG_ERROR, "out of memory");
        recv_ack(s, peer, o->id, 0, PEER_SNAP_REFUSED);
        return;
    }
    server_log(SLOG_INFO, "snapshot_receive_started", "peer=%s index=%" PRIu64 " term=%" PRIu64 " bytes=%" PRIu64,
               s->opt.names[peer], m->snap_index, m->snap_term, o->size);
    recv_ack(s, peer, st.ack_id, st.ack_off, st.ack_status);
}


/* On a worker thread: make the file durable, then check every record and
 * build the map from them. */
static int check_feed(struct kv_loader *l, int fd, uint8_t *buf, char *err, size_t errlen)
{
    uint64_t off = 0;
    for (;;) {
        ssize_t r = pread(fd, buf, PEER_SNAP_CHUNK_MAX, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "read back: %s", strerror(errno));
            return -1;
        }
        if (r == 0)
            return 0;
        if (kv_loader_feed(l, buf, (size_t)r) != 0) {
            snprintf(err, errlen, "%s", kv_loader_error(l));
            return -1;
        }
        off += (uint64_t)r;
    }
}

static void check_run(uv_work_t *w)
{
    struct snap_check *c = w->data;
    c->rc = -1;
    if (fdatasync(c->fd) != 0) {
        snprintf(c->err, sizeof c->err, "fdatasync: %s", strerror(errno));
        return;
    }
    struct kv_loader *l = kv_loader_new(true);
    struct kv_store *kv = kv_store_new();
    uint8_t *buf = malloc(PEER_SNAP_CHUNK_MAX);
    if (!l || !kv || !buf)
        snprintf(c->err, sizeof c->err, "out of memory");
    else if (check_feed(l, c->fd, buf, c->err, sizeof c->err) == 0) {
        if (kv_loader_finish(l, kv, &c->index, &c->term) != 0)
            snprintf(c->err, sizeof c->err, "%s", kv_loader_error(l));
        else {
            c->has_cluster_id = kv_loader_cluster_id(l, c->cluster_id);
            c->prepared = kv;
            kv = NULL;
            c->rc = 0;
        }
    }
    free(buf);
    kv_loader_free(l); /* a refused image's partial map goes here, off the loop */
    kv_store_free(kv);
}

/* Back on the loop: hand the core its message if the image checked out. */
static void check_done(uv_work_t *w, int status)
{
    struct server *s = w->loop->data;
    loop_watch_note(&s->loop_watch, LOOP_CB_SNAP_XFER);
    struct snap_recv *t = &s->xfer.in;
    t->checking = false;
    if (status != 0 || s->finished || s->fatal || !s->replica) {
        recv_end(s, SLOG_INFO, "shutdown");
        return;
    }
    int peer = t->st.peer;
    uint8_t ours[CLUSTER_ID_BYTES];
    if (t->check.rc != 0) {
        server_log_limited(SLOG_ERROR, "snapshot_receive_refused", "peer=%s index=%" PRIu64 " reason=\"%s\"",
                           s->opt.names[peer], t->msg.snap_index, t->check.err);
        recv_end(s, SLOG_WARN, "image damaged");
        return;
    }
    if (t->check.index != t->msg.snap_index || t->check.term != t->msg.snap_term) {
        recv_end(s, SLOG_WARN, "image's index or term differs from the offer's");
        return;
    }
    if (replica_cluster_id(s->replica, ours) && t->check.has_cluster_id &&
        memcmp(ours, t->check.cluster_id, sizeof ours) != 0) {
        recv_end(s, SLOG_ERROR, "image of another cluster");
        return;
    }
    close(t->fd);
    t->fd = -1;
    uint64_t now = server_now(s);
    server_log(SLOG_INFO, "snapshot_checked", "peer=%s index=%" PRIu64 " ms=%" PRIu64, s->opt.names[peer],
               t->msg.snap_index, now - t->received_ms);
    struct raft_msg m = t->msg;
    struct kv_store *prepared = t->check.prepared;
    t->check.prepared = NULL; /* the replica's now, installed or retired */
    server_raft_refused(s, peer, &m, replica_receive_snapshot_prepared(s->replica, &m, prepared, now));
    uv_update_time(s->loop);
    server_log(SLOG_INFO, "snapshot_installed", "index=%" PRIu64 " ms=%" PRIu64 " applied=%" PRIu64,
               m.snap_index, server_now(s) - now, replica_applied_index(s->replica));
    recv_end(s, SLOG_INFO, NULL); /* a file the core did not take is deleted */
    server_after_io(s);
}

/* The last chunk is in and its CRCs checked: log the rate, then check
 * every record off the loop. */
static void recv_finish(struct server *s)
{
    struct snap_recv *t = &s->xfer.in;
    uint64_t now = server_now(s);
    uint64_t ms = now - t->started_ms;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    s->xfer.received_done++;
    server_log(SLOG_INFO, "snapshot_received",
               "peer=%s index=%" PRIu64 " bytes=%" PRIu64 " ms=%" PRIu64 " mb_per_s=%.1f cpu_ms=%" PRIu64
               " rss_max_kb=%ld",
               s->opt.names[t->st.peer], t->msg.snap_index, t->st.size, ms, mb_per_s(t->st.size, ms),
               cpu_ms() - t->started_cpu_ms, ru.ru_maxrss);
    if (snap_reader_finish(t->stream) != 0) {
        server_log_limited(SLOG_ERROR, "snapshot_receive_refused", "peer=%s index=%" PRIu64 " reason=\"%s\"",
                           s->opt.names[t->st.peer], t->msg.snap_index, snap_reader_error(t->stream));
        recv_end(s, SLOG_WARN, "image damaged");
        return;
    }
    t->received_ms = now;
    t->check = (struct snap_check){.fd = t->fd};
    t->work.data = &t->check;
    if (uv_queue_work(s->loop, &t->work, check_run, check_done) != 0) {
        recv_end(s, SLOG_ERROR, "cannot queue the check");
        return;
    }
    t->checking = true;
}

static void recv_chunk(struct server *s, int peer, const struct peer_snap_chunk *c)
{
    struct snap_recv *t = &s->xfer.in;
    uint64_t index = t->msg.snap_index;
    bool crc_ok = crc32c(c->data, c->len) == c->crc;
    struct snap_step st =
        snap_recv_chunk(&t->st, peer, c->id, c->offset, c->len, crc_ok, server_now(s));
    if (st.ack && st.ack_status == SNAP_ACK_REFUSED) {
        if (st.end)
            recv_end(s, step_level(&st), st.why);
        recv_refuse(s, peer, st.ack_id, "snapshot_chunk_refused", st.why, st.end ? index : 0,
                    c->offset);
        return;
    }
    if (sio_write_all(NULL, t->fd, c->data, c->len) != 0) {
        struct snap_step e = snap_recv_abort(&t->st, strerror(errno), true);
        recv_end(s, SLOG_ERROR, e.why);
        recv_ack(s, peer, e.ack_id, e.ack_off, e.ack_status);
        return;
    }
    if (snap_reader_feed(t->stream, c->data, c->len) != 0) {
        struct snap_step e = snap_recv_abort(&t->st, "image damaged", true);
        server_log_limited(SLOG_ERROR, "snapshot_receive_refused", "peer=%s index=%" PRIu64 " reason=\"%s\"",
                           s->opt.names[peer], t->msg.snap_index, snap_reader_error(t->stream));
        recv_end(s, SLOG_WARN, e.why);
        recv_ack(s, peer, e.ack_id, e.ack_off, e.ack_status);
        return;
    }
    t->unsynced += c->len;
    s->xfer.bytes_received += c->len;
    if (t->unsynced >= SNAP_XFER_WRITEBACK_BYTES) {
        /* Start writeback now, so the final fdatasync has little left. */
        sync_file_range(t->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
        t->unsynced = 0;
    }
    recv_ack(s, peer, st.ack_id, st.ack_off, st.ack_status);
    if (st.install)
        recv_finish(s); /* the sender is done; the check and install are ours */
}

int snap_xfer_frame(struct server *s, int peer, uint8_t kind, const uint8_t *body, size_t len)
{
    int rc;
    switch (kind) {
    case PEER_FRAME_SNAP_OFFER: {
        struct peer_snap_offer o;
        rc = peer_decode_snap_offer(body, len, s->opt.n_nodes, &o);
        if (rc == PEER_OK && !s->fatal)
            recv_offer(s, peer, &o);
        if (rc == PEER_OK)
            peer_raft_msg_release(&o.msg);
        return rc;
    }
    case PEER_FRAME_SNAP_CHUNK: {
        struct peer_snap_chunk c;
        rc = peer_decode_snap_chunk(body, len, &c);
        if (rc == PEER_OK && !s->fatal)
            recv_chunk(s, peer, &c);
        return rc;
    }
    case PEER_FRAME_SNAP_ACK: {
        struct peer_snap_ack a;
        rc = peer_decode_snap_ack(body, len, &a);
        if (rc == PEER_OK)
            send_ack(s, peer, &a);
        return rc;
    }
    default:
        return PEER_ERR_MALFORMED;
    }
}

void snap_xfer_conn_closed(struct server *s, int peer)
{
    struct snap_step st = snap_recv_peer_gone(&s->xfer.in.st, peer);
    if (st.end)
        recv_end(s, step_level(&st), st.why);
}

void snap_xfer_pump(struct server *s)
{
    uint64_t now = server_now(s);
    struct snap_stream_config cfg = stream_config(s);
    struct snap_recv *in = &s->xfer.in;
    /* This process itself was paused (SIGSTOP, a long stall): the peer
     * gets its time back before anything counts as stalled, since what it
     * sent meanwhile is still unread in our socket. */
    if (s->xfer.last_pump_ms && now - s->xfer.last_pump_ms > 1500) {
        uint64_t gap = now - s->xfer.last_pump_ms;
        uint64_t *p = &in->st.progress_ms;
        *p = *p + gap < now ? *p + gap : now;
        for (int i = 0; i < s->opt.n_nodes; i++) {
            p = &s->xfer.out[i].st.progress_ms;
            *p = *p + gap < now ? *p + gap : now;
        }
    }
    s->xfer.last_pump_ms = now;
    struct snap_step st = snap_recv_tick(&in->st, &cfg, now);
    if (st.end)
        recv_end(s, step_level(&st), st.why);
    bool leading = s->replica && replica_role(s->replica) == RAFT_LEADER;
    for (int i = 0; i < s->opt.n_nodes; i++) {
        struct snap_send *t = &s->xfer.out[i];
        if (!t->st.active)
            continue;
        if (!peer_link_up(s, i) || peer_link_connects(s, i) != t->link_connects)
            send_end(s, i, SLOG_WARN, "link to the peer went down");
        else if (!leading || replica_term(s->replica) != t->msg.term)
            send_end(s, i, SLOG_INFO, "no longer the leader of its term");
        else if ((st = snap_send_tick(&t->st, &cfg, now)).end)
            send_end(s, i, step_level(&st), st.why);
        else
            send_chunks(s, i);
    }
}

void snap_xfer_stop(struct server *s)
{
    for (int i = 0; i < RAFT_MAX_NODES; i++)
        if (s->xfer.out[i].st.active)
            send_end(s, i, SLOG_INFO, "shutdown");
    recv_end(s, SLOG_INFO, "shutdown");
    free(s->xfer.buf);
    s->xfer.buf = NULL;
    peer_wbuf_free(&s->xfer.wbuf);
}
