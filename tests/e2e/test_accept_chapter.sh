#!/usr/bin/env bash
# test_accept_chapter.sh - short version of issue 2's chapter run (3 nodes,
# 4n clients at 30/s, partitions every 10 s: valid, majority side answering
# again within 1 s) and of its no-fault availability (>= 99.9% of requests
# answered from the data). The full ones are in accept.sh.
#   tests/e2e/test_accept_chapter.sh BUILD
set -euo pipefail
source "$(dirname "$0")/accept/common.sh"
chapter=(--bin "$raftkv" --node-count 3 --concurrency 4n --rate 30 --no-report)
echo "== the chapter's run, 20 s: valid, recovery within 1 s"
runs chapter 1 --expect-valid --max-recovery-ms 1000 --min-recovery-changes 0 -- \
  "${chapter[@]}" --time-limit 20 --nemesis partition --nemesis-interval 10
echo "== no faults, 10 s: valid, at least 99.9% answered from the data"
runs no-faults 1 --expect-valid --min-answered 0.999 -- "${chapter[@]}" --time-limit 10
echo "ok"
