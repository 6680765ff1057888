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
REDIS_PID=
stop_all() {
  [ -n "$REDIS_PID" ] && { kill -9 "$REDIS_PID"; wait "$REDIS_PID"; } 2>/dev/null || true
  cleanup
}
trap stop_all EXIT

pick_ports
for i in $(seq 1 $NODES); do start_node "$i"; done
L=$(wait_leader)
N=1; [ "$NODES" -gt 1 ] && N=$(( L % NODES + 1 )) # a follower: every command is passed on
RP=$(free_port)
mkdir -p "$WORK/redis"
redis-server --port "$RP" --bind 127.0.0.1 --dir "$WORK/redis" --save '' --appendonly no \
  >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
for _ in $(seq 1 50); do redis-cli -p "$RP" PING >/dev/null 2>&1 && break; sleep 0.1; done
[ "$(redis-cli -p "$RP" PING 2>&1)" = PONG ] || fail "redis-server did not start: $(tail -5 "$WORK/redis.log")"
echo "raftkv n$N of $NODES (leader n$L) on ${CPORT[$N]}, $(redis-server --version | awk '{print $1, $3}') on $RP"

/usr/bin/python3 "$here/redis_compare.py" --raftkv "${CPORT[$N]}" --redis "$RP" \
  --count "${REDIS_COMPARE_COUNT:-4000}" | tee "$WORK/compare.out"
rc=${PIPESTATUS[0]}
[ "$rc" = 0 ] || fail "replies differ from redis-server's (seed and command above)"
echo "ok  replies as redis-server's, apart from the documented differences"
