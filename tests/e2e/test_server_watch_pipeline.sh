#!/usr/bin/env bash
# test_server_watch_pipeline.sh - a transaction pipelined whole (WATCH k,
# MULTI, ..., EXEC in one write, before WATCH's reply is back) runs as in
# Redis: EXEC waits for the connection's WATCH reads (src/server/multi.c).
#   tests/e2e/test_server_watch_pipeline.sh BUILD
# On the leader, on a follower and on Debian's redis-server, each case 10
# times on fresh keys; the reply bytes must be the literal ones below and
# the same as redis-server's:
#   A  WATCH k / MULTI / SET k v / GET k / EXEC / GET k      EXEC runs: [OK, v]
#   B  WATCH k / SET k other / MULTI / SET k v / EXEC / GET k the connection's own write: nil
#   C  WATCH k, answered; another connection SETs k; then MULTI / SET k v /
#      EXEC / GET k in one write                             nil, k keeps the other's value
#   D  WATCH a / WATCH b / MULTI / INCR a / INCR b / EXEC    [1, 1]
set -euo pipefail
build=${1:-build}
source "$(dirname "$0")/lib_server.sh"
PY=/usr/bin/python3
command -v redis-server >/dev/null || bash "$(dirname "$0")/../../scripts/deps.sh" test
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

run_cases() { # run_cases PORT: one line per case, "NAME <reply bytes, repr>"
  "$PY" - "$1" <<'EOF'
import socket, sys
port = int(sys.argv[1])
def enc(*a):
    return b"".join(b"*%d\r\n" % len(c) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in c) for c in a)
def conn():
    return socket.create_connection(("127.0.0.1", port), timeout=10)
def recv_until(s, want_len):
    buf = b""
    while len(buf) < want_len:
        d = s.recv(65536)
        if not d:
            break
        buf += d
    return buf
def pipe(s, cmds, want):
    s.sendall(enc(*cmds))  # one write
    return recv_until(s, len(want))
W = {
    "A": b"+OK\r\n+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n$1\r\nv\r\n$1\r\nv\r\n",
    "B": b"+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n*-1\r\n$5\r\nother\r\n",
    "C": b"+OK\r\n+QUEUED\r\n*-1\r\n$5\r\nother\r\n",
    "D": b"+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n:1\r\n:1\r\n",
}
bad = 0
for t in range(10):
    k = b"wp:%d:%d" % (port, t)
    s, o = conn(), conn()
    got = {}
    got["A"] = pipe(s, [[b"WATCH", k + b"a"], [b"MULTI"], [b"SET", k + b"a", b"v"], [b"GET", k + b"a"], [b"EXEC"],
                        [b"GET", k + b"a"]], W["A"])
    got["B"] = pipe(s, [[b"WATCH", k + b"b"], [b"SET", k + b"b", b"other"], [b"MULTI"], [b"SET", k + b"b", b"v"],
                        [b"EXEC"], [b"GET", k + b"b"]], W["B"])
    r = pipe(s, [[b"WATCH", k + b"c"]], b"+OK\r\n")
    r2 = pipe(o, [[b"SET", k + b"c", b"other"]], b"+OK\r\n")
    got["C"] = pipe(s, [[b"MULTI"], [b"SET", k + b"c", b"v"], [b"EXEC"], [b"GET", k + b"c"]], W["C"])
    if r != b"+OK\r\n" or r2 != b"+OK\r\n":
        got["C"] = b"setup: " + r + r2
    got["D"] = pipe(s, [[b"WATCH", k + b"d1"], [b"WATCH", k + b"d2"], [b"MULTI"], [b"INCR", k + b"d1"],
                        [b"INCR", k + b"d2"], [b"EXEC"]], W["D"])
    for name in sorted(got):
        if t == 0 or got[name] != W[name]:
            print(name, repr(got[name]))
        bad += got[name] != W[name]
    s.close(); o.close()
print("wrong", bad)
EOF
}

for who in "leader n$L:${CPORT[$L]}" "follower n$F:${CPORT[$F]}" "redis-server:$RP"; do
  port=${who##*:}
  name=${who%:*}
  out=$(run_cases "$port")
  echo "$name:"
  sed 's/^/    /' <<<"$out"
  wrong=$(sed -n 's/^wrong //p' <<<"$out")
  expect "pipelined transactions on $name: replies other than Redis's" "$wrong" 0
done
echo "test_server_watch_pipeline: all checks passed"
