#!/usr/bin/env bash
# test_accept_bounded.sh - short version of issue 5's long run: 3 durable
# nodes at 2000 requests/s for 30 s with a snapshot every 1000 entries; each
# node's RSS and data folder must plateau (see accept/bounded.py). Then the
# negative control: with compaction off, the same measure must see the data
# folders grow (so the plateau above means something).
#   tests/e2e/test_accept_bounded.sh BUILD
set -euo pipefail
source "$(dirname "$0")/accept/common.sh"
echo "== snapshots every 1000 entries, 30 s: memory and disk plateau"
python3 "$accept_dir/bounded.py" --whirl "$whirl" --raftkv "$raftkv" --seconds 30 --interval 1 \
  --snapshot-entries 1000 --seed "$seed" --store "$tmp/bounded"
echo "== control: compaction off, 20 s: the disk measure must grow"
python3 "$accept_dir/bounded.py" --whirl "$whirl" --raftkv "$raftkv" --seconds 20 --interval 1 \
  --snapshot-entries 1000000000 --expect-growth disk --seed "$((seed + 1))" --store "$tmp/control"
echo "ok"
