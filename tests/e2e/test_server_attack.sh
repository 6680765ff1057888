#!/usr/bin/env bash
# test_server_attack.sh - a process that is not a member attacks a running
# 3-member cluster with default security (peer TLS) after 200 keys were
# written: (a) raw plaintext frames (HELLO, a forged SNAPSHOT holding an
# empty map, an APPEND with term 2^64-1), (b) TLS with another CA's
# certificate naming a member, (c) n2's real certificate with a HELLO
# claiming n3, (d) bytes recorded from a real peer connection (n3 is reached
# through a recording proxy) replayed to n3's peer port, (e) 16 MiB of junk
# before authentication, raw and after a TLS handshake, (f) 1,000 half-open
# connections. After each: the same leader (or one normal election), every
# key as it was, every member's memory bounded, and a log line saying what
# was refused. Then (a) against a cluster with --peer-insecure-plaintext,
# to show the frames do damage when nothing stops them.
#   tests/e2e/test_server_attack.sh BUILD      (KEEP=1 keeps the logs)
set -euo pipefail
build=${1:-build}
source "$(dirname "$0")/lib_server.sh"
ATTACK=(/usr/bin/python3 "$(cd "$(dirname "$0")" && pwd)/attack.py")
RSS_LIMIT_KB=$((100 * 1024)) # every member, at any time
RSS_SLACK_KB=$((16 * 1024))  # above its start value, once an attack is over
TIMING=(--election-timeout-ms 1000 --heartbeat-ms 100)

PROXY_PID=
trap '[ -n "$PROXY_PID" ] && kill "$PROXY_PID" 2>/dev/null; cleanup' EXIT

pick_ports
# n3 binds REAL3; the others reach it through a proxy on its --peers
# address that records what they send (attack d replays it).
REAL3=$(free_port)
mkdir -p "$WORK/rec"
"${ATTACK[@]}" proxy "${PPORT[3]}" "$REAL3" "$WORK/rec" 2>"$WORK/proxy.log" &
PROXY_PID=$!
start_node 1 "${TIMING[@]}"; start_node 2 "${TIMING[@]}"; start_node 3 "${TIMING[@]}" --peer-listen "127.0.0.1:$REAL3"
L=$(wait_leader)
echo "cluster up: leader n$L, peer TLS on, work dir $WORK"
expect "INFO shows peer security" "$(info_field "$L" peer_security)" tls

for i in $(seq 1 200); do echo "SET key:$i value-$i"; done | redis-cli -p "${CPORT[$L]}" >/dev/null
keys=$(seq -f 'key:%g' 1 200 | tr '\n' ' ')
want=$(seq -f 'value-%g' 1 200)
got=$(redis-cli -p "${CPORT[$L]}" MGET $keys)
[ "$got" = "$want" ] || fail "the 200 keys were not all written"
echo "ok  200 keys written"
[ "$(ls "$WORK/rec" | wc -l)" -ge 1 ] || fail "the proxy recorded no peer connection to n3"

rss() { awk '/^VmRSS:/ {print $2}' "/proc/${PID[$1]}/status" 2>/dev/null || echo 0; }
declare -a RSS0
for i in 1 2 3; do RSS0[$i]=$(rss "$i"); done
echo "    start VmRSS: n1 ${RSS0[1]} kB, n2 ${RSS0[2]} kB, n3 ${RSS0[3]} kB"
TERM0=$(info_field "$L" term)

mark() { for i in 1 2 3; do MARK[$i]=$(wc -l <"$WORK/n$i.log"); done; }
declare -a MARK
logged_since() { # logged_since I PATTERN: a line matching PATTERN in nI's log since mark
  tail -n +"$((MARK[$1] + 1))" "$WORK/n$1.log" | grep -E "$2" | head -1 || true
}

