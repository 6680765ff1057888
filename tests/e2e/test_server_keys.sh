#!/usr/bin/env bash
# test_server_keys.sh - the keyspace and expiry commands on a 3-member
# cluster: a deadline set through a follower is seen by every member and
# its key removed on every member by the leader's active expiry (INFO
# keyspace of each member); deadlines survive a leader's kill -9 and the
# new leader removes the key; a SCAN whose cursor moves to another member
# across a leader change (kill -9), with keys written and deleted
# meanwhile, returns every key present throughout; KEYS, RENAME, TTL
# inside MULTI/EXEC; redis-cli --scan and --bigkeys; SCAN's COUNT cut to
# --scan-max-count (50 here), alone and inside MULTI, a full iteration
# with a huge COUNT still returning every key; KEYS inside MULTI on a map
# of --keys-walk-min keys or more (100 here) answers the error in its slot
# of EXEC's array while the transaction's SET applies on every member
# (redis-cli, and redis-py's WATCH/MULTI pipeline).
#   tests/e2e/test_server_keys.sh BUILD      (KEEP=1 keeps the logs)
set -euo pipefail
build=${1:-build}
source "$(dirname "$0")/lib_server.sh"
trap cleanup EXIT
E2E_SERVE_OPTS="${E2E_SERVE_OPTS:-} --scan-max-count 50 --keys-walk-min 100"

pick_ports
for i in 1 2 3; do start_node "$i"; done
L=$(wait_leader)
F=$(( L % 3 + 1 ))

# ---- a deadline through a follower, seen and removed everywhere ----
t0=$SECONDS
expect "set px through n$F" "$(cli $F SET short v PX 3000)" OK
expect "set ex" "$(cli $F SET long v EX 100)" OK
for i in 1 2 3; do
  t=$(cli $i PTTL short)
  [ "$t" -gt 0 ] && [ "$t" -le 3000 ] || fail "PTTL short on n$i: $t"
done
t=$(cli $F TTL long); [ "$t" -ge 98 ] && [ "$t" -le 100 ] || fail "TTL long: $t"
expect "ttl none" "$(cli $F TTL nokey)" -2
cli $F SET plain v >/dev/null
expect "ttl no deadline" "$(cli $F TTL plain)" -1
t=$(( $(cli $F EXPIRETIME long) - $(date +%s) )); [ "$t" -ge 97 ] && [ "$t" -le 100 ] || fail "EXPIRETIME - now: $t"
while [ $SECONDS -le $((t0 + 4)) ]; do sleep 0.2; done
expect "expired through a follower" "$(cli $F EXISTS short)" 0
# the removal is an entry of the log: every member's own map loses the key
for i in 1 2 3; do
  ok=
  for _ in $(seq 1 50); do
    line=$(cli $i INFO keyspace | tr -d '\r' | grep '^db0:' || true)
    if [ "$line" = "db0:keys=2,expires=1,avg_ttl=0" ]; then ok=1; break; fi
    sleep 0.1
  done
  [ -n "$ok" ] || fail "n$i keyspace after expiry: '$line' (want keys=2,expires=1)"
done
echo "ok  a deadline set through a follower expires on every member; the leader's active expiry removed it everywhere"

# ---- inside MULTI/EXEC ----
out=$(printf 'MULTI\r\nSET m 1\r\nEXPIRE m 50\r\nRENAME m m2\r\nTTL m2\r\nTYPE m2\r\nKEYS m*\r\nEXEC\r\n' |
      redis-cli -p "${CPORT[$F]}" | tr '\n' ' ')
expect "multi with keyspace commands" "$out" "OK QUEUED QUEUED QUEUED QUEUED QUEUED QUEUED OK 1 OK 50 string m2 "
cli $F DEL m2 long plain >/dev/null
echo "ok  EXPIRE, RENAME, TTL, TYPE, KEYS inside MULTI/EXEC"

