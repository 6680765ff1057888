/* peer_gate.h - what an inbound peer connection must pass before any Raft
 * frame of it is read, as decisions without sockets (peer.c applies them):
 *
 *   - Before it is authenticated (TLS handshake with a certificate of the
 *     cluster CA, then a valid HELLO) it may send at most
 *     PEER_PREAUTH_MAX_BYTES in all, so what it makes us buffer (ciphertext
 *     in the session and plaintext together) never exceeds that.
 *   - It must be authenticated within --peer-handshake-timeout-ms of its
 *     accept; one periodic sweep closes those that are not.
 *   - The HELLO's sender must be a name the verified certificate carries:
 *     holding n2's certificate lets a process speak as n2 and no one else.
 *   - A member the configuration removed is answered REMOVED, read no
 *     more, and once the answer has left, our side is shut and the
 *     connection closed on its end or PEER_REMOVED_LINGER_MS later.
 */
#ifndef RAFTKV_PEER_GATE_H
#define RAFTKV_PEER_GATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PEER_PREAUTH_MAX_BYTES (64u << 10)
#define PEER_DEFAULT_HANDSHAKE_TIMEOUT_MS 5000
/* How often the sweep looks for connections past their handshake time. */
#define PEER_GATE_SWEEP_MS 250

struct tls_session;

/* After a member the configuration removed was answered REMOVED on the
 * connection (peer.c): how long our shut side waits for its end. */
#define PEER_REMOVED_LINGER_MS 1000

struct peer_gate {
    uint64_t opened_ms; /* accepted at */
    size_t received;    /* bytes read before authentication */
    bool authenticated;
    bool told_removed;        /* answered REMOVED: nothing more of it is read */
    bool shut;                /* the answer left and our side is shut */
    uint64_t linger_until_ms; /* then closed at the latest */
};

/* What the periodic sweep does with a connection. */
enum peer_gate_sweep {
    PEER_GATE_KEEP,
    PEER_GATE_CLOSE_TOLD,     /* told it was removed: the linger (or its handshake time) is over */
    PEER_GATE_REFUSE_TIMEOUT, /* not authenticated in time */
};

void peer_gate_open(struct peer_gate *g, uint64_t now_ms);

/* n more bytes arrived in one read: how many of them to read now (and
 * count). Before authentication, only what keeps the connection within
 * `limit` bytes in all (0: it is over, close it unread); the caller reads
 * those, and the rest only if they authenticated it (else it closes the
 * connection), since bytes after the HELLO are not pre-authentication
 * bytes: a peer sends its frames right behind its HELLO, and a receiver
 * that reads late finds both in one read. After authentication: all n
 * (the frame limit applies instead). */
size_t peer_gate_admit(struct peer_gate *g, size_t n, size_t limit);

/* Whether an unauthenticated connection has used up its handshake time. */
bool peer_gate_expired(const struct peer_gate *g, uint64_t now_ms, uint64_t timeout_ms);

/* A connection whose HELLO came from a member the configuration removed,
 * answered REMOVED: from now on nothing it sends is read (frames already
 * buffered included). */
void peer_gate_told_removed(struct peer_gate *g);
bool peer_gate_reads(const struct peer_gate *g);

/* Whether to shut our side now: told, not shut yet, and nothing of the
 * answer still being written (`writing`). Shutting records the time: the
 * connection lingers PEER_REMOVED_LINGER_MS for the other's end (closing
 * with its bytes unread would reset the connection and could lose the
 * answer on the way). */
bool peer_gate_may_shut(const struct peer_gate *g, bool writing);
void peer_gate_shut(struct peer_gate *g, uint64_t now_ms);

enum peer_gate_sweep peer_gate_sweep(const struct peer_gate *g, uint64_t now_ms, uint64_t timeout_ms);

/* After the TLS handshake, the HELLO's claimed sender against the peer's
 * certificate: NULL when a verified member certificate (one that may act as
 * a TLS server: a client certificate of the same CA may not) names it, else
 * why not. */
const char *peer_gate_check_name(const struct tls_session *t, const char *claimed);

#endif
