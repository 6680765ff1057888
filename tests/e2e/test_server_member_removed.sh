#!/usr/bin/env bash
# test_server_member_removed.sh - what the others show and do about members
# that left. 3 members, n4 joins, the middle member n2 is removed: INFO
# (raft and replication sections) and /metrics on the leader name exactly
# n3 and n4, by name and stable id, with their match and lag. Then n3 is
# killed, removed while down, and started again with its old log: the
# leader answers its handshake with REMOVED, n3 logs why and stops, a
# second start is refused at once, and n1 and n4 keep their leader and term
# throughout; the member that answers REMOVED shuts the connection after
# it (a peer that keeps it open sees the end). Last, a HELLO in peer
# protocol version 4 (the release before transactions' script-cache flags) is refused
# with a log line naming both versions.
#   tests/e2e/test_server_member_removed.sh BUILD      (KEEP=1 keeps the logs)
set -euo pipefail
build=${1:-build}
source "$(dirname "$0")/lib_server.sh"
ATTACK=(/usr/bin/python3 "$(cd "$(dirname "$0")" && pwd)/attack.py")

NODES=4
pick_ports # n1..n4's ports and certificates; the cluster starts with n1..n3
PEERS="n1=127.0.0.1:${PPORT[1]},n2=127.0.0.1:${PPORT[2]},n3=127.0.0.1:${PPORT[3]}"
declare -a MPORT
for i in 1 2 3 4; do MPORT[$i]=$(free_port); done

metrics() { # metrics I: nI's /metrics body
  exec 3<>"/dev/tcp/127.0.0.1/${MPORT[$1]}"
  printf 'GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' >&3
  timeout 5 cat <&3 | tr -d '\r' | sed '1,/^$/d' || true
  exec 3<&- 3>&-
}
info() { cli "$1" INFO "$2" | tr -d '\r'; }
running() { kill -0 "${PID[$1]}" 2>/dev/null; }
wait_exit() { # wait_exit I SECONDS: nI exited by itself within SECONDS (sets LAST_EXIT)
  local deadline=$((SECONDS + $2))
  while running "$1" && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
  running "$1" && fail "n$1 still runs after $2 s"
  LAST_EXIT=0
  wait "${PID[$1]}" 2>/dev/null || LAST_EXIT=$?
  PID[$1]=
}

for i in 1 2 3; do start_node "$i" --metrics-listen "127.0.0.1:${MPORT[$i]}"; done
L=$(wait_leader 1 2 3)
[ "$L" = 1 ] || { expect "transfer to n1" "$(cli "$L" RAFT.TRANSFER_LEADER n1)" OK; L=$(wait_leader 1 2 3); }
expect "n1 leads" "$L" 1

mkdir -p "$WORK/n4"
"$RAFTKV" serve --id n4 --join "127.0.0.1:${PPORT[1]}" --peer-listen "127.0.0.1:${PPORT[4]}" \
  --listen "127.0.0.1:${CPORT[4]}" --data-dir "$WORK/n4" --election-timeout-ms 300 --heartbeat-ms 50 \
  --certs-dir "$WORK/certs" --metrics-listen "127.0.0.1:${MPORT[4]}" >>"$WORK/n4.log" 2>&1 &
PID[4]=$!
expect "ADD n4" "$(cli 1 RAFT.NODE ADD n4 "127.0.0.1:${PPORT[4]}")" OK
deadline=$((SECONDS + 15))
until cli 1 RAFT.NODE LIST | tr -d '\r' | grep -q '^name=n4 .*suffrage=voter'; do
  [ $SECONDS -lt $deadline ] || fail "n4 not promoted: $(cli 1 RAFT.NODE LIST)"
  sleep 0.2
done
expect "REMOVE n2 (the middle member)" "$(cli 1 RAFT.NODE REMOVE n2)" OK
wait_exit 2 10
echo "ok  n2 stopped once removed (exit $LAST_EXIT)"
for k in 1 2 3 4 5; do expect "SET k$k" "$(cli 1 SET "k$k" v)" OK; done

# --- INFO and /metrics name the members that are left --------------------------------
last=$(info 1 raft | awk -F: '$1 == "last_index" {print $2}')
deadline=$((SECONDS + 10))
until [ "$(info 1 raft | grep -c "match=$last,next=$((last + 1)),lag=0")" = 2 ]; do
  [ $SECONDS -lt $deadline ] || fail "peers not caught up to $last: $(info 1 raft)"
  sleep 0.1
done
expect "INFO raft: nodes" "$(info 1 raft | awk -F: '$1 == "nodes" {print $2}')" 3
expect "INFO raft: the peers, by name" "$(info 1 raft | grep '^peer_' | cut -d: -f1 | tr '\n' ' ')" "peer_n3 peer_n4 "
expect "INFO raft: n3's id, progress and suffrage" \
  "$(info 1 raft | grep '^peer_n3:' | grep -o 'match=.*')" "match=$last,next=$((last + 1)),lag=0,lost_data=0,id=2,member=voter"
expect "INFO raft: n4's id (the smallest free one when it joined)" \
  "$(info 1 raft | grep '^peer_n4:' | grep -o 'id=.*')" "id=3,member=voter"
expect "INFO replication: the replicas" \
  "$(info 1 replication | grep '^slave' | sed 's/,port=[0-9]*//')" \
  "slave0:ip=127.0.0.1,state=online,offset=$last,name=n3,id=2,lag_entries=0
