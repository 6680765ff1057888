/* replication.c - the leader's side of log replication: per-follower
 * progress, sending batched and pipelined APPENDs, heartbeats, snapshots to
 * followers behind the log, answers to all of these, and check-quorum.
 *
 * Each follower's progress is in one of three states (as etcd's tracker):
 *   PROBE      the leader does not know where the logs agree; one APPEND at
 *              a time, each answer moves nextIndex (5.3, with fast
 *              backtracking from the follower's hint);
 *   REPLICATE  the logs agree up to match; APPENDs stream optimistically,
 *              up to max_inflight unacknowledged (pipelining, thesis 10.2.1);
 *              a follower that refuses one is probed again; one whose
 *              answers stop is asked, at the end of what was sent, whether
 *              it holds it (ask_window), never re-probed merely for being
 *              slow;
 *   SNAPSHOT   nextIndex fell behind the log; the image is on its way.
 *
 * A follower that refuses to agree at or below the match it acknowledged
 * has lost entries it promised were durable (a wiped or replaced disk).
 * nextIndex never goes below match + 1 (match never goes down: that
 * follower must not count as holding what it forgot), so such a follower
 * would refuse every probe; it is probed once per heartbeat interval, never
 * on each refusal. Two such refusals of probes sent in different intervals
 * (one may be a stale answer, reordered behind a later success) flag it as
 * lost: raft_peer_lost_data() and the update's lost_data_peers tell the
 * driver, until it matches at its old match again.
 */
#include <string.h>

#include "raft/raft_private.h"

static void inflight_clear(struct raft_progress *pr)
{
    pr->inflight_head = pr->inflight_count = 0;
}

static void inflight_push(struct raft *r, struct raft_progress *pr, raft_index last)
{
    size_t cap = r->cfg.max_inflight;
    pr->inflight[(pr->inflight_head + pr->inflight_count) % cap] = last;
    pr->inflight_count++;
}

/* Acknowledged up to `match`: every APPEND ending at or before it is done. */
static void inflight_free_to(struct raft *r, struct raft_progress *pr, raft_index match)
{
    size_t cap = r->cfg.max_inflight;
    while (pr->inflight_count && pr->inflight[pr->inflight_head] <= match) {
        pr->inflight_head = (pr->inflight_head + 1) % cap;
        pr->inflight_count--;
    }
}

static void progress_probe(struct raft_progress *pr, raft_index next)
{
    pr->state = PROGRESS_PROBE;
    pr->next = next;
    pr->probe_sent = false;
    pr->probe_parked = false;
    pr->suspect = false;
    pr->paced = false;
    inflight_clear(pr);
}

static void lost_data_clear(struct raft_progress *pr)
{
    pr->refused_below_match = 0;
    pr->lost_data = false;
    pr->lost_agree = 0;
}

void replication_progress_init(struct raft *r, int id)
{
    struct raft_progress *pr = &r->progress[id];
    pr->match = 0;
    pr->last_heard_ms = r->now; /* a new leader gives everyone a full timeout */
    pr->acked_seq = 0;
    pr->snapshot_sent_ms = 0;
    pr->match_at_heartbeat = 0;
    pr->stream_moved_ms = r->now;
    pr->sent_seq = 0;
    pr->sent_since_tick = false;
    pr->pace_due_us = 0;
    pr->paced = false;
    lost_data_clear(pr);
    progress_probe(pr, log_last_index(&r->log) + 1);
}

void replication_reset_progress(struct raft *r)
{
    for (int i = 0; i < RAFT_MAX_NODES; i++)
        replication_progress_init(r, i);
}

/* 5.2 and 8 (thesis 6.4): a new leader appends a no-op of its own term, so
 * that it can commit, and so learn which earlier entries are committed,
 * without waiting for a client. */
void replication_become_leader(struct raft *r)
{
    r->role = RAFT_LEADER;
    r->leader = r->cfg.id;
    replication_reset_progress(r);
    r->growth_from_bytes = r->proposed_bytes;
    r->growth_from_ms = r->now;
    r->growth_bytes_per_sec = 0;
    r->heartbeat_deadline = r->now + r->cfg.heartbeat_interval_ms;
    raft_index last = log_last_index(&r->log);
    if (log_append(&r->log, r->term, RAFT_ENTRY_NOOP, NULL, 0) == RAFT_OK)
        raft_mark_written(r, last + 1);
    TRACE(r, "won term %llu -> lead, append no-op at %llu", (unsigned long long)r->term,
          (unsigned long long)(last + 1));
    replication_broadcast_append(r);
    commit_leader_advance(r);
}

