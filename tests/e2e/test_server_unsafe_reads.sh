#!/usr/bin/env bash
# test_server_unsafe_reads.sh - the negative control for
# test_server_linearizable.sh: with --unsafe-local-reads (a deliberate bug:
# every node answers GET from its own state) and nodes isolated by DEBUG.CUT,
# the same workload and checker must find the history NOT linearizable. If
# this passed as valid, the linearizability test could not fail either.
#   tests/e2e/test_server_unsafe_reads.sh BUILD [SEED]
set -euo pipefail
build=${1:-build}
seed=${2:-$(( $(date +%s) % 100000 ))}
source "$(dirname "$0")/lib_server.sh"
[ -x "$LINKV" ] && [ -x "$WHIRL" ] || fail "missing $LINKV or $WHIRL (run make)"
echo "seed $seed"
RANDOM=$seed

pick_ports
for i in 1 2 3; do start_node "$i" --enable-debug-commands --unsafe-local-reads; done
wait_leader >/dev/null
"$LINKV" --nodes "$(client_addrs)" --time-limit 8 --concurrency 9 --timeout-ms 1000 --ops-per-key 1000000 \
  --seed "$seed" --out "$WORK/history.jsonl" >"$WORK/linkv.out" 2>"$WORK/linkv.err" &
client=$!
sleep 1
while kill -0 $client 2>/dev/null; do
  # Isolate one node at a time: it keeps answering reads from what it had.
  n=$((RANDOM % 3 + 1)); o=$((n % 3 + 1)); p=$((o % 3 + 1))
  echo "nemesis: isolate n$n for 2 s"
  cut_both $n $o 2000; cut_both $n $p 2000
  sleep 2.5
done
wait $client || fail "workload client failed"
cat "$WORK/linkv.err"
verdict=0
"$WHIRL" check "$WORK/history.jsonl" >"$WORK/check.out" 2>&1 || verdict=$?
head -n 5 "$WORK/check.out"
[ $verdict -eq 1 ] || fail "whirl check exit $verdict: stale local reads went unnoticed"
echo "ok  whirl check finds the stale reads: the history is not linearizable"
for i in 1 2 3; do kill_node $i TERM; done
PID=()
echo "test_server_unsafe_reads: all checks passed"
