#!/usr/bin/env bash
# test_server_strings.sh - the string commands (INCR DECR INCRBY DECRBY
# INCRBYFLOAT APPEND STRLEN GETRANGE SUBSTR SETRANGE GETSET GETDEL GETEX SETNX
# SETEX PSETEX MSET MSETNX) on a 3-member cluster, through a follower and
# through the leader, each reply compared byte for byte with a redis-server
# this test starts (strings_compare.py: errors, limits, formatting, expiry
# kept or cleared); then a kill -9 and restart of every member keeps the
# counters; then redis-py's incr() and set(ex=, nx=).
#   tests/e2e/test_server_strings.sh BUILD      (KEEP=1 keeps the logs)
set -euo pipefail
build=${1:-build}
source "$(dirname "$0")/lib_server.sh"
here=$(cd "$(dirname "$0")" && pwd)
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
redis-server --port "$RP" --bind 127.0.0.1 --dir "$WORK/redis" --save '' --appendonly no >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
for _ in $(seq 1 50); do redis-cli -p "$RP" PING >/dev/null 2>&1 && break; sleep 0.1; done
[ "$(redis-cli -p "$RP" PING 2>&1)" = PONG ] || fail "redis-server did not start on $RP"
echo "leader n$L, follower n$F, $(redis-server --version | awk '{print $1, $3}') on $RP"

for who in "follower:$F" "leader:$L"; do
  name=${who%%:*} i=${who##*:}
  out=$(/usr/bin/python3 "$here/strings_compare.py" --raftkv "${CPORT[$i]}" --redis "$RP" --prefix "$name:" 2>&1) ||
    fail "through the $name, replies differ from redis-server's:"$'\n'"$out"
  echo "ok  through the $name (n$i): $(tail -n 1 <<<"$out")"
done

# Counters and MSETNX's all-or-nothing are state-machine results every member
# keeps: after a restart of all three from their data directories, the same.
expect "INCRBY before restart" "$(cli "$F" INCRBY restart:c 41)" 41
expect "MSETNX refused" "$(cli "$F" MSETNX restart:c 1 restart:d 2)" 0
for i in 1 2 3; do kill_node "$i" KILL; done
for i in 1 2 3; do start_node "$i"; done
L=$(wait_leader)
expect "INCR after restart" "$(cli "$L" INCR restart:c)" 42
expect "MSETNX left restart:d absent" "$(cli "$L" EXISTS restart:d)" 0

# redis-py (Debian's python3-redis), as an application uses it.
if /usr/bin/python3 -c 'import redis' 2>/dev/null; then
  /usr/bin/python3 - "${CPORT[$F]}" <<'PY' || fail "redis-py"
import sys, time, redis
r = redis.Redis(port=int(sys.argv[1]), socket_timeout=10)
r.delete("py:n", "py:lock", "py:f")
assert r.incr("py:n") == 1 and r.incr("py:n", 5) == 6 and r.decr("py:n", 2) == 4, r.get("py:n")
assert r.incrbyfloat("py:f", 2.5) == 2.5
assert r.set("py:lock", "me", ex=1, nx=True) is True
assert r.set("py:lock", "you", ex=1, nx=True) is None
assert r.get("py:lock") == b"me"
assert r.mset({"py:a": 1, "py:b": 2}) and r.mget("py:a", "py:b") == [b"1", b"2"]
assert r.msetnx({"py:a": 9, "py:c": 3}) is False and r.get("py:c") is None
assert r.getdel("py:a") == b"1" and r.getset("py:b", 5) == b"2"
assert r.append("py:b", "x") == 2 and r.strlen("py:b") == 2 and r.getrange("py:b", 1, 1) == b"x"
time.sleep(1.3)
assert r.get("py:lock") is None, "the lock's 1 s expiry was not observed"
assert r.set("py:lock", "you", ex=1, nx=True) is True
print("ok  redis-py: incr, decr, incrbyfloat, set(ex=, nx=) with expiry observed, mset, msetnx, getdel, getset, append")
PY
else
  echo "SKIP redis-py (python3-redis is not installed)"
fi
echo "PASS test_server_strings"
