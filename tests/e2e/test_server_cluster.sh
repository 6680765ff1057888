#!/usr/bin/env bash
# test_server_cluster.sh - `raftkv serve` as a 3-node TCP cluster driven with
# redis-cli: every command against the leader and the followers, bad input,
# peers that are not configured, kill -9 of a follower and of the leader with
# restarts from their data directories, and graceful SIGTERM.
#   tests/e2e/test_server_cluster.sh BUILD      (KEEP=1 keeps the logs)
set -euo pipefail
build=${1:-build}
source "$(dirname "$0")/lib_server.sh"

pick_ports
# n3 reads its options from a config file holding the same keys.
cat >"$WORK/n3.conf" <<CONF
# raftkv serve --config: one "key = value" a line
id = n3
peers = $PEERS
listen = 127.0.0.1:${CPORT[3]}
data-dir = $WORK/n3
election-timeout-ms = 300
heartbeat-ms = 50
certs-dir = $WORK/certs
max-clients = 8
max-pending-per-client = 4
max-output-bytes = 1048576
snapshot-entries = 100
snapshot-stagger = no
CONF
start_node_from_config() {
  "$RAFTKV" serve --config "$WORK/n3.conf" >>"$WORK/n3.log" 2>&1 &
  PID[3]=$!
}
start_node 1 --snapshot-entries 100 --snapshot-stagger no; start_node 2 --snapshot-entries 100 --snapshot-stagger no; start_node_from_config
L=$(wait_leader)
F1=$(( L % 3 + 1 )); F2=$(( F1 % 3 + 1 ))
echo "cluster up: leader n$L, followers n$F1 n$F2, work dir $WORK"

# --- Commands, on the leader and through followers (proxied) -------------------
expect "PING" "$(cli $F1 PING)" PONG
expect "SET on a follower" "$(cli $F1 SET greeting hello)" OK
expect "GET on the other follower" "$(cli $F2 GET greeting)" hello
expect "GET on the leader" "$(cli $L GET greeting)" hello
expect "GET of a missing key is nil" "$(cli $F1 GET nosuchkey)" ""
expect "CAS that matches swaps (1)" "$(cli $F2 CAS greeting hello world)" 1
expect "CAS that does not match (0)" "$(cli $L CAS greeting hello again)" 0
expect "CAS of a missing key is nil" "$(cli $F1 CAS nosuchkey a b)" ""
expect "value after CAS" "$(cli $F1 GET greeting)" world
expect "binary-safe spaces and newlines" "$(cli $L SET 'a key' $'two\nlines')" OK
expect "read back" "$(cli $F2 GET 'a key')" $'two\nlines'
expect "binary value through a follower" "$(raw_lines ${CPORT[$F1]} '*3\r\n$3\r\nSET\r\n$3\r\nbin\r\n$4\r\n\xff\x00\r\x01\r\n' 1)" "+OK"
expect "binary value read back exactly" \
  "$(redis-cli -p ${CPORT[$F2]} GET bin | od -An -tx1 | tr -d ' \n')" "ff000d010a"
expect "CAS compares binary values" "$(raw_lines ${CPORT[$L]} '*4\r\n$3\r\nCAS\r\n$3\r\nbin\r\n$4\r\n\xff\x00\r\x01\r\n$1\r\nz\r\n' 1)" ":1"
expect "EXISTS counts existing keys" "$(cli $F1 EXISTS greeting nosuchkey 'a key')" 2
expect "MGET in order" "$(cli $F2 MGET greeting nosuchkey 'a key' | head -c 100)" $'world\n\ntwo\nlines'
expect "DEL counts deleted keys" "$(cli $F1 DEL greeting nosuchkey)" 1
expect "deleted key is gone" "$(cli $L EXISTS greeting)" 0
expect "LEADER names the leader" "$(cli $F2 LEADER)" "n$L"
expect "nil in RESP2" "$(raw_lines ${CPORT[$F1]} 'GET nosuchkey\r\n' 1)" '$-1'
expect "HELLO 3 switches to RESP3 nulls" \
  "$(raw_lines ${CPORT[$F1]} 'HELLO 3\r\nGET nosuchkey\r\n' 27 | awk -F'|' '{print $1 "|" $NF}')" '%7|_'
expect "redis-cli -3 works" "$(redis-cli -3 -p ${CPORT[$F2]} SET r3 x)" OK
expect "INFO raft_role on the leader" "$(info_field $L raft_role)" leader
expect "INFO raft_role on a follower" "$(info_field $F1 raft_role)" follower
expect "INFO role (Redis's) on a follower" "$(info_field $F1 role)" slave
expect "INFO names the leader" "$(info_field $F2 leader)" "n$L"
cli $L INFO | grep -q '^metrics:commands=' || fail "INFO has no metrics line"
cli $L INFO | grep -q '^fsync_p99_us_le:' || fail "INFO has no fsync latency"
[ "$(info_field $F1 command_latency_p99_us_le)" -gt 0 ] || fail "INFO has no command latency on n$F1"
echo "ok  INFO carries metrics, fsync and command latency, and peers' progress"
cli $L INFO | grep -q "^peer_n$F1:.*match=" || fail "INFO on the leader has no progress for n$F1"

