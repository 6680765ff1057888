#!/usr/bin/env bash
# test_node_whirl.sh - build/raftkv under whirl: a short version of the Raft
# chapter's run (3 nodes, partitions every 3 s) must be linearizable; and
# without faults every request must be answered from the data (ok, 20 or 22)
# once a leader is elected - parked requests, not error 11 storms.
#   tests/e2e/test_node_whirl.sh BUILD
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need "$raftkv" "$whirl"
scratch
cd "$tmp"

echo "== partitions: 3 nodes, 4n clients, rate 50, 15 s, nemesis every 3 s"
"$whirl" test -w lin-kv --bin "$raftkv" --node-count 3 --concurrency 4n --rate 50 \
  --time-limit 15 --nemesis partition --nemesis-interval 3 --store "$tmp/s1" >out1.txt 2>&1 \
  || { tail -30 out1.txt; echo "FAIL: not valid under partitions"; exit 1; }
tail -4 out1.txt
echo "ok - valid under partitions"

echo "== no faults: 3 nodes, 30 clients, unlimited rate, 5 s"
"$whirl" test -w lin-kv --bin "$raftkv" --node-count 3 --concurrency 30 \
  --rate 1000000 --time-limit 5 --store "$tmp/s2" >out2.txt 2>&1 \
  || { tail -30 out2.txt; echo "FAIL: not valid without faults"; exit 1; }
tail -7 out2.txt
python3 - "$tmp/s2/latest/results.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
frac = r["availability"]["answered_fraction"]
rps = r["requests_per_s"]
print(f"answered from the data: {frac:.5f}; {rps:.0f} requests/s; "
      f"{r['net']['servers_msgs_per_request']:.2f} server messages per request")
if frac < 0.999:
    print("FAIL: fewer than 99.9% answered from the data without faults")
    sys.exit(1)
print("ok - at least 99.9% answered from the data without faults")
PY
