#!/usr/bin/env bash
# test_accept_durable.sh - short version of issue 5's fault run: 5 durable
# nodes (--data-dir) under kill -9, pause and partitions every 3 s, 10n
# clients at 100/s for 20 s: valid, every key read back at the end, and no
# acknowledged write lost.
#   tests/e2e/test_accept_durable.sh BUILD
set -euo pipefail
source "$(dirname "$0")/accept/common.sh"
echo "== kill, pause, partition; 5 nodes, 20 s, durable"
runs kill-pause-partition 1 --expect-valid --no-lost-writes -- --bin "$raftkv" --node-count 5 \
  --nemesis kill,pause,partition --nemesis-interval 3 --concurrency 10n --rate 100 --time-limit 20 --no-report \
  -- --data-dir "{data}"
echo "ok"
