#!/usr/bin/env bash
# test_server_ops.sh - the operator's steps around --join that
# docs/OPERATIONS.md gives, where they went wrong: RAFT.NODE ADD refuses an
# address that reaches a member already there under another spelling
# (localhost for 127.0.0.1) and one that does not resolve, changing
# nothing; a member waiting in --join survives SIGHUP and reopens its
# --log-file (logrotate); a voter whose data directory was wiped and that
# is started again with its --join line is refused at the join (it would
# vote without the entries it acknowledged) until it is removed and added
# again, and then it joins and catches up. Last, the leader removes itself:
# it steps down and exits 0 within a few election timeouts, and its last
# line says it stopped because it was removed, at which index. Before,
# raftkv backup of a slowly written image (a test hook pauses the writer)
# outlasts its --timeout-ms while the image grows, reporting progress, and
# gives up when the writer is stopped. First, names
# that do not resolve: another peer's is a warning and is retried (DNS may
# come later), this member's own --peers entry or --listen stops the start
# with an error that says which address.
#   tests/e2e/test_server_ops.sh BUILD      (KEEP=1 keeps the logs)
set -euo pipefail
build=${1:-build}
source "$(dirname "$0")/lib_server.sh"

NODES=4
pick_ports # n1..n4's ports and certificates; the cluster starts with n1..n3

# --- names that do not resolve ------------------------------------------------------
solo() { # solo NAME PEERS LISTEN: start n1 on its own data directory, in the background
  "$RAFTKV" serve --id n1 --peers "$2" --listen "$3" --data-dir "$WORK/$1" --certs-dir "$WORK/certs" \
    --election-timeout-ms 300 --heartbeat-ms 50 >"$WORK/$1.log" 2>&1 &
  PID[1]=$!
}
solo bad-peer "n1=127.0.0.1:${PPORT[1]},n2=127.0.0.1:${PPORT[2]},n3=nosuchhost.invalid:${PPORT[3]}" "127.0.0.1:${CPORT[1]}"
deadline=$((SECONDS + 10))
until grep -q 'event=peer_resolve_failed peer=n3 host=nosuchhost.invalid .*attempt=3 ' "$WORK/bad-peer.log"; do
  [ $SECONDS -lt $deadline ] || fail "no third resolution attempt (a redial after a failed one) for n3 in $WORK/bad-peer.log"
  kill -0 "${PID[1]}" 2>/dev/null || fail "n1 stopped over another peer's name: $(tail -n 3 "$WORK/bad-peer.log")"
  sleep 0.1
done
grep -q 'level=warn node=n1 event=peer_resolve_failed peer=n3 host=nosuchhost.invalid port=[0-9]* attempt=1 reason="[^"]' "$WORK/bad-peer.log" ||
  fail "the warning does not name n3, its host and why"
expect "n1 serves although n3's name does not resolve" "$(cli 1 PING)" PONG
echo "ok  another peer's unresolvable name: warned, retried, n1 runs"
kill_node 1 TERM
PID[1]=
solo bad-self "n1=nosuchhost.invalid:${PPORT[1]},n2=127.0.0.1:${PPORT[2]},n3=127.0.0.1:${PPORT[3]}" "127.0.0.1:${CPORT[1]}"
wait "${PID[1]}" 2>/dev/null && LAST_EXIT=0 || LAST_EXIT=$?
PID[1]=
expect "exit code with its own peer address unresolvable" "$LAST_EXIT" 1
grep -q "level=error node=n1 event=shutdown reason=\"cannot resolve this member's own peer address (its own --peers entry n1=nosuchhost.invalid:${PPORT[1]}): " "$WORK/bad-self.log" ||
  fail "the shutdown line does not name its own --peers entry: $(grep event=shutdown "$WORK/bad-self.log")"
