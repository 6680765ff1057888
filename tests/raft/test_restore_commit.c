/* test_restore_commit.c - a node restarted with the commit index it knew
 * (raft_restore.commit, raft.h's RESTARTING WITH A COMMIT INDEX): clamped
 * to [snapshot index, last restored index], and handed out as committed by
 * the first update, before any message, so the state applied after the
 * restart is the state applied before it.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../lib/solo.h"

static uint8_t bytes[16][4];

/* Entries snap+1..snap+n of the given terms, entry i's 4 bytes distinct. */
static void restore_log(struct raft_restore *rs, struct raft_entry *ents, raft_index snap,
                        raft_term snap_term, const raft_term *terms, size_t n, raft_index commit)
{
    memset(rs, 0, sizeof *rs);
    for (size_t i = 0; i < n; i++) {
        for (int b = 0; b < 4; b++)
            bytes[i][b] = (uint8_t)(snap + 1 + i + 40 * b);
        ents[i] = (struct raft_entry){.term = terms[i], .index = snap + 1 + i,
                                      .type = RAFT_ENTRY_COMMAND, .len = 4, .data = bytes[i]};
    }
    rs->term = n ? terms[n - 1] : snap_term;
    rs->voted_for = RAFT_NO_NODE;
    rs->snap_index = snap;
    rs->snap_term = snap_term;
    rs->entries = ents;
    rs->n_entries = n;
    rs->commit = commit;
}

Test(restore_commit, the_first_update_hands_out_the_restored_commit_before_any_message)
{
    raft_term terms[] = {1, 1, 2, 2, 2, 3};
    struct raft_entry ents[6];
    struct raft_restore rs;
    restore_log(&rs, ents, 0, 0, terms, 6, 4);
    struct solo s;
    solo_init(&s, 3, &rs);
    cr_assert_eq(raft_commit_index(s.r), 4);
    cr_assert_eq(raft_applied_index(s.r), 0, "nothing handed out yet");
    cr_assert_gt(raft_deadline(s.r), s.now, "no timer is due: no election yet");

    solo_tick(&s, s.now);
    cr_assert_eq(s.u.n_messages, 0);
    cr_assert_eq(s.u.role, RAFT_FOLLOWER);
    cr_assert_eq(s.u.leader, RAFT_NO_NODE);
    cr_assert(s.u.flags & RAFT_UPDATE_COMMITTED);
    cr_assert_eq(s.u.n_committed, 4);
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(s.u.committed[i].index, i + 1);
        cr_assert_eq(s.u.committed[i].term, terms[i]);
        cr_assert_eq(memcmp(s.u.committed[i].data, bytes[i], 4), 0);
    }
    cr_assert_eq(raft_applied_index(s.r), 4);
    solo_tick(&s, s.now);
    cr_assert_eq(s.u.n_committed, 0, "handed out once");
    cr_assert_eq(raft_last_index(s.r), 6, "the rest waits for a leader");
    solo_free(&s);
}

Test(restore_commit, a_commit_past_the_last_entry_is_clamped_to_it)
{
    raft_term terms[] = {1, 1, 1, 2, 2};
    struct raft_entry ents[5];
    struct raft_restore rs;
    restore_log(&rs, ents, 0, 0, terms, 5, 9);
    struct solo s;
    solo_init(&s, 3, &rs);
    cr_assert_eq(raft_commit_index(s.r), 5);
    solo_tick(&s, s.now);
    cr_assert_eq(s.u.n_committed, 5);
    cr_assert_eq(s.u.committed[4].index, 5);
    cr_assert_eq(raft_applied_index(s.r), 5);
    solo_free(&s);
}

Test(restore_commit, a_commit_below_the_snapshot_is_raised_to_it)
{
    raft_term terms[] = {2, 2, 3, 3};
    struct raft_entry ents[4];
    struct raft_restore rs;
    raft_index lows[] = {0, 3, 10};
    for (size_t k = 0; k < 3; k++) {
        restore_log(&rs, ents, 10, 2, terms, 4, lows[k]);
        struct solo s;
        solo_init(&s, 3, &rs);
        cr_assert_eq(raft_commit_index(s.r), 10, "commit %llu", (unsigned long long)lows[k]);
        cr_assert_eq(raft_applied_index(s.r), 10);
        solo_tick(&s, s.now);
        cr_assert_eq(s.u.n_committed, 0, "the snapshot holds them");
        solo_free(&s);
    }
    /* Inside the log after the snapshot: from the snapshot on. */
    restore_log(&rs, ents, 10, 2, terms, 4, 12);
    struct solo s;
    solo_init(&s, 3, &rs);
    solo_tick(&s, s.now);
    cr_assert_eq(s.u.n_committed, 2);
    cr_assert_eq(s.u.committed[0].index, 11);
    cr_assert_eq(s.u.committed[1].index, 12);
    cr_assert_eq(memcmp(s.u.committed[1].data, bytes[1], 4), 0);
    solo_free(&s);
}

