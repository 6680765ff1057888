/* rcluster.c - the simulator of rcluster.h: nodes (replica + router + model
 * disk), the event queue of messages, node timers, the connections and
 * their operations, and the checks after every step. */
#include "rcluster.h"

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "kv/kv.h"
#include "replica/replica.h"
#include "replica/snap_stream.h"
#include "router/router.h"
#include "storage/crc32c.h"

#define RC_MAX_NODES 7
#define RC_MAX_CONNS 256
#define RC_MAX_TERMS 4096

/* ---- the model disk: durable as soon as written (no torn writes) ---------- */

struct disk_entry {
    raft_index index;
    raft_term term;
    uint8_t type;
    uint32_t len;
    uint8_t *data;
};

struct disk {
    raft_term term;
    int vote;
    raft_index commit; /* store->save_commit's latest (a restart applies up to it) */
    struct disk_entry *log; /* index snap_index + 1 + i at log[i] */
    size_t n, cap;
    struct raft_entry *restore;
    /* The snapshot (a kv_snapshot image), with background snapshots on. */
    raft_index snap_index;
    raft_term snap_term;
    uint8_t *snap;
    size_t snap_len;
    /* snap-<index>.recv: an image being received in chunks; durable once
     * synced before its install; a crash loses it (the server deletes it
     * at start). */
    uint8_t *recv;
    size_t recv_len, recv_cap;
    raft_index recv_index;
    bool recv_durable;
    /* The last index a sync (or a snapshot, durable at once) covered, and
     * the syncs so far: a node acknowledges no entry past it. */
    raft_index synced;
    uint64_t syncs;
};

static void disk_recv_drop(struct disk *d)
{
    free(d->recv);
    d->recv = NULL;
    d->recv_len = d->recv_cap = 0;
    d->recv_index = 0;
    d->recv_durable = false;
}

/* Write a received chunk at off (a hole before it reads as zeros). */
static void disk_recv_write(struct disk *d, uint64_t off, const uint8_t *data, size_t len)
{
    size_t end = (size_t)off + len;
    if (end > d->recv_cap) {
        size_t cap = d->recv_cap ? d->recv_cap : 256;
        while (cap < end)
            cap *= 2;
        d->recv = realloc(d->recv, cap);
        if (!d->recv)
            abort();
        d->recv_cap = cap;
    }
    if (off > d->recv_len)
        memset(d->recv + d->recv_len, 0, (size_t)off - d->recv_len);
    memcpy(d->recv + off, data, len);
    if (end > d->recv_len)
        d->recv_len = end;
    d->recv_durable = false;
}

static int disk_load(void *impl, struct raft_restore *out)
{
    struct disk *d = impl;
    memset(out, 0, sizeof *out);
    out->term = d->term;
    out->voted_for = d->vote;
    free(d->restore);
    d->restore = calloc(d->n + 1, sizeof *d->restore);
    if (!d->restore)
        return -1;
    for (size_t i = 0; i < d->n; i++)
        d->restore[i] = (struct raft_entry){.index = d->log[i].index, .term = d->log[i].term,
                                            .type = d->log[i].type, .len = d->log[i].len,
                                            .data = d->log[i].data};
    out->entries = d->restore;
    out->n_entries = d->n;
    /* The image is streamed by disk_load_snapshot, as the real store does. */
    out->snap_index = d->snap_index;
    out->snap_term = d->snap_term;
    out->commit = d->commit;
    return 0;
}

static int disk_commit(void *impl, raft_index commit)
{
    struct disk *d = impl;
    if (commit > d->commit)
        d->commit = commit;
    return 0;
}

static int disk_load_snapshot(void *impl, struct kv_store *kv)
{
    struct disk *d = impl;
    uint64_t idx, term;
    if (kv_restore(kv, d->snap, d->snap_len, &idx, &term) != 0 || idx != d->snap_index ||
        term != d->snap_term)
        return -1;
    return 0;
}

static int disk_read_snapshot(void *impl, raft_index index, uint8_t **data, size_t *len)
{
    struct disk *d = impl;
    if (index != d->snap_index || !d->snap)
        return -1;
    *data = malloc(d->snap_len);
    if (!*data)
        return -1;
    memcpy(*data, d->snap, d->snap_len);
    *len = d->snap_len;
    return 0;
}

static int disk_hard_state(void *impl, raft_term term, int vote)
{
    struct disk *d = impl;
    d->term = term;
    d->vote = vote;
    return 0;
}

static int disk_append(void *impl, const struct raft_entry *e, size_t n)
{
    struct disk *d = impl;
    while (n > 0 && e[0].index <= d->snap_index) { /* the snapshot holds them */
        e++;
        n--;
    }
    if (n == 0)
        return 0;
    size_t at = (size_t)(e[0].index - 1 - d->snap_index);
    if (at > d->n)
        return -1;
    for (size_t i = at; i < d->n; i++)
        free(d->log[i].data);
    d->n = at;
    if (d->synced > d->snap_index + at)
        d->synced = d->snap_index + at; /* replaced: what comes is not synced */
    if (d->n + n > d->cap) {
        size_t cap = d->cap ? d->cap : 256;
        while (cap < d->n + n)
            cap *= 2;
        struct disk_entry *l = realloc(d->log, cap * sizeof *l);
        if (!l)
            return -1;
        d->log = l;
        d->cap = cap;
    }
    for (size_t i = 0; i < n; i++) {
        struct disk_entry *s = &d->log[d->n++];
        *s = (struct disk_entry){.index = e[i].index, .term = e[i].term, .type = e[i].type,
                                 .len = e[i].len, .data = NULL};
        if (e[i].len) {
            s->data = malloc(e[i].len);
            if (!s->data)
                return -1;
            memcpy(s->data, e[i].data, e[i].len);
        }
    }
    return 0;
}

/* Install an image at (i, t), durably at once; the log it covers goes (all
 * of it when the log does not hold (i, t): a leader's snapshot). */
static int disk_snapshot(void *impl, raft_index i, raft_term t, const uint8_t *data, size_t len)
{
    struct disk *d = impl;
    if (i <= d->snap_index)
        return 0;
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return -1;
    memcpy(copy, data, len);
    free(d->snap);
    d->snap = copy;
    d->snap_len = len;
    size_t keep_from = d->n; /* drop all */
    if (i <= d->snap_index + d->n && d->log[i - d->snap_index - 1].term == t)
        keep_from = (size_t)(i - d->snap_index);
    for (size_t k = 0; k < keep_from; k++)
        free(d->log[k].data);
    memmove(d->log, d->log + keep_from, (d->n - keep_from) * sizeof *d->log);
    d->n -= keep_from;
    d->snap_index = i;
    d->snap_term = t;
    if (d->synced < i)
        d->synced = i;
    return 0;
}

static int disk_sync(void *impl)
{
    struct disk *d = impl;
    d->synced = d->snap_index + d->n;
    d->syncs++;
    return 0;
}