static void send_snapshot(struct raft *r, int to)
{
    struct raft_progress *pr = &r->progress[to];
    read_index_before_send(r);
    struct raft_msg *m = raft_msg_push(r, RAFT_MSG_SNAPSHOT, to);
    if (!m)
        return;
    m->snap_index = r->snap_index;
    m->snap_term = r->snap_term;
    m->snap_data = r->snap_data;
    m->snap_len = r->snap_len;
    m->snap_conf = &r->snap_conf;
    m->commit = r->commit;
    m->seq = pr->sent_seq = r->hb_seq;
    pr->state = PROGRESS_SNAPSHOT;
    pr->snapshot_sent_ms = r->now;
    inflight_clear(pr);
    TRACE(r, "n%d next %llu behind log start %llu -> send snapshot at %llu", to,
          (unsigned long long)pr->next, (unsigned long long)(r->log.offset + 1),
          (unsigned long long)r->snap_index);
}

/* The batch bounds for pr's next APPEND, and the last index it may carry.
 * A streaming follower that lacks more committed entries than one ordinary
 * APPEND holds is catching up: it gets the catch-up bounds, up to the
 * commit index only (raft.h). Anyone else, a probe included, the ordinary
 * ones. */
static raft_index batch_bounds(const struct raft *r, const struct raft_progress *pr,
                               size_t *max_n, size_t *max_bytes, bool *catchup)
{
    *max_n = r->cfg.max_entries_per_msg;
    *max_bytes = r->cfg.max_bytes_per_msg;
    *catchup = false;
    raft_index last = log_last_index(&r->log);
    if (pr->state != PROGRESS_REPLICATE || r->commit < pr->next ||
        r->commit - pr->next + 1 <= r->cfg.max_entries_per_msg)
        return last;
    *catchup = true;
    if (r->cfg.catchup_entries_per_msg > *max_n)
        *max_n = r->cfg.catchup_entries_per_msg;
    if (r->cfg.catchup_bytes_per_msg > *max_bytes)
        *max_bytes = r->cfg.catchup_bytes_per_msg;
    return r->commit < last ? r->commit : last;
}

/* Catch-up pacing, a virtual clock per follower (GCRA): each catch-up
 * APPEND of B bytes moves pace_due_us on by B / rate seconds from now or
 * from where it was, whichever is later; the next may go while pace_due_us
 * is at most one full catch-up APPEND's time ahead of now. So the average
 * stays at the rate, and a burst is two APPENDs. The rate is 1.5 times the
 * log's growth over the last second, so a follower always gains on the
 * log (by half its growth at least), whatever the writes, while its
 * catch-up costs the leader (and, on shared cores, the members serving)
 * about 1.5 times what keeping up costs rather than all they can give; or
 * the floor catchup_bytes_per_sec less twice the growth when that is more:
 * the whole floor on an idle log, which nobody else needs the cores for,
 * less as writes come (from 2/7 of the floor on, 1.5 times the growth
 * alone), so a cluster slowed by its cores is not charged the floor's
 * several times its own rate. */
static uint64_t pace_rate(const struct raft *r)
{
    uint64_t g = r->growth_bytes_per_sec;
    uint64_t f = r->cfg.catchup_bytes_per_sec;
    uint64_t rate = g / 2 * 3;
    if (f > 2 * g && f - 2 * g > rate)
        rate = f - 2 * g;
    return rate ? rate : 1;
}

static uint64_t pace_us(const struct raft *r, size_t bytes)
{
    return (uint64_t)bytes * 1000000u / pace_rate(r);
}

/* At each heartbeat tick: the log's growth per second, once a second. */
static void measure_growth(struct raft *r)
{
    uint64_t ms = r->now - r->growth_from_ms;
    if (ms < 1000)
        return;
    r->growth_bytes_per_sec = (r->proposed_bytes - r->growth_from_bytes) * 1000 / ms;
    r->growth_from_bytes = r->proposed_bytes;
    r->growth_from_ms = r->now;
}

