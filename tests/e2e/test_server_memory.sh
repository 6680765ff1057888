#!/usr/bin/env bash
# test_server_memory.sh - memory per key on one durable member: after
# `redis-benchmark -t set -r 50000 -d 100 -P 16 -n 150000` (about 47,500
# 16-byte keys, 150,000 log entries) the map takes under 200 bytes a key
# (148-byte entries, one-word slots, the scan index's buckets), and with --snapshot-log-percent 25
# --snapshot-log-min-bytes 1048576 the Raft log kept in memory settles
# under the trigger's limit (25% of the map's bytes, at least 1 MiB) plus
# the 1,024 entries the core keeps behind a snapshot, also after a
# restart with the same keys; with the trigger off it holds every entry
# (INFO memory's raftkv_memory line gives keys, map_bytes, log_bytes).
# Then a follower of three members with the trigger off holds the whole
# log, lent from its log files: its RssAnon stays under its map plus a
# quarter of the log (plus 16 MiB for the process), and INFO's
# log_spare_bytes shows the emptied payload blocks it keeps (1 to 4 of 2 MiB).
#   tests/e2e/test_server_memory.sh BUILD      (KEEP=1 keeps the logs)
set -euo pipefail
build=${1:-build}
source "$(dirname "$0")/lib_server.sh"
command -v redis-benchmark >/dev/null || { echo "SKIP: redis-benchmark not installed"; exit 0; }
NODES=1
pick_ports

mem() { mem_of 1 "$1"; }
mem_of() { # mem_of I FIELD: from member I's INFO memory raftkv_memory line
  cli "$1" INFO memory | tr -d '\r' | grep '^raftkv_memory:' | tr ',:' '\n\n' | awk -F= -v k="$2" '$1 == k {print $2}'
}
load() {
  redis-benchmark -p "${CPORT[1]}" -t set -r 50000 -d 100 -P 16 -c 20 -n 150000 -q >/dev/null 2>&1 ||
    fail "redis-benchmark failed"
}
# The limit the trigger keeps the log under once the load stops, plus the
# 1,024 entries kept behind a snapshot (about 200 bytes each here).
bound() { local m; m=$(mem map_bytes); m=$((m / 100 * 25)); [ $m -lt 1048576 ] && m=1048576; echo $((m + 1024 * 250)); }
up() { # the member leads (wait_leader would take a refused connection's message for a name)
  for _ in $(seq 1 300); do [ "$(cli 1 LEADER)" = n1 ] && return 0; sleep 0.1; done
  fail "n1 did not lead within 30 s"
}
settle() { # wait up to 30 s for log_bytes to fall under bound
  for _ in $(seq 1 300); do
    [ "$(mem log_bytes)" -le "$(bound)" ] && return 0
    sleep 0.1
  done
  return 1
}

start_node 1 --snapshot-log-percent 25 --snapshot-log-min-bytes 1048576
up
load
keys=$(mem keys)
[ "$keys" -gt 40000 ] || fail "only $keys keys after the load"
per_key=$(($(mem map_bytes) / keys))
[ "$per_key" -lt 200 ] || fail "the map takes $per_key bytes a key (want under 200)"
echo "ok  $keys keys, the map takes $per_key bytes a key"
settle || fail "the log holds $(mem log_bytes) bytes, over $(bound), 30 s after the load"
echo "ok  the log settles at $(mem log_bytes) bytes (limit with slack $(bound)); $(grep -c 'event=snapshot_done' "$WORK/n1.log") snapshots"

kill_node 1 TERM
start_node 1 --snapshot-log-percent 25 --snapshot-log-min-bytes 1048576
up
expect "the keys after a restart" "$(mem keys)" "$keys"
settle || fail "after a restart the log holds $(mem log_bytes) bytes, over $(bound)"
echo "ok  after a restart: $(mem keys) keys, log $(mem log_bytes) bytes"
kill_node 1 TERM

rm -rf "$WORK/n1"
snaps_before=$(grep -c 'event=snapshot_done' "$WORK/n1.log" || true)
start_node 1 --snapshot-log-percent 0
up
load
log=$(mem log_bytes)
[ "$log" -gt 20000000 ] || fail "with the trigger off the log holds only $log bytes"
expect "no snapshot with the trigger off" "$(grep -c 'event=snapshot_done' "$WORK/n1.log" || true)" "$snaps_before"
echo "ok  with --snapshot-log-percent 0 the log holds all $log bytes"
kill_node 1 TERM

# A follower of a 3-member cluster holding the same long log: the entries
# it applied and synced are lent from its log files (page cache), so its
# anonymous memory stays near the map's size, not map plus log.
rm -rf "$WORK/n1"
NODES=3
pick_ports
for i in 1 2 3; do start_node "$i" --snapshot-log-percent 0; done
leader=$(wait_leader)
redis-benchmark -p "${CPORT[$leader]}" -t set -r 50000 -d 100 -P 16 -c 20 -n 150000 -q >/dev/null 2>&1 ||
  fail "redis-benchmark failed"
f=$((leader % 3 + 1))
wait_applied "$f" "$(info_field "$leader" commit_index)"
sleep 2 # jemalloc gives freed pages back after 1 s
rss_anon=$(awk '/^RssAnon:/ {print $2 * 1024}' "/proc/${PID[$f]}/status")
map=$(mem_of "$f" map_bytes)
log=$(mem_of "$f" log_bytes)
lent=$(mem_of "$f" log_lent_bytes)
echo "    follower n$f: RssAnon $rss_anon, map $map, log $log ($lent lent)"
[ "$log" -gt 20000000 ] || fail "the follower's log holds only $log bytes"
[ $((lent * 10)) -ge $((log * 7)) ] || fail "only $lent of the log's $log bytes are lent"
[ "$rss_anon" -le $((map + log / 4 + 16 * 1048576)) ] ||
  fail "the follower's anonymous memory ($rss_anon) is over map ($map) + a quarter of the log ($log) + 16 MiB"
echo "ok  a follower with a ${log}-byte log: RssAnon $rss_anon, map $map"
# The payload blocks its loans emptied: some kept for its next entries, at
# most --log-spare-blocks (4) of 2 MiB.
spare=$(mem_of "$f" log_spare_bytes)
[ "$spare" -gt 0 ] && [ "$spare" -le $((4 * 2097152)) ] ||
  fail "the follower keeps $spare bytes of spare log blocks (want 1 to 4 blocks of 2 MiB)"
echo "ok  the follower keeps $spare bytes of spare log blocks"
echo "PASS test_server_memory"