static void disk_free(struct disk *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->log[i].data);
    free(d->log);
    free(d->restore);
    free(d->snap);
    disk_recv_drop(d);
}

/* ---- state ------------------------------------------------------------------ */

enum msg_kind { MSG_RAFT, MSG_FWD, MSG_ANS, MSG_SNAP };
/* MSG_SNAP's frames (peer_codec.h's 5-7). */
enum snap_frame { SF_OFFER, SF_CHUNK, SF_ACK };

struct msg {
    uint64_t at, seq;
    uint8_t kind;
    int from, to;
    uint32_t from_inc; /* MSG_FWD: the sender's incarnation, echoed by MSG_ANS */
    struct raft_msg raft;
    /* MSG_FWD and MSG_ANS */
    uint64_t rid;  /* the follower router's id */
    uint32_t cop;  /* the client operation */
    raft_term term;
    uint8_t f;
    int key;
    int32_t a, b;
    /* MSG_ANS */
    uint8_t status;
    int code;
    int32_t value;
    /* MSG_SNAP: an offer (raft: the SNAPSHOT message, no image), a chunk
     * (data, crc) or an acknowledgement (off, ack) of transfer xid */
    uint8_t frame, ack;
    bool counted;     /* a chunk's first copy: counted in flight */
    uint64_t xid, size, off;
    uint32_t crc, len;
    uint32_t img_crc; /* an offer: the whole image's CRC (for the checks, not on the wire) */
    uint8_t *data;
};

/* A replica submission: the router's local attempt, or a forward in. */
struct sub {
    bool fwd_in;
    uint64_t rid;
    uint32_t cop;
    int origin;
    uint32_t origin_inc;
    uint8_t f;
};

struct node {
    struct rcluster *c;
    int id;
    bool alive;
    uint32_t inc; /* incarnation: bumped by every restart */
    struct disk disk;
    struct raft_configuration conf; /* its initial configuration, with learners */
    struct replica_log_store seam;
    struct replica *r;
    struct router *rt;
    struct sub *subs;
    size_t n_subs, cap_subs;
    bool resubmitted;
    uint64_t cpu_ns, cpu_reads; /* the fake CPU clock (snap.apply_cpu_ns) */
    uint64_t next_turn_ms;      /* snap.apply_turn_ms: when the next turn begins */
    raft_index applied;
    /* A background snapshot: the image taken when it began (as fork()
     * gives the server's child), durable at done_at. */
    struct {
        bool running;
        raft_index index;
        raft_term term;
        uint8_t *img;
        size_t len;
        uint64_t done_at;
    } bg;
    /* Chunked InstallSnapshot (snap_stream.h): a sender per peer, holding
     * the image it sends (as the server holds the file open), and the
     * receiver, whose file is disk.recv. */
    struct {
        struct snap_sender st;
        uint8_t *img;
        size_t len;
    } out[RC_MAX_NODES];
    struct {
        struct snap_receiver st;
        struct raft_msg msg; /* the offer's (a copy), no image */
        uint32_t img_crc;
        bool checking; /* durable and check under way, done at check_at */
        uint64_t check_at;
    } in;
    uint64_t next_xid; /* drawn at each start: ids differ across incarnations */
};

struct conn {
    int node;
    uint32_t inc;
    bool alive;
    struct router_conn rc;
};

struct cop {
    int conn;
    uint8_t f;
    int key;
    int32_t a, b;
    bool done;
};

struct rcluster {
    int n;
    uint64_t now, steps, seq;
    struct rng g;
    struct rcluster_links links;
    bool cut[RC_MAX_NODES][RC_MAX_NODES];
    uint64_t last_fifo[RC_MAX_NODES][RC_MAX_NODES]; /* latest delivery time of a fwd/ans */
    struct node nodes[RC_MAX_NODES];
    struct msg *heap;
    size_t n_heap, cap_heap;
    struct conn conns[RC_MAX_CONNS];
    int n_conns;
    struct cop *cops;
    size_t n_cops, cap_cops, unfinished;
    int leader_of_term[RC_MAX_TERMS];
    struct rcluster_snapshots snap;
    uint64_t snapshots_done, snapshots_cut;
    uint64_t walks_begun, walks_done; /* KEYS walks of stopped incarnations */
    struct snap_stream_config xcfg;
    struct rng xg; /* the transfers' draws, apart: a run without one draws as before */
    uint64_t last_snap_fifo[RC_MAX_NODES][RC_MAX_NODES];
    /* Chunks of a's current transfer to b on the link (first copies). */
    uint64_t inflight[RC_MAX_NODES][RC_MAX_NODES], inflight_xid[RC_MAX_NODES][RC_MAX_NODES];
    struct rcluster_transfers xfers;
    /* links.chunk_faults hits a transfer in the middle: its snapshot
     * frames are lost until then (both ways). */
    uint64_t snap_silent_until[RC_MAX_NODES][RC_MAX_NODES];
    rcluster_done_fn done;
    void *ctx;
    char error[512];
};

static void fail(struct rcluster *c, const char *fmt, const char *a, long long x, long long y)
{
    if (c->error[0])
        return;
    char what[400];
    snprintf(what, sizeof what, fmt, a, x, y);
    snprintf(c->error, sizeof c->error, "t=%llums step %llu: %s", (unsigned long long)c->now,
             (unsigned long long)c->steps, what);
}

/* store->adopt_snapshot: the received file becomes the snapshot, as
 * disk_snapshot; only a whole image made durable may. */
static int disk_adopt(void *impl, raft_index i, raft_term t)
{
    struct disk *d = impl;
    struct node *nd = (struct node *)((char *)d - offsetof(struct node, disk));
    if (!d->recv || !d->recv_durable || d->recv_index != i) {
        fail(nd->c, "node %s%lld adopted a received snapshot that is not durable (index %lld)", "",
             nd->id, (long long)i);
        return -1;
    }
    int rc = disk_snapshot(d, i, t, d->recv, d->recv_len);
    disk_recv_drop(d);
    return rc;
}

/* ---- the event queue: a binary heap by (at, seq) ---------------------------- */

static bool msg_before(const struct msg *x, const struct msg *y)
{
    return x->at != y->at ? x->at < y->at : x->seq < y->seq;
}