static bool pace_holds(const struct raft *r, const struct raft_progress *pr)
{
    if (!r->cfg.catchup_bytes_per_sec)
        return false;
    return pr->pace_due_us > r->now * 1000 + pace_us(r, r->cfg.catchup_bytes_per_msg);
}

static void pace_charge(const struct raft *r, struct raft_progress *pr, size_t bytes)
{
    if (!r->cfg.catchup_bytes_per_sec)
        return;
    uint64_t now_us = r->now * 1000;
    if (pr->pace_due_us < now_us)
        pr->pace_due_us = now_us;
    pr->pace_due_us += pace_us(r, bytes);
}

/* One APPEND from pr->next: as many entries as the batch bounds allow (at
 * least one when there is any). Returns false when nothing was sent. */
static bool send_one_append(struct raft *r, int to)
{
    struct raft_progress *pr = &r->progress[to];
    if (pr->state == PROGRESS_SNAPSHOT)
        return false;
    raft_index prev = pr->next - 1;
    raft_term prev_term;
    if (!log_term_at(&r->log, prev, &prev_term)) {
        send_snapshot(r, to);
        return true;
    }
    size_t max_n, max_bytes;
    bool catchup;
    raft_index last = batch_bounds(r, pr, &max_n, &max_bytes, &catchup);
    /* A catch-up batch is never empty (it lacks more than one ordinary
     * APPEND), so the pace is asked before the batch is measured: a held
     * follower is asked at every proposal and every answer, and measuring
     * its batch each time read a whole catch-up batch of cold entries for
     * nothing. */
    if (catchup && pr->inflight_count < r->cfg.max_inflight && pace_holds(r, pr)) {
        pr->paced = true; /* the heartbeat tick sends it if nothing else does */
        return false;
    }
    size_t n = 0, bytes = 0;
    r->batches_measured++;
    for (raft_index i = pr->next; i <= last && n < max_n; i++) {
        size_t len = log_get(&r->log, i)->len;
        if (n > 0 && bytes + len > max_bytes)
            break;
        bytes += len;
        n++;
    }
    if (pr->state == PROGRESS_PROBE) {
        if (pr->probe_sent)
            return false;
        pr->probe_sent = true;
    } else if (n == 0 || pr->inflight_count >= r->cfg.max_inflight) {
        return false;
    }
    if (catchup)
        pace_charge(r, pr, bytes);
    read_index_before_send(r);
    struct raft_msg *m = raft_msg_push(r, RAFT_MSG_APPEND, to);
    if (!m)
        return false;
    m->prev_index = prev;
    m->prev_term = prev_term;
    m->commit = r->commit;
    m->n_entries = n; /* entries are pointed at in finish_update() */
    m->seq = pr->sent_seq = r->hb_seq;
    pr->sent_since_tick = true;
    if (pr->state == PROGRESS_REPLICATE) {
        /* Optimistic: assume it arrives and send the next batch after it. */
        inflight_push(r, pr, prev + n);
        pr->next = prev + n + 1;
    }
    return true;
}

void replication_send_append(struct raft *r, int to)
{
    struct raft_progress *pr = &r->progress[to];
    if (pr->state == PROGRESS_REPLICATE) {
        while (send_one_append(r, to))
            ;
    } else {
        send_one_append(r, to);
    }
}

void replication_broadcast_append(struct raft *r)
{
    FOR_EACH_PEER(r, k, i)
        replication_send_append(r, i);
}

/* An empty APPEND at prev: it asserts leadership (5.2), carries the commit
 * index (up to prev) and the heartbeat round for ReadIndex. */
static void send_empty_append(struct raft *r, int to, raft_index prev, raft_term prev_term)
{
    struct raft_progress *pr = &r->progress[to];
    read_index_before_send(r);
    struct raft_msg *m = raft_msg_push(r, RAFT_MSG_APPEND, to);
    if (!m)
        return;
    m->prev_index = prev;
    m->prev_term = prev_term;
    m->commit = r->commit < prev ? r->commit : prev;
    m->seq = pr->sent_seq = r->hb_seq;
    pr->sent_since_tick = true;
}