# ---- a deadline across a leader's kill -9 ----
t0=$SECONDS
cli $L SET across v PX 4000 >/dev/null
kill_node "$L" 9
L2=$(NOT_LEADER=$L wait_leader $(for i in 1 2 3; do [ $i -ne $L ] && echo $i; done))
t=$(cli $L2 PTTL across)
[ "$t" -gt 0 ] || fail "PTTL across on the new leader n$L2: $t (the deadline should not have passed yet)"
while [ $SECONDS -le $((t0 + 5)) ]; do sleep 0.2; done
expect "expired after the leader change" "$(cli $L2 EXISTS across)" 0
for _ in $(seq 1 50); do [ "$(cli $L2 DBSIZE)" = 0 ] && break; sleep 0.1; done
expect "removed by the new leader" "$(cli $L2 DBSIZE)" 0
start_node "$L"
echo "ok  a deadline survives a leader's kill -9; the new leader removes the key"

# ---- SCAN across a leader change ----
L=$(wait_leader)
/usr/bin/python3 - "${CPORT[1]}" "${CPORT[2]}" "${CPORT[3]}" <<'PY' >"$WORK/keys.txt"
import sys, redis
r = redis.Redis(port=int(sys.argv[1]))
p = r.pipeline(transaction=False)
for i in range(1000):
    p.set("stable:%d" % i, "v")
for i in range(500):
    p.set("churn:%d" % i, "v")
p.execute()
print("written")
PY
cursor=0; seen="$WORK/seen.txt"; : >"$seen"; steps=0; killed=
while :; do
  n=$(( steps % 3 + 1 ))
  [ -n "$killed" ] && [ "$n" = "$killed" ] && n=$(( n % 3 + 1 ))
  out=$(redis-cli -p "${CPORT[$n]}" SCAN "$cursor" COUNT 37)
  cursor=${out%%$'\n'*} # no pipe into head: under pipefail echo could die of SIGPIPE
  [[ "$cursor" =~ ^[0-9]+$ ]] || fail "SCAN through n$n: $out"
  sed 1d <<<"$out" >>"$seen"
  steps=$((steps + 1))
  # keys come and go meanwhile (the churn keys only)
  cli $n DEL "churn:$((steps * 7 % 500))" >/dev/null
  cli $n SET "new:$steps" v >/dev/null
  if [ $steps = 10 ]; then
    kill_node "$L" 9; killed=$L
    NOT_LEADER=$L wait_leader $(for i in 1 2 3; do [ $i -ne $L ] && echo $i; done) >/dev/null
  fi
  [ "$cursor" = 0 ] && break
  [ $steps -lt 2000 ] || fail "SCAN did not end in 2000 steps"
done
missing=$(for i in $(seq 0 999); do echo "stable:$i"; done | sort | comm -23 - <(grep '^stable:' "$seen" | sort -u) | wc -l)
expect "stable keys missing from a SCAN across a leader change ($steps steps)" "$missing" 0
start_node "$L"
echo "ok  SCAN whose cursor moved between members and across a leader's kill -9 returned all 1000 keys present throughout ($steps calls)"

# ---- redis-cli --scan and --bigkeys ----
L=$(wait_leader)
out=$(redis-cli -p "${CPORT[$F]}" --scan --pattern 'stable:*' 2>&1) || fail "redis-cli --scan: $out"
expect "redis-cli --scan --pattern" "$(echo "$out" | sort -u | grep -c '^stable:')" 1000
redis-cli -p "${CPORT[$F]}" SET big "$(head -c 5000 /dev/zero | tr '\0' x)" >/dev/null
out=$(redis-cli -p "${CPORT[$F]}" --bigkeys 2>&1) || fail "redis-cli --bigkeys: $out"
grep -Eq "Sampled [0-9]{4} keys in the keyspace" <<<"$out" || fail "redis-cli --bigkeys: $out"
# --bigkeys sizes strings with STRLEN: checked once the server has it
if [ "$(cli $F COMMAND INFO strlen | sed -n 1p)" = strlen ]; then
  grep -q "Biggest string found '\"\?big\"\?' has 5000 bytes" <<<"$out" || fail "redis-cli --bigkeys: $out"
fi
echo "ok  redis-cli --scan and --bigkeys"

