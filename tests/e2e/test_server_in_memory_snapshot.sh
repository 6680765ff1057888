#!/usr/bin/env bash
# test_server_in_memory_snapshot.sh - an --in-memory member's snapshots
# run in the background, as a durable member's do (issue 12: a snapshot
# never stops the event loop). Three in-memory members (--in-memory-dir a
# private tmpfs base, --snapshot-entries 20000) take 600,000 SETs of 100
# bytes over 500,000 keys from `redis-benchmark -P 16 -c 50`; then
#   - every member logged forked snapshots (snapshot_started with a pid,
#     snapshot_done with fork_ms), at least 3 each;
#   - no loop turn used 100 ms of CPU or more (slow_loop_turn cpu_ms; CPU,
#     not wall time, which other work on a shared machine stretches): a
#     snapshot of the ~60 MB map taken inline on the loop takes longer;
#   - no -UNCERTAIN or -TRYAGAIN answer, the leader and the term stayed;
#   - a follower cut off (DEBUG.CUT) while 100,000 more writes pass is
#     caught up by the leader's snapshot sent in chunks (snapshot_sent,
#     snapshot_received, snapshot_installed) to the leader's key count;
#   - the directory a member killed with -9 left is removed by the next
#     start under the same base (its pid gone, its LOCK unheld);
#   - after SIGTERM the base holds no directory: each member removed its own;
#   - a missing --in-memory-dir stops the start with the base named.
#   tests/e2e/test_server_in_memory_snapshot.sh BUILD    (KEEP=1 keeps the logs)
set -euo pipefail
build=${1:-build}
source "$(dirname "$0")/lib_server.sh"
command -v redis-benchmark >/dev/null || { echo "SKIP: redis-benchmark not installed"; exit 0; }
[ -d /dev/shm ] && [ -w /dev/shm ] || { echo "SKIP: no writable /dev/shm"; exit 0; }

BASE=$(mktemp -d /dev/shm/raftkv-e2e-base.XXXXXX)
trap 'cleanup; rm -rf "$BASE"' EXIT

TIMEOUTS=(--election-timeout-ms 1000 --heartbeat-ms 100 --request-timeout-ms 3000)
start_mem() { # start_mem I [extra options]
  local i=$1
  shift
  "$RAFTKV" serve --id "n$i" --peers "$PEERS" --listen "127.0.0.1:${CPORT[$i]}" --in-memory \
    --in-memory-dir "$BASE" --certs-dir "$WORK/certs" --snapshot-entries 20000 "${TIMEOUTS[@]}" \
    --enable-debug-commands --slow-loop-ms 50 "$@" \
    >>"$WORK/n$i.log" 2>&1 &
  PID[$i]=$!
}
mem_dir_of() { grep -o 'event=storage_opened dir=[^ ]*' "$WORK/n$1.log" | tail -n 1 | cut -d= -f3; }

pick_ports
# A base that cannot hold the directory stops the start, named.
rc=0
out=$("$RAFTKV" serve --id n1 --peers "$PEERS" --listen "127.0.0.1:${CPORT[1]}" --in-memory \
  --in-memory-dir "$BASE/missing" --certs-dir "$WORK/certs" 2>&1) || rc=$?
expect "exit with a missing --in-memory-dir" "$rc" 1
echo "$out" | grep -q "event=storage_open_failed .*--in-memory-dir $BASE/missing: mkdtemp: No such file" ||
  fail "the refusal does not name the base: $out"
echo "ok  a missing --in-memory-dir is refused, named"

for i in 1 2 3; do start_mem "$i"; done
L=$(wait_leader)
term0=$(info_field "$L" term)
echo "cluster up: leader n$L in term $term0, work dir $WORK, base $BASE"
for i in 1 2 3; do
  d=$(mem_dir_of "$i")
  case "$d" in "$BASE"/raftkv-mem-*) [ -d "$d" ] || fail "n$i's directory $d is missing" ;;
    *) fail "n$i opened '$d', not a directory under $BASE" ;; esac
done
echo "ok  each member keeps its storage in a private directory under --in-memory-dir"

out=$(redis-benchmark -p "${CPORT[$L]}" -t set -r 500000 -n 600000 -d 100 -P 16 -c 50 -q 2>&1 | tr '\r' '\n' || true)
echo "$out" | grep -v '^$' | tail -n 1
if echo "$out" | grep -Eq 'UNCERTAIN|TRYAGAIN|Error'; then
  fail "the benchmark got errors: $(echo "$out" | grep -E 'UNCERTAIN|TRYAGAIN|Error' | head -n 3)"