/* The heartbeat: an empty APPEND at the position known to match, which
 * every follower that kept its log accepts. */
void replication_send_heartbeat(struct raft *r, int to)
{
    raft_index prev = r->progress[to].match;
    raft_term prev_term;
    if (!log_term_at(&r->log, prev, &prev_term)) {
        prev = 0; /* compacted: index 0 matches everywhere */
        prev_term = 0;
    }
    send_empty_append(r, to, prev, prev_term);
}

void replication_broadcast_heartbeat(struct raft *r)
{
    FOR_EACH_PEER(r, k, i)
        replication_send_heartbeat(r, i);
}

/* How long a streaming follower that is behind may go without its match
 * moving before the leader asks whether its stream is intact (on top of
 * one whole heartbeat interval). One catching up may take a while over
 * each large APPEND (and its sync) before it acknowledges the first: give
 * it an election timeout. */
static uint64_t stuck_patience(const struct raft *r, const struct raft_progress *pr)
{
    bool catching_up = r->cfg.catchup_entries_per_msg > r->cfg.max_entries_per_msg &&
                       r->commit > pr->match && r->commit - pr->match > r->cfg.max_entries_per_msg;
    return catching_up ? r->cfg.election_timeout_ms : 0;
}

/* A streaming follower's match has not moved for that long while APPENDs
 * are out. Its answers may merely be late: a follower answers only once its
 * log is durable, so one whose fsync stalls is silent meanwhile. Or an
 * APPEND, or its answer, was lost. Ask instead of guessing: an empty APPEND
 * at the end of what was sent, in place of the heartbeat. A follower holding
 * all of it accepts (once durable; match moves to the window's end, nothing
 * is sent twice); one lacking some of it refuses with its last index, and
 * that refusal probes from there (recv_append_resp, 5.3). So a slow
 * follower keeps its place and its APPENDs in flight, as etcd's does,
 * where probing again would send the whole window twice. False when
 * nothing is out (or the window's end was compacted): then probe. */
static bool ask_window(struct raft *r, int to)
{
    struct raft_progress *pr = &r->progress[to];
    raft_index end = pr->next - 1;
    raft_term end_term;
    if (end <= pr->match || !log_term_at(&r->log, end, &end_term))
        return false;
    send_empty_append(r, to, end, end_term);
    return true;
}

/* Figure 2 (heartbeats) and thesis 6.2: every follower hears from the
 * leader each interval. A follower streamed an APPEND since the last tick
 * has heard already and gets no extra heartbeat, unless a read round must
 * ride on it. */
void replication_heartbeat_tick(struct raft *r, bool read_round)
{
    raft_index last = log_last_index(&r->log);
    measure_growth(r);
    FOR_EACH_PEER(r, k, i) {
        struct raft_progress *pr = &r->progress[i];
        switch (pr->state) {
        case PROGRESS_PROBE:
            /* The probe may have been lost, or was refused below match
             * and parked until now: send it again. */
            pr->probe_sent = false;
            pr->probe_parked = false;
            send_one_append(r, i);
            break;
        case PROGRESS_REPLICATE:
            if (pr->paced && !pr->suspect) {
                /* Held back by the catch-up pace: send on, and count the
                 * wait as progress (nothing is lost, nothing to ask). */
                pr->paced = false;
                pr->stream_moved_ms = r->now;
                replication_send_append(r, i);
                if (read_round || !pr->sent_since_tick)
                    replication_send_heartbeat(r, i);
            } else if (pr->suspect) {
                TRACE(r, "n%d refused below match %llu -> probe at match", i,
                      (unsigned long long)pr->match);
                progress_probe(pr, pr->match + 1);
                send_one_append(r, i);
            } else if (pr->match < last && pr->match == pr->match_at_heartbeat &&
                       r->now - pr->stream_moved_ms >= stuck_patience(r, pr)) {
                /* No progress for a whole heartbeat interval while behind
                 * (an election timeout while catching up). */
                if (ask_window(r, i)) {
                    TRACE(r, "n%d no answer past %llu -> ask at %llu (the last sent), keep streaming",
                          i, (unsigned long long)pr->match, (unsigned long long)(pr->next - 1));
                } else {
                    TRACE(r, "n%d stuck at %llu < %llu, nothing out -> probe", i,
                          (unsigned long long)pr->match, (unsigned long long)last);
                    progress_probe(pr, pr->match + 1);
                    send_one_append(r, i);
                }
            } else if (read_round || !pr->sent_since_tick) {
                replication_send_heartbeat(r, i);
            }
            break;
        case PROGRESS_SNAPSHOT:
            if (r->now - pr->snapshot_sent_ms >= r->cfg.election_timeout_ms)
                send_snapshot(r, i); /* lost, or its answer was */
            else
                replication_send_heartbeat(r, i);
            break;
        }
        pr->match_at_heartbeat = pr->match;
        pr->sent_since_tick = false;
    }
}

