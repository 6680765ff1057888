#!/usr/bin/env bash
# test_server_pipeline_order.sh - one connection's commands take effect in
# the order sent (README, "Using raftkv as a server"), pipelined, on the
# leader and through followers, across leader changes.
#   tests/e2e/test_server_pipeline_order.sh BUILD [SECONDS] [SEED]
# First SET k v + GET k in one write, 30 times per member, and 20 redis-py
# pipeline()s of the same: the GET must read v. Then several connections (pipeline_client.py) send random pipelines of
# SET, GET, DEL, CAS and MGET to all three members while the leader is killed
# (-9) and restarted; whirl's checker must find the recorded history (one
# process per connection) linearizable and, with --connection-order when
# this whirl has it, in each connection's order. The client also checks the
# order itself on keys only one connection writes.
set -euo pipefail
build=${1:-build}
duration=${2:-20}
seed=${3:-$(( $(date +%s) % 100000 ))}
source "$(dirname "$0")/lib_server.sh"
PY=/usr/bin/python3 # Debian's, with python3-redis (scripts/deps.sh test)
"$PY" -c 'import redis' 2>/dev/null || bash "$(dirname "$0")/../../scripts/deps.sh" test
"$PY" -c 'import redis' 2>/dev/null || fail "redis-py missing for $PY (bash scripts/deps.sh test)"
CLIENT=$(cd "$(dirname "$0")" && pwd)/pipeline_client.py
[ -x "$WHIRL" ] || fail "missing $WHIRL (run make)"
echo "seed $seed (replay: $0 $build $duration $seed; the faults' timing is not replayed)"
RANDOM=$seed

pick_ports
for i in 1 2 3; do start_node "$i" --request-timeout-ms 1000; done
leader=$(wait_leader)

# SET then GET in one write on a fresh connection, on each member.
for i in $leader $(( leader % 3 + 1 )) $(( (leader + 1) % 3 + 1 )); do
  role=follower; [ "$i" = "$leader" ] && role=leader
  stale=$("$PY" - "${CPORT[$i]}" <<'EOF'
import socket, sys
def enc(*a):
    return b"*%d\r\n" % len(a) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in a)
stale = 0
for t in range(30):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
    k, v = b"raw%d" % t, b"new%d" % t
    s.sendall(enc(b"SET", k, b"old"))
    buf = b""
    while not buf.endswith(b"\r\n"):
        buf += s.recv(100)
    s.sendall(enc(b"SET", k, v) + enc(b"GET", k))
    want, buf = b"+OK\r\n$%d\r\n%s\r\n" % (len(v), v), b""
    while len(buf) < len(want) and not buf.startswith(b"-"):
        d = s.recv(1000)
        if not d:
            break
        buf += d
    stale += buf != want
    s.close()
print(stale)
EOF
)
  expect "SET k v + GET k pipelined on the $role n$i: GETs that missed the SET" "$stale" 0
  stale=$("$PY" - "${CPORT[$i]}" <<'EOF'
import sys, redis
r = redis.Redis(port=int(sys.argv[1]), socket_timeout=5)
stale = 0
for t in range(20):
    k = "rp%d" % t
    r.set(k, "old")
    p = r.pipeline(transaction=False)
    p.set(k, "new%d" % t)
    p.get(k)
    stale += p.execute()[1] != b"new%d" % t
print(stale)
EOF
)
  expect "redis-py pipeline() SET then GET on the $role n$i: GETs that missed the SET" "$stale" 0
done

"$PY" "$CLIENT" --nodes "$(client_addrs)" --seconds "$duration" --connections 6 --seed "$seed" \
  --out "$WORK/history.jsonl" >"$WORK/client.out" 2>"$WORK/client.err" &
client=$!

kills=0
sleep 3
while kill -0 $client 2>/dev/null; do
  l=$(wait_leader)
  echo "nemesis: kill -9 the leader n$l, restart after 1 s (at ${SECONDS} s)"
  kill_node "$l" 9
  kills=$((kills + 1))
  sleep 1
  start_node "$l" --request-timeout-ms 1000
  sleep 3.$((RANDOM % 10))
done
client_rc=0
wait $client || client_rc=$?
cat "$WORK/client.err" >&2
cat "$WORK/client.out"
[ "$client_rc" -eq 0 ] || fail "the client saw a read miss its own connection's earlier write"
ok=$(sed -n 's/^ok=\([0-9]*\).*/\1/p' "$WORK/client.out")
checked=$(sed -n 's/.*order_checked=\([0-9]*\).*/\1/p' "$WORK/client.out")
[ "$kills" -ge 3 ] || fail "only $kills leader kills"
[ "${ok:-0}" -ge 2000 ] || fail "only ${ok:-0} operations succeeded: the cluster was not available enough to test"
[ "${checked:-0}" -ge 500 ] || fail "only ${checked:-0} reads of a connection's own keys checked"
echo "ok  $kills leader kills; $ok operations ok; $checked reads of a connection's own keys saw its latest write"

hist=$WORK/history.jsonl
order=
if "$WHIRL" check --help 2>&1 | grep -q -- --connection-order; then
  order=--connection-order
else
  # This whirl pairs one pending operation per process: give every
  # operation a process of its own (linearizability only).
  echo "note: this whirl has no --connection-order; order checked by the client only (own keys)"
  "$PY" "$CLIENT" --one-process-per-op "$hist" >"$WORK/history-per-op.jsonl"
  hist=$WORK/history-per-op.jsonl
fi
verdict=0
SECONDS_CHECK=$SECONDS
"$WHIRL" check $order --verbose "$hist" >"$WORK/check.out" 2>&1 || verdict=$?
head -n 20 "$WORK/check.out"
[ $verdict -eq 0 ] || { cp "$WORK/history.jsonl" /tmp/raftkv-pipeline-history-$seed.jsonl; \
  fail "whirl check $order says not valid (exit $verdict); history kept in /tmp/raftkv-pipeline-history-$seed.jsonl"; }
echo "ok  whirl check $order: the history is linearizable${order:+ and in per-connection order} ($((SECONDS - SECONDS_CHECK)) s)"
for i in 1 2 3; do kill_node $i TERM; done
PID=()
echo "test_server_pipeline_order: all checks passed"