slave1:ip=127.0.0.1,state=online,offset=$last,name=n4,id=3,lag_entries=0"
expect "INFO replication: connected_slaves" "$(info 1 replication | awk -F: '$1 == "connected_slaves" {print $2}')" 2
M=$(metrics 1)
expect "/metrics: members" "$(awk '$1 == "raftkv_members" {print $2}' <<<"$M")" 3
expect "/metrics: the peers" "$(grep '^raftkv_peer_member{' <<<"$M")" \
  'raftkv_peer_member{peer="n3",id="2",role="voter"} 1
raftkv_peer_member{peer="n4",id="3",role="voter"} 1'
expect "/metrics: match" "$(grep '^raftkv_peer_match_index{' <<<"$M")" \
  "raftkv_peer_match_index{peer=\"n3\"} $last
raftkv_peer_match_index{peer=\"n4\"} $last"
expect "/metrics: lag" "$(grep '^raftkv_peer_lag_entries{' <<<"$M")" \
  'raftkv_peer_lag_entries{peer="n3"} 0
raftkv_peer_lag_entries{peer="n4"} 0'
expect "/metrics: no line names n2" "$(grep -c 'peer="n2"' <<<"$M" || true)" 0

# --- a member removed while it was down learns it when it comes back -------------------
kill_node 3 KILL
PID[3]=
expect "REMOVE n3 while it is down" "$(cli 1 RAFT.NODE REMOVE n3)" OK
# n1 dials a removed member for 10 s to tell it (a MEMBERS frame), then
# forgets it; only the handshake can tell it after that.
deadline=$((SECONDS + 15))
until grep -q 'member_departed peer=n3 told=no' "$WORK/n1.log"; do
  [ $SECONDS -lt $deadline ] || fail "n1 did not give up telling n3"
  sleep 0.2
done
term1=$(info 1 raft | awk -F: '$1 == "term" {print $2}')
term4=$(info 4 raft | awk -F: '$1 == "term" {print $2}')
start_node 3
wait_exit 3 10
echo "ok  n3 stopped by itself (exit $LAST_EXIT)"
grep -q 'member_removed name=n3 index=[0-9]* from=n[14] detail="the cluster.s committed configuration at index [0-9]* no longer holds this member (it was removed while it was down)' \
  "$WORK/n3.log" || fail "n3 did not log its removal: $(tail -5 "$WORK/n3.log")"
echo "ok  n3 logged: $(grep -o 'member_removed name=n3 index=[0-9]*' "$WORK/n3.log" | tail -1)"
grep -q 'peer_refused .*claimed=n3 reason="removed from the configuration"' "$WORK/n1.log" "$WORK/n4.log" ||
  fail "no member answered n3's handshake with REMOVED"
echo "ok  n3's handshake was answered with REMOVED"
expect "n1 still leads" "$(cli 4 LEADER)" n1
expect "n1's term did not move" "$(info 1 raft | awk -F: '$1 == "term" {print $2}')" "$term1"
expect "n4's term did not move" "$(info 4 raft | awk -F: '$1 == "term" {print $2}')" "$term4"
expect "writes go on" "$(cli 4 SET after v)" OK
start_node 3
wait_exit 3 10
expect "n3 started again: refused at once (exit)" "$LAST_EXIT" 1
grep -q 'member_removed name=n3 .*this member is not in the cluster.s member table' "$WORK/n3.log" ||
  fail "n3's second start did not say why it stopped"
echo "ok  n3's second start says it was removed"

# --- the member that answers REMOVED closes the connection itself ----------------------
# A removed member that does not hang up on REMOVED (here a script with n3's
# certificate that keeps reading) sees the end right after the answer, well
# before the 5 s handshake timeout; n1 logs that it shut its side first.
cid=$(info 1 server | awk -F: '$1 == "cluster_id" {print $2}')
out=$("${ATTACK[@]}" hello "${PPORT[1]}" --claim n3 --to n1 --version 5 --cluster-id "$cid" \
  --tls "$WORK/certs/n3.crt" "$WORK/certs/n3.key")
expect "a removed member's HELLO" "$out" "hello: version 5, connected, sent 29 bytes, answered REMOVED, closed by the server"
deadline=$((SECONDS + 5))
until grep -q 'peer_conn_closed addr=127.0.0.1:[0-9]* reason="told it was removed" shut=yes' "$WORK/n1.log"; do
  [ $SECONDS -lt $deadline ] || fail "n1 did not close the told connection itself: $(grep peer_conn_closed "$WORK/n1.log" | tail -2)"
  sleep 0.1
done
echo "ok  n1 flushed REMOVED, then closed the connection"

# --- a peer of the previous protocol version is refused clearly ------------------------
out=$("${ATTACK[@]}" hello "${PPORT[1]}" --claim n4 --to n1 --version 4 --tls "$WORK/certs/n4.crt" "$WORK/certs/n4.key")
expect "a version 4 HELLO" "$out" "hello: version 4, connected, sent 29 bytes, closed by the server"
grep -q 'peer_refused .*reason="peer protocol version differs" detail="it speaks peer protocol version 4, this member 5' \
  "$WORK/n1.log" || fail "n1 did not log the version refusal: $(grep peer_refused "$WORK/n1.log" | tail -2)"
echo "ok  n1 logged: $(grep -o 'reason="peer protocol version differs".*' "$WORK/n1.log" | tail -1)"
expect "n1 still leads n4" "$(cli 4 LEADER)" n1
echo "PASS test_server_member_removed"