/* 5.3: on rejection, move nextIndex back. The hint lets the leader skip a
 * whole conflicting term per round trip instead of one entry. */
static raft_index next_from_hint(const struct raft *r, const struct raft_msg *m)
{
    if (m->hint_term == 0)
        return m->hint_index + 1; /* the follower's log ends at hint_index */
    raft_index k = m->reject_index;
    raft_index last = log_last_index(&r->log);
    if (k > last)
        k = last;
    raft_term t;
    while (k > r->log.offset && log_term_at(&r->log, k, &t) && t > m->hint_term)
        k--;
    if (log_term_at(&r->log, k, &t) && t == m->hint_term)
        return k + 1; /* we share hint_term up to k */
    return m->hint_index; /* we have none of hint_term: skip all of it */
}

/* The follower says our logs agree at most up to an index below the match
 * it acknowledged. Never resend at once (that is a storm: it refuses again
 * at once); the heartbeat tick probes again. */
static void refused_below_match(struct raft *r, int id, const struct raft_msg *m)
{
    struct raft_progress *pr = &r->progress[id];
    if (pr->state == PROGRESS_REPLICATE) {
        /* Maybe a stale answer: keep streaming, probe at the next tick. */
        if (!pr->suspect)
            TRACE(r, "n%d rejects at %llu (hint %llu term %llu) below match %llu -> probe at "
                     "next heartbeat",
                  id, (unsigned long long)m->reject_index, (unsigned long long)m->hint_index,
                  (unsigned long long)m->hint_term, (unsigned long long)pr->match);
        pr->suspect = true;
        return;
    }
    /* PROBE: it refused the probe out. hint_term 0: its log ends at
     * hint_index; else its entries from hint_index on have another term. */
    raft_index agree = m->hint_term == 0 ? m->hint_index : m->hint_index - 1;
    if (pr->refused_below_match < 255)
        pr->refused_below_match++;
    bool confirmed = pr->refused_below_match >= 2;
    if (!pr->lost_data)
        TRACE(r, "n%d refuses probe at %llu, agrees only to %llu < match %llu (%u in a row) -> %s",
              id, (unsigned long long)m->reject_index, (unsigned long long)agree,
              (unsigned long long)pr->match, (unsigned)pr->refused_below_match,
              confirmed ? "flag lost data, probe at next heartbeat" : "probe at next heartbeat");
    progress_probe(pr, pr->match + 1);
    pr->probe_sent = pr->probe_parked = true;
    if (confirmed) {
        pr->lost_data = true;
        pr->lost_agree = agree;
        r->lost_data_seen |= 1ull << id;
    }
}

/* It holds its acknowledged match after all (a snapshot, or the refusals
 * were stale). */
static void matched_again(struct raft *r, int id, raft_index match)
{
    struct raft_progress *pr = &r->progress[id];
    if (match < pr->match || (!pr->lost_data && !pr->refused_below_match))
        return;
    TRACE(r, "n%d matches at %llu >= match %llu -> not lost", id, (unsigned long long)match,
          (unsigned long long)pr->match);
    lost_data_clear(pr);
}

/* The heartbeat round an answer echoes: never past the latest round this
 * node started (no such message went out), so a forged round cannot
 * confirm reads ahead of time. */
