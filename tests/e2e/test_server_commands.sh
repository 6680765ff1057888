#!/usr/bin/env bash
# test_server_commands.sh - the server commands of `raftkv serve` as Redis
# 7.0 answers them, side by side with Debian's redis-server 7.0.15: TIME,
# ROLE and INFO replication on the leader and a follower (role.h's mapping),
# INFO's section selection, CLIENT LIST/INFO/SETNAME/GETNAME/ID/NO-EVICT
# with their error texts, HELLO SETNAME, RESP3's verbatim strings, redis-py's
# view, and redis-cli's --stat and INFO server.
#   tests/e2e/test_server_commands.sh BUILD      (KEEP=1 keeps the logs)
set -euo pipefail
build=${1:-build}
source "$(dirname "$0")/lib_server.sh"
PY=/usr/bin/python3 # Debian's, with python3-redis (scripts/deps.sh test)
SC="$PY $(cd "$(dirname "$0")" && pwd)/server_commands_client.py"
command -v redis-server >/dev/null || bash "$(dirname "$0")/../../scripts/deps.sh" test
REDIS_PID=
stop_all() {
  [ -n "$REDIS_PID" ] && { kill -9 "$REDIS_PID"; wait "$REDIS_PID"; } 2>/dev/null || true
  cleanup
}
trap stop_all EXIT

pick_ports
for i in 1 2 3; do start_node "$i"; done
RP=$(free_port)
mkdir -p "$WORK/redis"
redis-server --port "$RP" --bind 127.0.0.1 --dir "$WORK/redis" --save '' --appendonly no \
  >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
for _ in $(seq 1 50); do redis-cli -p "$RP" PING >/dev/null 2>&1 && break; sleep 0.1; done
L=$(wait_leader)
F=$(( L % 3 + 1 ))
F2=$(( F % 3 + 1 ))
echo "cluster up: leader n$L, followers n$F n$F2; redis-server $(redis-server --version | awk '{print $3}') on $RP"
rcli() { redis-cli -p "$RP" "$@" 2>&1 || true; }
section_heads() { tr -d '\r' | grep '^# ' | tr '\n' ' '; }

# --- The same commands, the same replies -------------------------------------------
cat >"$WORK/compare.txt" <<'SEQ'
= TIME|x
~ TIME
= ROLE|x
= CLIENT|GETNAME
= CLIENT|SETNAME|a b
= CLIENT|SETNAME|a\nb
= CLIENT|SETNAME|app1
= CLIENT|GETNAME
= CLIENT|SETNAME|
= CLIENT|GETNAME
= CLIENT|GETNAME|x
= CLIENT|SETNAME
= CLIENT|INFO|x
~ CLIENT|ID
= CLIENT|ID|x
= CLIENT|LIST|TYPE|bogus
= CLIENT|LIST|TYPE|pubsub
= CLIENT|LIST|TYPE|master
= CLIENT|LIST|ID|abc
= CLIENT|LIST|ID
= CLIENT|LIST|ID|999999
= CLIENT|LIST|ID|-5
= CLIENT|LIST|foo
= CLIENT|LIST|TYPE|normal|ID|1
= CLIENT|NO-EVICT|maybe
= CLIENT|NO-EVICT|on
= CLIENT|NO-EVICT|off
= CLIENT|NO-EVICT
= INFO|nosuch
= INFO|nosuch|other
~ INFO|server
= HELLO|3|SETNAME|a b
= CLIENT|GETNAME
~ HELLO|3|SETNAME|py3
= CLIENT|GETNAME
= INFO|nosuch
= CLIENT|LIST|ID|999999
= CLIENT|GETNAME|x
~ TIME
~ CLIENT|INFO
~ HELLO|2
= CLIENT|GETNAME
SEQ
$SC compare "${CPORT[$L]}" "$RP" <"$WORK/compare.txt" >"$WORK/compare.out" || fail "replies differ from redis-server's:
$(grep DIFF "$WORK/compare.out")"
echo "ok  $(grep -c '^same' "$WORK/compare.out") replies identical to redis-server's (byte for byte, or in shape where values differ)"