static void heap_push(struct rcluster *c, struct msg *m)
{
    if (c->n_heap == c->cap_heap) {
        c->cap_heap = c->cap_heap ? c->cap_heap * 2 : 1024;
        c->heap = realloc(c->heap, c->cap_heap * sizeof *c->heap);
        if (!c->heap)
            abort();
    }
    m->seq = c->seq++;
    size_t i = c->n_heap++;
    while (i > 0 && msg_before(m, &c->heap[(i - 1) / 2])) {
        c->heap[i] = c->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    c->heap[i] = *m;
}

static struct msg heap_pop(struct rcluster *c)
{
    struct msg top = c->heap[0];
    struct msg last = c->heap[--c->n_heap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const struct msg *best = &last;
        if (l < c->n_heap && msg_before(&c->heap[l], best)) {
            m = l;
            best = &c->heap[l];
        }
        if (r < c->n_heap && msg_before(&c->heap[r], best))
            m = r;
        if (m == i)
            break;
        c->heap[i] = c->heap[m];
        i = m;
    }
    if (c->n_heap)
        c->heap[i] = last;
    return top;
}

static uint64_t latency(struct rcluster *c)
{
    uint64_t span = c->links.latency_max_ms - c->links.latency_min_ms;
    return c->links.latency_min_ms + (span ? rng_below(&c->g, span + 1) : 0);
}

/* A forward or an answer: delivered in order on its link; with
 * links.stream_gaps it may be lost (a drop, or a cut link) while later ones
 * arrive. */
static void send_ordered(struct rcluster *c, struct msg *m)
{
    if (c->links.stream_gaps && (c->cut[m->from][m->to] || rng_double(&c->g) < c->links.drop))
        return;
    uint64_t at = c->now + latency(c);
    /* A stream that stalls (TCP retransmission backoff): this message and
     * every later one on the link wait. */
    if (rng_double(&c->g) < c->links.stall)
        at += 200 + rng_below(&c->g, 800);
    if (at < c->last_fifo[m->from][m->to])
        at = c->last_fifo[m->from][m->to];
    c->last_fifo[m->from][m->to] = at;
    m->at = at;
    heap_push(c, m);
}

/* ---- client operations ------------------------------------------------------ */

static void cop_end(struct rcluster *c, uint32_t id, enum rcluster_outcome outcome, int code,
                    int32_t value)
{
    struct cop *o = &c->cops[id];
    if (o->done) {
        fail(c, "operation %s%lld ended twice", "", (long long)id, 0);
        return;
    }
    o->done = true;
    c->unfinished--;
    struct rcluster_done d = {
        .op = id, .conn = o->conn, .outcome = outcome, .code = code, .value = value};
    c->done(c->ctx, &d);
}

/* The front end's answer for a replica or forward result. */
static void cop_result(struct rcluster *c, uint32_t id, enum replica_status status, int code,
                       int32_t value)
{
    if (status == REPLICA_DONE) {
        if (code == 0)
            cop_end(c, id, RC_OK, 0, value);
        else
            cop_end(c, id, RC_FAIL, code, 0);
    } else if (status == REPLICA_INDEFINITE) {
        cop_end(c, id, RC_INFO, 13, 0);
    } else {
        cop_end(c, id, RC_FAIL, 11, 0);
    }
}

/* A KEYS answer (kv_bulks, kv.h) as rcluster_done.value: a bit per key 0..30,
 * negative if it holds any other key or is malformed. */
static int32_t keys_mask(const struct kv_result *r)
{
    uint32_t mask = 0;
    size_t pos = 0;
    const uint8_t *key;
    size_t len;
    while (r->bytes && kv_bulks_next(r->bytes, r->len, &pos, &key, &len)) {
        int v = 0;
        bool digits = len > 0 && len <= 2;
        for (size_t i = 0; digits && i < len; i++) {
            digits = key[i] >= '0' && key[i] <= '9';
            v = v * 10 + (key[i] - '0');
        }
        if (!digits || v > 30)
            return -1;
        mask |= 1u << v;
    }
    if (r->bytes && pos != r->len)
        return -1;
    return (int32_t)mask;
}

static void command_of(uint8_t f, int key, int32_t a, int32_t b, struct kv_command *k)
{
    memset(k, 0, sizeof *k);
    if (f == RC_KEYS) {
        k->op = KV_KEYS;
        if (kv_str_set(&k->arg[0], "*", 1) != 0)
            abort();
        return;
    }
    k->op = f == RC_READ ? KV_READ : f == RC_WRITE ? KV_WRITE : KV_CAS;
    k->key = json_integer(key);
    if (f == RC_WRITE)
        k->value = json_integer(a);
    if (f == RC_CAS) {
        k->from = json_integer(a);
        k->to = json_integer(b);
    }
}

static uint64_t node_sub(struct node *nd, struct sub s)
{
    if (nd->n_subs == nd->cap_subs) {
        nd->cap_subs = nd->cap_subs ? nd->cap_subs * 2 : 256;
        nd->subs = realloc(nd->subs, nd->cap_subs * sizeof *nd->subs);
        if (!nd->subs)
            abort();
    }
    nd->subs[nd->n_subs] = s;
    return nd->n_subs++;
}

static void replica_run(struct node *nd, uint8_t f, int key, int32_t a, int32_t b, raft_term term,
                        struct sub s)
{
    struct kv_command k;
    command_of(f, key, a, b, &k);
    uint64_t ref = node_sub(nd, s);
    if (term)
        replica_submit_in_term(nd->r, ref, &k, term, nd->c->now);
    else
        replica_submit(nd->r, ref, &k, nd->c->now);
    kv_command_release(&k);
}

/* ---- the router's callbacks --------------------------------------------------- */

static uint32_t cop_of(void *user)
{
    return (uint32_t)(uintptr_t)user;
}

static void rt_submit(void *ctx, uint64_t id, void *user)
{
    struct node *nd = ctx;
    const struct cop *o = &nd->c->cops[cop_of(user)];
    nd->resubmitted = true;
    replica_run(nd, o->f, o->key, o->a, o->b, 0,
                (struct sub){.fwd_in = false, .rid = id, .cop = cop_of(user), .f = o->f});
}

static bool rt_forward(void *ctx, int leader, raft_term term, uint64_t id, void *user)
{
    struct node *nd = ctx;
    struct rcluster *c = nd->c;
    if (c->cut[nd->id][leader])
        return false; /* as a TCP front end with no connection to the leader */
    const struct cop *o = &c->cops[cop_of(user)];
    struct msg m = {.kind = MSG_FWD, .from = nd->id, .to = leader, .from_inc = nd->inc,
                    .rid = id, .cop = cop_of(user), .term = term, .f = o->f, .key = o->key,
                    .a = o->a, .b = o->b};
    send_ordered(c, &m);
    return true;
}

static void rt_finish(void *ctx, void *user, enum replica_status status, const char *text)
{
    struct node *nd = ctx;
    (void)text;
    cop_result(nd->c, cop_of(user), status, 0, 0);
}

/* ---- chunked InstallSnapshot (snap_stream.h) over the links ------------------------ */

/* A snapshot frame rides its own stream per link, in order as on TCP; with
 * links.chunk_faults each frame may also be dropped, overtake earlier
 * ones, or be duplicated (the copy arriving up to 400 ms late, as from an
 * earlier connection), and a chunk's bytes corrupted (its CRC kept). */
static void snap_frame_send(struct rcluster *c, struct msg *m)
{
    m->kind = MSG_SNAP;
    double f = c->links.chunk_faults;
    struct rng *g = &c->xg;
    int copies = 1;
    if (f > 0 && rng_double(g) < f)
        copies = 0;
    else if (f > 0 && rng_double(g) < f)
        copies = 2;
    if (m->frame == SF_CHUNK && copies && f > 0 && rng_double(g) < f)
        m->data[rng_below(g, m->len)] ^= (uint8_t)(1u << rng_below(g, 8));
    if (c->cut[m->from][m->to] || c->now < c->snap_silent_until[m->from][m->to])
        copies = 0;
    for (int i = 0; i < copies; i++) {
        struct msg q = *m;
        uint64_t span = c->links.latency_max_ms - c->links.latency_min_ms;
        q.at = c->now + c->links.latency_min_ms + (span ? rng_below(g, span + 1) : 0);
        if (i > 0) {
            q.at += rng_below(g, 400); /* a late copy, as from an earlier connection */
        } else if (f > 0 && rng_double(g) < f) {
            /* overtakes what was sent before it */
        } else if (q.at < c->last_snap_fifo[m->from][m->to]) {
            q.at = c->last_snap_fifo[m->from][m->to];
        } else {
            c->last_snap_fifo[m->from][m->to] = q.at;
        }
        if (i > 0) {
            q.data = NULL;
            q.counted = false;
            if (m->len) {
                q.data = malloc(m->len);
                if (!q.data)
                    abort();
                memcpy(q.data, m->data, m->len);
            }
            if (m->frame == SF_OFFER && raft_msg_copy(&q.raft, &m->raft) != RAFT_OK)
                abort();
        } else if (m->frame == SF_CHUNK && m->xid == c->inflight_xid[m->from][m->to]) {
            q.counted = true;
            c->inflight[m->from][m->to]++;
        }
        heap_push(c, &q);
    }
    if (copies == 0) {
        free(m->data);
        if (m->frame == SF_OFFER)
            raft_msg_release(&m->raft);
    }
}

static void snap_frame_free(struct rcluster *c, struct msg *m)
{
    if (m->counted && m->xid == c->inflight_xid[m->from][m->to])
        c->inflight[m->from][m->to]--;
    free(m->data);
    if (m->frame == SF_OFFER)
        raft_msg_release(&m->raft);
}

static void xfer_ack(struct node *nd, int to, const struct snap_step *st)
{
    struct msg q = {.frame = SF_ACK, .from = nd->id, .to = to, .xid = st->ack_id, .off = st->ack_off,
                    .ack = st->ack_status};
    snap_frame_send(nd->c, &q);
}

/* The sender's end, whatever the reason: its image is let go. */
static void xfer_send_end(struct node *nd, int peer)
{
    if (!nd->out[peer].st.active)
        return;
    if (snap_send_end(&nd->out[peer].st, nd->c->now) == SNAP_SEND_CUT)
        nd->c->xfers.cut_send++;
    free(nd->out[peer].img);
    nd->out[peer].img = NULL;
    nd->out[peer].len = 0;
}

/* The receiver's end: its file goes. */
static void xfer_recv_end(struct node *nd, bool cut)
{
    if (nd->in.st.state == SNAP_RECV_IDLE)
        return;
    nd->c->xfers.cut_recv += cut;
    disk_recv_drop(&nd->disk);
    snap_recv_reset(&nd->in.st);
    raft_msg_release(&nd->in.msg);
    nd->in.checking = false;
}

/* replica_config.send for a SNAPSHOT with no image: offer the disk's. */
static void xfer_send(struct node *nd, const struct raft_msg *m)
{
    struct rcluster *c = nd->c;
    struct disk *d = &nd->disk;
    if (!snap_send_wanted(&nd->out[m->to].st, &c->xcfg, m->snap_index, m->snap_term, m->term, c->now))
        return;
    xfer_send_end(nd, m->to);
    if (c->cut[nd->id][m->to] || d->snap_index != m->snap_index || !d->snap || d->snap_len == 0)
        return;
    uint8_t *img = malloc(d->snap_len);
    if (!img)
        abort();
    memcpy(img, d->snap, d->snap_len);
    uint64_t id = ++nd->next_xid;
    snap_send_begin(&nd->out[m->to].st, id, d->snap_len, m->snap_index, m->snap_term, m->term, c->now);
    nd->out[m->to].img = img;
    nd->out[m->to].len = d->snap_len;
    c->inflight_xid[nd->id][m->to] = id;
    c->inflight[nd->id][m->to] = 0;
    c->xfers.started++;
    struct msg q = {.frame = SF_OFFER, .from = nd->id, .to = m->to, .xid = id, .size = d->snap_len,
                    .img_crc = crc32c(img, d->snap_len)};
    if (raft_msg_copy(&q.raft, m) != RAFT_OK)
        abort();
    snap_frame_send(c, &q);
}

/* The sender's turn: end what must end, send what the windows allow. */
static void xfer_pump(struct node *nd)
{
    struct rcluster *c = nd->c;
    bool leading = replica_role(nd->r) == RAFT_LEADER;
    for (int p = 0; p < c->n; p++) {
        struct snap_sender *t = &nd->out[p].st;
        if (!t->active)
            continue;
        if (c->cut[nd->id][p] || !leading || replica_term(nd->r) != t->term ||
            snap_send_tick(t, &c->xcfg, c->now).end) {
            xfer_send_end(nd, p); /* link down, no longer leading its term, stalled */
            continue;
        }
        uint64_t off, len;
        while (snap_send_next(t, &c->xcfg, &off, &len)) {
            if (off + len > nd->out[p].len) {
                fail(c, "node %s%lld: chunk past the image at %lld", "", nd->id, (long long)off);
                return;
            }
            struct msg q = {.frame = SF_CHUNK, .from = nd->id, .to = p, .xid = t->id, .off = off,
                            .len = (uint32_t)len, .data = malloc(len)};
            if (!q.data)
                abort();
            memcpy(q.data, nd->out[p].img + off, len);
            q.crc = crc32c(q.data, len);
            snap_send_sent(t, len);
            c->xfers.chunks++;
            snap_frame_send(c, &q);
            if (c->inflight[nd->id][p] > c->xcfg.window)
                fail(c, "node %s%lld has %lld chunks of one transfer in flight, more than the window",
                     "", nd->id, (long long)c->inflight[nd->id][p]);
        }
    }
}

static void xfer_offer(struct node *nd, struct msg *m)
{
    struct rcluster *c = nd->c;
    struct snap_receiver *r = &nd->in.st;
    struct snap_step st = {.ack = true, .ack_id = m->xid, .ack_status = SNAP_ACK_REFUSED};
    enum snap_offer_kind kind = snap_recv_offer(r, m->from, m->xid);
    if (m->raft.from != m->from || m->raft.to != nd->id || kind == SNAP_OFFER_BUSY) {
        xfer_ack(nd, m->from, &st);
        return;
    }
    if (kind == SNAP_OFFER_DUPLICATE)
        return;
    if (m->raft.snap_index <= replica_commit_index(nd->r)) {
        replica_receive_snapshot_file(nd->r, &m->raft, c->now); /* the core answers it has it */
        st.ack_status = SNAP_ACK_DONE;
        xfer_ack(nd, m->from, &st);
        return;
    }
    if (kind == SNAP_OFFER_REPLACES)
        xfer_recv_end(nd, true);
    disk_recv_drop(&nd->disk);
    nd->disk.recv_index = m->raft.snap_index;
    st = snap_recv_begin(r, m->from, m->xid, m->size, c->now);
    raft_msg_release(&nd->in.msg);
    if (raft_msg_copy(&nd->in.msg, &m->raft) != RAFT_OK) /* its configuration too */
        abort();
    nd->in.img_crc = m->img_crc;
    xfer_ack(nd, m->from, &st);
}

static void xfer_chunk(struct node *nd, struct msg *m)
{
    struct rcluster *c = nd->c;
    struct snap_receiver *r = &nd->in.st;
    bool ours = r->state == SNAP_RECV_RECEIVING && r->peer == m->from && r->id == m->xid;
    struct snap_step st =
        snap_recv_chunk(r, m->from, m->xid, m->off, m->len, crc32c(m->data, m->len) == m->crc, c->now);
    if (st.write && !ours)
        fail(c, "node %s%lld wrote a chunk of a transfer it did not accept (from %lld)", "", nd->id,
             m->from);
    if (st.write && st.write_off != nd->disk.recv_len)
        fail(c, "node %s%lld wrote a chunk at %lld, not at its file's end", "", nd->id,
             (long long)st.write_off);
    if (st.end)
        xfer_recv_end(nd, true);
    if (st.write)
        disk_recv_write(&nd->disk, st.write_off, m->data, (size_t)st.write_len);
    if (st.ack)
        xfer_ack(nd, m->from, &st);
    double f = c->links.chunk_faults;
    if (st.write && !st.install && f > 0 && rng_double(&c->xg) < 2 * f) {
        /* A fault in the middle: the transfer's link goes silent both ways
         * for 0.5-0.9 s, about the stall timeout (a paused peer, a
         * half-open connection). */
        c->snap_silent_until[m->from][nd->id] = c->snap_silent_until[nd->id][m->from] =
            c->now + 500 + rng_below(&c->xg, 400);
    }
    if (st.install) {
        /* fdatasync and the check run in the background for 1-20 ms */
        nd->in.checking = true;
        nd->in.check_at = c->now + 1 + rng_below(&c->xg, 20);
    }
}

/* The file is durable now and checked: hand it to the core. A member never
 * installs a partial or corrupted image. */
static void xfer_install(struct node *nd)
{
    struct rcluster *c = nd->c;
    struct disk *d = &nd->disk;
    nd->in.checking = false;
    d->recv_durable = true;
    if (d->recv_len != nd->in.st.size || crc32c(d->recv, d->recv_len) != nd->in.img_crc) {
        fail(c, "node %s%lld: asked to install a partial or corrupted image (%lld bytes)", "",
             nd->id, (long long)d->recv_len);
        xfer_recv_end(nd, true);
        return;
    }
    struct kv_store *kv = kv_store_new();
    uint64_t index = 0, term = 0;
    if (!kv || kv_restore(kv, d->recv, d->recv_len, &index, &term) != 0 ||
        index != nd->in.msg.snap_index || term != nd->in.msg.snap_term) {
        fail(c, "node %s%lld: a whole image does not load (index %lld)", "", nd->id, (long long)index);
        kv_store_free(kv);
        xfer_recv_end(nd, true);
        return;
    }
    c->xfers.installed++;
    struct raft_msg msg = nd->in.msg;
    replica_receive_snapshot_prepared(nd->r, &msg, kv, c->now); /* takes kv */
    xfer_recv_end(nd, false); /* a file the core did not take is deleted */
}

static void xfer_check(struct rcluster *c, struct node *nd, uint64_t slack);

/* A node's timer: the check's end, stalls, the senders' windows. */
static void xfer_tick(struct node *nd)
{
    struct rcluster *c = nd->c;
    if (nd->in.checking && nd->in.check_at <= c->now)
        xfer_install(nd);
    if (snap_recv_tick(&nd->in.st, &c->xcfg, c->now).end)
        xfer_recv_end(nd, true);
    xfer_pump(nd);
    xfer_check(c, nd, 0); /* what was due has ended */
}

static uint64_t xfer_deadline(const struct node *nd)
{
    const struct rcluster *c = nd->c;
    uint64_t a = nd->in.checking ? nd->in.check_at : snap_recv_deadline(&nd->in.st, &c->xcfg);
    for (int p = 0; p < c->n; p++) {
        uint64_t b = snap_send_deadline(&nd->out[p].st, &c->xcfg);
        if (b < a)
            a = b;
    }
    return a;
}

static void xfer_deliver(struct node *nd, struct msg *m)
{
    struct rcluster *c = nd->c;
    if (m->frame == SF_OFFER) {
        xfer_offer(nd, m);
    } else if (m->frame == SF_CHUNK) {
        xfer_chunk(nd, m);
    } else {
        struct snap_sender *t = &nd->out[m->from].st;
        struct snap_sender before = *t;
        struct snap_step st = snap_send_ack(t, m->xid, m->off, m->ack, c->now);
        if ((!before.active || before.id != m->xid) &&
            (st.end || t->acked != before.acked || t->accepted != before.accepted))
            fail(c, "node %s%lld took an acknowledgement of another transfer (from %lld)", "",
                 nd->id, m->from);
        if (st.end)
            xfer_send_end(nd, m->from);
        xfer_pump(nd);
    }
}

/* The end of a node's transfers when it stops; with `reset`, its peers
 * see their connections to it close at once (a crashed process's sockets
 * are reset), else they find out by the stall timeout. */
static void xfer_node_stop(struct node *nd, bool reset)
{
    struct rcluster *c = nd->c;
    for (int p = 0; p < c->n; p++)
        xfer_send_end(nd, p);
    xfer_recv_end(nd, true);
    disk_recv_drop(&nd->disk);
    for (int p = 0; reset && p < c->n; p++) {
        struct node *o = &c->nodes[p];
        if (p == nd->id || !o->alive)
            continue;
        if (snap_recv_peer_gone(&o->in.st, nd->id).end)
            xfer_recv_end(o, true);
        xfer_send_end(o, nd->id);
    }
}

/* Transfers that outlived their stall timeout would be a leak: none is
 * `slack` ms past its deadline (0 after the node's timer ran; 1 after any
 * step: other events at the deadline may run before the timer). */
static void xfer_check(struct rcluster *c, struct node *nd, uint64_t slack)
{
    if (nd->in.st.state == SNAP_RECV_RECEIVING &&
        c->now >= snap_recv_deadline(&nd->in.st, &c->xcfg) + slack)
        fail(c, "node %s%lld: a receive outlived its stall timeout (since %lld)", "", nd->id,
             (long long)nd->in.st.progress_ms);
    if (nd->in.st.state == SNAP_RECV_INSTALLING && !nd->in.checking)
        fail(c, "node %s%lld: an install nobody runs (%lld)", "", nd->id, 0);
    for (int p = 0; p < c->n; p++)
        if (nd->out[p].st.active && c->now >= snap_send_deadline(&nd->out[p].st, &c->xcfg) + slack)
            fail(c, "node %s%lld: a send to %lld outlived its stall timeout", "", nd->id, p);
}

/* ---- the replica's callbacks ---------------------------------------------------- */

static void rp_send(void *ctx, const struct raft_msg *m)
{
    struct node *nd = ctx;
    struct rcluster *c = nd->c;
    if (m->to < 0 || m->to >= c->n || c->cut[nd->id][m->to])
        return;
    if (m->type == RAFT_MSG_SNAPSHOT && m->snap_len == 0) {
        xfer_send(nd, m); /* streamed in chunks (config.stream_snapshots) */
        return;
    }
    if (m->type == RAFT_MSG_APPEND_RESP && m->success && m->match_index > nd->disk.synced)
        fail(c, "node %s%lld acknowledged %lld, which no sync covered", "", nd->id,
             (long long)m->match_index);
    int copies = 1 + (rng_double(&c->g) < c->links.duplicate);
    for (int i = 0; i < copies; i++) {
        if (rng_double(&c->g) < c->links.drop)
            continue;
        struct msg q = {.kind = MSG_RAFT, .from = nd->id, .to = m->to, .at = c->now + latency(c)};
        if (raft_msg_copy(&q.raft, m) != RAFT_OK)
            abort();
        heap_push(c, &q);
    }
}

static void rp_complete(void *ctx, uint64_t ref, const struct replica_result *res)
{
    struct node *nd = ctx;
    struct rcluster *c = nd->c;
    if (ref >= nd->n_subs)
        return;
    struct sub s = nd->subs[ref];
    int code = res->status == REPLICA_DONE ? res->kv.code : 0;
    int32_t value = res->kv.value ? (int32_t)json_integer_value(res->kv.value) : 0;
    if (s.f == RC_KEYS && res->status == REPLICA_DONE && code == 0)
        value = keys_mask(&res->kv);
    if (s.fwd_in) {
        struct msg m = {.kind = MSG_ANS, .from = nd->id, .to = s.origin, .from_inc = s.origin_inc,
                        .rid = s.rid, .cop = s.cop, .status = (uint8_t)res->status,
                        .code = code, .value = value};
        send_ordered(c, &m);
        return;
    }
    if (router_local_done(nd->rt, s.rid, res->status, c->now))
        cop_result(c, s.cop, res->status, code, value);
}

/* ---- nodes ------------------------------------------------------------------------ */

/* replica_config.snapshot_start: the image of this instant, made durable
 * a random duration later in simulated time while everything goes on. */
static int bg_start(void *ctx, raft_index index, raft_term term)
{
    struct node *nd = ctx;
    struct rcluster *c = nd->c;
    if (nd->bg.running)
        return -1;
    if (kv_snapshot(replica_store(nd->r), index, term, &nd->bg.img, &nd->bg.len) != 0)
        return -1;
    uint64_t span = c->snap.max_ms > c->snap.min_ms ? c->snap.max_ms - c->snap.min_ms : 0;
    nd->bg.running = true;
    nd->bg.index = index;
    nd->bg.term = term;
    nd->bg.done_at = c->now + c->snap.min_ms + (span ? rng_below(&c->g, span + 1) : 0);
    return 0;
}

static void bg_drop(struct node *nd)
{
    free(nd->bg.img);
    nd->bg.img = NULL;
    nd->bg.running = false;
}

/* The snapshot is durable now: tell the replica (its core compacts). */
static void bg_finish(struct node *nd)
{
    struct rcluster *c = nd->c;
    raft_index index = nd->bg.index;
    int rc = 0;
    if (index > nd->disk.snap_index) /* else a leader's newer one came meanwhile */
        rc = disk_snapshot(&nd->disk, index, nd->bg.term, nd->bg.img, nd->bg.len);
    bg_drop(nd);
    c->snapshots_done++;
    if (index > replica_applied_index(nd->r))
        fail(c, "node %s%lld snapshotted past what it applied", "", nd->id, 0);
    replica_snapshot_done(nd->r, index, rc, c->now);
}

/* A CPU clock for the apply budget: each read finds 0.2-2 ms more spent,
 * so applying stops after a varying number of entries. */
static uint64_t rp_cpu_clock(void *ctx)
{
    struct node *nd = ctx;
    nd->cpu_reads++;
    nd->cpu_ns += 200000 + (nd->cpu_reads * 2654435761u) % 1800000;
    return nd->cpu_ns;
}

static void node_start(struct node *nd, uint64_t seed)
{
    struct rcluster *c = nd->c;
    struct replica_config rc;
    replica_config_default(&rc, nd->id, c->n, seed * 7919 + (uint64_t)nd->id * 131 + nd->inc);
    rc.raft.election_timeout_ms = 150;
    rc.raft.heartbeat_interval_ms = 30;
    rc.send = rp_send;
    rc.complete = rp_complete;
    rc.ctx = nd;
    rc.snapshot_threshold = c->snap.threshold;
    rc.apply_batch = c->snap.apply_batch;
    if (c->snap.apply_cpu_ns) {
        rc.apply_cpu_ns = c->snap.apply_cpu_ns;
        rc.cpu_clock = rp_cpu_clock;
    }
    if (c->snap.threshold)
        rc.snapshot_start = bg_start;
    rc.request_timeout_ms = 600;
    /* The last snap.learners nodes start as learners of the voters before them. */
    nd->conf = (struct raft_configuration){.n = c->n};
    for (int i = 0; i < c->n; i++)
        nd->conf.members[i] = (struct raft_member){
            .id = i, .role = i >= c->n - c->snap.learners ? RAFT_LEARNER : RAFT_VOTER};
    if (c->snap.learners > 0 && c->snap.learners < c->n)
        rc.raft.initial = &nd->conf;
    rc.learner_sync_interval_ms = c->snap.learner_sync_interval_ms;
    if (c->snap.keys_walk) {
        rc.keys_walk_min = c->snap.keys_walk_min;
        rc.keys_walk_entries = c->snap.keys_walk_entries;
    }
    nd->disk.synced = nd->disk.snap_index + nd->disk.n; /* what a restart finds */
    nd->seam = (struct replica_log_store){.impl = &nd->disk, .load = disk_load,
                                          .save_hard_state = disk_hard_state,
                                          .save_commit = disk_commit,
                                          .append = disk_append, .save_snapshot = disk_snapshot,
                                          .sync = disk_sync,
                                          .load_snapshot = disk_load_snapshot,
                                          .read_snapshot = disk_read_snapshot,
                                          .adopt_snapshot = disk_adopt};
    rc.store = &nd->seam;
    rc.stream_snapshots = true;
    nd->next_xid = rng_next(&c->xg);
    nd->r = replica_new(&rc, c->now);
    struct router_config tc;
    router_config_default(&tc, nd->id, c->n);
    tc.leader_wait_ms = 300;
    tc.forward_timeout_ms = 500;
    tc.long_forward_timeout_ms = 1200;
    tc.submit = rt_submit;
    tc.forward = rt_forward;
    tc.finish = rt_finish;
    tc.ctx = nd;
    nd->rt = router_new(&tc);
    if (!nd->r || !nd->rt)
        abort();
    nd->alive = true;
    nd->applied = replica_applied_index(nd->r);
    nd->n_subs = 0;
}

/* node_end_batch's work: the router's view, then flushes. */
static void node_end_batch(struct node *nd)
{
    struct rcluster *c = nd->c;
    router_view(nd->rt, replica_leader(nd->r), replica_term(nd->r),
                replica_role(nd->r) == RAFT_LEADER, c->now);
    router_progress(nd->rt, replica_commit_index(nd->r), c->now);
    if (c->snap.apply_turn_ms && c->now >= nd->next_turn_ms) {
        replica_turn_end(nd->r); /* the apply budget starts afresh */
        nd->next_turn_ms = c->now + c->snap.apply_turn_ms;
    }
    for (int round = 0; round == 0 || (nd->resubmitted && round < 4); round++) {
        nd->resubmitted = false;
        if (replica_flush(nd->r, c->now) != 0)
            fail(c, "node %s%lld: flush failed", "", nd->id, 0);
    }
}

static uint64_t node_deadline(const struct node *nd)
{
    if (!nd->alive)
        return UINT64_MAX;
    uint64_t a = replica_deadline(nd->r), b = router_deadline(nd->rt);
    if (a > b)
        a = b;
    if (nd->bg.running && nd->bg.done_at < a)
        a = nd->bg.done_at;
    uint64_t x = xfer_deadline(nd);
    return x < a ? x : a;
}

static void check_node(struct rcluster *c, struct node *nd)
{
    if (!nd->alive)
        return;
    raft_index applied = replica_applied_index(nd->r);
    if (applied < nd->applied)
        fail(c, "node %s%lld applied index went down to %lld", "", nd->id, (long long)applied);
    nd->applied = applied;
    xfer_check(c, nd, 1);
    if (replica_role(nd->r) == RAFT_LEADER) {
        raft_term t = replica_term(nd->r);
        if (t < RC_MAX_TERMS) {
            if (c->leader_of_term[t] >= 0 && c->leader_of_term[t] != nd->id)
                fail(c, "two leaders in term %s%lld: node %lld", "", (long long)t, nd->id);
            c->leader_of_term[t] = nd->id;
        }
    }
}

struct rcluster *rcluster_new(int n, uint64_t seed, rcluster_done_fn done, void *ctx)
{
    return rcluster_new_snapshots(n, seed, done, ctx, NULL);
}

struct rcluster *rcluster_new_snapshots(int n, uint64_t seed, rcluster_done_fn done, void *ctx,
                                        const struct rcluster_snapshots *snap)
{
    if (n < 1 || n > RC_MAX_NODES)
        return NULL;
    struct rcluster *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (snap)
        c->snap = *snap;
    c->n = n;
    c->done = done;
    c->ctx = ctx;
    rng_seed(&c->g, seed ^ 0x7e57c0deULL);
    rng_seed(&c->xg, seed ^ 0x5c4a9bULL);
    c->links = (struct rcluster_links){.latency_min_ms = 1, .latency_max_ms = 1};
    c->xcfg = (struct snap_stream_config){
        .chunk = c->snap.chunk_bytes ? c->snap.chunk_bytes : 64, .window = 4, .stall_ms = 600};
    for (int t = 0; t < RC_MAX_TERMS; t++)
        c->leader_of_term[t] = -1;
    for (int i = 0; i < n; i++) {
        struct node *nd = &c->nodes[i];
        nd->c = c;
        nd->id = i;
        nd->disk.vote = RAFT_NO_NODE;
        node_start(nd, seed);
    }
    return c;
}

static void node_stop(struct node *nd)
{
    struct replica_stats st;
    replica_stats(nd->r, &st);
    nd->c->walks_begun += st.keys_walks_begun;
    nd->c->walks_done += st.keys_walks_done;
    if (nd->bg.running) /* the child dies with it: the old snapshot stays */
        nd->c->snapshots_cut++;
    bg_drop(nd);
    xfer_node_stop(nd, false);
    router_free(nd->rt); /* its operations end below, with their connections */
    replica_free(nd->r);
    nd->rt = NULL;
    nd->r = NULL;
    nd->alive = false;
}

void rcluster_free(struct rcluster *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n; i++) {
        if (c->nodes[i].alive)
            node_stop(&c->nodes[i]);
        disk_free(&c->nodes[i].disk);
        free(c->nodes[i].subs);
    }
    for (size_t i = 0; i < c->n_heap; i++)
        if (c->heap[i].kind == MSG_RAFT)
            raft_msg_release(&c->heap[i].raft);
        else if (c->heap[i].kind == MSG_SNAP)
            snap_frame_free(c, &c->heap[i]);
    free(c->heap);
    free(c->cops);
    free(c);
}

