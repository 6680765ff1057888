/* peer_gate.c - the checks an inbound peer connection passes before its
 * Raft frames are read, and the budget of refusal log lines (peer_gate.h). */
#include "server/peer_gate.h"

#include "net/tls.h"

void peer_gate_open(struct peer_gate *g, uint64_t now_ms)
{
    g->opened_ms = now_ms;
    g->received = 0;
    g->authenticated = false;
    g->told_removed = false;
    g->shut = false;
    g->linger_until_ms = 0;
}

size_t peer_gate_admit(struct peer_gate *g, size_t n, size_t limit)
{
    if (g->authenticated)
        return n;
    size_t room = g->received < limit ? limit - g->received : 0;
    size_t k = n < room ? n : room;
    g->received += k;
    return k;
}

bool peer_gate_expired(const struct peer_gate *g, uint64_t now_ms, uint64_t timeout_ms)
{
    return !g->authenticated && now_ms >= g->opened_ms && now_ms - g->opened_ms >= timeout_ms;
}

void peer_gate_told_removed(struct peer_gate *g)
{
    g->told_removed = true;
}

bool peer_gate_reads(const struct peer_gate *g)
{
    return !g->told_removed;
}

bool peer_gate_may_shut(const struct peer_gate *g, bool writing)
{
    return g->told_removed && !g->shut && !writing;
}

void peer_gate_shut(struct peer_gate *g, uint64_t now_ms)
{
    g->shut = true;
    g->linger_until_ms = now_ms + PEER_REMOVED_LINGER_MS;
}

enum peer_gate_sweep peer_gate_sweep(const struct peer_gate *g, uint64_t now_ms, uint64_t timeout_ms)
{
    bool late = peer_gate_expired(g, now_ms, timeout_ms);
    if (g->told_removed)
        return late || (g->shut && now_ms >= g->linger_until_ms) ? PEER_GATE_CLOSE_TOLD : PEER_GATE_KEEP;
    return late ? PEER_GATE_REFUSE_TIMEOUT : PEER_GATE_KEEP;
}

const char *peer_gate_check_name(const struct tls_session *t, const char *claimed)
{
    if (!t || !tls_established(t))
        return "no TLS session";
    if (!tls_peer_verified(t))
        return "no verified certificate";
    if (!tls_peer_is(t, claimed))
        return "certificate_name_mismatch";
    if (!tls_peer_is_member_cert(t))
        return "not_a_member_certificate";
    return NULL;
}
