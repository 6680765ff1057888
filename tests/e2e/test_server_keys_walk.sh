#!/usr/bin/env bash
# test_server_keys_walk.sh - KEYS on a map past --keys-walk-min, answered
# from a point-in-time walk in slices of --keys-walk-entries (small here,
# so a few thousand keys walk over many loop turns), on a 3-member cluster:
# the right set (expired keys left out, a pattern applied) on the leader
# and through a follower (the leader's answer forwarded); SETs running
# meanwhile never break a KEYS (every key written before it is there,
# nothing is twice, nothing that was never written); INFO counts the walks;
# a reply past --max-output-bytes is an error and the connection goes on.
#   tests/e2e/test_server_keys_walk.sh BUILD      (KEEP=1 keeps the logs)
set -euo pipefail
build=${1:-build}
source "$(dirname "$0")/lib_server.sh"
trap cleanup EXIT

pick_ports
E2E_SERVE_OPTS="--keys-walk-min 1000 --keys-walk-entries 500 --max-output-bytes 262144"
for i in 1 2 3; do start_node "$i"; done
L=$(wait_leader)
F=$(( L % 3 + 1 ))

/usr/bin/python3 - "${CPORT[$L]}" "${CPORT[$F]}" <<'PY' || fail "KEYS walk checks (above)"
import sys, threading, time, redis
lead = redis.Redis(port=int(sys.argv[1]), single_connection_client=True)
fol = redis.Redis(port=int(sys.argv[2]), single_connection_client=True)

def keys(r, pat):
    got = r.keys(pat)
    if len(got) != len(set(got)):
        sys.exit("KEYS %s: a key came twice" % pat)
    return set(k.decode() for k in got)

p = lead.pipeline(transaction=False)
want = set("k:%d" % i for i in range(5000))
for k in sorted(want):
    p.set(k, "v")
for i in range(50):
    p.set("gone:%d" % i, "v", px=1)
p.execute()
time.sleep(0.2)  # the deadlines pass; active expiry may or may not have removed them
for name, r in (("leader", lead), ("follower", fol)):
    got = keys(r, "*")
    if got != want:
        sys.exit("%s KEYS *: %d keys, want %d; missing %s extra %s" % (
            name, len(got), len(want), sorted(want - got)[:5], sorted(got - want)[:5]))
    got = keys(r, "k:1*")
    w1 = set(k for k in want if k.startswith("k:1"))
    if got != w1:
        sys.exit("%s KEYS k:1*: %d keys, want %d" % (name, len(got), len(w1)))
print("ok  KEYS * and KEYS k:1* over 5000 keys (walked 500 entries a turn) on the leader and "
      "through a follower; expired keys left out")

# SETs meanwhile: each KEYS holds every key written before it began (the
# base set), only keys that were written, none twice.
stop = threading.Event()
written = []
def writer():
    w = redis.Redis(port=int(sys.argv[1]))
    i = 0
    while not stop.is_set() and i < 20000:
        pw = w.pipeline(transaction=False)
        for j in range(50):
            pw.set("new:%d" % (i + j), "v")
        pw.execute()
        written.append(i + 50)
        i += 50
t = threading.Thread(target=writer)
t.start()
runs = 0
try:
    for _ in range(6):
        for r in (lead, fol):
            got = keys(r, "*")
            if not want <= got:
                sys.exit("KEYS during SETs lost %d base keys" % len(want - got))
            hi = written[-1] + 50 if written else 50
            bad = [k for k in got - want
                   if not k.startswith("new:") or int(k[4:]) >= hi + 50]
            if bad:
                sys.exit("KEYS during SETs: keys never written: %s" % bad[:5])
            runs += 1
finally:
    stop.set()
    t.join()
if not written:
    sys.exit("the writer wrote nothing while KEYS ran")
print("ok  %d KEYS during %d concurrent SETs: every earlier key, none twice, none unwritten"
      % (runs, written[-1]))

# Past the output limit: an error, and the connection goes on.
p = lead.pipeline(transaction=False)
for i in range(3000):
    p.set("long:%d:%s" % (i, "x" * 100), "v")
p.execute()
try:
    lead.keys("*")
    sys.exit("KEYS * past --max-output-bytes answered")
except redis.ResponseError as e:
    if "KEYS reply would exceed 262144 bytes" not in str(e):
        sys.exit("KEYS * past the limit: %s" % e)
    print("ok  KEYS past --max-output-bytes: -%s" % e)
if lead.ping() is not True or len(keys(lead, "k:2*")) != 1111:
    sys.exit("the connection after the error")
try:
    fol.keys("long:*")
    sys.exit("KEYS long:* through the follower answered")
except redis.ResponseError as e:
    if "KEYS reply would exceed" not in str(e):
        sys.exit("KEYS long:* through the follower: %s" % e)
if fol.ping() is not True:
    sys.exit("the follower's connection after the error")
print("ok  the same through a follower; both connections go on (PING, a smaller KEYS)")
PY

begun=$(info_field "$L" keys_walks | sed 's/.*begun=\([0-9]*\).*/\1/')
done_=$(info_field "$L" keys_walks | sed 's/.*done=\([0-9]*\).*/\1/')
[ "$begun" -ge 10 ] && [ "$done_" -ge 10 ] || fail "INFO keys_walks on the leader: $(info_field "$L" keys_walks)"
echo "ok  INFO keys_walks on the leader: $(info_field "$L" keys_walks)"
if grep -q slow_loop_turn "$WORK"/n*.log; then
  grep slow_loop_turn "$WORK"/n*.log | head -3
fi