void rcluster_set_links(struct rcluster *c, const struct rcluster_links *l)
{
    c->links = *l;
}

uint64_t rcluster_now(const struct rcluster *c) { return c->now; }
uint64_t rcluster_steps(const struct rcluster *c) { return c->steps; }
bool rcluster_ok(const struct rcluster *c) { return !c->error[0]; }
uint64_t rcluster_syncs(const struct rcluster *c, int node) { return c->nodes[node].disk.syncs; }
raft_index rcluster_applied(const struct rcluster *c, int node)
{
    return c->nodes[node].alive ? replica_applied_index(c->nodes[node].r) : 0;
}
const char *rcluster_error(const struct rcluster *c) { return c->error; }
bool rcluster_alive(const struct rcluster *c, int node) { return c->nodes[node].alive; }
size_t rcluster_unfinished(const struct rcluster *c) { return c->unfinished; }

void rcluster_cut(struct rcluster *c, int a, int b, bool cut)
{
    c->cut[a][b] = c->cut[b][a] = cut;
}

void rcluster_heal(struct rcluster *c)
{
    memset(c->cut, 0, sizeof c->cut);
}

int rcluster_leader(const struct rcluster *c)
{
    int best = -1;
    for (int i = 0; i < c->n; i++) {
        const struct node *nd = &c->nodes[i];
        if (nd->alive && replica_role(nd->r) == RAFT_LEADER &&
            (best < 0 || replica_term(nd->r) > replica_term(c->nodes[best].r)))
            best = i;
    }
    return best;
}

