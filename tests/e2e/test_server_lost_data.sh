#!/usr/bin/env bash
# test_server_lost_data.sh - a member that lost its data (kill -9, data
# directory deleted, started again under the same name with --first-start,
# the operator vouching wrongly that it never ran) is found out and
# costs nothing: within a few seconds the leader's INFO flags its peer line
# with lost_data=1 and the leader logs an error saying what happened and
# what to do; the leader sends it a bounded number of frames (one probe per
# heartbeat, not a storm); the leader never lowers its match; and the other
# two members keep taking writes. Then, wiped again and started with its
# --peers line alone (no --first-start), it stays out of the cluster: it
# refuses the cluster's connections and logs what to do (RAFT.NODE REMOVE,
# then add it with --join), so it votes for nobody: with the leader killed,
# the other member cannot be elected with its vote; the leader back,
# writes go on.
#   tests/e2e/test_server_lost_data.sh BUILD      (KEEP=1 keeps the logs)
set -euo pipefail
build=${1:-build}
source "$(dirname "$0")/lib_server.sh"

pick_ports
for i in 1 2 3; do start_node "$i"; done
L=$(wait_leader)
F=$(( L % 3 + 1 )); G=$(( F % 3 + 1 ))
echo "cluster up: leader n$L, victim n$F, other follower n$G, work dir $WORK"

for k in $(seq 1 20); do r=$(cli $L SET "k$k" "v$k"); [ "$r" = OK ] || fail "SET k$k: $r"; done
wait_applied $F "$(info_field $L commit_index)"
echo "ok  20 keys written and applied on n$F"

kill_node $F 9
rm -rf "${WORK:?}/n$F"
# Writes while it is down, so the leader's log runs past n$F's match (the
# path that used to storm) ...
for k in $(seq 21 30); do cli $L SET "k$k" "v$k" >/dev/null; done
peer_line() { cli $L INFO | tr -d '\r' | grep "^peer_n$F:"; }
peer_field() { peer_line | tr ',' '\n' | awk -F= -v k="$1" '$1 == k {print $2}'; }
match_before=$(peer_field match)
[ "${match_before:-0}" -ge 20 ] || fail "leader's match for n$F before the wipe is '${match_before:-}', want >= 20"
echo "ok  the leader records n$F's match at $match_before"
start_node $F --first-start
echo "n$F restarted with an empty data directory and --first-start"

# --- flagged in INFO ------------------------------------------------------------------
deadline=$((SECONDS + 5))
until [ "$(peer_field lost_data)" = 1 ]; do
  [ $SECONDS -lt $deadline ] || fail "leader's INFO does not flag n$F within 5 s: $(peer_line)"
  sleep 0.1
done
echo "ok  leader's INFO flags it: $(peer_line)"

# --- the error line -------------------------------------------------------------------
grep -q "level=error .*event=peer_lost_data .*peer=n$F " "$WORK/n$L.log" ||
  fail "the leader's log has no peer_lost_data error for n$F"
grep "event=peer_lost_data" "$WORK/n$L.log" | head -n 1
grep "event=peer_lost_data" "$WORK/n$L.log" | grep -q "RAFT.NODE REMOVE it on the leader, then add it back with an empty data directory" ||
  fail "the error does not say what to do"
echo "ok  the leader logs what happened and what to do"

# --- no storm: frames to n$F over 2 s ---------------------------------------------------
f0=$(peer_field frames_sent)
sleep 2
f1=$(peer_field frames_sent)
frames=$((f1 - f0))
echo "frames sent to n$F in 2 s: $frames (heartbeat 50 ms: about 40)"
[ "$frames" -lt 200 ] || fail "$frames frames to n$F in 2 s: a message storm"
echo "ok  frames to the lost member are bounded"
n_err=$(grep -c "event=peer_lost_data" "$WORK/n$L.log" || true)
[ "$n_err" -le 3 ] || fail "the error was logged $n_err times in a few seconds: not rate-limited"
echo "ok  the error is logged $n_err time(s), not per message"

# --- match never goes down; the rest keeps committing -----------------------------------
match_after=$(peer_field match)
[ "$match_after" -ge "$match_before" ] || fail "match for n$F went down: $match_before -> $match_after"
echo "ok  match for n$F stays at $match_after (was $match_before)"
expect "SET after the loss, on the leader" "$(cli $L SET after lost)" OK
expect "SET through the other follower" "$(cli $G SET after2 lost2)" OK
expect "read back on the other follower" "$(cli $G GET after)" lost
expect "an old key survives" "$(cli $G GET k25)" v25
expect "the restarted member applied nothing" "$(info_field $F applied_index)" 0
[ "$(peer_field lost_data)" = 1 ] || fail "flag cleared although n$F still has no data"


# --- without --first-start it stays out, and says what to do -----------------------------
kill_node $F 9
rm -rf "${WORK:?}/n$F"
NO_FIRST_START=1 start_node $F
echo "n$F wiped again and restarted with its --peers line only"
deadline=$((SECONDS + 10))
until grep -q "event=empty_member_refused" "$WORK/n$F.log"; do
  [ $SECONDS -lt $deadline ] || fail "the wiped n$F does not refuse the cluster within 10 s"
  sleep 0.1
done
grep "event=empty_member_refused" "$WORK/n$F.log" | head -n 1
grep -q "level=error node=n$F event=empty_member_refused name=n$F peer=n[123] .*RAFT.NODE REMOVE n$F on the leader, start it with an empty data directory and --join HOST:PORT" "$WORK/n$F.log" ||
  fail "the refusal does not say to remove n$F and add it again with --join"
expect "n$F learned no cluster id" "$(info_field $F cluster_id)" none
expect "writes go on" "$(cli $L SET during-refusal v)" OK
# It votes for nobody: with the leader gone, n$G cannot win an election
# (one vote of three), although the empty n$F would grant it its vote.
kill_node $L 9
sleep 3
r=$(cli $G LEADER)
[ -z "$r" ] || fail "n$G and the empty n$F elected a leader ($r) without the old leader"
[ "$(info_field $G raft_role)" != leader ] || fail "n$G leads with the empty n$F's vote"
echo "ok  with the leader killed, no leader among n$G and the empty n$F for 3 s: it votes for nobody"
expect "the empty n$F applied nothing" "$(info_field $F applied_index)" 0
start_node $L
L2=$(wait_leader $L $G)
expect "the old leader back: writes go on" "$(cli $L2 SET after-refusal v)" OK

for i in 1 2 3; do kill_node $i TERM; done
PID=()
echo "test_server_lost_data: all checks passed"