echo "ok  its own --peers entry unresolvable: $(grep -o 'event=shutdown reason="[^"]*"' "$WORK/bad-self.log")"
solo bad-listen "$PEERS" "nosuchhost.invalid:${CPORT[1]}"
wait "${PID[1]}" 2>/dev/null && LAST_EXIT=0 || LAST_EXIT=$?
PID[1]=
expect "exit code with --listen unresolvable" "$LAST_EXIT" 1
grep -q "level=error node=n1 event=shutdown reason=\"cannot resolve this member's own client address (--listen nosuchhost.invalid): " "$WORK/bad-listen.log" ||
  fail "the shutdown line does not name --listen: $(grep event=shutdown "$WORK/bad-listen.log")"
echo "ok  --listen unresolvable: $(grep -o 'event=shutdown reason="[^"]*"' "$WORK/bad-listen.log")"
PEERS="n1=127.0.0.1:${PPORT[1]},n2=127.0.0.1:${PPORT[2]},n3=127.0.0.1:${PPORT[3]}"
# The backup children pause 200 ms after every MiB (a test hook): a slow image.
for i in 1 2 3; do RAFTKV_BACKUP_CHILD_PAUSE_MS=200 start_node "$i"; done
L=$(wait_leader 1 2 3)

# --- raftkv backup: --timeout-ms bounds a wait without progress, not the backup ------
# 24,000 values of 1,000 bytes: a 24 MiB image, written in about 4.8 s, so
# that the tool's progress line (every 2 s) shows however the cores are shared.
redis-benchmark -p "${CPORT[$L]}" -t set -n 24000 -r 100000000 -d 1000 -P 16 -q >"$WORK/load.out" 2>&1 || true
L=$(wait_leader 1 2 3)
keys=$(cli "$L" DBSIZE)
[ "${keys:-0}" -ge 16000 ] 2>/dev/null || fail "only '$keys' keys loaded: $(tail -c 300 "$WORK/load.out")"
FROM="127.0.0.1:${CPORT[$L]}" # the leader first; it may change on a loaded machine
for i in 1 2 3; do [ "$i" = "$L" ] || FROM+=",127.0.0.1:${CPORT[$i]}"; done
t0=$(date +%s%N)
"$RAFTKV" backup --from "$FROM" --timeout-ms 1500 "$WORK/slow.snap" >"$WORK/backup.out" 2>"$WORK/backup.err" ||
  fail "a backup making progress stopped: $(cat "$WORK/backup.err")"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$ms" -gt 1500 ] || fail "the slow backup took $ms ms: under its --timeout-ms, which it does not exercise"
grep -q "raftkv backup: 127.0.0.1:[0-9]*: the leader is writing the image: [0-9.]* [KM]iB so far, [0-9.]* [KM]*i*B/s" "$WORK/backup.err" ||
  fail "no progress line while the image was written: $(cat "$WORK/backup.err")"
echo "ok  a backup of $ms ms with --timeout-ms 1500 completes: $(grep -m 1 "writing the image" "$WORK/backup.err")"
# A stopped image writer makes no progress: the tool gives up, saying so.
"$RAFTKV" backup --from "$FROM" --timeout-ms 1500 "$WORK/stuck.snap" >/dev/null 2>"$WORK/stuck.err" &
BK=$!
deadline=$((SECONDS + 10))
until child=$(pgrep -P "${PID[1]},${PID[2]},${PID[3]}" | head -n 1) && [ -n "$child" ]; do
  [ $SECONDS -lt $deadline ] || fail "no backup child of any member: $(cat "$WORK/stuck.err")"
  sleep 0.05
done
kill -STOP "$child"
wait "$BK" && fail "the backup with a stopped writer succeeded" || true
kill -CONT "$child" 2>/dev/null || true
grep -q "no answer to RAFTKV.BACKUP START and no progress for 1500 ms (the image at [0-9.]* [KM]*i*B; --timeout-ms)" "$WORK/stuck.err" ||
  fail "the stuck backup does not say it made no progress: $(cat "$WORK/stuck.err")"
[ ! -e "$WORK/stuck.snap" ] && [ ! -e "$WORK/stuck.snap.tmp" ] || fail "the failed backup left a file"
echo "ok  a stopped writer: $(grep -o 'no answer to RAFTKV.BACKUP START.*' "$WORK/stuck.err")"
# RAFT.NODE runs on the leader; ask again before each step (a loaded
# machine may elect another one meanwhile).
leader() { L=$(wait_leader 1 2 3); }
members() { leader; cli "$L" RAFT.NODE LIST | tr -d '\r' | awk '{print $1, $5}' | tr '\n' ' '; }
expect "members at start" "$(members)" "name=n1 suffrage=voter name=n2 suffrage=voter name=n3 suffrage=voter "

# --- bad addresses are refused before anything changes ------------------------------
leader
expect "ADD at n3's address spelt localhost" "$(cli "$L" RAFT.NODE ADD n4 "localhost:${PPORT[3]}")" \
  "ERR address localhost:${PPORT[3]} is already n3's (127.0.0.1:${PPORT[3]}: both are 127.0.0.1:${PPORT[3]})"
leader
out=$(cli "$L" RAFT.NODE ADD n4 nosuchhost.invalid:7101)
[[ "$out" == "ERR cannot resolve nosuchhost.invalid: "* ]] || fail "ADD of an unresolvable host: got '$out'"
echo "ok  ADD of an unresolvable host: $out"
expect "nothing changed" "$(members)" "name=n1 suffrage=voter name=n2 suffrage=voter name=n3 suffrage=voter "

# --- SIGHUP while waiting to be dialled: the log is reopened, the member stays -------
start_join() {
  mkdir -p "$WORK/n4"
  "$RAFTKV" serve --id n4 --join "127.0.0.1:${PPORT[1]}" --peer-listen "127.0.0.1:${PPORT[4]}" \
    --listen "127.0.0.1:${CPORT[4]}" --data-dir "$WORK/n4" --election-timeout-ms 300 --heartbeat-ms 50 \
    --certs-dir "$WORK/certs" --log-file "$WORK/n4.log" 2>>"$WORK/n4.stderr" &
  PID[4]=$!
}
wait_log() { # wait_log FILE REGEX WHAT
  local deadline=$((SECONDS + 10))
  until grep -qE "$2" "$1" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || fail "$3: not in $1"
    sleep 0.1
  done
  echo "ok  $3"
}
start_join
wait_log "$WORK/n4.log" 'event=join_waiting' "n4 waits to be dialled"
mv "$WORK/n4.log" "$WORK/n4.log.1"
kill -HUP "${PID[4]}"
wait_log "$WORK/n4.log" 'event=log_reopened path=' "SIGHUP while waiting: the log file is reopened"
kill -0 "${PID[4]}" 2>/dev/null || fail "n4 died of SIGHUP while waiting to join"
echo "ok  n4 still runs"

leader
expect "ADD n4" "$(cli "$L" RAFT.NODE ADD n4 "127.0.0.1:${PPORT[4]}")" OK
deadline=$((SECONDS + 15))
until [[ "$(members)" == *"name=n4 suffrage=voter"* ]]; do
  [ $SECONDS -lt $deadline ] || fail "n4 not promoted: $(members)"
  sleep 0.2
done
echo "ok  n4 joined and was promoted"
for k in 1 2 3 4 5; do expect "SET k$k" "$(cli 1 SET "k$k" "v$k")" OK; done

# --- a wiped voter started again with its --join line stays out ----------------------
kill_node 4 KILL
rm -rf "$WORK/n4"
start_join
wait_log "$WORK/n4.log" 'level=error node=n4 event=join_refused reason="the table of n[123] \(index [0-9]+\) holds n4 as a voter: this member was a voter and its data directory is empty now' \
  "the wiped voter is refused at its join, and told why"
sleep 1
kill -0 "${PID[4]}" 2>/dev/null || fail "the refused n4 stopped waiting"
n=$(grep -c 'event=started ' "$WORK/n4.log" || true)
expect "the wiped n4 never started as a member again" "$n" 1
expect "the client port of the waiting n4 is closed" "$(cli 4 PING | grep -c PONG || true)" 0
expect "writes go on" "$(cli 1 SET during v)" OK

# --- the documented way: remove it, add it again; it joins as a new learner --------
leader
expect "REMOVE n4" "$(cli "$L" RAFT.NODE REMOVE n4)" OK
leader
expect "ADD n4 again" "$(cli "$L" RAFT.NODE ADD n4 "127.0.0.1:${PPORT[4]}")" OK
wait_log "$WORK/n4.log" 'event=join_learned' "the re-added n4 joins"
deadline=$((SECONDS + 15))
until [[ "$(members)" == *"name=n4 suffrage=voter"* ]]; do
  [ $SECONDS -lt $deadline ] || fail "re-added n4 not promoted: $(members)"
  sleep 0.2
done
echo "ok  the re-added n4 is a voter again"
wait_applied 4 "$(info_field "$L" commit_index)"
expect "n4 has the keys written before it was wiped" "$(cli 4 GET k5)" v5

# --- REMOVE the leader itself: it steps down and exits 0, promptly ------------------
# (It used to spin at 100% CPU for ever once its shutdown began: a spent
# deadline re-armed the tick timer at 0 ms.)
L=$(wait_leader 1 2 3 4)
expect "REMOVE the leader n$L" "$(cli "$L" RAFT.NODE REMOVE "n$L")" OK
deadline=$((SECONDS + 8))
while kill -0 "${PID[$L]}" 2>/dev/null; do
  [ $SECONDS -lt $deadline ] || fail "the removed leader n$L still runs 8 s later (election timeout 300 ms)"
  sleep 0.1
done
LAST_EXIT=0
wait "${PID[$L]}" 2>/dev/null || LAST_EXIT=$?
PID[$L]=
expect "the removed leader's exit code" "$LAST_EXIT" 0
grep -q "event=member_removed name=n$L" "$WORK/n$L.log" || fail "n$L did not log member_removed"
echo "ok  n$L logged member_removed"
idx=$(grep -o "event=member_removed name=n$L index=[0-9]*" "$WORK/n$L.log" | head -n 1 | grep -o '[0-9]*$')
grep -q "event=shutdown reason=\"removed from the cluster by the configuration at index $idx: in-flight requests answered\"" "$WORK/n$L.log" ||
  fail "n$L's shutdown line does not say it was removed at index $idx: $(grep 'event=shutdown' "$WORK/n$L.log")"
echo "ok  $(grep -o 'event=shutdown reason="[^"]*"' "$WORK/n$L.log")"
others=()
for i in 1 2 3 4; do [ "$i" != "$L" ] && others+=("$i"); done
L2=$(NOT_LEADER=$L wait_leader "${others[@]}")
expect "a new leader takes writes" "$(cli "$L2" SET after-removal v)" OK
echo "PASS test_server_ops"