void rcluster_crash(struct rcluster *c, int node)
{
    struct node *nd = &c->nodes[node];
    if (!nd->alive)
        return;
    xfer_node_stop(nd, rng_below(&c->xg, 2) == 0);
    node_stop(nd);
    /* Its connections break: what they had in flight is unknown. */
    for (int i = 0; i < c->n_conns; i++) {
        struct conn *k = &c->conns[i];
        if (!k->alive || k->node != node)
            continue;
        k->alive = false;
        memset(&k->rc, 0, sizeof k->rc);
        for (size_t j = 0; j < c->n_cops; j++)
            if (!c->cops[j].done && c->cops[j].conn == i)
                cop_end(c, (uint32_t)j, RC_INFO, 13, 0);
    }
}

void rcluster_restart(struct rcluster *c, int node)
{
    struct node *nd = &c->nodes[node];
    if (nd->alive)
        return;
    nd->inc++;
    node_start(nd, (uint64_t)node + 1000003ULL * nd->inc + rng_next(&c->g));
}

int rcluster_connect(struct rcluster *c, int node)
{
    if (c->n_conns == RC_MAX_CONNS || !c->nodes[node].alive)
        return -1;
    struct conn *k = &c->conns[c->n_conns];
    *k = (struct conn){.node = node, .inc = c->nodes[node].inc, .alive = true};
    return c->n_conns++;
}

