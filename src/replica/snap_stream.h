/* snap_stream.h - the chunked InstallSnapshot protocol's two state machines,
 * pure: the leader's sender (one per follower) and the follower's receiver.
 * No I/O, no clock, no allocation: a transport feeds them events (an offer,
 * a chunk or an acknowledgement received, a tick with the time, the image
 * made durable and installed) and does what they answer (struct snap_step:
 * end the transfer, write a chunk's bytes at its offset, send an
 * acknowledgement, make the file durable and install it; and, for the
 * sender, snap_send_next: read and send the chunk at an offset).
 *
 * The protocol (frames in server/peer_codec.h): the sender offers an image
 * of `size` bytes under a transfer id; the receiver accepts (ack 0 GO_ON),
 * refuses (REFUSED) or has it already (DONE). The sender then sends chunks
 * in order, at most `window` unacknowledged; the receiver takes a chunk
 * only for the transfer it accepted, at the offset it expects, within the
 * size and with a good CRC, acknowledges the bytes it holds, and once the
 * last byte is in asks for the file to be made durable and installed. Any
 * other chunk ends its transfer (refused); acknowledgements of another
 * transfer (an ended one, an earlier incarnation's) change nothing. A
 * transfer with no progress for stall_ms ends at either end; the core
 * sends the snapshot again later, which starts a new transfer.
 *
 * Drivers: src/server/snap_transfer.c (TCP links, files, a worker thread)
 * and tests/lib/rcluster.c (simulated links and model disk, seeded faults).
 */
#ifndef RAFTKV_SNAP_STREAM_H
#define RAFTKV_SNAP_STREAM_H

#include <stdbool.h>
#include <stdint.h>

struct snap_stream_config {
    uint64_t chunk;    /* bytes per chunk, at most (> 0) */
    uint64_t window;   /* chunks sent and not acknowledged, at most (> 0) */
    uint64_t stall_ms; /* no progress for this long: the transfer ends */
};

/* An acknowledgement's status (the wire values of peer_codec.h). */
enum snap_ack_status { SNAP_ACK_GO_ON = 0, SNAP_ACK_DONE = 1, SNAP_ACK_REFUSED = 2 };

/* What the transport does after an event, in this order: end the transfer
 * (log why, close and delete its file, then snap_send_end/snap_recv_reset),
 * write the chunk's bytes at write_off, send the acknowledgement, install. */
struct snap_step {
    bool end;
    const char *why;  /* why it ended; "done" for a delivered image */
    bool warn;        /* worth a warning (else informational) */
    bool write;
    uint64_t write_off, write_len;
    bool ack;
    uint64_t ack_id, ack_off;
    uint8_t ack_status;
    bool install;     /* the last byte is in: sync, check, hand to the core */
};

/* ---- the sender ---------------------------------------------------------- */

struct snap_sender {
    bool active, accepted;
    uint64_t id, size, sent, acked, progress_ms;
    uint64_t index, snap_term, term; /* the snapshot, sent in the leader's `term` */
    /* The last image delivered whole: the core's resends of it are not
     * sent again while the receiver checks and installs it. */
    uint64_t delivered_index, delivered_term, delivered_ms;
};

/* The core sends snapshot (index, snap_term) in `term`: false if it is the
 * transfer on its way or one delivered lately (2 stall_ms). True: end the
 * active one (if any) and begin another. */
bool snap_send_wanted(const struct snap_sender *t, const struct snap_stream_config *cfg,
                      uint64_t index, uint64_t snap_term, uint64_t term, uint64_t now);
/* The offer of transfer `id` went out (the sender ended any earlier one). */
void snap_send_begin(struct snap_sender *t, uint64_t id, uint64_t size, uint64_t index,
                     uint64_t snap_term, uint64_t term, uint64_t now);
/* The next chunk the window allows: true with its offset and length (read
 * and send it, then snap_send_sent); false when none may go now. */
bool snap_send_next(const struct snap_sender *t, const struct snap_stream_config *cfg,
                    uint64_t *off, uint64_t *len);
void snap_send_sent(struct snap_sender *t, uint64_t len);
/* An acknowledgement arrived (any id). */
struct snap_step snap_send_ack(struct snap_sender *t, uint64_t id, uint64_t off, uint8_t status,
                               uint64_t now);
/* The time passed: a stalled transfer ends. */
struct snap_step snap_send_tick(const struct snap_sender *t, const struct snap_stream_config *cfg,
                                uint64_t now);
/* When snap_send_tick must run next (UINT64_MAX: no transfer). */
uint64_t snap_send_deadline(const struct snap_sender *t, const struct snap_stream_config *cfg);

enum snap_send_outcome { SNAP_SEND_CUT, SNAP_SEND_DELIVERED, SNAP_SEND_HAD_IT };
/* End the transfer (whatever the reason); what became of it. */
enum snap_send_outcome snap_send_end(struct snap_sender *t, uint64_t now);

/* ---- the receiver -------------------------------------------------------- */

enum snap_recv_state { SNAP_RECV_IDLE, SNAP_RECV_RECEIVING, SNAP_RECV_INSTALLING };

struct snap_receiver {
    enum snap_recv_state state;
    int peer;
    uint64_t id, size, off, progress_ms;
};

enum snap_offer_kind {
    SNAP_OFFER_NEW,      /* nothing under way: check it, then snap_recv_begin */
    SNAP_OFFER_REPLACES, /* another is under way: if taken, it ends ("superseded") */
    SNAP_OFFER_DUPLICATE,/* the one under way (or being installed): ignore */
    SNAP_OFFER_BUSY,     /* an image is being installed: refuse */
};
enum snap_offer_kind snap_recv_offer(const struct snap_receiver *r, int peer, uint64_t id);
/* Take offer `id` from `peer` (its file created): acknowledge it. */
struct snap_step snap_recv_begin(struct snap_receiver *r, int peer, uint64_t id, uint64_t size,
                                 uint64_t now);
/* A chunk of `len` bytes (> 0) at `off`; crc_ok: its CRC matched its bytes. */
struct snap_step snap_recv_chunk(struct snap_receiver *r, int peer, uint64_t id, uint64_t off,
                                 uint64_t len, bool crc_ok, uint64_t now);
/* The transport could not write or check what it was given: end, with a
 * REFUSED acknowledgement if `refuse`. */
struct snap_step snap_recv_abort(const struct snap_receiver *r, const char *why, bool refuse);
struct snap_step snap_recv_tick(const struct snap_receiver *r, const struct snap_stream_config *cfg,
                                uint64_t now);
uint64_t snap_recv_deadline(const struct snap_receiver *r, const struct snap_stream_config *cfg);
/* The connection from `peer` closed. */
struct snap_step snap_recv_peer_gone(const struct snap_receiver *r, int peer);
/* After an end, or once the install asked for is over (installed or not). */
void snap_recv_reset(struct snap_receiver *r);

#endif