# ---- SCAN's COUNT is a hint: past --scan-max-count (50) it counts as 50 ----
out=$(cli $L SCAN 0 COUNT 100000000)
cursor=${out%%$'\n'*}
got=$(( $(wc -l <<<"$out") - 1 ))
[ "$cursor" != 0 ] && [ $got -ge 40 ] && [ $got -le 80 ] ||
  fail "SCAN 0 COUNT 100000000 with --scan-max-count 50: cursor $cursor, $got keys (want 50 and a bucket's run at most)"
out=$(printf 'MULTI\r\nSCAN 0 COUNT 100000000\r\nEXEC\r\n' | redis-cli -p "${CPORT[$L]}")
got=$(( $(wc -l <<<"$out") - 3 )) # OK, QUEUED, the cursor
[ $got -ge 40 ] && [ $got -le 80 ] || fail "SCAN COUNT 100000000 inside MULTI: $got keys"
cursor=0; : >"$seen"; steps=0
while :; do
  out=$(cli $L SCAN "$cursor" COUNT 100000000)
  cursor=${out%%$'\n'*}
  sed 1d <<<"$out" >>"$seen"
  steps=$((steps + 1))
  [ "$cursor" = 0 ] && break
  [ $steps -lt 1000 ] || fail "SCAN COUNT 100000000 did not end in 1000 steps"
done
expect "stable keys from a full SCAN with COUNT 100000000" "$(grep -c '^stable:' <(sort -u "$seen"))" 1000
[ $steps -ge 15 ] || fail "a full SCAN with COUNT 100000000 took $steps calls: COUNT was not cut to 50"
echo "ok  SCAN COUNT 100000000 walks 50 entries a call (--scan-max-count), inside MULTI too; a full iteration returns every key ($steps calls)"
# ---- KEYS inside MULTI on a map of --keys-walk-min (100) keys or more ----
L=$(wait_leader)
F=$(( L % 3 + 1 ))
n=$(cli $L DBSIZE); [ "$n" -ge 1500 ] || fail "DBSIZE $n: want the 1500 keys written above"
refused="ERR KEYS inside MULTI on a key space of 100 keys or more (--keys-walk-min) would hold every member's event loop; run KEYS outside MULTI or use SCAN"
# (redis-cli ends an error inside an array with an empty line: dropped)
out=$(printf 'MULTI\r\nKEYS *\r\nSET mk v1\r\nKEYS nomatch*\r\nEXEC\r\n' | redis-cli -p "${CPORT[$F]}" | sed '/^$/d')
expect "KEYS inside MULTI on $n keys, through n$F" "$out" "OK
QUEUED
QUEUED
QUEUED
$refused
OK
$refused"
for i in 1 2 3; do expect "the transaction's SET on n$i" "$(cli $i GET mk)" v1; done
# outside MULTI the same map is answered (from the walk)
expect "KEYS outside MULTI" "$(cli $F KEYS 'stable:*' | wc -l)" 1000
/usr/bin/python3 - "${CPORT[$L]}" "$refused" <<'PY' || fail "redis-py WATCH/MULTI pipeline with KEYS"
import sys, redis
r = redis.Redis(port=int(sys.argv[1]))
refused = sys.argv[2]
with r.pipeline(transaction=True) as p:
    p.watch("mk")
    p.multi()
    p.keys("*")
    p.set("mk", "v2")
    got = p.execute(raise_on_error=False)
assert isinstance(got[0], redis.ResponseError) and str(got[0]) == refused[4:], got
assert got[1] is True, got
assert r.get("mk") == b"v2"
# raise_on_error (the default): the error is raised, the SET applied
with r.pipeline(transaction=True) as p:
    p.keys("*")
    p.set("mk", "v3")
    try:
        p.execute()
        raise SystemExit("no error raised")
    except redis.ResponseError as e:
        assert refused[4:] in str(e), str(e)
assert r.get("mk") == b"v3"
PY
for i in 1 2 3; do expect "the pipeline's SET on n$i" "$(cli $i GET mk)" v3; done
echo "ok  KEYS inside MULTI on $n keys (--keys-walk-min 100) answers the error in its slot; the transaction's SET applies on every member (redis-cli, redis-py WATCH/MULTI)"
echo "PASS test_server_keys"
