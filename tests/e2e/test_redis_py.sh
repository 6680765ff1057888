#!/usr/bin/env bash
# test_redis_py.sh - redis-py end to end (redis_py_client.py): basics and
# pipeline(transaction=False) strictly; pipeline() transactions, transaction()
# with WATCH retries under contention, lock() from several processes,
# scan_iter(), incr() and set(ex=, nx=) with expiry once raftkv has their
# commands (SKIP, with the reason, until then). The same client first runs
# against Debian's redis-server with every part required, so a part that
# passes there and fails on raftkv is raftkv's fault, not the test's.
#   tests/e2e/test_redis_py.sh BUILD        (KEEP=1 keeps the logs)
set -euo pipefail
build=${1:-build}
source "$(dirname "$0")/lib_server.sh"
here=$(cd "$(dirname "$0")" && pwd)
/usr/bin/python3 -c 'import redis' 2>/dev/null || bash "$here/../../scripts/deps.sh" test
command -v redis-server >/dev/null || bash "$here/../../scripts/deps.sh" test
REDIS_PID=
stop_all() {
  [ -n "$REDIS_PID" ] && { kill -9 "$REDIS_PID"; wait "$REDIS_PID"; } 2>/dev/null || true
  cleanup
}
trap stop_all EXIT

pick_ports
for i in 1 2 3; do start_node "$i"; done
L=$(wait_leader)
F=$(( L % 3 + 1 ))
RP=$(free_port)
mkdir -p "$WORK/redis"
redis-server --port "$RP" --bind 127.0.0.1 --dir "$WORK/redis" --save '' --appendonly no \
  >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
for _ in $(seq 1 50); do redis-cli -p "$RP" PING >/dev/null 2>&1 && break; sleep 0.1; done

echo "--- redis-server $(redis-server --version | awk '{print $3}') (every part required)"
/usr/bin/python3 "$here/redis_py_client.py" "$RP" --require-all || fail "the client fails against redis-server itself"
echo "--- raftkv, through follower n$F (leader n$L)"
/usr/bin/python3 "$here/redis_py_client.py" "${CPORT[$F]}" || fail "redis-py against raftkv"
echo "ok  redis-py end to end"
