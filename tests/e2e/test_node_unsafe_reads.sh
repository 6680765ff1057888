#!/usr/bin/env bash
# test_node_unsafe_reads.sh - the negative control for test_node_whirl.sh:
# with --unsafe-local-reads (a deliberate bug: every node answers reads from
# its own map with no proof of leadership) whirl must find raftkv invalid
# under partitions, and the node must say in its log that it runs the bug.
# Stale reads need the right timing, so up to 3 seeded runs are tried; the
# test passes on the first invalid verdict.
#   tests/e2e/test_node_unsafe_reads.sh BUILD
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need "$raftkv" "$whirl"
scratch
cd "$tmp"
for attempt in 1 2 3; do
  set +e
  "$whirl" test -w lin-kv --bin "$raftkv" --node-count 3 --concurrency 4n --rate 100 \
    --time-limit 10 --nemesis partition --nemesis-interval 2 --store "$tmp/s$attempt" \
    -- --unsafe-local-reads >out.txt 2>&1
  rc=$?
  set -e
  grep -q "UNSAFE LOCAL READS" "$tmp/s$attempt/latest/node-logs/n0.log" \
    || { echo "FAIL: the node log does not admit the deliberate bug"; exit 1; }
  grep -E "seed|Keys:" out.txt | head -2
  if [ "$rc" -eq 1 ]; then
    # invalid for the right reason: the checker's verdict, not the stats rule
    python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["linearizable"]["valid"] is not False)' \
           "$tmp/s$attempt/latest/results.json" \
      || { echo "FAIL: invalid, but not by the linearizability checker"; exit 1; }
    echo "ok - whirl finds stale local reads invalid (attempt $attempt)"
    exit 0
  fi
  [ "$rc" -eq 0 ] || [ "$rc" -eq 2 ] || { tail -20 out.txt; echo "FAIL: whirl exited $rc"; exit 1; }
done
echo "FAIL: 3 runs with unsafe local reads all judged valid or unknown"
exit 1
