/* test_snap_stream.c - the chunked InstallSnapshot state machines stepped by
 * hand (replica/snap_stream.h): the sender's window and acknowledgements,
 * the receiver's checks, when it installs, stalls at either end. The
 * simulator drives the same machines under seeded faults
 * (tests/raft/test_routed_schedules.c).
 */
#include "replica/snap_stream.h"

#include <criterion/criterion.h>

/* 10-byte chunks, 4 unacknowledged at most, 600 ms without progress. */
static const struct snap_stream_config cfg = {.chunk = 10, .window = 4, .stall_ms = 600};

/* A sender with transfer 77 of a 95-byte image (snapshot 40 of term 3, sent
 * in term 5) offered at t=1000 and accepted. */
static void accepted_sender(struct snap_sender *t)
{
    *t = (struct snap_sender){0};
    cr_assert(snap_send_wanted(t, &cfg, 40, 3, 5, 1000));
    snap_send_begin(t, 77, 95, 40, 3, 5, 1000);
    uint64_t off, len;
    cr_assert_not(snap_send_next(t, &cfg, &off, &len), "no chunk before the offer is accepted");
    struct snap_step st = snap_send_ack(t, 77, 0, 0 /* GO_ON */, 1001);
    cr_assert_not(st.end);
}

Test(snap_stream, sender_keeps_four_chunks_in_flight_and_slides_on_acks)
{
    struct snap_sender t;
    accepted_sender(&t);
    uint64_t off, len, offs[8];
    int n = 0;
    while (snap_send_next(&t, &cfg, &off, &len)) {
        cr_assert_eq(len, 10);
        offs[n++] = off;
        snap_send_sent(&t, len);
        cr_assert_leq(n, 4, "more than the window");
    }
    cr_assert_eq(n, 4);
    cr_assert_eq(offs[0], 0);
    cr_assert_eq(offs[3], 30);
    /* Two chunks acknowledged: two more may go. */
    cr_assert_not(snap_send_ack(&t, 77, 20, 0, 1010).end);
    cr_assert(snap_send_next(&t, &cfg, &off, &len));
    cr_assert_eq(off, 40);
    snap_send_sent(&t, len);
    cr_assert(snap_send_next(&t, &cfg, &off, &len));
    cr_assert_eq(off, 50);
    snap_send_sent(&t, len);
    cr_assert_not(snap_send_next(&t, &cfg, &off, &len));
    /* The last chunk is short: 95 bytes are 9 full chunks and 5 bytes. */
    cr_assert_not(snap_send_ack(&t, 77, 60, 0, 1020).end);
    for (int i = 0; i < 3; i++) {
        cr_assert(snap_send_next(&t, &cfg, &off, &len));
        snap_send_sent(&t, len);
    }
    cr_assert(snap_send_next(&t, &cfg, &off, &len));
    cr_assert_eq(off, 90);
    cr_assert_eq(len, 5);
    snap_send_sent(&t, len);
    cr_assert_not(snap_send_next(&t, &cfg, &off, &len), "nothing past the image");
    struct snap_step st = snap_send_ack(&t, 77, 95, 0, 1030);
    cr_assert(st.end);
    cr_assert_str_eq(st.why, "done");
    cr_assert_eq(snap_send_end(&t, 1030), SNAP_SEND_DELIVERED);
    /* The core's resend of the delivered snapshot waits while it installs. */
    cr_assert_not(snap_send_wanted(&t, &cfg, 40, 3, 5, 1030 + 1199));
    cr_assert(snap_send_wanted(&t, &cfg, 40, 3, 5, 1030 + 1200));
    cr_assert(snap_send_wanted(&t, &cfg, 40, 3, 6, 1031), "a new term sends again");
}

Test(snap_stream, sender_ignores_acks_of_other_transfers_and_ends_on_bad_ones)
{
    struct snap_sender t;
    accepted_sender(&t);
    uint64_t off, len;
    while (snap_send_next(&t, &cfg, &off, &len))
        snap_send_sent(&t, len);
    /* An earlier transfer's acknowledgements: DONE, progress, REFUSED. */
    cr_assert_not(snap_send_ack(&t, 76, 0, 1 /* DONE */, 1100).end);
    cr_assert_not(snap_send_ack(&t, 76, 40, 0, 1100).end);
    cr_assert_not(snap_send_ack(&t, 76, 0, 2 /* REFUSED */, 1100).end);
    cr_assert_eq(t.acked, 0);
    cr_assert(t.active);
    cr_assert_not(snap_send_next(&t, &cfg, &off, &len), "the window did not move");
    /* Its own: past what was sent is out of order. */
    struct snap_step st = snap_send_ack(&t, 77, 41, 0, 1100);
    cr_assert(st.end);
    cr_assert(st.warn);
    cr_assert_eq(snap_send_end(&t, 1100), SNAP_SEND_CUT);
    cr_assert_not(t.active);
    accepted_sender(&t);
    st = snap_send_ack(&t, 77, 0, 2, 1100);
    cr_assert(st.end);
    cr_assert_str_eq(st.why, "refused by the receiver (see its log)");
    accepted_sender(&t);
    st = snap_send_ack(&t, 77, 0, 1, 1100);
    cr_assert(st.end);
    cr_assert_eq(snap_send_end(&t, 1100), SNAP_SEND_HAD_IT);
}