bool rcluster_conn_alive(const struct rcluster *c, int conn)
{
    return c->conns[conn].alive;
}

uint64_t rcluster_submit(struct rcluster *c, int conn, enum rcluster_f f, int key, int32_t a,
                         int32_t b)
{
    if (c->n_cops == c->cap_cops) {
        c->cap_cops = c->cap_cops ? c->cap_cops * 2 : 1024;
        c->cops = realloc(c->cops, c->cap_cops * sizeof *c->cops);
        if (!c->cops)
            abort();
    }
    uint32_t id = (uint32_t)c->n_cops++;
    c->cops[id] = (struct cop){.conn = conn, .f = (uint8_t)f, .key = key, .a = a, .b = b};
    c->unfinished++;
    struct conn *k = &c->conns[conn];
    if (!k->alive) {
        cop_end(c, id, RC_FAIL, 11, 0);
        return id;
    }
    struct node *nd = &c->nodes[k->node];
    enum router_kind kind = f == RC_KEYS ? ROUTER_READ_LONG : f == RC_READ ? ROUTER_READ : ROUTER_WRITE;
    router_submit(nd->rt, &k->rc, kind,
                  (void *)(uintptr_t)id, c->now);
    node_end_batch(nd);
    check_node(c, nd);
    return id;
}

