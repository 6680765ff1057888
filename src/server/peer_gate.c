/* peer_gate.c - the checks an inbound peer connection passes before its
 * Raft frames are read, and the budget of refusal log lines (peer_gate.h). */
#include "server/peer_gate.h"

#include "net/tls.h"

void peer_gate_open(struct peer_gate *g, uint64_t now_ms)
{
    g->opened_ms = now_ms;
    g->received = 0;
    g->authenticated = false;
}

bool peer_gate_take(struct peer_gate *g, size_t n, size_t limit)
{
    if (g->authenticated)
        return true;
    if (n > limit - g->received)
        return false;
    g->received += n;
    return true;
}

bool peer_gate_expired(const struct peer_gate *g, uint64_t now_ms, uint64_t timeout_ms)
{
    return !g->authenticated && now_ms >= g->opened_ms && now_ms - g->opened_ms >= timeout_ms;
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