# --- Bad input gets an error and harms nothing else ---------------------------------
expect "unknown command" "$(cli $F1 FROBNICATE x)" "ERR unknown command 'FROBNICATE', with args beginning with: 'x' "
expect "wrong arity" "$(cli $L GET)" "ERR wrong number of arguments for 'get' command"
expect "malformed RESP" "$(raw ${CPORT[$L]} '*1\r\n$x\r\n')" "-ERR Protocol error: invalid bulk length"
expect "oversized bulk refused from its header" "$(raw ${CPORT[$F1]} '*2\r\n$3\r\nGET\r\n$999999999\r\n')" \
  "-ERR Protocol error: bulk string too long"
expect "too many arguments" "$(raw ${CPORT[$F1]} '*100000\r\n')" "-ERR Protocol error: too many arguments"
expect "inline command (telnet)" "$(raw ${CPORT[$L]} 'PING\r\n')" "+PONG"
expect "garbage on a peer port is refused" "$(raw ${PPORT[$L]} 'GET x\r\n')" ""
grep -q 'event=peer_refused' "$WORK/n$L.log" || fail "peer port garbage not logged as refused"
# A process that is not a configured peer: n9 with its own peer list (and a
# certificate of the cluster's CA that names it: the name is the problem).
make_certs n9
"$RAFTKV" serve --id n9 --peers "n9=127.0.0.1:$(free_port),n$L=127.0.0.1:${PPORT[$L]}" --listen "127.0.0.1:$(free_port)" \
  --in-memory --certs-dir "$WORK/certs" >/dev/null 2>&1 & stranger=$!
sleep 0.5; kill -9 $stranger 2>/dev/null || true; wait $stranger 2>/dev/null || true
grep -q 'claimed=n9 reason="sender is not a configured peer"' "$WORK/n$L.log" || fail "stranger n9 not refused"
echo "ok  a process that is not a configured peer is refused"
expect "still serving after bad input" "$(cli $L SET after bad)" OK

# --- Pipelining past --max-pending-per-client (n3: 4): paused, resumed, in order --------
for k in 1 2 3 4 5 6 7 8 9; do cli $L SET "p$k" "$k" >/dev/null; done
req=
for i in $(seq 1 3000); do req+="*2\r\n\$3\r\nGET\r\n\$2\r\np$(( i % 9 + 1 ))\r\n"; done
exec 3<>"/dev/tcp/127.0.0.1/${CPORT[3]}"
printf '%b' "$req" >&3
got=
for i in $(seq 1 3000); do
  IFS= read -r -t 10 hdr <&3 || fail "pipelined reply $i never came (connection not resumed?)"
  IFS= read -r -t 10 val <&3 || fail "pipelined reply $i cut short"
  [ "${val%$'\r'}" = "$(( i % 9 + 1 ))" ] || fail "pipelined reply $i out of order: ${val%$'\r'}"
done
exec 3<&- 3>&-
echo "ok  3000 pipelined GETs (100 KB, more than one read) through a 4-command window arrive complete and in order"

# --- A client that never reads its replies is cut off at --max-output-bytes (n3: 1 MiB)
big=$(head -c 100000 /dev/zero | tr '\0' 'b')
cli $L SET big "$big" >/dev/null
req=
for i in $(seq 1 300); do req+='*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n'; done
# A leader change meanwhile (a loaded machine, 300 ms election timeout) turns
# the GETs into small -TRYAGAIN replies that reach no limit: only then, try
# again (at most 3 times).
for attempt in 1 2 3; do
  term=$(info_field 3 term)
  exec 3<>"/dev/tcp/127.0.0.1/${CPORT[3]}"
  printf '%b' "$req" >&3
  for _ in $(seq 1 300); do grep -q 'event=client_output_limit' "$WORK/n3.log" && break; sleep 0.1; done
  exec 3<&- 3>&-
  grep -q 'event=client_output_limit' "$WORK/n3.log" && break
  now=$(info_field 3 term)
  [ "$now" != "$term" ] || break
  echo "    not cut off: the term moved from $term to $now meanwhile; again"
done
grep -q 'event=client_output_limit' "$WORK/n3.log" || fail "a client reading nothing was not cut off"
echo "ok  a client that reads no replies is closed past --max-output-bytes (30 MB of replies asked)"
expect "others still served" "$(cli 3 PING)" PONG

