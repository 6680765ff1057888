#!/usr/bin/env bash
# test_server_snapshot_transfer.sh - an empty member catches up through a
# chunked InstallSnapshot (snap_transfer.h), cut once in the middle.
# n1 and n2 (a quorum of the 3) take `redis-benchmark -t set -r 300000 -d 200
# -P 16 -c 50 -n 600000` with --snapshot-entries 50000, so their logs are
# compacted far past index 1. Then n3 starts with an empty data directory
# (a new member: it never acknowledged anything) and the leader streams its
# snapshot file to it. As soon as n3's snap-*.recv file holds its first
# bytes, n3 is stopped (SIGSTOP) for longer than the transfer's stall timeout
# and the election timeout, as a partition would cut it: both ends must end
# the transfer cleanly (logged), the leader must keep serving meanwhile, and
# a new transfer must bring n3 to the same state: the same key count in
# INFO's keyspace line, the same applied index, a byte-identical snapshot
# file, no .recv file left. Meanwhile n3 answers a PING every 10 ms within
# 200 ms (PING_MAX_MS), so installing the image stalls no loop. The receiver's peak RSS (logged when the last
# chunk is in, before the map is loaded) must stay well under the image's
# size, and the measured rate (MB/s) is printed.
#   tests/e2e/test_server_snapshot_transfer.sh BUILD      (KEEP=1 keeps the logs)
set -euo pipefail
build=${1:-build}
source "$(dirname "$0")/lib_server.sh"
command -v redis-benchmark >/dev/null || { echo "SKIP: redis-benchmark not installed"; exit 0; }

# 1 s election timeout, as test_server_snapshot_load.sh, for this shared
# machine; the transfer's stall timeout is then 4 s.
OPTS=(--snapshot-entries 50000 --election-timeout-ms 1000 --heartbeat-ms 100 --request-timeout-ms 3000)
pick_ports
for i in 1 2; do start_node "$i" "${OPTS[@]}"; done
L=$(wait_leader 1 2)
echo "n1, n2 up: leader n$L, work dir $WORK"

# In batches of 100,000 (what this test checks is the transfer: a batch
# cut short by an election on a busy machine is reported, not fatal).
start=$SECONDS
for b in 1 2 3 4 5 6; do
  out=$(redis-benchmark -p "${CPORT[$L]}" -t set -r 300000 -d 200 -P 16 -c 50 -n 100000 -q 2>&1 | tr '\r' '\n' || true)
  echo "$out" | grep -v '^$' | tail -n 1
  L=$(wait_leader 1 2)
done
echo "loaded in $((SECONDS - start)) s"
O=$(( L == 1 ? 2 : 1 ))
commit=$(info_field "$L" commit_index)
wait_applied "$O" "$commit"
keys_of() { info_field "$1" db0 | tr ',' '\n' | awk -F= '$1 == "keys" {print $2}'; }
keys=$(keys_of "$L")
expect "n$O holds the leader's key count" "$(keys_of "$O")" "$keys"
# Wait for the snapshot that covers the load to be in place on the leader.
deadline=$((SECONDS + 30))
until [ "$(grep -c 'event=snapshot_done' "$WORK/n$L.log" || true)" -ge 1 ] &&
      ! pgrep -P "${PID[$L]}" >/dev/null; do
  [ $SECONDS -lt $deadline ] || fail "the leader took no snapshot"
  sleep 0.2
done
snap=$(ls "$WORK/n$L"/snap-*.snap | tail -n 1)
image=$(stat -c %s "$snap")
echo "ok  $keys keys; the leader's snapshot $(basename "$snap") is $image bytes"
[ "$image" -ge 40000000 ] || fail "the image is only $image bytes: too small to measure"

# --- n3 joins empty; cut in the middle of its first transfer -------------------------------
start_node 3 "${OPTS[@]}"
deadline=$((SECONDS + 20))
while :; do
  f=$(ls "$WORK/n3"/snap-*.recv 2>/dev/null | head -n 1 || true)
  if [ -n "$f" ] && [ "$(stat -c %s "$f" 2>/dev/null || echo 0)" -gt 0 ]; then break; fi
  [ $SECONDS -lt $deadline ] || fail "n3 never started receiving a snapshot"
  sleep 0.005
done
kill -STOP "${PID[3]}"
cut_at=$(stat -c %s "$f" 2>/dev/null || echo 0)
echo "n3 stopped with $cut_at of $image bytes received"
[ "$cut_at" -lt "$image" ] || fail "the transfer had finished before the cut"
# The leader serves while n3 is away.
for k in 1 2 3; do expect "SET during the cut ($k)" "$(cli "$L" SET "during$k" v)" OK; done
# From 0.3 s after n3 continues until a second after its install, n3's
# loop must answer a PING every 10 ms within PING_MAX_MS: the map is built
# and the old one freed on worker threads; the install is a pointer swap.
# The probe connects now (the kernel accepts for the stopped process) and
# starts on probe.go.
python3 "$(dirname "$0")/ping_probe.py" "${CPORT[3]}" "$WORK/probe.go" "$WORK/probe.stop" \
  >"$WORK/probe.out" 2>&1 &