static void ack_round(struct raft *r, struct raft_progress *pr, const struct raft_msg *m)
{
    if (m->seq > r->hb_seq) {
        TRACE(r, "n%d answers round %llu > latest %llu -> ignore the round", m->from,
              (unsigned long long)m->seq, (unsigned long long)r->hb_seq);
        return;
    }
    if (m->seq > pr->acked_seq)
        pr->acked_seq = m->seq;
}

void replication_recv_append_resp(struct raft *r, const struct raft_msg *m)
{
    if (r->role != RAFT_LEADER || !config_is_member(r, m->from))
        return; /* a removed member's answers count for nothing */
    struct raft_progress *pr = &r->progress[m->from];
    pr->last_heard_ms = r->now;
    ack_round(r, pr, m);

    if (m->success) {
        if (m->match_index > log_last_index(&r->log))
            return; /* not something this leader sent */
        matched_again(r, m->from, m->match_index);
        if (m->match_index > pr->match) {
            pr->match = m->match_index;
            pr->stream_moved_ms = r->now;
            if (pr->next <= pr->match)
                pr->next = pr->match + 1;
            inflight_free_to(r, pr, pr->match);
            commit_leader_advance(r);
        }
        if (pr->state == PROGRESS_PROBE && m->match_index >= pr->next - 1) {
            TRACE(r, "n%d matches at %llu -> replicate", m->from,
                  (unsigned long long)m->match_index);
            pr->state = PROGRESS_REPLICATE;
            pr->next = pr->match + 1;
            pr->stream_moved_ms = r->now;
            inflight_clear(pr);
        }
        replication_send_append(r, m->from);
        return;
    }

    if (pr->state == PROGRESS_SNAPSHOT)
        return;
    if (pr->state == PROGRESS_PROBE && (pr->probe_parked || m->reject_index != pr->next - 1))
        return; /* answers an older probe, or no probe is out */
    raft_index next = next_from_hint(r, m);
    if (next > m->reject_index)
        next = m->reject_index;
    if (next <= pr->match) {
        /* In REPLICATE every reject at or below match lands here. */
        refused_below_match(r, m->from, m);
        return;
    }
    if (next > log_last_index(&r->log) + 1)
        next = log_last_index(&r->log) + 1; /* a reject of what we never sent */
    TRACE(r, "n%d rejects at %llu (hint %llu term %llu) -> probe from %llu", m->from,
          (unsigned long long)m->reject_index, (unsigned long long)m->hint_index,
          (unsigned long long)m->hint_term, (unsigned long long)next);
    progress_probe(pr, next);
    send_one_append(r, m->from);
}

void replication_recv_snapshot_resp(struct raft *r, const struct raft_msg *m)
{
    if (r->role != RAFT_LEADER || !config_is_member(r, m->from))
        return;
    struct raft_progress *pr = &r->progress[m->from];
    pr->last_heard_ms = r->now;
    ack_round(r, pr, m);
    if (pr->state != PROGRESS_SNAPSHOT || m->match_index > log_last_index(&r->log))
        return;
    matched_again(r, m->from, m->match_index);
    if (m->match_index > pr->match) {
        pr->match = m->match_index;
        commit_leader_advance(r);
    }
    TRACE(r, "n%d installed snapshot, matches at %llu -> probe", m->from,
          (unsigned long long)pr->match);
    progress_probe(pr, pr->match + 1);
    send_one_append(r, m->from);
}

/* Thesis 6.2: a leader that has not heard from a majority of the voters
 * (itself included while it is one) within an election timeout steps down,
 * so clients stuck with it can find the real leader and its reads never
 * rest on a stale view. Checked at every
 * heartbeat, so it stops within a heartbeat interval of that timeout. */
void replication_check_quorum(struct raft *r)
{
    if (!r->cfg.check_quorum)
        return;
    uint64_t active = 1ull << r->cfg.id;
    FOR_EACH_PEER(r, k, i)
        if (r->now - r->progress[i].last_heard_ms < r->cfg.election_timeout_ms)
            active |= 1ull << i;
    if (quorum_reached(r, active))
        return;
    TRACE(r, "heard from too few of %d voters in an election timeout -> step down",
          raft_configuration_voters(&r->conf));
    election_become_follower(r, r->term, RAFT_NO_NODE);
}