# --- Connection limit (n3: max-clients = 8 in its config file) --------------------------
exec 5<>"/dev/tcp/127.0.0.1/${CPORT[3]}" 6<>"/dev/tcp/127.0.0.1/${CPORT[3]}" 7<>"/dev/tcp/127.0.0.1/${CPORT[3]}"
exec 8<>"/dev/tcp/127.0.0.1/${CPORT[3]}" 9<>"/dev/tcp/127.0.0.1/${CPORT[3]}" 10<>"/dev/tcp/127.0.0.1/${CPORT[3]}"
exec 11<>"/dev/tcp/127.0.0.1/${CPORT[3]}" 12<>"/dev/tcp/127.0.0.1/${CPORT[3]}"
sleep 0.2
expect "a client past --max-clients is refused" "$(raw ${CPORT[3]} 'PING\r\n')" "-ERR max number of clients reached"
exec 5>&- 6>&- 7>&- 8>&- 9>&- 10>&- 11>&- 12>&-
sleep 0.2
expect "served again once clients leave" "$(raw ${CPORT[3]} 'PING\r\n')" "+PONG"

# --- kill -9 a follower, write while it is down, restart it from its data ---------
kill_node $F2 9
for k in 1 2 3 4 5 6 7 8 9 10; do cli $L SET "k$k" "v$k" >/dev/null; done
expect "writes go on with one follower down" "$(cli $F1 GET k10)" v10
# Past --snapshot-entries (100): the leader compacts its log, so the
# restarted follower can only catch up from a snapshot sent over TCP.
# (--snapshot-stagger no throughout: a member snapshots as soon as it is
# due, not at its turn, which the writes here may never reach.)
seq 1 300 | awk '{print "SET s" $1 " " $1}' | redis-cli -p ${CPORT[$L]} >/dev/null
[ "$(info_field $L snapshots)" -ge 1 ] || fail "the leader took no snapshot"
[ $F2 = 3 ] && start_node_from_config || start_node $F2 --snapshot-entries 100 --snapshot-stagger no
target=$(info_field $L commit_index)
wait_applied $F2 "$target"
expect "restarted follower has the data it missed" "$(cli $F2 GET k7)" v7
expect "restarted follower kept its own data" "$(cli $F2 GET 'a key')" $'two\nlines'
expect "restarted follower caught up through a snapshot" "$(cli $F2 GET s150)" 150
[ "$(info_field $F2 snapshots)" -ge 1 ] || fail "n$F2 caught up without installing a snapshot"

# --- kill -9 the leader: a new one is elected, nothing acknowledged is lost --------
kill_node $L 9
L2=$(NOT_LEADER=$L wait_leader $F1 $F2)
[ "$L2" != "$L" ] || fail "killed leader still named"
echo "ok  new leader n$L2 after kill -9 of n$L"
expect "acknowledged writes survive the leader" "$(cli $L2 GET k3)" v3
expect "writes accepted by the new leader" "$(cli $F1 SET afterkill yes)" OK
[ $L = 3 ] && start_node_from_config || start_node $L --snapshot-entries 100 --snapshot-stagger no
wait_applied $L "$(info_field $L2 commit_index)"
expect "old leader rejoined and caught up" "$(cli $L GET afterkill)" yes

# --- Graceful SIGTERM: exit 0, data synced, node comes back with it --------------
F=$(( L2 % 3 + 1 ))
kill_node $F TERM
expect "SIGTERM exits 0" "$LAST_EXIT" 0
grep -q 'event=shutdown reason="SIGTERM' "$WORK/n$F.log" || fail "no graceful shutdown line"
[ $F = 3 ] && start_node_from_config || start_node $F --snapshot-entries 100 --snapshot-stagger no
wait_applied $F "$(info_field $L2 commit_index)"
expect "node restarted after SIGTERM has the data" "$(cli $F GET afterkill)" yes

# --- kill -9 of the whole cluster right after acknowledged writes: none is lost ---
acked=$(seq 1 200 | awk '{print "SET d" $1 " " $1}' | redis-cli -p ${CPORT[$L2]} | grep -c '^OK$' || true)
expect "200 writes acknowledged before the crash" "$acked" 200
for i in 1 2 3; do kill -9 "${PID[$i]}" 2>/dev/null || true; done
for i in 1 2 3; do wait "${PID[$i]}" 2>/dev/null || true; done
start_node 1 --snapshot-entries 100 --snapshot-stagger no; start_node 2 --snapshot-entries 100 --snapshot-stagger no; start_node_from_config
L3=$(wait_leader)
missing=0
for k in $(seq 1 200); do [ "$(cli $L3 GET d$k)" = "$k" ] || missing=$((missing + 1)); done
expect "no acknowledged write lost to kill -9 of all nodes (count missing)" "$missing" 0

# --- Every node stops gracefully ----------------------------------------------------
for i in 1 2 3; do kill_node $i TERM; expect "n$i stops with 0 on SIGTERM" "$LAST_EXIT" 0; done
PID=()
echo "test_server_cluster: all checks passed"