probe=$!
sleep 6
deadline=$((SECONDS + 30))
until [ -e "$WORK/probe.go.ready" ]; do
  [ $SECONDS -lt $deadline ] || fail "the PING probe did not connect: $(cat "$WORK/probe.out")"
  sleep 0.1
done
kill -CONT "${PID[3]}"
echo "n3 continued after 6 s"
sleep 0.3
touch "$WORK/probe.go"
deadline=$((SECONDS + 60))
until grep -q 'event=snapshot_installed' "$WORK/n3.log"; do
  [ $SECONDS -lt $deadline ] || fail "n3 installed no snapshot within 60 s of the cut"
  sleep 0.2
done
sleep 1
touch "$WORK/probe.stop"
wait "$probe" || fail "the PING probe failed: $(cat "$WORK/probe.out")"
grep 'event=snapshot_installed' "$WORK/n3.log" | tail -n 1
echo "n3's PING latency while it received, checked and installed the snapshot: $(cat "$WORK/probe.out")"
ping_max=$(grep -o 'max_ms=[0-9.]*' "$WORK/probe.out" | cut -d= -f2)
awk -v m="$ping_max" -v lim="${PING_MAX_MS:-200}" 'BEGIN { exit !(m < lim) }' ||
  fail "n3 left a PING unanswered for $ping_max ms (limit ${PING_MAX_MS:-200}): its loop stalled"
echo "ok  n3 answered every PING within ${PING_MAX_MS:-200} ms (max $ping_max ms)"
# Ended as stalled, or, if leadership moved meanwhile (a loaded machine),
# by the old leader as no longer leading.
grep -hq 'event=snapshot_send_ended .*peer=n3 .*reason="\(stalled\|no longer the leader\)' \
  "$WORK/n1.log" "$WORK/n2.log" || fail "the leader did not end the cut transfer"
grep -h 'event=snapshot_send_ended' "$WORK/n1.log" "$WORK/n2.log" | head -n 1
grep -q 'event=snapshot_receive_ended' "$WORK/n3.log" || fail "n3 did not end the cut transfer"
grep 'event=snapshot_receive_ended' "$WORK/n3.log" | head -n 1
echo "ok  both ends ended the cut transfer, and a new one was installed"
L=$(wait_leader 1 2) # it may have moved during the cut
O=$(( L == 1 ? 2 : 1 ))

commit=$(info_field "$L" commit_index)
wait_applied 3 "$commit"
expect "n3's key count" "$(keys_of 3)" "$(keys_of "$L")"
expect "n3's leader" "$(cli 3 LEADER)" "n$L"
ls "$WORK/n3"/snap-*.recv >/dev/null 2>&1 && fail "a .recv file was left: $(ls "$WORK/n3")"
got=$(ls "$WORK/n3"/snap-*.snap | tail -n 1)
if [ -f "$WORK/n$L/$(basename "$got")" ]; then
  expect "n3's snapshot file equals the leader's" "$(md5sum <"$got")" "$(md5sum <"$WORK/n$L/$(basename "$got")")"
fi
expect "SET through n3" "$(cli 3 SET after transfer)" OK
expect "read back on n$O" "$(cli "$O" GET after)" transfer
echo "ok  n3 caught up: $(keys_of 3) keys, applied $(info_field 3 applied_index)"

line=$(grep 'event=snapshot_received' "$WORK/n3.log" | tail -n 1)
echo "$line"
rate=$(echo "$line" | grep -o 'mb_per_s=[0-9.]*' | cut -d= -f2)
rss_kb=$(echo "$line" | grep -o 'rss_max_kb=[0-9]*' | cut -d= -f2)
bytes=$(echo "$line" | grep -o ' bytes=[0-9]*' | cut -d= -f2)
echo "transfer rate: $rate MB/s ($bytes bytes); the leader's own figure: $(grep -ho 'event=snapshot_sent .*' "$WORK/n1.log" "$WORK/n2.log" | tail -n 1)"
echo "n3's peak RSS before loading the map: $((rss_kb / 1024)) MiB for a $((bytes / 1048576)) MiB image"
[ $((rss_kb * 1024)) -lt $((bytes / 2)) ] || fail "n3's peak RSS ${rss_kb} kB is not well under the image's $bytes bytes"
echo "ok  the receiver's memory stays well under the image's size"
awk -v r="$rate" 'BEGIN { exit !(r >= 100) }' || echo "WARN: $rate MB/s is under the 100 MB/s target (a loaded machine?)"
for i in 1 2 3; do kill_node "$i" TERM; done
PID=()
echo "PASS"
