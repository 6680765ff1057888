#!/usr/bin/env bash
# test_server_membership_linearizable.sh - Jepsen's lin-kv workload over RESP
# (resp_linkv) runs while a TCP cluster changes its members: 3 grow to 5
# (n4 joins as a learner and is promoted, n5 is promoted automatically once
# caught up; both start with `serve --join` and an empty data directory),
# two followers die to kill -9 and are replaced (REMOVE the dead, ADD n6 and
# n7 fresh), two more are removed (back to 3) and leadership moves twice
# (RAFT.TRANSFER_LEADER). The workload's clients are spread over all seven
# client ports, so members not yet started, dead or removed refuse them
# (those clients retry) and the new members serve them from the moment they
# start. After the last step every key is read back (--final-reads), and
# whirl's checker must find the history linearizable: no acknowledged write
# lost, no stale read. Takes about 25 s.
#   tests/e2e/test_server_membership_linearizable.sh BUILD [SEED]
#   (KEEP=1 keeps the logs and the history; PAUSE=S sets the time the
#   workload runs between steps, default 1.5)
set -euo pipefail
build=${1:-build}
seed=${2:-$(( $(date +%s) % 100000 ))}
source "$(dirname "$0")/lib_server.sh"
[ -x "$LINKV" ] && [ -x "$WHIRL" ] || fail "missing $LINKV or $WHIRL (run make)"
echo "seed $seed (replay the clients' choices: $0 $build $seed)"
pause=${PAUSE:-1.5}
T0=$SECONDS
expect() { # as lib_server.sh's, with the seconds since the start
  [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
  echo "ok  $1 [$((SECONDS - T0)) s]"
}

NODES=7
pick_ports # n1..n7's ports and certificates; the cluster starts with n1..n3
PEERS="n1=127.0.0.1:${PPORT[1]},n2=127.0.0.1:${PPORT[2]},n3=127.0.0.1:${PPORT[3]}"

join_node() { # join_node I J: nI starts empty and joins through nJ's peer port
  mkdir -p "$WORK/n$1"
  "$RAFTKV" serve --id "n$1" --join "127.0.0.1:${PPORT[$2]}" --peer-listen "127.0.0.1:${PPORT[$1]}" \
    --listen "127.0.0.1:${CPORT[$1]}" --data-dir "$WORK/n$1" --election-timeout-ms 300 --heartbeat-ms 50 \
    --certs-dir "$WORK/certs" >>"$WORK/n$1.log" 2>&1 &
  PID[$1]=$!
}
members() { cli "$1" RAFT.NODE LIST | tr -d '\r'; }
live() { local i; for i in 1 2 3 4 5 6 7; do [ -n "${PID[$i]:-}" ] && echo "$i"; done; }
leader_now() { # the leader's index, as a running member sees it
  local i x deadline=$((SECONDS + 15))
  while [ $SECONDS -lt $deadline ]; do
    for i in $(live); do x=$(cli "$i" LEADER); [ -n "$x" ] && [ -n "${PID[${x#n}]:-}" ] && { echo "${x#n}"; return; }; done
    sleep 0.1
  done
  fail "no leader"
}
admin() { # admin ARGS...: RAFT.NODE on the leader, retried while leadership moves or a change is under way
  local out l
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    l=$(leader_now)
    out=$(cli "$l" RAFT.NODE "$@")
    case "$out" in
      "ERR not leader"|"ERR another membership change is in progress"|*"retry shortly"*|*"leadership transfer"*) sleep 0.5 ;;
      "ERR leadership changed"*) sleep 0.5
        [ "$1" = ADD ] && grep -q "name=$2 " <<<"$(members "$(leader_now)")" && { echo OK; return; }
        [ "$1" = REMOVE ] && ! grep -q "name=$2 " <<<"$(members "$(leader_now)")" && { echo OK; return; } ;;
      *) echo "$out"; return ;;
    esac
  done
  echo "$out"
}
field() { # field I NAME KEY: KEY's value in NAME's RAFT.NODE LIST line on nI
  members "$1" | awk -v n="name=$2" -v k="$3" '$1 == n { for (i = 1; i <= NF; i++) { split($i, a, "="); if (a[1] == k) print a[2] } }'
}
wait_member() { # wait_member NAME SUFFRAGE: NAME has that suffrage and lags the leader by under 1000 entries
  local deadline=$((SECONDS + 20)) l lag # (the workload keeps writing: lag 0 is seldom seen)
  while [ $SECONDS -lt $deadline ]; do
    l=$(leader_now)
    lag=$(field "$l" "$1" lag)
    [ "$(field "$l" "$1" suffrage)" = "$2" ] && [ -n "$lag" ] && [ "$lag" -lt 1000 ] && return 0
    sleep 0.2
  done
  fail "$1 did not become a caught-up $2: $(members "$l")"
}
others() { # others N: up to N running members that are not the leader
  local l i n=0
  l=$(leader_now)
  for i in $(live); do [ "$i" != "$l" ] && [ $n -lt "$1" ] && { echo "$i"; n=$((n + 1)); }; done
  return 0
}
wait_leader_of() { # wait_leader_of I...: the leader once it is one of I... (a transfer may take a moment)
  local want=" $* " l deadline=$((SECONDS + 15))
  while [ $SECONDS -lt $deadline ]; do
    l=$(leader_now)
    [[ "$want" == *" $l "* ]] && { echo "$l"; return; }
    sleep 0.1
  done
  fail "no leader among $*"
}