expect "CLIENT SETNAME with a space" "$(cli $L CLIENT SETNAME 'a b')" \
  "ERR Client names cannot contain spaces, newlines or special characters."
expect "CLIENT INFO's fields are Redis 7.0's, in its order" "$($SC fields "${CPORT[$L]}")" "$($SC fields "$RP")"
expect "CLIENT INFO's fields, literally" "$($SC fields "${CPORT[$F]}")" \
  "id addr laddr fd name age idle flags db sub psub ssub multi qbuf qbuf-free argv-mem multi-mem rbs rbp obl oll omem tot-mem events cmd user redir resp"
line=$(printf 'CLIENT|SETNAME|probe\nCLIENT|INFO\n' | $SC replies "${CPORT[$F]}" | tail -1)
case "$line" in
  *" laddr=127.0.0.1:${CPORT[$F]} fd="*" name=probe age=0 idle=0 flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 "*" cmd=client|info user=default redir=-1 resp=2\\n\\r\\n'") ;;
  *) fail "CLIENT INFO on n$F: $line" ;;
esac
echo "ok  CLIENT INFO: laddr, name, flags, cmd, user, resp as Redis writes them"
list=$(cli $F CLIENT LIST)
[ "$(echo "$list" | grep -c '^id=')" -ge 1 ] || fail "CLIENT LIST: $list"
echo "$list" | grep -q ' cmd=client|list user=default redir=-1 resp=2$' || fail "CLIENT LIST's own line: $list"
echo "ok  CLIENT LIST shows the asking connection"

# --- TIME -----------------------------------------------------------------------------
t=$(cli $F TIME | tr '\n' ' ')
now=$(date +%s)
read -r sec usec <<<"$t"
[ $((sec - now)) -le 2 ] && [ $((now - sec)) -le 2 ] || fail "TIME $t, local clock $now"
[ "$usec" -ge 0 ] && [ "$usec" -lt 1000000 ] || fail "TIME's microseconds: $usec"
echo "ok  TIME: [$sec, $usec] within 2 s of the local clock"

# --- ROLE and INFO replication: the leader a master, the others its replicas ----------
cli $L SET rk v >/dev/null
wait_applied "$F" "$(info_field $L last_index)"
wait_applied "$F2" "$(info_field $L last_index)"
last=$(info_field $L last_index)
for _ in $(seq 1 50); do # the leader's match indexes catch up with the followers' acks
  [ "$(cli $L ROLE | tail -n +3 | sed -n '3p;6p' | tr '\n' ' ')" = "$last $last " ] && break
  sleep 0.1
done
role_l=$(cli $L ROLE | tr '\n' ' ')
peers_f=$(printf '%s\n' "127.0.0.1 ${PPORT[$F]} $last" "127.0.0.1 ${PPORT[$F2]} $last" | sort | tr '\n' ' ')
got_peers=$(cli $L ROLE | tail -n +3 | paste -d' ' - - - | sort | tr '\n' ' ')
expect "ROLE on the leader: master and its offset" "$(cli $L ROLE | head -2 | tr '\n' ' ')" "master $last "
expect "ROLE on the leader: each follower's peer address and match index" "$got_peers" "$peers_f"
expect "ROLE on a follower" "$(cli $F ROLE | tr '\n' ' ')" "slave 127.0.0.1 ${PPORT[$L]} connected $last "
printf 'ROLE\n' | $SC replies "${CPORT[$F]}" | grep -q "^b'\*5\\\\r\\\\n\$5\\\\r\\\\nslave\\\\r\\\\n\$9\\\\r\\\\n127.0.0.1\\\\r\\\\n:${PPORT[$L]}\\\\r\\\\n\$9\\\\r\\\\nconnected\\\\r\\\\n:$last\\\\r\\\\n'$" ||
  fail "ROLE's RESP types on a follower: $(printf 'ROLE\n' | $SC replies "${CPORT[$F]}")"