# After an attack: a leader (the same, or one normal election), every key,
# sane terms and indexes on every member, memory bounded and back near its
# start, and the refusal in the log of the member attacked.
after() { # after LABEL NODE PATTERN
  local label=$1 node=$2 pattern=$3 l i line term applied
  l=$(wait_leader) || fail "$label: ${l#FAIL: }" # (its own fail runs in the subshell)
  if [ "$l" != "$L" ]; then
    term=$(info_field "$l" term)
    [ "$term" -le $((TERM0 + 3)) ] || fail "$label: leader n$L -> n$l with term $TERM0 -> $term (not one normal election)"
    echo "    ($label: a normal election, n$L -> n$l, term $TERM0 -> $term)"
    L=$l; TERM0=$term
  fi
  got=$(redis-cli -p "${CPORT[$L]}" MGET $keys)
  [ "$got" = "$want" ] || fail "$label: the keys changed"
  for i in 1 2 3; do
    term=$(info_field "$i" term); applied=$(info_field "$i" applied_index)
    [ "$term" -le $((TERM0 + 3)) ] || fail "$label: n$i has term $term (was $TERM0)"
    [ "$applied" -lt 1000000 ] || fail "$label: n$i applied index $applied: the forged snapshot was taken"
  done
  local deadline=$((SECONDS + 15)) r ok
  while :; do
    ok=1
    for i in 1 2 3; do
      r=$(rss "$i")
      [ "$r" -lt $RSS_LIMIT_KB ] || fail "$label: n$i VmRSS $r kB over $RSS_LIMIT_KB kB"
      [ "$r" -le $((RSS0[i] + RSS_SLACK_KB)) ] || ok=0
    done
    [ $ok = 1 ] && break
    [ $SECONDS -lt $deadline ] || fail "$label: VmRSS did not come back near its start (n1 $(rss 1) n2 $(rss 2) n3 $(rss 3) kB)"
    sleep 0.5
  done
  for _ in $(seq 1 30); do line=$(logged_since "$node" "$pattern"); [ -n "$line" ] && break; sleep 0.1; done
  [ -n "$line" ] || fail "$label: n$node logged no line matching '$pattern'"
  echo "    n$node: ${line#*event=}"
  echo "ok  $label: leader n$L, 200 keys as written, VmRSS $(rss 1)/$(rss 2)/$(rss 3) kB, refusal logged"
}

# (a) Raw plaintext frames: HELLO as n2 (the fingerprint computed from the
# peer list, as anyone can), a forged snapshot, an APPEND with term 2^64-1.
F=$(( L % 3 + 1 ))
mark
"${ATTACK[@]}" frames "${PPORT[$L]}" --peers "$PEERS" --claim "n$F" --to "n$L" --term 18446744073709551615 \
  --leader-term "$TERM0" | sed 's/^/    /'
after "(a) plaintext frames" "$L" 'event=peer_refused .*reason="TLS handshake failed"'

# (b) TLS with a certificate of another CA that names a real member.
"$RAFTKV" certs --dir "$WORK/evil" --members n1,n2,n3 >/dev/null
mark
"${ATTACK[@]}" frames "${PPORT[$L]}" --peers "$PEERS" --claim "n$F" --to "n$L" --tls "$WORK/evil/n$F.crt" \
  "$WORK/evil/n$F.key" --leader-term "$TERM0" | sed 's/^/    /'
after "(b) another CA's certificate" "$L" 'event=peer_refused .*reason="TLS handshake failed" detail=".*certificate'

# (c) n2's real certificate, HELLO claiming n3 (the member that is not n2).
O=$(( F % 3 + 1 )); [ "$O" != "$F" ] || O=$(( O % 3 + 1 ))
mark
"${ATTACK[@]}" frames "${PPORT[$L]}" --peers "$PEERS" --claim "n$O" --to "n$L" --tls "$WORK/certs/n$F.crt" \
  "$WORK/certs/n$F.key" --leader-term "$TERM0" | sed 's/^/    /'
after "(c) n$F's certificate claiming n$O" "$L" "event=peer_refused .*claimed=n$O reason=\"certificate_name_mismatch\" detail=\"certificate CN=n$F\""

# (d) A real connection's bytes (a TLS handshake, HELLO and Raft frames to
# n3, recorded by the proxy) replayed to n3's own peer port.
rec=$(ls -S "$WORK/rec"/conn-*.bin | head -1)
mark
"${ATTACK[@]}" replay "$REAL3" "$rec" | sed 's/^/    /'
after "(d) replay of $(stat -c %s "$rec") recorded bytes" 3 'event=peer_refused .*reason="TLS handshake failed"'