for i in 1 2 3; do start_node "$i"; done
wait_leader 1 2 3 >/dev/null

# --- the workload: 14 clients, two per member n1..n7; stopped with SIGTERM ------------
"$LINKV" --nodes "$(client_addrs)" --time-limit 300 --concurrency 14 --timeout-ms 1000 --seed "$seed" \
  --final-reads --out "$WORK/history.jsonl" >"$WORK/linkv.out" 2>"$WORK/linkv.err" &
client=$!
trap '[ -n "$client" ] && kill -9 $client 2>/dev/null; cleanup' EXIT
sleep "$pause"

# --- grow to 5 ----------------------------------------------------------------------------
join_node 4 1
expect "ADD n4 LEARNER" "$(admin ADD n4 127.0.0.1:${PPORT[4]} LEARNER)" OK
wait_member n4 learner
sleep "$pause"
expect "PROMOTE n4" "$(admin PROMOTE n4)" OK
join_node 5 2
expect "ADD n5 (promoted when caught up)" "$(admin ADD n5 127.0.0.1:${PPORT[5]})" OK
wait_member n5 voter
expect "5 members" "$(members "$(leader_now)" | wc -l)" 5
sleep "$pause"

# --- two followers die (kill -9); remove them and add two fresh members -----------------------
dead=($(others 2))
for i in "${dead[@]}"; do kill_node "$i" 9; PID[$i]=; done
echo "killed n${dead[0]} and n${dead[1]} (3 of 5 voters left)"
sleep "$pause"
for i in "${dead[@]}"; do expect "REMOVE n$i (dead)" "$(admin REMOVE n$i)" OK; done
L=$(leader_now)
join_node 6 "$L"
expect "ADD n6" "$(admin ADD n6 127.0.0.1:${PPORT[6]})" OK
wait_member n6 voter
join_node 7 "$L"
expect "ADD n7" "$(admin ADD n7 127.0.0.1:${PPORT[7]})" OK
wait_member n7 voter
expect "5 members again" "$(members "$(leader_now)" | wc -l)" 5
sleep "$pause"

# --- shrink to 3 (remove two running followers) ---------------------------------------------------
gone=($(others 2))
for i in "${gone[@]}"; do expect "REMOVE n$i (running)" "$(admin REMOVE n$i)" OK; done
for i in "${gone[@]}"; do
  wait "${PID[$i]}" 2>/dev/null || true
  PID[$i]=
  grep -q 'event=member_removed' "$WORK/n$i.log" || fail "n$i did not log its removal"
done
rest=($(live))
expect "3 members at the end" "$(members "$(leader_now)" | wc -l)" 3
sleep "$pause"

# --- move leadership twice --------------------------------------------------------------------------
for round in 1 2; do
  L=$(leader_now)
  T=
  for i in "${rest[@]}"; do [ "$i" != "$L" ] && T=$i; done
  expect "transfer $round: n$L to n$T" "$(cli "$L" RAFT.TRANSFER_LEADER "n$T")" OK
  expect "n$T leads" "$(wait_leader_of "$T")" "$T"
  sleep "$pause"
done
echo "members at the end: ${rest[*]/#/n}"

# --- stop the workload; its final reads read every key back; the checker judges ----------------------
kill -TERM $client
wait $client || { client=; fail "workload client failed: $(cat "$WORK/linkv.err")"; }
client=
cat "$WORK/linkv.err"
out=$(cat "$WORK/linkv.out")
ok=$(sed -n 's/^ok=\([0-9]*\).*/\1/p' <<<"$out")
[ "${ok:-0}" -ge 300 ] || fail "only ${ok:-0} operations succeeded: the cluster was not available enough to test"
fr=$(sed -n 's/.* final_read=\([0-9]*\).*/\1/p' <<<"$out")
fk=$(sed -n 's/.* final_keys=\([0-9]*\).*/\1/p' <<<"$out")
expect "final reads answered for every key ($fk)" "$fr" "$fk"
for i in 6 7; do
  n=$(grep -c "\"type\":\"ok\",.*\"node\":\"n$i\"" "$WORK/history.jsonl" || true)
  [ "$n" -gt 0 ] || fail "no operation succeeded through the new member n$i"
  echo "ok  $n operations answered through n$i (added during the run)"
done
verdict=0
"$WHIRL" check --verbose "$WORK/history.jsonl" >"$WORK/check.out" 2>&1 || verdict=$?
head -n 20 "$WORK/check.out"
[ $verdict -eq 0 ] || { cp "$WORK/history.jsonl" "/tmp/raftkv-membership-history-$seed.jsonl"
  fail "whirl check says not valid (exit $verdict); history kept in /tmp/raftkv-membership-history-$seed.jsonl"; }
echo "ok  whirl check: the history is linearizable ($ok operations ok)"
echo "PASS test_server_membership_linearizable"
