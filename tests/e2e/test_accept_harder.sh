#!/usr/bin/env bash
# test_accept_harder.sh - short version of issue 2's harder runs: 5 and 7
# nodes, 10n clients at 100/s, 20 ms exponential latency, partitions every
# 3 s: valid, and (5 nodes) majority-side nodes answer again within 1 s of
# every measured partition start or heal (whirl's recovery in results.json).
# The 7-node run's recovery is printed, not gated here: a split vote in a
# 4-of-7 majority can take just over 1 s (seen once in 75 changes), which
# would make this short test flaky; accept.sh gates it over 5 full runs.
#   tests/e2e/test_accept_harder.sh BUILD
set -euo pipefail
source "$(dirname "$0")/accept/common.sh"
harder=(--concurrency 10n --rate 100 --latency 20 --latency-dist exponential --nemesis partition
        --nemesis-interval 3 --no-report)
echo "== 5 nodes, 20 s"
runs harder-5 1 --expect-valid --max-recovery-ms 1000 -- --bin "$raftkv" --node-count 5 --time-limit 20 "${harder[@]}"
echo "== 7 nodes, 15 s"
runs harder-7 1 --expect-valid -- --bin "$raftkv" --node-count 7 --time-limit 15 "${harder[@]}"
echo "ok"
