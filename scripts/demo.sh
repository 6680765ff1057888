#!/usr/bin/env bash
# demo.sh - a 5-node raftkv cluster under partitions in whirl, ending with the
# verdict and where the report is. Override with env: SEED, TIME_LIMIT.
set -euo pipefail
build=${1:-build}
seed=${SEED:-$(( $(date +%s) % 100000 ))}
time_limit=${TIME_LIMIT:-30}
cmd=("$build/whirl" test -w lin-kv --bin "$build/raftkv" --node-count 5 \
  --concurrency 10n --rate 100 --time-limit "$time_limit" \
  --latency 10 --latency-dist exponential \
  --nemesis partition --nemesis-interval 3 --seed "$seed")
echo "demo: ${cmd[*]}"
set +e
"${cmd[@]}"
rc=$?
set -e
echo
echo "demo: verdict exit code $rc (0 valid, 1 invalid, 2 unknown)"
echo "demo: report: $(cd store/latest 2>/dev/null && pwd -P)/index.html"
echo "demo: browse every run with: $build/whirl serve   (then open http://127.0.0.1:8080)"
exit $rc
