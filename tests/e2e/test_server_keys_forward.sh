#!/usr/bin/env bash
# test_server_keys_forward.sh - a large KEYS answer forwarded from the
# leader to a follower under a small --peer-queue-bytes (1 MiB), while
# large SETs keep the leader's queue to that follower busy: every KEYS
# through the follower is answered within seconds, either with every key
# (byte for byte the leader's set) or, when the answer did not fit the
# queue, with -TRYAGAIN "answer of N bytes does not fit --peer-queue-bytes;
# use SCAN" at once - never after the forward timeout. Also a KEYS of
# binary keys (CRLF inside) walked and forwarded comes back intact.
#   tests/e2e/test_server_keys_forward.sh BUILD      (KEEP=1 keeps the logs)
set -euo pipefail
build=${1:-build}
source "$(dirname "$0")/lib_server.sh"
trap cleanup EXIT

pick_ports
E2E_SERVE_OPTS="--keys-walk-min 1000 --keys-walk-entries 500 --peer-queue-bytes 1048576"
for i in 1 2 3; do start_node "$i"; done
L=$(wait_leader)
F=$(( L % 3 + 1 ))

/usr/bin/python3 - "${CPORT[$L]}" "${CPORT[$F]}" <<'PY' || fail "forwarded KEYS checks (above)"
import sys, threading, time, redis
lead = redis.Redis(port=int(sys.argv[1]))
# A dropped answer is waited for as long as the cluster makes progress:
# the socket timeout turns that into a failure.
fol = redis.Redis(port=int(sys.argv[2]), single_connection_client=True, socket_timeout=20)

want = set(b"key:%06d:%s" % (i, b"x" * 12) for i in range(60000))  # ~2 MiB of reply
want |= {b"bin\r\n$3\r\nkey\r\n", b"\x00\xff\r\n"}
p = lead.pipeline(transaction=False)
for i, k in enumerate(sorted(want)):
    p.set(k, "v")
    if i % 5000 == 4999:
        p.execute()
p.execute()
got = lead.keys("*")
if set(got) != want or len(got) != len(want):
    sys.exit("leader KEYS *: %d keys, want %d" % (len(got), len(want)))
for _ in range(100):  # the follower applied everything
    if fol.execute_command("DBSIZE") == len(want):
        break
    time.sleep(0.1)

stop = threading.Event()
def writer():
    w = redis.Redis(port=int(sys.argv[1]))
    big = b"y" * 300000
    i = 0
    while not stop.is_set():
        pw = w.pipeline(transaction=False)
        for j in range(4):
            pw.set(b"big:%d" % (i % 8), big)
            i += 1
        pw.execute()
ts = [threading.Thread(target=writer) for _ in range(2)]
for t in ts:
    t.start()
full = refused = 0
worst = 0.0
try:
    for _ in range(100):
        if refused >= 3:
            break
        t0 = time.time()
        try:
            got = fol.keys("key:*")
            if len(got) != 60000 or set(got) != set(k for k in want if k.startswith(b"key:")):
                sys.exit("KEYS key:* through the follower: %d keys, not the leader's set" % len(got))
            full += 1
        except redis.TimeoutError:
            sys.exit("a KEYS through the follower got no answer in 20 s (its answer was dropped)")
        except redis.ResponseError as e:
            if not str(e).startswith("TRYAGAIN") or "does not fit --peer-queue-bytes; use SCAN" not in str(e):
                sys.exit("KEYS through the follower: -%s" % e)
            refused += 1
        worst = max(worst, time.time() - t0)
        if worst > 5:
            sys.exit("a KEYS through the follower took %.1f s (a dropped answer waits for the timeout)" % worst)
finally:
    stop.set()
    for t in ts:
        t.join()
print("ok  %d KEYS key:* (~2 MiB) through the follower under --peer-queue-bytes 1 MiB and 300 KB SETs: "
      "%d full, %d refused at once (-TRYAGAIN ... use SCAN), slowest %.2f s" % (full + refused, full, refused, worst))
if refused == 0:
    sys.exit("no answer was refused: the test did not reach the queue's bound")

# Quiet again: the answer fits the empty queue, binary keys intact.
for _ in range(50):
    try:
        got = fol.keys("*")
        break
    except redis.ResponseError:
        time.sleep(0.1)
got = [k for k in got if not k.startswith(b"big:")]
if sorted(got) != sorted(want):
    sys.exit("KEYS * through the quiet follower: %d keys, want %d" % (len(got), len(want)))
bins = fol.keys("bin*") + fol.keys("\x00*")
if sorted(bins) != sorted([b"bin\r\n$3\r\nkey\r\n", b"\x00\xff\r\n"]):
    sys.exit("binary keys through the follower: %r" % bins)
print("ok  KEYS * through the follower once quiet: every key, binary keys (CRLF inside) intact")
PY
echo "ok  forwarded KEYS never waits for the timeout"