Test(snap_stream, sender_stalls_after_600_ms_without_an_ack)
{
    struct snap_sender t;
    accepted_sender(&t);
    cr_assert_eq(snap_send_deadline(&t, &cfg), 1001 + 601);
    cr_assert_not(snap_send_tick(&t, &cfg, 1601).end);
    cr_assert(snap_send_tick(&t, &cfg, 1602).end);
    struct snap_sender idle = {0};
    cr_assert_eq(snap_send_deadline(&idle, &cfg), UINT64_MAX);
}

/* A receiver that took offer 9 of 25 bytes from peer 2 at t=500. */
static void receiving(struct snap_receiver *r)
{
    *r = (struct snap_receiver){0};
    cr_assert_eq(snap_recv_offer(r, 2, 9), SNAP_OFFER_NEW);
    struct snap_step st = snap_recv_begin(r, 2, 9, 25, 500);
    cr_assert(st.ack);
    cr_assert_eq(st.ack_id, 9);
    cr_assert_eq(st.ack_off, 0);
    cr_assert_eq(st.ack_status, 0);
}

Test(snap_stream, receiver_writes_in_order_and_installs_after_the_last_byte)
{
    struct snap_receiver r;
    receiving(&r);
    cr_assert_eq(snap_recv_offer(&r, 2, 9), SNAP_OFFER_DUPLICATE);
    cr_assert_eq(snap_recv_offer(&r, 1, 4), SNAP_OFFER_REPLACES);
    struct snap_step st = snap_recv_chunk(&r, 2, 9, 0, 10, true, 510);
    cr_assert(st.write);
    cr_assert_eq(st.write_off, 0);
    cr_assert_eq(st.write_len, 10);
    cr_assert_eq(st.ack_off, 10);
    cr_assert_not(st.install);
    st = snap_recv_chunk(&r, 2, 9, 10, 10, true, 520);
    cr_assert_eq(st.ack_off, 20);
    cr_assert_not(st.install, "5 bytes are still missing");
    st = snap_recv_chunk(&r, 2, 9, 20, 5, true, 530);
    cr_assert(st.write);
    cr_assert(st.install);
    cr_assert_eq(st.ack_off, 25);
    cr_assert_eq(r.state, SNAP_RECV_INSTALLING);
    /* While it installs: a new offer is refused, its own is a duplicate. */
    cr_assert_eq(snap_recv_offer(&r, 1, 4), SNAP_OFFER_BUSY);
    cr_assert_eq(snap_recv_offer(&r, 2, 9), SNAP_OFFER_DUPLICATE);
    cr_assert_not(snap_recv_tick(&r, &cfg, 5000).end, "no stall while installing");
    snap_recv_reset(&r);
    cr_assert_eq(r.state, SNAP_RECV_IDLE);
}

Test(snap_stream, receiver_refuses_chunks_out_of_order_damaged_or_not_its_own)
{
    struct snap_receiver r;
    receiving(&r);
    /* Another transfer's chunk: refused, this one goes on. */
    struct snap_step st = snap_recv_chunk(&r, 2, 8, 0, 10, true, 510);
    cr_assert_not(st.write);
    cr_assert_not(st.end);
    cr_assert_eq(st.ack_status, 2);
    cr_assert_eq(st.ack_id, 8);
    st = snap_recv_chunk(&r, 1, 9, 0, 10, true, 510);
    cr_assert_not(st.write);
    cr_assert_not(st.end, "another peer's chunk ends nothing");
    cr_assert(snap_recv_chunk(&r, 2, 9, 0, 10, true, 510).write);
    /* A duplicate of the first chunk: out of order, the transfer ends. */
    st = snap_recv_chunk(&r, 2, 9, 0, 10, true, 520);
    cr_assert_not(st.write);
    cr_assert(st.end);
    cr_assert_str_eq(st.why, "chunk out of order");
    cr_assert_eq(st.ack_status, 2);
    receiving(&r);
    st = snap_recv_chunk(&r, 2, 9, 10, 10, true, 510);
    cr_assert(st.end, "a gap");
    receiving(&r);
    st = snap_recv_chunk(&r, 2, 9, 0, 26, true, 510);
    cr_assert_str_eq(st.why, "chunk past the offered size");
    receiving(&r);
    st = snap_recv_chunk(&r, 2, 9, 0, 10, false, 510);
    cr_assert_not(st.write);
    cr_assert_str_eq(st.why, "chunk CRC mismatch");
}

Test(snap_stream, receiver_ends_on_a_stall_or_its_senders_connection_closing)
{
    struct snap_receiver r;
    receiving(&r);
    cr_assert(snap_recv_chunk(&r, 2, 9, 0, 10, true, 700).write);
    cr_assert_eq(snap_recv_deadline(&r, &cfg), 700 + 601);
    cr_assert_not(snap_recv_tick(&r, &cfg, 1300).end);
    cr_assert(snap_recv_tick(&r, &cfg, 1301).end);
    cr_assert_not(snap_recv_peer_gone(&r, 1).end);
    cr_assert(snap_recv_peer_gone(&r, 2).end);
    struct snap_step st = snap_recv_abort(&r, "disk full", true);
    cr_assert(st.end);
    cr_assert_eq(st.ack_id, 9);
    cr_assert_eq(st.ack_status, 2);
}