/* ---- stepping ------------------------------------------------------------------- */

static void deliver(struct rcluster *c, struct msg *m)
{
    struct node *nd = &c->nodes[m->to];
    bool cut = c->cut[m->from][m->to] && (m->kind == MSG_RAFT || c->links.stream_gaps);
    if (m->kind == MSG_SNAP) {
        bool live = nd->alive && !c->cut[m->from][m->to];
        if (m->counted && m->xid == c->inflight_xid[m->from][m->to])
            c->inflight[m->from][m->to]--;
        m->counted = false;
        if (live)
            xfer_deliver(nd, m);
        snap_frame_free(c, m);
        if (!live)
            return;
        node_end_batch(nd);
        check_node(c, nd);
        return;
    }
    if (!nd->alive || cut) {
        if (m->kind == MSG_RAFT)
            raft_msg_release(&m->raft);
        return;
    }
    if (m->kind == MSG_RAFT) {
        replica_receive(nd->r, &m->raft, c->now);
        raft_msg_release(&m->raft);
    } else if (m->kind == MSG_FWD) {
        replica_run(nd, m->f, m->key, m->a, m->b, m->term,
                    (struct sub){.fwd_in = true, .rid = m->rid, .cop = m->cop, .origin = m->from,
                                 .origin_inc = m->from_inc, .f = m->f});
    } else if (m->from_inc == nd->inc) { /* answers to an earlier incarnation are lost */
        if (router_forward_done(nd->rt, m->rid, (enum replica_status)m->status, c->now))
            cop_result(c, m->cop, (enum replica_status)m->status, m->code, m->value);
    }
    node_end_batch(nd);
    check_node(c, nd);
}

