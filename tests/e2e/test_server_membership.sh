#!/usr/bin/env bash
# test_server_membership.sh - membership changes of a TCP cluster under a
# writing client: 3 members grow to 5 (RAFT.NODE ADD ... LEARNER + PROMOTE,
# and ADD with automatic promotion; the new members start with --join and
# an empty data directory), two are killed with -9 and removed, two fresh
# ones are added, the cluster shrinks to 3 and leadership moves twice. No
# acknowledged write is lost (every one is read back), RAFT.NODE LIST shows
# each step, and the bad requests are refused and change nothing.
#   tests/e2e/test_server_membership.sh BUILD      (KEEP=1 keeps the logs)
set -euo pipefail
build=${1:-build}
source "$(dirname "$0")/lib_server.sh"
PY=/usr/bin/python3

NODES=7
pick_ports # n1..n7's ports and certificates; the cluster starts with n1..n3
PEERS="n1=127.0.0.1:${PPORT[1]},n2=127.0.0.1:${PPORT[2]},n3=127.0.0.1:${PPORT[3]}"

join_node() { # join_node I: an empty member joining through n1..n3's peer ports
  local i=$1
  mkdir -p "$WORK/n$i"
  "$RAFTKV" serve --id "n$i" --join "127.0.0.1:${PPORT[$2]}" --peer-listen "127.0.0.1:${PPORT[$i]}" \
    --listen "127.0.0.1:${CPORT[$i]}" --data-dir "$WORK/n$i" --election-timeout-ms 300 --heartbeat-ms 50 \
    --certs-dir "$WORK/certs" >>"$WORK/n$i.log" 2>&1 &
  PID[$i]=$!
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
admin() { # admin ARGS...: RAFT.NODE on the leader; retried while leadership moves or a change is under way
  local out l
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    l=$(leader_now)
    out=$(cli "$l" RAFT.NODE "$@")
    case "$out" in
      "ERR not leader"|"ERR another membership change is in progress"|*"retry shortly"*|*"leadership transfer"*) sleep 0.5 ;;
      "ERR leadership changed"*) sleep 0.5; [ "$1" = ADD ] && members "$(leader_now)" | grep -q "name=$2 " && { echo OK; return; }
                                 [ "$1" = REMOVE ] && ! members "$(leader_now)" | grep -q "name=$2 " && { echo OK; return; } ;;
      *) echo "$out"; return ;;
    esac
  done
  echo "$out"
}
field() { # field I NAME KEY: KEY's value in NAME's RAFT.NODE LIST line on nI
  members "$1" | awk -v n="name=$2" -v k="$3" '$1 == n { for (i = 1; i <= NF; i++) { split($i, a, "="); if (a[1] == k) print a[2] } }'
}
wait_voter() { # wait_voter NAME: NAME is a voter with lag 0 on the leader
  local deadline=$((SECONDS + 20)) l
  while [ $SECONDS -lt $deadline ]; do
    l=$(leader_now)
    [ "$(field "$l" "$1" suffrage)" = voter ] && [ "$(field "$l" "$1" lag)" = 0 ] && return 0
    sleep 0.2
  done
  fail "$1 did not become a caught-up voter: $(members "$l")"
}
wait_lag0() { # wait_lag0 NAME
  local deadline=$((SECONDS + 20)) l
  while [ $SECONDS -lt $deadline ]; do
    l=$(leader_now)
    [ "$(field "$l" "$1" lag)" = 0 ] && return 0
    sleep 0.2
  done
  fail "$1 did not catch up: $(members "$l")"
}

for i in 1 2 3; do start_node "$i"; done
L=$(wait_leader 1 2 3)
echo "cluster up: leader n$L, work dir $WORK"

# --- a client writing throughout ----------------------------------------------------
"$PY" - "$WORK/acked" "${CPORT[@]:1}" <<'PYEOF' &
import sys, time, random, redis
out = open(sys.argv[1], "w", buffering=1)
ports = [int(p) for p in sys.argv[2:]]
conns = {}
deadline = time.time() + 600
i = 0
while time.time() < deadline:
    try:
        open(sys.argv[1] + ".stop").close()
        break
    except FileNotFoundError:
        pass
    p = random.choice(ports)
    try:
        r = conns.get(p) or redis.Redis(host="127.0.0.1", port=p, socket_timeout=3)
        conns[p] = r
        if r.set("k%d" % i, "v%d" % i):
            out.write("k%d v%d\n" % (i, i))
        i += 1
    except Exception:
        conns.pop(p, None)
        time.sleep(0.01)
PYEOF
WRITER=$!
sleep 1

# --- bad requests ------------------------------------------------------------------------
F=$(( L % 3 + 1 ))
expect "a change on a follower" "$(cli $F RAFT.NODE ADD n4 127.0.0.1:${PPORT[4]})" "ERR not leader"
expect "a duplicate name" "$(cli $L RAFT.NODE ADD n2 127.0.0.1:${PPORT[4]})" "ERR a member named n2 already exists"
expect "a duplicate address" "$(cli $L RAFT.NODE ADD n4 127.0.0.1:${PPORT[2]})" \
  "ERR address 127.0.0.1:${PPORT[2]} is already n2's"
