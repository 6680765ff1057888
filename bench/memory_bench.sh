#!/usr/bin/env bash
# memory_bench.sh - memory per key and restart time of one durable raftkv
# member against Redis, the same keys in the same run: redis-benchmark
# -t set -r 1000000 -d 100 -P 16 -c 50 -n 2000000 (about 864,000 16-byte
# keys with 100-byte values) into raftkv, its RSS and INFO memory at the end
# of the load; SIGTERM, start again, time to the first successful write,
# RSS and INFO memory then (and its CPU time to that point); then the same
# load into redis-server (no persistence while loading), its RSS, SAVE,
# restart and the time until it answers a write.
#   bash bench/memory_bench.sh BUILD [raftkv serve options...]
set -u
B=$(cd "${1:-build}" && pwd)/raftkv; shift || true
D=$(mktemp -d /tmp/raftkv-mem.XXXXXX)
CP=$((20000 + RANDOM % 20000)); PP=$((CP + 1)); RP=$((CP + 2))
RPID=
cleanup() {
  [ -n "${P:-}" ] && kill "$P" 2>/dev/null
  redis-cli -p $RP shutdown nosave >/dev/null 2>&1
  wait 2>/dev/null; rm -rf "$D"
}
trap cleanup EXIT
serve() { "$B" serve --id n1 --peers n1=127.0.0.1:$PP --listen 127.0.0.1:$CP --data-dir "$D/d1" "$@" >>"$D/n1.log" 2>&1 & P=$!; }
first_write() { until redis-cli -p "$1" SET probe 1 2>/dev/null | grep -q OK; do sleep 0.05; done; }
memline() { redis-cli -p $CP INFO memory | tr -d '\r' | grep -E '^(used_memory|raftkv_memory|allocator_active|allocator_resident):' | tr '\n' ' '; }
load() { redis-benchmark -p "$1" -t set -r 1000000 -d 100 -P 16 -c 50 -n 2000000 -q 2>&1 | tr '\r' '\n' | grep 'requests per second'; }

serve "$@"
first_write $CP
echo "raftkv load: $(load $CP)"
K=$(redis-cli -p $CP INFO keyspace | grep -o 'keys=[0-9]*' | cut -d= -f2)
R=$(ps -o rss= -p $P)
echo "raftkv after the load: keys=$K rss_bytes_per_key=$((R * 1024 / K)) $(memline)"
kill $P; wait $P
S=$(date +%s.%N); serve "$@"; first_write $CP; E=$(date +%s.%N)
CPU=$(awk '{print ($14 + $15) / 100}' /proc/$P/stat)
K=$(redis-cli -p $CP INFO keyspace | grep -o 'keys=[0-9]*' | cut -d= -f2)
R=$(ps -o rss= -p $P)
echo "raftkv restart: first_write_s=$(echo "$E - $S" | bc) cpu_s=$CPU keys=$K rss_bytes_per_key=$((R * 1024 / K)) $(memline)"
echo "raftkv data dir: $(du -sh "$D/d1" | cut -f1), snapshots taken: $(grep -c event=snapshot_done "$D/n1.log")"
kill $P; wait $P; P=

command -v redis-server >/dev/null || exit 0
redis-server --port $RP --save '' --appendonly no --daemonize yes --dir "$D" --dbfilename dump.rdb >/dev/null
first_write $RP
echo "redis load: $(load $RP)"
K=$(redis-cli -p $RP DBSIZE)
RPID=$(redis-cli -p $RP INFO server | grep process_id | cut -d: -f2 | tr -d '\r')
echo "redis after the load: keys=$K rss_bytes_per_key=$(($(ps -o rss= -p $RPID) * 1024 / K))"
S=$(date +%s.%N); redis-cli -p $RP SAVE >/dev/null; E=$(date +%s.%N)
echo "redis SAVE: s=$(echo "$E - $S" | bc) rdb=$(du -h "$D/dump.rdb" | cut -f1)"
redis-cli -p $RP shutdown nosave >/dev/null
S=$(date +%s.%N)
redis-server --port $RP --appendonly no --daemonize yes --dir "$D" --dbfilename dump.rdb >/dev/null
first_write $RP; E=$(date +%s.%N)
RPID=$(redis-cli -p $RP INFO server | grep process_id | cut -d: -f2 | tr -d '\r')
CPU=$(awk '{print ($14 + $15) / 100}' /proc/$RPID/stat)
echo "redis restart: first_write_s=$(echo "$E - $S" | bc) cpu_s=$CPU rss_bytes_per_key=$(($(ps -o rss= -p $RPID) * 1024 / K))"
