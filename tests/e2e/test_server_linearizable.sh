#!/usr/bin/env bash
# test_server_linearizable.sh - Jepsen's lin-kv workload over RESP against a
# 3-node TCP cluster while a nemesis kills (-9) and restarts nodes, pauses
# them (SIGSTOP/SIGCONT) and cuts their links (DEBUG.CUT); whirl's checker
# must find the history linearizable.
#   tests/e2e/test_server_linearizable.sh BUILD [SECONDS] [SEED]
#   (KEEP=1 keeps the logs and the history; SEED replays the fault schedule
#   and the clients' choices, not the timing; WORKLOAD=string runs GET, SET,
#   INCRBY, APPEND, GETSET and DEL instead, judged by the string model)
set -euo pipefail
build=${1:-build}
duration=${2:-${RAFTKV_LIN_SECONDS:-20}}
seed=${3:-$(( $(date +%s) % 100000 ))}
source "$(dirname "$0")/lib_server.sh"
[ -x "$LINKV" ] && [ -x "$WHIRL" ] || fail "missing $LINKV or $WHIRL (run make)"
echo "seed $seed (replay: $0 $build $duration $seed)"
RANDOM=$seed

pick_ports
for i in 1 2 3; do start_node "$i" --enable-debug-commands; done
wait_leader >/dev/null

"$LINKV" --nodes "$(client_addrs)" --time-limit "$duration" --concurrency 9 --timeout-ms 1000 \
  --seed "$seed" --workload "${WORKLOAD:-register}" --out "$WORK/history.jsonl" >"$WORK/linkv.out" 2>"$WORK/linkv.err" &
client=$!

faults=0
while kill -0 $client 2>/dev/null; do
  sleep 1.$((RANDOM % 10))
  kill -0 $client 2>/dev/null || break
  n=$((RANDOM % 3 + 1)); o=$((n % 3 + 1)); p=$((o % 3 + 1))
  case $((RANDOM % 4)) in
  0) echo "nemesis: kill -9 n$n, restart after 1 s"
     kill_node $n 9; sleep 1; start_node $n --enable-debug-commands ;;
  1) echo "nemesis: pause n$n (SIGSTOP) for 1.5 s"
     kill -STOP "${PID[$n]}"; sleep 1.5; kill -CONT "${PID[$n]}" ;;
  2) echo "nemesis: isolate n$n (cut both its links) for 2 s"
     cut_both $n $o 2000; cut_both $n $p 2000; sleep 2 ;;
  3) echo "nemesis: cut the link n$n-n$o for 2 s (a bridge through n$p)"
     cut_both $n $o 2000; sleep 2 ;;
  esac
  faults=$((faults + 1))
done
wait $client || fail "workload client failed: $(cat "$WORK/linkv.err")"
cat "$WORK/linkv.err"
ok=$(sed -n 's/^ok=\([0-9]*\).*/\1/p' "$WORK/linkv.out")
[ "$faults" -ge 3 ] || fail "only $faults faults injected"
[ "${ok:-0}" -ge 300 ] || fail "only ${ok:-0} operations succeeded: the cluster was not available enough to test"
echo "ok  $faults faults injected, $ok operations ok"

verdict=0
"$WHIRL" check --verbose "$WORK/history.jsonl" >"$WORK/check.out" 2>&1 || verdict=$?
head -n 20 "$WORK/check.out"
[ $verdict -eq 0 ] || { cp "$WORK/history.jsonl" /tmp/raftkv-server-history-$seed.jsonl; \
  fail "whirl check says not valid (exit $verdict); history kept in /tmp/raftkv-server-history-$seed.jsonl"; }
echo "ok  whirl check: the history is linearizable"
for i in 1 2 3; do kill_node $i TERM; done
PID=()
echo "test_server_linearizable: all checks passed"