# (e) 16 MiB of junk before authentication: raw, then after a TLS handshake
# with a member's certificate, as a HELLO frame announcing 16 MiB.
mark
"${ATTACK[@]}" junk "${PPORT[$L]}" $((16 << 20)) | sed 's/^/    /'
"${ATTACK[@]}" junk "${PPORT[$L]}" $((16 << 20)) --tls "$WORK/certs/n$F.crt" "$WORK/certs/n$F.key" | sed 's/^/    /'
after "(e) 16 MiB of junk before authentication" "$L" 'event=peer_refused .*reason="preauth_limit"'

# (f) 1,000 half-open connections (nothing, or half a ClientHello): closed
# after the handshake timeout (5 s), and the cluster serves meanwhile.
mark
"${ATTACK[@]}" halfopen "${PPORT[$L]}" 1000 9 >"$WORK/halfopen.out" &
hp=$!
sleep 2
expect "(f) writes go on while 1,000 connections hang" "$(cli "$L" SET during-halfopen 1)" OK
r=$(rss "$L"); [ "$r" -lt $RSS_LIMIT_KB ] || fail "(f) n$L VmRSS $r kB with 1,000 half-open connections"
echo "    n$L VmRSS with 1,000 half-open connections: $r kB"
wait $hp
sed 's/^/    /' "$WORK/halfopen.out"
grep -q "1000 of 1000 closed by the server" "$WORK/halfopen.out" || fail "(f) not every half-open connection was closed"
cli "$L" DEL during-halfopen >/dev/null
after "(f) 1,000 half-open connections" "$L" 'event=peer_refused .*reason="handshake_timeout"'
for _ in $(seq 1 30); do [ -n "$(logged_since "$L" 'event=log_suppressed of=peer_refused')" ] && break; sleep 0.1; done
[ -n "$(logged_since "$L" 'event=log_suppressed of=peer_refused')" ] || fail "(f) the refusals past 10 a second were not counted"
echo "ok  (f) refusal lines rate-limited: $(logged_since "$L" 'event=log_suppressed of=peer_refused' | sed 's/.*event=//')"

# --- The same frames (a) against a cluster with --peer-insecure-plaintext ---
for i in 1 2 3; do kill_node "$i" KILL; mv "$WORK/n$i.log" "$WORK/tls-n$i.log"; rm -rf "$WORK/n$i"; done
PEER_OPTS=--peer-insecure-plaintext
start_node 1 "${TIMING[@]}"; start_node 2 "${TIMING[@]}"; start_node 3 "${TIMING[@]}" --peer-listen "127.0.0.1:$REAL3"
L=$(wait_leader)
grep -q 'level=warn .*event=peer_insecure_plaintext' "$WORK/n1.log" || fail "no warning at start with --peer-insecure-plaintext"
expect "INFO shows insecure peers" "$(info_field "$L" peer_security)" insecure-plaintext
for i in $(seq 1 200); do echo "SET key:$i value-$i"; done | redis-cli -p "${CPORT[$L]}" >/dev/null
TERM0=$(info_field "$L" term)
F=$(( L % 3 + 1 ))
# As (a), to a follower, claiming to be the leader: the forged snapshot,
# then an APPEND raising the term by 100.
"${ATTACK[@]}" frames "${PPORT[$F]}" --peers "$PEERS" --claim "n$L" --to "n$F" --term $((TERM0 + 100)) \
  --leader-term "$TERM0" | sed 's/^/    /'
sleep 1
applied=$(info_field "$F" applied_index); term=$(info_field "$F" term)
echo "    without TLS, n$F after the frames: applied_index $applied, term $term (was $TERM0)"
[ "$applied" -ge 1000000 ] || [ "$term" -ge $((TERM0 + 100)) ] ||
  fail "the frames changed nothing on an insecure cluster: the attacks above prove nothing"
echo "ok  without TLS the same frames take effect (forged snapshot or term), so the attacks above would be seen"

echo "test_server_attack: all checks passed"
