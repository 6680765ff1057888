#!/usr/bin/env bash
# test_server_snapshot_rate.sh - --snapshot-send-mbps: a member joining with
# an empty data directory gets a snapshot of about 8 MB from a leader capped
# at 2 MB/s; the transfer takes at least 3 s (the leader's snapshot_sent
# says so, and its rate is at most the cap plus one 1 MiB chunk's burst),
# and the member ends with every key, with no preauth_limit refusal in any
# log (also when a member's HELLO and 100 KiB of frames behind it reach a
# stopped follower at once). Bad values are refused at start.
#   tests/e2e/test_server_snapshot_rate.sh BUILD      (KEEP=1 keeps the logs)
set -euo pipefail
build=${1:-build}
source "$(dirname "$0")/lib_server.sh"

for bad in -1 x 100001; do
  rc=0
  out=$("$RAFTKV" serve --id n1 --listen 127.0.0.1:1 --in-memory --snapshot-send-mbps "$bad" 2>&1) || rc=$?
  expect "--snapshot-send-mbps $bad refused (exit code)" "$rc" 64
  expect "--snapshot-send-mbps $bad refused (message)" "$out" "raftkv serve: bad value for --snapshot-send-mbps: '$bad'"
done

NODES=4
pick_ports # n1..n4; the cluster starts with n1..n3
PEERS="n1=127.0.0.1:${PPORT[1]},n2=127.0.0.1:${PPORT[2]},n3=127.0.0.1:${PPORT[3]}"
opts=(--snapshot-entries 20000 --snapshot-log-percent 0 --snapshot-send-mbps 2 --request-timeout-ms 10000
      --election-timeout-ms 1000 --heartbeat-ms 100 # (a loaded machine: no elections wanted)
      --snapshot-stagger no) # the leader's snapshot at index 40000 exactly, whichever member leads
for i in 1 2 3; do start_node "$i" "${opts[@]}"; done
L=$(wait_leader 1 2 3)

# 40,000 keys of 200 bytes (about 8 MB in the snapshot), in pipes of 2,000 commands.
awk 'BEGIN { v = sprintf("%0200d", 3); for (i = 0; i < 40000; i++) { k = sprintf("key:%06d", i);
  printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$200\r\n%s\r\n", length(k), k, v } }' | split -l 14000 - "$WORK/part."
for f in "$WORK"/part.*; do # retried at the leader of the moment (SET twice is SET once)
  for try in 1 2 3 4; do
    L=$(wait_leader 1 2 3)
    redis-cli -p "${CPORT[$L]}" --pipe <"$f" >"$WORK/pipe.out" 2>&1 && break
    [ $try -lt 4 ] || fail "load failed: $(tail -n 2 "$WORK/pipe.out")"
  done
done
L=$(wait_leader 1 2 3)
expect "40000 keys on the leader" "$(cli "$L" DBSIZE)" 40000
deadline=$((SECONDS + 30))
until grep -q 'event=snapshot_done index=40' "$WORK/n$L.log"; do
  [ $SECONDS -lt $deadline ] || fail "no snapshot at index 40000 on n$L"
  sleep 0.2
done

mkdir -p "$WORK/n4"
"$RAFTKV" serve --id n4 --join "127.0.0.1:${PPORT[$L]}" --peer-listen "127.0.0.1:${PPORT[4]}" \
  --listen "127.0.0.1:${CPORT[4]}" --data-dir "$WORK/n4" --election-timeout-ms 300 --heartbeat-ms 50 \
  --certs-dir "$WORK/certs" >>"$WORK/n4.log" 2>&1 &
PID[4]=$!
expect "ADD n4 LEARNER" "$(cli "$L" RAFT.NODE ADD n4 "127.0.0.1:${PPORT[4]}" LEARNER)" OK
deadline=$((SECONDS + 40))
until grep -q 'event=snapshot_sent peer=n4' "$WORK/n$L.log"; do
  [ $SECONDS -lt $deadline ] || fail "n$L did not send its snapshot to n4"
  sleep 0.2
done
line=$(grep -o 'event=snapshot_sent peer=n4.*' "$WORK/n$L.log" | head -n 1)
echo "n$L: $line"
bytes=$(sed -n 's/.* bytes=\([0-9]*\).*/\1/p' <<<"$line")
ms=$(sed -n 's/.* ms=\([0-9]*\).*/\1/p' <<<"$line")
[ "$bytes" -ge 7000000 ] || fail "snapshot of $bytes bytes: too small to tell a rate"
# At 2 MB/s after one chunk's burst: (bytes - 1 MiB) / 2000 ms at least.
min_ms=$(( (bytes - 1048576) / 2000 ))
[ "$ms" -ge "$min_ms" ] || fail "$bytes bytes sent in $ms ms: faster than 2 MB/s (at least $min_ms ms)"
echo "ok  $bytes bytes in $ms ms (the cap allows no less than $min_ms ms)"
deadline=$((SECONDS + 30))
until [ "$(cli 4 DBSIZE)" = 40000 ]; do
  [ $SECONDS -lt $deadline ] || fail "n4 has $(cli 4 DBSIZE) keys, want 40000"
  sleep 0.2
done
expect "n4's value of key:039999" "$(cli 4 GET key:039999 | cut -c1-10)" 0000000000
# The join refused no connection for its first bytes: frames right behind
# a HELLO are not pre-authentication bytes.
expect "preauth_limit refusals in the four logs" \
  "$(cat "$WORK"/n[1-4].log | grep -c 'reason="preauth_limit"' || true)" 0
# The same, made certain: a follower stopped while a member's HELLO and
# 100 KiB of frames behind it arrive reads them in one 64 KiB read.
F=$(( L % 3 + 1 ))
cid=$(info_field "$L" cluster_id)
out=$(/usr/bin/python3 "$(dirname "$0")/attack.py" burst "${PPORT[$F]}" --claim n4 --to "n$F" --cluster-id "$cid" \
  --bytes 102400 --pause "${PID[$F]}" --tls "$WORK/certs/n4.crt" "$WORK/certs/n4.key")
expect "HELLO and 100 KiB behind it, read at once by n$F" "$out" \
  "burst: connected, sent a HELLO and 102431 bytes in all while the server was stopped, still open"
expect "preauth_limit refusals on n$F" "$(grep -c 'reason="preauth_limit"' "$WORK/n$F.log" || true)" 0
echo "PASS test_server_snapshot_rate"