static bool step(struct rcluster *c, uint64_t until)
{
    int who = -1;
    uint64_t at = UINT64_MAX;
    for (int i = 0; i < c->n; i++) {
        uint64_t d = node_deadline(&c->nodes[i]);
        if (d < at) {
            at = d;
            who = i;
        }
    }
    if (c->n_heap && c->heap[0].at <= at) {
        at = c->heap[0].at;
        who = -1;
    }
    if (at > until)
        return false;
    if (at > c->now)
        c->now = at;
    c->steps++;
    if (who < 0) {
        struct msg m = heap_pop(c);
        deliver(c, &m);
    } else {
        struct node *nd = &c->nodes[who];
        if (nd->bg.running && nd->bg.done_at <= c->now)
            bg_finish(nd);
        xfer_tick(nd);
        replica_tick(nd->r, c->now);
        router_tick(nd->rt, c->now);
        node_end_batch(nd);
        check_node(c, nd);
    }
    return true;
}

bool rcluster_elapse(struct rcluster *c, uint64_t ms)
{
    uint64_t until = c->now + ms;
    while (!c->error[0] && step(c, until))
        ;
    if (c->now < until)
        c->now = until;
    return !c->error[0];
}

bool rcluster_snapshot_running(const struct rcluster *c, int node)
{
    return c->nodes[node].alive && c->nodes[node].bg.running;
}

void rcluster_snapshot_counts(const struct rcluster *c, uint64_t *done, uint64_t *cut)
{
    *done = c->snapshots_done;
    *cut = c->snapshots_cut;
}

void rcluster_keys_walks(const struct rcluster *c, uint64_t *begun, uint64_t *done)
{
    *begun = c->walks_begun;
    *done = c->walks_done;
    for (int i = 0; i < c->n; i++) {
        if (!c->nodes[i].alive)
            continue;
        struct replica_stats st;
        replica_stats(c->nodes[i].r, &st);
        *begun += st.keys_walks_begun;
        *done += st.keys_walks_done;
    }
}

void rcluster_transfer_counts(const struct rcluster *c, struct rcluster_transfers *out)
{
    *out = c->xfers;
}

int rcluster_transfers_active(const struct rcluster *c)
{
    int n = 0;
    for (int i = 0; i < c->n; i++) {
        const struct node *nd = &c->nodes[i];
        if (!nd->alive)
            continue;
        n += nd->in.st.state != SNAP_RECV_IDLE;
        for (int p = 0; p < c->n; p++)
            n += nd->out[p].st.active;
    }
    return n;
}

bool rcluster_check_maps(struct rcluster *c)
{
    for (int i = 0; i < c->n; i++)
        for (int j = i + 1; j < c->n; j++) {
            if (!c->nodes[i].alive || !c->nodes[j].alive ||
                replica_applied_index(c->nodes[i].r) != replica_applied_index(c->nodes[j].r))
                continue;
            if (!kv_store_equal(replica_store(c->nodes[i].r), replica_store(c->nodes[j].r)))
                fail(c, "nodes %s%lld and %lld applied as much but hold different maps", "", i, j);
        }
    return !c->error[0];
}