/* What a node applied, folded: index, term, type and bytes of each entry. */
static uint64_t fold(uint64_t h, const struct raft_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h = (h ^ e[i].index) * 1099511628211ull;
        h = (h ^ e[i].term) * 1099511628211ull;
        h = (h ^ e[i].type) * 1099511628211ull;
        for (uint32_t b = 0; b < e[i].len; b++)
            h = (h ^ e[i].data[b]) * 1099511628211ull;
    }
    return h;
}

Test(restore_commit, the_state_applied_after_a_restart_is_the_state_applied_before_it)
{
    struct solo s;
    solo_init(&s, 3, NULL);
    uint64_t before = 14695981039346656037ull;
    solo_become_leader(&s);
    before = fold(before, s.u.committed, s.u.n_committed);
    solo_propose(&s, 5);
    solo_persisted_all(&s);
    struct raft_msg ack = solo_from(1, RAFT_MSG_APPEND_RESP, raft_current_term(s.r));
    ack.success = true;
    ack.match_index = raft_last_index(s.r);
    solo_recv(&s, &ack);
    before = fold(before, s.u.committed, s.u.n_committed);
    solo_propose(&s, 2); /* appended, not committed: a restart must not apply them */
    raft_index commit = raft_commit_index(s.r), last = raft_last_index(s.r);
    cr_assert_eq(commit, 6, "the no-op and 5 commands");
    cr_assert_eq(last, 8);
    cr_assert_eq(raft_applied_index(s.r), commit);

    /* What storage kept: the whole log, the term, the commit index. */
    struct raft_entry ents[8];
    uint8_t copies[8][8];
    for (raft_index i = 1; i <= last; i++) {
        ents[i - 1] = *raft_entry_at(s.r, i);
        cr_assert_leq(ents[i - 1].len, sizeof copies[0]);
        if (ents[i - 1].len)
            memcpy(copies[i - 1], ents[i - 1].data, ents[i - 1].len);
        ents[i - 1].data = copies[i - 1];
    }
    struct raft_restore rs = {.term = raft_current_term(s.r), .voted_for = 0, .entries = ents,
                              .n_entries = last, .commit = commit};
    solo_free(&s);

    struct solo t;
    solo_init(&t, 3, &rs);
    solo_tick(&t, t.now);
    cr_assert_eq(t.u.n_messages, 0);
    cr_assert_eq(t.u.n_committed, commit);
    cr_assert_eq(fold(14695981039346656037ull, t.u.committed, t.u.n_committed), before,
                 "the same entries, in the same order, with the same bytes");
    cr_assert_eq(raft_applied_index(t.r), commit);
    solo_free(&t);
}

/* The entries after the restored commit index were never committed: a new
 * leader may overwrite them; the commit index never goes back. */
Test(restore_commit, a_new_leader_overwrites_only_what_follows_the_restored_commit)
{
    raft_term terms[] = {1, 1, 1, 2, 2};
    struct raft_entry ents[5];
    struct raft_restore rs;
    restore_log(&rs, ents, 0, 0, terms, 5, 3);
    struct solo s;
    solo_init(&s, 3, &rs);
    solo_tick(&s, s.now);
    cr_assert_eq(s.u.n_committed, 3);

    uint8_t fresh[2][4] = {{9, 9, 9, 9}, {8, 8, 8, 8}};
    struct raft_entry in[2] = {
        {.term = 3, .index = 4, .type = RAFT_ENTRY_COMMAND, .len = 4, .data = fresh[0]},
        {.term = 3, .index = 5, .type = RAFT_ENTRY_COMMAND, .len = 4, .data = fresh[1]},
    };
    struct raft_msg m = solo_from(1, RAFT_MSG_APPEND, 3);
    m.prev_index = 3;
    m.prev_term = 1;
    m.entries = in;
    m.n_entries = 2;
    m.commit = 1; /* behind what this node knew: no step back */
    solo_recv(&s, &m);
    cr_assert_eq(raft_commit_index(s.r), 3);
    cr_assert_eq(s.u.n_committed, 0);
    cr_assert_eq(raft_entry_at(s.r, 4)->term, 3);
    cr_assert_eq(raft_entry_at(s.r, 5)->data[0], 8);
    const struct raft_msg *resp = solo_msg(&s, RAFT_MSG_APPEND_RESP, 1);
    cr_assert_not_null(resp);
    cr_assert(resp->success);
    cr_assert_eq(resp->match_index, 5);
    solo_free(&s);
}