expect "ROLE's shape on redis-server (a master without replicas)" "$(printf 'ROLE\n' | $SC replies "$RP")" \
  "b'*3\\r\\n\$6\\r\\nmaster\\r\\n:0\\r\\n*0\\r\\n'"
echo "ok  ROLE: $role_l"
repl() { cli "$1" INFO replication | tr -d '\r'; }
expect "INFO replication on the leader" "$(repl $L | grep -E '^(role|connected_slaves):' | tr '\n' ' ')" \
  "role:master connected_slaves:2 "
repl $L | grep -Eq "^slave[01]:ip=127.0.0.1,port=${PPORT[$F]},state=online,offset=$last,name=n$F,id=$((F - 1)),lag_entries=[0-9]+$" ||
  fail "INFO replication on the leader lacks n$F: $(repl $L)"
expect "INFO replication on a follower" \
  "$(repl $F | grep -E '^(role|master_host|master_port|master_link_status):' | tr '\n' ' ')" \
  "role:slave master_host:127.0.0.1 master_port:${PPORT[$L]} master_link_status:up "
expect "INFO replication's first lines on redis-server" "$(rcli INFO replication | tr -d '\r' | head -3 | tr '\n' ' ')" \
  "# Replication role:master connected_slaves:0 "
expect "INFO's Raft section keeps the Raft role" "$(info_field $F raft_role)" follower

# --- INFO's sections --------------------------------------------------------------------
all="# Server # Clients # Memory # Persistence # Stats # Replication # CPU # Cluster # Raft # Keyspace "
expect "INFO: every section" "$(cli $L INFO | section_heads)" "$all"
for arg in default all everything ALL; do
  expect "INFO $arg" "$(cli $L INFO $arg | section_heads)" "$all"
done
expect "INFO server" "$(cli $L INFO server | section_heads)" "# Server "
expect "INFO SERVER (any case)" "$(cli $L INFO SERVER | section_heads)" "# Server "
expect "INFO keyspace clients server: Redis's order, once each" \
  "$(cli $L INFO keyspace clients server server | section_heads)" "# Server # Clients # Keyspace "
expect "the same on redis-server" "$(rcli INFO keyspace clients server server | section_heads)" \
  "# Server # Clients # Keyspace "
expect "INFO stats nosuch" "$(cli $L INFO stats nosuch | section_heads)" "# Stats "
expect "INFO raft" "$(cli $L INFO raft | section_heads)" "# Raft "
expect "INFO cluster, as redis-server's" "$(cli $L INFO cluster | tr -d '\r')" "$(rcli INFO cluster | tr -d '\r')"
expect "INFO nosuch: empty, as redis-server" "$(cli $L INFO nosuch)" "$(rcli INFO nosuch)"
srv=$(cli $F INFO server | tr -d '\r')
echo "$srv" | grep -qx 'redis_version:7.0.15' || fail "INFO server: no redis_version:7.0.15: $srv"
expect "raftkv_version is raftkv --version's" "$(echo "$srv" | awk -F: '$1 == "raftkv_version" {print $2}')" \
  "$("$RAFTKV" --version | awk '{print $2}')"
expect "tcp_port" "$(echo "$srv" | awk -F: '$1 == "tcp_port" {print $2}')" "${CPORT[$F]}"
expect "process_id" "$(echo "$srv" | awk -F: '$1 == "process_id" {print $2}')" "${PID[$F]}"
for k in redis_mode os arch_bits uptime_in_seconds server_time_usec; do
  echo "$srv" | grep -q "^$k:" || fail "INFO server has no $k"
  rcli INFO server | tr -d '\r' | grep -q "^$k:" || fail "redis-server's INFO server has no $k (names differ?)"
done
expect "redis_mode" "$(echo "$srv" | awk -F: '$1 == "redis_mode" {print $2}')" standalone
expect "arch_bits" "$(echo "$srv" | awk -F: '$1 == "arch_bits" {print $2}')" \
  "$(rcli INFO server | tr -d '\r' | awk -F: '$1 == "arch_bits" {print $2}')"