fi
echo "ok  no -UNCERTAIN / -TRYAGAIN under load"
for i in 1 2 3; do
  expect "n$i's leader" "$(cli "$i" LEADER)" "n$L"
  expect "n$i's term" "$(info_field "$i" term)" "$term0"
done

for i in 1 2 3; do
  started=$(grep -c 'event=snapshot_started .* pid=[0-9]' "$WORK/n$i.log" || true)
  done_n=$(grep -c 'event=snapshot_done .* fork_ms=' "$WORK/n$i.log" || true)
  echo "n$i: $started snapshots forked, $done_n done; $(grep 'event=snapshot_done' "$WORK/n$i.log" | tail -n 1 | grep -o 'index=.*')"
  [ "$done_n" -ge 3 ] || fail "n$i took $done_n background snapshots, want at least 3"
done
echo "ok  every member snapshotted in a forked child"

worst=$({ grep -ho 'event=slow_loop_turn cpu_ms=[0-9.]*' "$WORK"/n*.log || true; } | cut -d= -f3 | sort -g | tail -n 1)
echo "longest loop turn by CPU: ${worst:-none logged} ms; longest fork: $(grep -ho 'fork_ms=[0-9.]*' "$WORK"/n*.log | cut -d= -f2 | sort -g | tail -n 1) ms"
if [ -n "$worst" ] && awk -v w="$worst" 'BEGIN { exit !(w >= 100) }'; then
  fail "a loop turn used $worst ms of CPU: $(grep -h 'event=slow_loop_turn' "$WORK"/n*.log | sort -t= -k4 -g | tail -n 1)"
fi
echo "ok  no loop turn used 100 ms of CPU"

# A follower cut off while the log moves 5 snapshots on is caught up by
# the leader's snapshot, sent in chunks as a durable member's is.
F=$((L % 3 + 1))
O=$((F % 3 + 1))
[ "$O" != "$L" ] || O=$((O % 3 + 1))
cut_both "$L" "$F" 20000
cut_both "$O" "$F" 20000
cut_at=$SECONDS
redis-benchmark -p "${CPORT[$L]}" -t set -r 500000 -n 100000 -d 100 -P 16 -c 50 -q >/dev/null 2>&1 || true
[ $((SECONDS - cut_at)) -lt 20 ] || fail "the writes took longer than the cut"
deadline=$((SECONDS + 80))
until grep -q 'event=snapshot_installed' "$WORK/n$F.log"; do
  [ $SECONDS -lt $deadline ] || fail "n$F installed no snapshot within 60 s of the cut's end"
  sleep 0.2
done
grep -q 'event=snapshot_received' "$WORK/n$F.log" || fail "n$F's snapshot did not come in chunks"
grep -q "event=snapshot_sent" "$WORK/n$L.log" || fail "n$L logged no snapshot_sent"
echo "ok  n$F, cut off, installed the leader's snapshot, sent in chunks"
want=$(cli "$L" DBSIZE)
deadline=$((SECONDS + 30))
until [ "$(cli "$F" DBSIZE)" = "$want" ]; do
  [ $SECONDS -lt $deadline ] || fail "n$F holds $(cli "$F" DBSIZE) keys, the leader $want"
  sleep 0.2
done
echo "ok  n$F holds the leader's $want keys"

# kill -9 leaves the directory; the next start under the base removes it
# (the member itself then stays out: empty, it may have lost what it
# acknowledged, empty_member_refused).
old=$(mem_dir_of "$F")
kill_node "$F" 9
[ -d "$old" ] || fail "n$F's directory went with kill -9 (nothing could remove it)"
start_mem "$F"
deadline=$((SECONDS + 15))
until grep -q 'event=started' <(grep -A1000 'event=in_memory_dirs_swept' "$WORK/n$F.log"); do
  [ $SECONDS -lt $deadline ] || fail "n$F did not log the sweep and start within 15 s"
  sleep 0.2
done
[ ! -e "$old" ] || fail "the directory n$F left at kill -9 ($old) is still there"
echo "ok  the directory a killed member left is removed by the next start"

for i in 1 2 3; do
  kill_node "$i" TERM
  expect "n$i's exit on SIGTERM" "$LAST_EXIT" 0
done
left=$(ls -A "$BASE")
[ -z "$left" ] || fail "directories left under $BASE after SIGTERM: $left"
echo "ok  every member removed its directory at exit"
echo "PASS test_server_in_memory_snapshot"
