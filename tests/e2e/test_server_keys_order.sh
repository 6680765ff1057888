#!/usr/bin/env bash
# test_server_keys_order.sh - KEYS in pipelines keeps its connection's order
# (src/router/router.h rule 9: a KEYS goes alone, after the commands before
# it are answered and before those after it are sent), through a follower
# (forwarded to the leader) and through the leader, on a 3-member cluster
# started with --long-read-timeout-ms that answers every KEYS from a walk
# of 64 entries a loop turn over 2000 other keys (so each spans turns while
# other commands are served); and the option's bad values are refused at
# start.
#   tests/e2e/test_server_keys_order.sh BUILD      (KEEP=1 keeps the logs)
set -euo pipefail
build=${1:-build}
source "$(dirname "$0")/lib_server.sh"
trap cleanup EXIT

# ---- the option: bounded, named in the refusal ----
for bad in 0 1000000001 soon; do
  rc=0
  err=$("$RAFTKV" serve --id n1 --peers n1=127.0.0.1:1 --listen 127.0.0.1:1 --in-memory \
        --long-read-timeout-ms "$bad" 2>&1) || rc=$?
  [ "$rc" = 64 ] || fail "--long-read-timeout-ms $bad: exit $rc, want 64"
  case "$err" in *"bad value for --long-read-timeout-ms"*) ;; *) fail "refusal of $bad: $err" ;; esac
done
help=$("$RAFTKV" serve --help 2>&1)
case "$help" in *"--long-read-timeout-ms N"*) ;; *) fail "--help lacks --long-read-timeout-ms" ;; esac
echo "ok  --long-read-timeout-ms 0, past 10^9 or not a number is refused (64, the option named)"

pick_ports
for i in 1 2 3; do
  start_node "$i" --long-read-timeout-ms 20000 --keys-walk-min 0 --keys-walk-entries 64
done
L=$(wait_leader)
F=$(( L % 3 + 1 ))
/usr/bin/python3 - "${CPORT[$L]}" <<'PY' || fail "preload"
import sys, redis
p = redis.Redis(port=int(sys.argv[1])).pipeline(transaction=False)
for i in range(2000):
    p.set("filler:%d" % i, "v")
p.execute()
PY

# Pipelines mixing KEYS with writes and reads of the keys it lists: each
# KEYS sees exactly the writes before it on its connection, none after.
/usr/bin/python3 - "${CPORT[$F]}" "${CPORT[$L]}" <<'PY' || fail "KEYS out of its connection's order"
import sys, redis
for port in sys.argv[1:]:
    r = redis.Redis(port=int(port))
    for i in range(100):
        k = "o:%s:%d:" % (port, i)
        p = r.pipeline(transaction=False)
        p.keys(k + "*")
        p.set(k + "a", "1")
        p.keys(k + "*")
        p.set(k + "b", "2")
        p.get(k + "a")
        p.keys(k + "*")
        p.keys(k + "*")
        p.delete(k + "a")
        p.keys(k + "*")
        p.exists(k + "a")
        got = p.execute()
        got = [sorted(x) if isinstance(x, list) else x for x in got]
        a, b = (k + "a").encode(), (k + "b").encode()
        want = [[], True, [a], True, b"1", [a, b], [a, b], 1, [b], 0]
        if got != want:
            print("port %s round %d: got %r, want %r" % (port, i, got, want))
            sys.exit(1)
PY
walks=$(info_field "$L" keys_walks)
case "$walks" in begun=0,*|"") fail "no KEYS walk on the leader: '$walks'" ;; esac
echo "ok  200 pipelines of KEYS among SET/GET/DEL through follower n$F and leader n$L: each KEYS saw its connection's earlier writes and none of its later ones (leader's walks: $walks)"

# KEYS inside MULTI is part of EXEC's one write, applied on every member:
# with --keys-walk-min 0 the entry's bound refuses it on any key space that
# is not empty, and the rest of the transaction applies (in order with
# KEYS on a small key space: test_server_keys.sh).
err="ERR KEYS inside MULTI on a key space of 1 keys or more (--keys-walk-min) would hold every member's event loop; run KEYS outside MULTI or use SCAN"
out=$(printf 'MULTI\r\nSET m:x 1\r\nKEYS m:*\r\nDEL m:x\r\nKEYS m:*\r\nEXEC\r\n' |
      redis-cli -p "${CPORT[$F]}" | tr '\n' ' ')
expect "KEYS inside MULTI/EXEC through a follower" "$out" "OK QUEUED QUEUED QUEUED QUEUED OK $err  1 $err  "
