#!/usr/bin/env bash
# test_redis_compare.sh - raftkv's replies side by side with Debian's
# redis-server for a seeded, generated sequence of commands (redis_compare.py):
# the commands raftkv lists in COMMAND get Redis's reply type and bytes, apart
# from the documented differences; the others Redis's unknown-command error.
#   tests/e2e/test_redis_compare.sh BUILD
#   REDIS_COMPARE_SEED=N replays a run; REDIS_COMPARE_COUNT=N commands (4000);
#   commands go to a follower of a 3-member cluster (REDIS_COMPARE_NODES=1: one member);
#   REDIS_COMPARE_STRICT=1 fails on the "gap" rows too; KEEP=1 keeps the logs.
set -euo pipefail
build=${1:-build}
source "$(dirname "$0")/lib_server.sh"
NODES=${REDIS_COMPARE_NODES:-3}
here=$(cd "$(dirname "$0")" && pwd)
command -v redis-server >/dev/null || bash "$here/../../scripts/deps.sh" test
REDIS_PIDS=()
stop_all() {
  local p
  for p in "${REDIS_PIDS[@]}"; do { kill -9 "$p"; wait "$p"; } 2>/dev/null || true; done
  cleanup
}
trap stop_all EXIT

pick_ports
for i in $(seq 1 $NODES); do start_node "$i"; done
L=$(wait_leader)
N=1; [ "$NODES" -gt 1 ] && N=$(( L % NODES + 1 )) # a follower: every command is passed on
start_redis() { # start_redis NAME PORT (not in a subshell: its pid is kept for stop_all)
  mkdir -p "$WORK/$1"
  redis-server --port "$2" --bind 127.0.0.1 --dir "$WORK/$1" --save '' --appendonly no >"$WORK/$1.log" 2>&1 &
  REDIS_PIDS+=($!)
}
RP=$(free_port)
start_redis redis "$RP"
RP2=$(free_port)
start_redis redis2 "$RP2"
for p in "$RP" "$RP2"; do
  for _ in $(seq 1 50); do redis-cli -p "$p" PING >/dev/null 2>&1 && break; sleep 0.1; done
  [ "$(redis-cli -p "$p" PING 2>&1)" = PONG ] || fail "redis-server did not start on $p"
done

# The harness first checks itself: a second redis-server in raftkv's place
# lists every command, so the whole catalog (transactions under WATCH,
# expiry, SCAN, ...) runs with no mismatch but the documented ones.
/usr/bin/python3 "$here/redis_compare.py" --raftkv "$RP2" --redis "$RP" --count 2000 >"$WORK/self.out" ||
  fail "the harness fails redis-server against itself: $(grep -A20 MISMATCH "$WORK/self.out")"
echo "ok  harness self-check, redis-server against redis-server: $(grep 'commands:' "$WORK/self.out")"
echo "raftkv n$N of $NODES (leader n$L) on ${CPORT[$N]}, $(redis-server --version | awk '{print $1, $3}') on $RP"

/usr/bin/python3 "$here/redis_compare.py" --raftkv "${CPORT[$N]}" --redis "$RP" \
  --count "${REDIS_COMPARE_COUNT:-4000}" >"$WORK/compare.out" || {
  cat "$WORK/compare.out"
  fail "replies differ from redis-server's (seed and command above)"
}
cat "$WORK/compare.out"
echo "ok  replies as redis-server's, apart from the documented differences"
