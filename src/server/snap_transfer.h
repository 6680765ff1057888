/* snap_transfer.h - InstallSnapshot streamed between servers in chunks, with
 * flow control, as etcd streams its snapshots: the image never travels in
 * one frame nor sits whole in memory at either end.
 *
 * The protocol's state machines (offer, windowed chunks, acknowledgements,
 * stalls) are replica/snap_stream.h's, which the simulator drives too; this
 * file is their driver over peer links, files and a worker thread.
 *
 * The Raft core is unchanged: it asks to send a SNAPSHOT message with
 * metadata only (replica_config.stream_snapshots). The leader's side opens
 * the stored snapshot file, sends SNAP_OFFER (the message, the file's size,
 * a transfer id), and once the follower accepts, SNAP_CHUNKs of up to
 * PEER_SNAP_CHUNK_MAX bytes, each with its offset and CRC32C, read from the
 * file with pread: at most SNAP_XFER_WINDOW chunks unacknowledged, and never
 * past the link's --peer-queue-bytes, so one loop turn reads and queues a
 * few MiB at most and the leader goes on serving. The follower writes each
 * chunk, in order, to snap-<index>.recv in its data directory
 * (storage_snapshot_recv_begin), checks it as it comes (snap_reader: each
 * block's CRC, then the whole file's CRC and counts) and acknowledges it
 * (SNAP_ACK). After the last one, on a worker thread, it fdatasyncs the
 * file and reads it back through kv_loader (every record, the index, term
 * and cluster id), building the new map aside as it goes; only then, on
 * the loop, the core gets the SNAPSHOT message with that map
 * (replica_receive_snapshot_prepared): if it installs it, the store adopts
 * the file (rename, directory fsync) and the map is swapped in, the old one
 * freed on a worker thread (server_retire_store). Until that moment the
 * member serves from its old map, so nothing proportional to the image
 * runs on the loop. A bad image is refused before anything is installed.
 *
 * A transfer ends cleanly, with the .recv file deleted (or deleted at the
 * next start), when: the connection carrying it closes or its link is
 * redialled, no chunk or acknowledgement came for SNAP_XFER_STALL_MS (a
 * partition, a paused process), the sender stops leading or changes term,
 * a newer offer replaces it, or a chunk is refused. The core sends the
 * SNAPSHOT again after an election timeout, which starts a new transfer.
 *
 * What a member can make the receiver write is bounded: an offer larger than
 * --max-snapshot-bytes or than the free space of the data directory's disk
 * is refused, so is a chunk for a transfer it did not accept (unknown id,
 * another peer), out of order, past the offered size or with a bad CRC; each
 * refusal is logged rate-limited and answered with a REFUSED ack.
 */
#ifndef RAFTKV_SNAP_TRANSFER_H
#define RAFTKV_SNAP_TRANSFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "raft/raft.h"
#include "replica/snap_stream.h"
#include "server/peer_codec.h"
#include "storage/snap_reader.h"

/* Chunks sent and not yet acknowledged, at most. */
#define SNAP_XFER_WINDOW 4
/* No progress for this long: the transfer ends (at least; 4 election
 * timeouts when that is longer). */
#define SNAP_XFER_STALL_MS 3000
/* The receiver starts the kernel's writeback every this many bytes. */
#define SNAP_XFER_WRITEBACK_BYTES (8u << 20)

struct server;

/* The sender's state machine is snap_stream.h's; this is its file and log. */
struct snap_send {
    struct snap_sender st;
    int fd;
    struct raft_msg msg; /* the core's SNAPSHOT, no image */
    uint64_t started_ms, started_cpu_ms;
    uint64_t link_connects; /* the link's count when it began: a redial ends it */
};

/* The receiver's last step runs on libuv's thread pool: fdatasync the file,
 * then read it back through kv_loader, every record checked and the map
 * built into `prepared`, which takes longer than the bytes took to arrive;
 * the loop then only swaps it in (replica_receive_snapshot_prepared). */
struct snap_check {
    int fd;
    struct kv_store *prepared; /* rc 0: the image's map, until handed over */
    int rc; /* 0, or -1 with err */
    uint64_t index, term;
    bool has_cluster_id;
    uint8_t cluster_id[16];
    char err[240];
};

/* The receiver's state machine is snap_stream.h's; this is its file, the
 * checks of its bytes as they come and the check on a worker thread. */
struct snap_recv {
    struct snap_receiver st;
    bool checking; /* the check runs on a thread: nothing else touches the file */
    uint64_t unsynced;
    int fd;
    struct raft_msg msg;
    struct snap_reader *stream; /* block and file CRCs as the chunks come */
    uint64_t started_ms, started_cpu_ms, received_ms;
    struct snap_check check;
    uv_work_t work;
};

struct snap_transfers {
    struct snap_send out[RAFT_MAX_NODES];
    struct snap_recv in;
    uint64_t next_id;
    uint64_t last_pump_ms; /* a long gap since: this process was paused */
    uint8_t *buf; /* one chunk read from the file */
    struct peer_wbuf wbuf;
    uint64_t sent_done, received_done, aborted, refused;
    uint64_t bytes_sent, bytes_received;
};

void snap_xfer_init(struct server *s);
void snap_xfer_stop(struct server *s);
/* replica_config.send for a SNAPSHOT with no image: start (or keep) a
 * transfer to m->to. */
void snap_xfer_send(struct server *s, const struct raft_msg *m);
/* Once per loop turn: send the chunks the windows allow, end stalled
 * transfers. */
void snap_xfer_pump(struct server *s);
/* A SNAP_* frame from an authenticated peer: PEER_OK, or a PEER_ERR_* for a
 * malformed one (the connection is closed). Refusals are not errors. */
int snap_xfer_frame(struct server *s, int peer, uint8_t kind, const uint8_t *body, size_t len);
/* The inbound connection from peer closed. */
void snap_xfer_conn_closed(struct server *s, int peer);

#endif