expect "a bad address" "$(cli $L RAFT.NODE ADD n4 nowhere)" "ERR invalid address (want host:port)"
expect "a bad name" "$(cli $L RAFT.NODE ADD 'n 4' 127.0.0.1:${PPORT[4]})" \
  "ERR invalid member name (1 to 64 letters, digits, '.', '_', '-')"
expect "promote an unknown name" "$(cli $L RAFT.NODE PROMOTE n9)" "ERR no member named n9"
expect "promote a voter" "$(cli $L RAFT.NODE PROMOTE n$F)" "ERR n$F is already a voter"
expect "remove an unknown name" "$(cli $L RAFT.NODE REMOVE n9)" "ERR no member named n9"
expect "an unknown subcommand" "$(cli $L RAFT.NODE FROB)" "ERR unknown subcommand: RAFT.NODE ADD|PROMOTE|REMOVE|LIST"
expect "still 3 members" "$(members $L | wc -l)" 3

# --- grow to 5: n4 as a learner then PROMOTE, n5 promoted automatically -------------------
join_node 4 1
expect "ADD n4 LEARNER" "$(admin ADD n4 127.0.0.1:${PPORT[4]} LEARNER)" OK
wait_lag0 n4
L=$(leader_now)
expect "n4 is a learner" "$(field $L n4 suffrage)" learner
expect "n4's link" "$(field $L n4 link)" up
expect "PROMOTE n4" "$(admin PROMOTE n4)" OK
L=$(leader_now)
expect "n4 is a voter" "$(field $L n4 suffrage)" voter
join_node 5 2
expect "ADD n5 (promoted when caught up)" "$(admin ADD n5 127.0.0.1:${PPORT[5]})" OK
wait_voter n5
L=$(leader_now)
expect "5 members" "$(members $L | wc -l)" 5
members $L

# --- lose two members to kill -9, remove them, add two fresh ones ---------------------------
# Kill two followers (a majority of the five stays).
L=$(leader_now)
dead=()
for i in 1 2 3 4 5; do [ "$i" != "$L" ] && [ ${#dead[@]} -lt 2 ] && dead+=("$i"); done
for i in "${dead[@]}"; do kill_node "$i" 9; PID[$i]=; done
echo "killed n${dead[0]} and n${dead[1]}"
for i in "${dead[@]}"; do expect "REMOVE n$i" "$(admin REMOVE n$i)" OK; done
L=$(leader_now)
expect "3 members after the removals" "$(members $L | wc -l)" 3
join_node 6 "$L"
expect "ADD n6" "$(admin ADD n6 127.0.0.1:${PPORT[6]})" OK
wait_voter n6
join_node 7 "$L"
expect "ADD n7" "$(admin ADD n7 127.0.0.1:${PPORT[7]})" OK
wait_voter n7
L=$(leader_now)
members $L

# --- shrink to 3, move leadership twice -------------------------------------------------------
L=$(leader_now)
alive=($(live))
gone=()
for i in "${alive[@]}"; do [ "$i" != "$L" ] && [ ${#gone[@]} -lt 2 ] && gone+=("$i"); done
for i in "${gone[@]}"; do expect "REMOVE n$i (running)" "$(admin REMOVE n$i)" OK; done
L=$(leader_now)
for i in "${gone[@]}"; do
  wait "${PID[$i]}" 2>/dev/null || true
  grep -q 'event=member_removed' "$WORK/n$i.log" || fail "n$i did not log its removal"
  echo "ok  n$i stopped: removed"
  PID[$i]=
done
rest=()
for i in "${alive[@]}"; do [ -n "${PID[$i]:-}" ] && rest+=("$i"); done
expect "3 members at the end" "$(members $L | wc -l)" 3
T=
for i in "${rest[@]}"; do [ "$i" != "$L" ] && T=$i; done
expect "transfer to n$T" "$(cli $L RAFT.TRANSFER_LEADER n$T)" OK
L2=$(wait_leader "${rest[@]}")
expect "n$T leads" "$L2" "$T"
T2=
for i in "${rest[@]}"; do [ "$i" != "$L2" ] && T2=$i; done
expect "transfer to n$T2" "$(cli $L2 RAFT.TRANSFER_LEADER n$T2)" OK
L3=$(wait_leader "${rest[@]}")
expect "n$T2 leads" "$L3" "$T2"
members $L3

# --- every acknowledged write is there ---------------------------------------------------------
touch "$WORK/acked.stop"
wait $WRITER || true
n=$(wc -l <"$WORK/acked")
[ "$n" -gt 100 ] || fail "only $n writes acknowledged"
missing=$("$PY" - "$WORK/acked" "${CPORT[$L3]}" <<'PYEOF'
import sys, redis
r = redis.Redis(host="127.0.0.1", port=int(sys.argv[2]), socket_timeout=10)
bad = 0
for line in open(sys.argv[1]):
    k, v = line.split()
    if r.get(k) != v.encode():
        bad += 1
print(bad)
PYEOF
)
expect "acknowledged writes lost (of $n)" "$missing" 0
echo "PASS test_server_membership ($n acknowledged writes read back)"
