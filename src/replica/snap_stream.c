/* snap_stream.c - the chunked InstallSnapshot state machines of
 * snap_stream.h: what each event does to a sender or a receiver. */
#include "replica/snap_stream.h"

#include <stddef.h>

static struct snap_step ended(const char *why, bool warn)
{
    return (struct snap_step){.end = true, .why = why, .warn = warn};
}

/* ---- the sender ---------------------------------------------------------- */

bool snap_send_wanted(const struct snap_sender *t, const struct snap_stream_config *cfg,
                      uint64_t index, uint64_t snap_term, uint64_t term, uint64_t now)
{
    if (t->active && t->index == index && t->snap_term == snap_term && t->term == term)
        return false; /* the core's resend of the one on its way */
    if (!t->active && t->delivered_index == index && t->delivered_term == term &&
        now - t->delivered_ms < 2 * cfg->stall_ms)
        return false; /* delivered: the receiver is checking and installing it */
    return true;
}

void snap_send_begin(struct snap_sender *t, uint64_t id, uint64_t size, uint64_t index,
                     uint64_t snap_term, uint64_t term, uint64_t now)
{
    *t = (struct snap_sender){.active = true,
                              .id = id,
                              .size = size,
                              .index = index,
                              .snap_term = snap_term,
                              .term = term,
                              .progress_ms = now,
                              .delivered_index = t->delivered_index,
                              .delivered_term = t->delivered_term,
                              .delivered_ms = t->delivered_ms};
}

bool snap_send_next(const struct snap_sender *t, const struct snap_stream_config *cfg,
                    uint64_t *off, uint64_t *len)
{
    if (!t->active || !t->accepted || t->sent >= t->size ||
        t->sent - t->acked >= cfg->window * cfg->chunk)
        return false;
    uint64_t left = t->size - t->sent;
    *off = t->sent;
    *len = left < cfg->chunk ? left : cfg->chunk;
    return true;
}

void snap_send_sent(struct snap_sender *t, uint64_t len)
{
    t->sent += len;
}

struct snap_step snap_send_ack(struct snap_sender *t, uint64_t id, uint64_t off, uint8_t status,
                               uint64_t now)
{
    if (!t->active || t->id != id)
        return (struct snap_step){0}; /* an ended transfer's late answer */
    if (status == SNAP_ACK_REFUSED)
        return ended("refused by the receiver (see its log)", true);
    if (status == SNAP_ACK_DONE) {
        t->acked = t->size; /* it had the image already (or installed it) */
        return ended("done", false);
    }
    if (off > t->sent || off < t->acked)
        return ended("acknowledgement out of order", true);
    t->accepted = true;
    if (off > t->acked || t->sent == 0)
        t->progress_ms = now;
    t->acked = off;
    if (t->acked == t->size)
        return ended("done", false);
    return (struct snap_step){0};
}

struct snap_step snap_send_tick(const struct snap_sender *t, const struct snap_stream_config *cfg,
                                uint64_t now)
{
    if (t->active && now - t->progress_ms > cfg->stall_ms)
        return ended("stalled: no acknowledgement came in time", true);
    return (struct snap_step){0};
}

uint64_t snap_send_deadline(const struct snap_sender *t, const struct snap_stream_config *cfg)
{
    return t->active ? t->progress_ms + cfg->stall_ms + 1 : UINT64_MAX;
}

enum snap_send_outcome snap_send_end(struct snap_sender *t, uint64_t now)
{
    if (!t->active)
        return SNAP_SEND_CUT;
    enum snap_send_outcome o = t->acked != t->size ? SNAP_SEND_CUT
                               : t->sent == t->size ? SNAP_SEND_DELIVERED
                                                    : SNAP_SEND_HAD_IT;
    struct snap_sender done = {.delivered_index = t->delivered_index,
                               .delivered_term = t->delivered_term,
                               .delivered_ms = t->delivered_ms};
    if (o != SNAP_SEND_CUT) {
        done.delivered_index = t->index;
        done.delivered_term = t->term;
        done.delivered_ms = now;
    }
    *t = done;
    return o;
}

/* ---- the receiver -------------------------------------------------------- */

enum snap_offer_kind snap_recv_offer(const struct snap_receiver *r, int peer, uint64_t id)
{
    if (r->state != SNAP_RECV_IDLE && r->peer == peer && r->id == id)
        return SNAP_OFFER_DUPLICATE;
    if (r->state == SNAP_RECV_INSTALLING)
        return SNAP_OFFER_BUSY;
    return r->state == SNAP_RECV_RECEIVING ? SNAP_OFFER_REPLACES : SNAP_OFFER_NEW;
}

struct snap_step snap_recv_begin(struct snap_receiver *r, int peer, uint64_t id, uint64_t size,
                                 uint64_t now)
{
    *r = (struct snap_receiver){
        .state = SNAP_RECV_RECEIVING, .peer = peer, .id = id, .size = size, .progress_ms = now};
    return (struct snap_step){.ack = true, .ack_id = id, .ack_off = 0, .ack_status = SNAP_ACK_GO_ON};
}

static struct snap_step refuse(struct snap_step s, uint64_t id)
{
    s.ack = true;
    s.ack_id = id;
    s.ack_off = 0;
    s.ack_status = SNAP_ACK_REFUSED;
    return s;
}

struct snap_step snap_recv_chunk(struct snap_receiver *r, int peer, uint64_t id, uint64_t off,
                                 uint64_t len, bool crc_ok, uint64_t now)
{
    if (r->state != SNAP_RECV_RECEIVING || r->peer != peer || r->id != id)
        return refuse((struct snap_step){.why = "a transfer this member did not accept", .warn = true},
                      id);
    const char *why = NULL;
    if (off != r->off)
        why = "chunk out of order";
    else if (len == 0 || len > r->size - r->off)
        why = "chunk past the offered size";
    else if (!crc_ok)
        why = "chunk CRC mismatch";
    if (why)
        return refuse(ended(why, true), id);
    r->off += len;
    r->progress_ms = now;
    struct snap_step s = {.write = true, .write_off = off, .write_len = len,
                          .ack = true, .ack_id = id, .ack_off = r->off, .ack_status = SNAP_ACK_GO_ON};
    if (r->off == r->size) {
        r->state = SNAP_RECV_INSTALLING; /* the sender is done; the rest is ours */
        s.install = true;
    }
    return s;
}

struct snap_step snap_recv_abort(const struct snap_receiver *r, const char *why, bool refuse_it)
{
    struct snap_step s = ended(why, true);
    return refuse_it ? refuse(s, r->id) : s;
}

struct snap_step snap_recv_tick(const struct snap_receiver *r, const struct snap_stream_config *cfg,
                                uint64_t now)
{
    if (r->state == SNAP_RECV_RECEIVING && now - r->progress_ms > cfg->stall_ms)
        return ended("stalled: no chunk came in time", true);
    return (struct snap_step){0};
}

uint64_t snap_recv_deadline(const struct snap_receiver *r, const struct snap_stream_config *cfg)
{
    return r->state == SNAP_RECV_RECEIVING ? r->progress_ms + cfg->stall_ms + 1 : UINT64_MAX;
}

struct snap_step snap_recv_peer_gone(const struct snap_receiver *r, int peer)
{
    if (r->state == SNAP_RECV_RECEIVING && r->peer == peer)
        return ended("connection from the sender closed", true);
    return (struct snap_step){0};
}

void snap_recv_reset(struct snap_receiver *r)
{
    *r = (struct snap_receiver){0};
}