echo "ok  INFO server: Redis's field names, redis_version:7.0.15, raftkv_version"
for k in connected_clients maxclients blocked_clients; do
  cli $L INFO clients | tr -d '\r' | grep -q "^$k:[0-9]*$" || fail "INFO clients has no $k"
done
for k in total_connections_received total_commands_processed rejected_connections; do
  cli $L INFO stats | tr -d '\r' | grep -q "^$k:[0-9]*$" || fail "INFO stats has no $k"
done
echo "ok  INFO clients and stats: Redis's counters"

# Keyspace: the keys this member has applied, in Redis's line.
for k in ks1 ks2 ks3; do cli $L SET "$k" v >/dev/null; rcli SET "$k" v >/dev/null; done
rcli SET rk v >/dev/null
wait_applied "$F" "$(info_field $L last_index)"
expect "INFO keyspace on a follower, as redis-server's" "$(cli $F INFO keyspace | tr -d '\r')" \
  "$(rcli INFO keyspace | tr -d '\r')"
expect "INFO keyspace, literally" "$(cli $F INFO keyspace | tr -d '\r' | tail -1)" "db0:keys=4,expires=0,avg_ttl=0"

# RESP3: INFO and CLIENT LIST are verbatim strings, as redis-server sends them.
r3=$(printf 'HELLO|3\nINFO|keyspace\n' | $SC replies "${CPORT[$L]}" | tail -1)
expect "INFO keyspace over RESP3" "$r3" "$(printf 'HELLO|3\nINFO|keyspace\n' | $SC replies "$RP" | tail -1)"

# --- COMMAND INFO answers for every command here ----------------------------------------
# Name, arity, flags, key positions and ACL categories as redis-server lists them;
# not compared: Redis's "noscript" flag (raftkv has no scripts) and its tips.
row() { tr '\n' ' ' | sed 's/ noscript / /; s/ nondeterministic_output.*//; s/ *$//'; }
for c in time role info client\|list client\|info client\|setname client\|getname client\|id client\|no-evict; do
  got=$(cli $L COMMAND INFO "$c" | row)
  [ -n "$got" ] || fail "COMMAND INFO $c is empty"
  expect "COMMAND INFO $c" "$got" "$(rcli COMMAND INFO "$c" | row)"
done
for c in time role info client\|list client\|no-evict; do
  cli $L COMMAND DOCS "$c" | grep -qx summary || fail "COMMAND DOCS $c: $(cli $L COMMAND DOCS "$c")"
done
echo "ok  COMMAND DOCS has them"

# --- redis-py and redis-cli -------------------------------------------------------------
got=$($SC redispy "${CPORT[$F]}" 2>&1) || fail "redis-py: $got"
want="getname py-app
setname a b Client names cannot contain spaces, newlines or special characters.
getname after refusal py-app
client_info py-app 0 N client|info default 2
client_id matches True
client_list has me 1 client|list
client_list by id py-app 1
info server 7.0.15 standalone True True
info replication role slave
time skew ok True
role slave"
[ "$got" = "$want" ] || fail "redis-py on n$F: got
$got
want
$want"
echo "ok  redis-py: client_name=, client_getname/setname/info/list/id, info(), time(), role()"

out=$(timeout 2.5 stdbuf -oL redis-cli -p "${CPORT[$F]}" --stat -i 1 2>&1 || true)
echo "$out" | grep -q '^keys *mem *clients blocked requests *connections' || fail "redis-cli --stat: $out"
row=$(echo "$out" | grep -E '^[0-9]+ ' | head -1)
[ "$(echo "$row" | awk '{print $1}')" = 4 ] || fail "redis-cli --stat's keys column: $out"
echo "$row" | grep -q -- '-' && fail "redis-cli --stat shows a missing field: $row"
echo "ok  redis-cli --stat: $row"
cli $F INFO server | grep -q '^redis_version:7.0.15' || fail "redis-cli INFO server"
echo "ok  redis-cli INFO server"
